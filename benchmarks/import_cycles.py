"""The import graph of ``rag_recs/`` and ``benchmarks/``, and every cycle in it.

Every import counts: at module level, inside functions and under ``TYPE_CHECKING`` (a cycle made
to work by a late import is still two modules that need each other). ``from pkg import name``
counts as an import of ``pkg.name`` when that is a module, else of ``pkg``; a package's
``__init__`` is a module like any other.

    python benchmarks/import_cycles.py        # prints the cycles, exit 1 if there are any
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("rag_recs", "benchmarks")


def module_name(path: Path, root: Path = ROOT) -> str:
    """``rag_recs/assistant/__init__.py`` -> ``rag_recs.assistant``."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, Path]:
    """Every Python module of ``packages`` under ``root``, by dotted name."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            found[module_name(path, root)] = path
    return found


def _imported(node: ast.Import | ast.ImportFrom, name: str, is_package: bool) -> list[list[str]]:
    """The dotted names one import statement of module ``name`` may refer to, most specific
    first for each imported name (``pkg.name``, then ``pkg``)."""
    if isinstance(node, ast.Import):
        return [[alias.name] for alias in node.names]
    if node.level:  # relative: resolved against this module's package
        base = name.split(".") if is_package else name.split(".")[:-1]
        base = base[: len(base) - (node.level - 1)]
        stem = ".".join(base + ([node.module] if node.module else []))
    else:
        stem = node.module or ""
    return [[f"{stem}.{alias.name}", stem] for alias in node.names]


def node_is_relative(node: ast.Import | ast.ImportFrom) -> bool:
    return isinstance(node, ast.ImportFrom) and node.level > 0


def graph(root: Path = ROOT, packages: Iterable[str] = PACKAGES) -> dict[str, set[str]]:
    """Module -> the project modules it imports (anywhere in its file).

    ``from pkg import name`` is an edge to ``pkg.name`` when that is a module, else to ``pkg``;
    a bare ``import sibling`` in a script is an edge to the module beside it.
    """
    known = modules(root, packages)
    edges: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            folder = name if is_package else name.rpartition(".")[0]
            for choices in _imported(node, name, is_package):
                # a script's "import _common" finds its sibling (benchmarks put their folder
                # on sys.path)
                choices += [f"{folder}.{c}" for c in choices if not node_is_relative(node)]
                target = next((c for c in choices if c in known), None)
                if target is not None and target != name:
                    edges[name].add(target)
    return edges


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Every elementary cycle, each once, starting from its smallest module name (a plain DFS:
    the graph is a few hundred edges, so Johnson's algorithm would buy nothing here)."""
    found: list[list[str]] = []
    order = sorted(edges)
    rank = {name: i for i, name in enumerate(order)}
    for start in order:
        # cycles whose smallest member is ``start``: search only among larger names
        stack = [(start, iter(sorted(edges[start])))]
        path, on_path = [start], {start}
        while stack:
            node, children = stack[-1]
            child = next(children, None)
            if child is None:
                stack.pop()
                on_path.discard(path.pop())
                continue
            if child == start:
                found.append(list(path))
            elif rank[child] > rank[start] and child not in on_path:
                path.append(child)
                on_path.add(child)
                stack.append((child, iter(sorted(edges[child]))))
    return found


def main() -> int:
    edges = graph()
    found = cycles(edges)
    n_edges = sum(len(t) for t in edges.values())
    print(f"{len(edges)} modules, {n_edges} import edges, {len(found)} cycles")
    for cycle in found:
        print("  " + " -> ".join(cycle + cycle[:1]))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
