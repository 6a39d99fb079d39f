"""The loudness of one side's audio over the session, as the timeline draws it.

An :class:`Envelope` queues each chunk of audio where it plays (after the
audio before it), measures it in blocks of :data:`BLOCK_SECONDS` (mean
squares, so that any bin width can be drawn from them later), keeps the
stretches whose samples were elided, stops playback where the user cut in,
and bins the blocks into levels for a given width. Memory stays a few numbers
per block, never the samples. numpy is imported only when audio is measured.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["BLOCK_SECONDS", "FLOOR_DB", "Envelope"]

#: Loudness is measured in blocks of this many seconds before it is binned for drawing.
BLOCK_SECONDS = 0.01
#: The envelope's floor: this loud (dBFS) and below draws as silence.
FLOOR_DB = -60.0


@dataclasses.dataclass
class Envelope:
    """Loudness of one side: mean squares of :data:`BLOCK_SECONDS` blocks at their times."""

    times: list[Any] = dataclasses.field(default_factory=list)
    sums: list[Any] = dataclasses.field(default_factory=list)
    counts: list[Any] = dataclasses.field(default_factory=list)
    rates: list[int] = dataclasses.field(default_factory=list)
    #: (start, end) of audio whose samples were elided from the recording.
    elided: list[list[float]] = dataclasses.field(default_factory=list)
    cursor: float = 0.0
    seconds: float = 0.0
    first: float | None = None
    end: float = 0.0

    def place(self, at: float, seconds: float) -> float:
        """Queue ``seconds`` of audio from ``at``, or after the audio before it: its start."""
        start = max(at, self.cursor)
        self.cursor = start + seconds
        self.seconds += seconds
        self.first = start if self.first is None else self.first
        self.end = max(self.end, self.cursor)
        return start

    def add(
        self, start: float, data: bytes, rate: int, *, voiced: float | None = None
    ) -> float | None:
        """Measure s16le ``data`` (whole samples) placed at ``start``.

        With ``voiced`` (a mean square), when the chunk's last block at least
        that loud ends (``None``: none is).
        """
        import numpy as np

        samples = len(data) // 2
        pcm = np.frombuffer(data, dtype="<i2", count=samples).astype(np.float32)
        block = max(1, int(rate * BLOCK_SECONDS))
        starts = np.arange(0, samples, block)
        sums = np.add.reduceat(np.square(pcm / 32768.0), starts)
        counts = np.diff(np.append(starts, samples))
        self.times.append(start + starts / rate)
        self.sums.append(sums)
        self.counts.append(counts)
        self.rates.append(rate)
        if voiced is None:
            return None
        loud = np.flatnonzero(sums >= voiced * counts)
        if not len(loud):
            return None
        return float(start + (starts[loud[-1]] + counts[loud[-1]]) / rate)

    def add_elided(self, start: float, seconds: float) -> None:
        """Audio whose samples the recording left out: a span, joined to one just before."""
        spans = self.elided
        if spans and start - spans[-1][1] < 0.05:
            spans[-1][1] = max(spans[-1][1], start + seconds)
        else:
            spans.append([start, start + seconds])

    def stop(self, t: float, placed: list[tuple[float, float, int]]) -> None:
        """Playback stops at ``t``: what of ``placed`` was queued after it is never heard.

        ``placed`` holds (start, end, index of the chunk's blocks, -1 for elided
        audio) of the chunks queued since the last stop that matters, oldest first.
        """
        for _start, end, index in reversed(placed):
            if end <= t:
                break
            if index >= 0:
                keep = self.times[index] < t
                self.times[index] = self.times[index][keep]
                self.sums[index] = self.sums[index][keep]
                self.counts[index] = self.counts[index][keep]
        for span in self.elided:
            span[1] = min(span[1], max(span[0], t))
        self.cursor = min(self.cursor, max(t, 0.0))

    def levels(self, duration: float, bin_s: float) -> NDArray[Any] | None:
        """Loudness per ``bin_s`` from 0 to ``duration`` (0 at :data:`FLOOR_DB`, 1 at 0 dBFS).

        A bin no audio plays in is NaN; a bin that a block covers without
        starting in it takes the level of the bin before. ``None``: no audio.
        """
        import numpy as np

        if not self.times:
            return None
        times: NDArray[np.float64] = np.concatenate(self.times)
        sums: NDArray[np.float64] = np.concatenate(self.sums).astype(np.float64)
        counts: NDArray[np.float64] = np.concatenate(self.counts).astype(np.float64)
        rates = np.concatenate(
            [
                np.full(len(c), r, dtype=np.float64)
                for c, r in zip(self.counts, self.rates, strict=True)
            ]
        )
        bins = max(1, math.ceil(duration / bin_s) + 2)
        first = np.clip((times / bin_s).astype(np.int64), 0, bins - 1)
        energy = np.bincount(first, weights=sums, minlength=bins)
        samples = np.bincount(first, weights=counts, minlength=bins)
        last = np.clip(((times + counts / rates) / bin_s - 1e-9).astype(np.int64), 0, bins - 1)
        edges = np.bincount(first, minlength=bins + 1) - np.bincount(last + 1, minlength=bins + 1)
        covered = np.cumsum(edges)[:bins] > 0
        with np.errstate(divide="ignore", invalid="ignore"):
            db = 10 * np.log10(np.where(samples > 0, energy / np.maximum(samples, 1), 0.0))
        level = np.clip((db - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0)
        source = np.maximum.accumulate(np.where(samples > 0, np.arange(bins), 0))
        result: NDArray[Any] = np.where(covered, level[source], np.nan)
        return result
