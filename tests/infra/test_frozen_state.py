"""This host matches its signed freeze manifest (control EF-FRZ-5, issue 15).

The auditor's end-state check after the ceremony, as `playbooks/verify.yml` makes it
for one host, with the same library calls:

1. the manifest DIR/HOST.manifest.json is the SIGNED one, proved on this machine
   before the host is touched (`freeze.fleet.check_signed_manifest`: the envelope
   verifies against the ceremony root - threshold of distinct people, root
   self-signed, statement bound to the ceremony, root not expired - and names
   the manifest's sha256, or that of the signed fleet manifest that names it);
2. the host is collected again through the same Ansible inventory testinfra uses
   (playbook election.freeze.collect, with privilege escalation: the collectors
   read root-only files) and compared with the manifest (`freeze.drift`); any
   drift fails the test, naming each item.

Options (tests/infra/conftest.py): --freeze-manifests DIR --freeze-profile FILE|DIR
(a directory: the ceremony's DIR/profiles, HOST.profile.yml per host)
--freeze-root FILE [--freeze-envelope FILE] [--freeze-fleet FILE]. Without them
the test skips, so a lab run that is not an audit is unchanged. For the layout a
ceremony directory C leaves (playbooks/freeze-ceremony.yml): DIR = C/manifests,
root C/ceremony/root.json, envelope C/ceremony/manifest.dsse.json, fleet
C/manifests/fleet-manifest.json, profiles C/profiles (scripts/audit-suite.sh --ceremony C sets them).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.infra.lab_host import hostvars

FIRST_ITEMS = 20  # drift items named in the failure message; the count says how many more


@dataclass(frozen=True)
class Frozen:
    manifests: Path
    profile: Path
    root: Path
    envelope: Path | None  # None: DIR/HOST.manifest.dsse.json, as verify.yml
    fleet: Path | None


@pytest.fixture(scope="session")
def frozen(request: pytest.FixtureRequest) -> Frozen:
    def option(name: str) -> Path | None:
        # default None: when tests/infra is not on the command line its conftest's
        # options are not registered, and the test just skips
        value = request.config.getoption(name, None)
        return Path(value).resolve() if value else None

    manifests, profile, root = option("freeze_manifests"), option("freeze_profile"), option("freeze_root")
    if not (manifests or profile or root):
        pytest.skip("no frozen state to check: pass --freeze-manifests DIR --freeze-profile FILE "
                    "--freeze-root FILE (scripts/audit-suite.sh --ceremony DIR does)")
    missing = [f"--freeze-{n}" for n, v in (("manifests", manifests), ("profile", profile), ("root", root))
               if v is None]
    if missing:
        # an audit asked for and half given is an error, never a silent skip
        pytest.fail(f"the frozen-state check also needs {' '.join(missing)}", pytrace=False)
    assert manifests and profile and root  # for mypy: checked just above
    fleet = option("freeze_fleet")
    if fleet is None and (manifests / "fleet-manifest.json").is_file():
        fleet = manifests / "fleet-manifest.json"  # where the ceremony writes it
    return Frozen(manifests, profile, root, option("freeze_envelope"), fleet)


@pytest.mark.control("EF-FRZ-5")
def test_host_matches_its_signed_manifest(host: Any, frozen: Frozen) -> None:
    from freeze.drift import verify_inventory
    from freeze.errors import FreezeError
    from freeze.fleet import check_signed_manifest
    from freeze.manifest import load_manifest
    from freeze.profile import load_profile
    from freeze.transport import AnsibleInventory

    hostvars(host)  # skips unless testinfra reaches the host through an Ansible inventory
    name = host.backend.host
    manifest = frozen.manifests / f"{name}.manifest.json"
    if not manifest.is_file():
        pytest.fail(f"{name}: no manifest {manifest} (every inventory host has one after the ceremony)",
                    pytrace=False)
    envelope = frozen.envelope or manifest.with_name(f"{name}.manifest.dsse.json")
    try:
        check_signed_manifest(manifest, envelope, frozen.root, host=name, fleet=frozen.fleet)
    except FreezeError as exc:
        pytest.fail(f"{name}: NOT VERIFIED: {exc}", pytrace=False)
    # a directory: the ceremony's DIR/profiles, each host's composed profile (HOST.profile.yml)
    profile_path = frozen.profile / f"{name}.profile.yml" if frozen.profile.is_dir() else frozen.profile
    try:
        profile = load_profile(str(profile_path))
        inventory = AnsibleInventory(str(host.backend.ansible_inventory), profile_path=str(profile_path),
                                     limit=name, become=True)
        result = verify_inventory({name: load_manifest(manifest)}, profile, inventory)[name]
    except FreezeError as exc:
        result = exc
    if isinstance(result, Exception):
        pytest.fail(f"{name}: NOT VERIFIED (signed manifest, host not compared): {result}", pytrace=False)
    items = [f"{e.category} {e.kind} {e.key}" for e in result.entries]
    counts = result.counts()
    more = f"; ... {len(items) - FIRST_ITEMS} more" if len(items) > FIRST_ITEMS else ""
    assert not items, (f"{name} drifted from its signed manifest: {counts['added']} added, "
                       f"{counts['removed']} removed, {counts['changed']} changed: "
                       + "; ".join(items[:FIRST_ITEMS]) + more)
