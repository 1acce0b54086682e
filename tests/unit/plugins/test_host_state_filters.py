"""Filters of election.freeze over a REAL state_probe result (temp files, this host's dpkg)."""

from __future__ import annotations

import os
import pwd
import grp
import shutil

import pytest

from ansible_collections.election.freeze.plugins.filter import host_state as f
from ansible_collections.election.freeze.plugins.modules import state_probe

ME = pwd.getpwuid(os.getuid()).pw_name
MY_GROUP = grp.getgrgid(os.getgid()).gr_name


@pytest.fixture
def probed(run_module, tmp_path):
    conf = tmp_path / "app.conf"
    conf.write_text("key = value\n")
    conf.chmod(0o640)
    args = {"files": [str(conf), str(tmp_path / "absent")], "mounts": ["/proc", "/nowhere"]}
    if shutil.which("dpkg-query"):
        args["packages"] = ["dpkg", "no-such-package-xyz"]
    return run_module(state_probe.main, args), conf


def test_file_differs_on_content_mode_owner_and_absence(probed):
    probe, conf = probed
    path = str(conf)
    assert not f.file_differs(probe, path, content="key = value\n", mode="0640", owner=ME, group=MY_GROUP)
    assert not f.file_differs(probe, path, mode=0o640)  # an unquoted YAML octal arrives as int
    assert not f.file_differs(probe, path, mode="640")
    assert f.file_differs(probe, path, content="key = other\n")
    assert f.file_differs(probe, path, mode="0600")
    assert f.file_differs(probe, path, owner="no-such-owner")
    assert f.file_differs(probe, path, type="directory")
    assert f.file_differs(probe, str(conf.parent / "absent"))
    assert f.file_differs(probe, "/never/probed")


def test_files_differing_names_what_managed_files_would_change(probed):
    probe, conf = probed
    path, absent = str(conf), str(conf.parent / "absent")
    same = {"path": path, "content": "key = value\n", "mode": "0640", "owner": ME, "group": MY_GROUP}
    assert f.files_differing(probe, [same]) == []
    assert f.files_differing(probe, [dict(same, content="key = other\n")]) == [path]
    assert f.files_differing(probe, [dict(same, mode="0600")]) == [path]
    # managed_files defaults owner and group to root
    assert f.files_differing(probe, [{"path": path, "content": "key = value\n", "mode": "0640"}]) == (
        [] if (ME, MY_GROUP) == ("root", "root") else [path])
    assert f.files_differing(probe, [same, {"path": absent, "content": "x\n"}]) == [absent]
    # metadata-only specs ignore a missing path; absent specs name an existing one
    assert f.files_differing(probe, [{"path": absent, "mode": "0600"}]) == []
    assert f.files_differing(probe, [{"path": absent, "state": "absent"}]) == []
    assert f.files_differing(probe, [{"path": path, "state": "absent"}]) == [path]


@pytest.mark.skipif(shutil.which("dpkg-query") is None, reason="not a Debian host")
def test_missing_and_installed_packages(probed):
    probe, _ = probed
    assert f.missing_packages(probe, ["dpkg", "no-such-package-xyz"]) == ["no-such-package-xyz"]
    assert f.installed_packages(probe, ["dpkg", "no-such-package-xyz"]) == ["dpkg"]
    # a package the probe was never asked about counts as missing, never as installed
    assert f.missing_packages(probe, ["bash"]) == ["bash"]
    assert f.installed_packages(probe, ["bash"]) == []


def test_config_files_only_package_counts_as_removed():
    probe = {"packages": {"ufw": {"status": "config-files", "version": ""}}}
    assert f.installed_packages(probe, ["ufw"]) == []
    assert f.missing_packages(probe, ["ufw"]) == ["ufw"]
    # a purge wants its conffiles gone too
    assert f.installed_packages(probe, ["ufw"], with_config_files=True) == ["ufw"]


def test_mounts_lacking_and_existing_paths(probed):
    probe, conf = probed
    assert f.mounts_lacking(probe, {"/proc": ["rw"], "/nowhere": ["nodev"]}) == ["/nowhere"]
    assert f.mounts_lacking(probe, {"/proc": ["rw", "noexec-not-there"]}) == ["/proc"]
    assert f.existing_paths(probe, [str(conf), str(conf.parent / "absent")]) == [str(conf)]


def test_unit_differs():
    probe = {"units": {"ssh.service": {"enabled": "enabled", "active": "active"},
                       "ssh.socket": {"enabled": "disabled", "active": "inactive"}}}
    assert not f.unit_differs(probe, "ssh.service", enabled=True, active=True)
    assert not f.unit_differs(probe, "ssh.socket", enabled=False, active=False)
    assert not f.unit_differs(probe, "ssh.service", enabled=True)
    assert f.unit_differs(probe, "ssh.socket", enabled=True)
    assert f.unit_differs(probe, "ssh.service", active="inactive")
    assert f.unit_differs(probe, "other.service", enabled=True)


def test_accounts_to_age_skips_locked_empty_exempt_and_already_aged():
    probe = {"accounts": {
        "alice": {"password": "usable", "min_days": "0", "max_days": "99999", "warn_days": "7", "inactive_days": ""},
        "aged": {"password": "usable", "min_days": "1", "max_days": "365", "warn_days": "7", "inactive_days": "45"},
        "labadmin": {"password": "usable", "min_days": "0", "max_days": "99999", "warn_days": "7", "inactive_days": ""},
        "daemon": {"password": "locked", "min_days": "0", "max_days": "99999", "warn_days": "7", "inactive_days": ""},
        "bob": {"password": "empty", "min_days": "", "max_days": "", "warn_days": "", "inactive_days": ""},
    }}
    assert f.accounts_to_age(probe, 1, 365, 7, 45, exempt=["root", "labadmin"]) == ["alice"]


def test_to_dicts():
    assert f.to_dicts(["/etc/motd", "/etc/issue"], "path", mode="0644") == [
        {"path": "/etc/motd", "mode": "0644"}, {"path": "/etc/issue", "mode": "0644"}]


def test_a_non_probe_input_is_a_clear_error():
    from ansible.errors import AnsibleFilterError
    with pytest.raises(AnsibleFilterError):
        f.missing_packages("stdout text", ["x"])


def test_for_groups_keeps_ungrouped_and_matching_entries():
    items = [{"path": "/a"}, {"path": "/db", "groups": ["counting_db"]}, {"path": "/web", "groups": ["results_web"]}]
    assert [i["path"] for i in f.for_groups(items, ["counting_servers", "counting_db"])] == ["/a", "/db"]
    assert [i["path"] for i in f.for_groups(items, [])] == ["/a"]


def test_audit_watched_paths_reads_keys_of_loaded_watches():
    rules = ("-a always,exit -F arch=b64 -S execve -F euid=0 -F auid>=1000 -F key=privileged_exec\n"
             "-w /etc/election/ -p wa -k election_config\n"
             "-w /opt/other -p wa -k wazuh_fim\n"
             "-w /etc/passwd -p wa -k identity\n")
    assert f.audit_watched_paths(rules, ["wazuh_fim", "election_config"]) == ["/etc/election", "/opt/other"]
    assert f.audit_watched_paths(rules, ["nothing"]) == []


def test_watchable_paths_need_the_path_or_its_parent():
    probe = {"files": {"/etc/nginx": {"exists": False}, "/etc": {"exists": True},
                       "/opt/election": {"exists": False}, "/opt": {"exists": False},
                       "/var/x": {"exists": True}, "/var": {"exists": True}}}
    paths = ["/etc/nginx", "/opt/election", "/var/x"]
    assert f.watchable_paths(probe, paths) == ["/etc/nginx", "/var/x"]
    assert f.parent_dirs(paths + ["/etc/nginx/"]) == ["/etc", "/opt", "/var"]
