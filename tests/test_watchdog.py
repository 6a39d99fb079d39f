"""The client's stall watchdog, against servers that stall on purpose.

Each scripted server answers ``setup`` and then, turn by turn (one realtime
``text`` per turn), replies in full, stalls before replying, stops midway,
stops answering pings, or replies slowly within the limits. What
``receive()`` yields is compared with what the servers sent, frame by frame:
across a stall and its resume nothing is lost or duplicated, the marker says
why and how long, and the stalled turn is answered on the new connection.
Without resumption the session ends with :class:`rawlive.SessionStalled`
quickly. Every test is bounded, so a regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from typing import Any

import pytest

import rawlive
from rawlive.servers.base import LiveServer, Peer
from rawlive.servers.emulator import Emulator
from rawlive.wire import codec
from rawlive.wire import types as t

MODEL = "gemini-live-2.5-flash-preview"
#: Small limits, so that a stall is found in a fraction of a second.
QUICK = rawlive.StallPolicy(first_reply=0.3, gap=0.2, ping_timeout=0.2)
FAST = rawlive.Reconnect(first_delay=0.01)
RESUMABLE = {"session_resumption": {}}
#: How long any of these sessions may take (a hang fails here).
BOUND = 10.0


def _reply_part(text: str, part: int) -> bytes:
    return (
        b'{"serverContent":{"modelTurn":{"parts":[{"text":"'
        + f"answer to {text} #{part}".encode()
        + b'"}]}}}'
    )


TURN_COMPLETE = b'{"serverContent":{"turnComplete":true}}'


class Scripted(LiveServer):
    """Plays ``plan``: per connection (the last repeats), what it does at each turn
    (the last repeats).

    ``reply``: three parts and ``turnComplete``, then a resumable handle;
    ``stall``: nothing (pings still answered); ``cut``: one part, then
    nothing; ``deaf``: stops reading (no pong), sends nothing; ``slow``:
    the reply's parts ``slow`` seconds apart (the first after ``slow[0]``);
    ``late``: stops reading, replies after ``late`` seconds, reads again.
    A turn is a realtime ``text``, or an ``activityEnd``.
    """

    def __init__(
        self,
        plan: list[list[str]],
        *,
        slow: tuple[float, float] = (0.0, 0.0),
        late: float = 0.0,
    ) -> None:
        super().__init__(capture_frames=True)
        self.plan = plan
        self.slow = slow
        self.late = late
        #: The turns each connection received, by their text, in order.
        self.turns: list[list[str]] = []

    def _steps(self, number: int) -> list[str]:
        return self.plan[min(number, len(self.plan)) - 1]

    async def session(self, peer: Peer) -> None:
        number = peer.capture.number
        steps = self._steps(number)
        setup = await peer.read_setup()
        resumable = setup.session_resumption is not None
        await peer.send(b'{"setupComplete":{}}')
        handles = 0

        async def handle() -> None:
            nonlocal handles
            if resumable:
                handles += 1
                await peer.send(
                    b'{"sessionResumptionUpdate":{"newHandle":"h-%d-%d","resumable":true}}'
                    % (number, handles)
                )

        if setup.session_resumption is None or not setup.session_resumption.handle:
            await handle()  # a new session; a resumed one has its handle
        received: list[str] = []
        self.turns.append(received)
        async for payload in peer:
            realtime = codec.decode_client_message(payload).realtime_input
            if realtime is None:
                continue
            text = realtime.text
            if text is None and realtime.activity_end is not None:
                text = "activity"
            if text is None:
                continue
            received.append(text)
            step = steps[min(len(received), len(steps)) - 1]
            if step == "stall":
                continue
            if step == "deaf":
                # Deaf for a second (no pong), then it notices the client has gone.
                peer.ws.transport.pause_reading()
                asyncio.get_running_loop().call_later(1.0, peer.ws.transport.resume_reading)
                continue
            if step == "cut":
                await peer.send(_reply_part(text, 1))
                continue
            if step == "late":
                peer.ws.transport.pause_reading()
                await asyncio.sleep(self.late)
            first, gap = self.slow if step == "slow" else (0.0, 0.0)
            for part in (1, 2, 3):
                await asyncio.sleep(first if part == 1 else gap)
                await peer.send(_reply_part(text, part))
            await asyncio.sleep(gap)
            await peer.send(TURN_COMPLETE)
            if step == "late":
                peer.ws.transport.resume_reading()
            await handle()

    def server_messages(self) -> list[t.LiveServerMessage]:
        """Everything the connections sent after their ``setupComplete``, in order."""
        return [
            codec.decode_server_message(frame.payload)
            for capture in self.connections
            for frame in [f for f in capture.frames if f.sender == "server"][1:]
        ]


async def _connect(url: str, config: dict[str, Any], **options: Any) -> rawlive.Session:
    options.setdefault("watchdog", QUICK)
    options.setdefault("reconnect", FAST)
    return await asyncio.wait_for(rawlive.connect(MODEL, config, endpoint=url, **options), BOUND)


async def _turns(
    session: rawlive.Session, texts: list[str], received: list[t.LiveServerMessage]
) -> None:
    """Send each text as a turn and read until its ``turnComplete``."""
    stream = session.receive().__aiter__()
    for text in texts:
        await session.send_realtime_input(text=text)
        while True:
            message = await stream.__anext__()
            received.append(message)
            content = message.server_content
            if content is not None and content.turn_complete:
                break


async def _next(session: rawlive.Session, timeout: float) -> t.LiveServerMessage:
    """The next message, within ``timeout`` (a fresh iterator: a timeout ends only it)."""
    return await asyncio.wait_for(anext(session.receive().__aiter__()), timeout)


async def _quiet(session: rawlive.Session, seconds: float) -> list[t.LiveServerMessage]:
    """What comes within ``seconds``."""
    came: list[t.LiveServerMessage] = []
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            async for message in session.receive():
                came.append(message)
    return came


def _wire(received: list[t.LiveServerMessage]) -> list[t.LiveServerMessage]:
    """The wire messages among what ``receive()`` yielded (markers left out)."""
    markers = (rawlive.Stalled, rawlive.SessionResumed)
    return [m for m in received if not isinstance(m, markers)]


def _markers(received: list[t.LiveServerMessage]) -> list[t.LiveServerMessage]:
    return [m for m in received if isinstance(m, rawlive.Stalled | rawlive.SessionResumed)]


def _answers(received: list[t.LiveServerMessage]) -> list[str]:
    """The reply parts' texts, in order."""
    return [m.text for m in _wire(received) if m.text]


def _full(text: str) -> list[str]:
    return [f"answer to {text} #{part}" for part in (1, 2, 3)]


@pytest.mark.parametrize(
    ("step", "kind", "reason", "threshold"),
    [
        ("stall", "no-reply", "text", QUICK.first_reply),
        ("cut", "reply-stopped", None, QUICK.gap),
        ("deaf", "no-pong", "text", QUICK.first_reply),
    ],
)
async def test_a_stall_resumes_through_the_handle_and_the_turn_is_answered(
    step: str, kind: str, reason: str | None, threshold: float
) -> None:
    async with Scripted([["reply", step], ["reply"]]) as server:
        session = await _connect(server.url, RESUMABLE)
        received: list[t.LiveServerMessage] = []
        started = time.monotonic()
        async with session:
            await asyncio.wait_for(_turns(session, ["one", "two", "three"], received), BOUND)
        took = time.monotonic() - started
    stalled, resumed = _markers(received)
    assert isinstance(stalled, rawlive.Stalled) and isinstance(resumed, rawlive.SessionResumed)
    assert (stalled.kind, stalled.reason, stalled.threshold) == (kind, reason, threshold)
    assert stalled.connection == 1
    assert threshold <= stalled.waited < threshold + QUICK.ping_timeout + 0.5
    assert (stalled.pong is None) == (kind == "no-pong")
    # Resumed from the handle issued after the first reply; the stalled turn re-sent.
    assert (resumed.reason, resumed.handle, resumed.replayed) == ("stalled", "h-1-2", 1)
    assert server.turns == [["one", "two"], ["two", "three"]]
    # Nothing lost, nothing twice: receive() yielded exactly what the servers sent
    # (but the handle after the last turnComplete, not read).
    sent = server.server_messages()
    assert _wire(received) == sent[: len(_wire(received))]
    assert all(m.session_resumption_update for m in sent[len(_wire(received)) :])
    cut = ["answer to two #1"] if step == "cut" else []
    assert _answers(received) == _full("one") + cut + _full("two") + _full("three")
    # The marker comes where the stalled connection ended, before the resumed one's messages.
    index = received.index(stalled)
    assert received[index + 1] is resumed
    assert _answers(received[index:])[:3] == _full("two")
    # A connection that does not answer pings is dropped at once, not closed politely.
    assert took < 4 * (threshold + QUICK.ping_timeout) + 2.0


@pytest.mark.parametrize(
    ("step", "words"),
    [
        (
            "stall",
            r"no reply 0\.\d s after text \(limit first_reply=0\.3 s\); the connection "
            r"answered a ping in \d+ ms",
        ),
        ("cut", r"the reply stopped midway, nothing for 0\.\d s \(limit gap=0\.2 s\)"),
        ("deaf", r"did not answer a ping within 0\.2 s either"),
    ],
)
async def test_without_resumption_a_stall_ends_the_session_with_session_stalled(
    step: str, words: str
) -> None:
    async with Scripted([[step]]) as server:
        session = await _connect(server.url, {})
        received: list[t.LiveServerMessage] = []
        started = time.monotonic()
        with pytest.raises(rawlive.SessionStalled, match=words) as caught:
            await asyncio.wait_for(_turns(session, ["one"], received), BOUND)
        took = time.monotonic() - started
        await asyncio.wait_for(session.close(), BOUND)  # quietly, after the error
        await asyncio.wait_for(server.connections[0].closed.wait(), BOUND)
    error = caught.value
    assert error.kind == {"stall": "no-reply", "cut": "reply-stopped", "deaf": "no-pong"}[step]
    assert error.threshold == (QUICK.gap if step == "cut" else QUICK.first_reply)
    assert error.waited >= error.threshold
    assert "session resumption" in error.hint and "StallPolicy" in error.hint
    assert str(error).startswith("the session stalled: ")
    assert took < QUICK.first_reply + QUICK.ping_timeout + 1.0
    assert len(server.connections) == 1
    assert not _markers(received)
    # The connection was closed by the client: politely with the stall named if it
    # still answered pings, dropped otherwise.
    if step == "deaf":
        assert server.connections[0].close_code == 1006
    else:
        assert server.connections[0].close_code == 1000
        assert server.connections[0].close_reason == f"stalled: {error.kind}"


async def test_a_slow_but_healthy_session_within_the_limits_never_stalls() -> None:
    policy = rawlive.StallPolicy(first_reply=1.0, gap=0.5, ping_timeout=0.5)
    slow = (0.8 * policy.first_reply, 0.8 * policy.gap)
    async with Scripted([["slow"]], slow=slow) as server:
        session = await _connect(server.url, RESUMABLE, watchdog=policy)
        received: list[t.LiveServerMessage] = []
        async with session:
            await asyncio.wait_for(_turns(session, ["one", "two"], received), BOUND)
    assert not _markers(received)
    assert _answers(received) == _full("one") + _full("two")
    assert len(server.connections) == 1


async def test_a_reply_part_before_the_pong_clears_the_suspicion() -> None:
    # The server stops reading (no pong) and replies 0.1 s after the stall is suspected.
    policy = rawlive.StallPolicy(first_reply=0.3, gap=0.5, ping_timeout=1.0)
    async with Scripted([["late"]], late=0.4) as server:
        session = await _connect(server.url, RESUMABLE, watchdog=policy)
        received: list[t.LiveServerMessage] = []
        async with session:
            await asyncio.wait_for(_turns(session, ["one"], received), BOUND)
    assert not _markers(received)
    assert _answers(received) == _full("one")
    assert len(server.connections) == 1


async def test_stalls_that_recur_on_one_turn_are_given_up_on() -> None:
    reconnect = rawlive.Reconnect(first_delay=0.01, max_resumes_without_progress=2)
    async with Scripted([["stall"]]) as server:
        session = await _connect(server.url, RESUMABLE, reconnect=reconnect)
        received: list[t.LiveServerMessage] = []
        with pytest.raises(rawlive.SessionStalled, match="gave up resuming the session"):
            await asyncio.wait_for(_turns(session, ["one"], received), BOUND)
        await session.close()
    # Two resumes, each with its marker; the third stall ends the session.
    kinds = [type(m).__name__ for m in _markers(received)]
    assert kinds == ["Stalled", "SessionResumed"] * 2
    assert server.turns == [["one"]] * 3
    # The stall on a resumed connection is owed from the resume (state rule 11).
    assert [m.reason for m in received if isinstance(m, rawlive.Stalled)] == ["text", "resume"]


async def test_close_stops_the_watchdog_and_leaves_nothing_running() -> None:
    async with Scripted([["deaf"]]) as server:
        session = await _connect(server.url, RESUMABLE)
        await session.send_realtime_input(text="one")
        await asyncio.sleep(QUICK.first_reply + 0.1)  # the ping waits for its pong
        await asyncio.wait_for(session.close(), BOUND)
        await asyncio.sleep(QUICK.first_reply + QUICK.ping_timeout + 0.2)
        assert len(server.connections) == 1  # no resume after close
    ours = [task for task in asyncio.all_tasks() if task.get_name().startswith("rawlive")]
    assert ours == []


async def test_the_watchdog_is_off_unless_asked_for() -> None:
    async with Scripted([["stall"]]) as server:
        session = await _connect(server.url, RESUMABLE, watchdog=None)
        async with session:
            assert session.watchdog is None
            await session.send_realtime_input(text="one")
            came = await _quiet(session, 3 * QUICK.first_reply)
        assert not _markers(came)
        assert len(server.connections) == 1


# -- the end of the user's speech (rule 11's speech hooks) -------------------------


def _speech(seconds: float, rate: int = 16_000, level: float = 8000.0) -> bytes:
    samples = int(seconds * rate)
    return b"".join(
        int(level * math.sin(2 * math.pi * 220 * i / rate)).to_bytes(2, "little", signed=True)
        for i in range(samples)
    )


async def _say(session: rawlive.Session, pcm: bytes, rate: int = 16_000) -> None:
    step = rate * 2 * 40 // 1000  # 40 ms chunks
    for at in range(0, len(pcm), step):
        blob = t.Blob(data=pcm[at : at + step], mime_type=f"audio/pcm;rate={rate}")
        await session.send_realtime_input(audio=blob)


async def test_the_end_of_speech_in_the_audio_sent_makes_a_reply_due() -> None:
    # Default detection: 800 ms of silence ends the speech; then the reply is due.
    async with Scripted([["stall"]]) as server:
        session = await _connect(server.url, {})
        async with session:
            await _say(session, _speech(0.4) + bytes(2 * 16_000))
            with pytest.raises(rawlive.SessionStalled, match="after speech-end") as caught:
                await _next(session, BOUND)
    assert caught.value.reason == "speech-end"


async def test_the_detector_follows_the_setups_silence_duration_and_rate() -> None:
    # 24 kHz audio, 1.5 s of silence required: 1 s of it ends nothing, audioStreamEnd does.
    config = {
        "realtime_input_config": {"automatic_activity_detection": {"silence_duration_ms": 1500}}
    }
    async with Scripted([["stall"]]) as server:
        session = await _connect(server.url, config)
        async with session:
            await _say(session, _speech(0.4, 24_000) + bytes(2 * 24_000), 24_000)
            assert await _quiet(session, QUICK.first_reply + 0.4) == []
            await session.send_realtime_input(audio_stream_end=True)
            with pytest.raises(rawlive.SessionStalled, match="after audio-stream-end"):
                await _next(session, BOUND)


async def test_with_manual_activity_detection_only_activity_end_ends_the_turn() -> None:
    config = {"realtime_input_config": {"automatic_activity_detection": {"disabled": True}}}
    async with Scripted([["stall"]]) as server:
        session = await _connect(server.url, config)
        async with session:
            await session.send_realtime_input(activity_start=t.ActivityStart())
            await _say(session, _speech(0.4) + bytes(2 * 16_000))
            assert await _quiet(session, QUICK.first_reply + 0.4) == []
            await session.send_realtime_input(activity_end=t.ActivityEnd())
            with pytest.raises(rawlive.SessionStalled, match="after activity-end"):
                await _next(session, BOUND)


# -- against the emulator ------------------------------------------------------------


async def test_a_healthy_emulated_session_with_speech_never_stalls() -> None:
    policy = rawlive.StallPolicy(first_reply=3.0, gap=2.0, ping_timeout=2.0)
    speech = "fixtures/audio/weather-16k-mono.wav"
    from rawlive.media import audio

    config = {"response_modalities": ["AUDIO"], **RESUMABLE}
    async with Emulator(speed=0) as emulator:
        session = await rawlive.connect(
            "gemini-3.8-live", config, endpoint=emulator.url, watchdog=policy
        )
        received: list[t.LiveServerMessage] = []
        async with session:
            for turn in range(2):
                for chunk in audio.chunks(audio.iter_pcm(speech), chunk_ms=40):
                    blob = t.Blob(data=chunk, mime_type="audio/pcm;rate=16000")
                    await session.send_realtime_input(audio=blob)
                await _say(session, bytes(2 * 16_000))  # a second of silence ends the turn
                async for message in session.receive():
                    received.append(message)
                    content = message.server_content
                    if content is not None and content.turn_complete:
                        break
                del turn
    assert not _markers(received)
    completed = [m for m in received if m.server_content and m.server_content.turn_complete]
    assert len(completed) == 2 and any(m.text or m.data for m in received)
    assert len(emulator.connections) == 1
