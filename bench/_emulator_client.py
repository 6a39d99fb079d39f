"""A client process of ``emulator.concurrency``: many real-time rawlive sessions on one loop.

``python -m bench._emulator_client --port PORT --sessions N --procs P --proc I ...``
prepares its sessions, prints ``ready`` and waits for one line on stdin: the
``time.monotonic()`` instant to start from (the clock is system-wide, so the
parent can give every client process the same one). The process runs the
sessions ``I, I + P, I + 2P, ...`` of ``N`` on one asyncio event loop;
session ``i`` connects at ``start + i × --stagger / N``. It then prints one
JSON line of results.

Each session, with ``rawlive.connect`` to the emulator:

* streams ``--seconds`` of 16 kHz s16le audio in ``--chunk-ms`` chunks with
  ``send_realtime_input(audio=Blob(...))``, paced in real time on a
  drift-free schedule (chunk ``n`` is due ``n × chunk`` after ``connect``
  returned), then ``audioStreamEnd``. The audio repeats a speech-like
  pattern: a 1 s tone burst (``rawlive.media.audio.tone`` at -20 dBFS) and 2 s of
  silence, so the emulator's VAD ends each burst after its 800 ms of
  silence and echoes it (1 s of 24 kHz audio, streamed in real time) before
  the next burst begins;
* reads every reply with ``receive()`` (``.data`` of each, as a player
  would) and, after the stream ends, waits for the ``turnComplete`` of every
  burst's echo, then closes;
* records, for every chunk, its send lateness: ``time.monotonic()`` once
  ``send_realtime_input`` has returned, minus the chunk's due time (never
  below 0). That is the client's share of any lateness the emulator sees.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import sys
import time
import traceback
from typing import Any

__all__ = ["BURST_MS", "PERIOD_MS", "main", "pattern"]

MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"
CONFIG = {"response_modalities": ["AUDIO"]}
IN_MIME = "audio/pcm;rate=16000"
BYTES_PER_MS = 32  # 16 kHz mono s16le
BURST_MS = 1000
PERIOD_MS = 3000


def pattern(chunk_ms: int) -> list[bytes]:
    """One period of the audio (a tone burst, then silence), cut into chunks."""
    from rawlive.media.audio import tone

    audio = tone(BURST_MS, rate=16_000) + bytes((PERIOD_MS - BURST_MS) * BYTES_PER_MS)
    size = chunk_ms * BYTES_PER_MS
    return [audio[i : i + size] for i in range(0, len(audio), size)]


def expected_turns(seconds: float) -> int:
    """Bursts begun within ``seconds`` of audio: each ends in one echo turn."""
    return math.ceil(seconds * 1000 / PERIOD_MS)


async def _session(
    index: int, args: argparse.Namespace, start_at: float, chunks: list[bytes]
) -> dict[str, Any]:
    import rawlive
    from rawlive.wire import types as t

    loop = asyncio.get_running_loop()
    chunk_s = args.chunk_ms / 1000
    count = round(args.seconds / chunk_s)
    turns_wanted = expected_turns(args.seconds)
    lateness: list[float] = []
    state: dict[str, Any] = {"turns": 0, "audio_bytes": 0, "replies": 0}
    result: dict[str, Any] = {"index": index, "lateness": lateness, "state": state, "error": None}
    await asyncio.sleep(max(0.0, start_at + index * args.stagger / args.sessions - loop.time()))
    try:
        async with rawlive.connect(
            MODEL, CONFIG, endpoint=f"ws://127.0.0.1:{args.port}", api_key="BENCH"
        ) as session:
            all_turns = asyncio.Event()

            async def receive() -> None:
                async for message in session.receive():
                    data = message.data
                    if data:
                        state["replies"] += 1
                        state["audio_bytes"] += len(data)
                    content = message.server_content
                    if content is not None and content.turn_complete:
                        state["turns"] += 1
                        if state["turns"] >= turns_wanted:
                            all_turns.set()

            receiver = asyncio.create_task(receive())
            t0 = loop.time()
            monotonic = time.monotonic
            for n in range(count):
                due = t0 + n * chunk_s
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                await session.send_realtime_input(
                    audio=t.Blob(data=chunks[n % len(chunks)], mime_type=IN_MIME)
                )
                lateness.append(max(0.0, monotonic() - due))
            await session.send_realtime_input(audio_stream_end=True)
            waiter = asyncio.create_task(all_turns.wait())
            await asyncio.wait(
                {waiter, receiver}, timeout=args.drain, return_when="FIRST_COMPLETED"
            )
            waiter.cancel()
            if receiver.done():
                receiver.result()  # raises what ended the stream early
            else:
                receiver.cancel()
    except Exception as exc:
        result["error"] = f"{type(exc).__name__}: {exc}"
        traceback.print_exc()
    if result["error"] is None and state["turns"] < turns_wanted:
        result["error"] = f"{state['turns']} of {turns_wanted} echo turns completed"
    return result


async def _run(args: argparse.Namespace) -> dict[str, Any]:
    import rawlive.client.session  # noqa: F401  (imported before the clock starts)

    chunks = pattern(args.chunk_ms)
    print("ready", flush=True)
    loop = asyncio.get_running_loop()
    start_at = float(await loop.run_in_executor(None, sys.stdin.readline))
    mine = range(args.proc, args.sessions, args.procs)
    cpu0 = time.process_time()
    results = await asyncio.gather(*(_session(i, args, start_at, chunks) for i in mine))
    cpu_s = time.process_time() - cpu0
    lateness = sorted(v for r in results for v in r["lateness"])
    return {
        "sessions": len(results),
        "cpu_s": cpu_s,
        "chunks": len(lateness),
        "lateness_s": [round(v, 6) for v in lateness],
        "errors": [r["error"] for r in results if r["error"] is not None],
        "turns": sum(r["state"]["turns"] for r in results),
        "reply_chunks": sum(r["state"]["replies"] for r in results),
        "reply_audio_bytes": sum(r["state"]["audio_bytes"] for r in results),
        "expected_turns_per_session": expected_turns(args.seconds),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._emulator_client")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--sessions", type=int, required=True, help="sessions in all processes")
    parser.add_argument("--procs", type=int, default=1, help="client processes in all")
    parser.add_argument("--proc", type=int, default=0, help="this process's number, from 0")
    parser.add_argument("--seconds", type=float, default=15.0, help="audio streamed per session")
    parser.add_argument("--chunk-ms", type=int, default=40)
    parser.add_argument("--stagger", type=float, default=1.0, help="seconds to start them all")
    parser.add_argument("--drain", type=float, default=5.0, help="seconds to wait for echoes")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(_run(args))), flush=True)


if __name__ == "__main__":
    main()
