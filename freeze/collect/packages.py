"""Installed packages and versions, from the package managers' own databases.

Standard library only. dpkg is read through `dpkg-query --admindir=DIR` (the
profile's `packages.dpkg_admindir`, so a mounted image or a test's own status
file is read the same way as the live system); rpm through `rpm -qa` when rpm
is installed and has a database.
"""

from __future__ import annotations

import os
import shutil
from typing import Any

from freeze.collect.common import Collected, first_line, run, under_root

_DPKG_FORMAT = "${Package}\\t${Architecture}\\t${Version}\\t${db:Status-Abbrev}\\n"


def collect(spec: dict[str, Any]) -> Collected:
    opts = spec.get("packages") or {}
    out = Collected()
    if not opts.get("enabled", True):
        return out
    root = spec.get("root", "/")
    entries: dict[str, dict[str, Any]] = {}
    admindir = under_root(root, opts.get("dpkg_admindir", "/var/lib/dpkg"))
    found_any = False
    if shutil.which("dpkg-query") and os.path.exists(os.path.join(admindir, "status")):
        rc, stdout, stderr = run(["dpkg-query", f"--admindir={admindir}", "-W",
                                  f"--showformat={_DPKG_FORMAT}"])
        if rc != 0:
            out.unavailable["packages"] = f"dpkg-query failed: {first_line(stderr)}"
            return out
        found_any = True
        for line in stdout.splitlines():
            parts = line.split("\t")
            if len(parts) != 4 or not parts[0]:
                continue
            name, arch, version, status = parts
            status = status.strip()
            if status.startswith("un") or status.startswith("pn"):
                continue  # known to dpkg but not installed
            entries[f"deb:{name}:{arch}"] = {"version": version, "status": status}
    rpmdb_present = any(os.path.exists(under_root(root, p))
                        for p in ("/var/lib/rpm", "/usr/lib/sysimage/rpm"))
    if opts.get("rpm", True) and shutil.which("rpm") and rpmdb_present:
        argv = ["rpm", "-qa", "--queryformat", "%{NAME}\\t%{ARCH}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\n"]
        if root not in ("", "/"):
            argv[1:1] = ["--root", root]
        rc, stdout, stderr = run(argv)
        if rc == 0:
            found_any = True
            for line in stdout.splitlines():
                parts = line.split("\t")
                if len(parts) == 3:
                    entries[f"rpm:{parts[0]}:{parts[1]}"] = {"version": parts[2]}
    if not found_any:
        out.unavailable["packages"] = f"no dpkg database at {admindir} and no rpm database"
        return out
    out.sections["packages"] = entries
    return out
