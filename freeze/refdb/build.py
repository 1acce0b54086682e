"""Generate the reference counting database on the server side.

Everything is `INSERT ... SELECT` over `generate_series`, so 35,000 polling tables
with 12 candidates per contest (~1.7 million vote rows) load in seconds, not the
minutes a row-by-row client loop would take. Values come from
`hashtextextended(..., seed)`, so a given size and seed always give the same data.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from importlib import resources

import psycopg

ELECTION_CODE = "GE-2026"
ELECTION_NAME = "General Elections 2026"

# Polling tables per precinct, precincts per municipality, municipalities per
# province: the orders of magnitude of a mid-sized Latin American country.
_TABLES_PER_PRECINCT = 7
_PRECINCTS_PER_MUNICIPALITY = 15
_MUNICIPALITIES_PER_PROVINCE = 3
_MAX_DEPARTMENTS = 9

# id ranges per territorial level keep parent arithmetic trivial
_BASE = {1: 0, 2: 100, 3: 10_000, 4: 1_000_000, 5: 10_000_000}


@dataclass(frozen=True)
class RefDbSize:
    polling_tables: int
    candidates_per_contest: int = 12

    @property
    def precincts(self) -> int:
        return max(1, math.ceil(self.polling_tables / _TABLES_PER_PRECINCT))

    @property
    def municipalities(self) -> int:
        return max(1, math.ceil(self.precincts / _PRECINCTS_PER_MUNICIPALITY))

    @property
    def provinces(self) -> int:
        return max(1, math.ceil(self.municipalities / _MUNICIPALITIES_PER_PROVINCE))

    @property
    def departments(self) -> int:
        return min(_MAX_DEPARTMENTS, self.provinces)


def schema_sql() -> str:
    return resources.files("freeze.refdb").joinpath("schema.sql").read_text(encoding="utf-8")


def build(conn: psycopg.Connection, size: RefDbSize, *, drill: bool = True, seed: int = 2026,
          replace: bool = False) -> None:
    """Create schema `counting` and load base data (and drill results if `drill`).

    Runs in one transaction: a failed build leaves nothing behind.
    """
    if size.polling_tables < 1 or size.candidates_per_contest < 1:
        raise ValueError("polling_tables and candidates_per_contest must be >= 1")
    with conn.transaction():
        if replace:
            conn.execute("DROP SCHEMA IF EXISTS counting CASCADE")
        conn.execute(schema_sql())
        conn.execute("SET LOCAL search_path = counting")
        _load_base(conn, size, drill)
        if drill:
            _load_results(conn, seed)


def load_drill_results(conn: psycopg.Connection, seed: int = 2026) -> None:
    """Simulate a count on an existing reference database (e.g. after a zero)."""
    with conn.transaction():
        conn.execute("SET LOCAL search_path = counting")
        _load_results(conn, seed)


def _load_base(conn: psycopg.Connection, s: RefDbSize, drill: bool) -> None:
    b = _BASE
    p = {
        "code": ELECTION_CODE, "name": ELECTION_NAME + (" (drill)" if drill else ""),
        "drill": drill, "dep": s.departments, "prov": s.provinces, "mun": s.municipalities,
        "pre": s.precincts, "tab": s.polling_tables, "cand": s.candidates_per_contest,
    }
    conn.execute(
        "INSERT INTO elections (id, code, name, election_date, is_drill) "
        "VALUES (1, %(code)s, %(name)s, DATE '2026-10-18', %(drill)s)", p)
    conn.execute(
        "INSERT INTO territorial_levels VALUES (1,'country'),(2,'department'),(3,'province'),"
        "(4,'municipality'),(5,'precinct')")
    conn.execute("INSERT INTO territorial_units VALUES (1, 1, NULL, 'C', 'Republic')")
    # each level: unit i hangs under parent ((i-1) % n_parent) + 1 of the level above
    levels = [(2, "dep", None, "D", "Department"), (3, "prov", "dep", "P", "Province"),
              (4, "mun", "prov", "M", "Municipality"), (5, "pre", "mun", "R", "Precinct")]
    for level, count_key, parent_key, prefix, label in levels:
        parent = "1" if parent_key is None else f"{b[level - 1]} + ((i - 1) %% %({parent_key})s) + 1"
        conn.execute(
            f"INSERT INTO territorial_units (id, level_id, parent_id, code, name) "
            f"SELECT {b[level]} + i, {level}, {parent}, '{prefix}' || lpad(i::text, 6, '0'), "
            f"'{label} ' || i FROM generate_series(1, %({count_key})s) AS i", p)
    conn.execute(
        "INSERT INTO polling_tables (id, precinct_id, number, registered_voters) "
        f"SELECT j, {b[5]} + ((j - 1) %% %(pre)s) + 1, ((j - 1) / %(pre)s) + 1, "
        "  200 + abs(hashtextextended(j::text, 7)) %% 150 "
        "FROM generate_series(1, %(tab)s) AS j", p)
    conn.execute(
        "INSERT INTO parties (id, election_id, acronym, name) "
        "SELECT k, 1, 'P' || lpad(k::text, 2, '0'), "
        "  (ARRAY['Unity','Renewal','Progress','Liberty','Green','Labour','Civic','Federal',"
        "         'Democratic','Popular','Social','Republican'])[(k - 1) %% 12 + 1] "
        "  || ' Party' || CASE WHEN k > 12 THEN ' ' || k ELSE '' END "
        "FROM generate_series(1, %(cand)s) AS k", p)
    conn.execute(
        "INSERT INTO contests (id, election_id, kind, territory_id, name) "
        "SELECT row_number() OVER (ORDER BY ord, t.id), 1, kind, t.id, title || t.name FROM ("
        "  SELECT 1 AS ord, 'president' AS kind, 1 AS lvl, 'President - ' AS title "
        "  UNION ALL SELECT 2, 'governor', 2, 'Governor - ' "
        "  UNION ALL SELECT 3, 'mayor', 4, 'Mayor - ' "
        "  UNION ALL SELECT 4, 'council', 4, 'Council - ') AS k "
        "JOIN territorial_units t ON t.level_id = k.lvl")
    conn.execute("UPDATE contests SET seats = 9 WHERE kind = 'council'")
    conn.execute(
        "INSERT INTO candidates (id, contest_id, party_id, ballot_position, name) "
        "SELECT (c.id - 1) * %(cand)s + k, c.id, k, k, "
        "  (ARRAY['Ana','Luis','Carmen','Jorge','Rosa','Pedro','Elena','Mario','Julia',"
        "         'Victor','Sonia','Raul'])[abs(hashtextextended(c.id || ':' || k, 1)) %% 12 + 1] "
        "  || ' ' || "
        "  (ARRAY['Quispe','Mamani','Flores','Rojas','Vargas','Torres','Gutierrez','Choque',"
        "         'Lopez','Medina','Suarez','Rivera'])[abs(hashtextextended(c.id || ':' || k, 2)) %% 12 + 1] "
        "FROM contests c CROSS JOIN generate_series(1, %(cand)s) AS k", p)
    conn.execute("INSERT INTO audit_log (actor, action, detail) VALUES "
                 "('setup', 'base-data-loaded', jsonb_build_object('polling_tables', %(tab)s::int))", p)


def _load_results(conn: psycopg.Connection, seed: int) -> None:
    b = _BASE
    # The rows are consistent by construction; a superuser loader skips the
    # per-row foreign-key triggers (3x faster). Others get the checks, just slower.
    is_super = conn.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if is_super and is_super[0]:
        conn.execute("SET LOCAL session_replication_role = replica")
    # every polling table reports one sheet per contest covering it: president,
    # its department's governor, its municipality's mayor and council
    conn.execute(f"""
        CREATE TEMP TABLE _table_area ON COMMIT DROP AS
        SELECT pt.id AS table_id, mun.id AS mun_id, dep.id AS dep_id
        FROM polling_tables pt
        JOIN territorial_units pre ON pre.id = pt.precinct_id
        JOIN territorial_units mun ON mun.id = pre.parent_id
        JOIN territorial_units prov ON prov.id = mun.parent_id
        JOIN territorial_units dep ON dep.id = prov.parent_id
        WHERE dep.level_id = 2 AND mun.id > {b[4]}""")
    conn.execute("""
        INSERT INTO tally_sheets (sheet_number, polling_table_id, contest_id, blank_votes,
                                  null_votes, transmission_status, verification_status,
                                  image_sha256, received_at, verified_at)
        SELECT nextval('tally_sheet_number_seq'), a.table_id, c.id,
               abs(hashtextextended(a.table_id || ':b:' || c.id, %(seed)s)) %% 9,
               abs(hashtextextended(a.table_id || ':n:' || c.id, %(seed)s)) %% 6,
               'received',
               CASE WHEN abs(hashtextextended(a.table_id || ':v:' || c.id, %(seed)s)) %% 10 = 0
                    THEN 'observed' ELSE 'verified' END,
               md5(a.table_id || ':' || c.id) || md5(c.id || ':' || a.table_id),
               TIMESTAMPTZ '2026-10-18 19:00Z' + (a.table_id %% 300) * INTERVAL '1 minute',
               TIMESTAMPTZ '2026-10-18 21:00Z' + (a.table_id %% 300) * INTERVAL '1 minute'
        FROM _table_area a
        JOIN contests c ON c.territory_id IN (1, a.dep_id, a.mun_id)
        ORDER BY a.table_id, c.id""", {"seed": seed})
    conn.execute("""
        INSERT INTO tally_votes (tally_sheet_id, candidate_id, votes)
        SELECT s.id, k.id, abs(hashtextextended(s.id || ':' || k.id, %(seed)s)) %% 25
        FROM tally_sheets s JOIN candidates k ON k.contest_id = s.contest_id""", {"seed": seed})
    conn.execute("""
        INSERT INTO transmissions (tally_sheet_id, device_id, source_ip, payload_sha256, received_at)
        SELECT s.id, 'TX-' || lpad((s.polling_table_id % 5000)::text, 5, '0'),
               ('10.20.' || (s.polling_table_id % 250) || '.' || (s.contest_id % 250))::inet,
               s.image_sha256, s.received_at
        FROM tally_sheets s""")
    conn.execute("""
        INSERT INTO verification_events (tally_sheet_id, verifier, outcome, at)
        SELECT s.id, 'verifier-' || (s.id % 40), s.verification_status, s.verified_at
        FROM tally_sheets s""")
    conn.execute("INSERT INTO audit_log (actor, action, detail) VALUES "
                 "('drill', 'results-simulated', jsonb_build_object('seed', %(seed)s::int))",
                 {"seed": seed})
    conn.execute("SET LOCAL session_replication_role = DEFAULT")
    conn.execute("ANALYZE tally_sheets, tally_votes, transmissions, verification_events")
