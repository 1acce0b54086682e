"""Prove on a lab host that switching the results website's attack mode after a freeze
is reported by verify, not drift, and that a selector pointed elsewhere is drift (issue 12).

    python -m tests.lab_tier.attack_mode_freeze_proof --inventory DIR --work DIR [--target results-tx]

1. freeze: the target collected with playbooks/collect.yml and the lab profile, cut
   to /etc, /usr/local, /var and /root (--quick of the other proofs; the selector is
   /etc/nginx/results-website/active-mode.conf, a `switch` entry, and the revert
   timer's transient units are `services: known_transient`);
2. playbooks/attack-mode.yml -e attack_mode=on: verify.yml must pass (exit 0) and its
   summary must name the selector's active target mode-attack.conf and the armed
   revert timer;
3. attack_mode=off: verify passes again and names mode-normal.conf;
4. the selector pointed at another file of its directory (headers.conf, by hand, as an
   intruder would, without the switch): verify must FAIL naming the selector; the
   switch script then puts normal mode back (and nginx is reloaded by it).

Exit 0 only if all four hold. Timings per step are printed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.lab_tier.lab_profile import lab_hosts_profile
from tests.lab_tier.routine_day_proof import on_host, verify

REPO = Path(__file__).resolve().parents[2]
SELECTOR = "/etc/nginx/results-website/active-mode.conf"
SWITCH = "/usr/local/sbin/results-website-mode"


def attack_mode(inventory: str, target: str, state: str) -> float:
    start = time.monotonic()
    res = subprocess.run(["ansible-playbook", "-i", inventory, str(REPO / "playbooks/attack-mode.yml"),
                          "--limit", target, "-e", f"attack_mode={state}", "-e", "attack_mode_seconds=900"],
                         capture_output=True, text=True, check=False, timeout=600)
    if res.returncode != 0:
        raise SystemExit(f"attack-mode freeze proof: attack_mode={state} failed: {res.stdout[-1500:]}")
    return time.monotonic() - start


def summary(stdout: str) -> list[str]:
    """verify.yml's summary table lines (the debug task's msg list)."""
    lines = [ln.strip().removeprefix("- ").strip("'\",").strip() for ln in stdout.splitlines()]
    return [ln for ln in lines if ln.startswith(("switch ", "unit ")) or " clean" in ln or "first items" in ln]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.attack_mode_freeze_proof", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--inventory", required=True)
    p.add_argument("--work", required=True, help="directory for the manifest and logs")
    p.add_argument("--target", default="results-tx")
    args = p.parse_args(argv)
    inv, t = args.inventory, args.target
    work = Path(args.work).resolve()
    (work / "manifests").mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}

    profile_file = work / "profile.yml"
    profile_file.write_text(yaml.safe_dump(lab_hosts_profile(t, quick=True), sort_keys=False))
    on_host(inv, t, "ansible.builtin.command", f"{SWITCH} normal attack-mode-freeze-proof")

    start = time.monotonic()
    res = subprocess.run(["ansible-playbook", "-i", inv, str(REPO / "playbooks/collect.yml"), "--become",
                          "-e", f"freeze_collect_profile={profile_file}",
                          "-e", f"freeze_collect_dir={work / 'manifests'}",
                          "-e", f"freeze_collect_hosts={t}", "-e", "freeze_collect_force=true"],
                         capture_output=True, text=True, check=False, timeout=1800)
    if res.returncode != 0 or not (work / "manifests" / f"{t}.manifest.json").exists():
        print(res.stdout[-2000:])
        print(f"attack-mode freeze proof: FAIL, no manifest of {t}")
        return 1
    times["freeze"] = time.monotonic() - start
    print(f"attack-mode freeze proof: froze {t} in normal mode ({times['freeze']:.0f} s)", flush=True)

    for state, active in (("on", "mode-attack.conf"), ("off", "mode-normal.conf")):
        times[f"switch {state}"] = attack_mode(inv, t, state)
        start = time.monotonic()
        res = verify(inv, t, work, profile_file)
        (work / f"verify-{state}.log").write_text(res.stdout + res.stderr)
        times[f"verify {state}"] = time.monotonic() - start
        lines = summary(res.stdout)
        named = any(f"switch {SELECTOR}: {active}" in ln for ln in lines)
        timer = any("results-website-attack-revert.timer" in ln for ln in lines)
        if res.returncode != 0 or not named or (state == "on" and not timer):
            print(res.stdout[-4000:])
            print(f"attack-mode freeze proof: FAIL, attack mode {state}: verify rc {res.returncode}, "
                  f"active target {active} named: {named}, revert timer named: {timer}")
            return 1
        print(f"attack-mode freeze proof: attack mode {state} -> verify clean, reported: "
              + " | ".join(ln for ln in lines if "switch " in ln or "unit " in ln), flush=True)

    # an intruder's repoint, not through the switch: drift naming the selector
    on_host(inv, t, "ansible.builtin.command", f"ln -sfn headers.conf {SELECTOR}")
    try:
        res = verify(inv, t, work, profile_file)
        (work / "verify-tampered.log").write_text(res.stdout + res.stderr)
    finally:
        on_host(inv, t, "ansible.builtin.command", f"{SWITCH} normal attack-mode-freeze-proof")
    if res.returncode == 0 or SELECTOR not in res.stdout:
        print(res.stdout[-3000:])
        print(f"attack-mode freeze proof: FAIL, a selector pointed at headers.conf was not drift (rc {res.returncode})")
        return 1
    print(f"attack-mode freeze proof: selector pointed at headers.conf -> verify fails naming {SELECTOR}")
    print("attack-mode freeze proof: " + ", ".join(f"{k} {v:.0f} s" for k, v in times.items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
