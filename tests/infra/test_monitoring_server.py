"""monitoring_server on the monitoring host: Prometheus, Alertmanager and the
blackbox exporter running, listening where they should only, every node exporter
target up (read from Prometheus' own API on the host), configuration valid."""

from __future__ import annotations

import json
import urllib.parse
from typing import Any

import pytest

from tests.infra.lab_host import hostvars

SERVICES = ("prometheus", "prometheus-alertmanager", "prometheus-blackbox-exporter")


def _server(host: Any) -> tuple[dict[str, Any], str]:
    variables = hostvars(host)
    if variables["inventory_hostname"] not in (variables["groups"].get("monitoring") or []):
        pytest.skip("monitoring_server runs on the monitoring group only")
    if not variables.get("monitoring_server_enabled", True):
        pytest.skip("monitoring_server is disabled on this host")
    return variables, variables["lab_private_address"]


def _get(host: Any, url: str) -> Any:
    out = host.run_expect([0], f"python3 -c \"import urllib.request as u;"
                               f"print(u.urlopen('{url}', timeout=10).read().decode())\"").stdout
    return json.loads(out)


@pytest.mark.control("EF-MON-1")
def test_services_run(host: Any) -> None:
    _server(host)
    for name in SERVICES:
        service = host.service(name)
        assert service.is_running and service.is_enabled, name


@pytest.mark.control("EF-MON-2")
def test_listen_only_on_the_private_address_and_loopback(host: Any) -> None:
    _, address = _server(host)
    listeners = {line.split()[3] for line in host.run("ss -Htln").stdout.splitlines()}
    assert f"{address}:9090" in listeners and f"{address}:9093" in listeners
    assert "127.0.0.1:9115" in listeners
    for port in (9090, 9093, 9094, 9115):
        wide = {f"0.0.0.0:{port}", f"*:{port}", f"[::]:{port}"}
        assert not listeners & wide, (port, listeners)
    assert not [a for a in listeners if a.endswith(":9094")], "Alertmanager cluster port must be off"


@pytest.mark.control("EF-MON-3")
def test_every_node_target_is_up(host: Any) -> None:
    variables, address = _server(host)
    groups = variables["groups"]
    expected = sorted({h for g in variables.get("monitoring_server_node_groups", ["counting_servers"])
                       for h in groups.get(g, [])})
    targets = _get(host, f"http://{address}:9090/api/v1/targets?state=active")["data"]["activeTargets"]
    node = {t["labels"]["instance"]: t["health"] for t in targets if t["labels"]["job"] == "node"}
    assert sorted(node) == expected
    assert set(node.values()) == {"up"}, node
    jobs = {t["labels"]["job"] for t in targets}
    assert {"prometheus", "alertmanager"} <= jobs
    for probe in variables.get("monitoring_server_probe_targets", []):
        assert any(t["labels"].get("instance") == probe["name"] and t["labels"].get("probe") == "https"
                   for t in targets), probe


@pytest.mark.control("EF-MON-23")
def test_prometheus_never_ran_with_debians_default_configuration(host: Any) -> None:
    """Debian's package would start Prometheus at install with its own prometheus.yml
    (every interface, localhost targets): the series it scraped outlive a restart by
    five minutes and fired HostDown for localhost:9100 after a first converge. The
    role keeps the service stopped until its configuration is written, so the TSDB
    holds no series from a localhost target, ever (retention is 15 days)."""
    _, address = _server(host)
    expr = 'count by (instance) (last_over_time(up{instance=~"localhost:.*"}[15d]))'
    url = f"http://{address}:9090/api/v1/query?query=" + urllib.parse.quote(expr)
    assert _get(host, url)["data"]["result"] == []
    # the query itself works: the role's own targets are found the same way
    expr = 'count(last_over_time(up{job="node"}[15d]))'
    assert _get(host, f"http://{address}:9090/api/v1/query?query=" + urllib.parse.quote(expr))["data"]["result"]


@pytest.mark.control("EF-MON-14")
def test_database_and_web_exporters_are_up_with_real_figures(host: Any) -> None:
    """The primary's PostgreSQL exporter and the web tier's nginx exporter are scraped
    (instance = inventory name), and Prometheus itself holds their figures: the
    inventory's streaming standbys, nginx answering."""
    variables, address = _server(host)
    groups = variables["groups"]
    wanted = {job: sorted({h for g in variables.get(f"monitoring_server_{job}_groups", []) for h in groups.get(g, [])})
              for job in ("postgresql", "nginx")}
    if not any(wanted.values()):
        pytest.skip("no monitoring_server_postgresql_groups / _nginx_groups in this inventory")
    targets = _get(host, f"http://{address}:9090/api/v1/targets?state=active")["data"]["activeTargets"]
    for job, hosts in wanted.items():
        health = {t["labels"]["instance"]: t["health"] for t in targets if t["labels"]["job"] == job}
        assert sorted(health) == hosts, (job, health)
        assert set(health.values()) <= {"up"}, (job, health)

    def query(expr: str) -> dict[str, float]:
        result = _get(host, f"http://{address}:9090/api/v1/query?query={expr}")["data"]["result"]
        return {r["metric"]["instance"]: float(r["value"][1]) for r in result}

    standbys = int(variables.get("monitoring_server_postgresql_expected_standbys", 1))
    if wanted["postgresql"]:
        assert query("pg_replication_primary_streaming_standbys") == dict.fromkeys(wanted["postgresql"], standbys)
        assert query("pg_up") == dict.fromkeys(wanted["postgresql"], 1.0)
    if wanted["nginx"]:
        assert query("nginx_up") == dict.fromkeys(wanted["nginx"], 1.0)


@pytest.mark.control("EF-MON-4")
def test_rules_loaded_and_alertmanager_connected(host: Any) -> None:
    _, address = _server(host)
    groups = _get(host, f"http://{address}:9090/api/v1/rules")["data"]["groups"]
    alerts = {r["name"] for g in groups for r in g["rules"]}
    assert {"HostDown", "DiskFilling", "ClockSkew", "ResultsSiteProbeFailing", "FrozenStateDrifted",
            "PostgresqlDown", "PostgresqlReplicaMissing", "PostgresqlReplicationLagHigh", "NginxDown",
            "ResultsSiteConnectionsHigh"} <= alerts
    managers = _get(host, f"http://{address}:9090/api/v1/alertmanagers")["data"]["activeAlertmanagers"]
    assert [m["url"] for m in managers] == [f"http://{address}:9093/api/v2/alerts"]


@pytest.mark.control("EF-MON-5")
def test_configuration_valid_on_the_host(host: Any) -> None:
    _server(host)
    with host.sudo():
        host.run_expect([0], "promtool check config /etc/prometheus/prometheus.yml")
        host.run_expect([0], "amtool check-config /etc/prometheus/alertmanager.yml")
        host.run_expect([0], "prometheus-blackbox-exporter --config.check --config.file=/etc/prometheus/blackbox.yml")
