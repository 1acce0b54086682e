"""The intervention plan: one witnessed change to frozen hosts, validated field by field.

A plan file (YAML) says what the room agreed before anyone touches a frozen
host: the type of procedure and why, who is present (people of the ceremony
root, named by id, and anyone else by name, role and organisation), which hosts
are affected and how their manifests are taken, what is expected to change
(`declared`: `KIND:GLOB` patterns over manifest entries) and the change itself
(a list of commands or an Ansible playbook). Every problem is reported at once,
each named by its field, in one line, before anything runs (the same checker as
the ceremony plan: `freeze.evidence.plan.Problems`).

This module only reads and checks; `freeze.intervention.run` carries it out.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from freeze.errors import InputError
from freeze.evidence.plan import Problems, _file, _kind, _text, _unknown
from freeze.evidence.root import PERSON_ID
from freeze.inputs import read_yaml_input
from freeze.manifest import SECTION_KINDS

PLAN_VERSION = 1
_FIELDS = ("intervention", "id", "procedure", "reason", "root", "journal", "log_key", "records",
           "reference", "profile", "hosts", "present", "declared", "change", "operator")
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
# the kinds a declared pattern may name: every manifest entry kind, plus the host identity
KINDS = tuple(sorted({*SECTION_KINDS.values(), "host", "collector"}))


@dataclass(frozen=True)
class Witness:
    """A person present: a person of the root (`person` set) or a named witness without a key."""

    person: str | None  # root person id; None: not in the root (press, notary, ...): never signs
    name: str
    role: str
    organisation: str

    def describe(self) -> str:
        org = f", {self.organisation}" if self.organisation else ""
        return f"{self.name} ({self.role}{org})"


@dataclass(frozen=True)
class HostSpec:
    """An affected host and how its manifest is taken (`local`: this machine; or over SSH)."""

    name: str
    collect: str  # "local" | "ssh"
    ssh: str | None = None
    identity: str | None = None
    known_hosts: str | None = None
    sudo: bool = False


@dataclass(frozen=True)
class Declared:
    """One expected change: entries of `kind` whose key matches the glob `pattern`."""

    kind: str
    pattern: str

    def text(self) -> str:
        return f"{self.kind}:{self.pattern}"


@dataclass(frozen=True)
class Change:
    commands: tuple[str, ...]  # each run with /bin/sh -c, in order, stopping at the first failure
    playbook: Path | None
    inventory: Path | None
    limit: str | None
    timeout: int

    @property
    def kind(self) -> str:
        return "playbook" if self.playbook else "commands"


@dataclass(frozen=True)
class Reference:
    """The freeze's signed manifests: the reference until an intervention replaces one."""

    envelope: Path
    manifests: Path  # DIR/HOST.manifest.json
    fleet: Path | None


@dataclass(frozen=True)
class InterventionPlan:
    path: Path
    id: str
    procedure: str
    reason: str
    root: Path
    journal: Path
    log_key: Path
    records: Path  # every intervention's directory, reference.json and the exported journal
    reference: Reference
    profile: Path
    hosts: tuple[HostSpec, ...]
    present: tuple[Witness, ...]
    declared: tuple[Declared, ...]
    change: Change
    operator: str

    @property
    def signers(self) -> tuple[str, ...]:
        return tuple(w.person for w in self.present if w.person)


def parse_declared(text: str) -> Declared:
    kind, sep, pattern = text.partition(":")
    if not sep or not pattern:
        raise InputError(f"{text!r}: expected KIND:GLOB such as file:/etc/app/*.conf")
    return Declared(kind, pattern)


def load_plan(path: Path, *, people: Mapping[str, Any] | None = None) -> InterventionPlan:
    """Read and check an intervention plan; every problem at once, each named by its field.

    `people`: the root's people (id -> Person), to check the ids named in `present`;
    None skips that check (the caller checks them once the root is loaded).
    """
    data = read_yaml_input(path, "intervention plan")
    p = Problems(str(path))
    base = path.parent
    if not isinstance(data, Mapping):
        p.add("plan", f"expected a mapping, got {_kind(data)}")
        p.raise_if_any()
        raise AssertionError("unreachable")  # pragma: no cover
    _unknown(p, "", data, _FIELDS)
    if data.get("intervention") != PLAN_VERSION:
        p.add("intervention", f"expected {PLAN_VERSION} (the plan format version), got "
                              f"{_kind(data.get('intervention'))}")
    ident = _text(p, "id", data.get("id"))
    if ident and not _ID.match(ident):
        p.add("id", "letters, digits, '.', '_' or '-' (it names the record's directory)")
    procedure = _text(p, "procedure", data.get("procedure")) or ""
    reason = _text(p, "reason", data.get("reason")) or ""
    root = _file(p, "root", data.get("root"), base)
    journal = _file(p, "journal", data.get("journal"), base)
    log_key = _file(p, "log_key", data.get("log_key"), base)
    profile = _file(p, "profile", data.get("profile"), base)
    records_text = _text(p, "records", data.get("records"))
    records = base / (records_text or ".")
    if records.exists() and not records.is_dir():
        p.add("records", f"{records} exists and is not a directory")
    operator = _text(p, "operator", data.get("operator", "operator")) or "operator"

    reference = _reference(p, data.get("reference"), base)
    hosts = _hosts(p, data.get("hosts"))
    present = _present(p, data.get("present"), people)
    declared = _declared(p, data.get("declared"))
    change = _change(p, data.get("change"), base)
    p.raise_if_any()
    assert root and journal and log_key and profile and reference and change and ident
    return InterventionPlan(path, ident, procedure, reason, root, journal, log_key, records, reference,
                            profile, hosts, present, declared, change, operator)


def _reference(p: Problems, ref: object, base: Path) -> Reference | None:
    if not isinstance(ref, Mapping):
        p.add("reference", f"expected a mapping with envelope, manifests (and fleet), got {_kind(ref)}")
        return None
    _unknown(p, "reference.", ref, ("envelope", "manifests", "fleet"))
    envelope = _file(p, "reference.envelope", ref.get("envelope"), base)
    manifests_text = _text(p, "reference.manifests", ref.get("manifests"))
    manifests = base / (manifests_text or ".")
    if manifests_text and not manifests.is_dir():
        p.add("reference.manifests", f"no such directory {manifests}")
    fleet = _file(p, "reference.fleet", ref["fleet"], base) if ref.get("fleet") is not None else None
    if envelope is None or not manifests_text:
        return None
    return Reference(envelope, manifests, fleet)


def _hosts(p: Problems, hosts: object) -> tuple[HostSpec, ...]:
    if not isinstance(hosts, Mapping) or not hosts:
        p.add("hosts", f"expected a mapping of host name -> {{collect: local}} or {{ssh: USER@HOST:PORT}}, "
                       f"got {_kind(hosts)}")
        return ()
    out = []
    for name, spec in hosts.items():
        path = f"hosts.{name}"
        if not isinstance(name, str) or not name or name.startswith(".") or "/" in name:
            p.add(path, "a host name must be usable as a file name")
            continue
        if not isinstance(spec, Mapping):
            p.add(path, f"expected a mapping such as {{collect: local}}, got {_kind(spec)}")
            continue
        _unknown(p, f"{path}.", spec, ("collect", "ssh", "identity", "known_hosts", "sudo"))
        collect = spec.get("collect", "ssh" if "ssh" in spec else None)
        if collect not in ("local", "ssh"):
            p.add(f"{path}.collect", f"expected local or ssh, got {_kind(collect)}")
            continue
        if collect == "ssh" and not spec.get("ssh"):
            p.add(f"{path}.ssh", "missing: [USER@]HOST[:PORT] to collect over SSH")
        if collect == "local" and any(k in spec for k in ("ssh", "identity", "known_hosts", "sudo")):
            p.add(path, "collect: local takes no SSH options")
        sudo = spec.get("sudo", False)
        if not isinstance(sudo, bool):
            p.add(f"{path}.sudo", f"expected true or false, got {_kind(sudo)}")
        opt = {k: str(spec[k]) if spec.get(k) else None for k in ("ssh", "identity", "known_hosts")}
        out.append(HostSpec(name, str(collect), opt["ssh"], opt["identity"], opt["known_hosts"], bool(sudo)))
    return tuple(out)


def _present(p: Problems, present: object, people: Mapping[str, Any] | None) -> tuple[Witness, ...]:
    if not isinstance(present, list) or not present:
        p.add("present", f"expected a list of people present ({{person: ID}} or {{name, role, organisation}}), "
                         f"got {_kind(present)}")
        return ()
    out: list[Witness] = []
    seen: set[str] = set()
    for i, w in enumerate(present):
        path = f"present[{i}]"
        if not isinstance(w, Mapping):
            p.add(path, f"expected a mapping, got {_kind(w)}")
            continue
        _unknown(p, f"{path}.", w, ("person", "name", "role", "organisation"))
        if "person" in w:
            pid = _text(p, f"{path}.person", w["person"])
            if pid is None:
                continue
            if not PERSON_ID.match(pid):
                p.add(f"{path}.person", "a person id of the ceremony root (lower-case letters, digits, . _ -)")
                continue
            if pid in seen:
                p.add(f"{path}.person", f"{pid} is listed twice")
            seen.add(pid)
            who = people.get(pid) if people is not None else None
            if people is not None and who is None:
                p.add(f"{path}.person", f"{pid} is not a person of the ceremony root "
                                        f"(people: {', '.join(sorted(people))})")
                continue
            for k in ("name", "role"):
                if k in w:
                    p.add(f"{path}.{k}", f"taken from the ceremony root for {pid}; leave it out")
            org = w.get("organisation")
            if org is not None:
                _text(p, f"{path}.organisation", org)
            out.append(Witness(pid, getattr(who, "name", pid), getattr(who, "role", ""),
                               str(org or getattr(who, "organisation", "") or "")))
        else:
            name = _text(p, f"{path}.name", w.get("name"))
            role = _text(p, f"{path}.role", w.get("role"))
            org = _text(p, f"{path}.organisation", w.get("organisation"))
            if name and role and org:
                out.append(Witness(None, name, role, org))
    return tuple(out)


def _declared(p: Problems, declared: object) -> tuple[Declared, ...]:
    if not isinstance(declared, list):
        p.add("declared", f"expected a list of KIND:GLOB (e.g. file:/etc/app/*), got {_kind(declared)}")
        return ()
    out = []
    for i, item in enumerate(declared):
        path = f"declared[{i}]"
        if not isinstance(item, str):
            p.add(path, f"expected KIND:GLOB text, got {_kind(item)}")
            continue
        try:
            d = parse_declared(item)
        except InputError as exc:
            p.add(path, str(exc))
            continue
        if d.kind not in KINDS:
            p.add(path, f"unknown kind {d.kind!r} (known: {', '.join(KINDS)})")
            continue
        out.append(d)
    return tuple(out)


def _change(p: Problems, change: object, base: Path) -> Change | None:
    if not isinstance(change, Mapping):
        p.add("change", f"expected a mapping with commands (a list) or playbook, got {_kind(change)}")
        return None
    _unknown(p, "change.", change, ("commands", "playbook", "inventory", "limit", "timeout"))
    timeout = change.get("timeout", 3600)
    if not isinstance(timeout, int) or isinstance(timeout, bool) or timeout < 1:
        p.add("change.timeout", f"expected seconds (at least 1), got {_kind(timeout)}")
        timeout = 3600
    has_commands, has_playbook = "commands" in change, "playbook" in change
    if has_commands == has_playbook:
        p.add("change", "give exactly one of commands (a list) or playbook")
        return None
    if has_commands:
        commands = change["commands"]
        if not isinstance(commands, list) or not commands:
            p.add("change.commands", f"expected a non-empty list of command lines, got {_kind(commands)}")
            return None
        for i, c in enumerate(commands):
            _text(p, f"change.commands[{i}]", c)
        for k in ("inventory", "limit"):
            if k in change:
                p.add(f"change.{k}", "belongs to a playbook change")
        return Change(tuple(str(c) for c in commands), None, None, None, timeout)
    playbook = _file(p, "change.playbook", change["playbook"], base)
    inventory = _file(p, "change.inventory", change.get("inventory"), base)
    limit = change.get("limit")
    if limit is not None:
        _text(p, "change.limit", limit)
    return Change((), playbook, inventory, str(limit) if limit else None, timeout)
