"""Prove that a dead host raises HostDown in Alertmanager within a deadline, and
that the alert resolves when the host is back.

    python -m tests.lab_tier.host_down_proof --inventory DIR \
        [--target results-tx] [--monitor count-app] [--deadline 120]

"Dead" = the target VM's qemu process is stopped (SIGSTOP; its pid from the lab
state dir, <inventory>/../vms/<host>.pid): to the network the host is gone. The
proof polls Alertmanager's API (/api/v2/alerts) ON the monitoring host (the API
listens on the private network only) until HostDown for the target is active,
prints the measured seconds, continues the VM (SIGCONT, also on any failure) and
polls until the alert is gone. Exits 1 when either step misses its deadline.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

# Runs on the monitoring host: the instances of active HostDown alerts.
_QUERY = ("python3 -c \"import json,urllib.request as u;"
          "a=json.load(u.urlopen('{url}/api/v2/alerts?active=true&silenced=false&inhibited=false',timeout=10));"
          "print('HOSTDOWN=' + ','.join(sorted(x['labels'].get('instance','') for x in a"
          " if x['labels'].get('alertname')=='HostDown' and x['status']['state']=='active')))\"")


def _active(inventory: str, monitor: str, url: str) -> set[str] | None:
    """Instances with an active HostDown alert; None when the query failed."""
    res = subprocess.run(["ansible", "-i", inventory, monitor, "-m", "ansible.builtin.raw", "-a",
                          _QUERY.format(url=url)], capture_output=True, text=True, check=False, timeout=60)
    m = re.search(r"HOSTDOWN=([^\s]*)", res.stdout)
    if res.returncode != 0 or m is None:
        print(f"  query failed: {(res.stdout + res.stderr).strip()[-300:]}", flush=True)
        return None
    return {h for h in m.group(1).split(",") if h}


def _wait(inventory: str, monitor: str, url: str, target: str, want: bool, deadline: float,
          start: float) -> float | None:
    while time.monotonic() - start < deadline:
        active = _active(inventory, monitor, url)
        if active is not None and (target in active) == want:
            return time.monotonic() - start
        time.sleep(3)
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.host_down_proof", description=__doc__)
    p.add_argument("--inventory", required=True)
    p.add_argument("--target", default="results-tx")
    p.add_argument("--monitor", default="count-app")
    p.add_argument("--alertmanager", default="http://10.20.0.12:9093", help="its URL as seen on the monitoring host")
    p.add_argument("--deadline", type=float, default=120.0, help="seconds for the alert to fire")
    p.add_argument("--resolve-deadline", type=float, default=180.0, help="seconds for it to resolve")
    args = p.parse_args(argv)

    pidfile = Path(args.inventory).resolve().parent / "vms" / f"{args.target}.pid"
    pid = int(pidfile.read_text().split()[0])
    os.kill(pid, 0)  # the VM runs
    before = _active(args.inventory, args.monitor, args.alertmanager)
    if before is None or args.target in before:
        print(f"host-down proof: HostDown for {args.target} must not be active before the stop ({before})")
        return 1

    start = time.monotonic()
    os.kill(pid, signal.SIGSTOP)
    print(f"host-down proof: {args.target} (qemu pid {pid}) stopped", flush=True)
    try:
        fired = _wait(args.inventory, args.monitor, args.alertmanager, args.target, True, args.deadline, start)
    finally:
        os.kill(pid, signal.SIGCONT)
    if fired is None:
        print(f"host-down proof: FAIL, no active HostDown for {args.target} within {args.deadline:.0f} s")
        return 1
    print(f"host-down proof: HostDown for {args.target} active in Alertmanager after {fired:.0f} s "
          f"(deadline {args.deadline:.0f} s)", flush=True)

    back = time.monotonic()
    resolved = _wait(args.inventory, args.monitor, args.alertmanager, args.target, False, args.resolve_deadline, back)
    if resolved is None:
        print(f"host-down proof: FAIL, HostDown for {args.target} still active "
              f"{args.resolve_deadline:.0f} s after SIGCONT")
        return 1
    print(f"host-down proof: resolved {resolved:.0f} s after the VM continued")
    return 0


if __name__ == "__main__":
    sys.exit(main())
