"""lockout_guard: the pre-flight refuses to start when the operator would be locked
out (and changes nothing), and the verify phase passes on a healthy host. These run
the real role with ansible-playbook against one lab host."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def _run_guard(host, tmp_path: Path, extra_vars: dict) -> subprocess.CompletedProcess[str]:  # noqa: ANN001
    backend = host.backend
    if backend.NAME != "ansible":
        pytest.skip("tests/infra run against lab hosts: pass --hosts=ansible://GROUP --ansible-inventory=DIR")
    play = tmp_path / "guard.yml"
    play.write_text(
        "- hosts: all\n  gather_facts: false\n  become: true\n"
        "  roles:\n    - role: election.freeze.lockout_guard\n")
    inventory = backend.ansible_inventory
    cmd = ["ansible-playbook", "-i", str(inventory), "--limit", backend.host, str(play),
           "-e", json.dumps(extra_vars)]
    env = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
           "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, env=env, cwd=REPO, check=False)


@pytest.mark.control("EF-LOCK-2")
def test_preflight_passes_for_the_real_operator(host, tmp_path: Path) -> None:  # noqa: ANN001
    res = _run_guard(host, tmp_path, {"lockout_guard_phase": "preflight"})
    assert res.returncode == 0, res.stdout[-3000:]


@pytest.mark.control("EF-LOCK-3")
def test_preflight_refuses_a_policy_that_excludes_the_operator(host, tmp_path: Path) -> None:  # noqa: ANN001
    res = _run_guard(host, tmp_path, {"lockout_guard_phase": "preflight",
                                      "lockout_guard_ssh_allow_users": ["somebody-else"]})
    assert res.returncode != 0
    assert "LOCKOUT RISK" in res.stdout
    assert "changed=0" in res.stdout


@pytest.mark.control("EF-LOCK-4")
def test_preflight_refuses_password_based_access(host, tmp_path: Path) -> None:  # noqa: ANN001
    res = _run_guard(host, tmp_path, {"lockout_guard_phase": "preflight", "ansible_become_password": "x"})
    assert res.returncode != 0
    assert "LOCKOUT RISK" in res.stdout


@pytest.mark.control("EF-LOCK-5")
@pytest.mark.writes
def test_verify_opens_a_fresh_login(host, tmp_path: Path) -> None:  # noqa: ANN001
    res = _run_guard(host, tmp_path, {"lockout_guard_phase": "verify", "lockout_guard_after": "os_baseline"})
    assert res.returncode == 0, res.stdout[-3000:]
