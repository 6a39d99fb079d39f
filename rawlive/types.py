"""The stable import path ``rawlive.types``: the module :mod:`rawlive.wire.types` itself."""

import sys

from rawlive.wire.types import *  # noqa: F403  (for type checkers; at run time the module itself)
from rawlive.wire.types import __all__  # noqa: F401

sys.modules[__name__] = sys.modules["rawlive.wire.types"]
