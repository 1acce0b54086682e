"""wazuh_agent on a lab host: the package installed offline (the lab repository's
stand-in, see roles/wazuh_agent/README.md), the live configuration and its
permissions, the enrollment secret kept out of logs, exactly one enrollment, the
who-data audit rules loaded in the kernel under the immutable flag, and a real
write to a who-data directory reaching the agent through auditd's dispatcher with
the person who made it."""

from __future__ import annotations

import time
import uuid
import xml.etree.ElementTree as ET

import pytest

from tests.infra.lab_host import hostvars

CONF = "/var/ossec/etc/ossec.conf"


@pytest.fixture(scope="module")
def conf(host) -> ET.Element:  # noqa: ANN001
    hostvars(host)  # skips outside the lab
    with host.sudo():
        text = host.check_output(f"cat {CONF}")
    return ET.fromstring(f"<root>{text}</root>")


@pytest.mark.control("EF-WAZ-1")
def test_agent_installed_offline_and_running(host) -> None:  # noqa: ANN001
    hostvars(host)
    pkg = host.package("wazuh-agent")
    assert pkg.is_installed
    svc = host.service("wazuh-agent")
    assert svc.is_enabled and svc.is_running
    with host.sudo():
        sources = host.check_output("cat /etc/apt/sources.list.d/*.list")
    assert "wazuh.com" not in sources, "the agent must come from the local repository, not Wazuh's online one"


@pytest.mark.control("EF-WAZ-2")
def test_configuration_is_private_and_names_the_managers(host, conf: ET.Element) -> None:  # noqa: ANN001
    with host.sudo():  # /var/ossec/etc is 0750 root:wazuh
        f = host.file(CONF)
        assert (f.user, f.group, f.mode) == ("root", "wazuh", 0o640)
    want = [m["address"] for m in hostvars(host)["wazuh_agent_managers"]]
    assert [s.findtext("address") for s in conf.iter("server")] == want
    assert conf.findtext("./ossec_config/active-response/disabled") == "yes"
    with host.sudo():
        assert host.run(f"/var/ossec/bin/wazuh-agentd -t -c {CONF}").rc == 0


@pytest.mark.control("EF-WAZ-3")
def test_enrollment_secret_is_a_private_file_and_in_no_log(host, conf: ET.Element) -> None:  # noqa: ANN001
    hostvars(host)
    with host.sudo():
        f = host.file("/var/ossec/etc/authd.pass")
        assert (f.user, f.group, f.mode) == ("root", "wazuh", 0o640)
    assert conf.findtext("./ossec_config/client/enrollment/authorization_pass_path") == "etc/authd.pass"
    with host.sudo():
        assert len(host.check_output("cat /var/ossec/etc/authd.pass").strip()) >= 16
        # grep -f reads the secret from the file: putting it in argv would itself
        # leak it into the audit log (execve records) and the sudo log. The messages
        # only (-o cat: what a leak would be in) and byte matching (LC_ALL=C; the
        # secret is ASCII): half the time of a UTF-8 grep over the formatted journal
        # on an emulated VM (16.7 s -> 7.9 s over 77 MB of logs, measured)
        leaks = host.run("journalctl --no-pager -q -o cat | LC_ALL=C grep -cFf /var/ossec/etc/authd.pass; "
                         "LC_ALL=C grep -rlFf /var/ossec/etc/authd.pass /var/log /var/ossec/logs")
    assert leaks.stdout.split()[0] == "0" and len(leaks.stdout.split()) == 1, "the enrollment password is in a log"


@pytest.mark.control("EF-WAZ-4")
def test_enrolled_exactly_once_with_the_inventory_identity(host) -> None:  # noqa: ANN001
    name = hostvars(host).get("wazuh_agent_name", host.backend.host)
    with host.sudo():
        keys = host.check_output("cat /var/ossec/etc/client.keys").splitlines()
        enrolled = host.check_output("grep -c 'enrolled as' /var/ossec/logs/ossec.log || true")
    assert len(keys) == 1 and keys[0].split()[1] == str(name)
    assert enrolled.strip() == "1", "the agent enrolled again on a later run"


@pytest.mark.control("EF-WAZ-5")
def test_whodata_rules_are_in_the_immutable_kernel_rule_set(host, conf: ET.Element) -> None:  # noqa: ANN001
    hostvars(host)
    keys = {k.text for k in conf.iter("audit_key")}
    whodata_dirs = [d.text for d in conf.iter("directories") if d.get("whodata") == "yes"]
    assert whodata_dirs, "no who-data directory configured"
    with host.sudo():
        rules = host.check_output("auditctl -l")
        status = host.check_output("auditctl -s")
    assert "enabled 2" in status
    for path in whodata_dirs:
        lines = [line for line in rules.splitlines() if line.startswith(f"-w {path} ")]
        assert lines, f"no audit watch on who-data directory {path}"
        assert any(f"-k {k}" in lines[0] for k in keys), f"{path}: watch key not read by the agent: {lines[0]}"


@pytest.mark.control("EF-WAZ-6")
@pytest.mark.writes
def test_a_write_reaches_the_agent_with_who_made_it(host) -> None:  # noqa: ANN001
    hostvars(host)
    marker = f"whodata-probe-{uuid.uuid4().hex[:10]}"
    path = f"/etc/election/{marker}"
    assert host.run(f"sudo -n mkdir -p /etc/election && sudo -n touch {path}").rc == 0
    try:
        found = ""
        for _ in range(10):  # within 5 s
            with host.sudo():
                found = host.run(f"grep -F -- '{marker}' /var/ossec/logs/whodata.log || true").stdout
            if found:
                break
            time.sleep(0.5)
        assert found, "the write never reached the agent's audit socket"
        with host.sudo():
            log = host.check_output("cat /var/ossec/logs/whodata.log")
        # the event of the write: every record with the serial of the PATH record naming the file
        serial = next(line.split("msg=audit(", 1)[1].split(")", 1)[0]
                      for line in log.splitlines() if marker in line and "msg=audit(" in line)
        event = "\n".join(line for line in log.splitlines() if f"msg=audit({serial})" in line)
        assert "type=SYSCALL" in event and 'exe="/usr/bin/touch"' in event
        assert "auid=1000" in event, "who-data lost the person behind sudo (auid)"
    finally:
        host.run(f"sudo -n rm -f {path}")
