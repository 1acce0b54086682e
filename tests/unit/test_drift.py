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


# --------------------------------------------------------------------------- switch (issue 12)

SWITCH_PROFILE = parse_profile(
    b"paths:\n  - /etc\n  - path: /etc/web/active-mode.conf\n    volatility: switch\n"
    b"    targets: [mode-normal.conf, mode-attack.conf]\n", "p.yml")
SEL = "/etc/web/active-mode.conf"
LINK = {"type": "symlink", "mode": "0777", "uid": 0, "gid": 0, "size": 16, "mtime_ns": 1,
        "ctime_ns": 1, "inode": 9, "nlink": 1, "target": "mode-normal.conf"}
DIR = {"type": "dir", "mode": "0755", "uid": 0, "gid": 0, "size": 4096, "mtime_ns": 1,
       "ctime_ns": 1, "inode": 3, "nlink": 2}


def _sw(files) -> Manifest:
    return Manifest(host={"hostname": "h", "machine_id": "m"}, profile_name="p",
                    profile_digest=SWITCH_PROFILE.digest, sections={"files": files},
                    created="2026-11-22T07:00:00Z")


def _switched(target, **attrs):
    """What `ln -sfn TARGET sel.new && mv -Tf sel.new sel` leaves: a new link, new times."""
    return {"/etc/web": dict(DIR, mtime_ns=5, ctime_ns=5),
            SEL: dict(LINK, target=target, size=len(target), inode=10, mtime_ns=5, ctime_ns=5, **attrs)}


def test_judge_switch_to_a_known_target_is_clean_another_is_drift():
    from freeze.judge import judge_file

    known = ("mode-normal.conf", "mode-attack.conf")
    attack = _switched("mode-attack.conf")[SEL]
    assert judge_file(LINK, attack, "switch", targets=known) == []
    evil = _switched("/tmp/evil.conf")[SEL]
    changes = judge_file(LINK, evil, "switch", targets=known)
    assert [(c.attribute, c.old, c.new) for c in changes] == [
        ("target (switch: not a known target)", "mode-normal.conf", "/tmp/evil.conf")]
    assert [c.attribute for c in judge_file(LINK, dict(attack, uid=1000), "switch",
                                            targets=known)] == ["uid"]
    regular = {"type": "file", "mode": "0644", "uid": 0, "gid": 0, "size": 3, "mtime_ns": 5,
               "ctime_ns": 5, "inode": 10, "nlink": 1, "sha256": "a" * 64}
    assert "type" in [c.attribute for c in judge_file(LINK, regular, "switch", targets=known)]
    # without the class (today's static judging) the same switch is drift
    assert judge_file(LINK, attack, "static") != []


def test_switch_to_a_known_target_is_reported_not_drift():
    old = _sw({"/etc/web": DIR, SEL: LINK})
    report = compare(old, _sw(_switched("mode-attack.conf")), SWITCH_PROFILE)
    assert report.is_clean and report.exit_code == 0, report.to_dict()
    [state] = report.switches
    assert (state.active, state.recorded, state.problem) == ("mode-attack.conf", "mode-normal.conf", None)
    assert state.text() == (f"switch {SEL}: mode-attack.conf (recorded mode-normal.conf; "
                            f"known: mode-normal.conf, mode-attack.conf)")
    assert report.to_dict()["switches"] == [{
        "path": SEL, "active": "mode-attack.conf", "recorded": "mode-normal.conf",
        "known": ["mode-normal.conf", "mode-attack.conf"], "present": True, "problem": None}]
    # nothing changed: still reported
    assert compare(old, _sw({"/etc/web": DIR, SEL: LINK}), SWITCH_PROFILE).switches[0].active \
        == "mode-normal.conf"


def test_switch_to_an_unknown_target_a_file_or_away_is_drift_naming_the_path():
    old = _sw({"/etc/web": DIR, SEL: LINK})
    report = compare(old, _sw(_switched("../../tmp/evil.conf")), SWITCH_PROFILE)
    assert report.exit_code == EXIT_CHANGED
    assert [(e.category, e.key) for e in report.entries] == [("changed", SEL)]
    assert report.switches[0].problem == ("points at ../../tmp/evil.conf, not one of "
                                          "mode-normal.conf, mode-attack.conf")
    assert "DRIFT: points at ../../tmp/evil.conf" in report.switches[0].text()

    regular = dict(_switched("x"), **{SEL: {"type": "file", "mode": "0644", "uid": 0, "gid": 0,
                                            "size": 3, "mtime_ns": 5, "ctime_ns": 5,
                                            "inode": 10, "nlink": 1, "sha256": "a" * 64}})
    report = compare(old, _sw(regular), SWITCH_PROFILE)
    assert [(e.category, e.key) for e in report.entries] == [("changed", SEL)]
    assert report.switches[0].problem == "a file, not a symlink"

    gone = {"/etc/web": dict(DIR, mtime_ns=5, ctime_ns=5)}
    report = compare(old, _sw(gone), SWITCH_PROFILE)
    assert [(e.category, e.key) for e in report.entries] == [("removed", SEL)]
    assert report.exit_code == EXIT_REMOVED and not report.switches[0].present


def test_switch_directory_times_only_are_forgiven():
    """The switch renames a new link into its directory (times change); another entry
    appearing there, or the directory's owner changing, is still drift."""
    old = _sw({"/etc/web": DIR, SEL: LINK, "/etc/other": DIR})
    new = _switched("mode-attack.conf")
    new["/etc/other"] = dict(DIR, mtime_ns=5)  # not a switch's directory: judged as static
    new["/etc/web/active-mode.conf.new"] = LINK
    report = compare(old, _sw(new), SWITCH_PROFILE)
    assert sorted((e.category, e.key) for e in report.entries) == [
        ("added", "/etc/web/active-mode.conf.new"), ("changed", "/etc/other")]
    new = _switched("mode-attack.conf")
    new["/etc/web"]["uid"] = 1000
    report = compare(_sw({"/etc/web": DIR, SEL: LINK}), _sw(new), SWITCH_PROFILE)
    assert [c.attribute for c in report.find("changed", "file", "/etc/web").changes] == ["uid"]


def test_reports_without_switch_rules_keep_their_json():
    m = _m({"/etc/a": F})
    assert "switches" not in compare(m, copy.deepcopy(m), PROFILE).to_dict()


# --------------------------------------------------------------------------- known transient units (issue 12)

TRANSIENT_PROFILE = parse_profile(
    b"paths: [/etc]\nservices:\n  known_transient: [revert.timer, revert.service]\n", "p.yml")
SSH = {"enabled": "enabled", "active": "active/running"}
WAITING = {"enabled": "transient", "active": "active/waiting"}


def _svc(services, profile=TRANSIENT_PROFILE) -> Manifest:
    return Manifest(host={"hostname": "h", "machine_id": "m"}, profile_name="p",
                    profile_digest=profile.digest, sections={"files": {}, "services": services},
                    created="2026-11-22T07:00:00Z")


def test_judge_transient_problem():
    from freeze.judge import transient_problem

    assert transient_problem(None, WAITING) is None
    assert transient_problem(WAITING, None) is None
    assert transient_problem(WAITING, dict(WAITING, active="inactive/dead")) is None
    assert transient_problem(None, {"enabled": "transient"}) is None  # no active state collected
    assert transient_problem(None, dict(SSH, enabled="static")) == "a unit file (static), not transient"
    assert transient_problem(WAITING, SSH) == "a unit file (enabled), not transient"
    assert transient_problem(SSH, None) == "recorded as a unit file (enabled), not transient"


def test_known_transient_unit_appearing_changing_and_going_is_reported_not_drift():
    frozen = _svc({"ssh.service": SSH})
    armed = _svc({"ssh.service": SSH, "revert.timer": WAITING})
    report = compare(frozen, armed, TRANSIENT_PROFILE)
    assert report.is_clean and report.exit_code == 0, report.to_dict()
    assert [u.text() for u in report.transient_units] == [
        "unit revert.service: absent (transient; known)",
        "unit revert.timer: active/waiting (transient; known)"]
    assert report.to_dict()["transient_units"][1] == {
        "unit": "revert.timer", "active": "active/waiting", "recorded": None,
        "enabled": "transient", "present": True, "problem": None}
    fired = _svc({"ssh.service": SSH, "revert.timer": dict(WAITING, active="inactive/dead"),
                  "revert.service": dict(WAITING, active="active/exited")})
    report = compare(armed, fired, TRANSIENT_PROFILE)
    assert report.is_clean, report.to_dict()
    assert [u.text() for u in report.transient_units] == [
        "unit revert.service: active/exited (transient; known)",
        "unit revert.timer: inactive/dead (transient; known)"]
    report = compare(fired, frozen, TRANSIENT_PROFILE)  # garbage-collected by systemd
    assert report.is_clean, report.to_dict()
    assert [u.text() for u in report.transient_units] == [
        "unit revert.service: absent (transient; known)", "unit revert.timer: absent (transient; known)"]
    # without the declaration (the profile of before) the same timer is an added service
    plain = parse_profile(b"paths: [/etc]\n", "p.yml")
    report = compare(_svc({"ssh.service": SSH}, plain),
                     _svc({"ssh.service": SSH, "revert.timer": WAITING}, plain), plain)
    assert [(e.category, e.kind, e.key) for e in report.entries] == [("added", "service", "revert.timer")]
    assert "transient_units" not in report.to_dict()


def test_a_unit_file_under_a_known_transient_name_is_drift():
    """An attacker's persistent unit installed under the known name is not forgiven."""
    frozen = _svc({"ssh.service": SSH})
    for enabled in ("enabled", "static", "disabled", "linked", "generated"):
        unit = {"enabled": enabled, "active": "active/running"}
        report = compare(frozen, _svc({"ssh.service": SSH, "revert.service": unit}), TRANSIENT_PROFILE)
        assert [(e.category, e.key) for e in report.entries] == [("added", "revert.service")], enabled
        assert report.transient_units[0].text() == (
            f"unit revert.service: DRIFT: a unit file ({enabled}), not transient")
    report = compare(_svc({"revert.timer": WAITING}),
                     _svc({"revert.timer": {"enabled": "enabled", "active": "active/waiting"}}),
                     TRANSIENT_PROFILE)
    changed = report.find("changed", "service", "revert.timer")
    assert changed and [(c.attribute, c.old, c.new) for c in changed.changes] == [
        ("enabled", "transient", "enabled")]
    # recorded as a unit file at the freeze: its removal is drift as for any unit
    report = compare(_svc({"revert.timer": {"enabled": "enabled", "active": "active/waiting"}}),
                     _svc({}), TRANSIENT_PROFILE)
    assert [(e.category, e.key) for e in report.entries] == [("removed", "revert.timer")]
    assert "recorded as a unit file (enabled)" in report.transient_units[1].text()
    # frozen as a unit file and unchanged: no drift, and the report does not call it transient
    real = _svc({"revert.timer": {"enabled": "enabled", "active": "active/waiting"}})
    report = compare(real, copy.deepcopy(real), TRANSIENT_PROFILE)
    assert report.is_clean and report.transient_units[1].text() == (
        "unit revert.timer: active/waiting (a unit file (enabled) as recorded, not transient)")


def test_an_unknown_transient_unit_is_drift():
    report = compare(_svc({"ssh.service": SSH}),
                     _svc({"ssh.service": SSH, "run-u42.service": dict(WAITING, active="active/running"),
                           "revert.timer": WAITING}), TRANSIENT_PROFILE)
    assert [(e.category, e.key) for e in report.entries] == [("added", "run-u42.service")]
    assert report.exit_code == EXIT_ADDED


# --------------------------------------------------------------------------- modules loaded on demand (issue 17)

ON_DEMAND_PROFILE = parse_profile(
    b"paths: [/etc]\nkernel:\n  modules_on_demand: [inet_diag, tcp_diag, veth]\n", "p.yml")
EXT4, INET_DIAG, TCP_DIAG, VETH = {"size": 1081344}, {"size": 28672}, {"size": 12288}, {"size": 40960}


def _mods(modules, profile=ON_DEMAND_PROFILE, unavailable=None) -> Manifest:
    sections = {"files": {}} if unavailable else {"files": {}, "modules": modules}
    return Manifest(host={"hostname": "h", "machine_id": "m"}, profile_name="p",
                    profile_digest=profile.digest, sections=sections,
                    unavailable={"modules": unavailable} if unavailable else {},
                    created="2026-11-22T07:00:00Z")


def test_judge_on_demand_problem():
    from freeze.judge import on_demand_problem

    assert on_demand_problem(None, INET_DIAG) is None  # loaded since
    assert on_demand_problem(INET_DIAG, None) is None  # unloaded (a reboot)
    assert on_demand_problem(INET_DIAG, {"size": 32768}) is None  # loaded again, another size
    assert on_demand_problem(dict(INET_DIAG, taint="O"), dict(INET_DIAG, taint="OE")) == "taint changed"


def test_the_routine_day_of_issue_17_is_clean_and_reported():
    """ss loaded inet_diag and tcp_diag, the lab tests veth; a reboot unloaded them."""
    frozen = _mods({"ext4": EXT4, "inet_diag": INET_DIAG, "tcp_diag": TCP_DIAG, "veth": VETH})
    rebooted = _mods({"ext4": EXT4})
    report = compare(frozen, rebooted, ON_DEMAND_PROFILE)
    assert report.is_clean and report.exit_code == 0, report.to_dict()
    assert [m.text() for m in report.on_demand_modules] == [
        "kernel module inet_diag: not loaded now (loaded at the freeze; on demand, known)",
        "kernel module tcp_diag: not loaded now (loaded at the freeze; on demand, known)",
        "kernel module veth: not loaded now (loaded at the freeze; on demand, known)"]
    assert report.to_dict()["on_demand_modules"][2] == {
        "module": "veth", "loaded": False, "recorded_loaded": True, "size": None,
        "recorded_size": 40960, "problem": None}
    # the other way round: loaded after the freeze
    report = compare(rebooted, frozen, ON_DEMAND_PROFILE)
    assert report.is_clean, report.to_dict()
    assert report.on_demand_modules[0].text() == (
        "kernel module inet_diag: loaded now (not loaded at the freeze; on demand, known)")
    # loaded again with another size; the modules as they were are not listed
    report = compare(frozen, _mods({"ext4": EXT4, "inet_diag": {"size": 32768}, "tcp_diag": TCP_DIAG,
                                    "veth": VETH}), ON_DEMAND_PROFILE)
    assert report.is_clean, report.to_dict()
    assert [m.text() for m in report.on_demand_modules] == [
        "kernel module inet_diag: loaded, size 32768 (size 28672 at the freeze; on demand, known)"]
    report = compare(frozen, copy.deepcopy(frozen), ON_DEMAND_PROFILE)
    assert report.is_clean and report.on_demand_modules == []
    assert "on_demand_modules" not in report.to_dict()


def test_unlisted_modules_stay_drift():
    frozen = _mods({"ext4": EXT4, "inet_diag": INET_DIAG})
    report = compare(frozen, _mods({"inet_diag": INET_DIAG, "rootkit": {"size": 4096}}),
                     ON_DEMAND_PROFILE)
    assert [(e.category, e.kind, e.key) for e in report.entries] == [
        ("removed", "kernel_module", "ext4"), ("added", "kernel_module", "rootkit")]
    assert report.exit_code == EXIT_ADDED | EXIT_REMOVED
    report = compare(frozen, _mods({"ext4": {"size": 1}, "inet_diag": INET_DIAG}), ON_DEMAND_PROFILE)
    assert [(e.category, e.key) for e in report.entries] == [("changed", "ext4")]
    # a listed module with another recorded attribute changed is drift, named in its line
    report = compare(_mods({"veth": dict(VETH, taint="O")}), _mods({"veth": dict(VETH, taint="OE")}),
                     ON_DEMAND_PROFILE)
    assert [(e.category, e.key) for e in report.entries] == [("changed", "veth")]
    assert report.on_demand_modules[0].text() == "kernel module veth: DRIFT: taint changed"


def test_without_the_declaration_the_same_reboot_is_drift():
    plain = parse_profile(b"paths: [/etc]\n", "p.yml")
    report = compare(_mods({"ext4": EXT4, "inet_diag": INET_DIAG}, plain), _mods({"ext4": EXT4}, plain),
                     plain)
    assert [(e.category, e.kind, e.key) for e in report.entries] == [
        ("removed", "kernel_module", "inet_diag")]
    assert "on_demand_modules" not in report.to_dict()


def test_modules_unavailable_are_not_reported_as_on_demand():
    report = compare(_mods({"inet_diag": INET_DIAG}),
                     _mods({}, unavailable="/proc/modules: No such file or directory"), ON_DEMAND_PROFILE)
    assert [(e.category, e.kind, e.key) for e in report.entries] == [("changed", "collector", "modules")]
    assert report.on_demand_modules == []


def test_the_checkers_own_units_may_run_on_their_schedule():
    """Found by the lab demo: freeze_watch deployed after the freeze runs every period;
    an intervention's pre-check caught its service mid-run and refused (unexplained
    drift). Its units' active state is not judged; their enabled state still is, and
    every other unit's active state too."""
    frozen = {"freeze-watch.service": {"enabled": "static", "active": "inactive/dead"},
              "freeze-watch.timer": {"enabled": "enabled", "active": "active/waiting"},
              "nginx.service": {"enabled": "enabled", "active": "active/running"}}
    running = copy.deepcopy(frozen)
    running["freeze-watch.service"]["active"] = "activating/start"
    running["freeze-watch.timer"]["active"] = "active/running"
    assert compare(_m(services=frozen), _m(services=running), PROFILE).is_clean

    disabled = copy.deepcopy(running)
    disabled["freeze-watch.timer"]["enabled"] = "disabled"
    stopped = copy.deepcopy(frozen)
    stopped["nginx.service"]["active"] = "inactive/dead"
    r = compare(_m(services=frozen), _m(services=disabled), PROFILE)
    assert [c.attribute for c in r.find("changed", "service", "freeze-watch.timer").changes] == ["enabled"]
    assert r.find("changed", "service", "nginx.service") is None
    r = compare(_m(services=frozen), _m(services=stopped), PROFILE)
    assert [c.attribute for c in r.find("changed", "service", "nginx.service").changes] == ["active"]


def test_the_checker_unit_names_are_the_roles():
    """freeze.judge.CHECKER_UNITS names the units roles/freeze_watch installs."""
    from pathlib import Path

    import yaml

    from freeze.judge import CHECKER_UNITS

    role_vars = yaml.safe_load((Path(__file__).resolve().parents[2]
                                / "roles/freeze_watch/vars/main.yml").read_text())
    name = role_vars["__freeze_watch_service"]
    assert CHECKER_UNITS == {f"{name}.service", f"{name}.timer"}
