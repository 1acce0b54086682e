#!/usr/bin/python3
# -*- coding: utf-8 -*-
"""freeze-watch: compare this host with its signed freeze manifest, export the result.

Installed by the role election.freeze.freeze_watch and run by freeze-watch.service
(a oneshot started by freeze-watch.timer). Standard library only.

* Collects the host with freeze's own collectors (the `freeze.collect` sources the
  role copied from the controller's `freeze` package, loaded by the collection's
  module_utils/freeze_collectors.py exactly as the freeze_collect module loads
  them), with the spec and growing-file sizes the controller derived from the
  profile the manifest was taken with: the host computes what `freeze snapshot`
  computes.
* Compares the host sections (files, packages, services, accounts, network,
  kernel) with the manifest the controller checked against the signed envelope
  before deploying it. Files are judged by freeze's own judges (`freeze.judge`
  and `freeze.rotation`, copied by the role like the collectors): static,
  growing, rotating (log rotation followed), rewritten, excluded and switch
  paths (a symlink pointed at one of its known targets is clean, any other
  target is drift) get exactly the verdict `freeze verify` gives. Units the
  profile lists in services.known_transient (the spec carries them) may appear,
  change state and go while transient or absent, judged by the same
  `freeze.judge.transient_problem`. Modules it lists in kernel.modules_on_demand
  (the spec carries them: ss's sock_diag modules, veth) may be loaded, unloaded
  and resized, judged by the same `freeze.judge.on_demand_problem`. The database
  is not a host section: `freeze verify` checks it over SQL.
* Writes node exporter textfile metrics atomically (temporary file in the same
  directory, fsync, rename): freeze_verify_ok, freeze_verify_drift_items,
  freeze_verify_drift_item (the first items, by name),
  freeze_verify_last_run_timestamp_seconds, freeze_verify_duration_seconds,
  freeze_verify_manifest_present, freeze_verify_error.

Exit status 0 whatever the verdict (the verdict is the metric, and a failed unit
would itself be drift of the services section); 1 when the metric file could not
be written, 64 on a usage error.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import tempfile
import time
import types

sys.dont_write_bytecode = True  # never write __pycache__ next to frozen code

METRIC_FILE = "freeze_verify.prom"
SCHEMA = "freeze-watch/v1"
ADDED, REMOVED, CHANGED = "added", "removed", "changed"


# --------------------------------------------------------------------------- collection

def load_runner(lib_dir, modules):
    """freeze's collectors, registered by the collection's freeze_collectors shim."""
    spec = importlib.util.spec_from_file_location(
        "freeze_watch_collectors", os.path.join(lib_dir, "freeze_collectors.py"))
    shim = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(shim)
    sources = {}
    for name in modules:
        with open(os.path.join(lib_dir, "collect", name + ".py"), encoding="utf-8") as fh:
            sources["freeze.collect." + name] = fh.read()
    return shim.install_collectors(sources)


def load_judges(lib_dir, modules):
    """freeze's file judges (freeze.judge, freeze.rotation), as modules of the `freeze`
    package the shim registered; returns freeze.judge."""
    package = sys.modules["freeze"]
    for name in modules:
        module = types.ModuleType("freeze." + name)
        sys.modules[module.__name__] = module
        setattr(package, name, module)
        path = os.path.join(lib_dir, "judge", name + ".py")
        with open(path, encoding="utf-8") as fh:
            exec(compile(fh.read(), path, "exec"), module.__dict__)  # noqa: S102
    return sys.modules["freeze.judge"]


# --------------------------------------------------------------------------- comparison

def _rule_path(rule):
    return rule[0]  # a rule is [path, volatility, excludes] (+ [targets] of a switch) (watch.json)


def _judge_file(judge, rules, path, old, new):
    rule = judge.governing_rule(rules, path, _rule_path)
    if rule is None:
        return judge.judge_file(old, new, "static")
    excludes = rule[2] if len(rule) > 2 else []
    targets = rule[3] if len(rule) > 3 else []
    switches = [r[0] for r in rules if r[1] == "switch"]
    return judge.judge_file(old, new, rule[1], targets=targets,
                            excluded_entries=judge.holds_changing_entries(excludes, switches, path))


def compare(manifest, doc, config, judge):
    """Drift items (category, kind, key, attributes) of the host sections, as freeze.drift.compare."""
    kinds = config.get("kinds", {})
    own_units = set(config.get("own_units", []))
    # the profile's known transient units (in the spec only when it declares some)
    known_transient = set(((config.get("spec") or {}).get("services") or {}).get("known_transient") or [])
    # the profile's modules loaded on demand (in the spec only when it lists some)
    on_demand = set(((config.get("spec") or {}).get("kernel") or {}).get("modules_on_demand") or [])
    rules = [tuple(r) for r in config.get("rules", [])]

    def is_rotating(path):
        rule = judge.governing_rule(rules, path, _rule_path)
        return rule is not None and rule[1] == "rotating"

    wanted = set(config["sections"])
    items = []
    for attr in ("hostname", "machine_id"):
        if manifest["host"].get(attr) != doc["host"].get(attr):
            items.append((CHANGED, "host", attr, [attr]))
    old_sections, new_sections = manifest["sections"], doc["sections"]
    old_unavail, new_unavail = manifest.get("unavailable", {}), doc.get("unavailable", {})
    names = (set(old_sections) | set(new_sections) | set(old_unavail) | set(new_unavail)) & wanted
    for section in sorted(names):
        kind = kinds.get(section, section)
        was, now = section in old_unavail, section in new_unavail
        if now and not was and section not in old_sections:
            continue  # never recorded: nothing to compare (freeze verify notes it)
        if now != was:
            reason = new_unavail.get(section) or old_unavail.get(section)
            items.append((CHANGED, "collector", section, ["available: %s" % reason]))
            continue
        if was and now:
            continue
        a, b = old_sections.get(section, {}), new_sections.get(section, {})
        if a == b:
            continue
        rotated = set()
        if section == "files" and any(r[1] == "rotating" for r in rules):
            rotated, failures = judge.judge_rotations(a, b, is_rotating)
            for key in sorted(failures):
                items.append((CHANGED, kind, key, [c.attribute for c in failures[key]]))
        for key in sorted(k for k in a.keys() | b.keys() if a.get(k) != b.get(k)):
            if key in rotated:
                continue
            if judge.known_change(section, key, a.get(key), b.get(key), known_transient, on_demand):
                continue  # a known transient unit coming and going, a module loaded on demand
            if key not in b:
                items.append((REMOVED, kind, key, []))
            elif key not in a:
                items.append((ADDED, kind, key, []))
            else:
                if section == "files":
                    changes = _judge_file(judge, rules, key, a[key], b[key])
                elif section == "services" and key in own_units:
                    # this checker's own unit is "activating" while it looks at itself
                    changes = judge.attr_changes(a[key], b[key], judge.HELPER_ATTRS | {"active"})
                else:
                    changes = judge.attr_changes(a[key], b[key])
                changes = [c.attribute for c in changes]
                if changes:
                    items.append((CHANGED, kind, key, changes))
    return items


# --------------------------------------------------------------------------- metrics

def _label(value):
    return str(value).replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(**labels):
    return "{" + ",".join('%s="%s"' % (k, _label(v)) for k, v in labels.items()) + "}"


def render_metrics(host, *, now, duration, manifest_sha256=None, items=None, error=None,
                   max_items=10):
    """The textfile collector document (Prometheus text format 0.0.4)."""
    lines = []

    def metric(name, help_text, samples):
        lines.append("# HELP %s %s" % (name, help_text))
        lines.append("# TYPE %s gauge" % name)
        for labels, value in samples:
            lines.append("%s%s %s" % (name, _labels(**labels), value))

    present = manifest_sha256 is not None
    metric("freeze_verify_manifest_present",
           "1 when a signed freeze manifest is deployed on this host (after the freeze)",
           [({"host": host}, 1 if present else 0)])
    if present:
        ok = 1 if (error is None and not items) else 0
        metric("freeze_verify_ok", "1 when this host matches its signed freeze manifest, "
               "0 when it drifted or could not be checked",
               [({"host": host, "manifest": "sha256:" + manifest_sha256}, ok)])
        metric("freeze_verify_error", "1 when the last check could not run to the end",
               [({"host": host}, 0 if error is None else 1)])
        metric("freeze_verify_drift_items", "Number of drifted entries found by the last check",
               [({"host": host}, len(items or []))])
        if items:
            metric("freeze_verify_drift_item", "The first drifted entries, by name (1 each)",
                   [({"host": host, "category": c, "kind": k, "key": key}, 1)
                    for c, k, key, _ in items[:max_items]])
    metric("freeze_verify_last_run_timestamp_seconds", "When the last check ended (Unix time)",
           [({"host": host}, "%.3f" % now)])
    metric("freeze_verify_duration_seconds", "How long the last check took",
           [({"host": host}, "%.3f" % duration)])
    return "\n".join(lines) + "\n"


def write_atomic(directory, name, text):
    fd, tmp = tempfile.mkstemp(prefix="." + name + ".", suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)
        os.rename(tmp, os.path.join(directory, name))
    finally:
        if os.path.lexists(tmp):
            os.unlink(tmp)


# --------------------------------------------------------------------------- main

def check(state_dir, lib_dir):
    """(manifest sha256 or None, items or None, error or None) of one check."""
    config_path = os.path.join(state_dir, "watch.json")
    if not os.path.exists(config_path):
        return None, None, None  # before the freeze: nothing to compare with
    with open(config_path, encoding="utf-8") as fh:
        config = json.load(fh)
    if config.get("schema") != SCHEMA:
        return "unknown", None, "watch.json: not a %s document" % SCHEMA
    digest = config["manifest_sha256"]
    try:
        import hashlib
        with open(os.path.join(state_dir, "manifest.json"), "rb") as fh:
            data = fh.read()
        if hashlib.sha256(data).hexdigest() != digest:
            return digest, None, "manifest.json is not the manifest the controller verified"
        manifest = json.loads(data)
        runner = load_runner(lib_dir, config["collector_modules"])
        judge = load_judges(lib_dir, config.get("judge_modules", ["rotation", "judge"]))
        doc = runner.run_all(config["spec"], config.get("growing") or {}, None,
                             manifest["sections"].get("files"))
    except Exception as exc:  # noqa: BLE001 - one line in the journal and a metric
        return digest, None, "%s: %s" % (type(exc).__name__, exc)
    return digest, compare(manifest, doc, config, judge), None


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--state-dir", required=True, help="watch.json and manifest.json (root-only)")
    parser.add_argument("--lib-dir", default=os.path.dirname(os.path.abspath(__file__)),
                        help="freeze_collectors.py and collect/*.py")
    parser.add_argument("--textfile-dir", required=True, help="node exporter textfile directory")
    parser.add_argument("--host", required=True, help="host label of the metrics")
    args = parser.parse_args(argv)
    start = time.monotonic()
    digest, items, error = check(args.state_dir, args.lib_dir)
    if digest is None:
        print("no manifest deployed (before the freeze): nothing to verify")
    elif error is not None:
        print("NOT VERIFIED: %s" % error)
    elif items:
        print("DRIFT: %d entries differ from manifest sha256:%s" % (len(items), digest))
        for category, kind, key, attrs in items[:50]:
            print("  %s %s %s%s" % (category, kind, key, (" (" + ", ".join(attrs) + ")") if attrs else ""))
    else:
        print("clean: matches manifest sha256:%s" % digest)
    text = render_metrics(args.host, now=time.time(), duration=time.monotonic() - start,
                          manifest_sha256=digest, items=items, error=error)
    try:
        write_atomic(args.textfile_dir, METRIC_FILE, text)
    except OSError as exc:
        print("cannot write %s: %s" % (os.path.join(args.textfile_dir, METRIC_FILE), exc), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
