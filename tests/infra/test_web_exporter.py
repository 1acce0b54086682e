"""results_website's nginx exporter on the web tier (results-tx): nginx's
stub_status on its own loopback server only (never on the public listeners, not
in the access log), the exporter running sandboxed on the private address,
reporting nginx up and counting the site's real requests, and its port closed to
every host but the monitoring one."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.infra.lab_host import connects, fetch, hostvars, listeners, peer_host, prometheus_text, sample
from tests.infra.web_client import site_of

SERVICE = "prometheus-nginx-exporter"


def _web(host: Any) -> tuple[dict[str, Any], str, int, int]:
    variables = hostvars(host)
    if "results_web" not in variables.get("group_names", []) or not variables.get("results_website_exporter_enabled"):
        pytest.skip("the nginx exporter runs on results_web hosts with results_website_exporter_enabled")
    address = variables.get("lab_private_address")
    if not address:
        pytest.skip("no lab_private_address: not a lab host with a private network")
    return (variables, str(address), int(variables.get("results_website_exporter_port", 9113)),
            int(variables.get("results_website_status_port", 8080)))


@pytest.mark.control("EF-MON-19")
def test_runs_enabled_and_sandboxed(host: Any) -> None:
    _web(host)
    service = host.service(SERVICE)
    assert service.is_running and service.is_enabled
    show = host.run(f"systemctl show {SERVICE} -p User -p ProtectSystem -p NoNewPrivileges -p RestartUSec").stdout
    for wanted in ("User=prometheus", "ProtectSystem=strict", "NoNewPrivileges=yes", "RestartUSec=5s"):
        assert wanted in show, show


@pytest.mark.control("EF-MON-20", "EF-MON-21")
def test_exporter_on_the_private_address_and_status_on_loopback_only(host: Any) -> None:
    _, address, port, status = _web(host)
    assert listeners(host, port) == [f"{address}:{port}"]
    assert listeners(host, status) == [f"127.0.0.1:{status}"]


@pytest.mark.control("EF-MON-21")
def test_status_page_only_on_loopback_and_not_logged(host: Any) -> None:
    _, _, _, status = _web(host)
    mark = uuid.uuid4().hex
    body = fetch(host, f"http://127.0.0.1:{status}/stub_status?probe={mark}")
    assert body.startswith("Active connections:") and "server accepts handled requests" in body
    # the public site (through the lab's forward, as a visitor) has no such page
    site = site_of(host)
    assert site.request("/stub_status", client="198.51.100.7").status == 404
    with host.sudo():
        log = host.check_output("tail -n 500 /var/log/nginx/access.log")
    assert mark not in log, "the status server's requests must not reach the access log"


@pytest.mark.control("EF-MON-22")
def test_reports_nginx_up_and_counts_the_sites_requests(host: Any) -> None:
    _, address, port, _ = _web(host)
    url = f"http://{address}:{port}/metrics"
    before = prometheus_text(fetch(host, url))
    assert sample(before, "nginx_up") == 1
    assert sample(before, "nginx_connections_active") >= 1  # at least the exporter's own
    site = site_of(host)
    for _ in range(5):
        assert site.request("/index.html", client="198.51.100.8").status == 200
    after = prometheus_text(fetch(host, url))
    # five page requests plus this scrape's own stub_status request
    assert sample(after, "nginx_http_requests_total") - sample(before, "nginx_http_requests_total") >= 6
    assert sample(after, "nginx_connections_accepted") > sample(before, "nginx_connections_accepted")


@pytest.mark.control("EF-MON-20")
def test_port_open_to_the_monitoring_host_only(host: Any, request: pytest.FixtureRequest) -> None:
    variables, address, port, _ = _web(host)
    groups = variables["groups"]
    monitoring = groups.get("monitoring", [])
    others = sorted(set(groups.get("counting_servers", [])) - set(monitoring) - {variables["inventory_hostname"]})
    assert monitoring and others, groups
    assert connects(peer_host(request.config, monitoring[0]), address, port)
    for name in others:
        assert not connects(peer_host(request.config, name), address, port), f"{name} reached {address}:{port}"
