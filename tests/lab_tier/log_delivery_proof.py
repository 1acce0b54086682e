"""Prove that log delivery loses nothing while the collector is down, and
duplicates nothing when it comes back.

    python -m tests.lab_tier.log_delivery_proof --inventory DIR \
        [--sender count-db] [--collector count-app] [--outage 60] [--count 1000]

Stops rsyslog on the collector, sends COUNT numbered messages with logger(1) on
the sender (journald -> rsyslog -> the disk-assisted RELP queue), keeps the
collector down for OUTAGE seconds in all, starts it, then waits for the messages
in the collector's store: exits 0 only if every number 1..COUNT arrived exactly
once. The wait ends 90 s after the store last grew (at most --max-wait s in all):
the queue drains behind everything else the sender logged during the outage (the
audit trail's lines), at the pace of an emulated CPU that other proofs share, so
a fixed deadline measured that pace rather than loss. On failure it says where the
missing messages are: in the sender's journal (sent, not delivered) and the size
of the sender's on-disk queue.
"""

from __future__ import annotations

import argparse
import collections
import re
import subprocess
import sys
import time
import uuid


def _shell(inventory: str, host: str, cmd: str) -> str:
    res = subprocess.run(["ansible", "-i", inventory, host, "-b", "-o", "-m", "ansible.builtin.shell", "-a", cmd],
                         capture_output=True, text=True, check=False)
    if res.returncode != 0:
        raise SystemExit(f"{host}: {cmd!r} failed:\n{res.stdout}{res.stderr}")
    return res.stdout


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.log_delivery_proof", description=__doc__)
    p.add_argument("--inventory", required=True)
    p.add_argument("--sender", default="count-db")
    p.add_argument("--collector", default="count-app")
    p.add_argument("--outage", type=int, default=60)
    p.add_argument("--count", type=int, default=1000)
    p.add_argument("--store", default="/var/log/remote")
    p.add_argument("--stall", type=int, default=90, help="give up after the store has not grown for this long")
    p.add_argument("--max-wait", type=int, default=420)
    args = p.parse_args(argv)

    run_id = f"logproof-{uuid.uuid4().hex[:12]}"
    _shell(args.inventory, args.collector, "systemctl stop rsyslog")
    down = time.monotonic()
    try:
        # logger(1) sends one message per line of its input: ten processes of at
        # most 100 lines each (below rsyslog's per-process burst limit of 200)
        # instead of a fork per message, which alone took ~90 s on the emulated VM.
        _shell(args.inventory, args.sender,
               f"set -e; for s in $(seq 1 100 {args.count}); do "
               f"e=$((s + 99)); [ $e -le {args.count} ] || e={args.count}; "
               f"seq -f 'n=%g' $s $e | logger -t {run_id}; done")
        time.sleep(max(0.0, args.outage - (time.monotonic() - down)))
    finally:
        _shell(args.inventory, args.collector, "systemctl start rsyslog")
    outage = time.monotonic() - down

    pattern = re.compile(rf"{run_id}(?:\[\d+\])?: n=(\d+)")
    counts: collections.Counter[int] = collections.Counter()
    started = last_growth = time.monotonic()
    seen = -1
    while True:
        out = _shell(args.inventory, args.collector,
                     f"cat {args.store}/{args.sender}/*.log | grep -F {run_id} || true")
        counts = collections.Counter(int(m.group(1)) for m in pattern.finditer(out))
        now = time.monotonic()
        if sum(counts.values()) != seen:
            seen, last_growth = sum(counts.values()), now
        if seen >= args.count or now - last_growth > args.stall or now - started > args.max_wait:
            break
        time.sleep(3)
    drained = last_growth - started
    missing = sorted(set(range(1, args.count + 1)) - set(counts))
    twice = sorted(n for n, c in counts.items() if c > 1)
    print(f"log delivery proof {run_id}: collector down {outage:.0f} s, sent {args.count}, "
          f"stored {len(counts)} distinct, missing {len(missing)}, duplicated {len(twice)}, "
          f"last arrival {drained:.0f} s after the collector started")
    if missing or twice:
        print(f"missing: {missing[:20]} duplicated: {twice[:20]}")
        # where the missing ones stopped: the journal (logger -> journald), the sender's own
        # syslog file (journald -> rsyslog), or the queue to the collector (rsyslog -> RELP)
        journal = _shell(args.inventory, args.sender, f"journalctl -q -o cat -t {run_id} | wc -l; "
                         f"cat /var/log/syslog* 2>/dev/null | grep -c {run_id} || true; "
                         "journalctl -q --since -15min | grep -iE 'suppress|rate-limit|ratelimit' | tail -3")
        spool = _shell(args.inventory, args.sender, "du -sb /var/spool/rsyslog 2>/dev/null; "
                       "ls -la /var/spool/rsyslog 2>/dev/null | tail -5; systemctl is-active rsyslog")
        print(f"sender: the run's messages in its journal, in its syslog file; rate limiting seen: {journal.strip()}\n"
              f"sender's queue: {spool.strip()}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
