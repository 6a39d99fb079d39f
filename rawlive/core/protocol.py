"""The client's side of a Live session, sans I/O: frames in, frames and state out.

This module never touches a socket, a clock or a file; the client session
feeds it frames and the time, and sends what it returns. What a message does
to the session is :class:`~rawlive.core.state.SessionState`'s, which the
servers, the audit and the report share; what is the client's own is here:

1. A connection opens with ``setup`` (:meth:`Protocol.open`). The first server
   message must be ``setupComplete``; anything else is a
   :class:`RemoteProtocolError`. No other client message goes out before it
   (sending one is a :class:`LocalProtocolError`, as is opening a closed
   session).
2. Client messages after ``setup`` are numbered across the whole session,
   reconnections included (rule 1 of :mod:`rawlive.core.state`).
3. With session resumption configured, every message sent is kept until the
   state of a resumable handle is known to hold it: in transparent mode until
   a resumable ``sessionResumptionUpdate`` carries a
   ``lastConsumedClientMessageIndex`` at or past its index, otherwise until
   the next resumable update. (The index describes the handle it comes with:
   a non-resumable update's index says nothing a resume could rely on.) On
   reconnection the new ``setup`` carries the latest resumable handle and exactly the kept
   messages are sent again (:meth:`Protocol.replay`), in order, once, a user
   turn at a time (:meth:`Protocol.replay_turns`: a later turn's speech would
   interrupt the reply to an earlier one). One exception: the messages of a
   user turn whose reply has not begun are kept even once a handle holds
   them (the latest :data:`MAX_HELD_KEPT` at most), and re-sent after a
   stall (:attr:`Protocol.stalled`) when the lost connection owed that
   reply (the state's rule 11): a state that holds the user's words but not
   the reply to them would never give it. After a drop or a ``goAway`` they
   are not re-sent: no turn is heard twice.
   The kept frames are bounded in bytes (``max_kept_bytes``, default
   :data:`MAX_KEPT_BYTES`): past it the oldest are dropped, so that an upload
   that outruns the server's handles (an unpaced file, a server that issues
   none) holds at most that much, however long it runs. A drop is noted once
   in :attr:`Protocol.warnings` until a handle holds everything again, and a
   resume that then lacks messages no handle holds says which
   (:attr:`Protocol.replay_gap`).
4. A function response for a call never issued, cancelled or already
   settled (the state's rule 2) is still sent, the server's reaction being
   undocumented, but noted in :attr:`Protocol.warnings`.
5. A new connection forgets the ``goAway`` of the one before (the state's
   rule 6 gives its deadline).
6. What the model's row (:mod:`rawlive.core.models`) says the server will
   refuse is noted in :attr:`Protocol.warnings` and sent anyway: everything
   :meth:`Model.problems <rawlive.core.models.Model.problems>` finds in the
   setup on the session's backend (a ``responseModalities`` the model does
   not answer in, a field it refuses; :func:`setup_warning` words it), and a
   misplaced ``clientContent`` (the state's rule 7).
7. A message of an unknown kind is skipped with a warning, never fatal.
8. A resume attempt fails when its connection ends before ``setupComplete``
   (a refused handshake, a close, a first message that is not a valid
   ``setupComplete``, none in time) or while the kept messages are re-sent.
   It is tried again with the same handle, a bounded number of times, unless
   it ended with a fatal close: the same setup would be refused the same way
   (:func:`retry_resume`). When no attempt is left the session is over
   (:meth:`Protocol.close`), with the last failure as its error.
9. A connection makes progress when the server sends any message but
   ``setupComplete``, ``sessionResumptionUpdate`` and ``goAway`` (content, a
   tool call, usage, voice activity...), or a resumable update acknowledges
   a client message that no earlier one did (its state holds a message sent
   since). A resumed connection that ends without progress adds one to
   :attr:`Protocol.resumes_without_progress`; one with progress sets it back
   to 0. After a limit of them in a row the session resumes no more
   (:func:`resume_again`): a server that accepts every resume and then ends
   the connection (at once, or after the re-sent messages) would otherwise
   make it resume for ever. A healthy session, whose connections each carry
   some of the conversation, never gets near the limit.
"""

from __future__ import annotations

import collections
import dataclasses
import enum

import msgspec

from rawlive.core.closing import (
    CLOSE_HINTS,
    FATAL_CLOSE_CODES,
    NORMAL_CLOSE_CODES,
    close_hint,
    resume_again,
    retry_resume,
)
from rawlive.core.models import Backend, Rejection
from rawlive.core.state import Answer, SessionState, UsageTotals
from rawlive.errors import (
    LocalProtocolError,
    ProtocolError,
    RemoteProtocolError,
    UnknownMessageError,
)
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "CLOSE_HINTS",
    "FATAL_CLOSE_CODES",
    "NORMAL_CLOSE_CODES",
    "ClientMessage",
    "LocalProtocolError",
    "Protocol",
    "ProtocolError",
    "RemoteProtocolError",
    "State",
    "UsageTotals",
    "close_hint",
    "resume_again",
    "retry_resume",
    "setup_warning",
]

ClientMessage = (
    t.LiveClientContent
    | t.LiveClientRealtimeInput
    | t.LiveClientToolResponse
    | t.LiveClientContextUpdate
)


def setup_warning(model: str, rejection: Rejection) -> str:
    """Rule 6's warning for a setup ``model``'s row refuses: the field, the close, the source."""
    close = f"{rejection.code} {rejection.reason}"
    source = rejection.source or "the model table"
    guess = (
        "; code and wording are rawlive's guess, PROTOCOL.md §10.16" if rejection.inferred else ""
    )
    return (
        f"{model} refuses {rejection.describe()}: the server will close with "
        f"{close} (PROTOCOL.md {source}{guess}); sent anyway"
    )


class State(enum.Enum):
    IDLE = "idle"  # no connection yet, or between connections
    SETUP_SENT = "setup_sent"  # setup out, waiting for setupComplete
    OPEN = "open"  # setupComplete received
    CLOSED = "closed"  # the session is over for good


#: Messages a handle holds that are kept anyway, as part of a user turn whose
#: reply has not begun (rule 3): a minute of 40 ms audio chunks.
MAX_HELD_KEPT = 1500

#: The most bytes of kept frames (rule 3): 3 MiB, about 70 s of 16 kHz audio
#: as ``realtimeInput`` JSON, longer than the server goes without a resumable
#: handle in a session sent in real time (none comes while the model
#: generates, ``PROTOCOL.md`` §3.6: a reply's length, plus the turn before it).
MAX_KEPT_BYTES = 3 * 2**20


@dataclasses.dataclass
class _Kept:
    index: int
    frame: bytes
    #: The message ended a user turn: a reply was due once it was sent (state rule 11).
    ends_turn: bool = False


class Protocol:
    """One Live session's client side across its connections.

    ``setup`` is the session's setup message. Resumption is on when it has a
    ``session_resumption`` config; ``transparent`` there selects rule 3's
    transparent mode. What the messages do to the session (numbering, tool
    calls, turns, usage, handles, ``goAway``) is :attr:`session`'s, a
    :class:`~rawlive.core.state.SessionState`.
    """

    def __init__(
        self,
        setup: t.LiveClientSetup,
        backend: Backend = "gemini",
        *,
        max_kept_bytes: int | None = MAX_KEPT_BYTES,
    ) -> None:
        self.setup = setup
        #: The bound on the kept frames' bytes (rule 3; ``None``: none).
        self.max_kept_bytes = max_kept_bytes
        resumption = setup.session_resumption
        self.resumable = resumption is not None
        self.transparent = bool(resumption and resumption.transparent)
        #: The session's rules, shared with the servers, the audit and the report.
        self.session = SessionState(setup)
        if resumption is not None and resumption.handle:
            self.session.handle = resumption.handle
        #: The handle the latest ``setup`` carried (``None``: a new session).
        self.setup_handle: str | None = None
        self.state = State.IDLE
        #: Connections opened so far (1 after the first ``open``).
        self.connections = 0
        self.session_id: str | None = None
        #: Things worth a log line that are not errors; the session drains it.
        self.warnings: list[str] = []
        #: Resumed connections in a row that ended without progress (rule 9).
        self.resumes_without_progress = 0
        #: Whether the current connection has made progress (rule 9).
        self.progress = False
        #: The latest client message a resumable handle is known to hold.
        self.acknowledged = 0
        self._kept: collections.deque[_Kept] = collections.deque()
        self._kept_bytes = 0
        #: The latest kept message dropped for the bound (rule 3; 0: none).
        self.dropped_through = 0
        #: Kept messages dropped for the bound so far.
        self.dropped = 0
        #: The latest message the latest handle holds (rule 3; 0: none).
        self._held = 0
        #: The latest message before the user turn whose reply has not begun.
        self._answered = 0
        #: The session gave up on a stalled connection: the resume re-sends the
        #: unanswered turn even where the handle holds it (rule 3). The client
        #: session sets it and clears it once resumed.
        self.stalled = False
        model = self.session.model
        if model is not None:
            self.warnings += [
                setup_warning(model.id, rejection) for rejection in model.problems(setup, backend)
            ]

    # -- what the session state knows -------------------------------------------

    @property
    def handle(self) -> str | None:
        """Latest resumable handle (``None`` until the server sends one)."""
        return self.session.handle

    @property
    def message_index(self) -> int:
        """Number of client messages sent after setup so far (rule 2)."""
        return self.session.message_index

    @property
    def usage(self) -> UsageTotals:
        return self.session.usage

    @property
    def go_away_deadline(self) -> float | None:
        """Monotonic time by which the server will drop the connection."""
        return self.session.go_away_deadline

    @property
    def tool_calls(self) -> dict[str, t.FunctionCall]:
        """Outstanding tool calls by id (or ``"name:<name>"`` for id-less calls)."""
        return {key: call.call for key, call in self.session.tools.open.items()}

    @property
    def model_turn_active(self) -> bool:
        return self.session.model_turn_active

    @property
    def turns_completed(self) -> int:
        return self.session.turns_completed

    # -- connection lifecycle -------------------------------------------------

    def open(self) -> bytes:
        """Start a connection: the ``setup`` frame, with the handle on a resume."""
        if self.state is State.CLOSED:
            raise LocalProtocolError("the session is closed")
        setup = self.setup
        self.setup_handle = None
        handle = self.session.handle
        if self.resumable and handle:
            resumption = setup.session_resumption or t.SessionResumptionConfig()
            setup = msgspec.structs.replace(
                setup, session_resumption=msgspec.structs.replace(resumption, handle=handle)
            )
            self.setup_handle = handle
        self.state = State.SETUP_SENT
        self.progress = False
        self.connections += 1
        self.session.go_away = None
        return codec.encode_client_message(setup)

    @property
    def resuming(self) -> bool:
        """Whether the connection being opened continues an earlier one."""
        return self.connections > 1

    def connection_lost(self) -> None:
        """The socket is gone; the session may open another (rules 3, 9)."""
        if self.state is State.OPEN and self.resuming:
            stalled = self.resumes_without_progress
            self.resumes_without_progress = 0 if self.progress else stalled + 1
        if self.state is not State.CLOSED:
            self.state = State.IDLE
        # The reply in flight goes with it (owed again once a connection
        # resumes the session: the state's rule 11).
        self.session.connection_lost()

    def close(self) -> None:
        """The session is over; nothing more will be sent."""
        self.state = State.CLOSED
        self._kept.clear()
        self._kept_bytes = 0

    def _replayed(self) -> list[_Kept]:
        """The kept messages a resume sends again (rule 3)."""
        after = self._held
        if self.stalled and self.session.reply_lost:  # the unanswered turn too, held or not
            after = min(after, self._answered)
        return [kept for kept in self._kept if kept.index > after]

    def replay(self) -> list[bytes]:
        """The kept client frames to send again after a resumed ``setupComplete``."""
        return [kept.frame for kept in self._replayed()]

    def mark_turn_end(self) -> None:
        """The latest message sent ended a user turn (a reply became due with it).

        :meth:`replay_turns` splits the replay there, so that a resume re-sends
        one user turn at a time and lets each be answered before the next
        comes (all at once, a later turn's speech would interrupt the reply to
        an earlier one: the server hears both within a few milliseconds).
        """
        if self._kept:
            self._kept[-1].ends_turn = True

    def replay_turns(self) -> list[tuple[list[bytes], bool]]:
        """:meth:`replay` cut after each message that ended a user turn.

        Each part is its frames and whether its last message ended a turn
        (the last part may end none: input the user had not finished).
        """
        parts: list[tuple[list[bytes], bool]] = []
        frames: list[bytes] = []
        for kept in self._replayed():
            frames.append(kept.frame)
            if kept.ends_turn:
                parts.append((frames, True))
                frames = []
        if frames:
            parts.append((frames, False))
        return parts

    @property
    def kept_messages(self) -> int:
        return len(self._replayed())

    @property
    def kept_bytes(self) -> int:
        """The bytes of the frames kept for a resume (at most :attr:`max_kept_bytes`)."""
        return self._kept_bytes

    @property
    def replay_gap(self) -> tuple[int, int] | None:
        """The first and last index of the messages a resume now lacks (rule 3's bound).

        ``None`` when the latest handle holds every message dropped for the
        bound: nothing is lost.
        """
        if self.dropped_through <= self._held:
            return None
        return self._held + 1, self.dropped_through

    @property
    def replay_from(self) -> int:
        """Index of the first message :meth:`replay` sends (``message_index + 1``: none).

        The resumed state is taken to hold every message before it: exactly so
        in transparent mode; otherwise the messages in flight when the server
        issued the handle (sent before its update arrived, consumed after) are
        not in it, and the wire does not say which they are.
        """
        replayed = self._replayed()
        return replayed[0].index if replayed else self.message_index + 1

    # -- client to server -----------------------------------------------------

    def send(self, message: ClientMessage, now: float = 0.0) -> bytes:
        """Encode a client message, number it and keep it for replay (rules 2-4)."""
        if self.state is not State.OPEN:
            raise LocalProtocolError(
                f"cannot send before setupComplete (session state: {self.state.value})"
            )
        frame = codec.encode_client_message(message)
        for answer, key in self.session.client(_envelope(message), now):
            warning = _ANSWER_WARNINGS.get(answer)
            # (A response without id for no id-less call: the id-less ones are Vertex's.)
            if warning is not None and not key.startswith("name:"):
                self.warnings.append(warning.format(key=key))
        if self.session.misplaced is not None:
            self.warnings.append(f"{self.session.misplaced}: the server may close with 1007")
        if self.resumable:
            self._keep(_Kept(self.message_index, frame))
        return frame

    def _keep(self, kept: _Kept) -> None:
        """Keep a frame for a resume, within :attr:`max_kept_bytes` (rule 3)."""
        self._kept.append(kept)
        self._kept_bytes += len(kept.frame)
        bound = self.max_kept_bytes
        if bound is None or self._kept_bytes <= bound:
            return
        lost_before = self.replay_gap is not None
        while self._kept and self._kept_bytes > bound and len(self._kept) > 1:
            oldest = self._kept.popleft()
            self._kept_bytes -= len(oldest.frame)
            self.dropped += 1
            self.dropped_through = oldest.index
        if not lost_before and self.replay_gap is not None:
            self.warnings.append(
                f"the messages kept for a resume passed {_size(bound)} before the "
                "server's next resumption handle (an upload faster than the server "
                "takes it?): the oldest are dropped, and a resume before that handle "
                "would lack them"
            )

    # -- server to client -----------------------------------------------------

    def receive(self, data: bytes | str, now: float) -> t.LiveServerMessage | None:
        """Decode a server frame and apply it; ``None`` for a skipped unknown kind.

        ``now`` is the caller's monotonic clock in seconds. Raises
        :class:`RemoteProtocolError` if the first message is not ``setupComplete``
        and :class:`~rawlive.DecodeError` for an invalid frame.
        """
        try:
            message = codec.decode_server_message(data)
        except UnknownMessageError as exc:
            if self.state is State.SETUP_SENT:
                raise RemoteProtocolError(f"expected setupComplete first, got {exc}") from None
            self.warnings.append(f"skipped a message of unknown kind: {exc}")
            return None
        if self.state is State.SETUP_SENT:
            if message.setup_complete is None:
                kinds = ", ".join(codec.to_builtins(message)) or "nothing"
                raise RemoteProtocolError(
                    f"expected setupComplete as the first message, got {kinds}"
                )
            self.state = State.OPEN
            if message.setup_complete.session_id:
                self.session_id = message.setup_complete.session_id
        if not self.progress and _carries_progress(message):
            self.progress = True
        self.session.server(message, now)
        content = message.server_content
        if (
            self.session.reply_progress is not None
            or message.tool_call is not None
            or (content is not None and (content.turn_complete or content.interrupted))
        ):
            self._answered = self.message_index  # the model acted on what came before
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            self._resumption_update(update)
        return message

    def _resumption_update(self, update: t.LiveServerSessionResumptionUpdate) -> None:
        consumed = update.last_consumed_client_message_index
        held = self.message_index if not self.transparent else consumed
        if held is not None and held > self.acknowledged:
            self.acknowledged = held
            self.progress = True  # rule 9
        if not self.transparent:
            # The new handle's state holds everything sent so far (rule 3).
            self._held = self.message_index
        elif consumed is not None:
            # The index is that of the handle's state: keep what follows it.
            self._held = max(self._held, consumed)
        # ...but the user turn whose reply has not begun stays kept (rule 3).
        drop = max(min(self._held, self._answered), self._held - MAX_HELD_KEPT)
        while self._kept and self._kept[0].index <= drop:
            self._kept_bytes -= len(self._kept.popleft().frame)


#: The log line of a function response that settles nothing (rule 4).
_ANSWER_WARNINGS = {
    Answer.CANCELLED: "tool response for cancelled call id {key!r} sent anyway",
    Answer.ALREADY_SETTLED: (
        "tool response for call id {key!r}, which was already answered "
        "(without will_continue), sent anyway"
    ),
    Answer.NEVER_ISSUED: "tool response for call id {key!r}, never issued, sent anyway",
}


def _envelope(message: ClientMessage) -> t.LiveClientMessage:
    """``message`` in the client message envelope the session state reads."""
    if isinstance(message, t.LiveClientContent):
        return t.LiveClientMessage(client_content=message)
    if isinstance(message, t.LiveClientRealtimeInput):
        return t.LiveClientMessage(realtime_input=message)
    if isinstance(message, t.LiveClientToolResponse):
        return t.LiveClientMessage(tool_response=message)
    return t.LiveClientMessage(context_update=message)


#: The fields of a server message that are no progress of the session (rule 9).
_NO_PROGRESS = frozenset({"setup_complete", "session_resumption_update", "go_away"})


def _size(count: int) -> str:
    """A byte count for people: ``4 MiB``, ``10 KiB``, ``512 bytes``."""
    if count >= 2**20:
        return f"{count / 2**20:.3g} MiB"
    return f"{count / 1024:.3g} KiB" if count >= 1024 else f"{count} bytes"


def _carries_progress(message: t.LiveServerMessage) -> bool:
    """Whether ``message`` has a field other than those of :data:`_NO_PROGRESS` (rule 9)."""
    return any(
        getattr(message, name) is not None
        for name in message.__struct_fields__
        if name not in _NO_PROGRESS
    )
