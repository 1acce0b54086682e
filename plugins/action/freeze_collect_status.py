# -*- coding: utf-8 -*-
"""Controller side of election.freeze.freeze_collect_status: every host's outcome in one file.

Writes the results the play registered for its hosts (reachable or not) as one JSON
object to O(dest) on the controller, atomically and readable by its owner only.
Nothing runs on a managed host and no module is built: `ansible.builtin.copy`
delegated to localhost cost ~1.5 s per collection (building and running the stat
and copy modules, with Ansible's module cache empty in every new run), as much as
collecting one host.
"""
from __future__ import annotations

import json

from ansible.plugins.action import ActionBase

try:
    from freeze.durable import atomic_write
except ImportError as exc:  # reported by the task, in one line
    FREEZE_IMPORT_ERROR = str(exc)
else:
    FREEZE_IMPORT_ERROR = None

ARGS = dict(
    results=dict(type="dict", required=True),
    dest=dict(type="path", required=True),
)


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=ARGS)
        if FREEZE_IMPORT_ERROR is not None:
            result.update(failed=True, msg="freeze_collect_status needs the freeze Python package on the "
                                           "controller (pip install election-freeze): %s" % FREEZE_IMPORT_ERROR)
            return result
        try:
            # plain JSON types: what `to_json` gave the copy task this replaces
            data = json.dumps(args["results"], sort_keys=True, default=str).encode("utf-8")
            atomic_write(args["dest"], data, mode=0o600)
        except (OSError, TypeError, ValueError) as exc:
            result.update(failed=True, msg="%s: %s" % (args["dest"], exc))
            return result
        result.update(changed=True, dest=args["dest"], hosts=len(args["results"]))
        return result
