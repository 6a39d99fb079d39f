"""The emulator driven by scripts: replies, transcriptions, tool calls, faults, strict mode,
and the official SDK running a whole session against it over wss://."""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import textwrap
from pathlib import Path
from typing import Any

import pytest
import websockets

import rawlive
from rawlive.media import audio
from rawlive.servers.base import server_ssl_context
from rawlive.servers.emulator import Emulator
from rawlive.servers.emulator.script import load_script
from rawlive.wire import types as t

NATIVE = "gemini-2.5-flash-native-audio-preview-12-2025"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SPOKEN = FIXTURES / "audio" / "weather-16k-mono.wav"
FAST = rawlive.Reconnect(first_delay=0.01, go_away_margin=0.05)
GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
TRANSCRIBE = {"input_audio_transcription": {}, "output_audio_transcription": {}}


def _script(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "script.toml"
    path.write_text(textwrap.dedent(text))
    return load_script(path)


def _speech() -> bytes:
    return b"".join(audio.iter_pcm(SPOKEN))


async def _speak(session: rawlive.Session, pcm: bytes) -> None:
    for offset in range(0, len(pcm), 1280):
        await session.send_realtime_input(
            audio=t.Blob(data=pcm[offset : offset + 1280], mime_type="audio/pcm;rate=16000")
        )
    await session.send_realtime_input(audio_stream_end=True)


async def _turn(session: rawlive.Session) -> list[t.LiveServerMessage]:
    messages = []
    async for message in session.receive():
        messages.append(message)
        if message.tool_call is not None:
            break
        if message.server_content and message.server_content.turn_complete:
            break
    return messages


def _contents(messages: list[t.LiveServerMessage]) -> list[t.LiveServerContent]:
    return [m.server_content for m in messages if m.server_content is not None]


async def test_a_scripted_turn_sends_transcriptions_audio_and_token_counts(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        input_transcription = "What is the weather like in Paris today?"
        output_transcription = "Sunny."
        tone_ms = 500
        usage = { prompt_tokens = 70, response_tokens = 13 }
        """,
    )
    async with Emulator(script=script) as emulator:
        async with rawlive.connect(NATIVE, TRANSCRIBE, endpoint=emulator.url) as session:
            await _speak(session, _speech())
            messages = await asyncio.wait_for(_turn(session), 10)
    contents = _contents(messages)
    assert contents[0].input_transcription == t.Transcription(
        text="What is the weather like in Paris today?"
    )
    assert sum(len(m.data or b"") for m in messages) == 500 * 48
    assert contents[-3].output_transcription == t.Transcription(text="Sunny.")
    assert contents[-2].generation_complete and contents[-1].turn_complete
    usage = messages[-1].usage_metadata
    assert usage is not None
    assert (usage.prompt_token_count, usage.response_token_count) == (70, 13)


async def test_transcriptions_are_sent_only_when_the_setup_asked(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        input_transcription = "hi"
        output_transcription = "hello"
        tone_ms = 100
        """,
    )
    async with Emulator(script=script) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await _speak(session, _speech())
            messages = await asyncio.wait_for(_turn(session), 10)
    contents = _contents(messages)
    assert not any(c.input_transcription or c.output_transcription for c in contents)


async def test_a_tool_call_flow_continues_after_the_response(tmp_path: Path) -> None:
    script = load_script(FIXTURES / "scripts" / "weather.toml")
    async with Emulator(script=script, speed=0) as emulator:
        async with rawlive.connect(NATIVE, TRANSCRIBE, endpoint=emulator.url) as session:
            await _speak(session, _speech())
            first = await asyncio.wait_for(_turn(session), 10)
            call = first[-1].tool_call
            assert call is not None and call.function_calls
            (fc,) = call.function_calls
            assert fc.name == "get_weather" and fc.args == {"city": "Paris", "unit": "celsius"}
            assert fc.id is not None and fc.id.startswith("function-call-")
            assert list(session.tool_calls) == [fc.id]
            await session.send_tool_response(
                function_responses=t.FunctionResponse(id=fc.id, name=fc.name, response={"t": 24})
            )
            rest = await asyncio.wait_for(_turn(session), 10)
    assert sum(len(m.data or b"") for m in rest) == 1200 * 48
    assert any(
        c.output_transcription and "sunny" in (c.output_transcription.text or "").lower()
        for c in _contents(rest)
    )
    assert _contents(rest)[-1].turn_complete and session.tool_calls == {}


async def test_barge_in_cancels_pending_tool_calls(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        [[turns.tool_calls]]
        name = "slow_lookup"
        id = "fc-7"
        """,
    )
    async with Emulator(script=script) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await _speak(session, _speech())
            first = await asyncio.wait_for(_turn(session), 10)
            assert first[-1].tool_call is not None
            await _speak(session, audio.tone(400, rate=16_000))
            rest: list[t.LiveServerMessage] = []
            async for message in session.receive():
                rest.append(message)
                if message.tool_call_cancellation is not None:
                    break
    assert any(c.interrupted for c in _contents(rest))
    assert rest[-1].tool_call_cancellation == t.LiveServerToolCallCancellation(ids=["fc-7"])
    assert session.tool_calls == {}


async def test_strict_mode_closes_on_audio_during_a_blocking_call(tmp_path: Path) -> None:
    script = _script(tmp_path, "speed = 0\n[[turns]]\n[[turns.tool_calls]]\nname = 'f'\n")
    async with Emulator(script=script, strict=True) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await _speak(session, _speech())
            await asyncio.wait_for(_turn(session), 10)
            await session.send_realtime_input(
                audio=t.Blob(data=bytes(640), mime_type="audio/pcm;rate=16000")
            )
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert (info.value.code, info.value.reason) == (1008, "The operation was aborted.")


async def test_strict_mode_closes_on_a_response_to_an_unknown_id() -> None:
    async with Emulator(strict=True) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await session.send_tool_response(
                function_responses=t.FunctionResponse(id="nope", name="f", response={})
            )
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert (info.value.code, info.value.reason) == (1007, "Request contains an invalid argument.")


MANUAL = {"realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}}}
ACTIVITY_START = b'{"realtimeInput":{"activityStart":{}}}'
ACTIVITY_END = b'{"realtimeInput":{"activityEnd":{}}}'
CALL_TURN = "[[turns]]\n[[turns.tool_calls]]\nname = 'f'\nid = 'fc-7'\n"
ONE_CALL = "speed = 0\n" + CALL_TURN


async def _until(ws: Any, key: str) -> dict[str, Any]:
    """The next message with ``key`` at its top or in its ``serverContent``."""
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 5))
        if key in message or key in message.get("serverContent", {}):
            return message


async def test_strict_mode_takes_a_late_response_to_a_call_it_cancelled(tmp_path: Path) -> None:
    # The response may be on its way when the cancellation goes out: the id
    # was issued, so strict mode has nothing to close on (it closes on an id
    # never issued).
    async with Emulator(script=_script(tmp_path, ONE_CALL), strict=True) as emulator:
        async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
            await ws.send(json.dumps({"setup": {"model": NATIVE, **MANUAL}}))
            await _until(ws, "setupComplete")
            await ws.send(ACTIVITY_START)
            await ws.send(ACTIVITY_END)
            await _until(ws, "toolCall")
            await ws.send(ACTIVITY_START)  # barge in: the call is cancelled
            cancelled = await _until(ws, "toolCallCancellation")
            assert cancelled["toolCallCancellation"] == {"ids": ["fc-7"]}
            response = {"functionResponses": [{"id": "fc-7", "name": "f", "response": {}}]}
            await ws.send(json.dumps({"toolResponse": response}))
            await ws.send(ACTIVITY_END)
            assert (await _until(ws, "turnComplete"))["serverContent"]["turnComplete"] is True
            assert await _until(ws, "turnComplete")  # the reply to the second turn


async def test_a_call_left_open_by_a_lost_connection_does_not_block_the_resumed_one(
    tmp_path: Path,
) -> None:
    # The session's tool calls end with the connection that had them: the
    # resumed connection streams audio with none unanswered, even in strict mode.
    script = _script(tmp_path, "speed = 0\n[[turns]]\ntone_ms = 20\n" + CALL_TURN)
    setup = {"model": NATIVE, "sessionResumption": {}, **MANUAL}
    async with Emulator(script=script, strict=True) as emulator:
        async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
            await ws.send(json.dumps({"setup": setup}))
            await _until(ws, "setupComplete")
            await ws.send(ACTIVITY_START)
            await ws.send(ACTIVITY_END)
            await _until(ws, "turnComplete")
            handle = (await _until(ws, "sessionResumptionUpdate"))["sessionResumptionUpdate"]
            assert handle["resumable"] is True
            await ws.send(ACTIVITY_START)
            await ws.send(ACTIVITY_END)
            await _until(ws, "toolCall")  # turn 2: a blocking call, left unanswered
        resumed = {**setup, "sessionResumption": {"handle": handle["newHandle"]}}
        async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
            await ws.send(json.dumps({"setup": resumed}))
            await _until(ws, "setupComplete")
            await ws.send(ACTIVITY_START)
            audio = {"data": base64.b64encode(bytes(640)).decode(), "mimeType": "audio/pcm"}
            await ws.send(json.dumps({"realtimeInput": {"audio": audio}}))
            await ws.send(ACTIVITY_END)
            # Turn 2 again (the handle holds one turn): the call, not a close.
            assert (await _until(ws, "toolCall"))["toolCall"]["functionCalls"][0]["id"] == "fc-7"


async def test_without_strict_those_are_logged_and_the_session_goes_on(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Emulator() as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await session.send_tool_response(
                function_responses=t.FunctionResponse(id="nope", name="f", response={})
            )
            await session.send_realtime_input(text="still here")
            messages = await asyncio.wait_for(_turn(session), 5)
    assert messages and "never issued" in caplog.text


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        ("drop", 1006),
        ('close"\ncode = 1011\nreason = "Internal error occurred.', 1011),
    ],
)
async def test_fault_actions_end_the_connection_as_asked(
    tmp_path: Path, action: str, expected: int
) -> None:
    script = _script(tmp_path, f'[[faults]]\nat = "message:2"\naction = "{action}"\n')
    async with Emulator(script=script) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await session.send_realtime_input(text="one")
            await session.send_realtime_input(text="two")
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert info.value.code == expected


async def test_unknown_message_kinds_from_a_script_are_skipped_by_rawlive(tmp_path: Path) -> None:
    script = _script(tmp_path, '[[faults]]\nat = "after_setup"\naction = "unknown_message"\n')
    async with Emulator(script=script, speed=0, capture_frames=True) as emulator:
        async with rawlive.connect(NATIVE, endpoint=emulator.url) as session:
            await session.send_realtime_input(text="hi")
            messages = await asyncio.wait_for(_turn(session), 5)
    assert messages[-1].server_content and messages[-1].server_content.turn_complete
    frames = [f.payload for f in emulator.connections[0].frames if f.sender == "server"]
    assert b"someFutureMessage" in frames[1]


async def test_a_fault_at_turn_start_drops_mid_reply_and_rawlive_resumes(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        tone_ms = 200
        [[turns]]
        tone_ms = 200
        [[faults]]
        at = "turn:1:start"
        action = "drop"
        """,
    )
    config = {"session_resumption": {}}
    async with Emulator(script=script) as emulator:
        async with rawlive.connect(
            NATIVE, config, endpoint=emulator.url, reconnect=FAST
        ) as session:
            await session.send_realtime_input(text="first")
            seen: list[t.LiveServerMessage] = []
            async for message in session.receive():
                seen.append(message)
                if message.server_content and message.server_content.turn_complete:
                    break
    assert any(isinstance(m, rawlive.SessionResumed) for m in seen)
    # The drop came before any handle: the resume starts a fresh session and
    # replays what the first one may have lost. The session that carries on
    # holds the message once.
    final = list(emulator.sessions.values())[-1]
    texts = [m.realtime_input.text for m in final.consumed if m.realtime_input]
    assert texts == ["first"]


async def test_rawlive_resumes_across_a_scripted_go_away_with_nothing_lost() -> None:
    script = load_script(FIXTURES / "scripts" / "weather.toml")
    config = {"session_resumption": {}, **TRANSCRIBE}
    speech = _speech()
    async with Emulator(script=script, speed=0) as emulator:
        async with rawlive.connect(
            NATIVE, config, endpoint=emulator.url, reconnect=FAST
        ) as session:
            await _speak(session, speech)
            call = (await asyncio.wait_for(_turn(session), 10))[-1].tool_call
            assert call is not None and call.function_calls
            fc = call.function_calls[0]
            await session.send_tool_response(
                function_responses=t.FunctionResponse(id=fc.id, name=fc.name, response={})
            )
            await asyncio.wait_for(_turn(session), 10)
            await _speak(session, speech)
            await asyncio.wait_for(_turn(session), 10)  # turn 2 ends: goAway follows
            resumed = None
            async for message in session.receive():
                if isinstance(message, rawlive.SessionResumed):
                    resumed = message
                    break
            await session.send_realtime_input(text="after the resume")
            await asyncio.wait_for(_turn(session), 10)
    assert resumed is not None and resumed.reason == "go_away"
    (emulated,) = emulator.sessions.values()
    chunks = [
        m.realtime_input.audio.data
        for m in emulated.consumed
        if m.realtime_input and m.realtime_input.audio
    ]
    sent = [speech[i : i + 1280] for i in range(0, len(speech), 1280)]
    assert chunks == sent + sent
    assert emulated.consumed[-1].realtime_input == t.LiveClientRealtimeInput(
        text="after the resume"
    )
    assert len(emulator.connections) == 2


async def test_the_official_sdk_runs_a_whole_session_over_wss(
    tls: tuple[pathlib.Path, pathlib.Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    genai = pytest.importorskip("google.genai")
    from google.genai import types as gt

    ca_file, server_pem = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    script = load_script(FIXTURES / "scripts" / "weather.toml")
    speech = _speech()
    async with Emulator(script=script, speed=0, ssl=server_ssl_context(server_pem)) as emulator:
        client = genai.Client(
            api_key="TEST_KEY",
            http_options={"base_url": f"https://127.0.0.1:{emulator.port}"},
        )
        config = gt.LiveConnectConfig(
            response_modalities=["AUDIO"],
            input_audio_transcription=gt.AudioTranscriptionConfig(),
            output_audio_transcription=gt.AudioTranscriptionConfig(),
        )
        received: list[Any] = []
        async with client.aio.live.connect(model=NATIVE, config=config) as session:

            async def speak() -> None:
                for offset in range(0, len(speech), 1280):
                    await session.send_realtime_input(
                        audio=gt.Blob(
                            data=speech[offset : offset + 1280], mime_type="audio/pcm;rate=16000"
                        )
                    )
                await session.send_realtime_input(audio_stream_end=True)

            await speak()
            async for message in session.receive():  # ends at the toolCall's turn? no: loop
                received.append(message)
                if message.tool_call:
                    break
            call = received[-1].tool_call.function_calls[0]
            await session.send_tool_response(
                function_responses=[
                    gt.FunctionResponse(id=call.id, name=call.name, response={"t": 24})
                ]
            )
            async for message in session.receive():  # the SDK's receive ends at turnComplete
                received.append(message)
            await speak()
            async for message in session.receive():
                received.append(message)
            async for message in session.receive():  # goAway comes after turn 2
                received.append(message)
                if message.go_away:
                    break
    audio_bytes = sum(len(m.data or b"") for m in received)
    assert audio_bytes == (1200 + 800) * 48
    assert any(m.server_content and m.server_content.input_transcription for m in received)
    assert any(m.server_content and m.server_content.output_transcription for m in received)
    assert received[-1].go_away is not None and received[-1].go_away.time_left == "2s"
    assert emulator.connections[0].path.endswith("BidiGenerateContent")


@pytest.mark.parametrize(("ping_timeout", "survives"), [(0.15, False), (2.0, True)])
async def test_late_pongs_trip_a_short_ping_timeout_but_not_a_tolerant_one(
    tmp_path: Path, ping_timeout: float, survives: bool
) -> None:
    script = _script(
        tmp_path, '[[faults]]\nat = "after_setup"\naction = "late_pongs"\ndelay_s = 0.5\n'
    )
    async with Emulator(script=script) as emulator:
        async with rawlive.connect(
            NATIVE, endpoint=emulator.url, ping_interval=0.05, ping_timeout=ping_timeout
        ) as session:
            await asyncio.sleep(0.8)
            if survives:
                await session.send_realtime_input(text="still here")
                messages = await asyncio.wait_for(_turn(session), 5)
                assert messages[-1].server_content and messages[-1].server_content.turn_complete
            else:
                with pytest.raises(rawlive.LiveConnectionClosed) as info:
                    async for _ in session.receive():
                        pass
                assert info.value.code == 1011 and "keepalive" in info.value.reason
