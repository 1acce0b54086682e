"""The ceremony plan: what a guided ceremony produces and who signs what, validated field by field.

A plan file (YAML) holds the ceremony root's spec (or names a root spec file),
the evidence to attest, the journal's log key and the bundle to write. Every
problem is reported with the field's path (`root.people.bob.keys[0]: ...`), all
at once, in one line, before anything is written: the room should not find a
typo in the thresholds after three people have signed.

This module only reads and checks; `freeze.evidence.guided` runs the plan.
The root spec checks here are also what `freeze root init` applies.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freeze.errors import InputError
from freeze.evidence.codec import is_sha256_hex
from freeze.evidence.root import EVIDENCE_TYPES, PERSON_ID
from freeze.inputs import read_yaml_input

PLAN_VERSION = 1
# what a root's thresholds may name, and what a plan may attest
THRESHOLD_TYPES = EVIDENCE_TYPES
# an intervention record is made by `freeze intervention run` only, never by a ceremony plan
ATTESTABLE_TYPES = tuple(t for t in EVIDENCE_TYPES if t not in ("root", "checkpoint", "intervention"))
_ROOT_FIELDS = ("election", "ceremony", "expires", "people", "thresholds", "journal", "timestamp_authorities")
_PLAN_FIELDS = ("plan", "directory", "root", "journal", "evidence", "bundle")


class Problems:
    """Collects `path: message` lines; `raise_if_any` makes them one InputError."""

    def __init__(self, where: str) -> None:
        self.where = where
        self.items: list[str] = []

    def add(self, path: str, message: str) -> None:
        self.items.append(f"{path}: {message}")

    def raise_if_any(self) -> None:
        if self.items:
            shown = self.items[:8]
            more = f" (and {len(self.items) - 8} more)" if len(self.items) > 8 else ""
            raise InputError(f"{self.where}: " + "; ".join(shown) + more)


def _kind(value: object) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "nothing"
    return f"{type(value).__name__} {value!r}"[:60]


def _text(p: Problems, path: str, value: object) -> str | None:
    if isinstance(value, str) and value.strip():
        return value
    p.add(path, f"expected a non-empty text, got {_kind(value)}")
    return None


def _unknown(p: Problems, path: str, data: Mapping[str, Any], known: tuple[str, ...]) -> None:
    for key in data:
        if key not in known:
            close = [k for k in known if k[:3] == str(key)[:3]]
            hint = f" (did you mean {close[0]}?)" if close else f" (known: {', '.join(known)})"
            p.add(f"{path}{key}", f"unknown field{hint}")


def _file(p: Problems, path: str, value: object, base: Path) -> Path | None:
    text = _text(p, path, value)
    if text is None:
        return None
    f = base / text
    if not f.is_file():
        p.add(path, f"no such file {f}")
        return None
    return f


def check_root_spec(spec: object, base: Path, p: Problems, *, prefix: str = "",
                    now: dt.datetime | None = None) -> None:
    """Field-by-field checks of a root spec (the mapping `freeze root init` reads).

    Key and certificate files are resolved against `base`. Nothing is loaded
    here beyond existence: the root builder parses them and says what is wrong.
    """
    if not isinstance(spec, Mapping):
        p.add(prefix.rstrip(".") or "root spec", f"expected a mapping, got {_kind(spec)}")
        return
    _unknown(p, prefix, spec, _ROOT_FIELDS)
    for name in ("election", "ceremony"):
        if name not in spec:
            p.add(f"{prefix}{name}", "missing")
        else:
            _text(p, f"{prefix}{name}", spec[name])
    if "expires" not in spec:
        p.add(f"{prefix}expires", "missing (a time such as 2026-12-31T23:59:59Z)")
    else:
        raw = spec["expires"]
        try:
            t = raw if isinstance(raw, dt.datetime) else dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
            if t.tzinfo is None:
                p.add(f"{prefix}expires", "needs a time zone (end it with Z for UTC)")
            elif now is not None and t <= now:
                p.add(f"{prefix}expires", f"{raw} is in the past")
        except ValueError:
            p.add(f"{prefix}expires", f"not a time: {raw!r} (e.g. 2026-12-31T23:59:59Z)")

    roles: dict[str, int] = {}
    people = spec.get("people")
    if not isinstance(people, Mapping) or not people:
        p.add(f"{prefix}people", f"expected a mapping of person id -> {{role, name, keys}}, got {_kind(people)}")
    else:
        for pid, person in people.items():
            path = f"{prefix}people.{pid}"
            if not PERSON_ID.match(str(pid)):
                p.add(path, "a person id is lower-case letters, digits, '.', '_' or '-' (it names files)")
            if not isinstance(person, Mapping):
                p.add(path, f"expected a mapping with role, name and keys, got {_kind(person)}")
                continue
            _unknown(p, f"{path}.", person, ("role", "name", "organisation", "keys"))
            role = _text(p, f"{path}.role", person.get("role"))
            if role:
                roles[role] = roles.get(role, 0) + 1
            for optional in ("name", "organisation"):
                if optional in person:
                    _text(p, f"{path}.{optional}", person[optional])
            keys = person.get("keys")
            if not isinstance(keys, list) or not keys:
                p.add(f"{path}.keys", f"expected a list of public key files, got {_kind(keys)}")
                continue
            for i, key in enumerate(keys):
                if isinstance(key, str):
                    _file(p, f"{path}.keys[{i}]", key, base)
                elif not isinstance(key, Mapping):
                    p.add(f"{path}.keys[{i}]", f"expected a public key file name, got {_kind(key)}")

    thresholds = spec.get("thresholds")
    if not isinstance(thresholds, Mapping) or not thresholds:
        p.add(f"{prefix}thresholds", f"expected a mapping of evidence type -> {{role: count}}, got {_kind(thresholds)}")
    else:
        for etype, need in thresholds.items():
            path = f"{prefix}thresholds.{etype}"
            if etype not in THRESHOLD_TYPES:
                p.add(path, f"unknown evidence type (known: {', '.join(THRESHOLD_TYPES)})")
            if not isinstance(need, Mapping) or not need:
                p.add(path, f"expected a mapping of role -> count such as {{directorate: 2}}, got {_kind(need)}")
                continue
            for role, n in need.items():
                if not isinstance(n, int) or isinstance(n, bool) or n < 1:
                    p.add(f"{path}.{role}", f"expected a count of at least 1, got {_kind(n)}")
                elif roles and role not in roles:
                    p.add(f"{path}.{role}", f"no person has role {role!r} (roles: {', '.join(sorted(roles))})")
                elif roles and n > roles[role]:
                    p.add(f"{path}.{role}", f"needs {n} but only {roles[role]} person(s) have role {role!r}")
        if "root" not in thresholds:
            p.add(f"{prefix}thresholds.root", "missing: who must sign the root itself")

    journal = spec.get("journal")
    if not isinstance(journal, Mapping):
        p.add(f"{prefix}journal", f"expected a mapping with origin and log_key, got {_kind(journal)}")
    else:
        _unknown(p, f"{prefix}journal.", journal, ("origin", "log_key"))
        _text(p, f"{prefix}journal.origin", journal.get("origin"))
        if journal.get("log_key") is not None:
            _file(p, f"{prefix}journal.log_key", journal["log_key"], base)

    tsas = spec.get("timestamp_authorities", [])
    if not isinstance(tsas, list):
        p.add(f"{prefix}timestamp_authorities", f"expected a list, got {_kind(tsas)}")
    else:
        for i, tsa in enumerate(tsas):
            path = f"{prefix}timestamp_authorities[{i}]"
            if not isinstance(tsa, Mapping):
                p.add(path, f"expected a mapping with name, url and certificates, got {_kind(tsa)}")
                continue
            _unknown(p, f"{path}.", tsa, ("name", "url", "certificates"))
            _text(p, f"{path}.name", tsa.get("name"))
            url = _text(p, f"{path}.url", tsa.get("url"))
            if url and not url.startswith(("http://", "https://")):
                p.add(f"{path}.url", f"expected an http(s) URL, got {url!r}")
            certs = tsa.get("certificates")
            if not isinstance(certs, list) or not certs:
                p.add(f"{path}.certificates", f"expected a list of CA certificate files, got {_kind(certs)}")
            else:
                for j, c in enumerate(certs):
                    _file(p, f"{path}.certificates[{j}]", c, base)


# --------------------------------------------------------------------------- plan


@dataclass(frozen=True)
class Evidence:
    """One statement the ceremony attests."""

    type: str
    document: Path
    backup: str | None  # zero report: NAME or NAME=SHA256 of the verified backup

    @property
    def envelope_name(self) -> str:
        return f"{self.type}.dsse.json"


@dataclass(frozen=True)
class Plan:
    path: Path
    directory: Path  # where everything the ceremony writes goes
    root_spec: dict[str, Any]  # the root spec mapping (inline or read from its file)
    root_spec_base: Path  # key and certificate paths in the spec are relative to this
    log_key: Path  # the journal log's PRIVATE key (the workstation's)
    actor: str  # who operates the workstation, in journal entries
    evidence: tuple[Evidence, ...]
    tar: bool

    # the files the ceremony writes, by step
    @property
    def root_file(self) -> Path:
        return self.directory / "root.json"

    @property
    def journal_file(self) -> Path:
        return self.directory / "journal.db"

    @property
    def checkpoint_file(self) -> Path:
        return self.directory / "checkpoint.note"

    @property
    def bundle_dir(self) -> Path:
        return self.directory / "evidence"

    @property
    def report_dir(self) -> Path:
        return self.directory / "report"

    def envelope(self, ev: Evidence) -> Path:
        return self.directory / ev.envelope_name


def load_plan(path: Path, *, now: dt.datetime | None = None) -> Plan:
    """Read and check a plan file; every problem at once, each named by its field."""
    data = read_yaml_input(path, "ceremony plan")
    p = Problems(str(path))
    base = path.parent
    if not isinstance(data, Mapping):
        p.add("plan", f"expected a mapping, got {_kind(data)}")
        p.raise_if_any()
        raise AssertionError("unreachable")  # pragma: no cover
    _unknown(p, "", data, _PLAN_FIELDS)
    if data.get("plan") != PLAN_VERSION:
        p.add("plan", f"expected {PLAN_VERSION} (the plan format version), got {_kind(data.get('plan'))}")
    directory = base / str(data.get("directory") or ".")

    spec: object = data.get("root")
    spec_base = base
    if isinstance(spec, str):  # a root spec file beside the plan
        spec_file = _file(p, "root", spec, base)
        spec = read_yaml_input(spec_file, "root spec") if spec_file else {}
        spec_base = spec_file.parent if spec_file else base
        prefix = f"root ({spec_file.name if spec_file else spec}): "
    else:
        prefix = "root."
    check_root_spec(spec, spec_base, p, prefix=prefix, now=now)

    journal = data.get("journal")
    log_key: Path | None = None
    actor = "operator"
    if not isinstance(journal, Mapping):
        p.add("journal", f"expected a mapping with log_key (the log's private key) and actor, got {_kind(journal)}")
    else:
        _unknown(p, "journal.", journal, ("log_key", "actor"))
        log_key = _file(p, "journal.log_key", journal.get("log_key"), base)
        actor = _text(p, "journal.actor", journal.get("actor", "operator")) or "operator"

    evidence: list[Evidence] = []
    items = data.get("evidence")
    if not isinstance(items, list) or not items:
        p.add("evidence", f"expected a list of {{type, document}}, got {_kind(items)}")
        items = []
    seen: set[str] = set()
    thresholds = spec.get("thresholds") if isinstance(spec, Mapping) else None
    for i, item in enumerate(items):
        path_i = f"evidence[{i}]"
        if not isinstance(item, Mapping):
            p.add(path_i, f"expected a mapping with type and document, got {_kind(item)}")
            continue
        _unknown(p, f"{path_i}.", item, ("type", "document", "backup"))
        etype = item.get("type")
        if etype not in ATTESTABLE_TYPES:
            p.add(f"{path_i}.type", f"expected one of {', '.join(ATTESTABLE_TYPES)}, got {_kind(etype)}")
            continue
        if etype in seen:
            p.add(f"{path_i}.type", f"a second {etype}: one statement per type in a plan")
        seen.add(etype)
        if isinstance(thresholds, Mapping) and etype not in thresholds:
            p.add(f"{path_i}.type", f"the root has no threshold for {etype}: nobody could make it count")
        doc = _file(p, f"{path_i}.document", item.get("document"), base)
        backup = item.get("backup")
        if backup is not None:
            if etype != "zero-report":
                p.add(f"{path_i}.backup", "only a zero-report names a backup")
            elif not isinstance(backup, str) or not backup.split("=", 1)[0]:
                p.add(f"{path_i}.backup", f"expected NAME or NAME=SHA256 of the backup, got {_kind(backup)}")
            elif "=" in backup and not is_sha256_hex(backup.split("=", 1)[1]):
                p.add(f"{path_i}.backup", "the digest after '=' must be a sha256 hex digest")
        elif etype == "zero-report":
            p.add(f"{path_i}.backup", "missing: the name of the verified backup the zero report names")
        if doc is not None:
            evidence.append(Evidence(str(etype), doc, backup if isinstance(backup, str) else None))

    bundle = data.get("bundle", {})
    tar = True
    if not isinstance(bundle, Mapping):
        p.add("bundle", f"expected a mapping such as {{tar: true}}, got {_kind(bundle)}")
    else:
        _unknown(p, "bundle.", bundle, ("tar",))
        tar = bool(bundle.get("tar", True))
    if directory.exists() and not directory.is_dir():
        p.add("directory", f"{directory} exists and is not a directory")
    p.raise_if_any()
    assert log_key is not None and isinstance(spec, Mapping)
    return Plan(path, directory, dict(spec), spec_base, log_key, actor, tuple(evidence), tar)
