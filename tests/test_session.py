"""The client session against local servers: handshake, streams, closes, secrets."""

from __future__ import annotations

import asyncio
import logging

import msgspec
import pytest

import rawlive
from rawlive.servers.base import CaptureServer, LiveServer, Peer
from rawlive.wire import types as t

KEY = "fake.TESTKEY-session-0123456789abcdef"
MODEL = "gemini-2.5-flash-native-audio-preview-12-2025"


class ScriptedServer(LiveServer):
    """Answers setup with the given first frame, then sends frames, then closes."""

    def __init__(
        self,
        first: bytes = b'{"setupComplete":{}}',
        then: list[tuple[bytes, str]] | None = None,
        close: tuple[int, str] | None = (1000, ""),
    ) -> None:
        super().__init__()
        self.first = first
        self.then = then or []
        self.close_with = close

    async def session(self, peer: Peer) -> None:
        await peer.read_setup()
        await peer.send(self.first)
        for payload, opcode in self.then:
            await peer.send(payload, opcode=opcode)  # type: ignore[arg-type]
        if self.close_with is not None:
            await peer.close(*self.close_with)
        else:
            async for _ in peer:
                pass


async def test_connect_sends_setup_to_the_standard_path_with_the_key_header() -> None:
    async with CaptureServer() as server:
        async with rawlive.connect(
            MODEL, {"response_modalities": ["AUDIO"]}, api_key=KEY, endpoint=server.url
        ):
            pass
        await server.connections[0].closed.wait()
    capture = server.connections[0]
    assert capture.path == (
        "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
    )
    assert capture.header("x-goog-api-key") == KEY
    assert capture.client_frames()[0].opcode == "text"
    assert msgspec.json.decode(capture.client_frames()[0].payload) == {
        "setup": {"model": f"models/{MODEL}", "generationConfig": {"responseModalities": ["AUDIO"]}}
    }
    assert capture.close_code == 1000


async def test_sends_arrive_as_compact_camelcase_text_frames_in_order() -> None:
    async with CaptureServer() as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            await session.send_realtime_input(
                audio=t.Blob(data=b"\x01\x02", mime_type="audio/pcm;rate=16000")
            )
            await session.send_realtime_input(text="Hello, how are you?")
            await session.send_client_content(
                turns=t.Content(role="user", parts=[t.Part(text="hi")]), turn_complete=True
            )
            await session.send_tool_response(
                function_responses=[t.FunctionResponse(id="fc-1", name="f", response={"a": 1})]
            )
        await server.connections[0].closed.wait()
    frames = [f.payload for f in server.connections[0].client_frames()[1:]]
    assert frames == [
        b'{"realtimeInput":{"audio":{"data":"AQI=","mimeType":"audio/pcm;rate=16000"}}}',
        b'{"realtimeInput":{"text":"Hello, how are you?"}}',
        b'{"clientContent":{"turns":[{"parts":[{"text":"hi"}],"role":"user"}],"turnComplete":true}}',
        b'{"toolResponse":{"functionResponses":[{"id":"fc-1","name":"f","response":{"a":1}}]}}',
    ]


async def test_receive_is_one_stream_across_turns_and_ends_on_a_normal_close() -> None:
    turn = [
        (b'{"serverContent":{"modelTurn":{"parts":[{"text":"one"}]}}}', "text"),
        (b'{"serverContent":{"turnComplete":true}}', "binary"),
        (b'{"serverContent":{"modelTurn":{"parts":[{"text":"two"}]}}}', "binary"),
        (b'{"serverContent":{"turnComplete":true}}', "text"),
    ]
    async with ScriptedServer(then=turn) as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            received = [m async for m in session.receive()]
    assert [m.text for m in received] == ["one", None, "two", None]
    assert [bool(m.server_content and m.server_content.turn_complete) for m in received] == [
        False,
        True,
        False,
        True,
    ]


async def test_a_first_message_that_is_not_setup_complete_is_a_clear_error() -> None:
    async with ScriptedServer(first=b'{"serverContent":{"turnComplete":true}}') as server:
        with pytest.raises(rawlive.RemoteProtocolError, match="setupComplete"):
            await rawlive.connect(MODEL, endpoint=server.url)


@pytest.mark.parametrize(
    ("code", "reason", "hint"),
    [
        (1007, "Request contains an invalid argument.", "invalid"),
        (1008, "BidiGenerateContent session not found", "handle"),
        (1008, "The operation was aborted.", "tool call"),
        (1011, "Internal error occurred.", "retry"),
    ],
)
async def test_abnormal_closes_raise_with_code_reason_and_hint(
    code: int, reason: str, hint: str
) -> None:
    async with ScriptedServer(close=(code, reason)) as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert (info.value.code, info.value.reason) == (code, reason)
    assert info.value.hint is not None and hint in info.value.hint


async def test_a_close_during_setup_raises_with_its_code() -> None:
    class Refuser(LiveServer):
        async def session(self, peer: Peer) -> None:
            await peer.read_setup()
            await peer.close(1008, "models/x is not found for API version v1beta")

    async with Refuser() as server:
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await rawlive.connect("x", endpoint=server.url)
    assert info.value.code == 1008 and info.value.hint and "model" in info.value.hint


async def test_a_refused_connection_is_a_connect_error_without_the_key() -> None:
    with pytest.raises(rawlive.ConnectError) as info:
        await rawlive.connect(MODEL, api_key=KEY, endpoint="ws://127.0.0.1:9/?key=" + KEY)
    assert KEY not in str(info.value) and KEY not in repr(info.value)


async def test_unknown_message_kinds_are_skipped_not_fatal() -> None:
    then = [(b'{"brandNewKind":{}}', "text"), (b'{"serverContent":{"turnComplete":true}}', "text")]
    async with ScriptedServer(then=then) as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            received = [m async for m in session.receive()]
    assert len(received) == 1 and received[0].server_content is not None


async def test_the_key_never_reaches_debug_logs_or_reprs(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        async with CaptureServer() as server:
            async with rawlive.connect(MODEL, api_key=KEY, endpoint=server.url) as session:
                shown = repr(session) + repr(session.endpoint)
                await session.send_realtime_input(text="x")
    assert any("x-goog-api-key" in r.getMessage() for r in caplog.records)
    assert KEY not in caplog.text
    assert KEY not in shown


async def test_tool_calls_are_tracked_on_the_session() -> None:
    then = [(b'{"toolCall":{"functionCalls":[{"id":"fc-9","name":"f","args":{}}]}}', "text")]
    async with ScriptedServer(then=then, close=None) as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            async for message in session.receive():
                assert message.tool_call is not None
                break
            assert list(session.tool_calls) == ["fc-9"]
            await session.send_tool_response(
                function_responses=t.FunctionResponse(id="fc-9", name="f", response={})
            )
            assert session.tool_calls == {}


async def test_the_guides_code_runs_through_the_client_shim() -> None:
    async with CaptureServer() as server:
        client = rawlive.Client(
            api_key=KEY,
            http_options={
                "base_url": server.url.replace("ws://", "http://"),
                "headers": {"x-a": "b"},
            },
        )
        config = {"response_modalities": ["AUDIO"]}
        async with client.aio.live.connect(model=MODEL, config=config) as session:
            await session.send_realtime_input(text="hi")
        await server.connections[0].closed.wait()
    capture = server.connections[0]
    assert capture.header("x-goog-api-key") == KEY
    assert capture.header("x-a") == "b"
    assert capture.path.endswith(".v1beta.GenerativeService.BidiGenerateContent")


async def test_a_session_can_be_awaited_and_closed_by_hand() -> None:
    async with CaptureServer() as server:
        session = await rawlive.connect(MODEL, endpoint=server.url)
        await session.send_realtime_input(text="x")
        await session.close()
        await session.close()
        with pytest.raises(rawlive.RawliveError, match="closed"):
            await session.send_realtime_input(text="y")
        assert [m async for m in session.receive()] == []


async def test_compression_is_off_and_large_messages_are_accepted() -> None:
    big = msgspec.json.encode(
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": "AAAA" * 700_000}}]}}}
    )
    async with ScriptedServer(then=[(big, "binary")]) as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            received = [m async for m in session.receive()]
        await asyncio.sleep(0)
    assert received[0].data is not None and len(received[0].data) == 2_100_000
    extensions = server.connections[0].header("Sec-WebSocket-Extensions")
    assert extensions is None


async def test_a_server_that_stops_answering_pings_ends_the_session_with_a_hint() -> None:
    class Mute(LiveServer):
        async def session(self, peer: Peer) -> None:
            await peer.read_setup()
            await peer.send(b'{"setupComplete":{}}')
            peer.ws.transport.pause_reading()  # pings go unanswered for a while
            await asyncio.sleep(0.5)
            peer.ws.transport.resume_reading()
            async for _ in peer:
                pass

    async with Mute() as server:
        async with rawlive.connect(
            MODEL, endpoint=server.url, ping_interval=0.05, ping_timeout=0.1
        ) as session:
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                async for _ in session.receive():
                    pass
    assert info.value.code == 1011
    assert "keepalive ping timeout" in info.value.reason
    assert info.value.hint is not None and "ping_timeout" in info.value.hint


async def test_pongs_slower_than_the_interval_but_within_the_timeout_are_tolerated() -> None:
    class Slow(LiveServer):
        async def session(self, peer: Peer) -> None:
            await peer.read_setup()
            await peer.send(b'{"setupComplete":{}}')
            for _ in range(4):  # pongs come up to ~0.15 s late, pings every 0.05 s
                peer.ws.transport.pause_reading()
                await asyncio.sleep(0.15)
                peer.ws.transport.resume_reading()
                await asyncio.sleep(0.01)
            await peer.send(b'{"serverContent":{"turnComplete":true}}')
            await peer.close()

    async with Slow() as server:
        async with rawlive.connect(
            MODEL, endpoint=server.url, ping_interval=0.05, ping_timeout=0.5
        ) as session:
            received = [m async for m in session.receive()]
    assert len(received) == 1


async def test_a_server_that_closes_right_after_the_handshake_is_a_clear_error() -> None:
    class Slammer(LiveServer):
        async def session(self, peer: Peer) -> None:
            await peer.close(1011, "The service is currently unavailable.")

    async with Slammer() as server:
        for _ in range(5):  # the close may come before or after our setup is sent
            with pytest.raises(rawlive.LiveConnectionClosed) as info:
                await rawlive.connect(MODEL, endpoint=server.url)
            assert info.value.code == 1011 and info.value.hint


async def test_connect_warns_of_what_the_models_row_refuses_and_sends_the_setup_anyway(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="rawlive.client.session"):
        async with CaptureServer() as server:
            async with rawlive.connect(
                "gemini-3.8-live",
                {"thinking_config": {"thinking_budget": 128}},
                api_key=KEY,
                endpoint=server.url,
            ):
                pass
            await server.connections[0].closed.wait()
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 1
    (warning,) = warned
    assert "gemini-3.8-live refuses generationConfig.thinkingConfig" in warning
    assert "1007" in warning and "Unknown name" in warning  # the close code and its reason
    assert "§10.3" in warning  # the source
    setup = msgspec.json.decode(server.connections[0].client_frames()[0].payload)["setup"]
    assert setup["generationConfig"]["thinkingConfig"] == {"thinkingBudget": 128}


async def test_a_setup_the_model_takes_gives_no_warning(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="rawlive.client.session"):
        async with CaptureServer() as server:
            async with rawlive.connect("gemini-3.8-live", api_key=KEY, endpoint=server.url):
                pass
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


class Flood(LiveServer):
    """Sends ``count`` content messages after setupComplete, counting them out, then closes."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.sent = 0

    async def session(self, peer: Peer) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        pad = "x" * 4000
        for i in range(self.count):
            await peer.send(
                msgspec.json.encode(
                    {"serverContent": {"modelTurn": {"parts": [{"text": f"{i} {pad}"}]}}}
                )
            )
            self.sent += 1
        await peer.close(1000, "")


async def test_a_consumer_slower_than_the_server_makes_the_server_wait() -> None:
    from rawlive.client.session import MAX_QUEUED

    count = 8000  # 32 MB: far more than the queue, websockets' and TCP's buffers hold
    async with Flood(count) as server:
        async with rawlive.connect(MODEL, endpoint=server.url) as session:
            await asyncio.sleep(1.0)  # nothing read: the reader stops at the bound
            queued = session._queue.qsize()
            sent_while_idle = server.sent
            texts = [m.text async for m in session.receive()]
    assert queued == MAX_QUEUED
    # (the buffers on the way hold a few MB: loopback TCP's grow to several)
    assert sent_while_idle < count - 2000, sent_while_idle
    # Nothing lost or reordered once read.
    assert [int(text.split()[0]) for text in texts] == list(range(count))


async def test_closing_a_session_whose_consumer_lags_returns_promptly() -> None:
    async with Flood(4000) as server:
        session = await rawlive.connect(MODEL, endpoint=server.url)
        await asyncio.sleep(0.5)
        await asyncio.wait_for(session.close(), 5.0)


async def test_the_watchdog_does_not_take_an_unread_reply_for_a_stall() -> None:
    policy = rawlive.StallPolicy(first_reply=0.3, gap=0.3, ping_timeout=0.3)
    async with Flood(2000) as server:
        async with rawlive.connect(MODEL, endpoint=server.url, watchdog=policy) as session:
            await asyncio.sleep(1.5)  # five gaps with the reader waiting on us
            received = [m async for m in session.receive()]
    assert not any(isinstance(m, rawlive.Stalled) for m in received)
    assert len(received) == 2000
