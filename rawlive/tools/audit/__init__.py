"""Audit a recorded Live session: for now the module :mod:`rawlive.tools.audit.auditor`."""

from rawlive.tools.audit.auditor import *  # noqa: F403
from rawlive.tools.audit.auditor import Turn as Turn
from rawlive.tools.audit.auditor import __all__ as __all__
