"""``rawlive report``: a recorded session as one self-contained HTML page.

:mod:`~rawlive.tools.report.reading` reads the cassette into a timeline,
:mod:`~rawlive.tools.report.envelopes` measures its audio,
:mod:`~rawlive.tools.report.svg` draws it, :mod:`~rawlive.tools.report.page`
lays out the page with the audit and writes it, and
:mod:`~rawlive.tools.report.text` words the numbers. What the page shows is
in the README (``rawlive report``).
"""

from __future__ import annotations

from rawlive.tools.report.envelopes import Envelope
from rawlive.tools.report.page import Written, render_report, write_report
from rawlive.tools.report.reading import (
    DEFAULT_AUDIO_LIMIT,
    Clip,
    Connection,
    Mark,
    Span,
    Timeline,
    TurnSpan,
    read_timeline,
)
from rawlive.tools.report.svg import ENVELOPE_BIN_PX, MAX_PLOT_WIDTH

__all__ = [
    "DEFAULT_AUDIO_LIMIT",
    "ENVELOPE_BIN_PX",
    "MAX_PLOT_WIDTH",
    "Clip",
    "Connection",
    "Envelope",
    "Mark",
    "Span",
    "Timeline",
    "TurnSpan",
    "Written",
    "read_timeline",
    "render_report",
    "write_report",
]
