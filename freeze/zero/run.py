"""The zero itself: one session, one transaction, evidence committed with it.

Sequence (each step is a crash point, see `freeze.zero.faults`):

  connect, take a session advisory lock (one zero at a time per database),
  export evidence of any earlier run that committed but crashed before export,
  check the profile against the catalog (nothing changed yet)
  BEGIN ISOLATION LEVEL REPEATABLE READ
    LOCK the result tables (and `zero.lock`) IN EXCLUSIVE MODE: the application
      can still read but no longer write; the snapshot starts after the lock
    pg_export_snapshot(); digest every table in it
    pg_dump --snapshot: the backup is exactly the state being cleared
    pg_restore into a scratch database; compare every table and sequence
    rename the dump final, fsync, sha256 (the backup now exists for good)
    LOCK ... IN ACCESS EXCLUSIVE MODE (no reader sees a half-cleared state)
    DELETE / TRUNCATE, ALTER SEQUENCE ... RESTART (transactional, unlike setval)
    compute the zero report from base tables; any non-zero total => ROLLBACK
    INSERT the evidence record into freeze_evidence.zero_runs
  COMMIT
  export evidence files (atomic writes), mark the run exported

A crash before COMMIT aborts the transaction on the server: nothing changed
(only a *.partial dump file and a scratch database remain, both removed by the
next run). A crash after COMMIT leaves the results cleared, the evidence row
committed with them and the verified backup on disk; the next run exports it.
"""

from __future__ import annotations

import getpass
import hashlib
import re
import socket
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
from psycopg import sql

from freeze import __version__
from freeze.durable import atomic_write, durable_rename, sha256_file
from freeze.errors import EXIT_IOERR, EXIT_SOFTWARE, EXIT_UNAVAILABLE, ConfigMismatchError, FreezeError, RefusedError
from freeze.report.model import ReportSection, ZeroReport
from freeze.zero import backup as bk
from freeze.zero import db, evidence
from freeze.zero.catalog import ClearPlan, check_against_catalog, report_sql
from freeze.zero.faults import crash_point
from freeze.zero.spec import ZeroSpec


@dataclass(frozen=True)
class DriftGate:
    """What the drift check said before the zero (recorded in the evidence)."""

    manifest_path: str | None
    manifest_sha256: str | None
    clean: bool
    exit_code: int
    report: dict[str, Any]
    allowed_reason: str | None = None
    hosts: tuple[str, ...] = ()

    def summary(self) -> str:
        if self.clean:
            return "no drift from the manifest"
        return f"DRIFT ALLOWED (exit {self.exit_code}): {self.allowed_reason}"

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": {"path": self.manifest_path, "sha256": self.manifest_sha256},
                "clean": self.clean, "exit_code": self.exit_code,
                "allowed_reason": self.allowed_reason, "report": self.report}


@dataclass
class Preview:
    """What a zero would do (dry run): nothing is changed to produce it."""

    election_id: str
    election_name: str
    database: dict[str, Any]
    tables: list[dict[str, Any]]
    sequences: list[dict[str, Any]]
    locked_tables: list[str]
    report: ZeroReport
    pending_exports: list[str]
    warnings: list[str]

    @property
    def already_zero(self) -> bool:
        return (all(t["rows"] == 0 for t in self.tables)
                and all(s["at_restart"] for s in self.sequences) and self.report.all_zero)

    def to_dict(self) -> dict[str, Any]:
        return {"election": {"id": self.election_id, "name": self.election_name},
                "database": self.database, "clear": self.tables, "sequences": self.sequences,
                "lock": self.locked_tables, "already_zero": self.already_zero,
                "pending_exports": self.pending_exports, "warnings": self.warnings,
                "report_preview": {"all_zero": self.report.all_zero,
                                   "nonzero_totals": self.report.nonzero_count,
                                   "sections": [{"title": s.title, "rows": len(s.rows),
                                                 "nonzero_rows": s.nonzero_rows,
                                                 "sums": dict(zip(s.totals, s.column_sums, strict=True))}
                                                for s in self.report.sections]}}


@dataclass
class ZeroResult:
    run_id: str
    already_zero: bool
    evidence_path: Path
    record: dict[str, Any]
    report_sha256: str
    backup: dict[str, Any]
    cleared: list[dict[str, Any]] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per phase (benchmarks)

    def to_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "already_zero": self.already_zero,
                "evidence": str(self.evidence_path), "report_sha256": self.report_sha256,
                "backup": self.backup, "cleared": self.cleared,
                "timings": {k: round(v, 3) for k, v in self.timings.items()}}


def _utc(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _local(ts: datetime) -> str:
    local = ts.astimezone()
    return f"{local.isoformat(timespec='seconds')} ({local.tzname()})"


def _as_total(v: Any, where: str) -> int | None:
    if v is None:
        return None  # printed as NULL and never counts as zero: use COALESCE in the query
    if isinstance(v, bool):
        raise ConfigMismatchError(f"{where}: total is a boolean, expected a number")
    if isinstance(v, int):
        return v
    if isinstance(v, (Decimal, float)) and v == int(v):
        return int(v)
    raise ConfigMismatchError(f"{where}: total {v!r} is not an integer")


class ZeroSession:
    """A connection to the counting database holding the zero advisory lock."""

    def __init__(self, dsn: str, spec: ZeroSpec) -> None:
        self.dsn = dsn
        self.spec = spec
        self.conn = db.connect(dsn)
        try:
            key = int.from_bytes(hashlib.sha256(b"freeze-zero").digest()[:8], "big", signed=True)
            # Wait a little rather than fail at once: after a crash, the server may
            # take a moment to notice the dead session and release its lock.
            self.conn.execute("SET lock_timeout = '15s'")
            try:
                self.conn.execute("SELECT pg_advisory_lock(%s)", [key])
            except psycopg.errors.LockNotAvailable:
                raise RefusedError("another freeze zero is running against this database") from None
            self.conn.execute("RESET lock_timeout")
            self.conn.execute("SET idle_in_transaction_session_timeout = 0")
            self.conn.execute("SET statement_timeout = 0")
            self.identity = db.identity(self.conn)
            crash_point("connected")
            self.plan: ClearPlan = check_against_catalog(self.conn, spec)
        except BaseException:
            self.conn.close()
            raise

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> ZeroSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------ recovery

    def pending_runs(self) -> list[evidence.StoredRun]:
        return evidence.pending(self.conn)

    def export_pending(self, evidence_dir: Path) -> list[Path]:
        return [evidence.export(self.conn, run, evidence_dir) for run in self.pending_runs()]

    # ------------------------------------------------------------ pieces

    def _params(self) -> dict[str, Any]:
        return {"election_id": self.spec.election_id}

    def _sequence_states(self) -> list[dict[str, Any]]:
        out = []
        for s in self.plan.sequences:
            r = self.conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
                s.name.ident)).fetchone()
            assert r is not None
            out.append({"sequence": str(s.name), "last_value": int(r[0]), "is_called": bool(r[1]),
                        "restart": s.restart,
                        "at_restart": int(r[0]) == s.restart and not r[1]})
        return out

    def _row_counts(self) -> dict[str, int]:
        out = {}
        for c in self.spec.clear:
            r = self.conn.execute(sql.SQL("SELECT count(*) FROM {}").format(c.table.ident)).fetchone()
            out[str(c.table)] = int(r[0]) if r else 0
        return out

    def compute_report(self, run_id: str, system: dict[str, Any]) -> ZeroReport:
        """Every total straight from the base tables, in the caller's snapshot."""
        sections = []
        for i, s in enumerate(self.spec.report.sections):
            where = f"profile zero.report.sections[{i}] ({s.title})"
            cur = self.conn.execute(report_sql(s.query), self._params())
            names = [d.name for d in cur.description or []]
            li = [names.index(c) for c in s.labels]
            ti = [names.index(c) for c in s.totals]
            rows = tuple((tuple("" if r[j] is None else str(r[j]) for j in li),
                          tuple(_as_total(r[j], where) for j in ti)) for r in cur.fetchall())
            sections.append(ReportSection(s.title, s.labels, s.totals, rows))
        ts = db.single_row(self.conn.execute("SELECT clock_timestamp()"))[0]
        return ZeroReport(
            title=self.spec.report.title, election_id=self.spec.election_id,
            election_name=self.plan.election_name, generated_at_utc=_utc(ts),
            generated_at_local=_local(ts), system=system, sections=tuple(sections),
            signatures=self.spec.report.signatures, run_id=run_id,
            extra={"min_rows": {s.title: s.min_rows for s in self.spec.report.sections}},
        )

    def _short_sections(self, report: ZeroReport) -> list[str]:
        return [f"{s.title!r} lists {len(s.rows)} rows, fewer than min_rows {spec.min_rows}"
                for s, spec in zip(report.sections, self.spec.report.sections, strict=True)
                if len(s.rows) < spec.min_rows]

    def _system(self, gate: DriftGate | None, backup_sha: str | None) -> dict[str, Any]:
        hosts = list(gate.hosts) if gate else []
        tool_host = socket.gethostname()
        return {
            "database": self.identity.to_dict(),
            "hosts": hosts + ([f"{tool_host} (freeze tool)"] if tool_host not in hosts else []),
            "manifest_sha256": gate.manifest_sha256 if gate else None,
            "drift": gate.summary() if gate else "not checked (preview)",
            "backup_sha256": backup_sha,
            "tool": f"freeze {__version__}",
        }

    # ------------------------------------------------------------ dry run

    def preview(self) -> Preview:
        """Row counts, sequences and the report on current data, read-only."""
        self.conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        try:
            counts = self._row_counts()
            seqs = self._sequence_states()
            report = self.compute_report("preview", self._system(None, None))
        finally:
            self.conn.execute("ROLLBACK")
        return Preview(
            self.spec.election_id, self.plan.election_name, self.identity.to_dict(),
            [{"table": str(c.table), "method": c.method, "rows": counts[str(c.table)]}
             for c in self.spec.clear],
            seqs, [str(t) for t in self.spec.locked_tables], report,
            [r.run_id for r in self.pending_runs()], list(self.plan.warnings))

    # ------------------------------------------------------------ the zero

    def zero(self, *, evidence_dir: Path, backup_dir: Path, gate: DriftGate,
             confirmation: str, profile_sha256: str | None = None,
             render: bool = True) -> ZeroResult:
        spec, conn = self.spec, self.conn
        run_id = str(uuid.uuid4())
        timings: dict[str, float] = {}
        mark = time.monotonic()

        def phase(name: str) -> None:
            nonlocal mark
            now = time.monotonic()
            timings[name] = now - mark
            mark = now

        started = datetime.now(UTC)
        started_iso = _utc(started)
        election = re.sub(r"[^A-Za-z0-9._-]", "_", spec.election_id)
        stale = self._cleanup(backup_dir, election)
        phase("prepare")

        stamp = re.sub(r"[^0-9TZ]", "", started_iso)
        final = backup_dir / f"{election}-{stamp}-{run_id[:8]}.dump"
        partial = final.with_name(final.name + ".partial")
        locked = sql.SQL(", ").join(t.ident for t in spec.locked_tables)

        conn.execute("BEGIN ISOLATION LEVEL REPEATABLE READ")
        try:
            conn.execute(sql.SQL("SET LOCAL lock_timeout = {}").format(
                sql.Literal(f"{spec.lock_timeout_seconds}s")))
            try:
                # before any query: the snapshot is taken after the lock is granted
                conn.execute(sql.SQL("LOCK TABLE {} IN EXCLUSIVE MODE").format(locked))
            except psycopg.errors.LockNotAvailable:
                raise RefusedError(f"could not lock the result tables within "
                                   f"{spec.lock_timeout_seconds} s: another session holds them "
                                   f"(stop the application); nothing was changed") from None
            snapshot = db.single_row(conn.execute("SELECT pg_export_snapshot()"))[0]
            tx_started = db.single_row(conn.execute("SELECT now()"))[0]
            digests = db.table_digests(conn)
            sequences_before = db.sequence_states(conn)
            sessions = conn.execute(
                "SELECT pid, usename, application_name, host(client_addr), state, backend_start::text"
                " FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend' ORDER BY pid").fetchall()
            phase("lock_and_digest")
            crash_point("locked")

            # -- backup of exactly this snapshot, proven restorable
            with bk.libpq_environment(self.dsn) as env:
                pg_dump_version = bk.dump(env, snapshot, partial, spec.backup.pg_bindir)
                phase("backup_dump")
                crash_point("backup-written")
                scratch = bk.scratch_name(self.identity.database_oid, run_id)
                try:
                    tables, rows = bk.verify_restore(self.dsn, env, partial, spec.backup.pg_bindir,
                                                     scratch, digests, sequences_before)
                except RefusedError:
                    durable_rename(partial, final.with_name(final.name + ".unverified"))
                    raise
            backup_sha = sha256_file(partial)
            durable_rename(partial, final)
            atomic_write(final.with_name(final.name + ".sha256"),
                         f"{backup_sha}  {final.name}\n".encode())
            backup = bk.BackupResult(str(final.resolve()), backup_sha, final.stat().st_size,
                                     pg_dump_version, tables, rows, scratch).to_dict()
            phase("backup_verify")
            crash_point("backup-verified")

            # -- clear: nobody may even read a half-cleared state
            try:
                conn.execute(sql.SQL("LOCK TABLE {} IN ACCESS EXCLUSIVE MODE").format(locked))
            except psycopg.errors.LockNotAvailable:
                raise RefusedError(f"could not take the exclusive lock within "
                                   f"{spec.lock_timeout_seconds} s: another session is reading the "
                                   f"result tables; rolled back, nothing was changed (the verified "
                                   f"backup is kept at {final})") from None
            cleared: list[dict[str, Any]] = []
            for c in self.plan.delete_order:
                before = digests[f"{c.table.schema}.{c.table.name}"].rows
                n = conn.execute(sql.SQL("DELETE FROM {}").format(c.table.ident)).rowcount
                if n != before:  # impossible under our locks; never clear what was not backed up
                    raise RefusedError(f"{c.table}: {n} rows deleted but {before} were backed up")
                cleared.append({"table": str(c.table), "method": "delete", "rows_before": before,
                                "rows_removed": n})
            if self.plan.truncate:
                conn.execute(sql.SQL("TRUNCATE TABLE {}").format(
                    sql.SQL(", ").join(c.table.ident for c in self.plan.truncate)))
                for c in self.plan.truncate:
                    before = digests[f"{c.table.schema}.{c.table.name}"].rows
                    cleared.append({"table": str(c.table), "method": "truncate",
                                    "rows_before": before, "rows_removed": before})
            seq_record = []
            for s in self.plan.sequences:
                st = sequences_before.get(f"{s.name.schema}.{s.name.name}", {})
                conn.execute(sql.SQL("ALTER SEQUENCE {} RESTART WITH {}").format(
                    s.name.ident, sql.Literal(s.restart)))
                seq_record.append({"sequence": str(s.name), "before": st, "restarted_at": s.restart})
            seq_at_restart = all(
                sequences_before.get(f"{s.name.schema}.{s.name.name}", {}) ==
                {"last_value": s.restart, "is_called": False} for s in self.plan.sequences)
            already_zero = all(c["rows_before"] == 0 for c in cleared) and seq_at_restart
            resets = self._reset_columns()
            already_zero = already_zero and all(r["rows_not_zero_before"] == 0 for r in resets)
            for view in spec.refresh:  # after the clear: totals shown through views read 0
                conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(view.ident))
            sequence_check = self._check_sequences_above_kept_rows(final)
            rehearsal = self._rehearse(final)
            phase("clear")
            crash_point("cleared")

            # -- the zero report, same transaction: refuse to commit unless all zero
            report = self.compute_report(run_id, self._system(gate, backup_sha))
            short = self._short_sections(report)
            if not report.all_zero or short:
                why = (f"{report.nonzero_count} total(s) are not zero" if not report.all_zero
                       else short[0])
                raise RefusedError(f"zero report check failed, rolled back: {why}; the database "
                                   f"is unchanged and the verified backup is kept at {final}")
            report_sha = report.digest()
            record = {
                "type": "freeze-zero-record", "version": 1, "run_id": run_id,
                "election": {"id": spec.election_id, "name": self.plan.election_name},
                "tool": {"name": "freeze", "version": __version__},
                "operator": {"host": socket.gethostname(), "user": getpass.getuser()},
                "confirmation": confirmation,
                "started_at": started_iso, "transaction_started_at": _utc(tx_started),
                "database": self.identity.to_dict(), "profile_sha256": profile_sha256,
                "drift": gate.to_dict(), "backup": backup,
                "locks": {"tables": [str(t) for t in spec.locked_tables],
                          "modes": ["EXCLUSIVE (backup)", "ACCESS EXCLUSIVE (clear)"]},
                "other_sessions": [{"pid": r[0], "user": r[1], "application": r[2],
                                    "client": r[3], "state": r[4], "since": r[5]} for r in sessions],
                "stale_cleanup": stale, "warnings": list(self.plan.warnings),
                "cleared": cleared, "sequences": seq_record, "already_zero": already_zero,
                "reset_columns": resets, "refreshed": [str(v) for v in spec.refresh],
                "sequence_check": sequence_check, "rehearsal": rehearsal,
                "report": {"sha256": report_sha, "all_zero": True,
                           "sections": [{"title": s.title, "rows": len(s.rows)}
                                        for s in report.sections]},
            }
            evidence.store(conn, run_id, spec.election_id, record, report)
            phase("report")
            crash_point("before-commit")
        except BaseException as exc:
            try:
                conn.execute("ROLLBACK")
            except psycopg.Error:
                pass  # connection gone: the server aborts the transaction itself
            if partial.exists():
                partial.unlink()
            if isinstance(exc, psycopg.Error):
                raise FreezeError(
                    f"database error during the zero, rolled back, nothing was changed: "
                    f"{db.one_line_error(exc, self.dsn)}",
                    exit_code=EXIT_UNAVAILABLE if isinstance(exc, psycopg.OperationalError)
                    else EXIT_SOFTWARE) from None
            raise
        try:
            conn.execute("COMMIT")
        except psycopg.Error as exc:
            raise FreezeError(f"COMMIT of the zero failed ({db.one_line_error(exc, self.dsn)}); "
                              f"re-run freeze zero: it detects whether the commit happened") from None
        phase("commit")
        crash_point("committed")
        try:
            path = evidence.export(conn, evidence.get(conn, run_id), evidence_dir, render=render)
        except (OSError, psycopg.Error, FreezeError) as exc:
            # The zero itself is done and its record is safe in the database; only
            # the files are missing. Say exactly that: a re-run exports them.
            detail = db.one_line_error(exc, self.dsn)
            raise FreezeError(f"the zero COMMITTED (run {run_id}, database zeroed, record in "
                              f"{evidence.SCHEMA}.zero_runs) but writing the evidence files "
                              f"failed: {detail}; re-run freeze zero to export them",
                              exit_code=EXIT_IOERR) from None
        phase("export")
        return ZeroResult(run_id, already_zero, path, record, report_sha, backup, cleared, timings)

    def _reset_columns(self) -> list[dict[str, Any]]:
        """Counter tables keep their rows (candidates, stations); their totals go to 0."""
        out = []
        for r in self.spec.reset_columns:
            cols = [sql.Identifier(c) for c in r.columns]
            nonzero = sql.SQL(" OR ").join(sql.SQL("{} IS DISTINCT FROM 0").format(c) for c in cols)
            n = self.conn.execute(sql.SQL("UPDATE {} SET {} WHERE {}").format(
                r.table.ident, sql.SQL(", ").join(sql.SQL("{} = 0").format(c) for c in cols),
                nonzero)).rowcount
            out.append({"table": str(r.table), "columns": list(r.columns),
                        "rows_not_zero_before": n})
        return out

    def _check_sequences_above_kept_rows(self, backup: Path) -> list[dict[str, Any]]:
        """A restarted sequence must not hand out a value a kept row already has:
        restarting a kept audit log's sequence makes its next insert fail on the
        primary key, and the application stops counting."""
        out = []
        for seq, table, column in self.plan.sequence_feeds:
            restart = next(s.restart for s in self.plan.sequences if s.name == seq)
            row = self.conn.execute(
                "SELECT increment_by FROM pg_sequences WHERE schemaname = %s AND "
                "sequencename = %s", [seq.schema, seq.name]).fetchone()
            if row is None:  # checked at the start, but the catalog check held no lock on it
                raise ConfigMismatchError(f"profile zero.sequences: sequence {seq} does not exist "
                                          f"in database {self.identity.database}; rolled back, "
                                          f"nothing was changed")
            increment = int(row[0])
            extreme = db.single_row(self.conn.execute(sql.SQL("SELECT {}({}) FROM {}").format(
                sql.SQL("max" if increment > 0 else "min"), sql.Identifier(column),
                table.ident)))[0]
            clash = extreme is not None and (restart <= extreme if increment > 0
                                             else restart >= extreme)
            if clash:
                raise RefusedError(
                    f"profile zero.sequences: restarting {seq} at {restart} would hand out "
                    f"values {table}.{column} already holds (kept rows up to {extreme}): the "
                    f"next insert would fail; leave it out or restart it above {extreme}; "
                    f"rolled back, nothing was changed (the verified backup is kept at {backup})")
            out.append({"sequence": str(seq), "column": f"{table}.{column}",
                        "restart": restart, "highest_kept": extreme})
        for seq, table, column in self.plan.kept_feeds:
            # not restarted, but a kept table's: its next value must be above the
            # kept rows too (a sequence set back by hand fails the next insert)
            row = self.conn.execute(
                "SELECT increment_by, start_value FROM pg_sequences"
                " WHERE schemaname = %s AND sequencename = %s",
                [seq.schema, seq.name]).fetchone()
            if row is None:
                continue  # dropped concurrently: the rehearsal or the next insert says so
            increment, start = int(row[0]), int(row[1])
            # read the sequence itself: pg_sequences.last_value is NULL whenever
            # is_called is false, also after setval(seq, n, false), which sets the
            # NEXT value to n exactly like a setval(seq, n - 1) does
            last, called = db.single_row(self.conn.execute(
                sql.SQL("SELECT last_value, is_called FROM {}").format(seq.ident)))
            upcoming = int(last) + increment if called else int(last)
            if not called and upcoming == start:
                # the state of a sequence that never handed out a value: the
                # application does not insert through it (reference rows with
                # explicit ids). setval(seq, START, false) is the one setting that
                # cannot be told apart from it; recorded, not judged
                out.append({"sequence": str(seq), "column": f"{table}.{column}",
                            "next": "unused (never called, at its start value)"})
                continue
            extreme = db.single_row(self.conn.execute(sql.SQL("SELECT {}({}) FROM {}").format(
                sql.SQL("max" if increment > 0 else "min"), sql.Identifier(column),
                table.ident)))[0]
            if extreme is not None and (upcoming <= extreme if increment > 0 else upcoming >= extreme):
                raise RefusedError(
                    f"sequence {seq} would next hand out {upcoming}, but kept table "
                    f"{table}.{column} already holds values up to {extreme}: the next insert "
                    f"would fail and the application would stop counting; set it above "
                    f"{extreme} (setval) before the zero; rolled back, nothing was changed "
                    f"(the verified backup is kept at {backup})")
            out.append({"sequence": str(seq), "column": f"{table}.{column}",
                        "next": upcoming, "highest_kept": extreme})
        return out

    def _rehearse(self, backup: Path) -> dict[str, Any]:
        """Count a vote on the zeroed database, then take it back (savepoint).

        nextval() is not undone by a rollback: the restarted sequences are
        restarted again afterwards (ALTER SEQUENCE is transactional), and any
        other sequence the rehearsal advanced (a kept audit log's, through a
        trigger) is set back with setval to where it was. setval is not
        transactional, which is what is wanted here: it restores the state of
        before the rehearsal whether the zero then commits or rolls back (a crash
        in between leaves at most a gap of a few numbers in such a sequence)."""
        if not self.spec.rehearsal:
            return {"statements": 0}
        restarted = {f"{s.name.schema}.{s.name.name}" for s in self.plan.sequences}
        before = db.sequence_states(self.conn)
        try:
            self._run_rehearsal(backup)
        finally:
            names = db.user_sequences(self.conn)
            for name, state in db.sequence_states(self.conn).items():
                if name in restarted or name not in before or state == before[name]:
                    continue
                self.conn.execute("SELECT setval(%s::regclass, %s, %s)",
                                  [sql.Identifier(*names[name]).as_string(self.conn),
                                   before[name]["last_value"], before[name]["is_called"]])
        for s in self.plan.sequences:
            self.conn.execute(sql.SQL("ALTER SEQUENCE {} RESTART WITH {}").format(
                s.name.ident, sql.Literal(s.restart)))
        return {"statements": len(self.spec.rehearsal),
                "result": "counted, shown in every report section, rolled back"}

    def _run_rehearsal(self, backup: Path) -> None:
        """The rehearsal statements must run AND their vote must show in every report
        section (views refreshed): a counter row the trigger no longer finds (the
        counters cleared instead of reset) makes an insert that succeeds and a vote
        that is lost."""
        self.conn.execute("SAVEPOINT freeze_rehearsal")
        for i, statement in enumerate(self.spec.rehearsal):
            try:
                self.conn.execute(statement, self._params() if "%(" in statement else None)
            except psycopg.Error as exc:
                self.conn.execute("ROLLBACK TO SAVEPOINT freeze_rehearsal")
                raise RefusedError(
                    f"profile zero.rehearsal[{i}] failed on the zeroed database, which could "
                    f"not count a vote: {db.one_line_error(exc, self.dsn)}; rolled back, "
                    f"nothing was changed (the verified backup is kept at {backup})") from None
        try:
            for view in self.spec.refresh:
                self.conn.execute(sql.SQL("REFRESH MATERIALIZED VIEW {}").format(view.ident))
            counted = self.compute_report("rehearsal", {})
        except psycopg.Error as exc:
            self.conn.execute("ROLLBACK TO SAVEPOINT freeze_rehearsal")
            raise RefusedError(
                f"profile zero.rehearsal: the report could not be read after the rehearsal vote: "
                f"{db.one_line_error(exc, self.dsn)}; rolled back, nothing was changed (the "
                f"verified backup is kept at {backup})") from None
        self.conn.execute("ROLLBACK TO SAVEPOINT freeze_rehearsal")
        unseen = [s.title for s in counted.sections
                  if s.totals and not any(v for _, totals in s.rows for v in totals)]
        if unseen:
            raise RefusedError(
                f"profile zero.rehearsal: the rehearsal vote does not show in report section "
                f"{unseen[0]!r} (its totals stay 0), so a vote counted after this zero would be "
                f"lost there (a counter row cleared instead of reset?); rolled back, nothing was "
                f"changed (the verified backup is kept at {backup})")

    def _cleanup(self, backup_dir: Path, election: str) -> dict[str, list[str]]:
        """Leftovers of crashed runs of this election's zero: never a verified
        backup, only partial dumps and scratch databases (incomplete by construction)."""
        partials = []
        if backup_dir.is_dir():
            for p in sorted(backup_dir.glob(f"{election}-*.dump.partial")):
                p.unlink()
                partials.append(p.name)
        admin = db.connect(self.dsn)
        try:
            scratch = bk.drop_stale_scratch(admin, self.identity.database_oid)
        finally:
            admin.close()
        return {"partial_dumps": partials, "scratch_databases": scratch}
