"""No import cycle in our code: the layer (``hitkey_bff``), ``local``, ``tools``, ``bench``,
``testkit`` and ``tests``.

The imports are read from the source (AST, nothing is imported). Every import counts, wherever
it stands: at the top of a module, inside a function (a deferred import still makes the two
modules depend on each other) and under ``if TYPE_CHECKING:`` (a type both modules need belongs
in a third). ``from package import name`` counts as an import of ``package.name`` when that is a
module of ours, else of ``package``. A package's ``__init__`` is not counted as importing its
submodules' importers: ``import hitkey_bff.x`` is an edge to ``hitkey_bff.x`` alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {"hitkey_bff": ROOT / "layers" / "bff" / "hitkey_bff"} | {
    name: ROOT / name for name in ("local", "tools", "bench", "testkit", "tests")
}


def modules() -> dict[str, Path]:
    """Every module of ours by dotted name (``hitkey_bff.routes.api``, ``local.gateway``)."""
    found = {}
    for top, folder in SOURCES.items():
        for path in folder.rglob("*.py"):
            parts = [top, *path.relative_to(folder).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join(parts)] = path
    return found


def _package(name: str, path: Path) -> str:
    return name if path.name == "__init__.py" else name.rpartition(".")[0]


def imported(name: str, path: Path, ours: set[str]) -> Iterator[str]:
    """The modules of ours that ``name`` imports, anywhere in its source."""
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _package(name, path)
                for _ in range(node.level - 1):
                    package = package.rpartition(".")[0]
                base = f"{package}.{base}".strip(".")
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in ours else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in ours:  # ``import a.b.c`` of a non-module: its module
                target = target.rpartition(".")[0]
            if target and target != name:
                yield target


def graph() -> dict[str, set[str]]:
    found = modules()
    ours = set(found)
    return {name: set(imported(name, path, ours)) for name, path in found.items()}


def cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(edges.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_the_walk_sees_our_imports() -> None:
    """The walk finds what it must: a deferred import, a ``TYPE_CHECKING`` one, a relative one."""
    edges = graph()
    assert {
        "hitkey_bff.errors",
        "hitkey_bff.route",
        "local.gateway",
        "tools.cli",
        "bench.warm",
        "testkit.aws",
        "tests.harness",
    } <= set(edges)
    assert "hitkey_bff.deps" in edges["hitkey_bff.route"]
    assert "hitkey_bff.store" in edges["hitkey_bff.deps"]


def test_a_cycle_is_found() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_in_our_code() -> None:
    found = cycles(graph())
    assert found == [], "import cycles (a type both modules need belongs in a third module): " + "; ".join(
        " <-> ".join(component) for component in found
    )


def test_errors_is_a_leaf() -> None:
    """Every module may raise the typed errors: ``errors`` itself imports nothing of ours."""
    assert graph()["hitkey_bff.errors"] == set()
