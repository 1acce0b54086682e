"""freeze zero end to end: real CLI in a subprocess, real PostgreSQL, real
pg_dump/pg_restore, a manifest made by the real `freeze snapshot`."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import psycopg
import pytest

from freeze.errors import EXIT_CONFIG, EXIT_DATAERR, EXIT_REFUSED, EXIT_UNAVAILABLE
from tests.integration.test_zero_support import (
    REPO,
    check_exported,
    db_state,
    is_fully_zeroed,
    make_zero_env,
    zero_runs,
)

pytestmark = pytest.mark.postgres


@pytest.fixture
def ze(pg_server, pg_db, tmp_path):
    return make_zero_env(pg_server, pg_db, tmp_path)


def _one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_zero_drill_data_clears_results_and_writes_evidence(ze):
    before = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["already_zero"] is False
    assert {c["table"]: c["rows_before"] for c in out["cleared"]}["counting.tally_votes"] == \
        before["counting.tally_votes"][0] > 0

    after = db_state(ze.dsn)
    assert is_fully_zeroed(after, before)
    [run] = zero_runs(ze.dsn)
    assert run["exported_at"] is not None
    evdir = check_exported(run)
    rec = run["record"]
    assert rec["drift"]["clean"] is True and rec["drift"]["allowed_reason"] is None
    from freeze.manifest import Manifest

    assert rec["drift"]["manifest"]["sha256"] == Manifest.from_bytes(ze.manifest.read_bytes()).digest()
    assert rec["database"]["system_identifier"]
    assert rec["tool"]["version"]
    assert rec["confirmation"] == "--confirm"
    assert {c["table"] for c in rec["cleared"]} >= {"counting.tally_votes", "counting.tally_sheets"}
    assert Path(rec["backup"]["path"]).with_name(Path(rec["backup"]["path"]).name + ".sha256").exists()

    # the report lists every candidate, each with 0 votes, straight from base tables
    report = json.loads((evdir / "zero-report.json").read_text())
    assert report["all_zero"] is True
    with psycopg.connect(ze.dsn) as conn:
        n_candidates = conn.execute("SELECT count(*) FROM counting.candidates").fetchone()[0]
    votes = report["sections"][0]
    assert len(votes["rows"]) == n_candidates
    assert all(r["totals"] == [0] for r in votes["rows"])
    assert rec["report"]["sha256"] == run["report_sha256"]
    # no secret in any evidence file
    for f in evdir.iterdir():
        assert b"admin-test-only" not in f.read_bytes(), f

    # the backup restores the drill data exactly (independently of the tool's own check)
    scratch = "t_zero_restore_check"
    with psycopg.connect(ze.dsn, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {scratch}")
        conn.execute(f"CREATE DATABASE {scratch}")
    env = ze.env()
    env.update(PGHOST="127.0.0.1", PGPORT=ze.dsn.split("port=")[1].split()[0],
               PGUSER="freeze_admin", PGPASSWORD="admin-test-only")
    subprocess.run([str(ze.bindir / "pg_restore"), "--no-owner", "-d", scratch,
                    rec["backup"]["path"]], check=True, env=env, capture_output=True)
    restored = db_state(ze.dsn.replace(f"dbname={ze.dsn.split('dbname=')[1].split()[0]}",
                                       f"dbname={scratch}"))
    assert restored == before


def test_second_zero_on_zero_database_succeeds_and_says_so(ze):
    assert ze.zero("--confirm", "GE-2026").returncode == 0
    zeroed = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == 0, proc.stderr
    assert "already zero" in proc.stdout
    assert db_state(ze.dsn) == zeroed
    runs = zero_runs(ze.dsn)
    assert [r["record"]["already_zero"] for r in runs] == [False, True]
    for r in runs:
        check_exported(r)


def test_dry_run_changes_nothing_and_shows_the_plan(ze):
    before = db_state(ze.dsn)
    proc = ze.zero("--dry-run", "--json")
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert db_state(ze.dsn) == before
    assert zero_runs(ze.dsn) == []
    assert not ze.evidence.exists() or not any(ze.evidence.rglob("*.dump"))
    rows = {t["table"]: t["rows"] for t in plan["clear"]}
    assert rows["counting.tally_votes"] == before["counting.tally_votes"][0]
    assert plan["already_zero"] is False and plan["drift"]["clean"] is True
    assert plan["report_preview"]["all_zero"] is False


def test_refuses_on_drift_unless_allowed_with_a_reason(ze):
    before = db_state(ze.dsn)
    with psycopg.connect(ze.dsn) as conn:  # a candidate renamed after the manifest was signed
        conn.execute("UPDATE counting.candidates SET name = 'Intruder' WHERE id = 1")
    tampered = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == EXIT_REFUSED
    assert "drifted" in _one_line(proc.stderr)
    assert db_state(ze.dsn) == tampered
    assert not any(ze.evidence.rglob("*.dump")) if ze.evidence.exists() else True

    proc = ze.zero("--confirm", "GE-2026", "--no-render", "--allow-drift",
                   "candidate name corrected by ruling 42")
    assert proc.returncode == 0, proc.stderr
    [run] = zero_runs(ze.dsn)
    assert run["record"]["drift"]["clean"] is False
    assert run["record"]["drift"]["allowed_reason"] == "candidate name corrected by ruling 42"
    assert run["record"]["drift"]["report"]["entries"]
    report = json.loads((Path(run["exported_to"]) / "zero-report.json").read_text())
    assert "ruling 42" in report["system"]["drift"]
    assert is_fully_zeroed(db_state(ze.dsn), tampered) and before != tampered


def _wrapper_bindir(ze, tmp_path: Path, pg_dump_script: str) -> Path:
    """A pg_bindir whose pg_dump misbehaves; pg_restore is the real one."""
    d = tmp_path / "badbin"
    d.mkdir()
    (d / "pg_restore").symlink_to(ze.bindir / "pg_restore")
    script = d / "pg_dump"
    script.write_text("#!/bin/sh\n" + pg_dump_script.replace("REAL", str(ze.bindir / "pg_dump")))
    script.chmod(0o755)
    return d


def _set_bindir(ze, bindir: Path) -> None:
    ze.write_profile(backup={"pg_bindir": str(bindir)})


def test_refuses_when_the_backup_does_not_restore(ze, tmp_path):
    # a dump truncated to half its size (disk full, cut copy...) must never count as a backup
    bindir = _wrapper_bindir(ze, tmp_path, """
REAL "$@" || exit $?
for a in "$@"; do case "$a" in --file=*) f="${a#--file=}";; esac; done
size=$(stat -c %s "$f"); truncate -s $((size / 2)) "$f"
""")
    _set_bindir(ze, bindir)
    before = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == EXIT_REFUSED, proc.stderr
    line = _one_line(proc.stderr)
    assert "does not restore" in line and "nothing was changed" in line
    assert db_state(ze.dsn) == before
    assert zero_runs(ze.dsn) == []
    kept = list((ze.evidence / "backups").glob("*.dump.unverified"))
    assert len(kept) == 1 and not list((ze.evidence / "backups").glob("*.dump"))
    with psycopg.connect(ze.dsn) as conn:  # scratch database dropped
        assert conn.execute("SELECT count(*) FROM pg_database WHERE datname LIKE "
                            "'freeze_verify_%'").fetchone()[0] == 0


def test_refuses_when_the_restored_backup_differs(ze, tmp_path):
    # restores fine, but without the votes: the table digests catch it
    bindir = _wrapper_bindir(ze, tmp_path,
                             'exec REAL --exclude-table-data=counting.tally_votes "$@"\n')
    _set_bindir(ze, bindir)
    before = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == EXIT_REFUSED, proc.stderr
    assert "counting.tally_votes" in _one_line(proc.stderr)
    assert db_state(ze.dsn) == before


def test_pg_dump_never_sees_the_password_on_its_command_line(ze, tmp_path):
    log = tmp_path / "argv.log"
    bindir = _wrapper_bindir(ze, tmp_path, f"""
printf '%s\\n' "$@" > {log}
env | grep -c '^PGPASSWORD=' >> {log}
cat "$PGPASSFILE" >/dev/null && stat -c %a "$PGPASSFILE" >> {log}
exec REAL "$@"
""")
    _set_bindir(ze, bindir)
    proc = ze.zero("--confirm", "GE-2026", "--no-render")
    assert proc.returncode == 0, proc.stderr
    lines = log.read_text().splitlines()
    assert "admin-test-only" not in log.read_text()
    assert lines[-2:] == ["0", "600"]  # no PGPASSWORD; a 0600 passfile instead
    assert not any(a.startswith(("--password", "-W")) or "password=" in a for a in lines[:-2])


def test_wrong_dsn_is_one_line_exit_69_without_the_password(ze):
    bad = ze.dsn.replace("password=admin-test-only", "password=S3cret-Wrong")
    proc = ze.zero("--confirm", "GE-2026", env=ze.env(FREEZE_COUNTING_DSN=bad))
    assert proc.returncode == EXIT_UNAVAILABLE
    line = _one_line(proc.stderr)
    assert "S3cret-Wrong" not in proc.stderr + proc.stdout
    assert "password authentication failed" in line


def test_profile_naming_a_missing_table_is_one_line_before_anything(ze):
    before = db_state(ze.dsn)

    def typo(doc):
        doc["zero"]["clear"][0]["table"] = "counting.tally_votez"

    ze.write_profile(typo)
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == EXIT_CONFIG
    assert "counting.tally_votez does not exist" in _one_line(proc.stderr)
    assert db_state(ze.dsn) == before
    assert not ze.evidence.exists()


def test_profile_leaving_out_a_referencing_table_is_refused(ze):
    def partial(doc):
        doc["zero"]["clear"] = [c for c in doc["zero"]["clear"]
                                if c["table"] != "counting.transmissions"]

    ze.write_profile(partial)
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == EXIT_CONFIG
    assert "counting.transmissions references cleared table" in _one_line(proc.stderr)


def test_malformed_zero_section_is_a_data_error(ze):
    ze.write_profile(lambda d: d["zero"]["clear"].append({"table": "counting.audit_log",
                                                          "method": "drop"}))
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == EXIT_DATAERR
    assert "zero.clear[4].method" in _one_line(proc.stderr)


def test_delete_method_clears_children_first(ze):
    def deletes(doc):
        for c in doc["zero"]["clear"]:
            c["method"] = "delete"

    ze.write_profile(deletes)
    before = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026", "--json", "--no-render")
    assert proc.returncode == 0, proc.stderr
    order = [c["table"] for c in json.loads(proc.stdout)["cleared"]]
    assert order.index("counting.tally_votes") < order.index("counting.tally_sheets")
    assert is_fully_zeroed(db_state(ze.dsn), before)


def test_nonzero_report_rolls_back_and_keeps_the_backup(ze):
    # a total the zero does not clear (the audit log is kept): the report is not
    # all zero, so the transaction must roll back
    def audit_total(doc):
        doc["zero"]["report"]["sections"].append({
            "title": "Audit entries", "query": "SELECT count(*) AS entries FROM counting.audit_log",
            "totals": ["entries"]})

    ze.write_profile(audit_total)
    before = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026")
    assert proc.returncode == EXIT_REFUSED
    line = _one_line(proc.stderr)
    assert "1 total(s) are not zero" in line and "rolled back" in line
    assert db_state(ze.dsn) == before
    assert zero_runs(ze.dsn) == []
    assert len(list((ze.evidence / "backups").glob("*.dump"))) == 1


def test_application_holding_a_lock_makes_the_zero_refuse_not_hang(ze):
    ze.write_profile(lock_timeout_seconds=1)
    before = db_state(ze.dsn)
    with psycopg.connect(ze.dsn) as app:  # an application transaction still writing
        app.execute("UPDATE counting.tally_sheets SET blank_votes = blank_votes WHERE id = 1")
        proc = ze.zero("--confirm", "GE-2026")
        app.rollback()
    assert proc.returncode == EXIT_REFUSED
    assert "could not lock" in _one_line(proc.stderr)
    assert db_state(ze.dsn) == before


def test_confirmation_is_required_and_must_match(ze):
    before = db_state(ze.dsn)
    assert ze.zero().returncode == EXIT_REFUSED  # no TTY, no --confirm
    proc = ze.zero("--confirm", "GE-2025")
    assert proc.returncode == EXIT_REFUSED
    assert "does not match" in _one_line(proc.stderr)
    assert db_state(ze.dsn) == before


def test_zero_report_command_renders_an_existing_report(ze, tmp_path):
    assert ze.zero("--confirm", "GE-2026", "--no-render").returncode == 0
    [run] = zero_runs(ze.dsn)
    src = Path(run["exported_to"]) / "zero-report.json"
    out = tmp_path / "render"
    proc = ze.freeze("zero-report", str(src), "--output-dir", str(out), "--json")
    assert proc.returncode == 0, proc.stderr
    res = json.loads(proc.stdout)
    assert res["sha256"] == run["report_sha256"] and res["canonical"] and res["all_zero"]
    assert (out / "zero-report.pdf").read_bytes().startswith(b"%PDF")
    # the printable page is kept for humans to look at
    artifacts = REPO / "artifacts"
    artifacts.mkdir(exist_ok=True)
    if shutil.which("pdftoppm"):
        subprocess.run(["pdftoppm", "-png", "-r", "80", "-f", "1", "-l", "1",
                        str(out / "zero-report.pdf"), str(artifacts / "zero-report-page")],
                       check=True)
        assert (artifacts / "zero-report-page-1.png").stat().st_size > 10_000
    shutil.copy(out / "zero-report.pdf", artifacts / "zero-report.pdf")


def test_reference_db_has_the_shape_of_a_count(pg_db):
    from freeze.refdb import RefDbSize, build

    size = RefDbSize(polling_tables=300, candidates_per_contest=5)
    with psycopg.connect(pg_db) as conn:
        build(conn, size, drill=True)
        q = lambda s: conn.execute(s).fetchone()[0]  # noqa: E731
        assert q("SELECT count(*) FROM counting.polling_tables") == 300
        assert q("SELECT count(*) FROM counting.territorial_levels") == 5
        contests = q("SELECT count(*) FROM counting.contests")
        assert contests == 1 + size.departments + 2 * size.municipalities
        # one sheet per polling table and contest covering it: president, governor, mayor, council
        assert q("SELECT count(*) FROM counting.tally_sheets") == 300 * 4
        assert q("SELECT count(*) FROM counting.tally_votes") == 300 * 4 * 5
        assert q("SELECT count(*) FROM counting.tally_sheets s JOIN counting.polling_tables p "
                 "ON p.id = s.polling_table_id") == 300 * 4
        assert q("SELECT sum(votes) FROM counting.tally_votes") > 0
        assert q("SELECT last_value FROM counting.tally_sheet_number_seq") == 100000 + 300 * 4
    # same size and seed, same data: drills are reproducible
    with psycopg.connect(pg_db) as conn:
        first = conn.execute("SELECT md5(string_agg(t::text, ',' ORDER BY tally_sheet_id, "
                             "candidate_id)) FROM counting.tally_votes t").fetchone()[0]
        build(conn, size, drill=True, replace=True)
        again = conn.execute("SELECT md5(string_agg(t::text, ',' ORDER BY tally_sheet_id, "
                             "candidate_id)) FROM counting.tally_votes t").fetchone()[0]
    assert first == again


def test_database_error_during_the_clear_rolls_back(ze):
    # the counting application's own trigger forbids deleting transmissions
    with psycopg.connect(ze.dsn) as conn:
        conn.execute("""
            CREATE FUNCTION counting.no_delete() RETURNS trigger LANGUAGE plpgsql AS
            $$ BEGIN RAISE EXCEPTION 'transmissions are append-only'; END $$;
            CREATE TRIGGER transmissions_append_only BEFORE DELETE ON counting.transmissions
            FOR EACH ROW EXECUTE FUNCTION counting.no_delete();""")

    def deletes(doc):
        for c in doc["zero"]["clear"]:
            c["method"] = "delete"

    ze.write_profile(deletes)
    before = db_state(ze.dsn)
    proc = ze.zero("--confirm", "GE-2026", "--no-render")
    assert proc.returncode == 70, proc.stderr
    line = _one_line(proc.stderr)
    assert "rolled back, nothing was changed" in line and "append-only" in line
    assert db_state(ze.dsn) == before
    assert zero_runs(ze.dsn) == []


def test_confirmation_typed_at_a_terminal(ze):
    import os
    import pty
    import sys

    master, slave = pty.openpty()
    try:
        proc = subprocess.Popen([sys.executable, "-m", "freeze", "zero", "--profile", str(ze.profile),
                                 "--manifest", str(ze.manifest), "--evidence-dir", str(ze.evidence),
                                 "--no-render"], stdin=slave, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, env=ze.env(), cwd=REPO, text=True)
        os.close(slave)
        os.write(master, b"GE-2026\n")
        out, err = proc.communicate(timeout=180)
    finally:
        os.close(master)
    assert proc.returncode == 0, err
    assert "Type the election id to confirm" in out
    [run] = zero_runs(ze.dsn)
    assert run["record"]["confirmation"] == "typed at the terminal"


def test_evidence_files_failing_after_commit_is_reported_and_recovered(ze, tmp_path):
    before = db_state(ze.dsn)
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("x")
    proc = ze.freeze("zero", "--profile", str(ze.profile), "--manifest", str(ze.manifest),
                     "--evidence-dir", str(blocker), "--backup-dir", str(tmp_path / "bk"),
                     "--confirm", "GE-2026", "--no-render")
    assert proc.returncode == 74, proc.stderr
    line = _one_line(proc.stderr)
    assert "the zero COMMITTED" in line and "re-run freeze zero" in line
    assert is_fully_zeroed(db_state(ze.dsn), before)
    [run] = zero_runs(ze.dsn)
    assert run["exported_at"] is None
    proc = ze.zero("--confirm", "GE-2026")  # same command, a usable evidence directory
    assert proc.returncode == 0, proc.stderr
    assert "had committed, but its evidence files" in proc.stdout
    check_exported(zero_runs(ze.dsn)[0])


def test_cleanup_after_crashes_never_touches_another_databases_zero(ze):
    # a zero of ANOTHER database on the same server, mid-restore, and its partial dump
    with psycopg.connect(ze.dsn, autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS freeze_verify_1_0123456789abcdef")
        conn.execute("CREATE DATABASE freeze_verify_1_0123456789abcdef")
    other = ze.evidence / "backups" / "OTHER-ELECTION-20261122T000000Z-01234567.dump.partial"
    other.parent.mkdir(parents=True)
    other.write_bytes(b"in progress")
    try:
        assert ze.zero("--confirm", "GE-2026", "--no-render").returncode == 0
        with psycopg.connect(ze.dsn) as conn:
            assert conn.execute("SELECT count(*) FROM pg_database WHERE datname = "
                                "'freeze_verify_1_0123456789abcdef'").fetchone()[0] == 1
        assert other.read_bytes() == b"in progress"
    finally:
        with psycopg.connect(ze.dsn, autocommit=True) as conn:
            conn.execute("DROP DATABASE IF EXISTS freeze_verify_1_0123456789abcdef")


def test_the_backup_is_private_to_the_operator(ze):
    """Issue 16, 6: the backup (a full copy of the counting database) was 0644 in a 0755 directory."""
    import stat

    proc = ze.zero("--confirm", "GE-2026", "--json")
    assert proc.returncode == 0, proc.stderr
    backup = Path(json.loads(proc.stdout)["backup"]["path"])
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert stat.S_IMODE(backup.parent.stat().st_mode) == 0o700  # made by freeze zero
