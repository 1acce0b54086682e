"""load_manifest_dir: which files of a directory are hosts' manifests.

A ceremony's manifests directory holds the hosts' manifests, the database's
(database.manifest.json) and the fleet manifest naming them apart; `freeze verify
DIR --inventory` must not take the database's manifest for a host called "database".
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freeze.errors import InputError, NoInputError
from freeze.manifest import Manifest, load_manifest_dir


def _manifest(hostname: str) -> bytes:
    return Manifest(host={"hostname": hostname, "machine_id": "m"}, profile_name="p",
                    profile_digest="0" * 64).to_bytes()


def _ceremony_dir(tmp_path: Path, fleet: object | None) -> Path:
    for name in ("count-app", "results-tx", "database"):
        (tmp_path / f"{name}.manifest.json").write_bytes(_manifest(name))
    if fleet is not None:
        (tmp_path / "fleet-manifest.json").write_text(json.dumps(fleet))
    return tmp_path


def _fleet(*hosts: str) -> dict[str, object]:
    return {"schema": "freeze-fleet/v1",
            "manifests": {h: {"file": f"{h}.manifest.json", "sha256": "0" * 64, "size": 1} for h in hosts},
            "database": {"file": "database.manifest.json", "sha256": "0" * 64, "size": 1}}


def test_the_fleet_manifest_says_which_files_are_hosts(tmp_path: Path) -> None:
    loaded = load_manifest_dir(_ceremony_dir(tmp_path, _fleet("count-app", "results-tx")))
    assert sorted(loaded) == ["count-app", "results-tx"]
    assert loaded["results-tx"].host["hostname"] == "results-tx"


def test_without_a_fleet_manifest_every_manifest_file_is_a_host(tmp_path: Path) -> None:
    # what `freeze snapshot --inventory -o DIR` writes: HOST.manifest.json only
    assert sorted(load_manifest_dir(_ceremony_dir(tmp_path, None))) == ["count-app", "database", "results-tx"]


@pytest.mark.parametrize("fleet", [
    [],
    {"schema": "freeze-fleet/v1"},
    {"manifests": {"count-app": {"file": "count-app.manifest.json"}}},  # no schema
    {"schema": "freeze-fleet/v1", "manifests": {"count-app": "count-app.manifest.json"}},
    {"schema": "freeze-fleet/v1", "manifests": {"count-app": {"file": "../count-app.manifest.json"}}},
])
def test_a_malformed_fleet_manifest_is_refused(tmp_path: Path, fleet: object) -> None:
    with pytest.raises(InputError, match="fleet-manifest.json"):
        load_manifest_dir(_ceremony_dir(tmp_path, fleet))


def test_a_fleet_manifest_that_is_not_json_is_refused(tmp_path: Path) -> None:
    d = _ceremony_dir(tmp_path, None)
    (d / "fleet-manifest.json").write_text("{not json")
    with pytest.raises(InputError, match="unreadable fleet manifest"):
        load_manifest_dir(d)


def test_a_host_named_by_the_fleet_manifest_without_its_file_is_an_error(tmp_path: Path) -> None:
    d = _ceremony_dir(tmp_path, _fleet("count-app", "count-db"))
    with pytest.raises(NoInputError, match="count-db.manifest.json"):  # exit 66, like any missing input
        load_manifest_dir(d)
