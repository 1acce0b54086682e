"""Helpers shared by the testinfra modules of tests/infra."""

from __future__ import annotations

import re
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


def peer_host(config: Any, name: str) -> Any:
    """Another host of the same inventory (testinfra's ansible backend), for tests
    that act from one lab host on another; skips without --ansible-inventory."""
    import testinfra

    inventory = config.getoption("ansible_inventory", None)
    if not inventory:
        pytest.skip("cross-host tests need --ansible-inventory")
    return testinfra.get_host(f"ansible://{name}", ansible_inventory=str(inventory))


def fetch(host: Any, url: str, timeout: int = 10) -> str:
    """GET url from the lab host itself (its python3; no curl on the image)."""
    return str(host.run_expect([0], f"python3 -c \"import urllib.request as u;"
                                    f"print(u.urlopen('{url}', timeout={timeout}).read().decode())\"").stdout)


def connects(host: Any, address: str, port: int, timeout: int = 3) -> bool:
    """Whether a TCP connection from the lab host to address:port is accepted
    (the firewall's drop shows as a timeout, a closed port as a refusal)."""
    probe = f"import socket; socket.create_connection(('{address}', {port}), timeout={timeout})"
    result = host.run(f'python3 -c "{probe}"')
    return bool(result.rc == 0)


def prometheus_text(body: str) -> list[tuple[str, dict[str, str], float]]:
    """Samples of a /metrics page: (name, labels, value)."""
    samples = []
    for line in body.splitlines():
        match = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$", line)
        if match:
            labels = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match.group(2) or ""))
            samples.append((match.group(1), labels, float(match.group(3))))
    return samples


def sample(samples: list[tuple[str, dict[str, str], float]], name: str, **labels: str) -> float:
    """The one value of `name` whose labels include `labels` (other labels, such as
    the postgres exporter's server="...", are ignored)."""
    found = [v for n, lab, v in samples if n == name and labels.items() <= lab.items()]
    assert len(found) == 1, f"{name}{labels}: {len(found)} samples"
    return found[0]


def listeners(host: Any, port: int) -> list[str]:
    """The local addresses (address:port) the host listens on with TCP at this port."""
    return [line.split()[3] for line in host.run("ss -Htln").stdout.splitlines()
            if line.split()[3].endswith(f":{port}")]


TRUE = (True, "true", "True", "yes", "1", 1)


def evidence_facts(host: Any, role: str, why_off: str) -> dict[str, dict[str, Any]]:
    """{phase: summary} from every <tool>_<phase>.fact an evidence role left on the host.

    ``role`` is lynis_evidence or openscap_evidence (the fact prefix is the tool's
    name); skips with ``why_off`` when the inventory leaves the role off for the host,
    and fails when it is on but left no fact.
    """
    import json

    hv = hostvars(host)
    if hv.get(f"{role}_enabled", False) not in TRUE:
        pytest.skip(f"{role}_enabled is false for this host ({why_off})")
    tool = role.removesuffix("_evidence")
    facts_dir = hv.get(f"{role}_facts_dir", "/etc/ansible/facts.d")
    with host.sudo():
        names = host.check_output(f"find {facts_dir} -maxdepth 1 -name '{tool}_*.fact' -printf '%f\\n'").split()
        found = {n[len(tool) + 1:-len(".fact")]: json.loads(host.check_output(f"cat {facts_dir}/{n}"))
                 for n in names}
    assert found, f"{role} is on but left no {tool}_<phase>.fact in {facts_dir}"
    return found
