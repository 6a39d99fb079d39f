"""Many scenario runs summed up: pass rates and first-audio latencies, per scenario.

:func:`summarize` groups :class:`~rawlive.tools.scenario.ScenarioResult`
by scenario (in the order first seen) into :class:`ScenarioSummary` rows;
:func:`render_table` prints them. Percentiles are linear interpolations
between the closest ranks over every replying turn's first-audio latency of
every run (turns whose audio never came are left out).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import msgspec

from rawlive.tools.scenario.expect import ScenarioResult

__all__ = ["ScenarioSummary", "percentile", "render_table", "summarize"]


class ScenarioSummary(msgspec.Struct, kw_only=True, tag_field="event", tag="summary"):
    """One scenario's runs: how many passed, how fast the first audio came, why runs failed."""

    scenario: str
    runs: int
    passed: int
    pass_rate: float
    #: First-audio latency percentiles (s) over the runs' replying turns; ``None``: none came.
    first_audio_p50: float | None = None
    first_audio_p95: float | None = None
    #: The first reason of each failed run (first line), distinct, in order.
    reasons: list[str] = msgspec.field(default_factory=list)

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode("utf-8")


def percentile(values: Sequence[float], p: float) -> float | None:
    """The ``p``-th percentile (0-100) of ``values``, interpolated; ``None`` when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low, high = math.floor(rank), math.ceil(rank)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def summarize(results: Iterable[ScenarioResult]) -> list[ScenarioSummary]:
    """One row per scenario, in the order first seen."""
    groups: dict[str, list[ScenarioResult]] = {}
    for result in results:
        groups.setdefault(result.scenario, []).append(result)
    rows = []
    for name, runs in groups.items():
        latencies = [x for r in runs for x in r.first_audio if x is not None]
        reasons: list[str] = []
        for r in runs:
            if not r.passed and r.failures:
                first = r.failures[0].splitlines()[0]
                if first not in reasons:
                    reasons.append(first)
        passed = sum(r.passed for r in runs)
        p50, p95 = percentile(latencies, 50), percentile(latencies, 95)
        rows.append(
            ScenarioSummary(
                scenario=name,
                runs=len(runs),
                passed=passed,
                pass_rate=round(passed / len(runs), 4),
                first_audio_p50=None if p50 is None else round(p50, 4),
                first_audio_p95=None if p95 is None else round(p95, 4),
                reasons=reasons,
            )
        )
    return rows


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f} ms"


def render_table(rows: Sequence[ScenarioSummary]) -> str:
    """The summary table, one scenario a line, then the failed runs' first reasons."""
    header = ("scenario", "runs", "passed", "pass rate", "first audio p50", "p95")
    lines = [
        (
            row.scenario,
            str(row.runs),
            str(row.passed),
            f"{row.pass_rate * 100:.0f}%",
            _ms(row.first_audio_p50),
            _ms(row.first_audio_p95),
        )
        for row in rows
    ]
    widths = [max(len(h), *(len(line[i]) for line in lines)) for i, h in enumerate(header)]

    def fmt(cells: Sequence[str]) -> str:
        first = cells[0].ljust(widths[0])
        rest = "  ".join(c.rjust(w) for c, w in zip(cells[1:], widths[1:], strict=True))
        return f"{first}  {rest}".rstrip()

    out = [fmt(header), fmt(["-" * w for w in widths]), *(fmt(line) for line in lines)]
    for row in rows:
        for reason in row.reasons:
            out.append(f"{row.scenario}: {reason}")
    return "\n".join(out)
