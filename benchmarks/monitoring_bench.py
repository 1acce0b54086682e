"""Issue 14's monitoring benchmark on a converged lab fleet (LAB_KEEP=1 after the lab
tier, or scripts/demo.sh):

1. **Delivery latency of audit events**, end to end: a write to a path the audit
   trail watches on the SENDER (auditd -> audit.log -> rsyslog imfile -> the
   disk-assisted RELP/TLS queue -> the collector's per-host store on the COLLECTOR).
   One SSH session to the collector follows the store (`tail -F`), another feeds
   `touch` commands to a root shell on the sender; both are timestamped by this
   machine's clock, so the VMs' clocks do not enter. Latency of event i = time its
   probe name was seen in the store - time the touch was sent (an upper bound: it
   includes one SSH hop each way). Reports p50/p99/max and the count over 5 s
   (issue 14: "stored by the collector within 5 seconds").
2. **What the monitoring costs a host**: CPU time of node_exporter and rsyslogd (the
   log sender) as a share of the host's whole CPU time over the same window, and
   their resident memory as a share of the memory the host uses, read from /proc on
   the sender while it idles and while the probes run (same run, same host).

    python benchmarks/monitoring_bench.py --fleet .lab/test-fleet [--events 40] [--window 60]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.lab_tier.audit_latency import latency, ssh  # noqa: E402


def run(fleet: Path, host: str, command: str) -> str:
    proc = ssh(fleet, host, command)
    out, _ = proc.communicate(timeout=120)
    if proc.returncode != 0:
        raise SystemExit(f"monitoring_bench: {host}: {command!r} exited {proc.returncode}")
    return out


# one /proc sample: total jiffies of the host, jiffies and RSS (kB) of the monitoring
# processes, and the memory the host uses (MemTotal - MemAvailable, kB)
SAMPLE = r"""sudo sh -c '
set -- $(head -1 /proc/stat); shift; t=0; for v in "$@"; do t=$((t + v)); done
m=0; r=0
for p in $(pgrep -x prometheus-node; pgrep -x node_exporter; pgrep -x rsyslogd); do
  set -- $(cut -d")" -f2- /proc/$p/stat); m=$((m + ${12} + ${13}))
  r=$((r + $(awk "/^VmRSS/ {print \$2}" /proc/$p/status)))
done
u=$(awk "/^MemTotal/ {t=\$2} /^MemAvailable/ {a=\$2} END {print t - a}" /proc/meminfo)
echo "$t $m $r $u"'"""


def sample(fleet: Path, host: str) -> tuple[int, int, int, int]:
    a, b, c, d = run(fleet, host, SAMPLE).split()
    return int(a), int(b), int(c), int(d)


def overhead(fleet: Path, host: str, window: float, label: str) -> None:
    t0, m0, _, _ = sample(fleet, host)
    time.sleep(window)
    t1, m1, rss, used = sample(fleet, host)
    cpu = (m1 - m0) / max(1, t1 - t0)
    print(f"  {label:<28} monitoring CPU {cpu:6.2%} of the host's CPU time; RSS {rss / 1024:6.1f} MiB "
          f"= {rss / max(1, used):5.1%} of the memory in use ({used / 1024:.0f} MiB)")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleet", type=Path, required=True, help="the converged fleet's state directory")
    ap.add_argument("--sender", default="count-db")
    ap.add_argument("--collector", default="count-app")
    ap.add_argument("--store", default="/var/log/remote")
    ap.add_argument("--events", type=int, default=40)
    ap.add_argument("--window", type=float, default=60.0, help="seconds per overhead window")
    args = ap.parse_args()
    print(f"monitoring benchmark: sender {args.sender}, collector {args.collector}")
    overhead(args.fleet, args.sender, args.window, "idle (reference)")
    start = time.monotonic()
    lat = latency(args.fleet, args.sender, args.collector, args.events, args.store)
    print(f"  probes took {time.monotonic() - start:.0f} s")
    overhead(args.fleet, args.sender, args.window, "idle again")
    if not lat:
        print("  no audit event reached the store")
        return 1
    # inclusive: a percentile of the measured values, never extrapolated beyond the max
    q = statistics.quantiles(lat, n=100, method="inclusive") if len(lat) > 1 else [lat[0]] * 99
    over = sum(1 for v in lat if v > 5.0)
    print(f"  audit event -> collector store: n={len(lat)} p50 {statistics.median(lat):.2f} s, "
          f"p99 {q[98]:.2f} s, max {max(lat):.2f} s; over 5 s: {over}")
    return 0 if over == 0 and len(lat) == args.events else 1


if __name__ == "__main__":
    sys.exit(main())
