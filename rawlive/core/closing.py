"""What a closed connection means for the session: done, resume now or later, or fail.

The client session asks :func:`after_close` what to do once a connection has
closed, and :func:`after_go_away` once a ``goAway`` has come; the audit and the
report name a close with :func:`close_hint` and judge it with
:data:`NORMAL_CLOSE_CODES`. Rules 8 and 9 of :mod:`rawlive.core.protocol`
(resume attempts, resume loops) are :func:`retry_resume` and
:func:`resume_again`. Either side, client or server, names who closed a
connection and with what code and reason with :func:`first_close` (what its
cassette's ``close`` says). Codes and reasons: ``PROTOCOL.md`` §5.3.
"""

from __future__ import annotations

import dataclasses
import enum
from typing import Literal, Protocol

__all__ = [
    "CLOSE_HINTS",
    "FATAL_CLOSE_CODES",
    "NORMAL_CLOSE_CODES",
    "QUOTA_HINT",
    "After",
    "ClosingHandshake",
    "Decision",
    "FirstClose",
    "Side",
    "after_close",
    "after_go_away",
    "close_hint",
    "first_close",
    "quota_close",
    "quota_status",
    "resume_again",
    "retry_resume",
]

# Close codes the real server uses for errors the client must fix: retrying
# the same setup would fail the same way.
FATAL_CLOSE_CODES = frozenset({1007, 1008})

#: Close codes of a session that ended as meant (normal, going away, no code).
NORMAL_CLOSE_CODES = frozenset({1000, 1001, 1005})

#: What to do about a quota refusal (PROTOCOL.md §10.12).
QUOTA_HINT = (
    "quota exhausted: lower concurrency (fewer sessions at once), wait and retry, "
    "or request more quota"
)

# Words of a close reason that say it is a quota refusal (§5.3, §10.12).
_QUOTA_WORDS = ("resource_exhausted", "quota", "concurrent")


def quota_close(code: int | None, reason: str) -> bool:
    """Whether a close is a quota refusal: 1011 (or 1008) with quota text.

    ``PROTOCOL.md`` §10.12: quota failures on an upgraded socket come as
    1011 (1008 reported too) whose reason says ``RESOURCE_EXHAUSTED``,
    "quota" or "concurrent" (compared case-insensitively).
    """
    text = reason.lower()
    return code in (1011, 1008) and any(word in text for word in _QUOTA_WORDS)


def quota_status(status: int, body: bytes = b"") -> bool:
    """Whether a non-101 answer to the WebSocket handshake is a quota refusal.

    HTTP 429, or any status whose body says ``RESOURCE_EXHAUSTED``, "quota"
    or "concurrent" (``PROTOCOL.md`` §10.12: no primary source shows the
    real server answering the upgrade with 429; a client handles it anyway).
    """
    text = body[:4096].decode("utf-8", "replace").lower()
    return status == 429 or any(word in text for word in _QUOTA_WORDS)


# (code, text in the reason, any case) -> what it means and what to do about it;
# the first match wins, so the more specific texts come first. PROTOCOL.md §5.3, §10.14.
# (A quota close is recognised first, by quota_close.)
CLOSE_HINTS: list[tuple[int, str, str]] = [
    (
        1007,
        "Avatar config is required",
        'responseModalities ["VIDEO"] asks for a live avatar (Vertex only): add '
        "setup.avatarConfig (avatarName or customizedAvatar), or ask for AUDIO",
    ),
    (
        1007,
        "combination of response modalities",
        "the model does not answer in these response modalities: ask for AUDIO alone "
        "(TEXT on Transcribe Live; VIDEO alone for a Vertex avatar, never AUDIO with VIDEO)",
    ),
    (
        1007,
        "'proactive' feature is not supported",
        "this model has no proactive audio: remove setup.proactivity",
    ),
    (
        1007,
        'Unknown name "enable_affective_dialog"',
        "affective dialog is no longer configurable on gemini-3.8-live (it is always on): "
        "remove generationConfig.enableAffectiveDialog",
    ),
    (
        1007,
        'Unknown name "thinking_config"',
        "thinking is not configurable on gemini-3.8-live: remove generationConfig.thinkingConfig "
        "(gemini-3.8-live-extended-thinking takes thinkingLevel LOW, MEDIUM or HIGH)",
    ),
    (
        1007,
        "at 'setup.generation_config'",
        "a field sits in generationConfig where it does not belong (inputAudioTranscription, "
        "outputAudioTranscription...): move it up to setup",
    ),
    (
        1007,
        "Unknown name",
        "the setup holds a field this model's schema does not have: remove it, or check "
        "where PROTOCOL.md §2.1 puts it",
    ),
    (
        1007,
        "Mime type 'image/jpeg' is not supported",
        "in avatar mode realtime input takes audio only: stop sending images (mediaChunks)",
    ),
    (
        1008,
        "Avatar reference image was blocked",
        "the safety policy refused the custom avatar image: use another image or a "
        "prebuilt avatarName",
    ),
    (
        1011,
        "Deadline expired",
        "the connection reached the server's time limit (gemini-3.8-live closes at 58:00): "
        "enable session resumption and resume before it, or reconnect; if the resume is "
        "refused (1007), start a new session",
    ),
    (
        1007,
        "Request contains an invalid argument",
        "a message or the setup is invalid: check the config; known causes: a second "
        "setup on one connection, clientContent mid-session on Gemini 3.1 (it only seeds "
        "history), a clientContent turn without role user or model on 3.8, a resume "
        "after a 58-minute close (start a new session)",
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
    """A human hint for a close code and reason, if rawlive knows one.

    A quota close (:func:`quota_close`) first; else the first entry of
    :data:`CLOSE_HINTS` with the code and a text found in the reason (case
    aside); an entry without text matches any reason.
    """
    if quota_close(code, reason):
        return QUOTA_HINT
    folded = reason.casefold()
    for known_code, text, hint in CLOSE_HINTS:
        if code == known_code and (not text or text.casefold() in folded):
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


class After(enum.Enum):
    """What the session does once a connection has closed, or a ``goAway`` came."""

    #: The session is over, as meant.
    DONE = "done"
    #: Open a new connection with the latest handle now.
    RESUME_NOW = "resume-now"
    #: Resume at :attr:`Decision.at` (a reply or a tool call is under way).
    RESUME_LATER = "resume-later"
    #: Nothing to do now (a ``goAway`` on a session that cannot resume).
    WAIT = "wait"
    #: The session ends with an error; retrying the same setup may work.
    FAIL = "fail"
    #: The session ends with an error that the same setup would meet again.
    FATAL = "fatal"


@dataclasses.dataclass(frozen=True)
class Decision:
    """:func:`after_close`'s or :func:`after_go_away`'s answer."""

    after: After
    #: What to tell the user about the close (``None``: nothing known).
    hint: str | None = None
    #: For :attr:`After.RESUME_LATER`: when, on the caller's clock.
    at: float | None = None


def after_close(code: int | None, reason: str, *, resumable: bool, going_away: bool) -> Decision:
    """What to do once the server closed the connection with ``code`` and ``reason``.

    ``resumable``: the setup configured session resumption; ``going_away``:
    a ``goAway`` came on this connection. A normal close (1000) ends the
    session unless a ``goAway`` announced it; 1001 ends one that cannot
    resume; a resumable session resumes after anything but a fatal close
    (1007, 1008: the same setup would be refused again) or a quota close
    (:func:`quota_close`: resuming at once would only be refused again; the
    session fails with :data:`QUOTA_HINT`).
    """
    if code == 1000 and not going_away:
        return Decision(After.DONE)
    if code == 1001 and not resumable:
        return Decision(After.DONE)
    if resumable and code not in FATAL_CLOSE_CODES and not quota_close(code, reason):
        return Decision(After.RESUME_NOW)
    fatal = code in FATAL_CLOSE_CODES
    return Decision(After.FATAL if fatal else After.FAIL, close_hint(code, reason))


def after_go_away(
    *, resumable: bool, idle: bool, now: float, deadline: float, margin: float
) -> Decision:
    """What to do when a ``goAway`` says the connection ends at ``deadline``.

    An ``idle`` session (no reply, no open tool call) resumes at once; a busy
    one lets the reply go on and resumes ``margin`` seconds before the
    deadline, or half the time left when that is shorter.
    """
    if not resumable:
        return Decision(After.WAIT)
    if idle:
        return Decision(After.RESUME_NOW)
    margin = min(margin, max(deadline - now, 0.0) / 2)
    return Decision(After.RESUME_LATER, at=deadline - margin)


#: A side of a connection (a cassette's ``from`` and ``by``).
Side = Literal["client", "server"]


class CloseFrame(Protocol):
    """A close frame's code and reason (``websockets.frames.Close``)."""

    @property
    def code(self) -> int: ...

    @property
    def reason(self) -> str: ...


class ClosingHandshake(Protocol):
    """A connection's closing handshake as one side saw it (``websockets``' ``ws.protocol``)."""

    @property
    def close_rcvd(self) -> CloseFrame | None: ...

    @property
    def close_sent(self) -> CloseFrame | None: ...

    @property
    def close_rcvd_then_sent(self) -> bool | None: ...


@dataclasses.dataclass(frozen=True)
class FirstClose:
    """:func:`first_close`'s answer: who closed first (``None``: nobody, 1006), code, reason."""

    by: Side | None
    code: int
    reason: str


def first_close(handshake: ClosingHandshake, local: Side) -> FirstClose:
    """Who closed a connection, with what code and reason, as the ``local`` side saw it.

    The first close frame decides: one received before any was sent is the
    peer's, one sent first is ``local``'s. With no close frame either way the
    connection dropped: ``by`` is ``None`` and the code 1006.
    """
    received, sent = handshake.close_rcvd, handshake.close_sent
    if received is not None and (sent is None or handshake.close_rcvd_then_sent):
        peer: Side = "server" if local == "client" else "client"
        return FirstClose(peer, received.code, received.reason)
    if sent is not None:
        return FirstClose(local, sent.code, sent.reason)
    return FirstClose(None, 1006, "")
