"""freeze has no import cycles, counting imports inside functions too."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[2]


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("import_cycles", REPO / "scripts/import_cycles.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("import_cycles", module)
    spec.loader.exec_module(module)
    return module


def test_freeze_has_no_import_cycles() -> None:
    checker = _checker()
    graph = checker.build_graph([REPO / "freeze"])
    assert "freeze.cli" in graph and graph["freeze.cli"], "the graph must see freeze's imports"
    assert checker.find_cycles(graph) == []


def test_a_synthetic_cycle_is_found() -> None:
    checker = _checker()
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}, "e": {"e"}}
    assert checker.find_cycles(graph) == [["a", "b", "c"], ["e"]]
    assert checker.find_cycles({"a": {"b"}, "b": set()}) == []


def test_a_function_level_import_cycle_is_found(tmp_path: Path) -> None:
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("def f():\n    from pkg import top\n")
    (pkg / "sub" / "leaf.py").write_text("X = 1\n")
    # importing pkg.sub.leaf runs pkg/sub/__init__.py, which imports pkg.top
    (pkg / "top.py").write_text("def g():\n    from pkg.sub.leaf import X\n    return X\n")
    checker = _checker()
    assert checker.find_cycles(checker.build_graph([pkg])) == [["pkg.sub", "pkg.top"]]
    # a child module importing its own parent package is not a cycle
    (pkg / "sub" / "__init__.py").write_text("from pkg.sub import leaf\n")
    (pkg / "sub" / "leaf.py").write_text("import pkg.sub\n")
    assert checker.find_cycles(checker.build_graph([pkg])) == []
    assert main_exit(checker, pkg) == 0


def main_exit(checker: ModuleType, pkg: Path) -> int:
    return int(checker.main([str(pkg)]))
