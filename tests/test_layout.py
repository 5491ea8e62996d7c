"""The package's import graph: no circles, and the CLI on top.

Every ``import`` and ``from ... import`` statement of every module under ``src/fusedstab`` is
read with :mod:`ast` (imports inside functions included: they run too, only later) and turned
into edges between fusedstab modules. ``from a.b import c`` is an edge to ``a.b.c`` when that
is a module, else to ``a.b``; the implicit import of parent packages is not an edge.
"""

from __future__ import annotations

import ast
from pathlib import Path

import fusedstab

PACKAGE_DIR = Path(fusedstab.__file__).resolve().parent
ROOT = "fusedstab"
CLI = "fusedstab.cli"
#: ``python -m fusedstab`` runs the CLI: the one module outside it that may import it
CLI_ENTRY_POINTS = {"fusedstab.__main__"}


def _modules() -> dict[str, tuple[Path, bool]]:
    """``{dotted name: (file, is_package)}`` for every module of the package."""
    out = {}
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        parts = [ROOT, *path.relative_to(PACKAGE_DIR).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts = parts[:-1]
        out[".".join(parts)] = (path, is_package)
    return out


def _imported(node: ast.Import | ast.ImportFrom, module: str, is_package: bool, modules) -> list[str]:
    """The fusedstab modules one import statement names."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[: len(base) - (node.level - 1)]
            source = ".".join(base + ([node.module] if node.module else []))
        else:
            source = node.module or ""
        names = [f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source for alias in node.names]
    out = []
    for name in names:
        while name and name not in modules:  # ``import fusedstab.io.video as v`` -> the module; attributes -> their module
            name = name.rpartition(".")[0]
        if name.split(".")[0] == ROOT and name:
            out.append(name)
    return out


def import_graph() -> dict[str, set[str]]:
    """``{module: the fusedstab modules it imports}`` (itself left out)."""
    modules = _modules()
    graph = {}
    for module, (path, is_package) in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                edges.update(_imported(node, module, is_package, modules))
        edges.discard(module)
        graph[module] = edges
    return graph


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One circle (``[a, b, ..., a]``) for every strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(group)

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return [_circle_in(set(g), graph) for g in groups]


def _circle_in(group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """A shortest circle through the group's first module, for the failure message."""
    start = min(group)
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(graph[v] & group):
                if w == start:
                    return paths[v] + [start]
                if w not in paths:
                    paths[w] = paths[v] + [w]
                    nxt.append(w)
        frontier = nxt
    return sorted(group)  # pragma: no cover - a strongly connected group always has one


def test_the_graph_sees_the_package():
    graph = import_graph()
    assert {"fusedstab", "fusedstab.pipeline", "fusedstab.cli", "fusedstab.cli.stabilize",
            "fusedstab.measure.metrics"} <= set(graph)
    assert "fusedstab.pipeline" in graph["fusedstab"]
    assert "fusedstab.cli.options" in graph["fusedstab.cli.stabilize"]
    assert "fusedstab" in graph["fusedstab.cli"]  # from .. import __version__


def test_cycle_finder_finds_a_circle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert find_cycles(graph) == [["a", "b", "c", "a"]]
    assert find_cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_circles():
    cycles = find_cycles(import_graph())
    assert not cycles, "import circles: " + "; ".join(" -> ".join(c) for c in cycles)


def test_only_the_cli_imports_the_cli():
    bad = [f"{m} -> {t}" for m, targets in sorted(import_graph().items()) for t in sorted(targets)
           if (t == CLI or t.startswith(CLI + ".")) and not (m == CLI or m.startswith(CLI + "."))
           and m not in CLI_ENTRY_POINTS]
    assert not bad, "library modules import the CLI: " + ", ".join(bad)


def test_no_dynamic_imports():
    """``importlib.import_module`` / ``__import__`` would hide edges from the checks above."""
    found = []
    for module, (path, _) in _modules().items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call):
                f = node.func
                name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
                if name in ("import_module", "__import__"):
                    found.append(f"{module}:{node.lineno}")
    assert not found, "dynamic imports: " + ", ".join(found)
