"""The program shipped to remote hosts runs on a bare system python3 (standard
library only: no yaml, psycopg or freeze installed there) and collects exactly
what the in-process collectors collect, including awkward file names."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from freeze.collect.runner import run_all
from freeze.transport import remote_script

SYSTEM_PYTHON = Path("/usr/bin/python3")


@pytest.mark.skipif(not SYSTEM_PYTHON.exists(), reason="no system /usr/bin/python3")
def test_shipped_program_matches_in_process_collection(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "ünïcødé ✓.txt").write_text("é")
    (tree / "emoji-😀").write_text("x")
    os.close(os.open(os.fsencode(tree) + b"/latin1-\xe9", os.O_CREAT | os.O_WRONLY, 0o644))
    (tree / "latin1-\\xe9").write_text("a literal backslash: must not take the key above")
    os.symlink("/etc/passwd", tree / "abs-link")
    spec = {"root": "/", "paths": [{"path": str(tree), "volatility": "static",
                                    "recursive": True, "include": [], "exclude": []}],
            "packages": {"enabled": False}, "services": {"enabled": False},
            "accounts": {"enabled": True, "sudoers": True, "cron": True},
            "network": {"enabled": False}, "kernel": {"enabled": False}}
    program = remote_script({"spec": spec, "growing": {}})
    proc = subprocess.run([str(SYSTEM_PYTHON), "-I", "-"], input=program, capture_output=True,
                          timeout=120, env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode == 0, proc.stderr
    reply = json.loads(proc.stdout)
    assert reply["ok"] is True, reply
    here = json.loads(json.dumps(run_all(spec)))
    assert reply["result"]["sections"] == here["sections"]
    files = reply["result"]["sections"]["files"]
    assert f"{tree}/latin1-\\xe9" in files  # undecodable byte kept visible, not dropped
    assert f"{tree}/latin1-\\\\xe9" in files  # the look-alike keeps its own key
    assert len(files) == 6  # the directory and its five entries
    assert f"{tree}/emoji-😀" in files


def test_shipped_program_reports_errors_as_data(tmp_path):
    spec = {"root": "/", "paths": [{"path": str(tmp_path / "absent"), "volatility": "static",
                                    "recursive": True, "include": [], "exclude": []}]}
    proc = subprocess.run([str(SYSTEM_PYTHON), "-I", "-"],
                          input=remote_script({"spec": spec, "growing": {}}),
                          capture_output=True, timeout=120)
    reply = json.loads(proc.stdout)
    assert reply["ok"] is False and reply["kind"] == "noinput" and "absent" in reply["message"]
