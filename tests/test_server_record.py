"""Server-side recording: ``LiveServer(record_dir=...)`` writes one cassette per connection."""

from __future__ import annotations

from pathlib import Path

import pytest

import rawlive
from rawlive.cassette import CloseEvent, ConnectEvent, FrameEvent, read_cassette
from rawlive.errors import ConfigError
from rawlive.servers.emulator import serve
from rawlive.servers.proxy import Proxy
from rawlive.servers.replay import ReplayServer

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


async def _one_connection(record_dir: Path) -> None:
    async with serve(speed=0, record_dir=record_dir) as emulator:
        async with rawlive.connect(MODEL, CONFIG, endpoint=emulator.url) as session:
            await session.send_realtime_input(text="hi")
        await emulator.wait_for_connections(1)
        await emulator.connections[0].closed.wait()


async def test_a_restarted_server_never_overwrites_a_recording(tmp_path: Path) -> None:
    await _one_connection(tmp_path)
    first = (tmp_path / "connection-0001.jsonl").read_bytes()
    (tmp_path / "connection-0007.jsonl").write_text("someone else's\n")
    await _one_connection(tmp_path)  # a restart: numbering goes on after the highest
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["connection-0001.jsonl", "connection-0007.jsonl", "connection-0008.jsonl"]
    assert (tmp_path / "connection-0001.jsonl").read_bytes() == first
    assert (tmp_path / "connection-0007.jsonl").read_text() == "someone else's\n"
    assert read_cassette(tmp_path / "connection-0008.jsonl").complete


async def test_a_symlink_planted_at_the_next_name_is_not_written_through(tmp_path: Path) -> None:
    victim = tmp_path / "victim.txt"
    victim.write_text("keep")
    record_dir = tmp_path / "record"
    record_dir.mkdir()

    async with serve(speed=0, record_dir=record_dir) as emulator:
        (record_dir / "connection-0001.jsonl").symlink_to(victim)
        async with rawlive.connect(MODEL, CONFIG, endpoint=emulator.url) as session:
            await session.send_realtime_input(text="hi")
        await emulator.wait_for_connections(1)
        await emulator.connections[0].closed.wait()
    assert victim.read_text() == "keep"
    assert (record_dir / "connection-0001.jsonl").is_symlink()
    assert read_cassette(record_dir / "connection-0002.jsonl").complete


@pytest.mark.parametrize("where", ["a-file", "/dev/full/x", "/proc/rawlive-record"])
def test_a_record_dir_that_cannot_be_written_is_refused_at_once(tmp_path: Path, where: str) -> None:
    (tmp_path / "a-file").write_text("not a folder")
    record_dir = tmp_path / where
    with pytest.raises(ConfigError, match=r"cannot record into .*: "):
        Proxy("ws://127.0.0.1:1", record_dir=record_dir)
