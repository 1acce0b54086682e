"""Benchmark of `freeze zero` on the reference counting database.

Builds the reference DB at 35,000 polling tables x 12 candidates per contest
(~1.7 M vote rows) on a throw-away PostgreSQL cluster (or --dsn-env VAR), then
times a real zero through `freeze.zero.ZeroSession`:

  * zero + report = lock, clear, sequence reset, zero report from base tables,
    evidence row, COMMIT (goal: <= 5 s on the 2-core lab machine; the backup is
    excluded, as it scales with the data and runs before any change);
  * backup + verify = pg_dump of the snapshot + restore into a scratch database
    + table-by-table comparison, printed as a ratio against a plain `pg_dump -Fc`
    of the same database measured in the same run (the cost of proving the
    backup restores);
  * the same zero with method `delete` instead of `truncate`, as a ratio.

The drift check is not part of it (that is the snapshot benchmark's job).
Usage: python benchmarks/zero_bench.py [--tables 35000] [--dsn-env VAR]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psycopg
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from freeze.refdb import RefDbSize, build, load_drill_results  # noqa: E402
from freeze.zero import DriftGate, ZeroSession, parse_zero_spec  # noqa: E402
from freeze.zero.backup import find_tool, libpq_environment  # noqa: E402

GOAL_S = 5.0


def _spec(bindir: str | None, method: str):
    raw = yaml.safe_load((REPO / "freeze/refdb/profile.yml").read_text())["zero"]
    raw["backup"] = {"pg_bindir": bindir} if bindir else {}
    for c in raw["clear"]:
        c["method"] = method
    return parse_zero_spec(raw)


def _zero(dsn: str, bindir: str | None, method: str, work: Path,
          render: bool = False) -> dict[str, float]:
    gate = DriftGate(None, None, True, 0, {"note": "benchmark: drift check not run"})
    with ZeroSession(dsn, _spec(bindir, method)) as s:
        r = s.zero(evidence_dir=work / method, backup_dir=work / method / "backups", gate=gate,
                   confirmation="benchmark", render=render)
    return r.timings


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--tables", type=int, default=35000)
    ap.add_argument("--dsn-env", metavar="VAR", help="use this database instead of a fresh cluster")
    ap.add_argument("--render", action="store_true",
                    help="also time the printable report (HTML + PDF) of the zero (minutes)")
    args = ap.parse_args()

    server = None
    if args.dsn_env:
        dsn = os.environ[args.dsn_env]
        bindir = None
    else:
        from tests.pg import start_server

        server = start_server()
        dsn = server.createdb("zero_bench")
        bindir = str(server.bindir)
    try:
        size = RefDbSize(args.tables, 12)
        t = time.monotonic()
        with psycopg.connect(dsn) as conn:
            build(conn, size, drill=True, replace=True)
            votes = conn.execute("SELECT count(*) FROM counting.tally_votes").fetchone()[0]
        build_s = time.monotonic() - t
        print(f"reference DB: {args.tables} polling tables, {votes:,} vote rows, built in {build_s:.1f} s")

        with tempfile.TemporaryDirectory(prefix="zero-bench-") as tmp:
            work = Path(tmp)
            # reference: a plain pg_dump -Fc of the same data, no verification
            with libpq_environment(dsn) as env:
                t = time.monotonic()
                subprocess.run([find_tool("pg_dump", bindir), "-Fc", "-w", f"--file={work}/ref.dump"],
                               env=env, check=True)
                ref_dump = time.monotonic() - t

            tr = _zero(dsn, bindir, "truncate", work, render=args.render)
            with psycopg.connect(dsn) as conn:
                load_drill_results(conn)
            de = _zero(dsn, bindir, "delete", work)

        def zero_and_report(tm: dict[str, float]) -> float:
            return tm["clear"] + tm["report"] + tm["commit"]

        def backup_verify(tm: dict[str, float]) -> float:
            return tm["lock_and_digest"] + tm["backup_dump"] + tm["backup_verify"]

        z = zero_and_report(tr)
        print("phases (truncate): " + ", ".join(f"{k} {v:.2f} s" for k, v in tr.items()))
        print("phases (delete):   " + ", ".join(f"{k} {v:.2f} s" for k, v in de.items()))
        print(f"zero + report (truncate): {z:.2f} s  goal <= {GOAL_S:.0f} s  "
              f"{'OK' if z <= GOAL_S else 'OVER GOAL'}  ({z / GOAL_S:.2f} x goal)")
        print(f"zero + report (delete):   {zero_and_report(de):.2f} s  "
              f"({zero_and_report(de) / z:.1f} x truncate)")
        if args.render:
            print(f"printable report (HTML + PDF, after the commit): {tr['export']:.1f} s")
        bv = backup_verify(tr)
        print(f"backup + verify restore:  {bv:.2f} s  ({bv / ref_dump:.1f} x a plain pg_dump "
              f"of {ref_dump:.2f} s)")
    finally:
        if server is not None:
            server.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
