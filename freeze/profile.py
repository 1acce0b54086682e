"""The freeze profile: which parts of the counting system a manifest covers.

A profile is the operator's policy, written in YAML and itself hashed into every
manifest (`Profile.digest`), so a verifier can tell that a manifest was taken with
the policy it is being checked against. Validation is strict: an unknown key is a
typo that would silently leave something unchecked, so it is an error naming the
key path (``profile.yml: paths[2].volatility: must be one of static, growing, rotating, rewritten, excluded, switch``).
The only exceptions are the top-level ``zero`` and ``evidence`` sections, which the
zero and evidence modules validate themselves; they are passed through raw.

Path rules follow AIDE's spirit:
  * every ``paths`` entry names a directory or file tree, with ``include`` and
    ``exclude`` globs (fnmatch, matched against the full path; ``**`` is not special,
    ``*`` matches ``/`` too) and ``recursive: false`` to cover a directory and its
    direct entries only;
  * a volatility class per entry: ``static`` (any change is drift), ``growing``
    (log-like: may only grow, same inode, and the bytes recorded before must hash
    the same), ``rotating`` (a log directory logrotate rotates: ``growing``, plus
    numbered rotation ``NAME`` -> ``NAME.1`` -> ``NAME.2.gz`` ... modelled, see
    freeze.rotation), ``rewritten`` (records rewritten in place, e.g. lastlog: type,
    mode, owner, inode, links, xattrs judged, content, size and times not),
    ``excluded`` (not recorded at all), ``switch`` (one symlink whose target may be
    any of its ``targets``, e.g. a mode selector: see below);
  * when entries nest, the longest matching path governs (``/var/lib`` static with
    ``/var/lib/postgresql`` excluded);
  * a ``switch`` entry names ONE path, a symlink, with ``targets``: the link texts it
    may hold (compared with readlink's text exactly, so ``mode-attack.conf`` is not
    ``./mode-attack.conf``). Pointing it at another listed target is not drift (verify
    reports which one is active); another target, anything but a symlink in its
    place, its removal or an owner/mode change is. ``targets`` is required for
    ``switch`` and refused elsewhere; ``recursive``, ``include`` and ``exclude`` are
    refused with it (it is not a tree). A host without the path records nothing for
    it (one profile serves several hosts); a snapshot refuses one whose link is not
    one of its targets (freeze.snapshot), so the frozen state is a known one.

``services.known_transient`` lists the transient systemd units a known operation
may start and stop after the freeze (the results website's revert timer, which its
mode switch makes with systemd-run): exact unit names ending in .service, .timer,
.socket or .path (the types the services section records), no globs, no templates.
Such a unit appearing, changing state or going is reported, not drift, as long as it
is transient (no unit file) or absent; a unit file under the name is (freeze.judge
``transient_problem``).

``kernel.modules_on_demand`` lists the kernel modules ordinary user-space tools load
on demand, which a reboot unloads (``ss`` and monitoring agents load the sock_diag
modules inet_diag, tcp_diag, ...; creating a veth pair loads veth): exact module
names as /proc/modules spells them (``[a-z0-9_]``: the kernel turns a hyphen in a
module name into an underscore, so a hyphen is refused rather than silently
matching nothing), no globs. Such a module being loaded, unloaded or changing size
is reported, not drift (freeze.judge ``on_demand_problem``); any other module is
judged as before.

Secrets: the database DSN never comes from the command line (it would show in
`ps` and shell history). It comes from an environment variable named in the
profile or from a file only its owner can read; errors never print it.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from freeze.errors import InputError, NoInputError
from freeze.inputs import read_input, read_owner_only
from freeze.judge import governing_rule

VOLATILITY_CLASSES = ("static", "growing", "rotating", "rewritten", "excluded", "switch")

# Kernel parameters that say something about the attack surface of a counting server.
DEFAULT_SYSCTLS = (
    "kernel.kptr_restrict",
    "kernel.dmesg_restrict",
    "kernel.yama.ptrace_scope",
    "kernel.unprivileged_bpf_disabled",
    "kernel.kexec_load_disabled",
    "kernel.randomize_va_space",
    "kernel.modules_disabled",
    "kernel.sysrq",
    "fs.protected_hardlinks",
    "fs.protected_symlinks",
    "fs.suid_dumpable",
    "net.ipv4.ip_forward",
    "net.ipv6.conf.all.forwarding",
    "net.ipv4.conf.all.accept_redirects",
    "net.ipv4.conf.all.send_redirects",
    "net.ipv4.conf.all.accept_source_route",
    "net.ipv4.conf.all.rp_filter",
    "net.ipv4.tcp_syncookies",
    "net.ipv6.conf.all.accept_ra",
)


@dataclass(frozen=True)
class PathRule:
    """One ``paths`` entry."""

    path: str
    volatility: str = "static"
    recursive: bool = True
    include: tuple[str, ...] = ()
    exclude: tuple[str, ...] = ()
    # `switch` only: the link texts the symlink may hold (known alternatives)
    targets: tuple[str, ...] = ()

    def to_spec(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "volatility": self.volatility,
            "recursive": self.recursive,
            "include": list(self.include),
            "exclude": list(self.exclude),
            # only when set, so the spec of a rule without it stays what it was
            **({"targets": list(self.targets)} if self.targets else {}),
        }


@dataclass(frozen=True)
class DatabaseSpec:
    """Where the counting database is and which part of it a manifest covers."""

    dsn_env: str | None = None
    dsn_file: str | None = None
    schemas: tuple[str, ...] = ("public",)
    tables: tuple[str, ...] = ()  # "schema.table"; empty = every table of `schemas`
    exclude_tables: tuple[str, ...] = ()
    # Per-row digests (so drift names the row) for tables up to this many rows.
    row_detail_limit: int = 10000
    # "schema.sequence" the application advances by itself although no table
    # whose content is excluded owns it (e.g. a free-standing sheet-number
    # sequence): position recorded as a fact, not compared; parameters still are.
    volatile_sequences: tuple[str, ...] = ()
    # Record each detailed row's column values (as text) in the manifest, so drift
    # shows a changed row column by column with old and new values. Off by default:
    # the manifest then carries table content, which may not be for every reader.
    row_values: bool = False

    def resolve_dsn(self) -> str:
        """Return the DSN from the environment or from an owner-only file.

        Raises InputError/NoInputError/RefusedError with messages that name the
        variable or file but never its content.
        """
        if self.dsn_env:
            value = os.environ.get(self.dsn_env, "")
            if not value.strip():
                raise InputError(
                    f"database.dsn_env: environment variable {self.dsn_env} is not set or empty"
                )
            return value.strip()
        assert self.dsn_file is not None  # enforced by validation
        path = Path(self.dsn_file)
        raw = read_owner_only(path, "database.dsn_file")
        try:
            value = raw.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise InputError(f"database.dsn_file: {path}: not UTF-8 text") from None
        if not value:
            raise InputError(f"database.dsn_file: {path}: empty")
        return value

    def to_spec(self) -> dict[str, Any]:
        return {
            "schemas": list(self.schemas),
            "tables": list(self.tables),
            "exclude_tables": list(self.exclude_tables),
            "row_detail_limit": self.row_detail_limit,
            "volatile_sequences": list(self.volatile_sequences),
            # only when set, so the digest of a profile without it stays what it was
            **({"row_values": True} if self.row_values else {}),
        }


@dataclass(frozen=True)
class Profile:
    """A validated freeze profile. `raw` is the parsed YAML, `digest` its sha256."""

    name: str
    root: str
    paths: tuple[PathRule, ...]
    packages: dict[str, Any]
    services: dict[str, Any]
    accounts: dict[str, Any]
    network: dict[str, Any]
    kernel: dict[str, Any]
    database: DatabaseSpec | None
    zero: dict[str, Any] | None = None
    evidence: dict[str, Any] | None = None
    digest: str = ""
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def known_transient(self) -> frozenset[str]:
        """`services.known_transient`: transient units a known operation may start and stop."""
        return frozenset(self.services.get("known_transient", ()))

    @property
    def modules_on_demand(self) -> frozenset[str]:
        """`kernel.modules_on_demand`: modules user-space tools load on demand."""
        return frozenset(self.kernel.get("modules_on_demand", ()))

    def rule_for(self, path: str) -> PathRule | None:
        """The governing rule for `path`: the longest rule path that contains it."""
        return governing_rule(self.paths, path, lambda rule: rule.path)

    def collect_spec(self) -> dict[str, Any]:
        """Plain-data instructions for the stdlib-only collectors (local or remote)."""
        return {
            "root": self.root,
            "paths": [r.to_spec() for r in self.paths],
            "packages": dict(self.packages),
            "services": {k: list(v) if isinstance(v, list) else v
                         for k, v in self.services.items()},
            "accounts": dict(self.accounts),
            "network": dict(self.network),
            "kernel": {k: list(v) if isinstance(v, list) else v
                       for k, v in self.kernel.items()},
        }


# --------------------------------------------------------------------------- validation


class _V:
    """Validation helpers that build `file: key.path: message` errors."""

    def __init__(self, source: str) -> None:
        self.source = source

    def fail(self, where: str, msg: str) -> InputError:
        return InputError(f"{self.source}: {where}: {msg}" if where else f"{self.source}: {msg}")

    def mapping(self, value: Any, where: str, allowed: set[str]) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.fail(where, "must be a mapping")
        for key in value:
            if not isinstance(key, str):
                raise self.fail(where, f"key {key!r} must be a string")
            if key not in allowed:
                raise self.fail(
                    f"{where}.{key}" if where else key,
                    f"unknown key (allowed: {', '.join(sorted(allowed))})",
                )
        return value

    def boolean(self, value: Any, where: str, default: bool) -> bool:
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.fail(where, "must be true or false")
        return value

    def string(self, value: Any, where: str, *, default: str | None = None) -> str:
        if value is None and default is not None:
            return default
        if not isinstance(value, str) or not value:
            raise self.fail(where, "must be a non-empty string")
        if "\x00" in value:
            raise self.fail(where, "must not contain NUL")
        return value

    def abspath(self, value: Any, where: str, *, default: str | None = None) -> str:
        s = self.string(value, where, default=default)
        if not s.startswith("/"):
            raise self.fail(where, "must be an absolute path")
        norm = os.path.normpath(s)
        return "/" if norm in ("/", "//") else norm

    def strings(self, value: Any, where: str) -> tuple[str, ...]:
        if value is None:
            return ()
        if isinstance(value, str) or not isinstance(value, list):
            raise self.fail(where, "must be a list of strings")
        return tuple(self.string(v, f"{where}[{i}]") for i, v in enumerate(value))

    def integer(self, value: Any, where: str, default: int, minimum: int = 0) -> int:
        if value is None:
            return default
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise self.fail(where, f"must be an integer >= {minimum}")
        return value


# Kernel-generated trees: reading them hashes device memory or never ends (/proc/kcore).
_VIRTUAL_FS = ("/proc", "/sys", "/dev", "/run")

_TOP_KEYS = {
    "version", "name", "root", "paths", "packages", "services", "accounts",
    "network", "kernel", "database", "zero", "evidence",
}


def _targets(v: _V, m: dict[str, Any], where: str, volatility: str) -> tuple[str, ...]:
    """A `switch` rule's known link targets (required, non-empty, distinct); refused
    on every other class, and a switch refuses the keys that describe a tree."""
    if volatility != "switch":
        if "targets" in m:
            raise v.fail(f"{where}.targets", f"only for volatility switch (this entry is "
                         f"{volatility})")
        return ()
    for key in ("recursive", "include", "exclude"):
        if key in m:
            raise v.fail(f"{where}.{key}", "not for volatility switch (it names one symlink, "
                         "not a tree)")
    if m.get("targets") is None:
        raise v.fail(f"{where}.targets", "required for volatility switch (the link targets "
                     "it may hold)")
    targets = v.strings(m["targets"], f"{where}.targets")
    if not targets:
        raise v.fail(f"{where}.targets", "must list at least one target")
    for i, target in enumerate(targets):
        if target in targets[:i]:
            raise v.fail(f"{where}.targets[{i}]", f"{target} is listed twice")
    return targets


# The unit types the services section records (freeze.collect.services).
UNIT_TYPES = ("service", "timer", "socket", "path")
# systemd's unit name characters (unit_name_is_valid): a prefix, an optional
# @instance, a type suffix
_UNIT_NAME = re.compile(r"[A-Za-z0-9:_.\\-]+(@[A-Za-z0-9:_.\\-]*)?\.[a-z]+")
_GLOB_CHARS = frozenset("*?[]")


def _exact_names(v: _V, section: dict[str, Any], key: str, where: str, noun: str,
                 off: str | None, check: Callable[[str, str], None]) -> list[str]:
    """A list of exact names at `section[key]` (a glob would let anything of a matching
    name come and go unreported), each once. `off`: why the section records none (the
    key is then refused); `check(at, name)`: the kind's own spelling rules."""
    if key not in section:
        return []
    if off:
        raise v.fail(where, off)
    names = v.strings(section[key], where)
    if not names:
        raise v.fail(where, f"must list at least one {noun} (or leave the key out)")
    for i, name in enumerate(names):
        at = f"{where}[{i}]"
        if _GLOB_CHARS & set(name):
            raise v.fail(at, f"{name}: a glob; name each {noun} exactly")
        check(at, name)
        if name in names[:i]:
            raise v.fail(at, f"{name} is listed twice")
    return list(names)


def _known_transient(v: _V, sv: dict[str, Any], enabled: bool) -> list[str]:
    """`services.known_transient`: exact unit names, only with the section on."""
    def check(at: str, unit: str) -> None:
        if unit.rsplit(".", 1)[-1] not in UNIT_TYPES:
            raise v.fail(at, f"{unit}: must end in "
                         + ", ".join("." + t for t in UNIT_TYPES[:-1])
                         + f" or .{UNIT_TYPES[-1]} (the unit types the services section records)")
        if len(unit) > 255 or not _UNIT_NAME.fullmatch(unit):
            raise v.fail(at, f"{unit}: must be a systemd unit name (letters, digits and "
                         ":_.-\\ before the type, an optional @instance)")
        if "@." in unit:
            raise v.fail(at, f"{unit}: a template, never a running unit; name the instance "
                         "(NAME@INSTANCE.TYPE)")

    off = None if enabled else "only with the services section enabled (enabled: false records no units)"
    return _exact_names(v, sv, "known_transient", "services.known_transient", "unit", off, check)


# A module name as /proc/modules lists it (the kernel's KBUILD_MODNAME: a hyphen in
# the file name becomes an underscore), shorter than MODULE_NAME_LEN (64 - 8).
_MODULE_NAME = re.compile(r"[a-z0-9_]{1,55}")


def _modules_on_demand(v: _V, kn: dict[str, Any], enabled: bool, modules: bool) -> list[str]:
    """`kernel.modules_on_demand`: exact module names (a rootkit's module of a matching
    name would otherwise load unreported), only with the modules recorded."""
    def check(at: str, name: str) -> None:
        if "-" in name and _MODULE_NAME.fullmatch(name.replace("-", "_")):
            raise v.fail(at, f"{name}: /proc/modules spells module names with underscores; "
                         f"write {name.replace('-', '_')}")
        if not _MODULE_NAME.fullmatch(name):
            raise v.fail(at, f"{name}: must be a module name as /proc/modules lists it "
                         "(a-z, 0-9 and _, at most 55 characters)")

    off = None
    if not enabled or not modules:
        off = ("only with the kernel section's modules recorded ("
               + ("enabled: false" if not enabled else "modules: false") + " records no modules)")
    return _exact_names(v, kn, "modules_on_demand", "kernel.modules_on_demand", "module", off, check)


def parse_profile(data: bytes, source: str = "profile") -> Profile:
    """Validate profile bytes (YAML). Pure: no file system access."""
    v = _V(source)
    try:
        raw = yaml.safe_load(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "invalid YAML"
        raise v.fail(where, f"invalid YAML: {problem}") from None
    if not isinstance(raw, dict):
        raise v.fail("", "must be a YAML mapping at the top level")
    top = v.mapping(raw, "", _TOP_KEYS)
    version = top.get("version", 1)
    if version != 1:
        raise v.fail("version", "must be 1")
    name = v.string(top.get("name"), "name", default="unnamed")
    root = v.abspath(top.get("root"), "root", default="/")

    rules: list[PathRule] = []
    paths_raw = top.get("paths")
    if paths_raw is None:
        paths_raw = []
    if not isinstance(paths_raw, list):
        raise v.fail("paths", "must be a list")
    seen: set[str] = set()
    for i, item in enumerate(paths_raw):
        where = f"paths[{i}]"
        if isinstance(item, str):
            item = {"path": item}
        m = v.mapping(item, where,
                      {"path", "volatility", "recursive", "include", "exclude", "targets"})
        p = v.abspath(m.get("path"), f"{where}.path")
        if p in seen:
            raise v.fail(f"{where}.path", f"{p} is listed twice")
        if any(p == d or p.startswith(d + "/") for d in _VIRTUAL_FS) or p == "/" and root == "/":
            raise v.fail(f"{where}.path", f"{p} is or contains a virtual file system "
                         f"({', '.join(_VIRTUAL_FS)}); list the real directories instead")
        seen.add(p)
        vol = m.get("volatility", "static")
        if vol not in VOLATILITY_CLASSES:
            raise v.fail(f"{where}.volatility", "must be one of " + ", ".join(VOLATILITY_CLASSES))
        rules.append(PathRule(
            path=p,
            volatility=vol,
            recursive=v.boolean(m.get("recursive"), f"{where}.recursive", True),
            include=v.strings(m.get("include"), f"{where}.include"),
            exclude=v.strings(m.get("exclude"), f"{where}.exclude"),
            targets=_targets(v, m, where, vol),
        ))
    for i, rule in enumerate(rules):
        if rule.volatility == "switch":
            inner = next((r.path for r in rules if r.path.startswith(rule.path + "/")), None)
            if inner is not None:
                raise v.fail(f"paths[{i}].path", f"{rule.path} is a switch (one symlink) but "
                             f"{inner} is listed below it")

    pk = v.mapping(top.get("packages"), "packages", {"enabled", "dpkg_admindir", "rpm"})
    packages = {
        "enabled": v.boolean(pk.get("enabled"), "packages.enabled", True),
        "dpkg_admindir": v.abspath(pk.get("dpkg_admindir"), "packages.dpkg_admindir",
                                   default="/var/lib/dpkg"),
        "rpm": v.boolean(pk.get("rpm"), "packages.rpm", True),
    }
    sv = v.mapping(top.get("services"), "services", {"enabled", "known_transient"})
    services: dict[str, Any] = {"enabled": v.boolean(sv.get("enabled"), "services.enabled", True)}
    known_transient = _known_transient(v, sv, services["enabled"])
    if known_transient:  # only when set, so the spec of a profile without it stays what it was
        services["known_transient"] = known_transient
    ac = v.mapping(top.get("accounts"), "accounts", {"enabled", "cron", "sudoers"})
    accounts = {
        "enabled": v.boolean(ac.get("enabled"), "accounts.enabled", True),
        "cron": v.boolean(ac.get("cron"), "accounts.cron", True),
        "sudoers": v.boolean(ac.get("sudoers"), "accounts.sudoers", True),
    }
    nw = v.mapping(top.get("network"), "network",
                   {"enabled", "sockets", "routes", "addresses", "nftables"})
    network = {
        key: v.boolean(nw.get(key), f"network.{key}", True)
        for key in ("enabled", "sockets", "routes", "addresses", "nftables")
    }
    kn = v.mapping(top.get("kernel"), "kernel",
                   {"enabled", "sysctls", "modules", "modules_on_demand"})
    sysctls = v.strings(kn.get("sysctls"), "kernel.sysctls") if "sysctls" in kn else DEFAULT_SYSCTLS
    for i, s in enumerate(sysctls):
        if "/" in s or ".." in s.split("."):
            raise v.fail(f"kernel.sysctls[{i}]", "must be a dotted name like net.ipv4.ip_forward")
    kernel: dict[str, Any] = {
        "enabled": v.boolean(kn.get("enabled"), "kernel.enabled", True),
        "sysctls": list(sysctls),
        "modules": v.boolean(kn.get("modules"), "kernel.modules", True),
    }
    on_demand = _modules_on_demand(v, kn, kernel["enabled"], kernel["modules"])
    if on_demand:  # only when set, so the spec of a profile without it stays what it was
        kernel["modules_on_demand"] = on_demand

    database: DatabaseSpec | None = None
    if top.get("database") is not None:
        db = v.mapping(top["database"], "database",
                       {"dsn_env", "dsn_file", "schemas", "tables", "exclude_tables",
                        "row_detail_limit", "volatile_sequences", "row_values"})
        if "dsn" in db or "password" in db:  # pragma: no cover - caught by mapping()
            raise v.fail("database", "secrets do not belong in a profile")
        has_env, has_file = db.get("dsn_env") is not None, db.get("dsn_file") is not None
        if has_env == has_file:
            raise v.fail("database", "set exactly one of dsn_env, dsn_file")
        tables = v.strings(db.get("tables"), "database.tables")
        excl = v.strings(db.get("exclude_tables"), "database.exclude_tables")
        volatile = v.strings(db.get("volatile_sequences"), "database.volatile_sequences")
        for label, seq in (("tables", tables), ("exclude_tables", excl)):
            for i, t in enumerate(seq):
                if t.count(".") != 1:
                    raise v.fail(f"database.{label}[{i}]", "must be schema.table")
        for i, name in enumerate(volatile):
            if name.count(".") != 1:
                raise v.fail(f"database.volatile_sequences[{i}]", "must be schema.sequence")
        schemas = v.strings(db.get("schemas"), "database.schemas") if "schemas" in db else ("public",)
        if not schemas:
            raise v.fail("database.schemas", "must list at least one schema")
        database = DatabaseSpec(
            dsn_env=v.string(db["dsn_env"], "database.dsn_env") if has_env else None,
            dsn_file=v.abspath(db["dsn_file"], "database.dsn_file") if has_file else None,
            schemas=schemas,
            tables=tables,
            exclude_tables=excl,
            volatile_sequences=volatile,
            row_detail_limit=v.integer(db.get("row_detail_limit"), "database.row_detail_limit",
                                       10000),
            row_values=v.boolean(db.get("row_values"), "database.row_values", False),
        )

    zero = top.get("zero")
    if zero is not None and not isinstance(zero, dict):
        raise v.fail("zero", "must be a mapping")
    evidence = top.get("evidence")
    if evidence is not None and not isinstance(evidence, dict):
        raise v.fail("evidence", "must be a mapping")

    return Profile(
        name=name,
        root=root,
        paths=tuple(rules),
        packages=packages,
        services=services,
        accounts=accounts,
        network=network,
        kernel=kernel,
        database=database,
        zero=zero,
        evidence=evidence,
        digest=hashlib.sha256(data).hexdigest(),
        source=source,
        raw=raw,
    )


def load_profile(path: str | os.PathLike[str]) -> Profile:
    """Read and validate a profile file. Errors name the file and the key path."""
    p = Path(path)
    return parse_profile(read_input(p, "profile"), source=p.name)


# The file name a per-host profile has in a directory of them (freeze-ceremony.yml
# writes DIR/profiles/HOST.profile.yml, `freeze profile compose -o` the same).
HOST_PROFILE_SUFFIX = ".profile.yml"


@dataclass(frozen=True)
class HostProfiles:
    """The profile each inventory host is collected and judged with.

    Either one profile for every host (`shared`), or one per host read from a
    directory of HOST.profile.yml files (`by_host`), as the ceremony composes them
    from the roles each host runs. A host with no file in the directory has no
    profile: that host is an error, never silently judged with another's.
    """

    shared: Profile | None = None
    by_host: dict[str, Profile] = field(default_factory=dict)
    source: str = ""

    def for_host(self, host: str) -> Profile:
        if self.shared is not None:
            return self.shared
        try:
            return self.by_host[host]
        except KeyError:
            raise NoInputError(f"host {host}: no profile {host}{HOST_PROFILE_SUFFIX} "
                               f"in {self.source}") from None


def as_host_profiles(profile: Profile | HostProfiles) -> HostProfiles:
    return profile if isinstance(profile, HostProfiles) else HostProfiles(shared=profile,
                                                                           source=profile.source)


def load_host_profiles(path: str | os.PathLike[str]) -> HostProfiles:
    """A profile file (every host), or a directory of HOST.profile.yml files (each host its own)."""
    p = Path(path)
    if not p.is_dir():
        return HostProfiles(shared=load_profile(p), source=str(p))
    by_host = {f.name[: -len(HOST_PROFILE_SUFFIX)]: load_profile(f)
               for f in sorted(p.iterdir())
               if f.name.endswith(HOST_PROFILE_SUFFIX) and len(f.name) > len(HOST_PROFILE_SUFFIX)}
    if not by_host:
        raise NoInputError(f"{path}: a directory without any HOST{HOST_PROFILE_SUFFIX} file")
    return HostProfiles(by_host=by_host, source=os.path.abspath(p))
