"""The stable import path ``rawlive.codec``: the module :mod:`rawlive.wire.codec` itself."""

import sys

from rawlive.wire.codec import *  # noqa: F403  (for type checkers; at run time the module itself)
from rawlive.wire.codec import __all__  # noqa: F401

sys.modules[__name__] = sys.modules["rawlive.wire.codec"]
