"""Counting database benchmark on a converged lab fleet (postgresql_server role).

Same run, same server: the write rate of a vote-insert workload (pgbench custom
script, one INSERT per transaction) WITH pgaudit object auditing of the written
table and WITHOUT it, in alternating rounds (A B A B ...) so drift of the
emulated VM's speed hits both alike; and the streaming standby's replay lag
(pg_stat_replication.replay_lag on the primary, sampled every ~0.2 s) during
the audited rounds: p50 / p99.

The workload writes a scratch table `public.bench_votes` that the role's
pgaudit role (postgresql_server_pgaudit_role) may write, exactly like the
result tables, and drops it afterwards: the real results stay untouched.
"Without" = the same sessions with `pgaudit.role` set empty for them
(PGOPTIONS, as the postgres superuser over the local socket); session auditing
(DDL, ROLE) stays on in both.

Usage: python benchmarks/db_audit_bench.py --inventory .lab/fleet/inventory
          [--seconds 20] [--rounds 2] [--clients 4]
Goals (issue 13): audit costs at most 20 % of the write rate; replica lag p99 < 1 s.
Writes artifacts/bench/db_audit_bench.json.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]

REMOTE = r"""
set -eu
cd /tmp
SECONDS_PER_ROUND=__SECONDS__; ROUNDS=__ROUNDS__; CLIENTS=__CLIENTS__; AUDIT_ROLE=__AUDIT_ROLE__
q() { psql -X -q -At -d counting -v ON_ERROR_STOP=1 -c "$1"; }
q "DROP TABLE IF EXISTS public.bench_votes"
q "CREATE TABLE public.bench_votes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     polling_station text NOT NULL, candidate text NOT NULL, votes int NOT NULL)"
q "GRANT INSERT, UPDATE, DELETE ON public.bench_votes TO \"$AUDIT_ROLE\""
cat > /tmp/bench_vote.sql <<'SQL'
\set station random(1, 5000)
\set cand random(1, 8)
\set v random(0, 500)
INSERT INTO public.bench_votes (polling_station, candidate, votes) VALUES ('bench-' || :station, 'c' || :cand, :v);
SQL
log=/var/log/postgresql/postgresql-15-main.log
for r in $(seq 1 "$ROUNDS"); do
  for mode in audited unaudited; do
    before=$(grep -c 'AUDIT: OBJECT.*bench_votes' "$log" || true)
    if [ "$mode" = audited ]; then opts=""; else opts="-c pgaudit.role="; fi
    PGOPTIONS="$opts" /usr/lib/postgresql/15/bin/pgbench -n -f /tmp/bench_vote.sql -c "$CLIENTS" -j "$CLIENTS" \
      -T "$SECONDS_PER_ROUND" counting > /tmp/bench_out.txt 2>&1 &
    pid=$!
    if [ "$mode" = audited ]; then
      # ONE psql session sampling every 0.2 s for the round (a psql started per
      # sample took seconds on the emulated VM: a handful of samples); it ends by
      # itself, so its output is flushed (a killed psql loses what it buffered)
      for i in $(seq 1 $((SECONDS_PER_ROUND * 4))); do
        echo "SELECT 'lag ' || coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication;"
        echo "SELECT pg_sleep(0.2);"
      done | psql -X -q -At -d counting > /tmp/bench_lag.txt 2>/dev/null &
      lagpid=$!
    fi
    wait "$pid"
    if [ "$mode" = audited ]; then wait "$lagpid" || true; cat /tmp/bench_lag.txt; fi
    after=$(grep -c 'AUDIT: OBJECT.*bench_votes' "$log" || true)
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' /tmp/bench_out.txt | head -1)
    echo "round $r $mode tps $tps audit_lines $((after - before))"
  done
done
q "DROP TABLE public.bench_votes"
"""


def _host(inventory: Path, name: str) -> dict[str, Any]:
    data = yaml.safe_load((inventory / "hosts.yml").read_text())
    stack = [data["all"]]
    while stack:
        node = stack.pop()
        hosts = node.get("hosts") or {}
        if name in hosts and hosts[name]:
            return dict(hosts[name])
        stack.extend((node.get("children") or {}).values())
    raise SystemExit(f"db_audit_bench: host {name} not in {inventory}/hosts.yml")


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--inventory", type=Path, default=REPO / ".lab/fleet/inventory")
    ap.add_argument("--host", default="count-db")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--audit-role", default="pgaudit_result_writes")
    args = ap.parse_args()
    h = _host(args.inventory, args.host)
    script = (REMOTE.replace("__SECONDS__", str(args.seconds)).replace("__ROUNDS__", str(args.rounds))
              .replace("__CLIENTS__", str(args.clients)).replace("__AUDIT_ROLE__", args.audit_role))
    ssh = ["ssh", "-p", str(h["ansible_port"]), "-i", str(h["ansible_ssh_private_key_file"]),
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
           f"{h['ansible_user']}@{h['ansible_host']}", "sudo -n -u postgres bash -s"]
    proc = subprocess.run(ssh, input=script, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    tps: dict[str, list[float]] = {"audited": [], "unaudited": []}
    audit_lines: dict[str, int] = {"audited": 0, "unaudited": 0}
    lags: list[float] = []
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["lag"]:
            lags.append(float(parts[1]))
        elif parts[:1] == ["round"]:
            tps[parts[2]].append(float(parts[4]))
            audit_lines[parts[2]] += int(parts[6])
    audited, unaudited = statistics.mean(tps["audited"]), statistics.mean(tps["unaudited"])
    result = {
        "host": args.host, "clients": args.clients, "seconds_per_round": args.seconds, "rounds": args.rounds,
        "tps_audited": tps["audited"], "tps_unaudited": tps["unaudited"],
        "tps_audited_mean": round(audited, 1), "tps_unaudited_mean": round(unaudited, 1),
        "audit_cost_percent": round(100 * (1 - audited / unaudited), 1),
        "audit_object_log_lines": audit_lines,
        "replica_lag_samples": len(lags),
        "replica_lag_p50_s": round(_pct(lags, 0.50), 4) if lags else None,
        "replica_lag_p99_s": round(_pct(lags, 0.99), 4) if lags else None,
        "replica_lag_max_s": round(max(lags), 4) if lags else None,
    }
    out = REPO / "artifacts/bench/db_audit_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    ok = result["audit_cost_percent"] <= 20 and (result["replica_lag_p99_s"] or 0) < 1
    print(f"goals (audit cost <= 20 %, lag p99 < 1 s): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
