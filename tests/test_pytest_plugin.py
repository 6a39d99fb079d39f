"""The pytest plugin: record a module against the emulator, then replay it with the network off."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import rawlive.vad  # noqa: F401  (numpy: pytester's in-process runs cannot import it afresh)
from rawlive.emulator import Emulator

pytest_plugins = ["pytester"]

MODULE = """
import asyncio

import pytest

import rawlive

MODEL = "gemini-live-2.5-flash-preview"


async def talk(endpoint, texts):
    async with rawlive.connect(
        MODEL, {"response_modalities": ["TEXT"]}, endpoint=endpoint
    ) as session:
        for text in texts:
            await session.send_realtime_input(text=text)
            async for message in session.receive():
                if message.usage_metadata is not None:
                    break


@pytest.mark.live_cassette("greeting"MARKER)
def test_greeting(live_endpoint):
    BODY
"""


def _module(
    body: str = 'asyncio.run(talk(live_endpoint, ["hello", "how are you"]))', marker: str = ""
) -> str:
    return MODULE.replace("BODY", body).replace("MARKER", marker)


INI = "[pytest]\nasyncio_default_fixture_loop_scope = function\n"


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    pytester.makeini(INI)


class _Upstream:
    """An emulator on its own loop in a thread, as the recording upstream."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.emulator = Emulator(speed=0)
        asyncio.run_coroutine_threadsafe(self.emulator.start(), self.loop).result(10)

    def stop(self) -> None:
        if self.thread.is_alive():
            asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(10)
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()


@pytest.fixture
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def recorded(pytester: pytest.Pytester, upstream: _Upstream) -> Path:
    """The greeting module recorded against the emulator (which is then stopped)."""
    pytester.makepyfile(test_live=_module())
    result = pytester.runpytest(
        "--live-record-mode=once", f"--live-upstream={upstream.emulator.url}"
    )
    result.assert_outcomes(passed=1)
    upstream.stop()
    path = pytester.path / "tests" / "cassettes" / "greeting.jsonl"
    assert path.exists()
    assert not path.with_name("greeting.jsonl.partial").exists()
    return path


def test_once_records_a_cassette(recorded: Path) -> None:
    lines = [json.loads(line) for line in recorded.read_text().splitlines()]
    assert lines[0]["type"] == "header" and lines[-1]["type"] == "end"
    frames = [e for e in lines if e["type"] == "frame"]
    sent = [json.loads(e["text"]) for e in frames if e["from"] == "client"]
    assert sent[0]["setup"]["model"] == "models/gemini-live-2.5-flash-preview"
    assert [m["realtimeInput"]["text"] for m in sent[1:]] == ["hello", "how are you"]
    assert any(e["from"] == "server" for e in frames)


def test_replay_passes_with_the_upstream_gone(pytester: pytest.Pytester, recorded: Path) -> None:
    pytester.runpytest().assert_outcomes(passed=1)
    # once: the cassette exists, so it replays rather than records
    before = recorded.read_bytes()
    pytester.runpytest("--live-record-mode=once").assert_outcomes(passed=1)
    assert recorded.read_bytes() == before


def test_all_mode_records_again(pytester: pytest.Pytester, recorded: Path) -> None:
    fresh = _Upstream()
    try:
        before = recorded.read_bytes()
        result = pytester.runpytest(
            "--live-record-mode=all", f"--live-upstream={fresh.emulator.url}"
        )
        result.assert_outcomes(passed=1)
        assert recorded.read_bytes() != before  # a new header time, at least
    finally:
        fresh.stop()


def test_different_text_fails_with_a_readable_mismatch(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    pytester.makepyfile(test_live=_module('asyncio.run(talk(live_endpoint, ["hello", "goodbye"]))'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replay mismatch (semantic) at client message 3 of connection 1:*",
            "*realtimeInput.text: got 'goodbye', expected 'how are you'*",
        ]
    )


def test_stopping_early_fails_as_not_fully_consumed(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    pytester.makepyfile(test_live=_module('asyncio.run(talk(live_endpoint, ["hello"]))'))
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*cassette * not fully consumed: * recorded frames unused:*",
            "*connection 1, from client: realtimeInput.text*how are you*",
        ]
    )


def _add_trailing_frame(path: Path) -> None:
    """A server frame recorded a minute after the last client frame: no client waits for it."""
    lines = path.read_text().splitlines()
    close = next(i for i, line in enumerate(lines) if json.loads(line)["type"] == "close")
    at = json.loads(lines[close])["t"] + 60
    frame = {
        "type": "frame",
        "t": at,
        "connection": 1,
        "from": "server",
        "opcode": "text",
        "kind": "sessionResumptionUpdate",
        "text": '{"sessionResumptionUpdate":{"newHandle":"h","resumable":true}}',
    }
    lines.insert(close, json.dumps(frame))
    path.write_text("\n".join(lines) + "\n")


def test_trailing_server_frames_can_be_allowed(pytester: pytest.Pytester, recorded: Path) -> None:
    _add_trailing_frame(recorded)
    pytester.makepyfile(test_live=_module(marker=", speed=1"))  # as recorded: a minute late
    result = pytester.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*not fully consumed: 1 of * recorded frames unused:*",
            "*connection 1, from server: sessionResumptionUpdate*",
            "*allow_unused*",
        ]
    )
    pytester.makepyfile(test_live=_module(marker=', speed=1, allow_unused=["sessionResumption"]'))
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_missing_cassette_fails_clearly(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_live=_module())
    result = pytester.runpytest()
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(
        ["*no cassette *greeting.jsonl to replay * never records*--live-record-mode=once*"]
    )


def test_recording_without_key_or_upstream_fails_clearly(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    pytester.makepyfile(test_live=_module())
    result = pytester.runpytest("--live-record-mode=once")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*GEMINI_API_KEY*--live-upstream*"])
    assert not (pytester.path / "tests" / "cassettes" / "greeting.jsonl").exists()


def test_other_endpoints_are_refused(pytester: pytest.Pytester, recorded: Path) -> None:
    body = """from rawlive.pytest_plugin import LiveNetworkRefused
    for endpoint in ("ws://127.0.0.1:9", "ws://127.0.0.1:9/?key=s3cret-key", None):
        with pytest.raises(LiveNetworkRefused, match="refuses connections") as info:
            rawlive.connect(MODEL, endpoint=endpoint)
        assert isinstance(info.value, rawlive.RawliveError) and isinstance(info.value, RuntimeError)
        assert "s3cret-key" not in str(info.value)
    asyncio.run(talk(live_endpoint, ["hello", "how are you"]))"""
    pytester.makepyfile(test_live=_module(body))
    pytester.runpytest().assert_outcomes(passed=1)


def test_ini_options(pytester: pytest.Pytester, recorded: Path) -> None:
    moved = pytester.path / "elsewhere" / "greeting.jsonl"
    moved.parent.mkdir()
    recorded.rename(moved)
    pytester.makeini(INI + "live_cassette_dir = elsewhere\nlive_record_mode = none\n")
    pytester.runpytest().assert_outcomes(passed=1)
