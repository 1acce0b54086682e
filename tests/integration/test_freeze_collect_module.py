"""election.freeze.freeze_collect (module + action plugin) over a real SSH connection.

The throw-away loopback sshd of test_remote_ssh, Ansible's own ssh connection, the
host's /usr/bin/python3 running the collectors shipped by the action plugin. A
manifest taken through the module and one taken with `freeze snapshot --host` of
the same unchanged host must be the same bytes (but for the `created` time, which
has one-second resolution); a changed file must make them differ.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from freeze.errors import EXIT_NOINPUT, EXIT_OK
from tests.integration.test_remote_ssh import (  # noqa: F401 - sshd is a fixture
    _profile,
    freeze,
    sshd,
)
from tests.sshd import free_port, loopback_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


@pytest.fixture
def inventory(sshd, tmp_path):  # noqa: F811 - the fixture imported above
    if not PLAYBOOK.exists() and not shutil.which("ansible-playbook"):
        pytest.skip("ansible not installed (the ops extra)")
    return loopback_inventory(tmp_path / "hosts.yml", sshd["dir"],
                              {"count-a": sshd["port"], "count-down": free_port()})


def collect_play(inv: Path, out: Path, profile: Path, *extra: str, **variables: str
                 ) -> dict[str, dict]:
    """Run playbooks/collect.yml (output: manifest) and return its status.json."""
    out.mkdir(exist_ok=True)
    evars = {"freeze_collect_profile": str(profile), "freeze_collect_dir": str(out),
             "freeze_collect_force": True, **variables}
    proc = subprocess.run([str(PLAYBOOK), "-i", str(inv), "-e", json.dumps(evars), *extra,
                           "playbooks/collect.yml"], capture_output=True, text=True, cwd=REPO,
                          timeout=300)
    assert (out / "status.json").exists(), proc.stdout[-2000:] + proc.stderr[-2000:]
    # fetch_file streamed the document with sftp (not the in-memory fallbacks)
    assert "transfer mechanism failed" not in proc.stderr, proc.stderr
    return json.loads((out / "status.json").read_text())


def same_but_created(a: bytes, b: bytes) -> bool:
    """Byte equality once a's `created` value is replaced by b's (same length, one place)."""
    ca, cb = json.loads(a)["created"], json.loads(b)["created"]
    return a.replace(f'"created":"{ca}"'.encode(), f'"created":"{cb}"'.encode(), 1) == b


def test_module_manifest_is_byte_identical_to_snapshot_host(sshd, inventory, tmp_path):  # noqa: F811
    profile, app = _profile(tmp_path)
    d, port = sshd["dir"], sshd["port"]
    result_dir = tmp_path / "on-host"
    ssh = ["--host", f"root@127.0.0.1:{port}", "-i", str(d / "clientkey"),
           "--known-hosts", str(d / "known_hosts")]

    status = collect_play(inventory, tmp_path / "m1", profile, "--limit", "count-a",
                          freeze_collect_result_dir=str(result_dir))
    res = status["count-a"]
    assert not res.get("failed"), res
    module_bytes = Path(res["dest"]).read_bytes()
    by_host = tmp_path / "host.json"
    proc = freeze("snapshot", "-p", str(profile), "-o", str(by_host), *ssh)
    assert proc.returncode == EXIT_OK, proc.stderr
    host_bytes = by_host.read_bytes()
    assert same_but_created(module_bytes, host_bytes)
    # the task result is a small summary: digest of the manifest written, counts
    assert res["sha256"] == __import__("hashlib").sha256(module_bytes).hexdigest()
    assert res["counts"]["files"] == len(json.loads(module_bytes)["sections"]["files"])
    assert len(json.dumps(res)) < 4096
    # the result file on the host: root-only, in a 0700 directory
    assert stat.S_IMODE(os.stat(result_dir).st_mode) == 0o700
    on_host = result_dir / "collected.json"
    assert stat.S_IMODE(os.stat(on_host).st_mode) == 0o600
    assert res["path"] == str(on_host)

    # a changed file: the module's manifest now differs from the earlier one, exactly there
    (app / "etc" / "counting.conf").write_text("stations = 51\n")
    status = collect_play(inventory, tmp_path / "m2", profile, "--limit", "count-a",
                          freeze_collect_result_dir=str(result_dir))
    changed = Path(status["count-a"]["dest"]).read_bytes()
    assert not same_but_created(changed, host_bytes)
    old, new = json.loads(host_bytes)["sections"], json.loads(changed)["sections"]
    conf = f"{app}/etc/counting.conf"
    assert old["files"][conf]["sha256"] != new["files"][conf]["sha256"]
    assert {k: v for k, v in old.items() if k != "files"} == \
        {k: v for k, v in new.items() if k != "files"}
    # and --host sees the same changed state, byte for byte
    proc = freeze("snapshot", "-p", str(profile), "-o", str(by_host), "--force", *ssh)
    assert proc.returncode == EXIT_OK, proc.stderr
    assert same_but_created(changed, by_host.read_bytes())


def test_check_mode_collects_without_writing_on_the_host(inventory, tmp_path):
    profile, app = _profile(tmp_path)
    result_dir = tmp_path / "on-host"
    status = collect_play(inventory, tmp_path / "m", profile, "--limit", "count-a", "--check",
                          freeze_collect_result_dir=str(result_dir))
    res = status["count-a"]
    assert not res.get("failed") and not res["changed"] and res["path"] is None, res
    doc = json.loads(Path(res["dest"]).read_bytes())
    assert f"{app}/etc/counting.conf" in doc["sections"]["files"]
    assert not result_dir.exists()


def test_errors_are_one_line_per_host(inventory, tmp_path):
    bad = tmp_path / "bad.yml"
    bad.write_text("paths:\n  - path: /x\n    volatility: sometimes\n")
    status = collect_play(inventory, tmp_path / "m", bad, "--limit", "count-a")
    msg = status["count-a"]["msg"]
    assert status["count-a"]["failed"] and msg.startswith("profile: ") and "volatility" in msg
    assert "\n" not in msg and "Traceback" not in msg

    profile, _ = _profile(tmp_path)
    status = collect_play(inventory, tmp_path / "m", profile)
    assert status["count-down"]["unreachable"] and "count-a" in status
    assert "Connection refused" in status["count-down"]["msg"]

    missing = tmp_path / "missing.yml"
    missing.write_text(f"paths: [{tmp_path}/absent]\nnetwork: {{sockets: false}}\n")
    proc = freeze("snapshot", "-p", str(missing), "-o", str(tmp_path / "out"),
                  "--inventory", str(inventory), "--limit", "count-a")
    assert proc.returncode == EXIT_NOINPUT, proc.stdout + proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and "count-a" in lines[0] and "absent" in lines[0], lines
    assert "Traceback" not in proc.stderr


def test_verify_playbook_table_and_exit_status(inventory, tmp_path):
    profile, app = _profile(tmp_path)
    manifests = tmp_path / "manifests"
    status = collect_play(inventory, manifests, profile, "--limit", "count-a")
    assert not status["count-a"].get("failed"), status

    def verify(*extra: str) -> subprocess.CompletedProcess:
        evars = {"freeze_verify_profile": str(profile), "freeze_verify_manifests": str(manifests),
                 "freeze_verify_result_dir": str(tmp_path / "on-host"),
                 # no ceremony here: compare without signatures (test_ceremony_playbooks checks them)
                 "freeze_verify_unsigned": True}
        return subprocess.run([str(PLAYBOOK), "-i", str(inventory), "-e", json.dumps(evars),
                               *extra, "playbooks/verify.yml"], capture_output=True, text=True,
                              cwd=REPO, timeout=300)

    for _ in range(2):  # an untouched host verifies clean, again and again
        proc = verify("--limit", "count-a")
        assert proc.returncode == 0, proc.stdout[-3000:]
        assert "count-a                      0       0       0  clean" in proc.stdout
    (app / "etc" / "counting.conf").write_text("stations = 51\n")
    proc = verify()
    assert proc.returncode != 0
    assert f"count-a                      0       0       1  changed file {app}/etc/counting.conf" \
        in proc.stdout, proc.stdout[-3000:]
    down = [ln for ln in proc.stdout.splitlines() if "count-down" in ln and "NOT VERIFIED" in ln]
    assert down, proc.stdout[-3000:]
    assert "drift or unverified hosts" in proc.stdout


def test_rotating_logs_through_the_module(sshd, inventory, tmp_path):  # noqa: F811
    """A `rotating` log directory with a compressed generation: the module's manifest
    is the same bytes as `freeze snapshot --host`'s (decompressed hashes included),
    and verify.yml (the module, with the rotation's prefix sizes sent by the action
    plugin) is clean after a logrotate-style rotation and reports a rewrite in it."""
    import gzip

    from tests.integration.test_log_rotation import rotate

    profile, app = _profile(tmp_path)
    log = app / "log"
    log.mkdir()
    (log / "app.log").write_text("vote batch 1 received\n")
    with gzip.open(log / "app.log.1.gz", "wb") as fh:
        fh.write(b"drill day\n")
    profile.write_text(profile.read_text().replace(
        f"paths: [{app}]", f"paths: [{app}, {{path: {log}, volatility: rotating}}]"))
    d, port = sshd["dir"], sshd["port"]
    manifests = tmp_path / "manifests"
    status = collect_play(inventory, manifests, profile, "--limit", "count-a")
    assert not status["count-a"].get("failed"), status
    module_bytes = Path(status["count-a"]["dest"]).read_bytes()
    by_host = tmp_path / "host.json"
    proc = freeze("snapshot", "-p", str(profile), "-o", str(by_host), "--host",
                  f"root@127.0.0.1:{port}", "-i", str(d / "clientkey"),
                  "--known-hosts", str(d / "known_hosts"))
    assert proc.returncode == EXIT_OK, proc.stderr
    assert same_but_created(module_bytes, by_host.read_bytes())
    gz = json.loads(module_bytes)["sections"]["files"][f"{log}/app.log.1.gz"]
    assert gz["plain_sha256"] == __import__("hashlib").sha256(b"drill day\n").hexdigest()

    def verify() -> subprocess.CompletedProcess:
        evars = {"freeze_verify_profile": str(profile), "freeze_verify_manifests": str(manifests),
                 "freeze_verify_result_dir": str(tmp_path / "on-host"),
                 "freeze_verify_unsigned": True}
        return subprocess.run([str(PLAYBOOK), "-i", str(inventory), "-e", json.dumps(evars),
                               "--limit", "count-a", "playbooks/verify.yml"],
                              capture_output=True, text=True, cwd=REPO, timeout=300)

    with open(log / "app.log", "a") as fh:
        fh.write("vote batch 2 received\n")
    rotate(log / "app.log")
    proc = verify()
    assert proc.returncode == 0, proc.stdout[-3000:]
    (log / "app.log.1").write_text("vote batch 1 REJECTED\nvote batch 2 received\n")
    proc = verify()
    assert proc.returncode != 0
    assert f"changed file {log}/app.log.1" in proc.stdout, proc.stdout[-3000:]
