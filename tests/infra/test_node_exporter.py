"""node_exporter on every counting server: running, listening on the private
(monitoring-network) address only, sandboxed, and the textfile collector read."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.lab_host import hostvars, listeners


def _exporter(host: Any) -> tuple[dict[str, Any], str, int]:
    variables = hostvars(host)
    if not variables.get("node_exporter_enabled", True):
        pytest.skip("node_exporter is disabled on this host")
    address = variables.get("lab_private_address")
    if not address:
        pytest.skip("no lab_private_address: not a lab host with a private network")
    return variables, address, int(variables.get("node_exporter_port", 9100))


@pytest.mark.control("EF-MON-6")
def test_runs_enabled_and_sandboxed(host: Any) -> None:
    _exporter(host)
    service = host.service("prometheus-node-exporter")
    assert service.is_running and service.is_enabled
    show = host.run("systemctl show prometheus-node-exporter -p ProtectSystem -p NoNewPrivileges -p User").stdout
    assert "ProtectSystem=strict" in show and "NoNewPrivileges=yes" in show and "User=prometheus" in show


@pytest.mark.control("EF-MON-7")
def test_listens_on_the_private_address_only(host: Any) -> None:
    _, address, port = _exporter(host)
    found = listeners(host, port)
    assert found == [f"{address}:{port}"], found


@pytest.mark.control("EF-MON-8")
@pytest.mark.writes
def test_serves_metrics_and_the_textfile_collector(host: Any) -> None:
    variables, address, port = _exporter(host)
    textfile_dir = variables.get("node_exporter_textfile_dir", "/var/lib/prometheus/node-exporter")
    with host.sudo():
        host.run_expect([0], f"printf 'election_freeze_test_marker 42\\n' > {textfile_dir}/test-marker.prom.tmp"
                             f" && mv {textfile_dir}/test-marker.prom.tmp {textfile_dir}/test-marker.prom")
    try:
        url = f"http://{address}:{port}/metrics"
        body = host.run_expect([0], f"python3 -c \"import urllib.request as u;"
                                    f"print(u.urlopen('{url}', timeout=10).read().decode())\"").stdout
    finally:
        with host.sudo():
            host.run(f"rm -f {textfile_dir}/test-marker.prom")
    assert "election_freeze_test_marker 42" in body
    assert "node_timex_offset_seconds" in body and "node_filesystem_avail_bytes" in body
