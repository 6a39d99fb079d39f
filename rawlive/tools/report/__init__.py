"""``rawlive report``: a recorded session as one self-contained HTML page."""

from __future__ import annotations

from rawlive.tools.report.page import (
    DEFAULT_AUDIO_LIMIT,
    ENVELOPE_BIN_PX,
    MAX_PLOT_WIDTH,
    Clip,
    Timeline,
    read_timeline,
    render_report,
    write_report,
)

__all__ = [
    "DEFAULT_AUDIO_LIMIT",
    "ENVELOPE_BIN_PX",
    "MAX_PLOT_WIDTH",
    "Clip",
    "Timeline",
    "read_timeline",
    "render_report",
    "write_report",
]
