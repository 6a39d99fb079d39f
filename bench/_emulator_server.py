"""The emulator process of ``emulator.concurrency``: the real emulator, timed from inside.

``python -m bench._emulator_server [--chunk-ms 40] [--speed 1] [--profile FILE]``
runs a :class:`rawlive.servers.emulator.Emulator` (``capture_frames=False``, replies
paced at ``--speed``: 1 real time, 0 as fast as possible; the default echo)
on an ephemeral port of 127.0.0.1, prints the
port on one line of stdout and serves until its stdin closes; then it prints
one JSON line of what it measured and exits.

What is measured, inside this process:

* **Chunk lateness.** :class:`TimedEmulator` wraps each connection's
  :meth:`rawlive.servers.base.Peer.recv` (an instance attribute set in
  :meth:`TimedEmulator.session`, so rawlive is unchanged) and stamps every
  client frame with ``time.monotonic()`` when the emulator's session
  coroutine takes it from the socket, i.e. when the emulator gets to work on
  it. Frames that are a ``realtimeInput.audio`` message (recognised by the
  prefix rawlive's encoder writes, ``{"realtimeInput":{"audio":{``; nothing
  is decoded twice) are chunks: chunk ``n`` of a connection is due at the
  arrival of its chunk 0 plus ``n × --chunk-ms``, and its lateness is
  ``max(0, arrival - due)``.
* **Memory.** ``resource.getrusage(RUSAGE_SELF).ru_maxrss`` (peak RSS) once
  the emulator is listening, before any session (the baseline), and at the
  end; ``VmRSS`` of ``/proc/self/status`` at both points too.
* For attribution: the process's CPU time, the event loop's lag (a task
  sleeping 5 ms in a loop, how late it wakes, and whether the process had the
  CPU meanwhile), involuntary context switches (``ru_nivcsw``) and the
  garbage collector's pauses (``gc.callbacks``).

The emulator imports numpy (its VAD) and soxr (its echo resampler) lazily in
the first session; they are imported here before the baseline, as in an
emulator that has already served a session, so neither their import time nor
their memory is charged to the measured sessions.
"""

from __future__ import annotations

import argparse
import array
import asyncio
import contextlib
import cProfile
import gc
import json
import resource
import sys
import time
from typing import Any

from rawlive.servers.base import Peer
from rawlive.servers.emulator import Emulator

__all__ = ["ChunkClock", "TimedEmulator", "main"]

#: How every ``realtimeInput.audio`` message rawlive sends begins.
AUDIO_PREFIX = b'{"realtimeInput":{"audio":{'


class ChunkClock:
    """One connection's audio chunks: when each was due and how late it arrived."""

    __slots__ = ("chunks", "first", "last", "max_lateness", "period")

    def __init__(self, period: float) -> None:
        self.period = period
        self.first = 0.0
        self.last = 0.0
        self.chunks = 0
        self.max_lateness = 0.0

    def arrive(self, now: float, lateness: array.array[float]) -> None:
        if self.chunks == 0:
            self.first = now
            late = 0.0
        else:
            late = max(0.0, now - (self.first + self.chunks * self.period))
        self.chunks += 1
        self.last = now
        if late > self.max_lateness:
            self.max_lateness = late
        lateness.append(late)


class TimedEmulator(Emulator):
    """The real emulator; every client frame is stamped as its session takes it."""

    def __init__(self, *, chunk_s: float, **options: Any) -> None:
        super().__init__(**options)
        self.chunk_s = chunk_s
        self.clocks: list[ChunkClock] = []
        #: The lateness of every chunk of every connection, in arrival order.
        self.lateness: array.array[float] = array.array("d")
        self.failures = 0

    async def session(self, peer: Peer) -> None:
        clock = ChunkClock(self.chunk_s)
        self.clocks.append(clock)
        recv = peer.recv
        lateness = self.lateness
        monotonic = time.monotonic

        async def timed_recv() -> bytes:
            payload = await recv()
            if payload.startswith(AUDIO_PREFIX):
                clock.arrive(monotonic(), lateness)
            return payload

        peer.recv = timed_recv  # type: ignore[method-assign]
        try:
            await super().session(peer)
        except Exception:
            self.failures += 1
            raise


def _vm_rss_kib() -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _maxrss_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux


class _LoopLag:
    """A task that sleeps ``interval`` in a loop and keeps how late it woke.

    For the worst wake-up it also keeps the CPU time the process spent in
    that interval: close to the lag, the loop was busy (the emulator's
    doing); far below it, the process was waiting for a core (the machine's).
    """

    def __init__(self, interval: float = 0.005) -> None:
        self.interval = interval
        self.max = 0.0
        self.max_cpu = 0.0
        self.samples = 0
        self.over_10ms = 0
        self.over_10ms_busy = 0  # of which the process had the CPU most of the time

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        cpu = time.process_time
        while True:
            before, before_cpu = loop.time(), cpu()
            await asyncio.sleep(self.interval)
            took = loop.time() - before
            used = cpu() - before_cpu
            lag = took - self.interval
            self.samples += 1
            if lag > self.max:
                self.max, self.max_cpu = lag, used
            if lag > 0.010:
                self.over_10ms += 1
                if used > 0.5 * took:
                    self.over_10ms_busy += 1


class _GcPauses:
    """Durations of the collector's runs, by generation, through ``gc.callbacks``."""

    def __init__(self) -> None:
        self.started = 0.0
        self.started_cpu = 0.0
        self.max_s = [0.0, 0.0, 0.0]
        self.max_cpu_s = [0.0, 0.0, 0.0]
        self.count = [0, 0, 0]
        self.total_s = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self.started = time.perf_counter()
            self.started_cpu = time.thread_time()
            return
        took = time.perf_counter() - self.started
        cpu = time.thread_time() - self.started_cpu
        generation = int(info["generation"])
        self.count[generation] += 1
        self.total_s += took
        if took > self.max_s[generation]:
            self.max_s[generation] = took
            self.max_cpu_s[generation] = cpu


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


async def _serve(args: argparse.Namespace) -> dict[str, Any]:
    # What the first session would import (see the module docstring).
    import rawlive.media.audio
    import rawlive.media.vad  # noqa: F401

    emulator = TimedEmulator(
        chunk_s=args.chunk_ms / 1000,
        host="127.0.0.1",
        port=0,
        capture_frames=False,
        speed=args.speed,
    )
    pauses = _GcPauses()
    lag = _LoopLag()
    async with emulator:
        gc.collect()
        baseline = {"maxrss_kib": _maxrss_kib(), "vmrss_kib": _vm_rss_kib()}
        gc.callbacks.append(pauses)
        cpu0 = time.process_time()
        nivcsw0 = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        lag_task = asyncio.create_task(lag.run())
        print(emulator.port, flush=True)
        # Serve until stdin closes (the parent is done, or died).
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        lag_task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lag_task
        gc.callbacks.remove(pauses)
        cpu_s = time.process_time() - cpu0
        end = {"maxrss_kib": _maxrss_kib(), "vmrss_kib": _vm_rss_kib()}
    values = sorted(emulator.lateness)
    streamed = [clock for clock in emulator.clocks if clock.chunks]
    return {
        "connections": len(emulator.clocks),
        "streaming_connections": len(streamed),
        "failures": emulator.failures,
        "chunks": len(values),
        "chunks_per_connection": sorted(clock.chunks for clock in streamed),
        "max_lateness_s": values[-1] if values else 0.0,
        "p99_lateness_s": _percentile(values, 0.99),
        "p999_lateness_s": _percentile(values, 0.999),
        "median_lateness_s": _percentile(values, 0.5),
        "chunks_over_50ms": sum(1 for v in values if v > 0.050),
        "chunks_over_20ms": sum(1 for v in values if v > 0.020),
        "worst_connections_s": sorted((c.max_lateness for c in streamed), reverse=True)[:5],
        "baseline": baseline,
        "end": end,
        "cpu_s": cpu_s,
        "loop_lag_max_s": lag.max,
        "loop_lag_max_cpu_s": lag.max_cpu,
        "loop_lag_over_10ms": lag.over_10ms,
        "loop_lag_over_10ms_busy": lag.over_10ms_busy,
        "involuntary_context_switches": resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
        - nivcsw0,
        "loop_lag_samples": lag.samples,
        "gc_max_pause_s": pauses.max_s,
        "gc_max_pause_thread_cpu_s": pauses.max_cpu_s,
        "gc_collections": pauses.count,
        "gc_total_s": pauses.total_s,
        "emulated_sessions": len(emulator.sessions),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._emulator_server")
    parser.add_argument("--chunk-ms", type=float, default=40.0, help="the clients' chunk length")
    parser.add_argument(
        "--speed", type=float, default=1.0, help="reply pacing: 1 real time, 0 unpaced"
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the whole run")
    args = parser.parse_args()
    profiler = cProfile.Profile() if args.profile else None
    if profiler is not None:
        profiler.enable()
    try:
        result = asyncio.run(_serve(args))
    finally:
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
