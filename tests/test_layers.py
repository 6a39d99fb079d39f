"""Layers: no rawlive module imports the package ``__init__`` (which re-exports
from the modules below it) or another module's private names.

Socket-free and fast: the modules are parsed with :mod:`ast`, never imported.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rawlive"
MODULES = {path.stem for path in PACKAGE.glob("*.py")} - {"__init__"}

# Modules that need the package object itself, with the reason. The pytest
# plugin patches ``rawlive.connect`` on the package, where user code looks it up.
NEEDS_PACKAGE = {"pytest_plugin"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _resolve(module: str, attrs: list[str]) -> tuple[str, str | None]:
    """The module ``module.a.b...`` names and the first attribute that is not a module."""
    for attr in attrs:
        if module == "rawlive" and attr in MODULES:
            module = f"rawlive.{attr}"
        else:
            return module, attr
    return module, None


def _chain(node: ast.expr) -> list[str] | None:
    """``a.b.c`` as ``["a", "b", "c"]``; None for anything but names and attributes."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return parts[::-1]


def violations(source: str, module: str) -> list[str]:
    """Each import of the package ``__init__`` or of another module's private name in ``source``."""
    found: list[str] = []
    # Local name -> the rawlive module it is bound to.
    bound: dict[str, str] = {}
    tree = ast.parse(source)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == "rawlive" and module not in NEEDS_PACKAGE:
                    found.append(f"line {node.lineno}: import rawlive (the package __init__)")
                if alias.name == "rawlive" or alias.name.startswith("rawlive."):
                    # ``import rawlive.x`` binds ``rawlive``; ``import rawlive.x as y`` binds y.
                    if alias.asname:
                        bound[alias.asname] = alias.name
                    else:
                        bound["rawlive"] = "rawlive"
                    _, attr = _resolve("rawlive", alias.name.split(".")[1:])
                    if attr is not None and _private(attr):
                        found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "rawlive" and not node.module.startswith("rawlive."):
                continue
            for alias in node.names:
                if node.module == "rawlive" and alias.name in MODULES:
                    bound[alias.asname or alias.name] = f"rawlive.{alias.name}"
                elif node.module == "rawlive":
                    if module not in NEEDS_PACKAGE:
                        found.append(
                            f"line {node.lineno}: from rawlive import {alias.name} "
                            "(the package __init__)"
                        )
                elif _private(alias.name) and node.module != f"rawlive.{module}":
                    found.append(f"line {node.lineno}: from {node.module} import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level:
            found.append(f"line {node.lineno}: relative import (rawlive imports absolutely)")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute) or isinstance(node.ctx, ast.Store):
            continue
        chain = _chain(node)
        if chain is None or chain[0] not in bound:
            continue
        target, attr = _resolve("rawlive", bound[chain[0]].split(".")[1:] + chain[1:])
        # Only the outermost attribute of a chain reports, once.
        if attr is not None and _private(attr) and attr == chain[-1]:
            found.append(f"line {node.lineno}: {'.'.join(chain)} ({target}'s private name)")
    return found


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_respects_the_layers(module: str) -> None:
    source = (PACKAGE / f"{module}.py").read_text(encoding="utf-8")
    assert violations(source, module) == []


def test_package_init_imports_no_private_name() -> None:
    source = (PACKAGE / "__init__.py").read_text(encoding="utf-8")
    assert violations(source, "__init__") == []


def test_every_module_is_checked() -> None:
    assert {"cassette", "cli", "report", "session", "replay", "compat", "vad"} <= MODULES


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import rawlive", "import rawlive (the package __init__)"),
        ("from rawlive import __version__", "from rawlive import __version__"),
        ("from rawlive import connect", "from rawlive import connect"),
        ("from rawlive.cassette import _elide_audio", "from rawlive.cassette import _elide_audio"),
        ("from rawlive.session import connect, _Connect", "import _Connect"),
        ("from rawlive import cassette\ncassette._elide_audio(b'')", "cassette._elide_audio"),
        ("from rawlive import session as s\nx = s._Connect", "s._Connect"),
        ("import rawlive.cassette\nrawlive.cassette._elide_audio", "rawlive.cassette._elide_audio"),
        ("import rawlive.cassette as c\nc._elide_audio", "c._elide_audio"),
        ("from . import codec", "relative import"),
    ],
)
def test_the_check_finds_each_kind(source: str, expected: str) -> None:
    found = violations(source, "codec")
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    "source",
    [
        "from rawlive import codec, endpoints\ncodec.encode",
        "from rawlive import session as session_module\nsession_module.connect",
        "from rawlive._version import __version__",
        "from rawlive import types as t\nt.__name__",
        "from rawlive.errors import ConfigError",
        "import json\njson._default_encoder",
        "from rawlive.codec import _own",
    ],
)
def test_the_check_allows(source: str) -> None:
    assert violations(source, "codec") == []
