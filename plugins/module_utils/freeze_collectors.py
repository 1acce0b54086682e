# -*- coding: utf-8 -*-
"""Load freeze's standard-library collectors on the managed host, in memory.

The collector source lives in ONE place, the `freeze.collect` package of the
`freeze` tool (freeze/collect/*.py). The action plugin of
`election.freeze.freeze_collect` reads those files on the controller (the same
way `freeze snapshot --host` builds its bootstrap program) and passes them to
the module as data; this shim registers them as the modules `freeze.collect.*`
of the module's own Python process. Nothing is written to the host's disk and no
copy of the collectors is kept in this collection.
"""
from __future__ import annotations

import sys
import types

# The options a playbook gives election.freeze.freeze_collect: the action plugin
# validates them on the controller, the module adds its internal ones.
TASK_OPTIONS = dict(
    profile=dict(type="path", required=True),
    dest=dict(type="path"),
    baseline=dict(type="path"),
    output=dict(type="str", choices=["manifest", "collected"], default="manifest"),
    force=dict(type="bool", default=False),
    growing=dict(type="dict", default={}),
    result_dir=dict(type="path", default="/var/lib/election-freeze"),
    # with baseline: the signed envelope that must cover it (checked on the controller
    # before the host is touched), the ceremony root, and the fleet manifest if the
    # envelope signs one (freeze.fleet.check_signed_manifest)
    envelope=dict(type="path"),
    root=dict(type="path"),
    fleet=dict(type="path"),
)


def install_collectors(sources: dict) -> types.ModuleType:
    """Register `sources` ({"freeze.collect.NAME": source}) and return the runner module.

    Modules are executed in the order given (the action plugin sends them in
    dependency order: common first, runner last).
    """
    for pkg in ("freeze", "freeze.collect"):
        if pkg not in sys.modules:
            package = types.ModuleType(pkg)
            package.__path__ = []
            sys.modules[pkg] = package
    setattr(sys.modules["freeze"], "collect", sys.modules["freeze.collect"])
    for name, source in sources.items():
        if not name.startswith("freeze.collect."):
            raise ValueError("not a collector module: %r" % name)
        module = types.ModuleType(name)
        sys.modules[name] = module
        setattr(sys.modules["freeze.collect"], name.rsplit(".", 1)[1], module)
        exec(compile(source, "<freeze:" + name + ">", "exec"), module.__dict__)  # noqa: S102
    return sys.modules["freeze.collect.runner"]
