"""Prove that a file changed on a frozen host raises FrozenStateDrifted in
Alertmanager for that host within one check period, and that the alert resolves
when the change is undone.

    python -m tests.lab_tier.freeze_watch_proof --inventory DIR --work DIR \
        [--target count-app] [--monitor count-app] [--period 60] [--static]

1. freeze: the target is collected with playbooks/collect.yml (the freeze_collect
   module; the lab profile without its database section: the host checker compares
   host sections only; /var/log `rotating`, lastlog and faillog `rewritten`, as the
   ceremony freezes them), and the manifest is signed with TEST keys made here (a
   one-person root, threshold 1: `freeze keygen`, `root init/sign`, `attest`, `sign`);
2. deploy: role freeze_watch with that manifest, profile, envelope and root
   (tests/lab_tier/freeze-watch-proof.yml); its signature is checked on the
   controller first; then Prometheus must show freeze_verify_ok 1 for the host;
3. change: a new file in a frozen path (/var/log, `rotating`: its logs may grow and
   rotate, an added entry that is no log's generation is drift) -> FrozenStateDrifted
   active for the target, measured; the item is named by freeze_verify_drift_item;
4. undo: the file removed (a rotating directory's own times are not judged) ->
   resolved, measured;
5. with --stop-timer: the target's timer is stopped at the end (no more checks);
6. with --static: one byte appended to a static frozen file (/etc/issue.net) ->
   fires again naming `changed file /etc/issue.net`. Not undone: putting the bytes
   back leaves a new ctime, which freeze reports as drift by design (README, "Why
   ctime is compared"); the host stays drifted until a new freeze.

Alertmanager's and Prometheus' APIs listen on the private network only: they are
queried ON the monitoring host (ansible raw). Exit 1 when a step misses its deadline.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import yaml

from tests.lab_tier.lab_profile import lab_hosts_profile

REPO = Path(__file__).resolve().parents[2]
PASS_ENV = "FREEZE_PROOF_KEY_PASSPHRASE"

# Runs on the monitoring host: active FrozenStateDrifted instances, freeze_verify_ok
# and the drift items per instance, as one JSON line.
_QUERY = ("python3 -c \"import json,urllib.request as u,urllib.parse as p;"
          "g=lambda x:json.load(u.urlopen(x,timeout=10));"
          "a=g('{am}/api/v2/alerts?active=true&silenced=false&inhibited=false');"
          "q=lambda e:g('{prom}/api/v1/query?query='+p.quote(e))['data']['result'];"
          "print('PROOF='+json.dumps(dict("
          "firing=sorted(x['labels'].get('instance','') for x in a"
          " if x['labels'].get('alertname')=='FrozenStateDrifted' and x['status']['state']=='active'),"
          "ok={{r['metric']['instance']:r['value'][1] for r in q('freeze_verify_ok')}},"
          "items=sorted(' '.join(r['metric'][k] for k in ('instance','category','kind','key'))"
          " for r in q('freeze_verify_drift_item')))))\"")


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload, no-any-return]


def state(inventory: str, monitor: str, am: str, prom: str) -> dict | None:
    res = _run(["ansible", "-i", inventory, monitor, "-m", "ansible.builtin.raw", "-a",
                _QUERY.format(am=am, prom=prom)], timeout=60)
    m = re.search(r"PROOF=(\{.*\})", res.stdout)
    if res.returncode != 0 or m is None:
        print(f"  query failed: {(res.stdout + res.stderr).strip()[-300:]}", flush=True)
        return None
    return json.loads(m.group(1))  # type: ignore[no-any-return]


def wait(inventory: str, monitor: str, am: str, prom: str, cond, deadline: float, start: float):  # type: ignore[no-untyped-def]
    while time.monotonic() - start < deadline:
        s = state(inventory, monitor, am, prom)
        if s is not None and cond(s):
            return time.monotonic() - start, s
        time.sleep(2)
    return None, None


def on_host(inventory: str, host: str, command: str) -> None:
    res = _run(["ansible", "-i", inventory, host, "--become", "-m", "ansible.builtin.shell", "-a", command],
               timeout=120)
    if res.returncode != 0:
        raise SystemExit(f"freeze-watch proof: on {host}: {command}: {res.stdout[-500:]}{res.stderr[-500:]}")


def freeze(*args: str | Path) -> None:
    res = _run([str(Path(sys.executable).parent / "freeze"), *map(str, args)])
    if res.returncode != 0:
        raise SystemExit(f"freeze-watch proof: freeze {' '.join(map(str, args))}: {res.stdout}{res.stderr}")


def sign(work: Path, manifest: Path) -> tuple[Path, Path]:
    """A one-person TEST ceremony root and the manifest's envelope signed by it."""
    keys = work / "keys"
    keys.mkdir(exist_ok=True)
    os.environ.setdefault(PASS_ENV, "lab proof only")
    for who in ("watch-signer", "journal-log"):
        if not (keys / f"{who}.pem").exists():
            freeze("keygen", keys / f"{who}.pem", "--passphrase-env", PASS_ENV)
    spec = keys / "root-spec.json"
    spec.write_text(json.dumps({
        "election": "lab-proof", "ceremony": "freeze-watch", "expires": "2099-01-01T00:00:00Z",
        "people": {"watch-signer": {"role": "directorate", "name": "TEST KEY (lab proof)",
                                    "keys": ["watch-signer.pub.pem"]}},
        "thresholds": {"root": {"directorate": 1}, "manifest": {"directorate": 1}},
        "journal": {"origin": "lab.invalid/freeze-watch", "log_key": "journal-log.pub.pem"}}))
    root, envelope = work / "root.json", manifest.with_suffix(".dsse.json")
    for f in (root, envelope):
        f.unlink(missing_ok=True)
    freeze("root", "init", spec, "-o", root)
    freeze("root", "sign", root, "--key", keys / "watch-signer.pem", "--passphrase-env", PASS_ENV)
    freeze("attest", "--type", "manifest", manifest, "--root", root, "-o", envelope)
    freeze("sign", envelope, "--key", keys / "watch-signer.pem", "--passphrase-env", PASS_ENV, "--root", root)
    return root, envelope


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.lab_tier.freeze_watch_proof", description=__doc__)
    p.add_argument("--inventory", required=True)
    p.add_argument("--work", required=True, help="directory for the manifest, test keys and logs")
    p.add_argument("--target", default="count-app")
    p.add_argument("--monitor", default="count-app")
    p.add_argument("--alertmanager", default="http://10.20.0.12:9093", help="its URL on the monitoring host")
    p.add_argument("--prometheus", default="http://10.20.0.12:9090", help="its URL on the monitoring host")
    p.add_argument("--period", type=float, default=60.0, help="the check period (freeze_watch_interval), seconds")
    p.add_argument("--static", action="store_true", help="also change a static file (leaves the host drifted)")
    p.add_argument("--quick", action="store_true",
                   help="freeze only the lab profile's paths under /etc, /usr/local, /var and /root (not /usr/lib, "
                        "/usr/bin, /usr/sbin, /boot: most of the hashing), every other section as in the profile: "
                        "the lab tier's cheap variant")
    p.add_argument("--stop-timer", action="store_true",
                   help="stop the target's freeze-watch timer at the end (the lab tier: no checks during later stages)")
    args = p.parse_args(argv)
    inv, t, mon, am, prom = args.inventory, args.target, args.monitor, args.alertmanager, args.prometheus
    work = Path(args.work).resolve()
    (work / "manifests").mkdir(parents=True, exist_ok=True)
    times: dict[str, float] = {}

    profile = lab_hosts_profile(t, args.quick)
    # as frozen by the ceremony: /var/log `rotating`, lastlog and faillog `rewritten`
    # (the checker on the host judges them with freeze's own code, like freeze verify)
    (work / "profile.yml").write_text(yaml.safe_dump(profile, sort_keys=False))

    start = time.monotonic()
    manifest = work / "manifests" / f"{t}.manifest.json"
    for attempt in (1, 2):
        res = _run(["ansible-playbook", "-i", inv, str(REPO / "playbooks/collect.yml"), "--become",
                    "-e", f"freeze_collect_profile={work / 'profile.yml'}",
                    "-e", f"freeze_collect_dir={work / 'manifests'}",
                    "-e", f"freeze_collect_hosts={t}", "-e", "freeze_collect_force=true"], timeout=1200)
        if res.returncode != 0 or not manifest.exists():
            print(res.stdout[-2000:], res.stderr[-1000:])
            print(f"freeze-watch proof: FAIL, no manifest of {t}")
            return 1
        # a part the collector could not read (systemd's D-Bus timing out on a loaded
        # emulated VM) is recorded as unavailable: no baseline for a drift proof
        unavailable = json.loads(manifest.read_bytes())["unavailable"]
        if not unavailable:
            break
        print(f"freeze-watch proof: snapshot {attempt} recorded unavailable parts {unavailable}", flush=True)
    else:
        print(f"freeze-watch proof: FAIL, {t}'s snapshot has unavailable parts twice")
        return 1
    times["snapshot"] = time.monotonic() - start
    start = time.monotonic()
    root, envelope = sign(work, manifest)
    times["sign"] = time.monotonic() - start
    print(f"freeze-watch proof: froze {t} ({manifest.stat().st_size} bytes, {times['snapshot']:.0f} s), "
          f"signed with a TEST key ({times['sign']:.1f} s)", flush=True)

    start = time.monotonic()
    res = _run(["ansible-playbook", "-i", inv, str(REPO / "tests/lab_tier/freeze-watch-proof.yml"),
                "-e", f"freeze_watch_proof_target={t}", "-e", f"freeze_watch_manifest={manifest}",
                "-e", f"freeze_watch_profile={work / 'profile.yml'}", "-e", f"freeze_watch_root={root}",
                "-e", f"freeze_watch_envelope={envelope}"], timeout=900)
    (work / "deploy.log").write_text(res.stdout + res.stderr)
    if res.returncode != 0:
        print(res.stdout[-3000:])
        print("freeze-watch proof: FAIL, deploying the signed manifest")
        return 1
    times["deploy"] = time.monotonic() - start
    clean, s = wait(inv, mon, am, prom, lambda s: s["ok"].get(t) == "1" and t not in s["firing"],
                    3 * args.period + 60, time.monotonic())
    if clean is None:
        print(f"freeze-watch proof: FAIL, {t} never reported freeze_verify_ok 1 after the deploy ({s})")
        return 1
    print(f"freeze-watch proof: deployed in {times['deploy']:.0f} s; {t} clean in Prometheus {clean:.0f} s later",
          flush=True)

    marker = f"/var/log/freeze-watch-proof-{int(time.time())}.log"
    # one period, plus the check itself, a scrape (15 s) and a rule evaluation (15 s)
    deadline = args.period + 60
    start = time.monotonic()
    on_host(inv, t, f"echo tampered > {marker}")
    fired, s = wait(inv, mon, am, prom, lambda s: t in s["firing"], deadline + 60, start)
    if fired is None:
        print(f"freeze-watch proof: FAIL, no FrozenStateDrifted for {t} within {deadline + 60:.0f} s")
        return 1
    named = [i for i in s["items"] if i == f"{t} added file {marker}"]
    print(f"freeze-watch proof: new file {marker} -> FrozenStateDrifted for {t} active in Alertmanager after "
          f"{fired:.0f} s (check period {args.period:.0f} s); drift item: {named or s['items']}", flush=True)
    start = time.monotonic()
    on_host(inv, t, f"rm -f {marker}")
    resolved, s = wait(inv, mon, am, prom, lambda s: t not in s["firing"] and s["ok"].get(t) == "1",
                       2 * args.period + 120, start)
    if resolved is None:
        print(f"freeze-watch proof: FAIL, FrozenStateDrifted for {t} still active after the file was removed")
        return 1
    print(f"freeze-watch proof: file removed -> resolved after {resolved:.0f} s", flush=True)
    rc = 0 if named and fired <= deadline else 1
    if fired > deadline:
        print(f"freeze-watch proof: FAIL, fired after {fired:.0f} s, more than one period + 60 s")

    if args.static:
        start = time.monotonic()
        on_host(inv, t, "printf '#' >> /etc/issue.net")
        fired2, s = wait(inv, mon, am, prom, lambda s: t in s["firing"], deadline + 60, start)
        item = f"{t} changed file /etc/issue.net"
        if fired2 is None or item not in s["items"]:
            print(f"freeze-watch proof: FAIL, no FrozenStateDrifted naming {item} ({s})")
            return 1
        print(f"freeze-watch proof: one byte appended to /etc/issue.net (static) -> FrozenStateDrifted after "
              f"{fired2:.0f} s naming '{item}' (left drifted: a restored file keeps its new ctime)")
    if args.stop_timer:
        on_host(inv, t, "systemctl stop freeze-watch.timer")
    print(f"freeze-watch proof: snapshot {times['snapshot']:.0f} s, deploy {times['deploy']:.0f} s, "
          f"fired {fired:.0f} s, resolved {resolved:.0f} s (period {args.period:.0f} s)")
    return rc


if __name__ == "__main__":
    sys.exit(main())
