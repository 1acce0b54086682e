"""The backup digest of a zero-report statement is the one the zero report names (issue 16, 1).

It used to be typed at `attest --backup NAME=SHA256` and never compared with the
report, so a bundle could vouch for any backup file.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freeze.errors import VerificationError
from freeze.evidence import statement
from freeze.evidence.ceremony import load_root, open_for_signing
from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from tests.integration.test_ceremony import Ceremony, freeze, needs_tools

pytestmark = needs_tools

REPORT_BACKUP = "12" * 32  # what run_ceremony's zero report names


def test_attest_refuses_a_backup_digest_the_zero_report_does_not_name(live: Ceremony, tmp_path: Path) -> None:
    _, _, err = freeze("attest", "--type", "zero-report", live.files["zero"], "--root", live.root,
                       "-o", tmp_path / "z.dsse.json", "--backup", f"counting.dump={'34' * 32}", expect=65)
    assert f"is not the backup the zero report names (sha256:{REPORT_BACKUP})" in err
    assert not (tmp_path / "z.dsse.json").exists()


def test_attest_takes_the_backup_digest_from_the_zero_report(live: Ceremony, tmp_path: Path) -> None:
    env = tmp_path / "z.dsse.json"
    freeze("attest", "--type", "zero-report", live.files["zero"], "--root", live.root, "-o", env,
           "--backup", "counting.dump")
    subjects = json.loads(Envelope.from_bytes(env.read_bytes()).payload)["subject"]
    assert subjects[1] == {"name": "counting.dump", "digest": {"sha256": REPORT_BACKUP}}
    # the people signing see it before they sign
    assert f"counting.dump sha256:{REPORT_BACKUP}" in (open_for_signing(env).describe() or "")


def test_attest_refuses_a_zero_report_that_names_no_backup(live: Ceremony, tmp_path: Path) -> None:
    doc = tmp_path / "zero-report.json"
    doc.write_text('{"totals": {"all": 0}}')
    _, _, err = freeze("attest", "--type", "zero-report", doc, "--root", live.root,
                       "-o", tmp_path / "z.dsse.json", expect=65)
    assert "names no verified backup (system.backup_sha256)" in err


def _statement_naming(live: Ceremony, backup: str) -> Envelope:
    _, root = load_root(live.root)
    payload = statement.build("zero-report", name="zero-report.json", data=live.files["zero"].read_bytes(),
                              root=root, extra_subjects=[("counting.dump", backup)])
    return Envelope(payload, IN_TOTO_PAYLOAD_TYPE)


def test_a_statement_naming_another_backup_than_its_report_does_not_verify(live: Ceremony) -> None:
    doc = live.files["zero"].read_bytes()
    good = statement.parse(_statement_naming(live, REPORT_BACKUP), "zero-report")
    assert statement.check_backup_subjects(good, doc) == REPORT_BACKUP
    forged = statement.parse(_statement_naming(live, "34" * 32), "zero-report")
    with pytest.raises(VerificationError, match=f"its zero report names sha256:{REPORT_BACKUP}"):
        statement.check_backup_subjects(forged, doc)


def test_verify_envelope_with_the_document_checks_the_backup_digest(live: Ceremony, tmp_path: Path) -> None:
    env = tmp_path / "forged.dsse.json"
    env.write_bytes(_statement_naming(live, "34" * 32).to_bytes())
    _, out, _ = freeze("verify-envelope", env, "--type", "zero-report", "--root", live.root,
                       "--document", live.files["zero"], expect=8)
    assert f"FAIL  the statement names backup sha256:{'34' * 32}, its zero report names" in out
    _, out, _ = freeze("verify-envelope", live.files["env-zero-report"], "--type", "zero-report",
                       "--root", live.root, "--document", live.files["zero"], expect=0)
    assert f"PASS  backup sha256:{REPORT_BACKUP} is the one the zero report names" in out
