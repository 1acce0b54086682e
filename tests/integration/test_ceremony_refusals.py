"""Every way the evidence can be wrong is refused with exit 8 and a line that says why.

Tampering tests edit a COPY of the bundle and then recompute SHA256SUMS, as an
attacker would: the refusal must come from the signatures, statements,
timestamps or journal, not just from the file digest list.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import shutil
from pathlib import Path

from freeze.evidence.verify import verify_bundle
from tests.integration.test_ceremony import PASS_ENV, Ceremony, freeze, needs_tools

pytestmark = needs_tools


def copy(c: Ceremony, tmp: Path) -> Path:
    dst = tmp / "bundle"
    shutil.copytree(c.bundle, dst)
    return dst


def resum(bundle: Path) -> None:
    lines = []
    for p in sorted(bundle.rglob("*")):
        rel = p.relative_to(bundle).as_posix()
        if p.is_file() and rel != "SHA256SUMS":
            lines.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  {rel}\n")
    (bundle / "SHA256SUMS").write_text("".join(lines))


def verify_fails(c: Ceremony, bundle: Path, *expected: str, extra: tuple[str, ...] = ()) -> str:
    code, out, err = freeze("verify-evidence", bundle, "--root-pin", c.root_digest, *extra, expect=8)
    assert "VERDICT: NOT VERIFIED" in out
    failed = "\n".join(line for line in out.splitlines() if line.startswith("FAIL"))
    for text in expected:
        assert text in failed, failed
    return failed


def edit_json(path: Path, fn) -> None:  # noqa: ANN001
    d = json.loads(path.read_bytes())
    fn(d)
    path.write_text(json.dumps(d))


def test_untouched_copy_verifies(live: Ceremony, tmp_path: Path) -> None:
    freeze("verify-evidence", copy(live, tmp_path), "--root-pin", live.root_digest, expect=0)


def test_without_resum_the_digest_list_catches_any_edit(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    (b / "documents" / "manifest.json").write_bytes(b"{}")
    verify_fails(live, b, "file digests (SHA256SUMS): 1 file(s) changed: documents/manifest.json")


def test_tampered_payload(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)

    def tamper(env: dict) -> None:
        stmt = json.loads(base64.b64decode(env["payload"]))
        stmt["subject"][0]["digest"]["sha256"] = "00" * 32
        env["payload"] = base64.b64encode(json.dumps(stmt).encode()).decode()

    edit_json(b / "statements" / "manifest.dsse.json", tamper)
    resum(b)
    verify_fails(live, b, "manifest: signatures: manifest: auditor 0/1",
                 "#0 (keyid", "not a valid signature by any key in the ceremony root")


def test_tampered_document(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    (b / "documents" / "manifest.json").write_bytes(b'{"schema": 1, "hosts": {}}')
    resum(b)
    verify_fails(live, b, "manifest: statement:", "(document tampered or swapped)")


def test_signatures_moved_to_another_payload_type(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    edit_json(b / "statements" / "manifest.dsse.json", lambda e: e.update(payloadType="application/json"))
    resum(b)
    verify_fails(live, b, "manifest: signatures: manifest: auditor 0/1 (missing: any of carol), "
                 "directorate 0/2 (missing: any of alice, bob), observer 0/2 (missing: any of dave, erin, frank)",
                 "manifest: statement: not read: its signatures did not verify")


def test_zero_report_signatures_never_count_for_a_manifest(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    zero_sigs = json.loads((b / "statements" / "zero-report.dsse.json").read_bytes())["signatures"]
    edit_json(b / "statements" / "manifest.dsse.json", lambda e: e.update(signatures=zero_sigs))
    resum(b)
    verify_fails(live, b, "manifest: signatures: manifest: auditor 0/1")
    # and a whole zero-report envelope presented as the manifest is refused by predicate type
    b2 = tmp_path / "b2"
    shutil.copytree(live.bundle, b2)
    edit_json(b2 / "bundle.json", lambda d: d["statements"][0].update(envelope="statements/zero-report.dsse.json"))
    resum(b2)
    verify_fails(live, b2, "manifest: statement: statement is a 'zero-report' statement, not a 'manifest' one")


def test_signer_not_in_the_root(live: Ceremony, tmp_path: Path) -> None:
    mallory = tmp_path / "mallory.pem"
    freeze("keygen", mallory, "--passphrase-env", PASS_ENV)
    env = tmp_path / "manifest.dsse.json"
    shutil.copy(live.bundle / "statements" / "manifest.dsse.json", env)
    # `freeze sign --root` refuses outright...
    code, _, err = freeze("sign", env, "--key", mallory, "--passphrase-env", PASS_ENV, "--root", live.root, expect=65)
    assert "not listed in the ceremony root" in err
    # ...and a signature slipped in anyway (signing requires the root, so by hand) fails verification
    from freeze.evidence.dsse import Envelope, Signature
    from freeze.evidence.keys import PassphraseSource, load_signer

    signer = load_signer(mallory, PassphraseSource(env=PASS_ENV))
    e = Envelope.from_bytes(env.read_bytes())
    e.add(Signature(signer.sign(e.pae()), signer.ref.short))
    env.write_bytes(e.to_bytes())
    b = copy(live, tmp_path)
    shutil.copy(env, b / "statements" / "manifest.dsse.json")
    resum(b)
    verify_fails(live, b, "#6 (keyid", "not a valid signature by any key in the ceremony root")


def test_not_enough_observers_explains_who_is_missing(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    # keep alice, bob, carol and erin (signed last, stock ssh-keygen): observers 1/2
    edit_json(b / "statements" / "manifest.dsse.json",
              lambda e: e.update(signatures=[e["signatures"][i] for i in (0, 1, 2, 5)]))
    resum(b)
    verify_fails(live, b, "manifest: auditor 1/1, directorate 2/2, observer 1/2 (missing: any of dave, frank)")


def test_timestamp_over_other_bytes(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)

    def swap(d: dict) -> None:
        ts = d["timestamps"]
        ts[0]["response"], ts[1]["response"] = ts[1]["response"], ts[0]["response"]

    edit_json(b / "statements" / "manifest.timestamps.json", swap)
    resum(b)
    verify_fails(live, b, "manifest: timestamps: timestamp from local-tsa is over other bytes than this signature")


def test_expired_root(live: Ceremony, tmp_path: Path) -> None:
    # timestamped evidence stays valid after the root expires: the TSA time counts
    ok = verify_bundle(live.bundle, root_pin=live.root_digest, now=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    assert ok.ok, ok.to_dict()
    # without trusted time, the verifier's clock is all there is: refused after expiry
    b = copy(live, tmp_path)
    for t in ("manifest", "zero-report"):
        (b / "statements" / f"{t}.timestamps.json").unlink()
    edit_json(b / "bundle.json", lambda d: [s.pop("timestamps") for s in d["statements"]])
    resum(b)
    report = verify_bundle(b, root_pin=live.root_digest, now=dt.datetime(2100, 1, 1, tzinfo=dt.UTC))
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert failed["root expiry"].startswith("root v1 expired at 2099-01-01T00:00:00Z; evidence time 2100-01-01")
    assert "this computer's clock" in failed["root expiry"]


def _rotated_root(live: Ceremony, tmp_path: Path, signers: list[str]) -> Path:
    for who in ("gina", "hank"):
        freeze("keygen", tmp_path / f"{who}.pem", "--passphrase-env", PASS_ENV)
    spec = json.loads((live.dir / "root-spec.json").read_text())
    spec["people"].pop("alice")
    spec["people"].pop("bob")
    for who in ("gina", "hank"):
        spec["people"][who] = {"role": "directorate", "keys": [str(tmp_path / f"{who}.pub.pem")]}
    for p in spec["people"].values():
        p["keys"] = [str((live.dir / k).resolve()) if not k.startswith("/") else k for k in p["keys"]]
    spec["journal"]["log_key"] = str(live.dir / spec["journal"]["log_key"])
    spec["timestamp_authorities"][0]["certificates"] = [str(live.dir / "tsa" / "tsa-ca.pem")]
    (tmp_path / "spec2.json").write_text(json.dumps(spec))
    v2 = tmp_path / "root-v2.json"
    freeze("root", "init", tmp_path / "spec2.json", "-o", v2, "--previous", live.root)
    for who in signers:
        key = live.keys.get(who, tmp_path / f"{who}.pem")
        # old signers are not in v2: they sign the rotation naming the root they sign for
        previous = ("--previous", live.root) if who in ("alice", "bob") else ()
        _, out, _ = freeze("root", "sign", v2, "--key", key, "--passphrase-env", PASS_ENV, *previous)
        assert f"as {who}" in out
    return v2


def test_previous_roots_signers_sign_a_rotation_with_root_sign(live: Ceremony, tmp_path: Path) -> None:
    """`root sign` refused alice and bob on v2 ('not listed in root v2; a rotation also
    needs the previous root's signers'), although the rotation needs exactly their
    signatures: the operator had no command that worked."""
    v2 = _rotated_root(live, tmp_path, ["gina"])
    code, _, err = freeze("root", "sign", v2, "--key", live.keys["alice"], "--passphrase-env", PASS_ENV,
                          expect=65)
    assert "not listed in root v2; a signer of the previous root signs this rotation with --previous" in err
    _, out, _ = freeze("root", "sign", v2, "--key", live.keys["alice"], "--passphrase-env", PASS_ENV,
                       "--previous", live.root)
    assert "signed root v2 as alice (signer of root v1)" in out
    # --previous must be the root this one rotates from
    code, _, err = freeze("root", "sign", v2, "--key", live.keys["bob"], "--passphrase-env", PASS_ENV,
                          "--previous", v2, expect=65)
    assert "does not follow version 2" in err and len(err.strip().splitlines()) == 1
    # a key of neither root
    code, _, err = freeze("root", "sign", v2, "--key", tmp_path / "hank.pem", "--passphrase-env", PASS_ENV,
                          "--previous", live.root, expect=None)
    assert code == 0  # hank is in v2
    freeze("keygen", tmp_path / "mallory.pem", "--passphrase-env", PASS_ENV)
    code, _, err = freeze("root", "sign", v2, "--key", tmp_path / "mallory.pem", "--passphrase-env", PASS_ENV,
                          "--previous", live.root, expect=65)
    assert "listed neither in root v2 nor in the previous root v1" in err


def test_rotated_root_signed_only_by_new_keys(live: Ceremony, tmp_path: Path) -> None:
    v2 = _rotated_root(live, tmp_path, ["gina", "hank"])
    code, out, err = freeze("root", "verify", live.root, v2, "--root-pin", live.root_digest, expect=8)
    assert "root v2 by v1 signers: directorate 0/2 (missing: any of alice, bob)" in err
    # the same rotation, also signed by a threshold of the old keys, is accepted
    (tmp_path / "both").mkdir()
    v2b = _rotated_root(live, tmp_path / "both", ["gina", "hank", "alice", "bob"])
    code, out, _ = freeze("root", "verify", live.root, v2b, "--root-pin", live.root_digest, expect=0)
    assert "root v2 by v1 signers: directorate 2/2" in out and "root v2 by its own signers: directorate 2/2" in out


def test_journal_entry_removed(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    lines = (b / "journal" / "entries.jsonl").read_bytes().splitlines(keepends=True)
    (b / "journal" / "entries.jsonl").write_bytes(b"".join(lines[1:]))
    resum(b)
    verify_fails(live, b, "journal entry at position 0 says index 1 (an entry was removed or moved)")
    # an attacker who also renumbers the entries still cannot match the cosigned root
    renumbered = []
    for i, line in enumerate(lines[1:]):
        d = json.loads(line)
        d["index"] = i
        renumbered.append(json.dumps(d, sort_keys=True, separators=(",", ":")).encode() + b"\n")
    (b / "journal" / "entries.jsonl").write_bytes(b"".join(renumbered))
    resum(b)
    verify_fails(live, b, "journal truncated: checkpoint cosigned at size 3 but the bundle has 2 entries")


def test_journal_truncated_after_cosigned_checkpoint(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    entries = b / "journal" / "entries.jsonl"
    entries.write_bytes(b"".join(entries.read_bytes().splitlines(keepends=True)[:-1]))
    resum(b)
    verify_fails(live, b, "journal: journal truncated: checkpoint cosigned at size 3 but the bundle has 2 entries")
    # dropping the checkpoint too: still refused (none cosigned), and the paper minutes catch it
    (b / "journal" / "checkpoint-3.note").unlink()
    edit_json(b / "bundle.json", lambda d: d["journal"].update(checkpoints=[]))
    resum(b)
    verify_fails(live, b, "journal: the journal carries no cosigned checkpoint")


def test_paper_checkpoint_catches_a_rewritten_journal(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    origin, size, root_b64 = live.checkpoint_line.split()
    fake_root = base64.b64encode(b"\x01" * 32).decode()
    verify_fails(live, b, "journal does not match the minutes' checkpoint at size 3",
                 extra=("--checkpoint", f"{origin} {size} {fake_root}"))
    verify_fails(live, b, "journal truncated: the minutes record size 9, the bundle has 3",
                 extra=("--checkpoint", f"{origin} 9 {root_b64}"))


def test_replayed_old_manifest(live: Ceremony, tmp_path: Path) -> None:
    """After a re-snapshot (manifest sequence 2), the old manifest is no longer 'current'."""
    c = live
    journal = tmp_path / "journal.db"
    shutil.copy(c.journal, journal)
    old_env = c.files["env-manifest"]
    old_digest = hashlib.sha256(base64.b64decode(json.loads(old_env.read_bytes())["payload"])).hexdigest()
    manifest2 = tmp_path / "manifest.json"
    manifest2.write_bytes(b'{"schema": 1, "hosts": {"db1": {"files": {}}}, "resnapshot": true}')
    env2 = tmp_path / "manifest2.dsse.json"
    # sequence 2 must say what it supersedes
    code, _, err = freeze("attest", "--type", "manifest", manifest2, "--root", c.root, "-o", env2,
                          "--sequence", "2", expect=65)
    assert "needs --supersedes" in err
    freeze("attest", "--type", "manifest", manifest2, "--root", c.root, "-o", env2, "--journal", journal,
           "--sequence", "2", "--supersedes", old_digest)
    for who in ("alice", "bob", "carol", "dave", "frank"):
        freeze("sign", env2, "--key", c.keys[who], "--passphrase-env", PASS_ENV, "--root", c.root)
    assert c.tsa is not None
    freeze("timestamp", env2, "--tsa", c.tsa.url, "--root", c.root)
    note = tmp_path / "cp.note"
    freeze("journal", "checkpoint", journal, "--key", c.keys["journal-log"], "--passphrase-env", PASS_ENV, "-o", note)
    for who in ("dave", "frank"):
        freeze("journal", "cosign", note, "--key", c.keys[who], "--as", who, "--passphrase-env", PASS_ENV)
    freeze("journal", "store", journal, note)

    def bundle(name: str, env: Path, doc: Path) -> Path:
        out = tmp_path / name
        freeze("bundle", "create", out, "--root", c.root, "--statement", f"manifest={env}:{doc}",
               "--statement", f"zero-report={c.files['env-zero-report']}:{c.files['zero']}",
               "--journal", journal)
        return out

    current = bundle("current", env2, manifest2)
    code, out, _ = freeze("verify-evidence", current, "--root-pin", c.root_digest, expect=0)
    assert "latest manifest (sequence 2) at journal #3" in out
    replayed = bundle("replayed", old_env, c.files["manifest"])
    verify_fails(c, replayed, "manifest: current, not replayed: replayed: this manifest statement (sequence 1) "
                 "is superseded by journal entry #3 (sequence 2)")


def test_second_attest_takes_sequence_and_supersedes_from_the_journal(live: Ceremony, tmp_path: Path) -> None:
    """A second `attest` of a type the journal already holds succeeded as sequence 1
    (no --sequence/--supersedes) and the honest bundle then failed verification:
    attest has the journal, so it derives both, and refuses values that differ."""
    c = live
    journal = tmp_path / "journal.db"
    shutil.copy(c.journal, journal)
    old_env = c.files["env-manifest"]
    old_digest = hashlib.sha256(base64.b64decode(json.loads(old_env.read_bytes())["payload"])).hexdigest()
    manifest2 = tmp_path / "manifest.json"
    manifest2.write_bytes(b'{"schema": 1, "hosts": {"db1": {"files": {}}}, "second": true}')
    env2 = tmp_path / "manifest2.dsse.json"
    code, _, err = freeze("attest", "--type", "manifest", manifest2, "--root", c.root, "-o", env2,
                          "--journal", journal, "--sequence", "1", expect=65)
    assert "the journal holds 1 manifest statement(s), so this one is sequence 2" in err
    code, _, err = freeze("attest", "--type", "manifest", manifest2, "--root", c.root, "-o", env2,
                          "--journal", journal, "--supersedes", "ab" * 32, expect=65)
    assert f"the journal's previous manifest statement is {old_digest}" in err
    assert not env2.exists()
    freeze("attest", "--type", "manifest", manifest2, "--root", c.root, "-o", env2, "--journal", journal)
    predicate = json.loads(base64.b64decode(json.loads(env2.read_bytes())["payload"]))["predicate"]
    assert (predicate["sequence"], predicate["supersedes"]) == (2, old_digest)
    for who in ("alice", "bob", "carol", "dave", "frank"):
        freeze("sign", env2, "--key", c.keys[who], "--passphrase-env", PASS_ENV, "--root", c.root)
    assert c.tsa is not None
    freeze("timestamp", env2, "--tsa", c.tsa.url, "--root", c.root)
    note = tmp_path / "cp.note"
    freeze("journal", "checkpoint", journal, "--key", c.keys["journal-log"], "--passphrase-env", PASS_ENV, "-o", note)
    for who in ("dave", "frank"):
        freeze("journal", "cosign", note, "--key", c.keys[who], "--as", who, "--passphrase-env", PASS_ENV)
    freeze("journal", "store", journal, note)
    out = tmp_path / "bundle"
    freeze("bundle", "create", out, "--root", c.root, "--statement", f"manifest={env2}:{manifest2}",
           "--statement", f"zero-report={c.files['env-zero-report']}:{c.files['zero']}", "--journal", journal)
    _, report, _ = freeze("verify-evidence", out, "--root-pin", c.root_digest, expect=0)
    assert "latest manifest (sequence 2)" in report
    # a first statement of another type in the same journal is still sequence 1
    drift = tmp_path / "drift.json"
    drift.write_bytes(b'{"drift": []}')
    freeze("attest", "--type", "drift-report", drift, "--root", c.root, "-o", tmp_path / "d.dsse.json",
           "--journal", journal)
    payload = json.loads(base64.b64decode(json.loads((tmp_path / "d.dsse.json").read_bytes())["payload"]))
    assert (payload["predicate"]["sequence"], payload["predicate"]["supersedes"]) == (1, None)


def test_statement_from_another_ceremony(live: Ceremony, tmp_path: Path) -> None:
    """A rehearsal with the same people and keys has another nonce: its statements never verify here."""
    c = live
    rehearsal_root = tmp_path / "rehearsal-root.json"
    spec = json.loads((c.dir / "root-spec.json").read_text())
    (c.dir / "rehearsal-spec.json").write_text(json.dumps(spec))
    freeze("root", "init", c.dir / "rehearsal-spec.json", "-o", rehearsal_root)
    journal = tmp_path / "journal.db"
    shutil.copy(c.journal, journal)
    env = tmp_path / "rehearsal.dsse.json"
    freeze("attest", "--type", "manifest", c.files["manifest"], "--root", rehearsal_root, "-o", env,
           "--journal", journal)
    for who in ("alice", "bob", "carol", "dave", "frank"):
        freeze("sign", env, "--key", c.keys[who], "--passphrase-env", PASS_ENV, "--root", rehearsal_root)
    out = tmp_path / "b"
    freeze("bundle", "create", out, "--root", c.root, "--statement", f"manifest={env}:{c.files['manifest']}",
           "--journal", journal)
    verify_fails(c, out, "manifest: statement: statement carries another ceremony's nonce")




def test_wrong_pin(live: Ceremony, tmp_path: Path) -> None:
    code, out, _ = freeze("verify-evidence", copy(live, tmp_path), "--root-pin", "ab" * 32, expect=8)
    assert "no root in the evidence has the pinned digest abababababababab" in out


def test_bundle_claiming_another_journal_position(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    edit_json(b / "bundle.json", lambda d: d["statements"][0].update(journal_index=0))
    resum(b)
    verify_fails(live, b, "bundle says journal entry #0, the statement is recorded at #1")


def test_backup_digest_not_named_by_the_signed_zero_report(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    edit_json(b / "bundle.json", lambda d: d["backup"].update(sha256="34" * 32))
    (b / "backup.sha256").write_text(f"{'34' * 32}  counting.dump\n")
    resum(b)
    verify_fails(live, b, "backup digest: the signed zero-report statement does not name this backup digest")


def test_root_spec_with_one_key_for_two_people_is_refused(live: Ceremony, tmp_path: Path) -> None:
    spec = json.loads((live.dir / "root-spec.json").read_text())
    spec["people"]["dave2"] = {"role": "observer", "keys": ["dave.pub.pem"]}
    (live.dir / "dup-spec.json").write_text(json.dumps(spec))
    code, _, err = freeze("root", "init", live.dir / "dup-spec.json", "-o", tmp_path / "r.json", expect=65)
    assert "the same key" in err and "listed for both dave and dave2" in err
    assert not (tmp_path / "r.json").exists()


def test_verify_envelope_reports_progress_at_the_table(live: Ceremony, tmp_path: Path) -> None:
    env = tmp_path / "m.dsse.json"
    d = json.loads(live.files["env-manifest"].read_bytes())
    d["signatures"] = d["signatures"][:2]  # alice and bob so far
    env.write_text(json.dumps(d))
    code, out, _ = freeze("verify-envelope", env, "--type", "manifest", "--root", live.root,
                          "--document", live.files["manifest"], expect=8)
    assert "FAIL  manifest: auditor 0/1 (missing: any of carol), directorate 2/2, observer 0/2" in out
    assert "PASS  document sha256:" in out
    freeze("verify-envelope", live.files["env-manifest"], "--type", "manifest", "--root", live.root, expect=0)
    code, _, err = freeze("verify-envelope", live.files["env-manifest"], "--type", "zero-report",
                          "--root", live.root, expect=8)
    assert "is a 'manifest' statement, not a 'zero-report' one" in err


def test_signatures_made_in_parallel_are_merged(live: Ceremony, tmp_path: Path) -> None:
    base = json.loads(live.files["env-manifest"].read_bytes())
    unsigned = dict(base, signatures=[])
    copies = []
    for who in ("alice", "bob", "carol", "dave", "frank"):  # each on their own machine, at once
        p = tmp_path / f"{who}.dsse.json"
        p.write_text(json.dumps(unsigned))
        freeze("sign", p, "--key", live.keys[who], "--passphrase-env", PASS_ENV, "--root", live.root)
        copies.append(p)
    merged = tmp_path / "merged.dsse.json"
    shutil.copy(copies[0], merged)
    freeze("merge-signatures", merged, *copies[1:], copies[0])
    assert len(json.loads(merged.read_bytes())["signatures"]) == 5
    freeze("verify-envelope", merged, "--type", "manifest", "--root", live.root, expect=0)
    other = tmp_path / "other.dsse.json"
    shutil.copy(live.files["env-zero-report"], other)
    code, _, err = freeze("merge-signatures", merged, other, expect=65)
    assert "not a copy" in err


def test_forged_inclusion_proof(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    edit_json(b / "journal" / "proofs" / "inclusion-manifest.json",
              lambda d: d.update(proof=[base64.b64encode(b"\x00" * 32).decode()] * len(d["proof"])))
    resum(b)
    verify_fails(live, b, "inclusion proof does not lead to the cosigned root")
