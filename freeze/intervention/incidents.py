"""The incident record: every alert raised during the count, acknowledged and explained.

Alerts come from Alertmanager's API (`GET /api/v2/alerts`: a JSON list of
{labels, annotations, startsAt, endsAt, fingerprint, status}) or from a simple
YAML list ({alert, host, severity, started, summary}). Each alert becomes one
incident (deduplicated by fingerprint and start time, so importing the same
API answer twice adds nothing). The directorate answers each one: explained,
false-positive, escalated, or led-to-intervention (naming the intervention's
id; with the records directory, its signed record's digest is kept).

The record is one JSON file; `monitoring_report` turns it into the report the
auditors deliver (canonical JSON whose digest is journaled, HTML and PDF).
This module is the data model and its file I/O only; rendering is in
`freeze.intervention.monitoring_report`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freeze.durable import atomic_write
from freeze.errors import InputError
from freeze.inputs import read_input, read_yaml_input

RECORD_SCHEMA = "freeze-incidents/v1"
ANSWERS = ("explained", "false-positive", "escalated", "led-to-intervention")


def _time(value: object, what: str) -> str:
    import datetime as dt

    if isinstance(value, dt.datetime):
        t = value
    else:
        try:
            t = dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))
        except ValueError:
            raise InputError(f"{what}: not a time: {value!r}") from None
    if t.tzinfo is None:
        raise InputError(f"{what}: a time needs a time zone (end it with Z for UTC)")
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _host(labels: Mapping[str, Any]) -> str:
    for k in ("host", "hostname", "nodename", "instance"):
        v = labels.get(k)
        if isinstance(v, str) and v:
            # instance is host:port (scrape target); a URL target keeps its host part
            v = v.split("://", 1)[-1].split("/", 1)[0]
            return v.rsplit(":", 1)[0] if v.count(":") == 1 else v
    return "(no host)"


@dataclass(frozen=True)
class Alert:
    fingerprint: str
    kind: str  # alertname
    host: str
    severity: str
    summary: str
    started: str
    ended: str | None
    labels: dict[str, str]


def parse_alertmanager(data: object, where: str) -> list[Alert]:
    """Alertmanager API v2 `GET /api/v2/alerts` (a list of gettable alerts)."""
    if not isinstance(data, list):
        raise InputError(f"{where}: expected Alertmanager's JSON list of alerts (/api/v2/alerts)")
    out = []
    for i, a in enumerate(data):
        w = f"{where}: alert [{i}]"
        if not isinstance(a, Mapping) or not isinstance(a.get("labels"), Mapping):
            raise InputError(f"{w}: expected an object with labels")
        labels = {str(k): str(v) for k, v in a["labels"].items()}
        if "alertname" not in labels:
            raise InputError(f"{w}: labels.alertname missing")
        ann: Mapping[str, Any] = a["annotations"] if isinstance(a.get("annotations"), Mapping) else {}
        started = _time(a.get("startsAt"), f"{w}.startsAt")
        ends = a.get("endsAt")
        state = a["status"].get("state") if isinstance(a.get("status"), Mapping) else None
        ended = _time(ends, f"{w}.endsAt") if ends and state != "active" else None
        fp = str(a.get("fingerprint") or hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16])
        out.append(Alert(fp, labels["alertname"], _host(labels), labels.get("severity", ""),
                         str(ann.get("summary") or ann.get("description") or ""), started, ended, labels))
    return out


def parse_simple(data: object, where: str) -> list[Alert]:
    """A YAML list of {alert, host, severity, started, summary[, ended]} (alerts noted by hand or by another tool)."""
    if not isinstance(data, list):
        raise InputError(f"{where}: expected a list of alerts ({{alert, host, started, ...}})")
    out = []
    for i, a in enumerate(data):
        w = f"{where}: [{i}]"
        if not isinstance(a, Mapping):
            raise InputError(f"{w}: expected a mapping with alert, host and started")
        unknown = set(a) - {"alert", "host", "severity", "started", "ended", "summary", "fingerprint"}
        if unknown:
            raise InputError(f"{w}: unknown field(s) {', '.join(sorted(map(str, unknown)))}")
        for k in ("alert", "host", "started"):
            if not a.get(k):
                raise InputError(f"{w}.{k}: missing")
        labels = {"alertname": str(a["alert"]), "host": str(a["host"])}
        started = _time(a["started"], f"{w}.started")
        fp = str(a.get("fingerprint") or hashlib.sha256(
            json.dumps([labels, started], sort_keys=True).encode()).hexdigest()[:16])
        out.append(Alert(fp, str(a["alert"]), str(a["host"]), str(a.get("severity", "")), str(a.get("summary", "")),
                         started, _time(a["ended"], f"{w}.ended") if a.get("ended") else None, labels))
    return out


def read_alerts(path: Path, fmt: str) -> list[Alert]:
    if fmt == "alertmanager":
        try:
            data = json.loads(read_input(path, "alerts"))
        except ValueError as exc:
            raise InputError(f"{path}: not JSON ({exc})") from None
        return parse_alertmanager(data, str(path))
    return parse_simple(read_yaml_input(path, "alerts"), str(path))


class IncidentRecord:
    """The incident record file: load, add alerts, answer, save."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path = path
        self.data = data

    @classmethod
    def open(cls, path: Path, *, create: bool = False, election: str = "") -> IncidentRecord:
        if not path.exists():
            if not create:
                raise InputError(f"{path}: no incident record (import alerts first)")
            return cls(path, {"schema": RECORD_SCHEMA, "election": election, "incidents": []})
        try:
            data = json.loads(read_input(path, "incident record"))
        except ValueError as exc:
            raise InputError(f"{path}: not an incident record ({exc})") from None
        if not isinstance(data, dict) or data.get("schema") != RECORD_SCHEMA or not isinstance(
                data.get("incidents"), list):
            raise InputError(f"{path}: not a {RECORD_SCHEMA} incident record")
        return cls(path, data)

    @property
    def incidents(self) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.data["incidents"]
        return items

    def add(self, alerts: list[Alert], *, source: str) -> int:
        seen = {(i["fingerprint"], i["started"]) for i in self.incidents}
        added = 0
        for a in alerts:
            if (a.fingerprint, a.started) in seen:
                continue
            seen.add((a.fingerprint, a.started))
            self.incidents.append({
                "id": f"I-{len(self.incidents) + 1:04d}", "fingerprint": a.fingerprint, "kind": a.kind,
                "host": a.host, "severity": a.severity, "summary": a.summary, "started": a.started,
                "ended": a.ended, "labels": a.labels, "source": source, "acknowledged": None, "answer": None,
                "history": []})
            added += 1
        return added

    def find(self, ident: str) -> dict[str, Any]:
        for i in self.incidents:
            if ident in (i["id"], i["fingerprint"]):
                return i
        raise InputError(f"{self.path}: no incident {ident!r} (give its id I-NNNN or fingerprint)")

    def acknowledge(self, ident: str, *, by: str, at: str) -> dict[str, Any]:
        inc = self.find(ident)
        if not by.strip():
            raise InputError("--by: who acknowledged the alert")
        if inc["acknowledged"] is None:
            ack = {"by": by, "at": _time(at, "--at")}
            inc["acknowledged"] = ack
            inc["history"].append({"event": "acknowledged", **ack})
        return inc

    def answer(self, ident: str, *, status: str, explanation: str, by: str, at: str,
               intervention: str | None = None, intervention_record_sha256: str | None = None) -> dict[str, Any]:
        if status not in ANSWERS:
            raise InputError(f"--status {status!r}: one of {', '.join(ANSWERS)}")
        if not explanation.strip():
            raise InputError("--explanation: the directorate's explanation is required")
        if (status == "led-to-intervention") != bool(intervention):
            raise InputError("--intervention ID goes with --status led-to-intervention, and only with it")
        inc = self.find(ident)
        if inc["acknowledged"] is None:  # an answer acknowledges the alert too
            self.acknowledge(ident, by=by, at=at)
        answer: dict[str, Any] = {"status": status, "explanation": explanation, "by": by, "at": _time(at, "--at")}
        if intervention:
            answer["intervention"] = {"id": intervention, "record_sha256": intervention_record_sha256}
        inc["answer"] = answer
        inc["history"].append({"event": "answered", **answer})
        return inc

    def save(self) -> None:
        atomic_write(self.path, json.dumps(self.data, indent=2, sort_keys=True).encode() + b"\n")


def intervention_record_digest(records: Path, ident: str) -> str:
    """sha256 of the record.json of intervention `ident` in a records directory (InputError if none)."""
    found = sorted(d for d in records.glob(f"*-{ident}") if (d / "record.json").is_file())
    if not found:
        raise InputError(f"{records}: no intervention record {ident!r}")
    return hashlib.sha256(read_input(found[-1] / "record.json", "record")).hexdigest()
