"""Per-host freeze profiles: the operator's base profile plus the fragments of the roles
applied to the host.

Each role knows what it manages: the results website its document root, its mode
selector (a `switch`) and the transient units its mode switch starts; PostgreSQL its
data directory (checked over SQL, so excluded from the file walk). A role ships that
knowledge as a *fragment* (``roles/ROLE/meta/freeze_profile.yml``), and a host's
profile is composed from the base and the fragments of the roles the site playbook
applies to it, so one host's paths never become another host's errors and nobody has
to keep a single fleet-wide profile in step with every role.

A fragment may only *add* coverage knowledge; policy stays with the operator:

    version: 1
    paths: [...]                          # entries exactly as a profile's `paths`
    services: {known_transient: [...]}    # exact unit names
    kernel: {modules_on_demand: [...]}    # exact module names

Composition is deterministic (the digest of the composed bytes is what every manifest
records, so the same inputs must give the same bytes on any controller):
  * paths are the union, sorted by path; two fragments that disagree on a path are an
    error naming both; where the base names the same path as a fragment, the base (the
    operator) wins and the composed profile's header says so;
  * ``known_transient`` and ``modules_on_demand`` are sorted unions, dropped when the
    base turns their section off (the operator's choice);
  * every other section (packages, accounts, network, database, zero, evidence) is the
    base's, unchanged;
  * the header comments name the base and each fragment by sha256, so an auditor can
    compose again and compare (`freeze profile compose`).

`roles_for_host` reads which roles a playbook applies to a host: plays' `hosts`
patterns (group and host names, `all`, `:`/`,` unions, `&` intersections, `!`
exclusions) evaluated against the inventory's groups, their `roles:` and their
`import_role`/`include_role` tasks, following `import_playbook`. Anything it cannot
evaluate exactly (a templated or wildcard pattern) is an error, never a guess.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from freeze.errors import InputError
from freeze.inputs import read_input
from freeze.profile import PathRule, Profile, parse_profile

FRAGMENT_KEYS = ("version", "paths", "services", "kernel")
COLLECTION_PREFIX = "election.freeze."


@dataclass(frozen=True)
class Fragment:
    """One role's validated fragment. `sha256` is over the (rendered) bytes."""

    role: str
    paths: tuple[dict[str, Any], ...]
    known_transient: tuple[str, ...]
    modules_on_demand: tuple[str, ...]
    sha256: str


@dataclass(frozen=True)
class Composition:
    """A composed host profile: its exact bytes and their validated reading."""

    text: bytes
    profile: Profile
    roles: tuple[str, ...]
    # "PATH (ROLE)": a role's entry the base's own entry for the same path replaced
    overridden: tuple[str, ...]

    @property
    def sha256(self) -> str:
        return self.profile.digest


def _entry(rule: PathRule) -> dict[str, Any]:
    """A path rule as its shortest equivalent entry (defaults left out): the form both
    compared and written, so equal rules compare equal however they were spelled."""
    out: dict[str, Any] = {"path": rule.path}
    if rule.volatility != "static":
        out["volatility"] = rule.volatility
    if not rule.recursive:
        out["recursive"] = False
    if rule.include:
        out["include"] = list(rule.include)
    if rule.exclude:
        out["exclude"] = list(rule.exclude)
    if rule.targets:
        out["targets"] = list(rule.targets)
    return out


def parse_fragment(data: bytes, role: str) -> Fragment:
    """Validate a fragment's bytes (YAML, already rendered). Errors name the role and key."""
    source = f"{role} freeze profile fragment"
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise InputError(f"{source}: invalid YAML: {problem}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise InputError(f"{source}: must be a YAML mapping at the top level")
    for key in raw:
        if key not in FRAGMENT_KEYS:
            raise InputError(f"{source}: {key}: unknown key (a fragment may only set "
                             f"{', '.join(FRAGMENT_KEYS)}; the rest is the operator's base profile)")
    services = raw.get("services") or {}
    kernel = raw.get("kernel") or {}
    for section, value, allowed in (("services", services, "known_transient"),
                                    ("kernel", kernel, "modules_on_demand")):
        if not isinstance(value, dict):
            raise InputError(f"{source}: {section}: must be a mapping")
        for key in value:
            if key != allowed:
                raise InputError(f"{source}: {section}.{key}: unknown key (a fragment may only set "
                                 f"{section}.{allowed})")
    # The profile's own validation, so a fragment's entry means exactly what it would
    # mean in a profile (the same errors, the same normalisation).
    probe = {"version": raw.get("version", 1), "name": role, "paths": raw.get("paths") or [],
             "services": dict(services), "kernel": {"modules": True, **kernel}}
    checked = parse_profile(yaml.safe_dump(probe).encode(), source)
    return Fragment(
        role=role,
        paths=tuple(_entry(r) for r in checked.paths),
        known_transient=tuple(checked.services.get("known_transient", ())),
        modules_on_demand=tuple(checked.kernel.get("modules_on_demand", ())),
        sha256=hashlib.sha256(data).hexdigest(),
    )


def compose_profile(base: bytes, base_source: str, fragments: Sequence[Fragment], *,
                    host: str | None = None) -> Composition:
    """The host's profile: the base plus the fragments (order-independent)."""
    base_profile = parse_profile(base, base_source)
    by_role = sorted(fragments, key=lambda f: f.role)
    names = [f.role for f in by_role]
    if len(set(names)) != len(names):
        raise InputError(f"{base_source}: a role's fragment is given twice: "
                         + ", ".join(sorted({n for n in names if names.count(n) > 1})))

    entries: dict[str, dict[str, Any]] = {r.path: _entry(r) for r in base_profile.paths}
    from_role: dict[str, tuple[str, dict[str, Any]]] = {}
    overridden: list[str] = []
    for frag in by_role:
        for entry in frag.paths:
            path = entry["path"]
            if path in from_role and from_role[path][1] != entry:
                other = from_role[path][0]
                raise InputError(f"freeze profile fragments of {other} and {frag.role} disagree on "
                                 f"{path}: {from_role[path][1]} vs {entry}")
            from_role[path] = (frag.role, entry)
    for path, (role, entry) in sorted(from_role.items()):
        if path in entries:
            if entries[path] != entry:
                overridden.append(f"{path} ({role})")
            continue
        entries[path] = entry

    doc: dict[str, Any] = {"version": 1,
                           "name": f"{base_profile.name}/{host}" if host else base_profile.name,
                           "root": base_profile.root,
                           "paths": [entries[p] for p in sorted(entries)]}
    raw = base_profile.raw
    for key, value in raw.items():
        if key not in doc:
            doc[key] = value
    if base_profile.services["enabled"]:
        units = sorted(set(base_profile.known_transient).union(*(f.known_transient for f in by_role)))
        if units:
            doc["services"] = {**(raw.get("services") or {}), "known_transient": units}
    if base_profile.kernel["enabled"] and base_profile.kernel["modules"]:
        modules = sorted(set(base_profile.modules_on_demand).union(*(f.modules_on_demand for f in by_role)))
        if modules:
            doc["kernel"] = {**(raw.get("kernel") or {}), "modules_on_demand": modules}

    header = [f"# Freeze profile composed by election.freeze{' for ' + host if host else ''}: "
              "do not edit, compose again (freeze profile compose).",
              f"# base: {base_source} sha256:{base_profile.digest}"]
    header += [f"# role fragment: {f.role} sha256:{f.sha256}" for f in by_role] or ["# role fragments: none"]
    header += [f"# the base's entry kept over the role's: {item}" for item in overridden]
    body = yaml.safe_dump(doc, sort_keys=False, default_flow_style=False, width=4096, allow_unicode=False)
    text = ("\n".join(header) + "\n---\n" + body).encode()
    source = f"composed profile{' for ' + host if host else ''}"
    return Composition(text=text, profile=parse_profile(text, source), roles=tuple(names),
                       overridden=tuple(overridden))


# --------------------------------------------------------------------------- playbooks

_UNSUPPORTED = re.compile(r"[*?\[\]~{}]")


def _hosts_matching(pattern: str, groups: Mapping[str, Sequence[str]], where: str) -> set[str]:
    everyone = set(groups.get("all", ()))
    union: set[str] = set()
    intersect: list[set[str]] = []
    exclude: set[str] = set()
    for term in (t.strip() for t in re.split(r"[:,]", pattern)):
        if not term:
            continue
        op = term[0] if term[0] in "&!" else ""
        name = term[1:] if op else term
        if name in ("all", "*"):
            hosts = everyone
        elif _UNSUPPORTED.search(name):
            raise InputError(f"{where}: hosts pattern {pattern!r}: {name!r} cannot be evaluated "
                             "exactly here (wildcards, regexes and templates are not); name the roles "
                             "per host instead")
        elif name in groups:
            hosts = set(groups[name])
        else:
            hosts = {name} & everyone
        if op == "&":
            intersect.append(hosts)
        elif op == "!":
            exclude |= hosts
        else:
            union |= hosts
    for part in intersect:
        union &= part
    return union - exclude


def _role_name(entry: Any, where: str) -> str:
    name = entry.get("role", entry.get("name")) if isinstance(entry, dict) else entry
    if not isinstance(name, str) or not name:
        raise InputError(f"{where}: a role entry without a name")
    return name.removeprefix(COLLECTION_PREFIX)


_ROLE_ACTIONS = {f"{p}{a}" for p in ("", "ansible.builtin.", "ansible.legacy.")
                 for a in ("import_role", "include_role")}


def _task_roles(tasks: Any, where: str) -> list[str]:
    out: list[str] = []
    for i, task in enumerate(tasks or []):
        if not isinstance(task, dict):
            continue
        for key in ("block", "rescue", "always"):
            out += _task_roles(task.get(key), f"{where}[{i}].{key}")
        for action in _ROLE_ACTIONS & set(task):
            out.append(_role_name(task[action], f"{where}[{i}].{action}"))
    return out


def roles_for_host(playbook: str | Path, host: str, groups: Mapping[str, Sequence[str]],
                   _seen: frozenset[Path] = frozenset()) -> list[str]:
    """Roles `playbook` applies to `host` (sorted, unique; collection roles by short name)."""
    path = Path(playbook).resolve()
    if path in _seen:
        raise InputError(f"{path.name}: imports itself (import_playbook loop)")
    try:
        plays = yaml.safe_load(read_input(path, "playbook"))
    except yaml.YAMLError as exc:
        raise InputError(f"{path.name}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if not isinstance(plays, list):
        raise InputError(f"{path.name}: a playbook must be a list of plays")
    found: set[str] = set()
    for i, play in enumerate(plays):
        where = f"{path.name} play {i + 1}"
        if not isinstance(play, dict):
            raise InputError(f"{where}: must be a mapping")
        imported = play.get("ansible.builtin.import_playbook", play.get("import_playbook"))
        if imported is not None:
            if not isinstance(imported, str) or "{{" in imported or imported.startswith(COLLECTION_PREFIX):
                raise InputError(f"{where}: import_playbook {imported!r}: only a relative file name "
                                 "can be followed here")
            found.update(roles_for_host(path.parent / imported, host, groups, _seen | {path}))
            continue
        pattern = play.get("hosts")
        if isinstance(pattern, list):
            pattern = ",".join(str(p) for p in pattern)
        if not isinstance(pattern, str):
            raise InputError(f"{where}: hosts must be a pattern string")
        if host not in _hosts_matching(pattern, groups, where):
            continue
        found.update(_role_name(r, f"{where} roles[{j}]") for j, r in enumerate(play.get("roles") or []))
        for section in ("pre_tasks", "tasks", "post_tasks", "handlers"):
            found.update(_task_roles(play.get(section), f"{where} {section}"))
    return sorted(found)


# --------------------------------------------------------------------------- fragments of roles

FRAGMENT_FILE = Path("meta") / "freeze_profile.yml"
_REFERENCE = re.compile(r"\{\{(.*?)\}\}")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def render_fragment(text: str, role: str, defaults: Mapping[str, Any],
                    overrides: Mapping[str, Any] | None = None) -> bytes:
    """Put the role's variables into its fragment: ``{{ NAME }}`` only, NAME one of the
    role's own documented defaults (its prefix, e.g. results_website_root), the value
    the host's inventory gives it or else the default. Nothing else is evaluated: a
    fragment follows the role's configuration without being a program."""
    where = f"{role} freeze profile fragment"

    def value(match: re.Match[str]) -> str:
        name = match.group(1).strip()
        if not _IDENTIFIER.fullmatch(name):
            raise InputError(f"{where}: {match.group(0)}: only a plain variable name is allowed")
        if not name.startswith(role + "_") or name not in defaults:
            raise InputError(f"{where}: {name}: not one of the role's documented defaults")
        # only the names the fragment uses are looked up: the host's other values (vault
        # secrets among them) are never read
        val = overrides[name] if overrides is not None and name in overrides else defaults[name]
        if not isinstance(val, str) or "{{" in val or "\n" in val:
            raise InputError(f"{where}: {name}: must be a plain one-line string for the fragment")
        return val

    return _REFERENCE.sub(value, text).encode()


def role_defaults(role_dir: str | Path) -> dict[str, Any]:
    """The role's defaults/main.yml (an empty mapping when it has none)."""
    path = Path(role_dir) / "defaults" / "main.yml"
    if not path.is_file():
        return {}
    data = yaml.safe_load(read_input(path, "role defaults"))
    return data if isinstance(data, dict) else {}


def load_fragment(roles_dir: str | Path, role: str,
                  overrides: Mapping[str, Any] | None = None) -> Fragment | None:
    """The role's fragment rendered with its defaults (and `overrides`, the host's own
    values of the role's variables), or None when the role ships none."""
    role_dir = Path(roles_dir) / role
    path = role_dir / FRAGMENT_FILE
    if not path.is_file():
        return None
    text = read_input(path, "fragment").decode()
    return parse_fragment(render_fragment(text, role, role_defaults(role_dir), overrides), role)


# --------------------------------------------------------------------------- one host, end to end


def inventory_view(inventory: str | Path) -> tuple[dict[str, list[str]], dict[str, dict[str, Any]]]:
    """(groups -> hosts, host -> its variables) of an Ansible inventory, as
    `ansible-inventory --list` resolves them (children groups flattened)."""
    import json
    import shutil
    import subprocess
    import sys

    from freeze.errors import UnavailableError

    tool = Path(sys.executable).with_name("ansible-inventory")
    command = str(tool) if tool.exists() else shutil.which("ansible-inventory")
    if not command:
        raise UnavailableError("ansible-inventory is not installed (pip install 'election-freeze[ops]')")
    if not Path(inventory).exists():
        raise InputError(f"{inventory}: no such inventory")
    proc = subprocess.run([command, "-i", str(inventory), "--list", "--export"], capture_output=True,
                          text=True, timeout=300, check=False)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
        raise InputError(f"{inventory}: ansible-inventory failed: {lines[-1] if lines else proc.returncode}")
    data = json.loads(proc.stdout)
    hostvars: dict[str, dict[str, Any]] = data.get("_meta", {}).get("hostvars", {})

    def members(group: str, seen: frozenset[str] = frozenset()) -> set[str]:
        if group in seen:
            return set()
        node = data.get(group, {})
        hosts = set(node.get("hosts", []))
        for child in node.get("children", []):
            hosts |= members(child, seen | {group})
        return hosts

    groups = {g: sorted(members(g)) for g in data if g != "_meta"}
    groups["all"] = sorted(set(hostvars) | set(groups.get("all", [])))
    return groups, hostvars


def compose_for_host(base: str | Path, roles_dir: str | Path, roles: Sequence[str], host: str,
                     host_vars: Mapping[str, Any] | None = None) -> Composition:
    """The host's composed profile from files: the base, the roles' fragments rendered
    with the host's own values of each role's variables (`host_vars`, read lazily: only
    the names a fragment uses are looked up)."""
    fragments = []
    for role in sorted(set(roles)):
        # render_fragment reads only the role's own names the fragment uses
        frag = load_fragment(roles_dir, role, host_vars)
        if frag is not None:
            fragments.append(frag)
    base_path = Path(base)
    return compose_profile(read_input(base_path, "profile"), base_path.name, fragments, host=host)
