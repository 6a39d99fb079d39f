"""The emulator answers each backend in its own shape; Vertex AI's live avatar; quota refusals.

PROTOCOL.md §9 (Gemini API vs Vertex AI recordings), §5.3 (1008 wording per
backend), §10.10 (avatar), §10.12 (quota). Everything over real sockets.
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import uuid
from pathlib import Path
from typing import Any

import msgspec
import pytest
import websockets
from click.testing import CliRunner
from websockets.exceptions import InvalidStatus

import rawlive
from rawlive.cli import main
from rawlive.errors import ConfigError
from rawlive.servers.emulator import Emulator, avatar, backends, validation
from rawlive.tools.audit import audit_cassette
from rawlive.tools.send import stream_file
from rawlive.wire import types as t

GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
VERTEX_PATH = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
#: A model both backends serve whose conversation rules other work leaves alone.
BOTH = "gemini-live-2.5-flash-native-audio"
VERTEX_MODEL = "projects/p/locations/us-central1/publishers/google/models/{}"
SPOKEN = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "weather-16k-mono.wav"

#: A whole JPEG frame (the emulator closes 1007 on one that is not, issue 17).
JPEG = base64.b64encode(
    (
        Path(__file__).resolve().parent.parent / "fixtures" / "images" / "testsrc-320x240.jpg"
    ).read_bytes()
).decode()


async def _raw(
    url: str, setup: dict[str, Any], *frames: dict[str, Any], until_turns: int = 1
) -> tuple[int | None, str | None, list[tuple[bool, dict[str, Any]]]]:
    """Send setup, then each frame after the previous turn ends; collect every message
    (whether it came in a binary frame, and its JSON) until ``until_turns`` turns are complete
    or the server closes; then a short wait for anything that follows."""
    received: list[tuple[bool, dict[str, Any]]] = []
    pending = list(frames)
    turns = 0
    async with websockets.connect(url, max_size=None) as ws:
        await ws.send(json.dumps({"setup": setup}))
        try:
            while True:
                timeout = 0.3 if turns >= until_turns else 10
                try:
                    raw = await asyncio.wait_for(ws.recv(), timeout)
                except TimeoutError:
                    break
                message = json.loads(raw)
                received.append((isinstance(raw, bytes), message))
                if "setupComplete" in message or message.get("serverContent", {}).get(
                    "turnComplete"
                ):
                    if "serverContent" in message:
                        turns += 1
                    if pending:
                        await ws.send(json.dumps(pending.pop(0)))
        except websockets.ConnectionClosed:
            pass
    return ws.close_code, ws.close_reason, received


def _parts(received: list[tuple[bool, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        part
        for _, m in received
        for part in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    ]


def _turns(received: list[tuple[bool, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [
        m["serverContent"]["modelTurn"]
        for _, m in received
        if "modelTurn" in m.get("serverContent", {})
    ]


def _usages(received: list[tuple[bool, dict[str, Any]]]) -> list[dict[str, Any]]:
    return [m["usageMetadata"] for _, m in received if "usageMetadata" in m]


HELLO = {"realtimeInput": {"text": "hello"}}


# -- 1. backend shapes -------------------------------------------------------------


async def test_the_gemini_api_path_answers_in_the_gemini_api_shape() -> None:
    async with Emulator(speed=0) as emulator:
        _, _, got = await _raw(emulator.url + GEMINI_PATH, {"model": f"models/{BOTH}"}, HELLO)
    assert got[0][1] == {"setupComplete": {}}
    turns = _turns(got)
    assert turns and all("role" not in turn for turn in turns)
    parts = _parts(got)
    assert parts and {p["inlineData"]["mimeType"] for p in parts} == {"audio/pcm;rate=24000"}
    (usage,) = _usages(got)
    assert usage["responseTokenCount"] > 0
    assert usage["responseTokensDetails"] == [
        {"modality": "AUDIO", "tokenCount": usage["responseTokenCount"]}
    ]
    assert not {"candidatesTokenCount", "candidatesTokensDetails", "trafficType"} & set(usage)


async def test_the_vertex_path_answers_in_the_vertex_shape() -> None:
    async with Emulator(speed=0) as emulator:
        _, _, got = await _raw(
            emulator.url + VERTEX_PATH, {"model": VERTEX_MODEL.format(BOTH)}, HELLO
        )
    (first,) = got[0][1].values()
    assert list(got[0][1]) == ["setupComplete"]
    assert str(uuid.UUID(first["sessionId"])) == first["sessionId"]
    turns = _turns(got)
    assert turns and all(turn["role"] == "model" for turn in turns)
    parts = _parts(got)
    assert parts and {p["inlineData"]["mimeType"] for p in parts} == {"audio/pcm"}
    (usage,) = _usages(got)
    # PROTOCOL.md §9, §10.11: generateContent's names; no trafficType value is recorded.
    assert usage["candidatesTokenCount"] > 0
    assert usage["candidatesTokensDetails"] == [
        {"modality": "AUDIO", "tokenCount": usage["candidatesTokenCount"]}
    ]
    assert not {"responseTokenCount", "responseTokensDetails", "trafficType"} & set(usage)
    assert usage["totalTokenCount"] == usage["promptTokenCount"] + usage["candidatesTokenCount"]


async def test_each_connection_gets_its_own_vertex_session_id() -> None:
    async with Emulator(speed=0) as emulator:
        ids = []
        for _ in range(2):
            _, _, got = await _raw(
                emulator.url + VERTEX_PATH, {"model": VERTEX_MODEL.format(BOTH)}, until_turns=0
            )
            ids.append(got[0][1]["setupComplete"]["sessionId"])
    assert ids[0] != ids[1]


async def _client_turn(emulator: Emulator, *, vertex: bool) -> tuple[rawlive.Session, bytes]:
    options: dict[str, Any] = (
        {"vertex": True, "access_token": "fake.vertex-token", "project": "p", "location": "l"}
        if vertex
        else {"api_key": "fake.key"}
    )
    audio = b""
    async with rawlive.connect(BOTH, endpoint=emulator.url, **options) as session:
        await session.send_realtime_input(text="hello")
        async for message in session.receive():
            audio += message.data or b""
            if message.server_content and message.server_content.turn_complete:
                break
    return session, audio


async def test_the_client_and_the_audit_take_both_shapes_alike(tmp_path: Path) -> None:
    totals = {}
    for vertex in (False, True):
        folder = tmp_path / ("vertex" if vertex else "gemini")
        async with Emulator(speed=0, record_dir=folder) as emulator:
            session, audio = await _client_turn(emulator, vertex=vertex)
        assert emulator.connections[0].path == (VERTEX_PATH if vertex else GEMINI_PATH)
        assert audio
        usage = session.usage
        assert usage.response_tokens > 0 and usage.response_by_modality == {
            "AUDIO": usage.response_tokens
        }
        report = audit_cassette(folder / "connection-0001.jsonl")
        assert report.count("error") == 0 and report.count("warning") == 0, report.findings
        assert report.drift == []
        assert report.metrics.response_tokens == usage.response_by_modality
        assert report.metrics.audio_out_seconds == pytest.approx(len(audio) / 48_000)
        totals[vertex] = (usage.prompt_tokens, usage.response_tokens, usage.total_tokens)
    assert totals[True] == totals[False]


async def test_send_sums_usage_and_keeps_the_audio_of_both_shapes() -> None:
    summaries = {}
    for vertex in (False, True):
        options: dict[str, Any] = (
            {"vertex": True, "access_token": "fake.vertex-token"} if vertex else {"api_key": ""}
        )
        async with Emulator(speed=0) as emulator:
            async with rawlive.connect(BOTH, endpoint=emulator.url, **options) as session:
                summaries[vertex] = await stream_file(
                    session, SPOKEN, speed=None, tail_silence=1.5, settle=0.3, timeout=10
                )
    gemini, vertex_summary = summaries[False], summaries[True]
    assert vertex_summary.skipped == {} and vertex_summary.reply_seconds > 1
    assert vertex_summary.reply_seconds == pytest.approx(gemini.reply_seconds)
    assert vertex_summary.response_tokens["AUDIO"] > 0
    assert vertex_summary.response_tokens == gemini.response_tokens
    assert vertex_summary.total_tokens == gemini.total_tokens > 0


# -- 2. what each backend serves ----------------------------------------------------


@pytest.mark.parametrize(
    ("path", "model", "reason"),
    [
        (
            GEMINI_PATH,
            "models/gemini-3.5-transcribe-live-preview",
            "models/gemini-3.5-transcribe-live-preview is not found for API version v1beta",
        ),
        (
            VERTEX_PATH,
            VERTEX_MODEL.format("gemini-3.8-live-extended-thinking"),
            "Publisher Model projects/p/locations/us-central1/publishers/google/models/"
            "gemini-3.8-live-extended-thinking was not found",
        ),
        (
            VERTEX_PATH,
            "publishers/google/models/gemini-3.1-flash-live-preview",
            "Publisher Model publishers/google/models/gemini-3.1-flash-live-preview was not found",
        ),
        (
            VERTEX_PATH,
            "gemini-9-ultra",
            "Publisher Model publishers/google/models/gemini-9-ultra was not found",
        ),
    ],
)
async def test_a_model_the_backend_does_not_serve_closes_1008_in_its_words(
    path: str, model: str, reason: str
) -> None:
    async with Emulator() as emulator:
        code, got_reason, got = await _raw(emulator.url + path, {"model": model})
    assert got == []
    assert code == 1008 and (got_reason or "").startswith(reason)


@pytest.mark.parametrize(
    ("path", "model"),
    [
        # PROTOCOL.md §10.1, §10.15.1: each new id in the forms its backends take.
        (GEMINI_PATH, "models/gemini-3.8-live"),
        (VERTEX_PATH, VERTEX_MODEL.format("gemini-3.8-live")),
        (VERTEX_PATH, "publishers/google/models/gemini-3.8-live"),  # express mode (§1.3)
        (GEMINI_PATH, "models/gemini-3.8-live-extended-thinking"),
        (GEMINI_PATH, "models/gemini-3.5-transcribe-live"),
        (VERTEX_PATH, VERTEX_MODEL.format("gemini-3.5-transcribe-live")),
        (VERTEX_PATH, VERTEX_MODEL.format("gemini-3.5-transcribe-live-preview")),
        (GEMINI_PATH, "models/gemini-3.5-live-translate-preview"),
        (VERTEX_PATH, VERTEX_MODEL.format("gemini-3.5-live-translate-preview")),
        (GEMINI_PATH, "models/gemini-3.1-flash-live-preview"),
    ],
)
async def test_a_model_is_served_on_its_own_backend(path: str, model: str) -> None:
    modalities = ["TEXT"] if "transcribe" in model else ["AUDIO"]
    generation: dict[str, Any] = {"responseModalities": modalities}
    if "translate" in model:
        generation["translationConfig"] = {"targetLanguageCode": "pl"}
    setup = {"model": model, "generationConfig": generation}
    async with Emulator() as emulator:
        _, _, got = await _raw(emulator.url + path, setup, until_turns=0)
    assert "setupComplete" in got[0][1]


def test_the_unknown_model_wording_names_the_vertex_resource() -> None:
    assert validation.unknown_model_reason("gemini-x", "vertex") == (
        "Publisher Model publishers/google/models/gemini-x was not found"
    )
    assert validation.unknown_model_reason("models/gemini-x").startswith(
        "models/gemini-x is not found for API version"
    )
    assert backends.backend_of(VERTEX_PATH) == "vertex"
    assert backends.backend_of("/" + GEMINI_PATH) == "gemini"


# -- 3. the live avatar -------------------------------------------------------------

AVATAR_SETUP = {
    "model": VERTEX_MODEL.format("gemini-3.8-live"),
    "generationConfig": {
        "responseModalities": ["VIDEO"],
        "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    },
    "avatarConfig": {"avatarName": "Kira"},
    "sessionResumption": {},
}


def _top(data: bytes) -> list[str]:
    return [box.type for box in avatar.boxes(data)]


def _tfdts(fragment: bytes) -> dict[int, int]:
    """Each track's base decode time in a fragment, as a player reads it."""
    found = {}
    moof = next(avatar.boxes(fragment))
    for traf in avatar.boxes(fragment, moof.body.start, moof.end):
        if traf.type != "traf":
            continue
        track = None
        for box in avatar.boxes(fragment, traf.body.start, traf.end):
            body = fragment[box.body]
            if box.type == "tfhd":
                track = int.from_bytes(body[4:8], "big")
            if box.type == "tfdt":
                width = 8 if body[0] == 1 else 4
                assert track is not None
                found[track] = int.from_bytes(body[4 : 4 + width], "big")
    return found


def _sequence(fragment: bytes) -> int:
    moof = next(avatar.boxes(fragment))
    mfhd = next(b for b in avatar.boxes(fragment, moof.body.start, moof.end) if b.type == "mfhd")
    return int.from_bytes(fragment[mfhd.body][4:8], "big")


async def test_a_vertex_avatar_streams_the_reply_as_fragmented_mp4() -> None:
    second = {"realtimeInput": {"text": "and again"}}
    async with Emulator(speed=0, resumption_interval=1) as emulator:
        code, _, got = await _raw(
            emulator.url + VERTEX_PATH, AVATAR_SETUP, HELLO, second, until_turns=2
        )
    assert code == 1000
    # Every server message in a binary frame; no resumption handle ever (§10.10),
    # although the setup asked for them and the emulator would send one per message.
    assert all(binary for binary, _ in got)
    assert not [m for _, m in got if "sessionResumptionUpdate" in m]
    parts = _parts(got)
    assert {p["inlineData"]["mimeType"] for p in parts} == {"video/mp4"}
    assert all(turn["role"] == "model" for turn in _turns(got))
    segments = [base64.b64decode(p["inlineData"]["data"]) for p in parts]
    init, fragments = segments[0], segments[1:]
    assert _top(init)[0] == "ftyp" and "moov" in _top(init)
    assert fragments and all(_top(f) == ["moof", "mdat"] for f in fragments)
    # One presentation across both replies: fragments numbered on, each track's time going on.
    assert [_sequence(f) for f in fragments] == list(range(1, len(fragments) + 1))
    times = [_tfdts(f) for f in fragments]
    for track in times[0]:
        assert all(a[track] < b[track] for a, b in itertools.pairwise(times))
    # A second reply sends fragments only: the init segment went once.
    assert sum(1 for s in segments if _top(s)[0] == "ftyp") == 1
    # The reply's audio (the default beep, 300 ms) is covered by the fragments of the first turn.
    assert sum(1 for _, m in got if m.get("serverContent", {}).get("turnComplete")) == 2


async def test_the_client_asks_for_and_receives_the_avatar_over_vertex() -> None:
    config = {
        "response_modalities": ["VIDEO"],
        "avatar_config": {"avatar_name": "Kira"},
        "session_resumption": {},
    }
    segments = []
    async with Emulator(speed=0) as emulator:
        async with rawlive.connect(
            "gemini-3.8-live",
            config,
            vertex=True,
            access_token="fake.vertex-token",
            project="p",
            location="us-central1",
            endpoint=emulator.url,
        ) as session:
            await session.send_realtime_input(text="hi")
            async for message in session.receive():
                assert message.session_resumption_update is None
                content = message.server_content
                for part in (
                    (content.model_turn.parts or []) if content and content.model_turn else []
                ):
                    assert part.inline_data and part.inline_data.mime_type == "video/mp4"
                    segments.append(bytes(part.inline_data.data or b""))
                if content and content.turn_complete:
                    break
    assert segments[0] == avatar.clip().init and len(segments) >= 2


async def test_the_packaged_clip_is_a_small_fragmented_mp4() -> None:
    clip = avatar.clip()
    assert _top(clip.init)[:2] == ["ftyp", "moov"]
    assert len(clip.fragments) >= 2 and all(_top(f) == ["moof", "mdat"] for f in clip.fragments)
    assert 0.2 < clip.fragment_seconds < 0.5
    stream = avatar.AvatarVideo(clip)
    parts = list(stream.parts(clip.fragment_seconds * len(clip.fragments) * 2))
    assert parts[0] is clip.init and len(parts) == 1 + 2 * len(clip.fragments)
    # The second loop starts where the first ended, track by track.
    assert _tfdts(parts[1 + len(clip.fragments)]) == clip.durations
    with pytest.raises(ValueError, match="ftyp"):
        avatar.split(clip.fragments[0])
    with pytest.raises(ValueError, match="claims"):
        avatar.split(clip.init[:-4])


@pytest.mark.parametrize(
    ("path", "setup", "code", "reason"),
    [
        (
            VERTEX_PATH,
            {
                **AVATAR_SETUP,
                "avatarConfig": {
                    "customizedAvatar": {
                        "imageMimeType": "image/webp",
                        "imageData": base64.b64encode(b"RIFF....WEBP").decode(),
                    }
                },
            },
            1011,
            "Internal error encountered.",
        ),
        (
            GEMINI_PATH,
            {**AVATAR_SETUP, "model": "models/gemini-3.8-live"},
            1007,
            "The requested combination of response modalities (VIDEO) is not supported",
        ),
        (
            VERTEX_PATH,
            {k: v for k, v in AVATAR_SETUP.items() if k != "avatarConfig"},
            1007,
            "Avatar config is required for avatar mode",
        ),
        (
            VERTEX_PATH,
            {
                **AVATAR_SETUP,
                "generationConfig": {"responseModalities": ["AUDIO", "VIDEO"]},
            },
            1007,
            "The requested combination of response modalities (AUDIO, VIDEO) is not supported",
        ),
    ],
)
async def test_an_avatar_setup_the_server_fails_on_closes(
    path: str, setup: dict[str, Any], code: int, reason: str
) -> None:
    async with Emulator() as emulator:
        got_code, got_reason, got = await _raw(emulator.url + path, setup)
    assert got == []
    assert got_code == code and reason in (got_reason or "")


async def test_an_image_through_media_chunks_in_avatar_mode_closes_1007() -> None:
    # PROTOCOL.md §10.10, §10.14 [G-SAMPLE]: realtime input takes audio only there.
    chunk = {"realtimeInput": {"mediaChunks": [{"data": JPEG, "mimeType": "image/jpeg"}]}}
    async with Emulator(speed=0) as emulator:
        code, reason, got = await _raw(emulator.url + VERTEX_PATH, AVATAR_SETUP, chunk)
        # Without the avatar the same chunk is taken (a video frame).
        plain = {**AVATAR_SETUP, "generationConfig": {"responseModalities": ["AUDIO"]}}
        del plain["avatarConfig"]
        async with websockets.connect(emulator.url + VERTEX_PATH) as ws:
            for message in ({"setup": plain}, chunk, HELLO):
                await ws.send(json.dumps(message))
            while (
                not json.loads(await asyncio.wait_for(ws.recv(), 5))
                .get("serverContent", {})
                .get("turnComplete")
            ):
                pass
    assert [m for _, m in got] == [{"setupComplete": got[0][1]["setupComplete"]}]
    assert code == 1007
    assert reason == "Mime type 'image/jpeg' is not supported. Either use 'audio/pcm"


async def test_a_vertex_session_without_avatar_keeps_text_frames_and_handles() -> None:
    setup = {"model": VERTEX_MODEL.format(BOTH), "sessionResumption": {}}
    async with Emulator(speed=0) as emulator:
        _, _, got = await _raw(emulator.url + VERTEX_PATH, setup, HELLO)
    assert not any(binary for binary, _ in got)
    assert [m for _, m in got if "sessionResumptionUpdate" in m]


# -- 4. quota ----------------------------------------------------------------------


async def _until_closed(emulator: Emulator) -> None:
    """Wait until the server has seen every connection end."""
    for capture in list(emulator.connections):
        await asyncio.wait_for(capture.closed.wait(), 5)


async def test_a_session_beyond_the_quota_is_closed_1011_after_the_upgrade() -> None:
    async with Emulator(max_sessions=1) as emulator:
        async with rawlive.connect(BOTH, endpoint=emulator.url, api_key=""):
            code, reason, got = await _raw(emulator.url + GEMINI_PATH, {"model": f"models/{BOTH}"})
            assert got == []
            assert (code, reason) == backends.QUOTA_CLOSE
            assert "RESOURCE_EXHAUSTED" in (reason or "")
        await _until_closed(emulator)  # the first session's end reaches the server
        _, _, got = await _raw(
            emulator.url + GEMINI_PATH, {"model": f"models/{BOTH}"}, until_turns=0
        )
        assert "setupComplete" in got[0][1]


async def test_a_session_beyond_the_quota_gets_http_429_in_the_http_style() -> None:
    async with Emulator(max_sessions=1, quota_style="http") as emulator:
        async with rawlive.connect(BOTH, endpoint=emulator.url, api_key=""):
            with pytest.raises(InvalidStatus) as refused:
                async with websockets.connect(emulator.url + VERTEX_PATH):
                    pass
            response = refused.value.response
            assert response.status_code == 429
            assert response.headers["Content-Type"].startswith("application/json")
            error = msgspec.json.decode(response.body)["error"]
            assert error["code"] == 429 and error["status"] == "RESOURCE_EXHAUSTED"
        await _until_closed(emulator)
        _, _, got = await _raw(
            emulator.url + GEMINI_PATH, {"model": f"models/{BOTH}"}, until_turns=0
        )
        assert "setupComplete" in got[0][1]
    assert emulator.accepted == 2  # the refused handshake never became a connection


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"max_sessions": -1}, "max_sessions must be 0 or more"),
        ({"quota_style": "refuse"}, "quota_style must be one of close, http"),
    ],
)
def test_bad_quota_options_are_refused_in_one_line(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Emulator(**options)


@pytest.mark.parametrize(
    "args", [["--max-sessions", "-1"], ["--max-sessions", "1", "--quota-style", "refuse"]]
)
def test_serve_refuses_bad_quota_flags_before_listening(args: list[str]) -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "0", *args])
    assert result.exit_code == 2
    assert "Invalid value for" in result.output and "Traceback" not in result.output


def test_vertex_shape_leaves_other_types_and_gemini_messages_alone() -> None:
    message = t.LiveServerMessage(
        server_content=t.LiveServerContent(
            model_turn=t.Content(
                parts=[
                    t.Part(inline_data=t.Blob(data=b"\0\0", mime_type="audio/pcm;rate=24000")),
                    t.Part(inline_data=t.Blob(data=b"x", mime_type="image/jpeg")),
                    t.Part(text="hi"),
                ]
            )
        )
    )
    assert backends.Shape("gemini").apply(message) == message
    shaped = backends.Shape("vertex").apply(message)
    assert shaped is not None and shaped.server_content and shaped.server_content.model_turn
    parts = shaped.server_content.model_turn.parts or []
    assert [p.inline_data.mime_type if p.inline_data else p.text for p in parts] == [
        "audio/pcm",
        "image/jpeg",
        "hi",
    ]
    # The message given is not changed: a script's parts may be sent again.
    assert message.server_content and message.server_content.model_turn
    assert message.server_content.model_turn.role is None
