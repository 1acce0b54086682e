"""Pages of the printed documents as PNG in artifacts/, for a person to look at."""

from __future__ import annotations

import html
import shutil
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "artifacts"


def pdf_page_png(pdf: Path, name: str, page: int = 1) -> Path | None:
    """First (or given) page of `pdf` as artifacts/NAME.png (pdftoppm from poppler-utils)."""
    ARTIFACTS.mkdir(exist_ok=True)
    shutil.copy(pdf, ARTIFACTS / f"{name}.pdf")
    if not shutil.which("pdftoppm"):
        return None
    subprocess.run(["pdftoppm", "-png", "-r", "80", "-singlefile", "-f", str(page), "-l", str(page),
                    str(pdf), str(ARTIFACTS / name)], check=True, capture_output=True)
    png = ARTIFACTS / f"{name}.png"
    assert png.stat().st_size > 10_000
    return png


def text_pdf(text: str, title: str, out: Path) -> Path:
    """Terminal output as an A4 page (monospace, as the terminal shows it), to render as PNG."""
    import weasyprint

    doc = (f"<html><head><meta charset='utf-8'><style>@page {{ size: A4; margin: 14mm }}"
           f"body {{ font: 8.5pt 'DejaVu Sans Mono' }} h1 {{ font: bold 10pt 'DejaVu Sans' }}"
           f"pre {{ white-space: pre-wrap; margin: 0 }}</style></head><body><h1>{html.escape(title)}</h1>"
           f"<pre>{html.escape(text)}</pre></body></html>")
    out.write_bytes(weasyprint.HTML(string=doc).write_pdf())
    return out
