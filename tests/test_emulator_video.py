"""The emulator sees video frames (issue 17): counted per turn, checked, answered.

Over a real socket: the frames a turn holds (its turn coverage, the core
rule), a frame that is not a whole JPEG or PNG or is another type than it
claims closes 1007, and a script's reply says what the turn saw.
"""

from __future__ import annotations

import asyncio
import base64
import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

from rawlive.servers.emulator import Emulator
from rawlive.servers.emulator.script import load_script

IMAGES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
JPEG_BYTES = (IMAGES / "testsrc-320x240.jpg").read_bytes()
PNG_BYTES = (IMAGES / "testsrc-64x48.png").read_bytes()
LIVE = "models/gemini-3.8-live"
OLD = "models/gemini-live-2.5-flash-native-audio"
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MANUAL = {"automaticActivityDetection": {"disabled": True}}
START = {"realtimeInput": {"activityStart": {}}}
END = {"realtimeInput": {"activityEnd": {}}}
AUDIO = {
    "realtimeInput": {
        "audio": {"data": base64.b64encode(bytes(640)).decode(), "mimeType": "audio/pcm;rate=16000"}
    }
}


def _frame(data: bytes, mime: str = "image/jpeg", *, chunk: bool = False) -> dict[str, Any]:
    blob = {"data": base64.b64encode(data).decode(), "mimeType": mime}
    if chunk:
        return {"realtimeInput": {"mediaChunks": [blob]}}
    return {"realtimeInput": {"video": blob}}


async def _session(
    emulator: Emulator, setup: dict[str, Any], *turns: list[dict[str, Any]]
) -> tuple[list[dict[str, Any]], int | None, str]:
    """Send each turn's messages and read to its turnComplete, or to the close."""
    got: list[dict[str, Any]] = []
    async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
        await ws.send(json.dumps({"setup": setup}))
        json.loads(await asyncio.wait_for(ws.recv(), 5))
        try:
            for messages in turns:
                for message in messages:
                    await ws.send(json.dumps(message))
                while True:
                    message = json.loads(await asyncio.wait_for(ws.recv(), 5))
                    got.append(message)
                    if message.get("serverContent", {}).get("turnComplete"):
                        break
        except ConnectionClosed:
            pass
        else:
            return got, None, ""
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        return got, ws.close_code, ws.close_reason or ""


def _video_tokens(message: dict[str, Any]) -> int:
    details = message["usageMetadata"].get("promptTokensDetails", [])
    return sum(d["tokenCount"] for d in details if d["modality"] == "VIDEO")


@pytest.mark.parametrize(
    ("model", "first", "second"),
    [(LIVE, 3, 1), (OLD, 1, 1)],  # 3.8: all video (§10.15.2); 2.5: activity only
)
async def test_frames_are_counted_per_turn_by_turn_coverage(
    model: str, first: int, second: int
) -> None:
    jpeg, png = _frame(JPEG_BYTES), _frame(PNG_BYTES, "image/png", chunk=True)
    first_turn = [jpeg, png, START, jpeg, AUDIO, END]  # two before speech, one during
    async with Emulator(speed=0) as emulator:
        got, code, _ = await _session(
            emulator,
            {"model": model, "realtimeInputConfig": MANUAL},
            first_turn,
            [START, png, AUDIO, END],
        )
    assert code is None
    usages = [m for m in got if "usageMetadata" in m]
    assert [_video_tokens(m) for m in usages] == [first * 258, second * 258]


@pytest.mark.parametrize(
    ("frame", "why"),
    [
        (_frame(JPEG_BYTES[: len(JPEG_BYTES) // 2]), "truncated JPEG"),
        (_frame(b"not an image at all"), "not an image"),
        (_frame(PNG_BYTES, "image/jpeg"), "a PNG claimed as JPEG"),
        (_frame(JPEG_BYTES, "image/png", chunk=True), "a JPEG claimed as PNG (mediaChunks)"),
    ],
    ids=["corrupt-jpeg", "garbage", "png-as-jpeg", "jpeg-as-png"],
)
async def test_a_frame_the_server_cannot_decode_closes_1007(
    frame: dict[str, Any], why: str
) -> None:
    async with Emulator(speed=0) as emulator:
        got, code, reason = await _session(
            emulator, {"model": LIVE, "realtimeInputConfig": MANUAL}, [frame, START, AUDIO, END]
        )
    assert (code, reason) == (1007, "Request contains an invalid argument."), why
    assert not any(m.get("serverContent", {}).get("turnComplete") for m in got)


SCRIPT = """
    speed = 0
    [[turns]]
    text = "saw {frames} frames, last {last_width}x{last_height}"
    output_transcription = "I saw {frames} {pictures}"
    [[turns]]
    text = "now {frames} frames, last {last_width}x{last_height}"
"""


async def test_a_script_reply_says_what_the_turn_saw(tmp_path: Path) -> None:
    path = tmp_path / "script.toml"
    path.write_text(textwrap.dedent(SCRIPT))
    jpeg = _frame(JPEG_BYTES)
    setup = {
        "model": LIVE,
        "realtimeInputConfig": MANUAL,
        "outputAudioTranscription": {},
    }
    async with Emulator(script=load_script(path)) as emulator:
        got, code, _ = await _session(
            emulator, setup, [START, jpeg, jpeg, AUDIO, jpeg, END], [START, AUDIO, END]
        )
    assert code is None
    texts = [
        part["text"]
        for m in got
        for part in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
        if "text" in part
    ]
    said = [
        m["serverContent"]["outputTranscription"]["text"]
        for m in got
        if "outputTranscription" in m.get("serverContent", {})
    ]
    assert texts == ["saw 3 frames, last 320x240", "now 0 frames, last 0x0"]
    assert said == ["I saw 3 {pictures}"]  # other braces stay as written
