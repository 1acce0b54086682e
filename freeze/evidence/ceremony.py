"""The ceremony's operations on files: keys, roots, statements, signatures, journal, bundle.

Each function here is one `freeze` evidence command without its printing: it
takes paths and typed options, reads through `freeze.inputs`, writes through
`freeze.durable`, and returns what happened as data (or raises a FreezeError).
The CLI only parses arguments, calls these, and prints the result; a program
running a ceremony can call them the same way.

Times are parameters (`now`), never read inside a check, so a caller decides
which clock judges expiry and tests can fix it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from freeze.durable import atomic_write
from freeze.errors import InputError, UsageError, VerificationError
from freeze.evidence import sshsig, statement, timestamp
from freeze.evidence.bundle import StatementInput, create, extract_tar
from freeze.evidence.codec import is_sha256_hex, parse_json, sha256_hex
from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope, Signature
from freeze.evidence.journal import Journal, cosign_note, parse_entry
from freeze.evidence.keys import (
    KeyRef,
    PassphraseSource,
    Signer,
    check_new_key_path,
    generate_key_file,
    load_public_key_file,
    load_signer,
)
from freeze.evidence.note import Checkpoint, SignedNote
from freeze.evidence.policy import ThresholdResult, count_envelope
from freeze.evidence.root import (
    ROOT_PAYLOAD_TYPE,
    Freshness,
    Person,
    Root,
    Tsa,
    load_root_envelope,
    new_root,
    parse_time,
)
from freeze.evidence.trust import establish_trust, verify_root_signatures
from freeze.evidence.verify import Report as VerifyReport
from freeze.evidence.verify import verify_bundle
from freeze.inputs import read_input, read_text_input, read_yaml_input

EVIDENCE_TYPES_TO_ATTEST = ("manifest", "zero-report", "drift-report", "minutes")


@dataclass(frozen=True)
class Check:
    """One line of a verification: passed or not, and what was checked."""

    ok: bool
    text: str


def utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --------------------------------------------------------------------------- keys


def create_key(path: Path, passphrases: PassphraseSource | None, *, unsafe_unencrypted: bool = False) -> KeyRef:
    """A new Ed25519 key file (0600, passphrase-protected unless told otherwise) and its .pub.pem.

    The path is checked before the passphrase is asked for (`passphrases` None: unencrypted).
    """
    check_new_key_path(path)
    passphrase = None
    if passphrases is not None:
        passphrase = passphrases.get(prompt=f"new passphrase for {path}: ", confirm=True)
    return generate_key_file(path, passphrase, unsafe_unencrypted=unsafe_unencrypted)


# --------------------------------------------------------------------------- roots


def load_root(path: Path) -> tuple[Envelope, Root]:
    """A ceremony root envelope file and the root it carries."""
    return load_root_envelope(read_input(path, "root"), what=str(path))


def _spec_people(spec: Mapping[str, Any], base: Path) -> dict[str, Person]:
    people: dict[str, Person] = {}
    for pid, p in dict(spec.get("people", {})).items():
        keys = []
        for k in p.get("keys", []):
            if isinstance(k, str):  # a public key file next to the spec
                keys.append(load_public_key_file(base / k))
            else:
                keys.append(KeyRef.from_dict(k, what=f"people.{pid}"))
        if "role" not in p:
            raise InputError(f"spec: person {pid} has no role")
        people[pid] = Person(pid, str(p["role"]), str(p.get("name", pid)), tuple(keys),
                             str(p.get("organisation", "")))
    return people


def root_from_spec(spec_path: Path, *, previous: Root | None, now: dt.datetime) -> Root:
    """Build (unsigned) and validate the root a spec file (YAML or JSON) describes.

    The root gets the checks a verifier applies, plus the lint for unsafe roots
    (shared keys, thresholds nobody can reach) and a refusal of a past expiry.
    """
    return root_from_mapping(read_yaml_input(spec_path, "root spec"), spec_path.parent,
                             previous=previous, now=now, where=str(spec_path))


def root_from_mapping(spec: object, base: Path, *, previous: Root | None, now: dt.datetime,
                      where: str) -> Root:
    """`root_from_spec` for a spec already read (a ceremony plan carries it inline).

    Field-by-field checks first (freeze.evidence.plan.check_root_spec), so a
    malformed spec is named by field, not by the exception its parsing raised.
    """
    from freeze.evidence.plan import Problems, check_root_spec

    problems = Problems(where)
    check_root_spec(spec, base, problems, now=now)
    problems.raise_if_any()
    assert isinstance(spec, Mapping)
    try:
        journal = spec.get("journal", {})
        tsas = [
            Tsa(str(t["name"]), str(t["url"]),
                tuple(read_text_input(base / c, "certificate") for c in t["certificates"]))
            for t in spec.get("timestamp_authorities", [])
        ]
        root = new_root(
            election=str(spec["election"]),
            ceremony=str(spec["ceremony"]),
            expires=parse_time(str(spec["expires"]), what="expires"),
            people=_spec_people(spec, base),
            thresholds={k: dict(v) for k, v in dict(spec["thresholds"]).items()},
            journal_origin=str(journal["origin"]),
            journal_key=load_public_key_file(base / journal["log_key"]) if journal.get("log_key") else None,
            tsas=tsas,
            previous=previous,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise InputError(f"{where}: missing or malformed field ({exc})") from None
    Root.from_payload(root.payload, what=where)  # the same validation verifiers apply
    unsafe = root.lint()
    if unsafe:
        raise InputError(f"{where}: unsafe root: " + "; ".join(unsafe))
    if not root.freshness(now).fresh:
        raise InputError(f"{where}: expires is in the past")
    return root


def init_root(spec_path: Path, output: Path, *, previous: Path | None = None,
              now: dt.datetime | None = None) -> Root:
    """Write the unsigned root envelope for a spec; refuses to replace `output`."""
    if output.exists():
        raise UsageError(f"{output} already exists")
    previous_root = load_root(previous)[1] if previous else None
    root = root_from_spec(spec_path, previous=previous_root, now=now or utc_now())
    atomic_write(output, Envelope(root.payload, ROOT_PAYLOAD_TYPE).to_bytes())
    return root


@dataclass(frozen=True)
class RootSigned:
    version: int
    person: str
    signatures: int


def sign_root(root_path: Path, key: Path, passphrases: PassphraseSource,
              previous: Path | None = None) -> RootSigned:
    """Add one signature to a root envelope, by a key the root lists.

    A rotation (version N+1) needs a threshold of version N's root signers as well
    as its own: with `previous` (root version N), a key listed there signs too.
    """
    from freeze.evidence.trust import check_rotation

    env, root = load_root(root_path)
    old = None
    if previous is not None:
        _, old = load_root(previous)
        try:
            check_rotation(old, root)
        except VerificationError as exc:
            raise InputError(f"--previous {previous}: {exc}") from None
        if old.nonce != root.nonce:
            raise InputError(f"--previous {previous}: root v{old.version} is of another ceremony "
                             f"than root v{root.version} (nonce differs)")
    signer = load_signer(key, passphrases)
    owner = None
    for listed in (root, old):
        if listed is not None and owner is None:
            owner = next((p.id for p in listed.people.values()
                          if signer.ref.identity in {k.identity for k in p.keys}), None)
            if owner is not None and listed is old:
                owner = f"{owner} (signer of root v{old.version})"
    if owner is None:
        if old is not None:
            raise InputError(f"{key}: this key is listed neither in root v{root.version} "
                             f"nor in the previous root v{old.version}")
        if root.version > 1:
            raise InputError(f"{key}: this key is not listed in root v{root.version}; a signer of the "
                             f"previous root signs this rotation with --previous ROOT_V{root.version - 1}")
        raise InputError(f"{key}: this key is not listed in root v{root.version}")
    env.add(Signature(signer.sign(env.pae()), signer.ref.short))
    atomic_write(root_path, env.to_bytes())
    return RootSigned(root.version, owner, len(env.signatures))


@dataclass(frozen=True)
class RootChainReport:
    """The walk from the auditor's anchor to the newest root, and its expiry now."""

    root: Root
    notes: list[str]
    freshness: Freshness

    @property
    def ok(self) -> bool:
        return self.freshness.fresh


def verify_roots(roots: list[Path], *, pin: str | None, trusted_file: Path | None,
                 now: dt.datetime | None = None) -> RootChainReport:
    """Establish trust in the newest root (VerificationError if the chain breaks)."""
    trusted = read_input(trusted_file, "root") if trusted_file else None
    result = establish_trust([read_input(p, "root") for p in roots], pin=pin, trusted=trusted)
    # TUF: an expired root is not trusted, judged here on the caller's clock
    return RootChainReport(result.root, list(result.notes), result.root.freshness(now or utc_now()))


# --------------------------------------------------------------------------- statements


def parse_named_digest(value: str, what: str) -> tuple[str, str]:
    """`NAME=SHA256` (sha256: prefix and upper case accepted) -> (name, lowercase hex)."""
    name, sep, digest = value.partition("=")
    if not sep or not name or not digest:
        raise UsageError(f"{what} must be NAME=SHA256")
    return name, digest.lower().removeprefix("sha256:")


DEFAULT_BACKUP_NAME = "counting-db.dump"


def zero_report_backup(document: Path, data: bytes, backup: str | None) -> tuple[str, str]:
    """The backup subject of a zero-report statement: (name, digest the report names).

    The digest comes from the zero report itself (`system.backup_sha256`, written by
    the zero run that verified the backup restores); `backup` (NAME or NAME=SHA256)
    only names the file, and a digest typed there must be the report's.
    """
    in_report = statement.zero_report_backup_sha256(data, what=str(document))
    if in_report is None:
        raise InputError(f"{document}: names no verified backup (system.backup_sha256); "
                         "a zero-report statement is made from the zero-report.json of `freeze zero`")
    if not backup:
        return DEFAULT_BACKUP_NAME, in_report
    if "=" not in backup:
        return backup, in_report
    name, typed = parse_named_digest(backup, "--backup")
    if typed != in_report:
        raise InputError(f"--backup {name}: sha256:{typed} is not the backup the zero report names "
                         f"(sha256:{in_report})")
    return name, in_report


@dataclass(frozen=True)
class Attested:
    envelope: Envelope
    statement_sha256: str
    document_sha256: str
    journal_position: int | None


def journal_position(journal: Journal, evidence_type: str) -> tuple[int, str | None]:
    """(sequence, supersedes) the next statement of this type must carry in this journal.

    The verifier requires a statement's `sequence` to be its rank among the
    journal's statements of its type and `supersedes` the previous one's digest.
    """
    history = [d for d in (parse_entry(e, pos) for pos, e in enumerate(journal.entries()))
               if d.get("event") == "statement" and d.get("details", {}).get("type") == evidence_type]
    previous = history[-1].get("subject", {}).get("sha256") if history else None
    return len(history) + 1, previous


def attest(document: Path, evidence_type: str, *, root: Path, output: Path, sequence: int | None = None,
           supersedes: str | None = None, backup: str | None = None,
           journal: Path | None = None, actor: str = "operator",
           key: Path | None = None, passphrases: PassphraseSource | None = None) -> Attested:
    """Write the in-toto statement envelope for a document (optionally first-signed).

    With `journal`, the statement is recorded there before the envelope is written,
    and `sequence`/`supersedes` come from it (the statements of this type it
    already holds); values given that differ from the journal's are refused.
    Without a journal, `sequence` defaults to 1.
    """
    if output.exists():
        raise UsageError(f"{output} already exists; not overwriting an envelope")
    if supersedes is not None:
        supersedes = supersedes.lower().removeprefix("sha256:")
    _, ceremony_root = load_root(root)
    if journal is not None:
        want_sequence, want_supersedes = journal_position(Journal.open(journal), evidence_type)
        if sequence is not None and sequence != want_sequence:
            raise InputError(f"--sequence {sequence}: the journal holds {want_sequence - 1} {evidence_type} "
                             f"statement(s), so this one is sequence {want_sequence} (leave --sequence out)")
        if supersedes is not None and supersedes != want_supersedes:
            raise InputError(f"--supersedes {supersedes}: the journal's previous {evidence_type} statement is "
                             f"{want_supersedes or 'none'} (leave --supersedes out)")
        sequence, supersedes = want_sequence, want_supersedes
    elif sequence is None:
        sequence = 1
    data = read_input(document, "document")
    if backup and evidence_type != "zero-report":
        raise UsageError("--backup belongs to a zero-report statement")
    extra = [zero_report_backup(document, data, backup)] if evidence_type == "zero-report" else []
    payload = statement.build(
        evidence_type, name=document.name, data=data, root=ceremony_root,
        sequence=sequence, supersedes=supersedes, extra_subjects=extra,
    )
    env = Envelope(payload, IN_TOTO_PAYLOAD_TYPE)
    if key:
        signer = load_signer(key, passphrases or PassphraseSource())
        env.add(Signature(signer.sign(env.pae()), signer.ref.short))
    position = None
    if journal:
        position = Journal.open(journal).append(
            actor=actor, event="statement", subject_name=document.name,
            subject_sha256=sha256_hex(payload),
            details={"type": evidence_type, "sequence": sequence,
                     "supersedes": supersedes, "document_sha256": sha256_hex(data),
                     **({"backup_sha256": extra[0][1]} if extra else {})},
        )
    atomic_write(output, env.to_bytes())
    return Attested(env, sha256_hex(payload), sha256_hex(data), position)


# --------------------------------------------------------------------------- signatures


@dataclass(frozen=True)
class SigningTarget:
    """An envelope about to be signed: what a signer must see before signing."""

    path: Path
    envelope: Envelope
    evidence_type: str | None  # None: not an in-toto statement (a root, say)
    statement: statement.Statement | None

    def describe(self) -> str | None:
        """The line a signer reads before signing (None for a non-statement envelope)."""
        if self.statement is None:
            return None
        st = self.statement
        subj = st.subjects[0]
        # every subject is shown: a signer vouches for the backup digest too
        also = "".join(f"; and {s.get('name')} sha256:{s['digest']['sha256']}" for s in st.subjects[1:])
        return (f"signing: {self.evidence_type} statement for {subj.get('name')} "
                f"sha256:{subj['digest']['sha256']}{also}, "
                f"{st.ceremony.get('election')}/{st.ceremony.get('ceremony')} sequence {st.sequence}")


def open_for_signing(envelope: Path) -> SigningTarget:
    """Load an envelope to sign; a statement must be one of ours (known predicateType)."""
    # the payload is kept as the exact decoded bytes: never re-serialized
    env = Envelope.from_bytes(read_input(envelope, "envelope"), what=str(envelope))
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE:
        return SigningTarget(envelope, env, None, None)
    d = parse_json(env.payload, what="statement")
    ptype = d.get("predicateType") if isinstance(d, dict) else None
    etype = next((k for k, v in statement.PREDICATE_TYPES.items() if v == ptype), None)
    if etype is None:
        raise InputError(f"{envelope}: not a freeze statement (predicateType {ptype!r})")
    return SigningTarget(envelope, env, etype, statement.parse(env, etype))


@dataclass(frozen=True)
class SignatureAdded:
    identity: str
    signatures: int
    journal_position: int | None
    envelope: bytes = b""  # the signed envelope's bytes


def _signature_from_ssh(path: Path, env: Envelope) -> tuple[bytes, KeyRef]:
    blob = sshsig.dearmor(read_input(path, "SSH signature").decode("ascii", "replace"))
    fields = sshsig.parse_blob(blob)
    ref = KeyRef("ssh", fields["publickey"])
    if not ref.verify(blob, env.pae()):
        raise InputError(
            f"{path}: not a valid SSH signature over this envelope's PAE "
            f"(sign the output of `freeze pae` with -n {sshsig.NAMESPACE})"
        )
    return blob, ref


def add_signature(target: SigningTarget, *, root: Path, key: Path | None = None,
                  passphrases: PassphraseSource | None = None, ssh_signature: Path | None = None,
                  document: Path | None = None,
                  journal: Path | None = None, actor: str = "",
                  signer: Signer | None = None, write: bool = True) -> SignatureAdded:
    """Add ONE signature (made with `key`, or an `ssh-keygen -Y sign` file) to the envelope.

    `document`: refuse unless the statement names its sha256. `root` (required: a
    signature by a key outside the root would make the whole envelope fail later):
    refuse a key the root does not list, a statement of another ceremony, and an
    envelope already carrying an invalid signature. `write=False`: everything
    but the write (and the journal entry); the signed bytes are in the result, for
    a caller that writes several envelopes only once all of them passed.
    """
    env = target.envelope
    before = env.payload
    if target.statement is not None:
        if document:
            data = read_input(document, "document")
            digest = sha256_hex(data)
            if digest != target.statement.subjects[0]["digest"]["sha256"]:
                raise VerificationError(
                    f"{document} has sha256 {digest}; the statement names another document: not signing")
            if target.evidence_type == "zero-report":
                statement.check_backup_subjects(target.statement, data)
    elif document:
        raise InputError(f"{target.path}: --document needs an in-toto statement envelope")
    if key or signer is not None:
        # a signer already unlocked (one passphrase entry for several envelopes), else the key file
        signer = signer or load_signer(key or Path(), passphrases or PassphraseSource())
        sig, ref = signer.sign(env.pae()), signer.ref
    elif ssh_signature:
        sig, ref = _signature_from_ssh(ssh_signature, env)
    else:
        raise UsageError("a signature needs --key or --ssh-signature")
    _, ceremony_root = load_root(root)
    if not any(ref.identity == k.identity for p in ceremony_root.people.values() for k in p.keys):
        raise InputError("this key is not listed in the ceremony root; signature not added")
    if target.evidence_type is not None and target.statement is not None:
        statement.check_ceremony_binding(target.statement, [ceremony_root])
        present = count_envelope(ceremony_root, target.evidence_type, env)
        if present.bad_signatures:
            raise VerificationError(
                "the envelope already carries invalid signatures (payload or signatures "
                "changed since they were made; `freeze remove-signature` takes one out): "
                + "; ".join(present.bad_signatures))
    env.add(Signature(sig, ref.short))
    if env.payload != before:  # pragma: no cover - guards the never-re-serialize rule
        raise InputError("internal: payload bytes changed while signing")
    if not write:
        return SignatureAdded(ref.identity, len(env.signatures), None, env.to_bytes())
    atomic_write(target.path, env.to_bytes())
    added = SignatureAdded(ref.identity, len(env.signatures), None, env.to_bytes())
    position = record_signature(journal, target, added, actor=actor) if journal else None
    return SignatureAdded(ref.identity, len(env.signatures), position, added.envelope)


def record_signature(journal: Path, target: SigningTarget, added: SignatureAdded, *, actor: str = "") -> int:
    """Journal a signature written to `target` (its position)."""
    return Journal.open(journal).append(
        actor=actor or added.identity.split(":")[1][:16], event="signature", subject_name=target.path.name,
        subject_sha256=sha256_hex(target.envelope.payload), details={"key": added.identity},
    )


@dataclass(frozen=True)
class Merged:
    added: int
    signatures: int


def merge_signatures(envelope: Path, copies: list[Path]) -> Merged:
    """Add the signatures of copies signed in parallel (same payload bytes only; not verified)."""
    env = Envelope.from_bytes(read_input(envelope, "envelope"), what=str(envelope))
    added = 0
    for path in copies:
        other = Envelope.from_bytes(read_input(path, "envelope"), what=str(path))
        if other.payload != env.payload or other.payload_type != env.payload_type:
            raise InputError(f"{path}: not a copy of {envelope} (payload or payloadType differ)")
        for sig in other.signatures:
            if all(sig.sig != s.sig for s in env.signatures):
                env.add(sig)
                added += 1
    atomic_write(envelope, env.to_bytes())
    return Merged(added, len(env.signatures))


@dataclass(frozen=True)
class Removed:
    removed: int
    signatures: int


def remove_signature(envelope: Path, keyid: str) -> Removed:
    """Take the signature(s) with this key id out of an envelope (payload untouched).

    For a signature that makes the envelope fail (a key outside the root, a broken
    one): without a way out, one bad signature would spoil everyone else's.
    Key ids are unauthenticated hints, so every signature carrying it goes; the
    caller is told how many, and verify-envelope shows who is still there.
    """
    env = Envelope.from_bytes(read_input(envelope, "envelope"), what=str(envelope))
    kept = [s for s in env.signatures if s.keyid != keyid]
    removed = len(env.signatures) - len(kept)
    if not removed:
        present = ", ".join(sorted({s.keyid for s in env.signatures})) or "none"
        raise InputError(f"{envelope}: no signature with key id {keyid!r} (key ids present: {present})")
    env.signatures = kept
    atomic_write(envelope, env.to_bytes())
    return Removed(removed, len(kept))


def write_pae(envelope: Path, output: Path) -> None:
    """Write the exact bytes every signer signs (DSSE PAE), for `ssh-keygen -Y sign`."""
    env = Envelope.from_bytes(read_input(envelope, "envelope"), what=str(envelope))
    atomic_write(output, env.pae())


@dataclass(frozen=True)
class EnvelopeReport:
    """verify-envelope: threshold, root self-signature, ceremony binding, expiry, document."""

    threshold: ThresholdResult
    checks: list[Check]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)


def verify_envelope(envelope: Path, evidence_type: str, *, root: Path,
                    document: Path | None = None, now: dt.datetime | None = None) -> EnvelopeReport:
    root_env, ceremony_root = load_root(root)
    env = Envelope.from_bytes(read_input(envelope, "envelope"), what=str(envelope))
    result = count_envelope(ceremony_root, evidence_type, env)
    st = statement.parse(env, evidence_type)
    checks = [Check(result.ok, result.describe())]
    # the root file is only trusted if its own signers vouch for it, and the statement
    # must be made under THIS root (a rehearsal's, signed by the same people, is not)
    binding: list[Callable[[], str]] = [
        lambda: verify_root_signatures(ceremony_root, root_env,
                                       label=f"root v{ceremony_root.version} self-signed"),
        lambda: statement.check_ceremony_binding(st, [ceremony_root]),
    ]
    for check in binding:
        try:
            checks.append(Check(True, check()))
        except VerificationError as exc:
            checks.append(Check(False, str(exc)))
    fresh = ceremony_root.freshness(now or utc_now())
    checks.append(Check(fresh.fresh, f"{fresh.text} (this computer's clock)"))
    if document:
        data = read_input(document, "document")
        digest = sha256_hex(data)
        checks.append(Check(st.subjects[0]["digest"]["sha256"] == digest, f"document sha256:{digest}"))
        if evidence_type == "zero-report":
            try:
                backup = statement.check_backup_subjects(st, data)
                checks.append(Check(True, f"backup sha256:{backup} is the one the zero report names"
                                    if backup else "the statement names no backup digest"))
            except VerificationError as exc:
                checks.append(Check(False, str(exc)))
    return EnvelopeReport(result, checks)


# --------------------------------------------------------------------------- timestamps


@dataclass(frozen=True)
class TimestampVerified:
    signature_index: int
    tsa: str
    time: dt.datetime


@dataclass
class Timestamped:
    sidecar: Path
    records: int
    verified: list[TimestampVerified] = field(default_factory=list)


def timestamp_envelope(envelope: Path, tsa_urls: list[str], *, root: Path | None = None,
                       on_verified: Callable[[TimestampVerified], None] | None = None) -> Timestamped:
    """Fetch RFC 3161 timestamps over every signature from each TSA (network).

    With `root`, each reply is verified against the root's TSA certificates as it
    arrives (`on_verified` hears of each one then). Existing timestamps are kept.
    """
    env = Envelope.from_bytes(read_input(envelope, "envelope"), what=str(envelope))
    if not env.signatures:
        raise InputError(f"{envelope}: no signatures to timestamp")
    tsas = load_root(root)[1].tsas if root else []
    side = timestamp.sidecar_path(envelope)
    records = timestamp.load_sidecar(side)
    have = {(r.signature_sha256, r.tsa) for r in records}
    verified: list[TimestampVerified] = []
    for url in tsa_urls:
        name = next((t.name for t in tsas if t.url == url), url)
        for n, s in enumerate(env.signatures):
            digest = hashlib.sha256(s.sig).hexdigest()
            if (digest, name) in have:
                continue
            reply = timestamp.fetch(url, s.sig)
            rec = timestamp.TimestampRecord(digest, name, reply)
            if root:
                at, _ = timestamp.verify(rec, s.sig, tsas)
                verified.append(TimestampVerified(n, name, at))
                if on_verified is not None:
                    on_verified(verified[-1])
            records.append(rec)
    timestamp.save_sidecar(side, records)
    return Timestamped(side, len(records), verified)


# --------------------------------------------------------------------------- journal


def init_journal(db: Path, origin: str | None = None, *, root: Path | None = None) -> str:
    """Create a journal; its origin comes from the ceremony root (or `origin`, checked against it).

    A typed origin that differs from the root's was only caught by verify-evidence,
    after the whole ceremony had been journalled under it.
    """
    if root is not None:
        root_origin = load_root(root)[1].journal_origin
        if origin is not None and origin != root_origin:
            raise InputError(f"--origin {origin} is not the journal origin of the ceremony root "
                             f"({root_origin})")
        origin = root_origin
    if origin is None:
        raise UsageError("journal init needs --root (the origin is taken from it) or --origin")
    Journal.create(db, origin).close()
    return origin


def record_event(db: Path, *, actor: str, event: str, file: Path | None = None,
                 sha256: str = "", name: str = "") -> int:
    """Append an event about a file (its sha256 is recorded) or a digest; its position."""
    digest = sha256
    if file:
        digest, name = sha256_hex(read_input(file, "file")), name or file.name
    if digest and not is_sha256_hex(digest):
        raise UsageError("--sha256 must be a sha256 hex digest")
    return Journal.open(db).append(actor=actor, event=event, subject_name=name, subject_sha256=digest)


def sign_checkpoint(db: Path, key: Path, passphrases: PassphraseSource,
                    output: Path | None = None, *, root: Path | None = None) -> Checkpoint:
    """Sign a checkpoint of the journal with the log key (written to `output` if given).

    With `root`, a journal whose origin is not the root's is refused before signing:
    its checkpoints would never verify.
    """
    journal = Journal.open(db)
    if root is not None:
        root_origin = load_root(root)[1].journal_origin
        if journal.origin != root_origin:
            raise InputError(f"{db}: journal origin {journal.origin} is not the ceremony root's "
                             f"({root_origin}); its checkpoints would not verify")
    note = journal.checkpoint(load_signer(key, passphrases))
    if output:
        atomic_write(output, note.render().encode())
    return Checkpoint.parse_body(note.text)


def cosign_checkpoint(note_path: Path, person: str, key: Path, passphrases: PassphraseSource) -> SignedNote:
    """Add a witness cosignature to a checkpoint note file (rewritten in place)."""
    text = read_input(note_path, "checkpoint note").decode("utf-8", "replace")
    note = cosign_note(text, person, load_signer(key, passphrases))
    atomic_write(note_path, note.render().encode())
    return note


def store_checkpoint(db: Path, note_path: Path) -> None:
    note = SignedNote.parse(read_input(note_path, "checkpoint note").decode("utf-8", "replace"))
    Journal.open(db).store_cosigned(note)


# --------------------------------------------------------------------------- bundle


def parse_statement_spec(spec: str) -> StatementInput:
    """`TYPE=ENVELOPE:DOCUMENT` (the document path may not hold ':' ; the envelope may)."""
    etype, sep, rest = spec.partition("=")
    env, sep2, doc = rest.rpartition(":")
    if not sep or not sep2 or not env or not doc:
        raise UsageError(f"--statement {spec!r}: expected TYPE=ENVELOPE:DOCUMENT")
    return StatementInput(etype, Path(env), Path(doc))


def create_bundle(output: Path, *, roots: list[Path], statements: list[str], journal: Path,
                  backup: str | None = None, make_tar: bool = False) -> Path:
    """Write the bundle directory (and .tar); `statements` as TYPE=ENVELOPE:DOCUMENT."""
    inputs = [parse_statement_spec(s) for s in statements]
    named_backup = parse_named_digest(backup, "--backup") if backup else None
    return create(output, roots=roots, statements=inputs, journal_path=journal,
                  backup=named_backup, make_tar=make_tar)


def verify_evidence(bundle: Path, *, root_pin: str | None = None, root_file: Path | None = None,
                    checkpoint: str | None = None, report_dir: Path | None = None,
                    pdf: bool = True, interventions: Path | None = None) -> VerifyReport:
    """Verify a bundle directory or .tar offline (a tar is extracted to a private temp dir).

    With `report_dir`, also write the auditor's verification report and the minutes
    sheet there (HTML, and PDF unless `pdf` is false); their paths are in
    `facts["written"]` of the returned report. With `interventions` (the records
    directory `freeze intervention` writes), the journal is walked on from the
    freeze through every intervention (freeze.intervention.walk).
    """
    import tempfile

    trusted = read_input(root_file, "root") if root_file else None
    with tempfile.TemporaryDirectory(prefix="freeze-verify-") as tmp:
        base = bundle
        tar_sha256 = None
        if bundle.is_file():
            base = extract_tar(bundle, Path(tmp))
            with open(bundle, "rb") as fh:  # streamed: a bundle tar may be large
                tar_sha256 = hashlib.file_digest(fh, "sha256").hexdigest()
        report = verify_bundle(base, root_pin=root_pin, root_file=trusted, checkpoint_line=checkpoint)
        if interventions is not None:
            from freeze.intervention.walk import verify_interventions

            verify_interventions(base, interventions, report)
        if report_dir is not None:
            from freeze.report import audit

            a = audit.build(base, report, bundle_label=bundle.name, root_pin=root_pin,
                            checkpoint_line=checkpoint, tar_sha256=tar_sha256)
            report.facts["written"] = audit.write_reports(a, report_dir, pdf=pdf)
        return report
