"""Adversarial bundles: each test is an attack that once made verification PASS or crash.

Like test_ceremony_refusals, tampering happens on a COPY of a real ceremony's
bundle and SHA256SUMS is recomputed, as an attacker would do; the refusal must
come from the verifier's own checks and be a FAIL line (exit 8), never a PASS
and never an internal error.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.integration.test_ceremony import Ceremony, freeze, needs_tools
from tests.integration.test_ceremony_refusals import copy, edit_json, resum, verify_fails

pytestmark = needs_tools


def _drop_backup(b: Path, d: dict) -> None:
    d.pop("backup", None)
    (b / "backup.sha256").unlink(missing_ok=True)


def test_bundle_with_no_statement_is_not_evidence(live: Ceremony, tmp_path: Path) -> None:
    """Roots and a journal alone used to verify: a bundle must carry evidence to pass."""
    b = copy(live, tmp_path)
    edit_json(b / "bundle.json", lambda d: (_drop_backup(b, d), d.update(statements=[])))
    resum(b)
    verify_fails(live, b, "bundle index: the bundle carries no statement")


@pytest.mark.parametrize(
    ("tamper", "expected"),
    [
        pytest.param(lambda b, d: d.update(journal=[1]), "journal: malformed evidence", id="journal-is-a-list"),
        pytest.param(lambda b, d: d.update(backup=[1]), "backup digest: malformed evidence", id="backup-is-a-list"),
        pytest.param(
            lambda b, d: d["statements"][0].update(journal_index=float(d["statements"][0]["journal_index"])),
            "manifest: current, not replayed: bundle.json: journal_index of the manifest statement must be an integer",
            id="position-is-a-float"),
        pytest.param(
            lambda b, d: d["statements"][0].update(journal_index=True),
            "manifest: current, not replayed: bundle.json: journal_index of the manifest statement must be an integer",
            id="position-is-a-boolean"),
        pytest.param(
            lambda b, d: (b / "journal" / "checkpoint-3.note").write_bytes(
                (b / "journal" / "checkpoint-3.note").read_bytes() + b"\xff"),
            "journal: malformed evidence (UnicodeDecodeError", id="note-not-utf8"),
    ],
)
def test_malformed_index_fails_instead_of_crashing(live: Ceremony, tmp_path: Path, tamper, expected: str) -> None:  # noqa: ANN001
    """Unsigned bundle fields of the wrong type used to raise out of the verifier (exit 70)."""
    b = copy(live, tmp_path)
    edit_json(b / "bundle.json", lambda d: tamper(b, d))
    resum(b)
    verify_fails(live, b, expected)


def _tar_of(src: Path, out: Path, mode: str = "w") -> Path:
    import tarfile

    with tarfile.open(out, mode) as tar:
        tar.add(src, arcname="bundle")
    return out


def test_compressed_tar_is_refused(live: Ceremony, tmp_path: Path) -> None:
    """A .tar that is really xz/gzip could expand without bound into the temp directory."""
    tar = _tar_of(live.bundle, tmp_path / "bundle.tar", "w:xz")
    code, out, err = freeze("verify-evidence", tar, "--root-pin", live.root_digest, expect=65)
    assert "not an uncompressed tar" in err and "VERIFIED" not in out


def test_tar_larger_than_the_limit_is_refused_before_extraction(
    live: Ceremony, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tarfile

    from freeze.evidence import bundle

    monkeypatch.setattr(bundle, "MAX_TAR_BYTES", 4096)
    tar = tmp_path / "big.tar"
    with tarfile.open(tar, "w", format=tarfile.GNU_FORMAT) as t:
        info = tarfile.TarInfo("bundle/zeros")
        info.size = 8192
        t.addfile(info, __import__("io").BytesIO(b"\0" * 8192))
    out_dir = tmp_path / "x"
    out_dir.mkdir()
    with pytest.raises(Exception, match="more than 4096 bytes"):
        bundle.extract_tar(tar, out_dir)
    assert not any(out_dir.iterdir())
    monkeypatch.setattr(bundle, "MAX_TAR_MEMBERS", 3)
    monkeypatch.setattr(bundle, "MAX_TAR_BYTES", 1 << 30)
    with pytest.raises(Exception, match="more than 3 members"):
        bundle.extract_tar(live.tar, out_dir)
    assert not any(out_dir.iterdir())


def test_garbage_instead_of_a_tar_is_an_input_error(live: Ceremony, tmp_path: Path) -> None:
    junk = tmp_path / "bundle.tar"
    junk.write_bytes(b"not a tar at all" * 100)
    code, _, err = freeze("verify-evidence", junk, "--root-pin", live.root_digest, expect=65)
    assert "internal error" not in err


def _rehearsal(live: Ceremony, tmp_path: Path) -> tuple[Path, Path]:
    """A rehearsal: same spec, same people and keys, a fresh root (new nonce) left unsigned."""
    from tests.integration.test_ceremony import PASS_ENV

    spec = live.dir / f"rehearsal-{tmp_path.name}.json"
    spec.write_text((live.dir / "root-spec.json").read_text())
    rehearsal_root = tmp_path / "rehearsal-root.json"
    freeze("root", "init", spec, "-o", rehearsal_root)
    env = tmp_path / "rehearsal.dsse.json"
    freeze("attest", "--type", "manifest", live.files["manifest"], "--root", rehearsal_root, "-o", env)
    for who in ("alice", "bob", "carol", "dave", "frank"):
        freeze("sign", env, "--key", live.keys[who], "--passphrase-env", PASS_ENV, "--root", rehearsal_root)
    return rehearsal_root, env


def test_verify_envelope_refuses_a_rehearsal_statement(live: Ceremony, tmp_path: Path) -> None:
    """verify-envelope said VERIFIED for a statement made under another root (other nonce),
    signed by the same people: a rehearsal's statement passed as the real ceremony's."""
    _, env = _rehearsal(live, tmp_path)
    code, out, _ = freeze("verify-envelope", env, "--type", "manifest", "--root", live.root,
                          "--document", live.files["manifest"], expect=8)
    assert "PASS  manifest: auditor 1/1, directorate 2/2, observer 2/2" in out
    assert "FAIL  statement carries another ceremony's nonce" in out
    assert "NOT VERIFIED" in out


def test_verify_envelope_refuses_a_root_nobody_signed(live: Ceremony, tmp_path: Path) -> None:
    """The --root file was trusted without checking its own signatures: anyone could write
    a root naming their own keys and get VERIFIED for their own envelope."""
    rehearsal_root, env = _rehearsal(live, tmp_path)
    code, out, _ = freeze("verify-envelope", env, "--type", "manifest", "--root", rehearsal_root, expect=8)
    assert "FAIL  root v1 self-signed: directorate 0/2 (missing: any of alice, bob)" in out
    assert "NOT VERIFIED" in out
    # the real, signed root and its own statement still verify
    code, out, _ = freeze("verify-envelope", live.files["env-manifest"], "--type", "manifest",
                          "--root", live.root, expect=0)
    assert "PASS  root v1 self-signed: directorate 2/2" in out


def test_leaving_a_recorded_statement_out_of_the_bundle(live: Ceremony, tmp_path: Path) -> None:
    """Hiding evidence: the journal records a zero report (or a drift report that shows
    tampering); a bundle carrying only the manifest used to verify as if nothing else existed."""
    b = copy(live, tmp_path)

    def drop_zero(d: dict) -> None:
        _drop_backup(b, d)
        d["statements"] = [s for s in d["statements"] if s["type"] != "zero-report"]

    edit_json(b / "bundle.json", drop_zero)
    for rel in ("statements/zero-report.dsse.json", "statements/zero-report.timestamps.json",
                "documents/zero-report.json"):
        (b / rel).unlink()
    resum(b)
    failed = verify_fails(live, b, "complete: the journal records zero-report statement(s) this bundle leaves out")
    assert "manifest: current, not replayed" not in failed  # the manifest itself is fine


def test_special_files_in_a_bundle_directory_are_not_ignored(live: Ceremony, tmp_path: Path) -> None:
    """'Nothing else may be present', but a FIFO (or socket, device node) was not counted as
    a file, so it sat in a VERIFIED bundle where any tool that reads every file would hang."""
    import os

    b = copy(live, tmp_path)
    os.mkfifo(b / "documents" / "pipe")
    verify_fails(live, b, "file digests (SHA256SUMS): files not in SHA256SUMS: documents/pipe")


def test_root_verify_refuses_an_expired_root(live: Ceremony, tmp_path: Path) -> None:
    """`root verify` printed VERIFIED for a root past its expiry (the TUF freeze-attack
    defence): e.g. a long-expired root whose keys have since leaked."""
    import datetime as dt

    from freeze.evidence.dsse import Envelope, Signature
    from freeze.evidence.keys import PassphraseSource, load_signer
    from freeze.evidence.root import ROOT_PAYLOAD_TYPE, load_root_envelope, new_root
    from tests.integration.test_ceremony import PASS_ENV

    _, r = load_root_envelope(live.root.read_bytes())
    old = new_root(election=r.election, ceremony=r.ceremony, expires=dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
                   people=r.people, thresholds=r.thresholds, journal_origin=r.journal_origin,
                   journal_key=r.journal_key, tsas=r.tsas)
    env = Envelope(old.payload, ROOT_PAYLOAD_TYPE)
    for who in ("alice", "bob"):
        s = load_signer(live.keys[who], PassphraseSource(env=PASS_ENV))
        env.add(Signature(s.sign(env.pae()), s.ref.short))
    path = tmp_path / "old-root.json"
    path.write_bytes(env.to_bytes())
    code, out, err = freeze("root", "verify", path, "--root-pin", old.digest, expect=8)
    assert "PASS  root v1 self-signed: directorate 2/2" in out
    assert "FAIL  root v1 expired at 2020-01-01T00:00:00Z" in out and "VERIFIED:" not in out
    code, out, _ = freeze("root", "verify", live.root, "--root-pin", live.root_digest, expect=0)
    assert "PASS  root v1 valid until 2099-01-01T00:00:00Z" in out


def test_stock_tool_sheet_pins_the_bundle_keys_to_the_root(live: Ceremony, tmp_path: Path) -> None:
    """The stock-tool path trusted the bundle's own allowed_signers: an attacker who swaps in
    their key under erin's name passes `ssh-keygen -Y verify` exactly as VERIFY.txt says.
    The sheet must tell auditors how to tie those keys to the root digest in the minutes,
    and the commands it gives must work."""
    import subprocess

    sheet = (live.bundle / "VERIFY.txt").read_text()
    assert "come from THIS bundle, which anyone can rewrite" in sheet
    cmds = [ln.strip() for ln in sheet.splitlines() if "root/root-v1.dsse.json" in ln]
    assert len(cmds) == 2
    digest_cmd, show_cmd = cmds
    res = subprocess.run(digest_cmd, shell=True, cwd=live.bundle, capture_output=True, text=True, check=True)  # noqa: S602
    assert res.stdout.split()[0] == live.root_digest
    res = subprocess.run(show_cmd, shell=True, cwd=live.bundle, capture_output=True, text=True, check=True)  # noqa: S602
    people = json.loads(res.stdout)["people"]
    erin_key = people["erin"]["keys"][0]["public"]
    assert erin_key.split()[1] in (live.bundle / "signatures" / "allowed_signers").read_text()


def test_terminal_escapes_from_the_bundle_cannot_forge_the_verdict(live: Ceremony, tmp_path: Path) -> None:
    """File names and key ids come from the bundle; printed raw, an ESC[8m (conceal) or a
    newline in them let an attacker hide the real lines and show a fake 'VERDICT: VERIFIED'
    line to an auditor reading the report on a terminal (or `cat`-ing it from a file)."""
    import base64

    b = copy(live, tmp_path)
    edit_json(b / "statements" / "manifest.dsse.json", lambda e: e["signatures"].append(
        {"keyid": "\x1b[8m\x1b[2K", "sig": base64.b64encode(b"\x01" * 64).decode()}))
    resum(b)
    (b / "documents" / "x\x1b[8mhidden\nVERDICT: VERIFIED\u202e").write_bytes(b"")
    code, out, err = freeze("verify-evidence", b, "--root-pin", live.root_digest, expect=8)
    assert "\x1b" not in out and "\u202e" not in out
    lines = out.splitlines()
    assert lines[-1].startswith("VERDICT: NOT VERIFIED")
    assert not any(ln.startswith("VERDICT: VERIFIED") for ln in lines)
    assert "files not in SHA256SUMS: documents/x\\x1b[8mhidden\\nVERDICT: VERIFIED\\u202e" in out
    assert "#6 (keyid \\x1b[8m\\x1b[2K)" in out  # shown, visibly escaped


def test_without_the_paper_checkpoint_the_report_says_rollback_is_undetected(live: Ceremony, tmp_path: Path) -> None:
    """A whole older bundle of this ceremony (before a re-snapshot) is self-consistent: only the
    checkpoint from the minutes tells it from the latest. The PASS line must not hide that."""
    code, out, _ = freeze("verify-evidence", live.bundle, "--root-pin", live.root_digest, expect=0)
    assert "NOT compared with the minutes (no --checkpoint)" in out
    code, out, _ = freeze("verify-evidence", live.bundle, "--root-pin", live.root_digest,
                          "--checkpoint", live.checkpoint_line, expect=0)
    assert "NOT compared with the minutes" not in out and "matches the minutes' checkpoint at size 3" in out


def test_journal_longer_than_the_limit_is_refused(live: Ceremony, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each journal line becomes a parsed dict and a hash: a 256 MiB entries file of tiny
    lines (~10 million) cost gigabytes of memory before any check could fail."""
    from freeze.evidence import verify

    monkeypatch.setattr(verify, "MAX_JOURNAL_ENTRIES", 2)
    report = verify.verify_bundle(live.bundle, root_pin=live.root_digest)
    failed = {c.name: c.detail for c in report.checks if not c.ok}
    assert failed["journal"] == "the journal has more than 2 entries; not a ceremony journal"
