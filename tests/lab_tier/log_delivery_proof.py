"""Prove that log delivery loses nothing while the collector is down, and
duplicates nothing when it comes back.

    python -m tests.lab_tier.log_delivery_proof --inventory DIR \
        [--sender count-db] [--collector count-app] [--outage 60] [--count 1000]

Stops rsyslog on the collector, sends COUNT numbered messages with logger(1) on
the sender (journald -> rsyslog -> the disk-assisted RELP queue), keeps the
collector down for OUTAGE seconds in all, starts it, then waits (up to 90 s) for
the messages in the collector's store: exits 0 only if every number 1..COUNT
arrived exactly once.
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
    args = p.parse_args(argv)

    run_id = f"logproof-{uuid.uuid4().hex[:12]}"
    _shell(args.inventory, args.collector, "systemctl stop rsyslog")
    down = time.monotonic()
    try:
        _shell(args.inventory, args.sender,
               f"for i in $(seq 1 {args.count}); do logger -t {run_id} \"n=$i\"; done")
        time.sleep(max(0.0, args.outage - (time.monotonic() - down)))
    finally:
        _shell(args.inventory, args.collector, "systemctl start rsyslog")
    outage = time.monotonic() - down

    pattern = re.compile(rf"{run_id}(?:\[\d+\])?: n=(\d+)")
    counts: collections.Counter[int] = collections.Counter()
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        out = _shell(args.inventory, args.collector,
                     f"cat {args.store}/{args.sender}/*.log | grep -F {run_id} || true")
        counts = collections.Counter(int(m.group(1)) for m in pattern.finditer(out))
        if sum(counts.values()) >= args.count:
            break
        time.sleep(3)
    missing = sorted(set(range(1, args.count + 1)) - set(counts))
    twice = sorted(n for n, c in counts.items() if c > 1)
    print(f"log delivery proof {run_id}: collector down {outage:.0f} s, sent {args.count}, "
          f"stored {len(counts)} distinct, missing {len(missing)}, duplicated {len(twice)}")
    if missing or twice:
        print(f"missing: {missing[:20]} duplicated: {twice[:20]}")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
