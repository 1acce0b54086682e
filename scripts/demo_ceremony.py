"""The second half of scripts/demo.sh: the freeze ceremony over the hardened lab fleet.

On a fleet that `playbooks/site.yml` has converged (LAB_DIR), in a NEW directory:
  1. DEMO key holders (alice, bob: directorate; carol: auditor) and a journal log key,
     their passphrase a random value in this process's environment only (never on a
     command line, never printed); a local test TSA (tests/tsa.py); a root spec naming them;
  2. drill results written into count-db's counting database (public.results);
  3. `playbooks/freeze-ceremony.yml`: pre-checks (every host reachable with sudo and
     snapshotted, the replica identical to the primary, every Prometheus target up and no
     alert firing), then the database snapshotted and ZEROED (with its verified backup and
     zero report), the fleet manifest signed, the bundle verified; the key holders sign
     from other processes while the play waits;
  4. `playbooks/verify.yml`: the untouched fleet verifies clean against the signed manifests;
  5. a file planted on count-app: verify.yml fails naming the host and the file; removed:
     clean again.
Each phase's wall time is printed at the end. Exit status 0 only if every phase
did what it should. DEMO keys and TSA: never use them for an election.

    python scripts/demo_ceremony.py --fleet .lab/fleet --out artifacts/demo
"""

from __future__ import annotations

import argparse
import json
import os
import re
import secrets
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # tests.tsa: the local test TSA (a demo is run from a checkout)

from tests.demo_room import SIGNERS, demo_room  # noqa: E402
from tests.tsa import LocalTsa  # noqa: E402

PASS_ENV = "FREEZE_DEMO_PASSPHRASE"  # DEMO ONLY: one random passphrase for every demo key
ELECTION = "LAB-2026"
TAMPER = "/usr/local/bin/demo-planted-tool"
BIN = Path(sys.executable).parent


def say(msg: str) -> None:
    print(f"== demo: {msg}", flush=True)


def freeze(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "freeze", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)


def playbook(inv: Path, name: str, evars: Mapping[str, object], log: Path, env: dict[str, str],
             wait: bool = True) -> subprocess.Popen[str]:
    fh = log.open("w")
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), "-i", str(inv), "--become", "-e", json.dumps(evars),
                             f"playbooks/{name}"], stdout=fh, stderr=subprocess.STDOUT, text=True, cwd=REPO, env=env)
    if wait:
        proc.wait()
    return proc


def on_host(fleet: Path, host: str, command: str) -> None:
    """One command as root on a lab VM (the lab's operator key; NOPASSWD sudo)."""
    subprocess.run([sys.executable, "-m", "lab", "--fleet", str(fleet), "ssh", host,
                    "sudo sh -c " + shlex.quote(command)], check=True, cwd=REPO,
                   stdout=subprocess.DEVNULL)


def room(base: Path, tsa: LocalTsa, env: dict[str, str]) -> Path:
    def keygen(key: Path) -> None:
        res = freeze("keygen", key, "--passphrase-env", PASS_ENV, env=env)
        if res.returncode != 0:
            raise SystemExit(f"demo: freeze keygen {key.name}: {res.stderr.strip() or res.stdout.strip()}")
    return demo_room(base, tsa, keygen, ELECTION, ceremony="lab-fleet-freeze", origin="lab.example")


def database_env(fleet: Path, base: Path, env: dict[str, str]) -> None:
    """FREEZE_DB_DSN (the primary, count-db) and FREEZE_STANDBY_DSN (the replica, results-tx): the login
    freeze_operator through each VM's forwarded port, TLS verified against the lab CA; the password in an
    owner-only passfile, never in the DSN or on a command line."""
    inv = yaml.safe_load((fleet / "inventory" / "hosts.yml").read_text())
    password = (fleet / "secrets" / "postgresql" / "freeze_operator").read_text().split()[0]
    ports = {var: _host(inv["all"], host)["lab_forward_postgresql"]
             for var, host in (("FREEZE_DB_DSN", "count-db"), ("FREEZE_STANDBY_DSN", "results-tx"))}
    passfile = base / "pgpass"
    fd = os.open(passfile, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.writelines(f"127.0.0.1:{port}:*:freeze_operator:{password}\n" for port in ports.values())
    for var, port in ports.items():
        env[var] = (f"host=127.0.0.1 port={port} dbname=counting user=freeze_operator sslmode=verify-full "
                    f"sslrootcert={fleet / 'pki' / 'ca.crt'} passfile={passfile}")


def _host(group: dict[str, Any], name: str) -> dict[str, Any]:
    hosts = group.get("hosts") or {}
    if name in hosts:
        return dict(hosts[name] or {})
    for sub in (group.get("children") or {}).values():
        found = _host(sub or {}, name)
        if found:
            return found
    return {}


def host_profile(base: Path) -> Path:
    """The lab hosts' profile without its database section: the database is taken once, from the controller."""
    doc = yaml.safe_load((REPO / "inventories/lab/freeze/profile.yml").read_text())
    doc.pop("database", None)
    out = base / "hosts-profile.yml"
    out.write_text("# inventories/lab/freeze/profile.yml without its database section (scripts/demo_ceremony.py)\n"
                   + yaml.safe_dump(doc, sort_keys=False))
    return out


def sign_when_prepared(cdir: Path, keys: Path, station: subprocess.Popen[str], env: dict[str, str],
                       log: list[str]) -> None:
    """The key holders, each in a process of their own, once the workstation has prepared the checkpoint."""
    note = cdir / "ceremony" / "checkpoint.note"
    deadline = time.monotonic() + 3600
    while not note.exists() and station.poll() is None and time.monotonic() < deadline:
        time.sleep(1)
    for who in SIGNERS:
        res = freeze("ceremony", "sign", cdir / "ceremony-plan.yml", "--key", keys / f"{who}.pem",
                     "--passphrase-env", PASS_ENV, env=env)
        log.append(f"{who}: exit {res.returncode}: {(res.stdout + res.stderr).strip().splitlines()[-1:]}")


def verify(inv: Path, cdir: Path, profile: Path, out: Path, name: str, env: dict[str, str]) -> tuple[int, str]:
    log = out / f"{name}.log"
    evars: dict[str, object] = {
             "freeze_verify_profile": str(profile), "freeze_verify_manifests": str(cdir / "manifests"),
             "freeze_verify_root": str(cdir / "ceremony" / "root.json"),
             "freeze_verify_envelope": str(cdir / "ceremony" / "manifest.dsse.json"),
             "freeze_verify_fleet": str(cdir / "manifests" / "fleet-manifest.json"),
             "freeze_verify_junit": str(out / f"{name}.junit.xml")}
    rc = playbook(inv, "verify.yml", evars, log, env).returncode
    return rc, log.read_text()


def table(text: str) -> str:
    """The verify table's rows as the play printed them."""
    rows = [ln.strip().strip('",') for ln in text.splitlines() if re.search(r"(clean|DRIFT|NOT VERIFIED)", ln)]
    return "\n".join("   " + r for r in rows[:12])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleet", type=Path, required=True, help="the converged fleet's state directory (LAB_DIR)")
    ap.add_argument("--out", type=Path, required=True, help="where the ceremony directory and logs go")
    args = ap.parse_args()
    fleet, inv = args.fleet.resolve(), args.fleet.resolve() / "inventory"
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
    base = (args.out / f"ceremony-{stamp}").resolve()
    base.mkdir(parents=True)
    env = {**os.environ, PASS_ENV: secrets.token_urlsafe(24), "ANSIBLE_FORCE_COLOR": "0"}
    times: list[tuple[str, float]] = []
    failures: list[str] = []

    def phase(name: str, start: float) -> None:
        times.append((name, time.monotonic() - start))

    t = time.monotonic()
    tsa = LocalTsa(base / "tsa")
    try:
        spec = room(base, tsa, env)
        database_env(fleet, base, env)
        profile = host_profile(base)
        on_host(fleet, "count-db", "runuser -u postgres -- psql -X -q -d counting -v ON_ERROR_STOP=1 -c "
                + shlex.quote("INSERT INTO public.results (polling_station, candidate, votes) VALUES "
                              "('drill-001', 'Candidate A', 120), ('drill-001', 'Candidate B', 95), "
                              "('drill-002', 'Candidate A', 80)"))
        phase("demo keys, TSA, drill results", t)
        say(f"ceremony directory {base} (DEMO keys and TSA: never for an election)")

        t = time.monotonic()
        cdir = base / "ceremony-dir"
        say(f"freeze ceremony over the fleet, database zeroed (log: {base}/ceremony.log)")
        evars: dict[str, object] = {"freeze_ceremony_dir": str(cdir), "freeze_ceremony_profile": str(profile),
                 "freeze_ceremony_root_spec": str(spec), "freeze_ceremony_log_key": str(base / "keys/journal-log.pem"),
                 "freeze_ceremony_log_key_passphrase_env": PASS_ENV, "freeze_ceremony_wait": 3600,
                 "freeze_ceremony_database_profile": str(REPO / "inventories/lab/freeze/database.yml"),
                 "freeze_ceremony_zero": True, "freeze_ceremony_election_id": ELECTION,
                 # pre-checks: the replica identical, the monitoring healthy (Prometheus listens on the
                 # monitoring network only, so it is asked from the monitoring host)
                 "freeze_ceremony_standby_dsn_env": "FREEZE_STANDBY_DSN",
                 "freeze_ceremony_prometheus_url": "http://10.20.0.12:9090",
                 "freeze_ceremony_prometheus_from": "count-app"}
        station = playbook(inv, "freeze-ceremony.yml", evars, base / "ceremony.log", env, wait=False)
        signed: list[str] = []
        signers = threading.Thread(target=sign_when_prepared, args=(cdir, base / "keys", station, env, signed),
                                   daemon=True)
        signers.start()
        station.wait()
        signers.join(timeout=60)
        phase("freeze-ceremony.yml (snapshot, zero, sign)", t)
        out = (base / "ceremony.log").read_text()
        if station.returncode != 0 or "CEREMONY FINISHED" not in out:
            failures.append(f"freeze-ceremony.yml exit {station.returncode} (see {base}/ceremony.log)")
            print("\n".join(out.splitlines()[-30:]))
            return 1
        for line in out.splitlines():
            if re.search(r"CEREMONY FINISHED|ROOT DIGEST|BUNDLE |TAR |CHECKPOINT |ZEROED", line):
                print("   " + line.strip().strip('",'))
        print("   signers: " + "; ".join(signed))

        t = time.monotonic()
        say("verify.yml: the untouched fleet against its signed manifests")
        rc, text = verify(inv, cdir, profile, base, "verify-clean", env)
        print(table(text))
        if rc != 0:
            failures.append(f"verify.yml on the untouched fleet: exit {rc} (see {base}/verify-clean.log)")
        phase("verify.yml, untouched fleet", t)

        t = time.monotonic()
        say(f"a file planted on count-app ({TAMPER}): verify.yml must name it")
        on_host(fleet, "count-app", f"printf '#!/bin/sh\\necho planted\\n' > {TAMPER} && chmod 755 {TAMPER}")
        rc, text = verify(inv, cdir, profile, base, "verify-tampered", env)
        print(table(text))
        if rc == 0 or TAMPER not in text:
            failures.append(f"verify.yml did not report {TAMPER} on count-app "
                            f"(exit {rc}, see {base}/verify-tampered.log)")
        on_host(fleet, "count-app", f"rm -f {TAMPER}")
        rc, text = verify(inv, cdir, profile, base, "verify-restored", env)
        print(table(text))
        if rc != 0:
            failures.append(f"verify.yml after removing the planted file: exit {rc}")
        phase("tamper, verify (drift), restore, verify", t)
    finally:
        tsa.stop()

    say("ceremony summary")
    for name, secs in times:
        print(f"   {name:<46} {secs:7.0f} s")
    print(f"   evidence for the auditors: {cdir}/ceremony/evidence.tar, {cdir}/manifests/, {cdir}/zero/")
    print(f"   verify again:  {BIN}/ansible-playbook -i {inv} --become playbooks/verify.yml -e freeze_verify_profile="
          f"{profile} -e freeze_verify_manifests={cdir}/manifests -e freeze_verify_root={cdir}/ceremony/root.json "
          f"-e freeze_verify_envelope={cdir}/ceremony/manifest.dsse.json "
          f"-e freeze_verify_fleet={cdir}/manifests/fleet-manifest.json")
    for f in failures:
        print(f"== demo: FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
