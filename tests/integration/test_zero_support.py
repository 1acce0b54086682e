"""Helpers shared by the zero integration tests (no tests here).

Every test gets its own database holding the reference counting database with
drill results, a profile derived from freeze/refdb/profile.yml, and a manifest
made by the real `freeze snapshot`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import yaml

from freeze.refdb import RefDbSize, build

REPO = Path(__file__).resolve().parents[2]
REFDB_PROFILE = REPO / "freeze" / "refdb" / "profile.yml"
DSN_ENV = "FREEZE_COUNTING_DSN"
SMALL = RefDbSize(polling_tables=20, candidates_per_contest=4)


@dataclass
class ZeroEnv:
    dsn: str
    tmp: Path
    profile: Path
    manifest: Path
    evidence: Path
    bindir: Path

    def env(self, **extra: str) -> dict[str, str]:
        e = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        e[DSN_ENV] = self.dsn
        e.pop("FREEZE_TEST_CRASH_AT", None)
        e.update(extra)
        return e

    def freeze(self, *args: str, env: dict[str, str] | None = None,
               timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "freeze", *args], capture_output=True,
                              text=True, env=env or self.env(), timeout=timeout, cwd=REPO)

    def zero(self, *extra: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
        return self.freeze("zero", "--profile", str(self.profile), "--manifest", str(self.manifest),
                           "--evidence-dir", str(self.evidence), *extra, env=env)

    def write_profile(self, mutate=None, **zero_overrides: Any) -> Path:
        doc = yaml.safe_load(REFDB_PROFILE.read_text())
        doc["zero"]["backup"] = {"pg_bindir": str(self.bindir)}
        doc["zero"].update(zero_overrides)
        if mutate:
            mutate(doc)
        self.profile.write_text(yaml.safe_dump(doc, sort_keys=False))
        # the profile (zero section included) is hashed into the manifest: a
        # changed profile needs a manifest taken with it
        self.snapshot()
        return self.profile

    def snapshot(self) -> None:
        proc = self.freeze("snapshot", "--profile", str(self.profile), "--output",
                           str(self.manifest), "--force")
        assert proc.returncode == 0, proc.stderr


def make_zero_env(pg_server, dsn: str, tmp: Path, size: RefDbSize = SMALL) -> ZeroEnv:
    with psycopg.connect(dsn) as conn:
        build(conn, size, drill=True)
    ze = ZeroEnv(dsn, tmp, tmp / "profile.yml", tmp / "manifest.json", tmp / "evidence",
                 Path(pg_server.bindir))
    ze.write_profile()
    return ze


def db_state(dsn: str) -> dict[str, Any]:
    """Everything but our own evidence schema: content digest of every table and
    every sequence's position. Equal states <=> the database is untouched."""
    with psycopg.connect(dsn) as conn:
        tables = conn.execute(
            "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n "
            "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'counting' "
            "ORDER BY 1").fetchall()
        out: dict[str, Any] = {}
        for (t,) in tables:
            rows = conn.execute(f"SELECT t::text FROM {t} t ORDER BY 1").fetchall()
            out[t] = (len(rows), hashlib.sha256("\n".join(r[0] for r in rows).encode()).hexdigest())
        for (s,) in conn.execute("SELECT schemaname || '.' || sequencename FROM pg_sequences "
                                 "WHERE schemaname = 'counting' ORDER BY 1").fetchall():
            out[s] = conn.execute(f"SELECT last_value, is_called FROM {s}").fetchone()
    return out


RESULT_TABLES = ("counting.tally_votes", "counting.transmissions", "counting.verification_events",
                 "counting.tally_sheets")
RESET_SEQUENCES = {"counting.tally_sheets_id_seq": 1, "counting.tally_sheet_number_seq": 100001,
                   "counting.transmissions_id_seq": 1, "counting.verification_events_id_seq": 1}


def is_fully_zeroed(state: dict[str, Any], before: dict[str, Any]) -> bool:
    """Results empty, sequences restarted, base data exactly as before."""
    for key, value in state.items():
        if key in RESULT_TABLES:
            if value[0] != 0:
                return False
        elif key in RESET_SEQUENCES:
            if tuple(value) != (RESET_SEQUENCES[key], False):
                return False
        elif value != before[key]:
            return False
    return True


def zero_runs(dsn: str) -> list[dict[str, Any]]:
    with psycopg.connect(dsn) as conn:
        if not conn.execute("SELECT to_regclass('freeze_evidence.zero_runs') IS NOT NULL").fetchone()[0]:
            return []
        rows = conn.execute("SELECT run_id::text, record, report_sha256, exported_at, exported_to "
                            "FROM freeze_evidence.zero_runs ORDER BY created_at").fetchall()
    import json

    return [{"run_id": r[0], "record": json.loads(bytes(r[1])), "report_sha256": r[2],
             "exported_at": r[3], "exported_to": r[4]} for r in rows]


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def check_exported(run: dict[str, Any]) -> Path:
    """The run's evidence directory is complete and self-consistent."""
    out = Path(run["exported_to"])
    sums = (out / "SHA256SUMS").read_text().splitlines()
    names = {line.split("  ", 1)[1] for line in sums}
    assert names == {"zero-record.json", "zero-report.json", "zero-report.html", "zero-report.pdf"}
    for line in sums:
        digest, name = line.split("  ", 1)
        assert sha256_of(out / name) == digest, name
    assert sha256_of(out / "zero-report.json") == run["report_sha256"]
    backup = Path(run["record"]["backup"]["path"])
    assert sha256_of(backup) == run["record"]["backup"]["sha256"]
    return out
