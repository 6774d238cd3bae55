"""Imports go one way: ``app`` → ``ui``/``eval`` → ``qa`` → ``index``.

Every module of ``qa/`` and ``index/`` is parsed and every import in it is checked, those
inside functions (lazy imports) included, and ``importlib.import_module("...")`` calls too.
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
