"""Printable zero report: HTML (jinja2) and PDF (weasyprint) from a ZeroReport.

Rendering never changes the report: the document prints the digest of the
canonical JSON in full and carries it in a QR code, so a signer can check that
the paper in front of them is the report the JSON (and its signatures) describe.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import jinja2
import segno
from markupsafe import Markup

from freeze.durable import atomic_write
from freeze.extras import require_extra
from freeze.inputs import read_input
from freeze.report.model import ZeroReport


def css_string(text: str) -> Markup:
    """A CSS string literal for `content:` in @page rules. HTML-escaping does not
    apply inside <style>, so anything not plainly safe becomes a CSS escape."""
    safe = set(" -_.,:;()/#'")
    return Markup('"' + "".join(c if c.isalnum() and c.isascii() or c in safe
                                 else f"\\{ord(c):x} " for c in text) + '"')


def template_environment() -> jinja2.Environment:
    """The package's templates, HTML-escaped, strict about undefined names."""
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("freeze.report", "templates"),
        autoescape=jinja2.select_autoescape(["html"]),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True, lstrip_blocks=True,
    )
    env.filters["css_string"] = css_string
    return env


_env = template_environment()


def qr_svg(payload: str) -> str:
    """Inline SVG (no XML declaration) of a QR code with error correction M."""
    svg = segno.make(payload, error="m").svg_inline(scale=3, border=2)
    # a fixed physical size prints the same on any renderer
    return re.sub(r'width="\d+" height="\d+"', 'width="36mm" height="36mm"', svg, count=1) \
        .replace("<svg ", f'<svg viewBox="0 0 {_qr_size(payload)} {_qr_size(payload)}" ', 1)


def _qr_size(payload: str) -> int:
    q = segno.make(payload, error="m")
    w, _ = q.symbol_size(scale=3, border=2)
    # segno types the size int | float because a scale may be fractional; with the
    # integer scale 3 it is an int, so int() changes nothing
    return int(w)


def _fmt_int(v: int | None) -> str:
    return "NULL" if v is None else f"{v:,}".replace(",", "\u202f")


def render_html(report: ZeroReport) -> str:
    digest = report.digest()
    return _env.get_template("zero_report.html").render(
        r=report, digest=digest, digest_groups=[digest[i:i + 8] for i in range(0, 64, 8)],
        qr=qr_svg(report.qr_payload()), qr_payload=report.qr_payload(), fmt=_fmt_int,
    )


def render_pdf(report: ZeroReport) -> bytes:
    weasyprint = require_extra("weasyprint", "pdf")  # heavy import: only when a PDF is asked for

    pdf: bytes = weasyprint.HTML(string=render_html(report)).write_pdf()
    return pdf


@dataclass(frozen=True)
class RenderedReport:
    """`freeze zero-report`: the report checked, and the files written."""

    sha256: str
    all_zero: bool
    canonical: bool  # the input bytes were the report's canonical form
    files: list[str]

    def to_dict(self) -> dict[str, object]:
        return {"sha256": self.sha256, "all_zero": self.all_zero,
                "canonical": self.canonical, "files": self.files}


def render_report_files(report_path: str | Path, output_dir: str | Path,
                        formats: tuple[str, ...] = ("html", "pdf")) -> RenderedReport:
    """Check a zero-report JSON and write zero-report.html / .pdf into `output_dir` durably."""
    data = read_input(report_path, "zero report")
    report = ZeroReport.from_bytes(data)
    out = Path(output_dir)
    written = []
    if "html" in formats:
        atomic_write(out / "zero-report.html", render_html(report).encode("utf-8"))
        written.append(str(out / "zero-report.html"))
    if "pdf" in formats:
        atomic_write(out / "zero-report.pdf", render_pdf(report))
        written.append(str(out / "zero-report.pdf"))
    return RenderedReport(report.digest(), report.all_zero, report.canonical_bytes() == data,
                          written)
