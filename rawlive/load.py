"""The stable import path ``rawlive.load``: the module of the Locust user class, :class:`LiveUser`.

Importing it imports Locust (the ``load`` extra): a locustfile's import.
"""

import sys

from rawlive.tools.load.user import *  # noqa: F403  (for type checkers; at run time the module itself)
from rawlive.tools.load.user import __all__  # noqa: F401

sys.modules[__name__] = sys.modules["rawlive.tools.load.user"]
