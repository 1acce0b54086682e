"""Every role of the election.freeze collection follows one convention:

* meta/argument_specs.yml is the single source of truth for its variables: every
  default in defaults/main.yml is documented there with the same value, nothing is
  documented as a default that defaults/main.yml omits, required options have no
  default, and a default is one of its choices;
* a <role>_enabled master switch;
* internal names (vars/, registered results, set_fact) are __<role>_*;
* handler names are capitalised;
* the README's variable table is the one scripts/role_docs.py generates.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
ROLES = sorted(p.parent.parent.name for p in (REPO / "roles").glob("*/meta/argument_specs.yml"))
# The shared preamble is included by the other roles, never switched off on its own.
HELPER_ROLES = {"platform_support"}
PYTYPES = {"bool": bool, "int": int, "str": str, "list": list, "dict": dict}


def _load(path: Path):
    return yaml.safe_load(path.read_text()) or {}


def _spec(role: str) -> dict:
    return _load(REPO / "roles" / role / "meta/argument_specs.yml")["argument_specs"]["main"].get("options", {})


def _defaults(role: str) -> dict:
    path = REPO / "roles" / role / "defaults/main.yml"
    return _load(path) if path.exists() else {}


def test_every_role_has_argument_specs():
    assert set(ROLES) >= {"ssh_hardening", "os_baseline", "nftables_firewall", "audit_trail",
                          "lockout_guard", "lynis_evidence"}
    assert sorted(p.name for p in (REPO / "roles").iterdir() if p.is_dir()) == ROLES


@pytest.mark.parametrize("role", ROLES)
def test_every_default_is_documented_with_the_same_value(role):
    spec, defaults = _spec(role), _defaults(role)
    undocumented = sorted(set(defaults) - set(spec))
    assert not undocumented, f"{role}: defaults/main.yml has variables argument_specs lacks: {undocumented}"
    wrong = {name: (spec[name].get("default"), value) for name, value in defaults.items()
             if spec[name].get("default") != value}
    assert not wrong, f"{role}: argument_specs default != defaults/main.yml value (spec, defaults): {wrong}"


@pytest.mark.parametrize("role", ROLES)
def test_nothing_is_documented_as_a_default_that_defaults_omit(role):
    spec, defaults = _spec(role), _defaults(role)
    phantom = sorted(name for name, opt in spec.items() if "default" in opt and name not in defaults)
    assert not phantom, f"{role}: argument_specs documents defaults that defaults/main.yml does not set: {phantom}"


@pytest.mark.parametrize("role", ROLES)
def test_required_choices_and_types_are_consistent(role):
    spec, defaults = _spec(role), _defaults(role)
    for name, opt in spec.items():
        assert name.startswith(role + "_"), f"{role}: option {name} lacks the role prefix"
        assert opt.get("description"), f"{role}: {name} has no description"
        if opt.get("required"):
            assert "default" not in opt and name not in defaults, f"{role}: {name} is required but has a default"
        if name in defaults and "choices" in opt:
            assert defaults[name] in opt["choices"], f"{role}: default of {name} is not one of its choices"
        value = defaults.get(name)
        if name in defaults and opt.get("type") in PYTYPES and not (isinstance(value, str) and "{{" in value):
            assert isinstance(value, PYTYPES[opt["type"]]), f"{role}: {name} default {value!r} is not {opt['type']}"
        if opt.get("type") == "list" and name in defaults:
            assert "elements" in opt, f"{role}: list option {name} should say its elements"


@pytest.mark.parametrize("role", sorted(set(ROLES) - HELPER_ROLES))
def test_master_switch(role):
    assert isinstance(_defaults(role).get(f"{role}_enabled"), bool)
    main = (REPO / "roles" / role / "tasks/main.yml").read_text()
    assert f"when: not ({role}_enabled | bool)" in main, f"{role}: tasks/main.yml must end the role when disabled"


def _task_files(role: str):
    base = REPO / "roles" / role
    return sorted(base.glob("tasks/**/*.yml")) + sorted(base.glob("handlers/*.yml"))


def _tasks(node):
    """Every task dict of a task file, blocks included."""
    if isinstance(node, list):
        for item in node:
            yield from _tasks(item)
    elif isinstance(node, dict):
        yield node
        for key in ("block", "rescue", "always"):
            if key in node:
                yield from _tasks(node[key])


@pytest.mark.parametrize("role", ROLES)
def test_internal_names_are_double_underscored(role):
    internal = f"__{role}_"
    bad = []
    for path in sorted((REPO / "roles" / role).glob("vars/*.yml")):
        bad += [f"{path.name}: {k}" for k in _load(path) if not k.startswith(internal)]
    for path in _task_files(role):
        for task in _tasks(_load(path) or []):
            if "register" in task and not task["register"].startswith(internal):
                bad.append(f"{path.name}: register {task['register']}")
            facts = task.get("ansible.builtin.set_fact") or {}
            bad += [f"{path.name}: set_fact {k}" for k in facts if not k.startswith(internal)]
            bad += [f"{path.name}: task var {k}" for k in (task.get("vars") or {})
                    if not (k.startswith(internal) or k.startswith("platform_support_role"))]
    assert not bad, f"{role}: internal names must start with {internal}: {bad}"


@pytest.mark.parametrize("role", ROLES)
def test_handler_names_are_capitalised(role):
    path = REPO / "roles" / role / "handlers/main.yml"
    if not path.exists():
        pytest.skip("no handlers")
    for handler in _load(path) or []:
        assert handler["name"][:1].isupper(), f"{role}: handler {handler['name']!r} is not capitalised"


def test_readme_variable_tables_are_current():
    res = subprocess.run([sys.executable, str(REPO / "scripts/role_docs.py"), "--check"],
                         capture_output=True, text=True, cwd=REPO)
    assert res.returncode == 0, res.stdout + res.stderr
