"""Take a snapshot: run the collectors through a transport and build the manifest.

Above `freeze.transport` (where the system collectors run) and
`freeze.collect.postgres` (the database, always collected from here).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from freeze.durable import atomic_stream
from freeze.errors import ConfigMismatchError, InputError, NoInputError, RefusedError
from freeze.extras import require_extra
from freeze.judge import switch_problem
from freeze.manifest import Manifest
from freeze.profile import DatabaseSpec, HostProfiles, Profile, as_host_profiles
from freeze.transport import AnsibleInventory, LocalTransport, Transport

if TYPE_CHECKING:
    from freeze.collect.common import Progress


def take_snapshot(profile: Profile, *, transport: Transport | None = None,
                  progress: Progress | None = None,
                  growing: dict[str, int] | None = None, dsn: str | None = None,
                  require_tables: bool = True, known: Manifest | None = None) -> Manifest:
    """Collect everything `profile` covers and return a Manifest (not yet written).

    `require_tables=False` (verify): named tables that vanished are drift, not errors.
    `known` (verify): the manifest being verified; file entries equal to its own
    are recorded as its objects, so verify does not hold two copies of them.
    Without `known` the snapshot is a reference: `check_switches` refuses it when a
    switch symlink is in no known state.
    """
    transport = transport or LocalTransport()
    doc = transport.collect(profile.collect_spec(), growing=growing or {}, progress=progress,
                            known=known.sections.get("files") if known is not None else None)
    if known is None:
        check_switches(doc["sections"].get("files", {}), profile)
    return manifest_from_collected(profile, doc, database_sections(profile, dsn, require_tables))


def check_switches(files: dict[str, Any], profile: Profile) -> None:
    """Refuse a reference snapshot (`files` section) whose `switch` symlink is present but
    not a symlink to one of its targets: the frozen state must be a known one, or verify
    would take an unknown target for the recorded state. Absent is fine: one profile
    serves hosts with and without the selector."""
    for rule in profile.paths:
        if rule.volatility == "switch":
            problem = switch_problem(files.get(rule.path), rule.targets)
            if problem is not None:
                raise ConfigMismatchError(
                    f"{rule.path} (volatility switch in {profile.source or 'the profile'}): "
                    f"{problem}; freeze it in one of its known states")


def database_sections(profile: Profile, dsn: str | None = None, require_tables: bool = True
                      ) -> dict[str, Any] | None:
    """The database part of a snapshot (None when the profile names no database)."""
    return (_database(profile.database, dsn, require_tables) if profile.database is not None
            else None)


def _database(spec: DatabaseSpec, dsn: str | None, require_tables: bool) -> dict[str, Any]:
    """The database sections of the profile's `database` (`spec`)."""
    require_extra("psycopg", "postgres")  # a profile with a database needs the extra
    from freeze.collect import postgres

    return postgres.collect(dsn or spec.resolve_dsn(), spec, require_tables=require_tables)


def manifest_from_collected(profile: Profile, doc: dict[str, Any],
                            db: dict[str, Any] | None) -> Manifest:
    """The manifest of one host's collected document (+ the database sections, if any).

    Every way of taking a snapshot ends here (this host, `--host`, the
    `election.freeze.freeze_collect` action plugin), so the same state gives the
    same manifest bytes whichever way it was collected.
    """
    sections, unavailable, facts = doc["sections"], doc["unavailable"], doc["facts"]
    if db is not None:
        sections.update(db["sections"])
        unavailable.update(db["unavailable"])
        facts.update(db["facts"])
    return Manifest(host=doc["host"], profile_name=profile.name,
                    profile_digest=profile.digest, sections=sections,
                    unavailable=unavailable, facts=facts)


def snapshot_inventory(profile: Profile | HostProfiles, inventory: AnsibleInventory,
                       growing_by_host: dict[str, dict[str, int]] | None = None,
                       dsn: str | None = None, require_tables: bool = True
                       ) -> dict[str, Manifest | Exception]:
    """One manifest per inventory host (or that host's error), each with its profile.

    The database, if the profiles name one, is collected once (one snapshot) and
    recorded in the manifest of every host whose profile names it, so each manifest
    is a complete view. Per-host profiles that name different databases are refused:
    one snapshot cannot stand for two.
    """
    profiles = as_host_profiles(profile)
    digests: str | dict[str, str] = (profiles.shared.digest if profiles.shared is not None
                                     else {h: p.digest for h, p in profiles.by_host.items()})
    hosts = inventory.collect_all(digests, growing_by_host or {})
    collected: dict[str, tuple[Profile, dict[str, Any]]] = {}
    out: dict[str, Manifest | Exception] = {}
    for host, doc in hosts.items():
        try:
            host_profile = profiles.for_host(host)
        except NoInputError as exc:  # the collection failed for want of the file; say so plainly
            out[host] = exc
            continue
        if isinstance(doc, Exception):
            out[host] = doc
        else:
            collected[host] = (host_profile, doc)
    specs = {p.database for p, _ in collected.values() if p.database is not None}
    if len(specs) > 1:
        named = sorted(h for h, (p, _) in collected.items() if p.database is not None)
        raise ConfigMismatchError(f"the profiles of {', '.join(named)} name different databases; "
                                  "one database snapshot goes into every host's manifest")
    db = _database(specs.pop(), dsn, require_tables) if specs else None
    for host, (p, doc) in collected.items():
        out[host] = manifest_from_collected(p, doc, db if p.database is not None else None)
    return out


def write_manifest(path: Path | str, manifest: Manifest) -> str:
    """Stream the manifest's canonical bytes to `path` durably; returns their sha256.

    A temp file in the same directory, fsync, then rename: a crash never leaves
    a half-written manifest under the final name.
    """
    return atomic_stream(path, manifest.write_to)


def check_new_manifest_path(output: str, *, force: bool) -> str:
    """The absolute path to write a manifest to: refuses (9) to overwrite without force."""
    out = os.path.abspath(output)
    if os.path.lexists(out) and not force:
        raise RefusedError(f"{output}: exists; refusing to overwrite (use --force)")
    if not os.path.isdir(os.path.dirname(out)):
        raise NoInputError(f"{output}: directory does not exist")
    return out


@dataclass(frozen=True)
class SnapshotSummary:
    """What `freeze snapshot` wrote: the manifest file, its digest and entry counts."""

    manifest: str
    sha256: str
    host: dict[str, Any]
    profile_sha256: str
    entries: dict[str, int]
    unavailable: dict[str, str]

    def to_dict(self) -> dict[str, Any]:
        return {"manifest": self.manifest, "sha256": self.sha256, "host": self.host,
                "profile_sha256": self.profile_sha256, "entries": self.entries,
                "unavailable": self.unavailable}


def snapshot_to_file(profile: Profile, output: str, *, force: bool = False,
                     transport: Transport | None = None,
                     progress: Progress | None = None) -> SnapshotSummary:
    """Take a snapshot and write it as the manifest file `output`."""
    out = check_new_manifest_path(output, force=force)
    manifest = take_snapshot(profile, transport=transport, progress=progress)
    digest = write_manifest(out, manifest)
    counts = {name: len(entries) for name, entries in sorted(manifest.sections.items())}
    return SnapshotSummary(output, digest, manifest.host, manifest.profile_digest, counts,
                           manifest.unavailable)


def host_manifest_path(directory: str, host: str) -> str:
    """DIR/HOST.manifest.json; a host name that cannot be a plain file name is refused."""
    if not host or host.startswith(".") or "/" in host or "\x00" in host:
        raise InputError(f"inventory host name {host!r} cannot be a file name")
    return os.path.join(directory, f"{host}.manifest.json")


@dataclass
class InventorySnapshot:
    """Per host: the manifest written ({"manifest", "sha256"}) or the host's error."""

    written: dict[str, dict[str, str]] = field(default_factory=dict)
    errors: dict[str, Exception] = field(default_factory=dict)


def snapshot_inventory_to_dir(profile: Profile | HostProfiles, output_dir: str, inventory: AnsibleInventory, *,
                              force: bool = False) -> InventorySnapshot:
    """One DIR/HOST.manifest.json per inventory host (the directory is created if needed),
    each taken with the host's profile (`profile`: one for all, or HostProfiles)."""
    out_dir = os.path.abspath(output_dir)
    if not os.path.isdir(out_dir):
        if os.path.lexists(out_dir) or not os.path.isdir(os.path.dirname(out_dir)):
            raise NoInputError(f"{output_dir}: not a directory (with --inventory, -o names "
                               "a directory)")
        os.mkdir(out_dir, 0o755)
    results = snapshot_inventory(profile, inventory)
    if not results:
        raise NoInputError(f"inventory {inventory.inventory}: no hosts match {inventory.limit!r}")
    profiles = as_host_profiles(profile)
    done = InventorySnapshot(errors={h: r for h, r in results.items() if isinstance(r, Exception)})
    for host, m in sorted(results.items()):
        if isinstance(m, Exception):
            continue
        try:
            check_switches(m.sections.get("files", {}), profiles.for_host(host))
        except ConfigMismatchError as exc:
            done.errors[host] = ConfigMismatchError(f"host {host}: {exc}")
            continue
        path = host_manifest_path(out_dir, host)
        if os.path.lexists(path) and not force:
            done.errors[host] = RefusedError(f"{path}: exists; refusing to overwrite (use --force)")
            continue
        done.written[host] = {"manifest": path, "sha256": write_manifest(path, m)}
    return done
