"""The pytest plugin: record a module against the emulator, then replay it with the network off."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

import rawlive.media.vad  # noqa: F401  (numpy: pytester's in-process runs cannot import it afresh)
from rawlive.servers.emulator import Emulator

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


# -- new episodes -------------------------------------------------------------------------------

KEY = "fake-NewEpisodes-key-0123456789abcdefghij"

# The greeting test grown a second connection.
TWO_CONNECTIONS = """asyncio.run(talk(live_endpoint, ["hello", "how are you"]))
    asyncio.run(talk(live_endpoint, ["and you?"]))"""


def _sent(path: Path) -> dict[int, list[str]]:
    """The texts the client sent on each connection of a cassette, by connection number."""
    sent: dict[int, list[str]] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "connect":
            sent[event["connection"]] = []
        elif event["type"] == "frame" and event["from"] == "client":
            message = json.loads(event["text"])
            if "realtimeInput" in message:
                sent[event["connection"]].append(message["realtimeInput"]["text"])
    return sent


def test_new_episodes_records_the_connections_the_cassette_lacks_and_appends_them(
    pytester: pytest.Pytester, recorded: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = recorded.read_bytes()
    monkeypatch.setenv("GEMINI_API_KEY", KEY)  # sent to the replay server, passed on
    fresh = _Upstream()
    try:
        mode = ("--live-record-mode=new_episodes", f"--live-upstream={fresh.emulator.url}")
        # The test as recorded: replayed, nothing reaches the upstream, the cassette is kept.
        pytester.runpytest(*mode).assert_outcomes(passed=1)
        assert fresh.emulator.accepted == 0
        assert recorded.read_bytes() == before
        # The test grew a second connection: it is recorded against the upstream and appended.
        pytester.makepyfile(test_live=_module(TWO_CONNECTIONS))
        pytester.runpytest(*mode).assert_outcomes(passed=1)
        assert fresh.emulator.accepted == 1
    finally:
        fresh.stop()
    assert _sent(recorded) == {1: ["hello", "how are you"], 2: ["and you?"]}
    lines = recorded.read_text().splitlines()
    old = before.decode().splitlines()
    assert lines[: len(old) - 1] == old[:-1]  # the first connection as it was recorded
    assert json.loads(lines[-1])["type"] == "end"
    times = [json.loads(line)["t"] for line in lines[1:]]
    assert times == sorted(times)
    assert sorted(p.name for p in recorded.parent.iterdir()) == ["greeting.jsonl"]
    assert KEY not in recorded.read_text()
    connect = json.loads(next(line for line in lines if '"connection":2' in line))
    assert ["x-goog-api-key", "<redacted>"] in connect["headers"]
    # Replayed whole with the upstream gone, and the network refused.
    body = f"""{TWO_CONNECTIONS}
    from rawlive.pytest_plugin import LiveNetworkRefused
    with pytest.raises(LiveNetworkRefused):
        rawlive.connect(MODEL, endpoint="ws://127.0.0.1:9")"""
    pytester.makepyfile(test_live=_module(body))
    pytester.runpytest().assert_outcomes(passed=1)
    pytester.runpytest("--live-record-mode=none").assert_outcomes(passed=1)


def test_once_does_not_record_what_an_existing_cassette_lacks(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    before = recorded.read_bytes()
    pytester.makepyfile(test_live=_module(TWO_CONNECTIONS))
    result = pytester.runpytest("--live-record-mode=once")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*(connection): got 'connection 2', expected 'at most 1 conn*"])
    assert recorded.read_bytes() == before


def test_new_episodes_fails_on_a_mismatch_in_a_recorded_connection_and_appends_nothing(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    before = recorded.read_bytes()
    body = """with pytest.raises(rawlive.LiveConnectionClosed):
        asyncio.run(talk(live_endpoint, ["hello", "goodbye"]))
    asyncio.run(talk(live_endpoint, ["and you?"]))"""
    pytester.makepyfile(test_live=_module(body))
    fresh = _Upstream()
    try:
        result = pytester.runpytest(
            "--live-record-mode=new_episodes", f"--live-upstream={fresh.emulator.url}"
        )
        assert fresh.emulator.accepted == 1  # recorded, but not kept
    finally:
        fresh.stop()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*replay mismatch (semantic) at client message 3 of connection 1:*",
            "*realtimeInput.text: got 'goodbye', expected 'how are you'*",
        ]
    )
    assert recorded.read_bytes() == before


def test_new_episodes_with_a_bad_upstream_fails_in_one_line(
    pytester: pytest.Pytester, recorded: Path
) -> None:
    result = pytester.runpytest("--live-record-mode=new_episodes", "--live-upstream=nonsense")
    result.assert_outcomes(errors=1)
    result.stdout.fnmatch_lines(["*rawlive: --live-upstream*ws:// or wss:// URL*'nonsense'*"])
    assert "Traceback" not in result.stdout.str()


def test_record_modes_are_vcrpy_s() -> None:
    from rawlive.pytest_plugin import MODES, RecordMode

    assert MODES == ("none", "once", "new_episodes", "all")
    assert [RecordMode(m) for m in MODES] == list(RecordMode)
    assert RecordMode.NEW_EPISODES == "new_episodes"


def test_each_record_mode_plans_what_vcrpy_s_does_with_a_cassette_there_or_not() -> None:
    from rawlive.cassette.modes import Plan, RecordMode
    from rawlive.pytest_plugin import RecordMode as Exported

    assert Exported is RecordMode
    plans = {
        (mode.value, exists): mode.plan(exists) for mode in RecordMode for exists in (True, False)
    }
    assert plans == {
        ("none", True): Plan.REPLAY,
        ("none", False): Plan.MISSING,
        ("once", True): Plan.REPLAY,
        ("once", False): Plan.RECORD,
        ("new_episodes", True): Plan.APPEND,
        ("new_episodes", False): Plan.RECORD,
        ("all", True): Plan.RECORD,
        ("all", False): Plan.RECORD,
    }


def test_an_unknown_record_mode_is_refused_with_the_modes(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_live=_module())
    result = pytester.runpytest("--live-record-mode=sometimes")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*invalid choice: 'sometimes'*none*once*new_episodes*all*"])
    pytester.makeini(INI + "live_record_mode = sometimes\n")
    result = pytester.runpytest()
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(
        ["*live_record_mode must be one of none, once, new_episodes, all, not 'sometimes'*"]
    )
