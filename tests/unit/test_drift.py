import copy

from freeze.drift import compare
from freeze.errors import EXIT_ADDED, EXIT_CHANGED, EXIT_REMOVED
from freeze.manifest import Manifest
from freeze.profile import parse_profile

PROFILE = parse_profile(b"paths:\n  - /etc\n  - {path: /var/log, volatility: growing}\n", "p.yml")


def _m(files=None, **sections) -> Manifest:
    secs = {"files": files or {}}
    secs.update(sections)
    return Manifest(host={"hostname": "h", "machine_id": "m"}, profile_name="p",
                    profile_digest=PROFILE.digest, sections=secs,
                    created="2026-11-22T07:00:00Z")


F = {"type": "file", "mode": "0644", "uid": 0, "gid": 0, "size": 10, "mtime_ns": 1,
     "ctime_ns": 1, "inode": 7, "nlink": 1, "sha256": "a" * 64}


def test_identical_is_clean():
    m = _m({"/etc/a": F})
    r = compare(m, copy.deepcopy(m), PROFILE)
    assert r.is_clean and r.exit_code == 0 and r.to_dict()["clean"] is True


def test_categories_and_bitmask():
    old = _m({"/etc/a": F, "/etc/b": F}, packages={"deb:x:amd64": {"version": "1"}})
    new = _m({"/etc/a": dict(F, mode="4755"), "/etc/c": F},
             packages={"deb:x:amd64": {"version": "1"}, "deb:y:amd64": {"version": "2"}})
    r = compare(old, new, PROFILE)
    assert r.exit_code == EXIT_ADDED | EXIT_REMOVED | EXIT_CHANGED
    changed = r.find("changed", "file", "/etc/a")
    assert [(c.attribute, c.old, c.new) for c in changed.changes] == [("mode", "0644", "4755")]
    assert r.find("removed", "file", "/etc/b") and r.find("added", "file", "/etc/c")
    assert r.find("added", "package", "deb:y:amd64")
    assert r.counts() == {"added": 2, "removed": 1, "changed": 1}


def test_growing_file_may_grow_with_same_prefix():
    old = _m({"/var/log/x.log": F})
    grown = dict(F, size=20, sha256="b" * 64, mtime_ns=2, ctime_ns=2, prefix_sha256="a" * 64)
    assert compare(old, _m({"/var/log/x.log": grown}), PROFILE).is_clean


def test_growing_file_rewritten_prefix_or_shrunk_or_replaced_is_drift():
    old = _m({"/var/log/x.log": F})
    rewritten = dict(F, size=20, sha256="b" * 64, prefix_sha256="c" * 64)
    r = compare(old, _m({"/var/log/x.log": rewritten}), PROFILE)
    assert r.find("changed", "file", "/var/log/x.log").changes[0].attribute.startswith("content")
    shrunk = dict(F, size=5, sha256="b" * 64)
    r = compare(old, _m({"/var/log/x.log": shrunk}), PROFILE)
    assert "shrank" in r.entries[0].changes[0].attribute
    replaced = dict(F, inode=8, size=20, sha256="b" * 64, prefix_sha256="a" * 64)
    r = compare(old, _m({"/var/log/x.log": replaced}), PROFILE)
    assert [c.attribute for c in r.entries[0].changes] == ["inode"]
    chmod = dict(F, mode="0666", prefix_sha256="a" * 64)
    assert compare(old, _m({"/var/log/x.log": chmod}), PROFILE).exit_code == EXIT_CHANGED


def test_static_file_content_change_with_same_mtime_is_drift():
    old = _m({"/etc/a": F})
    r = compare(old, _m({"/etc/a": dict(F, sha256="b" * 64)}), PROFILE)
    assert [c.attribute for c in r.entries[0].changes] == ["sha256"]


def test_collector_becoming_unavailable_is_reported_not_mass_removal():
    old = _m({}, packages={"deb:x:amd64": {"version": "1"}})
    new = _m({})
    new.unavailable["packages"] = "dpkg-query failed"
    r = compare(old, new, PROFILE)
    assert len(r.entries) == 1 and r.entries[0].kind == "collector"


def test_other_host_is_reported():
    old = _m({})
    new = _m({})
    new.host = {"hostname": "h", "machine_id": "other"}
    assert compare(old, new, PROFILE).find("changed", "host", "machine_id")


def test_a_part_never_recorded_and_now_unavailable_is_a_note_not_drift():
    """A manifest taken under an alternate root before freeze named the network and
    kernel as unavailable: verify now says so in a note, not as a collector change.
    A recorded section becoming unavailable is still drift."""
    old = _m({"/etc/a": F}, packages={"deb:x:amd64": {"version": "1"}})
    new = copy.deepcopy(old)
    new.unavailable["sockets"] = "not collected: root is /mnt/image (...)"
    new.unavailable["packages"] = "dpkg-query failed"
    r = compare(old, new, PROFILE)
    assert r.find("changed", "collector", "packages") is not None
    assert r.find("changed", "collector", "sockets") is None
    assert "sockets: not checked (not collected: root is /mnt/image (...))" in r.notes
