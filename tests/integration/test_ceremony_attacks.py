"""Adversarial bundles: each test is an attack that once made verification PASS or crash.

Like test_ceremony_refusals, tampering happens on a COPY of a real ceremony's
bundle and SHA256SUMS is recomputed, as an attacker would do; the refusal must
come from the verifier's own checks and be a FAIL line (exit 8), never a PASS
and never an internal error.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.test_ceremony import Ceremony, freeze, needs_tools, run_ceremony
from tests.integration.test_ceremony_refusals import copy, edit_json, resum, verify_fails

pytestmark = needs_tools


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ceremony]:
    c = run_ceremony(tmp_path_factory.mktemp("ceremony"), keep_tsa=True)
    yield c
    assert c.tsa is not None
    c.tsa.stop()


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
