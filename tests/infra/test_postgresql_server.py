"""postgresql_server on the lab: real psql logins between the lab hosts over the
private network (verify-full TLS against the lab CA), the audit log, and
streaming replication from count-db to results-tx.

Per-host tests run on every host of the mode they test (primary/standby).
Cross-host tests run once, while the host under test is the primary, and reach
the other hosts through testinfra's ansible backend. Passwords are the lab's
generated ones (<LAB_DIR>/secrets/postgresql/<login>, gitignored); the tests
hand them to psql in a 0600 passfile written over ssh's standard input, so no
password is on a command line here either (the role never puts one there).
"""

from __future__ import annotations

import shlex
import uuid
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import testinfra

from tests.infra.lab_host import hostvars, write_private_file

PASSFILE = ".pgpass-election-tests"

CA = "/etc/postgresql-common/election-db-ca.crt"
LOG = "/var/log/postgresql/postgresql-15-main.log"


def _address(variables: dict[str, Any]) -> str:
    """The address peers use (the inventory's values are not templated here: read
    what the lab's group_vars map postgresql_server_address onto)."""
    return str(variables.get("lab_private_address") or variables["ansible_host"])


def _mode(host: Any) -> str:
    return str(hostvars(host).get("postgresql_server_mode", "none"))


def _inventory(request: pytest.FixtureRequest) -> str:
    inv = request.config.getoption("ansible_inventory", None)
    if not inv:
        pytest.skip("cross-host tests need --ansible-inventory")
    return str(inv)


@cache
def _peer(inventory: str, group_or_host: str) -> Any:
    return testinfra.get_host(f"ansible://{group_or_host}", ansible_inventory=inventory)


def _password(inventory: str, login: str) -> str:
    fleet = Path(inventory).resolve().parent  # the inventory lives in <fleet>/inventory/
    return (fleet / "secrets" / "postgresql" / login).read_text().split()[0]


class Fleet:
    def __init__(self, request: pytest.FixtureRequest, primary: Any) -> None:
        self.inventory = _inventory(request)
        pv = hostvars(primary)
        groups = pv["groups"]
        self.primary = primary
        self.app = _peer(self.inventory, groups["counting_app"][0])
        self.standby_name = groups["transmission"][0]
        self.standby = _peer(self.inventory, self.standby_name)
        self.primary_address = _address(pv)
        self.standby_address = _address(hostvars(self.standby))
        self._passfiles: set[int] = set()

    def _passfile(self, src: Any) -> None:
        """One passfile per source host with every lab login (written once)."""
        if id(src) in self._passfiles:
            return
        lines = [f"*:5432:counting:{login}:{_password(self.inventory, login)}"
                 for login in ("counting_writer", "results_reader", "count_auditor", "freeze_operator")]
        write_private_file(src, PASSFILE, "\n".join(lines) + "\n")
        self._passfiles.add(id(src))

    def psql(self, src: Any, address: str, login: str, sql: str, *, sslmode: str = "verify-full") -> Any:
        """psql from host `src` to `address` as `login`; returns the CommandResult.
        The password comes from the passfile (none for logins it does not name)."""
        self._passfile(src)
        conninfo = (f"host={address} port=5432 dbname=counting user={login} sslmode={sslmode} "
                    f"sslrootcert={CA} connect_timeout=10 passfile={PASSFILE}")
        return src.run(f"cd && psql -X -q -At -w -v ON_ERROR_STOP=1 "
                       f"{shlex.quote(conninfo)} -c {shlex.quote(sql)}")


@pytest.fixture
def fleet(host: Any, request: pytest.FixtureRequest) -> Fleet:
    if _mode(host) != "primary":
        pytest.skip("cross-host database tests run once, on the primary's turn")
    return Fleet(request, host)


def _refused_by_pg_hba(stderr: str) -> bool:
    """No line admits it: refused by the generated pg_hba.conf's final reject lines."""
    return "no pg_hba.conf entry" in stderr or "pg_hba.conf rejects connection" in stderr


def _local_sql(host: Any, sql: str, db: str = "counting") -> str:
    with host.sudo("postgres"):
        return str(host.check_output(f"psql -X -At -d {db} -c {shlex.quote(sql)}"))


@pytest.fixture
def server(host: Any) -> Any:
    if _mode(host) not in ("primary", "standby"):
        pytest.skip("not a database server")
    return host


# --------------------------------------------------------------- every server


@pytest.mark.control("EF-DB-1")
def test_listens_only_on_the_inventory_addresses(server: Any) -> None:
    # inventory values are not templated here: "{{ postgresql_server_address }}" is the
    # address _address() reads, "localhost" the loopback pair
    variables = hostvars(server)
    named = variables.get("postgresql_server_listen_addresses") or ["localhost"]
    wanted = {_address(variables) if "{{" in a else a for a in named if a != "localhost"}
    wanted |= {"127.0.0.1", "::1"} if "localhost" in named else set()
    with server.sudo():
        lines = server.check_output("ss -Htln 'sport = :5432'").splitlines()
    addresses = {line.split()[3].rsplit(":", 1)[0].strip("[]") for line in lines}
    assert addresses and addresses <= wanted, addresses


@pytest.mark.control("EF-DB-2")
def test_pg_hba_is_hostssl_scram_only_and_no_network_superuser(server: Any) -> None:
    rules = _local_sql(server, "SELECT type, database::text, user_name::text, coalesce(address, ''), "
                               "auth_method, coalesce(error, '') FROM pg_hba_file_rules", "postgres")
    rows = [r.split("|") for r in rules.splitlines()]
    assert rows and all(r[5] == "" for r in rows), rows
    admitting = [r for r in rows if r[4] != "reject"]
    assert admitting[0] == ["local", "{all}", "{postgres}", "", "peer", ""]
    # the primary's exporter (postgresql_server_exporter_enabled): its OS user by peer on
    # the socket, to the postgres database only; the one other local rule that admits
    variables = hostvars(server)
    if variables.get("postgresql_server_exporter_enabled") and _mode(server) == "primary":
        login = variables.get("postgresql_server_exporter_login", "prometheus")
        assert admitting[1] == ["local", "{postgres}", "{" + login + "}", "", "peer", ""], admitting[1]
        admitting = admitting[1:]
    for r in admitting[1:]:
        assert r[0] == "hostssl" and r[4] == "scram-sha-256", r
        assert r[2] not in ("{all}", "{postgres}") and r[3] not in ("", "0.0.0.0", "::"), r
    assert rows[-1][0] == "host" and rows[-1][4] == "reject"


@pytest.mark.control("EF-DB-3")
def test_settings_tls_scram_logging_pgaudit(server: Any) -> None:
    got = dict(line.split("|", 1) for line in _local_sql(server, """
        SELECT name, setting FROM pg_settings WHERE name IN ('ssl', 'password_encryption',
          'ssl_min_protocol_version', 'log_connections', 'log_disconnections', 'log_statement',
          'log_lock_waits', 'log_min_duration_statement', 'shared_preload_libraries', 'pgaudit.log',
          'pgaudit.role')""", "postgres").splitlines())
    assert got["ssl"] == "on" and got["password_encryption"] == "scram-sha-256"
    assert got["ssl_min_protocol_version"] in ("TLSv1.2", "TLSv1.3")
    assert got["log_connections"] == got["log_disconnections"] == got["log_lock_waits"] == "on"
    assert got["log_statement"] == "ddl" and int(got["log_min_duration_statement"]) > 0
    assert "pgaudit" in got["shared_preload_libraries"]
    assert "ddl" in got["pgaudit.log"] and "role" in got["pgaudit.log"]
    assert got["pgaudit.role"] == hostvars(server).get("postgresql_server_pgaudit_role", "pgaudit_result_writes")


@pytest.mark.control("EF-DB-4")
def test_no_md5_hash_and_no_superuser_password(server: Any) -> None:
    assert _local_sql(server, "SELECT count(*) FROM pg_authid WHERE rolpassword LIKE 'md5%' OR "
                              "(rolsuper AND rolpassword IS NOT NULL)", "postgres") == "0"
    assert _local_sql(server, "SELECT count(*) FROM pg_authid WHERE rolcanlogin AND rolsuper "
                              "AND rolname <> 'postgres'", "postgres") == "0"


# --------------------------------------------------------------- cross-host (on the primary's turn)


@pytest.mark.control("EF-DB-5")
@pytest.mark.writes
def test_writer_writes_only_from_the_application_host(fleet: Fleet) -> None:
    station = f"t-{uuid.uuid4().hex[:8]}"
    ok = fleet.psql(fleet.app, fleet.primary_address, "counting_writer",
                    f"INSERT INTO results (polling_station, candidate, votes) VALUES ('{station}', 'ana', 1) "
                    "RETURNING votes")
    assert ok.rc == 0 and ok.stdout.strip() == "1", ok.stderr
    other = fleet.psql(fleet.standby, fleet.primary_address, "counting_writer", "SELECT 1")
    assert other.rc != 0 and _refused_by_pg_hba(other.stderr), other.stderr
    denied = fleet.psql(fleet.app, fleet.primary_address, "counting_writer",
                        f"DELETE FROM results WHERE polling_station = '{station}'")
    assert denied.rc != 0 and "permission denied" in denied.stderr


@pytest.mark.control("EF-DB-6")
@pytest.mark.writes
def test_auditor_only_reads(fleet: Fleet) -> None:
    read = fleet.psql(fleet.app, fleet.primary_address, "count_auditor", "SELECT count(*) >= 0 FROM results")
    assert read.rc == 0 and read.stdout.strip() == "t", read.stderr
    for sql in ("INSERT INTO results (polling_station, candidate, votes) VALUES ('x', 'y', 1)",
                "UPDATE results SET votes = 0", "CREATE TABLE auditor_was_here (i int)"):
        r = fleet.psql(fleet.app, fleet.primary_address, "count_auditor", sql)
        assert r.rc != 0 and "permission denied" in r.stderr, (sql, r.stderr)


@pytest.mark.control("EF-DB-2")
@pytest.mark.writes
def test_superuser_over_the_network_is_refused(fleet: Fleet) -> None:
    for src in (fleet.app, fleet.primary):
        r = fleet.psql(src, fleet.primary_address, "postgres", "SELECT 1")
        assert r.rc != 0 and _refused_by_pg_hba(r.stderr), r.stderr


@pytest.mark.control("EF-DB-2")
@pytest.mark.writes
def test_a_login_without_tls_is_refused(fleet: Fleet) -> None:
    r = fleet.psql(fleet.app, fleet.primary_address, "counting_writer", "SELECT 1", sslmode="disable")
    assert r.rc != 0 and "no encryption" in r.stderr, r.stderr


@pytest.mark.control("EF-DB-7")
@pytest.mark.writes
def test_ddl_role_change_and_result_write_are_in_the_audit_log_with_the_user(fleet: Fleet) -> None:
    mark = uuid.uuid4().hex[:10]
    ddl = fleet.psql(fleet.primary, fleet.primary_address, "freeze_operator",
                     f"CREATE TABLE public.audit_probe_{mark} (i int); DROP TABLE public.audit_probe_{mark}")
    assert ddl.rc == 0, ddl.stderr
    _local_sql(fleet.primary, "ALTER ROLE results_reader CONNECTION LIMIT 20")
    ins = fleet.psql(fleet.app, fleet.primary_address, "counting_writer",
                     f"INSERT INTO results (polling_station, candidate, votes) VALUES ('audit-{mark}', 'ana', 2)")
    assert ins.rc == 0, ins.stderr
    with fleet.primary.sudo():
        log = fleet.primary.check_output(f"tail -n 4000 {LOG}")
    lines = log.splitlines()

    def found(*parts: str) -> bool:
        return any(all(p in line for p in parts) for line in lines)

    assert found("freeze_operator@counting", "AUDIT: SESSION", "DDL,CREATE TABLE", f"audit_probe_{mark}")
    assert found("postgres@counting", "AUDIT: SESSION", "ROLE,ALTER ROLE", "results_reader")
    assert found("counting_writer@counting", "AUDIT: OBJECT", "WRITE,INSERT,TABLE,public.results", f"audit-{mark}")


@pytest.mark.control("EF-DB-8")
@pytest.mark.writes
def test_replication_streams_within_a_second_and_the_replica_refuses_writes(fleet: Fleet) -> None:
    station = f"r-{uuid.uuid4().hex[:8]}"
    fleet._passfile(fleet.app)
    common = f"port=5432 dbname=counting sslmode=verify-full sslrootcert={CA} passfile={PASSFILE}"
    insert = f"INSERT INTO results (polling_station, candidate, votes) VALUES ('{station}', 'ana', 3)"
    select = f"SELECT count(*) FROM results WHERE polling_station = '{station}'"
    # On the application host: a session on the standby polls (every 10 ms, one
    # connection, READ COMMITTED: a fresh snapshot per statement) until the row is
    # there; the vote is written on the primary by a second psql; the time from
    # that commit returning to the poller finishing is measured inside the VM.
    poll = (f"DO $$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN "
            f"WHILE NOT EXISTS ({select.replace('count(*)', '1')}) LOOP "
            "PERFORM pg_sleep(0.01); "
            "IF clock_timestamp() - t0 > interval '60 s' THEN RAISE EXCEPTION 'timeout'; END IF; "
            "END LOOP; END $$")
    script = f"""
set -eu
cd
w={shlex.quote(f'host={fleet.primary_address} user=counting_writer {common}')}
r={shlex.quote(f'host={fleet.standby_address} user=count_auditor {common}')}
psql -X -q -At -w -v ON_ERROR_STOP=1 "$r" -c {shlex.quote(poll)} &
poller=$!
sleep 5
psql -X -q -At -w -v ON_ERROR_STOP=1 "$w" -c "{insert}"
t0=$(date +%s%N)
wait "$poller"
echo $(( ($(date +%s%N) - t0) / 1000000 ))
"""
    r = fleet.app.run(f"bash -c {shlex.quote(script)}")
    assert r.rc == 0, r.stdout + r.stderr
    print(f"vote visible on the replica {r.stdout.strip()} ms after the commit on the primary")
    assert int(r.stdout.strip()) < 1000, f"row visible on the replica after {r.stdout.strip()} ms"
    write = fleet.psql(fleet.app, fleet.standby_address, "counting_writer",
                       "INSERT INTO results (polling_station, candidate, votes) VALUES ('x', 'y', 1)")
    assert write.rc != 0 and "read-only transaction" in write.stderr, write.stderr


@pytest.mark.control("EF-DB-9")
@pytest.mark.writes
def test_replication_is_streaming_over_tls_from_the_slot_and_lag_is_queryable(fleet: Fleet) -> None:
    slot = "standby_" + fleet.standby_name.replace("-", "_")
    rows = fleet.psql(fleet.app, fleet.primary_address, "count_auditor",
                      "SELECT r.application_name, r.state, s.slot_name, l.ssl, "
                      "coalesce(pg_wal_lsn_diff(pg_current_wal_lsn(), r.replay_lsn), -1) >= 0 "
                      "FROM pg_stat_replication r JOIN pg_replication_slots s ON s.active_pid = r.pid "
                      "JOIN pg_stat_ssl l ON l.pid = r.pid")
    assert rows.rc == 0, rows.stderr
    assert rows.stdout.strip() == f"{slot}|streaming|{slot}|t|t"
    lag = fleet.psql(fleet.app, fleet.standby_address, "count_auditor",
                     "SELECT pg_is_in_recovery(), status FROM pg_stat_wal_receiver")
    assert lag.stdout.strip() == "t|streaming", lag.stderr
