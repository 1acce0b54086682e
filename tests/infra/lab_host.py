"""Helpers shared by the testinfra modules of tests/infra."""

from __future__ import annotations

from typing import Any

import pytest


def hostvars(host: Any) -> dict[str, Any]:
    """The Ansible variables of the host under test (the lab inventory's view of it).

    Skips outside an Ansible backend: without ``--hosts=ansible://...`` testinfra
    would test the machine running pytest, which these tests never mean.
    """
    backend = host.backend
    if backend.NAME != "ansible":
        pytest.skip("tests/infra run against lab hosts: pass --hosts=ansible://GROUP --ansible-inventory=DIR")
    variables: dict[str, Any] = backend.ansible_runner.get_variables(backend.host)
    return variables
