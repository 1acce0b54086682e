"""Zero report: a plain data model with canonical JSON (model.py) and printable
renderings (render.py: HTML via jinja2, PDF via weasyprint, QR via segno)."""

from freeze.report.model import ReportSection, ZeroReport

__all__ = ["ReportSection", "ZeroReport"]
