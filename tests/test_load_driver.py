"""The load driver without Locust: one :class:`Conversation` against an in-process emulator.

The driver is synchronous (``websockets.sync``); it runs in a thread here
while the emulator's event loop runs the test. Its measurements are checked
against what the emulator's script makes them: the script's delays, its
tool call, its faults.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import rawlive
from rawlive.servers.emulator import serve
from rawlive.servers.emulator.script import load_script
from rawlive.tools.load.driver import (
    Conversation,
    LoadOptions,
    Plan,
    cassette_plan,
    file_plan,
    is_cassette,
    plan_for,
)
from rawlive.tools.send import ToolBook, build_config, stream_file
from rawlive.wire import types as t

ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "fixtures" / "audio" / "weather-16k-mono.wav"
MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"

TOOLS = ToolBook(
    [t.FunctionDeclaration(name="get_weather")], {"get_weather": {"temperature_c": 24}}
)


class Recorded:
    """The ``report`` callback: every measurement, in order."""

    def __init__(self) -> None:
        self.rows: list[tuple[str, float, int, BaseException | None]] = []

    def __call__(
        self, name: str, seconds: float, length: int = 0, error: BaseException | None = None
    ) -> None:
        self.rows.append((name, seconds, length, error))

    def names(self) -> list[str]:
        return [name for name, *_ in self.rows]

    def one(self, name: str) -> tuple[float, BaseException | None]:
        hits = [(s, e) for n, s, _, e in self.rows if n == name]
        assert len(hits) == 1, (name, self.rows)
        return hits[0]


def _script(tmp_path: Path, text: str) -> Any:
    path = tmp_path / "script.toml"
    path.write_text(text)
    return load_script(path)


async def _converse(plan: Plan, url: str, **options: Any) -> Recorded:
    report = Recorded()
    opts = LoadOptions(endpoint=url, **options)
    await asyncio.to_thread(Conversation(plan, opts, report).run)
    return report


async def test_a_file_conversation_measures_each_request_type(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        """
        [[turns]]
        delay_ms = 200
          [[turns.tool_calls]]
          name = "get_weather"
          [turns.after_tool]
          delay_ms = 100
          tone_ms = 400
        """,
    )
    plan = file_plan(SPEECH, MODEL, tools=TOOLS)
    async with serve(script=script) as emulator:
        report = await _converse(plan, emulator.url, speed=0)
    assert report.names()[:2] == ["connect", "setup"]
    assert sorted(report.names()[2:]) == [
        "audio_late",
        "first_audio",
        "tool_round_trip",
        "turn",
    ]
    assert all(error is None for *_, error in report.rows)
    # The turn's 200 ms, the call, its answer, 100 ms, then the audio: 300 ms at least.
    first, _ = report.one("first_audio")
    round_trip, _ = report.one("tool_round_trip")
    turn, _ = report.one("turn")
    assert 0.1 <= round_trip < 0.5
    assert 0.3 <= first < 1.0
    assert turn >= first + 0.3  # the 400 ms tone is streamed in real time
    late, _ = report.one("audio_late")
    assert 0 <= late < 0.2


async def test_audio_late_per_chunk_reports_every_reply_chunk(tmp_path: Path) -> None:
    script = _script(tmp_path, "model_reply_chunk_ms = 100\n[[turns]]\ntone_ms = 500\n")
    plan = file_plan(SPEECH, MODEL)
    async with serve(script=script) as emulator:
        report = await _converse(plan, emulator.url, speed=0, audio_late_per_chunk=True)
    lates = [seconds for name, seconds, *_ in report.rows if name == "audio_late"]
    assert len(lates) == 5  # 500 ms in 100 ms chunks
    assert all(0 <= late < 0.2 for late in lates)


async def test_a_close_is_a_failure_named_by_its_code(tmp_path: Path) -> None:
    script = _script(
        tmp_path,
        '[[faults]]\nat = "after_setup"\naction = "close"\n'
        'code = 1011\nreason = "Internal error occurred."\n',
    )
    plan = file_plan(SPEECH, MODEL)
    async with serve(script=script) as emulator:
        report = await _converse(plan, emulator.url, speed=0)
    _, error = report.one("close 1011")
    assert str(error) == "Internal error occurred."
    assert "turn" not in report.names()


async def test_a_reply_that_never_begins_is_a_stall(tmp_path: Path) -> None:
    script = _script(tmp_path, '[[turns]]\nfault = { action = "stall", stall_s = 30 }\n')
    plan = file_plan(SPEECH, MODEL)
    async with serve(script=script) as emulator:
        report = await _converse(plan, emulator.url, speed=0, stall_timeout=0.5)
    waited, error = report.one("stall")
    assert 0.5 <= waited < 3.0
    assert str(error).startswith("no reply for ")
    assert "first_audio" not in report.names()


async def test_nothing_listening_is_a_connect_failure(tmp_path: Path) -> None:
    plan = file_plan(SPEECH, MODEL)
    async with serve() as emulator:
        url = emulator.url
    report = await _converse(plan, url, speed=0, open_timeout=2.0)
    assert report.names() == ["connect"]
    _, error = report.one("connect")
    assert error is not None and "ConnectionRefusedError" in str(error)


async def test_a_cassette_is_replayed_turn_by_turn(tmp_path: Path) -> None:
    """The client side of a cassette, gated on the turns the recording saw."""
    fixture = ROOT / "fixtures" / "sessions" / "weather-tool-goaway.jsonl"
    assert is_cassette(fixture) and not is_cassette(SPEECH)
    plan = cassette_plan(fixture, model=MODEL)
    assert plan.setup.model == f"models/{MODEL}"
    assert plan.setup.session_resumption is None
    # The second question waits for the first turn to complete; the recorded
    # tool response is not replayed but kept as the canned answer.
    assert {step.gate for step in plan.steps} == {0, 1}
    assert plan.tools is not None and set(plan.tools.responses) == {"get_weather"}
    assert plan_for(fixture, MODEL).steps == plan.steps
    # No model given: the cassette's own.
    assert plan_for(fixture).setup.model == "models/gemini-2.5-flash-native-audio-preview-12-2025"
    # (That cassette's audio is elided: silence, which no detector answers.
    # A cassette recorded in full is played here.)
    script = _script(
        tmp_path,
        """
        [[turns]]
          [[turns.tool_calls]]
          name = "get_weather"
          [turns.after_tool]
          tone_ms = 200
        """,
    )
    tape = tmp_path / "call.jsonl"
    config = build_config(tools=TOOLS, resume=False)
    async with serve(script=script, speed=0) as emulator:
        async with rawlive.connect(MODEL, config, endpoint=emulator.url, record=tape) as session:
            await stream_file(session, SPEECH, speed=None, tools=TOOLS, settle=0.2)
        report = await _converse(cassette_plan(tape), emulator.url)
    names = report.names()
    assert names.count("turn") == names.count("tool_round_trip") == 1
    assert names.count("first_audio") == 1
    assert all(error is None for *_, error in report.rows)


def test_a_cassette_without_a_setup_is_refused(tmp_path: Path) -> None:
    tape = tmp_path / "empty.jsonl"
    tape.write_text(
        '{"type":"header","format":"rawlive-cassette","version":1,"created":"2026-01-01T00:00:00Z"}\n'
    )
    with pytest.raises(Exception, match="has no setup message"):
        cassette_plan(tape)


async def test_a_tool_call_without_tools_is_answered_with_an_error(tmp_path: Path) -> None:
    """No canned response: the call still gets an answer (an error), and the turn goes on."""
    script = _script(
        tmp_path,
        """
        [[turns]]
          [[turns.tool_calls]]
          name = "get_weather"
          [turns.after_tool]
          tone_ms = 200
        """,
    )
    async with serve(script=script) as emulator:
        report = await _converse(file_plan(SPEECH, MODEL), emulator.url, speed=0)
    names = report.names()
    assert names.count("tool_round_trip") == names.count("turn") == 1
    assert all(error is None for *_, error in report.rows)


async def test_manual_activity_detection_marks_the_turn() -> None:
    config = build_config(manual_vad=True, resume=False)
    plan = file_plan(SPEECH, MODEL, config=config)
    first, last = plan.steps[0].message, plan.steps[-1].message
    assert first.activity_start is not None and last.activity_end is not None
    assert not any(step.speech_end for step in plan.steps)  # the client says where it ends
    async with serve(speed=0) as emulator:
        report = await _converse(plan, emulator.url, speed=0)
    names = report.names()
    assert names.count("turn") == names.count("first_audio") == 1
    assert all(error is None for *_, error in report.rows)


async def test_a_quota_refusal_is_named_by_how_it_came() -> None:
    """Over quota: HTTP 429 on the upgrade fails ``connect``; a 1011 after it is ``close 1011``."""
    plan = file_plan(SPEECH, MODEL)
    async with serve(max_sessions=0, quota_style="http") as emulator:
        refused = await _converse(plan, emulator.url, speed=0)
    assert refused.names() == ["connect"]
    _, error = refused.one("connect")
    assert str(error) == "HTTP 429 from the handshake"
    async with serve(max_sessions=0, quota_style="close") as emulator:
        closed = await _converse(plan, emulator.url, speed=0)
    _, error = closed.one("close 1011")
    assert "RESOURCE_EXHAUSTED" in str(error) or "quota" in str(error).lower()


async def test_the_key_reaches_no_log_line_and_no_failure(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    key = "fake.LOADKEY-0123456789abcdef"
    # The close reason quotes the key, as a server's error text may.
    script = _script(
        tmp_path,
        '[[faults]]\nat = "after_setup"\naction = "close"\n'
        f'code = 1011\nreason = "bad request for key {key}"\n',
    )
    plan = file_plan(SPEECH, MODEL)
    caplog.set_level(logging.DEBUG)
    async with serve(script=script) as emulator:
        report = await _converse(plan, emulator.url, speed=0, api_key=key)
    _, error = report.one("close 1011")
    assert key not in str(error) and "bad request for key" in str(error)
    client = "\n".join(r.getMessage() for r in caplog.records if r.name == "websockets.client")
    assert "x-goog-api-key" in client.lower()  # the handshake was logged...
    assert key not in client  # ...with the key redacted
