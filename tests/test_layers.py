"""Layers: no rawlive module imports the package ``__init__`` (which re-exports
from the modules below it), a stable alias of the README (``rawlive.types``...),
or another module's private names. (Which layer may import which is
import-linter's contract in pyproject.toml, checked by ``make lint``.)

Socket-free and fast: the modules are parsed with :mod:`ast`, never imported.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "rawlive"


def _dotted(path: Path) -> str:
    """``wire/codec.py`` as ``wire.codec``, ``wire/__init__.py`` as ``wire``."""
    parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


#: Every module and subpackage below ``rawlive``, dotted (``wire.codec``).
MODULES = {_dotted(path) for path in PACKAGE.rglob("*.py")} - {""}

#: The README's import paths: each is the module it names (the same object),
#: for users; inside the package, the module's own path is used.
ALIASES = {"types", "codec", "audio", "emulator", "audit"}

# Modules that need the package object itself, with the reason. The pytest
# plugin patches ``rawlive.connect`` on the package, where user code looks it up.
NEEDS_PACKAGE = {"pytest_plugin"}


def _private(name: str) -> bool:
    return name.startswith("_") and not name.startswith("__")


def _resolve(module: str, attrs: list[str]) -> tuple[str, str | None]:
    """The module ``module.a.b...`` names and the first attribute that is not a module."""
    for attr in attrs:
        if f"{module}.{attr}".removeprefix("rawlive.") in MODULES:
            module = f"{module}.{attr}"
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
                    if alias.name.removeprefix("rawlive.") in ALIASES:
                        found.append(f"line {node.lineno}: import {alias.name} (an alias)")
                    _, attr = _resolve("rawlive", alias.name.split(".")[1:])
                    if attr is not None and _private(attr):
                        found.append(f"line {node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module != "rawlive" and not node.module.startswith("rawlive."):
                continue
            if node.module.removeprefix("rawlive.") in ALIASES:
                found.append(f"line {node.lineno}: from {node.module} import (an alias)")
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                if full.removeprefix("rawlive.") in MODULES:
                    if node.module == "rawlive" and alias.name in ALIASES:
                        found.append(
                            f"line {node.lineno}: from rawlive import {alias.name} (an alias)"
                        )
                    bound[alias.asname or alias.name] = full
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
        own = target == f"rawlive.{module}"
        if attr is not None and _private(attr) and attr == chain[-1] and not own:
            found.append(f"line {node.lineno}: {'.'.join(chain)} ({target}'s private name)")
    return found


def _source(module: str) -> str:
    path = PACKAGE.joinpath(*module.split("."))
    path = path / "__init__.py" if path.is_dir() else path.with_suffix(".py")
    return path.read_text(encoding="utf-8")


@pytest.mark.parametrize("module", sorted(MODULES - ALIASES))
def test_module_respects_the_layers(module: str) -> None:
    assert violations(_source(module), module) == []


def test_package_init_imports_no_private_name() -> None:
    assert violations((PACKAGE / "__init__.py").read_text(encoding="utf-8"), "__init__") == []


def test_every_module_is_checked() -> None:
    expected = {"cassette", "cli", "tools.report", "client.session", "servers.replay", "media.vad"}
    assert expected <= MODULES
    assert ALIASES <= MODULES


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import rawlive", "import rawlive (the package __init__)"),
        ("from rawlive import __version__", "from rawlive import __version__"),
        ("from rawlive import connect", "from rawlive import connect"),
        ("from rawlive.cassette import _elide_audio", "from rawlive.cassette import _elide_audio"),
        ("from rawlive.client.session import connect, _Connect", "import _Connect"),
        ("from rawlive import cassette\ncassette._elide_audio(b'')", "cassette._elide_audio"),
        ("from rawlive.client import session as s\nx = s._Connect", "s._Connect"),
        ("from rawlive import types", "from rawlive import types (an alias)"),
        ("from rawlive.audit import Report", "from rawlive.audit import (an alias)"),
        ("import rawlive.codec as c", "import rawlive.codec (an alias)"),
        ("import rawlive.cassette\nrawlive.cassette._elide_audio", "rawlive.cassette._elide_audio"),
        ("import rawlive.cassette as c\nc._elide_audio", "c._elide_audio"),
        ("from . import codec", "relative import"),
    ],
)
def test_the_check_finds_each_kind(source: str, expected: str) -> None:
    found = violations(source, "wire.codec")
    assert len(found) == 1 and expected in found[0], found


@pytest.mark.parametrize(
    "source",
    [
        "from rawlive.wire import codec, endpoints\ncodec.encode",
        "from rawlive.client import session as session_module\nsession_module.connect",
        "from rawlive._version import __version__",
        "from rawlive.wire import types as t\nt.__name__",
        "from rawlive.errors import ConfigError",
        "import json\njson._default_encoder",
        "from rawlive.wire.codec import _own",
        "from rawlive.wire.codec import _own\nimport rawlive.wire.codec\nrawlive.wire.codec._x",
    ],
)
def test_the_check_allows(source: str) -> None:
    assert violations(source, "wire.codec") == []


def _lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    """import-linter's contract of pyproject.toml over the package under ``root``."""
    lint = Path(sys.executable).parent / "lint-imports"
    config = PACKAGE.parent / "pyproject.toml"
    return subprocess.run(
        [str(lint), "--config", str(config), "--no-cache"],
        cwd=root,
        env={"PYTHONPATH": str(root), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_layers_contract_holds_and_fails_on_an_upward_import(tmp_path: Path) -> None:
    assert _lint_imports(PACKAGE.parent).returncode == 0
    shutil.copytree(PACKAGE, tmp_path / "rawlive", ignore=shutil.ignore_patterns("__pycache__"))
    codec = tmp_path / "rawlive" / "wire" / "codec.py"
    codec.write_text(codec.read_text() + "\nfrom rawlive.tools import send  # upward\n")
    result = _lint_imports(tmp_path)
    assert result.returncode == 1
    assert "rawlive.wire.codec -> rawlive.tools.send" in result.stdout
