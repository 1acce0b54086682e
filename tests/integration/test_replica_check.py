"""freeze replica-check against two REAL PostgreSQL servers: a primary and a
streaming hot standby cloned from it with pg_basebackup (tests/pg.py).

Equal: WAL positions equal after the writes and identical digests, exit 0.
Drift: a promoted copy of the standby (the real standby stays read-only) with
one row changed: the check fails naming the table and the row.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest

from freeze.cli import main
from freeze.errors import EXIT_CHANGED
from freeze.replica import check_replica
from tests.pg import PgServer, pg_bindir, promote, start_server, start_standby

pytestmark = pytest.mark.postgres

SCHEMA = """
CREATE TABLE results (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                      station text NOT NULL, candidate text NOT NULL, votes int NOT NULL);
CREATE TABLE notes (at text, msg text);
INSERT INTO results (station, candidate, votes)
  SELECT 'station-' || s, c, s FROM generate_series(1, 40) s, unnest(ARRAY['ana', 'bruno']) c;
INSERT INTO notes VALUES ('07:00', 'opened');
"""
SPEC = {"schemas": ["public"], "row_detail_limit": 1000}


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[PgServer, PgServer]]:
    if pg_bindir() is None:
        pytest.skip("PostgreSQL server binaries not installed")
    primary = start_server()
    primary.createdb("counting")
    with psycopg.connect(primary.dsn("counting"), autocommit=True) as c:
        c.execute(SCHEMA)
    standby = start_standby(primary)
    yield primary, standby
    standby.stop()
    primary.stop()


def _write(dsn: str, sql: str) -> None:
    # The throw-away servers run with synchronous_commit=off (speed); a counting
    # database commits durably, and only then does pg_current_wal_lsn() cover the
    # commit record. Under async commit it can lag the commit by up to
    # wal_writer_delay, and the check could compare before the standby has it.
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute("SET synchronous_commit = on")
        c.execute(sql)


def test_standby_is_read_only_and_streams_within_a_second(pair):
    primary, standby = pair
    _write(primary.dsn("counting"), "INSERT INTO results (station, candidate, votes) VALUES ('s-new', 'ana', 7)")
    deadline = time.monotonic() + 1.0
    while True:
        with psycopg.connect(standby.dsn("counting"), autocommit=True) as c:
            row = c.execute("SELECT votes FROM results WHERE station = 's-new'").fetchone()
        if row is not None or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert row == (7,)
    with psycopg.connect(standby.dsn("counting"), autocommit=True) as c:
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            c.execute("INSERT INTO notes VALUES ('x', 'y')")


def test_equal_after_writes_quiesce(pair):
    primary, standby = pair
    _write(primary.dsn("counting"), "UPDATE results SET votes = votes + 1 WHERE candidate = 'bruno'")
    report = check_replica(primary.dsn("counting"), standby.dsn("counting"), SPEC, wait_seconds=20)
    assert report.wal.equal, report.wal
    assert report.wal.replay_lag_bytes == 0
    assert report.entries == [], report.problems()
    assert report.ok and report.exit_code == 0
    # the module's tests share the pair and xdist may run another writer first:
    # the rows the check counted are the primary's rows now
    with psycopg.connect(primary.dsn("counting")) as c:
        rows = c.execute("SELECT (SELECT count(*) FROM results) + (SELECT count(*) FROM notes)").fetchone()
    assert rows is not None
    assert report.tables == 2 and report.rows == rows[0]


def test_cli_passes_on_the_standby_and_names_table_and_row_on_a_changed_copy(
        pair, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    primary, standby = pair
    profile = tmp_path / "profile.yml"
    profile.write_text("version: 1\nname: replica-test\npaths: []\npackages: {enabled: false}\n"
                       "services: {enabled: false}\naccounts: {enabled: false}\n"
                       "network: {enabled: false}\nkernel: {enabled: false}\n"
                       "database:\n  dsn_env: T_PRIMARY\n  schemas: [public]\n  row_detail_limit: 1000\n")
    monkeypatch.setenv("T_PRIMARY", primary.dsn("counting"))
    monkeypatch.setenv("T_STANDBY", standby.dsn("counting"))
    assert main(["replica-check", "-p", str(profile), "--standby-dsn-env", "T_STANDBY", "--wait", "20"]) == 0
    assert "MATCHES" in capsys.readouterr().out

    # a second standby, promoted (the real standby is never made writable), one row changed
    copy = start_standby(primary)
    try:
        promote(copy)
        deadline = time.monotonic() + 20
        while True:
            try:
                _write(copy.dsn("counting"), "UPDATE results SET votes = 999 WHERE id = 5")
                break
            except psycopg.errors.ReadOnlySqlTransaction:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        report = check_replica(primary.dsn("counting"), copy.dsn("counting"), SPEC, wait_seconds=1)
        assert not report.ok and report.exit_code & EXIT_CHANGED
        keys = {(e.section, e.key) for e in report.entries}
        assert ("db_tables", "public.results") in keys
        assert ("db_rows", "public.results[(5)]") in keys
        assert ("db_tables", "public.notes") not in keys
        monkeypatch.setenv("T_STANDBY", copy.dsn("counting"))
        code = main(["replica-check", "-p", str(profile), "--standby-dsn-env", "T_STANDBY", "--wait", "1"])
        out = capsys.readouterr().out
        assert code == EXIT_CHANGED
        assert "public.results[(5)]" in out and "not in recovery" in out and "DIFFERS" in out
    finally:
        copy.stop()


def test_unreachable_standby_is_one_line_exit_69(pair, tmp_path: Path, monkeypatch, capsys):
    primary, _standby = pair
    profile = tmp_path / "p.yml"
    profile.write_text("version: 1\nname: r\npaths: []\npackages: {enabled: false}\n"
                       "services: {enabled: false}\naccounts: {enabled: false}\n"
                       "network: {enabled: false}\nkernel: {enabled: false}\n"
                       "database:\n  dsn_env: T_PRIMARY\n")
    monkeypatch.setenv("T_PRIMARY", primary.dsn("counting"))
    monkeypatch.setenv("T_STANDBY", "host=127.0.0.1 port=1 dbname=counting user=x password=sekret connect_timeout=2")
    assert main(["replica-check", "-p", str(profile), "--standby-dsn-env", "T_STANDBY"]) == 69
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "sekret" not in err and "x@127.0.0.1:1/counting" in err


def test_freeze_zero_on_the_primary_leaves_the_standby_at_zero_and_the_check_proves_it(pair, tmp_path: Path):
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    from tests.integration.test_zero_support import RESULT_TABLES, make_zero_env

    primary, standby = pair
    dsn = primary.createdb("zero_replica")
    ze = make_zero_env(primary, dsn, tmp_path)
    zero = ze.zero("--confirm", "GE-2026")
    assert zero.returncode == 0, zero.stderr
    standby_dsn = make_conninfo(standby.dsn(), dbname=conninfo_to_dict(dsn)["dbname"])
    check = ze.freeze("replica-check", "--profile", str(ze.profile), "--standby-dsn-env", "T_STANDBY",
                      "--wait", "20", env=ze.env(T_STANDBY=standby_dsn))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "MATCHES" in check.stdout
    with psycopg.connect(standby_dsn) as c:
        for table in RESULT_TABLES:
            assert c.execute(f"SELECT count(*) FROM {table}").fetchone() == (0,), table
