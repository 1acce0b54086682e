"""The auditor's suite names its controls (issue 15): every test in tests/infra
carries control ids from the catalogue (tests/infra/controls.py), the catalogue
holds nothing no test checks, its CIS ids are the ones the roles tag their tasks
with, and the JUnit XML an auditor's report tool reads names every case with its
ids, also when pytest-xdist runs the suite (the lab tier runs it with -n 3).

The suite is collected by pytest itself in a subprocess (what pytest sees, not a
reading of the source): a test added without an id fails here in the fast tier,
long before a lab run.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import textwrap
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from tests.infra.controls import CONTROLS, ID_RE, PREFIXES, markdown, prefix_of

REPO = Path(__file__).resolve().parents[2]


def _pytest(*args: str, cwd: Path = REPO) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


@pytest.fixture(scope="module")
def control_map(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """{node id: control ids} of every test pytest collects in tests/infra."""
    out = tmp_path_factory.mktemp("controls") / "map.json"
    res = _pytest("--collect-only", "-q", "tests/infra", f"--control-map={out}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    collected: dict[str, list[str]] = json.loads(out.read_text())
    return collected


def test_every_infra_test_names_catalogued_controls(control_map: dict[str, list[str]]) -> None:
    # a sanity floor: the map really is the suite (about 150 cases on 2026-11-29)
    assert len(control_map) > 100 and all(n.startswith("tests/infra/") for n in control_map)
    missing = sorted(node for node, ids in control_map.items() if not ids)
    assert not missing, ("tests without a control id: add @pytest.mark.control(...) with ids from "
                         f"tests/infra/controls.py: {missing}")
    unknown = sorted({f"{c} ({node})" for node, ids in control_map.items() for c in ids if c not in CONTROLS})
    assert not unknown, f"control ids not in tests/infra/controls.py: {unknown}"


def test_every_catalogued_control_is_checked_by_a_test(control_map: dict[str, list[str]]) -> None:
    used = {c for ids in control_map.values() for c in ids}
    assert not sorted(set(CONTROLS) - used), "catalogued controls no test checks (remove them, never renumber)"


def test_catalogue_ids_follow_the_scheme() -> None:
    for control, requirement in CONTROLS.items():
        assert ID_RE.match(control), control
        assert prefix_of(control) in PREFIXES, control
        assert requirement.strip() and "\n" not in requirement, control
    assert set(PREFIXES) == {prefix_of(c) for c in CONTROLS}, "a prefix without controls, or controls without one"
    assert markdown().count("\n") == len(CONTROLS) + 1


def _role_cis_tags() -> set[str]:
    tags: set[str] = set()

    def walk(node: object) -> None:
        if isinstance(node, dict):
            value = node.get("tags")
            for tag in [value] if isinstance(value, str) else value if isinstance(value, list) else []:
                if isinstance(tag, str) and tag.startswith("cis_"):
                    tags.add(tag.removeprefix("cis_"))
            for child in node.values():
                walk(child)
        elif isinstance(node, list):
            for child in node:
                walk(child)

    for path in REPO.glob("roles/*/tasks/**/*.yml"):
        walk(yaml.safe_load(path.read_text()))
    return tags


def test_cis_ids_are_the_ones_the_roles_tag_their_tasks_with() -> None:
    """`ansible-playbook --tags cis_N` runs what test CIS-N checks: the same numbering."""
    tagged = _role_cis_tags()
    assert "5.1.20" in tagged  # the walk finds the roles' tags at all
    untagged = sorted(c for c in CONTROLS if c.startswith("CIS-") and c.removeprefix("CIS-") not in tagged)
    assert not untagged, f"CIS ids no role task is tagged with: {untagged}"


def test_readme_lists_every_prefix() -> None:
    section = (REPO / "README.md").read_text().split("### The auditor's suite", 1)
    assert len(section) == 2, "README.md has no section 'The auditor's suite'"
    body = section[1].split("\n## ", 1)[0].split("\n### ", 1)[0]
    listed = re.findall(r"^\| `([A-Z-]+)` \|", body, re.M)
    assert listed == list(PREFIXES), "README's prefix table and tests/infra/controls.py PREFIXES differ"


SAMPLE = '''
import pytest


@pytest.mark.control("CIS-5.1.20")
def test_passes():
    pass


@pytest.mark.control("CIS-5.1.19", "EF-SSH-1")
def test_fails():
    assert False, "the host disagrees"


@pytest.mark.parametrize("x", [pytest.param(1, marks=pytest.mark.control("CIS-3.3.1")),
                               pytest.param(2, marks=pytest.mark.control("CIS-3.3.2"))])
@pytest.mark.control("EF-OS-1")
def test_param(x):
    pass


@pytest.mark.control("EF-FRZ-5")
def test_skips():
    pytest.skip("options not given")


def test_without_id():
    pass
'''


def _cases(junit: Path) -> dict[str, tuple[str, list[str]]]:
    """{case name: (outcome, control properties)}."""
    out = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        outcome = next((t for t in ("failure", "error", "skipped") if case.find(t) is not None), "passed")
        props = [p.get("value", "") for p in case.iterfind("properties/property") if p.get("name") == "control"]
        out[case.get("name", "")] = (outcome, props)
    return out


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one-process", "xdist"])
def test_junit_case_names_carry_the_control_ids(tmp_path: Path, workers: list[str]) -> None:
    """The real hooks of tests/infra/conftest.py on a sample file; with xdist the ids
    come from the workers' reports and the controller names the cases."""
    (tmp_path / "conftest.py").write_text(textwrap.dedent("""
        from tests.infra.conftest import (  # noqa: F401 - the hooks under test
            pytest_addoption, pytest_collection_modifyitems, pytest_sessionfinish)
    """))
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    junit = tmp_path / "out.xml"
    res = _pytest("-c", str(REPO / "pyproject.toml"), "--rootdir", str(tmp_path), *workers,
                  str(tmp_path / "test_sample.py"), f"--junitxml={junit}", cwd=tmp_path)
    assert res.returncode == 1, res.stdout[-3000:] + res.stderr[-2000:]  # test_fails fails, nothing errs
    assert "warning" not in res.stdout.splitlines()[-1].lower(), res.stdout[-2000:]
    assert _cases(junit) == {
        "CIS-5.1.20 test_passes": ("passed", ["CIS-5.1.20"]),
        "CIS-5.1.19 EF-SSH-1 test_fails": ("failure", ["CIS-5.1.19", "EF-SSH-1"]),
        "EF-OS-1 CIS-3.3.1 test_param[1]": ("passed", ["EF-OS-1", "CIS-3.3.1"]),
        "EF-OS-1 CIS-3.3.2 test_param[2]": ("passed", ["EF-OS-1", "CIS-3.3.2"]),
        "EF-FRZ-5 test_skips": ("skipped", ["EF-FRZ-5"]),
        "test_without_id": ("passed", []),
    }


def test_a_real_infra_test_is_named_by_its_control(tmp_path: Path) -> None:
    """tests/infra itself, its own conftest: without --hosts these tests skip (they never
    test the machine running pytest), and their cases still carry their ids."""
    junit = tmp_path / "infra.xml"
    res = _pytest("tests/infra/test_lockout_guard.py::test_preflight_passes_for_the_real_operator",
                  "tests/infra/test_os_baseline.py::test_key_only_operator_is_not_aged", f"--junitxml={junit}")
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-2000:]
    assert _cases(junit) == {
        "EF-LOCK-2 test_preflight_passes_for_the_real_operator[local]": ("skipped", ["EF-LOCK-2"]),
        "EF-OS-4 test_key_only_operator_is_not_aged[local]": ("skipped", ["EF-OS-4"]),
    }


def test_the_lab_tiers_failure_proof_reads_the_test_name_after_the_ids(tmp_path: Path) -> None:
    """scripts/test-lab.sh's unhardened-host proof names tests (--expect test_x): it must find
    them in case names that now start with their control ids."""
    from tests.lab_tier.expect_failures import failed_tests

    junit = tmp_path / "j.xml"
    junit.write_text('<testsuites><testsuite name="pytest">'
                     '<testcase name="CIS-5.1.20 test_root_login_refused[ansible://count-db]">'
                     '<failure message="assert \'yes\' == \'no\'"/></testcase>'
                     '<testcase name="CIS-3.3.1 test_kernel_parameters[ansible://count-db-net.ipv4.ip_forward-0]">'
                     '<failure message="assert 1 == 0"/></testcase>'
                     '<testcase name="EF-SSH-4 test_service_activation[ansible://count-db]"/>'
                     '</testsuite></testsuites>')
    failed, passed, _ = failed_tests(junit)
    assert failed == {"test_root_login_refused", "test_kernel_parameters"} and passed == 1
