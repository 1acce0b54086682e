# -*- coding: utf-8 -*-
"""Filters about how the controller reaches a host (run on the controller).

  fresh_login_command(host, user, timeout, default_key='')
      The `ssh ... sudo -n true` command line that proves a NEW login works: no
      connection multiplexing (a control master would hide a broken sshd or
      firewall), the inventory's own SSH options, port and key. Used by
      lockout_guard (after every hardening role) and nftables_firewall (before
      it confirms a new ruleset), which must test exactly the same thing.
"""
from __future__ import annotations

import shlex

from ansible.errors import AnsibleFilterError


def fresh_login_command(hostvars, inventory_hostname, user, timeout, default_key=""):
    """Input: hostvars[inventory_hostname]; returns one command line (a string).

    ssh keeps the FIRST value of each option: the multiplexing switches come
    before the inventory's ansible_ssh_common_args (which may set a ControlPath).
    The key is the one Ansible itself uses: either variable name, else the
    configured private_key_file (default_key).
    """
    if not hasattr(hostvars, "get"):
        raise AnsibleFilterError("fresh_login_command expects hostvars[inventory_hostname], got %r" % type(hostvars))
    if not user:
        raise AnsibleFilterError("fresh_login_command: no login user given")
    try:
        seconds = int(timeout)
        port = int(hostvars.get("ansible_port") or 22)
    except (TypeError, ValueError) as exc:
        raise AnsibleFilterError("fresh_login_command: timeout and ansible_port must be integers (%s)" % exc)
    key = (hostvars.get("ansible_ssh_private_key_file") or hostvars.get("ansible_private_key_file")
           or default_key or "")
    address = hostvars.get("ansible_host") or inventory_hostname
    words = ["ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
             "-o", "ConnectTimeout=%d" % seconds]
    common = str(hostvars.get("ansible_ssh_common_args") or "").strip()
    line = " ".join(words) + (" " + common if common else "") + " -p %d" % port
    if key:
        line += " -i " + shlex.quote(str(key))
    return line + " -l %s %s sudo -n true" % (shlex.quote(str(user)), shlex.quote(str(address)))


class FilterModule:
    def filters(self):
        return {"fresh_login_command": fresh_login_command}
