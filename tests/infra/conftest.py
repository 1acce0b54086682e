"""testinfra fixtures for the lab hosts (tests/infra).

Run against a booted fleet, e.g. (scripts/test-lab.sh does this):

    pytest -m lab tests/infra --hosts='ansible://counting_servers' \
        --ansible-inventory=.lab/fleet/inventory

Every test here is marked ``lab``. Without ``--hosts`` testinfra would test the
machine running pytest, which is never what these tests mean, so they skip.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.config import paths_from_env
from tests.infra.lab_host import hostvars


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)


@dataclass(frozen=True)
class SshTarget:
    """How the test machine reaches a lab host's sshd directly (not via testinfra)."""

    hostname: str
    port: int
    user: str
    key_file: str | None


@pytest.fixture
def ssh_target(host) -> SshTarget:  # noqa: ANN001 - testinfra's host fixture
    variables = hostvars(host)
    key = variables.get("ansible_ssh_private_key_file") or variables.get("ansible_private_key_file")
    return SshTarget(
        hostname=str(variables.get("ansible_host", host.backend.host)),
        port=int(variables.get("ansible_port", 22)),
        user=str(variables["ansible_user"]),
        key_file=str(key) if key else None,
    )


@pytest.fixture(scope="session")
def operator_password() -> str | None:
    """The lab operator's real password (lab cache), to prove SSH refuses it."""
    path = paths_from_env().ssh_key.parent / "operator-password"
    return path.read_text().strip() if path.exists() else None
