"""The monitoring report the auditors deliver: the incident record as canonical JSON, HTML and PDF.

`build` turns the incident record into the report document (counts per host and
kind, per answer, every incident with its acknowledgement and explanation); its
canonical JSON is what is journaled (event `monitoring-report`, sha256 of the
bytes), and the HTML/PDF print that digest, so the paper can be tied to the
journal. Rendering reuses the zero report's machinery (jinja2 templates of
`freeze.report`, WeasyPrint for the PDF, the 'pdf' extra).
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freeze.durable import atomic_write
from freeze.evidence.codec import canonical_json, sha256_hex
from freeze.evidence.root import format_time
from freeze.intervention.incidents import ANSWERS, IncidentRecord

REPORT_SCHEMA = "freeze-monitoring-report/v1"


def build(record: IncidentRecord, *, title: str, now: dt.datetime | None = None) -> dict[str, Any]:
    incidents = sorted(record.incidents, key=lambda i: (i["started"], i["id"]))
    per_host_kind = Counter((i["host"], i["kind"]) for i in incidents)
    per_answer = Counter((i["answer"] or {}).get("status", "unanswered") for i in incidents)
    hosts = sorted({i["host"] for i in incidents})
    kinds = sorted({i["kind"] for i in incidents})
    return {
        "schema": REPORT_SCHEMA,
        "title": title,
        "election": record.data.get("election", ""),
        "generated": format_time(now or dt.datetime.now(dt.UTC)),
        "period": {"from": incidents[0]["started"] if incidents else None,
                   "to": max((i["ended"] or i["started"]) for i in incidents) if incidents else None},
        "totals": {"incidents": len(incidents),
                   "acknowledged": sum(1 for i in incidents if i["acknowledged"]),
                   "answered": sum(1 for i in incidents if i["answer"]),
                   "unanswered": sum(1 for i in incidents if not i["answer"])},
        "hosts": hosts,
        "kinds": kinds,
        "per_host_kind": [{"host": h, "kind": k, "count": per_host_kind[(h, k)]}
                          for h in hosts for k in kinds if per_host_kind[(h, k)]],
        "per_answer": {a: per_answer.get(a, 0) for a in (*ANSWERS, "unanswered")},
        "incidents": [{k: i[k] for k in ("id", "fingerprint", "kind", "host", "severity", "summary", "started",
                                         "ended", "acknowledged", "answer")} for i in incidents],
    }


@dataclass(frozen=True)
class Written:
    sha256: str
    files: list[Path]
    report: dict[str, Any]


def render_html(report: dict[str, Any], digest: str) -> str:
    from freeze.report.render import template_environment

    matrix = {(r["host"], r["kind"]): r["count"] for r in report["per_host_kind"]}
    return template_environment().get_template("monitoring_report.html").render(
        r=report, digest=digest, digest_groups=[digest[i:i + 8] for i in range(0, 64, 8)], matrix=matrix)


def write(record: IncidentRecord, out: Path, *, title: str, pdf: bool = True,
          now: dt.datetime | None = None) -> Written:
    """monitoring-report.json (canonical), .html and .pdf in `out` (created if missing)."""
    report = build(record, title=title, now=now)
    data = canonical_json(report)
    digest = sha256_hex(data)
    out.mkdir(parents=True, exist_ok=True)
    files = [out / "monitoring-report.json", out / "monitoring-report.html"]
    atomic_write(files[0], data)
    html = render_html(report, digest)
    atomic_write(files[1], html.encode("utf-8"))
    if pdf:
        from freeze.extras import require_extra

        weasyprint = require_extra("weasyprint", "pdf")
        files.append(out / "monitoring-report.pdf")
        atomic_write(files[2], weasyprint.HTML(string=html).write_pdf())
    return Written(digest, files, report)
