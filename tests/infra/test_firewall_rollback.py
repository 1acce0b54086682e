"""Proof that the firewall cannot lock the operator out: the real nftables_firewall
role applies a ruleset whose SSH allowlist excludes the controller.

* With the controller's rescue disabled, the role fails, a fresh SSH login is
  refused right after (the ruleset really cut SSH), and the host restores the
  previous ruleset BY ITSELF when the rollback timer fires.
* With the rescue enabled (the default), the role restores the old ruleset at
  once through the still-open control connection.

These tests cut SSH to one host for a minute or two, so they never run in the
parallel testinfra stage: scripts/test-lab.sh runs them alone (LAB_DISRUPTIVE=1).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from tests.infra.conftest import SshTarget

REPO = Path(__file__).resolve().parents[2]
ROLLBACK_TIMEOUT = 120  # generous: the role run itself takes tens of seconds on a loaded CI host
WRONG_SOURCES = ["203.0.113.7/32"]  # TEST-NET-3: never the controller

pytestmark = pytest.mark.skipif(
    os.environ.get("LAB_DISRUPTIVE") != "1",
    reason="cuts SSH to a lab host for ~2 min; scripts/test-lab.sh runs it alone with LAB_DISRUPTIVE=1")


def _fresh_login(t: SshTarget, timeout: int = 10) -> bool:
    cmd = ["ssh", "-o", "BatchMode=yes", "-o", "ControlMaster=no", "-o", "ControlPath=none",
           "-o", f"ConnectTimeout={timeout}", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", "-o", "IdentitiesOnly=yes", "-i", str(t.key_file), "-p", str(t.port),
           f"{t.user}@{t.hostname}", "sudo -n true"]
    try:
        return subprocess.run(cmd, capture_output=True, timeout=timeout + 20, check=False).returncode == 0
    except subprocess.TimeoutExpired:
        return False


def _apply(host, tmp_path: Path, extra: dict) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    backend = host.backend
    play = tmp_path / "firewall.yml"
    play.write_text("- hosts: all\n  gather_facts: false\n  become: true\n"
                    "  roles:\n    - election.freeze.nftables_firewall\n")
    env = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin"}
    cmd = ["ansible-playbook", "-i", str(backend.ansible_inventory), "--limit", backend.host, str(play),
           "-e", json.dumps({"nftables_firewall_ssh_sources": WRONG_SOURCES,
                             "nftables_firewall_rollback_timeout": ROLLBACK_TIMEOUT,
                             "nftables_firewall_confirm_timeout": 10, **extra})]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=REPO, check=False)


def _state(host) -> tuple[str, str]:  # noqa: ANN001
    with host.sudo():
        return host.check_output("nft -s list ruleset"), host.check_output("sha256sum /etc/nftables.conf")


@pytest.mark.control("EF-FW-5")
@pytest.mark.writes
def test_timer_restores_the_ruleset_when_the_controller_is_gone(host, ssh_target: SshTarget,
                                                               tmp_path: Path) -> None:  # noqa: ANN001
    ruleset_before, conf_before = _state(host)
    assert _fresh_login(ssh_target), "host not reachable before the test"
    res = _apply(host, tmp_path, {"nftables_firewall_rescue_via_control_connection": False})
    applied = time.monotonic()
    assert res.returncode != 0, "the role accepted a ruleset that blocks new SSH logins"
    assert "LOCKOUT PREVENTED" in res.stdout, res.stdout[-2000:]
    assert not _fresh_login(ssh_target, timeout=5), "the wrong allowlist did not cut SSH: nothing was proven"
    deadline = applied + ROLLBACK_TIMEOUT + 90
    while time.monotonic() < deadline and not _fresh_login(ssh_target):
        time.sleep(5)
    assert _fresh_login(ssh_target), f"host still unreachable {ROLLBACK_TIMEOUT + 90} s after the apply"
    ruleset_after, conf_after = _state(host)
    assert ruleset_after == ruleset_before and conf_after == conf_before


@pytest.mark.control("EF-FW-6")
@pytest.mark.writes
def test_control_connection_rescue_restores_at_once(host, ssh_target: SshTarget,
                                                    tmp_path: Path) -> None:  # noqa: ANN001
    ruleset_before, conf_before = _state(host)
    res = _apply(host, tmp_path, {})
    assert res.returncode != 0 and "LOCKOUT PREVENTED" in res.stdout, res.stdout[-2000:]
    assert _fresh_login(ssh_target), "not reachable right after the rescue"
    assert _state(host) == (ruleset_before, conf_before)
    with host.sudo():
        assert not host.service("nftables-firewall-rollback.timer").is_running
