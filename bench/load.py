"""Load benchmarks: how many real-time Live sessions one machine holds, on Locust.

Cases (``python -m bench load`` runs them all):

* ``load.capacity`` - the most concurrent real-time sessions this machine
  sustains with the p99 lateness of reply audio under 50 ms, with the
  emulator and the load generator on the same machine (2 cores here).

Method. One emulator process (``rawlive serve``, its default script: the
caller's speech echoed back at 24 kHz in real time) and, step after step,
one headless Locust process (``python -m locust -f`` rawlive's locustfile,
one process: the load generator as a user runs it) with N users of
:class:`rawlive.load.LiveUser`. Each user holds conversation after
conversation: ``fixtures/audio/weather-16k-mono.wav`` (2.7 s of speech)
streamed in 40 ms chunks in real time, then the 2.7 s echo, so each user is
one real-time session nearly all the time. Users are spawned over
``RAMP_S`` seconds, the statistics reset once all are running (Locust's
``--reset-stats``) and the step held ``HOLD_S`` seconds. The figure is
``audio_late`` per reply chunk (``--live-audio-late-per-chunk``; its exact
definition is :mod:`rawlive.tools.load.driver`'s: a chunk's arrival minus
when it would be needed were the reply played in real time from its first
chunk, at least 0), its p99 over every chunk of the step computed from
Locust's own histogram of response times. A step passes when that p99 is
under 50 ms and no request failed; the steps go up until one fails (or the
list ends), and the result is the largest step that passed. Lateness is
measured at the client, so it counts the load generator's own delays too:
on one machine the emulator and Locust share the cores (their CPU seconds
per step are in ``--json``).

There is no baseline to run side by side: the figures are rawlive's alone
(the ratio column shows "—").
"""

from __future__ import annotations

import json
import math
import os
import resource
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._core import Context, Row, register
from rawlive.tools.load import LOCUSTFILE
from rawlive.tools.load.command import emulator_process

ROOT = Path(__file__).resolve().parent.parent
SPEECH = str(ROOT / "fixtures" / "audio" / "weather-16k-mono.wav")

LATENESS_LIMIT_MS = 50.0
#: Users per step (the full run); ``--quick`` runs two small ones.
STEPS = (25, 50, 100, 150, 200, 250, 300, 400)
QUICK_STEPS = (2, 4)
RAMP_S = 5.0
HOLD_S = 25.0
QUICK_HOLD_S = 4.0


def _cpu_s(pid: int) -> float:
    """CPU seconds (user + system) of a running process, from ``/proc`` (0 where unknown)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _percentile(histogram: dict[str, int], q: float) -> float:
    """The ``q`` quantile (0-1) of Locust's ``response_times`` (rounded ms -> count)."""
    values = sorted((float(ms), n) for ms, n in histogram.items())
    total = sum(n for _, n in values)
    if not total:
        return 0.0
    rank, seen = max(1, math.ceil(total * q)), 0
    for ms, n in values:
        seen += n
        if seen >= rank:
            return ms
    return values[-1][0]  # pragma: no cover - the counts add up


def _step(url: str, users: int, hold: float, tmp: str) -> dict[str, Any]:
    """One Locust run of ``users`` users; what it measured."""
    rate = max(1.0, users / RAMP_S)
    run_time = f"{math.ceil(users / rate + hold)}s"
    argv = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--json"]
    argv += ["--skip-log", "--users", str(users), "--spawn-rate", f"{rate:g}"]
    argv += ["--run-time", run_time, "--reset-stats", "--host", url, "--live-file", SPEECH]
    # (At the end Locust stops the conversations under way: no failure, nothing late.)
    argv += ["--live-audio-late-per-chunk"]
    log = os.path.join(tmp, f"locust-{users}.log")
    before = _children_cpu_s()
    with open(log, "wb") as err:
        done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=err, timeout=600, check=False)
    locust_cpu = _children_cpu_s() - before
    try:
        rows = {row["name"]: row for row in json.loads(done.stdout)}
    except json.JSONDecodeError:
        tail = Path(log).read_text(errors="replace")[-1500:]
        raise RuntimeError(f"locust gave no statistics (exit {done.returncode}): {tail}") from None
    late = rows.get("audio_late", {})
    first = rows.get("first_audio", {})
    failures = {name: row["num_failures"] for name, row in rows.items() if row["num_failures"]}
    p99 = _percentile(late.get("response_times", {}), 0.99)
    return {
        "users": users,
        "run_time": run_time,
        "chunks": late.get("num_requests", 0),
        "audio_late_p99_ms": p99,
        "audio_late_max_ms": late.get("max_response_time"),
        "first_audio_p50_ms": _percentile(first.get("response_times", {}), 0.50),
        "first_audio_p99_ms": _percentile(first.get("response_times", {}), 0.99),
        "sessions": rows.get("setup", {}).get("num_requests", 0),
        "turns": rows.get("turn", {}).get("num_requests", 0),
        "failures": failures,
        "locust_cpu_s": round(locust_cpu, 2),
        "locust_exit": done.returncode,
        "passed": p99 < LATENESS_LIMIT_MS and not failures and late.get("num_requests", 0) > 0,
    }


@register(
    "load.capacity",
    "most concurrent real-time sessions (Locust + emulator, one machine) with p99 audio "
    "lateness < 50 ms",
)
def capacity(ctx: Context) -> Iterator[Row]:
    steps, hold = (QUICK_STEPS, QUICK_HOLD_S) if ctx.quick else (STEPS, HOLD_S)
    results: list[dict[str, Any]] = []
    with (
        tempfile.TemporaryDirectory(prefix="rawlive-bench-load-") as tmp,
        emulator_process() as (url, emulator),
    ):
        for users in steps:
            cpu = _cpu_s(emulator.pid)
            result = _step(url, users, hold, tmp)
            result["emulator_cpu_s"] = round(_cpu_s(emulator.pid) - cpu, 2)
            results.append(result)
            print(f"  load.capacity: {json.dumps(result)}", file=sys.stderr, flush=True)
            if not result["passed"]:
                break
    passed = [r for r in results if r["passed"]]
    best = passed[-1] if passed else None
    over = next((r for r in results if not r["passed"]), None)
    setup = (
        f"{len(results)} steps of Locust users ({', '.join(str(r['users']) for r in results)}), "
        f"each ramped over {RAMP_S:g} s and held {hold:g} s, one Locust process and one "
        "emulator process on this machine; each user streams a 2.7 s question in real time "
        "and gets it echoed back in real time, conversation after conversation"
    )
    details: dict[str, Any] = {
        "steps": results,
        "limit_ms": LATENESS_LIMIT_MS,
        "first_step_over": over["users"] if over else None,
        "method": "bench/load.py's docstring",
    }
    yield Row(
        "load.capacity",
        f"most concurrent real-time sessions with p99 reply-audio lateness < 50 ms and no "
        f"failure ({setup})"
        + ("" if over else "; no step reached the limit: the capacity is at least this"),
        best["users"] if best else 0,
        "—",
        unit="sessions",
        details=details,
    )
    yield Row(
        "load.capacity",
        "p99 lateness of a reply audio chunk at that many sessions, same run",
        (best["audio_late_p99_ms"] if best else results[0]["audio_late_p99_ms"]) / 1000,
        "—",
        details={"chunks": best["chunks"] if best else results[0]["chunks"]},
    )
    yield Row(
        "load.capacity",
        "p99 time from the end of speech to the first reply audio at that many sessions, same run",
        (best["first_audio_p99_ms"] if best else results[0]["first_audio_p99_ms"]) / 1000,
        "—",
        details={"p50_ms": best["first_audio_p50_ms"] if best else None},
    )
