"""Server-side recording: ``LiveServer(record_dir=...)`` writes one cassette per connection."""

from __future__ import annotations

from pathlib import Path

import rawlive
from rawlive.cassette import CloseEvent, ConnectEvent, FrameEvent, read_cassette
from rawlive.emulator import serve
from rawlive.replay import ReplayServer

MODEL = "gemini-live-2.5-flash-preview"
CONFIG = {"response_modalities": ["TEXT"]}


async def _session(url: str, record: Path) -> None:
    async with rawlive.connect(MODEL, CONFIG, endpoint=url, record=record) as session:
        for text in ("hello", "and again"):
            await session.send_realtime_input(text=text)
            async for message in session.receive():
                if message.server_content and message.server_content.turn_complete:
                    break


def _frames(path: Path) -> list[tuple[str, str, bytes]]:
    return [
        (e.sender, e.opcode, e.payload)
        for e in read_cassette(path).events
        if isinstance(e, FrameEvent)
    ]


async def test_emulator_records_what_the_client_records(tmp_path: Path) -> None:
    client = tmp_path / "client.jsonl"
    async with serve(speed=0, record_dir=tmp_path / "server") as emulator:
        await _session(emulator.url, client)
        await emulator.connections[0].closed.wait()
    recorded = sorted((tmp_path / "server").iterdir())
    assert [p.name for p in recorded] == ["connection-0001.jsonl"]
    server = read_cassette(recorded[0])
    assert server.header.model == f"models/{MODEL}"
    assert _frames(recorded[0]) == _frames(client)
    assert len(_frames(client)) > 4
    connects = [e for e in server.events if isinstance(e, ConnectEvent)]
    assert len(connects) == 1 and connects[0].url.startswith(emulator.url + "/ws/")
    closes = [e for e in server.events if isinstance(e, CloseEvent)]
    assert [(c.code, c.by) for c in closes] == [(1000, "client")]


async def test_replay_server_records_its_replay(tmp_path: Path) -> None:
    original = tmp_path / "original.jsonl"
    async with serve(speed=0) as emulator:
        await _session(emulator.url, original)
    async with ReplayServer(original, speed=0, record_dir=tmp_path / "replayed") as replay:
        await _session(replay.url, tmp_path / "client.jsonl")
        await replay.connections[0].closed.wait()
    assert not replay.mismatches
    assert _frames(tmp_path / "replayed" / "connection-0001.jsonl") == _frames(original)


async def test_each_connection_gets_a_cassette(tmp_path: Path) -> None:
    async with serve(speed=0, record_dir=tmp_path) as emulator:
        for _ in range(2):
            async with rawlive.connect(MODEL, CONFIG, endpoint=emulator.url) as session:
                await session.send_realtime_input(text="hi")
        await emulator.wait_for_connections(2)
        for connection in emulator.connections:
            await connection.closed.wait()
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["connection-0001.jsonl", "connection-0002.jsonl"]
    kinds = [e.kind for e in read_cassette(tmp_path / names[1]).events if isinstance(e, FrameEvent)]
    assert kinds[:2] == ["setup", "setupComplete"]
