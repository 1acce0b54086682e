"""Take a snapshot: run the collectors through a transport and build the manifest.

Above `freeze.transport` (where the system collectors run) and
`freeze.collect.postgres` (the database, always collected from here).
"""

from __future__ import annotations

from typing import Any

from freeze.manifest import Manifest
from freeze.profile import Profile
from freeze.transport import LocalTransport


def take_snapshot(profile: Profile, *, transport: Any = None, progress: Any = None,
                  growing: dict[str, int] | None = None, dsn: str | None = None,
                  require_tables: bool = True, known: Manifest | None = None) -> Manifest:
    """Collect everything `profile` covers and return a Manifest (not yet written).

    `require_tables=False` (verify): named tables that vanished are drift, not errors.
    `known` (verify): the manifest being verified; file entries equal to its own
    are recorded as its objects, so verify does not hold two copies of them.
    """
    transport = transport or LocalTransport()
    doc = transport.collect(profile.collect_spec(), growing=growing or {}, progress=progress,
                            known=known.sections.get("files") if known is not None else None)
    db = _database(profile, dsn, require_tables) if profile.database is not None else None
    return _with_database(profile, doc, db)


def _database(profile: Profile, dsn: str | None, require_tables: bool) -> dict[str, Any]:
    from freeze.collect import postgres

    return postgres.collect(dsn or profile.database.resolve_dsn(), profile.database,
                            require_tables=require_tables)


def _with_database(profile: Profile, doc: dict[str, Any], db: dict[str, Any] | None) -> Manifest:
    sections, unavailable, facts = doc["sections"], doc["unavailable"], doc["facts"]
    if db is not None:
        sections.update(db["sections"])
        unavailable.update(db["unavailable"])
        facts.update(db["facts"])
    return Manifest(host=doc["host"], profile_name=profile.name,
                    profile_digest=profile.digest, sections=sections,
                    unavailable=unavailable, facts=facts)


def snapshot_inventory(profile: Profile, inventory: Any,
                       growing_by_host: dict[str, dict[str, int]] | None = None,
                       dsn: str | None = None, require_tables: bool = True
                       ) -> dict[str, Manifest | Exception]:
    """One manifest per inventory host (or that host's error).

    The database, if the profile names one, is collected once (one snapshot) and
    recorded in every host's manifest, so each manifest is a complete view.
    """
    hosts = inventory.collect_all(profile.collect_spec(), growing_by_host or {})
    db = None
    if profile.database is not None and any(not isinstance(v, Exception)
                                            for v in hosts.values()):
        db = _database(profile, dsn, require_tables)
    return {h: (v if isinstance(v, Exception) else _with_database(profile, v, db))
            for h, v in hosts.items()}
