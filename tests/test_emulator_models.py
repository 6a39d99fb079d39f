"""The emulator per model: 3.8 Live and 3.8 extended thinking (PROTOCOL.md §10.2-§10.7, §10.15).

Every test runs against the emulator over a real socket: setups refused by
the row, calls that do not block, blocking calls cancelled by new input,
function-response scheduling, clientContent roles and interruptions, and
extended thinking's filler turn and ``interactionStatus``.
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

import rawlive
from rawlive.core import models
from rawlive.media import audio
from rawlive.servers.emulator import Emulator
from rawlive.servers.emulator.script import load_script
from rawlive.wire import codec
from rawlive.wire import types as t

LIVE = "models/gemini-3.8-live"
ET = "models/gemini-3.8-live-extended-thinking"
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
SPOKEN = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "weather-16k-mono.wav"
MANUAL = {"realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}}}
OUT_TX = {"outputAudioTranscription": {}}
START = {"realtimeInput": {"activityStart": {}}}
END = {"realtimeInput": {"activityEnd": {}}}
AUDIO = {
    "realtimeInput": {
        "audio": {"data": base64.b64encode(bytes(640)).decode(), "mimeType": "audio/pcm;rate=16000"}
    }
}
QUIET = 0.3  # how long "nothing arrives" is waited for

#: A whole JPEG frame (the emulator closes 1007 on one that is not, issue 17).
JPEG = base64.b64encode(
    (
        Path(__file__).resolve().parent.parent / "fixtures" / "images" / "testsrc-320x240.jpg"
    ).read_bytes()
).decode()


def _script(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "script.toml"
    path.write_text(textwrap.dedent(text))
    return load_script(path)


def _tools(*declarations: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [{"functionDeclarations": list(declarations)}]}


class Wire:
    """A raw client: sends JSON, keeps every server message it reads."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws
        self.seen: list[dict[str, Any]] = []

    async def send(self, message: dict[str, Any]) -> None:
        await self.ws.send(json.dumps(message))

    async def until(self, key: str, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The messages read up to and including the next one with ``key``
        at its top or in its ``serverContent``."""
        got: list[dict[str, Any]] = []
        while True:
            message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            got.append(message)
            self.seen.append(message)
            if key in message or key in message.get("serverContent", {}):
                return got

    async def quiet(self) -> None:
        """Nothing arrives for a while."""
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(self.ws.recv(), QUIET)

    async def turn(self) -> None:
        """One manual-activity user turn with a little audio."""
        await self.send(START)
        await self.send(AUDIO)
        await self.send(END)


async def _open(emulator: Emulator, setup: dict[str, Any]) -> tuple[Any, Wire]:
    ws = await websockets.connect(emulator.url + GEMINI_PATH)
    wire = Wire(ws)
    await wire.send({"setup": setup})
    await wire.until("setupComplete")
    return ws, wire


def _texts(messages: list[dict[str, Any]]) -> list[str]:
    return [
        m["serverContent"]["outputTranscription"]["text"]
        for m in messages
        if "outputTranscription" in m.get("serverContent", {})
    ]


def _audio(messages: list[dict[str, Any]]) -> int:
    return sum(
        len(base64.b64decode(part["inlineData"]["data"]))
        for m in messages
        for part in m.get("serverContent", {}).get("modelTurn", {}).get("parts", [])
    )


def _turn_completes(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [m for m in messages if m.get("serverContent", {}).get("turnComplete")]


# -- 1. sessions end to end, and the setups each row refuses ------------------------------------


@pytest.mark.parametrize(("model", "status"), [(LIVE, None), (ET, t.InteractionStatus.IDLE)])
async def test_a_38_session_answers_an_audio_turn(model: str, status: str | None) -> None:
    speech = b"".join(audio.iter_pcm(SPOKEN))
    async with Emulator(speed=0) as emulator:
        async with rawlive.connect(model, endpoint=emulator.url) as session:
            for offset in range(0, len(speech), 1280):
                await session.send_realtime_input(
                    audio=t.Blob(data=speech[offset : offset + 1280], mime_type="audio/pcm")
                )
            await session.send_realtime_input(audio_stream_end=True)
            messages: list[t.LiveServerMessage] = []
            async for message in session.receive():
                messages.append(message)
                if message.server_content and message.server_content.turn_complete:
                    break
    assert sum(len(m.data or b"") for m in messages) > 24_000  # the echo, at 24 kHz
    # PROTOCOL.md §10.6, §10.15.7: generationComplete alone, then turnComplete
    # with usageMetadata (and, on extended thinking only, interactionStatus).
    *_, before, last = messages
    assert before.server_content == t.LiveServerContent(generation_complete=True)
    assert before.usage_metadata is None
    assert last.server_content == t.LiveServerContent(turn_complete=True, interaction_status=status)
    assert last.usage_metadata is not None and last.usage_metadata.response_token_count


VERTEX_PATH = "/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"
VERTEX_LIVE = "projects/p/locations/us-central1/publishers/google/models/gemini-3.8-live"
# What 3.8 refuses (§10.3, §10.15.2) is refused on both backends; extended
# thinking is on the Gemini API only (§10.1).
_REFUSED_38 = [
    {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
    {"generationConfig": {"enableAffectiveDialog": True}},
    {"proactivity": {"proactiveAudio": False}},
    {"generationConfig": {"responseModalities": ["TEXT"]}},
    {"tools": [{"codeExecution": {}}]},
    {"tools": [{"urlContext": {}}]},
    {"tools": [{"googleMaps": {}}]},
    {"tools": [{"fileSearch": {}}]},
]
REFUSED = [
    *[(LIVE, fields) for fields in _REFUSED_38],
    *[(VERTEX_LIVE, fields) for fields in _REFUSED_38],
    (ET, {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}}),
    (ET, {"generationConfig": {"thinkingConfig": {"thinkingBudget": 1024}}}),
    (ET, _tools({"name": "lookup", "behavior": "BLOCKING"})),
    (ET, {"generationConfig": {"enableAffectiveDialog": True}}),
    (ET, {"proactivity": {"proactiveAudio": False}}),
    (ET, {"generationConfig": {"responseModalities": ["TEXT"]}}),
    (ET, {"generationConfig": {"responseModalities": ["VIDEO"]}, "avatarConfig": {}}),
    (ET, {"tools": [{"codeExecution": {}}]}),
]


@pytest.mark.parametrize(("model", "fields"), REFUSED)
async def test_each_refusal_of_10_3_closes_with_the_rows_code_and_reason(
    model: str, fields: dict[str, Any]
) -> None:
    setup = {"model": model, **fields}
    row = models.find(model)
    assert row is not None
    backend = "vertex" if model.startswith("projects/") else "gemini"
    rejection = row.refusal(codec.convert(setup, t.LiveClientSetup), backend)
    assert rejection is not None and rejection.code == 1007
    path = VERTEX_PATH if backend == "vertex" else GEMINI_PATH
    async with Emulator() as emulator:
        async with websockets.connect(emulator.url + path) as ws:
            await ws.send(json.dumps({"setup": setup}))
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
    assert (ws.close_code, ws.close_reason) == (rejection.code, rejection.reason)


@pytest.mark.parametrize(
    ("model", "fields"),
    [
        (LIVE, {"proactivity": {"proactiveAudio": True}}),
        (LIVE, {"tools": [{"googleSearch": {}}]}),
        (LIVE, _tools({"name": "lookup", "behavior": "BLOCKING"})),
        (LIVE, {"generationConfig": {"responseModalities": ["AUDIO"]}}),
        (LIVE, {"realtimeInputConfig": {"turnCoverage": "TURN_INCLUDES_ONLY_ACTIVITY"}}),
        (LIVE, {"historyConfig": {"initialHistoryInClientContent": True}}),
        (LIVE, {"contextWindowCompression": {"slidingWindow": {}}, "sessionResumption": {}}),
        (ET, {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}}),
        (ET, {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MEDIUM"}}}),
        (ET, {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}}),
        (ET, {"tools": [{"googleSearch": {}}], "proactivity": {"proactiveAudio": True}}),
        (ET, _tools({"name": "lookup", "behavior": "NON_BLOCKING"})),
    ],
)
async def test_what_38_takes_is_accepted(model: str, fields: dict[str, Any]) -> None:
    async with Emulator() as emulator:
        ws, wire = await _open(emulator, {"model": model, **fields})
        await ws.close()
    assert wire.seen == [{"setupComplete": {}}]


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"generationConfig": {"mediaResolution": "MEDIA_RESOLUTION_LOW"}},
        {"generationConfig": {"mediaResolution": "MEDIA_RESOLUTION_HIGH"}},
        {"inputAudioTranscription": {"customVocabulary": ["Zorblex"]}},
        {
            "generationConfig": {
                "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}}
            }
        },
        {"proactivity": {"proactiveAudio": True}},
    ],
    ids=["plain", "media-low", "media-high", "custom-vocabulary", "voice", "proactive"],
)
async def test_what_38_takes_on_vertex_is_accepted(fields: dict[str, Any]) -> None:
    # PROTOCOL.md §10.2 Vertex deltas: mediaResolution, customVocabulary, prebuilt voices.
    async with Emulator() as emulator:
        async with websockets.connect(emulator.url + VERTEX_PATH) as ws:
            await ws.send(json.dumps({"setup": {"model": VERTEX_LIVE, **fields}}))
            done = json.loads(await asyncio.wait_for(ws.recv(), 5))
    assert list(done) == ["setupComplete"] and "sessionId" in done["setupComplete"]


@pytest.mark.parametrize("model", [LIVE, ET])
async def test_38_takes_text_image_audio_and_video_input(model: str) -> None:
    # PROTOCOL.md §10.2 input modalities: text, image, audio, video (JPEG frames).
    frame = {"realtimeInput": {"video": {"data": JPEG, "mimeType": "image/jpeg"}}}
    image = {
        "clientContent": {
            "turns": [
                {
                    "role": "user",
                    "parts": [{"inlineData": {"data": "AAAA", "mimeType": "image/png"}}],
                }
            ],
            "turnComplete": False,
        }
    }
    async with Emulator(speed=0) as emulator:
        ws, wire = await _open(emulator, {"model": model, **MANUAL})
        async with ws:
            await wire.send(frame)
            await wire.send(image)
            await wire.turn()
            audio_turn = await wire.until("turnComplete")
            await wire.send({"realtimeInput": {"text": "and now?"}})
            text_turn = await wire.until("turnComplete")
    assert _audio(audio_turn) > 0 and _audio(text_turn) > 0


FRAME = {"realtimeInput": {"video": {"data": JPEG, "mimeType": "image/jpeg"}}}


@pytest.mark.parametrize(
    ("model", "coverage", "frames"),
    [
        (LIVE, None, 3),  # 3.8's default: all video, in activity or not (§10.15.2)
        (ET, None, 3),
        (LIVE, "TURN_INCLUDES_ONLY_ACTIVITY", 1),
        (LIVE, "TURN_INCLUDES_ALL_INPUT", 3),
        ("models/gemini-live-2.5-flash-native-audio", None, 1),  # 2.5's default: activity only
    ],
)
async def test_the_video_a_turn_holds_follows_its_turn_coverage(
    model: str, coverage: str | None, frames: int
) -> None:
    config: dict[str, Any] = {"automaticActivityDetection": {"disabled": True}}
    if coverage is not None:
        config["turnCoverage"] = coverage
    async with Emulator(speed=0) as emulator:
        ws, wire = await _open(emulator, {"model": model, "realtimeInputConfig": config})
        async with ws:
            await wire.send(FRAME)  # two frames before the user speaks
            await wire.send(FRAME)
            await wire.send(START)
            await wire.send(FRAME)  # one while they speak
            await wire.send(AUDIO)
            await wire.send(END)
            reply = await wire.until("turnComplete")
            await wire.turn()  # the next turn starts afresh: no frame
            after = await wire.until("turnComplete")
    details = {
        d["modality"]: d["tokenCount"] for d in reply[-1]["usageMetadata"]["promptTokensDetails"]
    }
    assert details["VIDEO"] == frames * 258
    later = after[-1]["usageMetadata"].get("promptTokensDetails", [])
    assert "VIDEO" not in {d["modality"] for d in later}


# -- 2.-4. function calls: non-blocking by default, blocking ones cancelled, scheduling ---------

CALL_THEN_SECOND = """
    speed = {speed}
    [[turns]]
      [[turns.tool_calls]]
      name = "lookup"
      id = "fc-1"
      [turns.after_tool]
      output_transcription = "the answer"
      tone_ms = 100
    [[turns]]
    output_transcription = "second"
    tone_ms = {second_ms}
"""


def _call_script(tmp_path: Path, speed: float = 0, second_ms: int = 100) -> Any:
    return _script(tmp_path, CALL_THEN_SECOND.format(speed=speed, second_ms=second_ms))


def _response(scheduling: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"id": "fc-1", "name": "lookup", "response": {"output": 24}}
    if scheduling is not None:
        response["scheduling"] = scheduling
    return {"toolResponse": {"functionResponses": [response]}}


async def test_38_takes_speech_while_a_non_blocking_call_runs_and_answers_after_the_result(
    tmp_path: Path,
) -> None:
    # No behavior declared: NON_BLOCKING on 3.8 (§10.5). Strict mode would
    # close on audio during a blocking call; this one does not block.
    setup = {"model": LIVE, **MANUAL, **OUT_TX, **_tools({"name": "lookup"})}
    async with Emulator(script=_call_script(tmp_path), strict=True) as emulator:
        ws, wire = await _open(emulator, setup)
        async with ws:
            await wire.turn()
            await wire.until("toolCall")
            await wire.quiet()  # plain 3.8 waits for the result (§10.15.4)
            await wire.turn()  # the user talks on: nothing is cancelled
            second = await wire.until("turnComplete")
            await wire.send(_response())
            answer = await wire.until("turnComplete")
    assert _texts(second) == ["second"]
    assert not any(
        "toolCallCancellation" in m or m.get("serverContent", {}).get("interrupted") for m in second
    )
    assert _texts(answer) == ["the answer"] and _audio(answer) == 100 * 48
    # Plain 3.8 never sends interactionStatus (§10.6).
    assert not any("interactionStatus" in m.get("serverContent", {}) for m in wire.seen)


async def test_new_input_cancels_an_unanswered_blocking_call_on_38(tmp_path: Path) -> None:
    setup = {
        "model": LIVE,
        **MANUAL,
        **OUT_TX,
        **_tools({"name": "lookup", "behavior": "BLOCKING"}),
    }
    async with Emulator(script=_call_script(tmp_path), strict=True) as emulator:
        ws, wire = await _open(emulator, setup)
        async with ws:
            await wire.turn()
            await wire.until("toolCall")
            await wire.send(AUDIO)  # new user input: no 1008 abort, a cancellation
            cancelled = await wire.until("toolCallCancellation")
            ended = await wire.until("turnComplete")
            # A late response to the cancelled call is taken silently, even strict.
            await wire.send(_response())
            await wire.turn()
            second = await wire.until("turnComplete")
    assert cancelled[-1] == {"toolCallCancellation": {"ids": ["fc-1"]}}
    assert cancelled[0] == {"serverContent": {"interrupted": True}}
    assert ended == [{"serverContent": {"turnComplete": True}}]
    assert _texts(second) == ["second"]  # the next scripted turn: turn 2


async def test_silent_scheduling_adds_the_result_and_says_nothing(tmp_path: Path) -> None:
    setup = {"model": LIVE, **MANUAL, **OUT_TX}
    async with Emulator(script=_call_script(tmp_path)) as emulator:
        ws, wire = await _open(emulator, setup)
        async with ws:
            await wire.turn()
            await wire.until("toolCall")
            await wire.send(_response("SILENT"))
            after = await wire.until("turnComplete")
    assert _audio(after) == 0 and _texts(after) == []
    assert after[-2] == {"serverContent": {"generationComplete": True}}
    assert "usageMetadata" in after[-1]


@pytest.mark.parametrize("scheduling", [None, "WHEN_IDLE", "INTERRUPT"])
async def test_a_result_arriving_while_the_model_speaks_follows_its_scheduling(
    tmp_path: Path, scheduling: str | None
) -> None:
    setup = {"model": LIVE, **MANUAL, **OUT_TX}
    script = _call_script(tmp_path, speed=2.0, second_ms=2000)
    async with Emulator(script=script) as emulator:
        ws, wire = await _open(emulator, setup)
        async with ws:
            await wire.turn()
            await wire.until("toolCall")
            await wire.turn()
            await wire.until("modelTurn")  # the reply to turn 2 is streaming
            await wire.send(_response(scheduling))
            first = await wire.until("turnComplete")
            then = await wire.until("turnComplete")
    interrupted = any(m.get("serverContent", {}).get("interrupted") for m in first)
    if scheduling == "INTERRUPT":  # it stops and speaks the result
        assert interrupted and _texts(first) == []
    else:  # WHEN_IDLE, the default: once the model is not speaking
        assert not interrupted and _texts(first) == ["second"]
        assert _audio(first) > 0
    assert _texts(then) == ["the answer"]


IMPOLITE = models.Model(
    "impolite-live",
    native_audio=True,
    modalities=frozenset({"AUDIO"}),
    default_behavior="NON_BLOCKING",
)


@pytest.mark.parametrize(("model", "polite"), [(LIVE, True), ("models/impolite-live", False)])
async def test_interrupt_scheduling_waits_for_the_user_to_finish_on_a_polite_row(
    tmp_path: Path, model: str, polite: bool
) -> None:
    setup = {"model": model, **MANUAL, **OUT_TX}
    async with Emulator(script=_call_script(tmp_path), models=[IMPOLITE]) as emulator:
        ws, wire = await _open(emulator, setup)
        async with ws:
            await wire.turn()
            await wire.until("toolCall")
            await wire.send(START)  # the user speaks...
            await wire.send(AUDIO)
            await wire.send(_response("INTERRUPT"))  # ...when the result comes
            if polite:
                await wire.quiet()  # 3.8 waits until the user finishes (§10.5)
                await wire.send(END)
            first = await wire.until("turnComplete")
            if not polite:
                await wire.send(END)
            then = await wire.until("turnComplete")
    # The result is spoken first, then the reply to what the user said.
    assert (_texts(first), _texts(then)) == (["the answer"], ["second"])


async def test_scheduling_is_ignored_for_a_blocking_call(tmp_path: Path) -> None:
    setup = {
        "model": LIVE,
        **MANUAL,
        **OUT_TX,
        **_tools({"name": "lookup", "behavior": "BLOCKING"}),
    }
    async with Emulator(script=_call_script(tmp_path)) as emulator:
        ws, wire = await _open(emulator, setup)
        async with ws:
            await wire.turn()
            await wire.until("toolCall")
            await wire.send(_response("SILENT"))
            after = await wire.until("turnComplete")
    assert _texts(after) == ["the answer"] and _audio(after) == 100 * 48


# -- 5. clientContent on 3.8 -------------------------------------------------------------------


def _content(*turns: dict[str, Any], complete: bool = True) -> dict[str, Any]:
    return {"clientContent": {"turns": list(turns), "turnComplete": complete}}


@pytest.mark.parametrize(
    "turn",
    [{"parts": [{"text": "hi"}]}, {"role": "system", "parts": [{"text": "be brief"}]}],
)
async def test_a_38_client_content_turn_without_user_or_model_role_closes_1007(
    tmp_path: Path, turn: dict[str, Any]
) -> None:
    async with Emulator(speed=0) as emulator:
        ws, wire = await _open(emulator, {"model": LIVE, **MANUAL})
        await wire.turn()
        await wire.until("turnComplete")  # mid-session, after a turn
        await wire.send(_content({"role": "user", "parts": [{"text": "ok"}]}, turn))
        with pytest.raises(websockets.ConnectionClosed):
            await wire.until("turnComplete")
    assert (ws.close_code, ws.close_reason) == (1007, "Request contains an invalid argument.")


async def test_38_client_content_appends_without_turn_complete_and_answers_with_it() -> None:
    async with Emulator(speed=0) as emulator:
        ws, wire = await _open(emulator, {"model": LIVE, **MANUAL})
        async with ws:
            await wire.turn()
            await wire.until("turnComplete")
            history = [
                {"role": "user", "parts": [{"text": "my name is Ada"}]},
                {"role": "model", "parts": [{"text": "hello Ada"}]},
            ]
            await wire.send(_content(*history, complete=False))
            await wire.quiet()  # appended: nothing is said
            await wire.send(_content({"role": "user", "parts": [{"text": "who am I?"}]}))
            reply = await wire.until("turnComplete")
    assert _audio(reply) > 0


async def test_38_client_content_with_turn_complete_interrupts_the_reply(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 2.0
        [[turns]]
        output_transcription = "first"
        tone_ms = 2000
        [[turns]]
        output_transcription = "second"
        tone_ms = 100
        """,
    )
    async with Emulator(script=script) as emulator:
        ws, wire = await _open(emulator, {"model": LIVE, **MANUAL, **OUT_TX})
        async with ws:
            await wire.turn()
            await wire.until("modelTurn")
            await wire.send(_content({"role": "user", "parts": [{"text": "stop, another thing"}]}))
            cut = await wire.until("turnComplete")
            second = await wire.until("turnComplete")
    assert cut[-2:] == [
        {"serverContent": {"interrupted": True}},
        {"serverContent": {"turnComplete": True}},
    ]
    assert _texts(cut) == [] and _texts(second) == ["second"]


@pytest.mark.parametrize("strict", [False, True])
async def test_31_client_content_after_the_history_is_closed_only_in_strict_mode(
    strict: bool,
) -> None:
    # PROTOCOL.md §2.2: a third-party report, so strict only; 3.1 otherwise
    # goes on as before.
    async with Emulator(speed=0, strict=strict) as emulator:
        ws, wire = await _open(
            emulator, {"model": "models/gemini-3.1-flash-live-preview", **MANUAL}
        )
        async with ws:
            await wire.turn()
            await wire.until("turnComplete")
            await wire.send(_content({"role": "user", "parts": [{"text": "hi"}]}))
            if strict:
                with pytest.raises(websockets.ConnectionClosed):
                    await wire.until("turnComplete")
            else:
                assert await wire.until("turnComplete")
    if strict:
        assert (ws.close_code, ws.close_reason) == (1007, "Request contains an invalid argument.")


# -- 6. extended thinking: the filler turn and interactionStatus ---------------------------------


async def test_extended_thinking_speaks_a_filler_then_answers_at_idle(tmp_path: Path) -> None:
    async with Emulator(script=_call_script(tmp_path)) as emulator:
        ws, wire = await _open(emulator, {"model": ET, **MANUAL, **OUT_TX})
        async with ws:
            await wire.turn()
            filler = await wire.until("turnComplete")
            await wire.send(_response())
            answer = await wire.until("turnComplete")
            await wire.turn()
            second = await wire.until("turnComplete")
    # §10.6: filler audio + its transcription, toolCall, generationComplete,
    # turnComplete IN_PROGRESS with usageMetadata.
    kinds = [
        next(iter(m["serverContent"])) if "serverContent" in m else next(iter(m)) for m in filler
    ]
    first_call = kinds.index("toolCall")
    assert set(kinds[: first_call - 1]) == {"modelTurn"} and _audio(filler) > 0
    assert (
        _texts(filler) == ["Checking that now."] and kinds[first_call - 1] == "outputTranscription"
    )
    assert kinds[first_call + 1 :] == ["generationComplete", "turnComplete"]
    assert filler[-1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}
    assert "usageMetadata" in filler[-1]
    assert _texts(answer) == ["the answer"]
    assert answer[-1]["serverContent"] == {"turnComplete": True, "interactionStatus": "IDLE"}
    assert "usageMetadata" in answer[-1]
    # The filler's turnComplete did not end the user's turn: the next one is turn 2.
    assert _texts(second) == ["second"]
    assert second[-1]["serverContent"]["interactionStatus"] == "IDLE"
    # Every turnComplete on extended thinking carries interactionStatus.
    assert all("interactionStatus" in m["serverContent"] for m in _turn_completes(wire.seen))


async def test_extended_thinking_stays_in_progress_while_a_call_is_open(tmp_path: Path) -> None:
    async with Emulator(script=_call_script(tmp_path)) as emulator:
        ws, wire = await _open(emulator, {"model": ET, **MANUAL, **OUT_TX})
        async with ws:
            await wire.turn()
            await wire.until("turnComplete")
            await wire.turn()  # the user talks on while the call runs
            second = await wire.until("turnComplete")
            await wire.send(_response())
            answer = await wire.until("turnComplete")
    assert _texts(second) == ["second"]
    assert second[-1]["serverContent"]["interactionStatus"] == "IN_PROGRESS"
    assert answer[-1]["serverContent"]["interactionStatus"] == "IDLE"


async def test_a_script_gives_extended_thinking_its_filler(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
          [[turns.tool_calls]]
          name = "lookup"
          id = "fc-1"
          [turns.filler]
          output_transcription = "One moment, looking at flights"
          tone_ms = 200
          [turns.after_tool]
          output_transcription = "the answer"
          tone_ms = 100
        """,
    )
    async with Emulator(script=script) as emulator:
        for model, expected in ((ET, ["One moment, looking at flights"]), (LIVE, [])):
            ws, wire = await _open(emulator, {"model": model, **MANUAL, **OUT_TX})
            async with ws:
                await wire.turn()
                before_call = await wire.until("toolCall")
            assert _texts(before_call) == expected, model  # other models ignore it
            assert _audio(before_call) == (200 * 48 if expected else 0), model
