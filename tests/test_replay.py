"""The replay server: a session recorded against the emulator, served back to rawlive and to the
official SDK, matched under the semantic and strict policies."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import pathlib
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import fixture_modules
import msgspec
import pytest

import rawlive
from rawlive.cassette import (
    CassetteHeader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    frame_kind,
    read_cassette,
)
from rawlive.media import audio
from rawlive.servers.base import server_ssl_context
from rawlive.servers.emulator import serve
from rawlive.servers.emulator.script import load_script
from rawlive.servers.proxy import Proxy
from rawlive.servers.replay import MATCHERS, Difference, ReplayServer, SemanticMatcher
from rawlive.wire import codec
from rawlive.wire import types as t

NATIVE = "gemini-2.5-flash-native-audio-preview-12-2025"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SPOKEN = FIXTURES / "audio" / "weather-16k-mono.wav"
CONFIG = {
    "session_resumption": {},
    "input_audio_transcription": {},
    "output_audio_transcription": {},
}
FAST = rawlive.Reconnect(first_delay=0.01, go_away_margin=0.05)
CHUNK_40MS = 1280


def _speech() -> bytes:
    return b"".join(audio.iter_pcm(SPOKEN))


async def _turn(session: rawlive.Session, into: list[t.LiveServerMessage]) -> None:
    """Read up to a tool call or the end of a turn."""
    async for message in session.receive():
        into.append(message)
        if message.tool_call is not None:
            return
        if message.server_content and message.server_content.turn_complete:
            return


async def _weather_session(
    url: str, *, chunk: int = CHUNK_40MS, record: Path | None = None, elide: bool = False
) -> list[t.LiveServerMessage]:
    """The weather.toml flow: audio, tool call, second turn, goAway, resume, a third turn.

    Returns every server message received (``SessionResumed`` markers left out).
    """
    speech = _speech()
    got: list[t.LiveServerMessage] = []

    async def speak(session: rawlive.Session) -> None:
        for offset in range(0, len(speech), chunk):
            await session.send_realtime_input(
                audio=t.Blob(data=speech[offset : offset + chunk], mime_type="audio/pcm;rate=16000")
            )
        await session.send_realtime_input(audio_stream_end=True)

    async with rawlive.connect(
        NATIVE, CONFIG, endpoint=url, record=record, record_elide_audio=elide, reconnect=FAST
    ) as session:
        await speak(session)
        await _turn(session, got)
        call = got[-1].tool_call
        assert call is not None and call.function_calls
        fc = call.function_calls[0]
        await session.send_tool_response(
            function_responses=t.FunctionResponse(id=fc.id, name=fc.name, response={"t": 24})
        )
        await _turn(session, got)
        await speak(session)
        await _turn(session, got)
        async for message in session.receive():  # the handle and goAway, then the resume
            if isinstance(message, rawlive.SessionResumed):
                break
            got.append(message)
        await session.send_realtime_input(text="after the resume")
        await _turn(session, got)
        async for message in session.receive():  # the handle that follows the turn
            got.append(message)
            if message.session_resumption_update is not None:
                break
    return got


async def _record(path: Path, *, elide: bool = False) -> list[t.LiveServerMessage]:
    script = load_script(FIXTURES / "scripts" / "weather.toml")
    async with serve(script=script, speed=0) as emulator:
        return await _weather_session(emulator.url, record=path, elide=elide)


@pytest.fixture(scope="module")
def recorded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The weather session, recorded once against the emulator (lossless)."""
    path = tmp_path_factory.mktemp("replay") / "weather.jsonl"
    asyncio.run(_record(path))
    return path


def _server_messages(path: Path) -> list[t.LiveServerMessage]:
    """The recording's server messages as a client sees them (setupComplete is not yielded)."""
    messages = [
        codec.decode_server_message(f.payload)
        for f in read_cassette(path).frames()
        if f.sender == "server"
    ]
    return [m for m in messages if m.setup_complete is None]


# ---------------------------------------------------------------------------
# The same client, replayed
# ---------------------------------------------------------------------------


def test_the_recording_holds_a_tool_call_a_go_away_and_a_resume(recorded: Path) -> None:
    cassette = read_cassette(recorded)
    kinds = [f.kind for f in cassette.frames()]
    assert "toolCall" in kinds and "toolResponse" in kinds and "goAway" in kinds
    assert [c.connection for c in cassette.connects] == [1, 2]
    (setup2,) = [f for f in cassette.frames(connection=2) if f.kind == "setup"]
    assert b'"handle"' in setup2.payload


@pytest.mark.parametrize("policy", ["semantic", "strict"])
async def test_rawlive_replays_the_session_and_receives_the_recorded_messages(
    recorded: Path, tmp_path: Path, policy: str
) -> None:
    again = tmp_path / "again.jsonl"
    async with ReplayServer(recorded, policy=policy, speed=0) as server:
        got = await asyncio.wait_for(_weather_session(server.url, record=again), 20)
    assert server.mismatches == []
    assert got == _server_messages(recorded)
    assert server.remaining() == [] and server.consumed == server.total
    assert len(server.connections) == 2
    # Byte for byte and opcode for opcode, as the client recorded them both times.
    before = [(f.opcode, f.payload) for f in read_cassette(recorded).frames(sender="server")]
    after = [(f.opcode, f.payload) for f in read_cassette(again).frames(sender="server")]
    assert after == before
    assert {opcode for opcode, _ in after} == {"binary"}  # weather.toml sends binary frames


async def test_the_official_sdk_replays_the_session_over_wss(
    recorded: Path, tls: tuple[pathlib.Path, pathlib.Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    genai = pytest.importorskip("google.genai")
    from google.genai import types as gt

    ca_file, server_pem = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    speech = _speech()
    received: list[Any] = []
    async with ReplayServer(recorded, speed=0, ssl=server_ssl_context(server_pem)) as server:
        client = genai.Client(
            api_key="TEST_KEY", http_options={"base_url": f"https://127.0.0.1:{server.port}"}
        )

        def config(handle: str | None = None) -> Any:
            return gt.LiveConnectConfig(
                session_resumption=gt.SessionResumptionConfig(handle=handle),
                input_audio_transcription=gt.AudioTranscriptionConfig(),
                output_audio_transcription=gt.AudioTranscriptionConfig(),
            )

        async def run() -> None:
            handle = None
            async with client.aio.live.connect(model=NATIVE, config=config()) as session:
                for offset in range(0, len(speech), CHUNK_40MS):
                    blob = gt.Blob(
                        data=speech[offset : offset + CHUNK_40MS], mime_type="audio/pcm;rate=16000"
                    )
                    await session.send_realtime_input(audio=blob)
                await session.send_realtime_input(audio_stream_end=True)
                async for message in session.receive():
                    received.append(message)
                    if message.tool_call:
                        break
                call = received[-1].tool_call.function_calls[0]
                await session.send_tool_response(
                    function_responses=[
                        gt.FunctionResponse(id=call.id, name=call.name, response={"t": 24})
                    ]
                )
                async for message in session.receive():  # ends at turnComplete
                    received.append(message)
                for offset in range(0, len(speech), CHUNK_40MS):
                    blob = gt.Blob(
                        data=speech[offset : offset + CHUNK_40MS], mime_type="audio/pcm;rate=16000"
                    )
                    await session.send_realtime_input(audio=blob)
                await session.send_realtime_input(audio_stream_end=True)
                async for message in session.receive():
                    received.append(message)
                async for message in session.receive():  # the handle, then goAway
                    received.append(message)
                    update = message.session_resumption_update
                    if update and update.new_handle:
                        handle = update.new_handle
                    if message.go_away:
                        break
            # The SDK does not resume by itself: a new connection with the last handle.
            async with client.aio.live.connect(model=NATIVE, config=config(handle)) as session:
                await session.send_realtime_input(text="after the resume")
                async for message in session.receive():
                    received.append(message)
                async for message in session.receive():
                    received.append(message)
                    if message.session_resumption_update:
                        break

        await asyncio.wait_for(run(), 20)
    assert [str(m) for m in server.mismatches] == []
    assert server.remaining() == []
    expected = _server_messages(recorded)
    assert len(received) == len(expected)
    for sdk, ours in zip(received, expected, strict=True):
        assert _sdk_view(ours) == sdk.model_dump(mode="json", exclude_none=True)


def _sdk_view(message: t.LiveServerMessage) -> Any:
    """A rawlive message as the SDK's ``model_dump(mode="json")``: snake_case, URL-safe base64."""
    import base64

    def convert(value: Any) -> Any:
        if isinstance(value, dict):
            return {_snake(k): convert(v) for k, v in value.items()}
        if isinstance(value, list):
            return [convert(v) for v in value]
        if isinstance(value, bytes):
            return base64.urlsafe_b64encode(value).decode()
        return value

    plain = msgspec.to_builtins(message, builtin_types=(bytes,), enc_hook=_duration)
    return convert(plain)


def _duration(value: Any) -> Any:
    assert isinstance(value, t.Duration)
    return value.to_wire()


def _snake(name: str) -> str:
    # The SDK's spelling, written independently of the codec's (which accepts
    # snake_case keys it derives itself): the oracle must not share its rule.
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in name)


# ---------------------------------------------------------------------------
# Policies
# ---------------------------------------------------------------------------


async def test_rechunked_audio_replays_under_semantic(recorded: Path) -> None:
    async with ReplayServer(recorded, policy="semantic", speed=0) as server:
        got = await asyncio.wait_for(_weather_session(server.url, chunk=3200), 20)
    assert server.mismatches == []
    assert got == _server_messages(recorded)
    assert server.remaining() == []


async def test_rechunked_audio_fails_under_strict_with_1008_and_a_readable_diff(
    recorded: Path,
) -> None:
    async with ReplayServer(recorded, policy="strict", speed=0) as server:
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await asyncio.wait_for(_weather_session(server.url, chunk=3200), 20)
    assert info.value.code == 1008
    assert info.value.reason.startswith("replay mismatch: realtimeInput.audio.data")
    assert len(info.value.reason.encode()) <= 123
    (mismatch,) = server.mismatches
    assert (mismatch.connection, mismatch.index) == (1, 2)  # after the setup
    assert mismatch.first.path == "realtimeInput.audio.data"
    assert (len(mismatch.first.expected), len(mismatch.first.got)) == (1280, 3200)
    diff = str(mismatch)
    assert "got <3200 bytes" in diff and "expected <1280 bytes" in diff
    assert "expected frame:" in diff and "received frame:" in diff


async def test_too_much_audio_fails_under_semantic_as_soon_as_it_passes_the_recording(
    recorded: Path,
) -> None:
    async with ReplayServer(recorded, speed=0) as server:
        async with rawlive.connect(NATIVE, CONFIG, endpoint=server.url) as session:
            with contextlib.suppress(rawlive.RawliveError):  # closed under the sender
                for _ in range(1000):
                    await session.send_realtime_input(
                        audio=t.Blob(data=bytes(3200), mime_type="audio/pcm;rate=16000")
                    )
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert info.value.code == 1008 and "realtimeInput.audio" in info.value.reason
    assert server.mismatches[0].first.path == "realtimeInput.audio"


@pytest.mark.parametrize(
    ("chunks", "index", "got"),
    [
        (2, 4, "2560 bytes, then a realtimeInput.text message"),  # short when the run ends
        (4, 5, "5120 bytes so far"),  # over as soon as it passes the recording
    ],
)
async def test_an_audio_run_off_by_more_than_a_chunk_names_both_totals(
    tmp_path: Path, chunks: int, index: int, got: str
) -> None:
    mime = "audio/pcm;rate=16000"
    data = base64.b64encode(bytes(CHUNK_40MS)).decode()
    chunk = json.dumps({"realtimeInput": {"audio": {"data": data, "mimeType": mime}}})
    frames = [*TEXT_TURN[:2], *[(0.02, "client", chunk)] * 3, *TEXT_TURN[2:]]
    cassette = _write(tmp_path / "c.jsonl", _events(*frames))
    async with ReplayServer(cassette, speed=0) as server:
        async with rawlive.connect("gemini-live-2.5-flash-preview", endpoint=server.url) as session:
            with contextlib.suppress(rawlive.RawliveError):  # closed under the sender
                for _ in range(chunks):
                    await session.send_realtime_input(
                        audio=t.Blob(data=bytes(CHUNK_40MS), mime_type=mime)
                    )
                await session.send_realtime_input(text="hello")
            with pytest.raises(rawlive.LiveConnectionClosed):
                async for _ in session.receive():
                    pass
    (mismatch,) = server.mismatches
    assert mismatch.index == index
    assert mismatch.differences == [
        Difference("realtimeInput.audio", f"3840 bytes of {mime} in a row", got)
    ]
    assert mismatch.expected is not None and '"audio"' in mismatch.expected


def _events(
    *frames: tuple[float, str, str], close: tuple[float, int, str, Any] | None = None
) -> Any:
    events: list[Any] = [ConnectEvent(t=0.0, connection=1, url="ws://example/ws")]
    for at, sender, text in frames:
        events.append(
            FrameEvent(
                t=at,
                connection=1,
                sender=sender,  # type: ignore[arg-type]
                opcode="text",
                kind=frame_kind(text),
                text=text,
            )
        )
    if close is not None:
        at, code, reason, by = close
        events.append(CloseEvent(t=at, connection=1, code=code, reason=reason, by=by))
    events.append(EndEvent(t=events[-1].t))
    return events


def _write(path: Path, events: list[Any]) -> Path:
    header = CassetteHeader(created="2025-06-01T12:00:00.000000Z", meta={"test": True})
    lines = [msgspec.json.encode(header)] + [msgspec.json.encode(e) for e in events]
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


SETUP = '{"setup":{"model":"models/gemini-live-2.5-flash-preview"}}'
TEXT_TURN = [
    (0.0, "client", SETUP),
    (0.01, "server", '{"setupComplete":{}}'),
    (0.02, "client", '{"realtimeInput":{"text":"hello"}}'),
    (0.32, "server", '{"serverContent":{"modelTurn":{"parts":[{"text":"hi"}]}}}'),
    (0.33, "server", '{"serverContent":{"turnComplete":true}}'),
    (0.34, "server", '{"usageMetadata":{"totalTokenCount":3}}'),
]


async def _say(url: str, text: str) -> list[t.LiveServerMessage]:
    got: list[t.LiveServerMessage] = []
    async with rawlive.connect("gemini-live-2.5-flash-preview", endpoint=url) as session:
        await session.send_realtime_input(text=text)
        await _turn(session, got)
    return got


@pytest.mark.parametrize("policy", ["semantic", "strict"])
async def test_a_different_message_fails_with_a_reason_naming_the_path(
    tmp_path: Path, policy: str
) -> None:
    cassette = _write(tmp_path / "c.jsonl", _events(*TEXT_TURN))
    async with ReplayServer(cassette, policy=policy, speed=0) as server:
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await asyncio.wait_for(_say(server.url, "goodbye"), 5)
    assert info.value.code == 1008
    assert (
        info.value.reason == "replay mismatch: realtimeInput.text: got 'goodbye', expected 'hello'"
    )
    (mismatch,) = server.mismatches
    assert mismatch.differences == [Difference("realtimeInput.text", "hello", "goodbye")]
    assert [f.kind for f in server.remaining()] == [
        "realtimeInput.text",
        "serverContent.modelTurn",
        "serverContent.turnComplete",
        "usageMetadata",
    ]


async def test_semantic_matching_normalises_the_model_ids_and_handles(tmp_path: Path) -> None:
    matcher = MATCHERS["semantic"]
    assert (
        matcher.compare(SETUP.encode(), b'{"setup":{"model":"gemini-live-2.5-flash-preview"}}')
        == []
    )
    with_handle = b'{"setup":{"model":"m","sessionResumption":{"handle":"%s"}}}'
    assert matcher.compare(with_handle % b"abc", with_handle % b"xyz") == []
    assert matcher.compare(with_handle % b"abc", b'{"setup":{"model":"m"}}') != []
    response = b'{"toolResponse":{"functionResponses":[{"id":"%s","name":"f","response":{}}]}}'
    snake = b'{"tool_response":{"function_responses":[{"id":"%s","name":"f","response":{}}]}}'
    assert matcher.compare(response % b"fc-1", snake % b"fc-2") == []
    assert MATCHERS["strict"].compare(response % b"fc-1", snake % b"fc-2") == [
        Difference("toolResponse.functionResponses[0].id", "fc-1", "fc-2")
    ]


async def test_a_custom_policy_can_be_registered(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class AnyText(SemanticMatcher):
        name = "any-text"

        def normalise(self, data: dict[str, Any]) -> dict[str, Any]:
            realtime = data.get("realtimeInput") or {}
            if "text" in realtime:
                realtime["text"] = "<text>"
            return super().normalise(data)

    monkeypatch.setitem(MATCHERS, "any-text", AnyText())
    cassette = _write(tmp_path / "c.jsonl", _events(*TEXT_TURN))
    async with ReplayServer(cassette, policy="any-text", speed=0) as server:
        got = await asyncio.wait_for(_say(server.url, "something else"), 5)
    assert server.mismatches == [] and got[-1].server_content is not None
    with pytest.raises(rawlive.ConfigError, match="unknown replay policy 'nope'"):
        ReplayServer(cassette, policy="nope")


# ---------------------------------------------------------------------------
# Timing, closes, audio, what is left
# ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("speed", "low", "high"), [(0, 0.0, 0.2), (1.0, 0.28, 1.0), (2.0, 0.14, 0.5)]
)
async def test_speed_scales_the_recorded_timing(
    tmp_path: Path, speed: float, low: float, high: float
) -> None:
    cassette = _write(tmp_path / "c.jsonl", _events(*TEXT_TURN))
    async with ReplayServer(cassette, speed=speed) as server:
        async with rawlive.connect("gemini-live-2.5-flash-preview", endpoint=server.url) as session:
            started = time.monotonic()
            await session.send_realtime_input(text="hello")
            got: list[t.LiveServerMessage] = []
            await asyncio.wait_for(_turn(session, got), 5)
            elapsed = time.monotonic() - started
    assert low <= elapsed < high, elapsed
    assert got[0].text == "hi"


@pytest.mark.parametrize(
    ("close", "code", "reason"),
    [
        ((0.4, 1011, "Internal error occurred.", "server"), 1011, "Internal error occurred."),
        ((0.4, 1006, "", None), 1006, ""),
    ],
)
async def test_the_recorded_end_of_a_connection_is_replayed(
    tmp_path: Path, close: Any, code: int, reason: str
) -> None:
    cassette = _write(tmp_path / "c.jsonl", _events(*TEXT_TURN, close=close))
    async with ReplayServer(cassette, speed=0) as server:
        async with rawlive.connect("gemini-live-2.5-flash-preview", endpoint=server.url) as session:
            await session.send_realtime_input(text="hello")
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert (info.value.code, info.value.reason) == (code, reason)
    assert server.remaining() == [] and server.mismatches == []


async def test_a_connection_the_cassette_does_not_have_is_closed_with_1008(tmp_path: Path) -> None:
    cassette = _write(tmp_path / "c.jsonl", _events(*TEXT_TURN))
    async with ReplayServer(cassette, speed=0) as server:
        await asyncio.wait_for(_say(server.url, "hello"), 5)
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await asyncio.wait_for(_say(server.url, "hello"), 5)
    assert info.value.code == 1008 and "connection" in info.value.reason
    assert server.mismatches[-1].index == 0


async def test_with_an_upstream_a_connection_beyond_the_cassette_is_passed_on_and_recorded(
    tmp_path: Path,
) -> None:
    cassette = _write(tmp_path / "c.jsonl", _events(*TEXT_TURN))
    new = tmp_path / "new"
    async with (
        serve(speed=0) as emulator,
        ReplayServer(cassette, speed=0, upstream=Proxy(emulator.url), record_dir=new) as server,
    ):
        assert (await asyncio.wait_for(_say(server.url, "hello"), 5))[0].text == "hi"
        got = await asyncio.wait_for(_say(server.url, "and you?"), 5)
    assert got and emulator.accepted == 1  # the emulator answered it
    assert server.mismatches == [] and server.remaining() == []
    # Only the connection passed on is recorded: the cassette has the other.
    (recording,) = sorted(new.iterdir())
    frames = read_cassette(recording).frames(sender="client")
    assert [f.kind for f in frames] == ["setup", "realtimeInput.text"]
    assert b"and you?" in frames[1].payload


async def test_a_replay_keeps_and_records_every_frame_it_serves(tmp_path: Path) -> None:
    cassette = _write(tmp_path / "c.jsonl", _events(*TEXT_TURN))
    served = tmp_path / "served"
    async with ReplayServer(cassette, speed=0, capture_frames=True, record_dir=served) as server:
        await asyncio.wait_for(_say(server.url, "hello"), 5)
        await asyncio.wait_for(server.connections[0].closed.wait(), 5)
    kept = [(f.sender, f.opcode, f.payload) for f in server.connections[0].frames]
    (recording,) = sorted(served.iterdir())
    assert kept == [(e.sender, e.opcode, e.payload) for e in read_cassette(recording).frames()]
    assert [(s, o, p) for s, o, p in kept if s == "server"] == [
        (e.sender, e.opcode, e.payload) for e in read_cassette(cassette).frames(sender="server")
    ]
    assert [frame_kind(p) for s, _, p in kept if s == "client"] == ["setup", "realtimeInput.text"]


async def test_remaining_lists_unused_frames_and_allows_trailing_server_kinds(
    tmp_path: Path,
) -> None:
    frames = [*TEXT_TURN, (0.4, "client", '{"realtimeInput":{"text":"again"}}')]
    frames.append((0.5, "server", '{"sessionResumptionUpdate":{"resumable":false}}'))
    cassette = _write(tmp_path / "c.jsonl", _events(*frames))
    async with ReplayServer(cassette, speed=0) as server:
        await asyncio.wait_for(_say(server.url, "hello"), 5)
    assert [f.kind for f in server.remaining()] == ["realtimeInput.text", "sessionResumptionUpdate"]
    # Allowed kinds are left out when trailing (no client frame expected after them);
    # the client frame never sent is not.
    allowed = server.remaining(allow=["sessionResumption*"])
    assert [f.kind for f in allowed] == ["realtimeInput.text"]
    assert server.consumed == 6

    trailing = _write(tmp_path / "t.jsonl", _events(*TEXT_TURN))
    async with ReplayServer(trailing, speed=1.0) as server:
        async with rawlive.connect("gemini-live-2.5-flash-preview", endpoint=server.url) as session:
            await session.send_realtime_input(text="hello")
            async for message in session.receive():
                if message.text:
                    break  # leave before the end of the turn
    assert [f.kind for f in server.remaining()][-1] == "usageMetadata"
    assert server.remaining(allow=["serverContent.*", "usageMetadata"]) == []


async def test_an_elided_audio_cassette_replays_silence_of_the_same_length(tmp_path: Path) -> None:
    path = tmp_path / "elided.jsonl"
    original = await _record(path, elide=True)
    async with ReplayServer(path, speed=0) as server:
        got = await asyncio.wait_for(_weather_session(server.url), 20)
    assert server.mismatches == [] and server.remaining() == []
    assert [m.data is not None for m in got] == [m.data is not None for m in original]
    replies = [m.data for m in got if m.data is not None]
    assert sum(map(len, replies)) == sum(len(m.data or b"") for m in original) > 0
    assert all(not any(data) for data in replies)  # silence


@pytest.mark.parametrize("name", ["weather-tool-goaway.jsonl", "hello-text.jsonl"])
async def test_the_fixture_sessions_replay(name: str) -> None:
    path = FIXTURES / "sessions" / name
    assert read_cassette(path).header.meta["recordedAgainst"] == "rawlive emulator"
    run: Callable[[str], Awaitable[Any]] = (
        _weather_session if name.startswith("weather") else _hello_text
    )
    async with ReplayServer(path, speed=0) as server:
        await asyncio.wait_for(run(server.url), 20)
    assert server.mismatches == [] and server.remaining() == []


def _make_sessions() -> Any:
    """fixtures/sessions/make_sessions.py: the flows that recorded the fixture sessions."""
    return fixture_modules.load("sessions/make_sessions.py")


@pytest.mark.parametrize(
    ("name", "flow"),
    [
        ("live38-nonblocking.jsonl", "live38"),
        ("thinking-filler.jsonl", "thinking"),
        ("transcribe-live.jsonl", "transcribe"),
    ],
)
async def test_the_2026_model_sessions_replay_to_the_flow_that_recorded_them(
    name: str, flow: str
) -> None:
    # Each fixture replays, frame for frame, to the same client flow that
    # recorded it against the emulator: the replay serves 3.8's NON_BLOCKING
    # call, extended thinking's filler turn and Transcribe Live's utterances.
    made = _make_sessions()
    path = FIXTURES / "sessions" / name
    model = {"live38": made.LIVE38, "thinking": made.THINKING, "transcribe": made.TRANSCRIBE}
    config = {
        "live38": made.LIVE38_CONFIG,
        "thinking": made.THINKING_CONFIG,
        "transcribe": made.TRANSCRIBE_CONFIG,
    }
    drive = getattr(made, f"drive_{flow}")
    async with ReplayServer(path, speed=0) as server:

        async def run() -> list[t.LiveServerMessage]:
            async with rawlive.connect(model[flow], config[flow], endpoint=server.url) as session:
                got: list[t.LiveServerMessage] = await drive(session)
                return got

        got = await asyncio.wait_for(run(), 20)
    assert server.mismatches == [] and server.remaining() == []
    recorded = [
        f
        for f in read_cassette(path).frames()
        if f.sender == "server" and f.kind != "setupComplete"
    ]
    assert len(got) >= len(recorded) - 2  # the handle after the last turn may stay unread
    contents = [m.server_content for m in got if m.server_content is not None]
    if flow == "thinking":
        statuses = [c.interaction_status for c in contents if c.turn_complete]
        assert statuses == ["IN_PROGRESS", "IDLE"]
    elif flow == "transcribe":
        finals = [c.input_transcription.text for c in contents if c.input_transcription]
        assert finals == ["What's the weather in Paris?", "And tomorrow?"]
    else:
        assert sum(1 for c in contents if c.turn_complete) == 2


async def _hello_text(url: str) -> None:
    got: list[t.LiveServerMessage] = []
    async with rawlive.connect(
        "gemini-live-2.5-flash-preview", {"response_modalities": ["TEXT"]}, endpoint=url
    ) as session:
        await session.send_realtime_input(text="hello")
        await _turn(session, got)
    assert got[0].text == "[rawlive emulator] received: hello"


def test_the_cli_refuses_a_bad_cassette_with_one_line_and_exit_2(tmp_path: Path) -> None:
    import subprocess
    import sys

    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"x": 1}\n')
    for args in ([str(bad)], [str(tmp_path / "nope.jsonl")], [str(bad), "--policy", "fuzzy"]):
        result = subprocess.run(
            [sys.executable, "-m", "rawlive", "replay", *args],
            capture_output=True,
            text=True,
            timeout=30,
            stdin=subprocess.DEVNULL,
        )
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        assert result.returncode == 2 and len(lines) == 1, result.stderr
        assert lines[0].startswith("rawlive: ") and "Traceback" not in result.stderr


async def test_the_cli_replays_a_cut_off_cassette_with_one_clean_warning(tmp_path: Path) -> None:
    import signal
    import sys

    whole = (FIXTURES / "sessions" / "hello-text.jsonl").read_bytes()
    cut_at = whole.rindex(b"\n", 0, len(whole) - 1) + 1  # the end event's line starts here
    cassette = tmp_path / "cut.jsonl"
    cassette.write_bytes(whole[: cut_at + 10])
    frames = len(read_cassette(FIXTURES / "sessions" / "hello-text.jsonl").frames())
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rawlive",
        "replay",
        str(cassette),
        "--port",
        "0",
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
    )
    assert process.stderr is not None
    first = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
    second = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
    process.send_signal(signal.SIGINT)
    await asyncio.wait_for(process.wait(), 20)
    assert first == (
        f"warning: {cassette}: last line cut off at byte {cut_at}; "
        f"replaying the {frames} frames before it\n"
    )
    assert second.startswith("rawlive replay listening on ")
