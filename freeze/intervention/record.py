"""The intervention record: what a witnessed change did, as data (no I/O here).

`split_drift` sorts the drift between a host's manifest before and after the
change into the changes the plan declared and the ones it did not; both lists
go into the record, so a change that touched more than it declared shows the
extra entries in its own signed record (never hidden, never dropped).
`build_record` makes the record document (canonical JSON) that the
`intervention` statement names by digest; the verifier recomputes the drift
from the two manifests and compares it with the record (`check_record_drift`).
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from freeze.drift import DriftEntry, DriftReport
from freeze.errors import VerificationError
from freeze.intervention.plan import Declared, Witness

RECORD_SCHEMA = "freeze-intervention/v1"


@dataclass(frozen=True)
class SplitDrift:
    declared: list[dict[str, Any]]
    undeclared: list[dict[str, Any]]


def _item(e: DriftEntry, matched: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"category": e.category, "kind": e.kind, "key": e.key,
                           "attributes": [c.attribute for c in e.changes]}
    if matched is not None:
        out["declared_by"] = matched
    return out


def matches(declared: Sequence[Declared], kind: str, key: str) -> Declared | None:
    """The first declared pattern that covers an entry (kind equal, key matching the glob)."""
    for d in declared:
        if d.kind == kind and fnmatch.fnmatchcase(key, d.pattern):
            return d
    return None


def split_drift(report: DriftReport, declared: Sequence[Declared]) -> SplitDrift:
    out = SplitDrift([], [])
    for e in report.entries:
        d = matches(declared, e.kind, e.key)
        (out.declared if d else out.undeclared).append(_item(e, d.text() if d else None))
    return out


def drift_keys(items: Iterable[dict[str, Any]]) -> set[tuple[str, str, str]]:
    return {(str(i.get("category")), str(i.get("kind")), str(i.get("key"))) for i in items}


def check_record_drift(host: str, recorded: dict[str, Any], recomputed: DriftReport,
                       declared: Sequence[Declared]) -> None:
    """The record's drift for `host` must be exactly what the manifests give, split the same way."""
    split = split_drift(recomputed, declared)
    for what in ("declared", "undeclared"):
        got = drift_keys(recorded.get(what, []))
        want = drift_keys(getattr(split, what))
        if got != want:
            missing = sorted(want - got)
            extra = sorted(got - want)
            detail = []
            if missing:
                detail.append("the manifests show " + ", ".join(" ".join(m) for m in missing[:3])
                              + " which the record does not list")
            if extra:
                detail.append("the record lists " + ", ".join(" ".join(m) for m in extra[:3])
                              + " which the manifests do not show")
            raise VerificationError(f"{host}: {what} changes differ from the manifests: " + "; ".join(detail))


def witness_dict(w: Witness, signs: bool) -> dict[str, Any]:
    return {"person": w.person, "name": w.name, "role": w.role, "organisation": w.organisation,
            "signs": signs}


def present_people(record: dict[str, Any]) -> set[str]:
    """The root person ids the record lists as present: the only people whose signatures belong on it."""
    return {str(w["person"]) for w in record.get("present", []) if isinstance(w, dict) and w.get("person")}


def verdict(hosts: dict[str, dict[str, Any]], change_status: int) -> str:
    if change_status != 0:
        return "change-failed"
    if any(h["drift"]["undeclared"] for h in hosts.values()):
        return "undeclared-changes"
    return "as-declared"


def build_record(*, ident: str, procedure: str, reason: str, election: str, ceremony: str, sequence: int,
                 present: Sequence[Witness], hosts: dict[str, dict[str, Any]], declared: Sequence[Declared],
                 change: dict[str, Any], started: str, ended: str, plan: dict[str, Any],
                 profile: dict[str, Any]) -> dict[str, Any]:
    """The record document: everything the signers vouch for, in one canonical JSON."""
    return {
        "schema": RECORD_SCHEMA,
        "id": ident,
        "procedure": procedure,
        "reason": reason,
        "election": election,
        "ceremony": ceremony,
        "sequence": sequence,
        "present": [witness_dict(w, w.person is not None) for w in present],
        "hosts": hosts,
        "declared": [d.text() for d in declared],
        "change": change,
        "started": started,
        "ended": ended,
        "plan": plan,
        "profile": profile,
        "verdict": verdict(hosts, int(change.get("exit_status", 0))),
    }


def describe_split(split: dict[str, Any]) -> str:
    d, u = split.get("declared", []), split.get("undeclared", [])
    text = f"{len(d)} declared change(s)"
    if u:
        text += f", {len(u)} UNDECLARED: " + "; ".join(
            f"{i['category']} {i['kind']} {i['key']}" for i in u[:5]) + (" ..." if len(u) > 5 else "")
    else:
        text += ", nothing undeclared"
    return text
