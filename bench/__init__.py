"""rawlive's benchmarks: ``python -m bench [NAMES...] [--quick] [--json FILE]``.

Every benchmark compares rawlive with a baseline measured side by side in the
same run and reports the ratio, never an absolute time: the machines this runs
on are small and noisy. To add one, create a module ``bench/<theme>.py`` and
register cases with :func:`register` (see :mod:`bench._core`); modules whose
name does not start with ``_`` are discovered by ``python -m bench``.
"""

from __future__ import annotations

from bench._core import Case, Context, Row, Target, all_cases, register, select
from bench._timing import (
    Comparison,
    ProcessComparison,
    Timer,
    async_timer,
    compare,
    compare_processes,
    sync_timer,
)

__all__ = [
    "Case",
    "Comparison",
    "Context",
    "ProcessComparison",
    "Row",
    "Target",
    "Timer",
    "all_cases",
    "async_timer",
    "compare",
    "compare_processes",
    "register",
    "select",
    "sync_timer",
]
