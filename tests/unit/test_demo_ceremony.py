"""scripts/demo_ceremony.py's witnessed-intervention phase, without the lab VMs: the plans it
writes pass `freeze intervention`'s plan checks against the demo root's people and thresholds,
its scale-up commands only use reloadable settings, and the load windows count what they should.
(The phase itself runs on the lab fleet: scripts/demo.sh.)"""

from __future__ import annotations

import datetime as dt
import importlib.util
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

from freeze.evidence.ceremony import root_from_spec
from freeze.intervention.plan import load_plan
from tests.demo_room import demo_room

REPO = Path(__file__).resolve().parents[2]


def _demo() -> ModuleType:
    spec = importlib.util.spec_from_file_location("demo_ceremony", REPO / "scripts" / "demo_ceremony.py")
    assert spec and spec.loader
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class _Tsa:
    url = "http://127.0.0.1:9/tsr"
    ca = "tsa-ca.pem"


def _keygen(key: Path) -> None:
    subprocess.run([sys.executable, "-m", "freeze", "keygen", str(key), "--passphrase-env", "DEMO_TEST_PASS"],
                   check=True, capture_output=True, env={"DEMO_TEST_PASS": "demo only, not for an election",
                                                        "PATH": "/usr/bin:/bin"})


@pytest.fixture(scope="module")
def demo() -> ModuleType:
    return _demo()


def test_the_demo_intervention_plans_pass_the_plan_checks(demo: ModuleType, tmp_path: Path) -> None:
    base = tmp_path / "ceremony-x"
    base.mkdir()
    (base / "tsa-ca.pem").write_text("")
    spec = demo_room(base, _Tsa(), _keygen, "LAB-2026")  # type: ignore[arg-type]
    root = root_from_spec(spec, previous=None, now=dt.datetime.now(dt.UTC))
    assert root.thresholds["intervention"] == {"directorate": 1, "auditor": 1}
    cdir = base / "ceremony-dir"
    for f in ("ceremony/root.json", "ceremony/journal.db", "ceremony/manifest.dsse.json",
              "manifests/fleet-manifest.json"):
        (cdir / f).parent.mkdir(parents=True, exist_ok=True)
        (cdir / f).write_text("{}")
    # each host's profile as the ceremony composed it (DIR/profiles/HOST.profile.yml)
    (cdir / "profiles").mkdir()
    for host in ("results-tx", "count-app"):
        (cdir / "profiles" / f"{host}.profile.yml").write_text("version: 1\n")
    fleet = tmp_path / "fleet"
    (fleet / "inventory").mkdir(parents=True)
    (fleet / "inventory" / "hosts.yml").write_text(
        "all:\n  children:\n    counting_servers:\n      hosts:\n"
        "        results-tx: {ansible_port: 2223, ansible_user: labadmin, ansible_ssh_private_key_file: /k,"
        " lab_forward_https: 2253}\n"
        "        count-app: {ansible_port: 2222, ansible_user: labadmin, ansible_ssh_private_key_file: /k}\n")
    kh = base / "known_hosts"
    kh.write_text("")
    ssh, _ = demo.ssh_argv(fleet, "results-tx", kh)
    assert "-p 2223" in ssh and "StrictHostKeyChecking=yes" in ssh
    commands = demo.scale_up_commands(ssh)
    assert any("systemctl reload postgresql@15-main" in c for c in commands)
    assert not any(re.search(r"systemctl restart|pg_ctlcluster .*restart", c) for c in commands)
    plan_file = demo.intervention_plan(base, cdir, fleet, kh, "results-tx", "results-db-scale-up",
                                       commands, [f"file:{demo.SCALE_FILE}", "file:/etc/postgresql/15/main/conf.d"])
    plan = load_plan(plan_file, people=root.people)
    assert plan.hosts[0].ssh == "labadmin@127.0.0.1:2223" and plan.hosts[0].sudo
    assert str(plan.profile).endswith("profiles/results-tx.profile.yml")
    assert set(plan.signers) == {"alice", "bob", "carol"}
    assert [w.role for w in plan.present if w.person is None] == ["press"]
    assert [d.text() for d in plan.declared] == [f"file:{demo.SCALE_FILE}", "file:/etc/postgresql/15/main/conf.d"]
    refused = demo.intervention_plan(base, cdir, fleet, kh, "count-app", "count-app-maintenance",
                                     ["true"], [])
    assert load_plan(refused, people=root.people).declared == ()


def test_load_windows_split_requests_by_start_time(demo: ModuleType) -> None:
    load = demo.LoadGen(1)
    load.samples.extend([(0.5, True, 10.0), (1.5, True, 20.0), (1.6, False, 10000.0), (2.5, True, 30.0)])
    before, during, after = load.window(0, 1), load.window(1, 2), load.window(2, 3)
    assert (before["requests"], before["served"], before["failed"]) == (1, 1, 0)
    assert (during["requests"], during["served"], during["failed"]) == (2, 1, 1)
    assert during["max_ms"] == 10000.0 and after["p99_ms"] == 30.0
    assert load.window(5, 6)["requests"] == 0
