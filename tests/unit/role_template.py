"""Render one of a role's templates the way a converge does: ansible-playbook on
localhost with the role's defaults and internal vars, the host a member of the
given inventory groups, extra variables as -e. Shared by the unit tests that parse
a role's rendered configuration back."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
ANSIBLE_PLAYBOOK = Path(sys.executable).with_name("ansible-playbook")


def render_role_template(tmp_path: Path, role: str, template: str, groups: list[str] | None = None,
                         os_vars: bool = False, **overrides: Any) -> str:
    """os_vars: also load the role's vars/Debian-12.yml (values platform_support loads)."""
    base = REPO / "roles" / role
    target = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable}
    inventory = {"all": {"hosts": {"target": target},
                         "children": {g: {"hosts": {"target": None}} for g in groups or []}}}
    (tmp_path / "hosts.yml").write_text(yaml.safe_dump(inventory))
    out = tmp_path / f"{role}.rendered"
    play = [{"hosts": "target", "gather_facts": False,
             "vars_files": [str(base / "defaults/main.yml"), str(base / "vars/main.yml")]
             + ([str(base / "vars/Debian-12.yml")] if os_vars else []),
             "tasks": [{"ansible.builtin.template": {"src": str(base / "templates" / template),
                                                      "dest": str(out), "mode": "0600"}}]}]
    (tmp_path / "play.yml").write_text(yaml.safe_dump(play))
    (tmp_path / "extra.json").write_text(json.dumps(overrides))
    env = dict(os.environ, ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1")
    res = subprocess.run([str(ANSIBLE_PLAYBOOK), "-i", str(tmp_path / "hosts.yml"), str(tmp_path / "play.yml"),
                          "-e", f"@{tmp_path / 'extra.json'}"],
                         cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    return out.read_text()
