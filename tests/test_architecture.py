"""The shape of the code (../shared/DESIGN.md), checked over the source of ``src/convcost``.

* No import cycles among modules (module-level imports; imports under ``TYPE_CHECKING`` and
  inside functions are deferred and do not form a cycle at import time).
* No module imports another module's private name (``from x import _name``), anywhere.
* Every module opens with a docstring saying what it owns.
* ``import convcost`` is lazy and its public names all resolve.
"""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import convcost

SRC = Path(convcost.__file__).resolve().parent
PKG = "convcost"


def _module_name(path: Path) -> str:
    rel = path.relative_to(SRC.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES: dict[str, Path] = {_module_name(p): p for p in sorted(SRC.rglob("*.py"))}


def _is_package(name: str) -> bool:
    return MODULES[name].name == "__init__.py"


def _resolve(importer: str, node: ast.ImportFrom) -> str:
    """The absolute module an ``ImportFrom`` names (``from ..x import y`` -> ``convcost.x``)."""
    if node.level == 0:
        return node.module or ""
    base = importer.split(".")
    if not _is_package(importer):
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.Module, functions: bool = True,
             type_checking: bool = True) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements of a module: with ``functions``, also those inside functions (run on
    the first call); with ``type_checking``, also those under ``if TYPE_CHECKING`` (never
    run)."""

    def walk(nodes: list[ast.stmt]) -> Iterator[ast.Import | ast.ImportFrom]:
        for n in nodes:
            if isinstance(n, (ast.Import, ast.ImportFrom)):
                yield n
            elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                if functions:
                    yield from walk(n.body)
            elif isinstance(n, ast.If) and _is_type_checking(n.test):
                if type_checking:
                    yield from walk(n.body)
                yield from walk(n.orelse)
            else:
                for field in ("body", "orelse", "finalbody"):
                    inner = getattr(n, field, None)
                    if isinstance(inner, list):
                        yield from walk([x for x in inner if isinstance(x, ast.stmt)])
                for h in getattr(n, "handlers", []):
                    yield from walk(h.body)

    return walk(tree.body)


def _targets(importer: str, node: ast.Import | ast.ImportFrom) -> list[str]:
    """Project modules (and the packages above them) that an import statement loads."""
    names: list[str] = []
    if isinstance(node, ast.Import):
        names = [a.name for a in node.names]
    else:
        base = _resolve(importer, node)
        names = [base]
        for a in node.names:  # ``from pkg import submodule``
            if f"{base}.{a.name}" in MODULES:
                names.append(f"{base}.{a.name}")
    out: list[str] = []
    for name in names:
        if not name.startswith(PKG + ".") and name != PKG:
            continue
        parts = name.split(".")
        for i in range(2, len(parts) + 1):  # parent packages run their __init__ too
            cand = ".".join(parts[:i])
            # A module's own parent packages are already being imported when it runs.
            if cand in MODULES and cand != importer and not importer.startswith(cand + "."):
                out.append(cand)
    return out


#: Imports inside functions that are allowed to point back up the layers: the notebook hooks
#: of result records (``_repr_html_``, ``to_pandas``) call the renderers lazily.
LAZY_UPWARD: set[tuple[str, str]] = {
    ("convcost.layer", "convcost.renderers"),
    ("convcost.model.results", "convcost.renderers"),
    ("convcost.model.generate", "convcost.renderers"),
}


def _graph(functions: bool) -> dict[str, set[str]]:
    """Module -> project modules it imports (never ``TYPE_CHECKING`` imports; with
    ``functions``, also imports inside functions except :data:`LAZY_UPWARD`)."""
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        graph[name] = {t for node in _imports(tree, functions, type_checking=False)
                       for t in _targets(name, node) if (name, t) not in LAZY_UPWARD}
    return graph


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(n: str) -> list[str] | None:
        state[n] = 1
        stack.append(n)
        for m in sorted(graph.get(n, ())):
            if state.get(m) == 1:
                return [*stack[stack.index(m):], m]
            if m not in state and (cycle := visit(m)) is not None:
                return cycle
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state and (cycle := visit(n)) is not None:
            return cycle
    return None


def test_the_checker_finds_a_cycle() -> None:
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_the_checker_resolves_relative_imports() -> None:
    node = ast.parse("from ..cost import Cost").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("convcost.model.results", node) == "convcost.cost"
    node = ast.parse("from .results import X").body[0]
    assert isinstance(node, ast.ImportFrom)
    assert _resolve("convcost.model", node) == "convcost.model.results"


def test_the_graph_is_read() -> None:
    graph = _graph(functions=False)
    assert len(graph) >= 40
    assert "convcost.cost" in graph["convcost.layer"]


def test_no_import_cycles() -> None:
    cycle = _find_cycle(_graph(functions=False))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_cycles_through_deferred_imports() -> None:
    """Imports inside functions form no cycle either (the layers are one-way), except the
    notebook hooks listed in :data:`LAZY_UPWARD`."""
    cycle = _find_cycle(_graph(functions=True))
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_no_module_imports_a_private_name_of_another() -> None:
    offences: list[str] = []
    for name, path in MODULES.items():
        tree = ast.parse(path.read_text(), str(path))
        for node in _imports(tree):
            if not isinstance(node, ast.ImportFrom):
                continue
            source = _resolve(name, node)
            if not source.startswith(PKG):
                continue
            for a in node.names:
                if a.name.startswith("_") and not a.name.startswith("__"):
                    offences.append(f"{name}: from {source} import {a.name}")
    assert offences == []


@pytest.mark.parametrize("name", sorted(MODULES))
def test_every_module_opens_with_a_docstring(name: str) -> None:
    tree = ast.parse(MODULES[name].read_text())
    doc = ast.get_docstring(tree)
    assert doc is not None and len(doc.split()) >= 4, f"{name} has no docstring"


def test_import_convcost_is_lazy() -> None:
    code = ("import sys, convcost; "
            "print(sorted(m for m in sys.modules if m.startswith('convcost')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "['convcost']"


def test_public_names_resolve() -> None:
    exports = convcost._EXPORTS
    assert sorted(convcost.__all__) == sorted([*exports, "__version__"])
    for name in convcost.__all__:
        value = getattr(convcost, name)
        if name == "__version__":
            assert value == importlib.metadata.version("convcost")
        else:  # the object its module defines (not merely something)
            assert value is getattr(importlib.import_module(exports[name]), name), name
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        _ = convcost.nope  # type: ignore[attr-defined]
