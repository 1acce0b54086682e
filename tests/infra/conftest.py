"""testinfra fixtures for the lab hosts (tests/infra).

Run against a booted fleet, e.g. (scripts/test-lab.sh does this):

    pytest -m lab tests/infra --hosts='ansible://counting_servers' \
        --ansible-inventory=.lab/fleet/inventory

Every test here is marked ``lab``. Without ``--hosts`` testinfra would test the
machine running pytest, which is never what these tests mean, so they skip.

Every test also names the controls it checks (``@pytest.mark.control("CIS-5.1.20")``,
catalogue in tests/infra/controls.py). The JUnit XML names each test case with its
ids first and lists them as ``control`` properties, so an auditor's report tool
shows "CIS-5.1.20 test_root_login_refused[ansible://count-db]".

The auditor's options (test_frozen_state.py; without them that test skips):
``--freeze-manifests DIR --freeze-profile FILE --freeze-root FILE``
[``--freeze-envelope FILE``] [``--freeze-fleet FILE``]; ``--control-map FILE``
writes which test checks which controls.
"""

from __future__ import annotations

import json
import os
import xml.etree.ElementTree as ET
from collections.abc import Generator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lab.config import paths_from_env
from tests.infra.lab_host import hostvars

CONTROL_PROPERTY = "control"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("election-freeze auditor's suite (tests/infra)")
    group.addoption("--freeze-manifests", metavar="DIR",
                    help="the ceremony's host manifests, DIR/HOST.manifest.json per inventory host: "
                         "test_frozen_state checks each host against its own")
    group.addoption("--freeze-profile", metavar="FILE|DIR",
                    help="the freeze profile the manifests were taken with, or a directory of "
                         "HOST.profile.yml (the ceremony's DIR/profiles)")
    group.addoption("--freeze-root", metavar="FILE",
                    help="the ceremony root envelope (root.json) the manifest signature is checked against")
    group.addoption("--freeze-envelope", metavar="FILE",
                    help="the signed manifest statement (default DIR/HOST.manifest.dsse.json, as verify.yml)")
    group.addoption("--freeze-fleet", metavar="FILE",
                    help="the signed fleet manifest the envelope names (default DIR/fleet-manifest.json "
                         "when it exists)")
    group.addoption("--control-map", metavar="FILE",
                    help="write {test node id: [control ids]} of the collected tests as JSON")


def control_ids(item: pytest.Item) -> list[str]:
    """The control ids a test names on itself or on its parameter, in order, each once.

    Only the function's own marks count (decorator or pytest.param marks), not a
    module's or class's pytestmark: a new test in a file must name its controls,
    never inherit its neighbours' by accident.
    """
    ids: list[str] = []
    for mark in item.own_markers:
        if mark.name == "control":
            ids += [str(a) for a in mark.args if str(a) not in ids]
    return ids


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.lab)
        # user_properties travel in the test report, also from pytest-xdist workers
        # (the lab tier runs -n 3) to the controller that writes the JUnit XML
        item.user_properties += [(CONTROL_PROPERTY, c) for c in control_ids(item)]
    # The frozen-state check (this host against its signed manifest) runs first: other
    # tests probe the hosts (a probe user, audit records, marker files), and a probe's
    # trace must never be what that check reports as drift.
    items.sort(key=lambda item: Path(str(item.fspath)).name != "test_frozen_state.py")
    out = config.getoption("control_map", None)
    if out and not hasattr(config, "workerinput"):
        Path(out).write_text(json.dumps({i.nodeid: control_ids(i) for i in items}, indent=1) + "\n")


def name_cases_by_control(junit: Path) -> None:
    """Put each test case's control ids in front of its name in the JUnit XML file.

    The ids come from the case's own ``control`` properties. Done on the finished
    file because pytest offers no supported way to set a case's name: its
    ``record_xml_attribute`` fixture is experimental, warns under the default
    xunit2 family, and does nothing on xdist workers (only the controller has the
    XML writer), which is how the lab tier runs tests/infra.
    """
    tree = ET.parse(junit)
    changed = False
    for case in tree.getroot().iter("testcase"):
        ids = [p.get("value", "") for p in case.iterfind("properties/property")
               if p.get("name") == CONTROL_PROPERTY]
        name = case.get("name", "")
        prefix = " ".join(ids) + " "
        if ids and not name.startswith(prefix):
            case.set("name", prefix + name)
            changed = True
    if changed:
        tmp = junit.with_name(junit.name + ".tmp")
        tree.write(tmp, encoding="utf-8", xml_declaration=True)
        os.replace(tmp, junit)


@pytest.hookimpl(wrapper=True)
def pytest_sessionfinish(session: pytest.Session) -> Generator[None, None, None]:
    # after every other implementation: pytest's own junitxml writes the file in its
    # pytest_sessionfinish; the controller (not an xdist worker) owns that file
    result = yield
    junit = session.config.option.xmlpath
    if junit and not hasattr(session.config, "workerinput"):
        path = Path(os.path.expandvars(junit)).expanduser()  # as pytest's junitxml reads the option
        if path.is_file():
            name_cases_by_control(path)
    return result


@dataclass(frozen=True)
class SshTarget:
    """How the test machine reaches a lab host's sshd directly (not via testinfra)."""

    hostname: str
    port: int
    user: str
    key_file: str | None


@pytest.fixture
def ssh_target(host) -> SshTarget:  # noqa: ANN001 - testinfra's host fixture
    variables = hostvars(host)
    key = variables.get("ansible_ssh_private_key_file") or variables.get("ansible_private_key_file")
    return SshTarget(
        hostname=str(variables.get("ansible_host", host.backend.host)),
        port=int(variables.get("ansible_port", 22)),
        user=str(variables["ansible_user"]),
        key_file=str(key) if key else None,
    )


@pytest.fixture(scope="session")
def operator_password() -> str | None:
    """The lab operator's real password (lab cache), to prove SSH refuses it."""
    path = paths_from_env().ssh_key.parent / "operator-password"
    return path.read_text().strip() if path.exists() else None
