"""Malformed inputs through the real CLI process: one line on stderr, non-zero status, no traceback."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from freeze.evidence.statement import PREDICATE_TYPES

REPO = Path(__file__).resolve().parents[2]


def run(*args: str | Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "freeze", *map(str, args)], capture_output=True, text=True,
                          stdin=subprocess.DEVNULL, check=False, timeout=60,
                          env={**os.environ, "PYTHONPATH": str(REPO), **(env or {})})


def one_line_error(res: subprocess.CompletedProcess, status: int, text: str) -> None:
    assert res.returncode == status, (res.returncode, res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and text in lines[0], res.stderr


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("keys")
    res = run("keygen", d / "k.pem", "--passphrase-env", "KP", env={"KP": "right"})
    assert res.returncode == 0, res.stderr
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (d / "rsa.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                  serialization.BestAvailableEncryption(b"right")))
    stmt = {"_type": "https://in-toto.io/Statement/v1", "predicateType": PREDICATE_TYPES["manifest"],
            "subject": [{"name": "m.json", "digest": {"sha256": "ab" * 32}}], "predicate": {"sequence": 1}}
    (d / "env.json").write_bytes(Envelope(json.dumps(stmt).encode(), IN_TOTO_PAYLOAD_TYPE).to_bytes())
    (d / "corrupt.json").write_text('{"payload": "e30=", "payloadType": ')
    # signing needs the ceremony root (issue 16): one that lists k.pem
    (d / "spec.json").write_text(json.dumps({
        "election": "e", "ceremony": "c", "expires": "2099-01-01T00:00:00Z",
        "people": {"k": {"role": "directorate", "keys": ["k.pub.pem"]}},
        "thresholds": {"root": {"directorate": 1}, "manifest": {"directorate": 1}},
        "journal": {"origin": "example.org/e/c"}}))
    res = run("root", "init", d / "spec.json", "-o", d / "root.json")
    assert res.returncode == 0, res.stderr
    return d


def root(keys: Path) -> tuple[str, Path]:
    return ("--root", keys / "root.json")


def test_corrupt_envelope_json(keys: Path) -> None:
    one_line_error(run("sign", keys / "corrupt.json", "--key", keys / "k.pem", "--passphrase-env", "KP", *root(keys),
                       env={"KP": "right"}), 65, "not valid JSON")


def test_wrong_passphrase(keys: Path) -> None:
    one_line_error(run("sign", keys / "env.json", "--key", keys / "k.pem", "--passphrase-env", "KP", *root(keys),
                       env={"KP": "wrong"}), 65, "wrong passphrase")


def test_wrong_key_type(keys: Path) -> None:
    one_line_error(run("sign", keys / "env.json", "--key", keys / "rsa.pem", "--passphrase-env", "KP", *root(keys),
                       env={"KP": "right"}), 65, "freeze signs with Ed25519")


def test_signer_checks_their_own_copy_of_the_document(keys: Path, tmp_path: Path) -> None:
    (tmp_path / "m.json").write_text("not the signed one")
    one_line_error(run("sign", keys / "env.json", "--key", keys / "k.pem", "--passphrase-env", "KP", *root(keys),
                       "--document", tmp_path / "m.json", env={"KP": "right"}),
                   8, "the statement names another document")


def test_missing_files(keys: Path, tmp_path: Path) -> None:
    one_line_error(run("sign", tmp_path / "absent.json", "--key", keys / "k.pem", *root(keys)), 66, "absent.json")
    one_line_error(run("sign", keys / "env.json", "--key", tmp_path / "absent.pem", *root(keys)), 66, "no such file")
    one_line_error(run("verify-evidence", tmp_path / "nothing", "--root-pin", "ab" * 32), 66, "nothing")


def test_no_passphrase_source_without_a_terminal(keys: Path, tmp_path: Path) -> None:
    one_line_error(run("keygen", tmp_path / "new.pem"), 64, "no terminal to prompt on")
    assert not (tmp_path / "new.pem").exists()


def test_passphrase_is_never_an_argument() -> None:
    res = run("keygen", "x.pem", "--passphrase", "secret")
    assert res.returncode == 64 and not Path("x.pem").exists()


def test_unsafe_unencrypted_keygen_only_with_the_explicit_flag(keys: Path, tmp_path: Path) -> None:
    res = run("keygen", tmp_path / "t.pem", "--unsafe-no-passphrase")
    assert res.returncode == 0
    assert (tmp_path / "t.pem").read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")
    one_line_error(run("sign", tmp_path / "t.pem", "--key", tmp_path / "t.pem", *root(keys)), 65, "not valid JSON")


def test_bad_root_spec_and_bad_journal(tmp_path: Path) -> None:
    (tmp_path / "spec.yaml").write_text("election: [unclosed\n")
    one_line_error(run("root", "init", tmp_path / "spec.yaml", "-o", tmp_path / "r.json"), 65, "spec.yaml")
    (tmp_path / "spec2.yaml").write_text("election: e\n")
    # every problem, each named by its field
    one_line_error(run("root", "init", tmp_path / "spec2.yaml", "-o", tmp_path / "r.json"), 65,
                   "ceremony: missing; expires: missing")
    (tmp_path / "j.db").write_text("not a database")
    one_line_error(run("journal", "append", tmp_path / "j.db", "--actor", "a", "--event", "e"),
                   65, "not a freeze journal")


def test_corrupt_bundle_fails_verification_with_exit_8(tmp_path: Path) -> None:
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "bundle.json").write_text("{broken")
    res = run("verify-evidence", tmp_path / "b", "--root-pin", "ab" * 32)
    assert res.returncode == 8 and "Traceback" not in res.stderr
    assert "FAIL  bundle index: bundle.json: not valid JSON" in res.stdout


def test_signing_without_the_root_is_a_usage_error(keys: Path) -> None:
    """Without the root a key outside the ceremony could add a signature that spoils the envelope."""
    res = run("sign", keys / "env.json", "--key", keys / "k.pem", "--passphrase-env", "KP", env={"KP": "right"})
    assert res.returncode == 64 and "--root" in res.stderr
    assert "Traceback" not in res.stderr
