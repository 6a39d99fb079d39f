"""The emulator: validation closes, turn taking, replies, limits and frame options."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import websockets

import rawlive
from rawlive.core import models
from rawlive.media import audio
from rawlive.servers.emulator import Emulator
from rawlive.wire import types as t

NATIVE = "gemini-2.5-flash-native-audio-preview-12-2025"
HALF = "gemini-live-2.5-flash-preview"
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
SPOKEN = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "weather-16k-mono.wav"
SILENCE_20MS = bytes(640)


async def _raw_session(url: str, *frames: bytes | str) -> tuple[int | None, str | None, list[Any]]:
    """Send raw frames after connecting; return the close code, reason and what came back."""
    received: list[Any] = []
    async with websockets.connect(url + GEMINI_PATH) as ws:
        for frame in frames:
            await ws.send(frame)
        try:
            async for message in ws:
                received.append(msgspec.json.decode(message))
        except websockets.ConnectionClosed:
            pass
    return ws.close_code, ws.close_reason, received


SETUP = msgspec.json.encode({"setup": {"model": f"models/{HALF}"}})


@pytest.mark.parametrize(
    ("frames", "code", "reason"),
    [
        ([b'{"realtimeInput":{"text":"hi"}}'], 1007, "Request contains an invalid argument."),
        ([b'{"setup":{}}'], 1007, "Request contains an invalid argument."),
        ([b"{not json"], 1007, "Request contains an invalid argument."),
        ([SETUP, b'{"realtimeInput":{"text":"hi","fooBar":1}}'], 1007, "invalid argument"),
        ([SETUP, b'{"clientContent": ['], 1007, "invalid argument"),
        ([SETUP, SETUP], 1007, "invalid argument"),
        (
            [b'{"setup":{"model":"models/gemini-9-ultra"}}'],
            1008,
            "models/gemini-9-ultra is not found",
        ),
        (
            [
                b'{"setup":{"model":"models/%s","generationConfig":{"responseModalities":["TEXT"]}}}'
                % NATIVE.encode()
            ],
            1007,
            # PROTOCOL.md §10.3: the wording the SDK's tests recorded on 2.5/3.1.
            "The requested combination of response modalities (TEXT) is not supported",
        ),
    ],
)
async def test_invalid_input_closes_with_the_real_code_and_reason(
    frames: list[bytes], code: int, reason: str
) -> None:
    async with Emulator() as emulator:
        got_code, got_reason, _ = await _raw_session(emulator.url, *frames)
    assert got_code == code
    assert reason in (got_reason or "")


@pytest.mark.parametrize(
    "model",
    [
        NATIVE,
        f"models/{NATIVE}",
        "projects/p/locations/us-central1/publishers/google/models/gemini-live-2.5-flash",
        "publishers/google/models/gemini-live-2.5-flash-native-audio",
    ],
)
async def test_known_models_are_accepted_in_every_spelling(model: str) -> None:
    async with Emulator() as emulator:
        frame = msgspec.json.encode({"setup": {"model": model}})
        async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
            await ws.send(frame)
            assert msgspec.json.decode(await ws.recv()) == {"setupComplete": {}}


async def test_a_model_added_by_option_is_accepted() -> None:
    async with Emulator(models=["my-tuned-live"]) as emulator:
        async with rawlive.connect("my-tuned-live", endpoint=emulator.url):
            pass


async def test_a_model_id_given_by_option_does_not_change_a_known_model() -> None:
    # The option adds models; a known native-audio model named again still
    # refuses TEXT, as the real one does.
    frame = msgspec.json.encode(
        {"setup": {"model": NATIVE, "generationConfig": {"responseModalities": ["TEXT"]}}}
    )
    async with Emulator(models=[NATIVE]) as emulator:
        code, reason, _ = await asyncio.wait_for(_raw_session(emulator.url, frame), 5)
    assert code == 1007 and "response modalities (TEXT) is not supported" in reason


async def test_a_model_row_given_by_option_is_validated_as_its_row_says() -> None:
    row = models.Model(
        "my-native-live",
        native_audio=True,
        modalities=frozenset({"AUDIO"}),
        rejects=(models.Rejection("generationConfig.thinkingConfig", 1008, "No thinking here."),),
    )

    def setup(**fields: Any) -> bytes:
        return msgspec.json.encode({"setup": {"model": "models/my-native-live", **fields}})

    thinking = {"generationConfig": {"thinkingConfig": {"thinkingBudget": 0}}}
    text = {"generationConfig": {"responseModalities": ["TEXT"]}}
    async with Emulator(models=[row, "my-tuned-live"]) as emulator:
        refused = await asyncio.wait_for(_raw_session(emulator.url, setup(**thinking)), 5)
        wrong_modality = await asyncio.wait_for(_raw_session(emulator.url, setup(**text)), 5)
        async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
            await ws.send(setup(generationConfig={"temperature": 0.5}))
            assert msgspec.json.decode(await ws.recv()) == {"setupComplete": {}}
        async with rawlive.connect("my-tuned-live", endpoint=emulator.url):
            pass
    assert refused[:2] == (1008, "No thinking here.")
    assert wrong_modality[0] == 1007 and "(TEXT) is not supported" in wrong_modality[1]


@pytest.mark.parametrize(
    "path",
    [
        "/ws/google.ai.generativelanguage.v1alpha.GenerativeService.BidiGenerateContentConstrained",
        "/ws/google.ai.generativelanguage.v1.GenerativeService.BidiGenerateContent",
        "//ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent",
        "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent",
        "/ws/google.cloud.aiplatform.v1.LlmBidiService/BidiGenerateContent",
    ],
)
async def test_every_real_path_is_served(path: str) -> None:
    async with Emulator() as emulator:
        async with websockets.connect(emulator.url + path) as ws:
            await ws.send(SETUP)
            done = msgspec.json.decode(await ws.recv())["setupComplete"]
    # Vertex AI's setupComplete carries a sessionId (PROTOCOL.md §9).
    assert list(done) == (["sessionId"] if "LlmBidiService" in path else [])


async def test_an_unknown_path_is_refused_at_the_handshake() -> None:
    async with Emulator() as emulator:
        with pytest.raises(rawlive.ConnectError, match="HTTP 404"):
            await rawlive.connect(HALF, endpoint=emulator.url + "/ws/somewhere.else")


def _spoken_pcm() -> bytes:
    return b"".join(audio.iter_pcm(SPOKEN))


def _spoken_seconds(pcm: bytes, rate: int) -> float:
    """From the first to the last sample above -40 dBFS: what a detector calls speech."""
    samples = np.abs(np.frombuffer(pcm, dtype="<i2").astype(np.float64)) / 32768
    loud = np.flatnonzero(samples > 0.01)
    return float(loud[-1] - loud[0]) / rate


async def _stream(session: rawlive.Session, pcm: bytes, chunk: int = 640) -> None:
    for offset in range(0, len(pcm), chunk):
        await session.send_realtime_input(
            audio=t.Blob(data=pcm[offset : offset + chunk], mime_type="audio/pcm;rate=16000")
        )


async def _until_turn_complete(session: rawlive.Session) -> list[t.LiveServerMessage]:
    messages = []
    async for message in session.receive():
        messages.append(message)
        if message.server_content and message.server_content.turn_complete:
            break
    return messages


async def test_speech_then_silence_is_one_turn_answered_with_the_echo_at_24khz() -> None:
    speech = _spoken_pcm()
    async with Emulator(speed=0) as emulator:
        async with rawlive.connect(
            NATIVE, {"response_modalities": ["AUDIO"]}, endpoint=emulator.url
        ) as session:
            await _stream(session, speech + SILENCE_20MS * 60)  # 1.2 s of silence ends it
            messages = await asyncio.wait_for(_until_turn_complete(session), 10)
    reply = b"".join(m.data or b"" for m in messages)
    parts = [
        p
        for m in messages
        if m.server_content and m.server_content.model_turn
        for p in m.server_content.model_turn.parts or ()
    ]
    assert all(p.inline_data and p.inline_data.mime_type == "audio/pcm;rate=24000" for p in parts)
    # The echo is the utterance the detector found, at 24 kHz, within a few frames.
    assert abs(len(reply) / 48_000 - _spoken_seconds(speech, 16_000)) < 0.1
    kinds = [m.server_content for m in messages if m.server_content]
    assert kinds[-2].generation_complete and kinds[-1].turn_complete
    usage = messages[-1].usage_metadata
    assert usage is not None and usage.response_token_count and usage.prompt_token_count
    assert usage.response_tokens_details == [
        t.ModalityTokenCount(modality="AUDIO", token_count=usage.response_token_count)
    ]


async def test_audio_stream_end_closes_the_turn_without_trailing_silence() -> None:
    async with Emulator(speed=0) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await _stream(session, _spoken_pcm())
            await session.send_realtime_input(audio_stream_end=True)
            messages = await asyncio.wait_for(_until_turn_complete(session), 10)
    assert b"".join(m.data or b"" for m in messages)


async def test_manual_activity_signals_delimit_the_turn_when_detection_is_off() -> None:
    config = {"realtime_input_config": {"automatic_activity_detection": {"disabled": True}}}
    async with Emulator(speed=0) as emulator:
        async with rawlive.connect(NATIVE, config, endpoint=emulator.url) as session:
            await session.send_realtime_input(activity_start=t.ActivityStart())
            await _stream(session, audio.tone(400, rate=16_000))
            await session.send_realtime_input(activity_end=t.ActivityEnd())
            messages = await asyncio.wait_for(_until_turn_complete(session), 10)
    reply = b"".join(m.data or b"" for m in messages)
    assert abs(len(reply) - 400 * 48) <= 48 * 20


async def test_silence_alone_is_not_a_turn() -> None:
    async with Emulator(speed=0) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await _stream(session, SILENCE_20MS * 100)
            await session.send_realtime_input(audio_stream_end=True)
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(_until_turn_complete(session), 0.5)


async def test_new_speech_during_a_reply_interrupts_it() -> None:
    speech = _spoken_pcm()
    async with Emulator(speed=1.0) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await _stream(session, speech)
            await session.send_realtime_input(audio_stream_end=True)
            seen: list[t.LiveServerMessage] = []
            async for message in session.receive():
                seen.append(message)
                if message.data:
                    break  # the reply started: barge in
            await _stream(session, audio.tone(300, rate=16_000))
            rest = await asyncio.wait_for(_until_turn_complete(session), 5)
    contents = [m.server_content for m in rest if m.server_content]
    assert any(c.interrupted for c in contents)
    assert not any(c.generation_complete for c in contents)
    assert contents[-1].turn_complete


async def test_no_interruption_lets_the_reply_finish() -> None:
    config = {"realtime_input_config": {"activity_handling": "NO_INTERRUPTION"}}
    async with Emulator(speed=4.0) as emulator:
        async with rawlive.connect(NATIVE, config, endpoint=emulator.url) as session:
            await _stream(session, _spoken_pcm())
            await session.send_realtime_input(audio_stream_end=True)
            async for message in session.receive():
                if message.data:
                    break
            await _stream(session, audio.tone(300, rate=16_000))
            rest = await asyncio.wait_for(_until_turn_complete(session), 5)
    contents = [m.server_content for m in rest if m.server_content]
    assert not any(c.interrupted for c in contents)
    assert any(c.generation_complete for c in contents)


async def test_text_turns_are_answered_in_text_for_text_sessions() -> None:
    async with Emulator() as emulator:
        async with rawlive.connect(
            HALF, {"response_modalities": ["TEXT"]}, endpoint=emulator.url
        ) as session:
            await session.send_client_content(
                turns=t.Content(role="user", parts=[t.Part(text="Hello there")])
            )
            messages = await asyncio.wait_for(_until_turn_complete(session), 5)
    assert "Hello there" in "".join(m.text or "" for m in messages)


async def test_input_audio_at_another_rate_is_resampled_before_detection() -> None:
    speech_48k = b"".join(audio.iter_pcm(SPOKEN, rate=48_000))
    async with Emulator(speed=0) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            for offset in range(0, len(speech_48k), 1920):
                await session.send_realtime_input(
                    audio=t.Blob(
                        data=speech_48k[offset : offset + 1920], mime_type="audio/pcm;rate=48000"
                    )
                )
            await session.send_realtime_input(audio_stream_end=True)
            messages = await asyncio.wait_for(_until_turn_complete(session), 10)
    reply = b"".join(m.data or b"" for m in messages)
    assert abs(len(reply) / 48_000 - _spoken_seconds(speech_48k, 48_000)) < 0.1


async def test_connection_lifetime_sends_go_away_ahead_then_ends_the_connection() -> None:
    async with Emulator(connection_lifetime=0.6, goaway_lead=0.4) as emulator:
        _, _, received = await _raw_session(emulator.url, SETUP)
    assert {"goAway": {"timeLeft": "0.400s"}} in received
    assert emulator.connections[0].close_code == 1000


@pytest.mark.parametrize(("lead", "go_away"), [(0.3, True), (0.0, False)])
async def test_the_deadline_lifetime_close_ends_a_38_connection_with_1011(
    lead: float, go_away: bool
) -> None:
    # PROTOCOL.md §10.14, §10.15.12: one report of a 3.8 connection closed at
    # 58:00 with 1011 "Deadline expired..."; the lifetime and the close are options.
    setup = msgspec.json.encode({"setup": {"model": "models/gemini-3.8-live"}})
    async with Emulator(
        connection_lifetime=0.6, goaway_lead=lead, lifetime_close="deadline"
    ) as emulator:
        code, reason, received = await _raw_session(emulator.url, setup)
    assert (code, reason) == (1011, "Deadline expired before operation could complete.")
    assert received[0] == {"setupComplete": {}}
    assert received[1:] == ([{"goAway": {"timeLeft": "0.300s"}}] if go_away else [])


def test_an_unknown_lifetime_close_is_refused_in_one_line() -> None:
    with pytest.raises(rawlive.ConfigError, match="lifetime_close must be one of normal, deadline"):
        Emulator(lifetime_close="abrupt")


async def test_session_limit_ends_the_session_with_deadline_exceeded() -> None:
    async with Emulator(session_limit=0.2) as emulator:
        code, reason, _ = await _raw_session(emulator.url, SETUP)
    assert code == 1011 and "DEADLINE_EXCEEDED" in (reason or "")


@pytest.mark.parametrize(("frames", "pretty"), [("binary", False), ("text", True)])
async def test_frame_options_change_the_wire_not_the_messages(frames: str, pretty: bool) -> None:
    async with Emulator(frames=frames, pretty=pretty, capture_frames=True) as emulator:
        async with rawlive.connect(HALF, endpoint=emulator.url) as session:
            await session.send_realtime_input(text="hi")
            messages = await asyncio.wait_for(_until_turn_complete(session), 5)
    sent = [f for f in emulator.connections[0].frames if f.sender == "server"]
    assert all(f.opcode == frames for f in sent)
    assert all((b"\n" in f.payload) == pretty for f in sent)
    assert any(m.text for m in messages)


async def test_close_with_sends_the_chosen_code_and_reason() -> None:
    async with Emulator() as emulator:
        async with rawlive.connect(HALF, endpoint=emulator.url) as session:
            await emulator.close_with(1011, "The service is currently unavailable.")
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert info.value.code == 1011 and info.value.hint and "overloaded" in info.value.hint


async def test_no_resumable_handle_between_a_user_turn_and_its_reply() -> None:
    # With a handle after every message, the update that follows the text
    # turn comes while its reply is under way: resuming from it would skip
    # the reply, so it must not be resumable. The one after turnComplete is.
    setup = msgspec.json.encode({"setup": {"model": HALF, "sessionResumption": {}}})
    async with Emulator(speed=0, resumption_interval=1) as emulator:
        async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
            await ws.send(setup)
            assert msgspec.json.decode(await ws.recv()) == {"setupComplete": {}}
            await ws.send(b'{"realtimeInput":{"text":"hi"}}')
            before: list[Any] = []
            while True:
                message = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 5))
                if message.get("serverContent", {}).get("turnComplete"):
                    break
                before.append(message)
            after = msgspec.json.decode(await asyncio.wait_for(ws.recv(), 5))
    updates = [m["sessionResumptionUpdate"] for m in before if "sessionResumptionUpdate" in m]
    assert updates and not any(u.get("resumable") for u in updates)
    assert after["sessionResumptionUpdate"]["resumable"] is True
