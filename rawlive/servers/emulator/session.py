"""A session on the emulator's side: its rules' state, and its conversation kept small.

:class:`EmulatedSession` holds the session's :class:`~rawlive.core.state.SessionState`,
fed every client message the session consumes and every message its
connections send: it numbers the messages, counts the turns, keeps the tool
calls and the resumption handles, and restores a handle's state. What the
emulator adds is the conversation's content, kept compactly so that memory
does not grow with a session's audio: a 64-bit digest of every message
(:func:`message_digest`, 8 bytes a message) and the most recent ones in full,
up to the emulator's ``consumed_limit`` bytes.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import hashlib
import time
from collections.abc import Mapping

from rawlive.core.state import Answer, Handle, SessionState
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = ["EmulatedSession", "message_digest"]


def message_digest(message: t.LiveClientMessage) -> int:
    """A 64-bit digest of a client message: BLAKE2b of its canonical encoding.

    The canonical encoding is :func:`rawlive.wire.codec.encode_client_message`'s, so
    a message digests the same whatever casing or base64 alphabet it came in.
    """
    return _digest(codec.encode_client_message(message))


def _digest(frame: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(frame, digest_size=8).digest(), "little")


@dataclasses.dataclass
class EmulatedSession:
    """One session's server-side state, shared by its connections.

    The conversation state is the sequence of client messages consumed,
    numbered from 1 across the session's connections (by :attr:`state`). It
    is kept in a compact form, so that a session of any length costs little:
    ``digests`` holds every message's 64-bit :func:`message_digest` (8 bytes
    a message), ``consumed`` only the most recent messages in full, up to
    the emulator's ``consumed_limit`` bytes of their encoding (all of them
    with ``None``).
    """

    id: str
    setup: t.LiveClientSetup
    #: The session's rules: message numbers, turns, tool calls, handles (the
    #: emulator gives it the setup and its model's row).
    state: SessionState = dataclasses.field(default_factory=SessionState)
    #: The most recent client messages consumed, in full and in order; the
    #: first is number :attr:`first_kept` (all of them, while under the limit).
    consumed: list[t.LiveClientMessage] = dataclasses.field(default_factory=list)
    #: One digest per consumed message, from the first: the conversation state.
    digests: array.array[int] = dataclasses.field(default_factory=lambda: array.array("Q"))
    connections: int = 0
    #: A reply is under way (from the end of the user turn it answers).
    generating: bool = False
    started: float = dataclasses.field(default_factory=time.monotonic)
    #: Connections open now, and when the last one closed (``None``: never).
    open_connections: int = 0
    ended: float | None = None
    #: Size of the setup's JSON encoding (part of :attr:`kept_bytes`).
    setup_bytes: int = 0
    #: User turns that got no answer (a ``no_answer`` turn fault): they count
    #: as turns though no ``turnComplete`` ended them; and how many each
    #: handle issued since the first holds (a handle not listed: none).
    unanswered: int = 0
    unanswered_at: dict[str, int] = dataclasses.field(default_factory=dict)
    _sizes: collections.deque[int] = dataclasses.field(default_factory=collections.deque)
    _kept_bytes: int = 0

    @property
    def index(self) -> int:
        """Index of the last consumed client message (1-based; 0 = none)."""
        return self.state.message_index

    @property
    def turns(self) -> int:
        """The exchanges completed (``turnComplete`` sent), across the session's connections."""
        return self.state.turns_completed

    @property
    def handles(self) -> Mapping[str, Handle]:
        """The resumable handles issued and not voided, oldest first, and what each holds."""
        return self.state.handles

    @property
    def kept_bytes(self) -> int:
        """What the session holds, in bytes: its setup's and kept messages' JSON, its digests."""
        return self.setup_bytes + self._kept_bytes + self.digests.itemsize * len(self.digests)

    @property
    def first_kept(self) -> int:
        """Index of ``consumed[0]`` (``index + 1`` when nothing is kept)."""
        return self.index - len(self.consumed) + 1

    def consume(
        self, message: t.LiveClientMessage, frame: bytes, limit: int | None, now: float
    ) -> list[tuple[Answer, str]]:
        """Take a message (``frame``: its canonical encoding) into the session.

        The state numbers it and applies it; its content joins the
        conversation. For a ``toolResponse``, what each response did.
        """
        answers = self.state.client(message, now)
        self.digests.append(_digest(frame))
        self.consumed.append(message)
        self._sizes.append(len(frame))
        self._kept_bytes += len(frame)
        if limit is not None and self._kept_bytes > limit:
            drop = 0
            while self._kept_bytes > limit and self._sizes:
                self._kept_bytes -= self._sizes.popleft()
                drop += 1
            del self.consumed[:drop]
        return answers

    def restore(self, handle: str) -> list[str]:
        """Go back to the state ``handle`` names: what followed it is forgotten.

        Handles issued after it named states that no longer exist: they go
        too, and are returned. The tool calls of the connections it ends are
        dropped (a handle is issued only when none is open).
        """
        self.state.tools.discard()
        later = self.state.restore(handle)
        index = self.state.message_index
        forget = len(self.digests) - index
        if forget > 0:
            del self.digests[index:]
            kept = min(forget, len(self.consumed))
            del self.consumed[len(self.consumed) - kept :]
            for _ in range(kept):
                self._kept_bytes -= self._sizes.pop()
        self.generating = False
        self.unanswered = self.unanswered_at.get(handle, 0)
        for name in later:
            self.unanswered_at.pop(name, None)
        return later
