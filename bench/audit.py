"""Audit benchmark: how fast ``rawlive audit`` reads a recorded session.

Case (``python -m bench audit``):

* ``audit.throughput`` - a cassette of a voice session (2 minutes with
  ``--quick`` 5 s: the client streams 16 kHz audio in 40 ms chunks, as
  ``rawlive send`` does, the model answers each 2 s of it with 1 s of 24 kHz
  audio in 40 ms chunks, transcriptions, ``turnComplete`` and usage), audited
  in full (:func:`rawlive.tools.audit.audit_cassette`: every frame decoded, every
  rule, the metrics) against the bare baseline of reading the same file and
  ``msgspec.json.decode``-ing each of its lines. Target: at most 3 times the
  baseline. The same session recorded with audio elided (``--record`` with
  ``elide_audio``) is reported beside it, with no target: its lines are
  short, so the fixed cost per frame weighs more.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import msgspec
import numpy as np

from bench._core import Context, Row, Target, register
from bench._timing import compare
from rawlive.cassette import CassetteWriter
from rawlive.tools.audit import audit_cassette
from rawlive.wire import codec
from rawlive.wire import types as t

MODEL = "models/gemini-2.5-flash-native-audio-preview-12-2025"
LIMIT = 3.0


def _voice_session(path: Path, seconds: float, *, elide: bool) -> int:
    """Write a voice session's cassette; the number of frames in it."""
    rng = np.random.default_rng(7)
    frames = 0

    def noise(samples: int) -> bytes:
        return rng.integers(-4000, 4000, samples, dtype=np.int16).tobytes()

    def server(msg: t.LiveServerMessage) -> bytes:
        return msgspec.json.encode(msg)

    with CassetteWriter(path, elide_audio=elide) as writer:
        writer.write_header(url="ws://127.0.0.1/ws", model=MODEL, api_version="v1beta")
        writer.write_connect(1, "ws://127.0.0.1/ws")
        setup = t.LiveClientMessage(
            setup=t.LiveClientSetup(
                model=MODEL,
                input_audio_transcription=t.AudioTranscriptionConfig(),
                output_audio_transcription=t.AudioTranscriptionConfig(),
            )
        )
        writer.write_frame(1, "client", "text", codec.encode_client_message(setup))
        writer.write_frame(1, "server", "binary", b'{"setupComplete":{}}')
        frames += 2
        for chunk in range(int(seconds / 0.04)):
            up = t.LiveClientMessage(
                realtime_input=t.LiveClientRealtimeInput(
                    audio=t.Blob(data=noise(640), mime_type="audio/pcm;rate=16000")
                )
            )
            writer.write_frame(1, "client", "text", codec.encode_client_message(up))
            frames += 1
            if chunk % 50 != 49:
                continue
            heard = t.LiveServerContent(input_transcription=t.Transcription(text="what's up"))
            writer.write_frame(
                1, "server", "binary", server(t.LiveServerMessage(server_content=heard))
            )
            frames += 1
            for _ in range(25):
                blob = t.Blob(data=noise(960), mime_type="audio/pcm;rate=24000")
                content = t.LiveServerContent(
                    model_turn=t.Content(parts=[t.Part(inline_data=blob)])
                )
                writer.write_frame(
                    1, "server", "binary", server(t.LiveServerMessage(server_content=content))
                )
                frames += 1
            said = t.LiveServerContent(output_transcription=t.Transcription(text="all good"))
            done = t.LiveServerContent(generation_complete=True, turn_complete=True)
            usage = t.UsageMetadata(total_token_count=120, prompt_token_count=80)
            writer.write_frame(
                1, "server", "binary", server(t.LiveServerMessage(server_content=said))
            )
            writer.write_frame(
                1,
                "server",
                "binary",
                server(t.LiveServerMessage(server_content=done, usage_metadata=usage)),
            )
            frames += 2
        writer.write_close(1, 1000, "", "client")
    return frames


def _lines(path: Path) -> None:
    decode = msgspec.json.decode
    with open(path, "rb") as file:
        for line in file:
            decode(line)


@register("audit.throughput", "audit a recorded voice session vs json-decoding its lines")
def audit_throughput(ctx: Context) -> Iterator[Row]:
    seconds = 5.0 if ctx.quick else 120.0
    with tempfile.TemporaryDirectory() as tmp:
        for elide in (False, True):
            path = Path(tmp) / f"session-{elide}.jsonl"
            frames = _voice_session(path, seconds, elide=elide)
            size = path.stat().st_size
            audit_cassette(path)  # warm-up: imports, caches

            def rawlive(n: int, path: Path = path) -> float:
                start = time.perf_counter()
                for _ in range(n):
                    audit_cassette(path)
                return time.perf_counter() - start

            def baseline(n: int, path: Path = path) -> float:
                start = time.perf_counter()
                for _ in range(n):
                    _lines(path)
                return time.perf_counter() - start

            cmp = compare(rawlive, baseline, ctx)
            what = "audio elided" if elide else "audio in full"
            yield Row(
                "audit.throughput",
                f"audit a {seconds:g} s voice session ({frames} frames, {size / 1e6:.1f} MB, "
                f"{what}) vs msgspec.json.decode of its lines",
                cmp.rawlive,
                cmp.baseline,
                target=None if elide else Target.ratio_at_most(LIMIT),
                details={**cmp.details(), "frames": frames, "bytes": size},
            )
