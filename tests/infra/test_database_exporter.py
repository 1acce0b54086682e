"""postgresql_server's Prometheus exporter on the primary (count-db): running
sandboxed, listening on the private address only, logged in by peer over the
socket as a login with pg_monitor only (no password anywhere), reporting the
real standby (results-tx) as streaming with its lag, the lag back to 0 after a
write on the primary, and the port closed to every host but the monitoring one."""

from __future__ import annotations

import hashlib
import shlex
import time
from typing import Any

import pytest

from tests.infra.lab_host import connects, fetch, hostvars, listeners, peer_host, prometheus_text, sample

SERVICE = "prometheus-postgres-exporter"
QUERIES = "/etc/prometheus/postgres-exporter-queries.yml"


def _primary(host: Any) -> tuple[dict[str, Any], str, int]:
    variables = hostvars(host)
    if variables.get("postgresql_server_mode") != "primary" or not variables.get("postgresql_server_exporter_enabled"):
        pytest.skip("the exporter runs on the primary with postgresql_server_exporter_enabled")
    address = variables.get("lab_private_address")
    if not address:
        pytest.skip("no lab_private_address: not a lab host with a private network")
    return variables, str(address), int(variables.get("postgresql_server_exporter_port", 9187))


def _metrics(host: Any, address: str, port: int) -> list[tuple[str, dict[str, str], float]]:
    return prometheus_text(fetch(host, f"http://{address}:{port}/metrics", timeout=30))


def _slots(variables: dict[str, Any]) -> list[str]:
    """The role's slot per standby host (vars/main.yml: standby_<host>)."""
    group = variables.get("postgresql_server_standby_group", "transmission")
    return ["standby_" + "".join(c if c.isalnum() else "_" for c in h).lower()
            for h in variables["groups"].get(group, [])]


def _sql(host: Any, sql: str, db: str = "postgres") -> str:
    with host.sudo("postgres"):
        return str(host.check_output(f"psql -X -At -d {db} -c {shlex.quote(sql)}"))


@pytest.mark.control("EF-MON-15")
def test_runs_enabled_and_sandboxed(host: Any) -> None:
    _primary(host)
    service = host.service(SERVICE)
    assert service.is_running and service.is_enabled
    show = host.run(f"systemctl show {SERVICE} -p User -p ProtectSystem -p NoNewPrivileges -p RestartUSec").stdout
    for wanted in ("User=prometheus", "ProtectSystem=strict", "NoNewPrivileges=yes", "RestartUSec=5s"):
        assert wanted in show, show


@pytest.mark.control("EF-MON-16")
def test_listens_on_the_private_address_only(host: Any) -> None:
    _, address, port = _primary(host)
    found = listeners(host, port)
    assert found == [f"{address}:{port}"], found


@pytest.mark.control("EF-MON-17")
def test_login_has_pg_monitor_only_no_password_and_the_socket_only(host: Any) -> None:
    variables, address, _ = _primary(host)
    login = variables.get("postgresql_server_exporter_login", "prometheus")
    assert _sql(host, f"SELECT rolcanlogin, rolsuper, rolreplication, rolpassword IS NULL FROM pg_authid "
                      f"WHERE rolname = '{login}'") == "t|f|f|t"
    assert _sql(host, "SELECT string_agg(g.rolname, ',') FROM pg_auth_members am JOIN pg_roles m ON m.oid = am.member "
                      f"JOIN pg_roles g ON g.oid = am.roleid WHERE m.rolname = '{login}'") == "pg_monitor"
    # exactly one pg_hba.conf rule names it: the socket, the postgres database, peer
    assert _sql(host, "SELECT type, database, auth_method FROM pg_hba_file_rules "
                      f"WHERE '{login}' = ANY(user_name)") == "local|{postgres}|peer"
    with host.sudo():
        ok = host.run(f"runuser -u prometheus -- psql -X -At -w -d postgres -U {login} -c 'SELECT 1'")
        counting = host.run(f"runuser -u prometheus -- psql -X -At -w -d counting -U {login} -c 'SELECT 1'")
        tcp = f"host={address} dbname=postgres user={login} sslmode=require connect_timeout=10"
        network = host.run(f"runuser -u prometheus -- psql -X -At -w '{tcp}' -c 'SELECT 1'")
    assert ok.rc == 0 and ok.stdout.strip() == "1", ok.stderr
    assert counting.rc != 0 and "pg_hba.conf rejects connection" in counting.stderr, counting.stderr
    assert network.rc != 0 and "pg_hba.conf rejects connection" in network.stderr, network.stderr


@pytest.mark.control("EF-MON-18")
def test_reports_the_real_standby_streaming(host: Any) -> None:
    variables, address, port = _primary(host)
    series = _metrics(host, address, port)
    assert sample(series, "pg_up") == 1
    with host.sudo():
        digest = hashlib.sha256(host.file(QUERIES).content).hexdigest()
    assert sample(series, "pg_exporter_user_queries_load_error", filename=QUERIES, hashsum=digest) == 0
    slots = _slots(variables)
    assert slots, "no standby in the inventory"
    assert sample(series, "pg_replication_primary_streaming_standbys") == len(slots)
    for slot in slots:
        assert sample(series, "pg_replication_standby_streaming", slot_name=slot) == 1, slot
        assert sample(series, "pg_replication_standby_replay_lag_seconds", slot_name=slot) < 5, slot
    # no pg_settings series (--disable-settings-metrics): cheaper scrapes
    assert not [name for name, _, _ in series if name.startswith("pg_settings_")]


@pytest.mark.control("EF-MON-18")
def test_lag_returns_to_zero_after_a_write_on_the_primary(host: Any) -> None:
    """2 MiB of WAL written on the primary (a logical message: no election data
    touched); the exporter's lag for the standby returns to 0 bytes and the
    standby's replay position is past the write."""
    variables, address, port = _primary(host)
    slot = _slots(variables)[0]
    lsn = _sql(host, "SELECT pg_logical_emit_message(false, 'election-freeze-test', repeat('x', 2097152)); "
                     "SELECT pg_current_wal_insert_lsn()").splitlines()[-1]
    t0 = time.monotonic()
    seen = []
    while True:
        series = _metrics(host, address, port)
        seen.append(sample(series, "pg_replication_standby_replay_lag_bytes", slot_name=slot))
        if seen[-1] == 0 or time.monotonic() - t0 > 60:
            break
        time.sleep(1)
    print(f"lag bytes seen after the write: {seen} ({time.monotonic() - t0:.1f} s)")
    assert seen[-1] == 0, seen
    assert sample(series, "pg_replication_standby_replay_lag_seconds", slot_name=slot) < 5
    assert _sql(host, f"SELECT bool_and(replay_lsn >= '{lsn}') FROM pg_stat_replication "
                      f"WHERE application_name = '{slot}'") == "t"


@pytest.mark.control("EF-MON-16")
def test_port_open_to_the_monitoring_host_only(host: Any, request: pytest.FixtureRequest) -> None:
    variables, address, port = _primary(host)
    groups = variables["groups"]
    monitoring = groups.get("monitoring", [])
    others = sorted(set(groups.get("counting_servers", [])) - set(monitoring) - {variables["inventory_hostname"]})
    assert monitoring and others, groups
    assert connects(peer_host(request.config, monitoring[0]), address, port)
    for name in others:
        assert not connects(peer_host(request.config, name), address, port), f"{name} reached {address}:{port}"
