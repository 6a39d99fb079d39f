"""Emulator benchmarks: how many real-time sessions one emulator process holds.

Cases (``python -m bench emulator`` runs them all):

* ``emulator.concurrency`` - 200 concurrent sessions (20 with ``--quick``),
  each streaming 15 s (3 s) of 16 kHz audio in 40 ms chunks paced in real
  time, speech-like (1 s tone bursts, 2 s silences) so that the emulator's
  VAD ends every burst and echoes it back in real time while the stream
  goes on. Target: no chunk of any session reaches the emulator more than
  50 ms late. Reported alongside: the p99 of that lateness, the emulator's
  peak memory per session, the clients' own send lateness and how many
  sessions completed (every burst echoed, no error).

The emulator is the real :class:`rawlive.servers.emulator.Emulator` in a process of
its own (:mod:`bench._emulator_server`, which explains how lateness and
memory are measured there); the sessions are rawlive clients
(:mod:`bench._emulator_client`), split over two more processes with one
event loop each, whose starts are staggered over 1 s. There is no baseline
to run side by side: the figures are rawlive's alone, measured in this run
on this machine (the ratio column shows "—"). The client processes share
the two cores with the emulator; their send lateness is reported so that a
late chunk can be told apart as the client's or the emulator's.

``RAWLIVE_BENCH_PROFILE=FILE python -m bench emulator`` runs the emulator
process under cProfile and writes its stats to ``FILE`` (the profiler's
overhead makes the figures of that run worse).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from bench._core import Context, Row, Target, register

ROOT = Path(__file__).resolve().parent.parent

CHUNK_MS = 40
STAGGER_S = 1.0
CLIENT_PROCS = 2
LATENESS_LIMIT_S = 0.050


def _tail(path: str, chars: int = 2000) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-chars:]


def _popen(argv: list[str], log: IO[bytes]) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, *argv],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=log,
    )


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        proc.wait(timeout=10)


@contextlib.contextmanager
def _emulator(tmp: str, profile: str | None) -> Iterator[tuple[int, subprocess.Popen[bytes], str]]:
    """Start ``python -m bench._emulator_server``; yield (port, process, log path)."""
    log_path = os.path.join(tmp, "emulator.log")
    argv = ["-m", "bench._emulator_server", "--chunk-ms", str(CHUNK_MS)]
    if profile:
        argv += ["--profile", profile]
    with open(log_path, "wb") as log:
        proc = _popen(argv, log)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.wait(timeout=10)
            raise RuntimeError(f"bench._emulator_server did not start: {_tail(log_path)}")
        yield int(line), proc, log_path
    finally:
        _stop(proc)


def _server_result(proc: subprocess.Popen[bytes], log_path: str) -> dict[str, Any]:
    """Close the emulator's stdin (it stops) and read its JSON line."""
    assert proc.stdin is not None and proc.stdout is not None
    proc.stdin.close()
    out = proc.stdout.read()
    proc.wait(timeout=30)
    lines = out.decode().strip().splitlines()
    if proc.returncode != 0 or not lines:
        raise RuntimeError(f"bench._emulator_server failed: {_tail(log_path)}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _run_clients(
    tmp: str, port: int, sessions: int, seconds: float
) -> tuple[list[dict[str, Any]], float]:
    """Run the client processes to the end; their results and the wall time from the start."""
    procs: list[tuple[subprocess.Popen[bytes], str]] = []
    try:
        for i in range(CLIENT_PROCS):
            log_path = os.path.join(tmp, f"client-{i}.log")
            argv = ["-m", "bench._emulator_client", "--port", str(port)]
            argv += ["--sessions", str(sessions), "--procs", str(CLIENT_PROCS), "--proc", str(i)]
            argv += ["--seconds", str(seconds), "--chunk-ms", str(CHUNK_MS)]
            argv += ["--stagger", str(STAGGER_S)]
            with open(log_path, "wb") as log:
                procs.append((_popen(argv, log), log_path))
        for proc, log_path in procs:
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != b"ready":
                proc.wait(timeout=10)
                raise RuntimeError(f"bench._emulator_client did not start: {_tail(log_path)}")
        # The monotonic clock is system-wide: one start instant for every process.
        start = time.monotonic() + 0.1
        for proc, _ in procs:
            assert proc.stdin is not None
            proc.stdin.write(f"{start!r}\n".encode())
            proc.stdin.close()
        machine0 = _machine_busy_s()
        results = []
        for proc, log_path in procs:
            assert proc.stdout is not None
            out = proc.stdout.read()
            proc.wait(timeout=60)
            lines = out.decode().strip().splitlines()
            if proc.returncode != 0 or not lines:
                raise RuntimeError(f"bench._emulator_client failed: {_tail(log_path)}")
            results.append(json.loads(lines[-1]))
        busy = _machine_busy_s() - machine0
        ours = sum(r["cpu_s"] for r in results)
        for r in results:
            r["machine_busy_s"] = busy
            r["clients_cpu_s"] = ours
        return results, time.monotonic() - start
    finally:
        for proc, _ in procs:
            _stop(proc)


def _machine_busy_s() -> float:
    """CPU seconds all cores spent busy since boot (``/proc/stat``), 0 where unknown."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = [int(x) for x in f.readline().split()[1:]]
    except (OSError, ValueError):
        return 0.0
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return 0.0
    return sorted_values[min(len(sorted_values) - 1, int(q * len(sorted_values)))]


@register("emulator.concurrency", "200 concurrent real-time sessions on one emulator process")
def concurrency(ctx: Context) -> Iterator[Row]:
    sessions, seconds = (20, 3.0) if ctx.quick else (200, 15.0)
    profile = os.environ.get("RAWLIVE_BENCH_PROFILE")  # a path: cProfile the emulator
    with (
        tempfile.TemporaryDirectory(prefix="rawlive-bench-") as tmp,
        _emulator(tmp, profile) as (port, server, server_log),
    ):
        clients, wall = _run_clients(tmp, port, sessions, seconds)
        server_result = _server_result(server, server_log)

    chunks = round(seconds * 1000 / CHUNK_MS)
    client_lateness = sorted(v for c in clients for v in c["lateness_s"])
    errors = [e for c in clients for e in c["errors"]]
    completed = sum(c["sessions"] for c in clients) - len(errors)
    if server_result["chunks"] != len(client_lateness):
        errors.append(
            f"the emulator timed {server_result['chunks']} chunks, "
            f"the clients sent {len(client_lateness)}"
        )
    base, end = server_result["baseline"], server_result["end"]
    per_session_kib = (end["maxrss_kib"] - base["maxrss_kib"]) / sessions
    setup = (
        f"{sessions} concurrent rawlive sessions (in {CLIENT_PROCS} client processes, started "
        f"over {STAGGER_S:g} s) each streaming {seconds:g} s of 16 kHz audio in {CHUNK_MS} ms "
        "chunks paced in real time (1 s tone bursts, 2 s silences; every burst echoed back "
        "in real time) to one emulator process"
    )
    common: dict[str, Any] = {
        "sessions": sessions,
        "seconds_per_session": seconds,
        "chunk_ms": CHUNK_MS,
        "chunks_per_session": chunks,
        "client_processes": CLIENT_PROCS,
        "stagger_s": STAGGER_S,
        "wall_s": wall,
        "lateness": "arrival at the emulator's session coroutine (time.monotonic) minus "
        "(arrival of the session's chunk 0 + n × chunk), at least 0",
        "server": {k: v for k, v in server_result.items() if k != "chunks_per_connection"},
        "server_chunks_per_connection_min_max": [
            min(server_result["chunks_per_connection"], default=0),
            max(server_result["chunks_per_connection"], default=0),
        ],
        "cpu_s": {
            "emulator": server_result["cpu_s"],
            "clients": clients[0]["clients_cpu_s"],
            # Busy CPU time of the whole machine while the clients ran, less
            # the clients' and the emulator's: load from anything else.
            "rest_of_machine": clients[0]["machine_busy_s"]
            - clients[0]["clients_cpu_s"]
            - server_result["cpu_s"],
        },
        "client_send_lateness_max_s": client_lateness[-1] if client_lateness else None,
        "client_send_lateness_p99_s": _percentile(client_lateness, 0.99),
        "client_turns": sum(c["turns"] for c in clients),
        "client_reply_chunks": sum(c["reply_chunks"] for c in clients),
        "client_reply_audio_bytes": sum(c["reply_audio_bytes"] for c in clients),
        "errors": errors[:10],
    }
    yield Row(
        "emulator.concurrency",
        f"max lateness of an audio chunk reaching the emulator, over every chunk of {setup}",
        server_result["max_lateness_s"],
        "—",
        target=Target.rawlive_at_most(LATENESS_LIMIT_S, "rawlive ≤ 50 ms"),
        details=common,
    )
    yield Row(
        "emulator.concurrency",
        "p99 lateness of an audio chunk reaching the emulator, same run",
        server_result["p99_lateness_s"],
        "—",
        details={"chunks": server_result["chunks"]},
    )
    yield Row(
        "emulator.concurrency",
        "client-side send lateness, max over every chunk (p99 in --json), same run",
        common["client_send_lateness_max_s"] or 0.0,
        "—",
        details={
            "statistic": "time.monotonic() once send_realtime_input returned, minus the "
            "chunk's due time on the session's drift-free schedule, at least 0",
            "p99_s": common["client_send_lateness_p99_s"],
        },
    )
    yield Row(
        "emulator.concurrency",
        "emulator peak memory per session: (peak RSS - RSS before the sessions) / sessions, "
        "same run",
        per_session_kib,
        "—",
        unit="KiB",
        details={
            "peak_maxrss_kib": end["maxrss_kib"],
            "baseline_maxrss_kib": base["maxrss_kib"],
            "baseline_vmrss_kib": base["vmrss_kib"],
            "end_vmrss_kib": end["vmrss_kib"],
            "method": "resource.getrusage(RUSAGE_SELF).ru_maxrss inside the emulator process",
        },
    )
    yield Row(
        "emulator.concurrency",
        "sessions completed without error (every burst echoed), same run",
        f"{completed}/{sessions}",
        "—",
        unit="",
        target=Target(f"all {sessions}", lambda row: row.rawlive == f"{sessions}/{sessions}"),
        details={"errors": errors[:10]},
    )
