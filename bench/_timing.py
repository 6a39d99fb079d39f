"""Side-by-side timing that survives a small, noisy machine.

Absolute times on a shared two-core box say little, so every measurement
here is a *comparison*: rawlive and its baseline run in the same process,
in interleaved repeats (``r b b r r b ...``) so that drift in clock speed or
load hits both alike. Each side's iteration count is calibrated first (which
also warms caches); the per-iteration minimum over the repeats is what is
reported, with the median of the per-repeat ratios kept for ``--json``.

A *timer* is ``Callable[[int], float]``: run ``n`` iterations, return the
elapsed seconds. The garbage collector is off while a timer runs, for both
sides alike, as :mod:`timeit` does.
"""

from __future__ import annotations

import asyncio
import dataclasses
import gc
import os
import statistics
import subprocess
import sys
import time
import timeit
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

from bench._core import Context

__all__ = [
    "Comparison",
    "ProcessComparison",
    "Timer",
    "async_timer",
    "compare",
    "compare_processes",
    "sync_timer",
]

Timer = Callable[[int], float]


def sync_timer(stmt: str, namespace: dict[str, Any]) -> Timer:
    """Time ``stmt`` with :mod:`timeit` (no per-iteration function call; gc off)."""
    return timeit.Timer(stmt, globals=namespace).timeit


def async_timer(loop: asyncio.AbstractEventLoop, step: Callable[[], Awaitable[Any]]) -> Timer:
    """Time ``await step()`` ``n`` times in a row inside one coroutine on ``loop``.

    Only the loop of awaits is timed (not ``run_until_complete``), and since
    neither side ever suspends, no event-loop scheduling is involved either.
    """

    async def run(n: int) -> float:
        start = time.perf_counter()
        for _ in range(n):
            await step()
        return time.perf_counter() - start

    def timer(n: int) -> float:
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            return loop.run_until_complete(run(n))
        finally:
            if was_enabled:
                gc.enable()

    return timer


def _calibrate(timer: Timer, min_time: float) -> int:
    """The smallest count in 1, 2, 5, 10, 20, 50... whose run lasts ``min_time``."""
    number = 1
    while True:
        for factor in (1, 2, 5):
            n = number * factor
            if timer(n) >= min_time:
                return n
        number *= 10


@dataclasses.dataclass(frozen=True)
class Comparison:
    """Per-iteration seconds of both sides, from one interleaved run."""

    rawlive: float  # minimum over repeats
    baseline: float
    paired_median_ratio: float  # median over repeats of rawlive_i / baseline_i
    rawlive_number: int
    baseline_number: int
    repeats: int
    rawlive_all: tuple[float, ...]
    baseline_all: tuple[float, ...]

    @property
    def ratio(self) -> float:
        return self.rawlive / self.baseline

    def details(self) -> dict[str, Any]:
        return {
            "statistic": "min per-iteration seconds over interleaved repeats",
            "paired_median_ratio": self.paired_median_ratio,
            "rawlive_median": statistics.median(self.rawlive_all),
            "baseline_median": statistics.median(self.baseline_all),
            "rawlive_number": self.rawlive_number,
            "baseline_number": self.baseline_number,
            "repeats": self.repeats,
        }


def compare(rawlive: Timer, baseline: Timer, ctx: Context) -> Comparison:
    """Calibrate both timers, then run them in alternating order ``ctx.repeats`` times."""
    n_r = _calibrate(rawlive, ctx.min_time)
    n_b = _calibrate(baseline, ctx.min_time)
    r_times: list[float] = []
    b_times: list[float] = []
    for i in range(ctx.repeats):
        if i % 2 == 0:
            r_times.append(rawlive(n_r) / n_r)
            b_times.append(baseline(n_b) / n_b)
        else:
            b_times.append(baseline(n_b) / n_b)
            r_times.append(rawlive(n_r) / n_r)
    return Comparison(
        rawlive=min(r_times),
        baseline=min(b_times),
        paired_median_ratio=statistics.median(r / b for r, b in zip(r_times, b_times, strict=True)),
        rawlive_number=n_r,
        baseline_number=n_b,
        repeats=ctx.repeats,
        rawlive_all=tuple(r_times),
        baseline_all=tuple(b_times),
    )


@dataclasses.dataclass(frozen=True)
class ProcessComparison:
    """Wall times of two commands run in alternating pairs."""

    rawlive_median: float
    baseline_median: float
    delta_median: float  # median over pairs of rawlive_i - baseline_i
    pairs: int

    def details(self) -> dict[str, Any]:
        return {
            "statistic": "median over alternating subprocess pairs",
            "rawlive_median_s": self.rawlive_median,
            "baseline_median_s": self.baseline_median,
            "delta_median_s": self.delta_median,
            "pairs": self.pairs,
        }


def _wall(argv: Sequence[str], cwd: Path) -> float:
    start = time.perf_counter()
    subprocess.run(argv, cwd=cwd, check=True, stdin=subprocess.DEVNULL, env=os.environ.copy())
    return time.perf_counter() - start


def compare_processes(code: str, baseline_code: str, cwd: Path, ctx: Context) -> ProcessComparison:
    """``python -c code`` against ``python -c baseline_code``, alternating, after a warm-up."""
    rawlive_argv = [sys.executable, "-c", code]
    baseline_argv = [sys.executable, "-c", baseline_code]
    _wall(rawlive_argv, cwd)  # writes bytecode caches
    _wall(baseline_argv, cwd)
    r_times: list[float] = []
    b_times: list[float] = []
    for i in range(ctx.process_pairs):
        if i % 2 == 0:
            r_times.append(_wall(rawlive_argv, cwd))
            b_times.append(_wall(baseline_argv, cwd))
        else:
            b_times.append(_wall(baseline_argv, cwd))
            r_times.append(_wall(rawlive_argv, cwd))
    return ProcessComparison(
        rawlive_median=statistics.median(r_times),
        baseline_median=statistics.median(b_times),
        delta_median=statistics.median(r - b for r, b in zip(r_times, b_times, strict=True)),
        pairs=ctx.process_pairs,
    )
