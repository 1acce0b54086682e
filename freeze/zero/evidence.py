"""Evidence of a zero: stored IN the database by the zero transaction, exported
to files after the commit.

Why in the database: the commit that clears the results is the same commit that
stores the record of it, so there is no instant at which the results are gone
but their evidence is not (a crash between two separate writes would allow it).
Files are derived afterwards; a run that crashed after its commit leaves a row
with `exported_at IS NULL`, and the next run exports it before anything else.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import psycopg
from psycopg import sql

from freeze.durable import atomic_write, fsync_dir
from freeze.errors import FreezeError, InputError
from freeze.report.model import ZeroReport, canonical_json
from freeze.zero.faults import crash_point

SCHEMA: Final = "freeze_evidence"
_RUNS = sql.Identifier(SCHEMA, "zero_runs")

DDL = f"""
CREATE SCHEMA IF NOT EXISTS {SCHEMA};
REVOKE ALL ON SCHEMA {SCHEMA} FROM PUBLIC;
CREATE TABLE IF NOT EXISTS {SCHEMA}.zero_runs (
    run_id        uuid PRIMARY KEY,
    election_id   text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    record        bytea NOT NULL,   -- canonical JSON of the zero record, exactly as exported
    record_sha256 text NOT NULL,
    report        bytea NOT NULL,   -- canonical JSON of the zero report
    report_sha256 text NOT NULL,
    exported_at   timestamptz,      -- NULL: committed, files not (yet) written
    exported_to   text
);
"""

RECORD_FILE = "zero-record.json"
REPORT_JSON = "zero-report.json"
REPORT_HTML = "zero-report.html"
REPORT_PDF = "zero-report.pdf"
SUMS_FILE = "SHA256SUMS"


@dataclass(frozen=True)
class StoredRun:
    run_id: str
    election_id: str
    record: bytes
    record_sha256: str
    report: bytes
    report_sha256: str
    exported_at: Any
    exported_to: str | None

    @property
    def record_dict(self) -> dict[str, Any]:
        import json

        value = json.loads(self.record)
        if not isinstance(value, dict):
            raise InputError(f"stored zero record of run {self.run_id} is not a JSON object")
        return value


def store(conn: psycopg.Connection, run_id: str, election_id: str, record: dict[str, Any],
          report: ZeroReport) -> tuple[str, str]:
    """Insert the record inside the caller's (zero) transaction."""
    conn.execute(DDL)
    record_bytes = canonical_json(record)
    report_bytes = report.canonical_bytes()
    rsha, psha = hashlib.sha256(record_bytes).hexdigest(), hashlib.sha256(report_bytes).hexdigest()
    conn.execute(sql.SQL("INSERT INTO {} (run_id, election_id, record, record_sha256, report, "
                         "report_sha256) VALUES (%s, %s, %s, %s, %s, %s)").format(_RUNS),
                 [run_id, election_id, record_bytes, rsha, report_bytes, psha])
    return rsha, psha


def _exists(conn: psycopg.Connection) -> bool:
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f"{SCHEMA}.zero_runs"]).fetchone()
    assert row is not None  # a SELECT without FROM returns exactly one row
    return bool(row[0])


def _runs(conn: psycopg.Connection, where: sql.SQL, params: list[Any]) -> list[StoredRun]:
    if not _exists(conn):
        return []
    rows = conn.execute(sql.SQL("SELECT run_id::text, election_id, record, record_sha256, report, "
                                "report_sha256, exported_at, exported_to FROM {} WHERE {} "
                                "ORDER BY created_at").format(_RUNS, where), params).fetchall()
    return [StoredRun(r[0], r[1], bytes(r[2]), r[3], bytes(r[4]), r[5], r[6], r[7]) for r in rows]


def pending(conn: psycopg.Connection) -> list[StoredRun]:
    """Runs that committed but whose evidence files were never fully written."""
    return _runs(conn, sql.SQL("exported_at IS NULL"), [])


def get(conn: psycopg.Connection, run_id: str) -> StoredRun:
    runs = _runs(conn, sql.SQL("run_id = %s::uuid"), [run_id])
    if not runs:
        raise FreezeError(f"zero run {run_id} not found in {SCHEMA}.zero_runs")
    return runs[0]


def run_dir_name(record: dict[str, Any]) -> str:
    stamp = re.sub(r"[^0-9TZ]", "", record["started_at"])
    election = re.sub(r"[^A-Za-z0-9._-]", "_", record["election"]["id"])
    return f"zero-{election}-{stamp}-{record['run_id'][:8]}"


def export(conn: psycopg.Connection, run: StoredRun, evidence_dir: Path,
           render: bool = True) -> Path:
    """Write the run's evidence files atomically, then mark the run exported.

    Idempotent: re-exporting rewrites identical JSON bytes (they come from the
    database, not from a recomputation) and re-renders the printable report.
    """
    for data, sha, what in ((run.record, run.record_sha256, "record"),
                            (run.report, run.report_sha256, "report")):
        if hashlib.sha256(data).hexdigest() != sha:
            raise InputError(f"stored zero {what} of run {run.run_id} does not match its sha256")
    record = run.record_dict
    out = evidence_dir / run_dir_name(record)
    out.mkdir(parents=True, exist_ok=True)
    fsync_dir(out.parent)
    files: dict[str, bytes] = {RECORD_FILE: run.record, REPORT_JSON: run.report}
    atomic_write(out / RECORD_FILE, run.record)
    crash_point("exporting")
    atomic_write(out / REPORT_JSON, run.report)
    if render:
        from freeze.report.render import render_html, render_pdf

        report = ZeroReport.from_bytes(run.report)
        html = render_html(report).encode("utf-8")
        pdf = render_pdf(report)
        atomic_write(out / REPORT_HTML, html)
        atomic_write(out / REPORT_PDF, pdf)
        files.update({REPORT_HTML: html, REPORT_PDF: pdf})
    sums = "".join(f"{hashlib.sha256(data).hexdigest()}  {name}\n"
                   for name, data in sorted(files.items()))
    atomic_write(out / SUMS_FILE, sums.encode("ascii"))
    crash_point("exported")
    conn.execute(sql.SQL("UPDATE {} SET exported_at = now(), exported_to = %s "
                         "WHERE run_id = %s::uuid").format(_RUNS), [str(out), run.run_id])
    return out
