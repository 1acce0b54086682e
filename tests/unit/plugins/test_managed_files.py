"""election.freeze.managed_files on real temp files: write, check mode, backups, validate, restore."""

from __future__ import annotations

import json
import os
import stat

import pytest

from ansible_collections.election.freeze.plugins.modules import managed_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="writes files owned by root:root")


def _mode(path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


@pytest.fixture
def tree(tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "login.defs").write_text("UMASK 022\n")
    (etc / "crontab").write_text("# crontab\n")
    (etc / "crontab").chmod(0o644)
    (etc / "cron.deny").write_text("nobody\n")
    return tmp_path, etc


def test_writes_changed_files_once_and_backs_up_the_pristine_original(run_module, tree):
    root, etc = tree
    backup = root / "backup"
    args = {"backup_dir": str(backup), "files": [
        {"path": str(etc / "login.defs"), "content": "UMASK 027\n", "mode": "0644"},
        {"path": str(etc / "new.conf"), "content": "new\n", "mode": "0600"}]}
    res = run_module(managed_files.main, args)
    assert res["changed"] and sorted(res["changed_paths"]) == sorted([str(etc / "login.defs"), str(etc / "new.conf")])
    assert (etc / "login.defs").read_text() == "UMASK 027\n"
    assert _mode(etc / "new.conf") == 0o600
    manifest = json.loads((backup / "manifest.json").read_text())
    assert manifest == {str(etc / "login.defs"): "saved", str(etc / "new.conf"): "absent"}
    pristine = backup / str(etc / "login.defs").lstrip("/")
    assert pristine.read_text() == "UMASK 022\n"
    # second run: nothing to do; a later change keeps the FIRST (pristine) backup
    assert run_module(managed_files.main, args)["changed"] is False
    args["files"][0]["content"] = "UMASK 077\n"
    run_module(managed_files.main, args)
    assert pristine.read_text() == "UMASK 022\n"


def test_check_mode_reports_a_diff_and_writes_nothing(run_module, tree):
    root, etc = tree
    args = {"backup_dir": str(root / "backup"), "files": [
        {"path": str(etc / "login.defs"), "content": "UMASK 027\n"},
        {"path": str(etc / "cron.deny"), "state": "absent"}]}
    res = run_module(managed_files.main, args, check_mode=True)
    assert res["changed"] is True
    assert res["diff"][0]["before"] == "UMASK 022\n" and res["diff"][0]["after"] == "UMASK 027\n"
    assert (etc / "login.defs").read_text() == "UMASK 022\n"
    assert (etc / "cron.deny").exists()
    assert not (root / "backup").exists()


def test_a_file_that_fails_validation_never_lands(run_module, tree):
    root, etc = tree
    args = {"backup_dir": str(root / "backup"), "files": [
        {"path": str(etc / "login.defs"), "content": "broken\n", "validate": "/bin/false %s"}]}
    res = run_module(managed_files.main, args)
    assert res["failed"] and "validation of" in res["msg"]
    assert (etc / "login.defs").read_text() == "UMASK 022\n"
    assert not [p for p in os.listdir(etc) if p.startswith(".managed-files.")]  # no temp file left


def test_metadata_only_absent_and_missing_paths(run_module, tree):
    root, etc = tree
    args = {"backup_dir": str(root / "backup"), "files": [
        {"path": str(etc / "crontab"), "mode": "0600"},
        {"path": str(etc / "cron.hourly"), "mode": "0700"},  # missing: skipped, not created
        {"path": str(etc / "cron.deny"), "state": "absent"}]}
    res = run_module(managed_files.main, args)
    assert sorted(res["changed_paths"]) == sorted([str(etc / "crontab"), str(etc / "cron.deny")])
    assert _mode(etc / "crontab") == 0o600
    assert not (etc / "cron.hourly").exists() and not (etc / "cron.deny").exists()


def test_restore_puts_every_path_back_as_before_the_first_change(run_module, tree):
    root, etc = tree
    backup = str(root / "backup")
    run_module(managed_files.main, {"backup_dir": backup, "files": [
        {"path": str(etc / "login.defs"), "content": "UMASK 027\n"},
        {"path": str(etc / "new.conf"), "content": "new\n"},
        {"path": str(etc / "crontab"), "mode": "0600"},
        {"path": str(etc / "cron.deny"), "state": "absent"}]})
    res = run_module(managed_files.main, {"backup_dir": backup, "restore": True})
    assert res["changed"] is True
    assert (etc / "login.defs").read_text() == "UMASK 022\n"
    assert not (etc / "new.conf").exists()
    assert _mode(etc / "crontab") == 0o644
    assert (etc / "cron.deny").read_text() == "nobody\n"
    assert os.path.exists(os.path.join(backup, "manifest.json.restored"))
