"""traffic_report on the monitoring host: goaccess as a sandboxed dynamic user with
its WebSocket on loopback only, nginx serving the report on the monitoring-network
address only (Debian's default site gone), the page and the WebSocket upgrade
working through nginx, an Origin other than the page's refused, and a request made
to the results website counted from the collector's live feed within seconds."""

from __future__ import annotations

import shlex
import time
import uuid
from typing import Any

import pytest

from tests.infra.lab_host import hostvars, listeners

FEED_DEADLINE_S = 10.0


def _report(host: Any) -> tuple[dict[str, Any], str, int]:
    variables = hostvars(host)
    if variables["inventory_hostname"] not in (variables["groups"].get("monitoring") or []):
        pytest.skip("traffic_report runs on the monitoring group only")
    if not variables.get("traffic_report_enabled", True):
        pytest.skip("traffic_report is disabled on this host")
    address = str(variables.get("traffic_report_listen_address", ""))
    if "{{" in address:  # the inventory's expression (ansible-inventory does not template it)
        address = str(variables.get("lab_private_address", ""))
    if not address:
        pytest.skip("no literal traffic_report_listen_address for this host")
    return variables, address, int(variables.get("traffic_report_port", 7880))


@pytest.mark.control("EF-MON-9")
def test_goaccess_runs_unprivileged_and_sandboxed(host: Any) -> None:
    _report(host)
    service = host.service("traffic-report")
    assert service.is_running and service.is_enabled
    show = host.run("systemctl show traffic-report -p DynamicUser -p ProtectSystem -p IPAddressDeny "
                    "-p MemoryMax -p CapabilityBoundingSet").stdout
    assert "DynamicUser=yes" in show and "ProtectSystem=strict" in show, show
    assert "CapabilityBoundingSet=\n" in show + "\n" and "MemoryMax=infinity" not in show, show
    user = host.run("ps -o user= -C goaccess").stdout.split()
    assert user and "root" not in user, user


@pytest.mark.control("EF-MON-10")
def test_listens_on_the_monitoring_address_and_loopback_only(host: Any) -> None:
    variables, address, port = _report(host)
    ws_port = int(variables.get("traffic_report_websocket_port", 7890))
    assert listeners(host, port) == [f"{address}:{port}"]
    assert listeners(host, ws_port) == [f"127.0.0.1:{ws_port}"]
    # Debian's default site (port 80 on every address) is not served
    assert listeners(host, 80) == []


def _http(host: Any, url: str, headers: dict[str, str] | None = None) -> tuple[int, str, str]:
    """status, headers, body of a GET made on the host (python3 of the VM)."""
    script = ("import json, sys, urllib.request as u, urllib.error as e\n"
              f"r = u.Request({url!r}, headers={headers or {}!r})\n"
              "try:\n    x = u.urlopen(r, timeout=10)\n"
              "except e.HTTPError as err:\n    x = err\n"
              "print(x.status); print(json.dumps(dict(x.headers)))\n"
              "sys.stdout.write(x.read().decode(errors='replace'))\n")
    out = host.run_expect([0], f"python3 -c {shlex.quote(script)}").stdout
    status, head, body = out.split("\n", 2)
    return int(status), head, body


@pytest.mark.control("EF-MON-11")
def test_serves_the_report_with_its_security_headers(host: Any) -> None:
    variables, address, port = _report(host)
    status, head, body = _http(host, f"http://{address}:{port}/")
    assert status == 200, (status, body[:300])
    title = variables.get("traffic_report_title", "Results website - live traffic")
    assert "GoAccess" in body and title in body
    assert f"ws://{address}:{port}/ws" in body  # the page connects back through nginx
    assert "frame-ancestors 'none'" in head and "nosniff" in head and "nginx/" not in head
    assert _http(host, f"http://{address}:{port}/etc/passwd")[0] == 404


def _upgrade(host: Any, address: str, port: int, origin: str) -> str:
    """The status line of a WebSocket handshake sent by hand through nginx."""
    script = ("import socket\n"
              f"s = socket.create_connection(({address!r}, {port}), timeout=10)\n"
              "s.sendall(b'GET /ws HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n'\n"
              "          b'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n'\n"
              f"          b'Origin: {origin}\\r\\n\\r\\n')\n"
              "print(s.recv(200).decode(errors='replace').splitlines()[0])\n")
    return str(host.run_expect([0], f"python3 -c {shlex.quote(script)}").stdout).strip()


@pytest.mark.control("EF-MON-12")
def test_websocket_upgrades_for_the_page_origin_only(host: Any) -> None:
    _, address, port = _report(host)
    assert " 101 " in _upgrade(host, address, port, f"http://{address}:{port}")
    # another site's page must not read the report through the visitor's browser
    assert " 101 " not in _upgrade(host, address, port, "http://evil.example")


@pytest.mark.control("EF-MON-13")
def test_a_results_website_request_is_counted_from_the_live_feed(host: Any) -> None:
    variables, _, _ = _report(host)
    feed = variables.get("traffic_report_feed", "/var/log/remote-feeds/web-access.log")
    web = variables["groups"].get("results_web") or []
    if not web:
        pytest.skip("no results_web host in the inventory")
    site = host.get_host(f"ansible://{web[0]}", ansible_inventory=host.backend.ansible_inventory)
    marker = f"/traffic-report-{uuid.uuid4().hex}.html"
    fetch = ("import ssl, urllib.request as u, urllib.error as e\n"
             "try:\n    u.urlopen('https://localhost" + marker + "',\n"
             "              context=ssl._create_unverified_context(), timeout=10)\n"
             "except e.HTTPError:\n    pass\n")  # a 404 is still a logged request
    site.run_expect([0], f"python3 -c {shlex.quote(fetch)}")
    start = time.monotonic()
    found = False
    with host.sudo():
        while time.monotonic() - start < FEED_DEADLINE_S:
            if host.run(f"grep -qF {marker} {feed}").rc == 0:
                found = True
                break
            time.sleep(0.5)
        line = host.run(f"grep -F {marker} {feed}").stdout
        mode = host.file(feed).mode
        group = host.file(feed).group
    assert found, f"{marker} not in {feed} after {FEED_DEADLINE_S} s"
    assert line.startswith('{"time":'), line  # the original JSON line, no syslog header
    assert mode == 0o640 and group == "adm"
