"""The emulator across cores: worker processes on one port, resumption shared, stats.

Two emulators in one process sharing a :class:`SharedStore` directory stand
for two workers where the test must choose which one a connection reaches
(deterministic); ``serve_workers`` and ``rawlive serve --workers`` run the
real processes on one port (``SO_REUSEPORT``), where each worker names itself
in the handshake's ``Server`` header.
"""

from __future__ import annotations

import array
import asyncio
import base64
import contextlib
import json
import math
import os
import re
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import websockets

from rawlive.errors import ConfigError
from rawlive.servers.emulator import Emulator, SharedStore
from rawlive.servers.emulator import stats as emulator_stats
from rawlive.servers.emulator.script import load_script
from rawlive.servers.emulator.workers import WorkerFailed, Workers, serve_workers

GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
MODEL = "models/gemini-live-2.5-flash-preview"
NOT_FOUND = (1008, "BidiGenerateContent session not found")
RAWLIVE = [sys.executable, "-m", "rawlive"]

pytestmark = pytest.mark.skipif(
    not hasattr(socket, "SO_REUSEPORT"), reason="workers need SO_REUSEPORT"
)


def _setup(handle: str | None = None, *, audio: bool = False, resumable: bool = True) -> str:
    setup: dict[str, Any] = {"model": MODEL}
    if resumable:
        setup["sessionResumption"] = {}
    if handle is not None:
        setup["sessionResumption"] = {"handle": handle}
    if audio:
        setup["generationConfig"] = {"responseModalities": ["AUDIO"]}
    return json.dumps({"setup": setup})


async def _open(url: str, handle: str | None = None) -> Any:
    """A connection set up (resuming ``handle``); its setupComplete read."""
    ws = await websockets.connect(url + GEMINI_PATH)
    await ws.send(_setup(handle))
    first = json.loads(await ws.recv())
    assert "setupComplete" in first, first
    return ws


async def _refused(url: str, handle: str) -> tuple[int | None, str | None]:
    """Resume ``handle``: the close the emulator answers with."""
    async with websockets.connect(url + GEMINI_PATH) as ws:
        await ws.send(_setup(handle))
        with contextlib.suppress(websockets.ConnectionClosed):
            async for raw in ws:
                raise AssertionError(f"set up instead of refused: {raw!r}")
    return ws.close_code, ws.close_reason


async def _turn(ws: Any, text: str) -> str:
    """Say ``text``; the handle issued after the reply."""
    await ws.send(json.dumps({"realtimeInput": {"text": text}}))
    async for raw in ws:
        update = json.loads(raw).get("sessionResumptionUpdate") or {}
        if update.get("resumable") and update.get("newHandle"):
            return str(update["newHandle"])
    raise AssertionError(f"closed before a handle: {ws.close_code} {ws.close_reason}")


@contextlib.asynccontextmanager
async def _pair(directory: Path, **options: Any) -> AsyncIterator[tuple[Emulator, Emulator]]:
    """Two emulators sharing one store, as two workers would, on ports of their own."""
    stores = [SharedStore(directory), SharedStore(directory)]
    try:
        async with (
            Emulator(store=stores[0], speed=0, **options) as first,
            Emulator(store=stores[1], speed=0, **options) as second,
        ):
            yield first, second
    finally:
        for store in stores:
            store.close()


# -- resumption across workers (two emulators, one store) --------------------------------


async def test_a_session_opened_on_one_worker_resumes_on_the_other(tmp_path: Path) -> None:
    async with _pair(tmp_path) as (a, b):
        ws = await _open(a.url)
        await _turn(ws, "one")
        handle = await _turn(ws, "two")
        await ws.close()
        held = a.handle_state(handle)
        assert held is not None
        index = held[1]
        resumed = await _open(b.url, handle)
        (session,) = b.sessions.values()
        assert session.index == index and session.turns == 2
        assert list(session.digests) == list(held[0].digests)
        later = await _turn(resumed, "three")
        await resumed.close()
        # The session goes on where it was: a third turn, one message more.
        found = a.handle_state(later)
        assert found is not None and found[0].turns == 3 and found[1] == index + 1
        assert a.counts.sessions == 1 and b.counts.resumes == 1


async def test_resuming_an_older_handle_elsewhere_voids_the_later_ones(tmp_path: Path) -> None:
    async with _pair(tmp_path) as (a, b):
        ws = await _open(a.url)
        first = await _turn(ws, "one")
        second = await _turn(ws, "two")
        await ws.close()
        resumed = await _open(b.url, first)  # back to the state after turn one
        await resumed.close()
        assert await _refused(a.url, second) == NOT_FOUND
        assert await _refused(b.url, second) == NOT_FOUND
        assert a.counts.resumes_refused == 1 and b.counts.resumes_refused == 1


async def test_an_unknown_handle_closes_1008_on_every_worker(tmp_path: Path) -> None:
    async with _pair(tmp_path) as (a, b):
        for emulator in (a, b):
            assert await _refused(emulator.url, "x" * 24) == NOT_FOUND  # a handle's shape
            assert await _refused(emulator.url, "../../etc/passwd") == NOT_FOUND


async def test_resuming_on_another_worker_ends_the_connection_still_open(tmp_path: Path) -> None:
    async with _pair(tmp_path) as (a, b):
        old = await _open(a.url)
        handle = await _turn(old, "one")
        new = await _open(b.url, handle)
        # The older connection is cut at once (no close frame), as in one process.
        await asyncio.wait_for(old.wait_closed(), 2)
        assert old.close_code == 1006
        assert not a.live_peers()
        later = await _turn(new, "two")
        await new.close()
        found = b.handle_state(later)
        assert found is not None and found[0].turns == 2


async def test_a_superseded_connection_publishes_nothing(tmp_path: Path) -> None:
    """Until its emulator reads the notice, the older connection's handles are refused."""
    async with _pair(tmp_path) as (a, _):
        assert a.store is not None
        ws = await _open(a.url)
        handle = await _turn(ws, "one")
        ((peer, session),) = a.live_peers()
        owner = a.store.owner(peer.capture.number)
        key = a.store.key_of(handle)
        assert key is not None
        elsewhere = SharedStore(tmp_path)  # a third worker
        try:
            claimed = elsewhere.claim(handle, elsewhere.owner(1), ttl=60)
            assert claimed is not None
            assert claimed[1:] == ([], owner)  # nothing voided; it took the session from a's
            assert not a.store.publish(key, session, owner)
            assert elsewhere.publish(key, claimed[0], elsewhere.owner(1))
            await asyncio.wait_for(ws.wait_closed(), 2)  # a read its notice
            assert ws.close_code == 1006
        finally:
            elsewhere.close()


async def test_the_shared_store_keeps_the_caps(tmp_path: Path) -> None:
    async with _pair(tmp_path, resumable_sessions=1) as (a, b):
        handles = []
        for emulator in (a, b):
            ws = await _open(emulator.url)
            handles.append(await _turn(ws, "hi"))
            await ws.close()
            await asyncio.sleep(0.01)
        await _wait(lambda: a.store.idle_count() == 1)  # type: ignore[union-attr]
        assert await _refused(b.url, handles[0]) == NOT_FOUND  # the one idle longest went
        (await _open(a.url, handles[1])).transport.abort()
    async with _pair(tmp_path / "bytes", resumable_bytes=1) as (a, b):
        ws = await _open(a.url)
        handle = await _turn(ws, "hi")
        await ws.close()
        await _wait(lambda: a.store.idle_count() == 0)  # type: ignore[union-attr]
        assert await _refused(b.url, handle) == NOT_FOUND


async def test_the_shared_store_forgets_sessions_idle_beyond_the_ttl(tmp_path: Path) -> None:
    async with _pair(tmp_path, session_ttl=0.2) as (a, b):
        ws = await _open(a.url)
        kept = await _turn(ws, "hi")
        await ws.close()
        await asyncio.sleep(0.4)
        assert await _refused(b.url, kept) == NOT_FOUND


async def _drain(ws: Any) -> None:
    with contextlib.suppress(websockets.ConnectionClosed):
        async for _ in ws:
            pass


async def _wait(predicate: Any, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


# -- stats ---------------------------------------------------------------------------

SCRIPT = """
speed = 0.0
[[turns]]
  [[turns.tool_calls]]
  name = "get_weather"
  id = "call-1"
  args = { city = "Paris" }
  [turns.after_tool]
  tone_ms = 400
[[turns]]
tone_ms = 200
"""


async def _scripted_session(url: str) -> int:
    """One session through SCRIPT: a second of audio, a tool call, two turns; the
    messages received."""
    received = 0
    async with websockets.connect(url + GEMINI_PATH) as ws:
        await ws.send(_setup(audio=True, resumable=False))
        silence = base64.b64encode(bytes(32_000)).decode()
        frames = [
            {"realtimeInput": {"audio": {"data": silence, "mimeType": "audio/pcm;rate=16000"}}},
            {"realtimeInput": {"text": "weather?"}},
        ]
        for frame in frames:
            await ws.send(json.dumps(frame))
        turns = 0
        async for raw in ws:
            received += 1
            message = json.loads(raw)
            if "toolCall" in message:
                response = {"id": "call-1", "name": "get_weather", "response": {"ok": 1}}
                await ws.send(json.dumps({"toolResponse": {"functionResponses": [response]}}))
            if (message.get("serverContent") or {}).get("turnComplete"):
                turns += 1
                if turns == 2:
                    break
                await ws.send(json.dumps({"realtimeInput": {"text": "thanks"}}))
    return received


async def test_stats_count_exactly_what_the_emulator_saw(tmp_path: Path) -> None:
    script_path = tmp_path / "script.toml"
    script_path.write_text(SCRIPT)
    stats_path = tmp_path / "stats.json"
    async with Emulator(script=load_script(script_path), stats_path=stats_path) as emulator:
        received = [await _scripted_session(emulator.url) for _ in range(2)]
        await _wait(lambda: sum(emulator.counts.close_codes.values()) == 2)
    data = json.loads(stats_path.read_text())
    assert data["workers"] == 1 and data["per_worker"] == []
    assert data["connections"] == 2 and data["sessions"] == 2 and data["resumes"] == 0
    assert data["turns"] == 4 and data["tool_calls"] == 2
    assert data["audio_in_s"] == 2.0 and data["audio_out_s"] == pytest.approx(1.2)
    assert data["messages_in"] == 2 * 5  # setup, audio, text, toolResponse, text
    assert data["messages_out"] == sum(received)
    assert data["close_codes"] == {"1000": 2}
    latency = data["reply_latency"]
    assert latency["count"] == 4 and sum(latency["histogram"].values()) == 4
    assert 0 <= latency["min_ms"] <= latency["p50_ms"] <= latency["p99_ms"] <= latency["max_ms"]
    assert latency["max_ms"] < 5000


def test_latency_histograms_merge_into_the_percentiles_of_the_whole() -> None:
    first, second = emulator_stats.Counts(), emulator_stats.Counts()
    samples = [float(ms) for ms in range(1, 1001)]
    for ms in samples:
        (first if ms % 3 else second).latency(ms)
    merged = emulator_stats.latency_summary(emulator_stats.merge([first, second]))
    assert merged.count == 1000 and merged.min_ms == 1 and merged.max_ms == 1000
    for q, got in ((50, merged.p50_ms), (90, merged.p90_ms), (99, merged.p99_ms)):
        assert got == pytest.approx(samples[q * 10 - 1], rel=0.015)
    assert merged.mean_ms == pytest.approx(500.5)


# -- worker processes ------------------------------------------------------------------


async def _worker_of(url: str) -> tuple[Any, str]:
    """A connection (not set up yet) and the worker that took it."""
    ws = await websockets.connect(url + GEMINI_PATH)
    server = ws.response.headers["Server"]
    match = re.search(r"rawlive-worker/(\d+)", server)
    assert match, server
    return ws, match.group(1)


async def test_two_workers_share_one_port_and_a_session_resumes_on_either(
    tmp_path: Path,
) -> None:
    stats_path = tmp_path / "stats.json"
    async with serve_workers(2, speed=0, stats_path=stats_path, stats_interval=0.2) as workers:
        assert workers.url.startswith("ws://127.0.0.1:") and len(set(workers.pids)) == 2
        ws, first = await _worker_of(workers.url)
        await ws.send(_setup())
        assert "setupComplete" in json.loads(await ws.recv())
        handle = await _turn(ws, "one")
        await ws.close()
        landed = {first}
        other = None
        for _ in range(64):  # the kernel spreads connections: one lands on the other
            ws, worker = await _worker_of(workers.url)
            landed.add(worker)
            if worker != first:
                other = ws
                break
            await ws.close()
        assert other is not None and landed == {"1", "2"}
        await other.send(_setup(handle))
        assert "setupComplete" in json.loads(await other.recv())
        await _turn(other, "two")
        await other.close()
        assert await _refused(workers.url, "y" * 24) == NOT_FOUND
    data = json.loads(stats_path.read_text())
    assert data["workers"] == 2 and data["sessions"] == 1 and data["resumes"] == 1
    assert data["turns"] == 2 and data["resumes_refused"] == 1
    assert [w["pid"] for w in data["per_worker"]] == workers.pids
    assert all(w["connections"] >= 1 and not w["alive"] for w in data["per_worker"])
    assert sum(w["connections"] for w in data["per_worker"]) == data["connections"]
    assert data["dead_workers"] == 0


async def test_workers_refuse_what_cannot_reach_them() -> None:
    with pytest.raises(ConfigError, match="certfile"):
        Workers(2, ssl=object())
    with pytest.raises(ConfigError, match="on_close"):
        Workers(2, on_close=lambda capture, end: None)
    with pytest.raises(ConfigError, match="lifetime_close"):
        Workers(2, lifetime_close="later")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        with pytest.raises(WorkerFailed, match="cannot listen"):
            await Workers(2, port=busy.getsockname()[1]).start()


def test_workers_refuse_in_one_line_without_so_reuseport(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delattr(socket, "SO_REUSEPORT")
    with pytest.raises(ConfigError, match="SO_REUSEPORT"):
        Workers(2)


async def _start_serve(*args: str) -> tuple[asyncio.subprocess.Process, str, list[int]]:
    process = await asyncio.create_subprocess_exec(
        *RAWLIVE, "serve", "--port", "0", *args, stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
    match = re.search(r"listening on (ws://127\.0\.0\.1:\d+) \(2 workers, pids (\d+), (\d+);", line)
    assert match, line
    return process, match.group(1), [int(match.group(2)), int(match.group(3))]


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


async def test_serve_workers_stops_them_all_on_sigterm_and_writes_the_stats(
    tmp_path: Path,
) -> None:
    stats_path = tmp_path / "stats.json"
    process, url, pids = await _start_serve(
        "--workers", "2", "--speed", "0", "--stats", str(stats_path)
    )
    for _ in range(3):
        ws = await _open(url)
        await _turn(ws, "hi")
        await ws.close()
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    assert process.stderr is not None
    rest = (await process.stderr.read()).decode()
    assert "rawlive emulator stopped" in rest and "Traceback" not in rest
    assert not any(_running(pid) for pid in pids)
    data = json.loads(stats_path.read_text())
    assert (data["sessions"], data["turns"], data["connections"]) == (3, 3, 3)
    assert data["close_codes"] == {"1000": 3}


async def test_serve_workers_reports_a_dead_worker_and_exits_5() -> None:
    process, url, pids = await _start_serve("--workers", "2")
    os.kill(pids[0], signal.SIGKILL)
    assert process.stderr is not None
    line = (await asyncio.wait_for(process.stderr.readline(), 10)).decode()
    assert line.strip() == (
        f"rawlive: worker 1 (pid {pids[0]}) died (killed by signal 9); 1 of 2 still serving"
    )
    ws = await _open(url)  # the other still serves the port
    await ws.close()
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 30) == 5
    rest = (await process.stderr.read()).decode()
    assert "(1 of 2 workers died)" in rest and "Traceback" not in rest
    assert not _running(pids[1])


async def test_reply_latency_runs_from_when_the_end_of_speech_arrived() -> None:
    """Not from when the detector decided it, ``silenceDurationMs`` of audio later."""
    tone = array.array(
        "h", (int(8000 * math.sin(i * 2 * math.pi * 440 / 16_000)) for i in range(16_000))
    )
    setup = {
        "model": MODEL,
        "generationConfig": {"responseModalities": ["AUDIO"]},
        "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 300}},
    }

    def audio(pcm: bytes) -> str:
        blob = {"data": base64.b64encode(pcm).decode(), "mimeType": "audio/pcm;rate=16000"}
        return json.dumps({"realtimeInput": {"audio": blob}})

    async with Emulator(speed=0) as emulator:
        async with websockets.connect(emulator.url + GEMINI_PATH) as ws:
            await ws.send(json.dumps({"setup": setup}))
            reader = asyncio.create_task(_drain(ws))
            await ws.send(audio(tone.tobytes()))  # a second of speech, at once
            for _ in range(30):  # then silence in real time, 100 ms a message
                await ws.send(audio(bytes(3200)))
                await asyncio.sleep(0.1)
                if emulator.counts.latency_count:
                    break
        await reader
        latency = emulator.statistics().reply_latency
    assert latency.count == 1
    # The detector needs 300 ms of silence after it: at 100 ms a message, that comes later.
    assert latency.min_ms is not None and 100 <= latency.min_ms < 2000


async def test_serve_writes_the_stats_of_one_process_at_sigterm(tmp_path: Path) -> None:
    stats_path = tmp_path / "stats.json"
    process = await asyncio.create_subprocess_exec(
        *RAWLIVE,
        "serve",
        "--port",
        "0",
        "--speed",
        "0",
        "--stats",
        str(stats_path),
        stderr=asyncio.subprocess.PIPE,
    )
    assert process.stderr is not None
    line = (await asyncio.wait_for(process.stderr.readline(), 30)).decode()
    match = re.search(r"listening on (ws://127\.0\.0\.1:\d+) \(Ctrl-C to stop\)", line)
    assert match, line
    ws = await _open(match.group(1))
    await _turn(ws, "hi")
    await ws.close()
    process.send_signal(signal.SIGTERM)
    assert await asyncio.wait_for(process.wait(), 30) == 0
    data = json.loads(stats_path.read_text())
    assert (data["workers"], data["sessions"], data["turns"], data["messages_in"]) == (1, 1, 1, 2)


def test_serve_refuses_a_stats_path_it_cannot_write(tmp_path: Path) -> None:
    result = subprocess.run(
        [*RAWLIVE, "serve", "--port", "0", "--stats", str(tmp_path / "no" / "stats.json")],
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 2
    assert (
        result.stderr.strip().startswith("rawlive: --stats ") and "Traceback" not in result.stderr
    )
