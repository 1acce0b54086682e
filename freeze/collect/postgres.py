"""PostgreSQL: catalog and ordered table contents, in one consistent snapshot.

Not `pg_dump` text (its output is not stable: PostgreSQL 17.6+ writes a random
`\\restrict` key into every dump). Instead, inside ONE transaction that is
REPEATABLE READ and READ ONLY (so every query sees the same snapshot and the
collector cannot change anything), we record:

  * the cluster: system identifier (pg_control_system(), when permitted), server
    version, database encoding/collation/owner;
  * the catalog of the profile's schemas: schemas, tables/views/sequences,
    columns, constraints, indexes, functions (sha256 of their definition),
    triggers (and event triggers), roles with memberships, and every privilege
    (ACLs expanded with aclexplode, defaults made explicit with acldefault) as
    one `grant` entry per grantee and privilege;
  * everything else in the catalog that changes what the application reads,
    writes or may do (rules, policies, role and database settings, sequences,
    extensions, casts, operators, types, foreign data, replication, relation
    options, inheritance, semantic server settings): `freeze.collect.pg_semantics`;
  * per table, an ordered content digest: rows are read through a server-side
    cursor (memory flat whatever the table size) ordered by the primary key (or,
    without one, by the row's text in the "C" collation), each row's text form
    is hashed client-side, and the table digest is sha256 over the row digests
    in order. Text output settings (DateStyle, TimeZone, extra_float_digits,
    bytea_output, IntervalStyle) are pinned for the transaction so the text of a
    row does not depend on the session. For tables with a primary key and at
    most `row_detail_limit` rows, per-row digests are kept too, so drift can
    name the row.

`txid_current_snapshot()` and the server time are recorded as facts (they
identify the snapshot but change every run, so they are never compared).

The DSN is a secret: it never appears in an error; errors name user@host:port/db.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, LiteralString, Protocol

from freeze.collect import pg_semantics
from freeze.errors import InputError, UnavailableError

if TYPE_CHECKING:  # psycopg is imported where it is used (the postgres extra)
    import psycopg
    from psycopg.rows import TupleRow

    Connection = psycopg.Connection[TupleRow]
    Cursor = psycopg.Cursor[TupleRow]

_PINNED_SETTINGS = (
    ("DateStyle", "ISO, YMD"),
    ("TimeZone", "UTC"),
    ("IntervalStyle", "postgres"),
    ("extra_float_digits", "3"),
    ("bytea_output", "hex"),
    ("statement_timeout", "0"),
)


class _DatabaseSpec(Protocol):
    """freeze.profile.DatabaseSpec, as far as the collector needs it."""

    def to_spec(self) -> dict[str, Any]: ...


def _spec_dict(spec: _DatabaseSpec | Mapping[str, Any] | None) -> dict[str, Any]:
    if spec is None:
        return {}
    if isinstance(spec, Mapping):
        return dict(spec)
    return spec.to_spec()


def describe_target(dsn: str) -> str:
    """user@host:port/dbname of a DSN, without the password (for messages)."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        info = conninfo_to_dict(dsn)
    except Exception:  # noqa: BLE001 - any parse failure; never echo the DSN
        raise InputError("database DSN is malformed (content not shown)") from None
    return "{user}@{host}:{port}/{db}".format(
        user=info.get("user", "?"), host=info.get("host", info.get("hostaddr", "localhost")),
        port=info.get("port", 5432), db=info.get("dbname", "?"))


def _scrub(message: str, dsn: str) -> str:
    from psycopg.conninfo import conninfo_to_dict

    line = " ".join(message.split())
    try:
        password = conninfo_to_dict(dsn).get("password")
    except Exception:  # noqa: BLE001
        password = None
    if password:
        line = line.replace(str(password), "***")
    return line


def connect(dsn: str) -> Connection:
    """Open a connection for a read-only REPEATABLE READ snapshot (UnavailableError if not)."""
    import psycopg

    target = describe_target(dsn)
    try:
        conn = psycopg.connect(dsn, autocommit=False, connect_timeout=10)
    except psycopg.OperationalError as exc:
        text = _scrub(str(exc), dsn)
        if "password authentication failed" in text or "authentication" in text.lower():
            reason = "authentication failed (wrong user or password)"
        elif "does not exist" in text:
            reason = "database or role does not exist"
        else:
            reason = "unreachable: " + text.split("failed:")[-1].strip()[:160]
        raise UnavailableError(f"database {target}: {reason}") from None
    except psycopg.Error as exc:
        raise UnavailableError(f"database {target}: {_scrub(str(exc), dsn)[:200]}") from None
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    return conn


def _rows(cur: Cursor, query: LiteralString, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    cur.execute(query, params)
    return cur.fetchall()


def _catalog(cur: Cursor, schemas: list[str], out: dict[str, dict[str, dict[str, Any]]]) -> None:
    sch = (schemas,)
    out["db_schemas"] = {
        name: {"owner": owner}
        for name, owner in _rows(cur, """
            SELECT quote_ident(nspname), pg_get_userbyid(nspowner)
            FROM pg_namespace WHERE nspname = ANY(%s)""", sch)
    }
    rels: dict[str, dict[str, Any]] = {}
    for key, kind, owner, rls, force_rls, persistence, viewdef in _rows(cur, """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), c.relkind::text,
                   pg_get_userbyid(c.relowner), c.relrowsecurity, c.relforcerowsecurity,
                   c.relpersistence::text,
                   CASE WHEN c.relkind IN ('v', 'm')
                        THEN encode(sha256(convert_to(pg_get_viewdef(c.oid), 'UTF8')), 'hex') END
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')""", sch):
        entry = {"relkind": kind, "owner": owner, "row_security": rls,
                 "force_row_security": force_rls, "persistence": persistence}
        if viewdef is not None:
            entry["definition_sha256"] = viewdef
        rels[key] = entry
    out["db_relations"] = rels
    out["db_columns"] = {
        f"{rel}.{col}": {"position": pos, "type": typ, "not_null": notnull, "default": default,
                         "identity": ident, "generated": gen, "collation": coll}
        for rel, col, pos, typ, notnull, default, ident, gen, coll in _rows(cur, """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(a.attname),
                   a.attnum::int, format_type(a.atttypid, a.atttypmod), a.attnotnull,
                   pg_get_expr(d.adbin, d.adrelid), a.attidentity::text, a.attgenerated::text,
                   CASE WHEN a.attcollation <> 0 THEN a.attcollation::regcollation::text END
            FROM pg_attribute a
            JOIN pg_class c ON c.oid = a.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
            WHERE n.nspname = ANY(%s) AND a.attnum > 0 AND NOT a.attisdropped
              AND c.relkind IN ('r', 'p', 'v', 'm', 'f')""", sch)
    }
    out["db_constraints"] = {
        f"{owner_obj}.{name}": {"type": ctype, "definition": definition}
        for owner_obj, name, ctype, definition in _rows(cur, """
            SELECT quote_ident(n.nspname) || '.' ||
                   COALESCE(quote_ident(c.relname), 'type:' || con.contypid::regtype::text),
                   quote_ident(con.conname), con.contype::text, pg_get_constraintdef(con.oid)
            FROM pg_constraint con
            JOIN pg_namespace n ON n.oid = con.connamespace
            LEFT JOIN pg_class c ON c.oid = con.conrelid
            WHERE n.nspname = ANY(%s)""", sch)
    }
    out["db_indexes"] = {
        f"{s}.{i}": {"table": t, "definition": d}
        for s, t, i, d in _rows(cur, """
            SELECT quote_ident(schemaname), quote_ident(tablename), quote_ident(indexname),
                   indexdef
            FROM pg_indexes WHERE schemaname = ANY(%s)""", sch)
    }
    out["db_functions"] = {
        f"{s}.{name}({args})": {"kind": kind, "language": lang, "owner": owner,
                                "security_definer": secdef, "volatility": vol,
                                "config": config, "source_sha256": src,
                                "definition_sha256": definition}
        for s, name, args, kind, lang, owner, secdef, vol, config, src, definition in _rows(cur, """
            SELECT quote_ident(n.nspname), quote_ident(p.proname),
                   pg_get_function_identity_arguments(p.oid), p.prokind::text, l.lanname,
                   pg_get_userbyid(p.proowner), p.prosecdef, p.provolatile::text,
                   p.proconfig::text,
                   encode(sha256(convert_to(COALESCE(p.prosrc, ''), 'UTF8')), 'hex'),
                   CASE WHEN p.prokind IN ('f', 'p') THEN
                     encode(sha256(convert_to(pg_get_functiondef(p.oid), 'UTF8')), 'hex') END
            FROM pg_proc p
            JOIN pg_namespace n ON n.oid = p.pronamespace
            JOIN pg_language l ON l.oid = p.prolang
            WHERE n.nspname = ANY(%s)""", sch)
    }
    triggers = {
        f"{rel}.{name}": {"definition": definition, "enabled": enabled}
        for rel, name, definition, enabled in _rows(cur, """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), quote_ident(t.tgname),
                   pg_get_triggerdef(t.oid), t.tgenabled::text
            FROM pg_trigger t
            JOIN pg_class c ON c.oid = t.tgrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s) AND NOT t.tgisinternal""", sch)
    }
    for name, event, enabled, func, tags in _rows(cur, """
            SELECT evtname, evtevent, evtenabled::text, evtfoid::regprocedure::text,
                   evttags::text FROM pg_event_trigger"""):
        triggers[f"event:{name}"] = {"event": event, "enabled": enabled, "function": func,
                                     "tags": tags}
    out["db_triggers"] = triggers

    roles: dict[str, dict[str, Any]] = {}
    for row in _rows(cur, """
            SELECT rolname, rolsuper, rolinherit, rolcreaterole, rolcreatedb, rolcanlogin,
                   rolreplication, rolbypassrls, rolconnlimit, rolvaliduntil::text
            FROM pg_roles WHERE rolname !~ '^pg_'"""):
        roles[row[0]] = {"superuser": row[1], "inherit": row[2], "createrole": row[3],
                         "createdb": row[4], "login": row[5], "replication": row[6],
                         "bypassrls": row[7], "connection_limit": row[8],
                         "valid_until": row[9], "member_of": []}
    for member, group, admin in _rows(cur, """
            SELECT m.rolname, g.rolname, am.admin_option
            FROM pg_auth_members am
            JOIN pg_roles m ON m.oid = am.member JOIN pg_roles g ON g.oid = am.roleid"""):
        if member in roles:
            roles[member]["member_of"].append(group + (" (admin)" if admin else ""))
    for r in roles.values():
        r["member_of"].sort()
    out["db_roles"] = roles

    grants: dict[str, dict[str, Any]] = {}
    grantee = "CASE WHEN a.grantee = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(a.grantee) END"
    queries = [
        ("database", f"""
            SELECT quote_ident(d.datname), {grantee}, pg_get_userbyid(a.grantor),
                   a.privilege_type, a.is_grantable
            FROM pg_database d,
                 LATERAL aclexplode(COALESCE(d.datacl, acldefault('d', d.datdba))) a
            WHERE d.datname = current_database()""", ()),
        ("schema", f"""
            SELECT quote_ident(n.nspname), {grantee}, pg_get_userbyid(a.grantor),
                   a.privilege_type, a.is_grantable
            FROM pg_namespace n,
                 LATERAL aclexplode(COALESCE(n.nspacl, acldefault('n', n.nspowner))) a
            WHERE n.nspname = ANY(%s)""", sch),
        ("table", f"""
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname), {grantee},
                   pg_get_userbyid(a.grantor), a.privilege_type, a.is_grantable
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace,
                 LATERAL aclexplode(COALESCE(c.relacl, acldefault(
                     CASE WHEN c.relkind = 'S' THEN 's' ELSE 'r' END::"char", c.relowner))) a
            WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f')""", sch),
        ("column", f"""
            SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) || '.' ||
                   quote_ident(at.attname), {grantee}, pg_get_userbyid(a.grantor),
                   a.privilege_type, a.is_grantable
            FROM pg_attribute at
            JOIN pg_class c ON c.oid = at.attrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace,
                 LATERAL aclexplode(at.attacl) a
            WHERE n.nspname = ANY(%s) AND at.attacl IS NOT NULL AND NOT at.attisdropped""", sch),
        ("function", f"""
            SELECT quote_ident(n.nspname) || '.' || quote_ident(p.proname) || '(' ||
                   pg_get_function_identity_arguments(p.oid) || ')', {grantee},
                   pg_get_userbyid(a.grantor), a.privilege_type, a.is_grantable
            FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace,
                 LATERAL aclexplode(COALESCE(p.proacl, acldefault('f', p.proowner))) a
            WHERE n.nspname = ANY(%s)""", sch),
        ("default", f"""
            SELECT pg_get_userbyid(da.defaclrole) || ':' || COALESCE(n.nspname, '*') || ':' ||
                   da.defaclobjtype::text, {grantee}, pg_get_userbyid(a.grantor),
                   a.privilege_type, a.is_grantable
            FROM pg_default_acl da LEFT JOIN pg_namespace n ON n.oid = da.defaclnamespace,
                 LATERAL aclexplode(da.defaclacl) a""", ()),
    ]
    for objtype, query, params in queries:
        for obj, who, grantor, privilege, grantable in _rows(cur, query, params):
            grants[f"{objtype}:{obj}:{who}:{privilege}"] = {"grantor": grantor,
                                                            "grantable": grantable}
    out["db_grants"] = grants


def _table_list(cur: Cursor, spec: dict[str, Any], schemas: list[str], target: str,
                require_tables: bool) -> list[tuple[str, str, str]]:
    rows = _rows(cur, """
        SELECT n.nspname, c.relname, quote_ident(n.nspname) || '.' || quote_ident(c.relname)
        FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = ANY(%s) AND c.relkind = 'r'
        ORDER BY 3""", (schemas,))
    wanted = set(spec.get("tables") or [])
    excluded = set(spec.get("exclude_tables") or [])
    out = []
    if require_tables:
        # a typo names nothing: a schema or table left silently unfrozen (or an
        # exclusion that excludes nothing) must stop the snapshot, naming the key
        from freeze.errors import ConfigMismatchError

        present = {r[0] for r in _rows(cur, "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)",
                                       (schemas,))}
        absent = [name for name in schemas if name not in present]
        if absent:
            raise ConfigMismatchError(
                f"database {target}: database.schemas names {', '.join(absent)[:200]}, "
                "not a schema in this database (nothing in it would be frozen)")
        known = {f"{s}.{t}" for s, t, _ in rows} | {key for _, _, key in rows}
        for profile_key, names, consequence in (("tables", wanted, "it would not be frozen"),
                                                ("exclude_tables", excluded, "it excludes nothing")):
            missing = sorted(names - known)
            if missing:
                raise ConfigMismatchError(
                    f"database {target}: database.{profile_key} names {', '.join(missing)[:200]}, "
                    f"not a table in schemas {', '.join(schemas)} ({consequence})")
    for schema, table, key in rows:
        plain = f"{schema}.{table}"
        if wanted and plain not in wanted and key not in wanted:
            continue
        if plain in excluded or key in excluded:
            continue
        out.append((schema, table, key))
    return out


def _primary_key(cur: Cursor, schema: str, table: str) -> list[str]:
    return [r[0] for r in _rows(cur, """
        SELECT a.attname
        FROM pg_index i
        JOIN pg_class c ON c.oid = i.indrelid JOIN pg_namespace n ON n.oid = c.relnamespace
        CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
        JOIN pg_attribute a ON a.attrelid = c.oid AND a.attnum = k.attnum
        WHERE i.indisprimary AND n.nspname = %s AND c.relname = %s
        ORDER BY k.ord""", (schema, table))]


def _table_content(conn: Connection, schema: str, table: str, limit: int,
                   values: bool = False
                   ) -> tuple[dict[str, Any], dict[str, dict[str, Any]] | None]:
    """The table's summary, and per-row detail (keyed by primary key) up to `limit` rows.

    `values`: each row's detail also carries its columns as text ({column: text or
    None}), so drift can say which column changed from what to what. The digest is
    always over the row's text form, with or without values."""
    from psycopg import sql

    with conn.cursor() as cur:
        pk = _primary_key(cur, schema, table)
    rel = sql.Identifier(schema, table)
    columns = (sql.SQL("(SELECT jsonb_object_agg(c.key, c.value) FROM jsonb_each_text(to_jsonb(t)) "
                       "AS c)::text") if values and pk else sql.SQL("NULL"))
    if pk:
        cols = sql.SQL(", ").join(sql.SQL("t.") + sql.Identifier(c) for c in pk)
        query = sql.SQL("SELECT ROW({cols})::text, t::text, {columns} FROM {rel} AS t "
                        "ORDER BY {cols}").format(cols=cols, rel=rel, columns=columns)
    else:
        query = sql.SQL('SELECT NULL, t::text, NULL FROM {rel} AS t ORDER BY t::text COLLATE "C"'
                        ).format(rel=rel)
    table_hash = hashlib.sha256()
    rows = 0
    detail: dict[str, dict[str, Any]] | None = {} if pk else None
    with conn.cursor(name=f"freeze_rows_{rows}") as cur:
        cur.itersize = 2000
        cur.execute(query)
        for key, text, column_text in cur:
            row_digest = hashlib.sha256((text or "").encode("utf-8")).digest()
            table_hash.update(row_digest)
            rows += 1
            if detail is not None:
                if rows > limit:
                    detail = None  # too many rows to name one by one: the table digest says it
                else:
                    entry: dict[str, Any] = {"sha256": row_digest.hex()}
                    if column_text is not None:
                        entry["values"] = json.loads(column_text)
                    detail[key] = entry
    order = "primary key (" + ", ".join(pk) + ")" if pk else 'row text, collation "C"'
    return {"rows": rows, "sha256": table_hash.hexdigest(), "order": order}, detail


def collect(dsn: str, spec: _DatabaseSpec | Mapping[str, Any] | None, *,
            require_tables: bool = True) -> dict[str, Any]:
    """Collect the database state; returns {"sections", "unavailable", "facts"}.

    `require_tables`: a table named in `tables` that does not exist is a
    ConfigMismatchError (a snapshot must not silently leave a typo unfrozen).
    Verify passes False: there a vanished table is drift, reported as removed.
    """
    import psycopg

    spec_dict = _spec_dict(spec)
    schemas = list(spec_dict.get("schemas") or ["public"])
    limit = int(spec_dict.get("row_detail_limit", 10000))
    target = describe_target(dsn)
    sections: dict[str, dict[str, dict[str, Any]]] = {}
    unavailable: dict[str, str] = {}
    facts: dict[str, Any] = {}
    conn = connect(dsn)
    try:
        with conn.cursor() as cur:
            for name, value in _PINNED_SETTINGS:
                cur.execute("SELECT set_config(%s, %s, true)", (name, value))
            (snapshot, now, version, dbname, encoding, collate, ctype, owner,
             isolation, read_only) = _rows(cur, """
                SELECT txid_current_snapshot()::text, now()::text,
                       current_setting('server_version_num'), current_database(),
                       pg_encoding_to_char(d.encoding), d.datcollate, d.datctype,
                       pg_get_userbyid(d.datdba), current_setting('transaction_isolation'),
                       current_setting('transaction_read_only')
                FROM pg_database d WHERE d.datname = current_database()""")[0]
            if isolation != "repeatable read" or read_only != "on":
                raise UnavailableError(f"database {target}: could not open a read-only "
                                       f"repeatable-read snapshot ({isolation}, {read_only})")
            facts["db_snapshot"] = snapshot
            facts["db_time"] = now
            cluster: dict[str, Any] = {"server_version_num": int(version), "database": dbname,
                                       "encoding": encoding, "collate": collate, "ctype": ctype,
                                       "owner": owner}
            try:
                cur.execute("SAVEPOINT freeze_control")
                cur.execute("SELECT system_identifier::text FROM pg_control_system()")
                row = cur.fetchone()
                assert row is not None  # pg_control_system() returns exactly one row
                cluster["system_identifier"] = row[0]
                cur.execute("RELEASE SAVEPOINT freeze_control")
            except psycopg.errors.InsufficientPrivilege:
                cur.execute("ROLLBACK TO SAVEPOINT freeze_control")
                facts["db_system_identifier"] = "unavailable: needs superuser or pg_monitor"
            sections["db_cluster"] = {dbname: cluster}
            _catalog(cur, schemas, sections)
            tables = _table_list(cur, spec_dict, schemas, target, require_tables)
            # the rest of the catalog that changes what the application does,
            # in the same snapshot (rules, policies, role settings, sequences...)
            pg_semantics.collect(cur, schemas, {key for _, _, key in tables},
                                 set(spec_dict.get("volatile_sequences") or ()), sections, facts)
        contents: dict[str, dict[str, Any]] = {}
        rows: dict[str, dict[str, Any]] = {}
        for schema, table, key in tables:
            summary, detail = _table_content(conn, schema, table, limit,
                                             values=bool(spec_dict.get("row_values")))
            contents[key] = summary
            if detail is not None:
                for pk_text, row_detail in detail.items():
                    rows[f"{key}[{pk_text}]"] = row_detail
        sections["db_tables"] = contents
        sections["db_rows"] = rows
        conn.rollback()
    except psycopg.Error as exc:
        raise UnavailableError(f"database {target}: {_scrub(str(exc), dsn)[:200]}") from None
    finally:
        conn.close()
    return {"sections": sections, "unavailable": unavailable, "facts": facts}
