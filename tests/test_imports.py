"""No import circles: no csslab module imports one that imports it back, directly or through others,
at module level or inside a function (a function-level import hides a circle; it does not remove it)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "csslab"


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path, modules: set[str]) -> set[str]:
    """The csslab modules ``path`` imports anywhere in its code (``from package import module``
    counts as the module, ``from module import name`` as the module)."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: from .x import y
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return {m for m in found if m in modules and m != name}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    modules = {module_name(p) for p in paths}
    return {module_name(p): imported_modules(p, modules) for p in paths}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_walker_sees_function_level_and_relative_imports():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]
    assert import_graph()["csslab.cli.main"] >= {"csslab.core.config", "csslab.training.train"}  # cli imports train in a function


def test_no_module_imports_one_that_imports_it_back():
    graph = import_graph()
    found = circles(graph)
    described = []
    for component in found:
        pairs = [f"{a} -> {b}" for a in component for b in sorted(graph[a]) if b in component]
        described.append(", ".join(pairs))
    assert not found, "import circles: " + " | ".join(described)


def test_reading_reports_does_not_load_torch():
    code = ("import sys, csslab.reports, csslab.reports.tables, csslab.reports.benchmark_table; "
            "assert 'torch' not in sys.modules, 'torch was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# csslab's layers, bottom first (docs/architecture.md): a module imports from its own folder and from folders
# on lower floors only. Folders on one floor do not import each other.
FLOORS = [
    {"core"},
    {"data"},
    {"scenarios", "model", "evaluation", "losses"},
    {"methods"},
    {"store"},
    {"training", "reports"},
    {"experiments"},
    {"cli", "api"},  # the two entry points: the command and the Python function csslab.run
]
ENTRY = {"csslab", "csslab.__main__"}  # the package's own __init__ and `python -m csslab`


def floor(module: str) -> tuple[int, str]:
    """The floor and folder of a csslab module, read off its path (csslab.FOLDER.module or csslab.api)."""
    folder = module.split(".")[1]
    for number, folders in enumerate(FLOORS):
        if folder in folders:
            return number, folder
    raise AssertionError(f"{module} lies in no layer: put it in one of the folders of FLOORS")


def test_every_import_runs_down_the_layers():
    graph = import_graph()
    upward = []
    for module, imported in graph.items():
        if module in ENTRY:
            continue
        level, folder = floor(module)
        for other in imported - ENTRY:
            other_level, other_folder = floor(other)
            if other_folder != folder and other_level >= level:
                upward.append(f"{module} (floor {level}) -> {other} (floor {other_level})")
    assert not upward, "imports against the layers:\n" + "\n".join(sorted(upward))


def test_the_layer_check_sees_an_upward_import():
    assert floor("csslab.store.results") == (4, "store")
    assert floor("csslab.api")[0] == len(FLOORS) - 1
    graph = import_graph()
    assert "csslab.store.rundir" in graph["csslab.store.runstore"]  # the walker sees the store's own imports
    with __import__("pytest").raises(AssertionError, match="no layer"):
        floor("csslab.nowhere.module")
