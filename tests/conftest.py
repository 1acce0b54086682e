"""Fixtures shared by every test tier."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.pg import PgServer, pg_bindir, start_server

REPO = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One real PostgreSQL server for the whole session (fresh cluster, loopback)."""
    if pg_bindir() is None:
        if os.environ.get("CI"):
            pytest.fail("PostgreSQL is not installed, but CI must run the database tests")
        pytest.skip("PostgreSQL server not installed (scripts/bootstrap.sh installs it)")
    server = start_server()
    yield server
    server.stop()


@pytest.fixture
def pg_db(pg_server: PgServer, request: pytest.FixtureRequest) -> str:
    """A fresh, empty database for one test; returns its DSN."""
    name = "t_" + "".join(c if c.isalnum() else "_" for c in request.node.name)[:50].lower()
    return pg_server.createdb(name)
