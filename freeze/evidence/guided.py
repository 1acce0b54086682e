"""The guided ceremony: a plan walked step by step, each key holder signing once.

Three operations over a plan (freeze.evidence.plan), each safe to repeat: the
state lives in the files of the plan's directory, never in this process.

- `status`: what exists, and per evidence type who has signed and who is missing.
- `advance` (the workstation): makes every file that needs no one else's key: the
  root from the plan's spec, the journal and its opening entry, one statement
  per evidence, and the journal checkpoint (the log key: one passphrase). Then,
  once every threshold is met: timestamps from the root's TSAs, the cosigned
  checkpoint stored, the bundle, and its verification with the auditor's report.
  Until then it says who is still missing, and the caller waits.
- `sign` (each key holder, on the workstation or their own copy of the directory):
  everything pending for that person (the root, every statement, the checkpoint
  cosignature) is checked first (origin, membership, ceremony binding, evidence
  type, document and backup digests, signatures already present), shown, and
  signed with ONE passphrase entry; nothing is written unless every item passed.

The checkpoint is taken right after the statements are recorded, before anyone
signs, so witnesses cosign it in the same sitting: signatures and timestamps are
not journal entries, so the journal does not change after it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from freeze.durable import atomic_write
from freeze.errors import InputError, UsageError, VerificationError
from freeze.evidence import ceremony, statement
from freeze.evidence.bundle import StatementInput
from freeze.evidence.bundle import create as create_bundle
from freeze.evidence.codec import sha256_hex
from freeze.evidence.dsse import Envelope, Signature
from freeze.evidence.journal import Journal, cosign_note
from freeze.evidence.keys import KeyRef, PassphraseSource, Signer, load_public_key_file, load_signer
from freeze.evidence.note import Checkpoint, SignedNote
from freeze.evidence.plan import Evidence, Plan
from freeze.evidence.policy import ThresholdResult, count, count_checkpoint, count_envelope
from freeze.evidence.root import ROOT_PAYLOAD_TYPE, Root
from freeze.evidence.verify import check_checkpoint_note
from freeze.inputs import read_input


@dataclass(frozen=True)
class Step:
    name: str
    done: bool
    text: str


@dataclass
class Status:
    steps: list[Step]
    thresholds: dict[str, ThresholdResult]  # root, each evidence type, checkpoint
    missing: dict[str, list[str]] = field(default_factory=dict)  # person -> what they have not signed

    @property
    def signed(self) -> bool:
        """Every threshold of the plan met (root, statements, checkpoint)."""
        return bool(self.thresholds) and all(r.ok for r in self.thresholds.values())


def _root(plan: Plan) -> tuple[Envelope, Root] | None:
    return ceremony.load_root(plan.root_file) if plan.root_file.exists() else None


def _note(plan: Plan) -> SignedNote:
    return SignedNote.parse(read_input(plan.checkpoint_file, "checkpoint note").decode("utf-8", "replace"))


def status(plan: Plan) -> Status:
    steps: list[Step] = []
    results: dict[str, ThresholdResult] = {}
    loaded = _root(plan)
    if loaded is None:
        steps.append(Step("root", False, f"{plan.root_file} not written yet"))
        return Status(steps, results)
    env, root = loaded
    results["root"] = count(root, "root", env.pae(), [(s.sig, s.keyid) for s in env.signatures])
    steps.append(Step("root", results["root"].ok,
                      f"v{root.version} {root.election}/{root.ceremony} sha256:{root.digest}; "
                      + results["root"].describe()))
    steps.append(Step("journal", plan.journal_file.exists(),
                      f"{plan.journal_file} ({Journal.open(plan.journal_file).size()} entries)"
                      if plan.journal_file.exists() else f"{plan.journal_file} not created yet"))
    for ev in plan.evidence:
        path = plan.envelope(ev)
        if not path.exists():
            steps.append(Step(ev.type, False, f"{path.name} not attested yet"))
            continue
        e = Envelope.from_bytes(read_input(path, "envelope"), what=str(path))
        results[ev.type] = count_envelope(root, ev.type, e)
        steps.append(Step(ev.type, results[ev.type].ok, results[ev.type].describe()))
    if root.thresholds.get("checkpoint"):
        if plan.checkpoint_file.exists():
            results["checkpoint"] = count_checkpoint(root, _note(plan))
            steps.append(Step("checkpoint", results["checkpoint"].ok, results["checkpoint"].describe()))
        else:
            steps.append(Step("checkpoint", False, f"{plan.checkpoint_file.name} not taken yet"))
    bundle = plan.bundle_dir.with_name(plan.bundle_dir.name + ".tar") if plan.tar else plan.bundle_dir
    steps.append(Step("bundle", bundle.exists(), str(bundle) if bundle.exists() else "not written yet"))
    missing: dict[str, list[str]] = {}
    for etype, result in results.items():
        for rc in result.roles:
            if rc.ok:
                continue
            for pid in rc.candidates:
                if pid not in rc.people:
                    missing.setdefault(pid, []).append(etype)
    return Status(steps, results, missing)


# --------------------------------------------------------------------------- the workstation


@dataclass
class Advanced:
    """What one `advance` did, and where the ceremony stands after it."""

    done: list[str]
    status: Status
    root_digest: str = ""
    finished: bool = False
    checkpoint_line: str = ""
    bundle: Path | None = None
    bundle_digest: str = ""
    tar_sha256: str = ""
    verified: bool = False
    report: list[str] = field(default_factory=list)  # the verification's lines
    written: list[str] = field(default_factory=list)


def _backup(ev: Evidence) -> tuple[str, str] | None:
    if ev.type != "zero-report" or not ev.backup:
        return None
    return ceremony.zero_report_backup(ev.document, read_input(ev.document, "document"), ev.backup)


def advance(plan: Plan, passphrases: PassphraseSource, *, now: dt.datetime | None = None,
            tsa: bool = True, pdf: bool = True) -> Advanced:
    """Do every step the workstation can do now (see the module docstring)."""
    now = now or ceremony.utc_now()
    done: list[str] = []
    plan.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    loaded = _root(plan)
    if loaded is None:
        root = ceremony.root_from_mapping(plan.root_spec, plan.root_spec_base, previous=None, now=now,
                                          where=f"{plan.path}: root")
        atomic_write(plan.root_file, Envelope(root.payload, ROOT_PAYLOAD_TYPE).to_bytes())
        done.append(f"wrote {plan.root_file}: root v{root.version}, ROOT DIGEST sha256:{root.digest}")
    else:
        root = loaded[1]
        spec = plan.root_spec
        if (str(spec.get("election")), str(spec.get("ceremony"))) != (root.election, root.ceremony):
            raise InputError(f"{plan.root_file} is the root of {root.election}/{root.ceremony}, not of this "
                             f"plan ({spec.get('election')}/{spec.get('ceremony')}): another ceremony's directory?")
    if not plan.journal_file.exists():
        origin = ceremony.init_journal(plan.journal_file, root=plan.root_file)
        ceremony.record_event(plan.journal_file, actor=plan.actor, event="ceremony-open",
                              sha256=root.digest, name="root")
        done.append(f"created {plan.journal_file} (origin {origin}), opened with the root digest")
    journal = Journal.open(plan.journal_file)
    if journal.origin != root.journal_origin:
        raise InputError(f"{plan.journal_file}: origin {journal.origin} is not the root's ({root.journal_origin})")
    for ev in plan.evidence:
        out = plan.envelope(ev)
        if out.exists():
            continue
        if plan.checkpoint_file.exists():
            raise UsageError(f"{ev.type} is new in the plan, but the checkpoint was already taken; "
                             "a new statement needs a new ceremony directory")
        a = ceremony.attest(ev.document, ev.type, root=plan.root_file, output=out, backup=ev.backup,
                            journal=plan.journal_file, actor=plan.actor)
        done.append(f"attested {ev.type}: {ev.document.name} sha256:{a.document_sha256} -> {out.name} "
                    f"(journal #{a.journal_position})")
    if root.thresholds.get("checkpoint") and not plan.checkpoint_file.exists():
        cp = ceremony.sign_checkpoint(plan.journal_file, plan.log_key, passphrases, plan.checkpoint_file,
                                      root=plan.root_file)
        done.append(f"checkpoint of the journal signed with the log key: {cp.short()}")

    state = status(plan)
    result = Advanced(done, state, root_digest=root.digest)
    if not state.signed:
        return result

    # everyone has signed: timestamps, the stored checkpoint, the bundle, its verification
    envelopes = [plan.envelope(ev) for ev in plan.evidence]
    if tsa and root.tsas:
        for path in envelopes:
            t = ceremony.timestamp_envelope(path, [x.url for x in root.tsas], root=plan.root_file)
            if t.verified:
                done.append(f"timestamped {path.name}: {len(t.verified)} new, {t.records} in all")
    line = ""
    if plan.checkpoint_file.exists():
        ceremony.store_checkpoint(plan.journal_file, plan.checkpoint_file)
        line = Checkpoint.parse_body(_note(plan).text).short()
    bundle_out = plan.bundle_dir.with_name(plan.bundle_dir.name + ".tar") if plan.tar else plan.bundle_dir
    if not plan.bundle_dir.exists():
        backup = next((b for b in (_backup(ev) for ev in plan.evidence) if b), None)
        create_bundle(plan.bundle_dir, roots=[plan.root_file],
                        statements=[StatementInput(ev.type, plan.envelope(ev), ev.document)
                                    for ev in plan.evidence],
                        journal_path=plan.journal_file, backup=backup, make_tar=plan.tar)
        done.append(f"wrote the bundle {bundle_out}")
    report = ceremony.verify_evidence(bundle_out, root_pin=root.digest, checkpoint=line or None,
                                      report_dir=plan.report_dir, pdf=pdf)
    result.finished = True
    result.checkpoint_line = line
    result.bundle = bundle_out
    result.verified = report.ok
    result.report = [("ok   " if c.ok else "FAIL ") + f"{c.name}: {c.detail}" for c in report.checks]
    result.written = [str(p) for p in report.facts.get("written", [])]
    result.bundle_digest = sha256_hex(read_input(plan.bundle_dir / "SHA256SUMS", "bundle"))
    if bundle_out.is_file():
        with open(bundle_out, "rb") as fh:
            result.tar_sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
    result.status = status(plan)
    return result


# --------------------------------------------------------------------------- a key holder


@dataclass(frozen=True)
class Pending:
    what: str  # "root", an evidence type, "checkpoint"
    path: Path
    line: str  # what the signer reads before signing


@dataclass
class Signed:
    person: str
    name: str
    role: str
    items: list[Pending]


def _public_ref(key: Path) -> KeyRef | None:
    """The key's public half from the file beside it (no passphrase needed), if there is one."""
    for candidate in (key.with_name(key.name.removesuffix(".pem") + ".pub.pem"), key.with_name(key.name + ".pub")):
        if candidate.is_file():
            return load_public_key_file(candidate)
    return None


def _owner(root: Root, identity: str) -> str | None:
    return next((p.id for p in root.people.values() if identity in {k.identity for k in p.keys}), None)


def pending_for(plan: Plan, person: str) -> list[Pending]:
    """What this person may still sign, every precondition checked (raises on the first failure)."""
    loaded = _root(plan)
    if loaded is None:
        raise UsageError(f"{plan.root_file} does not exist yet: the workstation runs `freeze ceremony advance` first")
    env, root = loaded
    me = root.people[person]
    items: list[Pending] = []

    def wants(etype: str) -> bool:
        return me.role in root.thresholds.get(etype, {})

    if wants("root"):
        r = count(root, "root", env.pae(), [(s.sig, s.keyid) for s in env.signatures])
        if r.bad_signatures:
            raise VerificationError(f"{plan.root_file}: carries invalid signatures: {'; '.join(r.bad_signatures)}")
        if person not in r.signers:
            items.append(Pending("root", plan.root_file,
                                 f"signing: ceremony root v{root.version} of {root.election}/{root.ceremony}, "
                                 f"ROOT DIGEST sha256:{root.digest} (compare it with the minutes)"))
    for ev in plan.evidence:
        if not wants(ev.type):
            continue
        path = plan.envelope(ev)
        if not path.exists():
            raise UsageError(f"{path.name} is not attested yet: the workstation runs `freeze ceremony advance` first")
        target = ceremony.open_for_signing(path)
        if target.evidence_type != ev.type or target.statement is None:
            raise VerificationError(f"{path}: holds a {target.evidence_type} statement, the plan says {ev.type}")
        statement.check_ceremony_binding(target.statement, [root])
        data = read_input(ev.document, "document")
        digest = sha256_hex(data)
        if digest != target.statement.subjects[0]["digest"]["sha256"]:
            raise VerificationError(f"{ev.document} has sha256 {digest}; {path.name} names another document")
        if ev.type == "zero-report":
            named = statement.check_backup_subjects(target.statement, data)
            wanted = _backup(ev)
            if wanted and named != wanted[1]:
                raise VerificationError(f"{path.name}: backup sha256 {named} is not the plan's {wanted[1]}")
        r = count_envelope(root, ev.type, target.envelope)
        if r.bad_signatures:
            raise VerificationError(f"{path.name}: carries invalid signatures: {'; '.join(r.bad_signatures)}")
        if person not in r.signers:
            items.append(Pending(ev.type, path, target.describe() or f"signing: {path.name}"))
    if wants("checkpoint") and plan.checkpoint_file.exists():
        note = _note(plan)
        cp = Checkpoint.parse_body(note.text)
        check_checkpoint_note(root, note, cp, str(plan.checkpoint_file))
        if person not in count_checkpoint(root, note).signers:
            items.append(Pending("checkpoint", plan.checkpoint_file,
                                 f"cosigning: journal checkpoint {cp.short()} (write this line in the minutes)"))
    return items


def whose_key(plan: Plan, key: Path) -> str | None:
    """The person of the root whose public key sits beside `key` (None: unknown until unlocked)."""
    loaded = _root(plan)
    ref = _public_ref(key)
    if loaded is None or ref is None:
        return None
    person = _owner(loaded[1], ref.identity)
    if person is None:
        raise InputError(f"{key}: this key is not listed in {plan.root_file}; nothing to sign")
    return person


def sign(plan: Plan, key: Path, passphrases: PassphraseSource, *,
         show: Callable[[list[str]], None] | None = None, signer: Signer | None = None) -> Signed:
    """Sign everything pending for the key's owner with one passphrase entry; all or nothing.

    `show(lines)` (if given) is called with what will be signed before the
    passphrase is asked for. Every new file is computed and checked in memory
    before the first one is written.
    """
    loaded = _root(plan)
    if loaded is None:
        raise UsageError(f"{plan.root_file} does not exist yet: the workstation runs `freeze ceremony advance` first")
    root = loaded[1]
    person = whose_key(plan, key)
    items = pending_for(plan, person) if person else None
    if items is not None and not items:
        p = root.people[person or ""]
        return Signed(p.id, p.name, p.role, [])
    if items is not None and show is not None:
        show([i.line for i in items])
    signer = signer or load_signer(key, passphrases)  # the one passphrase entry
    owner = _owner(root, signer.ref.identity)
    if owner is None:
        raise InputError(f"{key}: this key is not listed in {plan.root_file}; nothing signed")
    if person is not None and owner != person:
        raise InputError(f"{key}: the private key is {owner}'s but the public key beside it is {person}'s")
    if items is None:  # no public key file beside the private one: known only now
        items = pending_for(plan, owner)
        if show is not None:
            show([i.line for i in items])
    writes: list[tuple[Path, bytes]] = []
    for item in items:
        if item.what == "checkpoint":
            text = read_input(item.path, "checkpoint note").decode("utf-8", "replace")
            note = cosign_note(text, owner, signer)
            writes.append((item.path, note.render().encode()))
            continue
        env = Envelope.from_bytes(read_input(item.path, item.what), what=str(item.path))
        env.add(Signature(signer.sign(env.pae()), signer.ref.short))
        etype = "root" if item.what == "root" else item.what
        if owner not in count_envelope(root, etype, env).signers:  # the signature must count
            raise VerificationError(f"{item.path.name}: the new signature does not count for {owner}; nothing written")
        writes.append((item.path, env.to_bytes()))
    for path, data in writes:
        atomic_write(path, data)
    p = root.people[owner]
    return Signed(p.id, p.name, p.role, items)
