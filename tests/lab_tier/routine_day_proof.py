"""Prove that a frozen, hardened lab host stays clean through a routine day, and
that a real change made during that day is still found (issue 17).

    python -m tests.lab_tier.routine_day_proof --inventory DIR --work DIR \
        [--target count-app] [--quick] [--no-reboot]

1. freeze: the target is collected with playbooks/collect.yml and the lab
   profile (inventories/lab/freeze/profile.yml: /var/log `rotating`, lastlog and
   faillog `rewritten`), its database section left out (a host, not the database);
2. a routine day on the target, as root: the service of every active timer
   started and waited for (logrotate, man-db, dpkg-db-backup, apt-daily, ...),
   /etc/cron.daily run, a forced logrotate, auditd told to rotate its log (SIGUSR1,
   what it does at its size limit), two interactive operator logins (ssh with a
   terminal: sshd, PAM, lastlog) and one reboot;
3. verify: playbooks/verify.yml (unsigned: no ceremony here; the comparison is the
   same code) must report the host clean;
4. a real change hidden in that day: one byte of syslog's recorded content changed
   inside the generation the rotations moved it to (found on the host by its
   recorded size and sha256; what a rotation-aware check must not let pass);
   verify must now fail naming that file.

Exit 0 only if step 3 is clean and step 4 is caught. The tampered log stays as it
is (the lab host is disposable). Timings per step are printed.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.lab_tier.lab_profile import lab_hosts_profile

REPO = Path(__file__).resolve().parents[2]

# Run as root on the target. Every service an active timer starts, then cron.daily,
# logrotate, auditd's rotation. `systemctl start` of a oneshot waits for it to end;
# a failing service is reported, not fatal: the day's point is what it leaves behind.
ROUTINE = r"""
set -u
for timer in $(systemctl list-units --type=timer --state=active --no-legend --plain | awk '{print $1}'); do
  unit=$(systemctl show -p Unit --value "$timer")
  [ -n "$unit" ] || continue
  if timeout 600 systemctl start "$unit"; then echo "ran $unit ($timer)"; else echo "failed $unit ($timer)"; fi
done
if [ -d /etc/cron.daily ]; then run-parts --report /etc/cron.daily && echo "ran cron.daily"; fi
logrotate -f /etc/logrotate.conf && echo "ran logrotate -f"
if pid=$(pidof auditd); then kill -USR1 "$pid" && sleep 2 && echo "rotated audit.log"; fi
"""


# Run as root on the target: the generation of /var/log/syslog that holds the bytes
# recorded at the freeze (its first SIZE bytes hash to SHA), one of them flipped.
TAMPER = r"""python3 - <<'EOF'
import glob, gzip, hashlib
size, sha = {size}, "{sha}"
gens = ["/var/log/syslog"] + sorted(glob.glob("/var/log/syslog.*"))
for path in gens:
    packed = path.endswith(".gz")
    with (gzip.open(path, "rb") if packed else open(path, "rb")) as fh:
        data = fh.read(size)
    if len(data) == size and hashlib.sha256(data).hexdigest() == sha:
        with open(path, "r+b") as fh:
            if packed:
                body = bytearray(gzip.decompress(fh.read()))
                body[7] ^= 0x20
                fh.seek(0)
                fh.truncate()
                fh.write(gzip.compress(bytes(body)))
            else:
                fh.seek(7)
                fh.write(bytes([data[7] ^ 0x20]))
        print("TAMPERED " + path)
        break
else:
    print("not found among " + " ".join(gens))
EOF"""


def _run(argv: list[str], timeout: int = 1800) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)


def _host_vars(inventory: str, host: str) -> dict[str, object]:
    res = _run(["ansible-inventory", "-i", inventory, "--host", host])
    if res.returncode != 0:
        raise SystemExit(f"routine-day proof: {host} not in {inventory}: {res.stderr.strip()[-300:]}")
    return json.loads(res.stdout)  # type: ignore[no-any-return]


def on_host(inventory: str, host: str, module: str, args: str, timeout: int = 1800) -> str:
    res = _run(["ansible", "-i", inventory, host, "--become", "-m", module, "-a", args], timeout=timeout)
    if res.returncode != 0:
        raise SystemExit(f"routine-day proof: on {host}: {module} {args[:80]}: {res.stdout[-800:]}{res.stderr[-400:]}")
    return res.stdout


def interactive_login(hv: dict[str, object]) -> None:
    """An operator's login with a terminal, through sshd and PAM like a person's."""
    argv = ["ssh", "-tt", "-p", str(hv["ansible_port"]), "-i", str(hv["ansible_ssh_private_key_file"]),
            "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR",
            "-o", "ControlPath=none", f"{hv['ansible_user']}@{hv['ansible_host']}", "sudo -n true; exit 0"]
    res = _run(argv, timeout=180)
    if res.returncode != 0:
        raise SystemExit(f"routine-day proof: interactive login failed: {res.stdout[-300:]}{res.stderr[-300:]}")


def verify(inventory: str, target: str, work: Path, profile: Path) -> subprocess.CompletedProcess[str]:
    return _run(["ansible-playbook", "-i", inventory, str(REPO / "playbooks/verify.yml"), "--become",
                 "-e", f"freeze_verify_profile={profile}", "-e", f"freeze_verify_manifests={work / 'manifests'}",
                 "-e", f"freeze_verify_hosts={target}", "-e", "freeze_verify_unsigned=true",
                 "-e", f"freeze_verify_result_dir={work / 'results'}"])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.routine_day_proof", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inventory", required=True)
    p.add_argument("--work", required=True, help="directory for the manifest and logs")
    p.add_argument("--target", default="count-app")
    p.add_argument("--quick", action="store_true",
                   help="freeze only the profile's paths under /etc, /usr/local, /var and /root (the hashing of "
                        "/usr/lib, /usr/bin, /usr/sbin and /boot dominates on an emulated CPU); every section kept")
    p.add_argument("--no-reboot", action="store_true", help="leave the reboot out of the day")
    args = p.parse_args(argv)
    inv, t = args.inventory, args.target
    work = Path(args.work).resolve()
    (work / "manifests").mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}

    profile = lab_hosts_profile(t, args.quick)
    profile_file = work / "profile.yml"
    profile_file.write_text(yaml.safe_dump(profile, sort_keys=False))

    start = time.monotonic()
    manifest = work / "manifests" / f"{t}.manifest.json"
    res = _run(["ansible-playbook", "-i", inv, str(REPO / "playbooks/collect.yml"), "--become",
                "-e", f"freeze_collect_profile={profile_file}", "-e", f"freeze_collect_dir={work / 'manifests'}",
                "-e", f"freeze_collect_hosts={t}", "-e", "freeze_collect_force=true"])
    if res.returncode != 0 or not manifest.exists():
        print(res.stdout[-2000:], res.stderr[-1000:])
        print(f"routine-day proof: FAIL, no manifest of {t}")
        return 1
    unavailable = json.loads(manifest.read_bytes())["unavailable"]
    if unavailable:
        print(f"routine-day proof: FAIL, {t}'s snapshot has unavailable parts {unavailable}: no baseline")
        return 1
    times["freeze"] = time.monotonic() - start
    print(f"routine-day proof: froze {t} ({times['freeze']:.0f} s)", flush=True)

    start = time.monotonic()
    out = on_host(inv, t, "ansible.builtin.shell", ROUTINE)
    ran = re.findall(r"^(ran|failed|rotated) (.+)$", out, re.M)
    (work / "routine.log").write_text(out)
    hv = _host_vars(inv, t)
    for _ in range(2):
        interactive_login(hv)
    if not args.no_reboot:
        on_host(inv, t, "ansible.builtin.reboot", "reboot_timeout=900 post_reboot_delay=20")
    times["day"] = time.monotonic() - start
    print(f"routine-day proof: the day on {t} ({times['day']:.0f} s): "
          + "; ".join(f"{k} {v}" for k, v in ran) + "; 2 interactive logins"
          + ("" if args.no_reboot else "; 1 reboot"), flush=True)

    start = time.monotonic()
    res = verify(inv, t, work, profile_file)
    (work / "verify-clean.log").write_text(res.stdout + res.stderr)
    times["verify"] = time.monotonic() - start
    if res.returncode != 0:
        print(res.stdout[-4000:])
        print(f"routine-day proof: FAIL, {t} is not clean after a routine day (verify {times['verify']:.0f} s)")
        return 1
    print(f"routine-day proof: {t} verified clean after the day ({times['verify']:.0f} s)", flush=True)

    # The day rotated /var/log/syslog once or more (the logrotate timer if due, then
    # logrotate -f): the bytes recorded at the freeze now live in some generation
    # (syslog.1, syslog.2.gz, ...). The host finds it by the recorded size and sha256
    # and changes one of those bytes in place (a .gz rewritten through the same
    # inode): drift naming that generation is required.
    recorded = json.loads(manifest.read_bytes())["sections"]["files"]["/var/log/syslog"]
    out = on_host(inv, t, "ansible.builtin.shell", TAMPER.format(size=recorded["size"], sha=recorded["sha256"]))
    found = re.search(r"TAMPERED (\S+)", out)
    if not found:
        print(out[-1500:])
        print("routine-day proof: FAIL, the recorded bytes of /var/log/syslog are in no generation on the host")
        return 1
    victim = found.group(1)
    start = time.monotonic()
    res = verify(inv, t, work, profile_file)
    (work / "verify-tampered.log").write_text(res.stdout + res.stderr)
    times["verify-tampered"] = time.monotonic() - start
    named = victim in res.stdout
    if res.returncode == 0 or not named:
        print(res.stdout[-3000:])
        print(f"routine-day proof: FAIL, a changed byte in {victim} was not reported (rc {res.returncode})")
        return 1
    lines = [ln.strip() for ln in res.stdout.splitlines() if "syslog" in ln][:3]
    print(f"routine-day proof: one byte of {victim} changed -> verify fails naming it: {lines}")
    print("routine-day proof: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
