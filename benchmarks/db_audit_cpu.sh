#!/bin/bash
# Where the counting database host's CPU goes per tally sheet, with and without
# pgaudit object auditing (issue 13), measured in the same run: the postgres
# slice's and rsyslog's cgroup CPU, pgbench's own (bash `time`) and the whole
# VM's (/proc/stat: user, system, irq, softirq), each run waiting until the log
# shipper is idle again so its shipping of the run's lines is counted.
# Complements benchmarks/db_audit_bench.py (throughput); run ON count-db as root:
#   python -m lab ssh count-db "sudo bash -s RATE SECONDS" < benchmarks/db_audit_cpu.sh
# RATE sheets/s from 2 clients (0: as fast as 4 clients go), default 60 20.
# Writes and drops a scratch table public.bench_votes, like db_audit_bench.py.
set -eu
rate=${1:-60}; secs=${2:-20}
if [ "$rate" = 0 ]; then pace="-c 4 -j 4"; else pace="-c 2 -j 2 -R $rate"; fi
cd /tmp
q() { sudo -u postgres psql -X -q -At -d counting -v ON_ERROR_STOP=1 -c "$1"; }
q "DROP TABLE IF EXISTS public.bench_votes"
q "CREATE TABLE public.bench_votes (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, polling_station text NOT NULL, candidate text NOT NULL, votes int NOT NULL)"
q "GRANT INSERT, UPDATE, DELETE ON public.bench_votes TO pgaudit_result_writes"
{
  echo '\set station random(1, 5000)'
  printf "INSERT INTO public.bench_votes (polling_station, candidate, votes) VALUES"
  for c in c1 c2 c3 c4 c5 c6 c7 c8 blank null; do
    [ "$c" = c1 ] || printf ","
    printf " ('bench-' || :station, '%s', (random() * 500)::int)" "$c"
  done
  echo ";"
} > /tmp/ra_tally.sql
chmod 0644 /tmp/ra_tally.sql
rs=/sys/fs/cgroup/system.slice/rsyslog.service/cpu.stat
pg=/sys/fs/cgroup/system.slice/system-postgresql.slice/cpu.stat
u() { awk '$1 == "usage_usec" {print $2}' "$1"; }
busy() { awk '/^cpu / {print ($2+$3+$4+$7+$8)*10000}' /proc/stat; }  # usec (USER_HZ 100)
fields() { awk '/^cpu / {print $2*10000, $3*10000, $4*10000, $7*10000, $8*10000}' /proc/stat; }
settle() { prev=$(u $rs); for _ in $(seq 1 300); do sleep 1; cur=$(u $rs); [ $((cur - prev)) -lt 20000 ] && break; prev=$cur; done; }
log=/var/log/postgresql/postgresql-15-main.log
run() {
  label=$1; opts=$2
  settle
  l0=$(wc -l < $log); r0=$(u $rs); p0=$(u $pg); b0=$(busy); f0=$(fields)
  TIMEFORMAT='%U %S'
  { time sudo -u postgres env PGOPTIONS="$opts" /usr/lib/postgresql/15/bin/pgbench -n -f /tmp/ra_tally.sql $pace -T "$secs" counting > /tmp/ra_out.txt 2>&1 ; } 2> /tmp/ra_time
  p1=$(u $pg); b1=$(busy)
  settle
  r1=$(u $rs); b2=$(busy); l1=$(wc -l < $log); f1=$(fields)
  tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' /tmp/ra_out.txt)
  read -r bu bs < /tmp/ra_time
  lines=$((l1 - l0))
  awk -v L="$label" -v tx="$tx" -v lines="$lines" -v pg=$((p1-p0)) -v rs=$((r1-r0)) -v bb=$((b2-b0)) -v bu="$bu" -v bs="$bs" \
    'BEGIN { printf "%-10s tx %d lines %d | per tx (us): postgres %.0f  rsyslog %.0f  pgbench %.0f  whole VM %.0f\n", L, tx, lines, pg/tx, rs/tx, (bu+bs)*1e6/tx, bb/tx }'
  echo "$f0 $f1" | awk -v tx="$tx" '{printf "           user %.0f nice %.0f system %.0f irq %.0f softirq %.0f (us per tx)\n", ($6-$1)/tx, ($7-$2)/tx, ($8-$3)/tx, ($9-$4)/tx, ($10-$5)/tx}'
}
for i in 1 2; do
  run audited ""
  run plain "-c pgaudit.role="
done
q "DROP TABLE public.bench_votes"
