"""No two modules of the package or the benchmarks need each other, at any distance: a cycle
means a type lives in the wrong file (imports inside functions and under TYPE_CHECKING count)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _cycles_module():
    spec = importlib.util.spec_from_file_location(
        "import_cycles", REPO / "benchmarks/import_cycles.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_package_and_the_benchmarks_have_no_import_cycle():
    graph = _cycles_module()
    edges = graph.graph()
    assert "rag_recs.assistant.assistant" in edges and "benchmarks._common" in edges
    assert graph.cycles(edges) == []


def test_late_and_type_checking_imports_make_cycles_of_any_length(tmp_path):
    pkg = tmp_path / "pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("def f():\n    from pkg.b import g\n")
    (pkg / "b.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg import c\n"
    )
    (pkg / "c.py").write_text("from . import a\n")
    (pkg / "d.py").write_text("import pkg.a\n")  # on no cycle: a -> b -> c -> a only
    graph = _cycles_module()
    edges = graph.graph(tmp_path, ["pkg"])
    assert graph.cycles(edges) == [["pkg.a", "pkg.b", "pkg.c"]]
    (pkg / "a.py").write_text("")
    assert graph.cycles(graph.graph(tmp_path, ["pkg"])) == []
