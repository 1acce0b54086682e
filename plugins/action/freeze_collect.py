# -*- coding: utf-8 -*-
"""Controller side of election.freeze.freeze_collect.

1. Loads and validates the freeze profile here (a malformed one fails the task
   with one line naming the key), and reads the collector source from the
   installed `freeze` package: the one copy of that code.
2. Runs the module on the host (Ansible's connection, become, forks). The
   module writes the collected document to a root-only file there and a copy,
   readable by the connection user, into Ansible's temporary directory.
3. Streams that copy to the controller with the connection's fetch_file (never
   through the module's JSON result, never slurp/base64 in memory), checks its
   SHA-256 against the module's, and writes the canonical manifest with
   `freeze.snapshot.manifest_from_collected`: the code every `freeze snapshot`
   ends in. The task result is a small summary only.
"""
from __future__ import annotations

import hashlib
import json
import os
import tempfile

from ansible.plugins.action import ActionBase

from ansible_collections.election.freeze.plugins.module_utils.freeze_collectors import TASK_OPTIONS

try:
    from freeze.errors import FreezeError
    from freeze.profile import load_profile
    from freeze.snapshot import database_sections, manifest_from_collected, write_manifest
    from freeze.transport import collector_sources
except ImportError as exc:  # reported by the task, in one line
    FREEZE_IMPORT_ERROR = str(exc)
else:
    FREEZE_IMPORT_ERROR = None

_CHUNK = 1 << 20



def _file_sha256(path):
    digest = hashlib.sha256()
    size = 0
    with open(path, "rb") as fh:
        while True:
            chunk = fh.read(_CHUNK)
            if not chunk:
                break
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


class ActionModule(ActionBase):
    TRANSFERS_FILES = True
    _requires_connection = True

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=TASK_OPTIONS)
        if FREEZE_IMPORT_ERROR is not None:
            result.update(failed=True, msg="freeze_collect needs the freeze Python package on the "
                                           "controller (pip install election-freeze): %s"
                                           % FREEZE_IMPORT_ERROR)
            return result

        dest = os.path.abspath(args["dest"])
        if not os.path.isdir(os.path.dirname(dest)):
            result.update(failed=True, msg="dest %s: directory does not exist" % args["dest"])
            return result
        if os.path.lexists(dest) and not args["force"]:
            result.update(failed=True, msg="dest %s: exists; refusing to overwrite (force: true)"
                                           % args["dest"])
            return result
        try:
            profile = load_profile(args["profile"])
        except FreezeError as exc:
            result.update(failed=True, msg="profile: %s" % exc)
            return result

        # the handoff file lives in Ansible's temporary directory: cleanup() removes it
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        handoff = self._connection._shell.join_path(tmpdir, "freeze-collected.json")
        module_args = dict(args, spec=profile.collect_spec(), collectors=collector_sources(),
                           handoff=handoff)
        res = self._execute_module(module_name="election.freeze.freeze_collect",
                                   module_args=module_args, task_vars=task_vars)
        res.pop("invocation", None)
        if res.get("failed"):
            result.update(res)
            return result
        result.update(self._fetch_and_write(res, handoff, dest, args["output"], profile))
        return result

    def _fetch_and_write(self, res, handoff, dest, output, profile):
        """Fetch the handoff file next to `dest`, check it, write `dest`; the summary."""
        summary = dict(changed=False, path=res.get("path"), counts=res.get("counts", {}),
                       profile_sha256=profile.digest,
                       unavailable=res.get("unavailable", {}), host=res.get("host", {}),
                       collected_sha256=res.get("sha256"), collected_size=res.get("size"))
        fd, local = tempfile.mkstemp(prefix=".freeze-collected-", dir=os.path.dirname(dest))
        os.close(fd)
        try:
            self._connection.fetch_file(handoff, local)
            digest, size = _file_sha256(local)
            if digest != res.get("sha256") or size != res.get("size"):
                return dict(summary, failed=True,
                            msg="the collected document changed in transfer (sha256 %s on the host, "
                                "%s here)" % (res.get("sha256"), digest))
            if output == "collected":
                os.chmod(local, 0o600)
                os.replace(local, dest)
                return dict(summary, dest=dest, sha256=digest, size=size)
            with open(local, "rb") as fh:
                doc = json.load(fh)
            try:
                manifest = manifest_from_collected(profile, doc, database_sections(profile))
                sha = write_manifest(dest, manifest)
            except FreezeError as exc:
                return dict(summary, failed=True, msg=str(exc))
            return dict(summary, dest=dest, sha256=sha, size=os.path.getsize(dest))
        finally:
            if os.path.lexists(local):
                os.unlink(local)
