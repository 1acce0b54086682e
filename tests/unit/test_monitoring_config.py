"""node_exporter / monitoring_server: the files the roles render (by Ansible
itself, with the roles' defaults and internal vars), parsed back and checked with
the tools the roles validate with on the host: `promtool check config|rules`,
`promtool test rules` (unit tests of every alert rule, tests/unit/promtool/),
`amtool check-config` and `prometheus-blackbox-exporter --config.check`.
scripts/bootstrap.sh installs Debian's prometheus and prometheus-alertmanager on
the controller; without them those checks skip and say so."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.role_template import ANSIBLE_PLAYBOOK, render_role_template

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")

RULE_TESTS = Path(__file__).parent / "promtool" / "election_freeze_rules_test.yml"
GROUPS = ["counting_servers", "monitoring"]
# The lab's values (inventories/lab/group_vars) with literal addresses.
LAB = {"monitoring_server_listen_address": "10.20.0.12", "node_exporter_listen_address": "10.20.0.12",
       "monitoring_server_probe_targets": [{"name": "results-tx", "url": "https://10.20.0.13/",
                                            "server_name": "results-tx"}],
       "monitoring_server_probe_ca_certificate": "-----BEGIN CERTIFICATE-----\nX\n-----END CERTIFICATE-----"}


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI"):
            pytest.fail(f"{name} missing in CI: scripts/bootstrap.sh installs it")
        pytest.skip(f"{name} not installed on this controller (scripts/bootstrap.sh installs it)")
    return path


def render(tmp_path: Path, template: str, **overrides: object) -> str:
    sub = tmp_path / template
    sub.mkdir()
    return render_role_template(sub, "monitoring_server", template, groups=GROUPS, os_vars=True,
                                **{**LAB, **overrides})


def rules_file(tmp_path: Path, **overrides: object) -> Path:
    out = tmp_path / "election-freeze.yml"
    out.write_text(render(tmp_path, "rules.yml.j2", **overrides))
    return out


def test_every_alert_rule_passes_its_promtool_unit_test(tmp_path: Path) -> None:
    promtool = tool("promtool")
    rules = rules_file(tmp_path)
    alerts = {r["alert"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]}
    tested = set(re.findall(r"alertname: (\w+)", RULE_TESTS.read_text()))
    assert alerts == tested, f"alert rules without a promtool test: {alerts - tested}"
    test = tmp_path / "rules_test.yml"
    test.write_text(RULE_TESTS.read_text().replace("[RULES]", f"[{rules}]"))
    res = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "SUCCESS" in res.stdout + res.stderr


def test_rule_unit_tests_fail_when_a_threshold_changes(tmp_path: Path) -> None:
    """The unit tests can fail: HostDown after 5m instead of 1m breaks them."""
    promtool = tool("promtool")
    rules = rules_file(tmp_path, monitoring_server_host_down_for="5m")
    test = tmp_path / "rules_test.yml"
    test.write_text(RULE_TESTS.read_text().replace("[RULES]", f"[{rules}]"))
    res = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True, text=True)
    assert res.returncode != 0


@pytest.mark.parametrize("override", [{"monitoring_server_postgresql_expected_standbys": 0},
                                      {"monitoring_server_replication_lag_seconds": 60},
                                      {"monitoring_server_replication_lag_bytes": 33554432},
                                      {"monitoring_server_replication_lag_for": "5m"},
                                      {"monitoring_server_nginx_connections_high": 2000}],
                         ids=lambda o: next(iter(o)))
def test_database_and_web_rule_tests_fail_when_their_threshold_changes(tmp_path: Path, override: dict) -> None:
    """Each threshold of the exporter alerts is pinned by its unit test: moving it
    (no replica expected, a laxer lag or connection limit, a longer wait) breaks them."""
    promtool = tool("promtool")
    rules = rules_file(tmp_path, **override)
    test = tmp_path / "rules_test.yml"
    test.write_text(RULE_TESTS.read_text().replace("[RULES]", f"[{rules}]"))
    res = subprocess.run([promtool, "test", "rules", str(test)], capture_output=True, text=True)
    assert res.returncode != 0, res.stdout


def test_prometheus_config_scrapes_the_inventory_and_passes_promtool(tmp_path: Path) -> None:
    conf = yaml.safe_load(render(tmp_path, "prometheus.yml.j2"))
    jobs = {j["job_name"]: j for j in conf["scrape_configs"]}
    assert jobs["node"]["static_configs"] == [{"targets": ["10.20.0.12:9100"], "labels": {"instance": "target"}}]
    probe = jobs["probe_results_tx"]
    assert probe["params"] == {"module": ["https_results_tx"]}
    assert probe["static_configs"][0]["targets"] == ["https://10.20.0.13/"]
    assert {"target_label": "__address__", "replacement": "127.0.0.1:9115"} in probe["relabel_configs"]
    assert conf["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["10.20.0.12:9093"]
    assert conf["global"]["scrape_interval"] == "15s"
    promtool = tool("promtool")
    rules = rules_file(tmp_path)
    conf["rule_files"] = [str(rules)]
    path = tmp_path / "prometheus.yml"
    path.write_text(yaml.safe_dump(conf))
    res = subprocess.run([promtool, "check", "config", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_flags_listen_on_the_monitoring_address_only(tmp_path: Path) -> None:
    prom = render(tmp_path, "default-prometheus.j2", monitoring_server_retention="30d")
    assert "--web.listen-address=10.20.0.12:9090" in prom
    assert "--storage.tsdb.retention.time=30d" in prom
    am = render(tmp_path, "default-alertmanager.j2")
    assert "--web.listen-address=10.20.0.12:9093" in am
    assert '--cluster.listen-address="' in am  # gossip port off
    bb = render(tmp_path, "default-blackbox.j2")
    assert "--web.listen-address=127.0.0.1:9115" in bb
    sub = tmp_path / "ne"
    sub.mkdir()
    ne = render_role_template(sub, "node_exporter", "prometheus-node-exporter.default.j2", os_vars=True,
                              node_exporter_listen_address="10.20.0.13",
                              node_exporter_extra_args=["--collector.systemd"])
    assert ("--web.listen-address=10.20.0.13:9100 --collector.textfile.directory=/var/lib/prometheus/node-exporter"
            " --collector.systemd\"") in ne


def test_alertmanager_config_passes_amtool(tmp_path: Path) -> None:
    conf = render(tmp_path, "alertmanager.yml.j2", monitoring_server_alert_webhook_urls=["http://10.20.0.99:5001/"])
    parsed = yaml.safe_load(conf)
    assert parsed["receivers"][0]["webhook_configs"][0]["url"] == "http://10.20.0.99:5001/"
    path = tmp_path / "alertmanager.yml"
    path.write_text(conf)
    res = subprocess.run([tool("amtool"), "check-config", str(path)], capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr


def test_blackbox_module_checks_the_fleet_ca_and_the_site_name(tmp_path: Path) -> None:
    conf = render(tmp_path, "blackbox.yml.j2")
    module = yaml.safe_load(conf)["modules"]["https_results_tx"]
    assert module["http"]["tls_config"] == {"min_version": "TLS12", "ca_file": "/etc/prometheus/probe-ca.crt",
                                            "server_name": "results-tx"}
    assert module["http"]["fail_if_not_ssl"] is True
    path = tmp_path / "blackbox.yml"
    path.write_text(conf)
    res = subprocess.run([tool("prometheus-blackbox-exporter"), "--config.check", f"--config.file={path}"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stdout + res.stderr
