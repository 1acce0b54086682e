"""election.freeze.state_probe against this machine's real dpkg, systemctl, files and mounts."""

from __future__ import annotations

import hashlib
import os
import shutil

import pytest

from ansible_collections.election.freeze.plugins.module_utils import host_state
from ansible_collections.election.freeze.plugins.modules import state_probe

needs_dpkg = pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian host")


@needs_dpkg
def test_packages_installed_and_unknown(run_module):
    res = run_module(state_probe.main, {"packages": ["dpkg", "no-such-package-xyz"]})
    assert res["changed"] is False
    assert res["packages"]["dpkg"]["status"] == "installed"
    assert res["packages"]["dpkg"]["version"]
    assert res["packages"]["no-such-package-xyz"] == {"status": "not-installed", "version": ""}


def test_files_report_hash_mode_owner_and_absence(run_module, tmp_path):
    f = tmp_path / "sshd_config"
    f.write_text("Port 22\n")
    f.chmod(0o600)
    (tmp_path / "dir").mkdir(mode=0o755)
    (tmp_path / "link").symlink_to(f)
    res = run_module(state_probe.main, {"files": [str(f), str(tmp_path / "dir"), str(tmp_path / "link"),
                                                  str(tmp_path / "missing")]})
    info = res["files"][str(f)]
    assert info["type"] == "file" and info["mode"] == "0600" and info["size"] == 8
    assert info["sha256"] == hashlib.sha256(b"Port 22\n").hexdigest()
    assert info["owner"] == host_state._name(__import__("pwd").getpwuid, os.getuid())
    assert res["files"][str(tmp_path / "dir")]["type"] == "directory"
    assert "sha256" not in res["files"][str(tmp_path / "dir")]
    link = res["files"][str(tmp_path / "link")]
    assert link["type"] == "link" and link["target"] == str(f)  # a final symlink is not followed
    assert res["files"][str(tmp_path / "missing")] == {"exists": False}


def test_mounts_read_from_the_live_mount_table(run_module):
    res = run_module(state_probe.main, {"mounts": ["/proc", "/no/such/mountpoint"]})
    assert res["mounts"]["/proc"]["mounted"] is True
    assert res["mounts"]["/proc"]["fstype"] == "proc"
    assert res["mounts"]["/no/such/mountpoint"] == {"mounted": False, "options": []}


@pytest.mark.skipif(shutil.which("systemctl") is None, reason="no systemctl")
def test_units_report_unit_file_state_even_without_a_running_systemd(run_module):
    res = run_module(state_probe.main, {"units": ["no-such-unit-xyz.service"]})
    assert res["units"]["no-such-unit-xyz.service"]["enabled"] == "not-found"


def test_commands_run_without_a_shell_and_report_rc(run_module):
    res = run_module(state_probe.main, {"commands": {"echo": ["echo", "a;b"], "fails": ["false"],
                                                     "absent": ["no-such-program-xyz", "-l"]}})
    assert res["commands"]["echo"]["stdout"] == "a;b\n"  # no shell: ';' is literal
    assert res["commands"]["fails"]["rc"] == 1
    assert res["commands"]["absent"]["rc"] == 127  # not installed yet: an answer, not a failure


def test_check_mode_reports_the_same_and_never_changes(run_module, tmp_path):
    f = tmp_path / "x"
    f.write_text("x")
    args = {"files": [str(f)]}
    assert run_module(state_probe.main, args, check_mode=True)["files"] == run_module(state_probe.main, args)["files"]
    assert run_module(state_probe.main, args, check_mode=True)["changed"] is False


def test_accounts_never_return_a_password_hash(run_module, tmp_path, monkeypatch):
    shadow = tmp_path / "shadow"
    shadow.write_text("root:*:19000:0:99999:7:::\n"
                      "alice:$y$j9T$salt$hash:19000:1:365:7:45::\n"
                      "bob::19000:0:99999:7:::\n"
                      "svc:!$6$old$hash:19000:0:99999:7:::\n")
    monkeypatch.setattr(state_probe, "SHADOW", str(shadow))
    res = run_module(state_probe.main, {"accounts": True})
    assert res["accounts"]["alice"] == {"password": "usable", "min_days": "1", "max_days": "365",
                                        "warn_days": "7", "inactive_days": "45"}
    assert res["accounts"]["root"]["password"] == "locked"
    assert res["accounts"]["svc"]["password"] == "locked"
    assert res["accounts"]["bob"]["password"] == "empty"
    assert "$y$" not in str(res) and "hash" not in str(res["accounts"])


def test_systemctl_show_blocks_map_to_units_in_order():
    out = ("LoadState=loaded\nActiveState=active\nUnitFileState=enabled\n\n"
           "LoadState=not-found\nActiveState=inactive\nUnitFileState=\n")
    assert host_state.parse_systemctl_show(out, ["ssh.service", "gone.service"]) == {
        "ssh.service": {"enabled": "enabled", "active": "active", "loaded": "loaded"},
        "gone.service": {"enabled": "not-found", "active": "inactive", "loaded": "not-found"},
    }
    assert host_state.parse_systemctl_show(out, ["only-one.service"]) is None


def test_mount_table_escapes_and_stacked_mounts():
    text = ("tmpfs /tmp tmpfs rw,nosuid 0 0\n"
            "tmpfs /tmp tmpfs rw,nosuid,nodev,noexec 0 0\n"
            "/dev/sda1 /mnt/with\\040space ext4 rw 0 0\n")
    mounts = host_state.parse_mounts(text, ["/tmp", "/mnt/with space"])
    assert mounts["/tmp"]["options"] == ["rw", "nosuid", "nodev", "noexec"]  # the last mount is live
    assert mounts["/mnt/with space"]["mounted"] is True
