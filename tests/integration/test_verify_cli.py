"""The real `freeze` CLI in a subprocess: a whole-system snapshot verifies clean
again and again; bad input gives one line on stderr and the documented status."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from freeze.errors import (
    EXIT_CHANGED,
    EXIT_DATAERR,
    EXIT_NOINPUT,
    EXIT_OK,
    EXIT_REFUSED,
    EXIT_UNAVAILABLE,
    EXIT_USAGE,
    EXIT_VERIFY_FAILED,
)

REPO = Path(__file__).resolve().parents[2]


def freeze(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "freeze", *args], capture_output=True,
                          text=True, env=e, cwd=REPO, timeout=600)


def one_line_error(proc: subprocess.CompletedProcess, code: int) -> str:
    assert proc.returncode == code, (proc.returncode, proc.stdout, proc.stderr)
    assert "Traceback" not in proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    return lines[0]


def _small_profile(tmp_path: Path, extra: str = "") -> Path:
    (tmp_path / "app").mkdir(exist_ok=True)
    (tmp_path / "app" / "f").write_text("x")
    p = tmp_path / "profile.yml"
    p.write_text(f"paths: [{tmp_path}/app]\npackages: {{enabled: false}}\n"
                 "services: {enabled: false}\naccounts: {enabled: false}\n"
                 "network: {enabled: false}\nkernel: {enabled: false}\n" + extra)
    return p


@pytest.mark.postgres
def test_whole_system_snapshot_verifies_clean_three_times(tmp_path, pg_db):
    (tmp_path / "app").mkdir()
    (tmp_path / "app" / "count.py").write_text("print('count')\n")
    profile = tmp_path / "profile.yml"
    # Everything real: this machine's /usr/sbin, /etc/ssh... (read-only here), its dpkg
    # database, units, accounts, routes and kernel, plus a real database. Listening
    # sockets are left out only here: parallel test workers open and close them.
    profile.write_text(f"""
name: whole-system
paths:
  - {tmp_path}/app
  - /usr/sbin
  - {{path: /etc/default, recursive: false}}
network: {{sockets: false}}
database:
  dsn_env: FREEZE_TEST_DSN
""")
    env = {"FREEZE_TEST_DSN": pg_db}
    with __import__("psycopg").connect(pg_db, autocommit=True) as c:
        c.execute("CREATE TABLE results (id int PRIMARY KEY, n int)")
        c.execute("INSERT INTO results VALUES (1, 10), (2, 20)")
    manifest = tmp_path / "m.json"
    proc = freeze("snapshot", "--profile", str(profile), "-o", str(manifest), "--json", env=env)
    assert proc.returncode == EXIT_OK, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["entries"]["packages"] > 10 and summary["entries"]["db_tables"] == 1
    assert "DSN" not in proc.stdout and "admin-test-only" not in manifest.read_text()
    for _ in range(3):
        proc = freeze("verify", str(manifest), "--profile", str(profile), "--json", env=env)
        report = json.loads(proc.stdout)
        assert proc.returncode == EXIT_OK, report
        assert report["clean"] is True and report["entries"] == []
    (tmp_path / "app" / "count.py").write_text("print('COUNT')\n")
    proc = freeze("verify", str(manifest), "--profile", str(profile), env={**env, "COLUMNS": "250"})
    assert proc.returncode == EXIT_CHANGED
    assert "count.py" in proc.stdout and "sha256" in proc.stdout


def test_snapshot_refuses_to_overwrite_and_verify_human_output(tmp_path):
    p = _small_profile(tmp_path)
    m = tmp_path / "m.json"
    assert freeze("snapshot", "-p", str(p), "-o", str(m)).returncode == 0
    before = m.read_bytes()
    line = one_line_error(freeze("snapshot", "-p", str(p), "-o", str(m)), EXIT_REFUSED)
    assert "refusing to overwrite" in line and m.read_bytes() == before
    proc = freeze("verify", str(m), "-p", str(p))
    assert proc.returncode == 0 and "clean" in proc.stdout
    (tmp_path / "app" / "g").write_text("new")
    proc = freeze("verify", str(m), "-p", str(p))
    assert proc.returncode == 1 | 4 and "added" in proc.stdout  # the directory changed too


@pytest.mark.parametrize("text, fragment", [
    ("paths:\n  - {path: /etc, volatility: sometimes}\n",
     "profile.yml: paths[0].volatility: must be one of static, growing, rotating, rewritten, excluded"),
    ("paths: [/etc\n", "profile.yml: line"),
    ("colour: blue\n", "profile.yml: colour: unknown key"),
])
def test_malformed_profile(tmp_path, text, fragment):
    p = tmp_path / "profile.yml"
    p.write_text(text)
    line = one_line_error(freeze("snapshot", "-p", str(p), "-o", str(tmp_path / "m")),
                          EXIT_DATAERR)
    assert fragment in line


def test_missing_profile_and_missing_path(tmp_path):
    line = one_line_error(freeze("snapshot", "-p", str(tmp_path / "nope.yml"), "-o",
                                 str(tmp_path / "m")), EXIT_NOINPUT)
    assert "nope.yml" in line
    p = tmp_path / "profile.yml"
    p.write_text(f"paths: [{tmp_path}/gone]\n")
    line = one_line_error(freeze("snapshot", "-p", str(p), "-o", str(tmp_path / "m")),
                          EXIT_NOINPUT)
    assert "gone" in line
    assert not (tmp_path / "m").exists()


@pytest.mark.parametrize("named", [False, True], ids=["inside-a-profile-path", "the-profile-path"])
def test_unreadable_path(tmp_path, named):
    # Root reads everything; drop the DAC override capabilities for the CLI instead
    # (setpriv), so a file owned by someone else with mode 0600 is really unreadable.
    if os.geteuid() != 0 or not Path("/usr/bin/setpriv").exists():
        pytest.skip("needs root and setpriv (util-linux) to make a file unreadable")
    p = _small_profile(tmp_path)
    secret = tmp_path / "app" / "secret"
    if named:  # the profile names the unreadable file itself, not its directory
        p.write_text(p.read_text().replace(str(tmp_path / "app"), str(secret)))
    secret.write_text("only its owner")
    os.chown(secret, 12345, 12345)
    os.chmod(secret, 0o600)
    out = tmp_path / "m.json"
    proc = subprocess.run(["setpriv", "--bounding-set=-dac_override,-dac_read_search",
                           "--inh-caps=-dac_override,-dac_read_search", sys.executable, "-m",
                           "freeze", "snapshot", "-p", str(p), "-o", str(out)],
                          capture_output=True, text=True, cwd=REPO, timeout=120)
    line = one_line_error(proc, EXIT_NOINPUT)
    assert "secret: permission denied" in line
    assert not out.exists()


def test_unreachable_host(tmp_path):
    p = _small_profile(tmp_path)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    line = one_line_error(freeze("snapshot", "-p", str(p), "-o", str(tmp_path / "m"),
                                 "--host", f"root@127.0.0.1:{port}"), EXIT_UNAVAILABLE)
    assert f"127.0.0.1:{port}" in line and "unreachable" in line
    line = one_line_error(freeze("snapshot", "-p", str(p), "-o", str(tmp_path / "m"),
                                 "--host", "bad host!"), EXIT_DATAERR)
    assert "expected [user@]host[:port]" in line


@pytest.mark.postgres
def test_wrong_database_credentials(tmp_path, pg_db):
    p = _small_profile(tmp_path, "database: {dsn_env: FREEZE_TEST_DSN}\n")
    bad = pg_db.replace("password=admin-test-only", "password=Wr0ngSecret")
    proc = freeze("snapshot", "-p", str(p), "-o", str(tmp_path / "m"),
                  env={"FREEZE_TEST_DSN": bad})
    line = one_line_error(proc, EXIT_UNAVAILABLE)
    assert "authentication failed" in line and "Wr0ngSecret" not in proc.stderr + proc.stdout
    proc = freeze("snapshot", "-p", str(p), "-o", str(tmp_path / "m"),
                  env={"FREEZE_TEST_DSN": ""})
    assert "FREEZE_TEST_DSN" in one_line_error(proc, EXIT_DATAERR)
    dsn_file = tmp_path / "dsn"
    dsn_file.write_text(pg_db)
    os.chmod(dsn_file, 0o644)
    p2 = _small_profile(tmp_path, f"database: {{dsn_file: {dsn_file}}}\n")
    line = one_line_error(freeze("snapshot", "-p", str(p2), "-o", str(tmp_path / "m")),
                          EXIT_REFUSED)
    assert "chmod 600" in line and "admin-test-only" not in line


@pytest.mark.parametrize("mutate", [
    lambda b: b[: len(b) // 2],
    lambda b: b"",
    lambda b: b.replace(b"freeze-manifest/v1", b"freeze-manifest/v7"),
    lambda b: b"\x00\x01garbage",
    lambda b: b.replace(b'"sections":{', b'"sections":{"files":[1],', 1),
])
def test_corrupt_or_truncated_manifest(tmp_path, mutate):
    p = _small_profile(tmp_path)
    m = tmp_path / "m.json"
    assert freeze("snapshot", "-p", str(p), "-o", str(m)).returncode == 0
    m.write_bytes(mutate(m.read_bytes()))
    line = one_line_error(freeze("verify", str(m), "-p", str(p)), EXIT_DATAERR)
    assert "m.json" in line


def test_missing_manifest_and_usage(tmp_path):
    p = _small_profile(tmp_path)
    one_line_error(freeze("verify", str(tmp_path / "none.json"), "-p", str(p)), EXIT_NOINPUT)
    proc = freeze("verify", str(tmp_path / "none.json"))
    assert proc.returncode == EXIT_USAGE and "Traceback" not in proc.stderr


def test_profile_mismatch_is_reported(tmp_path):
    p = _small_profile(tmp_path)
    m = tmp_path / "m.json"
    assert freeze("snapshot", "-p", str(p), "-o", str(m)).returncode == 0
    p.write_text(p.read_text() + "# edited after the snapshot\n")
    line = one_line_error(freeze("verify", str(m), "-p", str(p)), EXIT_VERIFY_FAILED)
    assert "profile mismatch" in line


def test_a_tampered_manifest_is_not_the_signed_one_rather_than_drift(tmp_path):
    """Issue 16, 3: a flipped byte in the manifest read as 'changed file ...' drift."""
    import hashlib

    from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
    from freeze.evidence.statement import PREDICATE_TYPES, STATEMENT_TYPE

    p = _small_profile(tmp_path)
    m = tmp_path / "m.json"
    assert freeze("snapshot", "-p", str(p), "-o", str(m)).returncode == 0
    signed = hashlib.sha256(m.read_bytes()).hexdigest()
    stmt = {"_type": STATEMENT_TYPE, "predicateType": PREDICATE_TYPES["manifest"],
            "subject": [{"name": "m.json", "digest": {"sha256": signed}}], "predicate": {"sequence": 1}}
    env = tmp_path / "m.dsse.json"
    env.write_bytes(Envelope(json.dumps(stmt).encode(), IN_TOTO_PAYLOAD_TYPE).to_bytes())

    proc = freeze("verify", str(m), "-p", str(p), "--envelope", str(env), "--expect-sha256", f"sha256:{signed}")
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert f"sha256:{signed}" in proc.stdout  # the full digest, to compare with the minutes

    tampered = m.read_bytes().replace(b'"size":1,', b'"size":9,', 1)
    assert tampered != m.read_bytes()
    m.write_bytes(tampered)
    for option in (["--envelope", str(env)], ["--expect-sha256", f"sha256:{signed}"]):
        line = one_line_error(freeze("verify", str(m), "-p", str(p), *option), EXIT_VERIFY_FAILED)
        assert "this manifest is not the signed one" in line and signed in line
    line = one_line_error(freeze("verify", str(m), "-p", str(p), "--expect-sha256", "sha256:12"), EXIT_DATAERR)
    assert "not a sha256 digest" in line
