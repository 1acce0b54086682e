"""Replica check: prove a streaming standby holds exactly what its primary holds.

Two proofs, both required:

  1. WAL positions: once writes quiesce, the standby has received and replayed
     the primary's WAL up to the primary's current position
     (`pg_current_wal_lsn()` on the primary, `pg_last_wal_receive_lsn()` /
     `pg_last_wal_replay_lsn()` on the standby). Polled until equal and stable
     or until `wait_seconds` pass. With `synchronous_commit = off` on the
     primary a just-committed transaction may still sit in WAL buffers, beyond
     `pg_current_wal_lsn()`, for up to `wal_writer_delay`: the counting
     database commits durably (PostgreSQL's default, kept by the role), and a check right after an
     asynchronous commit can report that transaction's rows as differing.
  2. Content: the same collector `freeze snapshot` uses
     (`freeze.collect.postgres.collect`: one REPEATABLE READ READ ONLY snapshot,
     which a hot standby accepts) runs on both servers at that position; every
     catalog entry, table digest and (up to `row_detail_limit` rows) row digest
     must be identical. A difference names the section and key: for a row,
     `schema.table[(primary key)]`.

The content collections are taken one after the other, so the WAL position of
both servers is read again afterwards: if the primary wrote in between, the
comparison is repeated (up to `attempts` times) instead of reporting a
difference that is only a write in flight.

Not compared, because a physical standby legitimately differs there:
  * `db_settings`: server configuration (postgresql.conf, ALTER SYSTEM) is per
    server and not replicated (role/database settings are, in db_role_settings);
  * sequence positions (`last_value`, `is_called` in db_sequences): a standby
    reads the value the primary WAL-logged ahead of use (up to 32 values ahead),
    so they differ on a perfectly healthy replica. The rows the sequences fed are
    compared.

Secrets: DSNs come from the caller (environment or owner-only file); errors
name user@host:port/db only (`describe_target`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, LiteralString

from freeze.drift import ADDED, CHANGED, REMOVED, DriftEntry
from freeze.errors import EXIT_ADDED, EXIT_CHANGED, EXIT_REMOVED, ConfigMismatchError, UnavailableError
from freeze.judge import AttributeChange
from freeze.manifest import kind_of

NOT_COMPARED_SECTIONS = frozenset({"db_settings"})
_SEQUENCE_POSITION = ("last_value", "is_called")


@dataclass(frozen=True)
class WalPositions:
    primary_lsn: str
    standby_receive_lsn: str | None
    standby_replay_lsn: str | None
    standby_in_recovery: bool
    replay_lag_bytes: int | None

    @property
    def equal(self) -> bool:
        return (self.standby_in_recovery and self.replay_lag_bytes == 0
                and self.standby_replay_lsn == self.primary_lsn)

    def to_dict(self) -> dict[str, Any]:
        return {"primary_lsn": self.primary_lsn, "standby_receive_lsn": self.standby_receive_lsn,
                "standby_replay_lsn": self.standby_replay_lsn,
                "standby_in_recovery": self.standby_in_recovery,
                "replay_lag_bytes": self.replay_lag_bytes, "equal": self.equal}


@dataclass
class ReplicaReport:
    primary: str
    standby: str
    wal: WalPositions
    waited_seconds: float
    attempts: int
    tables: int
    rows: int
    entries: list[DriftEntry] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        code = 0 if self.wal.equal else EXIT_CHANGED
        for e in self.entries:
            code |= {ADDED: EXIT_ADDED, REMOVED: EXIT_REMOVED, CHANGED: EXIT_CHANGED}[e.category]
        return code

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def problems(self) -> list[str]:
        """One line per finding, the WAL first (the CLI prints these)."""
        out: list[str] = []
        w = self.wal
        if not w.standby_in_recovery:
            out.append(f"standby {self.standby} is not in recovery: it is not a streaming standby "
                       "(promoted or an independent server)")
        elif not w.equal:
            out.append(f"WAL positions differ after {self.waited_seconds:.1f} s: primary "
                       f"{w.primary_lsn}, standby replayed {w.standby_replay_lsn} "
                       f"({w.replay_lag_bytes} bytes behind)")
        for e in self.entries:
            where = {ADDED: "only on the standby", REMOVED: "missing on the standby",
                     CHANGED: "differs"}[e.category]
            attrs = ", ".join(c.attribute for c in e.changes)
            out.append(f"{e.kind} {e.key}: {where}" + (f" ({attrs})" if attrs else ""))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "exit_code": self.exit_code, "primary": self.primary,
                "standby": self.standby, "wal": self.wal.to_dict(),
                "waited_seconds": round(self.waited_seconds, 3), "attempts": self.attempts,
                "tables": self.tables, "rows": self.rows,
                "entries": [e.to_dict() for e in self.entries], "notes": list(self.notes)}


def _scalar(dsn: str, query: LiteralString, params: tuple[Any, ...] = ()) -> tuple[Any, ...]:
    import psycopg

    from freeze.collect.postgres import _scrub, describe_target

    try:
        with psycopg.connect(dsn, autocommit=True, connect_timeout=10) as conn:
            row = conn.execute(query, params).fetchone()
    except psycopg.Error as exc:
        text = _scrub(str(exc), dsn)
        raise UnavailableError(f"database {describe_target(dsn)}: {text[:200]}") from None
    assert row is not None  # SELECT without FROM returns exactly one row
    return tuple(row)


def wal_positions(primary_dsn: str, standby_dsn: str) -> WalPositions:
    """The primary's current WAL position and how far the standby received/replayed it."""
    from freeze.collect.postgres import describe_target

    in_recovery, lsn = _scalar(primary_dsn, """
        SELECT pg_is_in_recovery(),
               CASE WHEN NOT pg_is_in_recovery() THEN pg_current_wal_lsn()::text END""")
    if in_recovery:
        raise ConfigMismatchError(f"primary {describe_target(primary_dsn)} is in recovery "
                                  "(a standby): give the primary's DSN")
    s_recovery, receive, replay, lag = _scalar(standby_dsn, """
        SELECT pg_is_in_recovery(), pg_last_wal_receive_lsn()::text,
               pg_last_wal_replay_lsn()::text,
               pg_wal_lsn_diff(%s::pg_lsn, pg_last_wal_replay_lsn())::bigint""", (lsn,))
    return WalPositions(primary_lsn=str(lsn), standby_receive_lsn=receive,
                        standby_replay_lsn=replay, standby_in_recovery=bool(s_recovery),
                        replay_lag_bytes=None if lag is None else int(lag))


def _comparable(section: str, entry: Mapping[str, Any]) -> dict[str, Any]:
    if section == "db_sequences":
        return {k: v for k, v in entry.items() if k not in _SEQUENCE_POSITION}
    return dict(entry)


def compare_sections(primary: Mapping[str, Mapping[str, Any]],
                     standby: Mapping[str, Mapping[str, Any]]) -> list[DriftEntry]:
    """Entries that differ between two collections (primary = reference)."""
    entries: list[DriftEntry] = []
    for section in sorted(set(primary) | set(standby)):
        if section in NOT_COMPARED_SECTIONS:
            continue
        a, b = primary.get(section, {}), standby.get(section, {})
        kind = kind_of(section)
        for key in sorted(set(a) | set(b)):
            if key not in b:
                entries.append(DriftEntry(REMOVED, kind, key, section, attributes=dict(a[key])))
            elif key not in a:
                entries.append(DriftEntry(ADDED, kind, key, section, attributes=dict(b[key])))
            else:
                old, new = _comparable(section, a[key]), _comparable(section, b[key])
                changes = tuple(AttributeChange(attr, old.get(attr), new.get(attr))
                                for attr in sorted(set(old) | set(new))
                                if old.get(attr) != new.get(attr))
                if changes:
                    entries.append(DriftEntry(CHANGED, kind, key, section, changes))
    return entries


def check_replica(primary_dsn: str, standby_dsn: str, spec: Any, *, wait_seconds: float = 30.0,
                  attempts: int = 3, poll_seconds: float = 0.2,
                  clock: Callable[[], float] = time.monotonic) -> ReplicaReport:
    """Compare a standby with its primary (see the module docstring).

    `spec`: the profile's DatabaseSpec (schemas, tables, exclude_tables,
    row_detail_limit) or a mapping of the same keys. Raises UnavailableError
    when either server cannot be reached, ConfigMismatchError when the
    "primary" is itself in recovery.
    """
    from freeze.collect.postgres import collect, describe_target

    primary_name, standby_name = describe_target(primary_dsn), describe_target(standby_dsn)
    start = clock()
    tries = 0
    while True:
        tries += 1
        # 1. wait until the standby replayed everything and the primary stands still
        wal = wal_positions(primary_dsn, standby_dsn)
        while not wal.equal and wal.standby_in_recovery and clock() - start < wait_seconds:
            time.sleep(poll_seconds)
            wal = wal_positions(primary_dsn, standby_dsn)
        # 2. the same collections freeze snapshot makes, one per server
        p = collect(primary_dsn, spec, require_tables=False)
        s = collect(standby_dsn, spec, require_tables=False)
        after = wal_positions(primary_dsn, standby_dsn)
        entries = compare_sections(p["sections"], s["sections"])
        moved = after.primary_lsn != wal.primary_lsn or after.standby_replay_lsn != wal.standby_replay_lsn
        if not (wal.equal and moved and entries) or tries >= attempts:
            break
        # writes landed between the two collections: compare again
    notes = [f"not compared (differ on a healthy standby): {', '.join(sorted(NOT_COMPARED_SECTIONS))}, "
             "sequence positions"]
    if wal.equal and moved:
        notes.append("the primary's WAL moved during the comparison (writes did not quiesce)")
    tables = p["sections"].get("db_tables", {})
    return ReplicaReport(primary=primary_name, standby=standby_name, wal=after if after.equal else wal,
                         waited_seconds=clock() - start, attempts=tries, tables=len(tables),
                         rows=sum(int(t.get("rows", 0)) for t in tables.values()),
                         entries=entries, notes=notes)
