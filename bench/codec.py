"""Codec benchmarks: what one audio frame costs to encode and decode, and import time.

Cases (``python -m bench codec`` runs them all):

* ``codec.encode-base64`` - ``codec.encode_client_message`` of a
  ``realtimeInput`` audio message (20 ms, 100 ms and 1 s of 16 kHz s16le PCM)
  against ``base64.b64encode`` of the chunk alone, with and without building
  the Structs. The JSON around the base64 should cost little: ratio ≤ 1.5.
* ``codec.encode-sdk`` - the same send through google-genai's
  ``AsyncSession.send_realtime_input`` (pydantic validation, converters,
  ``json.dumps``) on a fake websocket, against a rawlive session method of the
  same shape: ≥ 15× faster.
* ``codec.decode-base64`` - ``codec.decode_server_message`` of a 200 ms
  24 kHz audio ``serverContent`` frame against ``base64.b64decode`` of its
  payload alone: ratio ≤ 1.5.
* ``codec.decode-sdk`` - the same frame through google-genai's
  ``AsyncSession._receive`` (``json.loads``, converters, pydantic
  ``LiveServerMessage._from_response``) on a fake websocket: ≥ 8× faster.
* ``codec.import`` - ``python -c "import rawlive"`` minus ``python -c "pass"``
  (≤ 150 ms), the same with the codec and with the session loaded, and that
  the audio stack (numpy, soundfile, soxr) and google-genai stay out of
  ``sys.modules``.

Both sides of every comparison receive identical input, and the SDK cases
first check that both produce the same message, so the work compared is the
same.
"""

from __future__ import annotations

import asyncio
import base64
import random
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

from bench._core import Context, Row, Target, register
from bench._timing import async_timer, compare, compare_processes, sync_timer
from rawlive.wire import codec
from rawlive.wire import types as t

ROOT = Path(__file__).resolve().parent.parent

IN_MIME = "audio/pcm;rate=16000"
OUT_MIME = "audio/pcm;rate=24000"

#: (label, bytes) of 16 kHz mono s16le input audio: 32 bytes per millisecond.
CHUNKS = (("20 ms", 640), ("100 ms", 3200), ("1 s", 32000))

#: 200 ms of 24 kHz mono s16le output audio.
OUT_PCM_BYTES = 9600

#: Modules ``import rawlive`` must not load.
HEAVY_MODULES = ("numpy", "soundfile", "soxr", "google.genai")


def _random_bytes(n: int, seed: int) -> bytes:
    return random.Random(seed).randbytes(n)


def _audio_frame() -> tuple[bytes, bytes, bytes]:
    """(frame, its base64 payload as ASCII bytes, the PCM) of a 200 ms audio message."""
    pcm = _random_bytes(OUT_PCM_BYTES, seed=24000)
    payload = base64.b64encode(pcm)
    frame = (
        b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"'
        + OUT_MIME.encode()
        + b'","data":"'
        + payload
        + b'"}}]}}}'
    )
    return frame, payload, pcm


class FakeWebSocket:
    """Stands in for a ``websockets`` connection without a socket.

    ``send`` keeps the last payload; ``recv`` returns the same frame every time.
    """

    def __init__(self, incoming: bytes = b"") -> None:
        self.incoming = incoming
        self.last: str | bytes | None = None

    async def send(self, message: str | bytes) -> None:
        self.last = message

    async def recv(self, decode: bool | None = None) -> str | bytes:
        return self.incoming


class RawliveSession:
    """rawlive's counterpart of the SDK session plumbing being measured.

    Same shape as ``AsyncSession``: a method coroutine that converts and awaits
    the socket once, so the async overhead on both sides is equal.
    """

    def __init__(self, ws: FakeWebSocket) -> None:
        self._ws = ws

    async def send_realtime_input(self, *, audio: t.Blob) -> None:
        await self._ws.send(codec.encode_client_message(t.LiveClientRealtimeInput(audio=audio)))

    async def receive(self) -> t.LiveServerMessage:
        frame = await self._ws.recv(decode=False)
        return codec.decode_server_message(frame)


def _sdk_session(ws: FakeWebSocket) -> Any:
    """A real ``google.genai.live.AsyncSession`` (Gemini API flavour) on ``ws``.

    Building the client touches no network; ``vertexai`` is off, so the SDK
    uses its ``_to_mldev``/``_from_mldev`` converters as against the real server.
    """
    from google import genai
    from google.genai import live

    api_client = genai.Client(api_key="TEST").aio._api_client
    return live.AsyncSession(api_client=api_client, websocket=ws)  # type: ignore[arg-type]


# ---------------------------------------------------------------------------
# Encoding
# ---------------------------------------------------------------------------


@register("codec.encode-base64", "encode realtimeInput audio vs base64.b64encode of the chunk")
def encode_vs_base64(ctx: Context) -> Iterator[Row]:
    for label, size in CHUNKS:
        chunk = _random_bytes(size, seed=size)
        ns: dict[str, Any] = {
            "encode": codec.encode_client_message,
            "RealtimeInput": t.LiveClientRealtimeInput,
            "Blob": t.Blob,
            "chunk": chunk,
            "mime": IN_MIME,
            "message": t.LiveClientRealtimeInput(audio=t.Blob(data=chunk, mime_type=IN_MIME)),
            "b64encode": base64.b64encode,
        }
        baseline = sync_timer("b64encode(chunk)", ns)
        variants = (
            (
                "Structs built per call",
                "encode(RealtimeInput(audio=Blob(data=chunk, mime_type=mime)))",
            ),
            ("prebuilt message", "encode(message)"),
        )
        for how, stmt in variants:
            cmp = compare(sync_timer(stmt, ns), baseline, ctx)
            yield Row(
                "codec.encode-base64",
                f"encode realtimeInput, {label} audio ({size} B), {how} "
                "· baseline: base64.b64encode(chunk)",
                cmp.rawlive,
                cmp.baseline,
                target=Target.ratio_at_most(1.5),
                details=cmp.details(),
            )


def _send_steps(
    sdk: Any, rawlive: RawliveSession, chunk: bytes
) -> tuple[Callable[[], Awaitable[None]], Callable[[], Awaitable[None]]]:
    from google.genai import types as gt

    async def sdk_step() -> None:
        await sdk.send_realtime_input(audio=gt.Blob(data=chunk, mime_type=IN_MIME))

    async def rawlive_step() -> None:
        await rawlive.send_realtime_input(audio=t.Blob(data=chunk, mime_type=IN_MIME))

    return rawlive_step, sdk_step


@register("codec.encode-sdk", "send_realtime_input(audio=Blob) vs google-genai on a fake socket")
def encode_vs_sdk(ctx: Context) -> Iterator[Row]:
    sdk_ws, rawlive_ws = FakeWebSocket(), FakeWebSocket()
    sdk, rawlive = _sdk_session(sdk_ws), RawliveSession(rawlive_ws)
    loop = asyncio.new_event_loop()
    try:
        for label, size in CHUNKS:
            chunk = _random_bytes(size, seed=size)
            rawlive_step, sdk_step = _send_steps(sdk, rawlive, chunk)
            # Same message on the wire (the SDK's is snake_case with URL-safe
            # base64, which the real server and rawlive's decoder accept).
            loop.run_until_complete(rawlive_step())
            loop.run_until_complete(sdk_step())
            assert sdk_ws.last is not None and rawlive_ws.last is not None
            sent_by_sdk = codec.decode_client_message(sdk_ws.last)
            if sent_by_sdk != codec.decode_client_message(rawlive_ws.last):
                raise AssertionError(f"SDK and rawlive sent different messages for {label}")
            cmp = compare(async_timer(loop, rawlive_step), async_timer(loop, sdk_step), ctx)
            yield Row(
                "codec.encode-sdk",
                f"await session.send_realtime_input(audio=Blob(...)), {label} ({size} B) "
                "· baseline: google-genai AsyncSession, fake socket",
                cmp.rawlive,
                cmp.baseline,
                target=Target.faster_by(15),
                details=cmp.details(),
            )
    finally:
        loop.close()


# ---------------------------------------------------------------------------
# Decoding
# ---------------------------------------------------------------------------


@register("codec.decode-base64", "decode a 200 ms audio serverContent vs base64.b64decode")
def decode_vs_base64(ctx: Context) -> Iterator[Row]:
    frame, payload, pcm = _audio_frame()
    decoded = codec.decode_server_message(frame)
    parts = decoded.server_content.model_turn.parts  # type: ignore[union-attr]
    if parts[0].inline_data.data != pcm:  # type: ignore[index,union-attr]
        raise AssertionError("rawlive decoded the audio frame wrongly")
    ns: dict[str, Any] = {
        "decode": codec.decode_server_message,
        "frame": frame,
        "b64decode": base64.b64decode,
        "payload": payload,
    }
    cmp = compare(sync_timer("decode(frame)", ns), sync_timer("b64decode(payload)", ns), ctx)
    yield Row(
        "codec.decode-base64",
        f"decode serverContent, 200 ms 24 kHz audio ({OUT_PCM_BYTES} B PCM, {len(frame)} B "
        "frame) · baseline: base64.b64decode(payload)",
        cmp.rawlive,
        cmp.baseline,
        target=Target.ratio_at_most(1.5),
        details=cmp.details(),
    )


@register("codec.decode-sdk", "receive a 200 ms audio serverContent vs google-genai _receive")
def decode_vs_sdk(ctx: Context) -> Iterator[Row]:
    frame, _, pcm = _audio_frame()
    sdk_ws, rawlive_ws = FakeWebSocket(frame), FakeWebSocket(frame)
    sdk, rawlive = _sdk_session(sdk_ws), RawliveSession(rawlive_ws)

    async def sdk_step() -> None:
        await sdk._receive()

    async def rawlive_step() -> None:
        await rawlive.receive()

    loop = asyncio.new_event_loop()
    try:
        for receive in (sdk._receive, rawlive.receive):
            msg = loop.run_until_complete(receive())
            if msg.server_content.model_turn.parts[0].inline_data.data != pcm:
                raise AssertionError(f"{receive.__qualname__} decoded the audio frame wrongly")
        cmp = compare(async_timer(loop, rawlive_step), async_timer(loop, sdk_step), ctx)
    finally:
        loop.close()
    yield Row(
        "codec.decode-sdk",
        f"await session receive, 200 ms 24 kHz audio ({len(frame)} B frame) "
        "· baseline: google-genai AsyncSession._receive, fake socket",
        cmp.rawlive,
        cmp.baseline,
        target=Target.faster_by(8),
        details=cmp.details(),
    )


# ---------------------------------------------------------------------------
# Import
# ---------------------------------------------------------------------------


@register("codec.import", "python -c 'import rawlive' minus python -c 'pass'; heavy modules")
def import_time(ctx: Context) -> Iterator[Row]:
    cmp = compare_processes("import rawlive", "pass", ROOT, ctx)
    yield Row(
        "codec.import",
        'start-up added by python -c "import rawlive" (median of paired differences) '
        '· baseline: python -c "pass" itself',
        cmp.delta_median,
        cmp.baseline_median,
        target=Target.rawlive_at_most(0.150, "rawlive ≤ 150 ms"),
        details=cmp.details(),
    )

    # Lazy names make the bare import cheap; what any real use loads is the
    # codec and the types (and, for a session, websockets), so show those too.
    for statement, what in (
        ("import rawlive.wire.codec", "the codec and every wire type"),
        ("import rawlive; rawlive.connect", "the client session (websockets, asyncio)"),
    ):
        cmp = compare_processes(statement, "pass", ROOT, ctx)
        yield Row(
            "codec.import",
            f'start-up added by python -c "{statement}": {what} · baseline: python -c "pass"',
            cmp.delta_median,
            cmp.baseline_median,
            target=Target.rawlive_at_most(0.150, "rawlive ≤ 150 ms"),
            details=cmp.details(),
        )

    probe = (
        "import sys, rawlive; "
        f"print(' '.join(m for m in {HEAVY_MODULES!r} if m in sys.modules) or 'none')"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, check=True, capture_output=True, text=True
    )
    loaded = out.stdout.strip()
    yield Row(
        "codec.import",
        f"which of {', '.join(HEAVY_MODULES)} are in sys.modules after import rawlive",
        loaded,
        "—",
        unit="",
        target=Target("none", lambda row: row.rawlive == "none"),
        details={"checked": list(HEAVY_MODULES), "loaded": loaded.split()},
    )
