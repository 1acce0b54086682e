"""Issue 17: the verifier accepts exactly the bundle layout derived from signed content.

SHA256SUMS is not signed: an attacker who adds a file (a helper script, a file among
the signatures) or rewrites VERIFY.txt (the sheet auditors follow with stock tools)
and recomputes SHA256SUMS used to get VERIFIED. Each attack here is made on a copy of
a real ceremony's bundle, SHA256SUMS recomputed, and must FAIL on the layout line.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tarfile
from pathlib import Path

from tests.integration.test_ceremony import Ceremony, freeze, needs_tools
from tests.integration.test_ceremony_refusals import copy, edit_json, resum, verify_fails

pytestmark = needs_tools


def test_untouched_bundle_passes_the_layout_check(live: Ceremony, tmp_path: Path) -> None:
    code, out, _ = freeze("verify-evidence", copy(live, tmp_path), "--root-pin", live.root_digest, expect=0)
    assert "PASS  layout: exactly the" in out
    assert "VERIFY.txt and SHA256SUMS regenerated and equal byte for byte" in out


def test_an_extra_script_is_refused(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    (b / "check.sh").write_text("#!/bin/sh\necho 'Signature Verified Successfully'\n")
    resum(b)
    failed = verify_fails(live, b, "layout: not derived from signed content: check.sh")
    assert "SHA256SUMS" not in failed.split("layout")[0]  # the digest list itself is consistent


def test_an_extra_file_among_the_signatures_is_refused(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    shutil.copy(b / "signatures" / "manifest.alice.ed25519", b / "signatures" / "manifest.mallory.ed25519")
    resum(b)
    verify_fails(live, b, "layout: not derived from signed content: signatures/manifest.mallory.ed25519")


def test_a_rewritten_verify_sheet_is_refused(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    sheet = (b / "VERIFY.txt").read_text()
    # the attacker's sheet checks a key the attacker controls instead of the root's
    (b / "VERIFY.txt").write_text(sheet.replace("-inkey keys/alice.pub.pem", "-inkey keys/mallory.pub.pem"))
    resum(b)
    verify_fails(live, b, "layout: differ from what the signed content gives: VERIFY.txt")


def test_a_removed_derived_file_is_refused(live: Ceremony, tmp_path: Path) -> None:
    """Stock-tool material left out (the auditor's openssl line would have nothing to check)."""
    b = copy(live, tmp_path)
    (b / "signatures" / "manifest.bob.ed25519").unlink()
    resum(b)
    verify_fails(live, b, "layout: missing: signatures/manifest.bob.ed25519")


def test_reordered_index_is_refused(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    edit_json(b / "bundle.json", lambda d: d["statements"].reverse())
    resum(b)
    verify_fails(live, b, "layout: differ from what the signed content gives: bundle.json")


def test_an_extra_member_in_the_tar_is_refused(live: Ceremony, tmp_path: Path) -> None:
    b = copy(live, tmp_path)
    (b / "timestamps" / "extra.ca.pem").write_text("-----BEGIN CERTIFICATE-----\n")
    resum(b)
    tar = tmp_path / "bundle.tar"
    with tarfile.open(tar, "w") as t:
        t.add(b, arcname="bundle")
    verify_fails(live, tar, "layout: not derived from signed content: timestamps/extra.ca.pem")


def test_the_bundle_is_a_function_of_its_signed_inputs(live: Ceremony, tmp_path: Path) -> None:
    """Made again from the same inputs, byte for byte the same bundle: the bundle digest
    (sha256 of SHA256SUMS) that goes into the minutes is fixed by the signed content."""
    again = tmp_path / "again"
    freeze("bundle", "create", again, "--root", live.root,
           "--statement", f"zero-report={live.files['env-zero-report']}:{live.files['zero']}",
           "--statement", f"manifest={live.files['env-manifest']}:{live.files['manifest']}",
           "--journal", live.journal)  # other order, no --backup: the signed statement names it
    original = {p.relative_to(live.bundle).as_posix(): p.read_bytes() for p in live.bundle.rglob("*") if p.is_file()}
    rebuilt = {p.relative_to(again).as_posix(): p.read_bytes() for p in again.rglob("*") if p.is_file()}
    assert rebuilt == original
    assert hashlib.sha256(rebuilt["SHA256SUMS"]).hexdigest() == hashlib.sha256(original["SHA256SUMS"]).hexdigest()
    assert json.loads(rebuilt["bundle.json"])["backup"]["name"] == "counting.dump"


def test_create_refuses_a_backup_other_than_the_signed_one(live: Ceremony, tmp_path: Path) -> None:
    code, _, err = freeze("bundle", "create", tmp_path / "b", "--root", live.root,
                          "--statement", f"manifest={live.files['env-manifest']}:{live.files['manifest']}",
                          "--statement", f"zero-report={live.files['env-zero-report']}:{live.files['zero']}",
                          "--journal", live.journal, "--backup", f"counting.dump={'34' * 32}", expect=None)
    assert code != 0 and "Traceback" not in err
    assert "is not the backup the signed zero-report statement names" in err
    assert len(err.strip().splitlines()) == 1
