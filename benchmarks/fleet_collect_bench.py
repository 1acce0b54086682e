"""Benchmark of `freeze snapshot --inventory` (playbook election.freeze.collect, the
freeze_collect module per host) for 1, 3 and N hosts.

The hosts are inventory aliases of this machine reached through a throw-away
loopback sshd (tests/sshd.py), so each one is a real Ansible SSH connection, a
real module run with the host's python3 and a real SFTP transfer; they share the
CPU, which the emulated lab VMs would not. Reported as ratios against the 1-host
run of the same invocation (goal of issue 15: N >= 20 hosts in at most 3x the time
of one). Also prints `freeze snapshot --host` of one host as a second reference
(no Ansible: the cost Ansible adds), and the CPU the controller itself spent
(freeze, ansible-playbook and its forks), which a real fleet does not share with
its hosts as this machine does.

Needs root (sshd logs in as root). Usage:
  python benchmarks/fleet_collect_bench.py [--hosts 1,3,20] [--repeat 1] [--forks 20]
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from tests.sshd import loopback_inventory, loopback_sshd  # noqa: E402

# CPU seconds of the last _freeze run's process tree on the controller: freeze,
# ansible-playbook and its forks (not the loopback sshd and what it runs, i.e. the
# "hosts", nor the persistent ssh masters, which detach)
LAST_CPU = [0.0]


def _children_cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _freeze(*args: str) -> float:
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    cpu = _children_cpu()
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "freeze", *args], capture_output=True, text=True,
                          cwd=REPO, env=env, timeout=1800)
    took = time.monotonic() - start
    LAST_CPU[0] = _children_cpu() - cpu
    if proc.returncode != 0:
        raise SystemExit(f"freeze {' '.join(args[:2])} failed ({proc.returncode}): "
                         f"{proc.stderr.strip()[-400:]}")
    return took


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--hosts", default="1,3,20", help="host counts (default 1,3,20)")
    ap.add_argument("--repeat", type=int, default=1, help="runs per count; the best is kept")
    ap.add_argument("--forks", type=int, default=20)
    args = ap.parse_args()
    counts = [int(x) for x in args.hosts.split(",")]
    with tempfile.TemporaryDirectory(prefix="fleet-bench-") as tmp:
        t = Path(tmp)
        app = t / "app"
        (app / "etc").mkdir(parents=True)
        for i in range(200):
            (app / "etc" / f"conf{i}.conf").write_text(f"setting = {i}\n" * 50)
        profile = t / "profile.yml"
        profile.write_text(f"name: bench\npaths: [{app}]\nnetwork: {{sockets: false}}\n")
        (t / "sshd").mkdir()
        with loopback_sshd(t / "sshd") as server:
            d, port = Path(str(server["dir"])), int(str(server["port"]))
            times: dict[int, float] = {}
            cpus: dict[int, float] = {}
            for n in counts:
                inv = loopback_inventory(t / f"hosts{n}.yml", d, {f"host-{i:02d}": port for i in range(n)},
                                         multiplex=True)
                best = None
                for r in range(args.repeat):
                    out = t / f"out-{n}-{r}"
                    took = _freeze("snapshot", "-p", str(profile), "-o", str(out),
                                   "--inventory", str(inv), "--forks", str(args.forks))
                    assert len(list(out.glob("*.manifest.json"))) == n
                    if best is None or took < best:
                        best, cpus[n] = took, LAST_CPU[0]
                assert best is not None
                times[n] = best
            direct = min(_freeze("snapshot", "-p", str(profile), "-o", str(t / f"direct{r}.json"),
                                 "--host", f"root@127.0.0.1:{port}", "-i", str(d / "clientkey"),
                                 "--known-hosts", str(d / "known_hosts"))
                         for r in range(args.repeat))
    ref = times[counts[0]]
    print(f"reference: {counts[0]} host(s) through the module  {ref:.2f} s "
          f"(CPUs: {os.cpu_count()}, forks {args.forks})")
    for n in counts:
        print(f"  {n:3d} hosts  {times[n]:7.2f} s  ratio {times[n] / ref:5.2f}x  "
              f"({times[n] / n:.2f} s per host)  controller CPU {cpus[n]:6.2f} s  "
              f"ratio {cpus[n] / cpus[counts[0]]:5.2f}x")
    print("  (the hosts are aliases of this machine: their sshd sessions and collectors run on the same "
          "CPUs, which a real fleet spreads over its own; the controller CPU column leaves them out)")
    print(f"  freeze snapshot --host (paramiko, no Ansible), 1 host  {direct:.2f} s  "
          f"ratio {direct / ref:5.2f}x")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
