"""The client side of the ``client.*`` benchmarks, run as a fresh process per measurement.

``python -m bench._liveclient e2e|stall --side rawlive|sdk --port PORT --ca CA.pem ...``
connects to :mod:`bench._server` over TLS with rawlive or with google-genai,
runs one scenario and prints one JSON line of results on stdout. Only the
chosen side's library is imported, so a rawlive process never carries
google-genai's modules (nor their garbage-collector load).

* ``e2e``: one warm-up session (``--warmup`` chunks), then ``--sessions``
  measured ones, each sending ``--chunks`` 100 ms chunks of 16 kHz s16le
  audio unpaced with ``send_realtime_input(audio=Blob(...))`` and then
  ``audioStreamEnd``, while a receiver task reads ``.data`` of every reply
  until ``turnComplete``. CPU is ``time.process_time()`` of this process from
  before ``connect`` to after the session is closed (the server runs in
  another process); ``gc.collect()`` runs before each measured session.
* ``stall``: one session, timed from right after ``connect`` returns: 20 ms
  chunks sent paced in real time for ``--seconds`` while a receiver task reads
  the replies and a monitor task measures how late ``asyncio.sleep(0.001)``
  wakes up. The first use of every code path (sending, the first reply)
  happens inside the window, as in a real application's first turn.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import random
import statistics
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any, NamedTuple

__all__ = ["main"]

MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"
CONFIG = {"response_modalities": ["AUDIO"]}
IN_MIME = "audio/pcm;rate=16000"
#: 16 kHz mono s16le: 32 bytes per millisecond.
BYTES_PER_MS = 32


class _Side(NamedTuple):
    """A session of either library and that library's ``Blob`` type.

    The scenarios call ``session.send_realtime_input`` and ``session.receive``
    directly: the same user code runs against both libraries.
    """

    session: Any
    blob: Callable[..., Any]


Opener = Callable[[], contextlib.AbstractAsyncContextManager[_Side]]


# ---------------------------------------------------------------------------
# The two sides
# ---------------------------------------------------------------------------


def _rawlive_opener(port: int, ca: str) -> Opener:
    import rawlive
    from rawlive.wire import types as t

    @contextlib.asynccontextmanager
    async def open_session() -> AsyncIterator[_Side]:
        async with rawlive.connect(
            MODEL, CONFIG, endpoint=f"wss://127.0.0.1:{port}", ca_file=ca, api_key="BENCH"
        ) as session:
            yield _Side(session, t.Blob)

    return open_session


def _sdk_opener(port: int, ca: str) -> Opener:
    # The SDK reads its CA from SSL_CERT_FILE (set by the parent to ``ca``).
    from google import genai
    from google.genai import types as gt

    client = genai.Client(api_key="BENCH", http_options={"base_url": f"https://127.0.0.1:{port}"})

    @contextlib.asynccontextmanager
    async def open_session() -> AsyncIterator[_Side]:
        async with client.aio.live.connect(model=MODEL, config=CONFIG) as session:  # type: ignore[arg-type]
            yield _Side(session, gt.Blob)

    return open_session


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


def _chunks(count: int, ms: int, seed: int) -> list[bytes]:
    data = random.Random(seed).randbytes(count * ms * BYTES_PER_MS)
    size = ms * BYTES_PER_MS
    return [data[i * size : (i + 1) * size] for i in range(count)]


async def _e2e_session(open_session: Opener, chunks: list[bytes]) -> dict[str, Any]:
    async with open_session() as (session, blob):

        async def receive() -> tuple[int, int]:
            messages = audio = 0
            # rawlive's receive() is one stream across turns, the SDK's ends by
            # itself after turnComplete: stop there for both.
            async for message in session.receive():
                messages += 1
                data = message.data  # what a player would take
                if data:
                    audio += len(data)
                content = message.server_content
                if content is not None and content.turn_complete:
                    break
            return messages, audio

        receiver = asyncio.create_task(receive())
        for chunk in chunks:
            await session.send_realtime_input(audio=blob(data=chunk, mime_type=IN_MIME))
        await session.send_realtime_input(audio_stream_end=True)
        messages, audio = await receiver
    return {"messages": messages, "audio_bytes": audio}


async def _e2e(open_session: Opener, args: argparse.Namespace) -> dict[str, Any]:
    await _e2e_session(open_session, _chunks(args.warmup, 100, seed=1))
    chunks = _chunks(args.chunks, 100, seed=2)
    runs = []
    for _ in range(args.sessions):
        gc.collect()
        wall0, cpu0 = time.perf_counter(), time.process_time()
        result = await _e2e_session(open_session, chunks)
        cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
        runs.append({"cpu_s": cpu, "wall_s": wall, **result})
    return {"warmup_chunks": args.warmup, "runs": runs}


async def _stall(open_session: Opener, args: argparse.Namespace) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    chunk = _chunks(1, 20, seed=3)[0]
    count = round(args.seconds / 0.020)
    samples: list[tuple[float, float]] = []  # (end time, excess delay)
    arrivals: list[float] = []
    async with open_session() as (session, blob):
        running = True

        async def monitor() -> None:
            while running:
                before = time.perf_counter()
                await asyncio.sleep(0.001)
                after = time.perf_counter()
                samples.append((after, after - before - 0.001))

        async def receive() -> None:
            more = True
            while more:  # the SDK's receive() ends at each turnComplete
                more = False
                async for message in session.receive():
                    more = True
                    data = message.data
                    if data:
                        arrivals.append(time.perf_counter())

        monitor_task = asyncio.create_task(monitor())
        receiver = asyncio.create_task(receive())
        start = loop.time()
        for i in range(count):
            await session.send_realtime_input(audio=blob(data=chunk, mime_type=IN_MIME))
            await asyncio.sleep(max(0.0, start + (i + 1) * 0.020 - loop.time()))
        running = False
        await monitor_task
        receiver.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await receiver
    lags = sorted(lag for _, lag in samples)
    first_reply: float | None = None
    if arrivals:
        # The sample whose sleep covered the first reply's handling ends just after it.
        window = [lag for end, lag in samples if arrivals[0] - 0.002 <= end <= arrivals[0] + 0.05]
        first_reply = max(window, default=None)
    return {
        "max_s": lags[-1],
        "p99_s": lags[min(len(lags) - 1, int(0.99 * len(lags)))],
        "median_s": statistics.median(lags),
        "first_reply_stall_s": first_reply,
        "samples": len(lags),
        "replies": len(arrivals),
        "chunks": count,
    }


SCENARIOS: dict[
    str, Callable[[Opener, argparse.Namespace], Coroutine[Any, Any, dict[str, Any]]]
] = {
    "e2e": _e2e,
    "stall": _stall,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._liveclient")
    parser.add_argument("scenario", choices=sorted(SCENARIOS))
    parser.add_argument("--side", choices=("rawlive", "sdk"), required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="the CA that signed the server's certificate")
    parser.add_argument("--chunks", type=int, default=600, help="e2e: 100 ms chunks to send")
    parser.add_argument("--warmup", type=int, default=20, help="e2e: chunks of the warm-up")
    parser.add_argument("--sessions", type=int, default=1, help="e2e: measured sessions")
    parser.add_argument("--seconds", type=float, default=3.0, help="stall: streaming time")
    args = parser.parse_args()
    opener = (_rawlive_opener if args.side == "rawlive" else _sdk_opener)(args.port, args.ca)
    result = asyncio.run(SCENARIOS[args.scenario](opener, args))
    print(json.dumps({"side": args.side, "scenario": args.scenario, **result}))


if __name__ == "__main__":
    main()
