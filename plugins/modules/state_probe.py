#!/usr/bin/python
# -*- coding: utf-8 -*-
"""Read the state a hardening role manages, in ONE module call.

Why: on the emulated lab VMs every task costs ~3 s, so each role starts with one
probe and skips every task whose desired state is already there. Before this module
each role had its own shell probe (dpkg-query, systemctl, sha256sum, stat, findmnt)
and parsed its output lines with Jinja; this returns the same facts structured.
"""
from __future__ import annotations

DOCUMENTATION = r"""
module: state_probe
short_description: Report packages, systemd units, paths, mounts and accounts in one call (read-only)
description:
  - Never changes the host and always reports C(changed=false); runs in check mode
    too, so a check run skips the same tasks a real run would.
  - Use the filters of this collection (C(election.freeze.missing_packages),
    C(election.freeze.file_differs), ...) to compare the result with the desired state.
version_added: 0.1.0
author: election-freeze maintainers
options:
  packages:
    description: Debian package names; each gets C(status) (dpkg's, e.g. C(installed),
      C(not-installed), C(config-files)) and C(version).
    type: list
    elements: str
    default: []
  units:
    description: systemd unit names; each gets C(enabled) (unit file state, C(not-found)
      when there is no such unit), C(active) and C(loaded).
    type: list
    elements: str
    default: []
  files:
    description: Paths; each gets C(exists) and, when it exists, C(type), C(mode) (4-digit
      octal string), C(owner), C(group), C(size), and C(sha256) for a regular file.
      A final symlink is not followed.
    type: list
    elements: path
    default: []
  mounts:
    description: Mount points; each gets C(mounted) and the live C(options) list.
    type: list
    elements: path
    default: []
  accounts:
    description: Report every account of /etc/shadow with its password state
      (C(usable), C(locked), C(empty); never the hash) and ageing fields.
    type: bool
    default: false
  commands:
    description:
      - Extra read-only queries, name to argv (never run through a shell); each gets
        C(rc), C(stdout) and C(stderr) (C(rc=127) when the program is not installed).
        For state none of the options above covers (e.g. C(auditctl -l)). Only give
        commands that change nothing.
    type: dict
    default: {}
"""

EXAMPLES = r"""
- name: Probe what the role manages
  election.freeze.state_probe:
    packages: [nftables, ufw]
    units: [nftables.service]
    files: [/etc/nftables.conf]
  register: __probe

- name: Install nftables unless it is there
  ansible.builtin.apt:
    name: nftables
  when: __probe | election.freeze.missing_packages(['nftables']) | length > 0
"""

RETURN = r"""
packages:
  description: Package name to C({status, version}).
  type: dict
  returned: always
units:
  description: Unit name to C({enabled, active, loaded}).
  type: dict
  returned: always
files:
  description: Path to C({exists, type, mode, owner, group, size, sha256}).
  type: dict
  returned: always
mounts:
  description: Mount point to C({mounted, source, fstype, options}).
  type: dict
  returned: always
accounts:
  description: Account name to C({password, min_days, max_days, warn_days, inactive_days}).
  type: dict
  returned: always
commands:
  description: Command name to C({rc, stdout, stderr}).
  type: dict
  returned: always
"""

import os

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.election.freeze.plugins.module_utils.host_state import (
    describe_path,
    parse_dpkg_query,
    parse_mounts,
    parse_shadow,
    parse_systemctl_show,
)

SHADOW = "/etc/shadow"
MOUNTS = "/proc/self/mounts"


def probe_packages(module: AnsibleModule, names: list[str]) -> dict:
    if not names:
        return {}
    dpkg_query = module.get_bin_path("dpkg-query", required=True)
    # rc 1 only means "some name is unknown to dpkg"; those become not-installed
    rc, out, err = module.run_command(
        [dpkg_query, "-W", "-f=${Package}\\t${db:Status-Status}\\t${Version}\\n"] + names)
    if rc not in (0, 1):
        module.fail_json(msg="dpkg-query failed: %s" % err.strip())
    return parse_dpkg_query(out, names)


def probe_units(module: AnsibleModule, units: list[str]) -> dict:
    if not units:
        return {}
    systemctl = module.get_bin_path("systemctl", required=True)
    rc, out, _ = module.run_command(
        [systemctl, "show", "-p", "LoadState", "-p", "UnitFileState", "-p", "ActiveState", "--"] + units)
    parsed = parse_systemctl_show(out, units) if rc == 0 else None
    if parsed is not None:
        return parsed
    # No running systemd (a chroot, a container, an image): unit FILE states can
    # still be read; whether a unit runs cannot.
    result = {}
    for unit in units:
        rc, out, _ = module.run_command([systemctl, "is-enabled", "--", unit])
        result[unit] = {"enabled": out.strip() or "not-found", "active": "unknown", "loaded": "unknown"}
    return result


def probe_accounts(module: AnsibleModule) -> dict:
    try:
        with open(SHADOW, encoding="utf-8", errors="replace") as fh:
            return parse_shadow(fh.read())
    except OSError as exc:
        module.fail_json(msg="cannot read %s (needs become): %s" % (SHADOW, exc))


def probe_commands(module: AnsibleModule, commands: dict) -> dict:
    result = {}
    for name, argv in commands.items():
        if isinstance(argv, str) or not isinstance(argv, list) or not argv:
            module.fail_json(msg="commands.%s must be a non-empty argv list" % name)
        argv = [str(a) for a in argv]
        # a program that is not installed yet (a fresh host) is an answer, not an error
        program = argv[0] if "/" in argv[0] else module.get_bin_path(argv[0])
        if not program or not os.access(program, os.X_OK):
            result[name] = {"rc": 127, "stdout": "", "stderr": "%s: not found" % argv[0]}
            continue
        rc, out, err = module.run_command([program] + argv[1:])
        result[name] = {"rc": rc, "stdout": out, "stderr": err}
    return result


def main() -> None:
    module = AnsibleModule(
        argument_spec=dict(
            packages=dict(type="list", elements="str", default=[]),
            units=dict(type="list", elements="str", default=[]),
            files=dict(type="list", elements="path", default=[]),
            mounts=dict(type="list", elements="path", default=[]),
            accounts=dict(type="bool", default=False),
            commands=dict(type="dict", default={}),
        ),
        supports_check_mode=True,
    )
    params = module.params
    mounts = {}
    if params["mounts"]:
        with open(MOUNTS, encoding="utf-8", errors="replace") as fh:
            mounts = parse_mounts(fh.read(), params["mounts"])
    module.exit_json(
        changed=False,
        packages=probe_packages(module, params["packages"]),
        units=probe_units(module, params["units"]),
        files={path: describe_path(path) for path in params["files"]},
        mounts=mounts,
        accounts=probe_accounts(module) if params["accounts"] else {},
        commands=probe_commands(module, params["commands"]),
    )


if __name__ == "__main__":
    main()
