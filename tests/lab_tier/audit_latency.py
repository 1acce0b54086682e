"""End-to-end delivery latency of audit events on a lab fleet: a write to a path the
audit trail watches on the SENDER (auditd -> audit.log -> rsyslog imfile -> the
disk-assisted RELP/TLS queue) until its record is in the collector's per-host store
on the COLLECTOR. Used by tests.lab_tier.audit_event_proof (issue 14: "stored by the
collector within 5 seconds") and benchmarks/monitoring_bench.py.

One SSH session to the collector follows the store (`tail -F`), another feeds
`touch` commands to a root shell on the sender; both are timestamped by this
machine's clock, so the VMs' clocks do not enter. Latency of event i = time its
probe name was seen in the store - time the touch was sent (an upper bound: it
includes one SSH hop each way).
"""

from __future__ import annotations

import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from lab.config import paths_from_env
from lab.vm import fleet_state, ssh_base

WATCHED = "/etc/postgresql"  # audit_trail_watched_paths: election_db_config (count-db)


def ssh(fleet: Path, host: str, command: str) -> subprocess.Popen[str]:
    paths = paths_from_env(str(fleet), None, None)
    state: dict[str, Any] = fleet_state(paths) or {}
    ports = {h["name"]: h["port"] for h in state.get("hosts", [])}
    if host not in ports:
        raise SystemExit(f"audit latency: no running host {host!r} in {fleet}")
    return subprocess.Popen([*ssh_base(paths, ports[host]), command], text=True, bufsize=1,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)


def latency(fleet: Path, sender: str, collector: str, events: int, store: str) -> list[float]:
    run_id = f"auditprobe-{uuid.uuid4().hex[:10]}"
    seen: dict[int, float] = {}
    follower = ssh(fleet, collector,
                   f"sudo sh -c 'tail -n0 -F {store}/{sender}/$(date +%Y-%m-%d).log 2>/dev/null"
                   f" | grep --line-buffered -o \"{run_id}-[0-9]*\"'")

    def follow() -> None:
        assert follower.stdout is not None
        for line in follower.stdout:
            n = int(line.strip().rsplit("-", 1)[1])
            seen.setdefault(n, time.monotonic())

    reader = threading.Thread(target=follow, daemon=True)
    reader.start()
    time.sleep(3)  # tail is following before the first event
    shell = ssh(fleet, sender, "sudo sh")
    assert shell.stdin is not None and shell.stdout is not None
    sent: dict[int, float] = {}
    for i in range(1, events + 1):
        sent[i] = time.monotonic()
        shell.stdin.write(f"touch {WATCHED}/{run_id}-{i}; rm -f {WATCHED}/{run_id}-{i}; echo ok\n")
        shell.stdin.flush()
        shell.stdout.readline()
        time.sleep(0.5)
    shell.stdin.close()
    shell.wait(timeout=30)
    deadline = time.monotonic() + 30
    while len(seen) < events and time.monotonic() < deadline:
        time.sleep(0.2)
    follower.terminate()
    missing = sorted(set(sent) - set(seen))
    if missing:
        print(f"  {len(missing)} of {events} probe events not in the store after 30 s: {missing[:10]}")
    return [seen[i] - sent[i] for i in sorted(seen)]
