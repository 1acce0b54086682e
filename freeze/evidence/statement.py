"""in-toto Statement v1 with the freeze predicate types.

Predicate types (versioned; a v2 would be a new URI, never an edited v1):
  https://election-freeze.example/freeze-manifest/v1   the system snapshot manifest
  https://election-freeze.example/zero-report/v1       the counting DB zero report
  https://election-freeze.example/drift-report/v1      a drift check against the manifest
  https://election-freeze.example/ceremony-minutes/v1  the ceremony minutes
  https://election-freeze.example/intervention-record/v1  a witnessed intervention after the
                                                       freeze (freeze.evidence.intervention)

Every predicate carries the same `ceremony` binding (election, ceremony id, the
root's random nonce and digest) and a per-type `sequence` with the digest of the
statement it `supersedes`, which is what replay detection checks (see verify).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from freeze.errors import InputError, VerificationError
from freeze.evidence.codec import canonical_json, is_sha256_hex, parse_json, sha256_hex
from freeze.evidence.dsse import IN_TOTO_PAYLOAD_TYPE, Envelope
from freeze.evidence.root import Root, format_time

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPES = {
    "manifest": "https://election-freeze.example/freeze-manifest/v1",
    "zero-report": "https://election-freeze.example/zero-report/v1",
    "drift-report": "https://election-freeze.example/drift-report/v1",
    "minutes": "https://election-freeze.example/ceremony-minutes/v1",
    "intervention": "https://election-freeze.example/intervention-record/v1",
}


@dataclass(frozen=True)
class Statement:
    evidence_type: str
    subjects: list[dict[str, Any]]
    predicate: dict[str, Any]
    payload: bytes

    @property
    def sequence(self) -> int:
        return int(self.predicate.get("sequence", 0))

    @property
    def supersedes(self) -> str | None:
        return self.predicate.get("supersedes")

    @property
    def ceremony(self) -> dict[str, Any]:
        ceremony: dict[str, Any] = self.predicate.get("ceremony", {})
        return ceremony


def build(
    evidence_type: str,
    *,
    name: str,
    data: bytes,
    root: Root,
    sequence: int = 1,
    supersedes: str | None = None,
    extra_subjects: list[tuple[str, str]] = (),  # type: ignore[assignment]
    now: dt.datetime | None = None,
) -> bytes:
    """Statement payload bytes for a document (its bytes are hashed, never parsed)."""
    if evidence_type not in PREDICATE_TYPES:
        raise InputError(f"unknown evidence type {evidence_type!r}; one of {', '.join(PREDICATE_TYPES)}")
    if sequence < 1:
        raise InputError("sequence starts at 1")
    if (sequence == 1) != (supersedes is None):
        raise InputError("sequence > 1 needs --supersedes (digest of the previous statement), and only then")
    if supersedes is not None and not is_sha256_hex(supersedes):
        raise InputError("--supersedes must be a sha256 hex digest")
    subjects = [{"name": name, "digest": {"sha256": sha256_hex(data)}}]
    for sname, digest in extra_subjects:
        if not is_sha256_hex(digest):
            raise InputError(f"subject {sname}: digest must be sha256 hex")
        subjects.append({"name": sname, "digest": {"sha256": digest}})
    statement = {
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPES[evidence_type],
        "predicate": {
            "ceremony": {
                "election": root.election,
                "ceremony": root.ceremony,
                "nonce": root.nonce,
                "root_sha256": root.digest,
                "root_version": root.version,
            },
            "sequence": sequence,
            "supersedes": supersedes,
            "created": format_time(now or dt.datetime.now(dt.UTC)),
            "document": {"name": name, "size": len(data)},
        },
    }
    return canonical_json(statement)


def zero_report_backup_sha256(data: bytes, *, what: str = "zero report") -> str | None:
    """The backup digest a zero report names (`system.backup_sha256`), or None.

    The one field evidence code reads from a document it signs: the backup digest
    in a zero-report statement must be the one the zero run verified and wrote into
    its report, never a value typed at the signing table.
    """
    try:
        d = parse_json(data, what=what)
    except InputError:
        return None  # not JSON: not a zero report of ours; the caller decides
    system = d.get("system") if isinstance(d, dict) else None
    digest = system.get("backup_sha256") if isinstance(system, dict) else None
    return digest if is_sha256_hex(digest) else None


def check_backup_subjects(st: Statement, document: bytes) -> str | None:
    """A zero-report statement's backup subjects must be the digest its report names.

    Returns the backup digest (None when the statement names none, as older
    statements may); VerificationError when they disagree.
    """
    named = [s["digest"]["sha256"] for s in st.subjects[1:]]
    if not named:
        return None
    in_report = zero_report_backup_sha256(document)
    if in_report is None:
        raise VerificationError("the statement names a backup digest but its zero report names none")
    wrong = [d for d in named if d != in_report]
    if wrong:
        raise VerificationError(
            f"the statement names backup sha256:{wrong[0]}, its zero report names sha256:{in_report}")
    return in_report


def parse(env: Envelope, expected_type: str) -> Statement:
    """Parse a VERIFIED envelope's statement and bind it to the expected evidence type."""
    if env.payload_type != IN_TOTO_PAYLOAD_TYPE:
        raise VerificationError(
            f"payloadType is {env.payload_type!r}, expected {IN_TOTO_PAYLOAD_TYPE!r}"
        )
    d = parse_json(env.payload, what="statement")
    if not isinstance(d, dict) or d.get("_type") != STATEMENT_TYPE:
        raise VerificationError(f"payload is not an in-toto Statement v1 ({STATEMENT_TYPE})")
    want = PREDICATE_TYPES.get(expected_type)
    got = d.get("predicateType")
    if got != want:
        found = next((k for k, v in PREDICATE_TYPES.items() if v == got), got)
        raise VerificationError(f"statement is a {found!r} statement, not a {expected_type!r} one")
    subjects = d.get("subject")
    if not isinstance(subjects, list) or not subjects:
        raise VerificationError("statement has no subject")
    for s in subjects:
        if not isinstance(s, dict) or not is_sha256_hex(s.get("digest", {}).get("sha256")):
            raise VerificationError("statement subject without a sha256 digest")
    pred = d.get("predicate")
    if not isinstance(pred, dict):
        raise VerificationError("statement has no predicate")
    return Statement(expected_type, subjects, pred, env.payload)


def check_ceremony_binding(st: Statement, chain: list[Root]) -> str:
    """The statement must name this election/ceremony/nonce and a root of the trusted chain."""
    c = st.ceremony
    current = chain[-1]
    if c.get("election") != current.election or c.get("ceremony") != current.ceremony:
        raise VerificationError(
            f"statement is for election {c.get('election')!r} ceremony {c.get('ceremony')!r}, "
            f"not {current.election!r} / {current.ceremony!r}"
        )
    if c.get("nonce") != current.nonce:
        raise VerificationError("statement carries another ceremony's nonce (replayed from elsewhere)")
    digests = {r.digest: r.version for r in chain}
    if c.get("root_sha256") not in digests:
        raise VerificationError("statement names a root that is not in the trusted root chain")
    return f"bound to {current.election}/{current.ceremony}, root v{digests[c['root_sha256']]}"
