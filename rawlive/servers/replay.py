"""The replay server: a recorded cassette served back to any client, matched under a policy.

:class:`ReplayServer` is a :class:`~rawlive.servers.base.LiveServer` that plays a
cassette (:mod:`rawlive.cassette`) to whatever connects: rawlive, the
official Python SDK over ``wss://``, the JS SDK. The n-th client connection
gets the cassette's n-th recorded connection, so a resumed session (one
connection per ``goAway``) replays as it was recorded. For each client frame
the server takes the next frame the recording expects from the client on
that connection and compares the two under a **matcher**, a named, swappable
policy (vcrpy's idea; registry :data:`MATCHERS`):

``strict``
    The two frames are canonically equal JSON (the conformance rules of
    :func:`rawlive.wire.codec.canonical`: keys in either case, base64 in
    either alphabet compared as bytes, numbers by value, key order and
    whitespace ignored). The ``setup`` included.
``semantic`` (the default)
    Both frames are decoded with the codec and compared field by field, with
    what differs from run to run normalised: function call ids, resumption
    handles and session ids (present or absent still counts) and the model
    name (``models/x`` and ``x`` agree). Realtime audio is matched by total
    length rather than chunk by chunk: the audio bytes of consecutive
    realtime audio chunks are summed on both sides, and the run matches when
    the totals agree within :attr:`SemanticMatcher.tolerance` (fewer bytes
    than the run's largest recorded chunk, by default), so a client that
    re-chunks its audio still replays. Audio content is not compared (an
    elided cassette has none); its MIME type is.

On a match the server sends the server frames recorded after that client
frame, up to the next one expected, with their opcodes and exact bytes
(elided audio becomes silence of the same length:
:meth:`~rawlive.cassette.FrameEvent.wire_payload`) and the recorded spacing
divided by ``speed`` (0: at once). Server frames recorded between two audio
chunks go out once the audio received passes the same point. After the last
expected client frame it ends the connection as recorded: the server's close
code and reason, a dropped connection (no close frame), or it waits for the
client to close. A mismatch closes with 1008 and a reason naming the first
difference; :attr:`ReplayServer.mismatches` keeps the diff, bounded: the
latest ``mismatch_limit`` mismatches, each with its first 20 differences,
values over 4 KiB reduced to how they read (:class:`Clipped`) and the frames
cut to 300 characters, so that a long-running replay does not grow with
what its clients get wrong.
:attr:`ReplayServer.consumed` and :meth:`ReplayServer.remaining` say how much
of the cassette was used, for a test that must use it all.

A client connection beyond the cassette's is a mismatch too (closed with
1008 after its setup), unless the server has an ``upstream``
(:class:`~rawlive.servers.proxy.Proxy`): it is then passed on to the live server
there, vcrpy's new episode, and recorded with ``record_dir`` (only those
connections: the cassette has the others). A connection resumed beyond the
cassette carries a handle the upstream never gave, which it refuses.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import fnmatch
import hashlib
import logging
import os
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar, NoReturn, Protocol

import msgspec
from websockets.exceptions import ConnectionClosed

from rawlive.cassette import (
    Cassette,
    CloseEvent,
    FrameEvent,
    elide_audio_blobs,
    frame_kind,
    read_cassette,
)
from rawlive.errors import ConfigError, DecodeError, ReplayDiverged
from rawlive.servers.base import LiveServer, Peer
from rawlive.servers.proxy import Proxy
from rawlive.wire import codec
from rawlive.wire.codec import JsonNumber, canonical

__all__ = [
    "CLOSE_MISMATCH",
    "MATCHERS",
    "Clipped",
    "Difference",
    "Matcher",
    "Mismatch",
    "ReplayServer",
    "SemanticMatcher",
    "StrictMatcher",
    "canonical",
    "differences",
]

log = logging.getLogger("rawlive.servers.replay")

#: The close code of a mismatch (policy violation).
CLOSE_MISMATCH = 1008

#: What a :class:`Mismatch` keeps: differences, characters (or bytes) of a
#: difference's value, characters of each frame.
_KEPT_DIFFERENCES = 20
_KEPT_VALUE = 4096
_KEPT_FRAME = 300


# ---------------------------------------------------------------------------
# Differences
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Difference:
    """One difference between an expected and a received frame.

    ``path`` is the wire path (``realtimeInput.text``,
    ``toolResponse.functionResponses[0].response``; ``""`` for the whole
    frame); ``expected`` and ``got`` are the values (``MISSING`` when absent).
    """

    path: str
    expected: Any
    got: Any

    def __str__(self) -> str:
        where = self.path or "(frame)"
        if self.got is MISSING:
            return f"{where}: missing (expected {_short(self.expected)})"
        if self.expected is MISSING:
            return f"{where}: unexpected {_short(self.got)}"
        return f"{where}: got {_short(self.got)}, expected {_short(self.expected)}"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


#: Stands for an absent key in a :class:`Difference`.
MISSING: Any = _Missing()


class Clipped:
    """Stands for a value too large to keep in a :class:`Mismatch`: how it reads.

    ``text`` is the start of the value's ``repr`` (for bytes, their length and
    digest), which is all a report shows of it.
    """

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text


def _kept(value: Any) -> Any:
    """A difference's value as a mismatch keeps it: itself, or :class:`Clipped` if large."""
    if isinstance(value, bytes | bytearray):
        return value if len(value) <= _KEPT_VALUE else Clipped(_short(value))
    if isinstance(value, str) and len(value) <= _KEPT_VALUE:
        return value
    if not isinstance(value, str | dict | list):
        return value  # scalars, MISSING
    text = repr(value)
    return value if len(text) <= _KEPT_VALUE else Clipped(text[:200])


def _short(value: Any, limit: int = 60) -> str:
    if isinstance(value, bytes | bytearray):
        digest = hashlib.sha256(value).hexdigest()[:12]
        return f"<{len(value)} bytes sha256:{digest}>"
    if isinstance(value, JsonNumber):
        value = value.value
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def differences(expected: Any, got: Any, path: str = "") -> list[Difference]:
    """Every difference between two plain values (dicts, lists, scalars), by path."""
    if isinstance(expected, dict) and isinstance(got, dict):
        out: list[Difference] = []
        for key in list(expected) + [k for k in got if k not in expected]:
            sub = f"{path}.{key}" if path else str(key)
            if key not in got:
                out.append(Difference(sub, expected[key], MISSING))
            elif key not in expected:
                out.append(Difference(sub, MISSING, got[key]))
            else:
                out.extend(differences(expected[key], got[key], sub))
        return out
    if isinstance(expected, list) and isinstance(got, list):
        out = []
        for i, (e, g) in enumerate(zip(expected, got, strict=False)):
            out.extend(differences(e, g, f"{path}[{i}]"))
        for i in range(len(got), len(expected)):
            out.append(Difference(f"{path}[{i}]", expected[i], MISSING))
        for i in range(len(expected), len(got)):
            out.append(Difference(f"{path}[{i}]", MISSING, got[i]))
        return out
    if type(expected) is not type(got) or expected != got:
        return [Difference(path, expected, got)]
    return []


@dataclasses.dataclass
class Mismatch:
    """A client frame the recording did not expect, with its diff, bounded.

    ``connection`` is the recorded connection's number and ``index`` the
    expected client frame's (both from 1; ``index`` is 0 for a connection the
    cassette does not have); ``expected`` and ``got`` are the frames' text
    (``None`` when there was none), cut to 300 characters and their length.
    Only the first 20 ``differences`` are kept (``omitted`` counts the rest),
    and a value of over 4 KiB as :class:`Clipped`: what a report shows, in
    memory that does not grow with the frames.
    """

    connection: int
    index: int
    differences: list[Difference]
    expected: str | None
    got: str | None
    policy: str
    omitted: int = 0

    def __post_init__(self) -> None:
        if len(self.differences) > _KEPT_DIFFERENCES:
            self.omitted += len(self.differences) - _KEPT_DIFFERENCES
        self.differences = [
            Difference(d.path, _kept(d.expected), _kept(d.got))
            for d in self.differences[:_KEPT_DIFFERENCES]
        ]
        self.expected = None if self.expected is None else _clip(self.expected)
        self.got = None if self.got is None else _clip(self.got)

    @property
    def first(self) -> Difference:
        return self.differences[0]

    @property
    def reason(self) -> str:
        """The close reason: the first difference (cut to 123 bytes by the server)."""
        return f"replay mismatch: {self.first}"

    def __str__(self) -> str:
        lines = [
            f"replay mismatch ({self.policy}) at client message {self.index} "
            f"of connection {self.connection}:"
        ]
        lines += [f"  {d}" for d in self.differences]
        if self.omitted:
            lines.append(f"  ... and {self.omitted} more difference(s)")
        if self.expected is not None:
            lines.append(f"  expected frame: {self.expected}")
        if self.got is not None:
            lines.append(f"  received frame: {self.got}")
        return "\n".join(lines)


def _clip(text: str, limit: int = _KEPT_FRAME) -> str:
    """The start of a long text and its length; a text it returned comes back as it is."""
    if len(text) <= limit + 40:  # room for the "... (n characters)" it adds
        return text
    return f"{text[:limit]}... ({len(text)} characters)"


# ---------------------------------------------------------------------------
# Matchers: the policies
# ---------------------------------------------------------------------------


class Matcher(Protocol):
    """A replay matching policy; register one in :data:`MATCHERS` under its ``name``.

    :meth:`compare` returns the differences between the frame the recording
    expects and the one received (none: they match). :meth:`audio` returns
    ``(mime type, byte count)`` for a frame that is realtime audio and nothing
    else, when the policy matches such frames by total length; ``None`` makes
    every frame go through :meth:`compare`. ``tolerance`` is how far apart
    (in bytes) two audio totals may be, given the run's largest recorded
    chunk.
    """

    name: str

    def compare(self, expected: bytes, got: bytes) -> list[Difference]: ...

    def audio(self, payload: bytes) -> tuple[str, int] | None: ...

    def tolerance(self, largest_chunk: int) -> int: ...


def _parse(payload: bytes) -> Any:
    try:
        return msgspec.json.decode(payload)
    except msgspec.DecodeError:
        return payload.decode("utf-8", errors="replace")  # compared as the raw text


class StrictMatcher:
    """``strict``: the frames must be canonically equal JSON, chunk by chunk."""

    name = "strict"

    def compare(self, expected: bytes, got: bytes) -> list[Difference]:
        if expected == got:
            return []
        return differences(canonical(_parse(expected)), canonical(_parse(got)))

    def audio(self, payload: bytes) -> tuple[str, int] | None:
        return None

    def tolerance(self, largest_chunk: int) -> int:
        return 0


# The shape of a camelCase realtime audio frame, read without decoding the
# base64 (its length is enough): a 10-minute replay reads thousands.
class _AudioBlob(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    data: str
    mime_type: str | None = None


class _AudioInput(msgspec.Struct, forbid_unknown_fields=True):
    audio: _AudioBlob


class _AudioFrame(msgspec.Struct, rename="camel", forbid_unknown_fields=True):
    realtime_input: _AudioInput


_audio_frame = msgspec.json.Decoder(_AudioFrame)


def _b64_length(text: str) -> int:
    stripped = text.rstrip("=")
    return len(stripped) * 3 // 4


class SemanticMatcher:
    """``semantic``: same message kinds and fields, ids normalised, audio by total length.

    Subclass it to normalise more (override :meth:`normalise`) or to change
    the audio tolerance, then register an instance in :data:`MATCHERS`.
    """

    name = "semantic"
    #: Keys whose values differ from run to run: compared for presence only.
    ID_KEYS: ClassVar[frozenset[str]] = frozenset({"handle", "sessionId"})
    #: Placeholder for a normalised value.
    PLACEHOLDER: ClassVar[str] = "<normalised>"

    def __init__(self, audio_tolerance: int | None = None) -> None:
        #: Fixed tolerance in bytes; ``None``: less than the largest recorded chunk.
        self.audio_tolerance = audio_tolerance

    def decode(self, payload: bytes) -> Any:
        """The frame as plain data with wire keys (bytes as bytes), or ``None`` if invalid."""
        try:
            message, report = codec.inspect_frame(payload, direction="client")
        except DecodeError:
            return None
        data = msgspec.to_builtins(message, builtin_types=(bytes, bytearray))
        unknown = report.unknown_paths()
        if unknown:
            data["(unknown fields)"] = sorted(unknown)
        return self.normalise(data)

    def normalise(self, data: dict[str, Any]) -> dict[str, Any]:
        """Put placeholders where values may differ between runs (ids, handles, model)."""
        setup = data.get("setup")
        if isinstance(setup, dict) and isinstance(setup.get("model"), str):
            setup["model"] = setup["model"].rsplit("/", 1)[-1]
        tool_response = data.get("toolResponse")
        if isinstance(tool_response, dict):
            for response in tool_response.get("functionResponses") or ():
                if isinstance(response, dict) and response.get("id"):
                    response["id"] = self.PLACEHOLDER
        self._ids(data)
        return data

    def _ids(self, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key in self.ID_KEYS and isinstance(item, str) and item:
                    value[key] = self.PLACEHOLDER
                else:
                    self._ids(item)
        elif isinstance(value, list):
            for item in value:
                self._ids(item)

    def compare(self, expected: bytes, got: bytes) -> list[Difference]:
        if expected == got:
            return []
        want, have = self.decode(expected), self.decode(got)
        if want is None or have is None:
            # Not a valid client message on one side: fall back to canonical JSON.
            return StrictMatcher().compare(expected, got)
        return differences(want, have)

    def audio(self, payload: bytes) -> tuple[str, int] | None:
        try:
            frame = _audio_frame.decode(payload)
        except (msgspec.DecodeError, msgspec.ValidationError):
            if b"_" not in payload or b"udio" not in payload:
                return None
            # snake_case keys or URL-safe base64 (the SDK): the codec's lenient path.
            try:
                message = codec.decode_client_message(payload)
            except DecodeError:
                return None
            realtime = message.realtime_input
            if (
                message.setup or message.client_content or message.tool_response
            ) or realtime is None:
                return None
            blob = realtime.audio
            others = msgspec.structs.asdict(realtime)
            if blob is None or any(v is not None for k, v in others.items() if k != "audio"):
                return None
            return blob.mime_type or "", len(blob.data or b"")
        raw = frame.realtime_input.audio
        return raw.mime_type or "", _b64_length(raw.data)

    def tolerance(self, largest_chunk: int) -> int:
        if self.audio_tolerance is not None:
            return self.audio_tolerance
        return max(largest_chunk - 1, 0)


#: The matching policies by name: add your own (``MATCHERS["mine"] = MyMatcher()``).
MATCHERS: dict[str, Matcher] = {
    "strict": StrictMatcher(),
    "semantic": SemanticMatcher(),
}


# ---------------------------------------------------------------------------
# A recorded connection, as steps
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Step:
    """An expected client frame and the server frames recorded after it."""

    frame: FrameEvent
    after: list[FrameEvent]
    audio: tuple[str, int] | None = None


@dataclasses.dataclass
class _Recorded:
    """One recorded connection: server frames before any client frame, steps, close."""

    number: int
    prologue: list[FrameEvent]
    steps: list[_Step]
    close: CloseEvent | None
    start_t: float


def _connections(cassette: Cassette, matcher: Matcher) -> list[_Recorded]:
    recorded: dict[int, _Recorded] = {}
    for event in cassette.events:
        number = getattr(event, "connection", None)
        if number is None:
            continue
        conn = recorded.get(number)
        if conn is None:
            conn = recorded[number] = _Recorded(number, [], [], None, event.t)
        if isinstance(event, FrameEvent):
            if event.sender == "client":
                # Elided audio counts by its recorded length (silence of that length).
                payload = event.wire_payload() if event.elided else event.payload
                conn.steps.append(_Step(event, [], matcher.audio(payload)))
            elif conn.steps:
                conn.steps[-1].after.append(event)
            else:
                conn.prologue.append(event)
        elif isinstance(event, CloseEvent) and conn.close is None:
            conn.close = event
    return list(recorded.values())


# ---------------------------------------------------------------------------
# Serving one connection
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class _Progress:
    """How far an ended connection's replay went: steps matched, server frames sent."""

    pos: int
    sent: int


class _Replay:
    """Plays one recorded connection to one client connection."""

    def __init__(self, server: ReplayServer, peer: Peer, recorded: _Recorded) -> None:
        self.server = server
        self.peer = peer
        self.recorded = recorded
        self.matcher = server.matcher
        self.speed = server.speed
        self.loop = asyncio.get_running_loop()
        #: Index of the next expected step.
        self.pos = 0
        #: Server frames sent (recorded order: prologue, then each step's).
        self.sent = 0
        # The audio run in progress: received and matched totals, the run's
        # end (exclusive step index), its total and tolerance.
        self.run_end: int | None = None
        self.run_mime = ""
        self.run_received = 0
        self.run_matched = 0
        self.run_total = 0
        self.run_tolerance = 0
        self.outbox: collections.deque[tuple[float, FrameEvent | CloseEvent]] = collections.deque()
        self.sender: asyncio.Task[None] | None = None
        self.closing = False

    # -- sending ----------------------------------------------------------------

    async def emit(self, events: Sequence[FrameEvent | CloseEvent], anchor_t: float) -> None:
        """Send these recorded events, spaced as recorded from ``anchor_t`` (now)."""
        if not events:
            return
        if self.speed == 0:
            # Unpaced: sent in the receiving task, in order, with no task switch.
            for event in events:
                await self._deliver(event)
            return
        now = self.loop.time()
        self.outbox.extend((now + max(e.t - anchor_t, 0.0) / self.speed, e) for e in events)
        if self.sender is None or self.sender.done():
            self.sender = asyncio.create_task(self._drain(), name="rawlive-replay-sender")

    async def _drain(self) -> None:
        try:
            while self.outbox:
                due, event = self.outbox[0]
                delay = due - self.loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                self.outbox.popleft()
                await self._deliver(event)
        except Exception as exc:  # the connection is gone: nothing left to do
            log.debug("replay sender stopped: %r", exc)

    async def _deliver(self, event: FrameEvent | CloseEvent) -> None:
        if isinstance(event, FrameEvent):
            await self.peer.send(event.wire_payload(), opcode=event.opcode)
            self.sent += 1
            self.server.consumed += 1
            return
        self.closing = True
        if event.by is None:
            self.peer.abort()
        else:
            await self.peer.close(event.code, event.reason)

    # -- receiving ----------------------------------------------------------------

    async def run(self) -> None:
        recorded = self.recorded
        await self.emit(recorded.prologue, recorded.start_t)
        try:
            async for payload in self.peer:
                await self.receive(payload)
        except ReplayDiverged:
            pass
        finally:
            if self.sender is not None:
                self.sender.cancel()

    async def receive(self, payload: bytes) -> None:
        steps = self.recorded.steps
        if self.run_end is not None:
            audio = self.matcher.audio(payload)
            if audio is not None and audio[0] == self.run_mime:
                await self.more_audio(audio[1], payload)
                return
            await self.settle_run(payload)
        if self.pos >= len(steps):
            await self.mismatch(
                [Difference("", "no more client messages", _kind(payload))], None, payload
            )
        step = steps[self.pos]
        if step.audio is not None:
            audio = self.matcher.audio(payload)
            if audio is not None and audio[0] == step.audio[0]:
                self.start_run(step.audio[0])
                await self.more_audio(audio[1], payload)
                return
        found = self.matcher.compare(step.frame.payload, _as_recorded(step.frame, payload))
        if found:
            await self.mismatch(found, step.frame, payload)
        await self.consume(step)

    async def consume(self, step: _Step) -> None:
        self.pos += 1
        self.server.consumed += 1
        await self.emit(step.after, step.frame.t)
        if self.pos == len(self.recorded.steps) and self.run_end is None:
            await self.finish(step)

    async def finish(self, last: _Step) -> None:
        """Every expected client frame came: end as recorded (server close or drop)."""
        close = self.recorded.close
        if close is None or close.by == "client":
            return  # the client ends it (or the recording stopped here)
        # Anchored like the frames that came with the last step, so it follows them.
        await self.emit([close], last.frame.t)

    # -- audio runs -----------------------------------------------------------------

    def start_run(self, mime: str) -> None:
        steps = self.recorded.steps
        end, total, largest = self.pos, 0, 0
        while end < len(steps):
            audio = steps[end].audio
            if audio is None or audio[0] != mime:
                break
            total += audio[1]
            largest = max(largest, audio[1])
            end += 1
        self.run_end, self.run_mime, self.run_total = end, mime, total
        self.run_received = self.run_matched = 0
        self.run_tolerance = self.matcher.tolerance(largest)

    async def more_audio(self, count: int, payload: bytes) -> None:
        """Audio received within a run: release the steps it passed."""
        assert self.run_end is not None
        self.run_received += count
        if self.run_received - self.run_total > self.run_tolerance:
            got = f"{self.run_received} bytes so far"
            await self.run_mismatch(self.run_end - 1, got, payload)
        steps = self.recorded.steps
        while self.pos < self.run_end:
            step = steps[self.pos]
            assert step.audio is not None
            matched = self.run_matched + step.audio[1]
            if matched > self.run_received:
                break
            self.run_matched = matched
            await self.consume(step)
        if self.run_total - self.run_received <= self.run_tolerance:
            # Within the tolerance of the run's end: the rest is matched too.
            while self.pos < self.run_end:
                await self.consume(steps[self.pos])
            self.run_matched = self.run_total
            if self.pos == len(steps):
                self.run_end = None
                await self.finish(steps[-1])

    async def settle_run(self, payload: bytes) -> None:
        """A non-audio frame ends the run: the totals must agree."""
        assert self.run_end is not None
        if abs(self.run_total - self.run_received) > self.run_tolerance:
            got = f"{self.run_received} bytes, then {_kind(payload)}"
            await self.run_mismatch(self.pos, got, payload)
        end, self.run_end = self.run_end, None
        while self.pos < end:
            await self.consume(self.recorded.steps[self.pos])

    async def run_mismatch(self, index: int, got: str, payload: bytes) -> NoReturn:
        """The run's audio total is off: fail at step ``index`` with what came (``got``)."""
        expected = f"{self.run_total} bytes of {self.run_mime} in a row"
        difference = Difference("realtimeInput.audio", expected, got)
        await self.mismatch([difference], self.recorded.steps[index].frame, payload)

    # -- failing ----------------------------------------------------------------------

    async def mismatch(
        self, found: list[Difference], expected: FrameEvent | None, got: bytes | None
    ) -> NoReturn:
        if self.sender is not None:
            self.sender.cancel()
        self.outbox.clear()
        mismatch = Mismatch(
            connection=self.recorded.number,
            index=self.pos + 1,
            differences=found,
            expected=None if expected is None else expected.payload.decode("utf-8", "replace"),
            got=None if got is None else got.decode("utf-8", "replace"),
            policy=self.matcher.name,
        )
        self.server.add_mismatch(mismatch)
        log.info("%s", mismatch)
        self.closing = True
        await _close_draining(self.peer, CLOSE_MISMATCH, mismatch.reason)
        raise ReplayDiverged(mismatch.reason)


async def _close_draining(peer: Peer, code: int, reason: str) -> None:
    """Close, reading what the client still sends meanwhile.

    A client streaming audio may have filled the socket; unread, its frames
    would stall the closing handshake until the close timeout.
    """
    closing = asyncio.create_task(peer.close(code, reason))
    with contextlib.suppress(ConnectionClosed):
        while True:
            await peer.ws.recv(decode=False)
    await closing


def _as_recorded(frame: FrameEvent, payload: bytes) -> bytes:
    """The received frame with its audio elided when the recorded one was (length and hash)."""
    if not frame.elided:
        return payload
    text = payload.decode("utf-8", errors="replace")
    return elide_audio_blobs(text, frame_kind(payload))[0].encode("utf-8")


def _kind(payload: bytes) -> str:
    return f"a {frame_kind(payload)} message"


# ---------------------------------------------------------------------------
# The server
# ---------------------------------------------------------------------------


class ReplayServer(LiveServer):
    """Serves a cassette (a path or a :class:`~rawlive.cassette.Cassette`) to its clients.

    ``policy`` names a matcher in :data:`MATCHERS` (or is one); ``speed``
    scales the recorded timing (1.0 as recorded, 2.0 twice as fast, 0 at
    once). ``upstream`` (a :class:`~rawlive.servers.proxy.Proxy`, not started: only
    its forwarding is used) takes the connections beyond the cassette's, and
    ``record_dir`` then records those only (see the module docstring). Other
    options are :class:`~rawlive.servers.base.LiveServer`'s (``ssl``, ``host``,
    ``port``...). Every path is accepted: a recording made against any
    endpoint replays for a client pointed at this one.

    After (or during) a replay, :attr:`mismatches` lists the frames that did
    not match (the latest ``mismatch_limit``; :attr:`mismatch_count` counts
    them all), :attr:`consumed` counts the recorded frames used (client
    frames matched, server frames sent) and :meth:`remaining` lists the rest.
    """

    def __init__(
        self,
        cassette: Cassette | str | os.PathLike[str],
        *,
        policy: str | Matcher = "semantic",
        speed: float = 1.0,
        mismatch_limit: int = 100,
        upstream: Proxy | None = None,
        **server_options: Any,
    ) -> None:
        if mismatch_limit < 1:
            raise ConfigError(f"mismatch_limit must be 1 or more, not {mismatch_limit}")
        super().__init__(**server_options)
        if isinstance(policy, str):
            try:
                policy = MATCHERS[policy]
            except KeyError:
                known = ", ".join(sorted(MATCHERS))
                raise ConfigError(f"unknown replay policy {policy!r} (known: {known})") from None
        if speed < 0:
            raise ConfigError(f"speed must not be negative, not {speed}")
        self.cassette = cassette if isinstance(cassette, Cassette) else read_cassette(cassette)
        self.matcher: Matcher = policy
        self.speed = float(speed)
        self.recorded = _connections(self.cassette, policy)
        #: Where connections beyond the cassette's go (``None``: they are mismatches).
        self.upstream = upstream
        #: The latest ``mismatch_limit`` mismatches, in order (``str(mismatch)``: the diff).
        self.mismatches: list[Mismatch] = []
        self.mismatch_limit = mismatch_limit
        #: Every mismatch so far, kept or not.
        self.mismatch_count = 0
        #: Recorded frames used so far: client frames matched plus server frames sent.
        self.consumed = 0
        #: Per recorded connection served (by index): its replay, then its progress.
        self._replays: dict[int, _Replay | _Progress] = {}

    @property
    def total(self) -> int:
        """How many frames the cassette holds (both ways)."""
        return sum(len(r.prologue) + sum(1 + len(s.after) for s in r.steps) for r in self.recorded)

    def remaining(self, allow: Iterable[str] = ()) -> list[FrameEvent]:
        """The recorded frames not used, in order, but allowed trailing server frames.

        ``allow`` holds ``kind`` patterns (``fnmatch``, e.g.
        ``"sessionResumptionUpdate"``, ``"usageMetadata*"``): a server frame
        of such a kind is left out when no client frame of its connection
        remains after it (the client may well close before it arrives).
        """
        patterns = list(allow)
        left: list[FrameEvent] = []
        for index, recorded in enumerate(self.recorded):
            replay = self._replays.get(index)
            pos = replay.pos if replay is not None else 0
            sent = replay.sent if replay is not None else 0
            frames: list[tuple[FrameEvent, bool]] = [(f, True) for f in recorded.prologue]
            for i, step in enumerate(recorded.steps):
                frames.append((step.frame, i >= pos))
                frames.extend((f, True) for f in step.after)
            server_seen = 0
            unused: list[FrameEvent] = []
            for frame, unmatched in frames:
                if frame.sender == "server":
                    server_seen += 1
                    if server_seen > sent:
                        unused.append(frame)
                elif unmatched:
                    unused.append(frame)
            # Trailing server frames of allowed kinds: after the last unused client frame.
            last_client = max((i for i, f in enumerate(unused) if f.sender == "client"), default=-1)
            left.extend(
                f
                for i, f in enumerate(unused)
                if not (
                    i > last_client
                    and f.sender == "server"
                    and any(fnmatch.fnmatchcase(f.kind, p) for p in patterns)
                )
            )
        return left

    def records(self, number: int) -> bool:
        """With an ``upstream``, only the connections passed on to it: the cassette has the rest."""
        return self.upstream is None or number > len(self.recorded)

    async def session(self, peer: Peer) -> None:
        # The n-th connection accepted gets the n-th recorded one.
        index = peer.capture.number - 1
        if index >= len(self.recorded):
            if self.upstream is not None:
                await self.upstream.session(peer)  # a new episode, recorded by records()
                return
            # After its setup, as the real server refuses a session.
            got = await peer.recv()
            mismatch = Mismatch(
                connection=index + 1,
                index=0,
                differences=[
                    Difference(
                        "(connection)",
                        f"at most {len(self.recorded)} connections",
                        f"connection {index + 1}",
                    )
                ],
                expected=None,
                got=got.decode("utf-8", "replace"),
                policy=self.matcher.name,
            )
            self.add_mismatch(mismatch)
            await _close_draining(peer, CLOSE_MISMATCH, mismatch.reason)
            return
        replay = _Replay(self, peer, self.recorded[index])
        self._replays[index] = replay
        try:
            await replay.run()
        finally:
            # Only its progress outlives the connection (for remaining()).
            self._replays[index] = _Progress(replay.pos, replay.sent)

    def add_mismatch(self, mismatch: Mismatch) -> None:
        """Count a mismatch and keep it, with the latest ``mismatch_limit`` ones."""
        self.mismatch_count += 1
        self.mismatches.append(mismatch)
        del self.mismatches[: max(len(self.mismatches) - self.mismatch_limit, 0)]
