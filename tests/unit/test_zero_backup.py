"""pg_dump/pg_restore get the connection through the environment and a 0600
passfile, never through argv; odd passwords survive the passfile escaping."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from freeze.errors import InputError
from freeze.zero.backup import libpq_environment


def test_password_goes_to_a_private_passfile_only(monkeypatch):
    monkeypatch.setenv("PGPASSWORD", "leaked-from-caller")
    dsn = "host=db1 port=5433 dbname=counting user=zero password='p:a\\\\ss w' sslmode=verify-full"
    with libpq_environment(dsn) as env:
        assert "PGPASSWORD" not in env
        assert env["PGHOST"] == "db1" and env["PGPORT"] == "5433"
        assert env["PGDATABASE"] == "counting" and env["PGSSLMODE"] == "verify-full"
        assert not any("p:a" in v for k, v in env.items() if k != "PGPASSFILE")
        pf = Path(env["PGPASSFILE"])
        assert stat.S_IMODE(pf.stat().st_mode) == 0o600
        assert stat.S_IMODE(pf.parent.stat().st_mode) == 0o700
        assert pf.read_text() == "*:*:*:*:p\\:a\\\\ss w\n"
    assert not pf.exists() and not pf.parent.exists()


def test_unsupported_parameter_is_refused():
    with pytest.raises(InputError, match="not supported"):
        with libpq_environment("host=x keepalives=1"):
            pass


def test_malformed_dsn_is_not_echoed():
    with pytest.raises(InputError) as exc:
        with libpq_environment("host=x password='unterminated"):
            pass
    assert "unterminated" not in str(exc.value)
