"""Database access for the zero: connect with one-line errors, identify the
server, and digest table contents inside a snapshot."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo
from psycopg.rows import TupleRow

from freeze.errors import UnavailableError

# Schemas a digest of "the database" never covers.
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")


def one_line_error(exc: BaseException, dsn: str | None = None) -> str:
    """psycopg messages span several lines; the CLI contract is one line. Any
    password is redacted even though libpq does not normally echo it."""
    text = " ".join(str(exc).split())
    if dsn:
        try:
            password = conninfo_to_dict(dsn).get("password")
        except psycopg.Error:
            password = None
        if password:
            text = text.replace(str(password), "***")
    return text


def connect(dsn: str, *, dbname: str | None = None, autocommit: bool = True) -> psycopg.Connection:
    try:
        target = make_conninfo(dsn, dbname=dbname) if dbname else dsn
        return psycopg.connect(target, autocommit=autocommit, application_name="freeze-zero")
    except psycopg.Error as exc:
        raise UnavailableError(f"cannot connect to the counting database: "
                               f"{one_line_error(exc, dsn)}") from None


def single_row(cur: psycopg.Cursor[TupleRow]) -> TupleRow:
    """The row of a query that returns exactly one by construction: a SELECT
    without FROM, or an aggregate without GROUP BY. Never for a lookup that
    can find nothing: check that one and raise the error that says what is missing."""
    row = cur.fetchone()
    assert row is not None, "a single-row query returned no row"
    return row


@dataclass(frozen=True)
class DatabaseIdentity:
    system_identifier: str | None  # pg_control_system(): unique per cluster (initdb)
    database: str
    database_oid: int
    server_version: str
    server_address: str | None
    server_port: int | None
    user: str

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def identity(conn: psycopg.Connection) -> DatabaseIdentity:
    row = conn.execute(
        "SELECT current_database(), (SELECT oid FROM pg_database WHERE datname = current_database()),"
        " current_setting('server_version'), host(inet_server_addr()), inet_server_port(),"
        " current_user").fetchone()
    assert row is not None  # a SELECT without FROM returns exactly one row
    system_id: str | None
    try:
        # needs superuser or pg_monitor-like grants; without it the evidence says so
        with conn.transaction():
            r = conn.execute("SELECT system_identifier::text FROM pg_control_system()").fetchone()
        system_id = r[0] if r else None
    except psycopg.errors.InsufficientPrivilege:
        system_id = None
    return DatabaseIdentity(system_id, row[0], int(row[1]), row[2], row[3], row[4], row[5])


@dataclass(frozen=True)
class TableDigest:
    rows: int
    hash_sum: str  # sum of hashtextextended(row::text): order-independent content check

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "hash_sum": self.hash_sum}


def user_tables(conn: psycopg.Connection, exclude_schemas: tuple[str, ...] = ()) -> list[tuple[str, str]]:
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'r' AND n.nspname <> ALL(%s) AND n.nspname NOT LIKE 'pg_temp%%'"
        " AND n.nspname NOT LIKE 'pg_toast_temp%%' ORDER BY 1, 2",
        [list(SYSTEM_SCHEMAS + exclude_schemas)]).fetchall()
    return [(r[0], r[1]) for r in rows]


def table_digests(conn: psycopg.Connection, exclude_schemas: tuple[str, ...] = ()
                  ) -> dict[str, TableDigest]:
    """Row count and content hash of every user table, in the caller's snapshot.

    Used to prove a restored backup equals its source: same server, same types,
    so each row's text form is identical. Not a cryptographic commitment (the
    backup's sha256 is); it detects truncated or incomplete dumps cheaply.
    """
    tables = user_tables(conn, exclude_schemas)
    if not tables:
        return {}
    parts = [
        sql.SQL("SELECT {label}, count(*), coalesce(sum(hashtextextended(t::text, 0)::numeric), 0)::text"
                " FROM ONLY {table} AS t").format(label=sql.Literal(f"{s}.{n}"),
                                                  table=sql.Identifier(s, n))
        for s, n in tables
    ]
    query = sql.SQL(" UNION ALL ").join(parts)
    return {r[0]: TableDigest(int(r[1]), r[2]) for r in conn.execute(query).fetchall()}


def user_sequences(conn: psycopg.Connection, exclude_schemas: tuple[str, ...] = ()
                   ) -> dict[str, tuple[str, str]]:
    """(schema, name) of every user sequence, keyed "schema.name" as in sequence_states:
    that key cannot be split back (either part may contain a dot)."""
    rows = conn.execute(
        "SELECT n.nspname, c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " WHERE c.relkind = 'S' AND n.nspname <> ALL(%s) ORDER BY 1, 2",
        [list(SYSTEM_SCHEMAS + exclude_schemas)]).fetchall()
    return {f"{s}.{n}": (s, n) for s, n in rows}


def sequence_states(conn: psycopg.Connection, exclude_schemas: tuple[str, ...] = ()
                    ) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for s, n in user_sequences(conn, exclude_schemas).values():
        r = conn.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
            sql.Identifier(s, n))).fetchone()
        assert r is not None  # a sequence relation always has exactly one row
        out[f"{s}.{n}"] = {"last_value": int(r[0]), "is_called": bool(r[1])}
    return out
