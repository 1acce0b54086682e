"""Threshold counting over DISTINCT KEYS and DISTINCT PEOPLE.

Key ids in envelopes are hints and are ignored: every signature is tried against
every key the root lists. A role's count is the number of people with a valid
signature, capped by the number of distinct key identities behind those
signatures, so neither the same key listed twice (under two ids or two people)
nor one person with two keys can count twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from freeze.evidence.dsse import Envelope
from freeze.evidence.note import SignedNote, verify_cosignature
from freeze.evidence.root import Root


@dataclass
class RoleCount:
    role: str
    need: int
    people: list[str] = field(default_factory=list)
    candidates: list[str] = field(default_factory=list)

    @property
    def have(self) -> int:
        return len(self.people)

    @property
    def ok(self) -> bool:
        return self.have >= self.need

    def describe(self) -> str:
        text = f"{self.role} {self.have}/{self.need}"
        if not self.ok:
            missing = [c for c in self.candidates if c not in self.people]
            text += f" (missing: any of {', '.join(missing)})" if missing else " (nobody left to sign)"
        return text


@dataclass
class ThresholdResult:
    evidence_type: str
    roles: list[RoleCount]
    signers: dict[str, str]  # person -> key identity that counted
    bad_signatures: list[str]  # "#i (keyid ...): reason"

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.roles) and not self.bad_signatures and bool(self.roles)

    def describe(self) -> str:
        parts = [r.describe() for r in self.roles] or ["no threshold defined"]
        text = f"{self.evidence_type}: " + ", ".join(parts)
        if self.bad_signatures:
            text += "; rejected signatures: " + "; ".join(self.bad_signatures)
        return text


def count(root: Root, evidence_type: str, message: bytes, signatures: list[tuple[bytes, str]]) -> ThresholdResult:
    """Count valid signatures over `message` against the root's threshold for a type."""
    key_owner: list[tuple[str, object]] = [
        (p.id, k) for p in root.people.values() for k in p.keys
    ]
    verified: dict[str, set[str]] = {}  # person -> key identities that signed
    bad = []
    seen_sigs: set[bytes] = set()
    for i, (sig, keyid) in enumerate(signatures):
        if sig in seen_sigs:
            bad.append(f"#{i}: a copy of an earlier signature")
            continue
        seen_sigs.add(sig)
        matched = False
        for pid, key in key_owner:
            if key.verify(sig, message):  # type: ignore[attr-defined]
                verified.setdefault(pid, set()).add(key.identity)  # type: ignore[attr-defined]
                matched = True
        if not matched:
            hint = f" (keyid {keyid[:16]})" if keyid else ""
            bad.append(f"#{i}{hint}: not a valid signature by any key in the ceremony root")
    return tally(root, evidence_type, verified, bad)


def tally(
    root: Root, evidence_type: str, verified: dict[str, set[str]], bad: list[str]
) -> ThresholdResult:
    """Per role, count people with a verified key no one else was credited with."""
    need = root.thresholds.get(evidence_type, {})
    roles = []
    signers: dict[str, str] = {}
    used_keys: set[str] = set()
    for role, n in need.items():
        rc = RoleCount(role, n, candidates=sorted(p.id for p in root.people.values() if p.role == role))
        for pid in rc.candidates:
            fresh = sorted(verified.get(pid, set()) - used_keys)
            if fresh:  # a key already credited to someone else never counts again
                used_keys.add(fresh[0])
                signers[pid] = fresh[0]
                rc.people.append(pid)
        roles.append(rc)
    return ThresholdResult(evidence_type, roles, signers, bad)


def count_envelope(root: Root, evidence_type: str, env: Envelope) -> ThresholdResult:
    return count(root, evidence_type, env.pae(), [(s.sig, s.keyid) for s in env.signatures])


def count_checkpoint(root: Root, note: SignedNote) -> ThresholdResult:
    """The witness cosignatures of a checkpoint note against the root's checkpoint threshold.

    A cosignature names its person (cosignature/v1); it counts when that person's
    Ed25519 key in the root verifies it, with the same distinct-people/keys rule.
    """
    verified: dict[str, set[str]] = {}
    for person in root.people.values():
        for key in person.keys:
            raw_key = key.raw_ed25519()
            if raw_key and verify_cosignature(note, person.id, raw_key) is not None:
                verified.setdefault(person.id, set()).add(key.identity)
    return tally(root, "checkpoint", verified, [])
