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


def write_private_file(host: Any, path: str, content: str) -> None:
    """Write ``content`` to ``path`` (0600, the operator's own file) on a lab host.

    The content travels on ssh's standard input, never on a command line (local or
    remote): tests use this to hand lab passwords to libpq in a passfile instead of
    a PGPASSWORD=... prefix that any process listing would show.
    """
    import shlex
    import subprocess

    v = hostvars(host)
    argv = ["ssh", "-p", str(v.get("ansible_port", 22)), "-o", "BatchMode=yes",
            *shlex.split(str(v.get("ansible_ssh_common_args", "")))]
    if v.get("ansible_ssh_private_key_file"):
        argv += ["-i", str(v["ansible_ssh_private_key_file"])]
    argv += [f"{v.get('ansible_user', 'root')}@{v.get('ansible_host', host.backend.host)}",
             f"umask 077 && cat > {shlex.quote(path)}"]
    subprocess.run(argv, input=content.encode(), check=True, timeout=60)
