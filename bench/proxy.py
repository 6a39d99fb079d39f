"""Proxy benchmark: the latency ``rawlive proxy`` adds to each frame, under load.

Case (``python -m bench proxy``):

* ``proxy.latency`` - an echo server (:mod:`bench._proxyecho`) and
  ``rawlive proxy`` (the CLI, recording nothing) each run in their own
  process on 127.0.0.1. 50 concurrent sessions (5 with ``--quick``) each send
  a 40 ms chunk of 16 kHz audio as a ``realtimeInput`` text frame every 40 ms
  (real time; their clocks spread evenly over the 40 ms, as independent
  sessions are) and wait for its echo, first straight to the echo server
  (baseline), then through the proxy, in the same run. A round trip crosses
  the proxy twice (once each way), so the added latency per frame is half the
  difference of the two p99 round trips. Target: at most 1 ms.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import websockets

from bench._core import Context, Row, Target, register

ROOT = Path(__file__).resolve().parent.parent
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
CHUNK = 1280  # 40 ms of 16 kHz s16le
PERIOD = 0.040
LIMIT_S = 0.001


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))]


async def _session(url: str, frames: int, phase: float, rtts: list[float]) -> None:
    blob = {"data": base64.b64encode(bytes(range(256)) * (CHUNK // 256)).decode()}
    chunk = msgspec.json.encode({"realtimeInput": {"audio": blob}}).decode()
    async with websockets.connect(url, compression=None, ping_interval=None) as ws:
        await ws.send('{"setup":{"model":"models/bench"}}')
        await ws.recv()
        start = time.monotonic() + phase
        for n in range(frames):
            delay = start + n * PERIOD - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            sent = time.perf_counter()
            await ws.send(chunk)
            await ws.recv()
            rtts.append(time.perf_counter() - sent)


async def _run(url: str, sessions: int, frames: int) -> list[float]:
    rtts: list[float] = []
    # Independent sessions: their 40 ms clocks are spread over the period, not in step.
    phases = [PERIOD * i / sessions for i in range(sessions)]
    await asyncio.gather(*(_session(url, frames, phase, rtts) for phase in phases))
    return rtts


def _start(argv: list[str], pattern: str, stream: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        argv,
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    pipe = proc.stdout if stream == "stdout" else proc.stderr
    assert pipe is not None
    for _ in range(20):
        line = pipe.readline()
        match = re.search(pattern, line)
        if match:
            return proc, match.group(0)
    proc.kill()
    raise RuntimeError(f"{argv[2]} did not say where it listens")


def _stop(proc: subprocess.Popen[str]) -> None:
    with contextlib.suppress(OSError):
        if proc.stdin is not None:
            proc.stdin.close()
    proc.terminate()
    try:
        proc.wait(5)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


@register("proxy.latency", "p99 latency rawlive proxy adds per frame, 50 real-time sessions")
def proxy_latency(ctx: Context) -> Iterator[Row]:
    sessions = 5 if ctx.quick else 50
    frames = 25 if ctx.quick else 250  # 1 s or 10 s of audio per session
    echo, echo_url = _start(
        [sys.executable, "-m", "bench._proxyecho"], r"ws://127\.0\.0\.1:\d+", "stdout"
    )
    try:
        proxy, proxy_url = _start(
            [
                sys.executable,
                "-m",
                "rawlive",
                "proxy",
                "--listen",
                "127.0.0.1:0",
                "--upstream",
                echo_url,
            ],
            r"ws://127\.0\.0\.1:\d+",
            "stderr",
        )
        try:
            asyncio.run(_run(echo_url + PATH, 2, 3))  # warm both paths up
            asyncio.run(_run(proxy_url + PATH, 2, 3))
            direct = asyncio.run(_run(echo_url + PATH, sessions, frames))
            proxied = asyncio.run(_run(proxy_url + PATH, sessions, frames))
        finally:
            _stop(proxy)
    finally:
        _stop(echo)
    p99_direct, p99_proxied = _p99(direct), _p99(proxied)
    added = max(0.0, (p99_proxied - p99_direct) / 2)
    setup = f"{sessions} sessions sending a 40 ms chunk every 40 ms for {frames * PERIOD:g} s"
    details = {
        "p99_direct_s": p99_direct,
        "p99_proxied_s": p99_proxied,
        "median_direct_s": sorted(direct)[len(direct) // 2],
        "median_proxied_s": sorted(proxied)[len(proxied) // 2],
        "round_trips": len(direct) + len(proxied),
    }
    yield Row(
        "proxy.latency",
        f"latency added per frame at p99: (p99 round trip via proxy - direct) / 2, {setup}",
        added,
        "—",
        target=Target.rawlive_at_most(LIMIT_S, "rawlive ≤ 1 ms"),
        details=details,
    )
    yield Row(
        "proxy.latency",
        "p99 round trip of a chunk through the proxy vs direct to the echo server, same run",
        p99_proxied,
        p99_direct,
        details=details,
    )
