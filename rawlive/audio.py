"""The stable import path ``rawlive.audio``: the module :mod:`rawlive.media.audio` itself."""

import sys

from rawlive.media.audio import *  # noqa: F403  (for type checkers; at run time the module itself)
from rawlive.media.audio import __all__  # noqa: F401

sys.modules[__name__] = sys.modules["rawlive.media.audio"]
