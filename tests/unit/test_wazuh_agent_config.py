"""wazuh_agent: the ossec.conf the role renders, parsed back, for every variable.

The template is rendered by Ansible itself (ansible-playbook on localhost with the
role's defaults and internal vars, as a member of the given inventory groups), so
filters and group selection run exactly as on a host. The lab's stand-in agent
(lab/standins/wazuh-agent) then checks the result like `wazuh-agentd -t` does.
"""

from __future__ import annotations

import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from tests.unit.role_template import ANSIBLE_PLAYBOOK, REPO, render_role_template

AGENTD = REPO / "lab" / "standins" / "wazuh-agent" / "var" / "ossec" / "bin" / "wazuh-agentd"

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")


def render(tmp_path: Path, groups: list[str], **overrides: Any) -> ET.Element:
    """Render ossec.conf for a host in `groups` with `overrides`; return the parsed root."""
    text = render_role_template(tmp_path, "wazuh_agent", "ossec.conf.j2", groups, **overrides)
    return ET.fromstring(f"<root>{text}</root>")


MANAGERS = [{"address": "10.9.0.1"}, {"address": "10.9.0.2", "port": 1600, "protocol": "udp",
                                          "max_retries": 9, "retry_interval": 3}]


@pytest.fixture(scope="module")
def db_conf(tmp_path_factory: pytest.TempPathFactory) -> ET.Element:
    return render(tmp_path_factory.mktemp("db"), ["counting_servers", "counting_db"],
                  wazuh_agent_managers=MANAGERS, wazuh_agent_name="db-01",
                  wazuh_agent_groups=["counting", "db"], wazuh_agent_authd_password="s3cret-not-rendered",
                  wazuh_agent_enrollment_server_ca_path="/etc/ssl/wazuh-ca.pem",
                  wazuh_agent_labels=[{"key": "tier", "value": "counting"},
                                      {"key": "owner", "value": "it", "hidden": True}],
                  wazuh_agent_syscheck_frequency=600)


def test_managers_in_failover_order_with_their_settings(db_conf: ET.Element) -> None:
    servers = db_conf.findall("./ossec_config/client/server")
    got = [(s.findtext("address"), s.findtext("port"), s.findtext("protocol"),
            s.findtext("max_retries"), s.findtext("retry_interval")) for s in servers]
    assert got == [("10.9.0.1", "1514", "tcp", "5", "5"), ("10.9.0.2", "1600", "udp", "9", "3")]


def test_enrollment_reads_the_password_file_never_the_password(db_conf: ET.Element) -> None:
    enr = db_conf.find("./ossec_config/client/enrollment")
    assert enr is not None
    assert enr.findtext("enabled") == "yes"
    assert enr.findtext("manager_address") == "10.9.0.1"  # first manager by default
    assert enr.findtext("port") == "1515"
    assert enr.findtext("agent_name") == "db-01"
    assert enr.findtext("groups") == "counting,db"
    assert enr.findtext("server_ca_path") == "/etc/ssl/wazuh-ca.pem"
    assert enr.findtext("authorization_pass_path") == "etc/authd.pass"
    assert "s3cret" not in ET.tostring(db_conf, encoding="unicode")


def test_labels(db_conf: ET.Element) -> None:
    labels = {lab.get("key"): (lab.text, lab.get("hidden")) for lab in db_conf.iter("label")}
    assert labels == {"tier": ("counting", None), "owner": ("it", "yes")}


def test_syscheck_directories_follow_the_host_groups(db_conf: ET.Element) -> None:
    dirs = {d.text: d.attrib for d in db_conf.iter("directories")}
    assert "/etc/postgresql" in dirs, "the database host must watch the database configuration"
    assert "/etc/nginx" not in dirs, "web configuration watched on a host that is not in results_web"
    assert dirs["/opt/election"]["whodata"] == "yes"
    assert dirs["/opt/election"]["report_changes"] == "yes"
    assert "whodata" not in dirs["/etc,/usr/bin,/usr/sbin,/bin,/sbin,/boot"]
    assert db_conf.findtext("./ossec_config/syscheck/frequency") == "600"


def test_whodata_reads_keys_and_never_touches_audit_rules(db_conf: ET.Element) -> None:
    who = db_conf.find("./ossec_config/syscheck/whodata")
    assert who is not None
    assert [k.text for k in who.iter("audit_key")] == ["wazuh_fim", "election_config", "election_app",
                                                        "election_db_config"]
    assert who.findtext("restart_audit") == "no"
    assert who.findtext("startup_healthcheck") == "no"


def test_localfiles_cover_journald_audit_and_the_hosts_own_services(db_conf: ET.Element) -> None:
    files = {(f.findtext("log_format"), f.findtext("location")) for f in db_conf.iter("localfile")}
    assert ("journald", "journald") in files
    assert ("audit", "/var/log/audit/audit.log") in files
    assert ("syslog", "/var/log/postgresql/postgresql-15-main.log") in files
    assert not any("nginx" in loc for _, loc in files)


def test_active_response_off_by_default(db_conf: ET.Element) -> None:
    assert db_conf.findtext("./ossec_config/active-response/disabled") == "yes"
    assert db_conf.findtext("./ossec_config/rootcheck/disabled") == "no"


def test_web_host_and_switched_options(tmp_path: Path) -> None:
    conf = render(tmp_path, ["counting_servers", "results_web"],
                  wazuh_agent_managers=[{"address": "mgr.example"}],
                  wazuh_agent_enrollment_manager_address="enroll.example",
                  wazuh_agent_active_response_enabled=True, wazuh_agent_rootcheck_enabled=False)
    enr = conf.find("./ossec_config/client/enrollment")
    assert enr is not None and enr.findtext("manager_address") == "enroll.example"
    assert enr.find("authorization_pass_path") is None, "no password configured, none referenced"
    assert conf.findtext("./ossec_config/active-response/disabled") == "no"
    assert conf.findtext("./ossec_config/rootcheck/disabled") == "yes"
    dirs = {d.text for d in conf.iter("directories")}
    assert "/etc/nginx" in dirs and "/etc/postgresql" not in dirs
    files = {f.findtext("location") for f in conf.iter("localfile")}
    assert "/var/log/nginx/access.log" in files and "/var/log/modsecurity/audit.log" in files


def test_enrollment_disabled_renders_no_enrollment_details(tmp_path: Path) -> None:
    conf = render(tmp_path, [], wazuh_agent_managers=MANAGERS, wazuh_agent_enrollment_enabled=False)
    enr = conf.find("./ossec_config/client/enrollment")
    assert enr is not None and enr.findtext("enabled") == "no"
    assert enr.find("manager_address") is None


def test_standin_agent_accepts_the_rendered_file_and_rejects_a_broken_one(tmp_path: Path) -> None:
    render(tmp_path, ["counting_db"], wazuh_agent_managers=MANAGERS)
    conf = tmp_path / "wazuh_agent.rendered"
    ok = subprocess.run([sys.executable, str(AGENTD), "-t", "-c", str(conf)], capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    broken = tmp_path / "broken.conf"
    broken.write_text(conf.read_text().replace("<port>1600</port>", "<port>99999</port>"))
    bad = subprocess.run([sys.executable, str(AGENTD), "-t", "-c", str(broken)], capture_output=True, text=True)
    assert bad.returncode == 1 and "invalid server port" in bad.stderr
