"""Issue 17: every catalog object that changes what the counting system does is in
the manifest, and tampering with it is drift that names it (real PostgreSQL 15).

One counting database with a bit of everything (rules, policies, role and
database settings, sequences, an extension, types, a collation, foreign data,
a publication, partitions, an event trigger...) is built once per module as a
template; every case clones it, snapshots the clone, tampers with one thing
and expects the drift entry naming it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest

from freeze.drift import DriftReport, verify
from freeze.manifest import DB_SEMANTIC_SECTIONS, Manifest
from freeze.profile import Profile, load_profile
from freeze.snapshot import take_snapshot
from tests.pg import PgServer

pytestmark = pytest.mark.postgres

APP = "cat_app"          # cluster-wide roles: this module's own names
AUDITOR = "cat_auditor"
TEMPLATE = "cat_template"

SCHEMA_SQL = f"""
CREATE SCHEMA counting;
CREATE EXTENSION citext VERSION '1.5';
CREATE EXTENSION postgres_fdw;
CREATE TYPE counting.sheet_status AS ENUM ('pending', 'received');
CREATE DOMAIN counting.vote_count AS integer NOT NULL CHECK (VALUE >= 0);
CREATE TYPE counting.ballot AS (candidate text, votes integer);
CREATE COLLATION counting.ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
CREATE TABLE counting.candidates (id int PRIMARY KEY, name citext NOT NULL);
CREATE TABLE counting.votes (
    id serial PRIMARY KEY, station int NOT NULL, candidate_id int NOT NULL,
    n counting.vote_count DEFAULT 0, status counting.sheet_status DEFAULT 'pending',
    doubled int GENERATED ALWAYS AS (n * 2) STORED);
CREATE TABLE counting.audit_log (id bigserial PRIMARY KEY, msg text);
CREATE SEQUENCE counting.sheet_number_seq START 100001;
CREATE SEQUENCE counting.batch_seq;
CREATE TABLE counting.ballots (region text NOT NULL, n int) PARTITION BY LIST (region);
CREATE TABLE counting.ballots_north PARTITION OF counting.ballots FOR VALUES IN ('north');
CREATE TABLE counting.ballots_south PARTITION OF counting.ballots FOR VALUES IN ('south');
CREATE TABLE counting.log_archive (id bigint NOT NULL, msg text);
CREATE VIEW counting.totals AS SELECT candidate_id, sum(n) AS n FROM counting.votes GROUP BY 1;
CREATE MATERIALIZED VIEW counting.totals_mv AS SELECT * FROM counting.totals;
CREATE FUNCTION counting.keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$;
CREATE TRIGGER votes_keep BEFORE UPDATE ON counting.votes FOR EACH ROW EXECUTE FUNCTION counting.keep();
CREATE RULE votes_no_delete AS ON DELETE TO counting.votes DO INSTEAD NOTHING;
ALTER TABLE counting.votes ENABLE ROW LEVEL SECURITY;
CREATE POLICY station_read ON counting.votes FOR SELECT TO {APP} USING (station > 0);
CREATE AGGREGATE counting.total_votes(int) (sfunc = int4pl, stype = int, initcond = '0');
CREATE FUNCTION counting.no_ddl() RETURNS event_trigger LANGUAGE plpgsql AS
  $$BEGIN RAISE NOTICE 'ddl'; END$$;
CREATE EVENT TRIGGER counting_no_ddl ON ddl_command_start EXECUTE FUNCTION counting.no_ddl();
CREATE SERVER results_mirror FOREIGN DATA WRAPPER postgres_fdw
  OPTIONS (host '10.0.0.5', dbname 'mirror');
CREATE USER MAPPING FOR {APP} SERVER results_mirror
  OPTIONS (user 'mirror', password 'fdw-secret-not-in-manifest');
CREATE PUBLICATION counting_pub FOR TABLE counting.candidates;
INSERT INTO counting.candidates VALUES (1, 'Ana'), (2, 'Bruno');
INSERT INTO counting.votes (station, candidate_id, n) VALUES (1, 1, 10), (1, 2, 7);
INSERT INTO counting.audit_log (msg) VALUES ('opened');
SELECT nextval('counting.sheet_number_seq');
"""

OFF = ("paths: []\npackages: {enabled: false}\nservices: {enabled: false}\n"
       "accounts: {enabled: false}\nnetwork: {enabled: false}\nkernel: {enabled: false}\n")
PROFILE = OFF + """database:
  dsn_env: FREEZE_CATALOG_DSN
  schemas: [counting]
  exclude_tables: [counting.audit_log]
  volatile_sequences: [counting.batch_seq]
"""


def _sql(dsn: str, *stmts: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as c:
        for s in stmts:
            c.execute(s)


@pytest.fixture(scope="module")
def template(pg_server: PgServer) -> str:
    with psycopg.connect(pg_server.dsn(), autocommit=True) as c:
        for role in (APP, AUDITOR):
            if c.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (role,)).fetchone():
                continue
            c.execute(f"CREATE ROLE {role}")
        c.execute(f"ALTER ROLE {APP} SET search_path = counting, public")
    dsn = pg_server.createdb(TEMPLATE)
    _sql(dsn, SCHEMA_SQL)
    return TEMPLATE


@dataclass
class Frozen:
    dsn: str
    dbname: str
    profile: Profile
    manifest: Manifest

    def verify(self) -> DriftReport:
        return verify(self.manifest, self.profile)


@pytest.fixture
def frozen(pg_server: PgServer, template: str, tmp_path: Path,
           monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest) -> Iterator[Frozen]:
    """A clone of the template with per-database settings, snapshotted."""
    name = "cat_" + "".join(ch if ch.isalnum() else "_" for ch in request.node.name)[-40:].lower()
    with psycopg.connect(pg_server.dsn(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        c.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
        # per-database settings are not copied from a template
        c.execute(f'ALTER DATABASE "{name}" SET lock_timeout = \'5s\'')
        c.execute(f'ALTER ROLE {AUDITOR} IN DATABASE "{name}" SET default_transaction_read_only = on')
    dsn = pg_server.dsn(name)
    monkeypatch.setenv("FREEZE_CATALOG_DSN", dsn)
    path = tmp_path / "profile.yml"
    path.write_text(PROFILE)
    profile = load_profile(path)
    manifest = Manifest.from_bytes(take_snapshot(profile).to_bytes())
    yield Frozen(dsn, name, profile, manifest)
    with psycopg.connect(pg_server.dsn(), autocommit=True) as c:
        c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_catalog_sections_are_recorded_without_secrets(frozen: Frozen) -> None:
    s = frozen.manifest.sections
    assert set(DB_SEMANTIC_SECTIONS) <= set(s)
    assert s["db_rules"]["counting.votes/votes_no_delete"]["instead"] is True
    assert s["db_policies"]["counting.votes/station_read"]["roles"] == [APP]
    assert s["db_role_settings"][f"role {APP}: search_path"]["value"] == "counting, public"
    assert s["db_role_settings"]["database: lock_timeout"]["value"] == "5s"
    assert s["db_role_settings"][f"role {AUDITOR} in database: default_transaction_read_only"]
    assert s["db_sequences"]["counting.sheet_number_seq"]["last_value"] == 100001
    assert s["db_extensions"]["citext"]["version"] == "1.5"
    assert s["db_types"]["counting.sheet_status"]["labels"] == ["pending", "received"]
    assert s["db_types"]["counting.vote_count"]["constraints"][0].endswith("CHECK ((VALUE >= 0))")
    assert s["db_inheritance"]["counting.ballots_north"]["parents"] == ["counting.ballots"]
    assert s["db_user_mappings"][f"{APP} @ results_mirror"]["option_names"] == ["password", "user"]
    assert "fdw-secret-not-in-manifest" not in frozen.manifest.to_bytes().decode()


def test_untouched_database_verifies_clean_five_times(frozen: Frozen) -> None:
    for _ in range(5):
        report = frozen.verify()
        assert report.is_clean, report.to_dict()
        assert not any("not checked" in n for n in report.notes), report.notes


def test_sequences_of_tables_whose_content_is_not_compared_may_move(frozen: Frozen) -> None:
    """The application's own inserts into an excluded table (the audit log) and a
    sequence the profile lists as volatile move by themselves: not drift. Their
    parameters are still compared, and a compared table's sequence is exact."""
    seqs = frozen.manifest.sections["db_sequences"]
    assert seqs["counting.audit_log_id_seq"]["position"].startswith("not compared: feeds")
    assert "last_value" not in seqs["counting.audit_log_id_seq"]
    assert "counting.audit_log_id_seq" in frozen.manifest.facts[
        "db_sequence_positions_not_compared"]
    assert seqs["counting.votes_id_seq"]["position"] == "compared"
    _sql(frozen.dsn, "INSERT INTO counting.audit_log (msg) VALUES ('counted'), ('counted')",
         "SELECT nextval('counting.batch_seq')")
    assert frozen.verify().is_clean
    _sql(frozen.dsn, "ALTER SEQUENCE counting.audit_log_id_seq INCREMENT BY 2")
    report = frozen.verify()
    entry = report.find("changed", "db_sequence", "counting.audit_log_id_seq")
    assert entry is not None and [c.attribute for c in entry.changes] == ["increment"]


def test_manifest_without_the_new_sections_is_not_drift_nor_a_silent_pass(frozen: Frozen) -> None:
    """A manifest taken before these sections existed: each is 'not recorded in
    this manifest' (a note), not a flood of added entries."""
    doc = frozen.manifest.to_dict()
    for section in DB_SEMANTIC_SECTIONS:
        del doc["sections"][section]
    doc["facts"].pop("db_sequence_positions_not_compared")
    from freeze import canonical

    old = Manifest.from_bytes(canonical.dumps(doc))
    _sql(frozen.dsn, "CREATE RULE drop_votes AS ON INSERT TO counting.votes DO INSTEAD NOTHING")
    report = verify(old, frozen.profile)
    assert report.is_clean and report.exit_code == 0
    noted = {n.split(":")[0] for n in report.notes if "not recorded in this manifest" in n}
    assert noted == set(DB_SEMANTIC_SECTIONS)


# (tampering statements, expected (category, kind, key), attribute changed or None)
# {db} is the clone's name. Cluster-wide objects (roles) use roles made for the case.
TAMPERS: dict[str, tuple[list[str], tuple[str, str, str], str | None]] = {
    "rule_drops_inserted_votes": (
        ["CREATE RULE drop_votes AS ON INSERT TO counting.votes DO INSTEAD NOTHING"],
        ("added", "db_rule", "counting.votes/drop_votes"), None),
    "rule_disabled": (
        ["ALTER TABLE counting.votes DISABLE RULE votes_no_delete"],
        ("changed", "db_rule", "counting.votes/votes_no_delete"), "enabled"),
    "view_redefined": (
        ["CREATE OR REPLACE VIEW counting.totals AS "
         "SELECT candidate_id, sum(n) + 1 AS n FROM counting.votes GROUP BY 1"],
        ("changed", "db_rule", "counting.totals/\"_RETURN\""), "definition"),
    "policy_changed": (
        ["ALTER POLICY station_read ON counting.votes USING (true)"],
        ("changed", "db_policy", "counting.votes/station_read"), "using"),
    "policy_added": (
        [f"CREATE POLICY all_write ON counting.votes FOR INSERT TO {APP} WITH CHECK (true)"],
        ("added", "db_policy", "counting.votes/all_write"), None),
    "role_search_path": (
        [f"ALTER ROLE {APP} SET search_path = public, counting"],
        ("changed", "db_role_setting", f"role {APP}: search_path"), "value"),
    "database_search_path": (
        ['ALTER DATABASE "{db}" SET search_path = public, counting'],
        ("added", "db_role_setting", "database: search_path"), None),
    "role_in_database_setting_removed": (
        [f'ALTER ROLE {AUDITOR} IN DATABASE "{{db}}" RESET default_transaction_read_only'],
        ("removed", "db_role_setting",
         f"role {AUDITOR} in database: default_transaction_read_only"), None),
    "sequence_setval": (
        ["SELECT setval('counting.sheet_number_seq', 500)"],
        ("changed", "db_sequence", "counting.sheet_number_seq"), "last_value"),
    "sequence_of_compared_table_restarted": (
        ["ALTER SEQUENCE counting.votes_id_seq RESTART"],
        ("changed", "db_sequence", "counting.votes_id_seq"), "is_called"),
    "sequence_parameters": (
        ["ALTER SEQUENCE counting.batch_seq MAXVALUE 10 CYCLE"],
        ("changed", "db_sequence", "counting.batch_seq"), "cycle"),
    "extension_upgraded": (
        ["ALTER EXTENSION citext UPDATE TO '1.6'"],
        ("changed", "db_extension", "citext"), "version"),
    "extension_added": (
        ["CREATE EXTENSION pgcrypto"], ("added", "db_extension", "pgcrypto"), None),
    "language_owner": (
        [f"ALTER LANGUAGE plpgsql OWNER TO {APP}"],
        ("changed", "db_language", "plpgsql"), "owner"),
    "implicit_cast_added": (
        ["CREATE CAST (text AS integer) WITH INOUT AS IMPLICIT"],
        ("added", "db_cast", "text -> integer"), None),
    "operator_added": (
        ["CREATE OPERATOR public.= (LEFTARG = integer, RIGHTARG = integer, FUNCTION = int4ne)"],
        ("added", "db_operator", "public.=(integer,integer)"), None),
    "operator_class_added": (
        ["CREATE OPERATOR CLASS public.int4_again FOR TYPE int4 USING btree AS "
         "OPERATOR 1 <, OPERATOR 2 <=, OPERATOR 3 =, OPERATOR 4 >=, OPERATOR 5 >, "
         "FUNCTION 1 btint4cmp(int4, int4)"],
        ("added", "db_operator_class", "public.int4_again USING btree"), None),
    "enum_label_added": (
        ["ALTER TYPE counting.sheet_status ADD VALUE 'annulled' BEFORE 'pending'"],
        ("changed", "db_type", "counting.sheet_status"), "labels"),
    "domain_constraint_dropped": (
        ["ALTER DOMAIN counting.vote_count DROP CONSTRAINT vote_count_check"],
        ("changed", "db_type", "counting.vote_count"), "constraints"),
    "composite_attribute_added": (
        ["ALTER TYPE counting.ballot ADD ATTRIBUTE station int"],
        ("changed", "db_type", "counting.ballot"), "attributes"),
    "collation_owner": (
        [f"ALTER COLLATION counting.ci OWNER TO {APP}"],
        ("changed", "db_collation", "counting.ci"), "owner"),
    "aggregate_replaced": (
        ["CREATE OR REPLACE AGGREGATE counting.total_votes(int) "
         "(sfunc = int4pl, stype = int, initcond = '100')"],
        ("changed", "db_aggregate", "counting.total_votes(integer)"), "initial"),
    "foreign_server_moved": (
        ["ALTER SERVER results_mirror OPTIONS (SET host '203.0.113.9')"],
        ("changed", "db_foreign_server", "results_mirror"), "options"),
    "user_mapping_added": (
        [f"CREATE USER MAPPING FOR {AUDITOR} SERVER results_mirror OPTIONS (user 'x')"],
        ("added", "db_user_mapping", f"{AUDITOR} @ results_mirror"), None),
    "wrapper_added": (
        ["CREATE FOREIGN DATA WRAPPER sneaky"], ("added", "db_fdw", "sneaky"), None),
    "publication_widened": (
        ["ALTER PUBLICATION counting_pub ADD TABLE counting.votes"],
        ("changed", "db_publication", "counting_pub"), "tables"),
    "subscription_added": (
        ["CREATE SUBSCRIPTION counting_in CONNECTION 'host=192.0.2.1 dbname=x "
         "password=sub-secret-not-in-manifest' PUBLICATION p "
         "WITH (connect = false, slot_name = NONE)"],
        ("added", "db_subscription", "counting_in"), None),
    "partition_detached": (
        ["ALTER TABLE counting.ballots DETACH PARTITION counting.ballots_south"],
        ("removed", "db_inheritance", "counting.ballots_south"), None),
    "inheritance_added": (
        ["ALTER TABLE counting.log_archive INHERIT counting.audit_log"],
        ("added", "db_inheritance", "counting.log_archive"), None),
    "replica_identity": (
        ["ALTER TABLE counting.votes REPLICA IDENTITY FULL"],
        ("changed", "db_relation_options", "counting.votes"), "replica_identity"),
    "view_security_invoker": (
        ["ALTER VIEW counting.totals SET (security_invoker = true)"],
        ("changed", "db_relation_options", "counting.totals"), "options"),
    "trigger_disabled": (
        ["ALTER TABLE counting.votes DISABLE TRIGGER votes_keep"],
        ("changed", "db_trigger", "counting.votes.votes_keep"), "enabled"),
    "trigger_fires_only_on_replica": (
        ["ALTER TABLE counting.votes ENABLE REPLICA TRIGGER votes_keep"],
        ("changed", "db_trigger", "counting.votes.votes_keep"), "enabled"),
    "event_trigger_disabled": (
        ["ALTER EVENT TRIGGER counting_no_ddl DISABLE"],
        ("changed", "db_trigger", "event:counting_no_ddl"), "enabled"),
    "column_default": (
        ["ALTER TABLE counting.votes ALTER COLUMN n SET DEFAULT 1"],
        ("changed", "db_column", "counting.votes.n"), "default"),
    "generated_column_dropped": (
        ["ALTER TABLE counting.votes ALTER COLUMN doubled DROP EXPRESSION"],
        ("changed", "db_column", "counting.votes.doubled"), "generated"),
    "role_bypasses_rls": (
        [f"ALTER ROLE {AUDITOR} BYPASSRLS"],
        ("changed", "db_role", AUDITOR), "bypassrls"),
    "database_connection_limit": (
        ['ALTER DATABASE "{db}" CONNECTION LIMIT 3'],
        ("changed", "db_setting", "database.connection_limit"), "value"),
    "table_owner": (
        [f"ALTER TABLE counting.candidates OWNER TO {APP}"],
        ("changed", "db_table", "counting.candidates"), "owner"),
    # the classes freeze/collect/postgres.py records (not pg_semantics): one case each
    "row_security_disabled": (
        ["ALTER TABLE counting.votes DISABLE ROW LEVEL SECURITY"],
        ("changed", "db_table", "counting.votes"), "row_security"),
    "row_security_forced": (
        ["ALTER TABLE counting.votes FORCE ROW LEVEL SECURITY"],
        ("changed", "db_table", "counting.votes"), "force_row_security"),
    "matview_redefined": (
        ["DROP MATERIALIZED VIEW counting.totals_mv",
         "CREATE MATERIALIZED VIEW counting.totals_mv AS "
         "SELECT candidate_id, n * 2 AS n FROM counting.totals"],
        ("changed", "db_table", "counting.totals_mv"), "definition_sha256"),
    "function_body": (
        ["CREATE OR REPLACE FUNCTION counting.keep() RETURNS trigger LANGUAGE plpgsql AS "
         "$$BEGIN NEW.n := NEW.n + 1; RETURN NEW; END$$"],
        ("changed", "db_function", "counting.keep()"), "source_sha256"),
    "function_security_definer": (
        ["ALTER FUNCTION counting.keep() SECURITY DEFINER"],
        ("changed", "db_function", "counting.keep()"), "security_definer"),
    "function_search_path": (
        ["ALTER FUNCTION counting.keep() SET search_path = public"],
        ("changed", "db_function", "counting.keep()"), "config"),
    "table_grant_added": (
        [f"GRANT DELETE ON counting.votes TO {APP}"],
        ("added", "grant", f"table:counting.votes:{APP}:DELETE"), None),
    "column_grant_added": (
        [f"GRANT UPDATE (n) ON counting.votes TO {APP}"],
        ("added", "grant", f"column:counting.votes.n:{APP}:UPDATE"), None),
    "function_execute_revoked_from_public": (
        ["REVOKE EXECUTE ON FUNCTION counting.keep() FROM PUBLIC"],
        ("removed", "grant", "function:counting.keep():PUBLIC:EXECUTE"), None),
    "default_privileges": (
        [f"ALTER DEFAULT PRIVILEGES IN SCHEMA counting GRANT INSERT ON TABLES TO {APP}"],
        ("added", "grant", f"default:freeze_admin:counting:r:{APP}:INSERT"), None),
    "role_membership": (
        [f"GRANT {AUDITOR} TO {APP}"],
        ("changed", "db_role", APP), "member_of"),
    "check_constraint_dropped": (
        ["ALTER TABLE counting.candidates ADD CONSTRAINT name_set CHECK (name <> '')",
         "ALTER TABLE counting.candidates DROP CONSTRAINT candidates_pkey CASCADE"],
        ("removed", "db_constraint", "counting.candidates.candidates_pkey"), None),
    "index_redefined": (
        ["CREATE INDEX votes_station ON counting.votes (station)"],
        ("added", "db_index", "counting.votes_station"), None),
}


@pytest.mark.parametrize("case", sorted(TAMPERS))
def test_tampering_is_drift_that_names_the_object(frozen: Frozen, case: str) -> None:
    stmts, (category, kind, key), attribute = TAMPERS[case]
    try:
        _sql(frozen.dsn, *(s.replace("{db}", frozen.dbname) for s in stmts))
        report = frozen.verify()
        entry = report.find(category, kind, key)
        assert entry is not None, [(e.category, e.kind, e.key) for e in report.entries]
        if attribute is not None:
            assert attribute in {c.attribute for c in entry.changes}, entry
        assert report.exit_code != 0
        assert "secret-not-in-manifest" not in str(report.to_dict())
    finally:
        # cluster-wide state goes back; a subscription would block DROP DATABASE
        _sql(frozen.dsn, "DROP SUBSCRIPTION IF EXISTS counting_in",
             f"ALTER ROLE {APP} SET search_path = counting, public",
             f"ALTER ROLE {AUDITOR} NOBYPASSRLS", f"REVOKE {AUDITOR} FROM {APP}")


def test_a_semantic_server_setting_changed_with_alter_system(frozen: Frozen,
                                                             pg_server: PgServer) -> None:
    """ALTER SYSTEM writes postgresql.auto.conf in the data directory (outside
    the files a profile freezes): `x = NULL` now means `x IS NULL`."""
    admin = pg_server.dsn()
    try:
        _sql(admin, "ALTER SYSTEM SET transform_null_equals = on", "SELECT pg_reload_conf()")
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with psycopg.connect(frozen.dsn) as c:
                if c.execute("SHOW transform_null_equals").fetchone()[0] == "on":
                    break
            time.sleep(0.1)
        report = frozen.verify()
        entry = report.find("changed", "db_setting", "transform_null_equals")
        assert entry is not None and entry.changes[0].new == "on", report.to_dict()
    finally:
        _sql(admin, "ALTER SYSTEM RESET transform_null_equals", "SELECT pg_reload_conf()")
