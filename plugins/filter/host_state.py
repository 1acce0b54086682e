# -*- coding: utf-8 -*-
"""Filters that compare an election.freeze.state_probe result with desired state.

They run on the controller (free: no round trip) and replace Jinja tests that each
role used to repeat over its probe's output lines.

Every filter takes the registered state_probe result as its input.
  missing_packages(names)            names not installed
  installed_packages(names, with_config_files=false)
                                     names still installed (packages to remove/purge)
  unit_differs(unit, enabled, active) true unless the unit is in that state
  file_differs(path, content=, sha256=, mode=, owner=, group=, type=)
                                     true unless the path matches every given field
  files_differing(specs)             paths of election.freeze.managed_files specs that
                                     the module would change (skip it when empty)
  mounts_lacking(wanted)             mount points missing one of their wanted options
  existing_paths(paths)              the paths that exist
  accounts_to_age(min_days, max_days, warn_days, inactive_days, exempt=[])
                                     accounts with a usable password and other ageing
  watchable_paths(paths)             paths that exist or whose parent exists (audit watches)
Helpers on plain values:
  to_dicts(field, **extra)           [v, ...] -> [{field: v, **extra}, ...]
  parent_dirs                        [path, ...] -> sorted parent directories
  for_groups(group_names)            entries without 'groups' or sharing one of the host's groups
  audit_watched_paths(keys)          `auditctl -l` text -> paths watched under one of the keys
"""
from __future__ import annotations

import hashlib
import os

from ansible.errors import AnsibleFilterError


_ABSENT = ("not-installed", "config-files")


def _section(probe, name: str) -> dict:
    if not isinstance(probe, dict):
        raise AnsibleFilterError("expected a registered election.freeze.state_probe result, got %r" % type(probe))
    return probe.get(name) or {}


def missing_packages(probe, names) -> list:
    packages = _section(probe, "packages")
    return [n for n in names if packages.get(n, {}).get("status") != "installed"]


def installed_packages(probe, names, with_config_files=False) -> list:
    """Packages to remove: those dpkg does not report as gone. A config-files
    package (removed, conffiles left) counts as gone unless with_config_files,
    for callers that purge and want those conffiles removed too."""
    packages = _section(probe, "packages")
    gone = ("not-installed",) if with_config_files else _ABSENT
    return [n for n in names if packages.get(n, {}).get("status", "not-installed") not in gone]


def unit_differs(probe, unit: str, enabled=None, active=None) -> bool:
    """enabled/active: true (enabled, active), false (disabled, inactive), or a
    literal state string; None means that side is not checked."""
    state = _section(probe, "units").get(unit)
    if state is None:
        return True
    if enabled is not None:
        want = enabled if isinstance(enabled, str) else ("enabled" if enabled else "disabled")
        if state.get("enabled") != want:
            return True
    if active is not None:
        want = active if isinstance(active, str) else ("active" if active else "inactive")
        if state.get("active") != want:
            return True
    return False


def _octal(mode) -> str:
    if isinstance(mode, int):
        # an unquoted YAML 0600 arrives as the integer 384
        return "%04o" % mode
    return "%04o" % int(str(mode), 8)


def file_differs(probe, path: str, content=None, sha256=None, mode=None, owner=None, group=None,
                 type="file") -> bool:
    """True unless path exists with the given type and every given field: the
    sha256 of the desired content (rendered on the controller, e.g. with
    lookup('template')), or a sha256 directly; mode; owner; group."""
    state = _section(probe, "files").get(path)
    if not state or not state.get("exists"):
        return True
    if type is not None and state.get("type") != type:
        return True
    if content is not None:
        sha256 = hashlib.sha256(str(content).encode("utf-8", "surrogateescape")).hexdigest()
    if sha256 is not None and state.get("sha256") != sha256:
        return True
    if mode is not None and state.get("mode") != _octal(mode):
        return True
    if owner is not None and state.get("owner") != owner:
        return True
    if group is not None and state.get("group") != group:
        return True
    return False


def files_differing(probe, specs) -> list:
    """The paths of managed_files specs ({path, content, mode, owner, group, state})
    that differ from the probe, in the order given: the module would change exactly
    these (an empty list means its call can be skipped). A spec without content
    only checks metadata and, like the module, ignores a missing path. The content
    is only hashed here, never returned, so secret specs are safe to pass."""
    files = _section(probe, "files")
    differing = []
    for spec in specs:
        path = spec["path"]
        state = files.get(path) or {}
        if spec.get("state", "present") == "absent":
            if state.get("exists"):
                differing.append(path)
            continue
        if spec.get("content") is None and not state.get("exists"):
            continue
        if file_differs(probe, path, content=spec.get("content"), mode=spec.get("mode"),
                        owner=spec.get("owner", "root"), group=spec.get("group", "root"),
                        type=None if spec.get("content") is None else "file"):
            differing.append(path)
    return differing


def mounts_lacking(probe, wanted: dict) -> list:
    """wanted: {mountpoint: [option, ...]} -> mount points that are not mounted
    or lack one of their options, in the order given."""
    mounts = _section(probe, "mounts")
    lacking = []
    for mountpoint, options in wanted.items():
        state = mounts.get(mountpoint, {})
        if not state.get("mounted") or set(options) - set(state.get("options", [])):
            lacking.append(mountpoint)
    return lacking


def existing_paths(probe, paths) -> list:
    files = _section(probe, "files")
    return [p for p in paths if files.get(p, {}).get("exists")]


def accounts_to_age(probe, min_days, max_days, warn_days, inactive_days, exempt=()) -> list:
    """Accounts with a usable password hash whose ageing fields differ from the
    wanted ones, minus the exempt list. Locked or empty passwords are never aged:
    an expired password blocks even key logins through PAM's account stack."""
    want = {"min_days": str(min_days), "max_days": str(max_days),
            "warn_days": str(warn_days), "inactive_days": str(inactive_days)}
    result = []
    for name, account in sorted(_section(probe, "accounts").items()):
        if account.get("password") != "usable" or name in exempt:
            continue
        if any(account.get(k) != v for k, v in want.items()):
            result.append(name)
    return result


def to_dicts(values, field: str, **extra) -> list:
    """['/etc/motd', '/etc/issue'] | to_dicts('path', mode='0644')
    -> [{'path': '/etc/motd', 'mode': '0644'}, {'path': '/etc/issue', 'mode': '0644'}]"""
    return [dict(extra, **{field: v}) for v in values]


def for_groups(items, group_names) -> list:
    """Entries that apply to a host: those without a 'groups' key, and those whose
    'groups' list shares an inventory group with the host's group_names."""
    mine = set(group_names)
    return [i for i in items if "groups" not in i or mine.intersection(i["groups"])]


def audit_watched_paths(rules_text: str, keys) -> list:
    """Paths with a loaded watch rule carrying one of the keys, from `auditctl -l`
    output (lines such as '-w /etc/election -p wa -k election_config')."""
    wanted = set(keys)
    found = []
    for line in rules_text.splitlines():
        words = line.split()
        if len(words) < 2 or words[0] != "-w":
            continue
        rule_keys = {words[i + 1] for i, w in enumerate(words[:-1]) if w in ("-k", "-F") and i + 1 < len(words)}
        rule_keys = {k[4:] if k.startswith("key=") else k for k in rule_keys}
        if rule_keys & wanted:
            found.append(words[1].rstrip("/") or "/")
    return found


def watchable_paths(probe, paths) -> list:
    """Paths an audit watch can be placed on: those that exist, and those that do
    not exist yet but whose parent directory does (the kernel then records their
    creation). A watch under a missing parent is rejected by auditctl, and with it
    the whole rule file. The probe must include the parents (see parent_dirs)."""
    files = _section(probe, "files")

    def exists(p: str) -> bool:
        return bool(files.get(p, {}).get("exists"))

    return [p for p in paths if exists(p) or exists(os.path.dirname(p.rstrip("/")) or "/")]


def parent_dirs(paths) -> list:
    """The parent directory of each path (for probing with watchable_paths)."""
    return sorted({os.path.dirname(p.rstrip("/")) or "/" for p in paths})


class FilterModule:
    def filters(self):
        return {
            "missing_packages": missing_packages,
            "installed_packages": installed_packages,
            "unit_differs": unit_differs,
            "file_differs": file_differs,
            "files_differing": files_differing,
            "mounts_lacking": mounts_lacking,
            "existing_paths": existing_paths,
            "accounts_to_age": accounts_to_age,
            "to_dicts": to_dicts,
            "for_groups": for_groups,
            "watchable_paths": watchable_paths,
            "parent_dirs": parent_dirs,
            "audit_watched_paths": audit_watched_paths,
        }
