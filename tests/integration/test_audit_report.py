"""The auditor's report and the minutes sheet from `verify-evidence --report-dir`:
rendered (HTML and PDF) from a real ceremony's bundle, people named with their
roles, the zero totals, every check, grouped digests, and a mismatch side by side.
A page of each goes to artifacts/ as PNG."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
from pathlib import Path

import pytest

from freeze.errors import EXIT_OK, EXIT_VERIFY_FAILED
from tests.artifacts import pdf_page_png
from tests.integration.test_ceremony import Ceremony, freeze_proc, needs_tools, run_ceremony

pytestmark = needs_tools


@pytest.fixture(scope="module")
def ceremony(tmp_path_factory: pytest.TempPathFactory) -> Ceremony:
    return run_ceremony(tmp_path_factory.mktemp("ceremony"))


def _text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))


def test_auditor_report_and_minutes(ceremony: Ceremony, tmp_path: Path) -> None:
    out = tmp_path / "report"
    res = freeze_proc("verify-evidence", ceremony.tar, "--root-pin", ceremony.root_digest,
                      "--checkpoint", ceremony.checkpoint_line, "--report-dir", out, cwd=tmp_path)
    assert res.returncode == EXIT_OK, res.stdout + res.stderr
    names = {"verification-report.html", "verification-report.pdf", "minutes.html", "minutes.pdf"}
    assert {p.name for p in out.iterdir()} == names
    assert all(f"wrote {out / n}" in res.stdout for n in names)
    report = _text((out / "verification-report.html").read_text())
    assert "VERIFIED. Every check below passed." in report
    # people by name and role from the root, with what they signed and when (TSA time)
    for who, role in (("Alice A.", "directorate"), ("Carol C.", "auditor"), ("Erin (party B)", "observer")):
        assert re.search(re.escape(who) + r" \w+ " + role, report), who
        assert f"{who} ({role})" in report
    assert "(local-tsa)" in report and "trusted times:" in report
    assert "count-db named by the zero report" in report and "db1 named by the manifest" in report
    assert "All totals are zero" in report and "Votes per candidate" in report and "votes = 0" in report
    # every check of the verifier, each with its result
    plain = freeze_proc("verify-evidence", ceremony.tar, "--root-pin", ceremony.root_digest,
                        "--checkpoint", ceremony.checkpoint_line, "--json", cwd=tmp_path)
    checks = json.loads(plain.stdout)["checks"]
    assert len(checks) >= 10
    for c in checks:
        assert f"PASS {c['check']}" in report, c["check"]
    # the minutes: digests in numbered groups of four, eight to a line
    minutes = _text((out / "minutes.html").read_text())
    d = ceremony.root_digest
    assert "1 2 3 4 5 6 7 8 " + " ".join(d[i:i + 4] for i in range(0, 32, 4)) in minutes
    assert "9 10 11 12 13 14 15 16 " + " ".join(d[i:i + 4] for i in range(32, 64, 4)) in minutes
    cp_root = ceremony.checkpoint_line.split()[-1]
    assert " ".join(cp_root[i:i + 4] for i in range(0, 32, 4)) in minutes
    bundle_digest = hashlib.sha256((ceremony.bundle / "SHA256SUMS").read_bytes()).hexdigest()
    assert bundle_digest[:4] + " " + bundle_digest[4:8] in minutes
    assert "Alice A. · directorate" in minutes
    for name in ("verification-report", "minutes"):
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF")
        pdf_page_png(out / f"{name}.pdf", f"{name}-page-1")


def test_a_mismatch_with_the_minutes_is_shown_side_by_side(ceremony: Ceremony, tmp_path: Path) -> None:
    d = ceremony.root_digest
    wrong = d[:20] + ("0" if d[20] != "0" else "1") + d[21:]  # a copying mistake in group 6
    bundle = tmp_path / "bundle"
    shutil.copytree(ceremony.bundle, bundle)
    out = tmp_path / "report"
    res = freeze_proc("verify-evidence", bundle, "--root-pin", wrong, "--report-dir", out, cwd=tmp_path)
    assert res.returncode == EXIT_VERIFY_FAILED
    minutes = (out / "minutes.html").read_text()
    assert "DIFFERS" in minutes
    marked = re.findall(r'<td class="diff">(\w+)</td>', minutes)
    assert marked == [wrong[20:24], d[20:24]]  # only the differing group, minutes then bundle
    report = _text((out / "verification-report.html").read_text())
    assert "NOT VERIFIED." in report and "FAIL ceremony root" in report
    assert (out / "minutes.pdf").read_bytes().startswith(b"%PDF")
    pdf_page_png(out / "minutes.pdf", "minutes-mismatch-page-1")


def test_html_only_needs_no_pdf_engine(ceremony: Ceremony, tmp_path: Path) -> None:
    out = tmp_path / "r"
    res = freeze_proc("verify-evidence", ceremony.bundle, "--root-pin", ceremony.root_digest,
                      "--report-dir", out, "--no-pdf", cwd=tmp_path)
    assert res.returncode == EXIT_OK, res.stderr
    assert sorted(p.name for p in out.iterdir()) == ["minutes.html", "verification-report.html"]
