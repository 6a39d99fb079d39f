"""The subprocess side of the ``audio.*`` benchmarks: one measurement, one JSON line out.

``python -m bench._audioworker stream FILE [--chunk-ms 40]``
    Stream ``FILE`` the way ``rawlive send --fast`` does, without a socket:
    :func:`rawlive.media.audio.iter_pcm` (decode, downmix, soxr resample to 16 kHz),
    :func:`rawlive.media.audio.chunks` (40 ms), and ``codec.encode_client_message``
    of each chunk as a ``realtimeInput`` audio message, unpaced. Prints the
    chunk and byte counts and this process's own peak RSS (``ru_maxrss``).

``python -m bench._audioworker pace FILE --mode rawlive|sleep-only|naive [--speed 1]``
    Stream ``FILE`` paced, in an asyncio loop that also does the per-chunk work
    of the CLI (encode each chunk) while a receiver task decodes a 200 ms
    24 kHz audio reply every 200 ms and appends it to a
    :class:`rawlive.media.audio.WavWriter` (in ``--out-dir``). Modes:

    * ``rawlive``: :class:`rawlive.media.audio.Pacer` (sleep, then yield the last
      ``DEFAULT_SPIN`` before each deadline);
    * ``sleep-only``: the same absolute schedule with ``Pacer(spin=0)``, plain
      ``asyncio.sleep`` only;
    * ``naive``: ``await asyncio.sleep(chunk_seconds)`` after each chunk, the
      common example-code pattern, whose errors add up.

    Lateness is measured against the same ideal schedule in every mode (chunk
    ``i`` due at ``start + i * chunk_seconds / speed``, ``time.monotonic``);
    prints p50/p99/max lateness, the lateness of the last chunk (the drift at
    the end) and the CPU time the process used per second of wall time.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import math
import os
import random
import resource
import sys
import time
from typing import Any

from rawlive.media import audio
from rawlive.wire import codec
from rawlive.wire import types as t

IN_MIME = "audio/pcm;rate=16000"
OUT_MIME = "audio/pcm;rate=24000"


def _encode(chunk: bytes) -> bytes:
    return codec.encode_client_message(
        t.LiveClientRealtimeInput(audio=t.Blob(data=chunk, mime_type=IN_MIME))
    )


def stream(path: str, chunk_ms: float) -> dict[str, Any]:
    count = size = wire = 0
    start = time.perf_counter()
    for chunk in audio.chunks(audio.iter_pcm(path), chunk_ms=chunk_ms):
        wire += len(_encode(chunk))
        count += 1
        size += len(chunk)
    return {
        "chunks": count,
        "pcm_bytes": size,
        "wire_bytes": wire,
        "wall_s": time.perf_counter() - start,
        "self_maxrss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
    }


def _reply_frame() -> bytes:
    pcm = random.Random(24_000).randbytes(9600)  # 200 ms of 24 kHz s16le
    return (
        b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"'
        + OUT_MIME.encode()
        + b'","data":"'
        + base64.b64encode(pcm)
        + b'"}}]}}}'
    )


async def _receiver(out_path: str, stop: asyncio.Event) -> int:
    """Every 200 ms: decode a 200 ms audio reply and append it to a WAV."""
    frame = _reply_frame()
    replies = 0
    with audio.WavWriter(out_path) as writer:
        while not stop.is_set():
            message = codec.decode_server_message(frame)
            parts = message.server_content.model_turn.parts  # type: ignore[union-attr]
            writer.write(parts[0].inline_data.data)  # type: ignore[index,union-attr,arg-type]
            replies += 1
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 0.2)
    return replies


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(len(ordered) * q / 100) - 1))]


async def pace(path: str, mode: str, speed: float, chunk_ms: float, out_dir: str) -> dict[str, Any]:
    stop = asyncio.Event()
    receiver = asyncio.create_task(_receiver(os.path.join(out_dir, f"reply-{mode}.wav"), stop))
    pacer = audio.Pacer(speed, spin=0.0 if mode == "sleep-only" else audio.DEFAULT_SPIN)
    lateness: list[float] = []  # ideal-schedule lateness per chunk, same formula for all modes
    chunk_s = chunk_ms / 1000
    await asyncio.sleep(0.05)  # let the receiver start
    cpu0, start = time.process_time(), time.monotonic()
    pacer.start(start)
    sent = 0.0
    for chunk in audio.chunks(audio.iter_pcm(path), chunk_ms=chunk_ms):
        if mode == "naive":
            lateness.append(time.monotonic() - (start + sent / speed))
        else:
            await pacer.wait(sent)
            lateness.append(time.monotonic() - (start + sent / speed))
        _encode(chunk)
        sent += len(chunk) / 32_000
        if mode == "naive":
            await asyncio.sleep(chunk_s / speed)
    wall = time.monotonic() - start
    cpu = time.process_time() - cpu0
    stop.set()
    replies = await receiver
    return {
        "mode": mode,
        "chunks": len(lateness),
        "audio_s": sent,
        "wall_s": wall,
        "cpu_s": cpu,
        "cpu_per_wall": cpu / wall,
        "p50_s": _percentile(lateness, 50),
        "p99_s": _percentile(lateness, 99),
        "max_s": max(lateness),
        "drift_s": lateness[-1],
        "replies": replies,
        "pacer_p99_s": pacer.stats().p99 if mode != "naive" else None,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench._audioworker")
    sub = parser.add_subparsers(dest="what", required=True)
    s = sub.add_parser("stream")
    s.add_argument("file")
    s.add_argument("--chunk-ms", type=float, default=40.0)
    p = sub.add_parser("pace")
    p.add_argument("file")
    p.add_argument("--mode", choices=("rawlive", "sleep-only", "naive"), required=True)
    p.add_argument("--speed", type=float, default=1.0)
    p.add_argument("--chunk-ms", type=float, default=40.0)
    p.add_argument("--out-dir", default=".")
    args = parser.parse_args(argv)
    if args.what == "stream":
        result = stream(args.file, args.chunk_ms)
    else:
        result = asyncio.run(pace(args.file, args.mode, args.speed, args.chunk_ms, args.out_dir))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
