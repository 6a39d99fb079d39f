"""The fixtures' generator scripts (``fixtures/**/make_*.py``) as modules, for the tests that
drive or check what they recorded."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"


def load(relative: str) -> ModuleType:
    """The script at ``fixtures/<relative>``, imported once (registered under its name)."""
    path = FIXTURES / relative
    name = path.stem
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # (its dataclasses look their module up)
    spec.loader.exec_module(module)
    return module
