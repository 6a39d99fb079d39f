"""The benchmark registry and the shape of a result row.

A benchmark module under ``bench/`` declares cases with :func:`register`::

    @register("codec.decode-base64", "decode a 200 ms audio message vs base64")
    def decode_vs_base64(ctx: Context) -> Iterator[Row]:
        cmp = compare(rawlive_timer, baseline_timer, ctx)
        yield Row.from_comparison("...", cmp, target=Target.ratio_at_most(1.5))

A case name is dotted: its first part is the group (the module's theme), so
``python -m bench codec`` runs every ``codec.*`` case and
``python -m bench codec.decode-base64`` runs one. Every row compares rawlive
with a baseline measured side by side in the same run; ``ratio`` is always
``rawlive / baseline`` of the two printed values (lower is better for times).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable
from typing import Any

__all__ = [
    "Case",
    "Context",
    "Row",
    "Target",
    "all_cases",
    "register",
    "select",
]


@dataclasses.dataclass(frozen=True)
class Context:
    """How hard to measure: tiny counts with ``--quick``, enough to be stable without."""

    quick: bool = False
    #: Interleaved repeats per side; the reported figure is the minimum.
    repeats: int = 15
    #: Seconds one repeat of one side should last (iterations are calibrated to it).
    min_time: float = 0.05
    #: Alternating subprocess pairs for start-up timings; the median is reported.
    process_pairs: int = 40

    @classmethod
    def make(cls, *, quick: bool) -> Context:
        if quick:
            return cls(quick=True, repeats=3, min_time=0.002, process_pairs=5)
        return cls()


@dataclasses.dataclass(frozen=True)
class Target:
    """A goal for one row: its text for the table and the test that decides it."""

    text: str
    check: Callable[[Row], bool]

    @classmethod
    def ratio_at_most(cls, limit: float) -> Target:
        """rawlive may take at most ``limit`` times the baseline's time."""
        return cls(f"ratio ≤ {limit:g}", lambda row: row.ratio is not None and row.ratio <= limit)

    @classmethod
    def faster_by(cls, factor: float) -> Target:
        """rawlive must be at least ``factor`` times faster than the baseline."""
        return cls(
            f"≥ {factor:g}× faster (ratio ≤ {1 / factor:.3g})",
            lambda row: row.ratio is not None and row.ratio * factor <= 1.0,
        )

    @classmethod
    def rawlive_at_most(cls, limit: float, text: str) -> Target:
        """The rawlive figure itself (a difference measured side by side) is at most ``limit``."""
        return cls(text, lambda row: isinstance(row.rawlive, int | float) and row.rawlive <= limit)


@dataclasses.dataclass
class Row:
    """One line of the report.

    ``rawlive`` and ``baseline`` are numbers in ``unit`` (``"s"`` is formatted
    as ns/µs/ms) or, for a check, text. ``details`` goes to ``--json`` only.
    """

    benchmark: str
    quantity: str
    rawlive: float | str
    baseline: float | str
    unit: str = "s"
    ratio: float | None = None
    target: Target | None = None
    details: dict[str, Any] = dataclasses.field(default_factory=dict)
    error: str | None = None

    def __post_init__(self) -> None:
        if (
            self.ratio is None
            and isinstance(self.rawlive, int | float)
            and isinstance(self.baseline, int | float)
            and self.baseline
        ):
            self.ratio = self.rawlive / self.baseline

    @property
    def verdict(self) -> str:
        if self.error is not None:
            return "error"
        if self.target is None:
            return "—"
        if self.ratio is not None and not math.isfinite(self.ratio):
            return "misses target"
        return "meets target" if self.target.check(self) else "misses target"

    def to_json(self) -> dict[str, Any]:
        return {
            "benchmark": self.benchmark,
            "quantity": self.quantity,
            "rawlive": self.rawlive,
            "baseline": self.baseline,
            "unit": self.unit,
            "ratio": self.ratio,
            "target": self.target.text if self.target else None,
            "verdict": self.verdict,
            "details": self.details,
            "error": self.error,
        }


CaseFunc = Callable[[Context], Iterable[Row]]


@dataclasses.dataclass(frozen=True)
class Case:
    """A registered benchmark: a name, one line of description, and its function."""

    name: str
    description: str
    func: CaseFunc

    @property
    def group(self) -> str:
        return self.name.split(".", 1)[0]


_CASES: dict[str, Case] = {}


def register(name: str, description: str) -> Callable[[CaseFunc], CaseFunc]:
    """Register ``func`` as benchmark case ``name`` (``group.case``)."""

    def decorate(func: CaseFunc) -> CaseFunc:
        if name in _CASES:
            raise ValueError(f"benchmark case {name!r} registered twice")
        _CASES[name] = Case(name, description, func)
        return func

    return decorate


def all_cases() -> list[Case]:
    """Every registered case, in registration order."""
    return list(_CASES.values())


def select(names: Iterable[str]) -> list[Case]:
    """Cases matching ``names`` (a full name or a group/prefix); all when empty.

    Raises ``KeyError`` naming the first name that matches nothing.
    """
    wanted = list(names)
    if not wanted:
        return all_cases()
    chosen: dict[str, Case] = {}
    for name in wanted:
        hits = [c for c in _CASES.values() if c.name == name or c.name.startswith(name + ".")]
        if not hits:
            raise KeyError(name)
        for case in hits:
            chosen.setdefault(case.name, case)
    return list(chosen.values())
