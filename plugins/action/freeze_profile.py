# -*- coding: utf-8 -*-
"""Controller side of election.freeze.freeze_profile: one host's composed freeze profile.

Runs on the controller only. The roles applied to the host come from O(roles) or,
by default, from the collection's playbooks/site.yml evaluated against the
inventory's groups (freeze.compose.roles_for_host); each role's fragment
(roles/ROLE/meta/freeze_profile.yml) is rendered with the role's defaults and this
host's own values of the role's variables, and composed with the operator's base
profile by freeze.compose: the same code as `freeze profile compose`, so an auditor
gets the same bytes.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from ansible.plugins.action import ActionBase

try:
    from freeze.compose import compose_for_host, roles_for_host
    from freeze.durable import atomic_write
    from freeze.errors import FreezeError, InputError
except ImportError as exc:  # reported by the task, in one line
    FREEZE_IMPORT_ERROR = str(exc)
else:
    FREEZE_IMPORT_ERROR = None

COLLECTION = Path(__file__).resolve().parents[2]


class _RenderedVars(Mapping):
    """The task's variables, each templated when first read (plain str, not Ansible's
    string types, which YAML cannot represent); a broken value is one InputError line."""

    def __init__(self, task_vars, templar):
        self._vars = task_vars
        self._templar = templar

    def __getitem__(self, name):
        raw = self._vars[name]  # KeyError: not set for this host (the role's default applies)
        try:
            value = self._templar.template(raw)
        except Exception as exc:  # an undefined or broken value: one line, no traceback
            raise InputError("%s: %s" % (name, exc)) from None
        return str(value) if isinstance(value, str) else value

    def __contains__(self, name):  # without templating (Mapping's would read the value)
        return name in self._vars

    def __iter__(self):
        return iter(self._vars)

    def __len__(self):
        return len(self._vars)

ARGS = dict(
    base=dict(type="path", required=True),
    dest=dict(type="path", required=True),
    roles=dict(type="list", elements="str"),
    playbook=dict(type="path"),
    roles_dir=dict(type="path"),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        task_vars = task_vars or {}
        _, args = self.validate_argument_spec(argument_spec=ARGS)
        if FREEZE_IMPORT_ERROR is not None:
            result.update(failed=True, msg="freeze_profile needs the freeze Python package on the "
                                           "controller (pip install election-freeze): %s" % FREEZE_IMPORT_ERROR)
            return result
        host = task_vars.get("inventory_hostname", "")
        roles_dir = args["roles_dir"] or str(COLLECTION / "roles")
        try:
            if args["roles"] is not None:
                # plain str: Ansible's own string types are not YAML-representable
                roles = sorted({str(r) for r in args["roles"]})
                source = "roles"
            else:
                playbook = args["playbook"] or str(COLLECTION / "playbooks" / "site.yml")
                groups = {str(g): [str(h) for h in hs] for g, hs in task_vars.get("groups", {}).items()}
                roles = roles_for_host(playbook, str(host), groups)
                source = playbook
            # the host's own values of the roles' variables (inventory, extra vars), rendered
            # only when a fragment uses them: the others (vault secrets) are never templated
            own = _RenderedVars(task_vars, self._templar)
            comp = compose_for_host(args["base"], roles_dir, roles, str(host), own)
        except FreezeError as exc:
            result.update(failed=True, msg="%s: %s" % (host, exc))
            return result
        dest = args["dest"]
        old = None
        if os.path.exists(dest):
            with open(dest, "rb") as fh:
                old = hashlib.sha256(fh.read()).hexdigest()
        changed = old != comp.sha256
        if changed and not self._task.check_mode:
            if not os.path.isdir(os.path.dirname(os.path.abspath(dest))):
                result.update(failed=True, msg="dest %s: directory does not exist" % dest)
                return result
            atomic_write(dest, comp.text, mode=0o644)
        result.update(changed=changed, dest=dest, sha256=comp.sha256, roles=roles, roles_from=source,
                      fragments=list(comp.roles), overridden=list(comp.overridden))
        return result
