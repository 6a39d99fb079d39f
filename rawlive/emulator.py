"""The stable import path ``rawlive.emulator``: the module :mod:`rawlive.servers.emulator`."""

import sys

from rawlive.servers.emulator import *  # noqa: F403  (for type checkers; at run time the module itself)
from rawlive.servers.emulator import __all__  # noqa: F401

sys.modules[__name__] = sys.modules["rawlive.servers.emulator"]
