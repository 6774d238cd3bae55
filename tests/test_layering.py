"""Imports go one way: ``app`` → ``ui``/``eval`` → ``qa`` → ``index``.

Every module of ``qa/`` and ``index/`` is parsed and every import in it is checked, those
inside functions (lazy imports) included, and ``importlib.import_module("...")`` calls too.
And no module of ``qa/`` or ``index/`` imports itself through others when it is imported (its
module-level imports; a lazy import inside a function runs later and is no cycle).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ABOVE = {"ui", "eval", "app"}  # what qa/ and index/ may never import
FORBIDDEN = {"qa": ABOVE, "index": ABOVE | {"qa"}}


def imported(tree: ast.AST) -> list[tuple[int, str]]:
    """``(line, module)`` for every absolute import anywhere in ``tree``."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None))
            in {"import_module", "__import__"}
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            found.append((node.lineno, node.args[0].value))
    return found


def violations(package: str) -> list[str]:
    bad = []
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for line, module in imported(tree):
            if module.split(".")[0] in FORBIDDEN[package]:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {module}")
    return bad


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_lower_packages_never_import_the_layers_above(package: str) -> None:
    assert list((ROOT / package).rglob("*.py")), f"no modules found under {package}/"
    assert violations(package) == []


def test_the_walk_sees_lazy_and_dynamic_imports() -> None:
    source = (
        "import os\n"
        "def chat():\n"
        "    from ui.app import build_app\n"
        "    import eval.runner as r\n"
        "    from . import sibling\n"
        "    importlib.import_module('app.cli')\n"
    )
    assert [m for _, m in imported(ast.parse(source))] == ["os", "ui.app", "eval.runner", "app.cli"]


# -- no import cycles between modules ------------------------------------------------------


def module_imports(tree: ast.Module, name: str, is_package: bool) -> list[str]:
    """The modules ``name`` imports when it is imported: its module-level imports (inside
    ``if``/``try`` too, but not under ``if TYPE_CHECKING``), not those inside functions (lazy
    imports). ``from a import b`` names both ``a`` and ``a.b`` (``b`` may be a module)."""
    found: list[str] = []

    def walk(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.Import):
                found.extend(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_package else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    module = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    module = node.module or ""
                found.append(module)
                found.extend(f"{module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.If):
                test = node.test
                if getattr(test, "id", getattr(test, "attr", None)) != "TYPE_CHECKING":
                    walk(node.body)
                walk(node.orelse)
            elif isinstance(node, ast.Try):
                walk(node.body)
                walk(node.orelse)
                walk(node.finalbody)
                for handler in node.handlers:
                    walk(handler.body)

    walk(tree.body)
    return found


def import_graph(packages: tuple[str, ...] = ("qa", "index")) -> dict[str, set[str]]:
    """Each module of ``packages`` → the modules of ``packages`` importing it runs (a dotted
    import runs every package ``__init__`` on the way, except the packages holding the module
    itself: they are imported before it, so a package ``__init__`` that re-exports its
    submodules is no cycle)."""
    paths: dict[str, tuple[Path, bool]] = {}
    for package in packages:
        for path in sorted((ROOT / package).rglob("*.py")):
            parts = list(path.relative_to(ROOT).with_suffix("").parts)
            is_package = parts[-1] == "__init__"
            paths[".".join(parts[:-1] if is_package else parts)] = (path, is_package)
    graph: dict[str, set[str]] = {}
    for name, (path, is_package) in paths.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        parts = name.split(".")
        ancestors = {".".join(parts[:i]) for i in range(1, len(parts))}
        deps = set()
        for module in module_imports(tree, name, is_package):
            parts = module.split(".")
            for i in range(1, len(parts) + 1):
                prefix = ".".join(parts[:i])
                if prefix in paths and prefix != name and prefix not in ancestors:
                    deps.add(prefix)
        graph[name] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles of ``graph``: each strongly connected group of two or more modules
    (or a module importing itself), sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's algorithm
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
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
            if len(group) > 1 or v in graph.get(v, ()):
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def test_no_import_cycles_between_modules() -> None:
    graph = import_graph()
    assert "qa.citations" in graph and "index.chunking" in graph["qa.citations"]
    assert "qa.pipeline" in graph["qa.policy"]  # the package runs before qa.pipeline.verify
    assert "qa.pipeline" not in graph["qa.pipeline.decide"]  # its own package
    assert cycles(graph) == []


def test_the_cycle_finder_sees_module_level_cycles_only() -> None:
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"a"}, "b": set()}) == [["a"]]
    source = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "from . import sibling\n"
        "from ..other import thing\n"
        "try:\n"
        "    import fast\n"
        "except ImportError:\n"
        "    import slow\n"
        "if TYPE_CHECKING:\n"
        "    from qa.answerer import Answerer\n"
        "def lazy():\n"
        "    import qa.service\n"
    )
    assert module_imports(ast.parse(source), "qa.pipeline.decide", False) == [
        "__future__", "__future__.annotations", "typing", "typing.TYPE_CHECKING",
        "qa.pipeline", "qa.pipeline.sibling", "qa.other", "qa.other.thing", "fast", "slow",
    ]  # fmt: skip
