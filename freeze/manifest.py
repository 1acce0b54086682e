"""The manifest: what the counting system looked like at one moment.

Data model only (no file or network I/O). Its bytes are canonical JSON
(`freeze.canonical`), so `digest()` is stable and is what evidence signs.

Layout (schema ``freeze-manifest/v1``)::

    {
      "schema": "freeze-manifest/v1",
      "tool": {"name": "freeze", "version": "0.1.0"},
      "host": {"hostname": "...", "machine_id": "..."},       # boot-independent identity
      "created": "2026-11-22T07:30:00Z",                      # UTC, seconds
      "profile": {"name": "...", "digest": "<sha256 hex of the profile file bytes>"},
      "sections": {"files": {"/etc/passwd": {...attributes...}, ...}, "packages": {...}, ...},
      "unavailable": {"nftables": "nft: not installed", ...}, # parts that could not be read
      "facts": {...}                                          # recorded, never compared
    }

Each section maps a key (path, package name, socket address...) to a flat object
of attributes; drift compares sections key by key and attribute by attribute.
`facts` holds things that change by themselves (database snapshot id, boot id).
"""

from __future__ import annotations

import glob
import hashlib
import os
import re
import socket
import time
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from freeze import __version__, canonical
from freeze.errors import InputError, NoInputError, VerificationError
from freeze.inputs import read_input

SCHEMA = "freeze-manifest/v1"

# section name -> kind of one entry, as drift reports name it
SECTION_KINDS: dict[str, str] = {
    "files": "file",
    "packages": "package",
    "services": "service",
    "users": "user",
    "groups": "group",
    "sudoers": "sudoers",
    "cron": "cron",
    "sockets": "socket",
    "interfaces": "interface",
    "addresses": "address",
    "routes": "route",
    "nftables": "firewall",
    "sysctls": "sysctl",
    "modules": "kernel_module",
    "system": "system",
    "db_cluster": "db_cluster",
    "db_schemas": "db_schema",
    "db_relations": "db_table",
    "db_columns": "db_column",
    "db_constraints": "db_constraint",
    "db_indexes": "db_index",
    "db_functions": "db_function",
    "db_triggers": "db_trigger",
    "db_roles": "db_role",
    "db_grants": "grant",
    "db_tables": "db_table_content",
    "db_rows": "db_row",
}

# Database catalog sections added after the first release (freeze.collect.pg_semantics).
# A manifest lacking one was taken before it was collected: drift says "not
# recorded in this manifest", never reports its entries as added.
DB_SEMANTIC_SECTIONS: dict[str, str] = {
    "db_rules": "db_rule",
    "db_policies": "db_policy",
    "db_role_settings": "db_role_setting",
    "db_sequences": "db_sequence",
    "db_extensions": "db_extension",
    "db_languages": "db_language",
    "db_casts": "db_cast",
    "db_operators": "db_operator",
    "db_operator_classes": "db_operator_class",
    "db_types": "db_type",
    "db_collations": "db_collation",
    "db_aggregates": "db_aggregate",
    "db_foreign_data_wrappers": "db_fdw",
    "db_foreign_servers": "db_foreign_server",
    "db_user_mappings": "db_user_mapping",
    "db_publications": "db_publication",
    "db_subscriptions": "db_subscription",
    "db_relation_options": "db_relation_options",
    "db_inheritance": "db_inheritance",
    "db_settings": "db_setting",
    "db_security_labels": "db_security_label",
}
SECTION_KINDS.update(DB_SEMANTIC_SECTIONS)

_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_CREATED = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


def kind_of(section: str) -> str:
    return SECTION_KINDS.get(section, section)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


@dataclass
class Manifest:
    host: dict[str, str]
    profile_name: str
    profile_digest: str
    sections: dict[str, dict[str, dict[str, Any]]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    facts: dict[str, Any] = field(default_factory=dict)
    created: str = field(default_factory=utc_now)
    tool_version: str = __version__
    schema: str = SCHEMA
    # sha256 of the bytes this manifest was read from (what evidence signed); not
    # part of the manifest itself. Equals digest() for every file freeze writes.
    source_sha256: str | None = field(default=None, compare=False, repr=False)

    # ------------------------------------------------------------------ bytes

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": self.schema,
            "tool": {"name": "freeze", "version": self.tool_version},
            "host": dict(self.host),
            "created": self.created,
            "profile": {"name": self.profile_name, "digest": self.profile_digest},
            "sections": self.sections,
            "unavailable": dict(self.unavailable),
            "facts": self.facts,
        }

    def to_bytes(self) -> bytes:
        """Canonical JSON bytes (rules in `freeze.canonical`)."""
        return canonical.dumps(self.to_dict())

    def digest(self) -> str:
        """sha256 hex of `to_bytes()`: the identity evidence signs (streamed)."""
        return canonical.sha256_hex(self.to_dict())

    def write_to(self, fh: BinaryIO) -> str:
        """Write `to_bytes()` to a binary file piece by piece; return its sha256 hex.

        Same bytes as `to_bytes()`, without holding the whole document in memory.
        """
        h = hashlib.sha256()
        for chunk in canonical.iter_encode(self.to_dict()):
            h.update(chunk)
            fh.write(chunk)
        return h.hexdigest()

    @classmethod
    def from_bytes(cls, data: bytes, source: str = "manifest") -> Manifest:
        """Parse and validate; anything corrupt, truncated or unknown is an InputError."""
        if not data:
            raise InputError(f"{source}: empty file, not a manifest")
        try:
            doc = canonical.loads(data)
        except (ValueError, RecursionError) as exc:
            raise InputError(f"{source}: not a valid manifest (corrupt or truncated JSON: "
                             f"{str(exc).splitlines()[0][:120]})") from None
        if not isinstance(doc, dict):
            raise InputError(f"{source}: not a manifest (top level is not an object)")
        schema = doc.get("schema")
        if schema != SCHEMA:
            shown = schema if isinstance(schema, str) else type(schema).__name__
            raise InputError(f"{source}: unknown manifest schema {shown[:80]!r} "
                             f"(this freeze reads {SCHEMA})")
        expected = {"schema", "tool", "host", "created", "profile", "sections",
                    "unavailable", "facts"}
        if set(doc) != expected:
            extra = sorted(set(doc) - expected)
            missing = sorted(expected - set(doc))
            raise InputError(f"{source}: malformed manifest (missing {missing}, unknown {extra})")

        def need(cond: bool, what: str) -> None:
            if not cond:
                raise InputError(f"{source}: malformed manifest: {what}")

        tool, host, prof = doc["tool"], doc["host"], doc["profile"]
        need(isinstance(tool, dict) and isinstance(tool.get("version"), str), "tool.version")
        need(isinstance(host, dict) and all(isinstance(v, str) for v in host.values()), "host")
        need(isinstance(doc["created"], str) and bool(_CREATED.match(doc["created"])), "created")
        need(isinstance(prof, dict) and isinstance(prof.get("name"), str)
             and isinstance(prof.get("digest"), str) and bool(_HEX64.match(prof["digest"])),
             "profile")
        sections = doc["sections"]
        need(isinstance(sections, dict), "sections")
        for name, entries in sections.items():
            need(isinstance(entries, dict), f"sections.{name}")
            if not all(type(attrs) is dict for attrs in entries.values()):
                bad = next(k for k, attrs in entries.items() if type(attrs) is not dict)
                need(False, f"sections.{name}[{bad[:80]!r}]")
        need(isinstance(doc["unavailable"], dict)
             and all(isinstance(v, str) for v in doc["unavailable"].values()), "unavailable")
        need(isinstance(doc["facts"], dict), "facts")
        return cls(
            source_sha256=hashlib.sha256(data).hexdigest(),
            host=host,
            profile_name=prof["name"],
            profile_digest=prof["digest"],
            sections=sections,
            unavailable=doc["unavailable"],
            facts=doc["facts"],
            created=doc["created"],
            tool_version=tool["version"],
            schema=schema,
        )


def local_host_identity(root: str = "/") -> dict[str, str]:
    """hostname + machine-id: both survive reboots (boot_id does not, so it is a fact)."""
    ident = {"hostname": socket.gethostname(), "machine_id": ""}
    try:
        with open(root.rstrip("/") + "/etc/machine-id", encoding="ascii") as fh:
            ident["machine_id"] = fh.read().strip()
    except (OSError, UnicodeDecodeError):
        pass
    return ident


def load_manifest(path: str | os.PathLike[str]) -> Manifest:
    """Read and parse a manifest file (66 missing/unreadable, 65 corrupt or unknown schema)."""
    data = read_input(path, "manifest")
    return Manifest.from_bytes(data, source=os.path.basename(os.fspath(path)))


FLEET_MANIFEST_FILE = "fleet-manifest.json"
FLEET_SCHEMA = "freeze-fleet/v1"


def read_fleet_manifests(fleet: str | os.PathLike[str]) -> dict[str, object]:
    """The fleet manifest's {host: entry} ("manifests"); InputError if unreadable or not one."""
    import json

    try:
        with open(fleet, "rb") as fh:
            doc = json.loads(fh.read())
    except (OSError, ValueError) as exc:
        raise InputError(f"{fleet}: unreadable fleet manifest ({exc})") from exc
    if not isinstance(doc, dict) or doc.get("schema") != FLEET_SCHEMA or not isinstance(doc.get("manifests"), dict):
        raise InputError(f"{fleet}: not a {FLEET_SCHEMA} document")
    manifests: dict[str, object] = doc["manifests"]
    return manifests


def _fleet_host_files(where: str) -> dict[str, str] | None:
    """{host: file} named by DIR/fleet-manifest.json, or None when DIR has none.

    A ceremony's manifests directory also holds the database's manifest
    (database.manifest.json), which is not a host's: the fleet manifest, which
    names the hosts' manifests and the database's apart, says which is which.
    """
    path = os.path.join(where, FLEET_MANIFEST_FILE)
    if not os.path.exists(path):
        return None
    files = {}
    for host, entry in read_fleet_manifests(path).items():
        name = entry.get("file") if isinstance(entry, dict) else None
        if not isinstance(name, str):
            raise InputError(f"{path}: host {host}: no manifest file named")
        if os.path.basename(name) != name:  # only files beside the fleet manifest
            raise InputError(f"{path}: host {host}: {name!r} is not a file name")
        files[host] = name
    return files


def load_manifest_dir(directory: str | os.PathLike[str]) -> dict[str, Manifest]:
    """{host: manifest} from DIR/HOST.manifest.json (what snapshot --inventory writes).

    When DIR holds a fleet manifest (a ceremony's manifests directory), exactly the
    hosts it names are loaded, so the database's manifest beside them is not taken
    for a host's.
    """
    where = os.fspath(directory)
    if not os.path.isdir(where):
        raise NoInputError(f"{where}: not a directory of HOST.manifest.json files")
    manifests = {}
    named = _fleet_host_files(where)
    if named is not None:
        for host, name in sorted(named.items()):
            manifests[host] = load_manifest(os.path.join(where, name))
        if not manifests:
            raise NoInputError(f"{where}/{FLEET_MANIFEST_FILE}: names no host manifest")
        return manifests
    for path in sorted(glob.glob(os.path.join(glob.escape(where), "*.manifest.json"))):
        host = os.path.basename(path)[: -len(".manifest.json")]
        manifests[host] = load_manifest(path)
    if not manifests:
        raise NoInputError(f"{where}: no HOST.manifest.json files")
    return manifests


def check_manifest_identity(manifest: Manifest, *, envelope: str | os.PathLike[str] | None = None,
                            expected_sha256: str | None = None) -> list[str]:
    """Check the manifest file is the signed one BEFORE comparing it with the system.

    Without this a flipped byte in the manifest reads as system drift ("changed cron
    ..."); with it, it is "this manifest is not the signed one" (VerificationError,
    exit 8). `envelope`: its statement's subject digest; `expected_sha256`: a digest
    from the minutes (`sha256:HEX` or HEX). The envelope's signatures are not
    checked here (no root): `freeze verify-envelope` does that.
    Returns one line per check that passed.
    """
    from freeze.evidence import statement
    from freeze.evidence.codec import is_sha256_hex
    from freeze.evidence.dsse import Envelope

    digest = manifest.source_sha256 or manifest.digest()
    lines = []
    if expected_sha256 is not None:
        want = expected_sha256.strip().lower().removeprefix("sha256:")
        if not is_sha256_hex(want):
            raise InputError(f"--expect-sha256 {expected_sha256!r}: not a sha256 digest (sha256:HEX)")
        if want != digest:
            raise VerificationError(f"this manifest is not the signed one: its sha256 is {digest}, "
                                    f"the expected digest is {want}")
        lines.append(f"manifest sha256:{digest} is the expected digest")
    if envelope is not None:
        env = Envelope.from_bytes(read_input(envelope, "envelope"), what=os.fspath(envelope))
        named = statement.parse(env, "manifest").subjects[0]["digest"]["sha256"]
        if named != digest:
            raise VerificationError(f"this manifest is not the signed one: its sha256 is {digest}, "
                                    f"the statement in {os.fspath(envelope)} names {named}")
        lines.append(f"manifest sha256:{digest} is the one the statement in {os.fspath(envelope)} names "
                     "(signatures: freeze verify-envelope)")
    return lines

