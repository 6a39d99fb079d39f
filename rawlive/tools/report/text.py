"""How the report words what it shows: durations, sizes, seconds, call arguments, escaping.

Every label, tooltip and table cell of the page goes through these, so that a
duration reads the same on the timeline and in the tables (``412 ms``,
``1.24 s``, ``2 min 05 s``), and a data attribute always holds seconds to the
microsecond. Nothing here knows the timeline or the page.
"""

from __future__ import annotations

import html
from typing import Any

import msgspec

__all__ = ["clean", "dur", "esc", "fmt_args", "mb", "secs"]


def clean(text: str, limit: int = 400) -> str:
    """``text`` on one line, cut to ``limit`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def fmt_args(args: dict[str, Any] | None) -> str:
    """A tool call's arguments as ``name=<json>, ...``, cut to fit a label."""
    if not args:
        return ""
    parts = [f"{k}={msgspec.json.encode(v).decode()}" for k, v in args.items()]
    return clean(", ".join(parts), 120)


def mb(size: float) -> str:
    """Bytes as megabytes with one decimal."""
    return f"{size / 1_000_000:.1f}"


def dur(seconds: float | None) -> str:
    """A duration for people: ``0.68 ms``, ``412 ms``, ``1.24 s``, ``2 min 05 s``."""
    if seconds is None:
        return "–"
    if seconds < 0:
        return "-" + dur(-seconds)
    if seconds < 0.01:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:02.0f} s"


def secs(seconds: float | None) -> str:
    """Seconds for a data attribute: to the microsecond, empty for none."""
    return "" if seconds is None else f"{seconds:.6f}"


def esc(text: str) -> str:
    """``text`` safe inside HTML and SVG, attribute values included."""
    return html.escape(text, quote=True)
