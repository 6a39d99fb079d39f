"""Replay benchmark: serving a long cassette at ``--speed 0`` against just reading it.

Case (``python -m bench replay``):

* ``replay.speed0`` - a 10-minute session (1 minute with ``--quick``) is
  synthesised as a cassette: a user speaking 5 s in 40 ms chunks of 16 kHz
  audio, then the model answering 5 s in 40 ms chunks of 24 kHz audio, a
  ``turnComplete`` and a resumption handle, turn after turn. The baseline
  reads the file and decodes every frame with the codec
  (:func:`rawlive.cassette.read_cassette`, then ``decode_client_message`` or
  ``decode_server_message`` of each payload). rawlive loads the same file
  into a :class:`rawlive.servers.replay.ReplayServer` (``speed=0``, ``semantic``),
  serves it to a client (its own process) on 127.0.0.1 that sends the recorded client frames
  (pre-built) as fast as the server takes them and reads every server
  frame, and stops. Target: ratio ≤ 2.
"""

from __future__ import annotations

import asyncio
import base64
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec

from bench._core import Context, Row, Target, register
from rawlive.cassette import (
    CassetteHeader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    frame_kind,
    read_cassette,
)
from rawlive.servers.replay import ReplayServer
from rawlive.wire import codec

ROOT = Path(__file__).resolve().parent.parent
MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
IN_CHUNK = 1280  # 40 ms of 16 kHz s16le
OUT_CHUNK = 1920  # 40 ms of 24 kHz s16le
IN_MIME = "audio/pcm;rate=16000"
TURN_CHUNKS = 125  # 5 s of 40 ms chunks each way


def _frame(t: float, sender: str, text: str) -> bytes:
    event = FrameEvent(
        t=t,
        connection=1,
        sender=sender,  # type: ignore[arg-type]
        opcode="text",
        kind=frame_kind(text),
        text=text,
    )
    return msgspec.json.encode(event)


def _json(value: object) -> str:
    return msgspec.json.encode(value).decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def synthesise(path: Path, minutes: float) -> tuple[int, int]:
    """Write a session of ``minutes``; the numbers of client and server frames."""
    pcm_in = bytes(range(256)) * (IN_CHUNK // 256)
    pcm_out = (bytes(range(256)) * (OUT_CHUNK // 256 + 1))[:OUT_CHUNK]
    user = _json({"realtimeInput": {"audio": {"data": _b64(pcm_in), "mimeType": IN_MIME}}})
    blob = {"mimeType": "audio/pcm;rate=24000", "data": _b64(pcm_out)}
    model = _json({"serverContent": {"modelTurn": {"parts": [{"inlineData": blob}]}}})
    done = _json(
        {"serverContent": {"turnComplete": True}, "usageMetadata": {"totalTokenCount": 250}}
    )
    header = CassetteHeader(
        created="2025-06-01T12:00:00.000000Z", model=MODEL, meta={"synthesised": "bench"}
    )
    lines = [
        msgspec.json.encode(header),
        msgspec.json.encode(ConnectEvent(t=0.0, connection=1, url="ws://127.0.0.1/ws")),
        _frame(0.001, "client", _json({"setup": {"model": MODEL}})),
        _frame(0.002, "server", '{"setupComplete":{}}'),
    ]
    clients, servers = 1, 1
    now, turn = 0.01, 0
    while now < minutes * 60:
        turn += 1
        for _ in range(TURN_CHUNKS):
            lines.append(_frame(now, "client", user))
            now += 0.04
            clients += 1
        for _ in range(TURN_CHUNKS):
            lines.append(_frame(now, "server", model))
            now += 0.04
            servers += 1
        lines.append(_frame(now, "server", done))
        update = {"sessionResumptionUpdate": {"newHandle": f"h-{turn}", "resumable": True}}
        lines.append(_frame(now, "server", _json(update)))
        servers += 2
    lines.append(msgspec.json.encode(CloseEvent(t=now, connection=1, code=1000, by="client")))
    lines.append(msgspec.json.encode(EndEvent(t=now)))
    path.write_bytes(b"\n".join(lines) + b"\n")
    return clients, servers


def read_and_decode(path: Path) -> int:
    """The baseline: read the cassette and decode every frame."""
    count = 0
    for frame in read_cassette(path).frames():
        if frame.sender == "client":
            codec.decode_client_message(frame.wire_payload())
        else:
            codec.decode_server_message(frame.wire_payload())
        count += 1
    return count


async def replay(path: Path, frames_file: Path, server_frames: int) -> float:
    """Seconds to load the cassette and serve it at speed 0 to a client in another process.

    The client process is started and has its pre-built frames loaded before
    the clock starts; the clock stops when it has read every server frame.
    """
    client = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bench._replayclient",
        str(frames_file),
        str(server_frames),
        cwd=ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert client.stdin is not None and client.stdout is not None
    if (await client.stdout.readline()).strip() != b"ready":
        raise RuntimeError("the replay client did not start")
    started = time.perf_counter()
    async with ReplayServer(path, speed=0, capture_frames=False) as server:
        client.stdin.write(f"{server.url}/ws\n".encode())
        await client.stdin.drain()
        if (await client.stdout.readline()).strip() != b"done":
            raise RuntimeError("the replay client failed")
        elapsed = time.perf_counter() - started
    await client.wait()
    if server.mismatches:
        raise AssertionError(str(server.mismatches[0]))
    if server.remaining():
        raise AssertionError(f"{len(server.remaining())} frames left unused")
    return elapsed


@register("replay.speed0", "replay a long session at speed 0 vs reading and decoding it")
def replay_speed0(ctx: Context) -> Iterator[Row]:
    minutes = 1.0 if ctx.quick else 10.0
    repeats = 2 if ctx.quick else 3
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "session.jsonl"
        clients, servers = synthesise(path, minutes)
        frames_file = Path(folder) / "client-frames.msgpack"
        frames_file.write_bytes(
            msgspec.msgpack.encode([f.payload for f in read_cassette(path).frames(sender="client")])
        )
        read_times, replay_times = [], []
        for _ in range(repeats):  # interleaved; the minimum of each side is reported
            started = time.perf_counter()
            count = read_and_decode(path)
            read_times.append(time.perf_counter() - started)
            if count != clients + servers:
                raise AssertionError(f"read {count} frames, wrote {clients + servers}")
            replay_times.append(asyncio.run(replay(path, frames_file, servers)))
        size = path.stat().st_size
    yield Row(
        "replay.speed0",
        f"replay a {minutes:g}-min session ({clients + servers} frames, {size / 1e6:.1f} MB) "
        "at speed 0 to a client process on 127.0.0.1 · baseline: read_cassette + codec decode of "
        "every frame",
        min(replay_times),
        min(read_times),
        target=Target.ratio_at_most(2),
        details={
            "replay_s": replay_times,
            "read_decode_s": read_times,
            "client_frames": clients,
            "server_frames": servers,
            "bytes": size,
        },
    )
