"""Carry out a witnessed intervention: check, change, snapshot, record, journal.

Order (nothing on a host changes before step 3):
  1. each affected host's CURRENT reference manifest is proven signed: the
     freeze's signed manifest (or fleet manifest), or the `after` manifest of the
     last closed intervention whose record meets the root's threshold;
  2. each host is collected and compared with it: any drift refuses (exit 9),
     and the refusal is journaled;
  3. `intervention-start` is journaled, then the change runs (commands or a
     playbook) with stdout+stderr kept in `change.log`;
  4. new manifests are taken, the drift before -> after is split into declared
     and undeclared changes, the record and its `intervention` statement are
     written and the statement is journaled; the log key signs a checkpoint;
  5. (`close`, after the people present have signed with `freeze sign` and the
     witnesses cosigned the checkpoint) the record must meet the threshold, the
     cosigned checkpoint is stored, the journal exported next to the records,
     and the new manifests become the reference.

Taking a manifest is pluggable (`Collect`): the default collects a host with the
profile through this machine (`collect: local`) or SSH (`collect: ssh`).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freeze.drift import DriftReport, check_profile_matches, compare
from freeze.durable import atomic_write, sha256_file
from freeze.errors import InputError, RefusedError, VerificationError
from freeze.evidence import statement
from freeze.evidence.ceremony import load_root, verify_envelope
from freeze.evidence.codec import canonical_json, parse_json, sha256_hex
from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from freeze.evidence.journal import Journal, parse_entry
from freeze.evidence.keys import PassphraseSource, load_signer
from freeze.evidence.note import Checkpoint, SignedNote
from freeze.evidence.policy import count_checkpoint
from freeze.evidence.root import Root, format_time
from freeze.inputs import read_input
from freeze.intervention.plan import HostSpec, InterventionPlan, load_plan
from freeze.intervention.record import build_record, present_people, split_drift
from freeze.manifest import Manifest
from freeze.profile import Profile, load_profile

Collect = Callable[[HostSpec, Profile], Manifest]
REFERENCE_FILE = "reference.json"
JOURNAL_DIR = "journal"


def take_manifest(host: HostSpec, profile: Profile) -> Manifest:
    """The default `Collect`: a snapshot of `host` with `profile` (this machine or SSH)."""
    from freeze.snapshot import take_snapshot
    from freeze.transport import transport_from_options

    transport = None
    if host.collect == "ssh":
        transport = transport_from_options(host=host.ssh, identity=host.identity,
                                           known_hosts=host.known_hosts, sudo=host.sudo)
    m = take_snapshot(profile, transport=transport)
    return Manifest.from_bytes(m.to_bytes())  # what is written is what is compared


@dataclass(frozen=True)
class HostReference:
    host: str
    path: Path
    sha256: str
    source: str  # "freeze" or "intervention ID"
    how: list[str]

    def manifest(self) -> Manifest:
        return Manifest.from_bytes(read_input(self.path, "reference manifest"), source=str(self.path))


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def read_reference_file(records: Path) -> dict[str, Any]:
    f = records / REFERENCE_FILE
    if not f.exists():
        return {"schema": "freeze-intervention-reference/v1", "hosts": {}}
    d = parse_json(read_input(f, "reference file"), what=str(f))
    if not isinstance(d, dict) or not isinstance(d.get("hosts"), dict):
        raise InputError(f"{f}: not a freeze intervention reference file")
    return d


def record_statement(record_dir: Path) -> tuple[Envelope, statement.Statement]:
    env = Envelope.from_bytes(read_input(record_dir / "record.dsse.json", "record envelope"),
                              what=str(record_dir / "record.dsse.json"))
    return env, statement.parse(env, "intervention")


def check_record_signed(record_dir: Path, root_file: Path) -> list[str]:
    """The record envelope meets the root's intervention threshold, names record.json, and only
    people the record lists as present signed it."""
    report = verify_envelope(record_dir / "record.dsse.json", "intervention", root=root_file,
                             document=record_dir / "record.json")
    if not report.ok:
        failed = "; ".join(c.text for c in report.checks if not c.ok)
        raise VerificationError(f"intervention record {record_dir.name} is not signed as the root requires: "
                                f"{failed}")
    record = parse_json(read_input(record_dir / "record.json", "record"), what="record.json")
    absent = sorted(set(report.threshold.signers) - present_people(record))
    if absent:
        raise VerificationError(f"intervention record {record_dir.name} is signed by {', '.join(absent)}, who "
                                "the record does not list as present (freeze remove-signature takes it out)")
    return [report.threshold.describe()]


def resolve_reference(plan: InterventionPlan, host: str) -> HostReference:
    """The host's current reference manifest, proven signed (VerificationError if not)."""
    from freeze.fleet import check_signed_manifest

    ref = read_reference_file(plan.records)["hosts"].get(host)
    latest = latest_intervention_on(plan, host)
    named = ref.get("record_dir") if ref else None
    if latest != named:
        # reference.json is a convenience, never trusted: the journal says which record is the last on the host
        raise VerificationError(
            f"host {host}: the journal's last intervention on it is {latest or 'none'}, but the reference names "
            f"{named or 'the freeze'}" + (" (close it first: freeze intervention close ITS-PLAN)" if latest else ""))
    if ref is None:
        path = plan.reference.manifests / f"{host}.manifest.json"
        if not path.is_file():
            raise InputError(f"host {host}: no reference manifest {path}")
        how = check_signed_manifest(path, plan.reference.envelope, plan.root, host=host,
                                    fleet=plan.reference.fleet)
        return HostReference(host, path, sha256_file(path), "freeze", how)
    record_dir = plan.records / str(ref.get("record_dir"))
    path, digest, how = check_signed_after_manifest(record_dir, plan.root, host)
    return HostReference(host, path, digest, f"intervention {ref.get('id')}", how)


def check_signed_after_manifest(record_dir: Path, root_file: Path, host: str) -> tuple[Path, str, list[str]]:
    """`host`'s manifest taken after the intervention of `record_dir`, proven to be the one its
    signed record names: (path, sha256, how it is signed). VerificationError if not.

    What makes it the host's new reference (here and for the freeze_watch role's checker)."""
    path = record_dir / "after" / f"{host}.manifest.json"
    if not path.is_file():
        raise InputError(f"host {host}: intervention record {record_dir.name} has no after-manifest {path.name}")
    how = check_record_signed(record_dir, root_file)
    _, st = record_statement(record_dir)
    digest = sha256_file(path)
    named = {s.get("name"): s["digest"]["sha256"] for s in st.subjects}
    if named.get(f"after/{host}.manifest.json") != digest:
        raise VerificationError(f"host {host}: {path} (sha256 {digest}) is not the after-manifest the signed "
                                f"record {record_dir.name} names")
    return path, digest, [*how, f"manifest sha256:{digest} is host {host}'s after-manifest in the signed "
                                f"record of intervention {record_dir.name}"]


def latest_intervention_on(plan: InterventionPlan, host: str) -> str | None:
    """The directory of the last intervention the journal records on `host` (None: none since the freeze)."""
    latest = None
    for pos, e in enumerate(Journal.open(plan.journal).entries()):
        d = parse_entry(e, pos)
        if d.get("event") != "intervention":
            continue
        directory = str((d.get("details") or {}).get("directory"))
        record = plan.records / directory / "record.json"
        if not record.is_file():
            raise InputError(f"{record}: the journal records intervention {directory} but its record is missing")
        if host in parse_json(read_input(record, "record"), what=str(record)).get("hosts", {}):
            latest = directory
    return latest


@dataclass
class HostCheck:
    reference: HostReference
    drift: DriftReport


def check_hosts(plan: InterventionPlan, collect: Collect = take_manifest) -> dict[str, HostCheck]:
    """Each host of the plan against its current signed reference (continuous verification)."""
    profile = load_profile(str(plan.profile))
    out = {}
    for h in plan.hosts:
        ref = resolve_reference(plan, h.name)
        m = ref.manifest()
        check_profile_matches(m, profile)
        out[h.name] = HostCheck(ref, compare(m, collect(h, profile), profile))
    return out


@dataclass
class RunResult:
    directory: Path
    record: dict[str, Any]
    record_sha256: str
    statement_sha256: str
    journal_position: int
    checkpoint: Checkpoint
    refused: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def undeclared(self) -> int:
        return sum(len(h["drift"]["undeclared"]) for h in self.record["hosts"].values())

    @property
    def change_status(self) -> int:
        return int(self.record["change"]["exit_status"])


def _journal_position(journal: Journal) -> tuple[int, str | None, list[dict[str, Any]]]:
    history = [d for d in (parse_entry(e, pos) for pos, e in enumerate(journal.entries()))
               if d.get("event") == "intervention"]
    previous = history[-1].get("subject", {}).get("sha256") if history else None
    return len(history) + 1, previous, history


def _run_change(plan: InterventionPlan, log: Path) -> tuple[int, list[list[str]]]:
    """Run the change; every byte of stdout and stderr goes to `log`. (exit status, argv run)"""
    ran: list[list[str]] = []
    if plan.change.playbook is not None:
        argv = [shutil.which("ansible-playbook") or str(Path(sys.executable).with_name("ansible-playbook"))]
        if plan.change.inventory is not None:
            argv += ["-i", str(plan.change.inventory)]
        if plan.change.limit:
            argv += ["--limit", plan.change.limit]
        steps = [[*argv, str(plan.change.playbook)]]
    else:
        steps = [["/bin/sh", "-c", c] for c in plan.change.commands]
    status = 0
    with open(log, "wb") as fh:
        for argv in steps:
            ran.append(argv)
            fh.write(f"$ {' '.join(argv) if argv[0] != '/bin/sh' else argv[2]}\n".encode())
            fh.flush()
            try:
                status = subprocess.run(argv, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                        cwd=plan.path.parent, timeout=plan.change.timeout, check=False).returncode
            except subprocess.TimeoutExpired:
                status = 124
                fh.write(f"\n[freeze] timed out after {plan.change.timeout} s\n".encode())
            except OSError as exc:
                status = 127
                fh.write(f"\n[freeze] could not run: {exc}\n".encode())
            fh.write(f"[freeze] exit status {status}\n".encode())
            fh.flush()
            if status != 0:
                break
        os.fsync(fh.fileno())
    return status, ran


def _check_people(plan: InterventionPlan, root: Root) -> InterventionPlan:
    """The plan again, with the root's people: the ids in `present` must be the root's, and enough of them."""
    plan = load_plan(plan.path, people=root.people)
    if "intervention" not in root.thresholds:
        raise InputError("the ceremony root sets no threshold for intervention records (thresholds.intervention): "
                         "nobody could make the record count; rotate the root to add one")
    need = root.thresholds["intervention"]
    present_roles: dict[str, int] = {}
    for w in plan.present:
        if w.person:
            present_roles[w.role] = present_roles.get(w.role, 0) + 1
    short = [f"{role} {present_roles.get(role, 0)}/{n}" for role, n in need.items()
             if present_roles.get(role, 0) < n]
    if short:
        raise RefusedError("too few people present to sign the record as the root requires: " + ", ".join(short))
    return plan


def run_intervention(plan: InterventionPlan, passphrases: PassphraseSource, *,
                     collect: Collect = take_manifest, now: Callable[[], dt.datetime] = _now) -> RunResult:
    _, root = load_root(plan.root)
    plan = _check_people(plan, root)
    journal = Journal.open(plan.journal)
    if journal.origin != root.journal_origin:
        raise InputError(f"{plan.journal}: journal origin {journal.origin} is not the root's {root.journal_origin}")
    sequence, supersedes, history = _journal_position(journal)
    if any(h.get("details", {}).get("id") == plan.id for h in history):
        raise RefusedError(f"intervention {plan.id} is already recorded in the journal; give a new id")
    log_signer = load_signer(plan.log_key, passphrases)  # before anything runs: a wrong passphrase stops here
    profile = load_profile(str(plan.profile))
    plan.records.mkdir(parents=True, exist_ok=True)
    record_dir = plan.records / f"{sequence:03d}-{plan.id}"
    if record_dir.exists():
        raise RefusedError(f"{record_dir} exists; an intervention directory is never reused")

    # 1-2: signed reference, then no drift against it
    checks = check_hosts(plan, collect)
    drifted = {h: c.drift for h, c in checks.items() if not c.drift.is_clean}
    if drifted:
        summary = "; ".join(
            f"{h}: " + ", ".join(f"{e.category} {e.kind} {e.key}" for e in r.entries[:3])
            + (f" (+{len(r.entries) - 3} more)" if len(r.entries) > 3 else "")
            for h, r in sorted(drifted.items()))
        journal.append(actor=plan.operator, event="intervention-refused", subject_name=plan.path.name,
                       subject_sha256=sha256_file(plan.path),
                       details={"id": plan.id, "reason": "unexplained drift before the change",
                                "drift": {h: r.counts() for h, r in drifted.items()}})
        export_journal(journal, plan.records)  # the refusal is evidence too; the next checkpoint covers it
        raise RefusedError(f"intervention {plan.id} refused: unexplained drift against the signed reference "
                           f"before any change: {summary}")

    # 3: the change, with its full log
    record_dir.mkdir(parents=True)
    (record_dir / "before").mkdir()
    (record_dir / "after").mkdir()
    shutil.copyfile(plan.path, record_dir / "plan.yml")
    shutil.copyfile(plan.profile, record_dir / "profile.yml")
    before = {}
    for h, c in checks.items():
        shutil.copyfile(c.reference.path, record_dir / "before" / f"{h}.manifest.json")
        before[h] = {"file": f"before/{h}.manifest.json", "sha256": c.reference.sha256,
                     "reference": c.reference.source}
    started = now()
    journal.append(actor=plan.operator, event="intervention-start", subject_name="plan.yml",
                   subject_sha256=sha256_file(plan.path), now=started,
                   details={"id": plan.id, "procedure": plan.procedure, "sequence": sequence,
                            "directory": record_dir.name,
                            "before": {h: b["sha256"] for h, b in before.items()}})
    log = record_dir / "change.log"
    status, ran = _run_change(plan, log)
    ended = now()

    # 4: after manifests, drift, record, statement, journal, checkpoint
    hosts: dict[str, dict[str, Any]] = {}
    after_subjects: list[tuple[str, str]] = []
    for spec in plan.hosts:
        m = collect(spec, profile)
        data = m.to_bytes()
        atomic_write(record_dir / "after" / f"{spec.name}.manifest.json", data)
        digest = sha256_hex(data)
        after_subjects.append((f"after/{spec.name}.manifest.json", digest))
        split = split_drift(compare(checks[spec.name].reference.manifest(), m, profile), plan.declared)
        hosts[spec.name] = {"before": before[spec.name],
                         "after": {"file": f"after/{spec.name}.manifest.json", "sha256": digest},
                         "precheck": "clean against the signed reference",
                         "drift": {"declared": split.declared, "undeclared": split.undeclared}}
    log_digest = sha256_file(log)
    change: dict[str, Any] = {"kind": plan.change.kind, "exit_status": status,
                              "log": {"file": "change.log", "sha256": log_digest, "size": log.stat().st_size}}
    if plan.change.playbook is not None:
        change["playbook"] = {"file": str(plan.change.playbook.name), "sha256": sha256_file(plan.change.playbook)}
        change["argv"] = ran
    else:
        change["commands"] = list(plan.change.commands)
    record = build_record(
        ident=plan.id, procedure=plan.procedure, reason=plan.reason, election=root.election,
        ceremony=root.ceremony, sequence=sequence, present=plan.present, hosts=hosts, declared=plan.declared,
        change=change, started=format_time(started), ended=format_time(ended),
        plan={"file": "plan.yml", "sha256": sha256_file(plan.path)},
        profile={"file": "profile.yml", "sha256": sha256_file(plan.profile)})
    record_bytes = canonical_json(record)
    atomic_write(record_dir / "record.json", record_bytes)
    payload = statement.build("intervention", name="record.json", data=record_bytes, root=root,
                              sequence=sequence, supersedes=supersedes,
                              extra_subjects=[*after_subjects, ("change.log", log_digest)], now=ended)
    position = journal.append(
        actor=plan.operator, event="intervention", subject_name="record.json", subject_sha256=sha256_hex(payload),
        details={"type": "intervention", "id": plan.id, "procedure": plan.procedure, "sequence": sequence,
                 "supersedes": supersedes, "record_sha256": sha256_hex(record_bytes),
                 "directory": record_dir.name, "verdict": record["verdict"]})
    atomic_write(record_dir / "record.dsse.json", Envelope(payload, IN_TOTO_PAYLOAD_TYPE).to_bytes())
    note = journal.checkpoint(log_signer)
    atomic_write(record_dir / "checkpoint.note", note.render().encode())
    export_journal(journal, plan.records)
    return RunResult(record_dir, record, sha256_hex(record_bytes), sha256_hex(payload), position,
                     Checkpoint.parse_body(note.text))


def export_journal(journal: Journal, records: Path) -> None:
    """RECORDS/journal/entries.jsonl (one leaf per line, exact bytes) and checkpoint-SIZE.note files."""
    out = records / JOURNAL_DIR
    out.mkdir(parents=True, exist_ok=True)
    atomic_write(out / "entries.jsonl", b"".join(e + b"\n" for e in journal.entries()))
    for text in journal.checkpoints():
        cp = Checkpoint.parse_body(SignedNote.parse(text).text)
        atomic_write(out / f"checkpoint-{cp.size}.note", text.encode())


@dataclass
class Closed:
    directory: Path
    threshold: list[str]
    checkpoint: str
    reference: dict[str, str]


def find_record_dir(plan: InterventionPlan) -> Path:
    found = sorted(d for d in plan.records.glob(f"*-{plan.id}") if d.is_dir())
    if not found:
        raise InputError(f"intervention {plan.id} has no record in {plan.records} (run it first)")
    return found[-1]


def close_intervention(plan: InterventionPlan) -> Closed:
    """Threshold met, checkpoint cosigned and stored, journal exported: the new manifests become the reference."""
    record_dir = find_record_dir(plan)
    _, root = load_root(plan.root)
    threshold = check_record_signed(record_dir, plan.root)
    note = SignedNote.parse(read_input(record_dir / "checkpoint.note", "checkpoint note").decode("utf-8", "replace"))
    cp = Checkpoint.parse_body(note.text)
    counted = count_checkpoint(root, note)
    if not counted.ok:
        raise VerificationError(f"{record_dir.name}/checkpoint.note: witness cosignatures below the root's threshold: "
                                f"{counted.describe()} (freeze journal cosign {record_dir / 'checkpoint.note'} "
                                "--key KEY --as PERSON)")
    journal = Journal.open(plan.journal)
    journal.store_cosigned(note)
    export_journal(journal, plan.records)
    record = parse_json(read_input(record_dir / "record.json", "record"), what="record.json")
    ref = read_reference_file(plan.records)
    changed = {}
    for host, h in record["hosts"].items():
        ref["hosts"][host] = {"id": plan.id, "record_dir": record_dir.name, "manifest": f"{record_dir.name}/"
                              f"{h['after']['file']}", "sha256": h["after"]["sha256"]}
        changed[host] = h["after"]["sha256"]
    atomic_write(plan.records / REFERENCE_FILE, json.dumps(ref, indent=2, sort_keys=True).encode() + b"\n")
    return Closed(record_dir, threshold, cp.short(), changed)
