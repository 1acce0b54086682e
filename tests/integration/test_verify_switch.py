"""Issue 12: a mode switch after the freeze is not tampering.

The results website's selector (roles/results_website, README "Modes on disk") is a
symlink its switch script points at mode-normal.conf or mode-attack.conf. On real
files under a temp dir, with the real `freeze` CLI: a profile that declares it
`volatility: switch` with both targets snapshots it in normal mode; switched the
way the script switches (a new link renamed over the old one), verify exits 0 and
names the active mode; any other target, a regular file in its place or its
removal is drift naming it; a snapshot refuses a selector in no known state.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from freeze.errors import EXIT_CHANGED, EXIT_CONFIG, EXIT_OK, EXIT_REMOVED
from tests.integration.test_verify_cli import freeze, one_line_error
from tests.profiles import ONLY_FILES

KNOWN = "known: mode-normal.conf, mode-attack.conf"


def point(selector: Path, target: str) -> None:
    """What results-website-mode does: `ln -sfn TARGET sel.new && mv -Tf sel.new sel`."""
    new = selector.with_name(selector.name + ".new")
    new.symlink_to(target)
    os.replace(new, selector)


@pytest.fixture
def site(tmp_path: Path) -> dict[str, Path]:
    conf = tmp_path / "etc" / "nginx" / "results-website"
    conf.mkdir(parents=True)
    (conf / "mode-normal.conf").write_text("limit_req_zone normal;\n")
    (conf / "mode-attack.conf").write_text("limit_req_zone attack;\n")
    (conf / "headers.conf").write_text("add_header X-Frame-Options DENY;\n")
    selector = conf / "active-mode.conf"
    point(selector, "mode-normal.conf")
    profile = tmp_path / "profile.yml"
    profile.write_text(f"""
name: switch-test
paths:
  - path: {tmp_path}/etc
  - path: {selector}
    volatility: switch
    targets: [mode-normal.conf, mode-attack.conf]
{ONLY_FILES}""")
    manifest = tmp_path / "m.json"
    proc = freeze("snapshot", "-p", str(profile), "-o", str(manifest))
    assert proc.returncode == EXIT_OK, proc.stderr
    return {"conf": conf, "selector": selector, "profile": profile, "manifest": manifest}


def verify(site: dict[str, Path], *extra: str):
    return freeze("verify", str(site["manifest"]), "-p", str(site["profile"]), *extra,
                  env={"COLUMNS": "250"})


def test_switching_modes_is_reported_not_drift(site):
    sel = site["selector"]
    proc = verify(site)
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert f"switch {sel}: mode-normal.conf (recorded mode-normal.conf; {KNOWN})" in proc.stdout
    point(sel, "mode-attack.conf")
    proc = verify(site)
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert "clean: host" in proc.stdout
    assert f"switch {sel}: mode-attack.conf (recorded mode-normal.conf; {KNOWN})" in proc.stdout
    report = json.loads(verify(site, "--json").stdout)
    assert report["clean"] is True and report["exit_code"] == 0
    assert report["switches"] == [{"path": str(sel), "active": "mode-attack.conf",
                                   "recorded": "mode-normal.conf",
                                   "known": ["mode-normal.conf", "mode-attack.conf"],
                                   "present": True, "problem": None}]
    point(sel, "mode-normal.conf")  # and back
    assert verify(site).returncode == EXIT_OK


def test_an_unknown_target_is_drift_naming_the_selector(site, tmp_path):
    sel = site["selector"]
    evil = tmp_path / "evil.conf"  # outside the frozen tree: the selector alone differs
    evil.write_text("# everything allowed\n")
    point(sel, str(evil))
    proc = verify(site)
    assert proc.returncode == EXIT_CHANGED, proc.stdout + proc.stderr
    assert f"- changed: file {sel}" in proc.stdout
    assert "target (switch: not a known target)" in proc.stdout
    assert f"switch {sel}: DRIFT: points at {evil}, not one of" in proc.stdout
    report = json.loads(verify(site, "--json").stdout)
    assert [(e["category"], e["key"]) for e in report["entries"]] == [("changed", str(sel))]
    assert report["switches"][0]["problem"] == (f"points at {evil}, not one of "
                                                "mode-normal.conf, mode-attack.conf")
    point(sel, "./mode-attack.conf")  # the same file, but not a listed link text
    assert verify(site).returncode == EXIT_CHANGED


def test_a_regular_file_or_no_selector_is_drift(site):
    sel = site["selector"]
    sel.unlink()
    sel.write_text((site["conf"] / "mode-attack.conf").read_text())  # same content, not a link
    proc = verify(site)
    assert proc.returncode == EXIT_CHANGED, proc.stdout + proc.stderr
    assert f"- changed: file {sel}" in proc.stdout and "a file, not a symlink" in proc.stdout
    sel.unlink()
    proc = verify(site)
    assert proc.returncode == EXIT_REMOVED, proc.stdout + proc.stderr
    assert f"- removed: file {sel}" in proc.stdout


def test_the_mode_files_stay_static(site):
    (site["conf"] / "mode-attack.conf").write_text("limit_req_zone off;\n")
    proc = verify(site)
    assert proc.returncode == EXIT_CHANGED
    assert f"- changed: file {site['conf'] / 'mode-attack.conf'}" in proc.stdout


def test_snapshot_refuses_a_selector_in_no_known_state(site, tmp_path):
    point(site["selector"], "mode-other.conf")
    line = one_line_error(freeze("snapshot", "-p", str(site["profile"]), "-o",
                                 str(tmp_path / "again.json")), EXIT_CONFIG)
    assert str(site["selector"]) in line and "not one of mode-normal.conf, mode-attack.conf" in line
    assert not (tmp_path / "again.json").exists()


def test_a_host_without_the_selector_snapshots_and_verifies(site, tmp_path):
    """One profile serves several hosts (the lab's): where the selector is absent,
    nothing is recorded for it and verify is clean; it appearing later is drift."""
    site["selector"].unlink()
    manifest = tmp_path / "no-site.json"
    assert freeze("snapshot", "-p", str(site["profile"]), "-o", str(manifest)).returncode == 0
    proc = freeze("verify", str(manifest), "-p", str(site["profile"]))
    assert proc.returncode == EXIT_OK, proc.stdout + proc.stderr
    assert f"switch {site['selector']}: absent (recorded nothing; {KNOWN})" in proc.stdout
    point(site["selector"], "mode-normal.conf")
    proc = freeze("verify", str(manifest), "-p", str(site["profile"]))
    assert proc.returncode & 1 and f"- added: file {site['selector']}" in proc.stdout
