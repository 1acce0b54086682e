"""log_shipper on a lab host: rsyslog with the RELP output running, its TLS key
private, and a real audit event made on count-db (a write under a watched path)
stored by the collector on the monitoring host within 5 seconds."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

from tests.infra.lab_host import hostvars

EVENT_HOST = "count-db"
DEADLINE_S = 5.0


def _shipper(host: Any) -> dict[str, Any]:
    variables = hostvars(host)
    if not variables.get("log_shipper_enabled", True) or not variables.get("log_shipper_collector_address"):
        pytest.skip("log_shipper is not enabled on this host")
    return variables


@pytest.mark.control("EF-LOG-3")
def test_rsyslog_ships_with_relp_and_keeps_its_key_private(host: Any) -> None:
    _shipper(host)
    assert host.package("rsyslog-relp").is_installed
    assert host.service("rsyslog").is_running
    with host.sudo():
        key = host.file("/etc/rsyslog.d/tls-shipper/host.key")
        assert key.exists and key.mode == 0o600 and key.user == "root"
        assert host.run("rsyslogd -N1").rc == 0


@pytest.mark.control("EF-LOG-5")
def test_running_shipper_has_the_inventory_cpu_weight(host: Any) -> None:
    variables = _shipper(host)
    weight = int(variables.get("log_shipper_cpu_weight", 100))
    # the kernel's view of the running service, not the drop-in's text
    cgroup = host.run("systemctl show -P ControlGroup rsyslog.service").stdout.strip()
    assert cgroup, "rsyslog has no control group"
    assert int(host.file(f"/sys/fs/cgroup{cgroup}/cpu.weight").content_string) == weight
    if variables["inventory_hostname"] == EVENT_HOST:
        # On the counting database the shipper yields to PostgreSQL: the kernel weighs
        # rsyslog against its sibling on PostgreSQL's path (system-postgresql.slice).
        parent = cgroup.rsplit("/", 1)[0]
        pg = host.run("systemctl show -P ControlGroup postgresql@15-main.service").stdout.strip()
        assert pg.startswith(parent + "/"), (pg, parent)
        sibling = parent + "/" + pg[len(parent) + 1:].split("/")[0]
        assert weight < int(host.file(f"/sys/fs/cgroup{sibling}/cpu.weight").content_string)


@pytest.mark.control("EF-LOG-6")
def test_running_shipper_reads_its_files_the_inventory_way(host: Any) -> None:
    # imfile in inotify mode holds an inotify instance; polling holds none (rsyslog
    # has no other inotify user here). The running process, not the file's text.
    watch = _shipper(host).get("log_shipper_file_watch", "inotify")
    pid = host.run("systemctl show -P MainPID rsyslog.service").stdout.strip()
    assert pid not in ("", "0"), "rsyslog is not running"
    fds = host.run(f"sudo ls -l /proc/{pid}/fd").stdout
    inotify = fds.count("anon_inode:inotify")
    assert (inotify > 0) == (watch == "inotify"), (watch, inotify)


@pytest.mark.control("EF-LOG-4")
@pytest.mark.writes
def test_audit_event_reaches_the_collector_within_5_seconds(host: Any) -> None:
    variables = _shipper(host)
    if variables["inventory_hostname"] != EVENT_HOST:
        pytest.skip(f"the audit event is made on {EVENT_HOST} only")
    monitoring = variables["groups"].get("monitoring") or []
    if not monitoring:
        pytest.skip("no monitoring host in the inventory")
    collector = host.get_host(f"ansible://{monitoring[0]}",
                                   ansible_inventory=host.backend.ansible_inventory)
    marker = f"/etc/election/logship-{uuid.uuid4().hex}"
    with host.sudo():
        host.check_output(f"mkdir -p /etc/election && touch {marker}")
    start = time.monotonic()
    day_file = f"/var/log/remote/{EVENT_HOST}/$(date +%F).log"
    found = False
    with collector.sudo():
        while time.monotonic() - start < DEADLINE_S + 2:  # + the ssh round trip of a slow VM
            if collector.run(f"grep -qF {marker} {day_file}").rc == 0:
                found = True
                break
            time.sleep(0.25)
    elapsed = time.monotonic() - start
    assert found, f"audit record of {marker} not stored on {monitoring[0]}"
    # the grep loop's own ssh latency counts against us, never for us
    assert elapsed <= DEADLINE_S + 2, f"stored after {elapsed:.1f} s"
