"""audit_trail on a lab host: the rules the KERNEL has loaded (auditctl), the
immutable flag, real audit records for a privileged command, auditd retention
settings, and a persistent journal."""

from __future__ import annotations

import uuid

import pytest

# Keys the rule set must contain (auditctl -l), one per audited area.
KEYS = ("scope", "user_emulation", "sudo_log_file", "time-change", "system-locale", "privileged",
        "access", "identity", "perm_mod", "mounts", "session", "logins", "delete", "perm_chng",
        "kernel_modules", "privileged_exec")
# The control each key serves (roles/audit_trail/README.md); privileged_exec is the counting system's own.
KEY_CONTROLS = {
    "scope": ("CIS-6.2.3.1",), "user_emulation": ("CIS-6.2.3.2",), "sudo_log_file": ("CIS-6.2.3.3",),
    "time-change": ("CIS-6.2.3.4",), "system-locale": ("CIS-6.2.3.5",), "privileged": ("CIS-6.2.3.6",),
    "access": ("CIS-6.2.3.7",), "identity": ("CIS-6.2.3.8",), "perm_mod": ("CIS-6.2.3.9",),
    "mounts": ("CIS-6.2.3.10",), "session": ("CIS-6.2.3.11",), "logins": ("CIS-6.2.3.12",),
    "delete": ("CIS-6.2.3.13",), "perm_chng": ("CIS-6.2.3.15", "CIS-6.2.3.16", "CIS-6.2.3.17"),
    "kernel_modules": ("CIS-6.2.3.19",), "privileged_exec": ("EF-AUD-1",),
}


@pytest.fixture(scope="module")
def loaded_rules(host) -> str:  # noqa: ANN001
    with host.sudo():
        return host.check_output("auditctl -l")


@pytest.mark.parametrize("key", [pytest.param(key, marks=pytest.mark.control(*KEY_CONTROLS[key])) for key in KEYS])
def test_rule_loaded_in_kernel(loaded_rules: str, key: str) -> None:
    assert f"-k {key}" in loaded_rules or f"key={key}" in loaded_rules


@pytest.mark.control("CIS-6.2.3.20")
@pytest.mark.writes
def test_rules_are_immutable(host) -> None:  # noqa: ANN001
    with host.sudo():
        status = host.check_output("auditctl -s")
        host.run("auditctl -w /etc/hostname -p wa -k should_be_refused")
        loaded = host.check_output("auditctl -l")
    assert "enabled 2" in status
    assert "should_be_refused" not in loaded, "the kernel accepted a rule change: the set is not immutable"


@pytest.mark.control("CIS-6.2.3.6", "EF-AUD-1")
def test_privileged_command_leaves_an_audit_record(host) -> None:  # noqa: ANN001
    """A command the operator runs through sudo is recorded with its arguments."""
    probe = f"AUDIT_PROBE_{uuid.uuid4().hex[:12]}"
    assert host.run(f"sudo -n /usr/bin/env {probe}=1 /usr/bin/true").rc == 0
    with host.sudo():
        found = host.run(f"ausearch --input-logs -i -k privileged_exec -ts recent | grep -c {probe}")
        sudo_use = host.run("ausearch --input-logs -i -k privileged -ts recent -x /usr/bin/sudo --just-one")
    assert found.rc == 0 and int(found.stdout.strip() or 0) > 0, "no audit record of the root command"
    assert sudo_use.rc == 0, "no audit record of the sudo execution"


@pytest.mark.control("CIS-6.2.1.2", "CIS-6.2.2.2", "EF-AUD-2")
def test_auditd_retention_keeps_counting(host) -> None:  # noqa: ANN001
    with host.sudo():
        text = host.check_output("cat /etc/audit/auditd.conf")
    conf = dict(line.replace(" ", "").split("=", 1) for line in text.splitlines()
                if "=" in line and not line.startswith("#"))
    assert conf["max_log_file_action"] == "keep_logs"
    assert conf["disk_full_action"] in ("suspend", "single", "halt")
    assert conf["space_left_action"] in ("syslog", "email", "exec", "single", "halt")
    assert host.service("auditd").is_enabled and host.service("auditd").is_running


@pytest.mark.control("CIS-6.1.2.4")
def test_journal_is_persistent(host) -> None:  # noqa: ANN001
    with host.sudo():
        out = host.check_output("systemd-analyze cat-config systemd/journald.conf")
        journal_dirs = host.check_output("ls /var/log/journal 2>/dev/null || true").split()
    assert "Storage=persistent" in out
    assert journal_dirs, "no persistent journal directory under /var/log/journal"


@pytest.mark.control("CIS-6.1.2.3", "CIS-6.1.2.4", "CIS-6.1.3.1", "CIS-6.1.3.2", "CIS-6.1.3.3")
def test_journald_settings_in_the_main_file_and_rsyslog_fed(host) -> None:  # noqa: ANN001
    """CIS 6.1.x: the settings sit in /etc/systemd/journald.conf (the file the benchmark's
    checks read), journald forwards to rsyslog, and rsyslog is running (6.1.3.x)."""
    conf = host.file("/etc/systemd/journald.conf").content_string
    for line in ("Storage=persistent", "Compress=yes", "ForwardToSyslog=yes"):
        assert line in conf, line
    assert host.package("rsyslog").is_installed
    assert host.service("rsyslog").is_enabled and host.service("rsyslog").is_running
