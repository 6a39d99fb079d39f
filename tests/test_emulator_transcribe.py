"""The emulator's Transcribe Live and translation models (PROTOCOL.md §10.8-§10.9) over a socket."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from typing import Any

import msgspec
import pytest
import websockets

from rawlive.core import models
from rawlive.media import audio
from rawlive.servers.emulator import Emulator, transcribe
from rawlive.servers.emulator.script import Script, Turn
from rawlive.wire import codec
from rawlive.wire import types as t

TRANSCRIBE = "gemini-3.5-transcribe-live"
TRANSLATE = "gemini-3.5-live-translate-preview"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
INVALID = (1007, "Request contains an invalid argument.")
SILENCE_20MS = bytes(640)
MANUAL = {"automaticActivityDetection": {"disabled": True}}

Messages = list[dict[str, Any]]


def _stt_setup(**fields: Any) -> dict[str, Any]:
    return {
        "model": f"models/{TRANSCRIBE}",
        "generationConfig": {"responseModalities": ["TEXT"]},
        "inputAudioTranscription": {},
        **fields,
    }


def _translate_setup(echo: bool | None = None, **fields: Any) -> dict[str, Any]:
    config: dict[str, Any] = {"targetLanguageCode": "pl"}
    if echo is not None:
        config["echoTargetLanguage"] = echo
    return {
        "model": f"models/{TRANSLATE}",
        "generationConfig": {"responseModalities": ["AUDIO"], "translationConfig": config},
        "inputAudioTranscription": {},
        "outputAudioTranscription": {},
        **fields,
    }


def _audio(pcm: bytes) -> list[bytes]:
    """``pcm`` (16 kHz) as realtimeInput audio frames of 20 ms."""
    return [
        codec.encode_client_message(
            t.LiveClientMessage(
                realtime_input=t.LiveClientRealtimeInput(
                    audio=t.Blob(data=pcm[i : i + 640], mime_type="audio/pcm;rate=16000")
                )
            )
        )
        for i in range(0, len(pcm), 640)
    ]


def _speech(ms: int) -> bytes:
    return audio.tone(ms, rate=16_000)


def _frame(message: dict[str, Any]) -> bytes:
    return msgspec.json.encode(message)


START = _frame({"realtimeInput": {"activityStart": {}}})
END = _frame({"realtimeInput": {"activityEnd": {}}})
STREAM_END = _frame({"realtimeInput": {"audioStreamEnd": True}})


async def _run(
    emulator: Emulator,
    setup: dict[str, Any],
    frames: list[bytes],
    until: Callable[[Messages], bool] = lambda _: False,
    timeout: float = 3.0,
) -> tuple[Messages, int | None, str]:
    """Connect, send ``setup`` then ``frames``; read until ``until``, a close or ``timeout``."""
    received: Messages = []
    async with websockets.connect(emulator.url + PATH) as ws:
        await ws.send(_frame({"setup": setup}))

        async def read() -> None:
            async for payload in ws:
                received.append(msgspec.json.decode(payload))
                if until(received):
                    return

        reader = asyncio.ensure_future(read())
        try:
            for frame in frames:
                await ws.send(frame)
        except websockets.ConnectionClosed:
            pass
        done, _ = await asyncio.wait([reader], timeout=timeout)
        if not done:
            reader.cancel()
        elif reader.exception() is not None and not isinstance(
            reader.exception(), websockets.ConnectionClosed
        ):
            raise reader.exception()  # type: ignore[misc]
    if received and received[0] == {"setupComplete": {}}:
        del received[0]
    return received, ws.close_code, ws.close_reason or ""


def _content(messages: Messages, key: str) -> list[Any]:
    return [m["serverContent"][key] for m in messages if key in m.get("serverContent", {})]


def _activity(messages: Messages) -> list[tuple[str, float]]:
    return [
        (m["voiceActivity"]["type"], float(m["voiceActivity"]["audioOffset"].rstrip("s")))
        for m in messages
        if "voiceActivity" in m
    ]


def _ended(messages: Messages) -> bool:
    return any(m.get("voiceActivity", {}).get("type") == "ACTIVITY_END" for m in messages)


def _turn_complete(messages: Messages) -> bool:
    return any(m.get("serverContent", {}).get("turnComplete") for m in messages)


# -- Transcribe Live: setup ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("generation", "reason"),
    [
        ({}, INVALID[1]),
        (
            {"responseModalities": ["AUDIO"]},
            "The requested combination of response modalities (AUDIO) is not supported",
        ),
    ],
)
async def test_transcribe_live_needs_the_text_modality(
    generation: dict[str, Any], reason: str
) -> None:
    async with Emulator() as emulator:
        received, code, text = await _run(
            emulator, {"model": f"models/{TRANSCRIBE}", "generationConfig": generation}, []
        )
    assert received == [] and code == 1007 and reason in text


# -- Transcribe Live: an utterance ---------------------------------------------------------------


async def test_an_utterance_gives_growing_interims_one_final_then_generation_complete() -> None:
    script = Script(turns=[Turn(input_transcription="zorblex the quaxil.")])
    setup = _stt_setup(inputAudioTranscription={"customVocabulary": ["Zorblex"]})
    frames = _audio(_speech(1200) + SILENCE_20MS * 50)  # 1 s of silence ends it
    async with Emulator(script=script, speed=0) as emulator:
        received, _, _ = await _run(emulator, setup, frames, _ended)
    interims = [x["text"] for x in _content(received, "interimInputTranscription")]
    # Each interim is the whole utterance so far (replace, don't append), growing.
    assert interims == ["zorblex", "zorblex the", "zorblex the quaxil"]
    # One final, from a second pass: as said, the vocabulary's spelling.
    assert _content(received, "inputTranscription") == [
        {"text": "Zorblex the quaxil.", "languageCode": "en"}
    ]
    keys = [next(iter(m["serverContent"])) if m["serverContent"] else "" for m in received]
    assert keys.index("inputTranscription") + 1 == keys.index("generationComplete")
    # Voice activity on the edges, beside an empty serverContent, offsets in the stream.
    activity = _activity(received)
    assert [kind for kind, _ in activity] == ["ACTIVITY_START", "ACTIVITY_END"]
    assert activity[0][1] < 0.05 and abs(activity[1][1] - 1.2) < 0.05
    assert all(m["serverContent"] == {} for m in received if "voiceActivity" in m)
    assert received[-1].get("voiceActivity", {}).get("type") == "ACTIVITY_END"
    # No reply: no modelTurn, no audio, no turnComplete.
    assert not _content(received, "modelTurn") and not _content(received, "turnComplete")


@pytest.mark.parametrize(
    ("mode", "final"),
    [
        ("SMART", "So the Zorblex flies."),
        ("VERBATIM", "Um, so the uh Zorblex flies."),
        (None, "Um, so the uh Zorblex flies."),
    ],
)
async def test_smart_mode_drops_simple_disfluencies(mode: str | None, final: str) -> None:
    script = Script(turns=[Turn(input_transcription="Um, so the uh zorblex flies.")])
    config: dict[str, Any] = {"customVocabulary": ["Zorblex"]}
    if mode is not None:
        config["mode"] = mode
    frames = [*_audio(_speech(2000)), STREAM_END]
    async with Emulator(script=script, speed=0) as emulator:
        received, _, _ = await _run(
            emulator, _stt_setup(inputAudioTranscription=config), frames, _ended
        )
    interims = [x["text"] for x in _content(received, "interimInputTranscription")]
    assert interims[-1] == "um so the uh zorblex flies"  # the first pass hears them all
    assert [x["text"] for x in _content(received, "inputTranscription")] == [final]


async def test_audio_stream_end_flushes_the_final_without_trailing_silence() -> None:
    async with Emulator(speed=0) as emulator:
        received, _, _ = await _run(
            emulator,
            _stt_setup(inputAudioTranscription={"languageCodes": ["en-US"]}),
            [*_audio(_speech(600)), STREAM_END],
            _ended,
        )
    # No script: the emulator's own wording, in the setup's language.
    assert _content(received, "inputTranscription") == [
        {"text": transcribe.DEFAULT_SAID, "languageCode": "en-US"}
    ]
    assert _content(received, "generationComplete") == [True]
    assert abs(_activity(received)[-1][1] - 0.6) < 0.05


async def test_manual_activity_silence_gets_only_the_end_echo_and_speech_a_final() -> None:
    script = Script(turns=[Turn(input_transcription="Hello there.", language_code="en-GB")])
    frames = [
        START,
        *_audio(SILENCE_20MS * 20),
        END,  # a silent activity: 0.0-0.4 s
        START,
        *_audio(SILENCE_20MS * 10 + _speech(600)),
        END,  # voiced from 0.6 s, ends at 1.2 s
    ]
    async with Emulator(script=script, speed=0) as emulator:
        received, _, _ = await _run(
            emulator,
            _stt_setup(realtimeInputConfig=MANUAL),
            frames,
            lambda got: len([m for m in got if "voiceActivity" in m]) == 3,
        )
    activity = _activity(received)
    assert [kind for kind, _ in activity] == ["ACTIVITY_END", "ACTIVITY_START", "ACTIVITY_END"]
    assert abs(activity[0][1] - 0.4) < 0.03
    assert abs(activity[1][1] - 0.6) < 0.03 and abs(activity[2][1] - 1.2) < 0.03
    # The silent activity got nothing else; the voiced one is the script's first turn.
    first_end = next(i for i, m in enumerate(received) if "voiceActivity" in m)
    assert received[:first_end] == []
    assert _content(received, "inputTranscription") == [
        {"text": "Hello there.", "languageCode": "en-GB"}
    ]
    assert [x["text"] for x in _content(received, "interimInputTranscription")] == [
        "hello",
        "hello there",
    ]


# -- Transcribe Live: the session limit ----------------------------------------------------------


async def test_the_session_limit_sends_go_away_then_closes_with_deadline_expired() -> None:
    async with Emulator(session_limit=0.6, goaway_lead=10) as emulator:
        received, code, reason = await _run(emulator, _stt_setup(), [], timeout=3)
    assert received == [{"goAway": {"timeLeft": "0.300s"}}]
    assert code == 1011 and reason == "Deadline expired before operation could complete."


async def test_the_models_own_limit_is_the_default() -> None:
    short = dataclasses.replace(models.MODELS[TRANSCRIBE], session_limit=0.4)
    async with Emulator(models=[short]) as emulator:
        _, code, reason = await _run(emulator, _stt_setup(), [], timeout=3)
    assert code == 1011 and "Deadline expired" in reason
    assert models.MODELS[TRANSCRIBE].session_limit == 600.0  # PROTOCOL.md §10.8


# -- both models: audio only ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup", [_stt_setup(), _translate_setup()], ids=["transcribe", "translate"]
)
@pytest.mark.parametrize(
    "message",
    [
        {"realtimeInput": {"text": "hello"}},
        {"realtimeInput": {"video": {"data": "AAAA", "mimeType": "image/jpeg"}}},
        {"clientContent": {"turns": [{"role": "user", "parts": [{"text": "hi"}]}]}},
        {"clientContent": {"turnComplete": True}},
    ],
    ids=["text", "video", "client-content", "turn-complete"],
)
async def test_input_other_than_audio_closes_with_1007(
    setup: dict[str, Any], message: dict[str, Any]
) -> None:
    async with Emulator() as emulator:
        received, code, reason = await _run(emulator, setup, [_frame(message)])
    assert received == [] and (code, reason) == INVALID


# -- translation ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "setup",
    [
        {"model": f"models/{TRANSLATE}", "generationConfig": {"responseModalities": ["AUDIO"]}},
        _translate_setup(tools=[{"functionDeclarations": [{"name": "f"}]}]),
        _translate_setup(systemInstruction={"parts": [{"text": "Translate."}]}),
        {
            **_translate_setup(),
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "translationConfig": {"targetLanguageCode": "pl"},
                "thinkingConfig": {"thinkingLevel": "LOW"},
            },
        },
    ],
    ids=["no-translation-config", "tools", "system-instruction", "thinking"],
)
async def test_translation_refuses_these_setups_with_1007(setup: dict[str, Any]) -> None:
    async with Emulator() as emulator:
        received, code, reason = await _run(emulator, setup, [])
    assert received == [] and code == 1007
    # PROTOCOL.md §10.3: no wording recorded; thinking gets the "Unknown name" kind (§10.14).
    assert reason == INVALID[1] or reason.startswith("Invalid JSON payload received. Unknown name")


@pytest.mark.parametrize(
    "fields",
    [
        {"tools": [{"functionDeclarations": [{"name": "f"}]}]},
        {
            "generationConfig": {
                "responseModalities": ["TEXT"],
                "thinkingConfig": {"thinkingLevel": "LOW"},
            }
        },
    ],
    ids=["tools", "thinking"],
)
async def test_transcribe_live_refuses_tools_and_thinking_with_1007(fields: dict[str, Any]) -> None:
    # PROTOCOL.md §10.2: no tools, no thinking on Transcribe Live (INF, §10.3).
    async with Emulator() as emulator:
        received, code, _ = await _run(emulator, _stt_setup(**fields), [])
    assert received == [] and code == 1007


def _audio_bytes(messages: Messages) -> int:
    import base64

    return sum(
        len(base64.b64decode(part["inlineData"]["data"]))
        for content in _content(messages, "modelTurn")
        for part in content["parts"]
    )


async def test_each_utterance_is_translated_and_closed_by_its_own_turn_complete() -> None:
    script = Script(turns=[Turn(input_transcription="Good morning.")])
    frames = [*_audio(_speech(800)), STREAM_END, *_audio(_speech(400)), STREAM_END]
    async with Emulator(script=script, speed=0) as emulator:
        received, _, _ = await _run(
            emulator,
            _translate_setup(),
            frames,
            lambda got: len(_content(got, "turnComplete")) == 2,
        )
    assert [x["text"] for x in _content(received, "inputTranscription")] == [
        "Good morning.",
        transcribe.DEFAULT_SAID,  # past the script: the emulator's own wording
    ]
    assert [x["text"] for x in _content(received, "outputTranscription")] == [
        "[pl] Good morning.",
        f"[pl] {transcribe.DEFAULT_SAID}",
    ]
    # The translated audio is the emulator's reply audio: the speech echoed at 24 kHz.
    assert abs(_audio_bytes(received) / 48_000 - 1.2) < 0.1
    assert not any("interactionStatus" in m.get("serverContent", {}) for m in received)
    first = next(
        i for i, m in enumerate(received) if m.get("serverContent", {}).get("turnComplete")
    )
    assert _content(received[:first], "generationComplete") == [True]
    assert "usageMetadata" in received[first]


@pytest.mark.parametrize(("echo", "speaks"), [(True, True), (False, False), (None, False)])
async def test_speech_in_the_target_language_is_repeated_only_with_echo(
    echo: bool | None, speaks: bool
) -> None:
    script = Script(turns=[Turn(input_transcription="Dzień dobry.", language_code="pl-PL")])
    async with Emulator(script=script, speed=0) as emulator:
        received, _, _ = await _run(
            emulator, _translate_setup(echo), [*_audio(_speech(600)), STREAM_END], _turn_complete
        )
    assert [x["text"] for x in _content(received, "inputTranscription")] == ["Dzień dobry."]
    assert _turn_complete(received)
    if speaks:
        assert _audio_bytes(received) > 0
        assert [x["text"] for x in _content(received, "outputTranscription")] == [
            "[pl] Dzień dobry."
        ]
    else:
        assert _audio_bytes(received) == 0 and not _content(received, "outputTranscription")


async def test_new_speech_does_not_interrupt_a_translation_they_queue() -> None:
    frames = [*_audio(_speech(800)), STREAM_END, *_audio(_speech(400)), STREAM_END]
    async with Emulator(speed=4.0) as emulator:  # the first translation still plays
        received, _, _ = await _run(
            emulator,
            _translate_setup(
                realtimeInputConfig={"activityHandling": "START_OF_ACTIVITY_INTERRUPTS"}
            ),
            frames,
            lambda got: len(_content(got, "turnComplete")) == 2,
        )
    assert not _content(received, "interrupted")
    events = [
        key
        for m in received
        for key in m.get("serverContent", {})
        if key in ("inputTranscription", "turnComplete")
    ]
    assert events == ["inputTranscription", "turnComplete"] * 2
    assert abs(_audio_bytes(received) / 48_000 - 1.2) < 0.1
