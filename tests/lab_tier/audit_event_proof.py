"""Prove that an audit event made on a host is stored by the collector within 5 s
(issue 14).

    python -m tests.lab_tier.audit_event_proof --fleet LAB_DIR \
        [--sender count-db] [--collector count-app] [--events 5] [--limit 5]

EVENTS writes to a path the audit trail watches on the sender (touch + rm under
/etc/postgresql: audit_trail's election_db_config watch), each followed in the
collector's store for the sender (/var/log/remote/HOST/DAY.log) by one SSH session
that reads it there (tests.lab_tier.audit_latency). Exit 0 only if every event was
found in the store within LIMIT seconds of being sent.

It leaves /etc/postgresql's times changed: run it where no freeze of the sender is
being checked (the lab tier runs it after the freeze-watch proof stopped its timer).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from tests.lab_tier.audit_latency import latency


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.audit_event_proof", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--fleet", type=Path, required=True, help="the fleet's state directory (LAB_DIR)")
    p.add_argument("--sender", default="count-db")
    p.add_argument("--collector", default="count-app")
    p.add_argument("--store", default="/var/log/remote")
    p.add_argument("--events", type=int, default=5)
    p.add_argument("--limit", type=float, default=5.0, help="seconds an event may take to be stored")
    args = p.parse_args(argv)
    lat = latency(args.fleet, args.sender, args.collector, args.events, args.store)
    shown = ", ".join(f"{v:.2f}" for v in lat)
    if len(lat) != args.events:
        print(f"audit-event proof: FAIL, {len(lat)} of {args.events} audit events from {args.sender} "
              f"reached {args.collector}'s store (latencies s: {shown})")
        return 1
    late = [v for v in lat if v > args.limit]
    verdict = "FAIL" if late else "ok"
    print(f"audit-event proof: {verdict}, {args.events} audit events on {args.sender} stored on "
          f"{args.collector} in {shown} s (limit {args.limit:.0f} s; max {max(lat):.2f} s)")
    return 1 if late else 0


if __name__ == "__main__":
    sys.exit(main())
