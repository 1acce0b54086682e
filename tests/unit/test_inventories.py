"""The shipped inventories (example = production shape, lab = the VMs): they parse,
every playbook passes its syntax check with them, and every variable they set is
an option of a role (so a typo such as `nftables_firewal_address` cannot sit
there unnoticed, silently ignored) and is commented where it is set."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
INVENTORIES = {"example": REPO / "inventories" / "example", "lab": REPO / "inventories" / "lab"}
# not role options: connection settings, secrets, and each inventory's own helpers
ALLOWED_PREFIXES = {"example": ("ansible_", "vault_", "example_"), "lab": ("ansible_", "lab_", "__lab_")}
GROUPS = {"counting_servers", "counting_db", "counting_app", "monitoring", "results_web", "transmission"}

pytestmark = pytest.mark.skipif(not (BIN / "ansible-inventory").exists(), reason="ansible not in this venv")


def _run(*argv: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=180, check=False)


def _role_options() -> set[str]:
    options: set[str] = set()
    for spec in REPO.glob("roles/*/meta/argument_specs.yml"):
        for entry in yaml.safe_load(spec.read_text())["argument_specs"].values():
            options.update(entry.get("options", {}))
    return options


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_inventory_graph_has_every_functional_group(name: str) -> None:
    res = _run(str(BIN / "ansible-inventory"), "-i", str(INVENTORIES[name]), "--list")
    assert res.returncode == 0, res.stderr
    groups = set(json.loads(res.stdout)) - {"_meta", "all", "ungrouped"}
    assert groups >= GROUPS, GROUPS - groups
    graph = _run(str(BIN / "ansible-inventory"), "-i", str(INVENTORIES[name]), "--graph")
    assert graph.returncode == 0 and "@counting_servers:" in graph.stdout, graph.stderr


@pytest.mark.parametrize("name", sorted(INVENTORIES))
@pytest.mark.parametrize("playbook", sorted(p.name for p in (REPO / "playbooks").glob("*.yml")))
def test_every_playbook_passes_the_syntax_check_with_the_inventory(name: str, playbook: str) -> None:
    res = _run(str(BIN / "ansible-playbook"), "-i", str(INVENTORIES[name]), "--syntax-check",
               str(REPO / "playbooks" / playbook))
    assert res.returncode == 0, res.stdout + res.stderr


def _variable_problems(inventory: Path, prefixes: tuple[str, ...]) -> list[str]:
    options = _role_options()
    problems = []
    for path in sorted((inventory / "group_vars").rglob("*.yml")):
        if path.name == "vault.yml":
            continue
        text = path.read_text()
        for key in (yaml.safe_load(text) or {}):
            if key not in options and not key.startswith(prefixes):
                problems.append(f"{path.name}: {key} is no role's option")
        # a paragraph (lines between blank lines) that sets a variable carries a comment
        for para in re.split(r"\n\s*\n", text):
            keys = re.findall(r"^([A-Za-z_][A-Za-z0-9_]*):", para, flags=re.M)
            if keys and not re.search(r"^\s*#", para, flags=re.M):
                problems.append(f"{path.name}: {', '.join(keys)} without a comment")
    return problems


@pytest.mark.parametrize("name", sorted(INVENTORIES))
def test_every_variable_is_a_role_option_and_commented(name: str) -> None:
    problems = _variable_problems(INVENTORIES[name], ALLOWED_PREFIXES[name])
    assert not problems, "\n".join(problems)


def test_a_misspelt_or_undocumented_variable_is_caught(tmp_path: Path) -> None:
    (tmp_path / "group_vars").mkdir()
    (tmp_path / "group_vars" / "all.yml").write_text(
        "---\n# the address peers see\nnftables_firewal_address: 10.0.0.1\n\nos_baseline_ntp_servers: []\n")
    assert _variable_problems(tmp_path, ("ansible_",)) == [
        "all.yml: nftables_firewal_address is no role's option",
        "all.yml: os_baseline_ntp_servers without a comment"]
