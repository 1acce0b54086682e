"""The zero report as plain data, and its canonical JSON form.

The canonical bytes (sorted keys, no insignificant whitespace, UTF-8) are what
gets digested, signed and carried in the QR code; every rendering is derived
from them, so the printed page and the JSON always describe the same report.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from freeze.errors import InputError

REPORT_TYPE = "freeze-zero-report"
REPORT_VERSION = 1
QR_PREFIX = "freeze-zero-report/v1 sha256:"


def canonical_json(data: Any) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False).encode("utf-8")


@dataclass(frozen=True)
class ReportSection:
    title: str
    labels: tuple[str, ...]
    totals: tuple[str, ...]
    rows: tuple[tuple[tuple[str, ...], tuple[int | None, ...]], ...]  # (label values, total values)

    @property
    def nonzero_rows(self) -> int:
        return sum(1 for _, t in self.rows if any(v != 0 for v in t))

    @property
    def column_sums(self) -> tuple[int | None, ...]:
        sums: list[int | None] = [0] * len(self.totals)
        for _, t in self.rows:
            for i, v in enumerate(t):
                sums[i] = None if v is None or sums[i] is None else sums[i] + v  # type: ignore[operator]
        return tuple(sums)

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "labels": list(self.labels), "totals": list(self.totals),
                "rows": [{"labels": list(lab), "totals": list(tot)} for lab, tot in self.rows]}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ReportSection:
        labels, totals = tuple(d["labels"]), tuple(d["totals"])
        rows = []
        for r in d["rows"]:
            lab, tot = tuple(str(x) for x in r["labels"]), tuple(r["totals"])
            if len(lab) != len(labels) or len(tot) != len(totals):
                raise InputError(f"zero report section {d['title']!r}: row width does not match columns")
            if any(v is not None and (isinstance(v, bool) or not isinstance(v, int)) for v in tot):
                raise InputError(f"zero report section {d['title']!r}: totals must be integers")
            rows.append((lab, tot))
        return cls(str(d["title"]), labels, totals, tuple(rows))


@dataclass(frozen=True)
class ZeroReport:
    title: str
    election_id: str
    election_name: str
    generated_at_utc: str  # ISO 8601, from the database clock, inside the zero transaction
    generated_at_local: str  # same instant in the operator's local time zone
    system: dict[str, Any]  # database identity, manifest digest, hosts, tool version, backup digest
    sections: tuple[ReportSection, ...]
    signatures: tuple[str, ...]  # captions (roles) of the blank signature blocks
    run_id: str
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def all_zero(self) -> bool:
        return all(v == 0 for s in self.sections for _, t in s.rows for v in t)

    @property
    def nonzero_count(self) -> int:
        return sum(1 for s in self.sections for _, t in s.rows for v in t if v != 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": REPORT_TYPE, "version": REPORT_VERSION, "run_id": self.run_id,
            "title": self.title, "election": {"id": self.election_id, "name": self.election_name},
            "generated_at": {"utc": self.generated_at_utc, "local": self.generated_at_local},
            "system": self.system, "all_zero": self.all_zero,
            "sections": [s.to_dict() for s in self.sections],
            "signatures": list(self.signatures), "extra": self.extra,
        }

    def canonical_bytes(self) -> bytes:
        return canonical_json(self.to_dict())

    def digest(self) -> str:
        return hashlib.sha256(self.canonical_bytes()).hexdigest()

    def qr_payload(self) -> str:
        return QR_PREFIX + self.digest()

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> ZeroReport:
        try:
            if d.get("type") != REPORT_TYPE or d.get("version") != REPORT_VERSION:
                raise InputError(f"not a {REPORT_TYPE} v{REPORT_VERSION} document")
            report = cls(
                title=str(d["title"]), election_id=str(d["election"]["id"]),
                election_name=str(d["election"]["name"]),
                generated_at_utc=str(d["generated_at"]["utc"]),
                generated_at_local=str(d["generated_at"]["local"]),
                system=dict(d["system"]),
                sections=tuple(ReportSection.from_dict(s) for s in d["sections"]),
                signatures=tuple(str(s) for s in d["signatures"]), run_id=str(d["run_id"]),
                extra=dict(d.get("extra", {})),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise InputError(f"malformed zero report: missing or invalid field {exc}") from None
        if bool(d.get("all_zero")) != report.all_zero:
            raise InputError("malformed zero report: 'all_zero' contradicts the totals")
        return report

    @classmethod
    def from_bytes(cls, data: bytes) -> ZeroReport:
        try:
            d = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise InputError(f"zero report is not valid JSON: {exc}") from None
        if not isinstance(d, dict):
            raise InputError("zero report is not a JSON object")
        return cls.from_dict(d)
