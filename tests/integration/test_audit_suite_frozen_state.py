"""The auditor's suite's frozen-state check (tests/infra/test_frozen_state.py, control
EF-FRZ-5) run as an auditor runs it: pytest with testinfra's Ansible backend against an
inventory host, here an alias of this machine behind the throw-away loopback sshd
(tests/sshd.py; root login, become through `su`: there is no sudo here).

The host is snapshotted through the inventory as the ceremony does, the manifest is
signed with a one-person DEMO root (a test key whose passphrase comes from the
environment), and then: a clean host passes and its JUnit case is named by its
control; a changed file fails naming the file; a manifest that is not the signed one
fails as NOT VERIFIED before the host is touched (its inventory points at a closed
port, so reaching it would read "unreachable"); without the options the test skips,
and with only some of them it errs.
"""

from __future__ import annotations

import os
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.test_ceremony import PASS_ENV, PASSPHRASE, freeze, needs_tools
from tests.integration.test_remote_ssh import (  # noqa: F401 - sshd is a fixture
    _profile,
    sshd,
)
from tests.sshd import free_port, loopback_inventory

pytestmark = needs_tools
REPO = Path(__file__).resolve().parents[2]
HOST = "count-a"
CASE = f"EF-FRZ-5 test_host_matches_its_signed_manifest[ansible://{HOST}]"


@dataclass
class Audited:
    inventory: Path
    profile: Path
    app: Path
    manifests: Path
    root: Path
    sshd_dir: Path


def _inventory(path: Path, sshd_dir: Path, port: int) -> Path:
    loopback_inventory(path, sshd_dir, {HOST: port})
    # root on the loopback sshd; `su` from root needs no password, and there is no sudo here
    path.write_text(path.read_text().replace("  vars:\n", "  vars:\n    ansible_become_method: su\n", 1))
    return path


@pytest.fixture(scope="module")
def audited(sshd, tmp_path_factory: pytest.TempPathFactory) -> Audited:  # noqa: F811
    if not Path(sys.executable).with_name("ansible-playbook").exists():
        pytest.skip("ansible not installed (the ops extra)")
    os.environ[PASS_ENV] = PASSPHRASE  # DEMO ONLY: a test key's passphrase
    base = tmp_path_factory.mktemp("audit-suite")
    inventory = _inventory(base / "hosts.yml", sshd["dir"], sshd["port"])
    profile, app = _profile(base)
    manifests = base / "manifests"
    freeze("snapshot", "-p", profile, "-o", manifests, "--inventory", inventory, "--become")
    assert (manifests / f"{HOST}.manifest.json").is_file()
    # a one-person DEMO root; the ceremony's has several people and thresholds (tests/demo_room.py)
    keys = base / "keys"
    keys.mkdir()
    freeze("keygen", keys / "alice.pem", "--passphrase-env", PASS_ENV)
    (base / "root-spec.yml").write_text(
        "election: 2026-general\nceremony: audit-suite-test\nexpires: 2099-01-31T23:59:59Z\n"
        "people:\n  alice: {role: directorate, keys: [keys/alice.pub.pem]}\n"
        "thresholds:\n  root: {directorate: 1}\n  manifest: {directorate: 1}\n"
        "journal:\n  origin: election.example/2026-general/audit-suite-test\n")
    root = base / "root.json"
    freeze("root", "init", base / "root-spec.yml", "-o", root)
    freeze("root", "sign", root, "--key", keys / "alice.pem", "--passphrase-env", PASS_ENV)
    envelope = manifests / f"{HOST}.manifest.dsse.json"  # the default place, beside the manifest
    freeze("attest", "--type", "manifest", manifests / f"{HOST}.manifest.json", "--root", root, "-o", envelope)
    freeze("sign", envelope, "--key", keys / "alice.pem", "--passphrase-env", PASS_ENV, "--root", root)
    return Audited(inventory, profile, app, manifests, root, sshd["dir"])


def _suite(a: Audited, tmp_path: Path, *options: str, inventory: Path | None = None
           ) -> tuple[int, str, dict[str, tuple[str, str]]]:
    """Run the suite's frozen-state test; (exit status, output, {case name: (outcome, message)})."""
    junit = tmp_path / "audit.xml"
    res = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs", "tests/infra/test_frozen_state.py",
         f"--hosts=ansible://{HOST}", f"--ansible-inventory={inventory or a.inventory}", f"--junitxml={junit}",
         *options],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTHONPATH": str(REPO)})
    cases = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        found = next(((t, case.find(t)) for t in ("failure", "error", "skipped") if case.find(t) is not None), None)
        cases[case.get("name", "")] = (found[0], found[1].get("message", "")) if found else ("passed", "")
    return res.returncode, res.stdout + res.stderr, cases


def _options(a: Audited) -> list[str]:
    return [f"--freeze-manifests={a.manifests}", f"--freeze-profile={a.profile}", f"--freeze-root={a.root}"]


def test_clean_host_passes_and_its_case_is_named_by_its_control(audited: Audited, tmp_path: Path) -> None:
    rc, out, cases = _suite(audited, tmp_path, *_options(audited))
    assert rc == 0, out[-4000:]
    assert cases == {CASE: ("passed", "")}, out[-4000:]


def test_a_manifest_not_the_signed_one_fails_before_the_host_is_touched(audited: Audited, tmp_path: Path) -> None:
    manifest = audited.manifests / f"{HOST}.manifest.json"
    original = manifest.read_bytes()
    manifest.write_bytes(original.replace(b'"created":"20', b'"created":"19', 1))  # an edited date
    assert manifest.read_bytes() != original
    # the host behind a closed port: a collection would fail as "unreachable", not as unsigned
    closed = _inventory(tmp_path / "closed.yml", audited.sshd_dir, free_port())
    try:
        rc, out, cases = _suite(audited, tmp_path, *_options(audited), inventory=closed)
    finally:
        manifest.write_bytes(original)
    assert rc == 1, out[-4000:]
    outcome, message = cases[CASE]
    assert outcome == "failure" and f"{HOST}: NOT VERIFIED: manifest is not the signed one" in message, message
    assert "unreachable" not in message


def test_without_the_options_it_skips_and_with_some_it_errs(audited: Audited, tmp_path: Path) -> None:
    rc, out, cases = _suite(audited, tmp_path)
    assert rc == 0, out[-4000:]
    outcome, message = cases[CASE]
    assert outcome == "skipped" and "no frozen state to check" in message, (cases, out[-2000:])
    rc, out, cases = _suite(audited, tmp_path, f"--freeze-manifests={audited.manifests}")
    assert rc == 1 and cases[CASE][0] == "error", out[-4000:]
    assert "also needs --freeze-profile --freeze-root" in cases[CASE][1], cases


def test_the_auditors_script_writes_one_junit_file_named_by_controls(audited: Audited, tmp_path: Path) -> None:
    """scripts/audit-suite.sh: the frozen-state pass, then the rest (here narrowed with -k
    to a test that reads only this checkout: the loopback "host" is this machine), one
    JUnit XML of both."""
    junit = tmp_path / "report" / "audit.xml"
    res = subprocess.run(
        ["bash", "scripts/audit-suite.sh", str(audited.inventory), "--hosts", HOST, "--junit", str(junit),
         "--manifests", str(audited.manifests), "--root", str(audited.root), "--profile", str(audited.profile),
         "--", "-k", "test_host_matches_its_signed_manifest or test_fixture_pages_exist"],
        cwd=REPO, capture_output=True, text=True, timeout=600, check=False,
        env={**os.environ, "PYTHON": sys.executable, "PYTHONPATH": str(REPO)})
    assert res.returncode == 0, res.stdout[-4000:] + res.stderr[-2000:]
    names = [c.get("name") for c in ET.parse(junit).getroot().iter("testcase")]
    assert sorted(names) == [f"EF-FRZ-5 test_host_matches_its_signed_manifest[ansible://{HOST}]",
                             "EF-WEB-1 test_fixture_pages_exist"], names  # no host: not parametrized by one
    assert "== 2 passed, 0 failed, 0 skipped" in res.stdout and not Path(f"{junit}.frozen").exists()


def test_a_changed_file_fails_naming_it(audited: Audited, tmp_path: Path) -> None:
    """Last in this module: the file is restored, but its new ctime stays drift for any
    later comparison of the same host (file order; under xdist each worker runs its share
    in that order, on its own host)."""
    conf = audited.app / "etc" / "counting.conf"
    before = conf.read_text()
    conf.write_text("stations = 51\n")
    try:
        rc, out, cases = _suite(audited, tmp_path, *_options(audited))
    finally:
        conf.write_text(before)
    assert rc == 1, out[-4000:]
    outcome, message = cases[CASE]
    assert outcome == "failure", out[-4000:]
    assert f"{HOST} drifted from its signed manifest" in message and f"changed file {conf}" in message, message
