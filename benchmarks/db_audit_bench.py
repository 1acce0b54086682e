"""Counting database benchmark on a converged lab fleet (postgresql_server role).

Same run, same server: the write rate of two vote-insert workloads (pgbench
custom scripts) WITH pgaudit object auditing of the written table and WITHOUT
it, in alternating rounds (A B A B ...) so drift of the emulated VM's speed
hits both alike; and the streaming standby's replay lag
(pg_stat_replication.replay_lag on the primary, sampled every ~0.2 s) during
the audited rounds: p50 / p99. Before each round the bench waits until the
log shipper (rsyslog) is idle again, and reports how long it still worked after
each round: the shipped copy's lag behind the database.

Workloads:
  tally-sheet  one polling station's tally sheet per transaction: one INSERT
               of a row per candidate plus blank and null votes (10 rows), the
               way a result arrives from a transmission device. pgaudit writes
               one log line per statement, so this is the realistic audit cost.
  one-row      one INSERT of one row per transaction: the worst case for
               auditing (a log line per row); reported, not the goal's measure.

The workload writes a scratch table `public.bench_votes` that the role's
pgaudit role (postgresql_server_pgaudit_role) may write, exactly like the
result tables, and drops it afterwards: the real results stay untouched.
"Without" = the same sessions with `pgaudit.role` set empty for them
(PGOPTIONS, as the postgres superuser over the local socket); session auditing
(DDL, ROLE) stays on in both.

Usage: python benchmarks/db_audit_bench.py --inventory .lab/fleet/inventory
          [--seconds 20] [--rounds 2] [--clients 4] [--workload tally-sheet,one-row]
Goals (issue 13): audit costs at most 20 % of the tally-sheet write rate;
replica lag p99 < 1 s.
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
# workload -> rows written per transaction (see the module docstring)
WORKLOADS = {"tally-sheet": 10, "one-row": 1}

REMOTE = r"""
set -eu
cd /tmp
SECONDS_PER_ROUND=__SECONDS__; ROUNDS=__ROUNDS__; CLIENTS=__CLIENTS__; AUDIT_ROLE=__AUDIT_ROLE__
q() { psql -X -q -At -d counting -v ON_ERROR_STOP=1 -c "$1"; }
q "DROP TABLE IF EXISTS public.bench_votes"
q "CREATE TABLE public.bench_votes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
     polling_station text NOT NULL, candidate text NOT NULL, votes int NOT NULL)"
q "GRANT INSERT, UPDATE, DELETE ON public.bench_votes TO \"$AUDIT_ROLE\""
cat > /tmp/bench_one-row.sql <<'SQL'
\set station random(1, 5000)
\set cand random(1, 8)
\set v random(0, 500)
INSERT INTO public.bench_votes (polling_station, candidate, votes) VALUES ('bench-' || :station, 'c' || :cand, :v);
SQL
{
  echo '\set station random(1, 5000)'
  printf "INSERT INTO public.bench_votes (polling_station, candidate, votes) VALUES"
  for c in c1 c2 c3 c4 c5 c6 c7 c8 blank null; do
    [ "$c" = c1 ] || printf ","
    printf " ('bench-' || :station, '%s', (random() * 500)::int)" "$c"
  done
  echo ";"
} > /tmp/bench_tally-sheet.sql
log=/var/log/postgresql/postgresql-15-main.log
# Wait until the log shipper (rsyslog) has caught up with what the last round
# wrote: under 20 ms of CPU in a second, at most 300 s. Otherwise the shipping of
# an audited round's lines would be paid by the next round, audited or not.
# Prints how long that took: how far the shipped copy lagged behind the database.
settle() {
  stat=/sys/fs/cgroup/system.slice/rsyslog.service/cpu.stat
  [ -r "$stat" ] || { echo "settle $1 none 0"; return; }
  t0=$(date +%s%N); prev=$(awk '$1 == "usage_usec" {print $2}' "$stat")
  for _ in $(seq 1 300); do
    sleep 1
    cur=$(awk '$1 == "usage_usec" {print $2}' "$stat")
    [ $((cur - prev)) -lt 20000 ] && break
    prev=$cur
  done
  echo "settle $1 rsyslog $(( ($(date +%s%N) - t0) / 1000000 ))"
}
settle start
for r in $(seq 1 "$ROUNDS"); do
 for workload in __WORKLOADS__; do
  for mode in audited unaudited; do
    before=$(grep -c 'AUDIT: OBJECT.*bench_votes' "$log" || true)
    if [ "$mode" = audited ]; then opts=""; else opts="-c pgaudit.role="; fi
    PGOPTIONS="$opts" /usr/lib/postgresql/15/bin/pgbench -n -f "/tmp/bench_$workload.sql" -c "$CLIENTS" -j "$CLIENTS" \
      -T "$SECONDS_PER_ROUND" counting > /tmp/bench_out.txt 2>&1 &
    pid=$!
    # ONE psql session sampling the replay lag every 0.2 s for the round (a psql
    # started per sample took seconds on the emulated VM: a handful of samples); it
    # ends by itself, so its output is flushed (a killed psql loses what it
    # buffered). It runs in BOTH modes, so its CPU weighs on both alike (it ran in
    # the audited rounds only before, and was counted as audit cost); the lag
    # reported is the audited rounds'.
    for i in $(seq 1 $((SECONDS_PER_ROUND * 4))); do
      echo "SELECT 'lag ' || coalesce(extract(epoch FROM replay_lag), 0) FROM pg_stat_replication;"
      echo "SELECT pg_sleep(0.2);"
    done | psql -X -q -At -d counting > /tmp/bench_lag.txt 2>/dev/null &
    lagpid=$!
    wait "$pid"
    wait "$lagpid" || true
    if [ "$mode" = audited ]; then cat /tmp/bench_lag.txt; fi
    after=$(grep -c 'AUDIT: OBJECT.*bench_votes' "$log" || true)
    tps=$(sed -n 's/^tps = \([0-9.]*\).*/\1/p' /tmp/bench_out.txt | head -1)
    echo "round $r $workload $mode tps $tps audit_lines $((after - before))"
    settle "$workload-$mode"
  done
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
    ap.add_argument("--workload", default="tally-sheet,one-row",
                    help="comma-separated: tally-sheet, one-row (default both)")
    args = ap.parse_args()
    workloads = [w for w in args.workload.split(",") if w]
    if not workloads or any(w not in WORKLOADS for w in workloads):
        raise SystemExit(f"db_audit_bench: --workload takes {', '.join(WORKLOADS)}")
    h = _host(args.inventory, args.host)
    script = (REMOTE.replace("__SECONDS__", str(args.seconds)).replace("__ROUNDS__", str(args.rounds))
              .replace("__CLIENTS__", str(args.clients)).replace("__AUDIT_ROLE__", args.audit_role)
              .replace("__WORKLOADS__", " ".join(workloads)))
    ssh = ["ssh", "-p", str(h["ansible_port"]), "-i", str(h["ansible_ssh_private_key_file"]),
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
           f"{h['ansible_user']}@{h['ansible_host']}", "sudo -n -u postgres bash -s"]
    proc = subprocess.run(ssh, input=script, capture_output=True, text=True, timeout=3600)
    if proc.returncode != 0:
        print(proc.stdout + proc.stderr, file=sys.stderr)
        return 1
    tps: dict[tuple[str, str], list[float]] = {}
    audit_lines: dict[tuple[str, str], int] = {}
    lags: list[float] = []
    # after which round -> milliseconds until the shipper was idle again
    settles: dict[str, list[int]] = {}
    for line in proc.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["lag"]:
            lags.append(float(parts[1]))
        elif parts[:1] == ["settle"]:
            settles.setdefault(parts[1], []).append(int(parts[3]))
        elif parts[:1] == ["round"]:
            key = (parts[2], parts[3])
            tps.setdefault(key, []).append(float(parts[5]))
            audit_lines[key] = audit_lines.get(key, 0) + int(parts[7])
    per_workload: dict[str, Any] = {}
    for w in workloads:
        audited = statistics.mean(tps[(w, "audited")])
        unaudited = statistics.mean(tps[(w, "unaudited")])
        per_workload[w] = {
            "rows_per_transaction": WORKLOADS[w],
            "tps_audited": tps[(w, "audited")], "tps_unaudited": tps[(w, "unaudited")],
            "tps_audited_mean": round(audited, 1), "tps_unaudited_mean": round(unaudited, 1),
            "rows_per_s_audited": round(audited * WORKLOADS[w], 1),
            "rows_per_s_unaudited": round(unaudited * WORKLOADS[w], 1),
            "audit_cost_percent": round(100 * (1 - audited / unaudited), 1),
            "audit_object_log_lines": {m: audit_lines[(w, m)] for m in ("audited", "unaudited")},
            # seconds the log shipper still worked after each round (its lag behind the
            # database at the round's end); the next round started only then
            "shipper_catch_up_s": {m: [round(ms / 1000, 1) for ms in settles.get(f"{w}-{m}", [])]
                                   for m in ("audited", "unaudited")},
        }
    result = {
        "host": args.host, "clients": args.clients, "seconds_per_round": args.seconds, "rounds": args.rounds,
        "workloads": per_workload,
        "replica_lag_samples": len(lags),
        "replica_lag_p50_s": round(_pct(lags, 0.50), 4) if lags else None,
        "replica_lag_p99_s": round(_pct(lags, 0.99), 4) if lags else None,
        "replica_lag_max_s": round(max(lags), 4) if lags else None,
    }
    out = REPO / "artifacts/bench/db_audit_bench.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    for w, figures in per_workload.items():
        print(f"{w}: {figures['tps_audited_mean']} tx/s audited, {figures['tps_unaudited_mean']} without: "
              f"audit costs {figures['audit_cost_percent']} %; the log shipper caught up "
              f"{figures['shipper_catch_up_s']['audited']} s after the audited rounds")
    if "tally-sheet" in per_workload:
        ok = per_workload["tally-sheet"]["audit_cost_percent"] <= 20 and (result["replica_lag_p99_s"] or 0) < 1
        print(f"goals (tally-sheet audit cost <= 20 %, lag p99 < 1 s): {'met' if ok else 'NOT met'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
