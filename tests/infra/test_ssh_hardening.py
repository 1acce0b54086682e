"""ssh_hardening on a lab host: effective sshd configuration and real behaviour.

These tests must FAIL on a host the role has not touched; scripts/test-lab.sh
proves that on a fresh VM before converging (tests/lab_tier/expect_failures.py).
"""

from __future__ import annotations

import subprocess

import paramiko
import pytest

from tests.infra.conftest import SshTarget

# Algorithms a hardened sshd must not offer: CBC and legacy ciphers, SHA-1 and
# 64-bit-tag MACs, SHA-1 / small-group / NIST-curve key exchange, SHA-1 signatures.
WEAK = {
    "ciphers": ("-cbc", "arcfour", "3des", "blowfish", "cast128", "rijndael"),
    "macs": ("md5", "hmac-sha1", "umac-64", "ripemd"),
    "kexalgorithms": ("sha1", "group1-", "group14-", "ecdh-sha2-nistp", "group-exchange"),
    "hostkeyalgorithms": ("ssh-rsa", "ssh-dss", "ecdsa-sha2-nistp", "-cert-v00"),
}
# CIS 5.1.6 / 5.1.15 / 5.1.12 name ciphers, MACs and key exchange; host key algorithms are ours.
WEAK_CONTROLS = {"ciphers": "CIS-5.1.6", "macs": "CIS-5.1.15", "kexalgorithms": "CIS-5.1.12",
                 "hostkeyalgorithms": "EF-SSH-2"}


@pytest.fixture(scope="module")
def sshd(host) -> dict[str, str]:  # noqa: ANN001
    """The effective sshd configuration (`sshd -T`, as root), keyword -> value."""
    with host.sudo():
        out = host.check_output("/usr/sbin/sshd -T")
    config: dict[str, str] = {}
    for line in out.splitlines():
        key, _, value = line.partition(" ")
        config.setdefault(key.lower(), value.strip())
    return config


@pytest.mark.control("CIS-5.1.20")
def test_root_login_refused(sshd: dict[str, str]) -> None:
    assert sshd["permitrootlogin"] == "no"


@pytest.mark.control("CIS-5.1.19", "EF-SSH-1")
def test_key_only_authentication(sshd: dict[str, str]) -> None:
    assert sshd["passwordauthentication"] == "no"
    assert sshd["kbdinteractiveauthentication"] == "no"
    assert sshd["permitemptypasswords"] == "no"
    assert sshd["pubkeyauthentication"] == "yes"


@pytest.mark.control("CIS-5.1.4")
def test_allowusers_keeps_the_operator(sshd: dict[str, str], ssh_target: SshTarget) -> None:
    assert ssh_target.user in sshd.get("allowusers", "").split()


@pytest.mark.parametrize("keyword", [pytest.param(k, marks=pytest.mark.control(WEAK_CONTROLS[k]))
                                     for k in sorted(WEAK)])
def test_no_weak_algorithms(sshd: dict[str, str], keyword: str) -> None:
    offered = sshd[keyword].split(",")
    weak = [alg for alg in offered if any(marker in alg for marker in WEAK[keyword])]
    assert not weak, f"{keyword} offers weak algorithms: {weak}"


@pytest.mark.control("CIS-5.1.8", "CIS-5.1.10", "CIS-5.1.11", "CIS-5.1.14", "CIS-5.1.16", "CIS-5.1.17",
                     "CIS-5.1.21", "EF-SSH-3")
def test_session_limits_and_no_forwarding(sshd: dict[str, str]) -> None:
    assert sshd["disableforwarding"] == "yes"
    for keyword in ("allowtcpforwarding", "allowagentforwarding", "x11forwarding",
                    "allowstreamlocalforwarding", "tcpkeepalive", "compression"):
        assert sshd[keyword] == "no", keyword
    assert int(sshd["maxsessions"]) <= 2
    assert int(sshd["maxauthtries"]) <= 4
    assert sshd["loglevel"] in ("VERBOSE", "INFO")
    assert sshd["permituserenvironment"] == "no"
    assert sshd["hostbasedauthentication"] == "no"
    assert sshd["ignorerhosts"] == "yes"


@pytest.mark.control("CIS-5.1.1")
def test_sshd_config_only_root_can_read(host) -> None:  # noqa: ANN001
    config = host.file("/etc/ssh/sshd_config")
    assert config.user == "root" and config.group == "root"
    assert config.mode == 0o600


@pytest.mark.control("EF-SSH-4")
def test_service_activation(host) -> None:  # noqa: ANN001
    assert host.service("ssh.service").is_enabled
    assert host.service("ssh.service").is_running
    assert not host.service("ssh.socket").is_enabled


@pytest.mark.control("EF-SSH-1")
def test_password_login_is_refused(ssh_target: SshTarget, operator_password: str | None) -> None:
    """Even the operator's REAL password is refused: only keys are accepted."""
    transport = paramiko.Transport((ssh_target.hostname, ssh_target.port))
    try:
        transport.start_client(timeout=30)
        with pytest.raises(paramiko.BadAuthenticationType) as offered:
            transport.auth_none(ssh_target.user)
        assert offered.value.allowed_types == ["publickey"]
        with pytest.raises(paramiko.AuthenticationException):
            transport.auth_password(ssh_target.user, operator_password or "not-the-password")
        assert not transport.is_authenticated()
    finally:
        transport.close()


@pytest.mark.control("EF-LOCK-1")
def test_key_login_and_sudo_still_work(ssh_target: SshTarget) -> None:
    """A brand-new connection (no multiplexing) with the operator's key, then sudo."""
    assert ssh_target.key_file, "the inventory names no private key"
    cmd = ["ssh", "-i", ssh_target.key_file, "-p", str(ssh_target.port),
           "-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "ControlPath=none",
           "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
           "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=30",
           f"{ssh_target.user}@{ssh_target.hostname}", "sudo -n true && echo key-login-ok"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "key-login-ok"
