"""PostgreSQL collector against a real server: catalog and ordered contents in
one read-only repeatable-read snapshot; row, column and grant changes are drift."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest

from freeze.collect import postgres
from freeze.drift import verify
from freeze.errors import UnavailableError
from freeze.manifest import Manifest
from freeze.profile import load_profile
from freeze.snapshot import take_snapshot

pytestmark = pytest.mark.postgres

SCHEMA_SQL = """
CREATE ROLE {role};
CREATE TABLE votes (station int, candidate text, n int NOT NULL DEFAULT 0,
                    PRIMARY KEY (station, candidate));
CREATE TABLE audit_log (at timestamptz, msg text, amount numeric, ratio float8);
CREATE FUNCTION total() RETURNS bigint LANGUAGE sql STABLE AS 'SELECT sum(n) FROM votes';
CREATE FUNCTION no_update() RETURNS trigger LANGUAGE plpgsql AS
  $$BEGIN RAISE EXCEPTION 'frozen'; END$$;
CREATE TRIGGER votes_frozen BEFORE DELETE ON votes FOR EACH ROW EXECUTE FUNCTION no_update();
GRANT SELECT ON votes TO {role};
INSERT INTO votes SELECT s, c, s * 10 FROM generate_series(1, 50) s,
                                          unnest(ARRAY['ana', 'bruno', 'carla']) c;
INSERT INTO audit_log VALUES ('2026-11-22 07:00+02', 'opened', 1.50, 0.1),
                             ('2026-11-22 07:01+02', 'opened', 1.50, 0.1);
"""

OFF = ("paths: []\npackages: {enabled: false}\nservices: {enabled: false}\n"
       "accounts: {enabled: false}\nnetwork: {enabled: false}\nkernel: {enabled: false}\n")


@pytest.fixture
def db(pg_db: str, tmp_path: Path, monkeypatch):
    from psycopg.conninfo import conninfo_to_dict

    role = "r_" + conninfo_to_dict(pg_db)["dbname"][-40:]  # roles are cluster-wide
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute(SCHEMA_SQL.replace("{role}", role))
    monkeypatch.setenv("FREEZE_TEST_DSN", pg_db)
    p = tmp_path / "profile.yml"
    p.write_text(OFF + "database:\n  dsn_env: FREEZE_TEST_DSN\n  schemas: [public]\n"
                 "  row_detail_limit: 1000\n")
    profile = load_profile(p)
    m = Manifest.from_bytes(take_snapshot(profile).to_bytes())
    return pg_db, profile, m, role


def _sql(dsn: str, *stmts: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        for s in stmts:
            c.execute(s)


def test_catalog_and_contents_are_recorded(db):
    dsn, _profile, m, role = db
    s = m.sections
    assert s["db_tables"]["public.votes"]["rows"] == 150
    assert s["db_tables"]["public.votes"]["order"] == "primary key (station, candidate)"
    assert s["db_tables"]["public.audit_log"]["order"].startswith("row text")
    assert "public.votes[(7,bruno)]" in s["db_rows"]
    assert s["db_columns"]["public.votes.n"]["not_null"] is True
    assert s["db_constraints"]["public.votes.votes_pkey"]["type"] == "p"
    assert "public.total()" in s["db_functions"]
    assert s["db_triggers"]["public.votes.votes_frozen"]["enabled"] == "O"
    assert f"table:public.votes:{role}:SELECT" in s["db_grants"]
    assert s["db_roles"][role]["login"] is False
    assert s["db_cluster"][next(iter(s["db_cluster"]))]["system_identifier"].isdigit()
    assert ":" in m.facts["db_snapshot"]  # txid_current_snapshot()


def test_untouched_database_verifies_clean_three_times(db):
    dsn, profile, m, role = db
    for _ in range(3):
        report = verify(m, profile)
        assert report.is_clean, report.to_dict()


def test_changed_row_is_named(db):
    dsn, profile, m, role = db
    _sql(dsn, "UPDATE votes SET n = n + 1 WHERE station = 7 AND candidate = 'bruno'")
    report = verify(m, profile)
    kinds = {(e.category, e.kind, e.key) for e in report.entries}
    assert kinds == {("changed", "db_row", "public.votes[(7,bruno)]"),
                     ("changed", "db_table_content", "public.votes")}
    assert report.exit_code == 4


def test_change_in_a_table_without_primary_key(db):
    dsn, profile, m, role = db
    _sql(dsn, "UPDATE audit_log SET msg = 'edited' WHERE msg = 'opened' AND at < '2026-11-22 05:00:30Z'")
    report = verify(m, profile)
    entry = report.find("changed", "db_table_content", "public.audit_log")
    assert entry is not None and [c.attribute for c in entry.changes] == ["sha256"]


def test_added_row_and_column_and_changed_grant(db):
    dsn, profile, m, role = db
    _sql(dsn, "INSERT INTO votes VALUES (51, 'ana', 999)",
         "ALTER TABLE audit_log ADD COLUMN operator text",
         f"GRANT UPDATE ON votes TO {role}",
         f"REVOKE SELECT ON votes FROM {role}")
    report = verify(m, profile)
    assert report.find("added", "db_row", "public.votes[(51,ana)]")
    assert report.find("added", "db_column", "public.audit_log.operator")
    assert report.find("added", "grant", f"table:public.votes:{role}:UPDATE")
    assert report.find("removed", "grant", f"table:public.votes:{role}:SELECT")
    assert report.exit_code == 1 | 2 | 4  # table contents changed too


def test_function_body_and_trigger_changes(db):
    dsn, profile, m, role = db
    _sql(dsn, "CREATE OR REPLACE FUNCTION total() RETURNS bigint LANGUAGE sql STABLE AS "
              "'SELECT sum(n) + 1 FROM votes'",
         "ALTER TABLE votes DISABLE TRIGGER votes_frozen")
    report = verify(m, profile)
    fn = {c.attribute for c in report.find("changed", "db_function", "public.total()").changes}
    assert {"source_sha256", "definition_sha256"} <= fn
    trig = report.find("changed", "db_trigger", "public.votes.votes_frozen")
    assert trig is not None


def test_session_settings_do_not_change_the_digest(db, monkeypatch):
    dsn, profile, m, role = db
    monkeypatch.setenv("PGTZ", "America/La_Paz")
    monkeypatch.setenv("PGDATESTYLE", "SQL, DMY")
    report = verify(m, profile)
    assert report.is_clean, report.to_dict()


def test_collect_is_read_only_and_streams(pg_db):
    _sql(pg_db, "CREATE TABLE big (id int PRIMARY KEY, pad text)",
         "INSERT INTO big SELECT g, repeat('x', 100) FROM generate_series(1, 20000) g")
    out = postgres.collect(pg_db, {"schemas": ["public"], "row_detail_limit": 100})
    assert out["sections"]["db_tables"]["public.big"]["rows"] == 20000
    assert not any(k.startswith("public.big[") for k in out["sections"]["db_rows"])


def test_collect_without_schemas_reads_public_tables_too(pg_db):
    """`schemas` defaults to public for the catalog; the table contents must use
    the same default (they read spec["schemas"] and raised KeyError)."""
    _sql(pg_db, "CREATE TABLE votes (id int PRIMARY KEY)", "INSERT INTO votes VALUES (1)")
    out = postgres.collect(pg_db, {})
    assert out["sections"]["db_tables"]["public.votes"]["rows"] == 1
    assert "public" in out["sections"]["db_schemas"]


def test_wrong_password_is_unavailable_without_leaking_it(pg_server, pg_db):
    dsn = pg_db.replace("password=admin-test-only", "password=not-the-password")
    with pytest.raises(UnavailableError) as exc:
        postgres.collect(dsn, {"schemas": ["public"]})
    assert "authentication failed" in str(exc.value)
    assert "not-the-password" not in str(exc.value)


def test_named_table_that_does_not_exist_is_a_config_error_at_snapshot(pg_db):
    """A typo in database.tables must not leave the real table silently unfrozen."""
    from freeze.errors import EXIT_CONFIG, ConfigMismatchError

    _sql(pg_db, "CREATE TABLE votes (id int PRIMARY KEY)")
    spec = {"schemas": ["public"], "tables": ["public.votes", "public.vtoes"]}
    with pytest.raises(ConfigMismatchError) as exc:
        postgres.collect(pg_db, spec)
    assert exc.value.exit_code == EXIT_CONFIG
    assert "public.vtoes" in str(exc.value) and "public.votes," not in str(exc.value)
    assert "\n" not in str(exc.value)


def test_named_table_dropped_after_the_snapshot_is_drift_not_an_error(db):
    dsn, profile, _m, _role = db
    import dataclasses

    named = dataclasses.replace(profile, database=dataclasses.replace(
        profile.database, tables=("public.votes", "public.audit_log")))
    m = Manifest.from_bytes(take_snapshot(named).to_bytes())
    _sql(dsn, "DROP TABLE audit_log")
    report = verify(m, named)
    assert report.find("removed", "db_table", "public.audit_log")
    assert report.exit_code & 2


@pytest.mark.parametrize("entry, named", [
    ("  schemas: [countng]\n", "database.schemas names countng, not a schema"),
    ("  schemas: [public]\n  exclude_tables: [public.vtoes]\n",
     "database.exclude_tables names public.vtoes, not a table in schemas public (it excludes nothing)"),
])
def test_profile_naming_a_schema_or_excluded_table_that_does_not_exist_is_exit_78(
        pg_db, tmp_path, monkeypatch, entry, named):
    """Issue 16, 2: `schemas: [countng]` snapshotted 0 tables with exit 0."""
    import os
    import subprocess
    import sys

    from freeze.errors import EXIT_CONFIG

    _sql(pg_db, "CREATE TABLE votes (id int PRIMARY KEY)")
    p = tmp_path / "profile.yml"
    p.write_text(OFF + "database:\n  dsn_env: FREEZE_TEST_DSN\n" + entry)
    proc = subprocess.run([sys.executable, "-m", "freeze", "snapshot", "-p", str(p), "-o", str(tmp_path / "m.json")],
                          capture_output=True, text=True, timeout=300,
                          env={**os.environ, "FREEZE_TEST_DSN": pg_db,
                               "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    assert proc.returncode == EXIT_CONFIG, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0] and "Traceback" not in proc.stderr
    assert not (tmp_path / "m.json").exists()


def test_a_schema_dropped_after_the_snapshot_is_drift_not_an_error(pg_db, tmp_path, monkeypatch):
    _sql(pg_db, "CREATE SCHEMA counting", "CREATE TABLE counting.votes (id int PRIMARY KEY)")
    monkeypatch.setenv("FREEZE_TEST_DSN", pg_db)
    p = tmp_path / "profile.yml"
    p.write_text(OFF + "database:\n  dsn_env: FREEZE_TEST_DSN\n  schemas: [public, counting]\n")
    profile = load_profile(p)
    m = Manifest.from_bytes(take_snapshot(profile).to_bytes())
    _sql(pg_db, "DROP SCHEMA counting CASCADE")
    report = verify(m, profile)
    assert report.find("removed", "db_table", "counting.votes")
    assert report.exit_code & 2
