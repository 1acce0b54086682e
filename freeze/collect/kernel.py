"""Kernel parameters (a curated or profile-listed set of sysctls), loaded modules,
and the running kernel. Standard library only; reads /proc directly.
"""

from __future__ import annotations

import os
from typing import Any

from freeze.collect.common import Collected, not_live


def collect(spec: dict[str, Any]) -> Collected:
    opts = spec.get("kernel") or {}
    out = Collected()
    if not opts.get("enabled", True):
        return out
    root = spec.get("root", "/")
    if root not in ("", "/"):  # a mounted image has no running kernel: say so
        for section in ("sysctls", *(("modules",) if opts.get("modules", True) else ()), "system"):
            out.unavailable[section] = not_live(root, "kernel")
        return out
    sysctls: dict[str, dict[str, Any]] = {}
    for name in opts.get("sysctls") or []:
        path = "/proc/sys/" + name.replace(".", "/")
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                value = " ".join(fh.read().split())
            sysctls[name] = {"value": value}
        except FileNotFoundError:
            sysctls[name] = {"value": None}  # absent on this kernel: its appearance is drift
        except OSError as exc:
            sysctls[name] = {"value": f"unreadable: {exc.strerror}"}
    out.sections["sysctls"] = sysctls
    if opts.get("modules", True):
        try:
            modules: dict[str, dict[str, Any]] = {}
            with open("/proc/modules", encoding="utf-8") as fh:
                for line in fh:
                    parts = line.split()
                    if len(parts) >= 2:
                        modules[parts[0]] = {"size": int(parts[1])}
            out.sections["modules"] = modules
        except OSError as exc:
            out.unavailable["modules"] = f"/proc/modules: {exc.strerror}"
    u = os.uname()
    out.sections["system"] = {"kernel": {"release": u.release, "version": u.version,
                                         "machine": u.machine}}
    try:
        with open("/proc/sys/kernel/random/boot_id", encoding="ascii") as fh:
            out.facts["boot_id"] = fh.read().strip()
    except OSError:
        pass
    return out
