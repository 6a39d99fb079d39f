"""Servers stay bounded: what closed connections leave behind, measured.

Thirty connections with setups of a few MiB (a long ``systemInstruction``)
go through the emulator, a plain :class:`LiveServer` and the replay server
(each mismatching); once they are closed and collected, the memory the server
still holds (``tracemalloc``: what was allocated since it started and is
still alive) must be near nothing, or within the documented cap for what
resumable sessions keep.
"""

from __future__ import annotations

import asyncio
import gc
import json
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from rawlive import cassette
from rawlive.servers.base import CaptureServer, LiveServer
from rawlive.servers.emulator import Emulator
from rawlive.servers.replay import ReplayServer

GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MODEL = "models/gemini-live-2.5-flash-preview"
MIB = 2**20
CONNECTIONS = 30
LARGE = 2 * MIB  # each setup's systemInstruction, in characters


def _setup(letter: str, size: int, **extra: Any) -> str:
    """A setup frame whose system instruction is ``size`` times ``letter``."""
    setup = {"model": MODEL, "systemInstruction": {"parts": [{"text": letter * size}]}, **extra}
    return json.dumps({"setup": setup})


async def _connect(url: str, frame: str) -> Any:
    ws = await websockets.connect(url + GEMINI_PATH, max_size=None)
    await ws.send(frame)
    return ws


async def _handle_after_a_turn(ws: Any) -> str:
    """Say something and return the resumption handle that comes after the reply."""
    await ws.recv()  # setupComplete
    await ws.send(json.dumps({"realtimeInput": {"text": "hello"}}))
    async for raw in ws:
        update = json.loads(raw).get("sessionResumptionUpdate") or {}
        if update.get("resumable") and update.get("newHandle"):
            return str(update["newHandle"])
    raise AssertionError(f"closed before a handle: {ws.close_code} {ws.close_reason}")


async def _resume(url: str, handle: str) -> tuple[int | None, str | None]:
    """Resume with ``handle``: ``(None, None)`` when set up, else the close."""
    frame = json.dumps({"setup": {"model": MODEL, "sessionResumption": {"handle": handle}}})
    async with await _connect(url, frame) as ws:
        try:
            first = json.loads(await asyncio.wait_for(ws.recv(), 5))
        except websockets.ConnectionClosed:
            return ws.close_code, ws.close_reason
        assert "setupComplete" in first
        return None, None


class _Retained:
    """Memory allocated since ``start`` and still alive at ``stop`` (MiB, after gc)."""

    def __init__(self) -> None:
        self.mib = 0.0

    def start(self) -> None:
        gc.collect()
        self._before = tracemalloc.get_traced_memory()[0]

    def stop(self) -> None:
        gc.collect()
        self.mib = (tracemalloc.get_traced_memory()[0] - self._before) / MIB


@pytest.fixture
def retained() -> Iterator[_Retained]:
    tracemalloc.start()
    try:
        yield _Retained()
    finally:
        tracemalloc.stop()


async def _warm_up(url: str) -> None:
    """One small connection first: imports and caches are not what is measured."""
    async with await _connect(url, _setup("w", 10, sessionResumption={})) as ws:
        await _handle_after_a_turn(ws)
    await asyncio.sleep(0.1)  # the server is done with it


# -- the emulator ------------------------------------------------------------------------------


async def test_closed_connections_leave_the_emulator_near_its_baseline(
    retained: _Retained,
) -> None:
    async with Emulator(speed=0) as emulator:
        await _warm_up(emulator.url)
        retained.start()
        for i in range(CONNECTIONS):
            async with await _connect(emulator.url, _setup(chr(65 + i % 26), LARGE)) as ws:
                await ws.recv()  # setupComplete
                await ws.send(json.dumps({"realtimeInput": {"text": "x" * LARGE}}))
                await ws.recv()  # the reply: the message was consumed
        await asyncio.sleep(0.1)
        retained.stop()
        print(f"\nemulator: {CONNECTIONS} closed connections retain {retained.mib:.1f} MiB")
        assert retained.mib < 2, f"{retained.mib:.1f} MiB retained (120 MiB went through)"
        # Nothing of them can be resumed (no handle was issued): nothing kept.
        assert list(emulator.sessions) == ["emulated-1"]  # the warm-up's, with a handle


async def test_resumable_sessions_are_capped_in_bytes_oldest_forgotten_first(
    retained: _Retained,
) -> None:
    cap = 8 * MIB
    async with Emulator(speed=0, resumable_bytes=cap) as emulator:
        await _warm_up(emulator.url)
        retained.start()
        handles = []
        for i in range(CONNECTIONS):
            frame = _setup(chr(65 + i % 26), LARGE, sessionResumption={})
            async with await _connect(emulator.url, frame) as ws:
                handles.append(await _handle_after_a_turn(ws))
        await asyncio.sleep(0.1)
        retained.stop()
        kept = [s for s in emulator.sessions.values() if s.handles]
        assert 1 <= len(kept) <= cap // LARGE
        assert sum(s.kept_bytes for s in emulator.sessions.values()) <= cap
        # The oldest are forgotten: their handles are refused as the real
        # server refuses an expired one; the latest still resumes.
        assert await _resume(emulator.url, handles[0]) == (
            1008,
            "BidiGenerateContent session not found",
        )
        assert await _resume(emulator.url, handles[-1]) == (None, None)
    print(
        f"\nemulator: {CONNECTIONS} resumable sessions of {LARGE // MIB} MiB setups retain "
        f"{retained.mib:.1f} MiB (cap {cap // MIB} MiB)"
    )
    assert retained.mib < cap / MIB * 1.5 + 2, f"{retained.mib:.1f} MiB retained"


async def test_resumable_sessions_are_capped_in_count_oldest_forgotten_first() -> None:
    async with Emulator(speed=0, resumable_sessions=3) as emulator:
        handles = []
        for _ in range(5):
            async with await _connect(emulator.url, _setup("s", 10, sessionResumption={})) as ws:
                handles.append(await _handle_after_a_turn(ws))
        await asyncio.sleep(0.05)
        assert len(emulator.sessions) == 3
        for handle in handles[:2]:
            code, reason = await _resume(emulator.url, handle)
            assert (code, reason) == (1008, "BidiGenerateContent session not found")
        for handle in handles[2:]:
            assert await _resume(emulator.url, handle) == (None, None)


async def test_a_resumed_session_is_not_evicted_while_its_connection_is_open() -> None:
    """The caps bound what idle sessions keep; a session in use stays whatever its size."""
    async with Emulator(speed=0, resumable_bytes=1) as emulator:
        ws = await _connect(emulator.url, _setup("o", 1000, sessionResumption={}))
        handle = await _handle_after_a_turn(ws)
        for _ in range(2):  # others come and go meanwhile
            async with await _connect(emulator.url, _setup("p", 10, sessionResumption={})) as o:
                await _handle_after_a_turn(o)
        await asyncio.sleep(0.05)
        assert [s.open_connections for s in emulator.sessions.values()] == [1]
        await ws.close()
        await asyncio.sleep(0.05)
        assert emulator.sessions == {}  # over the cap once idle
        assert await _resume(emulator.url, handle) == (
            1008,
            "BidiGenerateContent session not found",
        )


@pytest.mark.parametrize("options", [{"resumable_bytes": -1}, {"resumable_sessions": -1}])
def test_negative_caps_are_refused(options: dict[str, Any]) -> None:
    from rawlive.errors import ConfigError

    with pytest.raises(ConfigError, match=next(iter(options))):
        Emulator(**options)


# -- the base server --------------------------------------------------------------------------


async def test_closed_connections_keep_a_bounded_summary_in_live_server(
    retained: _Retained,
) -> None:
    async with LiveServer(keep_closed=5) as server:
        async with await _connect(server.url, _setup("w", 10)) as ws:
            await ws.recv()
        retained.start()
        for i in range(CONNECTIONS):
            async with await _connect(server.url, _setup(chr(65 + i % 26), LARGE)) as ws:
                await ws.recv()
                await ws.send(json.dumps({"realtimeInput": {"text": "x" * LARGE}}))
        await asyncio.sleep(0.1)
        retained.stop()
        assert server.accepted == CONNECTIONS + 1
        assert [c.number for c in server.connections] == list(range(27, 32))
        last = server.connections[-1]
        # A summary: the handshake and the close, not the setup or the frames.
        assert (last.path, last.close_code, last.setup, last.frames) == (
            GEMINI_PATH,
            1000,
            None,
            [],
        )
        await server.wait_for_connections(CONNECTIONS + 1)
    print(f"\nLiveServer: {CONNECTIONS} closed connections retain {retained.mib:.2f} MiB")
    assert retained.mib < 1, f"{retained.mib:.1f} MiB retained"


async def test_a_capture_server_keeps_everything_it_was_asked_to() -> None:
    async with CaptureServer(keep_closed=1) as server:
        for i in range(3):
            async with await _connect(server.url, _setup(chr(65 + i), 100)) as ws:
                await ws.recv()
        await asyncio.sleep(0.05)
    assert [c.number for c in server.connections] == [1, 2, 3]
    for capture in server.connections:
        assert capture.setup is not None and capture.setup.system_instruction is not None
        assert [f.sender for f in capture.frames] == ["client", "server"]


def test_a_negative_keep_closed_is_refused() -> None:
    from rawlive.errors import ConfigError

    with pytest.raises(ConfigError, match="keep_closed must be 0 or more"):
        LiveServer(keep_closed=-1)


# -- the replay server --------------------------------------------------------------------------


def _mismatching_cassette(path: Path, connections: int, size: int) -> Path:
    """A cassette of ``connections`` connections whose recorded setups clients will not match."""
    writer = cassette.CassetteWriter(path)
    writer.write_header(url="ws://127.0.0.1", model=MODEL)
    for number in range(1, connections + 1):
        writer.write_connect(number, "ws://127.0.0.1" + GEMINI_PATH, [])
        writer.write_frame(number, "client", "text", _setup("z", size).encode())
        writer.write_frame(number, "server", "text", b'{"setupComplete":{}}')
        writer.write_close(number, 1000, "", "client")
    writer.close()
    return path


async def test_mismatching_connections_leave_the_replay_server_near_its_baseline(
    tmp_path: Path, retained: _Retained
) -> None:
    path = _mismatching_cassette(tmp_path / "c.jsonl", CONNECTIONS + 1, LARGE)
    async with ReplayServer(path, speed=0) as server:
        async with await _connect(server.url, _setup("w", 10)) as ws:
            await ws.wait_closed()  # the warm-up mismatches too
        await asyncio.sleep(0.1)  # the server is done with it
        retained.start()
        for i in range(CONNECTIONS):
            async with await _connect(server.url, _setup(chr(65 + i % 25), LARGE)) as ws:
                await ws.wait_closed()
            assert ws.close_code == 1008
        await asyncio.sleep(0.1)
        retained.stop()
    print(f"\nreplay: {CONNECTIONS} mismatching connections retain {retained.mib:.2f} MiB")
    assert retained.mib < 2, f"{retained.mib:.1f} MiB retained"
    assert len(server.mismatches) == CONNECTIONS + 1
    last = server.mismatches[-1]
    # What the report needs is kept: the first difference and where.
    assert last.first.path == "setup.systemInstruction.parts[0].text"
    letter = chr(65 + (CONNECTIONS - 1) % 25)
    assert str(last.first).startswith(f"setup.systemInstruction.parts[0].text: got '{letter * 6}")
    assert ", expected 'zzzzzz" in str(last.first) and str(last.first).endswith("z...")
    assert f"({len(_setup(letter, LARGE))} characters)" in str(last)  # the frame, cut


async def test_the_replay_server_keeps_the_latest_mismatches(tmp_path: Path) -> None:
    path = _mismatching_cassette(tmp_path / "c.jsonl", 6, 10)
    async with ReplayServer(path, speed=0, mismatch_limit=4) as server:
        for i in range(6):
            async with await _connect(server.url, _setup(chr(65 + i), 10)) as ws:
                await ws.wait_closed()
    assert [m.connection for m in server.mismatches] == [3, 4, 5, 6]
    assert server.mismatch_count == 6
