"""How a client session ends when the server ends it: sends after a close, invalid
frames, going-away closes, fatal closes while resuming, closing mid-reconnection."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

import rawlive
from rawlive.cassette import CassetteWriter, CloseEvent, read_cassette
from rawlive.core.protocol import Protocol
from rawlive.servers.base import CaptureServer, LiveServer, Peer
from rawlive.wire import types as t

MODEL = "gemini-live-2.5-flash-preview"
HANDLE = b'{"sessionResumptionUpdate":{"newHandle":"h-1","resumable":true}}'


class Server(LiveServer):
    """Runs ``script(peer, number)`` for each connection (numbered from 1)."""

    def __init__(self, script: Callable[[Peer, int], Awaitable[None]]) -> None:
        super().__init__()
        self.script = script

    async def session(self, peer: Peer) -> None:
        await self.script(peer, len(self.connections))


async def _drain(session: rawlive.Session) -> list[t.LiveServerMessage]:
    return [message async for message in session.receive()]


async def test_a_send_after_the_server_closed_raises_its_close() -> None:
    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        await peer.close(1011, "Internal error occurred.")

    async with Server(script) as server, rawlive.connect(MODEL, endpoint=server.url) as session:
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await _drain(session)
        assert info.value.code == 1011
        # The session is closed for good: a send says so.
        with pytest.raises(rawlive.LocalProtocolError, match="the session is closed"):
            await session.send_realtime_input(text="too late")


async def test_a_send_right_after_the_server_closed_raises_that_close() -> None:
    # setupComplete and the close come together: the first send after
    # connect() meets the closed socket before the reader has seen the close.
    # Either way the caller gets the server's code and reason, and not
    # websockets' ConnectionClosed (which quotes the reason unredacted) as context.
    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        await peer.close(1008, "policy")

    async with Server(script) as server, rawlive.connect(MODEL, endpoint=server.url) as session:
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await session.send_realtime_input(text="x")
            await _drain(session)
    assert (info.value.code, info.value.reason) == (1008, "policy")
    assert info.value.__context__ is None


async def test_an_invalid_server_frame_ends_the_session_with_a_decode_error_and_1007(
    tmp_path: Path,
) -> None:
    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        await peer.send(b"{not json")
        async for _ in peer:
            pass

    recorded = tmp_path / "session.jsonl"
    async with Server(script) as server:
        async with rawlive.connect(MODEL, endpoint=server.url, record=recorded) as session:
            with pytest.raises(rawlive.DecodeError, match="malformed JSON"):
                await _drain(session)
        await server.connections[0].closed.wait()
    assert server.connections[0].close_code == 1007
    assert server.connections[0].close_reason == "invalid message from server"
    closes = [e for e in read_cassette(recorded).events if isinstance(e, CloseEvent)]
    assert [(c.code, c.by) for c in closes] == [(1007, "client")]


async def test_a_going_away_close_ends_a_session_without_resumption_normally() -> None:
    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        await peer.send(b'{"serverContent":{"turnComplete":true}}')
        await peer.close(1001, "going away")

    async with Server(script) as server, rawlive.connect(MODEL, endpoint=server.url) as session:
        received = await _drain(session)
    assert [m.server_content.turn_complete for m in received if m.server_content] == [True]


async def test_a_fatal_close_while_resuming_ends_the_session_with_that_close() -> None:
    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        if number == 1:
            await peer.send(b'{"setupComplete":{}}')
            await peer.send(HANDLE)
            peer.abort()
        else:
            await peer.close(1008, "Session not found.")

    async with Server(script) as server:
        async with rawlive.connect(
            MODEL,
            {"session_resumption": {}},
            endpoint=server.url,
            reconnect=rawlive.Reconnect(attempts=5, first_delay=0.01),
        ) as session:
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                await _drain(session)
    assert info.value.code == 1008 and info.value.fatal
    assert str(info.value).startswith("could not resume the session: connection closed with 1008")
    assert len(server.connections) == 2  # a fatal close is not retried


async def test_a_close_before_setup_complete_while_resuming_is_reported_as_that_close() -> None:
    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        if number == 1:
            await peer.send(b'{"setupComplete":{}}')
            await peer.send(HANDLE)
            peer.abort()
        else:
            await peer.close(1011, "Internal error occurred.")

    async with Server(script) as server:
        async with rawlive.connect(
            MODEL,
            {"session_resumption": {}},
            endpoint=server.url,
            reconnect=rawlive.Reconnect(attempts=2, first_delay=0.01),
        ) as session:
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                await _drain(session)
    assert info.value.code == 1011 and not info.value.fatal
    assert len(server.connections) == 3


async def test_no_setup_complete_within_the_setup_timeout_fails_the_connect() -> None:
    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        async for _ in peer:  # never answers setup
            pass

    key = "setup-timeout-key-0123456789"
    async with Server(script) as server:
        with pytest.raises(rawlive.ConnectError, match=r"no setupComplete within 0\.3 s") as info:
            await asyncio.wait_for(
                rawlive.connect(MODEL, endpoint=server.url, api_key=key, setup_timeout=0.3), 10
            )
    assert "raise setup_timeout" in str(info.value) and key not in str(info.value)


async def test_closing_during_a_reconnection_stops_it() -> None:
    reconnecting = asyncio.Event()

    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        if number == 1:
            await peer.send(b'{"setupComplete":{}}')
            await peer.send(HANDLE)
            peer.abort()
            return
        reconnecting.set()
        async for _ in peer:  # never answers setup
            pass

    async with Server(script) as server:
        session = await rawlive.connect(
            MODEL, {"session_resumption": {}}, endpoint=server.url, open_timeout=30
        )
        await asyncio.wait_for(reconnecting.wait(), 5)
        await asyncio.wait_for(session.close(), 5)
        # What arrived before the drop, then the end: no error, no resumption.
        assert [m.session_resumption_update is not None for m in await _drain(session)] == [True]
    assert len(server.connections) == 2


async def test_context_updates_and_prebuilt_messages_go_out_as_given() -> None:
    async with CaptureServer() as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            await session.send_context_update(system_instruction="Be brief.")
            await session.send_message(t.LiveClientRealtimeInput(text="hi"))
            assert session.usage.reports == 0 and session.session_id is None
        await server.connections[0].closed.wait()
    sent = [json.loads(f.payload) for f in server.connections[0].client_frames()[1:]]
    assert sent == [
        {
            "contextUpdate": {
                "systemInstruction": {"parts": [{"text": "Be brief."}], "role": "user"}
            }
        },
        {"realtimeInput": {"text": "hi"}},
    ]


async def test_a_session_records_into_a_writer_it_is_given_and_closes_it(tmp_path: Path) -> None:
    writer = CassetteWriter(tmp_path / "given.jsonl")
    async with CaptureServer() as server:
        async with rawlive.connect(
            MODEL, endpoint=server.url, api_key="AIzaGIVEN-writer-key-0123456789", record=writer
        ) as session:
            await session.send_realtime_input(text="hi")
    assert writer.closed
    cassette = read_cassette(tmp_path / "given.jsonl")
    assert cassette.complete
    assert [f.kind for f in cassette.frames(sender="client")] == ["setup", "realtimeInput.text"]
    assert "AIzaGIVEN" not in (tmp_path / "given.jsonl").read_text()


async def test_an_awaited_session_is_also_a_context_manager() -> None:
    async with CaptureServer() as server:
        session = await rawlive.connect(MODEL, endpoint=server.url)
        async with session as same:
            assert same is session
            await session.send_realtime_input(text="hi")
        await server.connections[0].closed.wait()
    assert server.connections[0].close_code == 1000


@pytest.mark.parametrize("secret", ["none", "in-message", "in-chain"])
async def test_a_fault_in_the_reader_ends_the_session_with_a_rawlive_error(
    monkeypatch: pytest.MonkeyPatch, secret: str
) -> None:
    # Not a decode or protocol error: a fault of rawlive's own (here in the
    # protocol core) while reading. Before, the reader task died with it:
    # receive() waited for ever and close() re-raised it.
    key = "reader-fault-key-0123456789"

    async def script(peer: Peer, number: int) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        await peer.recv()  # the fault comes with the answer to it
        await peer.send(b'{"serverContent":{"turnComplete":true}}')
        async for _ in peer:
            pass

    def broken(self: Protocol, data: bytes | str, now: float) -> t.LiveServerMessage | None:
        if secret == "in-message":
            raise RuntimeError(f"receive broke near {key}")
        try:
            raise KeyError(key if secret == "in-chain" else "k")
        except KeyError:
            raise RuntimeError("receive broke") from None  # (still its __context__)

    async with Server(script) as server:
        session = await asyncio.wait_for(
            rawlive.connect(MODEL, endpoint=server.url, api_key=key), 10
        )
        monkeypatch.setattr(Protocol, "receive", broken)
        await session.send_realtime_input(text="hello")
        try:
            with pytest.raises(rawlive.RawliveError) as info:
                await asyncio.wait_for(_drain(session), 10)
        finally:
            await asyncio.wait_for(session.close(), 10)  # does not raise
        await asyncio.wait_for(server.connections[0].closed.wait(), 10)
    error = info.value
    assert str(error) == "the session failed while reading from the server: RuntimeError: " + (
        "receive broke near <redacted>" if secret == "in-message" else "receive broke"
    )
    assert key not in repr(error)
    # The original is kept for its traceback only when no error in its chain quotes a secret.
    if secret == "none":
        assert isinstance(error.__cause__, RuntimeError)
    else:
        assert error.__cause__ is None and error.__context__ is None
    assert server.connections[0].close_code == 1011
    with pytest.raises(rawlive.RawliveError, match="failed while reading"):
        await asyncio.wait_for(_drain(session), 1)  # a later receive() ends the same way
