"""Network collectors against a real, isolated network namespace: its own
loopback, addresses, routes, nftables ruleset and listening sockets, so the
test sees exactly what it changes (and never touches the host's network)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from freeze.errors import EXIT_OK

REPO = Path(__file__).resolve().parents[2]
RULES = """
table inet filter {
  chain input {
    type filter hook input priority 0; policy drop;
    iif lo accept
    tcp dport 22 accept
  }
}
"""


def _run(*argv: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, **kw)


@pytest.fixture
def netns():
    if os.geteuid() != 0 or not shutil.which("ip"):
        pytest.skip("needs root and iproute2 to create a network namespace")
    name = f"freeze-{uuid.uuid4().hex[:8]}"
    created = _run("ip", "netns", "add", name)
    if created.returncode != 0:
        pytest.skip(f"cannot create a network namespace here: {created.stderr.strip()}")
    try:
        _run("ip", "-n", name, "link", "set", "lo", "up", check=True)
        yield name
    finally:
        _run("ip", "netns", "del", name)


def freeze_in(ns: str, *args: str) -> subprocess.CompletedProcess:
    return _run("ip", "netns", "exec", ns, sys.executable, "-m", "freeze", *args, cwd=REPO)


def test_network_drift_in_a_namespace(netns, tmp_path):
    has_nft = shutil.which("nft") is not None
    if has_nft:
        _run("ip", "netns", "exec", netns, "nft", "-f", "-", input=RULES, check=True)
    profile = tmp_path / "profile.yml"
    profile.write_text("name: net\npaths: []\npackages: {enabled: false}\n"
                       "services: {enabled: false}\naccounts: {enabled: false}\n"
                       "kernel: {enabled: false}\n")
    m = tmp_path / "m.json"
    proc = freeze_in(netns, "snapshot", "-p", str(profile), "-o", str(m), "--json")
    assert proc.returncode == EXIT_OK, proc.stderr
    doc = json.loads(m.read_bytes())
    s = doc["sections"]
    assert "lo:127.0.0.1/8" in s["addresses"] and s["interfaces"]["lo"]["mtu"] == 65536
    assert s["sockets"] == {}
    if has_nft:
        chain = s["nftables"]["inet filter input"]
        assert chain["policy"] == "drop" and chain["rules"] == 2
    else:
        assert doc["unavailable"]["nftables"] == "nft not installed"

    for _ in range(3):  # untouched: clean, every time
        proc = freeze_in(netns, "verify", str(m), "-p", str(profile), "--json")
        assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr

    _run("ip", "-n", netns, "addr", "add", "10.77.0.1/24", "dev", "lo", check=True)
    _run("ip", "-n", netns, "route", "add", "10.88.0.0/16", "via", "10.77.0.2", check=True)
    if has_nft:
        _run("ip", "netns", "exec", netns, "nft", "add", "rule", "inet", "filter", "input",
             "tcp", "dport", "5432", "accept", check=True)
    listener = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-c",
         "import socket, sys, time\n"
         "s = socket.socket(); s.bind(('127.0.0.1', 47011)); s.listen()\n"
         "print('up', flush=True); time.sleep(120)"],
        stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "up"
        proc = freeze_in(netns, "verify", str(m), "-p", str(profile), "--json")
    finally:
        listener.kill()
        listener.wait()
    report = json.loads(proc.stdout)
    found = {(e["category"], e["kind"], e["key"]) for e in report["entries"]}
    assert ("added", "socket", "tcp:127.0.0.1:47011") in found
    sock = next(e for e in report["entries"] if e["key"] == "tcp:127.0.0.1:47011")
    assert sock["attributes"]["uid"] == 0
    assert sock["attributes"]["programs"] == [os.path.realpath(sys.executable)]
    assert ("added", "address", "lo:10.77.0.1/24") in found
    assert ("added", "route", "4:main:unicast:10.88.0.0/16:lo:10.77.0.2") in found
    if has_nft:
        chain = next(e for e in report["entries"] if e["key"] == "inet filter input")
        assert chain["kind"] == "firewall" and chain["category"] == "changed"
        assert {c["attribute"] for c in chain["changes"]} == {"rules", "rules_sha256"}
    assert proc.returncode & 1 and (not has_nft or proc.returncode & 4)
