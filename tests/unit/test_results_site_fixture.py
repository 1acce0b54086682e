"""The results website's fixture pages are current and well-formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "results_site_fixture.py"


def test_committed_pages_are_current() -> None:
    res = subprocess.run([sys.executable, str(SCRIPT), "--check"], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_check_detects_a_changed_page(tmp_path: Path) -> None:
    assert subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path)]).returncode == 0
    assert subprocess.run([sys.executable, str(SCRIPT), "--check", "--out", str(tmp_path)]).returncode == 0
    (tmp_path / "index.html").write_text("tampered")
    assert subprocess.run([sys.executable, str(SCRIPT), "--check", "--out", str(tmp_path)],
                          capture_output=True).returncode == 1


def test_open_data_matches_the_reference_shape() -> None:
    data = json.loads((REPO / "roles/results_website/files/site/results.json").read_text())
    assert data["election"]["code"] == "GE-2026"
    for dep in data["departments"]:
        assert 0 < dep["tally_sheets_counted"] <= dep["tally_sheets_total"]
        assert {v["party"] for v in dep["votes"]} == {p["acronym"] for p in data["parties"]}
