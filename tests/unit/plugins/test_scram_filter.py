"""election.freeze.scram_sha256_verifier: PostgreSQL's SCRAM-SHA-256 verifier
format, deterministic per (password, role), and accepted by a REAL PostgreSQL
server (the password logs in, a wrong one does not)."""

from __future__ import annotations

import base64
import hashlib
import hmac

import psycopg
import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.election.freeze.plugins.filter.scram import scram_sha256_verifier

from tests.pg import pg_bindir, start_server


def test_format_and_keys_follow_rfc5802():
    v = scram_sha256_verifier("correct horse", "counting_writer")
    head, keys = v.split("$", 1)[1].split("$")
    iterations, salt = head.split(":")
    stored, server = (base64.b64decode(k) for k in keys.split(":"))
    assert v.startswith("SCRAM-SHA-256$4096:") and iterations == "4096"
    salted = hashlib.pbkdf2_hmac("sha256", b"correct horse", base64.b64decode(salt), 4096)
    assert stored == hashlib.sha256(hmac.new(salted, b"Client Key", hashlib.sha256).digest()).digest()
    assert server == hmac.new(salted, b"Server Key", hashlib.sha256).digest()


def test_deterministic_per_password_and_role_but_salted_per_role():
    assert scram_sha256_verifier("pw", "a") == scram_sha256_verifier("pw", "a")
    assert scram_sha256_verifier("pw", "a") != scram_sha256_verifier("pw", "b")
    assert scram_sha256_verifier("pw", "a") != scram_sha256_verifier("pw2", "a")
    with pytest.raises(AnsibleFilterError):
        scram_sha256_verifier("", "a")


@pytest.mark.postgres
def test_a_real_server_accepts_the_verifier():
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    server = start_server()
    try:
        with psycopg.connect(server.dsn(), autocommit=True) as c:
            c.execute(f"CREATE ROLE scram_user LOGIN PASSWORD '{scram_sha256_verifier('s3cret-pw', 'scram_user')}'")
            stored = c.execute("SELECT rolpassword FROM pg_authid WHERE rolname = 'scram_user'").fetchone()
        assert stored == (scram_sha256_verifier("s3cret-pw", "scram_user"),)
        with psycopg.connect(server.dsn(user="scram_user", password="s3cret-pw")) as c:
            assert c.execute("SELECT current_user").fetchone() == ("scram_user",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(server.dsn(user="scram_user", password="wrong"))
    finally:
        server.stop()
