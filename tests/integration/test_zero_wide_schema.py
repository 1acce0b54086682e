"""`freeze zero` on a second counting schema, unlike the reference one: results
stored wide (one column per candidate), running totals kept in a counter table by
a trigger, totals shown through a materialized view, and a kept audit log with its
own sequence. Zeroed through its profile alone; afterwards counters, view and
report read zero and a new vote is counted correctly. The crash tests run on it too.
"""

from __future__ import annotations

import copy
import signal
from pathlib import Path
from typing import Any

import psycopg
import pytest
import yaml

from freeze.zero.faults import CRASH_ENV, STEPS
from tests.integration.test_zero_support import ZeroEnv, zero_runs

pytestmark = pytest.mark.postgres

ELECTION = "MUNI-2027"

SCHEMA_SQL = """
CREATE SCHEMA wide;
CREATE TABLE wide.election (code text PRIMARY KEY, name text NOT NULL);
CREATE TABLE wide.stations (id int PRIMARY KEY, name text NOT NULL);
CREATE TABLE wide.results (
    id bigserial PRIMARY KEY,
    station_id int NOT NULL UNIQUE REFERENCES wide.stations (id),
    ana int NOT NULL DEFAULT 0, bruno int NOT NULL DEFAULT 0, blank int NOT NULL DEFAULT 0);
CREATE TABLE wide.counters (candidate text PRIMARY KEY, votes bigint NOT NULL DEFAULT 0,
                            sheets int NOT NULL DEFAULT 0);
CREATE TABLE wide.audit_log (id bigserial PRIMARY KEY, at timestamptz NOT NULL DEFAULT now(),
                             msg text NOT NULL);
CREATE FUNCTION wide.count_sheet() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE wide.counters SET votes = votes + CASE candidate WHEN 'ana' THEN NEW.ana
                                                          WHEN 'bruno' THEN NEW.bruno
                                                          ELSE NEW.blank END,
                           sheets = sheets + 1;
  INSERT INTO wide.audit_log (msg) VALUES ('sheet of station ' || NEW.station_id);
  RETURN NEW;
END$$;
CREATE TRIGGER results_count AFTER INSERT ON wide.results
  FOR EACH ROW EXECUTE FUNCTION wide.count_sheet();
CREATE MATERIALIZED VIEW wide.totals AS
  SELECT 'ana' AS candidate, COALESCE(sum(ana), 0) AS votes FROM wide.results
  UNION ALL SELECT 'bruno', COALESCE(sum(bruno), 0) FROM wide.results
  UNION ALL SELECT 'blank', COALESCE(sum(blank), 0) FROM wide.results;
INSERT INTO wide.election VALUES ('MUNI-2027', 'Municipal election 2027');
INSERT INTO wide.stations SELECT g, 'station ' || g FROM generate_series(1, 6) g;
INSERT INTO wide.counters (candidate) VALUES ('ana'), ('bruno'), ('blank');
INSERT INTO wide.audit_log (msg) VALUES ('count opened');
"""

DRILL_SQL = """
INSERT INTO wide.results (station_id, ana, bruno, blank)
  SELECT g, 10 * g, 5 + g, 1 FROM generate_series(1, 5) g;
REFRESH MATERIALIZED VIEW wide.totals;
"""

PROFILE: dict[str, Any] = {
    "version": 1, "name": "wide-counting", "paths": [],
    **{part: {"enabled": False} for part in ("packages", "services", "accounts", "network",
                                             "kernel")},
    "database": {"dsn_env": "FREEZE_COUNTING_DSN", "schemas": ["wide"],
                 "exclude_tables": ["wide.results", "wide.counters", "wide.audit_log"]},
    "zero": {
        "election_id": ELECTION,
        "clear": [{"table": "wide.results", "method": "delete"}],
        "sequences": ["wide.results_id_seq"],
        "reset_columns": [{"table": "wide.counters", "columns": ["votes", "sheets"]}],
        "refresh": ["wide.totals"],
        "lock": ["wide.stations", "wide.audit_log", "wide.election"],
        "rehearsal": ["INSERT INTO wide.results (station_id, ana, bruno, blank) "
                      "VALUES (1, 1, 2, 3)"],
        "report": {
            "election_query": "SELECT name FROM wide.election WHERE code = %(election_id)s",
            "sections": [
                {"title": "Running totals", "query": "SELECT candidate, votes, sheets "
                 "FROM wide.counters ORDER BY candidate", "labels": ["candidate"],
                 "totals": ["votes", "sheets"]},
                {"title": "Published totals", "query": "SELECT candidate, votes "
                 "FROM wide.totals ORDER BY candidate", "labels": ["candidate"],
                 "totals": ["votes"]},
                {"title": "Sheets per station", "query": "SELECT s.name AS station, "
                 "count(r.id) AS sheets, COALESCE(sum(r.ana + r.bruno + r.blank), 0) AS votes "
                 "FROM wide.stations s LEFT JOIN wide.results r ON r.station_id = s.id "
                 "GROUP BY s.id, s.name ORDER BY s.id", "labels": ["station"],
                 "totals": ["sheets", "votes"]},
            ],
        },
    },
}


def _setup(pg_server, dsn: str, tmp: Path, **zero_overrides: Any) -> ZeroEnv:
    with psycopg.connect(dsn, autocommit=True) as c:
        c.execute(SCHEMA_SQL)
        c.execute(DRILL_SQL)
    ze = ZeroEnv(dsn, tmp, tmp / "profile.yml", tmp / "manifest.json", tmp / "evidence",
                 Path(pg_server.bindir))
    doc = yaml.safe_load(yaml.safe_dump(PROFILE))
    doc["zero"]["backup"] = {"pg_bindir": str(ze.bindir)}
    doc["zero"].update(zero_overrides)
    ze.profile.write_text(yaml.safe_dump(doc, sort_keys=False))
    ze.snapshot()
    return ze


def _zero(ze: ZeroEnv, **env: str):
    return ze.freeze("zero", "--profile", str(ze.profile), "--manifest", str(ze.manifest),
                     "--evidence-dir", str(ze.evidence), "--confirm", ELECTION, "--no-render",
                     env=ze.env(**env))


def _state(dsn: str) -> dict[str, Any]:
    with psycopg.connect(dsn) as c:
        return {
            "results": c.execute("SELECT count(*) FROM wide.results").fetchone()[0],
            "counters": c.execute("SELECT candidate, votes, sheets FROM wide.counters "
                                  "ORDER BY 1").fetchall(),
            "totals": c.execute("SELECT candidate, votes FROM wide.totals ORDER BY 1").fetchall(),
            "audit": c.execute("SELECT id, msg FROM wide.audit_log ORDER BY id").fetchall(),
            "results_seq": c.execute("SELECT last_value, is_called FROM wide.results_id_seq")
                            .fetchone(),
            "audit_seq": c.execute("SELECT last_value, is_called FROM wide.audit_log_id_seq")
                          .fetchone(),
            "stations": c.execute("SELECT count(*) FROM wide.stations").fetchone()[0],
        }


def _is_zeroed(state: dict[str, Any], before: dict[str, Any]) -> bool:
    return (state["results"] == 0
            and all(v == 0 and s == 0 for _, v, s in state["counters"])
            and len(state["counters"]) == 3
            and all(v == 0 for _, v in state["totals"])
            and tuple(state["results_seq"]) == (1, False)
            and state["audit"] == before["audit"] and state["stations"] == before["stations"])


def test_wide_schema_is_zeroed_through_its_profile_and_counts_again(pg_server, pg_db, tmp_path):
    ze = _setup(pg_server, pg_db, tmp_path)
    before = _state(pg_db)
    assert before["counters"] != [] and any(v for _, v, _ in before["counters"])
    proc = _zero(ze)
    assert proc.returncode == 0, proc.stderr
    after = _state(pg_db)
    assert _is_zeroed(after, before), after
    [run] = zero_runs(pg_db)
    record = run["record"]
    assert record["reset_columns"] == [{"table": "wide.counters", "columns": ["votes", "sheets"],
                                        "rows_not_zero_before": 3}]
    assert record["refreshed"] == ["wide.totals"]
    assert record["rehearsal"]["result"] == "counted, shown in every report section, rolled back"
    assert {"sequence": "wide.audit_log_id_seq", "column": "wide.audit_log.id",
            "next": before["audit_seq"][0] + 1, "highest_kept": len(before["audit"])} \
        in record["sequence_check"]
    assert record["sequence_check"][0]["column"] == "wide.results.id"

    # the application counts a new sheet: trigger, counters, audit log, view
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("INSERT INTO wide.results (station_id, ana, bruno, blank) VALUES (3, 7, 4, 2)")
        c.execute("REFRESH MATERIALIZED VIEW wide.totals")
    counted = _state(pg_db)
    assert counted["counters"] == [("ana", 7, 1), ("blank", 2, 1), ("bruno", 4, 1)]
    assert counted["totals"] == [("ana", 7), ("blank", 2), ("bruno", 4)]
    assert counted["results_seq"] == (1, True)  # the rehearsal's nextval was taken back
    assert len(counted["audit"]) == len(before["audit"]) + 1


def test_restarting_a_kept_audit_logs_sequence_is_refused(pg_server, pg_db, tmp_path):
    """Today the zero succeeds and the next vote fails on the audit log's primary key."""
    ze = _setup(pg_server, pg_db, tmp_path,
                sequences=["wide.results_id_seq", "wide.audit_log_id_seq"])
    before = _state(pg_db)
    proc = _zero(ze)
    assert proc.returncode == 9, (proc.returncode, proc.stdout, proc.stderr)
    assert "wide.audit_log_id_seq" in proc.stderr and "wide.audit_log.id" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _state(pg_db) == before


def test_a_rehearsal_that_cannot_count_is_refused(pg_server, pg_db, tmp_path):
    ze = _setup(pg_server, pg_db, tmp_path, rehearsal=[
        "INSERT INTO wide.results (station_id, ana) VALUES (99, 1)"])  # no such station
    before = _state(pg_db)
    proc = _zero(ze)
    assert proc.returncode == 9, proc.stderr
    assert "zero.rehearsal[0]" in proc.stderr and "Traceback" not in proc.stderr
    assert _state(pg_db) == before


def test_without_counter_reset_and_refresh_the_report_is_not_zero(pg_server, pg_db, tmp_path):
    """The profile's report reads the counters and the view: clearing the results
    alone leaves them non-zero, and the zero rolls back."""
    ze = _setup(pg_server, pg_db, tmp_path, reset_columns=[], refresh=[])
    before = _state(pg_db)
    proc = _zero(ze)
    assert proc.returncode == 9 and "not zero" in proc.stderr, proc.stderr
    assert _state(pg_db) == before


@pytest.mark.parametrize("bad, message", [
    ({"reset_columns": [{"table": "wide.counters", "columns": ["votes", "candidate"]}]},
     "wide.counters.candidate is not a number"),
    ({"reset_columns": [{"table": "wide.counters", "columns": ["vote"]}]}, "no column 'vote'"),
    ({"refresh": ["wide.counters"]}, "zero.refresh[0]: wide.counters is not a materialized view"),
])
def test_profile_errors_name_the_key(pg_server, pg_db, tmp_path, bad, message):
    ze = _setup(pg_server, pg_db, tmp_path, **bad)
    proc = _zero(ze)
    assert proc.returncode == 78 and message in proc.stderr, proc.stderr


@pytest.mark.parametrize("step", STEPS)
def test_crash_at_step_on_the_wide_schema(pg_server, pg_db, tmp_path, step):
    ze = _setup(pg_server, pg_db, tmp_path)
    before = _state(pg_db)
    proc = _zero(ze, **{CRASH_ENV: step})
    assert proc.returncode == -signal.SIGKILL, (step, proc.returncode, proc.stderr)
    state = _state(pg_db)
    if STEPS.index(step) < STEPS.index("committed"):
        assert state == before, f"crash at {step} changed the database"
        assert zero_runs(pg_db) == []
    else:
        assert _is_zeroed(state, before), f"crash at {step} left a partial zero"
    proc = _zero(ze)
    assert proc.returncode == 0, (step, proc.stderr)
    assert _is_zeroed(_state(pg_db), before)
    runs = zero_runs(pg_db)
    assert len(runs) == 1 and runs[0]["exported_at"] is not None


def test_rehearsal_sets_back_a_sequence_in_a_schema_whose_name_has_a_dot(pg_server, pg_db, tmp_path):
    """The rehearsal sets back every sequence it advanced. It split the sequence's
    "schema.name" key at the first dot, so a sequence in schema "tally.2027" was
    set back as "tally"."2027.sheet_no" (no such schema) and the zero failed."""
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute('CREATE SCHEMA "tally.2027"; CREATE SEQUENCE "tally.2027".sheet_no;'
                  "SELECT setval('\"tally.2027\".sheet_no', 40);")
    ze = _setup(pg_server, pg_db, tmp_path)
    with psycopg.connect(pg_db, autocommit=True) as c:  # needs schema wide: then snapshot again
        c.execute("CREATE FUNCTION wide.number_sheet() RETURNS trigger LANGUAGE plpgsql AS $$"
                  " BEGIN PERFORM nextval('\"tally.2027\".sheet_no'); RETURN NEW; END$$;"
                  "CREATE TRIGGER results_number AFTER INSERT ON wide.results"
                  " FOR EACH ROW EXECUTE FUNCTION wide.number_sheet()")
    ze.snapshot()
    proc = _zero(ze)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(pg_db) as c:
        seq = c.execute('SELECT last_value, is_called FROM "tally.2027".sheet_no').fetchone()
    assert seq == (40, True)


def test_clearing_a_trigger_maintained_counter_table_is_refused(pg_server, pg_db, tmp_path):
    """Counters cleared instead of reset, with a report that lists every candidate
    (outer join, so it still has its rows and reads 0): the rehearsal insert succeeds,
    but the trigger's UPDATE finds no counter row, so every later vote would be lost
    silently. The rehearsal vote must show in every report section."""
    report = copy.deepcopy(PROFILE["zero"]["report"])
    report["sections"][0]["query"] = (
        "SELECT c.candidate, COALESCE(k.votes, 0) AS votes, COALESCE(k.sheets, 0) AS sheets "
        "FROM (VALUES ('ana'), ('blank'), ('bruno')) AS c (candidate) "
        "LEFT JOIN wide.counters k USING (candidate) ORDER BY 1")
    ze = _setup(pg_server, pg_db, tmp_path, reset_columns=[], report=report,
                clear=[{"table": "wide.results", "method": "delete"},
                       {"table": "wide.counters", "method": "delete"}])
    before = _state(pg_db)
    proc = _zero(ze)
    assert proc.returncode == 9, (proc.returncode, proc.stdout, proc.stderr)
    assert ("zero.rehearsal: the rehearsal vote does not show in report section "
            "'Running totals'") in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _state(pg_db) == before


def test_a_kept_tables_sequence_below_its_rows_is_refused_without_a_rehearsal(pg_server, pg_db, tmp_path):
    """The zero does not restart the audit log's sequence, but someone set it back:
    after the zero the first vote fails on the audit log's primary key. Checked for
    every kept table's sequences, rehearsal or not."""
    ze = _setup(pg_server, pg_db, tmp_path, rehearsal=[])
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("SELECT setval('wide.audit_log_id_seq', 2)")
    before = _state(pg_db)
    proc = _zero(ze)
    assert proc.returncode == 9, (proc.returncode, proc.stdout, proc.stderr)
    assert "sequence wide.audit_log_id_seq would next hand out 3" in proc.stderr, proc.stderr
    assert "wide.audit_log.id already holds values up to" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _state(pg_db) == before


def test_a_kept_tables_sequence_set_back_with_is_called_false_is_refused(pg_server, pg_db, tmp_path):
    """setval(seq, n, false) sets the next value to n exactly like setval(seq, n - 1):
    pg_sequences.last_value then reads NULL, which the check took for a sequence that
    never handed out a value, so it was not judged and the first vote after the zero
    failed on the audit log's primary key."""
    ze = _setup(pg_server, pg_db, tmp_path, rehearsal=[])
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("SELECT setval('wide.audit_log_id_seq', 2, false)")
    before = _state(pg_db)
    proc = _zero(ze)
    assert proc.returncode == 9, (proc.returncode, proc.stdout, proc.stderr)
    assert "sequence wide.audit_log_id_seq would next hand out 2" in proc.stderr, proc.stderr
    assert "wide.audit_log.id already holds values up to" in proc.stderr
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert _state(pg_db) == before


def test_a_kept_tables_sequence_set_with_is_called_false_above_its_rows_is_accepted(
        pg_server, pg_db, tmp_path):
    """The same setval(..., false) ABOVE the kept rows is fine: the next value is n."""
    ze = _setup(pg_server, pg_db, tmp_path, rehearsal=[])
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("SELECT setval('wide.audit_log_id_seq', 500, false)")
    proc = _zero(ze)
    assert proc.returncode == 0, proc.stderr
    with psycopg.connect(pg_db) as c:
        assert c.execute("SELECT nextval('wide.audit_log_id_seq')").fetchone() == (500,)


def test_a_kept_sequence_set_back_to_its_start_is_caught_by_the_rehearsal(pg_server, pg_db, tmp_path):
    """setval(seq, START, false) cannot be told from a sequence never called (not
    judged by the sequence check); the rehearsal vote's audit-log insert then fails
    on the primary key and the zero is refused."""
    ze = _setup(pg_server, pg_db, tmp_path)
    with psycopg.connect(pg_db, autocommit=True) as c:
        c.execute("SELECT setval('wide.audit_log_id_seq', 1, false)")
    before = _state(pg_db)
    proc = _zero(ze)
    assert proc.returncode != 0, (proc.returncode, proc.stdout, proc.stderr)
    assert "zero.rehearsal" in proc.stderr and "audit_log_pkey" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
    assert _state(pg_db) == before
