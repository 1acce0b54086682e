# -*- coding: utf-8 -*-
"""Read-only views of host state shared by the election.freeze modules.

Each function reads one kind of state (packages, systemd units, paths, mounts,
accounts) and returns plain dicts, so a probe module can answer many questions in
ONE round trip and the filters in plugins/filter/ can compare the answer with the
desired state on the controller. Nothing here writes to the host.
"""
from __future__ import annotations

import grp
import hashlib
import os
import pwd
import stat

# dpkg's "not there" states: a package in one of these is not installed
# (config-files: removed but not purged; its conffiles are still on disk).
DPKG_ABSENT = ("not-installed", "config-files")

_HASH_CHUNK = 1 << 20


def parse_dpkg_query(output: str, names: list[str]) -> dict:
    """Parse `dpkg-query -W -f '${Package}\\t${db:Status-Status}\\t${Version}\\n'`.

    Names dpkg has never heard of are missing from its output: they are reported
    as not-installed, so every requested name has an entry.
    """
    found = {}
    for line in output.splitlines():
        parts = line.split("\t")
        if len(parts) < 2 or not parts[0]:
            continue
        name = parts[0].split(":", 1)[0]  # multi-arch packages may carry :arch
        status = parts[1] or "not-installed"
        version = parts[2] if len(parts) > 2 else ""
        # several architectures of one package: keep the installed one
        if name in found and found[name]["status"] == "installed":
            continue
        found[name] = {"status": status, "version": version if status not in DPKG_ABSENT else ""}
    return {n: found.get(n, {"status": "not-installed", "version": ""}) for n in names}


def parse_systemctl_show(output: str, units: list[str]) -> dict | None:
    """Parse `systemctl show -p LoadState -p UnitFileState -p ActiveState U1 U2...`.

    systemctl prints one block of KEY=VALUE lines per unit, in argument order,
    separated by a blank line. Returns None when the block count does not match
    (the caller then falls back to per-unit queries).
    """
    blocks, current = [], {}
    for line in output.splitlines():
        if not line.strip():
            if current:
                blocks.append(current)
                current = {}
            continue
        key, _, value = line.partition("=")
        current[key] = value
    if current:
        blocks.append(current)
    if len(blocks) != len(units):
        return None
    result = {}
    for unit, block in zip(units, blocks):
        loaded = block.get("LoadState", "")
        enabled = block.get("UnitFileState", "")
        if loaded == "not-found":
            enabled = "not-found"
        result[unit] = {
            "enabled": enabled or "unknown",
            "active": block.get("ActiveState", "") or "unknown",
            "loaded": loaded or "unknown",
        }
    return result


def sha256_file(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_HASH_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _name(lookup, ident: int) -> str:
    try:
        return lookup(ident)[0]
    except KeyError:
        return str(ident)  # unowned: the numeric id, as ls shows it


def describe_path(path: str, with_hash: bool = True) -> dict:
    """Type, mode, owner, group and size of a path (not following a final
    symlink), plus the sha256 of a regular file. A missing path: exists=False."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return {"exists": False}
    if stat.S_ISREG(st.st_mode):
        kind = "file"
    elif stat.S_ISDIR(st.st_mode):
        kind = "directory"
    elif stat.S_ISLNK(st.st_mode):
        kind = "link"
    else:
        kind = "other"
    info = {
        "exists": True,
        "type": kind,
        "mode": "%04o" % stat.S_IMODE(st.st_mode),
        "owner": _name(pwd.getpwuid, st.st_uid),
        "group": _name(grp.getgrgid, st.st_gid),
        "size": st.st_size,
    }
    if kind == "file" and with_hash:
        info["sha256"] = sha256_file(path)
    if kind == "link":
        info["target"] = os.readlink(path)
    return info


def _unescape_mount_field(field: str) -> str:
    # /proc/self/mounts escapes space, tab, newline and backslash as \ooo
    out, i = [], 0
    while i < len(field):
        if field[i] == "\\" and i + 3 < len(field) and field[i + 1:i + 4].isdigit():
            out.append(chr(int(field[i + 1:i + 4], 8)))
            i += 4
        else:
            out.append(field[i])
            i += 1
    return "".join(out)


def parse_mounts(text: str, mountpoints: list[str]) -> dict:
    """Options of the mounts at each mount point, from /proc/self/mounts text.
    The LAST entry for a mount point is the one in effect (mounts stack)."""
    seen = {}
    for line in text.splitlines():
        fields = line.split()
        if len(fields) < 4:
            continue
        target = _unescape_mount_field(fields[1])
        seen[target] = {"mounted": True, "source": _unescape_mount_field(fields[0]),
                        "fstype": fields[2], "options": fields[3].split(",")}
    return {m: seen.get(m, {"mounted": False, "options": []}) for m in mountpoints}


def parse_shadow(text: str) -> dict:
    """Password state and ageing fields of every account in /etc/shadow text.

    The password hash itself never leaves this function: only whether it is a
    usable hash ("$..."), locked ("!", "*") or empty.
    """
    accounts = {}
    for line in text.splitlines():
        fields = line.split(":")
        if len(fields) < 8 or not fields[0]:
            continue
        secret = fields[1]
        if secret.startswith("$"):
            state = "usable"
        elif secret == "":
            state = "empty"
        else:
            state = "locked"
        accounts[fields[0]] = {
            "password": state,
            "min_days": fields[3],
            "max_days": fields[4],
            "warn_days": fields[5],
            "inactive_days": fields[6],
        }
    return accounts
