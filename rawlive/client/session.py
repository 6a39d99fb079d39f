"""``rawlive.connect()`` and :class:`Session`: the Live API client on ``websockets.asyncio``.

A thin I/O shell around :class:`rawlive.core.protocol.Protocol`, which owns
the session's state and rules; this module owns the sockets, the tasks and
the clock. What a user sees is in the README ("Use the library", "How rawlive
differs from the SDK"). The rules:

1. One reader task per connection feeds every frame to the protocol and
   queues what it decodes: :meth:`Session.receive` is one stream across turns
   and connections. At most :data:`MAX_QUEUED` messages wait there: past it
   the reader stops reading until :meth:`Session.receive` takes one, so that
   a consumer slower than the server (a reply written to disk while a file
   is sent unpaced) makes the server wait, through ``websockets``' own
   bounded queue and TCP, instead of the queue growing without end. The
   watchdog does not count that wait as a stall.
2. With resumption configured, the session reconnects by itself after a
   ``goAway`` (once the model is idle, at the latest shortly before
   ``timeLeft`` runs out: a timer, not the next message) and after an abnormal
   drop, re-sends what the protocol kept and yields a :class:`SessionResumed`
   marker. Attempts back off exponentially and are bounded (rules 8 and 9 of
   :mod:`rawlive.core.protocol`); fatal closes are never retried.
3. Every attempt, the first included, waits at most ``setup_timeout`` for
   ``setupComplete`` and for the kept messages to be re-sent.
4. With ``record=`` every connection, frame (exact bytes and opcode, both
   ways) and close goes to the recorder; without, a frame costs one
   ``is None`` test.
5. The transport is ``PROTOCOL.md`` §5's: text frames out, JSON accepted in
   text and binary frames, no permessage-deflate, 64 MiB in, keepalive pings
   that tolerate a late pong.
6. With a ``watchdog`` (a :class:`~rawlive.core.watchdog.StallPolicy`; off
   by default) one timer stands at :func:`rawlive.core.watchdog.deadline`,
   moved as messages come and go (no polling). When it finds the session
   stalled (a reply due and nothing of it, or a reply stopped midway) the
   session pings the connection and waits up to ``ping_timeout`` for the
   pong; a part of the reply meanwhile clears the suspicion. Then, with
   resumption configured, it resumes through the latest handle exactly as
   after a drop (rule 2), :meth:`Session.receive` yielding a :class:`Stalled`
   marker before the :class:`SessionResumed` one; without, the session ends
   with :class:`~rawlive.errors.SessionStalled`. Stalls that recur with no
   turn completed between are given up on after
   ``Reconnect.max_resumes_without_progress`` resumes. With automatic
   activity detection the audio sent is run through
   :class:`rawlive.media.vad.EnergyVad` (only with a watchdog), so that a
   reply is due once the user's speech ends (rule 11 of
   :mod:`rawlive.core.state`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import os
import ssl as ssl_module
from collections.abc import AsyncIterator, Generator, Mapping, Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.version import version as websockets_version

from rawlive import cassette
from rawlive._version import __version__
from rawlive.core import watchdog as stall_rule
from rawlive.core.closing import (
    CLOSE_HINTS,
    FATAL_CLOSE_CODES,
    QUOTA_HINT,
    After,
    after_close,
    after_go_away,
    close_hint,
    first_close,
    quota_close,
    quota_status,
    resume_again,
    retry_resume,
)
from rawlive.core.protocol import MAX_KEPT_BYTES, ClientMessage, Protocol, State
from rawlive.core.state import UsageTotals
from rawlive.core.watchdog import DEFAULT_POLICY, StallKind, StallPolicy
from rawlive.errors import (
    ConfigError,
    ConnectError,
    DecodeError,
    LiveConnectionClosed,
    LocalProtocolError,
    ProtocolError,
    QuotaClosed,
    QuotaRefused,
    RawliveError,
    RemoteProtocolError,
    SessionStalled,
)
from rawlive.wire import codec, endpoints, messages
from rawlive.wire import types as t

if TYPE_CHECKING:
    from rawlive.media.vad import EnergyVad

__all__ = [
    "CLOSE_HINTS",
    "ConnectError",
    "Connecting",
    "LiveConnectionClosed",
    "Reconnect",
    "Session",
    "SessionResumed",
    "SessionStalled",
    "StallPolicy",
    "Stalled",
    "close_hint",
    "connect",
    "connection_closed",
]

log = logging.getLogger("rawlive.client.session")


def connection_closed(
    code: int | None, reason: str, *, secrets: Sequence[str] = (), context: str = ""
) -> LiveConnectionClosed:
    """The :class:`LiveConnectionClosed` for a close as received: its reason
    redacted of ``secrets`` (and credential slots), with the hint for it; a
    :class:`~rawlive.errors.QuotaClosed` for a quota close (PROTOCOL.md §10.12)."""
    kind = QuotaClosed if quota_close(code, reason) else LiveConnectionClosed
    return kind(
        code,
        endpoints.redact(reason, secrets),
        hint=close_hint(code, reason),
        fatal=code in FATAL_CLOSE_CODES,
        context=context,
    )


#: Server messages that may wait in :meth:`Session.receive`'s queue (rule 1):
#: seconds of reply audio, whose chunks are a few KiB each.
MAX_QUEUED = 256


class SessionResumed(t.LiveServerMessage, kw_only=True):
    """Not a wire message: marks in :meth:`Session.receive` where a reconnection happened.

    All the wire fields are ``None``, so code written for the SDK passes over
    it. ``reason`` is ``"go_away"``, ``"dropped"`` or ``"stalled"`` (the
    watchdog gave up on the connection: a :class:`Stalled` marker came just
    before); ``handle`` is the one
    resumed from (``None``: none had come, a new session began);
    ``replayed`` counts the client messages sent again, from index
    ``replay_from`` on (client messages are numbered from 1 across the
    session; :attr:`rawlive.core.protocol.Protocol.replay_from` says what the
    resumed state holds of the messages before it). ``lost`` counts the
    messages the resumed state lacks and the session no longer has: dropped
    from the kept ones past ``max_replay_bytes`` (protocol rule 3; 0 but for
    an upload that outran the server's handles).
    """

    reason: str = ""
    handle: str | None = None
    replayed: int = 0
    replay_from: int = 0
    connection: int = 0
    lost: int = 0


class Stalled(t.LiveServerMessage, kw_only=True):
    """Not a wire message: marks in :meth:`Session.receive` where the watchdog gave up
    on a connection (rule 6); the :class:`SessionResumed` marker follows.

    All the wire fields are ``None``. ``kind`` is ``"no-reply"`` (a reply was
    due and nothing of it came), ``"reply-stopped"`` (a reply under way
    stopped before its ``turnComplete``) or ``"no-pong"`` (either, and the
    connection did not answer a ping within ``ping_timeout`` either);
    ``waited`` the seconds from the reply becoming due (or its latest part)
    to the session giving up, the ping's wait included; ``threshold`` the
    policy's limit that was passed (``first_reply`` or ``gap``); ``reason``
    what made the reply due (rule 11 of :mod:`rawlive.core.state`:
    ``activity-end``, ``speech-end``, ``resume``...; ``None`` for a reply
    under way); ``pong`` the ping's round trip in seconds (``None``: none
    came); ``connection`` the connection given up on.
    """

    kind: str = ""
    waited: float = 0.0
    threshold: float = 0.0
    reason: str | None = None
    pong: float | None = None
    connection: int = 0


@dataclasses.dataclass(frozen=True)
class Reconnect:
    """How hard to try when a resumable session must reconnect."""

    #: Attempts per resume (rule 8 of :mod:`rawlive.core.protocol`).
    attempts: int = 5
    first_delay: float = 0.1
    max_delay: float = 5.0
    #: Reconnect this long before a goAway's deadline at the latest.
    go_away_margin: float = 2.0
    #: Give up after this many resumes in a row that made no progress: each
    #: accepted, then ended with nothing new from the server and no message
    #: acknowledged (a resume loop, rule 9 of :mod:`rawlive.core.protocol`).
    max_resumes_without_progress: int = 3

    def __post_init__(self) -> None:
        if self.max_resumes_without_progress < 1:
            raise ConfigError(
                "Reconnect.max_resumes_without_progress must be at least 1, "
                f"got {self.max_resumes_without_progress}"
            )


_END = object()


class Session:
    """A live session: send with the ``send_*`` methods, read with :meth:`receive`.

    Made by :func:`connect`. The SDK's ``AsyncSession`` surface, plus what the
    protocol core knows: :attr:`tool_calls`, :attr:`usage`, :attr:`handle`.
    """

    def __init__(
        self,
        protocol: Protocol,
        endpoint: endpoints.Endpoint,
        *,
        vertex: bool,
        reconnect: Reconnect,
        connect_options: dict[str, Any],
        recorder: cassette.Recorder | None = None,
        setup_timeout: float | None = None,
        watchdog: StallPolicy | None = None,
    ) -> None:
        self._protocol = protocol
        self.endpoint = endpoint
        self._vertex = vertex
        self._reconnect_policy = reconnect
        self._connect_options = connect_options
        self._setup_timeout = setup_timeout
        self._ws: ClientConnection | None = None
        self._queue: asyncio.Queue[Any] = asyncio.Queue()
        # Set while the queue has room for the reader (rule 1); markers and
        # the end go in regardless.
        self._room = asyncio.Event()
        self._room.set()
        self._open = asyncio.Event()
        self._reader: asyncio.Task[None] | None = None
        self._go_away_timer: asyncio.TimerHandle | None = None
        self._reconnecting: asyncio.Task[None] | None = None
        self._closing = False
        # The watchdog (rule 6): its one timer, the ping under way, the voice
        # detector run on the audio sent, and the stalls in a row on one turn.
        self._watchdog = watchdog
        self._watch_timer: asyncio.TimerHandle | None = None
        self._probe: asyncio.Task[None] | None = None
        detection = (
            protocol.setup.realtime_input_config or t.RealtimeInputConfig()
        ).automatic_activity_detection
        self._auto_vad = watchdog is not None and not (detection is not None and detection.disabled)
        self._vad: EnergyVad | None = None
        self._vad_rate = 0
        #: The MIME type the detector was last chosen for (a cache: one per stream).
        self._vad_mime: str | None = None
        #: Audio sent and not yet fed to the detector (fed 250 ms at a time).
        self._vad_pending = bytearray()
        self._stall_turn: tuple[int, int] | None = None
        self._stalls_in_a_row = 0
        #: Set by the reader at each server message (a resume awaits replies with it).
        self._heard_any = asyncio.Event()
        self._recorder = recorder
        if recorder is not None:
            # The recorder redacts what it writes; it is given the URL and
            # headers as they are, so that it also learns a key found only
            # in a credential slot (``?key=`` in a custom endpoint URL).
            recorder.add_secrets(endpoint.secrets)
            recorder.write_header(
                url=endpoint.url,
                headers=endpoint.headers,
                model=protocol.setup.model,
                api_version=endpoint.api_version,
            )

    # -- what the protocol knows ----------------------------------------------

    @property
    def tool_calls(self) -> dict[str, t.FunctionCall]:
        """Outstanding tool calls by id (``"name:<name>"`` for calls without one)."""
        return dict(self._protocol.tool_calls)

    @property
    def usage(self) -> UsageTotals:
        """Token totals so far, by modality (:class:`rawlive.core.state.UsageTotals`)."""
        return self._protocol.usage

    @property
    def handle(self) -> str | None:
        """The latest resumable session handle."""
        return self._protocol.handle

    @property
    def session_id(self) -> str | None:
        return self._protocol.session_id

    @property
    def connections(self) -> int:
        """How many connections this session has opened (reconnections + 1)."""
        return self._protocol.connections

    @property
    def watchdog(self) -> StallPolicy | None:
        """The stall watchdog's policy (``None``: no watchdog)."""
        return self._watchdog

    @property
    def awaiting_reply(self) -> bool:
        """Whether a reply is due or under way (rule 11 of :mod:`rawlive.core.state`).

        What the watchdog watches; the end of the user's speech counts only
        with a watchdog (its voice detector finds it). A reply a lost
        connection owed counts while the session resumes (it is owed again).
        """
        state = self._protocol.session
        return (
            state.reply_due is not None
            or state.reply_progress is not None
            or (state.reply_lost and self._reconnecting is not None)
        )

    def __repr__(self) -> str:
        return (
            f"<rawlive.Session {self.endpoint.redacted_url()} state={self._protocol.state.value} "
            f"connections={self._protocol.connections}>"
        )

    # -- opening --------------------------------------------------------------

    async def _open_connection(self) -> float | None:
        """Open a socket, send setup, wait for setupComplete (no retries here).

        Returns the loop time ``setup_timeout`` after setup went out (``None``:
        no limit), by which a resume must also have re-sent its kept messages.
        """
        ws = await _dial(self.endpoint, self._connect_options)
        recorder = self._recorder
        loop = asyncio.get_running_loop()
        timeout = self._setup_timeout
        deadline = None if timeout is None else loop.time() + timeout
        try:
            setup = self._protocol.open()
            # What the model's row says the server will refuse: logged, sent anyway.
            self._log_warnings()
            if recorder is not None:
                request = ws.request
                recorder.write_connect(
                    self._protocol.connections,
                    self.endpoint.url,
                    request.headers.raw_items() if request is not None else (),
                )
            # Closed before our setup went out? _recv_first reports the close.
            with contextlib.suppress(ConnectionClosed):
                await self._send_frame(ws, setup)
            first = await _recv_first(ws, self.endpoint, timeout)
            if recorder is not None:
                self._record_received(first, self._protocol.connections)
            message = self._protocol.receive(first, loop.time())
        except BaseException:
            await _close_quietly(ws)
            self._protocol.connection_lost()
            self._record_close(ws, self._protocol.connections)
            raise
        assert message is not None
        self._ws = ws
        self._reader = asyncio.create_task(
            self._read(ws, self._protocol.connections), name="rawlive-reader"
        )
        return deadline

    async def _start(self) -> None:
        await self._open_connection()
        self._open.set()

    # -- recording ------------------------------------------------------------

    async def _send_frame(self, ws: ClientConnection, frame: bytes) -> None:
        # Recorded before it goes out, so that it precedes any answer in the
        # cassette; a frame refused by a socket already closed is recorded too.
        if self._recorder is not None:
            self._recorder.write_frame(self._protocol.connections, "client", "text", frame)
        await ws.send(frame, text=True)

    def _record_received(self, data: bytes | str, connection: int) -> None:
        assert self._recorder is not None
        # ws.recv() returns str for a text frame and bytes for a binary one.
        opcode: cassette.Opcode = "text" if isinstance(data, str) else "binary"
        self._recorder.write_frame(connection, "server", opcode, data)

    def _record_close(self, ws: ClientConnection, connection: int) -> None:
        """Record how a connection ended: the first close frame and who sent it."""
        if self._recorder is None or self._recorder.closed:
            return
        end = first_close(ws.protocol, "client")
        self._recorder.write_close(connection, end.code, end.reason, end.by)

    # -- sending --------------------------------------------------------------

    async def _send(self, message: ClientMessage) -> None:
        # No lock: from the open check to the frame's numbering and keeping in
        # the protocol there is no await, so a reconnection (which clears
        # ``_open`` first) can never interleave. A frame whose socket dies
        # under it is kept by the protocol and replayed (rule 3).
        while not self._open.is_set():
            await self._open.wait()
        if self._protocol.state is State.CLOSED:
            raise LocalProtocolError("the session is closed")
        ws = self._ws
        assert ws is not None
        now = asyncio.get_running_loop().time()
        state = self._protocol.session
        due = state.reply_due
        frame = self._protocol.send(message, now)
        if self._protocol.warnings:
            self._log_warnings()
        if self._watchdog is not None:
            if self._auto_vad and isinstance(message, t.LiveClientRealtimeInput):
                self._hear(message, now)
            self._watch()
        if state.reply_due is not None and state.reply_due != due:
            self._protocol.mark_turn_end()  # a resume re-sends turn by turn (rule 3)
        try:
            if self._recorder is None:
                await ws.send(frame, text=True)
            else:
                await self._send_frame(ws, frame)
            return
        except ConnectionClosed:
            # The reader sees the same close and decides what follows.
            if self._protocol.resumable:
                return
        # Raised outside the ``except``, so that the ConnectionClosed, whose
        # message quotes the close reason unredacted, is not kept as context.
        raise self._closed_error(ws)

    async def send_realtime_input(
        self,
        *,
        media: t.Blob | dict[str, Any] | None = None,
        audio: t.Blob | dict[str, Any] | None = None,
        audio_stream_end: bool | None = None,
        video: t.Blob | dict[str, Any] | None = None,
        text: str | None = None,
        activity_start: t.ActivityStart | dict[str, Any] | None = None,
        activity_end: t.ActivityEnd | dict[str, Any] | None = None,
    ) -> None:
        """Send one realtime input: exactly one of the arguments (as the SDK)."""
        await self._send(
            messages.realtime_input(
                media=media,
                audio=audio,
                audio_stream_end=audio_stream_end,
                video=video,
                text=text,
                activity_start=activity_start,
                activity_end=activity_end,
            )
        )

    async def send_client_content(self, *, turns: Any = None, turn_complete: bool = True) -> None:
        """Append turns to the conversation (interrupts any current generation)."""
        await self._send(
            messages.client_content(turns=turns, turn_complete=turn_complete, vertex=self._vertex)
        )

    async def send_tool_response(self, *, function_responses: Any) -> None:
        """Answer tool calls by id (a response or a list of them)."""
        await self._send(messages.tool_response(function_responses, vertex=self._vertex))

    async def send_context_update(
        self, *, system_instruction: Any = None, tools: Any = None
    ) -> None:
        """Replace the system instruction and/or the tools mid-session."""
        await self._send(
            messages.context_update(
                system_instruction=system_instruction, tools=tools, vertex=self._vertex
            )
        )

    async def send_message(self, message: ClientMessage) -> None:
        """Send an already-built client message (``LiveClientRealtimeInput``, ...)."""
        await self._send(message)

    # -- receiving ------------------------------------------------------------

    async def receive(self) -> AsyncIterator[t.LiveServerMessage]:
        """Every server message, across turns and reconnections, until the session ends.

        Ends normally when the server closes with 1000 or the session is
        closed; raises :class:`LiveConnectionClosed` when it ends abnormally,
        a :class:`ConnectError` (or the close) saying "could not resume
        the session" when a resume fails, an error saying "gave up resuming
        the session" after a resume loop (protocol rule 9), and a :class:`RawliveError` saying
        what failed on a fault of rawlive's own (after which :meth:`close`
        still returns quietly). A reconnection shows up as a
        :class:`SessionResumed` item.
        """
        while True:
            item = await self._queue.get()
            if self._queue.qsize() < MAX_QUEUED:
                self._room.set()
            if item is _END:
                self._queue.put_nowait(_END)  # later receive() calls end too
                return
            if isinstance(item, BaseException):
                self._queue.put_nowait(item)
                raise item
            yield item

    async def _read(self, ws: ClientConnection, connection: int) -> None:
        """One connection's reader task: whatever escapes its reading ends the session.

        An error escaping the task would leave :meth:`receive` waiting for
        good and make :meth:`close` raise it.
        """
        try:
            await self._read_frames(ws, connection)
        except Exception as exc:  # not expected: a fault of rawlive's own, or of the recorder
            log.error("reading from the server failed: %s", type(exc).__name__)
            self._finish(self._fault("the session failed while reading from the server", exc))
            await _close_quietly(ws, 1011, "client error")
            with contextlib.suppress(Exception):  # the recorder may be what failed
                self._record_close(ws, connection)

    async def _read_frames(self, ws: ClientConnection, connection: int) -> None:
        loop = asyncio.get_running_loop()
        recording = self._recorder is not None
        try:
            while True:
                # Bytes whatever the opcode: text frames are not UTF-8-decoded
                # to be parsed again; the codec reads bytes directly. When
                # recording, str for text frames keeps the opcode (and is
                # what the cassette stores anyway).
                data: bytes | str
                if recording:
                    data = await ws.recv()
                    self._record_received(data, connection)
                else:
                    data = await ws.recv(decode=False)
                now = loop.time()
                if self._vad_pending:
                    # The audio sent before this message, heard first: a turn end
                    # it holds comes before the reply to it (rule 11's order).
                    self._detect(now)
                message = self._protocol.receive(data, now)
                self._log_warnings()
                if message is None:
                    continue
                self._queue.put_nowait(message)
                if self._queue.qsize() >= MAX_QUEUED and ws is self._ws and not self._closing:
                    # The consumer lags: read on once it takes one (rule 1).
                    # (Ending, the connection is read to its end: its close frame too.)
                    self._room.clear()
                    await self._room.wait()
                self._heard_any.set()
                if self._watchdog is not None:
                    self._heard(now)
                if message.go_away is not None:
                    self._on_go_away()
                elif self._going_away() and self._idle():
                    self._begin_reconnect("go_away")
        except ConnectionClosed:
            pass
        except OSError as exc:  # the recording cannot be written (a full disk): end, naming it
            self._finish(exc)
            await _close_quietly(ws)
            return
        except (DecodeError, RemoteProtocolError) as exc:
            self._finish(exc)
            await _close_quietly(ws, 1007, "invalid message from server")
            self._record_close(ws, connection)
            return
        self._record_close(ws, connection)
        if ws is not self._ws or self._closing:
            return  # replaced by a reconnection, or closed on purpose
        code, reason = _close_of(ws)
        decision = after_close(
            code, reason, resumable=self._protocol.resumable, going_away=self._going_away()
        )
        if decision.after is After.DONE:
            self._finish(None)
        elif decision.after is After.RESUME_NOW:
            self._begin_reconnect("go_away" if self._going_away() else "dropped")
        else:
            self._finish(connection_closed(code, reason, secrets=self.endpoint.secrets))

    def _log_warnings(self) -> None:
        for warning in self._protocol.warnings:
            log.warning("%s", warning)
        self._protocol.warnings.clear()

    # -- the stall watchdog (rule 6) --------------------------------------------

    def _hear(self, realtime: t.LiveClientRealtimeInput, now: float) -> None:
        """Run the audio sent through the voice detector: the speech hooks of rule 11.

        With automatic activity detection the server ends the user's turn at
        the end of their speech; the same detector as the emulator's, set as
        the setup sets the server's, says when that is.
        """
        if realtime.audio_stream_end:
            if self._vad is not None:
                self._detect(now)
                self._vad.flush()  # the state ended any speech itself (rule 11)
            return
        blobs = [realtime.audio] if realtime.audio is not None else realtime.media_chunks or ()
        for blob in blobs:
            vad = self._detector(blob.mime_type) if blob.data else None
            if vad is None:
                continue
            # A quarter of a second at a time: one call per chunk would cost
            # more than the detection (each finds numpy's code cold). The
            # audio held is heard before any server message is taken (the
            # reader), so a turn end is never found after its reply; found up
            # to 250 ms late otherwise, it only makes the wait longer.
            self._vad_pending += blob.data or b""
            if len(self._vad_pending) >= self._vad_rate // 2:
                self._detect(now)

    def _detect(self, now: float) -> None:
        """Feed the audio held to the detector: its speech hooks of rule 11."""
        vad, pending = self._vad, self._vad_pending
        if vad is None or not pending:
            return
        state = self._protocol.session
        for event in vad.feed(bytes(pending)):
            if event.kind == "speech_start":
                state.speech_started(now)
            else:
                state.speech_ended(now)
        pending.clear()

    def _detector(self, mime: str | None) -> EnergyVad | None:
        """The detector for PCM audio of this MIME type (``None``: not PCM, or an odd rate)."""
        if mime == self._vad_mime:  # every chunk of a stream: no parsing each time
            return self._vad
        if (mime or "").partition(";")[0].strip().lower() != "audio/pcm":
            return None
        rate = codec.mime_rate(mime) or 16_000
        if self._vad is not None and self._vad_rate == rate:
            self._vad_mime = mime
            return self._vad
        # Imported here: numpy only with a watchdog on audio.
        from rawlive.media.vad import EnergyVad, VadConfig

        realtime = self._protocol.setup.realtime_input_config or t.RealtimeInputConfig()
        try:
            config = dataclasses.replace(
                VadConfig.from_setup(realtime.automatic_activity_detection), sample_rate=rate
            )
        except ConfigError:
            log.info(
                "no voice detection on audio at %d Hz: the watchdog times turn ends only", rate
            )
            self._auto_vad = False
            return None
        self._detect(asyncio.get_running_loop().time())  # what the one before holds
        self._vad, self._vad_rate, self._vad_mime = EnergyVad(config), rate, mime
        return self._vad

    def _watch(self) -> None:
        """Set the watchdog's one timer at the session's deadline, if it is earlier.

        A later deadline leaves the timer as it is: it fires early, finds
        nothing wrong and moves itself (a reply streaming its parts costs no
        timer per message).
        """
        assert self._watchdog is not None
        at = stall_rule.deadline(self._protocol.session, self._watchdog)
        timer = self._watch_timer
        if at is None:
            if timer is not None:
                timer.cancel()
                self._watch_timer = None
            return
        if timer is not None:
            if timer.when() <= at:
                return
            timer.cancel()
        self._watch_timer = asyncio.get_running_loop().call_at(at, self._on_watch)

    def _on_watch(self) -> None:
        """The timer went off: a stall starts a ping (:meth:`_check`); else it moves on."""
        self._watch_timer = None
        policy = self._watchdog
        assert policy is not None
        ws = self._ws
        if (
            self._closing
            or self._probe is not None
            or self._reconnecting is not None
            or ws is None
            or self._protocol.state is not State.OPEN
        ):
            return  # a resume or the end takes over; a resume sets the timer again
        loop = asyncio.get_running_loop()
        if not self._room.is_set():
            # The reader waits for the consumer, not for the server (rule 1):
            # look again later, the reply's parts being unread, not missing.
            self._watch_timer = loop.call_later(policy.gap, self._on_watch)
            return
        stall = stall_rule.stalled(self._protocol.session, loop.time(), policy)
        if stall is None:
            self._watch()
            return
        log.info("stall suspected (%s, %.1f s): pinging the connection", stall.kind, stall.waited)
        self._probe = asyncio.create_task(self._check(ws, policy), name="rawlive-watchdog")

    def _heard(self, now: float) -> None:
        """A server message came: a reply part clears a suspected stall; the timer moves."""
        probe = self._probe
        policy = self._watchdog
        assert policy is not None
        if probe is not None and stall_rule.stalled(self._protocol.session, now, policy) is None:
            log.info("stall cleared: the reply went on before the pong")
            probe.cancel()
            self._probe = None
        self._watch()

    async def _check(self, ws: ClientConnection, policy: StallPolicy) -> None:
        """Ping the connection, then act on the stall (unless a reply part cancels this)."""
        loop = asyncio.get_running_loop()
        pong: float | None = None
        try:
            try:
                async with asyncio.timeout(policy.ping_timeout):
                    pong = await (await ws.ping())
            except TimeoutError:
                pass
            except ConnectionClosed:
                return  # the reader sees the close and decides what follows
            if self._closing or ws is not self._ws or self._protocol.state is not State.OPEN:
                return
            stall = stall_rule.stalled(self._protocol.session, loop.time(), policy)
            if stall is None:  # (not expected: a reply part cancels this task)
                self._watch()
                return
            threshold = policy.first_reply if stall.kind is StallKind.NO_REPLY else policy.gap
            marker = Stalled(
                kind=(stall.kind if pong is not None else StallKind.NO_PONG).value,
                waited=round(stall.waited, 3),
                threshold=threshold,
                reason=stall.reason,
                pong=None if pong is None else round(pong, 6),
                connection=self._protocol.connections,
            )
            await self._stalled(ws, marker)
        except Exception as exc:  # not expected: a fault of rawlive's own
            log.error("the stall watchdog failed: %s", type(exc).__name__)
            self._finish(self._fault("the stall watchdog failed", exc))
        finally:
            if self._probe is asyncio.current_task():
                self._probe = None

    async def _stalled(self, ws: ClientConnection, marker: Stalled) -> None:
        """Give up on the stalled connection: resume, or end the session (rule 6)."""
        state = self._protocol.session
        log.warning("%s", _stall_words(marker, self._watchdog))
        if not self._protocol.resumable:
            error = self._stall_error(
                marker,
                "the session stalled",
                hint="with session resumption (session_resumption={} in the config) "
                "the session resumes through its latest handle instead; if the model is "
                "merely slow, raise the watchdog's limits (StallPolicy)",
            )
        else:
            turn = (state.turns_completed, state.utterances_completed)
            self._stalls_in_a_row = self._stalls_in_a_row + 1 if turn == self._stall_turn else 1
            self._stall_turn = turn
            limit = self._reconnect_policy.max_resumes_without_progress
            if self._stalls_in_a_row <= limit:
                # The resume re-sends the unanswered turn, held or not (protocol rule 3).
                self._protocol.stalled = marker.kind != "reply-stopped"
                self._begin_reconnect("stalled", stall=marker, graceful=marker.pong is not None)
                return
            error = self._stall_error(
                marker,
                f"gave up resuming the session: it stalled {self._stalls_in_a_row} times in "
                "a row with no turn completed",
                hint="the server takes the session back and never answers; if the model is "
                "merely slow, raise the watchdog's limits (StallPolicy)",
            )
        self._finish(error)
        await self._give_up(ws, marker)

    async def _give_up(self, ws: ClientConnection, marker: Stalled) -> None:
        """Close a stalled connection: gracefully if it answers pings, else at once."""
        if marker.pong is None:
            ws.transport.abort()
        else:
            await _close_quietly(ws, 1000, f"stalled: {marker.kind}")

    def _stall_error(self, marker: Stalled, context: str, *, hint: str) -> SessionStalled:
        return SessionStalled(
            f"{context}: {_stall_words(marker, self._watchdog)}",
            hint=hint,
            kind=marker.kind,
            waited=marker.waited,
            threshold=marker.threshold,
            reason=marker.reason,
        )

    def _stop_watching(self) -> None:
        if self._watch_timer is not None:
            self._watch_timer.cancel()
            self._watch_timer = None
        probe = self._probe
        if probe is not None and probe is not asyncio.current_task():
            probe.cancel()
            self._probe = None

    # -- goAway and reconnection ----------------------------------------------

    def _going_away(self) -> bool:
        return self._protocol.go_away_deadline is not None

    def _idle(self) -> bool:
        return not self._protocol.model_turn_active and not self._protocol.tool_calls

    def _on_go_away(self) -> None:
        deadline = self._protocol.go_away_deadline
        if deadline is None:
            return
        loop = asyncio.get_running_loop()
        decision = after_go_away(
            resumable=self._protocol.resumable,
            idle=self._idle(),
            now=loop.time(),
            deadline=deadline,
            margin=self._reconnect_policy.go_away_margin,
        )
        if decision.after is After.RESUME_NOW:
            self._begin_reconnect("go_away")
        elif decision.after is After.RESUME_LATER and decision.at is not None:
            if self._go_away_timer is not None:
                self._go_away_timer.cancel()
            self._go_away_timer = loop.call_at(
                decision.at, lambda: self._begin_reconnect("go_away")
            )

    def _begin_reconnect(
        self, reason: str, *, stall: Stalled | None = None, graceful: bool = True
    ) -> None:
        if self._reconnecting is not None or self._closing:
            return
        self._open.clear()
        self._reconnecting = asyncio.create_task(
            self._reconnect(reason, stall, graceful), name="rawlive-resume"
        )

    async def _end_connection(self, *, graceful: bool = True, reason: str = "") -> None:
        """End the current connection for good and let its reader finish.

        Not ``graceful``: abort it at once, without a closing handshake (an
        attempt that failed, perhaps on a server that stopped reading).
        """
        old, reader = self._ws, self._reader
        self._ws = None
        self._room.set()  # its reader reads on to the end (rule 1)
        if old is not None:
            if graceful:
                await _close_quietly(old, 1000, reason)
            # A peer that does not answer the close (a stalled socket) would
            # keep the old connection open, and its reader feeding the stream
            # and the protocol alongside the new one: end it for good, and let
            # its reader finish, so that everything the old connection
            # received comes before the new one's messages.
            old.transport.abort()
        if reader is not None and reader is not asyncio.current_task():
            await asyncio.wait({reader})  # (its outcome is the reader's business)

    async def _reconnect(self, reason: str, stall: Stalled | None, graceful: bool) -> None:
        # Whatever happens, the session either goes on or ends here: an error
        # escaping this task would leave receive() waiting for good.
        try:
            await self._resume(reason, stall, graceful)
        except Exception as exc:  # not expected: a fault of rawlive's own
            log.error("resuming the session failed: %s", type(exc).__name__)
            self._finish(self._fault("could not resume the session", exc))
        finally:
            self._reconnecting = None

    async def _resume(
        self, reason: str, stall: Stalled | None = None, graceful: bool = True
    ) -> None:
        """Open a new connection with the latest handle and replay (rules 8 and 9).

        After a ``stall`` its marker goes into the stream once the stalled
        connection is over (whatever it still delivered comes before it).
        """
        lost = self._ws
        await self._end_connection(
            graceful=graceful, reason="" if stall is None else f"stalled: {stall.kind}"
        )
        if stall is not None:
            self._queue.put_nowait(stall)
        if self._go_away_timer is not None:
            self._go_away_timer.cancel()
            self._go_away_timer = None
        self._protocol.connection_lost()
        policy = self._reconnect_policy
        stalled = self._protocol.resumes_without_progress
        if not resume_again(stalled, policy.max_resumes_without_progress):
            self._finish(self._loop_error(stalled, reason, lost, stall))
            return
        delay = policy.first_delay
        error: BaseException | None = None
        attempt = 0
        while attempt < policy.attempts:
            if attempt:
                await asyncio.sleep(delay)
                delay = min(delay * 2, policy.max_delay)
            if self._protocol.state is State.CLOSED:
                return  # ended meanwhile, by the reader of an attempt's connection
            attempt += 1
            try:
                deadline = await self._open_connection()
                ws = self._ws
                assert ws is not None
                replay_from = self._protocol.replay_from
                replay = self._protocol.replay()
                gap = self._protocol.replay_gap
                # With a watchdog, a user turn at a time (each reply awaited);
                # else all at once, as they were kept.
                turns = (
                    self._protocol.replay_turns()
                    if self._watchdog is not None
                    else [(replay, False)]
                )
                await self._replay(ws, turns, deadline)
            except (RawliveError, ConnectionClosed, OSError) as exc:
                error = exc
                await self._end_connection(graceful=False)  # one that failed during the replay
                self._protocol.connection_lost()
                log.info(
                    "reconnect attempt %d failed: %s",
                    attempt,
                    self.endpoint.redact(_resume_failure(exc)),
                )
                if not retry_resume(_code_of(exc)):
                    break
                continue
            self._protocol.stalled = False
            log.info("session resumed (%s), %d messages replayed", reason, len(replay))
            missing = 0 if gap is None else gap[1] - gap[0] + 1
            if gap is not None:
                log.warning(
                    "the resumed session lacks client messages %d to %d: dropped from the "
                    "kept ones past max_replay_bytes (%s bytes) before a handle held them",
                    *gap,
                    self._protocol.max_kept_bytes,
                )
            # What the lost connection owed, the resumed one owes (state rule 11).
            self._protocol.session.resumed(asyncio.get_running_loop().time())
            if self._watchdog is not None:
                self._watch()
            self._queue.put_nowait(
                SessionResumed(
                    reason=reason,
                    # The handle resumed from: a newer one may have come since.
                    handle=self._protocol.setup_handle,
                    replayed=len(replay),
                    replay_from=replay_from,
                    connection=self._protocol.connections,
                    lost=missing,
                )
            )
            self._open.set()
            return
        self._finish(self._resume_error(error, attempt))

    async def _replay(
        self,
        ws: ClientConnection,
        turns: list[tuple[list[bytes], bool]],
        deadline: float | None,
    ) -> None:
        """Re-send the kept messages, in ``turns`` (one part: all at once).

        With a watchdog the parts are user turns (protocol rule 3): each
        turn's reply is due once it is re-sent (state rule 11); before
        the next turn goes out the reply is awaited, until it ends, a tool
        call asks for the client, or :meth:`_reply_wait` passes, so that the
        next turn's speech does not interrupt it. A reply that does not come
        leaves its wait due from then: the watchdog finds the stall at once.
        ``deadline`` bounds the sending alone: a server that stopped reading
        would otherwise stall the resume until keepalive gives up, or for ever
        with pings off.
        """
        loop = asyncio.get_running_loop()
        state = self._protocol.session
        waited_out = False
        for number, (frames, ends_turn) in enumerate(turns, 1):
            try:
                async with asyncio.timeout_at(deadline):
                    for frame in frames:
                        await self._send_frame(ws, frame)
            except TimeoutError:
                break
            if not ends_turn or waited_out:
                continue
            state.resent_turn(loop.time())
            if number < len(turns):
                waited_out = not await self._reply_to_resent_turn()
                if deadline is not None:  # the wait for the reply is not the server's slowness
                    deadline = max(deadline, loop.time() + (self._setup_timeout or 0.0))
        else:
            return
        total = sum(len(frames) for frames, _ in turns)
        # Raised outside the ``except``: nothing to chain.
        raise ConnectError(
            f"re-sending the {total} kept message(s) did not finish within "
            f"{self._setup_timeout:g} s of sending setup to {self.endpoint.redacted_url()}: "
            "the server stopped reading (raise setup_timeout if the link is slow)"
        )

    def _reply_wait(self) -> float:
        """How long a resume waits for the reply to a re-sent turn (seconds)."""
        policy = self._watchdog
        return policy.first_reply if policy is not None else DEFAULT_POLICY.first_reply

    async def _reply_to_resent_turn(self) -> bool:
        """Wait for the reply to the turn just re-sent to end; ``False``: it did not come."""
        state = self._protocol.session
        loop = asyncio.get_running_loop()
        until = loop.time() + self._reply_wait()
        while state.reply_due is not None or state.reply_progress is not None:
            if self._protocol.state is not State.OPEN:
                return False
            self._heard_any.clear()
            try:
                async with asyncio.timeout_at(until):
                    await self._heard_any.wait()
            except TimeoutError:
                return False
        return True

    def _loop_error(
        self,
        stalled: int,
        reason: str,
        lost: ClientConnection | None,
        stall: Stalled | None = None,
    ) -> RawliveError:
        """The error a resume loop ends the session with (rule 9).

        ``lost`` is the last connection: its close is the error's, unless a
        goAway ended it, or the watchdog (``stall``).
        """
        many = stalled > 1
        if stall is not None:
            return self._stall_error(
                stall,
                f"gave up resuming the session: {stalled} "
                + ("resumes in a row" if many else "resume")
                + " made no progress, the last connection stalled",
                hint="the server takes the session back and never answers; if the model is "
                "merely slow, raise the watchdog's limits (StallPolicy)",
            )
        context = (
            f"gave up resuming the session: {stalled} "
            + ("resumes in a row" if many else "resume")
            + " made no progress (a resume loop: the server accepted "
            + ("each" if many else "it")
            + ", then ended it with nothing new and no message acknowledged)"
        )
        if reason == "go_away" or lost is None:
            return RawliveError(f"{context}; the last connection ended with a goAway")
        code, close_reason = _close_of(lost)
        return connection_closed(code, close_reason, secrets=self.endpoint.secrets, context=context)

    def _resume_error(self, error: BaseException | None, attempts: int) -> RawliveError:
        """The error a resume that failed ``attempts`` times ends the session with."""
        context = "could not resume the session" + (
            f" after {attempts} attempts" if attempts > 1 else ""
        )
        secrets = self.endpoint.secrets
        if isinstance(error, LiveConnectionClosed):
            return connection_closed(error.code, error.reason, secrets=secrets, context=context)
        if isinstance(error, ConnectionClosed) and error.rcvd is not None:
            rcvd = error.rcvd
            return connection_closed(rcvd.code, rcvd.reason, secrets=secrets, context=context)
        what = _resume_failure(error) if error is not None else "no attempt was made"
        return ConnectError(f"{context}: {self.endpoint.redact(what)}")

    # -- closing --------------------------------------------------------------

    def _closed_error(self, ws: ClientConnection) -> LiveConnectionClosed:
        code, reason = _close_of(ws)
        return connection_closed(code, reason, secrets=self.endpoint.secrets)

    def _fault(self, what: str, exc: Exception) -> RawliveError:
        """The error an unexpected ``exc`` ends the session with, saying ``what`` failed.

        Its message is redacted; ``exc`` is kept as its ``__cause__`` (for the
        traceback) only when nothing in ``exc``'s chain quotes a secret.
        """
        error = RawliveError(f"{what}: {type(exc).__name__}: " + self.endpoint.redact(str(exc)))
        if not _quotes_a_secret(exc, self.endpoint):
            error.__cause__ = exc
        return error

    def _finish(self, error: BaseException | None) -> None:
        if self._protocol.state is State.CLOSED:
            return
        self._stop_watching()
        self._protocol.close()
        self._open.set()  # wake senders so they see the closed state
        self._queue.put_nowait(_END if error is None else error)

    async def close(self) -> None:
        """Close the session (code 1000). Idempotent."""
        self._closing = True
        self._room.set()  # the reader reads on to the close frame (rule 1)
        if self._go_away_timer is not None:
            self._go_away_timer.cancel()
        probe = self._probe
        self._stop_watching()
        if probe is not None:
            await asyncio.wait({probe})  # cancelled; it never raises
        reconnecting = self._reconnecting
        if reconnecting is not None:
            reconnecting.cancel()
            await asyncio.wait({reconnecting})  # it ends the session itself, never raises
        ws = self._ws
        if ws is not None:
            await _close_quietly(ws)
        if self._reader is not None:
            await asyncio.wait({self._reader})  # it ends the session itself, never raises
        self._finish(None)
        if self._recorder is not None:
            self._recorder.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()


def _stall_words(marker: Stalled, policy: StallPolicy | None) -> str:
    """A stall in words: what was awaited, how long, the limit, and the ping's answer."""
    if marker.reason is not None:
        what = (
            f"no reply {marker.waited:.1f} s after {marker.reason} "
            f"(limit first_reply={marker.threshold:g} s)"
        )
    else:
        what = (
            f"the reply stopped midway, nothing for {marker.waited:.1f} s "
            f"(limit gap={marker.threshold:g} s)"
        )
    if marker.pong is not None:
        return f"{what}; the connection answered a ping in {marker.pong * 1000:.0f} ms"
    timeout = "" if policy is None else f" within {policy.ping_timeout:g} s"
    return f"{what}; the connection did not answer a ping{timeout} either"


def _resume_failure(exc: BaseException) -> str:
    """What went wrong in a resume attempt, in words (not yet redacted)."""
    if isinstance(exc, DecodeError) and not isinstance(exc, ProtocolError):
        # Only the first message is decoded here: the reader decodes the rest.
        return f"the first message is not a valid setupComplete: {exc}"
    return str(exc) or type(exc).__name__


def _quotes_a_secret(exc: BaseException, endpoint: endpoints.Endpoint) -> bool:
    """Whether ``exc`` or any error chained to it shows a secret (message, repr, args, fields)."""
    seen: set[int] = set()
    chain: list[BaseException | None] = [exc]
    while chain:
        current = chain.pop()
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        for text in (str(current), repr(current), repr(current.args), repr(vars(current))):
            if endpoint.redact(text) != text:
                return True
        chain += (current.__cause__, current.__context__)  # a suppressed context shows too
    return False


def _code_of(exc: BaseException) -> int | None:
    if isinstance(exc, LiveConnectionClosed):
        return exc.code
    if isinstance(exc, ConnectionClosed) and exc.rcvd is not None:
        return exc.rcvd.code
    return None


def _close_of(ws: ClientConnection) -> tuple[int, str]:
    """The close that ended the connection: the server's, else one we sent for a fault."""
    rcvd = ws.protocol.close_rcvd
    if rcvd is not None:
        return rcvd.code, rcvd.reason
    sent = ws.protocol.close_sent
    if sent is not None and sent.code != 1000:
        return sent.code, sent.reason  # e.g. 1011 "keepalive ping timeout"
    return 1006, ""


async def _close_quietly(ws: ClientConnection, code: int = 1000, reason: str = "") -> None:
    """Close ``ws``; abort it when the peer does not complete the close within 2 s."""
    try:
        await asyncio.wait_for(ws.close(code, reason), timeout=2.0)
    except Exception:
        # A peer that stopped reading never answers: its reader would wait on.
        ws.transport.abort()


@functools.cache
def _default_ssl_context() -> ssl_module.SSLContext:
    """The system trust store, loaded once per process and shared by every connection.

    ``ssl.create_default_context()`` parses the whole CA bundle (~20 ms of CPU,
    on the event loop); without the cache every reconnection paid it again.
    """
    return ssl_module.create_default_context()


async def _dial(endpoint: endpoints.Endpoint, options: Mapping[str, Any]) -> ClientConnection:
    logger = endpoints.RedactingLogger(logging.getLogger("websockets.client"), endpoint.secrets)
    kwargs: dict[str, Any] = dict(options)
    if endpoint.secure:
        kwargs.setdefault("ssl", endpoint.ssl or _default_ssl_context())
    # The errors are raised outside the ``except``: the original (a refusal's
    # response with its body, a close with its reason) may quote a secret, and
    # ``from None`` would still keep it as the new error's ``__context__``.
    try:
        return await websockets.connect(
            endpoint.url,
            additional_headers=list(endpoint.headers),
            user_agent_header=f"rawlive/{__version__} websockets/{websockets_version}",
            compression=None,
            logger=logger,
            **kwargs,
        )
    except InvalidStatus as exc:
        status = exc.response.status_code
        error: ConnectError
        if quota_status(status, bytes(exc.response.body or b"")):
            # PROTOCOL.md §10.12: a quota refusal of the upgrade. The body is not
            # quoted (it may echo a request header).
            error = QuotaRefused(
                f"the server refused the WebSocket handshake with HTTP {status} at "
                f"{endpoint.redacted_url()}: {QUOTA_HINT}",
                status=status,
            )
        else:
            error = ConnectError(
                f"the server refused the WebSocket handshake with HTTP {status} at "
                f"{endpoint.redacted_url()}"
                + (": check the API key" if status in (401, 403) else "")
            )
    except (OSError, InvalidHandshake, TimeoutError) as exc:
        error = ConnectError(
            f"cannot connect to {endpoint.redacted_url()}: "
            f"{endpoint.redact(str(exc)) or type(exc).__name__}"
        )
    raise error


async def _recv_first(
    ws: ClientConnection, endpoint: endpoints.Endpoint, timeout: float | None
) -> bytes | str:
    """The first server message, which must come within ``timeout`` seconds of setup."""
    try:
        async with asyncio.timeout(timeout):
            return await ws.recv()
    except ConnectionClosed as exc:
        rcvd = exc.rcvd
    except TimeoutError:
        raise ConnectError(
            f"no setupComplete within {timeout:g} s of sending setup to "
            f"{endpoint.redacted_url()}: raise setup_timeout if the server is slow"
        ) from None
    # Outside the ``except``: the ConnectionClosed quotes the reason unredacted.
    raise connection_closed(
        rcvd.code if rcvd else 1006, rcvd.reason if rcvd else "", secrets=endpoint.secrets
    )


class Connecting:
    """What :func:`connect` returns: ``async with`` it, or ``await`` it.

    ``async with`` closes the session on exit; an awaited session is the
    caller's to close. Public so wrappers such as :class:`rawlive.Client` can
    name it in their signatures.
    """

    def __init__(self, factory: Any) -> None:
        self._factory = factory
        self._session: Session | None = None

    def __await__(self) -> Generator[Any, None, Session]:
        return self._factory().__await__()  # type: ignore[no-any-return]

    async def __aenter__(self) -> Session:
        self._session = await self._factory()
        return self._session

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()


def connect(
    model: str,
    config: t.LiveConnectConfig | dict[str, Any] | None = None,
    *,
    api_key: str | None = None,
    endpoint: str | None = None,
    api_version: str | None = None,
    vertex: bool = False,
    project: str | None = None,
    location: str | None = None,
    access_token: str | None = None,
    quota_project: str | None = None,
    headers: Mapping[str, str] | None = None,
    ca_file: str | os.PathLike[str] | None = None,
    ping_interval: float | None = 20.0,
    ping_timeout: float | None = 60.0,
    open_timeout: float | None = 10.0,
    setup_timeout: float | None = 10.0,
    max_size: int | None = 64 * 2**20,
    reconnect: Reconnect | None = None,
    record: str | os.PathLike[str] | cassette.Recorder | None = None,
    record_elide_audio: bool = False,
    watchdog: StallPolicy | None = None,
    max_replay_bytes: int | None = MAX_KEPT_BYTES,
) -> Connecting:
    """Open a Live session; it is ready when ``setupComplete`` has arrived.

    ``model`` and ``config`` are the SDK's (``LiveConnectConfig`` or a dict
    with snake_case or camelCase keys). Where to connect is worked out by
    :func:`rawlive.wire.endpoints.resolve` from ``api_key`` (else
    ``GEMINI_API_KEY``/``GOOGLE_API_KEY``), ``endpoint``, ``api_version``
    (default ``v1beta``; ``v1alpha`` for ephemeral tokens), ``vertex`` with
    ``project``/``location``/``access_token``, ``headers`` and ``ca_file``.

    Use ``async with rawlive.connect(...) as session:`` or
    ``session = await rawlive.connect(...)`` (then ``await session.close()``).
    A first message other than ``setupComplete`` raises
    :class:`~rawlive.RemoteProtocolError`; a refused or dropped connection
    :class:`ConnectError` or :class:`LiveConnectionClosed`.

    ``open_timeout`` bounds the WebSocket handshake and ``setup_timeout`` the
    wait for ``setupComplete`` after ``setup`` (:class:`ConnectError` when it
    runs out; ``None``: no limit), on the first connection and on every
    resume attempt alike. A resume attempt must also have re-sent the kept
    messages within ``setup_timeout`` of sending ``setup``, or it fails (and
    is retried): a whole attempt takes at most ``open_timeout`` +
    ``setup_timeout``.

    ``record`` records the session into a cassette (:mod:`rawlive.cassette`):
    a path to write, or a :class:`~rawlive.cassette.CassetteWriter` (or any
    :class:`~rawlive.cassette.Recorder`), which is given the endpoint's
    secrets and closed with the session. ``record_elide_audio`` (with a path)
    keeps only the length and hash of audio payloads.

    ``watchdog`` (off by default) watches for stalls, a reply that never comes
    or stops midway while the socket stays open: a
    :class:`~rawlive.core.watchdog.StallPolicy` gives the limits
    (``StallPolicy()``: 15 s to the first part of a reply, 5 s between
    parts, 5 s for a ping's pong). A stall resumes the session through its
    latest handle when ``session_resumption`` is configured
    (:meth:`Session.receive` yields a :class:`Stalled` marker, then
    :class:`SessionResumed`), and ends it with
    :class:`~rawlive.errors.SessionStalled` otherwise (rule 6).

    ``max_replay_bytes`` bounds the client messages kept for a resume (those
    the latest handle may lack; 3 MiB, about 70 s of audio, by default;
    ``None``: no bound). An upload that outruns the server's handles (a file
    sent faster than real time) drops the oldest past it, with a warning,
    and a resume then says how many it lacks (:attr:`SessionResumed.lost`).
    """
    setup = messages.build_setup(
        model,
        config,
        vertex=vertex,
        project=project,
        location=location,
        oauth=vertex and access_token is not None,
    )
    resolved = endpoints.resolve(
        api_key=api_key,
        endpoint=endpoint,
        api_version=api_version,
        vertex=vertex,
        location=location,
        access_token=access_token,
        quota_project=quota_project,
        headers=headers,
        ca_file=ca_file,
    )
    options: dict[str, Any] = {
        "ping_interval": ping_interval,
        "ping_timeout": ping_timeout,
        "open_timeout": open_timeout,
        "max_size": max_size,
    }

    async def factory() -> Session:
        recorder: cassette.Recorder | None = None
        if isinstance(record, str | os.PathLike):
            recorder = cassette.CassetteWriter(
                record, secrets=resolved.secrets, elide_audio=record_elide_audio
            )
        elif record is not None:
            recorder = record
        session = Session(
            Protocol(setup, "vertex" if vertex else "gemini", max_kept_bytes=max_replay_bytes),
            resolved,
            vertex=vertex,
            reconnect=reconnect or Reconnect(),
            connect_options=options,
            recorder=recorder,
            setup_timeout=setup_timeout,
            watchdog=watchdog,
        )
        try:
            await session._start()
        except BaseException:
            if recorder is not None:
                recorder.close()
            raise
        return session

    return Connecting(factory)
