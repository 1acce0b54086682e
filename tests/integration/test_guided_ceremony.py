"""The guided ceremony (`freeze ceremony status|run|sign PLAN`) on the shipped example plan.

The example plan (freeze/evidence/ceremony-plan.example.yml) is copied as it is,
its keys are made, a local TSA (real `openssl ts -reply`) is added to its root,
and the room's flow runs through the real CLI: the workstation's `run`, one
`sign` per key holder, `run` again. The bundle it writes must then pass the
ordinary `freeze verify-evidence`. Also: each check that must happen before
anyone signs, the all-or-nothing signing, and the plan's field-by-field errors.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from freeze.report.model import ReportSection, ZeroReport
from tests.integration.test_ceremony import FREEZE, PASS_ENV, PASSPHRASE, _ssh_keygen, freeze, needs_tools
from tests.tsa import LocalTsa

pytestmark = needs_tools
EXAMPLE = Path(__file__).resolve().parents[2] / "freeze" / "evidence" / "ceremony-plan.example.yml"
EXIT_WAITING = 75
BACKUP = "34" * 32
KEY_HOLDERS = ("alice", "bob", "carol", "dave", "erin")


def _documents(base: Path) -> None:
    (base / "manifest.json").write_bytes(
        json.dumps({"schema": 1, "hosts": {"db1": {"files": {"/etc/x": "cd" * 32}}}}, sort_keys=True).encode())
    (base / "zero-report.json").write_bytes(ZeroReport(
        title="Zero report", election_id="2026-general", election_name="General election 2026",
        generated_at_utc="2026-11-28T07:00:03Z", generated_at_local="2026-11-28 08:00:03 CET",
        system={"backup_sha256": BACKUP, "hosts": ["count-db"], "tool": "freeze (test)"},
        sections=(ReportSection("Votes per candidate", ("contest", "candidate"), ("votes",),
                                ((("mayor", "A. Example"), (0,)),)),),
        signatures=("Directorate", "Auditor"), run_id="zr-guided").canonical_bytes())


def _keys(base: Path) -> dict[str, Path]:
    (base / "keys").mkdir()
    keys = {}
    for who in ("alice", "bob", "carol", "dave", "journal-log"):
        keys[who] = base / "keys" / f"{who}.pem"
        freeze("keygen", keys[who], "--passphrase-env", PASS_ENV)
    keys["erin"] = base / "keys" / "erin_ed25519"
    _ssh_keygen(keys["erin"], PASSPHRASE)  # an OpenSSH key with a passphrase
    return keys


@pytest.fixture
def room(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The example plan, its keys and documents, and a local TSA in its root."""
    monkeypatch.setenv(PASS_ENV, PASSPHRASE)
    keys = _keys(tmp_path)
    _documents(tmp_path)
    tsa = LocalTsa(tmp_path / "tsa")
    text = EXAMPLE.read_text()
    assert "  # timestamp_authorities:" in text
    text = text.replace("  # timestamp_authorities:", "  timestamp_authorities:\n"
                        f"    - {{name: local-tsa, url: \"{tsa.url}\", certificates: [tsa/tsa-ca.pem]}}\n  #")
    plan = tmp_path / "ceremony-plan.yml"
    plan.write_text(text)
    try:
        yield plan, keys
    finally:
        tsa.stop()


def test_the_room_runs_the_example_plan_and_the_bundle_verifies(room, tmp_path: Path) -> None:
    plan, keys = room
    # the workstation: one command that prepares, waits for the room, and finishes
    station = subprocess.Popen([*FREEZE, "ceremony", "run", str(plan), "--wait", "300", "--no-pdf",
                                "--passphrase-env", PASS_ENV], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env={**os.environ, "PYTHONPATH": str(EXAMPLE.parents[2])})
    commands, passphrases = 1, 1  # the log key's, for the checkpoint
    try:
        note = plan.parent / "ceremony" / "checkpoint.note"
        deadline = time.monotonic() + 120
        while not note.exists() and station.poll() is None and time.monotonic() < deadline:
            time.sleep(0.2)
        assert note.exists(), station.communicate(timeout=5) if station.poll() is not None else "no checkpoint"
        code, out, _ = freeze("ceremony", "status", plan, expect=EXIT_WAITING)
        assert "root: v1 2026-general/freeze-1" in out and "directorate 0/2" in out
        for who in KEY_HOLDERS:
            assert f"waiting for {who}:" in out, out
        for who in KEY_HOLDERS:
            code, out, _ = freeze("ceremony", "sign", plan, "--key", keys[who], "--passphrase-env", PASS_ENV)
            commands, passphrases = commands + 1, passphrases + 1
            assert "signed as" in out, out
        out, err = station.communicate(timeout=180)
    finally:
        if station.poll() is None:
            station.kill()
    assert station.returncode == 0, out + err
    assert "ROOT DIGEST sha256:" in out and "attested manifest" in out and "attested zero-report" in out
    assert "waiting for bob:" in out  # the room's screen named who was missing
    assert "FINISHED" in out and "VERIFIED" in out, out + err
    # alice has signed the root, the manifest and the zero report: nothing left for her
    _, again, _ = freeze("ceremony", "sign", plan, "--key", keys["alice"], "--passphrase-env", PASS_ENV)
    assert "nothing pending for Alice A." in again
    digest = out.split("ROOT DIGEST  sha256:")[1].split()[0]
    line = out.split("CHECKPOINT   ")[1].splitlines()[0]
    tar = plan.parent / "ceremony" / "evidence.tar"
    assert tar.is_file() and (plan.parent / "ceremony" / "report" / "verification-report.html").is_file()

    # the ordinary verifier, on a copy, with what the minutes hold
    shutil.copy(tar, tmp_path / "handed-over.tar")
    code, out, _ = freeze("verify-evidence", tmp_path / "handed-over.tar", "--root-pin", digest,
                          "--checkpoint", line)
    assert code == 0 and "VERIFIED" in out
    # and the stock-tool sheet: every Ed25519 line with openssl, erin's with ssh-keygen
    bundle = plan.parent / "ceremony" / "evidence"
    sheet = [ln.strip() for ln in (bundle / "VERIFY.txt").read_text().splitlines()
             if ln.strip().startswith(("openssl pkeyutl -verify", "ssh-keygen -Y verify"))]
    assert len(sheet) == 10, sheet  # 4 PEM signers + erin, on manifest and zero report
    for cmd in sheet:
        res = subprocess.run(["sh", "-c", cmd], cwd=bundle, capture_output=True, text=True, check=False)
        assert res.returncode == 0, (cmd, res.stdout, res.stderr)
    # The README's step-by-step flow for the same room: root init, 2 root sign, journal init +
    # append, 2 attest, 5 sign, 2 timestamp, checkpoint, 2 cosign, store, bundle, verify-evidence =
    # 20 commands, and 10 passphrase entries (2 root, 5 sign, 1 log key, 2 cosign). Guided: 6 and 6.
    assert (commands, passphrases) == (6, 6)
    # run again: nothing new, still verified
    code, out, _ = freeze("ceremony", "run", plan, "--no-pdf")
    assert code == 0 and "done:" not in out and "FINISHED" in out


def test_run_without_wait_says_who_is_missing(room) -> None:
    plan, _ = room
    code, out, _ = freeze("ceremony", "run", plan, "--passphrase-env", PASS_ENV, expect=EXIT_WAITING)
    assert "checkpoint of the journal signed" in out and "then run this again" in out
    for who in KEY_HOLDERS:
        assert f"waiting for {who}:" in out, out
    assert "waiting for alice: root, manifest, zero-report" in out
    assert "waiting for dave: manifest, zero-report, checkpoint" in out


def test_sign_checks_everything_first_and_writes_nothing_on_a_refusal(room) -> None:
    plan, keys = room
    freeze("ceremony", "run", plan, "--passphrase-env", PASS_ENV, expect=EXIT_WAITING)
    work = plan.parent / "ceremony"
    before = {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()}
    # the zero report changed after it was attested: bob must not sign ANYTHING (not even the root)
    zero = plan.parent / "zero-report.json"
    zero.write_bytes(zero.read_bytes().replace(b"A. Example", b"A. Exempel"))
    code, _, err = freeze("ceremony", "sign", plan, "--key", keys["bob"], "--passphrase-env", PASS_ENV,
                          expect=None)
    assert code == 8 and "zero-report.json has sha256" in err
    assert {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()} == before


def test_a_key_outside_the_root_signs_nothing(room, tmp_path: Path) -> None:
    plan, _ = room
    freeze("ceremony", "run", plan, "--passphrase-env", PASS_ENV, expect=EXIT_WAITING)
    stranger = tmp_path / "keys" / "mallory.pem"
    freeze("keygen", stranger, "--passphrase-env", PASS_ENV)
    work = plan.parent / "ceremony"
    before = {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()}
    code, _, err = freeze("ceremony", "sign", plan, "--key", stranger, "--passphrase-env", PASS_ENV, expect=None)
    assert code == 65 and "not listed" in err
    assert {p.name: p.read_bytes() for p in work.iterdir() if p.is_file()} == before


def test_a_statement_of_another_ceremony_is_refused_before_signing(room) -> None:
    plan, keys = room
    freeze("ceremony", "run", plan, "--passphrase-env", PASS_ENV, expect=EXIT_WAITING)
    work = plan.parent / "ceremony"
    # a rehearsal's envelope dropped in place of the real one (same people, another root)
    rehearsal = plan.parent / "rehearsal.json"
    data = yaml.safe_load(plan.read_text())
    data["directory"] = "rehearsal"
    data["root"]["ceremony"] = "rehearsal-1"
    rehearsal.write_text(yaml.safe_dump(data))
    freeze("ceremony", "run", rehearsal, "--passphrase-env", PASS_ENV, expect=EXIT_WAITING)
    shutil.copy(plan.parent / "rehearsal" / "manifest.dsse.json", work / "manifest.dsse.json")
    code, _, err = freeze("ceremony", "sign", plan, "--key", keys["carol"], "--passphrase-env", PASS_ENV,
                          expect=None)
    assert code == 8 and "ceremony" in err, err


@pytest.mark.parametrize(("edit", "message"), [
    (lambda d: d["root"]["thresholds"].update(manifest=["directorate"]),
     "root.thresholds.manifest: expected a mapping of role -> count"),
    (lambda d: d["root"]["thresholds"]["manifest"].update(auditor=3),
     "root.thresholds.manifest.auditor: needs 3 but only 1 person(s) have role 'auditor'"),
    (lambda d: d["root"]["people"]["bob"].update(keys=["keys/nobody.pub.pem"]),
     "root.people.bob.keys[0]: no such file"),
    (lambda d: d["root"].update(expires="next tuesday"), "root.expires: not a time"),
    (lambda d: d.update(evidnce=[]), "evidnce: unknown field (did you mean evidence?)"),
    (lambda d: d["evidence"][1].pop("backup"), "evidence[1].backup: missing"),
    (lambda d: d["evidence"].append({"type": "drift-report", "document": "manifest.json"}),
     "evidence[2].type: the root has no threshold for drift-report"),
    (lambda d: d.update(plan=2), "plan: expected 1"),
])
def test_plan_errors_name_the_field(room, edit, message) -> None:
    plan, _ = room
    data = yaml.safe_load(plan.read_text())
    edit(data)
    plan.write_text(yaml.safe_dump(data))
    code, _, err = freeze("ceremony", "run", plan, "--passphrase-env", PASS_ENV, expect=None)
    assert code == 65, err
    assert message in err and err.count("\n") == 1, err
    assert not (plan.parent / "ceremony").exists()  # nothing written


def test_root_init_names_the_field_instead_of_a_python_error(tmp_path: Path) -> None:
    (tmp_path / "spec.yml").write_text(
        "election: e\nceremony: c\nexpires: 2099-01-01T00:00:00Z\npeople: {alice: {role: d, keys: []}}\n"
        "thresholds: {root: [d, 1, x]}\njournal: {origin: o}\n")
    code, _, err = freeze("root", "init", tmp_path / "spec.yml", "-o", tmp_path / "root.json", expect=None)
    assert code == 65
    assert "people.alice.keys: expected a list of public key files" in err
    assert "thresholds.root: expected a mapping of role -> count" in err
    assert "dictionary update sequence" not in err


def test_several_envelopes_are_signed_all_or_nothing(room) -> None:
    """`freeze sign A B`: a refusal of B leaves A unsigned (it used to be signed already)."""
    plan, keys = room
    freeze("ceremony", "run", plan, "--passphrase-env", PASS_ENV, expect=EXIT_WAITING)
    work = plan.parent / "ceremony"
    manifest_before = (work / "manifest.dsse.json").read_bytes()
    # zero-report envelope carrying a broken signature: the signer must refuse it
    env = json.loads((work / "zero-report.dsse.json").read_text())
    env["signatures"] = [{"keyid": "x", "sig": "AAAA"}]
    (work / "zero-report.dsse.json").write_text(json.dumps(env))
    code, _, err = freeze("sign", work / "manifest.dsse.json", work / "zero-report.dsse.json",
                          "--key", keys["bob"], "--passphrase-env", PASS_ENV, "--root", work / "root.json",
                          expect=None)
    assert code == 8 and "invalid signatures" in err, err
    assert (work / "manifest.dsse.json").read_bytes() == manifest_before
