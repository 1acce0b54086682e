"""Find import cycles among the modules of a package, from source (no import).

Every `import` and `from ... import` statement counts, at module level or inside
a function: an import hidden in a function still ties the two modules together,
it only postpones the failure. Importing `a.b.c` also runs `a/__init__.py` and
`a/b/__init__.py`, so those packages are edges too, except the importer's own
ancestors (a module's parent package is already being imported when it runs).

Usage: python scripts/import_cycles.py [PACKAGE_DIR ...]   (default: freeze)
Exit status 0 when there is no cycle, 1 when there is (each cycle printed).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

Graph = dict[str, set[str]]


def module_name(path: Path, root: Path) -> str:
    """`root/freeze/evidence/root.py` -> `freeze.evidence.root` (root = the package's parent)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _ancestors(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> Iterable[str]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                # relative import: resolve against this module's package
                package = module if is_package else module.rpartition(".")[0]
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            yield base
            # `from pkg import name` may import the submodule pkg.name
            for alias in node.names:
                yield f"{base}.{alias.name}"


def build_graph(package_dirs: Iterable[Path]) -> Graph:
    """{module: modules it imports}, restricted to modules found under `package_dirs`."""
    sources: dict[str, tuple[Path, bool]] = {}
    for package_dir in package_dirs:
        root = package_dir.resolve().parent
        for path in sorted(package_dir.resolve().rglob("*.py")):
            sources[module_name(path, root)] = (path, path.name == "__init__.py")
    graph: Graph = {name: set() for name in sources}
    for name, (path, is_package) in sources.items():
        tree = ast.parse(path.read_bytes(), filename=str(path))
        own = set(_ancestors(name))
        for target in _imported_names(tree, name, is_package):
            for candidate in [*_ancestors(target), target]:
                if candidate in sources and candidate != name and candidate not in own:
                    graph[name].add(candidate)
    return graph


def find_cycles(graph: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (or a self-edge).

    Tarjan's algorithm, iterative so a deep graph cannot hit the recursion limit.
    Each cycle is returned sorted, and the list sorted, so output is stable.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = 0
    edges = {node: sorted(targets) for node, targets in graph.items()}
    for node in edges:
        for targets in edges[node]:
            edges.setdefault(targets, [])
    for start in sorted(edges):
        if start in index:
            continue
        work: list[tuple[str, int]] = [(start, 0)]
        while work:
            node, child_pos = work.pop()
            if child_pos == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = edges[node]
            if child_pos < len(children):
                work.append((node, child_pos + 1))
                child = children[child_pos]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    cycles.append(sorted(component))
    return sorted(cycles)


def main(argv: list[str]) -> int:
    dirs = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent / "freeze"]
    cycles = find_cycles(build_graph(dirs))
    for cycle in cycles:
        print("import cycle: " + " <-> ".join(cycle))
    if not cycles:
        print(f"no import cycles in {', '.join(str(d) for d in dirs)}")
    return 1 if cycles else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
