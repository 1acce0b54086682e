"""A journal origin typo is caught when the journal is made, not at verify-evidence (issue 16, 5)."""

from __future__ import annotations

from pathlib import Path

from tests.integration.test_ceremony import ORIGIN, PASS_ENV, Ceremony, freeze, needs_tools

pytestmark = needs_tools


def test_journal_init_takes_the_origin_from_the_root(live: Ceremony, tmp_path: Path) -> None:
    _, out, _ = freeze("journal", "init", tmp_path / "j.db", "--root", live.root)
    assert f"(origin {ORIGIN})" in out
    _, _, err = freeze("journal", "init", tmp_path / "typo.db", "--root", live.root,
                       "--origin", ORIGIN + "x", expect=65)
    assert f"is not the journal origin of the ceremony root ({ORIGIN})" in err
    assert not (tmp_path / "typo.db").exists()
    freeze("journal", "init", tmp_path / "none.db", expect=64)


def test_checkpoint_refuses_a_journal_of_another_origin(live: Ceremony, tmp_path: Path) -> None:
    journal = tmp_path / "typo.db"
    freeze("journal", "init", journal, "--origin", ORIGIN + "x")
    _, _, err = freeze("journal", "checkpoint", journal, "--key", live.keys["journal-log"],
                       "--passphrase-env", PASS_ENV, "--root", live.root, expect=65)
    assert "its checkpoints would not verify" in err
