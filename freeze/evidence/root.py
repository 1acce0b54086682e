"""The ceremony root: who may sign what, how many must, until when.

The root is itself a DSSE envelope (payloadType ROOT_PAYLOAD_TYPE) whose payload
is a JSON document WE produce canonically. Its digest (sha256 of the payload
bytes) is what the ceremony prints in the minutes and auditors pin; adding
signatures does not change it.

Rotation follows TUF: version N+1 must be signed by a threshold of version N's
root signers AND a threshold of its own, and versions increase by exactly one.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from freeze.errors import InputError
from freeze.evidence.codec import canonical_json, parse_json, sha256_hex
from freeze.evidence.dsse import Envelope
from freeze.evidence.keys import KeyRef

ROOT_TYPE = "https://election-freeze.example/ceremony-root/v1"
ROOT_PAYLOAD_TYPE = "application/vnd.election-freeze.ceremony-root+json"
EVIDENCE_TYPES = ("root", "manifest", "zero-report", "drift-report", "minutes", "checkpoint", "intervention")
PERSON_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")


def parse_time(value: object, *, what: str) -> dt.datetime:
    if not isinstance(value, str):
        raise InputError(f"{what}: expected an RFC 3339 UTC time like 2026-12-01T00:00:00Z")
    try:
        t = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise InputError(f"{what}: not an RFC 3339 time: {value!r}") from None
    if t.tzinfo is None:
        raise InputError(f"{what}: time must carry a timezone (use Z)")
    return t.astimezone(dt.UTC)


def format_time(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class Person:
    id: str
    role: str
    name: str
    keys: tuple[KeyRef, ...]
    organisation: str = ""  # optional; written into the root only when set (older roots unchanged)


@dataclass(frozen=True)
class Tsa:
    name: str
    url: str
    certificates: tuple[str, ...]  # PEM roots the TSA chains to


@dataclass(frozen=True)
class Freshness:
    """A root's expiry judged at one time: `fresh` and the explanation."""

    fresh: bool
    text: str


@dataclass
class Root:
    version: int
    election: str
    ceremony: str
    nonce: str
    expires: dt.datetime
    people: dict[str, Person]
    thresholds: dict[str, dict[str, int]]
    journal_origin: str
    journal_key: KeyRef | None
    tsas: list[Tsa] = field(default_factory=list)
    payload: bytes = b""  # the exact signed bytes, when loaded

    @property
    def digest(self) -> str:
        return sha256_hex(self.payload)

    def to_dict(self) -> dict[str, Any]:
        return {
            "_type": ROOT_TYPE,
            "version": self.version,
            "election": self.election,
            "ceremony": self.ceremony,
            "nonce": self.nonce,
            "expires": format_time(self.expires),
            "people": {
                p.id: {"role": p.role, "name": p.name, "keys": [k.to_dict() for k in p.keys],
                       **({"organisation": p.organisation} if p.organisation else {})}
                for p in self.people.values()
            },
            "thresholds": self.thresholds,
            "journal": {
                "origin": self.journal_origin,
                "log_key": self.journal_key.to_dict() if self.journal_key else None,
            },
            "timestamp_authorities": [
                {"name": t.name, "url": t.url, "certificates": list(t.certificates)}
                for t in self.tsas
            ],
        }

    def to_payload(self) -> bytes:
        return canonical_json(self.to_dict())

    def expired(self, at: dt.datetime) -> bool:
        return at >= self.expires

    def freshness(self, at: dt.datetime) -> Freshness:
        """Whether this root is still valid at `at`, and the line that says so.

        The one expiry check: every command that judges a root (root verify,
        verify-envelope, verify-evidence, root init) words it from here.
        """
        if self.expired(at):
            return Freshness(False, f"root v{self.version} expired at {format_time(self.expires)}")
        return Freshness(True, f"root v{self.version} valid until {format_time(self.expires)}")

    def lint(self) -> list[str]:
        """Problems that make a root unsafe: shared key material, unreachable thresholds."""
        problems = []
        owner: dict[str, str] = {}
        for p in self.people.values():
            for k in p.keys:
                other = owner.setdefault(k.identity, p.id)
                if other != p.id:
                    problems.append(f"the same key ({k.short}) is listed for both {other} and {p.id}")
        roles: dict[str, int] = {}
        for p in self.people.values():
            roles[p.role] = roles.get(p.role, 0) + 1
        for etype, need in self.thresholds.items():
            for role, n in need.items():
                if n > roles.get(role, 0):
                    problems.append(
                        f"threshold {etype}/{role} = {n} but only {roles.get(role, 0)} {role}(s) listed"
                    )
        return problems

    @classmethod
    def from_payload(cls, payload: bytes, *, what: str = "root") -> Root:
        d = parse_json(payload, what=what)
        if not isinstance(d, dict) or d.get("_type") != ROOT_TYPE:
            raise InputError(f"{what}: not a ceremony root (_type must be {ROOT_TYPE})")
        try:
            version = d["version"]
            if not isinstance(version, int) or isinstance(version, bool) or version < 1:
                raise InputError(f"{what}: version must be a positive integer")
            people = {}
            for pid, p in dict(d["people"]).items():
                if not PERSON_ID.match(pid):
                    raise InputError(f"{what}: person id {pid!r} must be lowercase [a-z0-9._-]")
                keys = tuple(KeyRef.from_dict(k, what=f"{what} people.{pid}") for k in p["keys"])
                if not keys or not isinstance(p["role"], str):
                    raise InputError(f"{what}: person {pid} needs a role and at least one key")
                people[pid] = Person(pid, p["role"], str(p.get("name", pid)), keys,
                                     str(p.get("organisation", "")))
            thresholds: dict[str, dict[str, int]] = {}
            for etype, need in dict(d["thresholds"]).items():
                if etype not in EVIDENCE_TYPES:
                    raise InputError(f"{what}: unknown evidence type {etype!r} in thresholds")
                clean = {}
                for role, n in dict(need).items():
                    if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                        raise InputError(f"{what}: threshold {etype}/{role} must be an integer >= 1")
                    clean[str(role)] = n
                thresholds[etype] = clean
            if "root" not in thresholds:
                raise InputError(f"{what}: thresholds.root is required (who signs the root)")
            j = d["journal"]
            tsas = [
                Tsa(str(t["name"]), str(t["url"]), tuple(str(c) for c in t["certificates"]))
                for t in d.get("timestamp_authorities", [])
            ]
            root = cls(
                version=version,
                election=str(d["election"]),
                ceremony=str(d["ceremony"]),
                nonce=str(d["nonce"]),
                expires=parse_time(d["expires"], what=f"{what} expires"),
                people=people,
                thresholds=thresholds,
                journal_origin=str(j["origin"]),
                journal_key=KeyRef.from_dict(j["log_key"], what=f"{what} journal.log_key")
                if j.get("log_key")
                else None,
                tsas=tsas,
                payload=payload,
            )
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            if isinstance(exc, InputError):
                raise
            raise InputError(f"{what}: malformed ceremony root ({type(exc).__name__}: {exc})") from None
        return root


def new_root(
    *,
    election: str,
    ceremony: str,
    expires: dt.datetime,
    people: dict[str, Person],
    thresholds: dict[str, dict[str, int]],
    journal_origin: str,
    journal_key: KeyRef | None,
    tsas: list[Tsa],
    previous: Root | None = None,
) -> Root:
    root = Root(
        version=previous.version + 1 if previous else 1,
        election=election,
        ceremony=ceremony,
        # a fresh random nonce per ceremony: statements must quote it, so a
        # statement from another ceremony (or a rehearsal) never verifies here
        nonce=previous.nonce if previous else secrets.token_hex(16),
        expires=expires,
        people=people,
        thresholds=thresholds,
        journal_origin=journal_origin,
        journal_key=journal_key,
        tsas=tsas,
    )
    root.payload = root.to_payload()
    return root


def load_root_envelope(data: bytes, *, what: str = "root") -> tuple[Envelope, Root]:
    env = Envelope.from_bytes(data, what=what)
    if env.payload_type != ROOT_PAYLOAD_TYPE:
        raise InputError(f"{what}: payloadType is {env.payload_type!r}, not a ceremony root")
    return env, Root.from_payload(env.payload, what=what)
