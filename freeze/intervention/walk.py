"""`verify-evidence --interventions DIR`: walk the journal from the freeze through every intervention.

Offline, files only, nothing executed. After the freeze bundle has been verified,
the records directory the interventions wrote (`RECORDS/journal/entries.jsonl`,
its checkpoints, one directory per intervention) is checked:

  * the journal continues the bundle's: its first entries are the bundle's, byte
    for byte (no gap, nothing rewritten), and its latest checkpoint covers every
    entry, is signed by the root's log key and cosigned as the root requires;
  * step 0 is the freeze: who signed it (name, role, organisation);
  * each `intervention` entry: its record envelope is the statement the journal
    names, meets the root's `intervention` threshold, is bound to this ceremony,
    follows the previous one (`sequence`, `supersedes`); record.json, change.log
    and the before/after manifests are the files it names; each host's `before`
    is the reference at that time (the freeze's signed manifest, or the previous
    intervention's `after`); and the drift recomputed from the two manifests is
    exactly the record's, declared and undeclared;
  * an `intervention-start` without its record, and a monitoring report whose
    file differs from its journaled digest, fail.

Each step is one check line naming who was present and whether the signatures
meet the threshold.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

from freeze.drift import compare
from freeze.errors import InputError, VerificationError
from freeze.evidence import merkle, statement
from freeze.evidence.codec import parse_json, sha256_hex
from freeze.evidence.dsse import Envelope
from freeze.evidence.journal import parse_entry
from freeze.evidence.note import Checkpoint, SignedNote
from freeze.evidence.policy import count_checkpoint, count_envelope
from freeze.evidence.root import Root
from freeze.evidence.verify import BundleReader, Check, Report, check_checkpoint_note
from freeze.intervention.plan import parse_declared
from freeze.intervention.record import check_record_drift, describe_split, present_people
from freeze.manifest import FLEET_SCHEMA, Manifest


def _person(root: Root, pid: str) -> str:
    p = root.people.get(pid)
    if p is None:
        return pid
    org = f", {p.organisation}" if p.organisation else ""
    return f"{p.name} ({p.role}{org})"


def _present(record: dict[str, Any], signers: dict[str, str]) -> str:
    out = []
    for w in record.get("present", []):
        org = f", {w.get('organisation')}" if w.get("organisation") else ""
        mark = "signed" if w.get("person") in signers else ("did not sign" if w.get("person") else "no key")
        out.append(f"{w.get('name')} ({w.get('role')}{org}; {mark})")
    return ", ".join(out) or "nobody listed"


def _freeze_references(reader: BundleReader, idx: dict[str, Any]) -> dict[str, str] | str:
    """Host -> signed manifest sha256 from the bundle's manifest statement (a fleet manifest or one manifest)."""
    st = next((s for s in idx.get("statements", []) if isinstance(s, dict) and s.get("type") == "manifest"), None)
    if st is None:
        return {}
    data = reader.read(st.get("document"))
    try:
        doc = json.loads(data)
    except ValueError:
        doc = None
    if isinstance(doc, dict) and doc.get("schema") == FLEET_SCHEMA and isinstance(doc.get("manifests"), dict):
        return {h: str(e.get("sha256")) for h, e in doc["manifests"].items() if isinstance(e, dict)}
    return sha256_hex(data)  # one host's manifest: any host name


def verify_interventions(base: Path, records: Path, report: Report) -> None:
    root: Root | None = report.facts.get("root")
    if root is None:
        report.checks.append(Check("interventions", False, "not walked: the ceremony root did not verify"))
        return
    reader = BundleReader(base)
    rec = BundleReader(records)
    idx = parse_json(reader.read("bundle.json"), what="bundle.json")
    state: dict[str, Any] = {}

    def journal() -> str:
        raw = rec.read("journal/entries.jsonl")
        if raw and not raw.endswith(b"\n"):
            raise InputError("journal/entries.jsonl does not end with a newline")
        entries = raw.split(b"\n")[:-1] if raw else []
        frozen_raw = reader.read((idx.get("journal") or {}).get("entries"))
        frozen = frozen_raw.split(b"\n")[:-1] if frozen_raw else []
        if entries[: len(frozen)] != frozen:
            differ = next((i for i, (a, b) in enumerate(zip(entries, frozen, strict=False)) if a != b),
                          min(len(entries), len(frozen)))
            raise VerificationError(f"the journal does not continue the freeze's: entry #{differ} differs from "
                                    "the bundle's (removed, changed or reordered)")
        parsed = [parse_entry(e, pos) for pos, e in enumerate(entries)]
        leaves = [merkle.leaf_hash(e) for e in entries]
        notes = sorted((p for p in records.glob("journal/checkpoint-*.note")),
                       key=lambda p: int(p.stem.split("-")[1]) if p.stem.split("-")[1].isdigit() else -1)
        if not notes:
            raise VerificationError("no checkpoint of the journal after the freeze")
        latest = notes[-1]
        note = SignedNote.parse(rec.read(f"journal/{latest.name}").decode("utf-8"))
        cp = Checkpoint.parse_body(note.text)
        check_checkpoint_note(root, note, cp, latest.name)
        counted = count_checkpoint(root, note)
        if not counted.ok:
            raise VerificationError(f"{latest.name}: cosignatures below threshold: {counted.describe()}")
        if cp.size > len(entries):
            raise VerificationError(f"journal truncated: checkpoint at size {cp.size}, {len(entries)} entries")
        if merkle.root(leaves[: cp.size]) != cp.root:
            raise VerificationError(f"the journal does not match the cosigned checkpoint at size {cp.size} "
                                    "(an entry was removed, changed or reordered)")
        if cp.size < len(entries):
            raise VerificationError(f"{len(entries) - cp.size} journal entr(y/ies) after the last cosigned "
                                    f"checkpoint (size {cp.size}): not covered, could be cut off unseen")
        state.update(parsed=parsed, frozen=len(frozen))
        return (f"{len(entries)} entries; the first {len(frozen)} are the freeze bundle's byte for byte; "
                f"cosigned checkpoint at size {cp.size} ({counted.describe().removeprefix('checkpoint: ')})")

    if not report.run("journal after the freeze", journal):
        return

    def freeze_step() -> str:
        signers: dict[str, dict[str, str]] = report.facts.get("signers", {})
        people = sorted({p for by_type in signers.values() for p in by_type})
        types = ", ".join(f"{t} ({len(s)} signer(s))" for t, s in sorted(signers.items()))
        return "the freeze: signed by " + ("; ".join(_person(root, p) for p in people) or "nobody") + \
            f"; statements {types}; thresholds as checked above"

    report.run("step 0", freeze_step)
    refs = _freeze_references(reader, idx)
    current: dict[str, str] = {}  # host -> the reference sha256 after the previous step
    previous_statement: str | None = None
    sequence = 0
    started: dict[str, int] = {}
    step = 0
    for pos, entry in enumerate(state["parsed"]):
        event = entry.get("event")
        details = entry.get("details") or {}
        if event == "intervention-start":
            started[str(details.get("id"))] = pos
        elif event == "intervention-refused":
            report.checks.append(Check(f"journal #{pos}", True, f"intervention {details.get('id')} refused before any "
                                       f"change: {details.get('reason')}"))
        elif event == "intervention":
            step += 1
            sequence += 1
            name = f"step {step}: intervention {details.get('id')} (journal #{pos})"
            ok = report.run(name, partial(_check_intervention, rec, root, entry, sequence, previous_statement,
                                          refs, current))
            if not ok:
                current.clear()  # the chain of references is broken here
            previous_statement = str(entry.get("subject", {}).get("sha256"))
            started.pop(str(details.get("id")), None)
        elif event == "monitoring-report":
            report.run(f"journal #{pos}: monitoring report", partial(_check_monitoring, rec, entry))
    if step:
        extra = [c.name.split(": ", 1)[1].split(" (journal")[0] for c in report.checks
                 if c.name.startswith("step ") and c.ok and "UNDECLARED" in c.detail]
        report.checks.append(Check("interventions", True, f"{step} witnessed intervention(s) after the freeze; "
                                   + (f"{len(extra)} touched MORE than declared (shown in their signed record): "
                                      + ", ".join(extra) if extra else "each changed only what it declared")))
    for ident, pos in sorted(started.items(), key=lambda kv: kv[1]):
        report.checks.append(Check(f"journal #{pos}", False,
                                   f"intervention {ident} started but its record is not in the journal"))


def _check_intervention(rec: BundleReader, root: Root, entry: dict[str, Any], sequence: int,
                        previous: str | None, refs: dict[str, str] | str, current: dict[str, str]) -> str:
    details = entry.get("details") or {}
    d = str(details.get("directory"))
    env = Envelope.from_bytes(rec.read(f"{d}/record.dsse.json"), what=f"{d}/record.dsse.json")
    if sha256_hex(env.payload) != entry.get("subject", {}).get("sha256"):
        raise VerificationError(f"{d}/record.dsse.json is not the statement the journal records "
                                "(swapped or edited)")
    result = count_envelope(root, "intervention", env)
    if "intervention" not in root.thresholds:
        raise VerificationError("the ceremony root sets no threshold for intervention records")
    st = statement.parse(env, "intervention")
    statement.check_ceremony_binding(st, [root])
    record_bytes = rec.read(f"{d}/record.json")
    if sha256_hex(record_bytes) != st.subjects[0]["digest"]["sha256"]:
        raise VerificationError(f"{d}/record.json differs from the record the signed statement names (tampered)")
    record = parse_json(record_bytes, what=f"{d}/record.json")
    present = _present(record, result.signers)
    absent = sorted(set(result.signers) - present_people(record))
    if absent:
        raise VerificationError(f"signed by {', '.join(_person(root, a) for a in absent)}, not listed as present "
                                "in the record: only those present sign it")
    if not result.ok:
        raise VerificationError(f"present: {present}; signatures: {result.describe()} - THRESHOLD NOT MET")
    if st.sequence != sequence or st.supersedes != previous:
        raise VerificationError(f"sequence {st.sequence} / supersedes {st.supersedes}: the journal's "
                                f"intervention #{sequence} must supersede {previous}")
    named = {s.get("name"): s["digest"]["sha256"] for s in st.subjects}
    log = rec.read(f"{d}/change.log")
    if sha256_hex(log) != named.get("change.log") or sha256_hex(log) != record["change"]["log"]["sha256"]:
        raise VerificationError(f"{d}/change.log is not the log the record names (edited)")
    declared = [parse_declared(x) for x in record.get("declared", [])]
    from freeze.profile import load_profile

    profile = load_profile(str(rec.path(f"{d}/profile.yml")))
    hosts = []
    for host, h in sorted(record["hosts"].items()):
        before_b = rec.read(f"{d}/{h['before']['file']}")
        after_b = rec.read(f"{d}/{h['after']['file']}")
        if sha256_hex(before_b) != h["before"]["sha256"]:
            raise VerificationError(f"{host}: the before-manifest differs from the record's digest")
        after_named = named.get(f"after/{host}.manifest.json")
        if sha256_hex(after_b) != h["after"]["sha256"] or after_named != h["after"]["sha256"]:
            raise VerificationError(f"{host}: the after-manifest differs from the signed record's digest")
        want = current.get(host) or (refs.get(host) if isinstance(refs, dict) else refs)
        if want is None:
            raise VerificationError(f"{host}: no signed reference before this step (not in the freeze's manifest)")
        if h["before"]["sha256"] != want:
            raise VerificationError(f"{host}: the change started from manifest sha256:{h['before']['sha256'][:16]}..., "
                                    f"not the signed reference sha256:{want[:16]}... (a gap in the chain)")
        before, after = Manifest.from_bytes(before_b), Manifest.from_bytes(after_b)
        if profile.digest != after.profile_digest:
            raise VerificationError(f"{host}: profile.yml is not the profile the manifests were taken with")
        check_record_drift(host, h["drift"], compare(before, after, profile), declared)
        current[host] = h["after"]["sha256"]
        hosts.append(f"{host} {describe_split(h['drift'])}")
    status = record["change"].get("exit_status")
    return (f"{record.get('procedure')} {record.get('started')} -> {record.get('ended')}; present: {present}; "
            f"signatures: {result.describe()} - met; change exit {status}, log sha256:{sha256_hex(log)[:16]}...; "
            + "; ".join(hosts) + f"; verdict {record.get('verdict')}")


def _check_monitoring(rec: BundleReader, entry: dict[str, Any]) -> str:
    name = str(entry.get("subject", {}).get("name"))
    want = entry.get("subject", {}).get("sha256")
    rel = f"monitoring/{name}"
    if not rec.path(rel).exists():
        return f"{name} sha256:{want} (file not provided in the records directory: not compared)"
    got = sha256_hex(rec.read(rel))
    if got != want:
        raise VerificationError(f"{rel} has sha256 {got}, the journal records {want} (report edited)")
    details = entry.get("details") or {}
    return (f"{name} sha256:{got} matches; {details.get('incidents')} incident(s), "
            f"{details.get('unanswered')} unanswered")
