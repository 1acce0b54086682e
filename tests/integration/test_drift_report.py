"""`freeze verify` as a person reads it, through the real CLI, real files and a
real PostgreSQL: rows by column with old and new values, a long path whole on a
narrow terminal, times as dates, and what the profile left out listed after "clean"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from freeze.errors import EXIT_OK

REPO = Path(__file__).resolve().parents[2]


def freeze(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "freeze", *args], capture_output=True,
                          text=True, env={**os.environ, **env}, cwd=REPO, timeout=600)


@pytest.mark.postgres
def test_drift_report_reads_well(tmp_path: Path, pg_db: str) -> None:
    deep = tmp_path / "app" / ("counting-configuration-directory-" * 3).rstrip("-")
    deep.mkdir(parents=True)
    target = deep / "tally-rules-for-the-regional-count.conf"
    target.write_text("threshold = 5\n")
    (tmp_path / "cache").mkdir()
    profile = tmp_path / "profile.yml"
    profile.write_text(f"""
paths:
  - {{path: {tmp_path}/app, exclude: ["*.swp"]}}
  - {{path: {tmp_path}/cache, volatility: excluded}}
packages: {{enabled: false}}
services: {{enabled: false}}
accounts: {{enabled: false}}
network: {{enabled: false}}
kernel: {{enabled: false}}
database:
  dsn_env: FREEZE_TEST_DSN
  row_values: true
  exclude_tables: [public.sessions]
""")
    env = {"FREEZE_TEST_DSN": pg_db, "COLUMNS": "40"}
    with __import__("psycopg").connect(pg_db, autocommit=True) as c:
        c.execute("CREATE TABLE results (id int PRIMARY KEY, candidate text, votes int)")
        c.execute("INSERT INTO results VALUES (1, 'Ada', 10), (2, 'Bob', 20)")
        c.execute("CREATE TABLE sessions (id int PRIMARY KEY, token text)")
    manifest = tmp_path / "m.json"
    proc = freeze("snapshot", "-p", str(profile), "-o", str(manifest), env=env)
    assert proc.returncode == EXIT_OK, proc.stderr
    # the manifest names each detailed row's columns
    rows = json.loads(manifest.read_text())["sections"]["db_rows"]
    assert rows["public.results[(1)]"]["values"] == {"id": "1", "candidate": "Ada", "votes": "10"}

    proc = freeze("verify", str(manifest), "-p", str(profile), env=env)
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    host = os.uname().nodename
    assert f"clean: host {host} matches the manifest" in lines
    tail = lines[lines.index("deliberately not content-checked (by the profile):"):]
    assert f"  path {tmp_path}/app: entries matching *.swp (excluded)" in tail
    assert f"  path {tmp_path}/cache (excluded: not recorded)" in tail
    assert "  table public.sessions (excluded: content not checked)" in tail

    with __import__("psycopg").connect(pg_db, autocommit=True) as c:
        c.execute("UPDATE results SET votes = 11 WHERE id = 1")
        c.execute("DELETE FROM results WHERE id = 2")
        c.execute("INSERT INTO results VALUES (3, 'Cy', 0)")
        c.execute("INSERT INTO sessions VALUES (1, 'not checked')")
    target.write_text("threshold = 6\n")
    os.utime(target, ns=(1_700_000_000_000_000_000, 1_700_000_000_000_000_000))
    proc = freeze("verify", str(manifest), "-p", str(profile), env=env)
    assert proc.returncode == 1 | 2 | 4, proc.stdout + proc.stderr
    assert "Traceback" not in proc.stderr
    out = proc.stdout
    lines = out.splitlines()
    assert lines[0] == f"host: {host}"
    # the summary comes before the detail
    assert out.index("summary by kind:") < out.index("summary by table (rows):") \
        < out.index("detail:")
    assert "  database row: 1 removed, 1 added, 1 changed" in lines
    assert "  public.results: 3 row(s)" in lines
    # a changed row: column by column, old and new
    i = lines.index("- changed: table public.results, row with primary key (1)")
    block = lines[i:i + 8]
    j = block.index("    column votes:")
    assert block[j + 1:j + 3] == ["      old: 10", "      new: 11"]
    assert "    column candidate:" not in block
    # a removed and an added row: every column with its value
    i = lines.index("- removed: table public.results, row with primary key (2)")
    assert {"    column candidate: Bob", "    column votes: 20"} <= set(lines[i:i + 5])
    i = lines.index("- added: table public.results, row with primary key (3)")
    assert {"    column candidate: Cy", "    column votes: 0"} <= set(lines[i:i + 5])
    # the long path whole on one line although the terminal is 40 columns wide
    assert f"- changed: file {target}" in lines
    i = lines.index(f"- changed: file {target}")
    detail = lines[i:i + 16]
    assert "      new: 2023-11-14 22:13:20.000000 UTC" in detail
    assert "sessions" not in out.split("deliberately not content-checked")[0]

    # a page of the report as a person sees it, for artifacts/ (looked at by a person)
    from tests.artifacts import pdf_page_png, text_pdf

    wide = freeze("verify", str(manifest), "-p", str(profile), env={**env, "COLUMNS": "100"})
    pdf = text_pdf(wide.stdout, f"$ freeze verify {manifest.name} -p {profile.name}   (exit {wide.returncode})",
                   tmp_path / "drift-report.pdf")
    pdf_page_png(pdf, "drift-report-page-1")
