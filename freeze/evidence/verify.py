"""Offline verification of an evidence bundle.

Reads files only: no network (no HTTP client is imported on this path), and
nothing from the bundle is ever executed. Every check yields one line; the
verdict passes only if every check passed.

What "replay" means here, and how it is refused:
  1. A statement from another election, ceremony or rehearsal: its predicate
     must quote this root's election, ceremony and random nonce, and the digest
     of a root in the trusted chain.
  2. An older statement re-submitted as current: every statement is recorded in
     the journal (event "statement", sha256 of the statement payload). The one a
     bundle presents for a type must be the LAST statement of that type in the
     journal, its `sequence` must equal its rank among them, and `supersedes`
     must name the previous one. A bundle claiming journal position k for a
     statement recorded elsewhere is refused.
  3. A journal rolled back to hide a newer statement: the journal must match
     every cosigned checkpoint (and the checkpoint from the paper minutes, if the
     auditor gives it), so truncation after a cosigned checkpoint is detected.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from freeze.errors import FreezeError, InputError, NoInputError, VerificationError
from freeze.evidence import merkle, statement
from freeze.evidence.codec import b64decode, is_sha256_hex, parse_json, sha256_hex
from freeze.evidence.dsse import Envelope
from freeze.evidence.journal import parse_entry
from freeze.evidence.note import Checkpoint, SignedNote, verify_log
from freeze.evidence.policy import count_checkpoint, count_envelope
from freeze.evidence.root import Root, format_time
from freeze.evidence.timestamp import TimestampRecord
from freeze.evidence.timestamp import verify as verify_timestamp
from freeze.evidence.trust import TrustedRoot, establish_trust
from freeze.inputs import read_input

MAX_FILE = 256 * 1024 * 1024
MAX_JOURNAL_ENTRIES = 1_000_000  # ceremony journals hold thousands; each entry costs a parsed dict


@dataclass
class Check:
    name: str
    ok: bool
    detail: str


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)
    # what the checks established, for the auditor's report (freeze.report.audit):
    # "root" (the trusted Root), "signers" {type: {person: key identity}},
    # "times" {type: [(signature index, TSA, time)]}, "checkpoint" (the latest cosigned one)
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return bool(self.checks) and all(c.ok for c in self.checks)

    def run(self, name: str, fn: Callable[[], str]) -> bool:
        try:
            detail = fn()
        except FreezeError as exc:
            self.checks.append(Check(name, False, str(exc)))
            return False
        except Exception as exc:  # noqa: BLE001 - unsigned input of the wrong shape
            # a bundle is attacker-controlled: anything unexpected fails THIS check
            # (and so the verdict) with a reason, instead of aborting the whole report
            self.checks.append(Check(name, False, f"malformed evidence ({type(exc).__name__}: {exc})"))
            return False
        self.checks.append(Check(name, True, detail))
        return True

    def to_dict(self) -> dict[str, Any]:
        return {
            "verdict": "VERIFIED" if self.ok else "FAILED",
            "checks": [{"check": c.name, "ok": c.ok, "detail": c.detail} for c in self.checks],
        }


class BundleReader:
    """Reads files strictly inside the bundle directory, refusing links and escapes."""

    def __init__(self, base: Path) -> None:
        if not base.exists():
            raise NoInputError(f"{base}: no such bundle")
        if not base.is_dir():
            raise InputError(f"{base}: not a bundle directory")
        self.base = base.resolve()

    def path(self, rel: object) -> Path:
        if not isinstance(rel, str) or not rel or rel.startswith("/") or "\\" in rel:
            raise InputError(f"bundle path {rel!r} is not a plain relative path")
        if any(part in ("", ".", "..") for part in rel.split("/")):
            raise InputError(f"bundle path {rel!r} is not a plain relative path")
        p = self.base / rel
        cur = self.base
        for part in rel.split("/"):
            cur = cur / part
            if cur.is_symlink():
                raise InputError(f"bundle path {rel} is a symbolic link; refused")
        return p

    def read(self, rel: object) -> bytes:
        p = self.path(rel)
        if not p.is_file():
            raise InputError(f"bundle is missing {rel}")
        if p.stat().st_size > MAX_FILE:
            raise InputError(f"bundle file {rel} is too large")
        return read_input(p, "bundle file", max_bytes=MAX_FILE)


def verify_bundle(
    base: Path,
    *,
    root_pin: str | None = None,
    root_file: bytes | None = None,
    checkpoint_line: str | None = None,
    now: dt.datetime | None = None,
) -> Report:
    now = now or dt.datetime.now(dt.UTC)
    report = Report()
    reader = BundleReader(base)
    state: dict[str, Any] = {}

    def index() -> str:
        d = parse_json(reader.read("bundle.json"), what="bundle.json")
        if not isinstance(d, dict) or not isinstance(d.get("statements"), list):
            raise InputError("bundle.json is not a freeze evidence index")
        if not d["statements"]:
            # roots and a journal alone prove nothing about the counting system
            raise VerificationError("the bundle carries no statement: nothing to verify")
        state["index"] = d
        return f"{len(d['statements'])} statement(s), election {d.get('election')!r}"

    if not report.run("bundle index", index):
        return report
    idx = state["index"]
    report.run("file digests (SHA256SUMS)", lambda: _check_sums(reader))

    def roots() -> str:
        datas = [reader.read(r) for r in idx.get("roots", [])]
        trusted = establish_trust(datas, pin=root_pin, trusted=root_file)
        state["trust"] = trusted
        report.facts["root"] = trusted.root
        return "; ".join(trusted.notes)

    if not report.run("ceremony root", roots):
        return report
    trust: TrustedRoot = state["trust"]
    root = trust.root

    # journal first: statements are checked against it
    report.run("journal", lambda: _check_journal(reader, idx, root, state, checkpoint_line))
    report.facts["checkpoint"] = state.get("checkpoint")

    times: list[tuple[dt.datetime, str]] = []
    for st in idx["statements"]:
        t = st.get("type") if isinstance(st, dict) else None
        if t not in statement.PREDICATE_TYPES:
            report.checks.append(Check("statement", False, f"unknown evidence type {t!r}"))
            continue
        envs: dict[str, Any] = {}
        signed = report.run(f"{t}: signatures", partial(_check_sigs, reader, st, t, root, envs))
        if "signers" in envs:
            report.facts.setdefault("signers", {})[t] = dict(envs["signers"])
        if "env" not in envs:
            continue
        if not signed:  # never read the contents of evidence whose signatures failed
            report.checks.append(Check(f"{t}: statement", False, "not read: its signatures did not verify"))
            continue
        if report.run(f"{t}: statement", partial(_check_statement, reader, st, t, trust, envs)):
            state.setdefault("statements", {})[t] = envs["statement"]
        report.run(f"{t}: timestamps",
                   partial(_check_timestamps, reader, st, t, root, envs, times))
        report.facts.setdefault("times", {})[t] = list(envs.get("times", []))
        report.run(f"{t}: current, not replayed",
                   partial(_check_replay, reader, st, t, envs, state))

    def complete() -> str:
        # hiding evidence: every statement type the journal records must be in the bundle
        if "journal" not in state:
            raise VerificationError("cannot tell whether evidence was left out: the journal did not verify")
        recorded = sorted({
            str(e.get("details", {}).get("type")) for e in state["journal"] if e.get("event") == "statement"
        })
        present = {st.get("type") for st in idx["statements"] if isinstance(st, dict)}
        missing = [t for t in recorded if t not in present]
        if missing:
            raise VerificationError(
                f"the journal records {', '.join(missing)} statement(s) this bundle leaves out")
        return "the bundle carries every statement type the journal records: " + ", ".join(recorded)

    report.run("complete", complete)

    def expiry() -> str:
        if times:
            at, source = max(times)
            how = f"evidence time {format_time(at)} from TSA {source}"
        else:
            at, how = now, f"evidence time {format_time(now)} from this computer's clock (no timestamps)"
        freshness = root.freshness(at)
        if not freshness.fresh:
            raise VerificationError(f"{freshness.text}; {how}")
        return f"{freshness.text}; {how}"

    report.run("root expiry", expiry)
    if "backup" in idx:
        report.run("backup digest", lambda: _check_backup(reader, idx, state))
    report.run("layout", lambda: _check_layout(reader, idx, state))
    return report


def _present_files(reader: BundleReader) -> set[str]:
    """Anything but a real directory: files, links, FIFOs, sockets, device nodes."""
    return {p.relative_to(reader.base).as_posix() for p in reader.base.rglob("*")
            if p.is_symlink() or not p.is_dir()}


def _check_layout(reader: BundleReader, idx: dict[str, Any], state: dict[str, Any]) -> str:
    """The bundle holds exactly the files `bundle create` derives from its signed inputs.

    SHA256SUMS only proves the files are the ones SHA256SUMS lists, and anyone can
    rewrite it: an extra script, an extra file among the signatures or a rewritten
    VERIFY.txt would pass. So the bundle is rebuilt here from its own roots, signed
    envelopes, documents (checked against the statements above), timestamp tokens
    and journal, and every file (bundle.json, VERIFY.txt, SHA256SUMS included) must
    be there byte for byte, and nothing else.
    """
    from freeze.evidence.bundle import StatementContent, assemble

    verified = state.get("statements", {})
    listed = [st for st in idx["statements"] if isinstance(st, dict)]
    unverified = sorted(str(st.get("type")) for st in listed if st.get("type") not in verified)
    if unverified or len(listed) != len(idx["statements"]):
        raise VerificationError("cannot derive the bundle's layout: statement(s) "
                                f"{', '.join(unverified) or '?'} did not verify")
    contents = [StatementContent(str(st["type"]), reader.read(st.get("envelope")), reader.read(st.get("document")),
                                 reader.read(st["timestamps"]) if st.get("timestamps") else None)
                for st in listed]
    j = idx.get("journal") or {}
    raw = reader.read(j.get("entries"))
    entries = raw.split(b"\n")[:-1] if raw else []
    notes = [reader.read(rel).decode("utf-8") for rel in j.get("checkpoints", [])]
    expected = assemble(roots=[reader.read(r) for r in idx.get("roots", [])], statements=contents,
                        entries=entries, notes=notes)
    present = _present_files(reader)
    extra = sorted(present - set(expected))
    missing = sorted(set(expected) - present)
    # SHA256SUMS differs whenever another file does: named last
    differ = sorted((rel for rel in set(expected) & present if reader.read(rel) != expected[rel]),
                    key=lambda rel: (rel == "SHA256SUMS", rel))
    problems = []
    if extra:
        problems.append("not derived from signed content: " + ", ".join(extra[:5]))
    if missing:
        problems.append("missing: " + ", ".join(missing[:5]))
    if differ:
        problems.append("differ from what the signed content gives: " + ", ".join(differ[:5]))
    if problems:
        raise VerificationError("; ".join(problems))
    return (f"exactly the {len(expected)} files derived from the signed content "
            "(bundle.json, VERIFY.txt and SHA256SUMS regenerated and equal byte for byte)")


def _check_sums(reader: BundleReader) -> str:
    listed = {}
    for line in reader.read("SHA256SUMS").decode("utf-8", "replace").splitlines():
        digest, _, rel = line.partition("  ")
        if not is_sha256_hex(digest) or not rel:
            raise InputError(f"SHA256SUMS: malformed line {line[:60]!r}")
        listed[rel] = digest
    bad = [rel for rel, d in listed.items() if sha256_hex(reader.read(rel)) != d]
    present = _present_files(reader)
    extra = sorted(present - set(listed) - {"SHA256SUMS"})
    if bad:
        raise VerificationError(f"{len(bad)} file(s) changed: {', '.join(sorted(bad)[:5])}")
    if extra:
        raise VerificationError(f"files not in SHA256SUMS: {', '.join(extra[:5])}")
    return f"{len(listed)} files match (SHA256SUMS itself is authenticated only by the signatures below)"


def _check_sigs(reader: BundleReader, st: dict[str, Any], t: str, root: Root, envs: dict[str, Any]) -> str:
    env = Envelope.from_bytes(reader.read(st.get("envelope")), what=f"{t} envelope")
    envs["env"] = env
    result = count_envelope(root, t, env)
    if t not in root.thresholds:
        raise VerificationError(f"the ceremony root sets no threshold for {t!r} statements")
    envs["signers"] = result.signers
    if not result.ok:
        raise VerificationError(result.describe())
    return result.describe() + " (signers: " + ", ".join(sorted(result.signers)) + ")"


def _check_statement(reader: BundleReader, st: dict[str, Any], t: str, trust: TrustedRoot, envs: dict[str, Any]) -> str:
    s = statement.parse(envs["env"], t)
    envs["statement"] = s
    doc = reader.read(st.get("document"))
    digest = sha256_hex(doc)
    if s.subjects[0]["digest"]["sha256"] != digest:
        raise VerificationError(
            f"{st.get('document')} has sha256 {digest[:16]}..., the signed statement names "
            f"{s.subjects[0]['digest']['sha256'][:16]}... (document tampered or swapped)"
        )
    binding = statement.check_ceremony_binding(s, trust.chain)
    backup = statement.check_backup_subjects(s, doc) if t == "zero-report" else None
    also = f"; backup sha256:{backup} is the one the zero report names" if backup else ""
    return f"{s.subjects[0]['name']} sha256:{digest} matches; {binding}; sequence {s.sequence}{also}"


def check_checkpoint_note(root: Root, note: SignedNote, cp: Checkpoint, where: str) -> None:
    """A checkpoint of THIS ceremony's journal: the root's origin, signed by the root's log key."""
    if cp.origin != root.journal_origin:
        raise VerificationError(f"{where}: origin {cp.origin!r} is not the root's {root.journal_origin!r}")
    if root.journal_key is None or not verify_log(note, cp.origin, root.journal_key.raw_ed25519() or b""):
        raise VerificationError(f"{where}: not signed by the journal log key of the root")


def _check_timestamps(
    reader: BundleReader, st: dict[str, Any], t: str, root: Root, envs: dict[str, Any], times: list[Any]
) -> str:
    env: Envelope = envs["env"]
    records: list[TimestampRecord] = []
    if st.get("timestamps"):
        d = parse_json(reader.read(st["timestamps"]), what=f"{t} timestamps")
        try:
            records = [
                TimestampRecord(str(r["signature_sha256"]), str(r["tsa"]), b64decode(r["response"], what="token"))
                for r in d["timestamps"]
            ]
        except (KeyError, TypeError):
            raise InputError(f"{t} timestamps: malformed") from None
    by_sig = {hashlib.sha256(s.sig).hexdigest(): s.sig for s in env.signatures}
    covered: dict[str, list[str]] = {}
    for r in records:
        sig = by_sig.get(r.signature_sha256)
        if sig is None:
            raise VerificationError(f"a timestamp from {r.tsa} is over bytes that are no signature in this envelope")
        at, name = verify_timestamp(r, sig, root.tsas)
        times.append((at, name))
        envs.setdefault("times", []).append((list(by_sig).index(r.signature_sha256), name, at))
        covered.setdefault(r.signature_sha256, []).append(f"{name} {format_time(at)}")
    if not root.tsas:
        return "the ceremony root names no TSA; none required"
    missing = [n for n, s in enumerate(env.signatures) if hashlib.sha256(s.sig).hexdigest() not in covered]
    if missing:
        raise VerificationError(
            f"signature(s) #{', #'.join(map(str, missing))} carry no timestamp from a TSA of the root")
    return f"{len(records)} token(s) verified: " + "; ".join(sorted({x for v in covered.values() for x in v}))


def _check_journal(
    reader: BundleReader, idx: dict[str, Any], root: Root, state: dict[str, Any], checkpoint_line: str | None
) -> str:
    j = idx.get("journal") or {}
    raw = reader.read(j.get("entries"))
    if raw and not raw.endswith(b"\n"):
        raise InputError("journal entries file does not end with a newline")
    if raw.count(b"\n") > MAX_JOURNAL_ENTRIES:
        raise InputError(f"the journal has more than {MAX_JOURNAL_ENTRIES} entries; not a ceremony journal")
    entries = raw.split(b"\n")[:-1] if raw else []
    parsed = [parse_entry(e, pos) for pos, e in enumerate(entries)]
    leaves = [merkle.leaf_hash(e) for e in entries]
    state["journal"] = parsed
    notes = []
    cps: list[Checkpoint] = []
    for rel in j.get("checkpoints", []):
        note = SignedNote.parse(reader.read(rel).decode("utf-8"))
        cp = Checkpoint.parse_body(note.text)
        check_checkpoint_note(root, note, cp, rel)
        result = count_checkpoint(root, note)
        if not result.ok:
            raise VerificationError(f"{rel}: cosignatures below threshold: {result.describe()}")
        if cp.size > len(entries):
            raise VerificationError(
                f"journal truncated: checkpoint cosigned at size {cp.size} but the bundle has "
                f"{len(entries)} entries"
            )
        if merkle.root(leaves[: cp.size]) != cp.root:
            raise VerificationError(
                f"journal does not match the cosigned checkpoint at size {cp.size} "
                "(an entry was removed, changed or reordered)"
            )
        cps.append(cp)
        notes.append(f"size {cp.size} ({result.describe().removeprefix('checkpoint: ')})")
    if root.thresholds.get("checkpoint") and not cps:
        raise VerificationError("the journal carries no cosigned checkpoint")
    cps.sort(key=lambda c: c.size)
    for a, b in zip(cps, cps[1:], strict=False):  # consecutive pairs
        rel = f"journal/proofs/consistency-{a.size}-{b.size}.json"
        p = parse_json(reader.read(rel), what=rel)
        proof = [b64decode(h, what=rel) for h in p.get("proof", [])]
        if not merkle.verify_consistency(a.size, b.size, a.root, b.root, proof):
            raise VerificationError(f"checkpoints {a.size} and {b.size} are not consistent (log rewritten)")
    if checkpoint_line:
        paper = Checkpoint.parse_short(checkpoint_line)
        if paper.origin != root.journal_origin:
            raise VerificationError("the minutes' checkpoint names another journal origin")
        if paper.size > len(entries):
            raise VerificationError(
                f"journal truncated: the minutes record size {paper.size}, the bundle has {len(entries)}"
            )
        if merkle.root(leaves[: paper.size]) != paper.root:
            raise VerificationError(f"journal does not match the minutes' checkpoint at size {paper.size}")
        notes.append(f"matches the minutes' checkpoint at size {paper.size}")
    else:
        # say so: an older, complete and consistent bundle of this ceremony (rolled back
        # before a newer statement) verifies just the same without the paper anchor
        notes.append("NOT compared with the minutes (no --checkpoint): a bundle rolled back to an "
                     "earlier cosigned state would look the same")
    state["checkpoints"] = cps
    state["checkpoint"] = cps[-1] if cps else None
    state["leaves"] = leaves
    uncosigned = len(entries) - (cps[-1].size if cps else 0)
    tail = f"; {uncosigned} newer entr{'y' if uncosigned == 1 else 'ies'} not yet cosigned" if uncosigned else ""
    return f"{len(entries)} entries; checkpoints: " + ", ".join(notes or ["none"]) + tail


def _check_replay(reader: BundleReader, st: dict[str, Any], t: str, envs: dict[str, Any], state: dict[str, Any]) -> str:
    if "journal" not in state:
        raise VerificationError("cannot tell current from replayed: the journal did not verify")
    s = envs.get("statement")
    if s is None:
        raise VerificationError("statement did not verify")
    digest = sha256_hex(s.payload)
    history = [
        (pos, e) for pos, e in enumerate(state["journal"])
        if e.get("event") == "statement" and e.get("details", {}).get("type") == t
    ]
    claimed = st.get("journal_index")
    if not isinstance(claimed, int) or isinstance(claimed, bool):
        raise InputError(f"bundle.json: journal_index of the {t} statement must be an integer")
    positions = [pos for pos, e in history if e.get("subject", {}).get("sha256") == digest]
    if not positions:
        raise VerificationError(f"this {t} statement is not recorded in the journal")
    if claimed not in positions:
        raise VerificationError(f"bundle says journal entry #{claimed}, the statement is recorded at #{positions[0]}")
    last_pos, last = history[-1]
    if last_pos != claimed:
        raise VerificationError(
            f"replayed: this {t} statement (sequence {s.sequence}) is superseded by journal entry "
            f"#{last_pos} (sequence {last.get('details', {}).get('sequence')})"
        )
    rank = len(history)
    if s.sequence != rank:
        raise VerificationError(f"statement sequence {s.sequence} but it is the journal's {t} statement #{rank}")
    prev = history[-2][1].get("subject", {}).get("sha256") if rank > 1 else None
    if s.supersedes != prev:
        raise VerificationError(f"statement supersedes {s.supersedes}, the journal's previous {t} is {prev}")
    cps = state.get("checkpoints") or []
    if not cps or claimed >= cps[-1].size:
        raise VerificationError(f"journal entry #{claimed} is not yet covered by a cosigned checkpoint")
    cp = cps[-1]
    leaves = state["leaves"]
    # the shipped proof is what an auditor holding only the checkpoint and the entry checks
    rel = f"journal/proofs/inclusion-{t}.json"
    p = parse_json(reader.read(rel), what=rel)
    if not isinstance(p, dict) or p.get("index") != claimed or p.get("size") != cp.size:
        raise VerificationError(f"{rel} is not for entry #{claimed} in checkpoint {cp.size}")
    proof = [b64decode(h, what=rel) for h in p.get("proof", [])]
    if not merkle.verify_inclusion(claimed, cp.size, leaves[claimed], proof, cp.root):
        raise VerificationError(f"{rel}: inclusion proof does not lead to the cosigned root")
    return f"latest {t} (sequence {rank}) at journal #{claimed}, inclusion proof to cosigned checkpoint {cp.size}"


def _check_backup(reader: BundleReader, idx: dict[str, Any], state: dict[str, Any]) -> str:
    b = idx["backup"]
    line = reader.read("backup.sha256").decode("utf-8", "replace").strip()
    if line != f"{b.get('sha256')}  {b.get('name')}":
        raise VerificationError("backup.sha256 does not match bundle.json")
    zero = state.get("statements", {}).get("zero-report")
    if zero is None:
        raise VerificationError("a backup digest needs a verified zero-report statement naming it")
    if not any(s["digest"]["sha256"] == b.get("sha256") for s in zero.subjects[1:]):
        raise VerificationError("the signed zero-report statement does not name this backup digest")
    # the statement check has compared the statement's backup subjects with the
    # report's own system.backup_sha256, so this digest is the report's
    return f"{b.get('name')} sha256:{b.get('sha256')} is named by the signed zero report"


def report_json(report: Report) -> str:
    return json.dumps(report.to_dict(), indent=2)
