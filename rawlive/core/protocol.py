"""The Live session's state, sans I/O: frames in, frames and state out.

This module never touches a socket, a clock or a file; the session feeds it
frames and the time, and sends what it returns. Everything that changes a
session's state lives here, under these rules:

1. A connection opens with ``setup`` (:meth:`Protocol.open`). The first server
   message must be ``setupComplete``; anything else is a
   :class:`RemoteProtocolError`. No other client message goes out before it
   (sending one is a :class:`LocalProtocolError`, as is opening a closed
   session).
2. Client messages after ``setup`` are numbered 1, 2, 3... across the whole
   session, reconnections included. This is the index that transparent
   resumption's ``lastConsumedClientMessageIndex`` refers to (the wire leaves
   the base undocumented; rawlive's servers count the same way).
3. With session resumption configured, every message sent is kept until the
   state of a resumable handle is known to hold it: in transparent mode until
   a resumable ``sessionResumptionUpdate`` carries a
   ``lastConsumedClientMessageIndex`` at or past its index, otherwise until
   the next resumable update. (The index describes the handle it comes with:
   a non-resumable update's index says nothing a resume could rely on.) On reconnection the new
   ``setup`` carries the latest resumable handle and exactly the kept
   messages are sent again (:meth:`Protocol.replay`), in order, once.
4. A ``toolCall`` makes each of its calls outstanding, by id (or by name for
   calls without an id, as Vertex sometimes sends them). A function response
   settles its call unless ``will_continue`` is set; ``toolCallCancellation``
   cancels. A response for an id that was never issued, was cancelled or was
   already settled is still sent (the server's reaction is undocumented) but
   noted in :attr:`Protocol.warnings`.
5. ``goAway`` sets :attr:`Protocol.go_away_deadline` = now + ``timeLeft``.
6. ``usageMetadata`` reports add up in :attr:`Protocol.usage`.
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
]

ClientMessage = (
    t.LiveClientContent
    | t.LiveClientRealtimeInput
    | t.LiveClientToolResponse
    | t.LiveClientContextUpdate
)


# Close codes the real server uses for errors the client must fix: retrying
# the same setup would fail the same way.
FATAL_CLOSE_CODES = frozenset({1007, 1008})

#: Close codes of a session that ended as meant (normal, going away, no code).
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})

# (code, start of the reason) -> what to do about it. PROTOCOL.md §5.3.
CLOSE_HINTS: list[tuple[int, str, str]] = [
    (
        1007,
        "Request contains an invalid argument",
        "a message or the setup is invalid: check the "
        "config (and on Gemini 3.1, clientContent is only for seeding history)",
    ),
    (1007, "User location is not supported", "the API is not available from this location"),
    (
        1007,
        "token-based requests cannot use",
        "this model cannot be used with an ephemeral token; use an API key",
    ),
    (
        1007,
        "Missing or malformed auth token",
        "the ephemeral token is missing or malformed: "
        "pass an auth_tokens/... token and use api_version v1alpha or v1beta",
    ),
    (
        1008,
        "Publisher Model",
        "this Vertex AI model is not served in this location: try us-central1",
    ),
    (
        1008,
        "Operation is not implemented",
        "the model does not support a feature in this "
        "session (e.g. function calling on this native-audio model)",
    ),
    (
        1008,
        "BidiGenerateContent session not found",
        "the resumption handle is unknown or expired (handles last 2 hours): start a new session",
    ),
    (
        1008,
        "The operation was aborted",
        "audio was streamed while a tool call was unanswered: "
        "answer toolCall before sending more realtime input",
    ),
    (
        1008,
        "models/",
        "the model is not found for this API version or does not support "
        "bidiGenerateContent: check the model name and api_version",
    ),
    (1011, "The service is currently unavailable", "the service is overloaded: retry later"),
    (1011, "Internal error", "server-side fault: retry"),
    (
        1011,
        "Request trace id",
        "the session hit a server time limit: use session resumption "
        "and context window compression",
    ),
    (
        1011,
        "keepalive ping timeout",
        "no pong arrived in time: raise ping_timeout or turn pings off",
    ),
    (1006, "", "the connection dropped without a close frame (network or proxy)"),
    (1009, "", "a message exceeded the size limit: raise max_size"),
    (1011, "", "server error: retry; quota or resource limits also close with 1011"),
    (1007, "", "invalid argument: check the setup and message fields"),
    (1008, "", "policy violation: the model, API version or key may be wrong"),
]


def close_hint(code: int | None, reason: str) -> str | None:
    """A human hint for a close code and reason, if rawlive knows one."""
    for known_code, start, hint in CLOSE_HINTS:
        if code == known_code and (not start or start in reason):
            return hint
    return None


def retry_resume(close_code: int | None) -> bool:
    """Whether a failed resume attempt may be tried again (rule 8).

    ``close_code`` is the close that ended the attempt, ``None`` when it
    failed otherwise (refused, timed out, no valid ``setupComplete``).
    """
    return close_code not in FATAL_CLOSE_CODES


def resume_again(resumes_without_progress: int, limit: int) -> bool:
    """Whether a lost connection may be resumed once more (rule 9).

    ``resumes_without_progress`` is :attr:`Protocol.resumes_without_progress`;
    ``limit`` how many such resumes in a row make a loop to give up on.
    """
    return resumes_without_progress < limit


class State(enum.Enum):
    IDLE = "idle"  # no connection yet, or between connections
    SETUP_SENT = "setup_sent"  # setup out, waiting for setupComplete
    OPEN = "open"  # setupComplete received
    CLOSED = "closed"  # the session is over for good


@dataclasses.dataclass
class UsageTotals:
    """Token counts summed over every ``usageMetadata`` report of the session."""

    reports: int = 0
    prompt_tokens: int = 0
    response_tokens: int = 0
    thoughts_tokens: int = 0
    tool_use_prompt_tokens: int = 0
    total_tokens: int = 0
    prompt_by_modality: dict[str, int] = dataclasses.field(default_factory=dict)
    response_by_modality: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, usage: t.UsageMetadata) -> None:
        self.reports += 1
        self.prompt_tokens += usage.prompt_token_count or 0
        self.response_tokens += usage.response_tokens or 0
        self.thoughts_tokens += usage.thoughts_token_count or 0
        self.tool_use_prompt_tokens += usage.tool_use_prompt_token_count or 0
        self.total_tokens += usage.total_token_count or 0
        _add_details(self.prompt_by_modality, usage.prompt_tokens_details)
        _add_details(
            self.response_by_modality,
            usage.response_tokens_details or usage.candidates_tokens_details,
        )


def _add_details(into: dict[str, int], details: list[t.ModalityTokenCount] | None) -> None:
    for entry in details or ():
        key = entry.modality or "MODALITY_UNSPECIFIED"
        into[key] = into.get(key, 0) + (entry.token_count or 0)


@dataclasses.dataclass
class _Kept:
    index: int
    frame: bytes


class Protocol:
    """One Live session's state across its connections.

    ``setup`` is the session's setup message. Resumption is on when it has a
    ``session_resumption`` config; ``transparent`` there selects rule 3's
    transparent mode.
    """

    def __init__(self, setup: t.LiveClientSetup) -> None:
        self.setup = setup
        resumption = setup.session_resumption
        self.resumable = resumption is not None
        self.transparent = bool(resumption and resumption.transparent)
        #: Latest resumable handle (``None`` until the server sends one).
        self.handle: str | None = resumption.handle if resumption else None
        #: The handle the latest ``setup`` carried (``None``: a new session).
        self.setup_handle: str | None = None
        self.state = State.IDLE
        #: Number of client messages sent after setup so far (rule 2).
        self.message_index = 0
        #: Connections opened so far (1 after the first ``open``).
        self.connections = 0
        self.session_id: str | None = None
        #: Monotonic time by which the server will drop the connection.
        self.go_away_deadline: float | None = None
        self.usage = UsageTotals()
        #: Outstanding tool calls by id (or ``"name:<name>"`` for id-less calls).
        self.tool_calls: dict[str, t.FunctionCall] = {}
        self.cancelled_calls: set[str] = set()
        self.settled_calls: set[str] = set()
        self.model_turn_active = False
        self.turns_completed = 0
        #: Things worth a log line that are not errors; the session drains it.
        self.warnings: list[str] = []
        #: Resumed connections in a row that ended without progress (rule 9).
        self.resumes_without_progress = 0
        #: Whether the current connection has made progress (rule 9).
        self.progress = False
        #: The latest client message a resumable handle is known to hold.
        self.acknowledged = 0
        self._kept: collections.deque[_Kept] = collections.deque()

    # -- connection lifecycle -------------------------------------------------

    def open(self) -> bytes:
        """Start a connection: the ``setup`` frame, with the handle on a resume."""
        if self.state is State.CLOSED:
            raise LocalProtocolError("the session is closed")
        setup = self.setup
        self.setup_handle = None
        if self.resumable and self.handle:
            resumption = setup.session_resumption or t.SessionResumptionConfig()
            setup = msgspec.structs.replace(
                setup, session_resumption=msgspec.structs.replace(resumption, handle=self.handle)
            )
            self.setup_handle = self.handle
        self.state = State.SETUP_SENT
        self.progress = False
        self.connections += 1
        self.go_away_deadline = None
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
        self.model_turn_active = False

    def close(self) -> None:
        """The session is over; nothing more will be sent."""
        self.state = State.CLOSED
        self._kept.clear()

    def replay(self) -> list[bytes]:
        """The kept client frames to send again after a resumed ``setupComplete``."""
        return [kept.frame for kept in self._kept]

    @property
    def kept_messages(self) -> int:
        return len(self._kept)

    @property
    def replay_from(self) -> int:
        """Index of the first message :meth:`replay` sends (``message_index + 1``: none).

        The resumed state is taken to hold every message before it: exactly so
        in transparent mode; otherwise the messages in flight when the server
        issued the handle (sent before its update arrived, consumed after) are
        not in it, and the wire does not say which they are.
        """
        return self._kept[0].index if self._kept else self.message_index + 1

    # -- client to server -----------------------------------------------------

    def send(self, message: ClientMessage) -> bytes:
        """Encode a client message, number it and keep it for replay (rules 2-4)."""
        if self.state is not State.OPEN:
            raise LocalProtocolError(
                f"cannot send before setupComplete (session state: {self.state.value})"
            )
        frame = codec.encode_client_message(message)
        self.message_index += 1
        if self.resumable:
            self._kept.append(_Kept(self.message_index, frame))
        if isinstance(message, t.LiveClientToolResponse):
            self._settle(message)
        return frame

    def _settle(self, message: t.LiveClientToolResponse) -> None:
        for response in message.function_responses or ():
            key = response.id or (f"name:{response.name}" if response.name else None)
            if key is None:
                continue
            if key not in self.tool_calls and response.id is None:
                continue
            if key in self.tool_calls:
                if not response.will_continue:
                    del self.tool_calls[key]
                    self.settled_calls.add(key)
            elif key in self.cancelled_calls:
                self.warnings.append(f"tool response for cancelled call id {key!r} sent anyway")
            elif key in self.settled_calls:
                self.warnings.append(
                    f"tool response for call id {key!r}, which was already answered "
                    "(without will_continue), sent anyway"
                )
            else:
                self.warnings.append(
                    f"tool response for call id {key!r}, never issued, sent anyway"
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
        self._apply(message, now)
        return message

    def _apply(self, message: t.LiveServerMessage, now: float) -> None:
        if not self.progress and _carries_progress(message):
            self.progress = True
        content = message.server_content
        if content is not None:
            if content.model_turn is not None:
                self.model_turn_active = True
            if content.turn_complete:
                self.model_turn_active = False
                self.turns_completed += 1
            elif content.interrupted:
                self.model_turn_active = False
        if message.tool_call is not None:
            for call in message.tool_call.function_calls or ():
                key = call.id or (f"name:{call.name}" if call.name else None)
                if key is not None:
                    self.tool_calls[key] = call
        if message.tool_call_cancellation is not None:
            for call_id in message.tool_call_cancellation.ids or ():
                if self.tool_calls.pop(call_id, None) is not None:
                    self.cancelled_calls.add(call_id)
        if message.go_away is not None:
            left = message.go_away.time_left
            self.go_away_deadline = now + (left.total_seconds() if left is not None else 0.0)
        update = message.session_resumption_update
        if update is not None:
            self._resumption_update(update)
        if message.usage_metadata is not None:
            self.usage.add(message.usage_metadata)

    def _resumption_update(self, update: t.LiveServerSessionResumptionUpdate) -> None:
        if not (update.resumable and update.new_handle):
            # Nothing to resume from: the index, if any, describes no handle.
            return
        self.handle = update.new_handle
        consumed = update.last_consumed_client_message_index
        held = self.message_index if not self.transparent else consumed
        if held is not None and held > self.acknowledged:
            self.acknowledged = held
            self.progress = True  # rule 9
        if not self.transparent:
            # The new handle's state holds everything sent so far (rule 3).
            self._kept.clear()
        elif consumed is not None:
            # The index is that of the handle's state: keep what follows it.
            while self._kept and self._kept[0].index <= consumed:
                self._kept.popleft()


#: The fields of a server message that are no progress of the session (rule 9).
_NO_PROGRESS = frozenset({"setup_complete", "session_resumption_update", "go_away"})


def _carries_progress(message: t.LiveServerMessage) -> bool:
    """Whether ``message`` has a field other than those of :data:`_NO_PROGRESS` (rule 9)."""
    return any(
        getattr(message, name) is not None
        for name in message.__struct_fields__
        if name not in _NO_PROGRESS
    )
