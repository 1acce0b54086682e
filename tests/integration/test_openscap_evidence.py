"""roles/openscap_evidence through the real ansible-playbook over the loopback sshd.

The host is this machine (root, `su` for privilege escalation), the scanner is
Debian's `oscap` (scripts/bootstrap.sh installs it; the role's apt task is skipped
with the `packages` tag, as this machine may lack python3-apt), the content is the
project's own two-rule data stream (tests/data/openscap: one rule passes and one
fails on any Linux host), since ComplianceAsCode's cannot be shipped. Checked: the
local fact and the controller's JSON summary (counts, ratio, the sha256 of the
ARF, HTML and data stream actually written), a second run keeps the first scan
(changed=0), `openscap_evidence_rerun` scans again, and a missing data stream is
refused with one clear line before anything runs on the host.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.test_remote_ssh import sshd  # noqa: F401 - a fixture
from tests.sshd import loopback_inventory

REPO = Path(__file__).resolve().parents[2]
PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")
DATASTREAM = REPO / "tests" / "data" / "openscap" / "mini-ds.xml"
PROFILE = "xccdf_org.election-freeze_profile_mini"

pytestmark = pytest.mark.skipif(shutil.which("oscap") is None or not PLAYBOOK.exists(),
                                reason="needs Debian's openscap-scanner and ansible (scripts/bootstrap.sh)")


def _play(tmp: Path, inv: Path, **evars: object) -> subprocess.CompletedProcess[str]:
    play = tmp / "scan.yml"
    play.write_text("- hosts: all\n  gather_facts: false\n  become: true\n"
                    "  roles: [election.freeze.openscap_evidence]\n")
    return subprocess.run(
        [str(PLAYBOOK), "-i", str(inv), "--skip-tags", "packages", "-e", "ansible_become_method=su",
         "-e", json.dumps({"openscap_evidence_enabled": True, "openscap_evidence_profile": PROFILE,
                           "openscap_evidence_host_dir": str(tmp / "host"),
                           "openscap_evidence_facts_dir": str(tmp / "facts.d"),
                           "openscap_evidence_controller_dir": str(tmp / "controller"), **evars}),
         str(play)],
        capture_output=True, text=True, cwd=REPO, timeout=600,
        env={**os.environ, "ANSIBLE_CONFIG": str(REPO / "ansible.cfg")})


def _recap_changed(out: str) -> int:
    line = next(x for x in out.splitlines() if x.startswith("scan-1") and "changed=" in x)
    return int(line.split("changed=")[1].split()[0])


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_scan_is_kept_as_fact_arf_html_and_summary(sshd, tmp_path: Path) -> None:  # noqa: F811
    inv = loopback_inventory(tmp_path / "hosts.yml", sshd["dir"], {"scan-1": sshd["port"]})
    res = _play(tmp_path, inv, openscap_evidence_datastream=str(DATASTREAM))
    assert res.returncode == 0, res.stdout[-4000:]
    fact = json.loads((tmp_path / "facts.d" / "openscap_after.fact").read_text())
    assert (fact["pass"], fact["fail"], fact["error"], fact["pass_ratio"]) == (1, 1, 0, 50.0)
    assert fact["profile"] == PROFILE and fact["phase"] == "after"
    assert fact["failed_rules"] == ["xccdf_org.election-freeze_rule_marker_exists"]
    on_host = tmp_path / "host" / "after"
    ctl = tmp_path / "controller"
    assert json.loads((ctl / "scan-1-openscap-after.json").read_text()) == fact
    # the summary names the evidence it came from, and the controller holds those very files
    assert fact["files"] == {"arf.xml": _sha256(on_host / "arf.xml"), "report.html": _sha256(on_host / "report.html"),
                             "ds.xml": _sha256(DATASTREAM)}
    assert _sha256(ctl / "scan-1-openscap-after-arf.xml") == fact["files"]["arf.xml"]
    assert _sha256(ctl / "scan-1-openscap-after.html") == fact["files"]["report.html"]
    assert "pass ratio 50.0 %" in res.stdout
    # a re-converge keeps the first scan of the phase; rerun scans again
    again = _play(tmp_path, inv, openscap_evidence_datastream=str(DATASTREAM))
    assert again.returncode == 0 and _recap_changed(again.stdout) == 0, again.stdout[-3000:]
    rerun = _play(tmp_path, inv, openscap_evidence_datastream=str(DATASTREAM), openscap_evidence_rerun=True)
    assert rerun.returncode == 0 and _recap_changed(rerun.stdout) >= 1, rerun.stdout[-3000:]
    assert json.loads((tmp_path / "facts.d" / "openscap_after.fact").read_text())["start_time"] >= fact["start_time"]


def test_missing_datastream_is_refused_before_the_host_is_touched(sshd, tmp_path: Path) -> None:  # noqa: F811
    inv = loopback_inventory(tmp_path / "hosts.yml", sshd["dir"], {"scan-1": sshd["port"]})
    res = _play(tmp_path, inv, openscap_evidence_datastream=str(tmp_path / "absent-ds.xml"))
    assert res.returncode != 0
    assert "openscap_evidence_datastream must name a SCAP source data stream on the controller" in res.stdout
    assert not (tmp_path / "host").exists()
