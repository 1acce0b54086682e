"""Check a zero spec against the live catalog before anything is touched, and
work out the order in which tables can be cleared without breaking foreign keys."""

from __future__ import annotations

from dataclasses import dataclass

import psycopg
from psycopg import sql

from freeze.errors import ConfigMismatchError
from freeze.zero.spec import ClearTable, QualifiedName, ZeroSpec


@dataclass(frozen=True)
class SequenceFacts:
    name: QualifiedName
    start: int
    restart: int  # the value the zero restarts it at


@dataclass(frozen=True)
class ClearPlan:
    """Validated against the catalog: safe order and sequence restart values."""

    delete_order: tuple[ClearTable, ...]  # children before parents
    truncate: tuple[ClearTable, ...]  # truncated together in one statement
    sequences: tuple[SequenceFacts, ...]
    election_name: str
    columns: tuple[tuple[str, ...], ...]  # per report section, the query's column names
    warnings: tuple[str, ...] = ()  # not errors, but the operator should know (dry run, record)
    # (restarted sequence, table, column) for every column the sequence fills
    # (owned by, identity, or nextval() in its default): checked after the clear
    sequence_feeds: tuple[tuple[QualifiedName, QualifiedName, str], ...] = ()
    # (sequence, table, column) for every column of a KEPT table (locked or reset,
    # not cleared) that a sequence the zero does not restart fills: after the clear
    # its next value must still be above the table's highest one
    kept_feeds: tuple[tuple[QualifiedName, QualifiedName, str], ...] = ()


def _sequence_feeds(conn: psycopg.Connection, seq: QualifiedName
                    ) -> list[tuple[QualifiedName, QualifiedName, str]]:
    rows = conn.execute(
        "SELECT tn.nspname, t.relname, a.attname FROM pg_depend d"
        " JOIN pg_class s ON s.oid = d.objid JOIN pg_namespace sn ON sn.oid = s.relnamespace"
        " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
        " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
        "   AND d.deptype IN ('a', 'i') AND sn.nspname = %s AND s.relname = %s"
        " UNION"
        " SELECT tn.nspname, t.relname, a.attname FROM pg_depend d"
        " JOIN pg_attrdef ad ON ad.oid = d.objid"
        " JOIN pg_class t ON t.oid = ad.adrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ad.adnum"
        " JOIN pg_class s ON s.oid = d.refobjid JOIN pg_namespace sn ON sn.oid = s.relnamespace"
        " WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass"
        "   AND sn.nspname = %s AND s.relname = %s ORDER BY 1, 2, 3",
        [seq.schema, seq.name, seq.schema, seq.name]).fetchall()
    return [(seq, QualifiedName(r[0], r[1]), r[2]) for r in rows]


def _table_feeds(conn: psycopg.Connection, table: QualifiedName
                 ) -> list[tuple[QualifiedName, QualifiedName, str]]:
    """(sequence, table, column) for each column of `table` a sequence fills."""
    rows = conn.execute(
        "SELECT sn.nspname, s.relname, a.attname FROM pg_depend d"
        " JOIN pg_class s ON s.oid = d.objid JOIN pg_namespace sn ON sn.oid = s.relnamespace"
        " JOIN pg_class t ON t.oid = d.refobjid JOIN pg_namespace tn ON tn.oid = t.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid"
        " WHERE d.classid = 'pg_class'::regclass AND d.refclassid = 'pg_class'::regclass"
        "   AND d.deptype IN ('a', 'i') AND s.relkind = 'S' AND tn.nspname = %s AND t.relname = %s"
        " UNION"
        " SELECT sn.nspname, s.relname, a.attname FROM pg_depend d"
        " JOIN pg_attrdef ad ON ad.oid = d.objid"
        " JOIN pg_class t ON t.oid = ad.adrelid JOIN pg_namespace tn ON tn.oid = t.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = ad.adnum"
        " JOIN pg_class s ON s.oid = d.refobjid JOIN pg_namespace sn ON sn.oid = s.relnamespace"
        " WHERE d.classid = 'pg_attrdef'::regclass AND d.refclassid = 'pg_class'::regclass"
        "   AND s.relkind = 'S' AND tn.nspname = %s AND t.relname = %s ORDER BY 1, 2, 3",
        [table.schema, table.name, table.schema, table.name]).fetchall()
    return [(QualifiedName(r[0], r[1]), table, r[2]) for r in rows]


def _relkind(conn: psycopg.Connection, name: QualifiedName) -> str | None:
    row = conn.execute(
        "SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE n.nspname = %s AND c.relname = %s", [name.schema, name.name]).fetchone()
    return row[0] if row else None


def _fk_edges(conn: psycopg.Connection) -> list[tuple[QualifiedName, QualifiedName, str]]:
    """(referencing table, referenced table, constraint) for every foreign key."""
    rows = conn.execute(
        "SELECT cn.nspname, c.relname, pn.nspname, p.relname, k.conname FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace"
        " JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace"
        " WHERE k.contype = 'f'").fetchall()
    return [(QualifiedName(r[0], r[1]), QualifiedName(r[2], r[3]), r[4]) for r in rows]


def report_sql(query: str) -> sql.Composed:
    """Run report queries as a sub-select: PostgreSQL then rejects data-modifying
    CTEs ("WITH ... DELETE"), so a report query can only read.

    `query` is SQL text from the signed-off profile, not a literal in this code:
    it is run as written by design (it is the report's definition), never with
    values formatted into it; the election id goes in as a bound parameter."""
    return sql.SQL("SELECT * FROM ({}) AS zero_report_section").format(sql.SQL(query))


def check_against_catalog(conn: psycopg.Connection, spec: ZeroSpec) -> ClearPlan:
    """Raise ConfigMismatchError (exit 78, one line naming the object) or return the plan.

    Read-only; runs before the drift check, the backup and any lock.
    """
    db = conn.info.dbname
    for item in spec.clear:
        kind = _relkind(conn, item.table)
        if kind is None:
            raise ConfigMismatchError(f"profile zero.clear: table {item.table} does not exist "
                                      f"in database {db}")
        if kind not in ("r", "p"):
            raise ConfigMismatchError(f"profile zero.clear: {item.table} is not a table")
    for name in spec.lock:
        if _relkind(conn, name) not in ("r", "p"):
            raise ConfigMismatchError(f"profile zero.lock: table {name} does not exist in database {db}")
    sequences = []
    for s in spec.sequences:
        if _relkind(conn, s.sequence) != "S":
            raise ConfigMismatchError(f"profile zero.sequences: sequence {s.sequence} does not "
                                      f"exist in database {db}")
        row = conn.execute("SELECT start_value FROM pg_sequences WHERE schemaname = %s AND "
                           "sequencename = %s", [s.sequence.schema, s.sequence.name]).fetchone()
        if row is None:  # dropped since the relkind query (each runs in its own snapshot)
            raise ConfigMismatchError(f"profile zero.sequences: sequence {s.sequence} does not "
                                      f"exist in database {db}")
        start = int(row[0])
        sequences.append(SequenceFacts(s.sequence, start, s.restart if s.restart is not None else start))

    for i, reset in enumerate(spec.reset_columns):
        where = f"profile zero.reset_columns[{i}]"
        if _relkind(conn, reset.table) not in ("r", "p"):
            raise ConfigMismatchError(f"{where}.table: table {reset.table} does not exist in "
                                      f"database {db}")
        types: dict[str, str] = {name: category for name, category in conn.execute(
            "SELECT a.attname, t.typcategory FROM pg_attribute a"
            " JOIN pg_type t ON t.oid = a.atttypid JOIN pg_class c ON c.oid = a.attrelid"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE n.nspname = %s AND c.relname = %s AND a.attnum > 0 AND NOT a.attisdropped",
            [reset.table.schema, reset.table.name]).fetchall()}
        for column in reset.columns:
            if column not in types:
                raise ConfigMismatchError(f"{where}.columns: {reset.table} has no column {column!r}")
            if types[column] != "N":
                raise ConfigMismatchError(f"{where}.columns: {reset.table}.{column} is not a "
                                          f"number; only counters are reset to 0")
    for i, view in enumerate(spec.refresh):
        if _relkind(conn, view) != "m":
            raise ConfigMismatchError(f"profile zero.refresh[{i}]: {view} is not a materialized "
                                      f"view in database {db}")
    feeds = [f for s in spec.sequences for f in _sequence_feeds(conn, s.sequence)]
    restarted = {s.sequence for s in spec.sequences}
    kept = [t for t in spec.locked_tables if t not in set(spec.clear_tables)]
    kept_feeds = [f for t in kept if _relkind(conn, t) in ("r", "p")
                  for f in _table_feeds(conn, t) if f[0] not in restarted]

    cleared = set(spec.clear_tables)
    edges = _fk_edges(conn)
    for child, parent, con in edges:
        # Clearing a parent whose rows an unlisted table references would either
        # fail (NO ACTION) or, worse, silently cascade into data nobody listed.
        if parent in cleared and child not in cleared:
            raise ConfigMismatchError(
                f"profile zero.clear: table {child} references cleared table {parent} "
                f"(foreign key {con}) but is not in zero.clear")
    truncated = {c.table for c in spec.clear if c.method == "truncate"}
    for child, parent, con in edges:
        if parent in truncated and child in cleared and child not in truncated:
            raise ConfigMismatchError(
                f"profile zero.clear: {parent} is truncated but {child} (foreign key {con}) is "
                f"deleted; TRUNCATE needs every referencing table truncated with it")

    # Topological order for DELETE: a table goes after every cleared table referencing it.
    deletes = [c for c in spec.clear if c.method == "delete"]
    by_name = {c.table: c for c in deletes}
    children = {c.table: {ch for ch, p, _ in edges if p == c.table and ch in by_name and ch != c.table}
                for c in deletes}
    order: list[ClearTable] = []
    done: set[QualifiedName] = set()
    while len(order) < len(deletes):
        ready = sorted(t for t in by_name if t not in done and children[t] <= done)
        if not ready:
            raise ConfigMismatchError("profile zero.clear: foreign-key cycle among deleted tables; "
                                      "use method: truncate for them")
        for t in ready:
            order.append(by_name[t])
            done.add(t)

    params = {"election_id": spec.election_id}
    try:
        with conn.transaction():
            rows = conn.execute(report_sql(spec.report.election_query), params).fetchall()
    except psycopg.Error as exc:
        raise ConfigMismatchError(f"profile zero.report.election_query: "
                                  f"{' '.join(str(exc).split())}") from None
    if len(rows) != 1 or len(rows[0]) < 1 or rows[0][0] is None:
        raise ConfigMismatchError(f"election {spec.election_id} not found: "
                                  f"zero.report.election_query returned {len(rows)} rows, expected 1")
    election_name = str(rows[0][0])

    columns = []
    for i, section in enumerate(spec.report.sections):
        where = f"profile zero.report.sections[{i}] ({section.title})"
        try:
            with conn.transaction():
                cur = conn.execute(sql.SQL("{} LIMIT 0").format(report_sql(section.query)), params)
        except psycopg.Error as exc:
            raise ConfigMismatchError(f"{where}: {' '.join(str(exc).split())}") from None
        names = tuple(d.name for d in (cur.description or []))
        for col in section.labels + section.totals:
            if col not in names:
                raise ConfigMismatchError(f"{where}: the query returns no column {col!r} "
                                          f"(it returns {', '.join(names)})")
        columns.append(names)
    return ClearPlan(tuple(order), tuple(c for c in spec.clear if c.method == "truncate"),
                     tuple(sequences), election_name, tuple(columns),
                     _unindexed_fk_warnings(conn, set(by_name)), tuple(feeds), tuple(kept_feeds))


def _unindexed_fk_warnings(conn: psycopg.Connection, deleted: set[QualifiedName]) -> tuple[str, ...]:
    """DELETE from a parent checks every referencing row through the foreign key;
    without an index on the referencing columns each deleted row scans the child
    table (dead rows included): quadratic, minutes instead of seconds."""
    rows = conn.execute(
        "SELECT k.conname, cn.nspname, c.relname, pn.nspname, p.relname FROM pg_constraint k"
        " JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace cn ON cn.oid = c.relnamespace"
        " JOIN pg_class p ON p.oid = k.confrelid JOIN pg_namespace pn ON pn.oid = p.relnamespace"
        " WHERE k.contype = 'f' AND NOT EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid ="
        " k.conrelid AND (i.indkey::int2[])[0:cardinality(k.conkey) - 1] @> k.conkey)").fetchall()
    return tuple(
        f"foreign key {r[0]} of {QualifiedName(r[1], r[2])} has no index: deleting from "
        f"{QualifiedName(r[3], r[4])} will be slow (index it, or use method: truncate)"
        for r in rows if QualifiedName(r[3], r[4]) in deleted)
