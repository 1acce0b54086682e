"""postgresql_server / results_website / monitoring_server: the files behind the
database and nginx exporters, rendered by Ansible itself with the roles' defaults
and the lab's values, parsed back and checked: who may log in where (pg_hba.conf),
where each exporter listens and what it reads, the loopback-only status server,
and the scrape jobs (through `promtool check config`). The queries themselves run
against a real primary and standby in tests/integration/test_postgresql_exporter_queries.py;
the lab (tests/infra/test_database_exporter.py, test_web_exporter.py) runs it all."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.role_template import ANSIBLE_PLAYBOOK, render_role_template
from tests.unit.test_monitoring_config import LAB, rules_file, tool

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")

PG = {"postgresql_server_address": "10.20.0.11", "postgresql_server_exporter_enabled": True}
WEB = {"results_website_exporter_enabled": True, "results_website_exporter_listen_address": "10.20.0.13",
       "results_website_tls_certificate": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----",
       "results_website_tls_private_key": "-----BEGIN PRIVATE KEY-----\nX\n-----END PRIVATE KEY-----"}


def _render(tmp_path: Path, role: str, template: str, groups: list[str] | None = None, **overrides: object) -> str:
    sub = tmp_path / f"{role}-{template}-{len(list(tmp_path.iterdir()))}"
    sub.mkdir()
    return render_role_template(sub, role, template, groups=groups, os_vars=True, **overrides)


def _hba_rules(text: str) -> list[list[str]]:
    return [line.split() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def test_pg_hba_admits_the_exporter_by_peer_on_the_socket_to_the_postgres_database_only(tmp_path: Path) -> None:
    rules = _hba_rules(_render(tmp_path, "postgresql_server", "pg_hba.conf.j2", **PG))
    mine = [r for r in rules if "prometheus" in r]
    assert mine == [["local", "postgres", "prometheus", "peer"]]
    # before the catch-all reject of every other local login (first match wins)
    assert rules.index(mine[0]) < rules.index(["local", "all", "all", "reject"])


@pytest.mark.parametrize("overrides", [{"postgresql_server_mode": "standby"},
                                       {"postgresql_server_exporter_enabled": False}],
                         ids=["standby", "disabled"])
def test_no_exporter_line_on_a_standby_or_when_disabled(tmp_path: Path, overrides: dict) -> None:
    text = _render(tmp_path, "postgresql_server", "pg_hba.conf.j2", **{**PG, **overrides})
    assert "prometheus" not in text


def test_postgres_exporter_connects_without_a_secret_and_listens_on_the_private_address(tmp_path: Path) -> None:
    text = _render(tmp_path, "postgresql_server", "postgres-exporter.default.j2", **PG)
    env = dict(re.findall(r"^([A-Z_]+)=(.*)$", text, re.M))
    dsn = dict(pair.split("=", 1) for pair in env["DATA_SOURCE_NAME"].strip("'").split(" "))
    assert dsn == {"host": "/run/postgresql", "port": "5432", "user": "prometheus", "dbname": "postgres",
                   "sslmode": "disable", "application_name": "prometheus-postgres-exporter"}
    assert "password" not in text.lower().replace("no password", "")
    args = env["ARGS"].strip('"').split()
    assert args == ["--web.listen-address=10.20.0.11:9187",
                    "--extend.query-path=/etc/prometheus/postgres-exporter-queries.yml",
                    "--disable-settings-metrics"]


def test_exporter_queries_map_every_column_and_name_the_standby_by_slot(tmp_path: Path) -> None:
    queries = yaml.safe_load(_render(tmp_path, "postgresql_server", "postgres-exporter-queries.yml.j2", **PG))
    assert set(queries) == {"pg_replication_standby", "pg_replication_primary"}
    usage = {ns: {name: m["usage"] for metric in q["metrics"] for name, m in metric.items()}
             for ns, q in queries.items()}
    assert usage["pg_replication_standby"] == {"slot_name": "LABEL", "streaming": "GAUGE",
                                               "replay_lag_seconds": "GAUGE", "replay_lag_bytes": "GAUGE"}
    assert usage["pg_replication_primary"] == {"streaming_standbys": "GAUGE", "connected_standbys": "GAUGE"}
    for ns, q in queries.items():
        assert q["master"] is True
        # every output column (AS name, or the bare slot_name) is mapped: no untyped extras
        selected = set(re.findall(r"AS (\w+)", q["query"])) | ({"slot_name"} if "s.slot_name" in q["query"] else set())
        assert selected == set(usage[ns]), ns


def test_nginx_status_server_is_loopback_only_unlogged_and_outside_the_public_servers(tmp_path: Path) -> None:
    conf = _render(tmp_path, "results_website", "nginx.conf.j2", **WEB)
    servers = re.split(r"\n    server \{", conf)[1:]
    status = [s for s in servers if "stub_status" in s]
    assert len(status) == 1
    assert re.findall(r"listen ([^;]+);", status[0]) == ["127.0.0.1:8080"]
    for line in ("access_log off;", "modsecurity off;", "allow 127.0.0.1;", "deny all;"):
        assert line in status[0], line
    public = [s for s in servers if s is not status[0]]
    assert public and all("stub_status" not in s for s in public)
    assert "stub_status" not in _render(tmp_path, "results_website", "nginx.conf.j2",
                                        **{**WEB, "results_website_exporter_enabled": False})


def test_nginx_exporter_flags(tmp_path: Path) -> None:
    text = _render(tmp_path, "results_website", "nginx-exporter.default.j2", **WEB)
    args = re.search(r'^ARGS="(.*)"$', text, re.M)
    assert args is not None
    assert args.group(1).split() == ["-web.listen-address=10.20.0.13:9113",
                                     "-nginx.scrape-uri=http://127.0.0.1:8080/stub_status"]


def test_prometheus_scrapes_the_database_and_web_exporters(tmp_path: Path) -> None:
    sub = tmp_path / "prom"
    sub.mkdir()
    text = render_role_template(sub, "monitoring_server", "prometheus.yml.j2",
                                groups=["counting_servers", "monitoring", "counting_db", "results_web"], os_vars=True,
                                **{**LAB, "monitoring_server_postgresql_groups": ["counting_db"],
                                   "monitoring_server_nginx_groups": ["results_web"],
                                   "postgresql_server_exporter_listen_address": "10.20.0.11",
                                   "results_website_exporter_listen_address": "10.20.0.13"})
    conf = yaml.safe_load(text)
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    assert jobs["postgresql"]["static_configs"] == [{"targets": ["10.20.0.11:9187"], "labels": {"instance": "target"}}]
    assert jobs["postgresql"]["metric_relabel_configs"] == [{"action": "labeldrop", "regex": "server"}]
    assert jobs["nginx"]["static_configs"] == [{"targets": ["10.20.0.13:9113"], "labels": {"instance": "target"}}]
    conf["rule_files"] = [str(rules_file(tmp_path))]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(conf))
    res = subprocess.run([tool("promtool"), "check", "config", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_no_exporter_jobs_without_groups(tmp_path: Path) -> None:
    conf = yaml.safe_load(_render(tmp_path, "monitoring_server", "prometheus.yml.j2",
                                  groups=["counting_servers", "monitoring"], **LAB))
    assert not {"postgresql", "nginx"} & {j["job_name"] for j in conf["scrape_configs"]}
