"""Zero report: canonical JSON, digest, strict parsing, rendering."""

from __future__ import annotations

import hashlib
import json

import pytest

from freeze.errors import InputError
from freeze.report.model import QR_PREFIX, ReportSection, ZeroReport
from freeze.report.render import qr_svg, render_html


def _report(votes=(0, 0)) -> ZeroReport:
    rows = tuple((("President", name), (v,)) for name, v in zip(("Ana Quispe", "Luis <Rojas>"), votes, strict=True))
    return ZeroReport(
        title="Zero report of the counting database", election_id="GE-2026",
        election_name="General Elections 2026", generated_at_utc="2026-10-17T12:00:00Z",
        generated_at_local="2026-10-17T08:00:00-04:00 (BOT)",
        system={"database": {"database": "counting", "system_identifier": "7310"},
                "hosts": ["db1"], "manifest_sha256": "ab" * 32, "tool": "freeze 0.1.0"},
        sections=(ReportSection("Votes per contest and candidate", ("contest", "candidate"),
                                ("votes",), rows),),
        signatures=("Notary", "Party observer"), run_id="r-1")


def test_canonical_bytes_and_digest_are_stable():
    r = _report()
    data = r.canonical_bytes()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":"),
                              ensure_ascii=False).encode()
    assert r.digest() == hashlib.sha256(data).hexdigest()
    assert ZeroReport.from_bytes(data) == r
    assert ZeroReport.from_bytes(data).digest() == r.digest()
    assert r.qr_payload() == QR_PREFIX + r.digest()


def test_all_zero_and_nonzero_count():
    assert _report().all_zero
    bad = _report((0, 3))
    assert not bad.all_zero and bad.nonzero_count == 1
    assert bad.sections[0].column_sums == (3,)


def test_null_total_is_not_zero():
    assert not _report((0, None)).all_zero


def test_from_bytes_rejects_contradictions_and_garbage():
    d = json.loads(_report().canonical_bytes())
    d["sections"][0]["rows"][0]["totals"] = [5]  # edited numbers, all_zero left true
    with pytest.raises(InputError, match="contradicts"):
        ZeroReport.from_dict(d)
    with pytest.raises(InputError, match="not valid JSON"):
        ZeroReport.from_bytes(b"{truncated")
    with pytest.raises(InputError, match="not a freeze-zero-report"):
        ZeroReport.from_bytes(b'{"type": "other"}')
    d = json.loads(_report().canonical_bytes())
    del d["election"]
    with pytest.raises(InputError, match="missing or invalid field"):
        ZeroReport.from_dict(d)


def test_html_lists_rows_escapes_and_prints_the_digest_in_full():
    r = _report()
    html = render_html(r)
    assert r.digest() in html
    assert "Ana Quispe" in html and "Luis &lt;Rojas&gt;" in html
    assert "ALL TOTALS ARE ZERO" in html
    assert html.count('class="sig"') == 2
    assert "<svg" in html
    assert "NOT ZERO" in render_html(_report((1, 0)))


def test_qr_code_is_inline_svg_of_fixed_size():
    svg = qr_svg(QR_PREFIX + "0" * 64)
    assert svg.startswith("<svg") and 'width="36mm"' in svg and "viewBox" in svg


def test_pdf_renders():
    from freeze.report.render import render_pdf

    pdf = render_pdf(_report())
    assert pdf.startswith(b"%PDF") and len(pdf) > 5000


def test_hostile_or_accented_election_name_in_page_header(tmp_path):
    import dataclasses
    import shutil
    import subprocess

    from freeze.report.render import render_pdf

    name = 'Elecciones Subnacionales & "Ñuñoa" </style><b>x'
    r = dataclasses.replace(_report(), election_name=name)
    html = render_html(r)
    style = html.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "<b>" not in style and '"Ñuñoa"' not in style  # escaped for CSS, not HTML
    if shutil.which("pdftotext"):
        pdf = tmp_path / "r.pdf"
        pdf.write_bytes(render_pdf(r))
        text = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], capture_output=True,
                              text=True, check=True).stdout
        assert text.count('Elecciones Subnacionales & "Ñuñoa" </style><b>x') >= 2  # header + title
