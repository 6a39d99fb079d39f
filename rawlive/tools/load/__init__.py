"""Load tests of Live API servers on Locust: the conversation driver and the user class.

:mod:`rawlive.tools.load.driver` drives one conversation synchronously and
imports no Locust; :mod:`rawlive.tools.load.user` (``rawlive.load``) is the
Locust user class on top of it, in the ``load`` extra. :data:`LOCUSTFILE`
is the locustfile ``rawlive load`` hands to Locust.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["LOCUSTFILE"]

#: The locustfile of ``rawlive load`` (a :class:`~rawlive.load.LiveUser` set by ``--live-*``).
LOCUSTFILE = str(Path(__file__).with_name("locustfile.py"))
