"""log_shipper / log_collector: the rsyslog fragments the roles render (by Ansible
itself, with the roles' defaults and internal vars), checked for every setting
that the delivery guarantees rest on, and validated by `rsyslogd -N1` when rsyslog
is installed on this machine (scripts/bootstrap.sh does not require it)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.unit.role_template import ANSIBLE_PLAYBOOK, render_role_template

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")


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
    conf = render_role_template(tmp_path, "log_shipper", "log-shipper.conf.j2", **SHIPPER)
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
    conf = render_role_template(tmp_path, "log_shipper", "log-shipper.conf.j2", **SHIPPER, log_shipper_journald=False,
                  log_shipper_files=[{"path": "/srv/app.log", "tag": "app:"}])
    assert 'file="/srv/app.log" tag="app:"' in conf
    assert "audit.log" not in conf and "call log_shipper_ship" not in conf


def test_shipper_ships_existing_lines_unless_told_not_to(tmp_path: Path) -> None:
    whole = render_role_template(tmp_path, "log_shipper", "log-shipper.conf.j2", **SHIPPER)
    assert whole.count('freshStartTail="off"') == 4 and 'freshStartTail="on"' not in whole
    fresh = render_role_template(tmp_path, "log_shipper", "log-shipper.conf.j2", **SHIPPER,
                                 log_shipper_ship_existing_lines=False)
    assert fresh.count('freshStartTail="on"') == 4 and 'freshStartTail="off"' not in fresh
    rsyslog_check(tmp_path, fresh, "/etc/rsyslog.d/tls-shipper")


def test_collector_admits_only_the_named_peers_and_stores_per_host_and_day(tmp_path: Path) -> None:
    conf = render_role_template(tmp_path, "log_collector", "log-collector.conf.j2",
                  log_collector_permitted_peers=["count-db", "count-app"], log_collector_port=2600,
                  log_collector_store_dir="/srv/logs")
    assert 'port="2600"' in conf and 'tls="on"' in conf and 'tls.authmode="name"' in conf
    assert 'tls.permittedpeer=["count-db", "count-app"]' in conf
    assert "/srv/logs/%HOSTNAME:::secpath-replace%/%$YEAR%-%$MONTH%-%$DAY%.log" in conf
    rsyslog_check(tmp_path, conf, "/etc/rsyslog.d/tls-collector")


def test_retention_job_deletes_only_old_day_files(tmp_path: Path) -> None:
    job = render_role_template(tmp_path, "log_collector", "retention.sh.j2", log_collector_retention_days=30)
    assert "find /var/log/remote -type f -name '*.log' -mtime +30 -delete" in job
