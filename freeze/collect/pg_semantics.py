"""PostgreSQL catalog objects that change what the counting application does.

`freeze.collect.postgres` records tables, columns, constraints, functions,
triggers, roles and privileges. This module records the rest of the catalog
that can change what the application reads, writes or may do, or what a report
shows, without touching any of those: a rewrite rule that turns an INSERT into
nothing, a row-level security policy, a per-role `search_path`, a sequence moved
with `setval`, an extension upgraded, a cast or operator that resolves
differently, an enum label added, a partition detached, a trigger's
replica-identity or a subscription that writes into the tables from elsewhere.

Everything runs on the caller's cursor, inside its one REPEATABLE READ, READ
ONLY transaction. Each class is its own manifest section (so a manifest taken
before this module existed simply lacks the section; `freeze.drift` reports it
as "not recorded in this manifest" instead of as drift). The README's catalog
coverage table lists what is covered and what deliberately is not.

Secrets are never recorded: user-mapping options are recorded by name only and
a subscription's connection string not at all.
"""

from __future__ import annotations

from typing import Any

from freeze.manifest import DB_SEMANTIC_SECTIONS

Sections = dict[str, dict[str, dict[str, Any]]]

# Every section this module writes (kinds as drift names them): see manifest.
SEMANTIC_SECTIONS = DB_SEMANTIC_SECTIONS

# Server settings that change what a statement means or may do (not performance
# knobs). TimeZone, DateStyle, IntervalStyle, extra_float_digits, bytea_output and
# client_encoding are left out here: every client may set them per connection
# (libpq's PGTZ, PGDATESTYLE), so the collector's own value says nothing about
# the application's; their per-role and per-database values are in
# db_role_settings, and postgresql.conf is a file the profile's paths cover.
SEMANTIC_SETTINGS: tuple[str, ...] = (
    "search_path", "default_transaction_read_only", "default_transaction_isolation",
    "default_transaction_deferrable", "session_replication_role", "row_security",
    "transform_null_equals", "standard_conforming_strings", "array_nulls",
    "lo_compat_privileges", "default_table_access_method", "default_tablespace",
    "temp_tablespaces", "check_function_bodies", "default_text_search_config",
    "lc_monetary", "lc_numeric", "lc_time", "xmlbinary", "xmloption",
    "session_preload_libraries", "local_preload_libraries", "shared_preload_libraries",
    "allow_system_table_mods", "ignore_system_indexes", "zero_damaged_pages",
    "fsync", "synchronous_commit", "full_page_writes", "wal_level",
    "statement_timeout", "lock_timeout", "idle_in_transaction_session_timeout",
    "password_encryption", "log_statement", "track_commit_timestamp",
)

# Objects with an oid below this were made by initdb (PostgreSQL's
# FirstNormalObjectId); above it, by someone (or an extension) since.
_FIRST_USER_OID = 16384

_RULE_EVENTS = {"1": "SELECT", "2": "UPDATE", "3": "INSERT", "4": "DELETE"}
_ENABLED = {"O": "origin", "D": "disabled", "R": "replica", "A": "always"}
_POLICY_COMMANDS = {"r": "SELECT", "a": "INSERT", "w": "UPDATE", "d": "DELETE", "*": "ALL"}
_CAST_CONTEXTS = {"e": "explicit", "a": "assignment", "i": "implicit"}
_REPLICA_IDENTITY = {"d": "default", "n": "nothing", "f": "full", "i": "index"}
# option names whose values are secret wherever they appear (server options too)
_SECRET_OPTION_WORDS = ("password", "secret", "passfile", "sslkey", "token")

_REL = "quote_ident(n.nspname) || '.' || quote_ident(c.relname)"


def _rows(cur: Any, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    cur.execute(query, params)
    rows: list[tuple[Any, ...]] = cur.fetchall()
    return rows


def _options(raw: list[str] | None, *, names_only: bool = False) -> list[str]:
    """`{k=v,...}` option arrays, sorted; secret values replaced by `<secret>`."""
    out = []
    for item in raw or []:
        name, _, value = item.partition("=")
        if names_only:
            out.append(name)
        elif any(word in name.lower() for word in _SECRET_OPTION_WORDS):
            out.append(f"{name}=<secret, not recorded>")
        else:
            out.append(f"{name}={value}")
    return sorted(out)


def collect(cur: Any, schemas: list[str], compared_tables: set[str],
            volatile_sequences: set[str], out: Sections, facts: dict[str, Any]) -> None:
    """Fill every SEMANTIC_SECTIONS section of `out` (and sequence positions in `facts`).

    `compared_tables`: quoted `schema.table` keys whose content the manifest
    compares; a sequence feeding only such tables has its position compared too.
    `volatile_sequences`: `schema.name` the profile says move by themselves.
    """
    sch = (schemas,)
    _rules_and_policies(cur, sch, out)
    _role_settings(cur, out)
    _sequences(cur, sch, compared_tables, volatile_sequences, out, facts)
    _extensions_languages_casts(cur, out)
    _operators_types_collations(cur, sch, out)
    _foreign_and_replication(cur, out)
    _relation_options(cur, sch, out)
    _settings_and_labels(cur, out)


def _rules_and_policies(cur: Any, sch: tuple[Any, ...], out: Sections) -> None:
    out["db_rules"] = {
        f"{rel}/{name}": {"event": _RULE_EVENTS.get(event, event), "instead": instead,
                          "enabled": _ENABLED.get(enabled, enabled), "definition": definition}
        for rel, name, event, instead, enabled, definition in _rows(cur, f"""
            SELECT {_REL}, quote_ident(r.rulename), r.ev_type::text, r.is_instead,
                   r.ev_enabled::text, pg_get_ruledef(r.oid)
            FROM pg_rewrite r
            JOIN pg_class c ON c.oid = r.ev_class
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s)""", sch)
    }
    out["db_policies"] = {
        f"{rel}/{name}": {"command": _POLICY_COMMANDS.get(cmd, cmd),
                          "permissive": permissive, "roles": list(roles),
                          "using": using, "with_check": with_check}
        for rel, name, cmd, permissive, roles, using, with_check in _rows(cur, f"""
            SELECT {_REL}, quote_ident(p.polname), p.polcmd::text, p.polpermissive,
                   ARRAY(SELECT CASE WHEN r = 0 THEN 'PUBLIC' ELSE pg_get_userbyid(r) END
                         FROM unnest(p.polroles) r ORDER BY 1),
                   pg_get_expr(p.polqual, p.polrelid), pg_get_expr(p.polwithcheck, p.polrelid)
            FROM pg_policy p
            JOIN pg_class c ON c.oid = p.polrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s)""", sch)
    }


def _role_settings(cur: Any, out: Sections) -> None:
    """ALTER ROLE/DATABASE ... SET: what a session of that role starts with here.

    Settings for other databases do not reach this one and are left out; the
    database is named "database" (not by name) so a renamed restore still matches
    on these keys (the name itself is in db_cluster).
    """
    settings: dict[str, dict[str, Any]] = {}
    for role, whole_cluster, item in _rows(cur, """
            SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_get_userbyid(s.setrole) END,
                   s.setdatabase = 0, cfg
            FROM pg_db_role_setting s, unnest(s.setconfig) cfg
            WHERE s.setdatabase IN (0, (SELECT oid FROM pg_database
                                        WHERE datname = current_database()))"""):
        name, _, value = item.partition("=")
        if role is None:
            scope = "database"
        elif whole_cluster:
            scope = f"role {role}"
        else:
            scope = f"role {role} in database"
        settings[f"{scope}: {name}"] = {"value": value}
    out["db_role_settings"] = settings


def _sequences(cur: Any, sch: tuple[Any, ...], compared_tables: set[str],
               volatile_sequences: set[str], out: Sections, facts: dict[str, Any]) -> None:
    """Parameters always; position (last_value, is_called) compared only when it is fixed.

    The counting application's own inserts advance the sequence of every table
    it writes: for a table whose content the manifest does not compare (results,
    audit logs: `exclude_tables`, or left out of `tables`), its sequence's
    position is recorded in `facts` (never compared) and the entry says so.
    A sequence feeding only compared tables, or none (free-standing), is
    compared exactly unless the profile lists it in `database.volatile_sequences`.
    `freeze zero` restarts sequences with ALTER SEQUENCE: a restarted sequence
    is drift against a manifest that compared its position (snapshot again
    after a zero), none otherwise.
    """
    from psycopg import sql

    sequences: dict[str, dict[str, Any]] = {}
    positions: dict[str, dict[str, Any]] = {}
    for (schema, name, key, plain, seqtype, start, increment, minimum, maximum, cache, cycle,
         owned_by, fed_tables, readable) in _rows(cur, f"""
            SELECT n.nspname, c.relname, {_REL}, n.nspname || '.' || c.relname,
                   format_type(s.seqtypid, NULL), s.seqstart, s.seqincrement, s.seqmin,
                   s.seqmax, s.seqcache, s.seqcycle,
                   (SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname) || '.' ||
                           quote_ident(a.attname)
                    FROM pg_depend d
                    JOIN pg_class t ON t.oid = d.refobjid
                    JOIN pg_namespace tn ON tn.oid = t.relnamespace
                    JOIN pg_attribute a ON a.attrelid = t.oid AND a.attnum = d.refobjsubid
                    WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                      AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                    LIMIT 1),
                   ARRAY(SELECT DISTINCT quote_ident(tn.nspname) || '.' || quote_ident(t.relname)
                         FROM pg_depend d
                         JOIN pg_class t ON t.oid = d.refobjid
                         JOIN pg_namespace tn ON tn.oid = t.relnamespace
                         WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid
                           AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i')
                         UNION
                         SELECT quote_ident(tn.nspname) || '.' || quote_ident(t.relname)
                         FROM pg_depend d
                         JOIN pg_attrdef ad ON ad.oid = d.objid
                         JOIN pg_class t ON t.oid = ad.adrelid
                         JOIN pg_namespace tn ON tn.oid = t.relnamespace
                         WHERE d.classid = 'pg_attrdef'::regclass
                           AND d.refclassid = 'pg_class'::regclass AND d.refobjid = c.oid
                         ORDER BY 1),
                   has_sequence_privilege(c.oid, 'SELECT')
            FROM pg_sequence s
            JOIN pg_class c ON c.oid = s.seqrelid
            JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s)
            ORDER BY 3""", sch):
        entry: dict[str, Any] = {"type": seqtype, "start": start, "increment": increment,
                                 "min": minimum, "max": maximum, "cache": cache,
                                 "cycle": cycle, "owned_by": owned_by,
                                 "feeds": list(fed_tables)}
        uncompared = [t for t in fed_tables if t not in compared_tables]
        if plain in volatile_sequences or key in volatile_sequences:
            entry["position"] = "not compared: listed in database.volatile_sequences"
        elif uncompared:
            entry["position"] = ("not compared: feeds " + ", ".join(uncompared)
                                 + ", whose content is not compared")
        else:
            entry["position"] = "compared"
        if readable:
            cur.execute(sql.SQL("SELECT last_value, is_called FROM {}").format(
                sql.Identifier(schema, name)))
            last_value, is_called = cur.fetchone()
            state = {"last_value": last_value, "is_called": is_called}
        else:
            state = {"last_value": "unreadable: no SELECT privilege on the sequence",
                     "is_called": None}
        if entry["position"] == "compared":
            entry.update(state)
        else:
            positions[key] = state
        sequences[key] = entry
    out["db_sequences"] = sequences
    facts["db_sequence_positions_not_compared"] = positions


def _extensions_languages_casts(cur: Any, out: Sections) -> None:
    # database-wide: an extension or cast acts in every schema
    out["db_extensions"] = {
        name: {"version": version, "schema": schema, "owner": owner,
               "relocatable": relocatable}
        for name, version, schema, owner, relocatable in _rows(cur, """
            SELECT extname, extversion, quote_ident(extnamespace::regnamespace::text),
                   pg_get_userbyid(extowner), extrelocatable
            FROM pg_extension""")
    }
    out["db_languages"] = {
        name: {"trusted": trusted, "procedural": procedural, "owner": owner,
               "handler": handler, "validator": validator}
        for name, trusted, procedural, owner, handler, validator in _rows(cur, """
            SELECT lanname, lanpltrusted, lanispl, pg_get_userbyid(lanowner),
                   NULLIF(lanplcallfoid, 0)::regprocedure::text,
                   NULLIF(lanvalidator, 0)::regprocedure::text
            FROM pg_language""")
    }
    # every cast, built-in ones included (about 230): an implicit cast added or a
    # built-in one's context changed alters how every query resolves
    out["db_casts"] = {
        f"{source} -> {target}": {"function": func,
                                  "context": _CAST_CONTEXTS.get(context, context),
                                  "method": method}
        for source, target, func, context, method in _rows(cur, """
            SELECT format_type(castsource, NULL), format_type(casttarget, NULL),
                   NULLIF(castfunc, 0)::regprocedure::text, castcontext::text,
                   castmethod::text
            FROM pg_cast""")
    }


def _operators_types_collations(cur: Any, sch: tuple[Any, ...], out: Sections) -> None:
    """User-made operators, operator classes, types and collations in ANY schema.

    Not only the profile's schemas: an operator or type in `public` takes part
    in resolving the counting schema's queries through the search path.
    """
    user = (_FIRST_USER_OID,)
    out["db_operators"] = {
        f"{schema}.{name}({left},{right})": {
            "owner": owner, "function": func, "result": result, "commutator": com,
            "negator": neg, "restrict": rest, "join": join, "merges": merges,
            "hashes": hashes}
        for schema, name, left, right, owner, func, result, com, neg, rest, join, merges, hashes
        in _rows(cur, """
            SELECT quote_ident(n.nspname), o.oprname,
                   COALESCE(format_type(NULLIF(o.oprleft, 0), NULL), 'NONE'),
                   COALESCE(format_type(NULLIF(o.oprright, 0), NULL), 'NONE'),
                   pg_get_userbyid(o.oprowner), o.oprcode::regprocedure::text,
                   format_type(o.oprresult, NULL), NULLIF(o.oprcom, 0)::regoperator::text,
                   NULLIF(o.oprnegate, 0)::regoperator::text,
                   NULLIF(o.oprrest, 0)::regprocedure::text,
                   NULLIF(o.oprjoin, 0)::regprocedure::text, o.oprcanmerge, o.oprcanhash
            FROM pg_operator o JOIN pg_namespace n ON n.oid = o.oprnamespace
            WHERE o.oid >= %s""", user)
    }
    out["db_operator_classes"] = {
        f"{schema}.{name} USING {method}": {"type": typ, "default": default,
                                            "family": family, "owner": owner}
        for schema, name, method, typ, default, family, owner in _rows(cur, """
            SELECT quote_ident(n.nspname), quote_ident(oc.opcname), am.amname,
                   format_type(oc.opcintype, NULL), oc.opcdefault,
                   (SELECT quote_ident(fn.nspname) || '.' || quote_ident(f.opfname)
                    FROM pg_opfamily f JOIN pg_namespace fn ON fn.oid = f.opfnamespace
                    WHERE f.oid = oc.opcfamily),
                   pg_get_userbyid(oc.opcowner)
            FROM pg_opclass oc
            JOIN pg_namespace n ON n.oid = oc.opcnamespace
            JOIN pg_am am ON am.oid = oc.opcmethod
            WHERE oc.oid >= %s""", user)
    }
    types: dict[str, dict[str, Any]] = {}
    for (key, kind, owner, base, not_null, default, checks, labels, fields, subtype,
         typ_input, typ_output) in _rows(cur, """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(t.typname), t.typtype::text,
                   pg_get_userbyid(t.typowner),
                   CASE WHEN t.typtype = 'd' THEN format_type(t.typbasetype, t.typtypmod) END,
                   t.typnotnull,
                   CASE WHEN t.typtype = 'd' THEN pg_get_expr(t.typdefaultbin, 0) END,
                   ARRAY(SELECT quote_ident(con.conname) || ': ' || pg_get_constraintdef(con.oid)
                         FROM pg_constraint con WHERE con.contypid = t.oid ORDER BY 1),
                   ARRAY(SELECT e.enumlabel FROM pg_enum e WHERE e.enumtypid = t.oid
                         ORDER BY e.enumsortorder),
                   ARRAY(SELECT quote_ident(a.attname) || ' ' ||
                                format_type(a.atttypid, a.atttypmod)
                         FROM pg_attribute a
                         WHERE t.typtype = 'c' AND a.attrelid = t.typrelid AND a.attnum > 0
                           AND NOT a.attisdropped ORDER BY a.attnum),
                   (SELECT format_type(r.rngsubtype, NULL) ||
                           COALESCE(' ' || NULLIF(r.rngsubdiff, 0)::regproc::text, '')
                    FROM pg_range r WHERE r.rngtypid = t.oid),
                   t.typinput::regproc::text, t.typoutput::regproc::text
            FROM pg_type t
            JOIN pg_namespace n ON n.oid = t.typnamespace
            LEFT JOIN pg_class rel ON rel.oid = t.typrelid
            WHERE t.oid >= %s
              AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
              AND n.nspname !~ '^pg_(toast_)?temp_'
              AND (t.typrelid = 0 OR rel.relkind = 'c')
              AND NOT EXISTS (SELECT 1 FROM pg_type el WHERE el.typarray = t.oid)""", user):
        entry: dict[str, Any] = {"kind": {"d": "domain", "e": "enum", "c": "composite",
                                          "r": "range", "m": "multirange", "b": "base",
                                          "p": "pseudo"}.get(kind, kind), "owner": owner}
        if kind == "d":
            entry.update(base_type=base, not_null=not_null, default=default,
                         constraints=list(checks))
        elif kind == "e":
            entry["labels"] = list(labels)
        elif kind == "c":
            entry["attributes"] = list(fields)
        elif kind == "r":
            entry["subtype"] = subtype
        elif kind == "b":
            entry.update(input=typ_input, output=typ_output)
        types[key] = entry
    out["db_types"] = types
    out["db_collations"] = {
        key: {"provider": provider, "collate": collate, "ctype": ctype, "icu_locale": icu,
              "deterministic": deterministic, "owner": owner}
        for key, provider, collate, ctype, icu, deterministic, owner in _rows(cur, """
            SELECT quote_ident(n.nspname) || '.' || quote_ident(co.collname),
                   co.collprovider::text, co.collcollate, co.collctype, co.colliculocale,
                   co.collisdeterministic, pg_get_userbyid(co.collowner)
            FROM pg_collation co JOIN pg_namespace n ON n.oid = co.collnamespace
            WHERE co.oid >= %s""", user)
    }
    # CREATE OR REPLACE AGGREGATE swaps the transition function under the same name
    out["db_aggregates"] = {
        f"{schema}.{name}({args})": {
            "kind": kind, "transition": trans, "final": final, "combine": combine,
            "state_type": state_type, "initial": initial, "sort_operator": sortop}
        for schema, name, args, kind, trans, final, combine, state_type, initial, sortop
        in _rows(cur, """
            SELECT quote_ident(n.nspname), quote_ident(p.proname),
                   pg_get_function_identity_arguments(p.oid), ag.aggkind::text,
                   ag.aggtransfn::regprocedure::text, NULLIF(ag.aggfinalfn, 0)::regprocedure::text,
                   NULLIF(ag.aggcombinefn, 0)::regprocedure::text,
                   format_type(ag.aggtranstype, NULL), ag.agginitval,
                   NULLIF(ag.aggsortop, 0)::regoperator::text
            FROM pg_aggregate ag
            JOIN pg_proc p ON p.oid = ag.aggfnoid
            JOIN pg_namespace n ON n.oid = p.pronamespace
            WHERE n.nspname = ANY(%s) OR p.oid >= %s""", (sch[0], _FIRST_USER_OID))
    }


def _foreign_and_replication(cur: Any, out: Sections) -> None:
    """Foreign data (tables that read elsewhere) and logical replication (rows
    that arrive from, or leave to, elsewhere)."""
    out["db_foreign_data_wrappers"] = {
        name: {"owner": owner, "handler": handler, "validator": validator,
               "options": _options(options)}
        for name, owner, handler, validator, options in _rows(cur, """
            SELECT fdwname, pg_get_userbyid(fdwowner), NULLIF(fdwhandler, 0)::regproc::text,
                   NULLIF(fdwvalidator, 0)::regproc::text, fdwoptions
            FROM pg_foreign_data_wrapper""")
    }
    out["db_foreign_servers"] = {
        name: {"wrapper": fdw, "owner": owner, "type": typ, "version": version,
               "options": _options(options)}
        for name, fdw, owner, typ, version, options in _rows(cur, """
            SELECT s.srvname, w.fdwname, pg_get_userbyid(s.srvowner), s.srvtype,
                   s.srvversion, s.srvoptions
            FROM pg_foreign_server s JOIN pg_foreign_data_wrapper w ON w.oid = s.srvfdw""")
    }
    # pg_user_mappings shows options only to whoever may see them; their values
    # (passwords) are never recorded, only which options are set
    out["db_user_mappings"] = {
        f"{user} @ {server}": {"option_names": _options(options, names_only=True)}
        for user, server, options in _rows(cur, """
            SELECT usename, srvname, umoptions FROM pg_user_mappings""")
    }
    # what the publication was defined with (tables, columns, row filters, whole
    # schemas), read from its own catalogs: pg_publication_tables expands every
    # table of the database and takes ~0.5 s even when empty
    out["db_publications"] = {
        name: {"owner": owner, "all_tables": all_tables, "insert": ins, "update": upd,
               "delete": dele, "truncate": trunc, "via_root": via_root,
               "tables": list(tables), "schemas": list(schemas)}
        for name, owner, all_tables, ins, upd, dele, trunc, via_root, tables, schemas
        in _rows(cur, """
            SELECT p.pubname, pg_get_userbyid(p.pubowner), p.puballtables, p.pubinsert,
                   p.pubupdate, p.pubdelete, p.pubtruncate, p.pubviaroot,
                   ARRAY(SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname)
                                || COALESCE(' (' || (SELECT string_agg(quote_ident(a.attname),
                                                                       ', ' ORDER BY a.attnum)
                                                     FROM pg_attribute a
                                                     WHERE a.attrelid = c.oid
                                                       AND a.attnum = ANY(pr.prattrs)) || ')',
                                            '')
                                || COALESCE(' WHERE ' || pg_get_expr(pr.prqual, pr.prrelid), '')
                         FROM pg_publication_rel pr
                         JOIN pg_class c ON c.oid = pr.prrelid
                         JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE pr.prpubid = p.oid ORDER BY 1),
                   ARRAY(SELECT quote_ident(n.nspname) FROM pg_publication_namespace pn
                         JOIN pg_namespace n ON n.oid = pn.pnnspid
                         WHERE pn.pnpubid = p.oid ORDER BY 1)
            FROM pg_publication p""")
    }
    # subconninfo (it holds the password) is neither selected nor recorded
    out["db_subscriptions"] = {
        name: {"owner": owner, "enabled": enabled, "publications": list(pubs),
               "binary": binary, "streaming": streaming, "two_phase": two_phase,
               "disable_on_error": disable_on_error, "slot_name": slot,
               "synchronous_commit": synccommit}
        for name, owner, enabled, pubs, binary, streaming, two_phase, disable_on_error, slot,
        synccommit in _rows(cur, """
            SELECT subname, pg_get_userbyid(subowner), subenabled, subpublications,
                   subbinary, substream, subtwophasestate::text, subdisableonerr,
                   subslotname::text, subsynccommit
            FROM pg_subscription
            WHERE subdbid = (SELECT oid FROM pg_database WHERE datname = current_database())""")
    }


def _relation_options(cur: Any, sch: tuple[Any, ...], out: Sections) -> None:
    out["db_relation_options"] = {
        rel: {"replica_identity": _REPLICA_IDENTITY.get(ident, ident),
              "replica_identity_index": ident_index, "options": sorted(options or []),
              "access_method": method, "tablespace": tablespace,
              "foreign_options": _options(foreign_options) if kind == "f" else None}
        for rel, kind, ident, ident_index, options, method, tablespace, foreign_options
        in _rows(cur, f"""
            SELECT {_REL}, c.relkind::text, c.relreplident::text,
                   (SELECT quote_ident(ic.relname) FROM pg_index i
                    JOIN pg_class ic ON ic.oid = i.indexrelid
                    WHERE i.indrelid = c.oid AND i.indisreplident),
                   c.reloptions, am.amname,
                   CASE WHEN c.reltablespace <> 0 THEN
                     (SELECT spcname FROM pg_tablespace WHERE oid = c.reltablespace) END,
                   ft.ftoptions
            FROM pg_class c
            JOIN pg_namespace n ON n.oid = c.relnamespace
            LEFT JOIN pg_am am ON am.oid = c.relam
            LEFT JOIN pg_foreign_table ft ON ft.ftrelid = c.oid
            WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'v', 'm', 'f')""", sch)
    }
    # inheritance and partitions: which rows a query on the parent sees
    out["db_inheritance"] = {
        rel: {"parents": list(parents), "partition_bound": bound, "partition_key": key}
        for rel, parents, bound, key in _rows(cur, f"""
            SELECT {_REL},
                   ARRAY(SELECT quote_ident(pn.nspname) || '.' || quote_ident(p.relname)
                         FROM pg_inherits i JOIN pg_class p ON p.oid = i.inhparent
                         JOIN pg_namespace pn ON pn.oid = p.relnamespace
                         WHERE i.inhrelid = c.oid ORDER BY i.inhseqno),
                   pg_get_expr(c.relpartbound, c.oid),
                   CASE WHEN c.relkind = 'p' THEN pg_get_partkeydef(c.oid) END
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'p', 'f')
              AND (c.relkind = 'p' OR c.relispartition
                   OR EXISTS (SELECT 1 FROM pg_inherits i WHERE i.inhrelid = c.oid))""", sch)
    }


def _settings_and_labels(cur: Any, out: Sections) -> None:
    # reset_val: the value a session of the collector's role starts with (server
    # configuration, ALTER SYSTEM, database and role settings), not the ones
    # this transaction pins for its own output
    settings = {
        name: {"value": value}
        for name, value in _rows(cur, """
            SELECT name, reset_val FROM pg_settings WHERE lower(name) = ANY(%s)""",
            ([s.lower() for s in SEMANTIC_SETTINGS],))
    }
    for name, value in _rows(cur, """
            SELECT 'database.' || k, v FROM pg_database d,
                   LATERAL (VALUES ('allow_connections', d.datallowconn::text),
                                   ('connection_limit', d.datconnlimit::text),
                                   ('is_template', d.datistemplate::text)) AS o(k, v)
            WHERE d.datname = current_database()"""):
        settings[name] = {"value": value}
    out["db_settings"] = settings
    out["db_security_labels"] = {
        f"{objtype} {objname} / {provider}": {"label": label}
        for objtype, objname, provider, label in _rows(cur, """
            SELECT objtype, objname, provider, label FROM pg_seclabels""")
    }
