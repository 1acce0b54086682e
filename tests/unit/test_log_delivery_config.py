"""log_shipper / log_collector: the rsyslog fragments the roles render (by Ansible
itself, with the roles' defaults and internal vars), checked for every setting
that the delivery guarantees rest on, and validated by `rsyslogd -N1` when rsyslog
is installed on this machine (scripts/bootstrap.sh does not require it)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")


def render(tmp_path: Path, role: str, template: str, **overrides: Any) -> str:
    base = REPO / "roles" / role
    inventory = {"all": {"hosts": {"target": {"ansible_connection": "local",
                                              "ansible_python_interpreter": sys.executable}}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    out = tmp_path / f"{role}.conf"
    play = [{"hosts": "target", "gather_facts": False,
             "vars_files": [str(base / "defaults/main.yml"), str(base / "vars/main.yml")],
             "tasks": [{"ansible.builtin.template": {"src": str(base / "templates" / template),
                                                      "dest": str(out), "mode": "0600"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "extra.json").write_text(json.dumps(overrides))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
                          "-e", f"@{tmp_path / 'extra.json'}"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return out.read_text()


def rsyslog_check(tmp_path: Path, fragment: str, tls_dir_in_conf: str) -> None:
    """`rsyslogd -N1` on the fragment inside a Debian-like main configuration."""
    if shutil.which("rsyslogd") is None:
        pytest.skip("rsyslogd not installed here")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                    "-keyout", str(tmp_path / "host.key"), "-out", str(tmp_path / "host.crt"), "-subj", "/CN=t",
                    "-days", "1"], check=True, capture_output=True)
    shutil.copy(tmp_path / "host.crt", tmp_path / "ca.crt")
    (tmp_path / "frag.conf").write_text(fragment.replace(tls_dir_in_conf, str(tmp_path))
                                        .replace("/var/spool/rsyslog", str(tmp_path)))
    (tmp_path / "main.conf").write_text(f'global(workDirectory="{tmp_path}")\n'
                                        f'$IncludeConfig {tmp_path}/frag.conf\n*.* {tmp_path}/all.log\n')
    res = subprocess.run(["rsyslogd", "-N1", "-f", str(tmp_path / "main.conf")], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


SHIPPER = {"log_shipper_collector_address": "10.9.0.5", "log_shipper_collector_name": "collector.example",
           "log_shipper_ca_certificate": "/x/ca", "log_shipper_certificate": "/x/c", "log_shipper_private_key": "/x/k"}


def test_shipper_sends_relp_over_mutual_tls_through_a_disk_queue(tmp_path: Path) -> None:
    conf = render(tmp_path, "log_shipper", "log-shipper.conf.j2", **SHIPPER)
    for setting in ('target="10.9.0.5"', 'port="2514"', 'tls="on"', 'tls.authmode="name"',
                    'tls.permittedpeer=["collector.example"]', 'queue.filename="log_shipper_fwd"',
                    'queue.saveOnShutdown="on"', 'action.resumeRetryCount="-1"', 'queue.maxDiskSpace="1g"'):
        assert setting in conf, setting
    for path in ("/var/log/audit/audit.log", "/var/log/nginx/*.log", "/var/log/modsecurity/audit.log",
                 "/var/log/postgresql/*.log"):
        assert f'file="{path}"' in conf
    assert "call log_shipper_ship" in conf
    rsyslog_check(tmp_path, conf, "/etc/rsyslog.d/tls-shipper")


def test_shipper_files_and_journald_follow_the_variables(tmp_path: Path) -> None:
    conf = render(tmp_path, "log_shipper", "log-shipper.conf.j2", **SHIPPER, log_shipper_journald=False,
                  log_shipper_files=[{"path": "/srv/app.log", "tag": "app:"}])
    assert 'file="/srv/app.log" tag="app:"' in conf
    assert "audit.log" not in conf and "call log_shipper_ship" not in conf


def test_collector_admits_only_the_named_peers_and_stores_per_host_and_day(tmp_path: Path) -> None:
    conf = render(tmp_path, "log_collector", "log-collector.conf.j2",
                  log_collector_permitted_peers=["count-db", "count-app"], log_collector_port=2600,
                  log_collector_store_dir="/srv/logs")
    assert 'port="2600"' in conf and 'tls="on"' in conf and 'tls.authmode="name"' in conf
    assert 'tls.permittedpeer=["count-db", "count-app"]' in conf
    assert "/srv/logs/%HOSTNAME:::secpath-replace%/%$YEAR%-%$MONTH%-%$DAY%.log" in conf
    rsyslog_check(tmp_path, conf, "/etc/rsyslog.d/tls-collector")


def test_retention_job_deletes_only_old_day_files(tmp_path: Path) -> None:
    job = render(tmp_path, "log_collector", "retention.sh.j2", log_collector_retention_days=30)
    assert "find /var/log/remote -type f -name '*.log' -mtime +30 -delete" in job
