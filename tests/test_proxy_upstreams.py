"""The proxy's upstream side: a wss:// upstream and its CA, checks of the upstream
setting, a close with no code passed on as such, a failing frame hook."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest
import websockets
from websockets.exceptions import ConnectionClosed

import rawlive
from rawlive.servers.base import (
    CapturedConnection,
    CaptureServer,
    Frame,
    LiveServer,
    Peer,
    server_ssl_context,
)
from rawlive.servers.emulator import Emulator
from rawlive.servers.proxy import Proxy

PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"


class Echo(CaptureServer):
    async def session(self, peer: Peer) -> None:
        async for payload in peer:
            await peer.send(payload, opcode=peer.capture.frames[-1].opcode)


def test_an_upstream_ca_file_is_for_a_wss_upstream_only(tmp_path: Path) -> None:
    with pytest.raises(rawlive.ConfigError, match="upstream_ca_file is for a wss:// upstream"):
        Proxy("ws://127.0.0.1:8765", upstream_ca_file=tmp_path / "ca.pem")


def test_an_unreadable_upstream_ca_file_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(rawlive.ConfigError, match="cannot load the upstream CA file") as info:
        Proxy("wss://127.0.0.1:8765", upstream_ca_file=missing)
    assert "missing.pem" in str(info.value)


def test_an_upstream_that_is_no_websocket_url_is_refused() -> None:
    with pytest.raises(rawlive.ConfigError, match="must be a ws:// or wss:// URL"):
        Proxy("http://127.0.0.1:8765")


async def test_a_wss_upstream_is_trusted_through_its_ca_file(
    tls: tuple[Path, Path], tmp_path: Path
) -> None:
    ca_file, server_pem = tls
    async with (
        Emulator(speed=0, ssl=server_ssl_context(server_pem)) as emulator,
        Proxy(emulator.url, upstream_ca_file=ca_file, record_dir=tmp_path) as proxy,
    ):
        assert emulator.url.startswith("wss://")
        async with rawlive.connect("gemini-live-2.5-flash-preview", endpoint=proxy.url) as session:
            await session.send_realtime_input(text="hello")
            async for message in session.receive():
                if message.server_content and message.server_content.turn_complete:
                    break
    assert emulator.connections[0].path == PATH
    assert (tmp_path / "connection-0001.jsonl").exists()


async def test_a_close_with_no_code_is_passed_on_with_no_code() -> None:
    async with Echo() as upstream, Proxy(upstream.url) as proxy:
        async with websockets.connect(proxy.url + PATH) as ws:
            await ws.send("hello")
            assert await ws.recv() == "hello"
            await ws.close(None, "")  # type: ignore[arg-type]  # an empty close frame
        await asyncio.wait_for(upstream.connections[0].closed.wait(), 5)
    assert upstream.connections[0].close_code == 1005


async def test_a_failing_frame_hook_is_logged_and_the_frame_still_goes_through(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def hook(connection: CapturedConnection, frame: Frame) -> None:
        raise RuntimeError("hook bug")

    async with Echo() as upstream, Proxy(upstream.url, on_frame=hook) as proxy:
        with caplog.at_level(logging.ERROR, logger="rawlive.servers.proxy"):
            async with websockets.connect(proxy.url + PATH) as ws:
                await ws.send(b"\x00binary")
                assert await asyncio.wait_for(ws.recv(), 5) == b"\x00binary"
    failures = [r for r in caplog.records if r.getMessage() == "on_frame hook failed"]
    assert len(failures) == 2  # the frame each way
    assert failures[0].exc_info is not None and "hook bug" in str(failures[0].exc_info[1])


async def test_a_client_that_goes_on_sending_after_upstream_closed_is_closed_too() -> None:
    class ClosesAtOnce(LiveServer):
        async def session(self, peer: Peer) -> None:
            await peer.recv()
            await peer.close(1011, "done")

    async with ClosesAtOnce() as upstream, Proxy(upstream.url) as proxy:
        async with websockets.connect(proxy.url + PATH) as ws:
            await ws.send("first")
            with pytest.raises(ConnectionClosed):
                while True:
                    await ws.send("more")
                    await asyncio.sleep(0.01)
            assert ws.close_code == 1011 and ws.close_reason == "done"
