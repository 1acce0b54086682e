"""Snapshot then verify against real files: each kind of file change is detected
with the right category, kind and attribute, and an untouched tree stays clean."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from freeze.drift import compare, verify
from freeze.errors import NoInputError
from freeze.manifest import Manifest
from freeze.profile import load_profile
from freeze.snapshot import take_snapshot
from tests.profiles import ONLY_FILES


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    root = tmp_path / "app"
    (root / "bin").mkdir(parents=True)
    (root / "conf").mkdir()
    (root / "log").mkdir()
    (root / "cache").mkdir()
    (root / "bin" / "count").write_bytes(b"#!/bin/sh\necho count\n")
    os.chmod(root / "bin" / "count", 0o755)
    (root / "conf" / "app.conf").write_text("threshold = 10\n")
    (root / "conf" / "old.conf").write_text("legacy\n")
    (root / "conf" / "skip.tmp").write_text("ignored by an exclude glob\n")
    (root / "conf" / "current").symlink_to("app.conf")
    (root / "log" / "app.log").write_text("line 1\n")
    (root / "cache" / "blob").write_bytes(os.urandom(3 * 1024 * 1024 + 17))
    big = root / "bin" / "big.bin"
    with open(big, "wb") as fh:  # bigger than osquery's 50 MiB read_max: hashed anyway
        fh.truncate(60 * 1024 * 1024)
        fh.seek(30 * 1024 * 1024)
        fh.write(b"middle")
    profile = tmp_path / "profile.yml"
    profile.write_text(f"""
name: files-test
paths:
  - path: {root}
    exclude: ["*.tmp"]
  - path: {root}/log
    volatility: growing
  - path: {root}/cache
    volatility: excluded
{ONLY_FILES}""")
    return root, profile


def _snap(profile_path: Path, **kw) -> tuple[Manifest, object]:
    profile = load_profile(profile_path)
    m = take_snapshot(profile, **kw)
    # what verify reads is what snapshot wrote: go through bytes
    return Manifest.from_bytes(m.to_bytes()), profile


def test_snapshot_records_what_aide_records(tree):
    root, profile_path = tree
    os.setxattr(root / "conf" / "app.conf", "user.origin", b"ceremony")
    m, _ = _snap(profile_path)
    files = m.sections["files"]
    count = files[f"{root}/bin/count"]
    assert count["type"] == "file" and count["mode"] == "0755" and count["size"] == 21
    import hashlib
    assert count["sha256"] == hashlib.sha256(b"#!/bin/sh\necho count\n").hexdigest()
    assert {"uid", "gid", "mtime_ns", "ctime_ns", "inode", "nlink"} <= set(count)
    assert files[f"{root}/conf/current"] == {**files[f"{root}/conf/current"], "type": "symlink",
                                             "target": "app.conf"}
    assert files[f"{root}/conf/app.conf"]["xattrs"] == {"user.origin": b"ceremony".hex()}
    big = hashlib.sha256()
    with open(root / "bin" / "big.bin", "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            big.update(chunk)
    assert files[f"{root}/bin/big.bin"]["sha256"] == big.hexdigest()
    assert f"{root}/conf/skip.tmp" not in files  # exclude glob
    assert not any(p.startswith(f"{root}/cache") for p in files)  # excluded class
    assert files[f"{root}/conf"]["type"] == "dir"


def test_every_kind_of_file_change_is_detected(tree):
    root, profile_path = tree
    m, profile = _snap(profile_path)

    conf = root / "conf" / "app.conf"
    st = os.stat(conf)
    conf.write_text("threshold = 99\n")  # same size, different content
    os.utime(conf, ns=(st.st_atime_ns, st.st_mtime_ns))  # mtime restored, like touch -r
    os.chmod(root / "bin" / "count", 0o4755)
    os.chown(root / "conf" / "old.conf", 12345, 12345)
    (root / "conf" / "new.conf").write_text("added\n")
    os.unlink(root / "bin" / "big.bin")
    (root / "conf" / "current").unlink()
    (root / "conf" / "current").symlink_to("old.conf")
    (root / "cache" / "more").write_text("excluded: never reported\n")
    os.setxattr(root / "bin" / "count", "system.posix_acl_access", bytes.fromhex(
        "02000000" "01000700ffffffff" "04000500ffffffff" "10000500ffffffff" "20000500ffffffff"))

    report = verify(m, profile)
    by_key = {(e.category, e.key): e for e in report.entries}

    changed = by_key[("changed", str(conf))]
    attrs = {c.attribute for c in changed.changes}
    assert "sha256" in attrs and "mtime_ns" not in attrs and "size" not in attrs
    assert changed.kind == "file"
    count_attrs = {c.attribute: (c.old, c.new)
                   for c in by_key[("changed", f"{root}/bin/count")].changes}
    assert count_attrs["mode"] == ("0755", "4755")
    assert "acl_access" in count_attrs
    owner = {c.attribute: (c.old, c.new) for c in by_key[("changed", f"{root}/conf/old.conf")].changes}
    assert owner["uid"][1] == 12345 and owner["gid"][1] == 12345
    assert ("added", f"{root}/conf/new.conf") in by_key
    assert ("removed", f"{root}/bin/big.bin") in by_key
    link = {c.attribute: (c.old, c.new) for c in by_key[("changed", f"{root}/conf/current")].changes}
    assert link["target"] == ("app.conf", "old.conf")
    assert not any("cache" in key for _, key in by_key)
    assert report.exit_code == 1 | 2 | 4


def test_growing_log_may_grow_but_not_be_rewritten(tree):
    root, profile_path = tree
    m, profile = _snap(profile_path)
    log = root / "log" / "app.log"
    with open(log, "a") as fh:
        fh.write("line 2\n")
    (root / "log" / "app.log.1").write_text("rotated\n")  # new files are still reported
    report = verify(m, profile)
    assert [(e.category, e.key) for e in report.entries] == [("added", f"{root}/log/app.log.1")]

    (root / "log" / "app.log.1").unlink()
    with open(log, "r+") as fh:  # rewrite history in place, keep the size growing
        fh.write("LINE 1")
    report = verify(m, profile)
    entry = report.find("changed", "file", str(log))
    assert entry is not None and entry.changes[0].attribute.startswith("content (growing")

    log.write_text("x")  # truncated
    report = verify(m, profile)
    assert "shrank" in report.find("changed", "file", str(log)).changes[0].attribute


def test_untouched_tree_verifies_clean_three_times(tree):
    root, profile_path = tree
    m, profile = _snap(profile_path)
    for _ in range(3):
        report = verify(m, profile)
        assert report.is_clean, report.to_dict()
        assert report.exit_code == 0


def test_profile_path_that_does_not_exist_is_noinput(tmp_path):
    p = tmp_path / "p.yml"
    p.write_text(f"paths: [{tmp_path}/missing]\n{ONLY_FILES}")
    with pytest.raises(NoInputError) as exc:
        take_snapshot(load_profile(p))
    assert "missing" in str(exc.value)


def test_nested_rules_longest_wins_and_nonrecursive(tmp_path):
    (tmp_path / "a" / "b" / "c").mkdir(parents=True)
    (tmp_path / "a" / "b" / "c" / "deep").write_text("d")
    (tmp_path / "a" / "top").write_text("t")
    p = tmp_path / "p.yml"
    p.write_text(f"paths:\n  - {{path: {tmp_path}/a, recursive: false}}\n{ONLY_FILES}")
    m, _ = _snap(p)
    assert set(m.sections["files"]) == {f"{tmp_path}/a", f"{tmp_path}/a/b", f"{tmp_path}/a/top"}
    assert compare(m, m).is_clean


def test_growing_prefix_and_whole_hash_in_one_read(tmp_path):
    import hashlib

    from freeze.collect.files import hash_fd_with_prefix

    f = tmp_path / "log"
    data = os.urandom(3 * (1 << 20) + 5)
    f.write_bytes(data)
    for prefix in (0, 1, 1 << 20, (1 << 20) + 1, len(data), len(data) + 10):
        fd = os.open(f, os.O_RDONLY)
        try:
            head, whole = hash_fd_with_prefix(fd, prefix)
        finally:
            os.close(fd)
        assert whole == hashlib.sha256(data).hexdigest()
        assert head == hashlib.sha256(data[:prefix]).hexdigest()


def test_malformed_passwd_is_a_data_error(tmp_path):
    from freeze.errors import InputError

    (tmp_path / "img" / "etc").mkdir(parents=True)
    (tmp_path / "img" / "etc" / "passwd").write_text("root:x:zero:0:root:/root:/bin/sh\n")
    p = tmp_path / "p.yml"
    p.write_text(f"root: {tmp_path}/img\npaths: []\npackages: {{enabled: false}}\n"
                 "services: {enabled: false}\n")
    with pytest.raises(InputError) as exc:
        take_snapshot(load_profile(p))
    assert "passwd:1: field 3 is not a number" in str(exc.value)


def test_open_first_fast_path_records_the_same_as_lstat_path(tree, monkeypatch):
    """The listing's d_type only picks the fast path; both paths record the same."""
    from freeze.collect import files
    from freeze.collect.files import describe

    root, _ = tree
    app = root / "conf" / "app.conf"
    os.setxattr(app, "user.origin", b"ceremony")
    os.setxattr(app, "system.posix_acl_access", bytes.fromhex(
        "02000000" "0100060000000000" "0200040039050000" "0400040000000000"
        "1000060000000000" "2000040000000000"))
    os.mkfifo(root / "conf" / "pipe")
    for path in (app, root / "bin" / "count", root / "bin" / "big.bin"):
        fast, slow = describe(str(path), likely_file=True), describe(str(path))
        assert fast == slow and fast["type"] == "file" and "sha256" in fast
    assert "acl_access" in describe(str(app), likely_file=True)
    # the hint really takes the open-first path: no lstat for a regular file
    slow = describe(str(app))
    with monkeypatch.context() as m:
        m.setattr(files.os, "lstat", lambda *a, **k: pytest.fail("lstat on the fast path"))
        assert describe(str(app), likely_file=True) == slow
    # a wrong hint never blocks on a FIFO, never reads it, never follows a link
    assert describe(str(root / "conf" / "pipe"), likely_file=True)["type"] == "fifo"
    link = describe(str(root / "conf" / "current"), likely_file=True)
    assert link["type"] == "symlink" and "sha256" not in link


@pytest.mark.parametrize("told,actual", [(3, 10), (10, 3), (5, 5), (1 << 16, (1 << 16) + 9)])
def test_small_file_read_never_trusts_the_recorded_size(tmp_path, told, actual):
    """One read for small files stops only when the file really ended at fstat's size."""
    import hashlib

    from freeze.collect.files import _hash_into

    f = tmp_path / "f"
    data = os.urandom(actual)
    f.write_bytes(data)
    entry = {"size": told}  # what fstat said a moment earlier (it grew or shrank since)
    fd = os.open(f, os.O_RDONLY)
    try:
        _hash_into(entry, fd, None)
    finally:
        os.close(fd)
    assert entry["sha256"] == hashlib.sha256(data).hexdigest()


def test_large_directory_is_shared_out_and_every_path_recorded_once(tmp_path, monkeypatch):
    """A task hands back what exceeds its budget; the scan still records each path once."""
    from freeze.collect import files

    big = tmp_path / "big"
    (big / "sub").mkdir(parents=True)
    for i in range(120):
        (big / f"f{i:03d}").write_bytes(os.urandom(300))
    (big / "sub" / "deep").write_text("d")
    spec = {"root": "/", "paths": [{"path": str(big), "volatility": "static"}]}
    reference = files.collect(spec).sections["files"]
    assert len(reference) == 123  # top, sub, sub/deep, 120 files

    monkeypatch.setattr(files, "_TASK_PATHS", 7)
    monkeypatch.setattr(files, "_TASK_BYTES", 1000)
    out, later, error = files._list_and_describe(
        "/", spec["paths"], frozenset({str(big)}), [("dir", 0, str(big))], {})
    assert error is None
    # 1000 bytes: the fourth 300-byte file ends the task (the subdirectory costs nothing)
    assert sum(1 for _, entry in out if entry["type"] == "file") == 4
    leftover = [p for item in later if item[0] == "paths" for p in item[1]]
    assert len(out) + len(leftover) == 121  # 120 files and `sub`, each once
    assert ("dir", 0, str(big / "sub")) in later
    assert files.collect(spec).sections["files"] == reference


def test_verify_keeps_one_copy_of_unchanged_entries(tree):
    """Unchanged file entries of the fresh scan are the manifest's own objects."""
    root, profile_path = tree
    m, profile = _snap(profile_path)
    (root / "conf" / "app.conf").write_text("threshold = 11\n")
    fresh = take_snapshot(profile, known=m)
    old, new = m.sections["files"], fresh.sections["files"]
    unchanged = f"{root}/bin/count"
    assert new[unchanged] is old[unchanged]
    changed = f"{root}/conf/app.conf"
    assert new[changed] is not old[changed] and new[changed] != old[changed]
    report = compare(m, fresh, profile)
    assert [(e.category, e.key) for e in report.entries] == [("changed", changed)]
