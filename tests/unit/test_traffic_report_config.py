"""traffic_report / log_collector's live feed, rendered by Ansible with the roles'
defaults, then run for real on this machine:

- goaccess (Debian's, as on the monitoring host) parses access lines built from
  results_website's own log_format with the role's goaccess configuration: every
  line valid, statuses, sites and query strings as sent (a change on either side
  that breaks the report fails here);
- rsyslogd with the collector's configuration copies exactly the nginx JSON access
  lines into the feed, byte for byte, and not the error lines that share the tag.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from tests.unit.role_template import ANSIBLE_PLAYBOOK, render_role_template

pytestmark = pytest.mark.skipif(not ANSIBLE_PLAYBOOK.exists(), reason="ansible-playbook not in this venv")

REPORT: dict[str, Any] = {"traffic_report_listen_address": "10.9.0.5",
                          "traffic_report_allowed_networks": ["10.9.0.0/24"]}


def access_line(**values: object) -> str:
    """One access line as results_website's nginx writes it: its log_format with
    every variable replaced by a sample value (JSON-escaped like escape=json)."""
    template = (Path(__file__).resolve().parents[2] / "roles/results_website/templates/nginx.conf.j2").read_text()
    declaration = template.split("log_format results_json escape=json", 1)[1].split(";", 1)[0]
    fmt = "".join(re.findall(r"'([^']*)'", declaration))
    sample = {"time_iso8601": "2026-11-29T10:01:02+00:00", "request_id": "0123abcd", "remote_addr": "203.0.113.5",
              "realip_remote_addr": "203.0.113.5", "host": "results.example.org", "request_method": "GET",
              "request_uri": "/index.html", "server_protocol": "HTTP/2.0", "status": "200", "body_bytes_sent": "1234",
              "request_time": "0.002", "upstream_status": "", "upstream_cache_status": "", "ssl_protocol": "TLSv1.3",
              "results_website_mode": "normal", "results_website_allowlisted": "0", "http_referer": "",
              "http_user_agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/120.0"}
    sample.update({k: str(v) for k, v in values.items()})
    line = re.sub(r"\$([a-z0-9_]+)", lambda m: json.dumps(sample[m.group(1)])[1:-1], fmt)
    json.loads(line)  # the format itself must stay one JSON object per line
    return line


def test_goaccess_reads_the_results_websites_access_lines(tmp_path: Path) -> None:
    if shutil.which("goaccess") is None:
        pytest.skip("goaccess not installed here (scripts/bootstrap.sh installs it)")
    conf = render_role_template(tmp_path, "traffic_report", "goaccess.conf.j2", **REPORT)
    assert "addr 127.0.0.1" in conf and "ws-url ws://10.9.0.5:7880/ws" in conf and "origin http://10.9.0.5:7880" in conf
    log = tmp_path / "access.log"
    log.write_text("\n".join([
        access_line(),
        access_line(request_uri="/?id=1%27%20or%201=1", status=403, remote_addr="198.51.100.7",
                    http_user_agent="sqlmap/1.7", results_website_mode="attack"),
        access_line(request_uri="/missing.html", status=404, server_protocol="HTTP/1.1", host="localhost"),
        access_line(time_iso8601="2026-11-29T10:02:00+01:00", http_user_agent='quote " and \\ backslash'),
    ]) + "\n")
    # the role's file, minus the real-time part (a one-shot JSON report instead)
    batch = "\n".join(x for x in conf.splitlines()
                      if not x.startswith(("log-file", "output", "real-time-html", "addr", "port", "ws-url", "origin")))
    (tmp_path / "batch.conf").write_text(batch + "\n")
    out = tmp_path / "report.json"
    res = subprocess.run(["goaccess", "--no-global-config", f"--config-file={tmp_path / 'batch.conf'}", str(log),
                          "-o", str(out)], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stdout + res.stderr
    report = json.loads(out.read_text())
    assert report["general"]["total_requests"] == 4 and report["general"]["failed_requests"] == 0
    assert sorted(x["data"] for x in report["vhosts"]["data"]) == ["localhost", "results.example.org"]
    assert {x["data"] for x in report["status_codes"]["data"]} == {"2xx Success", "4xx Client Errors"}
    assert "/?id=1' or 1=1" in [x["data"] for x in report["requests"]["data"]]


def test_service_and_nginx_keep_the_report_on_the_monitoring_network(tmp_path: Path) -> None:
    unit = render_role_template(tmp_path, "traffic_report", "traffic-report.service.j2", os_vars=True, **REPORT)
    for setting in ("DynamicUser=yes", "SupplementaryGroups=adm", "IPAddressDeny=any", "IPAddressAllow=localhost",
                    "MemoryMax=256M", "CapabilityBoundingSet=\n", "--config-file=/etc/traffic-report/goaccess.conf"):
        assert setting in unit, setting
    nginx = render_role_template(tmp_path, "traffic_report", "nginx.conf.j2", **REPORT)
    assert re.findall(r"^\s*listen (\S+)", nginx, re.M) == ["10.9.0.5:7880"]
    assert "allow 10.9.0.0/24;" in nginx and "deny all;" in nginx and "server_tokens off;" in nginx
    assert "proxy_pass http://127.0.0.1:7890;" in nginx and "connect-src ws://10.9.0.5:7880/ws;" in nginx
    assert "sites-enabled" not in nginx  # Debian's default site is not served
    v6 = render_role_template(tmp_path, "traffic_report", "nginx.conf.j2", traffic_report_listen_address="fd00::5",
                              traffic_report_allowed_networks=["fd00::/64"])
    assert re.findall(r"^\s*listen (\S+)", v6, re.M) == ["[fd00::5]:7880"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_collector_copies_only_the_json_access_lines_into_the_feed(tmp_path: Path) -> None:
    if shutil.which("rsyslogd") is None or shutil.which("logger") is None:
        pytest.skip("rsyslogd/logger not installed here")
    conf = render_role_template(
        tmp_path, "log_collector", "log-collector.conf.j2", log_collector_permitted_peers=["h"],
        log_collector_store_dir=str(tmp_path / "store"), log_collector_feeds_dir=str(tmp_path / "feeds"),
        log_collector_feeds=[{"name": "web-access", "programname": "nginx", "message_start": '{"time":'}])
    assert 'file="%s/web-access.log"' % (tmp_path / "feeds") in conf
    # the same ruleset behind a plain TCP input (the RELP/TLS input is covered by
    # test_log_delivery_config and the lab); owner and group of this test's user
    port = _free_port()
    body = conf[:conf.index("input(type=\"imrelp\"")].replace('module(load="imrelp")', "")
    body = re.sub(r'fileOwner="root" fileGroup="adm"', "", body).replace('dirGroup="adm" ', "")
    (tmp_path / "main.conf").write_text(
        f'global(workDirectory="{tmp_path}")\nmodule(load="imtcp")\n{body}\n'
        f'input(type="imtcp" port="{port}" address="127.0.0.1" ruleset="log_collector_store")\n')
    check = subprocess.run(["rsyslogd", "-N1", "-f", str(tmp_path / "main.conf")], capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    daemon = subprocess.Popen(["rsyslogd", "-n", "-f", str(tmp_path / "main.conf"), "-i", str(tmp_path / "pid")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and daemon.poll() is None, "rsyslogd did not start"
                time.sleep(0.2)
        access = access_line(http_user_agent='say "hi" \\o/', request_uri="/a b?c=d&e=%27")
        sent = [("nginx", access), ("nginx", "2026/11/29 10:00:00 [error] 12#12: *1 open() failed"),
                ("other", access_line(request_uri="/not-nginx")), ("nginx", access_line(request_uri="/second"))]
        for tag, message in sent:
            # RFC 3164 framing like the shippers' RSYSLOG_ForwardFormat: a space after the tag
            subprocess.run(["logger", "--tcp", "--rfc3164", "-n", "127.0.0.1", "-P", str(port), "-t", tag,
                            "--", message], check=True, timeout=10)
        feed = tmp_path / "feeds" / "web-access.log"
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and (not feed.exists() or feed.read_text().count("\n") < 2):
            time.sleep(0.2)
    finally:
        daemon.terminate()
        daemon.wait(timeout=20)
    assert feed.read_text() == access + "\n" + access_line(request_uri="/second") + "\n"
