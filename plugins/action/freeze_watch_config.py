# -*- coding: utf-8 -*-
"""Controller side of election.freeze.freeze_watch_config (runs on the controller only).

Gives the role election.freeze.freeze_watch what it deploys, from the `freeze`
package installed on the controller (the one copy of that code):

* the source of freeze's standard-library collectors (`freeze.transport.collector_sources`,
  the same source `freeze snapshot --host` and the freeze_collect module ship), in load order;
* the source of freeze's file judges (`freeze.judge`, `freeze.rotation`: what
  `freeze verify` judges each volatility class with, log rotation included);
* with a manifest: first the proof that it is the signed one
  (`freeze.fleet.check_signed_manifest`, exactly what playbooks/verify.yml and the
  freeze_collect module check: threshold, root self-signature, ceremony binding,
  expiry, subject digest or the signed fleet manifest naming it; or, after a
  witnessed intervention, `freeze.intervention.run.check_signed_after_manifest`:
  the record meets the root's intervention threshold and names the host's
  after-manifest), then that the
  profile is the one it was taken with (`freeze.drift.check_profile_matches`), then
  the host checker's configuration: the collector spec of that profile (with the
  known transient units and the modules loaded on demand, when it lists some, which
  the checker also judges by), the sizes of
  growing files (`freeze.drift.growing_sizes`), the profile's path volatilities (with
  a switch's known targets) and the host sections to compare. A manifest that is not the signed one fails the task
  and nothing is deployed.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from ansible.plugins.action import ActionBase

try:
    from freeze.collect.runner import COLLECTOR_MODULES
    from freeze.drift import check_profile_matches, growing_sizes
    from freeze.errors import FreezeError
    from freeze.fleet import check_signed_manifest
    from freeze.intervention.run import check_signed_after_manifest
    from freeze.manifest import SECTION_KINDS, load_manifest
    from freeze.profile import load_profile
    from freeze.transport import JUDGE_MODULES, collector_sources, judge_sources
except ImportError as exc:  # reported by the task, in one line
    FREEZE_IMPORT_ERROR = str(exc)
else:
    FREEZE_IMPORT_ERROR = None

SCHEMA = "freeze-watch/v1"

ARGS = dict(
    manifest=dict(type="path"),
    profile=dict(type="path"),
    envelope=dict(type="path"),
    root=dict(type="path"),
    fleet=dict(type="path"),
    intervention=dict(type="path"),
    host=dict(type="str", required=True),
    own_units=dict(type="list", elements="str", default=[]),
    install_dir=dict(type="path", required=True),
)


def host_sections(manifest) -> list:
    """The sections the host's own collectors produce (the database is checked over SQL)."""
    names = set(manifest.sections) | set(manifest.unavailable)
    return sorted(n for n in names if not n.startswith("db_") and n != "database")


def watch_config(manifest_path, profile_path, *, own_units=()) -> dict:
    """The checker's configuration for one host's manifest (raises FreezeError)."""
    profile = load_profile(profile_path)
    manifest = load_manifest(manifest_path)
    check_profile_matches(manifest, profile)
    with open(manifest_path, "rb") as fh:
        digest = hashlib.sha256(fh.read()).hexdigest()
    sections = host_sections(manifest)
    return {
        "schema": SCHEMA,
        "manifest_sha256": digest,
        "profile_sha256": profile.digest,
        "collector_modules": list(COLLECTOR_MODULES),
        "spec": profile.collect_spec(),
        "growing": growing_sizes(manifest, profile),
        "judge_modules": list(JUDGE_MODULES),
        # [path, volatility, excludes] (+ [targets] of a switch: other rules' stay 3 long)
        "rules": [[r.path, r.volatility, list(r.exclude)] + ([list(r.targets)] if r.targets else [])
                  for r in profile.paths],
        "sections": sections,
        "kinds": {s: SECTION_KINDS.get(s, s) for s in sections},
        "own_units": list(own_units),
    }


class ActionModule(ActionBase):
    TRANSFERS_FILES = False
    _requires_connection = False

    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        del tmp
        _, args = self.validate_argument_spec(argument_spec=ARGS)
        if FREEZE_IMPORT_ERROR is not None:
            result.update(failed=True, msg="freeze_watch_config needs the freeze Python package on "
                                           "the controller (pip install election-freeze): %s"
                                           % FREEZE_IMPORT_ERROR)
            return result
        sources = collector_sources()
        # managed_files specs of the collector sources, under INSTALL_DIR/collect/
        files = [{"path": "%s/collect/%s.py" % (args["install_dir"].rstrip("/"), name.rsplit(".", 1)[1]),
                  "content": src, "mode": "0644", "state": "present"} for name, src in sources.items()]
        files += [{"path": "%s/judge/%s.py" % (args["install_dir"].rstrip("/"), name),
                   "content": src, "mode": "0644", "state": "present"} for name, src in judge_sources().items()]
        result.update(changed=False, manifest=False, code_files=files)
        if args["manifest"] and args["intervention"]:
            result.update(failed=True, msg="give manifest (the freeze's) or intervention (a record whose "
                                           "after-manifest is the new reference), not both")
            return result
        if not (args["manifest"] or args["intervention"]):
            return result  # before the freeze: the checker only reports that
        if not (args["profile"] and args["root"] and (args["envelope"] or args["intervention"])):
            result.update(failed=True, msg="a manifest needs profile, envelope and root (an intervention "
                                           "record: profile and root): it is deployed only after its "
                                           "signature is checked")
            return result
        try:  # before anything reaches the host: an unsigned manifest is no basis for a verdict
            if args["intervention"]:
                path, _, signed = check_signed_after_manifest(Path(args["intervention"]), Path(args["root"]),
                                                              args["host"])
                manifest = str(path)
            else:
                manifest = args["manifest"]
                signed = check_signed_manifest(manifest, args["envelope"], args["root"],
                                               host=args["host"], fleet=args["fleet"])
            config = watch_config(manifest, args["profile"], own_units=args["own_units"])
        except FreezeError as exc:
            result.update(failed=True, signed=False, msg=str(exc))
            return result
        except OSError as exc:
            result.update(failed=True, msg="%s: %s" % (exc.filename or "", exc.strerror or exc))
            return result
        result.update(manifest=True, signed=True, signed_checks=signed, config=config, manifest_path=manifest,
                      manifest_sha256=config["manifest_sha256"])
        return result
