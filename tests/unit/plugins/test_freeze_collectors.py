"""module_utils/freeze_collectors: loads the collector source the action plugin sends.

Run in a child process of the system python3 (what the module runs on a host),
because registering `freeze.collect.*` would replace this process's own modules.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from freeze.collect.runner import run_all
from freeze.transport import collector_sources

SHIM = Path(__file__).resolve().parents[3] / "plugins" / "module_utils" / "freeze_collectors.py"
PYTHON = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable

CHILD = """
import importlib.util, json, sys
spec = importlib.util.spec_from_file_location("shim", sys.argv[1])
shim = importlib.util.module_from_spec(spec)
spec.loader.exec_module(shim)
request = json.load(sys.stdin)
try:
    runner = shim.install_collectors(request["sources"])
except ValueError as exc:
    print(json.dumps({"error": str(exc)}))
    raise SystemExit(0)
print(json.dumps(runner.run_all(request["spec"], {})))
"""


def child(sources: dict[str, str], spec: dict) -> dict:
    proc = subprocess.run([PYTHON, "-c", CHILD, str(SHIM)], capture_output=True, text=True,
                          input=json.dumps({"sources": sources, "spec": spec}), timeout=120)
    assert proc.returncode == 0, proc.stderr
    result: dict = json.loads(proc.stdout)
    return result


def test_loaded_collectors_collect_what_freeze_collects_here(tmp_path: Path) -> None:
    (tmp_path / "a.conf").write_text("x = 1\n")
    spec = {"paths": [{"path": str(tmp_path), "volatility": "static"}],
            "packages": {"enabled": False}, "services": {"enabled": False},
            "accounts": {"enabled": False}, "network": {"enabled": False},
            "kernel": {"enabled": False}}
    here = run_all(spec)
    there = child(collector_sources(), spec)
    if "error" in there:
        pytest.fail(there["error"])
    assert there["sections"]["files"] == here["sections"]["files"]
    assert str(tmp_path / "a.conf") in there["sections"]["files"]


def test_only_collector_modules_are_loaded() -> None:
    assert child({"os.path": "x = 1"}, {}) == {"error": "not a collector module: 'os.path'"}
