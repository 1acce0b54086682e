"""freeze_watch on every counting server: the timer runs the sandboxed checker,
whose metrics the node exporter serves; before the freeze it says "no manifest",
after it (a manifest deployed) the host matches it."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.infra.lab_host import hostvars

SERVICE = "freeze-watch"


def _watch(host: Any) -> dict[str, Any]:
    variables = hostvars(host)
    if not variables.get("freeze_watch_enabled", True):
        pytest.skip("freeze_watch is disabled on this host")
    return variables


def _metrics(host: Any, variables: dict[str, Any]) -> str:
    """The node exporter's page as Prometheus scrapes it (the freeze_verify_* lines)."""
    address = variables.get("lab_private_address")
    if not address:
        pytest.skip("no lab_private_address: not a lab host with a private network")
    url = f"http://{address}:{int(variables.get('node_exporter_port', 9100))}/metrics"
    body = host.run_expect([0], f"python3 -c \"import urllib.request as u;"
                                f"print(u.urlopen('{url}', timeout=10).read().decode())\"").stdout
    return "\n".join(line for line in body.splitlines() if line.startswith("freeze_verify_"))


@pytest.mark.control("EF-FRZ-1")
def test_timer_enabled_active_with_the_inventory_period(host: Any) -> None:
    variables = _watch(host)
    timer = host.service(f"{SERVICE}.timer")
    assert timer.is_enabled and timer.is_running
    show = host.run(f"systemctl show {SERVICE}.timer -p TimersMonotonic").stdout
    assert "OnUnitActiveUSec=" in show, show
    period = str(variables.get("freeze_watch_interval", "15min"))
    unit = host.file(f"/etc/systemd/system/{SERVICE}.timer").content_string
    assert f"OnUnitActiveSec={period}" in unit


@pytest.mark.control("EF-FRZ-2")
def test_check_is_sandboxed_read_only_without_network(host: Any) -> None:
    variables = _watch(host)
    show = host.run(f"systemctl show {SERVICE}.service -p ProtectSystem -p ProtectHome -p ReadWritePaths "
                    "-p NoNewPrivileges -p RestrictAddressFamilies -p IPAddressDeny -p Type").stdout
    textfile_dir = variables.get("freeze_watch_textfile_dir", "/var/lib/prometheus/node-exporter")
    assert "ProtectSystem=strict" in show and "ProtectHome=read-only" in show, show
    assert f"ReadWritePaths={textfile_dir}" in show and "NoNewPrivileges=yes" in show, show
    assert re.search(r"RestrictAddressFamilies=AF_(UNIX|NETLINK) AF_(UNIX|NETLINK)$", show, re.M), show
    assert "IPAddressDeny=" in show and "IPAddressDeny=\n" not in show, show
    assert "Type=oneshot" in show


@pytest.mark.control("EF-FRZ-3")
def test_last_check_succeeded_and_wrote_nothing_but_its_metric(host: Any) -> None:
    variables = _watch(host)
    install_dir = variables.get("freeze_watch_install_dir", "/usr/local/lib/freeze-watch")
    result = host.run(f"systemctl show {SERVICE}.service -p Result -p ExecMainStatus").stdout
    assert "Result=success" in result, result
    with host.sudo():
        pycache = host.run(f"find {install_dir} -name __pycache__").stdout.strip()
    assert pycache == "", "the checker wrote byte code next to its (frozen) code"


@pytest.mark.control("EF-FRZ-4")
def test_node_exporter_serves_the_verdict(host: Any) -> None:
    variables = _watch(host)
    lines = _metrics(host, variables)
    label = f'host="{variables.get("freeze_watch_host_label", variables["inventory_hostname"])}"'
    present = re.search(r"^freeze_verify_manifest_present\{.*\} (\S+)$", lines, re.M)
    assert present and label in present.group(0), lines
    if variables.get("freeze_watch_manifest"):
        stamp = re.search(r"^freeze_verify_last_run_timestamp_seconds\{.*\} (\S+)$", lines, re.M)
        assert stamp, lines
        now = float(host.run("date +%s").stdout)
        # within a few periods (the lab period is 60 s; a first check runs at the deploy)
        assert now - float(stamp.group(1)) < 600, lines
        assert re.search(r'^freeze_verify_manifest_present\{.*\} 1$', lines, re.M), lines
        assert re.search(r'^freeze_verify_ok\{.*\} 1$', lines, re.M), lines
    else:
        # before the freeze: no verdict, only "no manifest"; systemd skips the timer's starts
        assert "ConditionPathExists=" in host.file(f"/etc/systemd/system/{SERVICE}.service").content_string
        assert re.search(r'^freeze_verify_manifest_present\{.*\} 0$', lines, re.M), lines
        assert "freeze_verify_ok" not in lines, lines
