"""A witnessed intervention whose manifests are taken over SSH (`hosts: {NAME: {ssh: ...}}`).

The host is this machine behind the throw-away loopback sshd of test_remote_ssh
(root login, its own host and client keys): the same collectors `freeze snapshot
--host` runs, through the intervention's pluggable manifest step.
"""

from __future__ import annotations

import json
from pathlib import Path

from freeze.errors import EXIT_OK
from tests.integration.test_ceremony import freeze, needs_tools
from tests.integration.test_intervention import make_freeze, run, walk
from tests.integration.test_remote_ssh import sshd  # noqa: F401 - the module-scoped fixture

pytestmark = needs_tools


def test_intervention_with_manifests_over_ssh(sshd: dict[str, object], tmp_path: Path) -> None:  # noqa: F811
    f = make_freeze(tmp_path)
    d, port = Path(str(sshd["dir"])), sshd["port"]
    pool = f.tree / "etc" / "app" / "pool.conf"
    plan = f.plan("over-ssh", commands=[f"printf 'max_connections = 200\\n' > {pool}"], declared=[f"file:{pool}"])
    data = json.loads(plan.read_text())
    data["hosts"] = {"local": {"ssh": f"root@127.0.0.1:{port}", "identity": str(d / "clientkey"),
                               "known_hosts": str(d / "known_hosts")}}
    plan.write_text(json.dumps(data))
    _, out, _ = run(plan)
    assert "1 declared change(s), nothing undeclared" in out
    record_dir = next(f.records.glob("001-over-ssh"))
    f.sign_and_close(plan, record_dir)
    _, out, _ = freeze("intervention", "check", plan, expect=EXIT_OK)
    assert "clean" in out
    assert "step 1: intervention over-ssh" in walk(f)
