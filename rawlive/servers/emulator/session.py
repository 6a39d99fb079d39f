"""A session's conversation state on the emulator's side, kept small: :class:`EmulatedSession`.

The state is the sequence of client messages the session consumed, numbered
from 1 across its connections: a 64-bit digest of each (:func:`message_digest`,
8 bytes a message) and the most recent ones in full, up to the emulator's
``consumed_limit`` bytes, so that memory does not grow with a session's audio.
A resumption handle names a point of that sequence; restoring it forgets
what followed.
"""

from __future__ import annotations

import array
import collections
import dataclasses
import hashlib
import time

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
    numbered from 1 across the session's connections. It is kept in a
    compact form, so that a session of any length costs little: ``digests``
    holds every message's 64-bit :func:`message_digest` (8 bytes a message),
    ``consumed`` only the most recent messages in full, up to the emulator's
    ``consumed_limit`` bytes of their encoding (all of them with ``None``).
    """

    id: str
    setup: t.LiveClientSetup
    #: The most recent client messages consumed, in full and in order; the
    #: first is number :attr:`first_kept` (all of them, while under the limit).
    consumed: list[t.LiveClientMessage] = dataclasses.field(default_factory=list)
    #: One digest per consumed message, from the first: the conversation state.
    digests: array.array[int] = dataclasses.field(default_factory=lambda: array.array("Q"))
    connections: int = 0
    turns: int = 0
    generating: bool = False
    started: float = dataclasses.field(default_factory=time.monotonic)
    #: Connections open now, and when the last one closed (``None``: never).
    open_connections: int = 0
    ended: float | None = None
    #: Resumable handles, oldest first: handle -> (index, turns) of its state.
    handles: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: Size of the setup's JSON encoding (part of :attr:`kept_bytes`).
    setup_bytes: int = 0
    _sizes: collections.deque[int] = dataclasses.field(default_factory=collections.deque)
    _kept_bytes: int = 0

    @property
    def index(self) -> int:
        """Index of the last consumed client message (1-based; 0 = none)."""
        return len(self.digests)

    @property
    def kept_bytes(self) -> int:
        """What the session holds, in bytes: its setup's and kept messages' JSON, its digests."""
        return self.setup_bytes + self._kept_bytes + self.digests.itemsize * len(self.digests)

    @property
    def first_kept(self) -> int:
        """Index of ``consumed[0]`` (``index + 1`` when nothing is kept)."""
        return self.index - len(self.consumed) + 1

    def consume(self, message: t.LiveClientMessage, frame: bytes, limit: int | None) -> None:
        """Append a message (``frame``: its canonical encoding) to the conversation state."""
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

    def restore(self, handle: str) -> list[str]:
        """Go back to the state ``handle`` names: what followed it is forgotten.

        Handles issued after it named states that no longer exist: they go
        too, and are returned.
        """
        index, turns = self.handles[handle]
        names = list(self.handles)
        later = names[names.index(handle) + 1 :]
        for name in later:
            del self.handles[name]
        forget = self.index - index
        if forget > 0:
            del self.digests[index:]
            kept = min(forget, len(self.consumed))
            del self.consumed[len(self.consumed) - kept :]
            for _ in range(kept):
                self._kept_bytes -= self._sizes.pop()
        self.turns = turns
        self.generating = False
        return later
