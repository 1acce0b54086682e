"""lockout_guard: the pre-flight refuses to start when the operator would be locked
out (and changes nothing), and the verify phase passes on a healthy host. These run
the real role with ansible-playbook against the lab hosts.

Each scenario is ONE ansible-playbook run over every host under test (the hosts of
``--hosts``, forks in parallel), cached for the session; each host's test reads its
own outcome from that run (its PLAY RECAP line and its own task results). One run
per host cost 12 playbook starts on emulated VMs; the assertions are the same. The
tests share an xdist group so that one worker holds the cache (``--dist loadgroup``).
"""

from __future__ import annotations

import json
import subprocess
import tempfile
from pathlib import Path

import pytest

from tests.infra.lab_host import HostOutcome, host_outcome

REPO = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.xdist_group("lockout_guard")

_runs: dict[str, str] = {}


def _limit(config: pytest.Config) -> str:
    """The Ansible host pattern of every host under test (``--hosts=ansible://PATTERN,...``)."""
    specs = str(config.option.hosts or "").split(",")
    patterns = [s.split("://", 1)[1] for s in specs if s.startswith("ansible://") and "://" in s]
    return ":".join(p for p in patterns if p)


def _run_guard(host, request: pytest.FixtureRequest, scenario: str, extra_vars: dict) -> tuple[HostOutcome, str]:  # noqa: ANN001
    backend = host.backend
    if backend.NAME != "ansible":
        pytest.skip("tests/infra run against lab hosts: pass --hosts=ansible://GROUP --ansible-inventory=DIR")
    if scenario not in _runs:
        with tempfile.TemporaryDirectory() as tmp:
            play = Path(tmp) / "guard.yml"
            play.write_text(
                "- hosts: all\n  gather_facts: false\n  become: true\n"
                "  roles:\n    - role: election.freeze.lockout_guard\n")
            cmd = ["ansible-playbook", "-i", str(backend.ansible_inventory),
                   "--limit", _limit(request.config) or backend.host, str(play), "-e", json.dumps(extra_vars)]
            env = {"ANSIBLE_CONFIG": str(REPO / "ansible.cfg"), "ANSIBLE_ROLES_PATH": str(REPO / "roles"),
                   "ANSIBLE_FORCE_COLOR": "0", "PATH": f"{REPO / '.venv' / 'bin'}:/usr/bin:/bin"}
            res = subprocess.run(cmd, capture_output=True, text=True, timeout=900, env=env, cwd=REPO,
                                 check=False)
        _runs[scenario] = res.stdout + res.stderr
    stdout = _runs[scenario]
    outcome = host_outcome(stdout, backend.host)
    assert outcome.ran, f"{backend.host} is not in the run's recap:\n{stdout[-3000:]}"
    return outcome, stdout


def test_preflight_passes_for_the_real_operator(host, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    outcome, stdout = _run_guard(host, request, "preflight", {"lockout_guard_phase": "preflight"})
    assert not outcome.failed, outcome.output[-3000:] or stdout[-3000:]


def test_preflight_refuses_a_policy_that_excludes_the_operator(host, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    outcome, _ = _run_guard(host, request, "excluded", {"lockout_guard_phase": "preflight",
                                                        "lockout_guard_ssh_allow_users": ["somebody-else"]})
    assert outcome.failed
    assert "LOCKOUT RISK" in outcome.output
    assert outcome.changed == 0


def test_preflight_refuses_password_based_access(host, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    outcome, _ = _run_guard(host, request, "password", {"lockout_guard_phase": "preflight",
                                                        "ansible_become_password": "x"})
    assert outcome.failed
    assert "LOCKOUT RISK" in outcome.output


def test_verify_opens_a_fresh_login(host, request: pytest.FixtureRequest) -> None:  # noqa: ANN001
    outcome, stdout = _run_guard(host, request, "verify", {"lockout_guard_phase": "verify",
                                                           "lockout_guard_after": "os_baseline"})
    assert not outcome.failed, outcome.output[-3000:] or stdout[-3000:]
