"""System collectors against real data: a real dpkg database (in an alternate
admin dir the test writes in dpkg's own format), real listening sockets, and a
real /etc tree under an alternate root (how a mounted image is checked)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from freeze.drift import verify
from freeze.manifest import Manifest
from freeze.profile import load_profile
from freeze.snapshot import take_snapshot

OFF = {"packages": "{enabled: false}", "services": "{enabled: false}",
       "accounts": "{enabled: false}", "network": "{enabled: false}",
       "kernel": "{enabled: false}"}


def _profile(tmp_path: Path, body: str, **enable: str) -> Path:
    parts = dict(OFF, **enable)
    text = body + "\n" + "".join(f"{k}: {v}\n" for k, v in parts.items())
    p = tmp_path / "profile.yml"
    p.write_text(text)
    return p


def _stanza(name: str, version: str, status: str = "install ok installed") -> str:
    return (f"Package: {name}\nStatus: {status}\nPriority: optional\nSection: misc\n"
            f"Installed-Size: 10\nMaintainer: Test <t@example.org>\nArchitecture: all\n"
            f"Version: {version}\nDescription: test package {name}\n long description\n\n")


def _snap(p: Path):
    profile = load_profile(p)
    return Manifest.from_bytes(take_snapshot(profile).to_bytes()), profile


def test_new_and_upgraded_package_in_a_real_dpkg_database(tmp_path):
    admin = tmp_path / "dpkg"
    admin.mkdir()
    (admin / "status").write_text(_stanza("counter", "1.0-1") + _stanza("tally", "2.0-1")
                                  + _stanza("gone", "1", "deinstall ok config-files"))
    p = _profile(tmp_path, "paths: []",
                 packages=f"{{dpkg_admindir: {admin}}}")
    m, profile = _snap(p)
    pkgs = m.sections["packages"]
    assert set(pkgs) == {"deb:counter:all", "deb:tally:all", "deb:gone:all"}
    assert pkgs["deb:counter:all"] == {"version": "1.0-1", "status": "ii"}
    assert pkgs["deb:gone:all"]["status"] == "rc"  # removed, config files left: still recorded
    assert verify(m, profile).is_clean

    (admin / "status").write_text(_stanza("counter", "1.0-2") + _stanza("tally", "2.0-1")
                                  + _stanza("netcat-backdoor", "0.1"))
    report = verify(m, profile)
    assert report.find("added", "package", "deb:netcat-backdoor:all")
    assert report.find("removed", "package", "deb:gone:all")
    change = report.find("changed", "package", "deb:counter:all").changes[0]
    assert (change.attribute, change.old, change.new) == ("version", "1.0-1", "1.0-2")
    assert report.exit_code == 1 | 2 | 4


def test_real_package_database_is_read(tmp_path):
    if not Path("/var/lib/dpkg/status").exists():
        pytest.skip("not a dpkg system")
    p = _profile(tmp_path, "paths: []", packages="{enabled: true}")
    m, _ = _snap(p)
    assert any(k.startswith("deb:dpkg:") for k in m.sections["packages"])


def test_new_listening_socket_is_detected(tmp_path):
    p = _profile(tmp_path, "paths: []",
                 network="{sockets: true, routes: false, addresses: false, nftables: false}")
    m, profile = _snap(p)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp, \
            socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as udp:
        tcp.bind(("127.0.0.1", 0))
        tcp.listen()
        udp.bind(("::1", 0))
        tport, uport = tcp.getsockname()[1], udp.getsockname()[1]
        report = verify(m, profile)
    entry = report.find("added", "socket", f"tcp:127.0.0.1:{tport}")
    assert entry is not None and entry.section == "sockets"
    assert report.find("added", "socket", f"udp:[::1]:{uport}")
    # other processes on this machine may open sockets meanwhile; ours must be there


def _write_image(root: Path) -> None:
    etc = root / "etc"
    (etc / "sudoers.d").mkdir(parents=True)
    (etc / "cron.d").mkdir()
    (etc / "passwd").write_text("root:x:0:0:root:/root:/bin/bash\n"
                                "counter:x:1001:1001:Count svc:/srv/count:/usr/sbin/nologin\n")
    (etc / "group").write_text("root:x:0:\nsudo:x:27:\ncounter:x:1001:\n")
    (etc / "shadow").write_text("root:*:20000:0:99999:7:::\ncounter:!:20000:0:99999:7:::\n")
    os.chmod(etc / "shadow", 0o640)
    (etc / "sudoers").write_text("root ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n")
    os.chmod(etc / "sudoers", 0o440)
    (etc / "crontab").write_text("17 * * * * root cd / && run-parts /etc/cron.hourly\n")
    (etc / "machine-id").write_text("0123456789abcdef0123456789abcdef\n")
    (etc / "hostname").write_text("count-image\n")


def test_new_user_sudoers_and_cron_under_an_alternate_root(tmp_path):
    image = tmp_path / "image"
    _write_image(image)
    p = _profile(tmp_path, "root: " + str(image) + "\npaths: [/etc]",
                 accounts="{enabled: true}")
    m, profile = _snap(p)
    assert m.host == {"hostname": "count-image", "machine_id": "0123456789abcdef0123456789abcdef"}
    assert m.sections["users"]["counter"]["password"] == "locked"
    assert "/etc/passwd" in m.sections["files"]  # keys are paths as seen on the image
    assert "/etc/sudoers" in m.sections["sudoers"]
    assert verify(m, profile).is_clean

    etc = image / "etc"
    with open(etc / "passwd", "a") as fh:
        fh.write("mallory:x:0:0::/root:/bin/bash\n")
    with open(etc / "shadow", "a") as fh:
        fh.write("mallory:$y$j9T$salt$hash:20001:0:99999:7:::\n")
    with open(etc / "group", "a") as fh:
        fh.write("")
    (etc / "group").write_text("root:x:0:\nsudo:x:27:mallory\ncounter:x:1001:\n")
    (etc / "sudoers.d" / "mallory").write_text("mallory ALL=(ALL) NOPASSWD: ALL\n")
    (etc / "cron.d" / "beacon").write_text("* * * * * root curl example.org\n")
    report = verify(m, profile)
    user = report.find("added", "user", "mallory")
    assert user is not None and user.section == "users"
    group = report.find("changed", "group", "sudo").changes[0]
    assert (group.attribute, group.old, group.new) == ("members", [], ["mallory"])
    assert report.find("added", "sudoers", "/etc/sudoers.d/mallory")
    assert report.find("added", "cron", "/etc/cron.d/beacon")
    assert report.find("changed", "file", "/etc/passwd")
    assert "$y$" not in repr(report.to_dict())  # password hashes are never recorded


def test_alternate_root_says_network_kernel_and_unit_states_are_not_collected(tmp_path):
    """With `root` set to a mounted image, network and kernel sections were left out
    silently: the manifest looked like a host with nothing listening and no sysctl.
    They are named in `unavailable` (and the unit active states in facts)."""
    image = tmp_path / "image"
    _write_image(image)
    p = _profile(tmp_path, "root: " + str(image) + "\npaths: [/etc]",
                 network="{enabled: true}", kernel="{enabled: true, sysctls: [kernel.kptr_restrict]}")
    m, profile = _snap(p)
    for section in ("sockets", "interfaces", "addresses", "routes", "nftables", "sysctls", "modules",
                    "system"):
        assert section not in m.sections
        assert m.unavailable[section].startswith(f"not collected: root is {image}"), section
    report = verify(m, profile)
    assert report.is_clean and report.exit_code == 0
    assert any(n.startswith(f"sockets: not checked (not collected: root is {image}") for n in report.notes)
    # parts the profile turns off are not "unavailable": nothing was asked for
    p = _profile(tmp_path, "root: " + str(image) + "\npaths: [/etc]")
    m, _ = _snap(p)
    assert not {"sockets", "sysctls", "modules"} & set(m.unavailable)
