"""Conventions the package keeps across its modules, checked on the source (socket-free, fast)."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "rawlive"


def _methods(name: str) -> list[tuple[str, ast.FunctionDef]]:
    """Every method called ``name`` in the package, with the class that holds it."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and item.name == name:
                        found.append((f"{path.relative_to(PACKAGE)}:{node.name}", item))
    return found


def test_to_json_returns_text_and_to_builtins_plain_objects() -> None:
    """``to_json()`` is JSON text (``str``) everywhere; the plain objects are ``to_builtins()``."""
    to_json = _methods("to_json")
    assert to_json, "no to_json method found"
    returns = {where: ast.unparse(f.returns) if f.returns else None for where, f in to_json}
    assert {where: r for where, r in returns.items() if r != "str"} == {}
    for where, method in _methods("to_builtins"):
        assert method.returns is not None and ast.unparse(method.returns) != "str", where
