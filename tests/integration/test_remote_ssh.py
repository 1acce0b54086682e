"""Remote snapshot and verify over a real SSH connection: a throw-away OpenSSH
server on a loopback port (its own host key and authorized_keys), paramiko on
our side, and the host's own /usr/bin/python3 running the shipped collectors.
Nothing is installed on the "remote" side."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from freeze.errors import EXIT_CHANGED, EXIT_OK, EXIT_UNAVAILABLE
from tests.sshd import SSHD, free_port, loopback_inventory, loopback_sshd

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory):
    if not SSHD.exists() or not shutil.which("ssh-keygen"):
        if os.environ.get("CI"):
            pytest.fail("openssh-server is not installed, but CI must run the remote test")
        pytest.skip("openssh-server not installed (scripts/bootstrap.sh installs it)")
    if os.geteuid() != 0:
        pytest.skip("sshd with its own config needs root here (it logs in as root)")
    if not Path("/usr/bin/python3").exists():
        pytest.skip("no system python3 for the remote side")
    try:
        with loopback_sshd(tmp_path_factory.mktemp("sshd")) as server:
            yield server
    except RuntimeError as exc:
        pytest.fail(str(exc))


def freeze(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    return subprocess.run([sys.executable, "-m", "freeze", *args], capture_output=True,
                          text=True, cwd=REPO, env=env, timeout=300)


def _profile(tmp_path: Path) -> tuple[Path, Path]:
    app = tmp_path / "app"
    (app / "etc").mkdir(parents=True)
    (app / "etc" / "counting.conf").write_text("stations = 50\n")
    (app / "run.sh").write_text("#!/bin/sh\n")
    os.symlink("run.sh", app / "current")
    p = tmp_path / "profile.yml"
    p.write_text(f"name: remote\npaths: [{app}]\nnetwork: {{sockets: false}}\n")
    return p, app


def test_remote_snapshot_and_verify_over_ssh(sshd, tmp_path):
    profile, app = _profile(tmp_path)
    d, port = sshd["dir"], sshd["port"]
    ssh = ["--host", f"root@127.0.0.1:{port}", "-i", str(d / "clientkey"),
           "--known-hosts", str(d / "known_hosts")]
    remote = tmp_path / "remote.json"
    proc = freeze("snapshot", "-p", str(profile), "-o", str(remote), "--json", *ssh)
    assert proc.returncode == EXIT_OK, proc.stderr
    local = tmp_path / "local.json"
    assert freeze("snapshot", "-p", str(profile), "-o", str(local)).returncode == 0
    r, lo = json.loads(remote.read_bytes()), json.loads(local.read_bytes())
    # the same host seen through SSH and locally: same identity, same collected state
    assert r["host"] == lo["host"]
    assert r["sections"]["files"] == lo["sections"]["files"]
    assert r["sections"]["packages"] == lo["sections"]["packages"]
    assert r["sections"]["users"] == lo["sections"]["users"]

    for _ in range(2):
        proc = freeze("verify", str(remote), "-p", str(profile), "--json", *ssh)
        assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    (app / "etc" / "counting.conf").write_text("stations = 51\n")
    proc = freeze("verify", str(remote), "-p", str(profile), "--json", *ssh)
    assert proc.returncode == EXIT_CHANGED, proc.stderr
    keys = {(e["category"], e["key"]) for e in json.loads(proc.stdout)["entries"]}
    assert ("changed", f"{app}/etc/counting.conf") in keys


def test_unknown_host_key_is_refused(sshd, tmp_path):
    profile, _ = _profile(tmp_path)
    d, port = sshd["dir"], sshd["port"]
    proc = freeze("snapshot", "-p", str(profile), "-o", str(tmp_path / "m.json"),
                  "--host", f"root@127.0.0.1:{port}", "-i", str(d / "clientkey"),
                  "--known-hosts", str(d / "empty_known_hosts"))
    assert proc.returncode == EXIT_UNAVAILABLE and "Traceback" not in proc.stderr
    assert "not in known_hosts" in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "m.json").exists()


def test_wrong_key_is_an_authentication_failure(sshd, tmp_path):
    profile, _ = _profile(tmp_path)
    d, port = sshd["dir"], sshd["port"]
    proc = freeze("snapshot", "-p", str(profile), "-o", str(tmp_path / "m.json"),
                  "--host", f"root@127.0.0.1:{port}", "-i", str(d / "otherkey"),
                  "--known-hosts", str(d / "known_hosts"))
    assert proc.returncode == EXIT_UNAVAILABLE and "Traceback" not in proc.stderr
    assert "authentication failed" in proc.stderr


def test_remote_missing_path_is_noinput(sshd, tmp_path):
    p = tmp_path / "profile.yml"
    p.write_text(f"paths: [{tmp_path}/absent]\n")
    d, port = sshd["dir"], sshd["port"]
    proc = freeze("snapshot", "-p", str(p), "-o", str(tmp_path / "m.json"),
                  "--host", f"root@127.0.0.1:{port}", "-i", str(d / "clientkey"),
                  "--known-hosts", str(d / "known_hosts"))
    assert proc.returncode == 66 and "absent" in proc.stderr and "Traceback" not in proc.stderr


def test_whole_inventory_through_ansible(sshd, tmp_path):
    if not Path(sys.executable).with_name("ansible").exists() and not shutil.which("ansible"):
        pytest.skip("ansible not installed (the ops extra)")
    profile, app = _profile(tmp_path)
    d, port = sshd["dir"], sshd["port"]
    inv = loopback_inventory(tmp_path / "hosts.yml", d,
                             {"count-a": port, "count-b": port, "count-down": free_port()})
    out = tmp_path / "manifests"
    proc = freeze("snapshot", "-p", str(profile), "-o", str(out), "--inventory", str(inv))
    # one host is down: its error is one line, exit 69, the others are written
    assert proc.returncode == EXIT_UNAVAILABLE, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "count-down" in errors[0] and "unreachable" in errors[0]
    assert sorted(p.name for p in out.iterdir()) == ["count-a.manifest.json",
                                                     "count-b.manifest.json"]
    a = json.loads((out / "count-a.manifest.json").read_bytes())
    assert f"{app}/etc/counting.conf" in a["sections"]["files"]

    args = ["verify", str(out), "-p", str(profile), "--inventory", str(inv),
            "--limit", "count-a:count-b", "--json"]
    proc = freeze(*args)
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert set(json.loads(proc.stdout)["hosts"]) == {"count-a", "count-b"}
    (app / "extra").write_text("dropped in\n")
    proc = freeze(*args)
    assert proc.returncode == 1 | 4, proc.stderr  # file added, its directory changed
    hosts = json.loads(proc.stdout)["hosts"]
    for h in ("count-a", "count-b"):
        added = [e for e in hosts[h]["entries"] if e["category"] == "added"]
        assert [(e["kind"], e["key"]) for e in added] == [("file", f"{app}/extra")]
        assert added[0]["attributes"]["size"] == len("dropped in\n")
    # the text a person reads: each host's readable report under its inventory name, then a summary
    text = freeze(*args[:-1])
    assert text.returncode == 1 | 4, text.stderr
    assert "== count-a (inventory host)" in text.stdout and "== count-b (inventory host)" in text.stdout
    assert f"- added: file {app}/extra" in text.stdout, text.stdout
    assert "summary:" in text.stdout and "count-a: 1 added, 0 removed, 1 changed" in text.stdout, text.stdout


def test_whole_inventory_with_each_hosts_own_profile(sshd, tmp_path):
    """-p DIR: each host collected and judged with DIR/HOST.profile.yml (what the
    ceremony composes); a host without its file is an error of its own."""
    if not Path(sys.executable).with_name("ansible").exists() and not shutil.which("ansible"):
        pytest.skip("ansible not installed (the ops extra)")
    d, port = sshd["dir"], sshd["port"]
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    apps = {}
    for host in ("count-a", "count-b"):
        apps[host] = app = tmp_path / f"app-{host}"
        app.mkdir()
        (app / "counting.conf").write_text(f"host = {host}\n")
        (profiles / f"{host}.profile.yml").write_text(f"name: {host}\npaths: [{app}]\nnetwork: {{sockets: false}}\n")
    inv = loopback_inventory(tmp_path / "hosts.yml", d, {"count-a": port, "count-b": port, "count-c": port})
    out = tmp_path / "manifests"
    proc = freeze("snapshot", "-p", str(profiles), "-o", str(out), "--inventory", str(inv))
    assert proc.returncode == 66, proc.stdout + proc.stderr
    errors = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(errors) == 1 and "count-c" in errors[0] and "count-c.profile.yml" in errors[0], errors
    assert sorted(p.name for p in out.iterdir()) == ["count-a.manifest.json", "count-b.manifest.json"]
    for host, other in (("count-a", "count-b"), ("count-b", "count-a")):
        m = json.loads((out / f"{host}.manifest.json").read_bytes())
        assert f"{apps[host]}/counting.conf" in m["sections"]["files"]
        assert not any(k.startswith(str(apps[other])) for k in m["sections"]["files"])

    args = ["verify", str(out), "-p", str(profiles), "--inventory", str(inv), "--limit", "count-a:count-b", "--json"]
    proc = freeze(*args)
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    # a narrower --limit verifies its hosts only: the other manifests are not "not in the inventory"
    proc = freeze("verify", str(out), "-p", str(profiles), "--inventory", str(inv), "--limit", "count-a", "--json")
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert sorted(json.loads(proc.stdout)["hosts"]) == ["count-a"]
    (apps["count-b"] / "counting.conf").write_text("host = tampered\n")
    proc = freeze(*args)
    assert proc.returncode == EXIT_CHANGED, proc.stdout + proc.stderr
    hosts = json.loads(proc.stdout)["hosts"]
    assert hosts["count-a"]["entries"] == []
    assert [(e["category"], e["key"]) for e in hosts["count-b"]["entries"]] == [
        ("changed", f"{apps['count-b']}/counting.conf")]
    # count-a's manifest judged with count-b's profile is that host's error, not drift
    (profiles / "count-a.profile.yml").write_text((profiles / "count-b.profile.yml").read_text())
    proc = freeze(*args[:-1])
    assert proc.returncode == 8 and "Traceback" not in proc.stderr, proc.stderr  # an error outranks drift
    assert "host count-a: profile mismatch" in proc.stderr, proc.stderr
    assert "count-b: 0 added, 0 removed, 1 changed" in proc.stdout, proc.stdout
