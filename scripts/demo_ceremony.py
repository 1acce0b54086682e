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
  5. a witnessed intervention (issue 19) while a load generator keeps requesting the results
     pages of results-tx through its forwarded HTTPS port: `freeze intervention run` gives the
     standby PostgreSQL on results-tx more memory (work_mem, maintenance_work_mem,
     effective_cache_size in a new conf.d file, applied by a RELOAD, no restart), the people
     present sign the record (alice, carol; bob present too; a press witness without a key),
     carol cosigns the checkpoint, `close` makes the after-manifest results-tx's reference;
     requests served, failed and p99 before, during and after go to intervention-load.json;
     `freeze intervention check` is clean against the new signed reference, the same file
     written again outside an intervention is drift and raises FrozenStateDrifted (results-tx's
     continuous checker, roles/freeze_watch, is given the freeze's signed manifest before the
     intervention and the intervention's signed after-manifest after it), and `freeze verify-evidence
     --interventions` walks the journal from the freeze through the intervention naming who
     was present;
  6. LAST, because it leaves count-app drifted until a new freeze: a file planted on count-app;
     verify.yml names the host and the file, and an intervention on count-app is refused
     (exit 9, unexplained drift). Removing the file would not make the host clean again: it
     changes /usr/local/bin's mtime and ctime, which a static path records (README "Why
     ctime is compared").
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
import statistics
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

from benchmarks.website_bench import ALLOWLISTED, PAGE, paced_requests  # noqa: E402
from tests.demo_room import SIGNERS, demo_room  # noqa: E402
from tests.tsa import LocalTsa  # noqa: E402

PASS_ENV = "FREEZE_DEMO_PASSPHRASE"  # DEMO ONLY: one random passphrase for every demo key
ELECTION = "LAB-2026"
TAMPER = "/usr/local/bin/demo-planted-tool"
SCALE_FILE = "/etc/postgresql/15/main/conf.d/70-results-scale-up.conf"
# reloadable settings (context user): a RELOAD applies them, no restart of PostgreSQL or the website
SCALE_SETTINGS = {"work_mem": "16MB", "maintenance_work_mem": "128MB", "effective_cache_size": "1GB"}
LOAD_THREADS, LOAD_RATE, LOAD_WINDOW = 4, 3.0, 30  # visitors, requests/s each, seconds before and after
BIN = Path(sys.executable).parent
# Alertmanager and Prometheus on the monitoring host (its private network: asked from count-app)
WATCH_AM, WATCH_PROM = "http://10.20.0.12:9093", "http://10.20.0.12:9090"
# a check of the full lab profile takes 74-105 s on an emulated VM; the lab's period is 60 s
WATCH_DEADLINE = 420.0


def say(msg: str) -> None:
    print(f"== demo: {msg}", flush=True)


def freeze(*args: object, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "freeze", *map(str, args)], capture_output=True, text=True,
                          env=env, cwd=REPO, check=False)


def playbook(inv: Path, name: str, evars: Mapping[str, object], log: Path, env: dict[str, str],
             wait: bool = True, options: tuple[str, ...] = ()) -> subprocess.Popen[str]:
    fh = log.open("w")
    proc = subprocess.Popen([str(BIN / "ansible-playbook"), "-i", str(inv), "--become", "-e", json.dumps(evars),
                             *options, f"playbooks/{name}"], stdout=fh, stderr=subprocess.STDOUT, text=True,
                            cwd=REPO, env=env)
    if wait:
        proc.wait()
    return proc


def on_host(fleet: Path, host: str, command: str) -> None:
    """One command as root on a lab VM (the lab's operator key; NOPASSWD sudo), run from
    / (the operator's home is 0750: psql as postgres would complain it cannot enter it)."""
    subprocess.run([sys.executable, "-m", "lab", "--fleet", str(fleet), "ssh", host,
                    "sudo sh -c " + shlex.quote("cd / && " + command)], check=True, cwd=REPO,
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
    """The lab hosts' BASE profile without its database section (the database is taken once, from the
    controller); the ceremony composes each host's profile from it and its roles' fragments."""
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


def verify(inv: Path, cdir: Path, out: Path, name: str, env: dict[str, str],
           hosts: str = "all") -> tuple[int, str]:
    log = out / f"{name}.log"
    evars: dict[str, object] = {"freeze_verify_hosts": hosts,
             # each host's composed profile, as the ceremony recorded it (DIR/profiles/HOST.profile.yml)
             "freeze_verify_profiles": str(cdir / "profiles"), "freeze_verify_manifests": str(cdir / "manifests"),
             "freeze_verify_root": str(cdir / "ceremony" / "root.json"),
             "freeze_verify_envelope": str(cdir / "ceremony" / "manifest.dsse.json"),
             "freeze_verify_fleet": str(cdir / "manifests" / "fleet-manifest.json"),
             "freeze_verify_junit": str(out / f"{name}.junit.xml")}
    rc = playbook(inv, "verify.yml", evars, log, env).returncode
    return rc, log.read_text()


class LoadGen:
    """LOAD_THREADS paced visitors (benchmarks/website_bench.py's paced_requests, allowlisted so the
    per-client rate limit is not what is measured) on the results page through the forwarded port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.samples: list[tuple[float, bool, float]] = []
        self.done = threading.Event()
        self.threads = [threading.Thread(target=paced_requests, daemon=True,
                                         args=(port, LOAD_RATE, self.done.is_set, self.samples, ALLOWLISTED))
                        for _ in range(LOAD_THREADS)]

    def start(self) -> float:
        for t in self.threads:
            t.start()
        return time.monotonic()

    def stop(self) -> float:
        self.done.set()
        for t in self.threads:
            t.join(timeout=30)
        return time.monotonic()

    def window(self, start: float, end: float) -> dict[str, object]:
        got = [(ok, ms) for t0, ok, ms in list(self.samples) if start <= t0 < end]
        lat = sorted(ms for _, ms in got)
        p99 = statistics.quantiles(lat, n=100)[98] if len(lat) > 1 else (lat[0] if lat else 0.0)
        return {"seconds": round(end - start, 1), "requests": len(got), "served": sum(ok for ok, _ in got),
                "failed": sum(not ok for ok, _ in got), "p50_ms": round(statistics.median(lat), 1) if lat else None,
                "p99_ms": round(p99, 1), "max_ms": round(lat[-1], 1) if lat else None}


def known_hosts(fleet: Path, base: Path, names: list[str]) -> Path:
    """The lab writes no known_hosts file: ssh-keyscan of each VM's forwarded SSH port (a DEMO
    shortcut; on a real fleet the host keys come from the hosts' own consoles or the inventory)."""
    inv = yaml.safe_load((fleet / "inventory" / "hosts.yml").read_text())
    lines = []
    for name in names:
        port = _host(inv["all"], name)["ansible_port"]
        res = subprocess.run(["ssh-keyscan", "-p", str(port), "127.0.0.1"], capture_output=True, text=True,
                             check=False, timeout=60)
        lines.append(res.stdout)
    out = base / "known_hosts"
    out.write_text("".join(lines))
    return out


def ssh_argv(fleet: Path, name: str, kh: Path) -> tuple[str, dict[str, Any]]:
    """`ssh ... labadmin@127.0.0.1` for a lab VM as a shell word list, and its host vars."""
    inv = yaml.safe_load((fleet / "inventory" / "hosts.yml").read_text())
    hv = _host(inv["all"], name)
    argv = ["ssh", "-q", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=yes", "-o", f"UserKnownHostsFile={kh}",
            "-o", "IdentitiesOnly=yes", "-i", str(hv["ansible_ssh_private_key_file"]), "-p", str(hv["ansible_port"]),
            f"{hv.get('ansible_user', 'labadmin')}@127.0.0.1"]
    return shlex.join(argv), hv


def watch_reference(fleet: Path, cdir: Path, base: Path, env: dict[str, str], host: str,
                    intervention: Path | None = None) -> str | None:
    """Give `host`'s continuous checker (roles/freeze_watch, playbooks/monitoring.yml) its signed
    reference: the freeze's manifest, or after an intervention the after-manifest its signed record
    names. Checked on the controller before anything reaches the host. Returns an error or None."""
    evars: dict[str, object] = {"freeze_watch_profile": str(cdir / "profiles" / f"{host}.profile.yml"),
                                "freeze_watch_root": str(cdir / "ceremony" / "root.json")}
    if intervention is None:
        evars.update(freeze_watch_manifest=str(cdir / "manifests" / f"{host}.manifest.json"),
                     freeze_watch_envelope=str(cdir / "ceremony" / "manifest.dsse.json"),
                     freeze_watch_fleet=str(cdir / "manifests" / "fleet-manifest.json"))
    else:
        evars["freeze_watch_intervention"] = str(intervention)
    log = base / f"watch-{host}-{'intervention' if intervention else 'freeze'}.log"
    rc = playbook(fleet / "inventory", "monitoring.yml", evars, log, env,
                  options=("--limit", host, "--tags", "freeze_watch")).returncode
    return None if rc == 0 else f"monitoring.yml --tags freeze_watch on {host}: exit {rc} (see {log})"


def watch_wait(fleet: Path, what: str, cond: Any, deadline: float) -> tuple[float | None, dict[str, Any] | None]:
    """Wait until the monitoring (Prometheus and Alertmanager on count-app) shows `cond`."""
    from tests.lab_tier.freeze_watch_proof import wait

    say(f"monitoring: waiting for {what} (at most {deadline:.0f} s)")
    return wait(str(fleet / "inventory"), "count-app", WATCH_AM, WATCH_PROM, cond, deadline,  # type: ignore[no-any-return]
                time.monotonic())


def intervention_plan(base: Path, cdir: Path, fleet: Path, kh: Path, host: str, ident: str,
                      commands: list[str], declared: list[str]) -> Path:
    """An intervention plan (freeze/intervention/intervention-plan.example.yml) over the ceremony's evidence."""
    _, hv = ssh_argv(fleet, host, kh)
    doc = {
        "intervention": 1, "id": ident, "procedure": "scale-up" if declared else "maintenance",
        "reason": ("Election night: the results website's database tier needs more memory; the standby on "
                   "results-tx gets larger work_mem, maintenance_work_mem and effective_cache_size, applied "
                   "by a reload (no restart of PostgreSQL or of the website)") if declared else
                  "routine maintenance (expected to be refused: the host has unexplained drift)",
        "operator": "alice",
        "root": str(cdir / "ceremony" / "root.json"), "journal": str(cdir / "ceremony" / "journal.db"),
        "log_key": str(base / "keys" / "journal-log.pem"), "records": str(cdir / "interventions"),
        "reference": {"envelope": str(cdir / "ceremony" / "manifest.dsse.json"),
                      "fleet": str(cdir / "manifests" / "fleet-manifest.json"),
                      "manifests": str(cdir / "manifests")},
        "profile": str(cdir / "profiles" / f"{host}.profile.yml"),  # the host's, as composed at the freeze
        "hosts": {host: {"ssh": f"{hv.get('ansible_user', 'labadmin')}@127.0.0.1:{hv['ansible_port']}",
                         "identity": str(hv["ansible_ssh_private_key_file"]), "known_hosts": str(kh),
                         "sudo": True}},
        "present": [{"person": "alice"}, {"person": "bob"}, {"person": "carol"},
                    {"name": "Jane Roe (demo)", "role": "press", "organisation": "Daily Example"}],
        "declared": declared,
        "change": {"commands": commands, "timeout": 900},
    }
    path = base / "interventions" / f"{ident}.yml"
    path.parent.mkdir(exist_ok=True)
    path.write_text("# written by scripts/demo_ceremony.py (DEMO)\n" + yaml.safe_dump(doc, sort_keys=False))
    return path


def scale_up_commands(ssh: str) -> list[str]:
    conf = ("# results-tx standby: more memory for the results queries (witnessed intervention, "
            "scripts/demo_ceremony.py)\n" + "".join(f"{k} = '{v}'\n" for k, v in SCALE_SETTINGS.items()))
    names = ", ".join(f"'{k}'" for k in SCALE_SETTINGS)
    query = f"SELECT name, setting, unit, pending_restart FROM pg_settings WHERE name IN ({names}) ORDER BY name"
    return [
        f"printf %s {shlex.quote(conf)} | {ssh} "
        + shlex.quote(f"sudo install -m 0644 -o postgres -g postgres /dev/stdin {SCALE_FILE}"),
        f"{ssh} " + shlex.quote("sudo systemctl reload postgresql@15-main && sleep 2"),
        f"{ssh} " + shlex.quote("cd / && sudo runuser -u postgres -- psql -X -A -t -d postgres -c "
                                + shlex.quote(query)),
    ]


def intervention_phase(fleet: Path, base: Path, cdir: Path, env: dict[str, str],
                       times: list[tuple[str, float]], failures: list[str], root_pin: str | None) -> None:
    """Issue 19's lab proof: a witnessed scale-up of results-tx's standby under load."""
    inv = yaml.safe_load((fleet / "inventory" / "hosts.yml").read_text())
    port = int(_host(inv["all"], "results-tx")["lab_forward_https"])
    kh = known_hosts(fleet, base, ["results-tx", "count-app"])
    ssh, _ = ssh_argv(fleet, "results-tx", kh)
    plan = intervention_plan(base, cdir, fleet, kh, "results-tx", "results-db-scale-up",
                             scale_up_commands(ssh), [f"file:{SCALE_FILE}", f"file:{SCALE_FILE.rsplit('/', 1)[0]}"])
    records = cdir / "interventions"
    t = time.monotonic()
    say("freeze_watch on results-tx: its continuous checker gets the freeze's signed manifest")
    err = watch_reference(fleet, cdir, base, env, "results-tx")
    if err:
        failures.append(err)
    else:
        ok, s = watch_wait(fleet, "freeze_verify_ok 1 for results-tx (clean against the freeze)",
                           lambda s: s["ok"].get("results-tx") == "1", WATCH_DEADLINE)
        print(f"   results-tx clean in Prometheus after {ok:.0f} s" if ok is not None else f"   not clean: {s}")
        if ok is None:
            failures.append("results-tx's checker never reported clean against the freeze's manifest")
    times.append(("freeze_watch: results-tx watched against the freeze", time.monotonic() - t))
    load = LoadGen(port)
    say(f"load: {LOAD_THREADS} visitors x {LOAD_RATE:g} requests/s on https://results-tx{PAGE} "
        f"(127.0.0.1:{port}); {LOAD_WINDOW} s before the intervention")
    t_load = load.start()
    time.sleep(LOAD_WINDOW)
    t_run = time.monotonic()
    times.append(("intervention: load before", t_run - t_load))
    say(f"freeze intervention run {plan.name} (results-tx: {', '.join(f'{k}={v}' for k, v in SCALE_SETTINGS.items())}"
        f", reload)")
    res = freeze("intervention", "run", plan, "--passphrase-env", PASS_ENV, env=env)
    print("\n".join("   " + ln for ln in (res.stdout + res.stderr).strip().splitlines()[:8]))
    (base / "intervention-run.log").write_text(res.stdout + res.stderr)
    t_signed = time.monotonic()
    times.append(("intervention: run (check, change, after)", t_signed - t_run))
    closed = False
    if res.returncode != 0:
        failures.append(f"freeze intervention run: exit {res.returncode} (see {base}/intervention-run.log)")
    if 0 <= res.returncode <= 7:  # 1/2/4: recorded with UNDECLARED changes; signed and closed all the same
        record_dir = sorted(records.glob("*-results-db-scale-up"))[-1]
        for who in SIGNERS:  # each person present with a key, in a process of their own
            r = freeze("sign", record_dir / "record.dsse.json", "--key", base / "keys" / f"{who}.pem",
                       "--passphrase-env", PASS_ENV, "--root", cdir / "ceremony" / "root.json",
                       "--document", record_dir / "record.json", env=env)
            if r.returncode != 0:
                failures.append(f"freeze sign (intervention record) by {who}: exit {r.returncode}: {r.stderr.strip()}")
        r = freeze("journal", "cosign", record_dir / "checkpoint.note", "--key", base / "keys" / "carol.pem",
                   "--as", "carol", "--passphrase-env", PASS_ENV, env=env)
        if r.returncode != 0:
            failures.append(f"freeze journal cosign by carol: exit {r.returncode}: {r.stderr.strip()}")
        r = freeze("intervention", "close", plan, env=env)
        print("\n".join("   " + ln for ln in (r.stdout + r.stderr).strip().splitlines()))
        closed = r.returncode == 0 and "CLOSED" in r.stdout
        if not closed:
            failures.append(f"freeze intervention close: exit {r.returncode}: {r.stderr.strip()}")
        log = (record_dir / "change.log").read_text()
        applied = {k: ln for k in SCALE_SETTINGS for ln in log.splitlines() if ln.startswith(f"{k}|")}
        print("   applied by the reload (name|setting|unit|pending_restart): " + "; ".join(applied.values()))
        if len(applied) != len(SCALE_SETTINGS) or any(not ln.endswith("|f") for ln in applied.values()):
            failures.append(f"the scale-up settings are not all applied without a restart: {applied}")
    t_closed = time.monotonic()
    times.append(("intervention: sign, cosign, close", t_closed - t_signed))
    time.sleep(LOAD_WINDOW)
    t_end = load.stop()
    times.append(("intervention: load after", t_end - t_closed))
    figures = {"page": f"https://results-tx{PAGE}", "threads": LOAD_THREADS, "rate_per_thread": LOAD_RATE,
               "client": ALLOWLISTED, "settings": SCALE_SETTINGS, "file": SCALE_FILE,
               "restart": "none (reload; pending_restart false; the website is nginx with static pages and "
                          "was not touched)",
               "before": load.window(t_load, t_run), "during": load.window(t_run, t_closed),
               "after": load.window(t_closed, t_end + 1)}
    (base / "intervention-load.json").write_text(json.dumps(figures, indent=2) + "\n")
    say(f"load on the results page ({base}/intervention-load.json):")
    for w in ("before", "during", "after"):
        f = figures[w]
        assert isinstance(f, dict)
        print(f"   {w:<7} {f['seconds']:6.1f} s  {f['requests']:5d} requests  {f['served']:5d} served  "
              f"{f['failed']:3d} failed  p50 {f['p50_ms']} ms  p99 {f['p99_ms']} ms  max {f['max_ms']} ms")
        if f["failed"]:
            failures.append(f"{f['failed']} failed request(s) {w} the intervention")
    if not closed:
        return

    t = time.monotonic()
    say("freeze intervention check: results-tx against its NEW signed reference (the intervention's after-manifest)")
    r = freeze("intervention", "check", plan, env=env)
    print("\n".join("   " + ln for ln in (r.stdout + r.stderr).strip().splitlines()[:6]))
    if r.returncode != 0 or "clean" not in r.stdout:
        failures.append(f"freeze intervention check after close: exit {r.returncode} (expected clean)")
    times.append(("intervention: check new reference", time.monotonic() - t))

    t = time.monotonic()
    record_dir = sorted(records.glob("*-results-db-scale-up"))[-1]
    say(f"freeze_watch on results-tx: the intervention's signed after-manifest becomes its reference "
        f"({record_dir.name})")
    err = watch_reference(fleet, cdir, base, env, "results-tx", intervention=record_dir)
    watched = err is None
    if err:
        failures.append(err)
    else:
        ok, s = watch_wait(fleet, "results-tx clean against its new reference, no FrozenStateDrifted",
                           lambda s: s["ok"].get("results-tx") == "1" and "results-tx" not in s["firing"],
                           WATCH_DEADLINE)
        print(f"   clean after {ok:.0f} s" if ok is not None else f"   not clean: {s}")
        if ok is None:
            watched = False
            failures.append("results-tx's checker never reported clean against the intervention's after-manifest")
    times.append(("freeze_watch: new reference deployed, clean", time.monotonic() - t))

    t = time.monotonic()
    say(f"the same change again OUTSIDE an intervention ({SCALE_FILE} rewritten on results-tx): drift and an alert")
    on_host(fleet, "results-tx", f"printf \"work_mem = '32MB'\\n\" > {SCALE_FILE}")
    r = freeze("intervention", "check", plan, env=env)
    print("\n".join("   " + ln for ln in (r.stdout + r.stderr).strip().splitlines()[:6]))
    if r.returncode == 0 or SCALE_FILE not in r.stdout:
        failures.append(f"a change outside the intervention was not reported as drift (exit {r.returncode})")
    if watched:
        item = f"results-tx changed file {SCALE_FILE}"
        fired, s = watch_wait(fleet, f"FrozenStateDrifted for results-tx naming {SCALE_FILE}",
                              lambda s: "results-tx" in s["firing"] and item in s["items"], WATCH_DEADLINE)
        if fired is None:
            failures.append(f"no FrozenStateDrifted for results-tx naming {SCALE_FILE} ({s})")
        else:
            print(f"   FrozenStateDrifted for results-tx active in Alertmanager {fired:.0f} s after the change; "
                  f"drift item: {item}")
    times.append(("outside change: drift, FrozenStateDrifted", time.monotonic() - t))

    t = time.monotonic()
    say("freeze verify-evidence --interventions: the journal from the freeze through the intervention")
    trust = ["--root-pin", root_pin] if root_pin else ["--root", str(cdir / "ceremony" / "root.json")]
    r = freeze("verify-evidence", cdir / "ceremony" / "evidence.tar", *trust, "--interventions", records, env=env)
    (base / "verify-evidence-interventions.log").write_text(r.stdout + r.stderr)
    for ln in (r.stdout + r.stderr).splitlines():
        if re.search(r"step \d+:|interventions:|FAIL", ln):
            print("   " + ln.strip())
    if r.returncode != 0 or "Jane Roe" not in r.stdout:
        failures.append(f"freeze verify-evidence --interventions: exit {r.returncode} "
                        f"(see {base}/verify-evidence-interventions.log)")
    times.append(("verify-evidence --interventions (journal walk)", time.monotonic() - t))


def table(text: str) -> str:
    """The verify table's rows as the play printed them."""
    # "- HOST  ADDED REMOVED CHANGED  first items" (a drifted host's row names its first
    # items, not "DRIFT"), or a host the play could not verify
    rows = [ln.strip().strip('",') for ln in text.splitlines()
            if re.match(r"\s*- \S+\s+\d+\s+\d+\s+\d+\s", ln) or "NOT VERIFIED" in ln]
    return "\n".join("   " + r for r in rows[:12])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fleet", type=Path, required=True, help="the converged fleet's state directory (LAB_DIR)")
    ap.add_argument("--out", type=Path, required=True, help="where the ceremony directory and logs go")
    ap.add_argument("--allow-alert", action="append", default=[], metavar="ALERTNAME",
                    help="an alert the monitoring pre-check may find firing (repeatable; the lab tier's kept "
                         "fleet: FreezeVerificationStale, its freeze-watch proof stops count-db's timer)")
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
                 "freeze_ceremony_prometheus_from": "count-app",
                 # the lab is offline: its VMs have no time source, so every host's clock is
                 # "not synchronised" (ClockSkew). A real fleet must not need this.
                 "freeze_ceremony_allowed_alerts": ["ClockSkew", *args.allow_alert]}
        say("monitoring pre-check allows: " + ", ".join(["ClockSkew (lab: no time source)", *args.allow_alert]))
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
        rc, text = verify(inv, cdir, base, "verify-clean", env)
        print(table(text))
        if rc != 0:
            failures.append(f"verify.yml on the untouched fleet: exit {rc} (see {base}/verify-clean.log)")
        phase("verify.yml, untouched fleet", t)

        m = re.search(r"ROOT DIGEST\s+sha256:([0-9a-f]{64})", out)
        intervention_phase(fleet, base, cdir, env, times, failures, m.group(1) if m else None)

        t = time.monotonic()
        say(f"LAST: a file planted on count-app ({TAMPER}): verify.yml must name it; count-app stays drifted "
            "until a new freeze")
        on_host(fleet, "count-app", f"printf '#!/bin/sh\\necho planted\\n' > {TAMPER} && chmod 755 {TAMPER}")
        # results-tx's reference is now the intervention's after-manifest (freeze intervention check above);
        # verify.yml checks against the freeze's manifests, so it verifies the other hosts
        rc, text = verify(inv, cdir, base, "verify-tampered", env, hosts="all:!results-tx")
        print(table(text))
        if rc == 0 or TAMPER not in text:
            failures.append(f"verify.yml did not report {TAMPER} on count-app "
                            f"(exit {rc}, see {base}/verify-tampered.log)")
        kh = base / "known_hosts"
        if kh.exists():
            say("an intervention on count-app now must be refused (unexplained drift): exit 9")
            plan = intervention_plan(base, cdir, fleet, kh, "count-app", "count-app-maintenance",
                                     ["true"], [])
            r = freeze("intervention", "run", plan, "--passphrase-env", PASS_ENV, env=env)
            print("   exit " + str(r.returncode) + ": " + (r.stderr.strip().splitlines() or [""])[-1][:400])
            if r.returncode != 9 or "unexplained drift" not in r.stderr:
                failures.append(f"the intervention on the drifted count-app was not refused (exit {r.returncode})")
        print(f"   count-app stays DRIFTED: removing {TAMPER} would change /usr/local/bin's mtime and ctime, which a "
              "static path records (README \"Why ctime is compared\"); only a new freeze makes it a reference again")
        phase("tamper (last): verify names it, intervention refused", t)
    finally:
        tsa.stop()

    say("ceremony summary")
    for name, secs in times:
        print(f"   {name:<52} {secs:7.0f} s")
    print(f"   evidence for the auditors: {cdir}/ceremony/evidence.tar, {cdir}/manifests/, "
          f"{cdir}/profiles/ (each host's composed freeze profile), {cdir}/zero/, "
          f"{cdir}/interventions/ (records, reference.json, the journal since the freeze)")
    print(f"   load during the intervention: {base}/intervention-load.json")
    print(f"   results-tx against its current signed reference: {BIN}/python -m freeze intervention check "
          f"{base}/interventions/results-db-scale-up.yml")
    print(f"   verify again (the freeze's manifests; results-tx's reference is now its intervention's):  "
          f"{BIN}/ansible-playbook -i {inv} --become playbooks/verify.yml -e freeze_verify_profiles="
          f"{cdir}/profiles -e freeze_verify_manifests={cdir}/manifests "
          f"-e freeze_verify_root={cdir}/ceremony/root.json "
          f"-e freeze_verify_envelope={cdir}/ceremony/manifest.dsse.json "
          f"-e freeze_verify_fleet={cdir}/manifests/fleet-manifest.json")
    for f in failures:
        print(f"== demo: FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
