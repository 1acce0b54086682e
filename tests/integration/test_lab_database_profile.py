"""inventories/lab/freeze/database.yml, the profile scripts/demo.sh's ceremony zeroes
the lab's counting database with, on a real PostgreSQL server holding the lab's
schema (taken from the inventory, as the postgresql_server role applies it).

The demo runs it only against the emulated fleet; this proves, in the fast tier,
that the committed profile snapshots, zeroes (its rehearsal vote counted and
rolled back), and leaves a database whose report reads zero and that still counts.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import psycopg
import yaml

REPO = Path(__file__).resolve().parents[2]
PROFILE = REPO / "inventories" / "lab" / "freeze" / "database.yml"
GROUP_VARS = REPO / "inventories" / "lab" / "group_vars" / "counting_servers.yml"


def _freeze(dsn: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
    env["FREEZE_DB_DSN"] = dsn
    return subprocess.run([sys.executable, "-m", "freeze", *args], capture_output=True, text=True, env=env,
                          cwd=REPO, timeout=300, check=False)


def test_lab_database_profile_zeroes_the_lab_schema(pg_db: str, tmp_path: Path) -> None:
    schema = yaml.safe_load(GROUP_VARS.read_text())["postgresql_server_schema_sql"]
    with psycopg.connect(pg_db, autocommit=True) as conn:
        conn.execute(schema)
        conn.execute("INSERT INTO public.results (polling_station, candidate, votes) VALUES "
                     "('drill-001', 'Candidate A', 120), ('drill-002', 'Candidate B', 95)")
    manifest, evidence = tmp_path / "database.manifest.json", tmp_path / "zero"
    snap = _freeze(pg_db, "snapshot", "--profile", str(PROFILE), "--output", str(manifest))
    assert snap.returncode == 0, snap.stderr
    wrong = _freeze(pg_db, "zero", "--profile", str(PROFILE), "--manifest", str(manifest),
                    "--evidence-dir", str(tmp_path / "refused"), "--confirm", "GE-2026")
    assert wrong.returncode != 0 and len(wrong.stderr.strip().splitlines()) == 1, wrong.stderr
    with psycopg.connect(pg_db) as conn:  # a wrong confirmation touched nothing
        assert conn.execute("SELECT count(*) FROM public.results").fetchone() == (2,)
    zero = _freeze(pg_db, "zero", "--profile", str(PROFILE), "--manifest", str(manifest),
                   "--evidence-dir", str(evidence), "--confirm", "LAB-2026")
    assert zero.returncode == 0, zero.stdout + zero.stderr
    with psycopg.connect(pg_db, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM public.results").fetchone() == (0,)
        # the identity restarted and the zeroed database still counts
        row = conn.execute("INSERT INTO public.results (polling_station, candidate, votes) "
                           "VALUES ('s-1', 'Candidate A', 7) RETURNING id").fetchone()
        assert row == (1,)
    report = (evidence / "zero-report.html").read_text() if (evidence / "zero-report.html").exists() else ""
    if not report:  # the evidence directory is per run
        report = next(evidence.rglob("zero-report.html")).read_text()
    assert "Totals" in report and "LAB-2026" in report
