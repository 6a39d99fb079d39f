"""What the emulator saw: counts and reply latencies, mergeable across worker processes.

An :class:`~rawlive.servers.emulator.Emulator` counts as it goes
(:class:`Counts`, its ``counts``): connections, sessions opened, resumes,
turns answered, tool calls, audio received and sent, messages, close codes,
and the reply latency of every user turn. :func:`summary` turns counts into
the :class:`EmulatorStats` that ``rawlive serve --stats PATH`` writes; with
``--workers`` the parent adds up its workers' counts (:func:`merge`) and
writes one file.

Percentiles merge through a histogram, not raw samples: latency ``ms`` falls
in bucket ``0`` below 1 ms, else in bucket ``k = 1 + floor(log(ms) /
log(1.02))``, which holds ``[1.02**(k-1), 1.02**k)`` ms. Two histograms merge
by adding their counts, so a percentile of the merged run is as precise as
one worker's: a percentile is the geometric middle of the bucket its rank
falls in (clamped to the exact minimum and maximum), within 1 % of a
latency that was measured. The file keeps the histogram, so other tools can
merge it again.

The reply latency of a user turn runs from the end of the user's speech as
the emulator knows it to the first reply audio sent for that turn (after a
tool call, the audio that follows its response). The end of speech is when
the audio in which the voice-activity detector placed it arrived (not when
the detector, ``silenceDurationMs`` later, decided it), or the arrival of
``activityEnd``, ``audioStreamEnd``, ``realtimeInput.text`` or a
``clientContent`` turn. A reply with no audio (text, an empty turn) has no
latency.
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import tempfile
from collections.abc import Iterable
from pathlib import Path

import msgspec

__all__ = [
    "BUCKET_RATIO",
    "Counts",
    "EmulatorStats",
    "LatencySummary",
    "WorkerStats",
    "bucket_of",
    "merge",
    "summary",
    "write_stats",
]

#: Each histogram bucket is this many times as wide as the one before.
BUCKET_RATIO = 1.02
_LOG_RATIO = math.log(BUCKET_RATIO)
#: The percentiles reported.
PERCENTILES = (50, 90, 95, 99)


def bucket_of(ms: float) -> int:
    """The histogram bucket of a latency in milliseconds (see the module docstring)."""
    if ms < 1.0:
        return 0
    return 1 + math.floor(math.log(ms) / _LOG_RATIO)


def _bucket_middle(bucket: int) -> float:
    if bucket == 0:
        return 0.5
    return float(BUCKET_RATIO ** (bucket - 0.5))


class Counts(msgspec.Struct):
    """One emulator's running counts (mutable; a worker sends them to its parent)."""

    connections: int = 0
    sessions: int = 0
    resumes: int = 0
    #: Resumptions refused: an unknown or expired handle (1008).
    resumes_refused: int = 0
    turns: int = 0
    tool_calls: int = 0
    audio_in_s: float = 0.0
    audio_out_s: float = 0.0
    messages_in: int = 0
    messages_out: int = 0
    video_frames_in: int = 0
    #: Close code (as text) -> connections that ended with it (1006: dropped).
    close_codes: dict[str, int] = msgspec.field(default_factory=dict)
    #: Reply latency histogram: bucket -> turns (see the module docstring).
    latency_buckets: dict[int, int] = msgspec.field(default_factory=dict)
    latency_count: int = 0
    latency_sum_ms: float = 0.0
    latency_min_ms: float | None = None
    latency_max_ms: float | None = None

    def closed(self, code: int) -> None:
        key = str(code)
        self.close_codes[key] = self.close_codes.get(key, 0) + 1

    def latency(self, ms: float) -> None:
        """Count one turn's reply latency."""
        ms = max(0.0, ms)
        bucket = bucket_of(ms)
        self.latency_buckets[bucket] = self.latency_buckets.get(bucket, 0) + 1
        self.latency_count += 1
        self.latency_sum_ms += ms
        if self.latency_min_ms is None or ms < self.latency_min_ms:
            self.latency_min_ms = ms
        if self.latency_max_ms is None or ms > self.latency_max_ms:
            self.latency_max_ms = ms


def merge(parts: Iterable[Counts]) -> Counts:
    """The counts of several emulators (workers) as one: sums, and histograms added."""
    total = Counts()
    for part in parts:
        for field in (
            "connections",
            "sessions",
            "resumes",
            "resumes_refused",
            "turns",
            "tool_calls",
            "audio_in_s",
            "audio_out_s",
            "messages_in",
            "messages_out",
            "video_frames_in",
            "latency_count",
            "latency_sum_ms",
        ):
            setattr(total, field, getattr(total, field) + getattr(part, field))
        for code, count in part.close_codes.items():
            total.close_codes[code] = total.close_codes.get(code, 0) + count
        for bucket, count in part.latency_buckets.items():
            total.latency_buckets[bucket] = total.latency_buckets.get(bucket, 0) + count
        for name, pick in (("latency_min_ms", min), ("latency_max_ms", max)):
            ours, theirs = getattr(total, name), getattr(part, name)
            if theirs is not None:
                setattr(total, name, theirs if ours is None else pick(ours, theirs))
    return total


class LatencySummary(msgspec.Struct):
    """Reply latencies in milliseconds: count, extremes, mean, percentiles, histogram."""

    count: int
    min_ms: float | None
    max_ms: float | None
    mean_ms: float | None
    p50_ms: float | None
    p90_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    #: Bucket -> turns; bucket ``k`` >= 1 holds ``[1.02**(k-1), 1.02**k)`` ms, 0 below 1 ms.
    histogram: dict[int, int]


class WorkerStats(msgspec.Struct):
    """One worker process: which, and what it took."""

    index: int
    pid: int
    connections: int
    sessions: int
    turns: int
    #: Whether it was running when the stats were written.
    alive: bool
    #: Its exit code once it has ended (``None``: running; negative: killed by that signal).
    exit_code: int | None = None


class EmulatorStats(msgspec.Struct):
    """What an emulator (all its workers) saw; ``rawlive serve --stats`` writes it as JSON."""

    #: When written (UTC, ISO 8601) and seconds since the emulator started.
    written_at: str
    uptime_s: float
    #: Worker processes (1: a single process).
    workers: int
    #: Connections that reached the session (after the WebSocket handshake).
    connections: int
    #: Sessions opened anew (not resumed).
    sessions: int
    #: Connections that resumed a session with a handle, and those refused one.
    resumes: int
    resumes_refused: int
    #: User turns answered: replies played to their ``turnComplete`` (not one
    #: interrupted, nor extended thinking's filler turn).
    turns: int
    #: Function calls sent in ``toolCall`` messages.
    tool_calls: int
    #: Seconds of audio received (as 16 kHz) and of reply audio sent.
    audio_in_s: float
    audio_out_s: float
    #: WebSocket messages received (the setups too) and sent.
    messages_in: int
    messages_out: int
    #: Video frames (images) received.
    video_frames_in: int
    #: Close code -> connections that ended with it (1006: dropped, no close frame).
    close_codes: dict[str, int]
    reply_latency: LatencySummary
    #: Each worker (empty for a single process).
    per_worker: list[WorkerStats] = msgspec.field(default_factory=list)
    #: Workers that ended while the emulator was running.
    dead_workers: int = 0

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode()


def _percentile(buckets: dict[int, int], count: int, q: float, lo: float, hi: float) -> float:
    rank = max(1, math.ceil(q / 100 * count))
    seen = 0
    for bucket in sorted(buckets):
        seen += buckets[bucket]
        if seen >= rank:
            return round(min(hi, max(lo, _bucket_middle(bucket))), 3)
    return hi


def latency_summary(counts: Counts) -> LatencySummary:
    """The percentiles of the counts' latency histogram (see the module docstring)."""
    n = counts.latency_count
    lo, hi = counts.latency_min_ms, counts.latency_max_ms
    if not n or lo is None or hi is None:
        return LatencySummary(0, None, None, None, None, None, None, None, {})
    p50, p90, p95, p99 = (_percentile(counts.latency_buckets, n, q, lo, hi) for q in PERCENTILES)
    return LatencySummary(
        count=n,
        min_ms=round(lo, 3),
        max_ms=round(hi, 3),
        mean_ms=round(counts.latency_sum_ms / n, 3),
        p50_ms=p50,
        p90_ms=p90,
        p95_ms=p95,
        p99_ms=p99,
        histogram=dict(sorted(counts.latency_buckets.items())),
    )


def summary(
    counts: Counts,
    *,
    uptime_s: float,
    workers: int = 1,
    per_worker: list[WorkerStats] | None = None,
    dead_workers: int = 0,
) -> EmulatorStats:
    """The :class:`EmulatorStats` of these counts (a merge of the workers', with workers)."""
    return EmulatorStats(
        written_at=datetime.datetime.now(datetime.UTC).isoformat(timespec="milliseconds"),
        uptime_s=round(uptime_s, 3),
        workers=workers,
        connections=counts.connections,
        sessions=counts.sessions,
        resumes=counts.resumes,
        resumes_refused=counts.resumes_refused,
        turns=counts.turns,
        tool_calls=counts.tool_calls,
        audio_in_s=round(counts.audio_in_s, 3),
        audio_out_s=round(counts.audio_out_s, 3),
        messages_in=counts.messages_in,
        messages_out=counts.messages_out,
        video_frames_in=counts.video_frames_in,
        close_codes=dict(sorted(counts.close_codes.items())),
        reply_latency=latency_summary(counts),
        per_worker=per_worker or [],
        dead_workers=dead_workers,
    )


def write_stats(path: str | os.PathLike[str], stats: EmulatorStats) -> None:
    """Write ``stats`` as JSON to ``path`` atomically: a reader sees the old file or the new."""
    target = Path(path)
    fd, temporary = tempfile.mkstemp(dir=target.parent or ".", prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(stats.to_json() + "\n")
        os.replace(temporary, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
