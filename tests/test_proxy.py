"""The recording proxy: frames both ways unchanged, closes mirrored, one cassette per
connection with no secret in it, and the official SDK going through it over wss://."""

from __future__ import annotations

import asyncio
import base64
import json
import pathlib
import sys
import time
import tracemalloc
import urllib.parse
from pathlib import Path
from typing import Any

import pytest
import websockets
from click.testing import CliRunner
from websockets.exceptions import ConnectionClosed

import rawlive
from rawlive.cassette import CloseEvent, read_cassette
from rawlive.cli import main
from rawlive.media import audio
from rawlive.servers.base import (
    CapturedConnection,
    CaptureServer,
    Frame,
    LiveServer,
    Peer,
    server_ssl_context,
)
from rawlive.servers.emulator import Emulator
from rawlive.servers.proxy import CLOSE_BAD_GATEWAY, Proxy, forwarded_headers, upstream_url
from rawlive.tools.audit import audit_cassette
from rawlive.wire import types as t

NATIVE = "gemini-2.5-flash-native-audio-preview-12-2025"
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SPOKEN = FIXTURES / "audio" / "weather-16k-mono.wav"
API_KEY = "fake.TEST-header-key-0123456789abcdef"
QUERY_KEY = "AIzaSyTEST/query+key=0123456789"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


def _wire(frames: list[Frame], sender: str) -> list[tuple[str, bytes]]:
    return [(f.opcode, f.payload) for f in frames if f.sender == sender]


class Echo(CaptureServer):
    """Echoes each frame with its opcode, plus a binary one; closes or drops on request."""

    async def session(self, peer: Peer) -> None:
        async for payload in peer:
            if payload == b"close-1008":
                await peer.close(1008, "policy: you asked for it")
                return
            if payload == b"drop":
                peer.abort()
                return
            opcode = peer.capture.frames[-1].opcode
            await peer.send(payload, opcode=opcode)
            await peer.send(b"\x00\xffbinary " + payload, opcode="binary")


async def _exchange(url: str, frames: list[str | bytes]) -> tuple[Any, list[str | bytes]]:
    ws = await websockets.connect(
        url, additional_headers={"x-goog-api-key": API_KEY, "x-custom": "yes"}
    )
    received: list[str | bytes] = []
    for frame in frames:
        await ws.send(frame)
        received.append(await ws.recv())
        received.append(await ws.recv())
    return ws, received


def test_upstream_url_and_forwarded_headers() -> None:
    assert upstream_url("ws://h:1", "/a/b?key=k") == "ws://h:1/a/b?key=k"
    assert upstream_url("wss://h/", "/a") == "wss://h/a"
    assert upstream_url("ws://h:1/fixed?x=1", "/a?key=k") == "ws://h:1/fixed?x=1&key=k"
    headers = [
        ("Host", "h"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "abc"),
        ("Sec-WebSocket-Version", "13"),
        ("x-goog-api-key", "k"),
        ("Authorization", "Bearer t"),
        ("x-custom", "1"),
    ]
    assert forwarded_headers(headers) == [
        ("x-goog-api-key", "k"),
        ("Authorization", "Bearer t"),
        ("x-custom", "1"),
    ]


async def test_frames_pass_both_ways_unchanged_and_are_recorded_without_secrets(
    tmp_path: Path,
) -> None:
    seen: list[tuple[CapturedConnection, Frame]] = []
    sent: list[str | bytes] = ['{"setup": {"model": "m"}}', b"\x01\x02raw", "\u00e9t\u00e9"]
    async with Echo() as upstream:
        async with Proxy(
            upstream.url,
            record_dir=tmp_path,
            on_frame=lambda c, f: seen.append((c, f)),
            capture_frames=True,
        ) as proxy:
            url = f"{proxy.url}{PATH}?key={urllib.parse.quote(QUERY_KEY, safe='')}"
            ws, received = await _exchange(url, sent)
            await ws.close(1000, "bye")
            await proxy.connections[0].closed.wait()
            await upstream.connections[0].closed.wait()

    up = upstream.connections[0]
    # The handshake: same path and query, the credentials and custom headers passed on.
    assert up.path == PATH and up.query == {"key": [QUERY_KEY]}
    assert up.header("x-goog-api-key") == API_KEY and up.header("x-custom") == "yes"
    # Client -> upstream: same opcodes, same bytes.
    expected = [("text" if isinstance(f, str) else "binary", _bytes(f)) for f in sent]
    assert _wire(up.frames, "client") == expected
    # Upstream -> client: what upstream sent is what the client got, types included.
    assert [("text" if isinstance(f, str) else "binary", _bytes(f)) for f in received] == _wire(
        up.frames, "server"
    )
    assert isinstance(received[0], str) and isinstance(received[1], bytes)
    assert isinstance(received[2], bytes) and received[2] == b"\x01\x02raw"
    # The client's close reached upstream with its code and reason.
    assert (up.close_code, up.close_reason) == (1000, "bye")
    # The hook saw every frame, in both directions.
    assert [(f.sender, f.opcode, f.payload) for _, f in seen] == [
        (f.sender, f.opcode, f.payload) for f in proxy.connections[0].frames
    ]
    assert len(seen) == 9

    (path,) = sorted(tmp_path.glob("connection-*.jsonl"))
    assert path.name == "connection-0001.jsonl"
    raw = path.read_text()
    for secret in (API_KEY, QUERY_KEY, "query+key", "query%2Bkey"):
        assert secret not in raw
    recorded = read_cassette(path)
    assert [(e.sender, e.opcode, e.payload) for e in recorded.frames()] == [
        (f.sender, f.opcode, f.payload) for f in proxy.connections[0].frames
    ]
    assert recorded.header.model == "m"
    (close,) = recorded.closes
    assert isinstance(close, CloseEvent)
    assert (close.code, close.reason, close.by) == (1000, "bye", "client")


async def test_the_hook_sees_every_frame_when_the_proxy_keeps_none() -> None:
    seen: list[Frame] = []
    async with Echo() as upstream:
        async with Proxy(upstream.url, on_frame=lambda c, f: seen.append(f)) as proxy:
            ws, _ = await _exchange(proxy.url, ['{"setup": {"model": "m"}}', b"\x01raw"])
            await ws.close()
            await proxy.connections[0].closed.wait()
            await upstream.connections[0].closed.wait()
    assert [(f.sender, f.opcode, f.payload) for f in seen] == [
        (f.sender, f.opcode, f.payload) for f in upstream.connections[0].frames
    ]
    assert all(0 <= f.time < 5 for f in seen)  # seconds since the handshake
    assert proxy.connections[0].frames == []  # a summary: the frames went to the hook only


def _bytes(frame: str | bytes) -> bytes:
    return frame.encode() if isinstance(frame, str) else frame


async def test_an_upstream_close_reaches_the_client_with_its_code_and_reason(
    tmp_path: Path,
) -> None:
    async with Echo() as upstream, Proxy(upstream.url, record_dir=tmp_path) as proxy:
        ws, _ = await _exchange(proxy.url + PATH, ["hello"])
        await ws.send("close-1008")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008 and ws.close_reason == "policy: you asked for it"
        assert ws.protocol.close_rcvd is not None  # a real close frame, not a drop
        await proxy.connections[0].closed.wait()
    close = read_cassette(tmp_path / "connection-0001.jsonl").closes[0]
    assert (close.code, close.reason, close.by) == (1008, "policy: you asked for it", "server")


async def test_a_drop_upstream_becomes_a_drop_downstream() -> None:
    async with Echo() as upstream, Proxy(upstream.url) as proxy:
        ws, _ = await _exchange(proxy.url + PATH, ["hello"])
        await ws.send("drop")
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(ws.recv(), 5)
        assert ws.protocol.close_rcvd is None and ws.close_code == 1006
        await asyncio.wait_for(proxy.connections[0].closed.wait(), 5)


async def test_a_client_drop_becomes_a_drop_upstream() -> None:
    async with Echo() as upstream, Proxy(upstream.url) as proxy:
        ws, _ = await _exchange(proxy.url + PATH, ["hello"])
        ws.transport.abort()
        await asyncio.wait_for(upstream.connections[0].closed.wait(), 5)
        assert upstream.connections[0].close_code == 1006


async def test_an_unreachable_upstream_closes_with_bad_gateway() -> None:
    async with Echo() as dead:
        url = dead.url
    async with Proxy(url) as proxy:
        async with websockets.connect(proxy.url + PATH) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
            assert ws.close_code == CLOSE_BAD_GATEWAY


async def _turn(session: rawlive.Session) -> list[t.LiveServerMessage]:
    messages = []
    async for message in session.receive():
        messages.append(message)
        if message.server_content and message.server_content.turn_complete:
            break
    return messages


async def test_a_rawlive_session_through_the_proxy_to_the_emulator(tmp_path: Path) -> None:
    pcm = b"".join(audio.iter_pcm(SPOKEN))[: 16000 * 2]  # 1 s
    async with (
        Emulator(speed=0, capture_frames=True) as emulator,
        Proxy(emulator.url, record_dir=tmp_path, capture_frames=True) as proxy,
    ):
        async with rawlive.connect(NATIVE, endpoint=proxy.url, api_key=API_KEY) as session:
            await session.send_client_content(
                turns=t.Content(role="user", parts=[t.Part(text="hello")])
            )
            text_turn = await asyncio.wait_for(_turn(session), 10)
            for offset in range(0, len(pcm), 1280):
                await session.send_realtime_input(
                    audio=t.Blob(data=pcm[offset : offset + 1280], mime_type="audio/pcm;rate=16000")
                )
            await session.send_realtime_input(audio_stream_end=True)
            audio_turn = await asyncio.wait_for(_turn(session), 10)
        await proxy.connections[0].closed.wait()
        await emulator.connections[0].closed.wait()

    # The native audio model answers text with a short tone (the emulator cannot speak).
    assert sum(len(m.data or b"") for m in text_turn) == 300 * 48
    assert text_turn[-1].server_content and text_turn[-1].server_content.turn_complete
    assert sum(len(m.data or b"") for m in audio_turn) == len(pcm) * 3 // 2
    em, px = emulator.connections[0], proxy.connections[0]
    assert em.header("x-goog-api-key") == API_KEY and em.path == PATH
    assert _wire(em.frames, "client") == _wire(px.frames, "client")
    assert _wire(em.frames, "server") == _wire(px.frames, "server")
    assert em.close_code == px.close_code == 1000
    raw = (tmp_path / "connection-0001.jsonl").read_text()
    assert API_KEY not in raw
    recorded = read_cassette(tmp_path / "connection-0001.jsonl")
    assert [(e.sender, e.opcode, e.payload) for e in recorded.frames()] == [
        (f.sender, f.opcode, f.payload) for f in px.frames
    ]


async def test_the_official_sdk_through_a_wss_proxy_is_recorded_byte_for_byte(
    tls: tuple[pathlib.Path, pathlib.Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    genai = pytest.importorskip("google.genai")
    from google.genai import types as gt

    ca_file, server_pem = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    async with (
        Emulator(speed=0, capture_frames=True) as emulator,
        Proxy(emulator.url, ssl=server_ssl_context(server_pem), record_dir=tmp_path) as proxy,
    ):
        assert proxy.url.startswith("wss://")
        client = genai.Client(
            api_key=API_KEY, http_options={"base_url": f"https://127.0.0.1:{proxy.port}"}
        )
        config = gt.LiveConnectConfig(response_modalities=[gt.Modality.TEXT])
        received: list[Any] = []
        async with client.aio.live.connect(model="gemini-live-2.5-flash", config=config) as s:
            await s.send_client_content(
                turns=gt.Content(role="user", parts=[gt.Part(text="hello")]), turn_complete=True
            )
            async for message in s.receive():  # ends at turnComplete
                received.append(message)
        await asyncio.wait_for(proxy.connections[0].closed.wait(), 5)
        await asyncio.wait_for(emulator.connections[0].closed.wait(), 5)

    assert "".join(m.text or "" for m in received) == "[rawlive emulator] received: hello"
    em = emulator.connections[0]
    assert em.header("x-goog-api-key") == API_KEY
    raw = (tmp_path / "connection-0001.jsonl").read_text()
    assert API_KEY not in raw
    recorded = read_cassette(tmp_path / "connection-0001.jsonl")
    assert [(e.opcode, e.payload) for e in recorded.frames(sender="client")] == _wire(
        em.frames, "client"
    )
    assert [(e.opcode, e.payload) for e in recorded.frames(sender="server")] == _wire(
        em.frames, "server"
    )
    # The SDK's own key spelling is kept as sent (it writes some keys in snake_case).
    client_text = b"".join(e.payload for e in recorded.frames(sender="client"))
    assert b"turn_complete" in client_text or b"client_content" in client_text


def test_the_proxy_command_checks_its_arguments() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["proxy", "--upstream", "http://x", "--listen", "127.0.0.1:0"])
    assert result.exit_code == 2 and "ws:// or wss://" in result.output
    result = runner.invoke(main, ["proxy", "--upstream", "ws://x", "--listen", "nope"])
    assert result.exit_code == 2 and "HOST:PORT" in result.output
    result = runner.invoke(main, ["proxy", "--help"])
    assert result.exit_code == 0 and "SSL_CERT_FILE" in result.output


async def test_the_sdks_traffic_recorded_through_the_proxy_audits_as_informational_only(
    tls: tuple[pathlib.Path, pathlib.Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    genai = pytest.importorskip("google.genai")
    from google.genai import types as gt

    from rawlive.tools.audit import audit_cassette

    ca_file, server_pem = tls
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))
    chunk = bytes([0xFB, 0xFF]) * 320  # 20 ms whose base64 needs '+' and '/' (URL-safe: '-', '_')
    async with (
        Emulator(speed=0) as emulator,
        Proxy(emulator.url, ssl=server_ssl_context(server_pem), record_dir=tmp_path) as proxy,
    ):
        client = genai.Client(
            api_key=API_KEY, http_options={"base_url": f"https://127.0.0.1:{proxy.port}"}
        )
        config = gt.LiveConnectConfig(response_modalities=[gt.Modality.AUDIO])
        async with client.aio.live.connect(model=NATIVE, config=config) as s:
            for _ in range(5):
                await s.send_realtime_input(
                    audio=gt.Blob(data=chunk, mime_type="audio/pcm;rate=16000")
                )
            await s.send_realtime_input(text="hello")
            async for _message in s.receive():  # ends at turnComplete
                pass
        await asyncio.wait_for(proxy.connections[0].closed.wait(), 5)

    report = audit_cassette(tmp_path / "connection-0001.jsonl")
    by_rule = {finding.rule: finding for finding in report.findings}
    assert by_rule["mixed-casing"].severity == "info"
    assert by_rule["urlsafe-base64"].severity == "info"
    assert not [f for f in report.findings if f.severity in ("warning", "error")]
    assert API_KEY not in (tmp_path / "connection-0001.jsonl").read_text()


async def _line(stream: asyncio.StreamReader, pattern: str, seen: list[str]) -> str:
    """Read lines until one contains ``pattern`` (all lines read are kept in ``seen``)."""
    while True:
        raw = await asyncio.wait_for(stream.readline(), 20)
        if not raw:
            raise AssertionError(f"{pattern!r} never came; got {seen}")
        line = raw.decode()
        seen.append(line)
        if pattern in line:
            return line


async def test_proxy_audit_prints_findings_live_and_a_summary_per_connection(
    tmp_path: Path,
) -> None:
    async with Emulator() as emulator:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rawlive",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            emulator.url,
            "--audit",
            "--record",
            str(tmp_path),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        out: list[str] = []
        err: list[str] = []
        try:
            assert proc.stdout is not None and proc.stderr is not None
            listening = await _line(proc.stderr, "listening on", err)
            url = listening.split("listening on ")[1].split()[0]
            query = urllib.parse.urlencode({"key": QUERY_KEY})
            async with websockets.connect(f"{url}{PATH}?{query}") as ws:
                await ws.send(json.dumps({"setup": {"model": f"models/{NATIVE}"}}))
                await ws.recv()
                data = base64.b64encode(audio.tone(200, rate=16000)).decode()
                blob = {"mimeType": "audio/pcm", "data": data}  # no rate=
                await ws.send(json.dumps({"realtimeInput": {"audio": blob}}))
                # Printed while the connection is still open: live, not at the end.
                finding = await _line(proc.stdout, "audio-mime-rate", out)
                assert finding.startswith("[conn 1] warning audio-mime-rate (§6)")
                await ws.send(
                    '{"toolResponse": {"functionResponses": '
                    '[{"id": "never-issued", "name": "f", "response": {}}]}}'
                )
                await _line(proc.stdout, "tool-response-unknown-id", out)
            summary = await _line(proc.stdout, "[conn 1] closed", out)
            assert "closed 1000 by client" in summary
            assert "findings 1 error, 1 warning" in summary
        finally:
            proc.terminate()
            rest_out, rest_err = await proc.communicate()
    printed = "".join(out + err) + rest_out.decode() + rest_err.decode()
    for form in (QUERY_KEY, urllib.parse.quote(QUERY_KEY, safe="")):
        assert form not in printed
    # The recording holds the same session, and auditing it finds the same.
    (cassette,) = sorted(tmp_path.glob("*.jsonl"))
    rules = {f.rule for f in audit_cassette(cassette).findings}
    assert {"audio-mime-rate", "tool-response-unknown-id"} <= rules


class Deaf(LiveServer):
    """Accepts a connection, then stops reading from it (a stuck upstream) until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()

    async def session(self, peer: Peer) -> None:
        peer.ws.transport.pause_reading()
        await self.release.wait()
        peer.abort()


async def _flood(ws: Any, frame: bytes, count: int) -> int:
    """Send ``frame`` up to ``count`` times until the sends stall; the number sent."""
    sent = 0

    async def send_all() -> None:
        nonlocal sent
        for _ in range(count):
            await ws.send(frame)
            sent += 1

    task = asyncio.create_task(send_all())
    last = -1
    while not task.done() and sent != last:
        last = sent
        await asyncio.sleep(0.5)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    return sent


async def test_an_upstream_that_stops_reading_stops_the_proxy_reading_the_client() -> None:
    """Backpressure: the proxy holds a few frames, not a queue of them, per direction."""
    size = 2**20
    frame = b"\x01" * size
    options: dict[str, Any] = {"max_size": 2 * size, "capture_frames": False}
    async with Deaf() as upstream, Proxy(upstream.url, **options) as proxy:
        async with websockets.connect(proxy.url + PATH, max_size=None) as ws:
            await ws.send(b"hello")
            await proxy.wait_for_connections(1)
            tracemalloc.start()
            try:
                sent = await _flood(ws, frame, 80)
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            upstream.release.set()  # the upstream drops; the proxy drops the client
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
    assert sent < 80, "the client's sends never stalled"
    assert peak < 8 * size, f"{peak / size:.1f} frames held while upstream does not read"


async def test_an_upstream_that_takes_nothing_for_stall_timeout_is_dropped_with_its_client() -> (
    None
):
    """Blocked forwarding to a deaf upstream, the proxy lets both sides go (and stops)."""
    size = 2**20
    frame = b"\x01" * size
    options: dict[str, Any] = {"max_size": 2 * size, "capture_frames": False}

    async def scenario() -> float:
        async with Deaf() as upstream:
            async with Proxy(upstream.url, stall_timeout=2.0, **options) as proxy:
                async with websockets.connect(proxy.url + PATH, max_size=None) as ws:
                    await ws.send(b"hello")
                    await proxy.wait_for_connections(1)
                    started = time.monotonic()
                    assert await _flood(ws, frame, 80) < 80  # the proxy is stuck upstream
                    with pytest.raises(ConnectionClosed):
                        await asyncio.wait_for(ws.recv(), 10)  # dropped by the proxy
                    await asyncio.wait_for(proxy.connections[0].closed.wait(), 5)
                    ended = time.monotonic() - started
                upstream.release.set()
            return ended

    ended = await asyncio.wait_for(scenario(), 30)
    assert 2.0 <= ended < 6.0, f"the proxy let go {ended:.1f} s after the flood began"


class Flood(LiveServer):
    """Sends the frame it is given over and over until the proxy stops taking them."""

    def __init__(self, frame: bytes) -> None:
        super().__init__()
        self.frame = frame
        self.sent = 0

    async def session(self, peer: Peer) -> None:
        self.sent = await _flood(peer.ws, self.frame, 80)
        await peer.ws.wait_closed()


async def test_a_client_that_stops_reading_stops_the_proxy_reading_the_upstream() -> None:
    size = 2**20
    upstream = Flood(b"\x02" * size)
    options: dict[str, Any] = {"max_size": 2 * size, "capture_frames": False}
    async with upstream, Proxy(upstream.url, **options) as proxy:
        async with websockets.connect(proxy.url + PATH, max_size=None) as ws:
            ws.transport.pause_reading()
            tracemalloc.start()
            try:
                await proxy.wait_for_connections(1)
                await upstream.wait_for_connections(1)
                await asyncio.sleep(0.2)
                while upstream.sent == 0 and not upstream.connections[0].closed.is_set():
                    await asyncio.sleep(0.2)  # until the upstream's flood has stalled
                _, peak = tracemalloc.get_traced_memory()
            finally:
                tracemalloc.stop()
            ws.transport.abort()
    assert upstream.sent < 80, "the upstream's sends never stalled"
    assert peak < 8 * size, f"{peak / size:.1f} frames held while the client does not read"
