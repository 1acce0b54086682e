"""playbooks/freeze-ceremony.yml and playbooks/verify.yml over loopback hosts.

Two inventory hosts are aliases of this machine behind the throw-away loopback
sshd (tests/sshd.py), reached as root with privilege escalation (`su`: there
is no sudo here). The ceremony runs through the real `ansible-playbook`: pre-checks,
snapshots, the plan written from variables, `freeze ceremony run --wait` while the
key holders (DEMO keys; their passphrase comes from the environment, a test value)
sign in other processes; the bundle then passes `freeze verify-evidence`. Zero is
NOT exercised here (freeze_ceremony_zero stays false; `freeze zero` has its own
tests in test_zero.py). verify.yml then checks each host's manifest against the
ceremony's signed fleet manifest: clean passes, a flipped manifest byte is refused
as "not the signed one" before the host is touched, drift is a JUnit failure.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from tests.demo_room import SIGNERS, demo_room
from tests.integration.test_ceremony import PASS_ENV, PASSPHRASE, freeze, freeze_proc, needs_tools
from tests.integration.test_remote_ssh import (  # noqa: F401 - sshd is a fixture
    _profile,
    sshd,
)
from tests.integration.test_zero_support import DSN_ENV, db_state, is_fully_zeroed, make_zero_env
from tests.sshd import free_port, loopback_inventory
from tests.tsa import LocalTsa

pytestmark = needs_tools
REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
HOSTS = ("count-a", "count-b")
LOG_PASS_ENV = "FREEZE_DEMO_LOG_PASSPHRASE"  # DEMO ONLY: a test passphrase in the environment
# its fragment only excludes a path (never looked up), so it composes on any machine
ROLE_OF_COUNT_B = "postgresql_server"
LYNIS_AFTER = {"phase": "after", "hardening_index": 90, "warning_count": 0, "lynis_version": "3.0.8"}
OPENSCAP_AFTER = {"phase": "after", "pass": 331, "fail": 16, "error": 0, "pass_ratio": 95.4,
                  "profile": "xccdf_org.ssgproject.content_profile_cis_level1_server",
                  "files": {"arf.xml": "ab" * 32}}


def play(inv: Path, playbook: str, evars: dict[str, object], *extra: str, env: dict[str, str] | None = None,
         timeout: int = 600) -> subprocess.Popen[str]:
    return subprocess.Popen([str(PLAYBOOK), "-i", str(inv), "-e", json.dumps(evars),
                             "-e", "ansible_become_method=su", *extra, f"playbooks/{playbook}"],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
                            env={**os.environ, **(env or {})})


def run_play(inv: Path, playbook: str, evars: dict[str, object], *extra: str) -> tuple[int, str]:
    proc = play(inv, playbook, evars, *extra)
    out, _ = proc.communicate(timeout=600)
    return proc.returncode, out


def flat(text: str) -> str:
    """The play's output with runs of white space made one space (the yaml callback wraps long lines)."""
    return re.sub(r"\s+", " ", text)


def _room(base: Path, tsa: LocalTsa, election: str = "2026-general") -> Path:
    """DEMO keys (passphrase from the environment) and a root spec naming them."""
    return demo_room(base, tsa, lambda key: freeze("keygen", key, "--passphrase-env", PASS_ENV), election)


@dataclass
class Done:
    inv: Path
    profile: Path
    app: Path
    dir: Path
    output: str
    rc: int
    signer_errors: list[str]


def _sign_when_prepared(cdir: Path, keys: Path, station: subprocess.Popen[str], errors: list[str]) -> None:
    """Each key holder on "their own machine": a separate process, once the workstation has prepared."""
    note = cdir / "ceremony" / "checkpoint.note"
    deadline = time.monotonic() + 300
    while not note.exists() and station.poll() is None and time.monotonic() < deadline:
        time.sleep(0.5)
    for who in SIGNERS:
        res = freeze_proc("ceremony", "sign", cdir / "ceremony-plan.yml", "--key", keys / f"{who}.pem",
                          "--passphrase-env", PASS_ENV)
        if res.returncode != 0 or "signed as" not in res.stdout:
            errors.append(f"{who}: {res.returncode} {res.stdout} {res.stderr}")


def run_ceremony(inv: Path, evars: dict[str, object], keys: Path, env: dict[str, str]) -> tuple[int, str, list[str]]:
    """The play on the workstation while the key holders sign in other processes."""
    station = play(inv, "freeze-ceremony.yml", evars, env=env)
    errors: list[str] = []
    signers = threading.Thread(target=_sign_when_prepared, args=(Path(str(evars["freeze_ceremony_dir"])), keys,
                                                                 station, errors), daemon=True)
    signers.start()
    try:
        out, _ = station.communicate(timeout=600)
    finally:
        if station.poll() is None:
            station.kill()
    signers.join(timeout=60)
    return station.returncode, out, errors


@pytest.fixture(scope="module")
def ceremony(sshd, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Done]:  # noqa: F811
    if not PLAYBOOK.exists():
        pytest.skip("ansible not installed (the ops extra)")
    base = tmp_path_factory.mktemp("fleet-ceremony")
    os.environ[PASS_ENV] = PASSPHRASE
    inv = loopback_inventory(base / "hosts.yml", sshd["dir"], dict.fromkeys(HOSTS, sshd["port"]))
    # count-b "runs" postgresql_server: its composed profile gets that role's fragment, count-a's not
    doc = yaml.safe_load(inv.read_text())
    doc["all"]["hosts"]["count-b"]["freeze_ceremony_profile_roles"] = [ROLE_OF_COUNT_B]
    inv.write_text(yaml.safe_dump(doc))
    profile, app = _profile(base)
    # the hardening evidence the hosts keep as local facts (lynis_evidence, openscap_evidence
    # write these); the other fact is not compliance evidence and stays out of the manifest
    facts = base / "facts.d"
    facts.mkdir()
    (facts / "lynis_after.fact").write_text(json.dumps(LYNIS_AFTER))
    (facts / "openscap_after.fact").write_text(json.dumps(OPENSCAP_AFTER))
    (facts / "os_baseline_files.fact").write_text(json.dumps({"suid_removed": []}))
    tsa = LocalTsa(base / "tsa")
    try:
        spec = _room(base, tsa)
        cdir = base / "ceremony-2026"
        evars = {"freeze_ceremony_dir": str(cdir), "freeze_ceremony_profile": str(profile),
                 "freeze_ceremony_root_spec": str(spec), "freeze_ceremony_log_key": str(base / "keys/journal-log.pem"),
                 "freeze_ceremony_log_key_passphrase_env": LOG_PASS_ENV, "freeze_ceremony_wait": 240,
                 "freeze_ceremony_pdf": False, "freeze_ceremony_facts_dir": str(facts)}
        # a --check run first: pre-checks only, and it leaves nothing that stops the real run
        rc, checked = run_play(inv, "freeze-ceremony.yml", evars, "--check")
        assert rc == 0 and "check mode: pre-checks done; no database snapshot, no zero, no ceremony" in checked, \
            checked[-4000:]
        assert not (cdir / "ceremony-plan.yml").exists() and not (cdir / "manifests" / "count-a.manifest.json").exists()
        rc, out, errors = run_ceremony(inv, evars, base / "keys", {LOG_PASS_ENV: PASSPHRASE})
        (base / "play.log").write_text(out)  # for a failing run: the whole play's output
        yield Done(inv, profile, app, cdir, out, rc, errors)
    finally:
        tsa.stop()


def test_ceremony_playbook_snapshots_waits_for_the_signers_and_the_bundle_verifies(ceremony: Done,
                                                                                   tmp_path: Path) -> None:
    out = ceremony.output
    assert ceremony.rc == 0 and not ceremony.signer_errors, (ceremony.signer_errors, out[-6000:])
    for host in HOSTS:  # each host's state, and its manifest on the controller
        assert f"{host}                  snapshot taken           sha256:" in out, out[-6000:]
        assert (ceremony.dir / "manifests" / f"{host}.manifest.json").is_file()
    assert "waiting for bob:" in out  # the room's screen, printed before the play waited
    assert "CEREMONY FINISHED: 2 host(s) snapshotted; bundle VERIFIED" in out
    assert "not zeroed (freeze_ceremony_zero was false)" in out
    assert PASSPHRASE not in out
    fleet = json.loads((ceremony.dir / "manifests" / "fleet-manifest.json").read_bytes())
    assert fleet["schema"] == "freeze-fleet/v1" and sorted(fleet["manifests"]) == list(HOSTS)
    # each host's hardening evidence is in the signed fleet manifest, as the host kept it
    for host in HOSTS:
        assert fleet["manifests"][host]["compliance"] == {"lynis_after": LYNIS_AFTER,
                                                          "openscap_after": OPENSCAP_AFTER}
    # one composed profile per host, named by sha256 in the signed fleet manifest and recorded
    # in the host's manifest; count-b's carries its role's fragment, count-a's does not
    profiles = ceremony.dir / "profiles"
    for host in HOSTS:
        text = (profiles / f"{host}.profile.yml").read_bytes()
        digest_p = hashlib.sha256(text).hexdigest()
        assert fleet["manifests"][host]["profile"] == {"file": f"profiles/{host}.profile.yml", "sha256": digest_p}
        manifest = json.loads((ceremony.dir / "manifests" / f"{host}.manifest.json").read_bytes())
        assert manifest["profile"] == {"digest": digest_p, "name": f"remote/{host}"}
    assert b"role fragment: postgresql_server" in (profiles / "count-b.profile.yml").read_bytes()
    assert b"/var/lib/postgresql" not in (profiles / "count-a.profile.yml").read_bytes()
    # an auditor composes again from the base and the collection's roles: the same bytes
    for host, roles in (("count-a", []), ("count-b", [ROLE_OF_COUNT_B])):
        code, cout, cerr = freeze("profile", "compose", "--base", ceremony.profile, "--roles-dir", REPO / "roles",
                                  "--host", host, *(a for r in roles for a in ("--role", r)),
                                  *([] if roles else ["--playbook", REPO / "playbooks/site.yml",
                                                      "--inventory", ceremony.inv]),
                                  "--check", profiles / f"{host}.profile.yml")
        assert code == 0 and cout.startswith("SAME:"), (cout, cerr)
    digest = out.split("ROOT DIGEST  sha256:")[1][:64]
    line = out.split("CHECKPOINT   ")[1].splitlines()[0].strip().rstrip("'\"")
    # the ordinary verifier, on a copy of the tar, with what the minutes hold
    tar = tmp_path / "handed-over.tar"
    shutil.copy(ceremony.dir / "ceremony" / "evidence.tar", tar)
    code, vout, _ = freeze("verify-evidence", tar, "--root-pin", digest, "--checkpoint", line)
    assert code == 0 and "VERIFIED" in vout
    # a second run of the play refuses: a new directory per ceremony (manifests exist), nothing zeroed
    rc, again = run_play(ceremony.inv, "freeze-ceremony.yml", {
        "freeze_ceremony_dir": str(ceremony.dir), "freeze_ceremony_profile": str(ceremony.profile),
        "freeze_ceremony_root_spec": "unused", "freeze_ceremony_log_key": "unused",
        "freeze_ceremony_log_key_passphrase_env": LOG_PASS_ENV})
    assert rc != 0 and "CEREMONY STOPPED at the pre-checks" in again and "exists; refusing" in again


def _verify(c: Done, tmp_path: Path, **more: object) -> tuple[int, str, ET.Element]:
    junit = tmp_path / "junit.xml"
    evars = {"freeze_verify_profiles": str(c.dir / "profiles"), "freeze_verify_manifests": str(c.dir / "manifests"),
             "freeze_verify_root": str(c.dir / "ceremony" / "root.json"),
             "freeze_verify_envelope": str(c.dir / "ceremony" / "manifest.dsse.json"),
             "freeze_verify_fleet": str(c.dir / "manifests" / "fleet-manifest.json"),
             "freeze_verify_result_dir": str(tmp_path / "on-host"), "freeze_verify_junit": str(junit), **more}
    rc, out = run_play(c.inv, "verify.yml", evars)
    assert junit.is_file(), out[-4000:]
    return rc, out, ET.parse(junit).getroot()


def test_verify_playbook_clean_tampered_manifest_and_drift(ceremony: Done, tmp_path: Path) -> None:
    assert ceremony.rc == 0, ceremony.output[-3000:]
    rc, out, xml = _verify(ceremony, tmp_path)
    assert rc == 0, out[-4000:]
    for host in HOSTS:
        assert f"{host}                      0       0       0  clean" in out, out[-4000:]
    assert xml.get("tests") == "2" and xml.get("failures") == "0"
    assert [tc.get("name") for tc in xml.iter("testcase")] == list(HOSTS)
    assert not list(xml.iter("failure"))

    # one byte of count-a's manifest flipped: refused as not the signed one, count-b still verified
    manifest = ceremony.dir / "manifests" / "count-a.manifest.json"
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b"stations", b"stationz", 1) if b"stations" in original
                         else original.replace(b'"file"', b'"fil\\u0065"', 1))
    assert manifest.read_bytes() != original
    try:
        rc, out, xml = _verify(ceremony, tmp_path)
    finally:
        manifest.write_bytes(original)
    assert rc != 0
    assert "count-a - - - NOT VERIFIED: manifest is not the signed one" in flat(out), out[-4000:]
    assert "count-b                      0       0       0  clean" in out
    failures = {tc.get("name"): tc.find("failure") for tc in xml.iter("testcase")}
    assert failures["count-b"] is None
    fa = failures["count-a"]
    assert fa is not None and fa.get("type") == "not-verified" and "not the signed one" in (fa.text or "")

    # drift: a changed file on the (untouched-manifest) hosts is a JUnit failure naming it
    conf = ceremony.app / "etc" / "counting.conf"
    before = conf.read_text()
    conf.write_text("stations = 51\n")
    try:
        rc, out, xml = _verify(ceremony, tmp_path)
    finally:
        conf.write_text(before)
    assert rc != 0 and "drift or unverified hosts" in out
    for tc in xml.iter("testcase"):
        failure = tc.find("failure")
        assert failure is not None and failure.get("type") == "drift", ET.tostring(xml)
        assert f"changed file {conf}" in (failure.text or "") and "1 changed" in (failure.get("message") or "")
    assert xml.get("failures") == "2"


def test_verify_refuses_an_envelope_without_the_threshold(ceremony: Done, tmp_path: Path) -> None:
    """A per-host envelope beside the manifest (HOST.manifest.dsse.json), attested but signed by one
    person only: the threshold is not met, so the host is refused before it is touched."""
    assert ceremony.rc == 0, ceremony.output[-3000:]
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    shutil.copy(ceremony.dir / "manifests" / "count-a.manifest.json", manifests)
    root = ceremony.dir / "ceremony" / "root.json"
    env = manifests / "count-a.manifest.dsse.json"
    freeze("attest", "--type", "manifest", manifests / "count-a.manifest.json", "--root", root, "-o", env)
    keys = ceremony.dir.parent / "keys"
    freeze("sign", env, "--key", keys / "alice.pem", "--passphrase-env", PASS_ENV, "--root", root)
    junit = tmp_path / "junit.xml"
    rc, out = run_play(ceremony.inv, "verify.yml", {
        "freeze_verify_profiles": str(ceremony.dir / "profiles"), "freeze_verify_manifests": str(manifests),
        "freeze_verify_root": str(root), "freeze_verify_junit": str(junit),
        "freeze_verify_result_dir": str(tmp_path / "on-host")}, "--limit", "count-a")
    assert rc != 0
    assert "NOT VERIFIED: manifest is not the signed one: count-a.manifest.dsse.json: manifest:" in flat(out), \
        out[-4000:]
    # bob and carol sign too: now the per-host envelope beside the manifest (the default path) is enough
    for who in ("bob", "carol"):
        freeze("sign", env, "--key", keys / f"{who}.pem", "--passphrase-env", PASS_ENV, "--root", root)
    rc, out = run_play(ceremony.inv, "verify.yml", {
        "freeze_verify_profiles": str(ceremony.dir / "profiles"), "freeze_verify_manifests": str(manifests),
        "freeze_verify_root": str(root), "freeze_verify_result_dir": str(tmp_path / "on-host")},
        "--limit", "count-a")
    # compared now, not refused (the drift test may have run first: a restored file keeps a new ctime)
    assert "NOT VERIFIED" not in out and re.search(r"count-a +\d+ +\d+ +\d+  ", out), out[-4000:]


def test_ceremony_stops_at_the_precheck_when_a_host_is_down(sshd, tmp_path: Path) -> None:  # noqa: F811
    if not PLAYBOOK.exists():
        pytest.skip("ansible not installed (the ops extra)")
    inv = loopback_inventory(tmp_path / "hosts.yml", sshd["dir"], {"count-a": sshd["port"], "count-down": free_port()})
    profile, _ = _profile(tmp_path)
    cdir = tmp_path / "ceremony"
    rc, out = run_play(inv, "freeze-ceremony.yml", {
        "freeze_ceremony_dir": str(cdir), "freeze_ceremony_profile": str(profile),
        "freeze_ceremony_root_spec": "unused", "freeze_ceremony_log_key": "unused",
        "freeze_ceremony_log_key_passphrase_env": LOG_PASS_ENV, "freeze_ceremony_zero": True})
    assert rc != 0
    assert "count-a                  snapshot taken           sha256:" in out, out[-4000:]
    assert "count-down               unreachable" in out
    assert "CEREMONY STOPPED at the pre-checks: nothing was zeroed and nothing was attested" in out
    states = json.loads((cdir / "hosts.json").read_text())
    assert states["count-down"]["state"] == "unreachable" and states["count-a"]["state"] == "snapshot taken"
    assert not (cdir / "ceremony-plan.yml").exists() and not (cdir / "zero").exists()


def test_ceremony_stops_when_a_hosts_profile_cannot_be_composed(sshd, tmp_path: Path) -> None:  # noqa: F811
    """Two role fragments that disagree on a path: that host's profile is not composed, the host is
    not snapshotted, and the ceremony stops at the pre-checks naming both roles; the other host is fine."""
    if not PLAYBOOK.exists():
        pytest.skip("ansible not installed (the ops extra)")
    inv = loopback_inventory(tmp_path / "hosts.yml", sshd["dir"], {"count-a": sshd["port"], "count-b": sshd["port"]})
    roles = tmp_path / "roles"
    for role, volatility in (("cache_a", "excluded"), ("cache_b", "static")):
        (roles / role / "meta").mkdir(parents=True)
        (roles / role / "meta" / "freeze_profile.yml").write_text(
            f"version: 1\npaths: [{{path: /var/cache/shared, volatility: {volatility}}}]\n")
    doc = yaml.safe_load(inv.read_text())
    doc["all"]["hosts"]["count-b"]["freeze_ceremony_profile_roles"] = ["cache_a", "cache_b"]
    inv.write_text(yaml.safe_dump(doc))
    profile, _ = _profile(tmp_path)
    cdir = tmp_path / "ceremony"
    rc, out = run_play(inv, "freeze-ceremony.yml", {
        "freeze_ceremony_dir": str(cdir), "freeze_ceremony_profile": str(profile),
        "freeze_ceremony_roles_dir": str(roles),
        "freeze_ceremony_root_spec": "unused", "freeze_ceremony_log_key": "unused",
        "freeze_ceremony_log_key_passphrase_env": LOG_PASS_ENV, "freeze_ceremony_zero": True})
    assert rc != 0 and "CEREMONY STOPPED at the pre-checks" in out, out[-4000:]
    states = json.loads((cdir / "hosts.json").read_text())
    assert states["count-a"]["state"] == "snapshot taken"
    assert states["count-b"]["state"] == "profile not composed"
    assert "fragments of cache_a and cache_b disagree on /var/cache/shared" in states["count-b"]["detail"]
    assert not (cdir / "manifests" / "count-b.manifest.json").exists() and not (cdir / "zero").exists()


@pytest.mark.postgres
def test_ceremony_playbook_with_the_database_snapshot_and_zero(sshd, pg_server, pg_db, tmp_path: Path) -> None:  # noqa: F811
    """freeze_ceremony_zero: true on the reference counting database (drill results): the database is
    snapshotted from the controller (DSN from the environment variable its profile names), zeroed once
    after the host pre-checks, and the zero report is attested and signed with the fleet manifest."""
    if not PLAYBOOK.exists():
        pytest.skip("ansible not installed (the ops extra)")
    os.environ[PASS_ENV] = PASSPHRASE
    (tmp_path / "db").mkdir()
    ze = make_zero_env(pg_server, pg_db, tmp_path / "db")
    before = db_state(ze.dsn)
    inv = loopback_inventory(tmp_path / "hosts.yml", sshd["dir"], {"count-a": sshd["port"]})
    profile, _ = _profile(tmp_path)
    tsa = LocalTsa(tmp_path / "tsa")
    try:
        spec = _room(tmp_path, tsa, election="GE-2026")
        cdir = tmp_path / "ceremony"
        evars = {"freeze_ceremony_dir": str(cdir), "freeze_ceremony_profile": str(profile),
                 "freeze_ceremony_database_profile": str(ze.profile), "freeze_ceremony_zero": True,
                 "freeze_ceremony_root_spec": str(spec),
                 "freeze_ceremony_log_key": str(tmp_path / "keys/journal-log.pem"),
                 "freeze_ceremony_log_key_passphrase_env": LOG_PASS_ENV, "freeze_ceremony_wait": 240,
                 "freeze_ceremony_pdf": False}
        rc, out, errors = run_ceremony(inv, evars, tmp_path / "keys", {LOG_PASS_ENV: PASSPHRASE, DSN_ENV: ze.dsn})
    finally:
        tsa.stop()
    (tmp_path / "play.log").write_text(out)
    assert rc == 0 and not errors, (errors, out[-6000:])
    assert is_fully_zeroed(db_state(ze.dsn), before)
    assert "password=" not in out and PASSPHRASE not in out  # the DSN and passphrases stay in the environment
    fleet = json.loads((cdir / "manifests" / "fleet-manifest.json").read_bytes())
    assert fleet["database"]["file"] == "database.manifest.json"
    [report] = list((cdir / "zero").rglob("zero-report.json"))
    assert f"zero report: {report}" in flat(out)
    assert "waiting for carol: manifest, zero-report, checkpoint" in out
    digest = out.split("ROOT DIGEST  sha256:")[1][:64]
    code, vout, _ = freeze("verify-evidence", cdir / "ceremony" / "evidence.tar", "--root-pin", digest)
    assert code == 0 and "VERIFIED" in vout and "zero-report" in vout


def test_check_signed_manifest_names_what_is_wrong(ceremony: Done, tmp_path: Path) -> None:
    """freeze.fleet.check_signed_manifest (the library call verify.yml makes) on the ceremony's files."""
    from freeze.errors import VerificationError
    from freeze.fleet import check_signed_manifest

    assert ceremony.rc == 0, ceremony.output[-3000:]
    manifests, work = ceremony.dir / "manifests", ceremony.dir / "ceremony"
    env, root, fleet = work / "manifest.dsse.json", work / "root.json", manifests / "fleet-manifest.json"
    lines = check_signed_manifest(manifests / "count-b.manifest.json", env, root, host="count-b", fleet=fleet)
    assert "is host count-b's in the signed fleet manifest" in lines[-1]
    with pytest.raises(VerificationError, match="a fleet manifest[?] give it"):
        check_signed_manifest(manifests / "count-b.manifest.json", env, root, host="count-b")
    with pytest.raises(VerificationError, match="names no manifest for host count-z"):
        check_signed_manifest(manifests / "count-b.manifest.json", env, root, host="count-z", fleet=fleet)
    # a fleet manifest edited to name another digest is not the signed one either
    edited = tmp_path / "fleet-manifest.json"
    doc = json.loads(fleet.read_bytes())
    doc["manifests"]["count-b"]["sha256"] = "00" * 32
    edited.write_text(json.dumps(doc))
    with pytest.raises(VerificationError, match="nor the fleet manifest"):
        check_signed_manifest(manifests / "count-b.manifest.json", env, root, host="count-b", fleet=edited)
    # the root's expiry counts: judged at a time after it, the envelope no longer vouches for anything
    import datetime as dt

    with pytest.raises(VerificationError, match="manifest is not the signed one: manifest.dsse.json"):
        check_signed_manifest(manifests / "count-b.manifest.json", env, root, host="count-b", fleet=fleet,
                              now=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))


def test_ceremony_stops_at_the_precheck_on_drift_since_the_rehearsal(sshd, tmp_path: Path) -> None:  # noqa: F811
    """freeze_ceremony_rehearsal_dir: each host's snapshot is compared with its rehearsal manifest; unchanged
    passes the pre-checks, a changed file stops the ceremony naming the host and the file, nothing zeroed."""
    if not PLAYBOOK.exists():
        pytest.skip("ansible not installed (the ops extra)")
    inv = loopback_inventory(tmp_path / "hosts.yml", sshd["dir"], {"count-a": sshd["port"]})
    profile, app = _profile(tmp_path)
    rehearsal = tmp_path / "rehearsal"
    rehearsal.mkdir()
    # the rehearsal is taken with the host's composed profile, as the ceremony composes it
    host_profile = tmp_path / "count-a.profile.yml"
    inv_path = tmp_path / "hosts.yml"
    loopback_inventory(inv_path, sshd["dir"], {"count-a": sshd["port"]})
    freeze("profile", "compose", "--base", profile, "--roles-dir", REPO / "roles", "--playbook",
           REPO / "playbooks/site.yml", "--inventory", inv_path, "--host", "count-a", "-o", host_profile)
    freeze("snapshot", "-p", host_profile, "-o", rehearsal / "count-a.manifest.json")
    evars: dict[str, object] = {
        "freeze_ceremony_profile": str(profile), "freeze_ceremony_rehearsal_dir": str(rehearsal),
        "freeze_ceremony_root_spec": "unused", "freeze_ceremony_log_key": "unused",
        "freeze_ceremony_log_key_passphrase_env": LOG_PASS_ENV, "freeze_ceremony_zero": True}
    rc, out = run_play(inv, "freeze-ceremony.yml", {**evars, "freeze_ceremony_dir": str(tmp_path / "c1")}, "--check")
    assert rc == 0 and "check mode: pre-checks done" in out, out[-4000:]
    assert "count-a                  snapshot taken" in out
    conf = app / "etc" / "counting.conf"
    conf.write_text("stations = 51\n")
    cdir = tmp_path / "c2"
    rc, out = run_play(inv, "freeze-ceremony.yml", {**evars, "freeze_ceremony_dir": str(cdir)})
    assert rc != 0
    assert "count-a                  drift since rehearsal" in out and f"file {conf}" in flat(out), out[-4000:]
    assert "CEREMONY STOPPED at the pre-checks: nothing was zeroed and nothing was attested" in out
    assert json.loads((cdir / "hosts.json").read_text())["count-a"]["state"] == "drift since rehearsal"
    assert not (cdir / "ceremony-plan.yml").exists() and not (cdir / "zero").exists()


def _prometheus_targets(port: int) -> list[dict[str, object]]:
    import urllib.request

    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets?state=active", timeout=5) as resp:
        return list(json.load(resp)["data"]["activeTargets"])


def _wait_targets(port: int, proc: subprocess.Popen[bytes], want: dict[str, str]) -> None:
    """Until Prometheus reports each job's health as wanted (it scrapes every second)."""
    deadline, seen = time.monotonic() + 90, {}
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            seen = {str(t["scrapePool"]): str(t["health"]) for t in _prometheus_targets(port)}
        except OSError:
            seen = {}
        if seen == want:
            return
        time.sleep(0.5)
    pytest.fail(f"Prometheus did not report {want} (last seen {seen}, exit {proc.poll()})")


def test_ceremony_precheck_asks_the_monitoring(sshd, tmp_path: Path) -> None:  # noqa: F811
    """freeze_ceremony_prometheus_url, against a real Prometheus (Debian's package): every target up
    passes; a scrape target down stops the ceremony before anything irreversible, naming it."""
    if not PLAYBOOK.exists():
        pytest.skip("ansible not installed (the ops extra)")
    binary = shutil.which("prometheus")
    if binary is None:
        if os.environ.get("CI"):
            pytest.fail("prometheus missing in CI: scripts/bootstrap.sh installs it")
        pytest.skip("prometheus not installed (scripts/bootstrap.sh installs it)")
    port, dead = free_port(), free_port()
    config = tmp_path / "prometheus.yml"
    job = "  - job_name: {name}\n    static_configs: [{{targets: ['{target}']}}]\n"
    head = "global: {scrape_interval: 1s, evaluation_interval: 1s}\nscrape_configs:\n"
    config.write_text(head + job.format(name="self", target=f"127.0.0.1:{port}"))
    proc = subprocess.Popen([binary, f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                             f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_targets(port, proc, {"self": "up"})
        inv = loopback_inventory(tmp_path / "hosts.yml", sshd["dir"], {"count-a": sshd["port"]})
        profile, _ = _profile(tmp_path)
        evars: dict[str, object] = {
            "freeze_ceremony_profile": str(profile), "freeze_ceremony_prometheus_url": f"http://127.0.0.1:{port}/",
            "freeze_ceremony_root_spec": "unused", "freeze_ceremony_log_key": "unused",
            "freeze_ceremony_log_key_passphrase_env": LOG_PASS_ENV, "freeze_ceremony_zero": True}
        rc, out = run_play(inv, "freeze-ceremony.yml", {**evars, "freeze_ceremony_dir": str(tmp_path / "c1")},
                           "--check")
        assert rc == 0 and "monitoring: every target up, no alert firing" in out, out[-4000:]
        # a counting server's exporter stops answering: reload Prometheus with it as a target
        config.write_text(head + job.format(name="self", target=f"127.0.0.1:{port}")
                          + job.format(name="count-db", target=f"127.0.0.1:{dead}"))
        proc.send_signal(signal.SIGHUP)
        _wait_targets(port, proc, {"self": "up", "count-db": "down"})
        cdir = tmp_path / "c2"
        rc, out = run_play(inv, "freeze-ceremony.yml", {**evars, "freeze_ceremony_dir": str(cdir)})
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert rc != 0
    assert "CEREMONY STOPPED at the pre-checks (monitoring)" in flat(out), out[-4000:]
    assert f"target 127.0.0.1:{dead} (count-db) is down" in flat(out)
    assert not (cdir / "ceremony-plan.yml").exists() and not (cdir / "zero").exists()
