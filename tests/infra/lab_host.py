"""Helpers shared by the testinfra modules of tests/infra."""

from __future__ import annotations

import re
from dataclasses import dataclass
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


_RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)
# a task result line of one host: "ok: [count-db]", "fatal: [count-db]: FAILED! => ..."
_RESULT = re.compile(r"^(?:ok|changed|skipping|fatal|failed|unreachable): \[([^\]]+)\]", re.M)


@dataclass(frozen=True)
class HostOutcome:
    """One host's part of a scenario's playbook run."""

    ran: bool
    failed: bool
    changed: int
    output: str  # this host's task results only


def host_outcome(stdout: str, host: str) -> HostOutcome:
    """One host's part of an ansible-playbook run over several hosts: its PLAY RECAP
    counts and its own task results (another host's failure is never this host's)."""
    recap = {m.group(1): m for m in _RECAP.finditer(stdout)}
    mine: list[str] = []
    current = None
    for line in stdout.splitlines():
        m = _RESULT.match(line)
        if m:
            current = m.group(1)
        elif line.startswith(("TASK [", "PLAY [", "PLAY RECAP", "RUNNING HANDLER")):
            current = None
        if current == host:
            mine.append(line)
    m = recap.get(host)
    if m is None:
        return HostOutcome(ran=False, failed=True, changed=0, output="\n".join(mine))
    return HostOutcome(ran=True, failed=int(m.group(4)) > 0 or int(m.group(3)) > 0,
                       changed=int(m.group(2)), output="\n".join(mine))
