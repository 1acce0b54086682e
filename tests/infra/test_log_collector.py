"""log_collector on the monitoring host: listening for RELP over TLS, storage
private, retention job in place; its own shipper's messages stored per host/day."""

from __future__ import annotations

from typing import Any

import pytest

from tests.infra.lab_host import hostvars


def _collector(host: Any) -> dict[str, Any]:
    variables = hostvars(host)
    if variables["inventory_hostname"] not in (variables["groups"].get("monitoring") or []):
        pytest.skip("log_collector runs on the monitoring group only")
    if not variables.get("log_collector_enabled", True):
        pytest.skip("log_collector is disabled on this host")
    return variables


@pytest.mark.control("EF-LOG-1")
def test_listens_for_relp_over_tls(host: Any) -> None:
    variables = _collector(host)
    port = variables.get("log_collector_port", 2514)
    assert host.socket(f"tcp://0.0.0.0:{port}").is_listening or host.socket(f"tcp://:::{port}").is_listening
    with host.sudo():
        assert host.run("rsyslogd -N1").rc == 0


@pytest.mark.control("EF-LOG-2")
def test_store_is_private_and_retained(host: Any) -> None:
    variables = _collector(host)
    store = variables.get("log_collector_store_dir", "/var/log/remote")
    with host.sudo():
        d = host.file(store)
        assert d.is_directory and d.mode == 0o700
        job = host.file("/etc/cron.daily/log-collector-retention")
        assert job.exists and job.mode == 0o755
        assert f"-mtime +{variables.get('log_collector_retention_days', 400)}" in job.content_string

