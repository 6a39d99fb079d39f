"""A resume that fails ends the session promptly, with a rawlive error that says so.

Every way a resume can fail, at each step (the handshake refused, the
connection closed before or after ``setup``, a first message that is not a
valid ``setupComplete``, no answer until the setup timeout), on a resume
triggered by ``goAway`` and by a drop, on the first resume's attempts and on a
second resume after one that worked: ``receive()`` ends with a
:class:`rawlive.RawliveError` naming the failure (the key redacted),
``close()`` afterwards does not raise, and every test is bounded so that a
regression fails instead of hanging.
"""

from __future__ import annotations

import asyncio
from http import HTTPStatus
from typing import Any

import pytest
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

import rawlive
from rawlive.core.protocol import Protocol
from rawlive.servers.base import LiveServer, Peer
from rawlive.wire import codec
from rawlive.wire import types as t

MODEL = "gemini-live-2.5-flash-preview"
KEY = "resume-test-key-0123456789"
HANDLE = b'{"sessionResumptionUpdate":{"newHandle":"h-1","resumable":true}}'
GO_AWAY = b'{"goAway":{"timeLeft":"0s"}}'
#: How long any of these sessions may take to end (a hang fails here).
BOUND = 10.0
SETUP_TIMEOUT = 0.5

#: How a resume connection fails, by the step it fails at.
FAILURES = [
    "http-403",  # the handshake is refused
    "http-500",
    "close-before-setup",  # accepted, closed before reading setup
    "close-after-setup",  # setup read, closed with 1011 (the reason quotes the key)
    "drop-after-setup",  # setup read, dropped with no close frame (1006)
    "malformed-json",  # a frame that is not JSON where setupComplete should be
    "invalid-setup-complete",  # JSON, but setupComplete of the wrong type
    "error-payload",  # {"error": ...} instead of setupComplete
    "other-message-first",  # serverContent before setupComplete
    "unknown-message-first",  # a kind this version does not know
    "silent",  # setup read, nothing sent: the setup timeout ends the wait
]

REFUSALS = {"http-403": HTTPStatus.FORBIDDEN, "http-500": HTTPStatus.INTERNAL_SERVER_ERROR}
FIRST_MESSAGES = {
    "malformed-json": b'{"setupComplete":{',
    "invalid-setup-complete": b'{"setupComplete":[]}',
    "error-payload": b'{"error":{"code":500,"message":"backend unavailable"}}',
    "other-message-first": b'{"serverContent":{"turnComplete":true}}',
    "unknown-message-first": b'{"somethingNew":{}}',
}


class Resuming(LiveServer):
    """Plays ``plan``: one entry per connection (the last one repeats).

    ``"go_away"``/``"drop"`` answer setup, send a resumable handle and then
    send ``goAway`` or drop the connection; any other entry is a failure from
    :data:`FAILURES`.
    """

    def __init__(self, plan: list[str]) -> None:
        super().__init__()
        self.plan = plan
        self.handshakes = 0

    def _step(self, number: int) -> str:
        return self.plan[min(number, len(self.plan)) - 1]

    def _check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        status = REFUSALS.get(self._step(self.handshakes))
        if status is not None:
            return ws.respond(status, f"refused: API key {KEY}\n")
        return None

    async def session(self, peer: Peer) -> None:
        step = self._step(self.handshakes)
        if step == "close-before-setup":
            await peer.close(1011, "Internal error occurred.")
            return
        await peer.read_setup()
        if step in ("go_away", "drop"):
            await peer.send(b'{"setupComplete":{}}')
            await peer.send(HANDLE)
            if step == "drop":
                peer.abort()
                return
            await peer.send(GO_AWAY)
        elif step == "close-after-setup":
            await peer.close(1011, f"Internal error occurred for {KEY}.")
            return
        elif step == "drop-after-setup":
            peer.abort()
            return
        elif step in FIRST_MESSAGES:
            await peer.send(FIRST_MESSAGES[step])
        async for _ in peer:
            pass


async def _connect(
    url: str, reconnect: rawlive.Reconnect | None = None, **options: Any
) -> rawlive.Session:
    """A resumable session with the test key (``setup_timeout`` short), bounded."""
    options.setdefault("setup_timeout", SETUP_TIMEOUT)
    return await asyncio.wait_for(
        rawlive.connect(
            MODEL,
            {"session_resumption": {}},
            endpoint=url,
            api_key=KEY,
            reconnect=reconnect,
            **options,
        ),
        BOUND,
    )


async def _run(plan: list[str], attempts: int) -> tuple[rawlive.RawliveError, Resuming]:
    """Connect, read until the session fails; return the error (close() must not raise)."""
    async with Resuming(plan) as server:
        session = await _connect(server.url, rawlive.Reconnect(attempts=attempts, first_delay=0.01))
        received: list[t.LiveServerMessage] = []

        async def drain() -> None:
            async for message in session.receive():
                received.append(message)

        try:
            with pytest.raises(rawlive.RawliveError) as info:
                await asyncio.wait_for(drain(), BOUND)
        finally:
            await asyncio.wait_for(session.close(), BOUND)
        # A second receive() ends the same way, at once.
        with pytest.raises(type(info.value)):
            await asyncio.wait_for(drain(), 1.0)
    error = info.value
    assert "resum" in str(error), str(error)
    assert KEY not in str(error) and KEY not in repr(error)
    return error, server


def _check_kind(error: rawlive.RawliveError, failure: str) -> None:
    """The error is the failure's own: its type and what its message says."""
    if failure in ("close-before-setup", "close-after-setup", "drop-after-setup"):
        assert isinstance(error, rawlive.LiveConnectionClosed)
        assert error.code == (1006 if failure == "drop-after-setup" else 1011)
        return
    assert isinstance(error, rawlive.ConnectError)
    expected = {
        "http-403": "HTTP 403",
        "http-500": "HTTP 500",
        "malformed-json": "not a valid setupComplete: malformed JSON",
        "invalid-setup-complete": "not a valid setupComplete: invalid LiveServerMessage",
        "error-payload": "server error 500: backend unavailable",
        "other-message-first": "expected setupComplete as the first message, got serverContent",
        "unknown-message-first": "expected setupComplete first",
        "silent": f"no setupComplete within {SETUP_TIMEOUT:g} s",
    }[failure]
    assert expected in str(error), str(error)


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("trigger", ["go_away", "drop"])
async def test_a_resume_whose_attempts_all_fail_ends_the_session(
    trigger: str, failure: str
) -> None:
    error, server = await _run([trigger, failure], attempts=2)
    _check_kind(error, failure)
    assert "after 2 attempts" in str(error)
    assert server.handshakes == 3  # the first connection and two attempts


@pytest.mark.parametrize("failure", FAILURES)
@pytest.mark.parametrize("trigger", ["go_away", "drop"])
async def test_a_second_resume_that_fails_ends_the_session(trigger: str, failure: str) -> None:
    # The first resume works (and ends the same way as the first connection);
    # the second one's attempts fail: a different failure first, then this one.
    error, server = await _run([trigger, trigger, "drop-after-setup", failure], attempts=2)
    _check_kind(error, failure)
    assert server.handshakes == 4


async def _drain(session: rawlive.Session) -> None:
    async for _ in session.receive():
        pass


async def test_an_unexpected_fault_while_resuming_ends_the_session_too(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(self: Protocol) -> list[bytes]:
        raise RuntimeError(f"replay broke near {KEY}")

    monkeypatch.setattr(Protocol, "replay", broken)
    async with Resuming(["drop", "go_away"]) as server:
        session = await rawlive.connect(
            MODEL, {"session_resumption": {}}, endpoint=server.url, api_key=KEY
        )
        with pytest.raises(rawlive.RawliveError) as info:
            await asyncio.wait_for(_drain(session), BOUND)
        await asyncio.wait_for(session.close(), BOUND)
    assert str(info.value) == (
        "could not resume the session: RuntimeError: replay broke near <redacted>"
    )


class StopsReading(LiveServer):
    """Connection 1 reads ``expected`` messages without acknowledging any, then
    ``trigger``s; every resume answers setup, then stops reading altogether."""

    def __init__(self, trigger: str, expected: int) -> None:
        super().__init__(max_size=None)
        self.trigger = trigger
        self.expected = expected
        self.done = asyncio.Event()

    async def session(self, peer: Peer) -> None:
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        if len(self.connections) > 1:
            peer.ws.transport.pause_reading()  # the re-sent messages pile up, then stall
            await self.done.wait()
            peer.abort()  # (reading paused, it would not see the client's end)
            return
        # No handle, so nothing is acknowledged: all is kept, to be re-sent.
        for _ in range(self.expected):
            await peer.recv()
        if self.trigger == "drop":
            peer.abort()
            return
        await peer.send(GO_AWAY)
        async for _ in peer:
            pass


@pytest.mark.parametrize("trigger", ["go_away", "drop"])
async def test_re_sending_to_a_server_that_stops_reading_fails_the_attempt_in_time(
    trigger: str,
) -> None:
    # 24 MiB kept (above the default bound on kept messages: raised here), more
    # than the socket buffers hold: with keepalive pings off nothing else ends
    # the wait. Before, the re-send waited for ever.
    chunk, count = "x" * 2**19, 48
    async with StopsReading(trigger, count) as server:
        session = await _connect(
            server.url,
            rawlive.Reconnect(attempts=2, first_delay=0.01),
            ping_interval=None,
            max_replay_bytes=None,
        )
        try:
            for _ in range(count):
                await session.send_realtime_input(text=chunk)
            with pytest.raises(rawlive.ConnectError) as info:
                await asyncio.wait_for(_drain(session), BOUND)
        finally:
            server.done.set()
            await asyncio.wait_for(session.close(), BOUND)
    assert str(info.value).startswith(
        f"could not resume the session after 2 attempts: re-sending the {count} kept "
        f"message(s) did not finish within {SETUP_TIMEOUT:g} s of sending setup to ws://"
    ), str(info.value)
    assert KEY not in str(info.value)
    assert len(server.connections) == 3


async def test_closing_while_re_sending_to_a_server_that_stopped_reading_returns_promptly() -> None:
    # The close frame cannot get through either: before, close() then waited
    # for the stalled connection's reader, until the server gave up.
    chunk, count = "x" * 2**19, 48
    async with StopsReading("drop", count) as server:
        session = await _connect(
            server.url, setup_timeout=None, ping_interval=None, max_replay_bytes=None
        )
        try:
            for _ in range(count):
                await session.send_realtime_input(text=chunk)
            await server.wait_for_connections(2, BOUND)
            await asyncio.sleep(0.2)  # the re-send fills the buffers and stalls
            await asyncio.wait_for(session.close(), 5.0)
        finally:
            server.done.set()
    assert len(server.connections) == 2


# -- resumes that make no progress (protocol rule 9) ----------------------------------

CONTENT = b'{"serverContent":{"turnComplete":true}}'
#: How each connection of a resume loop ends; the resumed ones end so at once.
LOOP_ENDINGS = ["close", "drop", "go_away", "close-after-replay"]


class Looping(LiveServer):
    """Connection 1 reads one message and ends as ``ending`` says; every resume
    is accepted (setupComplete) and then ends the same way, with nothing new:
    no content and no acknowledgement (``"go_away"`` repeats the same handle).
    With ``content``, every resumed connection sends some before ending, and
    connection ``last`` closes with 1000."""

    def __init__(self, ending: str, *, content: bool = False, last: int = 0) -> None:
        super().__init__()
        self.ending = ending
        self.content = content
        self.last = last

    async def session(self, peer: Peer) -> None:
        number = len(self.connections)
        await peer.read_setup()
        await peer.send(b'{"setupComplete":{}}')
        if number == self.last:
            if self.ending == "close-after-replay":
                await peer.recv()  # (not to close while "hello" is re-sent)
            await peer.close(1000)
            return
        if number == 1 and self.ending == "close-after-replay":
            await peer.send(HANDLE)
            await peer.recv()  # "hello", kept for good: no update acknowledges it
        elif number == 1:
            # Acknowledged, so that nothing is re-sent: a close right after
            # setupComplete cannot then fail the attempt during the re-send.
            await peer.recv()
            await peer.send(HANDLE)
        elif self.ending == "close-after-replay":
            await peer.recv()  # "hello" again
        if self.content and number > 1:
            await peer.send(CONTENT)
        if self.ending == "drop":
            peer.abort()
            return
        if self.ending == "go_away":
            await peer.send(HANDLE)  # the same handle: nothing new
            await peer.send(GO_AWAY)
            async for _ in peer:
                pass
            return
        await peer.close(1011, f"Internal error occurred for {KEY}.")


async def _loop(
    server: Looping, reconnect: rawlive.Reconnect
) -> tuple[list[t.LiveServerMessage], BaseException | None]:
    """Connect, send "hello", read to the end: what came, and the error if any."""
    session = await _connect(server.url, reconnect)
    received: list[t.LiveServerMessage] = []

    async def drain() -> None:
        async for message in session.receive():
            received.append(message)

    error: BaseException | None = None
    try:
        await session.send_realtime_input(text="hello")
        await asyncio.wait_for(drain(), BOUND)
    except rawlive.RawliveError as exc:
        error = exc
    finally:
        await asyncio.wait_for(session.close(), BOUND)
    return received, error


@pytest.mark.parametrize("ending", LOOP_ENDINGS)
async def test_a_server_that_ends_every_resume_with_nothing_new_is_given_up_on(
    ending: str,
) -> None:
    # Before, the session resumed for ever.
    async with Looping(ending) as server:
        received, error = await _loop(server, rawlive.Reconnect(first_delay=0.01))
    assert error is not None
    assert str(error).startswith(
        "gave up resuming the session: 3 resumes in a row made no progress (a resume loop: "
    ), str(error)
    assert KEY not in str(error) and KEY not in repr(error)
    if ending == "go_away":
        assert str(error).endswith("the last connection ended with a goAway"), str(error)
    else:
        assert isinstance(error, rawlive.LiveConnectionClosed)
        assert error.code == (1006 if ending == "drop" else 1011)
    assert len(server.connections) == 4  # the first connection and 3 resumes
    assert sum(isinstance(m, rawlive.SessionResumed) for m in received) == 3


async def test_the_limit_of_resumes_without_progress_is_a_reconnect_setting() -> None:
    async with Looping("close") as server:
        _, error = await _loop(
            server, rawlive.Reconnect(first_delay=0.01, max_resumes_without_progress=1)
        )
    assert str(error).startswith("gave up resuming the session: 1 resume made no progress")
    assert len(server.connections) == 2
    with pytest.raises(rawlive.ConfigError, match="max_resumes_without_progress"):
        rawlive.Reconnect(max_resumes_without_progress=0)


@pytest.mark.parametrize("ending", LOOP_ENDINGS)
async def test_resumes_that_each_bring_something_new_go_on_without_limit(ending: str) -> None:
    async with Looping(ending, content=True, last=8) as server:
        received, error = await _loop(server, rawlive.Reconnect(first_delay=0.01))
    assert error is None
    assert sum(isinstance(m, rawlive.SessionResumed) for m in received) == 7


# -- the bound on the kept messages (protocol rule 3) ---------------------------------


class DropsAfterReading(LiveServer):
    """Connection 1 reads ``count`` messages, with no handle, and drops; a resume
    is accepted and every message it re-sends is collected in ``resent``."""

    def __init__(self, count: int) -> None:
        super().__init__()
        self.count = count
        self.resent: list[bytes | str] = []
        self.setups: list[t.LiveClientSetup] = []

    async def session(self, peer: Peer) -> None:
        self.setups.append(await peer.read_setup())
        await peer.send(b'{"setupComplete":{}}')
        if len(self.setups) == 1:
            for _ in range(self.count):
                await peer.recv()
            peer.abort()
            return
        async for message in peer:
            self.resent.append(message)


async def test_past_max_replay_bytes_a_resume_says_what_it_lacks(
    caplog: pytest.LogCaptureFixture,
) -> None:
    texts = [f"{i:02d}" + "x" * 998 for i in range(30)]
    async with DropsAfterReading(len(texts)) as server:
        session = await _connect(server.url, max_replay_bytes=10 * 1024)
        try:
            for text in texts:
                await session.send_realtime_input(text=text)
            resumed: rawlive.SessionResumed | None = None
            async with asyncio.timeout(BOUND):
                async for message in session.receive():
                    if isinstance(message, rawlive.SessionResumed):
                        resumed = message
                        break
                while len(server.resent) < resumed.replayed if resumed else True:
                    await asyncio.sleep(0.01)
        finally:
            await asyncio.wait_for(session.close(), BOUND)
    assert resumed is not None
    # Each frame is a little over 1 KiB: the latest nine fit in 10 KiB.
    assert resumed.replayed == 9 and resumed.lost == 21
    assert resumed.replay_from == 22
    resent = [codec.decode_client_message(frame).realtime_input for frame in server.resent]
    assert [m.text for m in resent if m is not None] == texts[-9:]
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert any("passed 10 KiB" in w and "dropped" in w for w in warnings), warnings
    assert any("lacks client messages 1 to 21" in w for w in warnings), warnings
    assert KEY not in " ".join(warnings)
