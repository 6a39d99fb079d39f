"""Soak and faults: a long resumable session under goAways, drops, late pongs and 1011s,
directly and through the recording proxy, and many sessions at once with no leak.

The driver and every check are in ``tests/soak.py``; this file picks the scale:
CI's by default (seconds), ``RAWLIVE_SOAK=long`` for ``make soak`` (a 30-minute
session, 200 sessions for 5 minutes). Each test prints its figures (``pytest -s``).
The last tests pin, in small, faults the soak brought out.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from pathlib import Path

import pytest
import websockets

import rawlive
from rawlive.servers.base import LiveServer, Peer
from rawlive.servers.emulator import Emulator
from rawlive.wire import types as t
from tests import soak

GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
HALF = "gemini-live-2.5-flash-preview"


def _show(title: str, figures: dict[str, object]) -> None:
    print(f"\n{title} ({soak.scale()} scale)")
    for line in soak.lines(figures):
        print(line)


@pytest.mark.parametrize("transparent", [False, True], ids=["handles", "transparent"])
async def test_a_long_session_resumes_through_every_fault_and_nothing_is_doubled(
    tmp_path: Path, transparent: bool
) -> None:
    run = await soak.soak(soak.soak_plan(transparent=transparent), tmp_path)
    figures = soak.check(run)
    _show(f"soak, {'transparent' if transparent else 'handles only'}", figures)
    # The run did what it was meant to: goAways and every kind of fault, all resumed.
    assert sum(run.faults.values()) == run.plan.drops + run.plan.late_pongs + run.plan.closes_1011
    assert figures["resumes"]["go_away"] >= 2 and figures["resumes"]["dropped"] >= 1
    if transparent:
        assert figures["messages_lost_in_flight"] == 0


async def test_the_same_through_the_proxy_leaves_every_frame_in_its_cassettes(
    tmp_path: Path,
) -> None:
    run = await soak.soak(soak.soak_plan(transparent=True, proxy=True), tmp_path)
    figures = soak.check(run)
    _show("soak through rawlive proxy", figures)
    assert figures["resumes"]["go_away"] >= 2 and figures["resumes"]["dropped"] >= 1
    assert figures["proxy_frames_checked"] > 0


async def test_many_sessions_at_once_leak_no_task_descriptor_or_memory() -> None:
    result = await soak.crowd(soak.crowd_plan())
    figures = soak.check_crowd(result)
    _show("crowd", figures)


# -- what the soak brought out, in small --------------------------------------------------


async def test_a_stalled_old_connection_adds_nothing_to_the_resumed_session() -> None:
    """What a connection that stopped reading still holds is not consumed after a resume."""
    async with Emulator(speed=0) as emulator:
        old = await websockets.connect(emulator.url + GEMINI_PATH)
        setup = {"setup": {"model": f"models/{HALF}", "sessionResumption": {}}}
        await old.send(json.dumps(setup))
        await old.send(json.dumps({"realtimeInput": {"text": "one"}}))
        handle = None
        while handle is None:
            update = json.loads(await old.recv()).get("sessionResumptionUpdate") or {}
            handle = update.get("newHandle") if update.get("resumable") else None
        emulator.late_pongs(0.5)  # the emulator stops reading the old connection
        for i in range(3):
            await old.send(json.dumps({"realtimeInput": {"text": f"stale {i}"}}))
        new = await websockets.connect(emulator.url + GEMINI_PATH)
        setup["setup"]["sessionResumption"] = {"handle": handle}
        await new.send(json.dumps(setup))
        await new.recv()
        await new.send(json.dumps({"realtimeInput": {"text": "two"}}))
        await asyncio.sleep(1.0)  # the old connection's pause is over
        (session,) = emulator.sessions.values()
        texts = [m.realtime_input.text for m in session.consumed if m.realtime_input]
        await new.close()
    assert texts == ["one", "two"]
    assert old.close_code == 1006  # the server ended it when the session moved on


async def test_a_connection_closing_at_its_lifetime_ends_promptly_with_frames_pending() -> None:
    """The emulator reads on to the client's close instead of waiting to send (10 s)."""
    async with Emulator(connection_lifetime=0.6, goaway_lead=0.3, speed=0) as emulator:
        ws = await websockets.connect(emulator.url + GEMINI_PATH)
        await ws.send(json.dumps({"setup": {"model": f"models/{HALF}", "sessionResumption": {}}}))
        await ws.recv()
        emulator.late_pongs(1.0)  # frames pile up: the close comes while they wait
        chunk = base64.b64encode(bytes(1280)).decode()
        audio = {"realtimeInput": {"audio": {"data": chunk, "mimeType": "audio/pcm;rate=16000"}}}
        started = time.monotonic()
        for _ in range(200):
            await ws.send(json.dumps(audio))
        async for _ in ws:
            pass
    assert ws.close_code == 1000
    assert time.monotonic() - started < 4.0


class _Stubborn(LiveServer):
    """A handle and a goAway, then the first connection stops reading but keeps talking."""

    async def session(self, peer: Peer) -> None:
        setup = await peer.read_setup()
        await peer.send(t.LiveServerMessage(setup_complete=t.LiveServerSetupComplete()))
        if setup.session_resumption and setup.session_resumption.handle:
            await asyncio.sleep(1.0)
            done = t.LiveServerContent(
                model_turn=t.Content(parts=[t.Part(text="second")]), turn_complete=True
            )
            await peer.send(t.LiveServerMessage(server_content=done))
            async for _ in peer:
                pass
            return
        update = t.LiveServerSessionResumptionUpdate(new_handle="h1", resumable=True)
        await peer.send(t.LiveServerMessage(session_resumption_update=update))
        go_away = t.LiveServerGoAway(time_left=t.Duration(seconds=10))
        await peer.send(t.LiveServerMessage(go_away=go_away))
        peer.ws.transport.pause_reading()  # the client's close goes unanswered
        for i in range(400):
            said = t.LiveServerContent(output_transcription=t.Transcription(text=f"first {i}"))
            await peer.send(t.LiveServerMessage(server_content=said))
            await asyncio.sleep(0.01)


async def test_an_old_connection_that_will_not_close_is_ended_before_the_next_one() -> None:
    """Nothing of the old connection reaches receive() after the SessionResumed marker."""
    seen: list[t.LiveServerMessage] = []
    async with (
        _Stubborn() as server,
        rawlive.connect(
            HALF,
            {"session_resumption": {}},
            endpoint=server.url,
            api_key="k",
            reconnect=rawlive.Reconnect(first_delay=0.01),
        ) as session,
    ):

        async def receive() -> None:
            async for message in session.receive():
                seen.append(message)
                if message.server_content and message.server_content.turn_complete:
                    return

        await asyncio.wait_for(receive(), 10)
    marker = next(i for i, m in enumerate(seen) if isinstance(m, rawlive.SessionResumed))
    assert [m.text for m in seen[marker + 1 :]] == ["second"]
    assert seen[marker - 1].server_content is not None  # the old connection's, before it
