"""The report: a header naming the machine, a markdown table, and the JSON twin."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from collections.abc import Sequence
from importlib import metadata
from typing import Any

from bench._core import Context, Row

__all__ = ["environment", "format_markdown", "format_value", "to_json"]

COLUMNS = ("benchmark", "measured quantity", "rawlive", "baseline", "ratio", "target", "verdict")


def _cpu_model() -> str | None:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def _version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def environment(ctx: Context) -> dict[str, Any]:
    """Date, Python, machine and the versions that matter to the figures."""
    affinity = getattr(os, "sched_getaffinity", None)
    return {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "python": f"{platform.python_implementation()} {platform.python_version()}",
        "platform": platform.platform(),
        "machine": platform.machine(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(affinity(0)) if affinity is not None else None,
        "msgspec": _version("msgspec"),
        "google-genai": _version("google-genai"),
        "quick": ctx.quick,
        "repeats": ctx.repeats,
        "min_time_per_repeat_s": ctx.min_time,
        "process_pairs": ctx.process_pairs,
    }


def format_value(value: float | str, unit: str) -> str:
    """Seconds as ns/µs/ms/s with three significant digits; other units as given."""
    if isinstance(value, str):
        return value
    if unit == "s":
        for scale, name in ((1e-6, "ns"), (1e-3, "µs"), (1.0, "ms")):
            if abs(value) < scale:
                return f"{value / scale * 1e3:.3g} {name}"
        return f"{value:.3g} s"
    return f"{value:.3g} {unit}".rstrip()


def _ratio(row: Row) -> str:
    if row.ratio is None:
        return "—"
    return f"{row.ratio:.3g}"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def format_markdown(env: dict[str, Any], rows: Sequence[Row]) -> str:
    """The header lines and the table, as printed by ``python -m bench``."""
    cpus = env["cpu_count"]
    if env["cpus_usable"] is not None and env["cpus_usable"] != cpus:
        cpus = f"{cpus} ({env['cpus_usable']} usable)"
    lines = [
        "# rawlive benchmarks"
        + (" (--quick: smoke-test counts, figures are rough)" if env["quick"] else ""),
        "",
        f"- date: {env['date']}",
        f"- python: {env['python']} ({sys.executable})",
        f"- machine: {env['platform']}, {env['machine']}, {env['cpu_model'] or 'unknown CPU'}, "
        f"{cpus} CPUs",
        f"- msgspec {env['msgspec']}, google-genai {env['google-genai']}",
        f"- method: rawlive and baseline interleaved in one process, {env['repeats']} repeats "
        f"of ≥ {env['min_time_per_repeat_s'] * 1e3:g} ms each, minimum per iteration; start-up: "
        f"median of {env['process_pairs']} alternating subprocess pairs. "
        "ratio = rawlive / baseline.",
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "|".join("---" for _ in COLUMNS) + "|",
    ]
    for row in rows:
        cells = (
            row.benchmark,
            row.quantity,
            format_value(row.rawlive, row.unit),
            format_value(row.baseline, row.unit),
            _ratio(row),
            row.target.text if row.target else "—",
            row.verdict,
        )
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    errors = [row for row in rows if row.error]
    if errors:
        lines.append("")
        lines.extend(f"- {row.benchmark} failed: {row.error}" for row in errors)
    return "\n".join(lines)


def to_json(env: dict[str, Any], rows: Sequence[Row]) -> dict[str, Any]:
    return {"environment": env, "rows": [row.to_json() for row in rows]}
