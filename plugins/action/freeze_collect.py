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
    from freeze.drift import check_profile_matches, compare, growing_sizes
    from freeze.errors import FreezeError
    from freeze.fleet import check_signed_manifest
    from freeze.manifest import load_manifest
    from freeze.profile import load_profile
    from freeze.snapshot import (
        check_switches,
        database_sections,
        manifest_from_collected,
        write_manifest,
    )
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

        if not args["dest"] and not args["baseline"]:
            result.update(failed=True, msg="one of dest, baseline is required")
            return result
        dest = os.path.abspath(args["dest"]) if args["dest"] else None
        if dest and not os.path.isdir(os.path.dirname(dest)):
            result.update(failed=True, msg="dest %s: directory does not exist" % args["dest"])
            return result
        if dest and os.path.lexists(dest) and not args["force"]:
            result.update(failed=True, msg="dest %s: exists; refusing to overwrite (force: true)"
                                           % args["dest"])
            return result
        try:
            profile = load_profile(args["profile"])
        except FreezeError as exc:
            result.update(failed=True, msg="profile: %s" % exc)
            return result
        baseline = None
        signed = None
        if args["envelope"] or args["root"] or args["fleet"]:
            if not (args["baseline"] and args["envelope"] and args["root"]):
                result.update(failed=True, msg="envelope and root check a baseline: give baseline, "
                                               "envelope and root together (fleet when the envelope signs one)")
                return result
            try:  # before anything runs on the host: a changed manifest is no basis for a verdict
                signed = check_signed_manifest(args["baseline"], args["envelope"], args["root"],
                                               host=task_vars.get("inventory_hostname", ""),
                                               fleet=args["fleet"])
            except FreezeError as exc:
                result.update(failed=True, signed=False, msg=str(exc))
                return result
        if args["baseline"]:
            try:
                baseline = load_manifest(args["baseline"])
                check_profile_matches(baseline, profile)
            except FreezeError as exc:
                result.update(failed=True, msg="baseline: %s" % exc)
                return result
            args["growing"] = growing_sizes(baseline, profile)
            args["output"] = "manifest"

        # the handoff file lives in Ansible's temporary directory: cleanup() removes it
        tmpdir = self._connection._shell.tmpdir or self._make_tmp_path()
        handoff = self._connection._shell.join_path(tmpdir, "freeze-collected.json")
        module_args = dict(args, spec=profile.collect_spec(), collectors=collector_sources(),
                           handoff=handoff, envelope=None, root=None, fleet=None)
        res = self._execute_module(module_name="election.freeze.freeze_collect",
                                   module_args=module_args, task_vars=task_vars)
        res.pop("invocation", None)
        if res.get("failed"):
            result.update(res)
            return result
        result.update(self._fetch_and_write(res, handoff, dest, args["output"], profile, baseline))
        if signed is not None:
            result.update(signed=True, signed_checks=signed)
        return result

    def _fetch_and_write(self, res, handoff, dest, output, profile, baseline):
        """Fetch the handoff file, check it, write `dest` and/or compare with `baseline`."""
        summary = dict(changed=False, path=res.get("path"), counts=res.get("counts", {}),
                       profile_sha256=profile.digest,
                       unavailable=res.get("unavailable", {}), host=res.get("host", {}),
                       collected_sha256=res.get("sha256"), collected_size=res.get("size"))
        fd, local = tempfile.mkstemp(prefix=".freeze-collected-",
                                     dir=os.path.dirname(dest) if dest else None)
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
                if baseline is None:  # a reference: its switch symlinks in a known state,
                    # checked before the database is read (a refusal costs nothing then)
                    check_switches(doc["sections"].get("files", {}), profile)
                manifest = manifest_from_collected(
                    profile, doc, database_sections(profile, require_tables=baseline is None))
                if dest:
                    summary.update(dest=dest, sha256=write_manifest(dest, manifest),
                                   size=os.path.getsize(dest))
            except FreezeError as exc:
                return dict(summary, failed=True, msg=str(exc))
            if baseline is not None:
                summary.update(_drift_summary(compare(baseline, manifest, profile)))
            return summary
        finally:
            if os.path.lexists(local):
                os.unlink(local)


def _drift_summary(report, first=10):
    """Counts and the first entries of a drift report (the task result stays small)."""
    items = ["%s %s %s" % (e.category, e.kind, e.key) for e in report.entries[:first]]
    out = dict(drift=report.counts(), drift_clean=report.is_clean, drift_items=items,
               drift_exit_code=report.exit_code)
    if report.switches:  # which known target each switch symlink points at (not drift)
        out["drift_switches"] = [s.text() for s in report.switches]
    if report.transient_units:  # what each known transient unit is doing (not drift)
        out["drift_transient_units"] = [u.text() for u in report.transient_units]
    if report.on_demand_modules:  # modules loaded on demand, unloaded or resized (not drift)
        out["drift_on_demand_modules"] = [m.text() for m in report.on_demand_modules]
    return out
