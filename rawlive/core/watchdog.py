"""When a due reply has taken too long: the stall rule, without I/O.

The state says since when a reply is due and whether one is under way
(:class:`~rawlive.core.state.SessionState`, rule 11). A :class:`StallPolicy`
says how long each may last; :func:`stalled` says whether it has gone on too
long at a given time, and :func:`deadline` when it will, so a client sets one
timer instead of polling. The client's watchdog, the audit's
``stalled-turn`` rule and ``rawlive probe`` all judge a session by this.

The defaults leave room for slow but healthy sessions: the first part of a
reply usually comes within 1-3 s of the user's turn end, thinking models and
tool round trips take longer, and a reply in progress streams its audio
faster than real time, so a 5 s hole inside one is not a pause in speech.
(Field reports of stalls: python-genai #2117, cookbook #1225/#1329 — the
socket stays open and nothing comes.)
"""

from __future__ import annotations

import dataclasses
import enum

from rawlive.core.state import SessionState

__all__ = ["DEFAULT_POLICY", "Stall", "StallKind", "StallPolicy", "deadline", "stalled"]


class StallKind(enum.StrEnum):
    """Why a session looks stalled."""

    #: A reply was due and nothing of it came.
    NO_REPLY = "no-reply"
    #: A reply was under way and stopped before its ``turnComplete``.
    REPLY_STOPPED = "reply-stopped"
    #: The connection did not answer a ping (the client's probe; not a wire rule).
    NO_PONG = "no-pong"


@dataclasses.dataclass(frozen=True)
class StallPolicy:
    """How long each wait may last (seconds)."""

    #: From the reply being due to its first part.
    first_reply: float = 15.0
    #: Between two parts of a reply under way (audio, text, transcription).
    gap: float = 5.0
    #: For the pong of the ping sent when a stall is suspected.
    ping_timeout: float = 5.0

    def __post_init__(self) -> None:
        for name in ("first_reply", "gap", "ping_timeout"):
            value = getattr(self, name)
            if not value > 0:
                raise ValueError(
                    f"StallPolicy.{name} must be a positive number of seconds, not {value!r}"
                )


DEFAULT_POLICY = StallPolicy()


@dataclasses.dataclass(frozen=True)
class Stall:
    """A wait that went on too long."""

    kind: StallKind
    #: When the wait began: the reply became due, or its latest part came.
    since: float
    #: How long it had lasted when judged (seconds).
    waited: float
    #: What made the reply due (rule 11's reason; ``None`` for a reply under way).
    reason: str | None = None


def deadline(state: SessionState, policy: StallPolicy = DEFAULT_POLICY) -> float | None:
    """When the session will count as stalled if nothing comes (``None``: nothing is awaited)."""
    if state.reply_due is not None:
        return state.reply_due + policy.first_reply
    if state.reply_progress is not None:
        return state.reply_progress + policy.gap
    return None


def stalled(state: SessionState, now: float, policy: StallPolicy = DEFAULT_POLICY) -> Stall | None:
    """The stall at ``now``, or ``None`` when every wait is within its limit."""
    if state.reply_due is not None:
        waited = now - state.reply_due
        if waited >= policy.first_reply:
            return Stall(StallKind.NO_REPLY, state.reply_due, waited, state.reply_due_reason)
        return None
    if state.reply_progress is not None:
        waited = now - state.reply_progress
        if waited >= policy.gap:
            return Stall(StallKind.REPLY_STOPPED, state.reply_progress, waited)
    return None
