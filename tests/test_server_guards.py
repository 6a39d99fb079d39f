"""What every local server refuses: a connection that never sends ``setup`` (closed after
the setup timeout) and a browser page of another site (``Origin`` checked, 403)."""

from __future__ import annotations

import asyncio
import contextlib
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.exceptions import ConnectionClosed, InvalidStatus

from rawlive.errors import ConfigError
from rawlive.servers.base import DEFAULT_SETUP_TIMEOUT, LiveServer, origin_allowed
from rawlive.servers.emulator import Emulator
from rawlive.servers.proxy import Proxy
from rawlive.servers.replay import ReplayServer

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CASSETTE = FIXTURES / "sessions" / "hello-text.jsonl"
PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
# The cassette's setup, so that the replay server matches it too.
SETUP = (
    '{"setup":{"model":"models/gemini-live-2.5-flash-preview",'
    '"generationConfig":{"responseModalities":["TEXT"]}}}'
)


@contextlib.asynccontextmanager
async def _server(kind: str, **options: Any) -> AsyncIterator[LiveServer]:
    """One of the three server commands' servers, running."""
    if kind == "emulator":
        async with Emulator(**options) as emulator:
            yield emulator
    elif kind == "replay":
        async with ReplayServer(CASSETTE, speed=0, **options) as replay:
            yield replay
    else:
        async with Emulator() as upstream, Proxy(upstream.url, **options) as proxy:
            yield proxy


SERVERS = ["emulator", "replay", "proxy"]


@pytest.mark.parametrize("kind", SERVERS)
async def test_a_connection_that_never_sends_setup_is_closed(kind: str) -> None:
    async with _server(kind, setup_timeout=0.3) as server:
        async with websockets.connect(server.url + PATH) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 5)
        assert ws.close_code == 1008
        assert ws.close_reason == "no setup message within 0.3 s of connecting; send setup first"


@pytest.mark.parametrize("kind", SERVERS)
async def test_a_setup_in_time_keeps_the_connection_open(kind: str) -> None:
    async with _server(kind, setup_timeout=0.3) as server:
        async with websockets.connect(server.url + PATH) as ws:
            await ws.send(SETUP)
            assert "setupComplete" in str(await asyncio.wait_for(ws.recv(), 5))
            await asyncio.sleep(0.6)
            await asyncio.wait_for(await ws.ping(), 5)  # still open


async def test_the_setup_timeout_defaults_to_30_s_and_0_or_none_disables_it() -> None:
    assert LiveServer().setup_timeout == DEFAULT_SETUP_TIMEOUT == 30.0
    for off in (0, None):
        async with Emulator(setup_timeout=off) as emulator:
            async with websockets.connect(emulator.url + PATH) as ws:
                await asyncio.sleep(0.4)
                await asyncio.wait_for(await ws.ping(), 5)
    with pytest.raises(ConfigError, match="setup_timeout must not be negative"):
        LiveServer(setup_timeout=-1)


async def test_serve_closes_a_silent_connection_after_setup_timeout() -> None:
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rawlive",
        "serve",
        "--port",
        "0",
        "--setup-timeout",
        "0.5",
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert process.stderr is not None
        line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
        url = line.split("listening on ")[1].split()[0]
        async with websockets.connect(url + PATH) as ws:
            with pytest.raises(ConnectionClosed):
                await asyncio.wait_for(ws.recv(), 10)
        assert ws.close_code == 1008
    finally:
        process.terminate()
        await process.wait()


# -- Origin ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("origin", "allowed"),
    [
        (None, True),  # not a browser: rawlive, the SDK, websockets
        ("http://localhost", True),
        ("http://localhost:3000", True),
        ("https://127.0.0.1:8443", True),
        ("http://[::1]:5173", True),
        ("HTTP://LOCALHOST:3000", True),
        ("https://evil.example", False),
        ("http://localhost.evil.example", False),
        ("http://127.0.0.1.nip.io", False),
        ("null", False),  # a sandboxed frame or a file:// page
        ("file://", False),
        ("http://user@localhost", False),
    ],
)
def test_origin_allowed(origin: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, ()) is allowed


def test_allowed_origins_are_exact_and_case_insensitive() -> None:
    assert origin_allowed("https://App.Example", ["https://app.example"])
    assert not origin_allowed("https://app.example:8443", ["https://app.example"])
    assert origin_allowed("https://anything.example", ["*"])


@pytest.mark.parametrize("kind", SERVERS)
async def test_a_page_of_another_site_is_refused_with_403(kind: str) -> None:
    async with _server(kind) as server:
        with pytest.raises(InvalidStatus) as refused:
            await websockets.connect(server.url + PATH, origin="https://evil.example")  # type: ignore[arg-type]
        assert refused.value.response.status_code == 403
        assert b"--allow-origin" in refused.value.response.body
        for origin in (None, "http://localhost:3000"):
            async with websockets.connect(server.url + PATH, origin=origin):  # type: ignore[arg-type]
                pass


@pytest.mark.parametrize("kind", SERVERS)
async def test_an_allowed_origin_is_accepted(kind: str) -> None:
    async with _server(kind, allow_origins=["https://app.example"]) as server:
        async with websockets.connect(server.url + PATH, origin="https://app.example"):  # type: ignore[arg-type]
            pass
        with pytest.raises(InvalidStatus):
            await websockets.connect(server.url + PATH, origin="https://other.example")  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["app.example", "https://app.example/path", ""])
def test_a_malformed_allowed_origin_is_a_config_error(bad: str) -> None:
    with pytest.raises(ConfigError, match="scheme://host"):
        LiveServer(allow_origins=[bad])


class ClosesWhileTheClientTalks(LiveServer):
    """Answers setup, reads nothing for a moment (the client's frames pile up), then closes 1011."""

    async def session(self, peer: Any) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        await asyncio.sleep(0.3)
        await peer.close(1011, "Internal error occurred.")


async def test_a_close_is_prompt_however_much_the_client_sent_unread() -> None:
    # 200 frames unread fill websockets' bounded queue, which stops reading the
    # socket: before, the client's close frame waited behind them until the
    # close timeout (10 s) ended the connection.
    import time

    frame = b'{"realtimeInput":{"text":"' + b"x" * 1700 + b'"}}'
    async with ClosesWhileTheClientTalks(capture_frames=True) as server:
        async with websockets.connect(server.url, max_size=None) as ws:
            await ws.send(b'{"setup":{"model":"models/m"}}', text=True)
            assert await ws.recv() == '{"setupComplete":{}}'
            for _ in range(200):
                await ws.send(frame, text=True)
            began = time.monotonic()
            with pytest.raises(ConnectionClosed) as closed:
                await ws.recv()
            took = time.monotonic() - began
        await asyncio.sleep(0.05)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1011
    assert took < 3.0, took
    # What the client sent before it saw the close is in the capture, all of it.
    [connection] = server.connections
    assert sum(1 for f in connection.frames if f.sender == "client") == 201
