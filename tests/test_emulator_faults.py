"""The emulator's turn faults over a socket (issue 16): stalls, empty and cut replies,
speech with no answer, a turn ended early, a final transcription dropped, and their
probabilities drawn from a seeded generator."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest
import websockets

from rawlive.media import audio
from rawlive.servers.emulator import Emulator
from rawlive.servers.emulator.faults import TurnFaults
from rawlive.servers.emulator.script import Script, load_script

NATIVE = "gemini-2.5-flash-native-audio-preview-12-2025"
TRANSCRIBE_MODEL = "gemini-3.5-transcribe-live"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
ROOT = Path(__file__).resolve().parent.parent
TX = {"inputAudioTranscription": {}, "outputAudioTranscription": {}}

Message = dict[str, Any]


def _script(tmp_path: Path, text: str) -> Script:
    path = tmp_path / "script.toml"
    path.write_text(textwrap.dedent(text))
    return load_script(path)


def _text(words: str) -> str:
    return json.dumps({"realtimeInput": {"text": words}})


def _audio_frames(pcm: bytes) -> list[str]:
    """``pcm`` (16 kHz) as realtimeInput audio messages of 20 ms."""
    return [
        json.dumps(
            {
                "realtimeInput": {
                    "audio": {
                        "data": base64.b64encode(pcm[i : i + 640]).decode(),
                        "mimeType": "audio/pcm;rate=16000",
                    }
                }
            }
        )
        for i in range(0, len(pcm), 640)
    ]


class Wire:
    """A raw client: what arrived, read with time limits."""

    def __init__(self, ws: Any) -> None:
        self.ws = ws

    async def setup(self, **fields: Any) -> None:
        await self.ws.send(json.dumps({"setup": {"model": NATIVE, **fields}}))
        assert "setupComplete" in await self.next()

    async def next(self, timeout: float = 5.0) -> Message:
        message: Message = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        return message

    async def turn(self, timeout: float = 5.0) -> list[Message]:
        """Messages up to and including the next ``turnComplete``."""
        got = []
        while True:
            message = await self.next(timeout)
            got.append(message)
            if message.get("serverContent", {}).get("turnComplete"):
                return got

    async def quiet(self, seconds: float) -> list[Message]:
        """What arrives within ``seconds``."""
        got = []
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                got.append(await self.next(left))
            except TimeoutError:
                break
        return got

    async def pong_within(self, seconds: float) -> bool:
        waiter = await self.ws.ping()
        try:
            await asyncio.wait_for(asyncio.shield(waiter), seconds)
        except TimeoutError:
            return False
        return True


def _connect(emulator: Emulator) -> Any:
    return websockets.connect(emulator.url + PATH, ping_interval=None, close_timeout=0.5)


def _content(messages: list[Message], key: str) -> list[Any]:
    return [m["serverContent"][key] for m in messages if key in m.get("serverContent", {})]


def _audio_bytes(messages: list[Message]) -> int:
    return sum(
        len(base64.b64decode(part["inlineData"]["data"]))
        for turn in _content(messages, "modelTurn")
        for part in turn["parts"]
        if "inlineData" in part
    )


def _usage(messages: list[Message]) -> Message:
    usage: Message = messages[-1]["usageMetadata"]
    return usage


# -- stall ---------------------------------------------------------------------------------------


async def test_a_stall_before_the_reply_sends_nothing_then_the_whole_reply(
    tmp_path: Path,
) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        tone_ms = 200
        input_transcription = "hello"
        fault = { action = "stall", stall_s = 1.0 }
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup(**TX)
        await ws.send(_text("hello"))
        sent = time.monotonic()
        # The socket stays open and answers pings while nothing comes.
        assert await wire.pong_within(0.3)
        assert await wire.quiet(0.2) == []
        messages = await wire.turn()
        waited = time.monotonic() - sent
    assert waited >= 0.95
    assert _content(messages, "inputTranscription") == [{"text": "hello"}]
    assert _audio_bytes(messages) == 200 * 48
    assert _content(messages, "generationComplete") == [True]


async def test_a_stall_during_the_reply_stops_after_the_given_audio(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        tone_ms = 400
        fault = { action = "stall", during_ms = 100, stall_s = 1.0 }
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup()
        await ws.send(_text("hello"))
        first = [await wire.next()]
        first += await wire.quiet(0.3)
        rest = await wire.turn()
    # 40 ms chunks: the stall comes at the first chunk boundary at or past 100 ms.
    assert _audio_bytes(first) == 120 * 48
    assert not any(m.get("serverContent", {}).get("turnComplete") for m in first)
    assert _audio_bytes(first + rest) == 400 * 48
    assert _content(rest, "generationComplete") == [True]


@pytest.mark.parametrize("pongs", [True, False])
async def test_a_stalled_turn_is_answered_on_the_connection_that_resumes(
    tmp_path: Path, pongs: bool
) -> None:
    script = _script(
        tmp_path,
        f"""
        speed = 0
        [[turns]]
        tone_ms = 100
        [[turns]]
        tone_ms = 300
        output_transcription = "second"
        fault = {{ action = "stall", pongs = {str(pongs).lower()} }}
        """,
    )
    async with Emulator(script=script) as emulator:
        async with _connect(emulator) as ws:
            wire = Wire(ws)
            await wire.setup(sessionResumption={}, **TX)
            await ws.send(_text("one"))
            await wire.turn()
            update = (await wire.next())["sessionResumptionUpdate"]
            assert update["resumable"] is True
            await ws.send(_text("two"))
            for frame in _audio_frames(bytes(640 * 30)):  # silence: the emulator sends nothing
                await ws.send(frame)
            # Stalled forever: nothing comes; pings are answered only with pongs on.
            assert await wire.quiet(0.3) == []
            assert await wire.pong_within(0.3) is pongs
        async with _connect(emulator) as ws:
            wire = Wire(ws)
            await wire.setup(sessionResumption={"handle": update["newHandle"]}, **TX)
            await ws.send(_text("two"))  # what the handle lacks
            messages = await wire.turn()
    assert _audio_bytes(messages) == 300 * 48
    assert _content(messages, "outputTranscription") == [{"text": "second"}]
    (session,) = emulator.sessions.values()
    texts = [m.realtime_input.text for m in session.consumed if m.realtime_input]
    assert texts == ["one", "two"]


async def test_stalls_with_pongs_off_leave_pings_unanswered_until_they_end(
    tmp_path: Path,
) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turn_faults]]
        action = "stall"
        stall_s = 1.0
        pongs = false
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup()
        await ws.send(_text("hello"))
        await asyncio.sleep(0.05)
        waiter = await ws.ping()
        await asyncio.sleep(0.3)
        assert not waiter.done()  # the stall is not over: no pong
        await asyncio.wait_for(waiter, 2)  # answered once it is
        messages = await wire.turn()
    assert _content(messages, "generationComplete") == [True]


# -- the reply's shape ---------------------------------------------------------------------------


async def test_an_empty_turn_completes_with_usage_and_no_content(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        tone_ms = 400
        output_transcription = "never said"
        fault = { action = "empty_turn" }
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup(**TX)
        await ws.send(_text("hello"))
        messages = await wire.turn()
    assert _content(messages, "modelTurn") == [] and _content(messages, "outputTranscription") == []
    assert _content(messages, "generationComplete") == [True]
    # The reply was billed though none of it came.
    assert _usage(messages)["responseTokenCount"] == 10


async def test_a_cut_reply_stops_partway_with_no_generation_complete(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        tone_ms = 400
        output_transcription = "cut"
        fault = { action = "cut_reply", cut_fraction = 0.25 }
        [[turns]]
        tone_ms = 400
        fault = { action = "cut_reply", cut_ms = 80 }
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup(**TX)
        await ws.send(_text("one"))
        first = await wire.turn()
        await ws.send(_text("two"))
        second = await wire.turn()
    for messages, audio_ms in ((first, 100), (second, 80)):
        assert _audio_bytes(messages) == audio_ms * 48
        assert _content(messages, "generationComplete") == []
        assert _content(messages, "interrupted") == []
        assert _content(messages, "outputTranscription") == []
        assert "usageMetadata" in messages[-1]


async def test_a_cut_text_reply_sends_the_start_of_the_text(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        text = "abcdefgh"
        fault = { action = "cut_reply" }
        """,
    )
    setup = {
        "model": "gemini-2.0-flash-live-001",
        "generationConfig": {"responseModalities": ["TEXT"]},
    }
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await ws.send(json.dumps({"setup": setup}))
        await wire.next()
        await ws.send(_text("hello"))
        messages = await wire.turn()
    assert _content(messages, "modelTurn") == [{"parts": [{"text": "abcd"}]}]
    assert _content(messages, "generationComplete") == []


async def test_speech_with_no_answer_gets_its_transcription_and_the_session_goes_on(
    tmp_path: Path,
) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        input_transcription = "one"
        tone_ms = 100
        fault = { action = "no_answer" }
        [[turns]]
        output_transcription = "second"
        tone_ms = 100
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup(**TX)
        await ws.send(_text("one"))
        unanswered = await wire.quiet(0.4)
        await ws.send(_text("two"))
        answered = await wire.turn()
    assert unanswered == [{"serverContent": {"inputTranscription": {"text": "one"}}}]
    assert _content(answered, "outputTranscription") == [{"text": "second"}]


async def test_a_dropped_final_transcription_leaves_the_rest_of_the_turn(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        input_transcription = "one"
        output_transcription = "reply"
        tone_ms = 100
        fault = { action = "drop_final_transcription" }
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup(**TX)
        await ws.send(_text("one"))
        messages = await wire.turn()
    assert _content(messages, "inputTranscription") == []
    assert _content(messages, "outputTranscription") == [{"text": "reply"}]
    assert _audio_bytes(messages) == 100 * 48


@pytest.mark.parametrize(
    ("action", "completes"), [("drop_final_transcription", 2), ("no_answer", 1)]
)
async def test_transcribe_live_drops_an_utterances_final_transcription(
    tmp_path: Path, action: str, completes: int
) -> None:
    script = _script(
        tmp_path,
        f"""
        [[turns]]
        input_transcription = "First words here."
        [[turns]]
        input_transcription = "Second words here."
        fault = {{ action = "{action}" }}
        """,
    )
    speech = audio.tone(700, rate=16_000) + bytes(32 * 1200)
    setup = {
        "model": f"models/{TRANSCRIBE_MODEL}",
        "generationConfig": {"responseModalities": ["TEXT"]},
        "inputAudioTranscription": {},
    }
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await ws.send(json.dumps({"setup": setup}))
        await wire.next()
        for frame in _audio_frames(speech + speech):
            await ws.send(frame)
        messages = await wire.quiet(1.0)
    ends = [m for m in messages if m.get("voiceActivity", {}).get("type") == "ACTIVITY_END"]
    assert len(ends) == 2
    finals = [f["text"] for f in _content(messages, "inputTranscription")]
    assert finals == ["First words here."]
    assert _content(messages, "generationComplete") == [True] * completes
    assert _content(messages, "interimInputTranscription")  # the first pass still shows


# -- a turn ended early --------------------------------------------------------------------------


@pytest.mark.parametrize(("early", "turns"), [(False, 1), (True, 2)])
async def test_early_end_ends_the_users_turn_at_a_short_pause(
    tmp_path: Path, early: bool, turns: int
) -> None:
    fault = 'fault = { action = "early_end", early_silence_ms = 300 }' if early else ""
    script = _script(
        tmp_path,
        f"""
        speed = 0
        [[turns]]
        tone_ms = 100
        {fault}
        """,
    )
    # Speech, a 500 ms pause (short of the 800 ms silenceDurationMs), speech, then silence.
    speech = audio.tone(600, rate=16_000)
    pcm = speech + bytes(32 * 500) + speech + bytes(32 * 1200)
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup()
        for frame in _audio_frames(pcm):
            await ws.send(frame)
        messages = await wire.quiet(1.0)
    completed = _content(messages, "turnComplete")
    assert len(completed) == turns


# -- probability ---------------------------------------------------------------------------------


def _binomial_interval(n: int, p: float, confidence: float) -> tuple[int, int]:
    """The central ``confidence`` interval of Binomial(n, p), exact."""
    pmf = [math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n + 1)]
    tail = (1 - confidence) / 2
    low, total = 0, 0.0
    while total + pmf[low] < tail:
        total += pmf[low]
        low += 1
    high, total = n, 0.0
    while total + pmf[high] < tail:
        total += pmf[high]
        high -= 1
    return low, high


async def test_a_probability_hits_its_share_of_turns(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        seed = 16
        [[turn_faults]]
        action = "empty_turn"
        probability = 0.3
        """,
    )
    n = 400
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup()
        empty = 0
        for number in range(n):
            await ws.send(_text(f"turn {number}"))
            messages = await wire.turn()
            empty += not _content(messages, "modelTurn")
    low, high = _binomial_interval(n, 0.3, 0.999)
    assert low <= empty <= high, (empty, low, high)
    assert emulator.turn_faults.drawn["turn_faults[0]"].count(True) == empty


def test_draws_are_reproducible_per_seed_and_per_attempt(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        [[turns]]
        fault = { action = "stall" }
        [[turn_faults]]
        action = "cut_reply"
        probability = 0.5
        turns = [1]
        """,
    )

    def run(seed: int | None) -> list[list[str]]:
        faults = TurnFaults(script, seed)
        return [[f.action for f in faults.draw(1, on_input=False)] for _ in range(40)]

    first = run(None)
    assert first == run(None) == run(script.seed)
    assert first != run(2)
    # The once-only stall hits the first attempt only; the cut draws at every attempt.
    assert "stall" in first[0] and not any("stall" in attempt for attempt in first[1:])
    assert 5 < sum("cut_reply" in attempt for attempt in first) < 35


async def test_a_probable_stall_draws_again_when_the_turn_is_resent(tmp_path: Path) -> None:
    # seed 1's first two draws at p = 0.5: hit, then miss.
    script = _script(
        tmp_path,
        """
        speed = 0
        seed = 1
        [[turn_faults]]
        action = "stall"
        probability = 0.5
        """,
    )
    draws = TurnFaults(script)
    assert [bool(draws.draw(1, on_input=False)) for _ in range(2)] == [True, False]
    async with Emulator(script=script) as emulator:
        async with _connect(emulator) as ws:
            wire = Wire(ws)
            await wire.setup(sessionResumption={})
            await ws.send(_text("one"))
            assert await wire.quiet(0.3) == []
        async with _connect(emulator) as ws:  # no handle yet: a fresh session, turn 1 again
            wire = Wire(ws)
            await wire.setup(sessionResumption={})
            await ws.send(_text("one"))
            messages = await wire.turn()
    assert _content(messages, "generationComplete") == [True]


# -- the fixtures for issue 16's done-when test --------------------------------------------------


def test_the_stall_fixture_script_and_the_three_turn_recording_fit_together() -> None:
    from rawlive.media.vad import EnergyVad, VadConfig

    script = load_script(ROOT / "fixtures" / "scripts" / "stall-30.toml")
    (stall,) = script.turn_faults
    assert (stall.action, stall.probability) == ("stall", 0.3)
    pcm = b"".join(audio.iter_pcm(ROOT / "fixtures" / "audio" / "weather-3turns-16k.wav"))
    vad = EnergyVad(VadConfig())
    events = vad.feed(pcm) + vad.flush()
    assert [e.kind for e in events] == ["speech_start", "speech_end"] * 3
    assert len(script.turns) == 3


async def test_a_stalled_connection_is_hung_speech_interrupts_nothing(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        tone_ms = 100
        fault = { action = "stall", stall_s = 1.0 }
        [[turns]]
        tone_ms = 100
        output_transcription = "second"
        """,
    )
    async with Emulator(script=script) as emulator, _connect(emulator) as ws:
        wire = Wire(ws)
        await wire.setup(**TX)
        await ws.send(_text("one"))
        await ws.send(_text("two"))
        assert await wire.quiet(0.3) == []  # no interrupted, no reply to turn 2
        first, second = await wire.turn(), await wire.turn()
    assert _content(first, "interrupted") == [] and _content(first, "generationComplete")
    assert _content(second, "outputTranscription") == [{"text": "second"}]


def test_serve_seed_overrides_the_scripts_seed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    from rawlive import cli

    served: list[Emulator] = []

    async def capture(server: Emulator, *_: Any) -> None:
        served.append(server)

    monkeypatch.setattr(cli, "_serve_until_stopped", capture)
    path = tmp_path / "s.toml"
    path.write_text('seed = 4\n[[turn_faults]]\naction = "empty_turn"\nprobability = 0.5\n')
    for extra, seed in (([], 4), (["--seed", "9"], 9)):
        result = CliRunner().invoke(cli.main, ["serve", "--script", str(path), *extra])
        assert result.exit_code == 0, result.output
        assert served[-1].turn_faults.seed == seed


async def test_an_unanswered_turn_keeps_its_number_across_a_resume(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        speed = 0
        [[turns]]
        tone_ms = 100
        fault = { action = "no_answer" }
        [[turns]]
        tone_ms = 100
        output_transcription = "second"
        [[turns]]
        tone_ms = 100
        output_transcription = "third"
        """,
    )
    async with Emulator(script=script) as emulator:
        async with _connect(emulator) as ws:
            wire = Wire(ws)
            await wire.setup(sessionResumption={}, **TX)
            await ws.send(_text("one"))
            assert await wire.quiet(0.2) == []
            await ws.send(_text("two"))
            assert _content(await wire.turn(), "outputTranscription") == [{"text": "second"}]
            handle = (await wire.next())["sessionResumptionUpdate"]["newHandle"]
        async with _connect(emulator) as ws:
            wire = Wire(ws)
            await wire.setup(sessionResumption={"handle": handle}, **TX)
            await ws.send(_text("three"))
            assert _content(await wire.turn(), "outputTranscription") == [{"text": "third"}]


async def test_the_emulator_stops_at_once_with_a_client_gone_from_a_stall_without_pongs(
    tmp_path: Path,
) -> None:
    script = _script(tmp_path, 'speed = 0\n[[turn_faults]]\naction = "stall"\npongs = false\n')
    emulator = Emulator(script=script)
    await emulator.start()
    try:
        async with _connect(emulator) as ws:
            wire = Wire(ws)
            await wire.setup()
            await ws.send(_text("hello"))
            assert await wire.quiet(0.2) == []
    finally:
        started = time.monotonic()
        await emulator.stop()
    assert time.monotonic() - started < 2  # not the 10 s close timeout


async def test_a_client_that_resumes_on_stalls_gets_every_turn_of_the_stall_fixture_once() -> None:
    """Issue 16's done-when, the emulator's side: stall-30.toml and the three-turn recording.

    A raw client judged by the core's watchdog resumes through its latest
    (transparent) handle whenever a reply is overdue and sends again what
    the handle lacks: every reply comes once, every message is consumed once.
    """
    from rawlive.core.state import SessionState
    from rawlive.core.watchdog import StallPolicy, stalled
    from rawlive.media.vad import EnergyVad, VadConfig
    from rawlive.wire import codec
    from rawlive.wire import types as t

    pcm = b"".join(audio.iter_pcm(ROOT / "fixtures" / "audio" / "weather-3turns-16k.wav"))
    chunks = [pcm[i : i + 1280] for i in range(0, len(pcm), 1280)]
    messages = [
        t.LiveClientMessage(
            realtime_input=t.LiveClientRealtimeInput(
                audio=t.Blob(data=chunk, mime_type="audio/pcm;rate=16000")
            )
        )
        for chunk in chunks
    ]
    policy = StallPolicy(first_reply=0.6, gap=0.6)
    script = load_script(ROOT / "fixtures" / "scripts" / "stall-30.toml")
    said: list[str] = []
    resumes = 0
    async with Emulator(script=script, speed=0, keep_sessions=True) as emulator:
        handle: str | None = None
        last = 0
        while True:
            state, vad = SessionState(), EnergyVad(VadConfig())
            resumption: dict[str, Any] = {"transparent": True}
            if handle is not None:
                resumption["handle"] = handle
            async with _connect(emulator) as ws:
                wire = Wire(ws)
                await wire.setup(outputAudioTranscription={}, sessionResumption=resumption)
                sent = last if handle is not None else 0

                async def read(ws: Any = ws, state: SessionState = state) -> None:
                    nonlocal handle, last
                    async for frame in ws:
                        message = codec.decode_server_message(frame)
                        state.server(message, time.monotonic())
                        update = message.session_resumption_update
                        if update and update.resumable and update.new_handle:
                            handle = update.new_handle
                            last = update.last_consumed_client_message_index or 0
                        content = message.server_content
                        if content and content.output_transcription:
                            said.append(content.output_transcription.text or "")

                reader = asyncio.create_task(read())
                stall = None
                quiet_since: float | None = None
                while stall is None:
                    now = time.monotonic()
                    stall = stalled(state, now, policy)
                    if sent < len(messages):
                        await ws.send(codec.encode_client_message(messages[sent]))
                        state.client(messages[sent], now)
                        for event in vad.feed(chunks[sent]):
                            if event.kind == "speech_start":
                                state.speech_started(now)
                            else:
                                state.speech_ended(now)
                        sent += 1
                        await asyncio.sleep(0.002)
                        continue
                    if state.reply_due is None and state.reply_progress is None:
                        quiet_since = quiet_since or now
                        if now - quiet_since > 0.3:
                            break
                    else:
                        quiet_since = None
                    await asyncio.sleep(0.02)
                reader.cancel()
            if stall is None:
                break
            resumes += 1
            assert resumes < 20
        session = list(emulator.sessions.values())[-1]  # the one that carried on
    assert resumes >= 2  # seed 30 stalls turn 2 and turn 3, some attempts more than once
    assert said == [
        "It's sunny in Paris, 24 degrees.",
        "Tomorrow brings light rain and 19 degrees.",
        "You're welcome. Goodbye!",
    ]
    consumed = [m.realtime_input.audio.data for m in session.consumed if m.realtime_input]
    assert consumed == chunks
