"""Users, groups, sudoers and cron, read from the files under the profile's `root`.

Standard library only. Reading the files (not `getent`/NSS) makes the collector
work the same on the live system and on a mounted image (`root: /mnt/image`).
Password hashes are never recorded: only whether a password is locked, empty or
set, and the day it last changed (a changed password shows as drift without the
manifest carrying anything derived from the secret).
"""

from __future__ import annotations

import glob
import os
from typing import Any

from freeze.collect.common import DATAERR, Collected, CollectError, text_key, under_root
from freeze.collect.files import describe

_SUDOERS = ("/etc/sudoers", "/etc/sudoers.d")
_CRON = ("/etc/crontab", "/etc/cron.d", "/etc/cron.hourly", "/etc/cron.daily",
         "/etc/cron.weekly", "/etc/cron.monthly", "/var/spool/cron/crontabs",
         "/etc/anacrontab", "/etc/cron.allow", "/etc/cron.deny")


def _read_colon_file(path: str, fields: int, numeric: tuple[int, ...] = ()
                     ) -> list[list[str]]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return []
    rows = []
    for n, line in enumerate(lines, 1):
        if not line.strip() or line.startswith("#"):
            continue
        parts = line.split(":")
        if len(parts) < fields:
            raise CollectError(f"{path}:{n}: malformed line ({len(parts)} fields)", DATAERR)
        for idx in numeric:
            if not parts[idx].isdigit():
                raise CollectError(f"{path}:{n}: field {idx + 1} is not a number", DATAERR)
        rows.append([text_key(p) for p in parts])
    return rows


def _password_state(field: str) -> str:
    if field == "":
        return "empty"
    if field.startswith("!") or field.startswith("*"):
        return "locked"
    return "set"


def _file_entries(root: str, tops: tuple[str, ...]) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for top in tops:
        real = under_root(root, top)
        if os.path.isdir(real) and not os.path.islink(real):
            names = [top + "/" + os.path.basename(p) for p in glob.glob(glob.escape(real) + "/*")]
            names += [top + "/" + os.path.basename(p)
                      for p in glob.glob(glob.escape(real) + "/.*")]
            paths = [top] + sorted(names)
        else:
            paths = [top]
        for p in paths:
            entry = describe(under_root(root, p))
            if entry is not None:
                entries[text_key(p)] = entry
    return entries


def collect(spec: dict[str, Any]) -> Collected:
    opts = spec.get("accounts") or {}
    out = Collected()
    if not opts.get("enabled", True):
        return out
    root = spec.get("root", "/")
    passwd = _read_colon_file(under_root(root, "/etc/passwd"), 7, (2, 3))
    if not passwd:
        raise CollectError(f"{under_root(root, '/etc/passwd')}: missing or empty")
    shadow = {r[0]: r for r in _read_colon_file(under_root(root, "/etc/shadow"), 3)}
    users: dict[str, dict[str, Any]] = {}
    for name, _x, uid, gid, gecos, home, shell, *_ in passwd:
        entry: dict[str, Any] = {"uid": int(uid), "gid": int(gid), "gecos": gecos,
                                 "home": home, "shell": shell}
        if name in shadow:
            row = shadow[name]
            entry["password"] = _password_state(row[1])
            entry["password_changed_day"] = row[2]
            if len(row) > 7:
                entry["expires_day"] = row[7]
        users[name] = entry
    out.sections["users"] = users
    groups: dict[str, dict[str, Any]] = {}
    for name, _x, gid, members, *_ in _read_colon_file(under_root(root, "/etc/group"), 4, (2,)):
        groups[name] = {"gid": int(gid),
                        "members": sorted(m for m in members.split(",") if m)}
    out.sections["groups"] = groups
    if opts.get("sudoers", True):
        out.sections["sudoers"] = _file_entries(root, _SUDOERS)
    if opts.get("cron", True):
        out.sections["cron"] = _file_entries(root, _CRON)
    return out
