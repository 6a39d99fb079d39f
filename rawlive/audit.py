"""The stable import path ``rawlive.audit``: the package :mod:`rawlive.tools.audit` itself."""

import sys

from rawlive.tools.audit import *  # noqa: F403  (for type checkers; at run time the module itself)
from rawlive.tools.audit import __all__  # noqa: F401

sys.modules[__name__] = sys.modules["rawlive.tools.audit"]
