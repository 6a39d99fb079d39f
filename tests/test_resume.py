"""Automatic reconnection: goAway and drops, against the emulator's session state.

The emulator keeps every client message a session consumed; after any number
of reconnections each message sent must be there exactly once, in order, and
the receive stream must go on.
"""

from __future__ import annotations

import asyncio

import pytest

import rawlive
from rawlive.servers.emulator import EmulatedSession, Emulator
from rawlive.wire import types as t

MODEL = "gemini-live-2.5-flash-preview"
FAST = rawlive.Reconnect(first_delay=0.01, go_away_margin=0.05)


def _texts(session: EmulatedSession) -> list[str]:
    return [
        m.realtime_input.text
        for m in session.consumed
        if m.realtime_input is not None and m.realtime_input.text is not None
    ]


def _audio_sent(session: EmulatedSession) -> list[bytes | None]:
    return [
        m.realtime_input.audio.data
        for m in session.consumed
        if m.realtime_input is not None and m.realtime_input.audio is not None
    ]


def _only_session(emulator: Emulator) -> EmulatedSession:
    (session,) = emulator.sessions.values()
    return session


async def _collect(session: rawlive.Session, into: list[t.LiveServerMessage]) -> None:
    async for message in session.receive():
        into.append(message)


async def _wait_for(predicate: object, timeout: float = 5.0) -> None:
    async def poll() -> None:
        while not predicate():  # type: ignore[operator]
            await asyncio.sleep(0.01)

    await asyncio.wait_for(poll(), timeout)


def _audio(i: int) -> t.Blob:
    return t.Blob(data=i.to_bytes(4, "little") * 80, mime_type="audio/pcm;rate=16000")


async def test_go_away_reconnects_before_the_deadline_and_the_stream_goes_on() -> None:
    config = {"session_resumption": {}}
    async with (
        Emulator() as emulator,
        rawlive.connect(MODEL, config, endpoint=emulator.url, reconnect=FAST) as session,
    ):
        received: list[t.LiveServerMessage] = []
        reader = asyncio.create_task(_collect(session, received))
        for i in range(3):
            await session.send_realtime_input(text=f"before {i}")
        await _wait_for(lambda: sum(1 for m in received if m.text) == 3)
        await emulator.go_away(time_left=1.0)
        await _wait_for(lambda: session.connections == 2)
        for i in range(3):
            await session.send_realtime_input(text=f"after {i}")
        await _wait_for(lambda: sum(1 for m in received if m.text) == 6)
        reader.cancel()
    resumed = [m for m in received if isinstance(m, rawlive.SessionResumed)]
    assert len(resumed) == 1 and resumed[0].reason == "go_away"
    assert any(m.go_away is not None for m in received)
    assert _texts(_only_session(emulator)) == [f"before {i}" for i in range(3)] + [
        f"after {i}" for i in range(3)
    ]
    assert len(emulator.connections) == 2


async def test_go_away_mid_turn_waits_for_idle_or_the_deadline() -> None:
    async with (
        Emulator() as emulator,
        rawlive.connect(
            MODEL, {"session_resumption": {}}, endpoint=emulator.url, reconnect=FAST
        ) as session,
    ):
        received: list[t.LiveServerMessage] = []
        reader = asyncio.create_task(_collect(session, received))
        await session.send_realtime_input(text="x")
        await _wait_for(lambda: any(m.text for m in received))
        # A tool call keeps the session busy: only the timer can move it.
        (peer, _) = emulator.live_peers()[0]
        await peer.send(b'{"toolCall":{"functionCalls":[{"id":"fc-1","name":"f","args":{}}]}}')
        await _wait_for(lambda: bool(session.tool_calls))
        await emulator.go_away(time_left=0.4)
        await asyncio.sleep(0.2)
        assert session.connections == 1
        await _wait_for(lambda: session.connections == 2, timeout=2.0)
        reader.cancel()


@pytest.mark.parametrize("transparent", [False, True])
async def test_a_drop_after_a_turn_resumes_with_nothing_lost_or_duplicated(
    transparent: bool,
) -> None:
    config = {"session_resumption": {"transparent": True} if transparent else {}}
    async with (
        Emulator() as emulator,
        rawlive.connect(
            MODEL,
            config,
            endpoint=emulator.url,
            reconnect=FAST,
            vertex=transparent,
            project="p" if transparent else None,
            location="us-central1" if transparent else None,
            api_key="k" if transparent else None,
        ) as session,
    ):
        received: list[t.LiveServerMessage] = []
        reader = asyncio.create_task(_collect(session, received))
        await session.send_realtime_input(text="one")
        await _wait_for(lambda: session.handle is not None and any(m.text for m in received))
        for i in range(5):
            await session.send_realtime_input(audio=_audio(i))
        emulator.drop()
        for i in range(5, 10):
            await session.send_realtime_input(audio=_audio(i))
        await session.send_realtime_input(text="two")
        await _wait_for(lambda: sum(1 for m in received if m.text) == 2)
        reader.cancel()
    assert _audio_sent(_only_session(emulator)) == [_audio(i).data for i in range(10)]
    assert _texts(_only_session(emulator)) == ["one", "two"]
    resumed = [m for m in received if isinstance(m, rawlive.SessionResumed)]
    assert len(resumed) == 1 and resumed[0].reason == "dropped"


async def test_transparent_mode_resumes_exactly_after_the_last_consumed_index() -> None:
    config = {"session_resumption": {"transparent": True}}
    async with (
        Emulator(resumption_interval=3) as emulator,
        rawlive.connect(
            "gemini-live-2.5-flash",
            config,
            endpoint=emulator.url,
            reconnect=FAST,
            vertex=True,
            api_key="k",
        ) as session,
    ):
        received: list[t.LiveServerMessage] = []
        reader = asyncio.create_task(_collect(session, received))
        for i in range(40):
            await session.send_realtime_input(audio=_audio(i))
            if i == 11:
                emulator.drop()
            if i == 27:
                await _wait_for(lambda: session.connections == 2)
                emulator.drop()
        await session.send_realtime_input(text="end")
        await _wait_for(lambda: any(m.text for m in received))
        reader.cancel()
    # A drop before the first handle arrives resumes into a fresh session, to
    # which everything kept is replayed: the session that carries on must
    # hold every message once, whichever way the timing fell.
    final = next(s for s in emulator.sessions.values() if "end" in _texts(s))
    assert _audio_sent(final) == [_audio(i).data for i in range(40)]
    assert sum(isinstance(m, rawlive.SessionResumed) for m in received) == 2


async def test_an_unknown_handle_is_fatal_and_not_retried() -> None:
    async with Emulator() as emulator:
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            await rawlive.connect(
                MODEL, {"session_resumption": {"handle": "nope"}}, endpoint=emulator.url
            )
    assert info.value.code == 1008
    assert len(emulator.connections) == 1


async def test_without_resumption_a_drop_ends_the_stream_with_1006() -> None:
    async with Emulator() as emulator, rawlive.connect(MODEL, endpoint=emulator.url) as session:
        emulator.drop()
        with pytest.raises(rawlive.LiveConnectionClosed) as info:
            async for _ in session.receive():
                pass
    assert info.value.code == 1006


async def test_retries_are_bounded_when_the_server_is_gone() -> None:
    emulator = Emulator()
    await emulator.start()
    session = await rawlive.connect(
        MODEL,
        {"session_resumption": {}},
        endpoint=emulator.url,
        reconnect=rawlive.Reconnect(attempts=3, first_delay=0.01),
    )
    await emulator.stop()
    with pytest.raises((rawlive.ConnectError, rawlive.LiveConnectionClosed)):
        async for _ in session.receive():
            pass
    await session.close()
