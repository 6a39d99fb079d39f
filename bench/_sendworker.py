"""A client process of ``send.cpu``: stream a WAV in real time over TLS, one JSON line out.

``python -m bench._sendworker rawlive|floor|sdk FILE --port PORT --ca CA.pem [--wait]``
(``send.watchdog``'s sides, ``rawlive-emulator`` and ``rawlive-emulator-watchdog``,
stream to the emulator over ws:// instead, ``--ca`` unused)
connects to :mod:`bench._server` (``--mode sink``: ``setupComplete``, then
nothing until ``audioStreamEnd``, answered by one ``turnComplete``), streams
``FILE`` (16 kHz mono s16le WAV) in 40 ms chunks paced in real time, sends
``audioStreamEnd``, reads until ``turnComplete`` and closes. Sides:

* ``rawlive``: ``rawlive.connect`` and :func:`rawlive.tools.send.stream_file`, the
  library call ``rawlive send`` makes (the file is read, cut and encoded as
  it streams, paced by :class:`rawlive.media.audio.Pacer`, every event built);
* ``floor``: the transport floor, a bare ``websockets.connect`` loop sending
  the same chunks as pre-encoded ``realtimeInput`` text frames (JSON bytes
  built before the measured window, byte for byte what rawlive's encoder
  writes);
* ``sdk``: google-genai's ``client.aio.live.connect`` and
  ``session.send_realtime_input(audio=types.Blob(...))`` of the same chunks
  (read before the window), its ``receive()`` until ``turnComplete``.

Every side receives in a task of its own while it sends, as an application
does (``stream_file`` does it for rawlive).

``floor`` and ``sdk`` read the WAV with the standard library's :mod:`wave`
and pace with :func:`wait_until`, the same drift-free schedule and the same
algorithm as :class:`rawlive.media.audio.Pacer` (sleep until 1.5 ms before chunk
``n``'s due time ``start + n × 40 ms``, then yield to the loop until it has
passed), so neither process imports rawlive and their whole-process CPU
time is theirs alone. Only the side's own library is imported.

With ``--wait``, once the session is open the process prints ``ready`` and
waits for a line on stdin before it streams, so that the parent can start
every side at the same moment (and the same machine noise hits all of
them). The measured window is from then (the session open: ``connect``
returned, ``setupComplete`` received) to the ``turnComplete`` after the
audio; CPU is ``time.process_time()`` (every thread of the process) across
it, after a ``gc.collect()``. The CPU spent inside the pacing waits is
summed too (``time.process_time()`` around each: :func:`wait_until` here,
:meth:`rawlive.media.audio.Pacer.wait` wrapped for ``rawlive``), so the CPU outside
them, the sending itself, is reported as ``outside_pacer_cpu_s``. The parent
measures the whole process too (``os.wait4``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import ssl
import sys
import time
import wave
from typing import Any

__all__ = ["SPIN", "main", "read_chunks", "wait_until"]

MODEL = "gemini-2.5-flash-native-audio-preview-09-2025"
IN_MIME = "audio/pcm;rate=16000"
#: rawlive.media.audio.DEFAULT_SPIN: the pacer yields to the loop for the last 1.5 ms.
SPIN = 0.0015
CHUNK_MS = 40


def read_chunks(path: str, chunk_ms: int = CHUNK_MS) -> list[bytes]:
    """The WAV's 16 kHz mono s16le audio in ``chunk_ms`` chunks (the last may be short)."""
    with wave.open(path, "rb") as f:
        if (f.getframerate(), f.getnchannels(), f.getsampwidth()) != (16_000, 1, 2):
            raise ValueError(f"{path}: expected 16 kHz mono 16-bit PCM")
        pcm = f.readframes(f.getnframes())
    size = chunk_ms * 32
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


#: CPU seconds spent inside pacing waits so far.
_PACING = [0.0]
#: Whether to wait for the parent's go (``--wait``).
_WAIT = [False]


def _ready() -> None:
    """With ``--wait``: say so and block until the parent's line; then collect garbage."""
    if _WAIT[0]:
        print("ready", flush=True)
        sys.stdin.readline()  # blocks the loop a moment; nothing is in flight yet
    gc.collect()
    _PACING[0] = 0.0


async def wait_until(due: float) -> None:
    """Wait until ``time.monotonic()`` reaches ``due``, as ``Pacer.wait`` in rawlive.media.audio."""
    cpu0 = time.process_time()
    await _wait_until(due)
    _PACING[0] += time.process_time() - cpu0


async def _wait_until(due: float) -> None:
    now = time.monotonic()
    if now >= due:
        await asyncio.sleep(0)
        return
    if due - SPIN > now:
        await asyncio.sleep(due - SPIN - now)
    while time.monotonic() < due:
        await asyncio.sleep(0)


def _window(cpu0: float, wall0: float, audio_s: float, chunks: int) -> dict[str, Any]:
    cpu, wall = time.process_time() - cpu0, time.monotonic() - wall0
    return {
        "cpu_s": cpu,
        "pacing_cpu_s": _PACING[0],
        "outside_pacer_cpu_s": cpu - _PACING[0],
        "wall_s": wall,
        "audio_s": audio_s,
        "chunks": chunks,
        "cpu_per_audio_s": cpu / audio_s,
    }


async def _rawlive(path: str, port: int, ca: str) -> dict[str, Any]:
    import rawlive
    from rawlive.media.audio import Pacer
    from rawlive.tools.send import build_config, stream_file

    pacer_wait = Pacer.wait

    async def timed_wait(self: Pacer, audio_seconds: float) -> float:
        cpu0 = time.process_time()
        lateness = await pacer_wait(self, audio_seconds)
        _PACING[0] += time.process_time() - cpu0
        return lateness

    Pacer.wait = timed_wait  # type: ignore[method-assign]

    async with rawlive.connect(
        MODEL, build_config(), endpoint=f"wss://127.0.0.1:{port}", ca_file=ca, api_key="BENCH"
    ) as session:
        _ready()
        cpu0, wall0 = time.process_time(), time.monotonic()
        summary = await stream_file(session, path, chunk_ms=CHUNK_MS, speed=1.0, timeout=30)
        result = _window(cpu0, wall0, summary.audio_sent_seconds, 0)
    result["chunks"] = round(summary.audio_sent_seconds * 1000 / CHUNK_MS)
    result["turns"] = summary.turns
    result["pacing_p99_late_ms"] = summary.pacing_p99_late_ms
    return result


async def _rawlive_on_emulator(path: str, port: int, watchdog: bool) -> dict[str, Any]:
    """``send.watchdog``'s sides: ``stream_file`` to the emulator (ws://), the stall
    watchdog on or off; the same window as :func:`_rawlive`."""
    import rawlive
    from rawlive.tools.send import build_config, stream_file

    policy = rawlive.StallPolicy() if watchdog else None
    async with rawlive.connect(
        MODEL, build_config(), endpoint=f"ws://127.0.0.1:{port}", watchdog=policy
    ) as session:
        _ready()
        cpu0, wall0 = time.process_time(), time.monotonic()
        summary = await stream_file(session, path, chunk_ms=CHUNK_MS, speed=1.0, timeout=30)
        result = _window(cpu0, wall0, summary.audio_sent_seconds, 0)
    result["chunks"] = round(summary.audio_sent_seconds * 1000 / CHUNK_MS)
    result["turns"] = summary.turns
    result["stalls"] = len(summary.stalls)
    result["resumes"] = summary.resumes
    return result


async def _plain(path: str, port: int, ca: str) -> dict[str, Any]:
    return await _rawlive_on_emulator(path, port, watchdog=False)


async def _watched(path: str, port: int, ca: str) -> dict[str, Any]:
    return await _rawlive_on_emulator(path, port, watchdog=True)


def _frame(chunk: bytes) -> bytes:
    """``realtimeInput.audio`` exactly as rawlive's encoder writes it."""
    return (
        b'{"realtimeInput":{"audio":{"data":"'
        + base64.b64encode(chunk)
        + b'","mimeType":"'
        + IN_MIME.encode()
        + b'"}}}'
    )


async def _floor(path: str, port: int, ca: str) -> dict[str, Any]:
    import websockets

    chunks = read_chunks(path)
    frames = [_frame(chunk) for chunk in chunks]
    audio_s = sum(len(c) for c in chunks) / 32_000
    setup = json.dumps(
        {
            "setup": {
                "model": f"models/{MODEL}",
                "generationConfig": {"responseModalities": ["AUDIO"]},
            }
        }
    ).encode()
    stream_end = b'{"realtimeInput":{"audioStreamEnd":true}}'
    url = (
        f"wss://127.0.0.1:{port}/ws/google.ai.generativelanguage.v1beta.GenerativeService."
        "BidiGenerateContent?key=BENCH"
    )
    context = ssl.create_default_context(cafile=ca)
    async with websockets.connect(url, ssl=context, compression=None, max_size=None) as ws:
        await ws.send(setup, text=True)
        await ws.recv(decode=False)  # setupComplete
        _ready()
        cpu0, wall0 = time.process_time(), time.monotonic()

        async def receive() -> int:
            while True:
                if b'"turnComplete":true' in await ws.recv(decode=False):
                    return 1

        receiver = asyncio.create_task(receive())
        start = time.monotonic()
        for n, frame in enumerate(frames):
            await wait_until(start + n * CHUNK_MS / 1000)
            await ws.send(frame, text=True)
        await ws.send(stream_end, text=True)
        turns = await receiver
        return {**_window(cpu0, wall0, audio_s, len(frames)), "turns": turns}


async def _sdk(path: str, port: int, ca: str) -> dict[str, Any]:
    # google-genai reads its CA from SSL_CERT_FILE (the parent sets it to ``ca``).
    from google import genai
    from google.genai import types as gt

    chunks = read_chunks(path)
    audio_s = sum(len(c) for c in chunks) / 32_000
    client = genai.Client(api_key="BENCH", http_options={"base_url": f"https://127.0.0.1:{port}"})
    config: Any = {"response_modalities": ["AUDIO"]}
    async with client.aio.live.connect(model=MODEL, config=config) as session:
        _ready()
        cpu0, wall0 = time.process_time(), time.monotonic()

        async def receive() -> int:
            turns = 0
            async for message in session.receive():  # ends by itself after turnComplete
                content = message.server_content
                if content is not None and content.turn_complete:
                    turns += 1
            return turns

        receiver = asyncio.create_task(receive())
        start = time.monotonic()
        for n, chunk in enumerate(chunks):
            await wait_until(start + n * CHUNK_MS / 1000)
            await session.send_realtime_input(audio=gt.Blob(data=chunk, mime_type=IN_MIME))
        await session.send_realtime_input(audio_stream_end=True)
        turns = await receiver
        return {**_window(cpu0, wall0, audio_s, len(chunks)), "turns": turns}


SIDES = {
    "rawlive": _rawlive,
    "floor": _floor,
    "sdk": _sdk,
    "rawlive-emulator": _plain,
    "rawlive-emulator-watchdog": _watched,
}


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._sendworker")
    parser.add_argument("side", choices=sorted(SIDES))
    parser.add_argument("file", help="16 kHz mono 16-bit WAV")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ca", required=True, help="the CA that signed the server's certificate")
    parser.add_argument("--wait", action="store_true", help="print ready, wait for a line")
    args = parser.parse_args()
    _WAIT[0] = args.wait
    result = asyncio.run(SIDES[args.side](args.file, args.port, args.ca))
    print(json.dumps({"side": args.side, **result}), flush=True)
    sys.exit(0)


if __name__ == "__main__":
    main()
