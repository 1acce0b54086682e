"""python -m freeze.refdb: build the reference counting database.

The DSN is read from an environment variable (--dsn-env), never from the command
line, so the password never shows in the process list or shell history.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import psycopg

from freeze.refdb.build import RefDbSize, build, load_drill_results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m freeze.refdb", description=__doc__)
    ap.add_argument("--dsn-env", required=True, metavar="VAR",
                    help="environment variable holding the libpq DSN")
    ap.add_argument("--tables", type=int, default=350, help="polling tables (mesas)")
    ap.add_argument("--candidates", type=int, default=12, help="candidates per contest")
    ap.add_argument("--drill", action="store_true", help="also load simulated results")
    ap.add_argument("--results-only", action="store_true",
                    help="only simulate results on an existing (zeroed) reference database")
    ap.add_argument("--replace", action="store_true", help="drop schema counting first")
    ap.add_argument("--seed", type=int, default=2026)
    args = ap.parse_args(argv)
    dsn = os.environ.get(args.dsn_env)
    if not dsn:
        print(f"refdb: error: environment variable {args.dsn_env} is not set", file=sys.stderr)
        return 64
    start = time.monotonic()
    try:
        with psycopg.connect(dsn) as conn:
            if args.results_only:
                load_drill_results(conn, args.seed)
            else:
                build(conn, RefDbSize(args.tables, args.candidates), drill=args.drill,
                      seed=args.seed, replace=args.replace)
    except psycopg.Error as exc:
        print(f"refdb: error: {' '.join(str(exc).split())}", file=sys.stderr)
        return 69
    print(f"refdb: done in {time.monotonic() - start:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
