"""One Live conversation driven synchronously, for load generators (Locust's users).

A load generator runs hundreds of conversations in one process on gevent
(Locust) or on threads: :class:`Conversation` speaks the Live API over
``websockets.sync.client`` (a background reader thread per connection, a
greenlet once gevent has patched ``threading``), and leaves every session
rule to the sans-I/O core: :class:`~rawlive.core.protocol.Protocol` encodes,
numbers and checks what is sent and applies what comes back to its
:class:`~rawlive.core.state.SessionState`. This module never imports Locust
or gevent: it reports what it measures through a callback, ``report(name,
seconds, length, error)``.

What a conversation sends is a :class:`Plan`: a list of :class:`Step`
(client messages, each due ``offset`` seconds after its gate opens, the gate
being the session's ``setupComplete`` or its N-th completed turn), built from
a media file (:func:`file_plan`) or from the client side of a cassette
(:func:`cassette_plan`). Steps are paced drift-free: each is due at an
absolute time, so one late wake-up never delays the next.

What it measures (names of :data:`REQUEST_NAMES`, times in seconds):

``connect``
    The WebSocket opening handshake: from the TCP connect to the upgrade's
    response (``websockets.sync.client.connect``).
``setup``
    From sending ``setup`` to receiving ``setupComplete``. One per session.
``first_audio``
    From the end of the user's speech to the first reply audio chunk of the
    turn (rule 3 of :mod:`rawlive.core.state`: a turn is the user's input and
    the model's reply up to ``turnComplete``). The end of the user's speech is
    when rule 11 of the state made the reply due for a user's reason (the end
    of speech that the same voice-activity detector as the emulator's finds
    in the audio sent, at the audio position where the silence began;
    ``activityEnd``; ``audioStreamEnd`` after speech; realtime ``text``; a
    ``clientContent`` with ``turnComplete``), else, when no speech was heard
    (a cassette whose audio was elided to silence), the last user input sent
    before the reply began (the state's ``Turn.user_end``). One per turn that
    has reply audio.
``turn``
    From the same end of the user's speech to the turn's ``turnComplete``.
    One per ``turnComplete``: on extended thinking a filler turn ending
    ``IN_PROGRESS`` and the answer after the tool result are two
    (``PROTOCOL.md`` §10.6), the answer's timed from the ``toolResponse``
    (the state's ``Turn.user_end``).
``tool_round_trip``
    From a ``toolCall``'s arrival to the first message of the model's
    continuation (content, ``turnComplete``) after the ``toolResponse`` that
    answered it: the client's answer plus the server's reaction to it. One per
    ``toolCall``. Every call is answered: with the plan's canned response for
    its name, else with an ``error`` payload (:meth:`ToolBook.respond
    <rawlive.tools.send.ToolBook.respond>`).
``audio_late``
    How late reply audio arrived against real time. For each chunk ``i`` of a
    reply (the audio of one turn), ``due_i = arrival_0 + A_i`` where
    ``arrival_0`` is the arrival of the reply's first chunk and ``A_i`` the
    seconds of audio in the chunks before ``i``: when chunk ``i`` would be
    needed if the reply played in real time from its first chunk. The
    lateness of chunk ``i`` is ``max(0, arrival_i - due_i)``: a listener would
    have heard a gap of that much. One value per reply, its worst chunk (so
    Locust's p99 of ``audio_late`` is the p99 over replies of their worst
    chunk), or one per chunk with ``audio_late_per_chunk``.

Failures (reported with an error, the name saying what failed):
``close CODE`` (the connection ended with any code but 1000, or 1006 with no
close frame; the error carries the reason, e.g. a quota's 1011
``RESOURCE_EXHAUSTED`` text, ``PROTOCOL.md`` §5.3, §10.12; its time runs from
``setupComplete`` to the end of the connection), ``stall`` (a reply due for
``stall_timeout`` seconds and none begun, or the server silent that long
while a reply was under way), ``connect`` (the handshake failed: refused,
timed out, an HTTP status such as a quota's 429, §10.12), ``setup`` (no
``setupComplete`` in time, or another first message), ``protocol`` (a frame
the codec cannot decode).
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any
from typing import Protocol as TypingProtocol

import msgspec
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus
from websockets.sync.client import ClientConnection
from websockets.sync.client import connect as ws_connect

from rawlive.cassette import read_cassette
from rawlive.core.models import RECOMMENDED
from rawlive.core.protocol import Protocol
from rawlive.errors import LoadFailure, ProtocolError, RawliveError
from rawlive.media import audio, container
from rawlive.media.vad import EnergyVad, VadConfig
from rawlive.tools.send import IN_MIME, ToolBook, build_config
from rawlive.wire import codec, endpoints, messages
from rawlive.wire import types as t

__all__ = [
    "REQUEST_NAMES",
    "Conversation",
    "LoadOptions",
    "Plan",
    "Report",
    "Step",
    "cassette_plan",
    "file_plan",
    "is_cassette",
    "plan_for",
]

#: The request names a conversation reports as successes (the module docstring).
REQUEST_NAMES = ("connect", "setup", "first_audio", "turn", "tool_round_trip", "audio_late")

#: Reasons of rule 11 (:mod:`rawlive.core.state`) that are the end of the user's turn.
USER_REASONS = frozenset(
    {"speech-end", "activity-end", "audio-stream-end", "text", "client-content"}
)

#: What answers tool calls when no tools were given: an error per call.
_NO_TOOLS = ToolBook([], {})

#: Seconds to wait after the last step for a reply that may still come (the
#: real server answers within about a second, as ``rawlive send`` waits).
IDLE_GRACE = 3.0


class Report(TypingProtocol):
    """Where measurements go: ``name``, ``seconds``, bytes, and the error of a failure."""

    def __call__(
        self, name: str, seconds: float, length: int = 0, error: BaseException | None = None
    ) -> None: ...


@dataclasses.dataclass(frozen=True)
class Step:
    """One client message: due ``offset`` seconds (at speed 1) after its gate opens.

    ``gate`` is the number of completed turns the session must have seen
    first (0: ``setupComplete``). ``speech_start``/``speech_end`` are the
    audio offsets (from the same gate) where the voice detector hears speech
    begin or end within this chunk.
    """

    gate: int
    offset: float
    message: Any
    audio_seconds: float = 0.0
    speech_start: float | None = None
    speech_end: float | None = None


@dataclasses.dataclass(frozen=True)
class Plan:
    """What a conversation sends: its setup and steps, and the canned tool answers."""

    setup: t.LiveClientSetup
    steps: tuple[Step, ...]
    tools: ToolBook | None = None
    #: Where it came from (a file or a cassette), for messages.
    source: str = ""


@dataclasses.dataclass
class LoadOptions:
    """How a conversation connects and paces (a Locust user's class attributes map to these)."""

    endpoint: str | None = None
    api_key: str | None = None
    speed: float = 1.0
    stall_timeout: float = 15.0
    open_timeout: float = 10.0
    setup_timeout: float = 10.0
    #: How long a close handshake may take (websockets' ``close_timeout``).
    close_timeout: float = 2.0
    settle: float = 0.5
    audio_late_per_chunk: bool = False


def is_cassette(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a cassette (JSON Lines whose first line is a cassette header)."""
    try:
        with open(path, "rb") as f:
            head = f.read(200)
    except OSError:
        return False
    return head.lstrip().startswith(b"{") and b"rawlive-cassette" in head


def plan_for(
    path: str | os.PathLike[str],
    model: str | None = None,
    *,
    config: dict[str, Any] | None = None,
    tools: ToolBook | None = None,
    chunk_ms: float = 40.0,
) -> Plan:
    """The plan for a media file or a cassette (:func:`is_cassette` tells which).

    ``model`` ``None``: the cassette's own, or for a file
    :data:`~rawlive.core.models.RECOMMENDED`.
    """
    if is_cassette(path):
        return cassette_plan(path, model=model, tools=tools)
    model = model or RECOMMENDED
    return file_plan(path, model, config=config, tools=tools, chunk_ms=chunk_ms)


def file_plan(
    path: str | os.PathLike[str],
    model: str,
    *,
    config: dict[str, Any] | None = None,
    tools: ToolBook | None = None,
    chunk_ms: float = 40.0,
) -> Plan:
    """The user's turn of ``rawlive send``: the file's audio (and frames) at its times,
    then ``audioStreamEnd`` (with manual activity detection, between
    ``activityStart`` and ``activityEnd``). ``config`` defaults to
    :func:`rawlive.tools.send.build_config`'s without session resumption (a
    load test measures each session as it is)."""
    if config is None:
        config = build_config(tools=tools, model=model, resume=False)
    setup = messages.build_setup(model, config)
    return Plan(setup, _file_steps(os.fspath(path), chunk_ms, setup), tools, os.fspath(path))


@functools.lru_cache(maxsize=8)
def _timeline(path: str, chunk_ms: float) -> tuple[container.AudioChunk | container.Frame, ...]:
    """The file's chunks and frames, read once per process (every user sends the same)."""
    return tuple(container.timeline(path, chunk_ms=chunk_ms))


def _file_steps(path: str, chunk_ms: float, setup: t.LiveClientSetup) -> tuple[Step, ...]:
    items = _timeline(path, chunk_ms)
    detection = (
        setup.realtime_input_config.automatic_activity_detection
        if (setup.realtime_input_config is not None)
        else None
    )
    manual = detection is not None and bool(detection.disabled)
    vad = None if manual else EnergyVad(VadConfig.from_setup(detection))
    steps: list[Step] = []
    if manual:  # manual activity detection: the turn is marked, as `rawlive send` does
        steps.append(Step(0, 0.0, t.LiveClientRealtimeInput(activity_start=t.ActivityStart())))
    end = 0.0
    for item in items:
        if isinstance(item, container.Frame):
            video = t.Blob(data=item.data, mime_type=item.mime_type)
            steps.append(Step(0, item.t, t.LiveClientRealtimeInput(video=video)))
            continue
        start = stop = None
        if vad is not None:
            # The detector's positions are in the audio fed so far: the file's.
            for event in vad.feed(item.data):
                at = event.offset_ms / 1000
                if event.kind == "speech_start":
                    start = at
                else:
                    stop = at
        blob = t.Blob(data=item.data, mime_type=IN_MIME)
        steps.append(
            Step(0, item.t, t.LiveClientRealtimeInput(audio=blob), item.seconds, start, stop)
        )
        end = max(end, item.t + item.seconds)
    if vad is not None:
        for event in vad.flush():
            if event.kind == "speech_end":
                steps[-1] = dataclasses.replace(steps[-1], speech_end=event.offset_ms / 1000)
    if manual:
        steps.append(Step(0, end, t.LiveClientRealtimeInput(activity_end=t.ActivityEnd())))
    else:
        steps.append(Step(0, end, t.LiveClientRealtimeInput(audio_stream_end=True)))
    return tuple(steps)


def cassette_plan(
    path: str | os.PathLike[str], *, model: str | None = None, tools: ToolBook | None = None
) -> Plan:
    """The client side of a cassette's first connection, with its recorded timing.

    Each client message waits for as many completed turns as the recording
    had seen before it, then its recorded delay after the last of them (or
    after ``setupComplete``): the conversation keeps its rhythm however fast
    the server answers. Recorded ``toolResponse`` messages are not replayed:
    a live ``toolCall`` is answered with the response the cassette gave for
    the same function name (``tools`` first when given), under the live
    call's id. Elided audio is sent as silence of the same length. ``model``
    replaces the recorded setup's model.
    """
    name = os.fspath(path)
    cassette = read_cassette(name)
    frames = cassette.frames(connection=1)
    setup_frame = next((f for f in frames if f.sender == "client" and f.kind == "setup"), None)
    if setup_frame is None:
        raise LoadFailure(f"{name}: the cassette's first connection has no setup message")
    decoded = codec.decode_client_message(setup_frame.wire_payload())
    assert decoded.setup is not None
    setup = decoded.setup
    if model:
        setup = msgspec.structs.replace(setup, model=messages.build_setup(model).model)
    setup = msgspec.structs.replace(setup, session_resumption=None)
    steps: list[Step] = []
    responses: dict[str, Any] = {}
    turns, since = 0, setup_frame.t
    for frame in frames:
        if frame.sender == "server":
            if frame.kind == "setupComplete":
                since = frame.t
            elif "turnComplete" in frame.kind:
                turns, since = turns + 1, frame.t
            continue
        if frame.kind == "setup":
            continue
        message = codec.decode_client_message(frame.wire_payload())
        if message.tool_response is not None:
            for response in message.tool_response.function_responses or ():
                if response.name:
                    responses.setdefault(response.name, response.response or {})
            continue
        inner = _inner(message)
        if inner is None:
            continue
        steps.append(Step(turns, max(0.0, frame.t - since), inner))
    book = tools or ToolBook([], responses)
    return Plan(setup, tuple(steps), book, name)


def _inner(message: t.LiveClientMessage) -> Any:
    """The message inside the envelope, as :meth:`Protocol.send` takes it."""
    for value in (message.realtime_input, message.client_content, message.context_update):
        if value is not None:
            return value
    return None


class Conversation:
    """One Live conversation: connect, set up, play the plan, answer tool calls, measure.

    :meth:`run` never raises for what the server does: failures go to
    ``report`` (the module docstring lists them). ``sleep`` and ``clock`` are
    the pacing primitives (``time.sleep``/``time.monotonic``; gevent patches
    the first).
    """

    def __init__(
        self,
        plan: Plan,
        options: LoadOptions,
        report: Report,
        *,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.plan = plan
        self.options = options
        self.report = report
        self.sleep = sleep
        self.protocol = Protocol(plan.setup)
        self.lock = threading.Condition()
        self.ws: ClientConnection | None = None
        self.closed: tuple[int, str] | None = None
        #: The endpoint's credentials, kept out of every failure's text.
        self.secrets: tuple[str, ...] = ()
        self.failed = False
        self.turns = 0
        self.last_message = time.monotonic()
        self.last_input: float | None = None
        #: When ``setupComplete`` came, and when the latest gate (a completed turn) opened.
        self.started = self.gate_time = time.monotonic()
        # The turn under way: its end of speech, first audio, reply audio clock.
        self.speech_due: float | None = None
        self.user_end: float | None = None
        self.first_audio_seen = False
        self.reply_t0: float | None = None
        self.reply_audio = 0.0
        self.reply_late = 0.0
        self.tool_call_at: float | None = None
        self.tool_answered = False

    # -- the run ----------------------------------------------------------------

    def run(self) -> bool:
        """The whole conversation; returns when it is over (reported either way),
        whether it went without failure."""
        endpoint = endpoints.resolve(api_key=self.options.api_key, endpoint=self.options.endpoint)
        self.secrets = tuple(endpoint.secrets)
        started = time.monotonic()
        try:
            # (websockets' own keepalive where it has one: 15.0 on, for the sync client.)
            connection = ws_connect(
                endpoint.url,
                additional_headers=list(endpoint.headers),
                ssl=endpoint.ssl if endpoint.url.startswith("wss:") else None,
                open_timeout=self.options.open_timeout,
                compression=None,
                max_size=64 * 2**20,
                close_timeout=self.options.close_timeout,
                # websockets logs the handshake's headers at DEBUG: the key redacted.
                logger=endpoints.RedactingLogger(
                    logging.getLogger("websockets.client"), endpoint.secrets
                ),
            )
        except (OSError, InvalidHandshake, TimeoutError) as exc:
            self._fail("connect", time.monotonic() - started, _connect_error(exc, endpoint))
            return False
        self.report("connect", time.monotonic() - started)
        with connection as ws:
            self.ws = ws
            if not self._setup():
                return False
            reader = threading.Thread(target=self._read, name="rawlive-load-reader", daemon=True)
            reader.start()
            try:
                self._play()
                self._settle()
            finally:
                ws.close()
                reader.join(timeout=5)
        return not self.failed

    def _fail(self, name: str, seconds: float, error: BaseException) -> None:
        if not self.failed:
            self.failed = True
            self.report(name, seconds, 0, error)

    def _setup(self) -> bool:
        ws = self.ws
        assert ws is not None
        sent = time.monotonic()
        try:
            ws.send(self.protocol.open())
            data = ws.recv(timeout=self.options.setup_timeout)
            self.protocol.receive(data, time.monotonic())
        except TimeoutError:
            self._fail("setup", time.monotonic() - sent, LoadFailure("no setupComplete in time"))
            return False
        except ConnectionClosed as exc:
            self._closed(exc, time.monotonic() - sent)
            return False
        except (ProtocolError, RawliveError) as exc:
            text = endpoints.redact(str(exc), self.secrets)
            self._fail("setup", time.monotonic() - sent, LoadFailure(text))
            return False
        self.report("setup", time.monotonic() - sent)
        self.started = time.monotonic()
        return True

    def _closed(self, exc: ConnectionClosed, seconds: float) -> None:
        """The connection ended: a failure unless it was a normal close (1000)."""
        close = exc.rcvd
        code, reason = (close.code, close.reason) if close is not None else (1006, "")
        with self.lock:
            self.closed = (code, reason)
            self.lock.notify_all()
        if code != 1000:  # (a close reason may quote the request: redacted)
            text = endpoints.redact(reason, self.secrets) if reason else f"closed with {code}"
            self._fail(f"close {code}", seconds, LoadFailure(text))

    # -- sending ----------------------------------------------------------------

    def _wait_gate(self, gate: int) -> float | None:
        """Wait until ``gate`` turns are complete; the time it opened (``None``: over)."""
        with self.lock:
            while self.turns < gate and not self._over():
                if not self.lock.wait(timeout=0.5):
                    self._check_stall(gate=True)
            return None if self._over() else self.gate_time

    def _over(self) -> bool:
        return self.closed is not None or self.failed

    def _play(self) -> None:
        speed = self.options.speed or None
        gate, opened = 0, self.started
        self.gate_time = self.started
        for step in self.plan.steps:
            if step.gate != gate:
                at = self._wait_gate(step.gate)
                if at is None:
                    return
                gate, opened = step.gate, at
            if speed is not None:
                due = opened + step.offset / speed
                while (left := due - time.monotonic()) > 0:
                    self.sleep(min(left, 0.5))
                    if self._over():
                        return
            if self._over():
                return
            if not self._send(step, opened, speed):
                return

    def _send(self, step: Step, opened: float, speed: float | None) -> bool:
        ws = self.ws
        assert ws is not None
        now = time.monotonic()
        state = self.protocol.session
        with self.lock:
            if step.speech_start is not None:
                state.speech_started(now)
            frame = self.protocol.send(step.message, now)
            self.last_input = now
        try:
            ws.send(frame)
        except ConnectionClosed:
            return False  # the reader reports the close
        if step.speech_end is not None:
            ended = opened + step.speech_end / (speed or 1.0) if speed else now
            with self.lock:
                state.speech_ended(min(ended, time.monotonic()))
        with self.lock:
            self._note_due()
        return True

    def _note_due(self) -> None:
        """Keep when rule 11 last made a reply due for a user's reason: the end of
        the user's speech (a later ``transcription`` restarts the state's wait,
        not the user's turn)."""
        state = self.protocol.session
        if state.reply_due is not None and state.reply_due_reason in USER_REASONS:
            self.speech_due = state.reply_due

    def _settle(self) -> None:
        """After the last step: wait for the model to finish, or a stall."""
        end = time.monotonic()
        with self.lock:
            while not self._over():
                now = time.monotonic()
                state = self.protocol.session
                busy = state.reply_due is not None or state.reply_progress is not None
                busy = busy or bool(state.tools.open) or state.model_turn_active
                if not busy:
                    quiet_from = max(end, self.last_message)
                    waited = now - quiet_from
                    # Idle since the end: a reply may still come for the last words.
                    limit = self.options.settle if self.last_message > end else IDLE_GRACE
                    if state.turns_completed and self.last_message > end and waited >= limit:
                        return
                    if waited >= max(limit, IDLE_GRACE):
                        return
                elif self._check_stall():
                    return
                self.lock.wait(timeout=0.1)

    def _check_stall(self, gate: bool = False) -> bool:
        """Report a stall (rule 11's due reply, a reply gone silent, or with
        ``gate`` a turn awaited in silence); whether there was one."""
        state = self.protocol.session
        now = time.monotonic()
        waited = None
        if state.reply_due is not None:
            waited = now - state.reply_due
        elif state.reply_progress is not None:
            waited = now - max(state.reply_progress, self.last_message)
        elif gate:
            # Waiting for a turn to complete with nothing due: the server owes
            # the turn the recording had (a cassette's next message waits on it).
            waited = now - max(self.last_message, self.last_input or self.started)
        if waited is not None and waited >= self.options.stall_timeout:
            self._fail("stall", waited, LoadFailure(f"no reply for {waited:.1f} s"))
            self.lock.notify_all()
            return True
        return False

    # -- receiving --------------------------------------------------------------

    def _read(self) -> None:
        ws = self.ws
        assert ws is not None
        while True:
            try:
                data = ws.recv()
            except ConnectionClosed as exc:
                if not self.failed and self.closed is None:
                    self._closed(exc, time.monotonic() - self.started)
                with self.lock:
                    self.closed = self.closed or (1000, "")
                    self.lock.notify_all()
                return
            now = time.monotonic()
            try:
                with self.lock:
                    answer = self._take(data, now)
                    self.lock.notify_all()
            except RawliveError as exc:
                self._fail("protocol", 0.0, LoadFailure(str(exc)))
                ws.close()
                continue
            if answer is not None:
                with contextlib.suppress(ConnectionClosed):
                    ws.send(answer)

    def _take(self, data: bytes | str, now: float) -> bytes | None:
        """Apply a server message and measure it; the tool response to send, if any."""
        state = self.protocol.session
        self._note_due()
        turn = state.turn
        began = turn.reply_start is not None
        message = self.protocol.receive(data, now)
        self.last_message = now
        if message is None:
            return None
        if not began and turn.reply_start is not None:
            speech, self.speech_due = self.speech_due, None
            self.user_end = speech if speech is not None else turn.user_end
        content = message.server_content
        if self.tool_call_at is not None and self.tool_answered and content is not None:
            self.report("tool_round_trip", now - self.tool_call_at)
            self.tool_call_at = None
        if content is not None:
            self._audio(content, now)
            if content.turn_complete or content.interrupted:
                self._reply_done()
            if content.turn_complete:
                self.turns += 1
                self.gate_time = now
                if self.user_end is not None:
                    self.report("turn", now - self.user_end)
                self.user_end = None
                self.first_audio_seen = False
        if message.tool_call is not None:
            return self._answer(message.tool_call, now)
        return None

    def _audio(self, content: t.LiveServerContent, now: float) -> None:
        turn = content.model_turn
        for part in turn.parts or () if turn is not None else ():
            blob = part.inline_data
            if blob is None or not blob.data or not (blob.mime_type or "").startswith("audio/"):
                continue
            if not self.first_audio_seen and self.user_end is not None:
                self.report("first_audio", now - self.user_end, len(blob.data))
            self.first_audio_seen = True
            rate = codec.mime_rate(blob.mime_type) or audio.OUTPUT_RATE
            if self.reply_t0 is None:
                self.reply_t0, self.reply_audio, self.reply_late = now, 0.0, 0.0
            late = max(0.0, now - (self.reply_t0 + self.reply_audio))
            if self.options.audio_late_per_chunk:
                self.report("audio_late", late, len(blob.data))
            self.reply_late = max(self.reply_late, late)
            self.reply_audio += len(blob.data) / 2 / rate

    def _reply_done(self) -> None:
        """The reply's audio is over: its worst chunk (unless reported per chunk)."""
        if self.reply_t0 is not None and not self.options.audio_late_per_chunk:
            self.report("audio_late", self.reply_late)
        self.reply_t0 = None

    def _answer(self, tool_call: t.LiveServerToolCall, now: float) -> bytes | None:
        self._reply_done()
        # Always answered: with no canned response, an error payload
        # (ToolBook.respond's), or the conversation would wait for ever.
        book = self.plan.tools or _NO_TOOLS
        calls = tool_call.function_calls or []
        if not calls:
            return None
        self.tool_call_at, self.tool_answered = now, True
        responses = [book.respond(call) for call in calls]
        return self.protocol.send(
            t.LiveClientToolResponse(function_responses=responses), time.monotonic()
        )


def _connect_error(exc: BaseException, endpoint: endpoints.Endpoint) -> LoadFailure:
    if isinstance(exc, InvalidStatus):
        text = f"HTTP {exc.response.status_code} from the handshake"
    elif isinstance(exc, TimeoutError):
        text = "the handshake timed out"
    else:
        text = f"{type(exc).__name__}: {exc}"
    return LoadFailure(endpoints.redact(text, endpoint.secrets))
