"""The cassette format, v1: its lines as msgspec Structs, a frame's ``kind``, audio elision.

The Structs are the format's JSON Schema (``schemas/cassette.schema.json``,
:data:`CassetteLine`); the README's "The cassette format" describes every
field. The rules:

1. A cassette is UTF-8 JSON Lines. The first line is the ``"header"``
   (:class:`CassetteHeader`), every later line one event in the order they
   happened: ``connect``, ``frame``, ``close``, and ``end`` last when the
   recording was closed properly. A reader refuses a ``version`` newer than
   :data:`VERSION`.
2. A line ends with ``\\n`` and holds no other line break: U+0085, U+2028 and
   U+2029 are written as ``\\u`` escapes (:func:`encode_line`).
3. A frame's payload is in exactly one of ``text`` (it is valid UTF-8, kept
   byte for byte) and ``b64`` (it is not); its ``kind`` lists the message's
   top-level keys, two levels for ``realtimeInput`` and ``serverContent``
   (:func:`frame_kind`).
4. With ``elideAudio`` every audio blob's ``data`` becomes ``{"elided": true,
   "bytes": N, "sha256": ...}`` (:func:`elide_audio_blobs`); replay puts N
   zero bytes back (:func:`fill_silence`).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections.abc import Iterable
from typing import Annotated, Any, Literal, TypeAlias

import msgspec
import pybase64

from rawlive._version import __version__
from rawlive.errors import ConfigError, DecodeError
from rawlive.wire import codec

__all__ = [
    "FORMAT",
    "VERSION",
    "Cassette",
    "CassetteEvent",
    "CassetteHeader",
    "CassetteLine",
    "CloseEvent",
    "ConnectEvent",
    "EndEvent",
    "FrameEvent",
    "Opcode",
    "Sender",
    "append_connections",
    "elide_audio_blobs",
    "fill_silence",
    "frame_kind",
]

FORMAT: Literal["rawlive-cassette"] = "rawlive-cassette"
VERSION = 1

Sender = Literal["client", "server"]
Opcode = Literal["text", "binary"]

#: What decoding hostile bytes raises: msgspec's errors (ValidationError is a
#: DecodeError), invalid UTF-8 in a string it keeps, nesting beyond the stack.
JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)


# ---------------------------------------------------------------------------
# The lines: one Struct per kind (they are the JSON Schema)
# ---------------------------------------------------------------------------


class CassetteHeader(msgspec.Struct, kw_only=True, rename="camel", tag_field="type", tag="header"):
    """The first line of a cassette: what was recorded, by what, when."""

    format: Literal["rawlive-cassette"] = FORMAT
    version: int = VERSION
    rawlive_version: str = __version__
    #: UTC, ISO 8601 with microseconds and a ``Z``.
    created: str
    #: The endpoint URL, credentials redacted.
    url: str | None = None
    #: The endpoint's configured handshake headers, credentials redacted.
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)
    model: str | None = None
    api_version: str | None = None
    elide_audio: bool = False
    meta: dict[str, Any] = msgspec.field(default_factory=dict)


class _Event(msgspec.Struct, tag_field="type", omit_defaults=True):
    # Not kw_only, so that ``t`` comes first on every line.
    #: Seconds since the cassette started (monotonic clock).
    t: float


class ConnectEvent(_Event, kw_only=True, tag="connect"):
    """A connection opened: its URL and handshake request headers, redacted."""

    connection: int
    url: str
    headers: list[tuple[str, str]] = msgspec.field(default_factory=list)


class FrameEvent(_Event, kw_only=True, tag="frame"):
    """One WebSocket message, its payload in ``text`` (UTF-8) or ``b64`` (otherwise)."""

    connection: int
    sender: Sender = msgspec.field(name="from")
    opcode: Opcode
    #: A summary of the message for grep (rule 3 of the module).
    kind: str
    text: str | None = None
    b64: str | None = None
    #: How many audio blobs were elided (their data replaced by length and hash).
    elided: int = 0
    #: Whether a secret was cut out of the payload.
    redacted: bool = False

    def __post_init__(self) -> None:
        if (self.text is None) == (self.b64 is None):
            raise ConfigError("a frame event has exactly one of `text` and `b64`")
        if self.b64 is not None:
            # Checked as the line is read, so that a bad one is named by its
            # line and ``payload`` never fails. (Rare: non-UTF-8 payloads only.)
            try:
                pybase64.b64decode(self.b64, validate=True)
            except ValueError:
                raise ConfigError("`b64` is not standard padded base64") from None

    @property
    def payload(self) -> bytes:
        """The payload as recorded: the wire bytes, unless elided or redacted."""
        if self.text is not None:
            return self.text.encode("utf-8")
        assert self.b64 is not None
        return pybase64.b64decode(self.b64, validate=True)

    @property
    def exact(self) -> bool:
        """Whether :attr:`payload` is byte for byte what went over the wire."""
        return not self.elided and not self.redacted

    def wire_payload(self) -> bytes:
        """The bytes to send when replaying: the payload, with silence for elided audio."""
        return fill_silence(self.payload) if self.elided else self.payload


class CloseEvent(_Event, kw_only=True, tag="close"):
    """A connection ended; ``by`` is the side that closed first (absent: dropped, 1006)."""

    connection: int
    code: int
    reason: str = ""
    by: Sender | None = None


class EndEvent(_Event, kw_only=True, tag="end"):
    """The recording was closed properly; nothing follows."""


CassetteEvent: TypeAlias = ConnectEvent | FrameEvent | CloseEvent | EndEvent

CassetteLine = Annotated[
    CassetteHeader | CassetteEvent,
    msgspec.Meta(
        title="CassetteLine",
        description=(
            "One line of a rawlive cassette (format v1, JSON Lines, see the README): "
            "the first line is a CassetteHeader, every other line an event."
        ),
    ),
]
"""The type of any line of a cassette, for its JSON Schema."""


class Cassette(msgspec.Struct, kw_only=True):
    """A cassette read into memory by :func:`read_cassette`."""

    header: CassetteHeader
    events: list[CassetteEvent]
    #: The last line was cut off (the recording stopped mid-write) and skipped.
    truncated: bool = False
    #: The file ends with an ``end`` event: the recording was closed properly.
    complete: bool = False

    def frames(
        self, *, connection: int | None = None, sender: Sender | None = None
    ) -> list[FrameEvent]:
        """The frame events, optionally of one connection and/or one side."""
        return [
            e
            for e in self.events
            if isinstance(e, FrameEvent)
            and (connection is None or e.connection == connection)
            and (sender is None or e.sender == sender)
        ]

    @property
    def connects(self) -> list[ConnectEvent]:
        return [e for e in self.events if isinstance(e, ConnectEvent)]

    @property
    def closes(self) -> list[CloseEvent]:
        return [e for e in self.events if isinstance(e, CloseEvent)]


# ---------------------------------------------------------------------------
# Frame kinds and audio elision
# ---------------------------------------------------------------------------

# Only the top level (and one level down for these keys) is looked at: the
# values stay raw slices, so a big audio frame is scanned, never decoded.
_RawObject = msgspec.json.Decoder(dict[str, msgspec.Raw])
_NESTED_KINDS = frozenset({"realtimeInput", "serverContent", "realtime_input", "server_content"})


def frame_kind(payload: bytes | str) -> str:
    """The ``kind`` summary of a frame: top-level keys, two levels for input and content."""
    try:
        top = _RawObject.decode(payload)
    except JSON_ERRORS:
        return "invalid"
    parts: list[str] = []
    for key, raw in top.items():
        inner: dict[str, msgspec.Raw] = {}
        if key in _NESTED_KINDS:
            with contextlib.suppress(*JSON_ERRORS):
                inner = _RawObject.decode(raw)
        parts.extend([f"{key}.{sub}" for sub in inner] if inner else [key])
    return ",".join(parts) or "empty"


# Kinds whose frames may hold audio blobs (the rest are never decoded to elide).
_AUDIO_KINDS = (
    "realtimeInput",
    "realtime_input",
    "serverContent",
    "server_content",
    "clientContent",
    "client_content",
)
_MIME_KEYS = ("mimeType", "mime_type")
_AUDIO_KEYS = frozenset({"audio"})


def _elide_blob(blob: dict[str, Any], parent: str | None) -> bool:
    """Replace an audio blob's data by its length and hash; whether it was one."""
    data = blob.get("data")
    if not isinstance(data, str):
        return False
    mime = next((blob[k] for k in _MIME_KEYS if isinstance(blob.get(k), str)), None)
    if not (parent in _AUDIO_KEYS or (mime is not None and mime.startswith("audio/"))):
        return False
    try:
        # Lenient like the codec: URL-safe alphabet and missing padding too.
        audio = pybase64.b64decode(codec.standard_base64(data), validate=True)
    except ValueError:
        return False  # not base64: leave it as it is
    digest = hashlib.sha256(audio).hexdigest()
    blob["data"] = {"elided": True, "bytes": len(audio), "sha256": digest}
    return True


def _walk_elide(value: Any, parent: str | None = None) -> int:
    count = 0
    if isinstance(value, dict):
        if _elide_blob(value, parent):
            count += 1
        for key, item in value.items():
            if isinstance(item, dict | list):
                count += _walk_elide(item, key)
    elif isinstance(value, list):
        for item in value:
            count += _walk_elide(item, parent)
    return count


def elide_audio_blobs(text: str, kind: str) -> tuple[str, int]:
    """A frame's text with its audio blobs elided, and how many there were.

    ``kind`` is the frame's :func:`frame_kind`. This is the recorder's
    ``elide_audio``: each blob's ``data`` becomes its length and SHA-256, so
    a replay can elide a frame it receives the same way and compare alike.
    Text that is not JSON comes back as it is.
    """
    if not any(name in kind for name in _AUDIO_KINDS):
        return text, 0
    try:
        message = msgspec.json.decode(text)
        count = _walk_elide(message)
    except JSON_ERRORS:  # not JSON, or nested beyond the stack: kept as it is
        return text, 0
    if not count:
        return text, 0
    return msgspec.json.encode(message).decode("utf-8"), count


def _is_elided(value: Any) -> bool:
    return isinstance(value, dict) and value.get("elided") is True and "bytes" in value


#: The most audio an elided blob may stand for: rawlive's client takes frames
#: of up to 64 MiB, so no recorded blob was longer. (A cassette is data: a
#: count of 10**12 must not allocate a terabyte of silence.)
_MAX_ELIDED_BYTES = 64 * 2**20


def _walk_fill(value: Any) -> None:
    if isinstance(value, dict):
        for key, item in value.items():
            if _is_elided(item):
                count = item["bytes"]
                if type(count) is not int or not 0 <= count <= _MAX_ELIDED_BYTES:
                    raise DecodeError(f"an elided audio blob of {count!r} bytes")
                value[key] = pybase64.b64encode(bytes(count)).decode("ascii")
            elif isinstance(item, dict | list):
                _walk_fill(item)
    elif isinstance(value, list):
        for item in value:
            _walk_fill(item)


def fill_silence(payload: bytes) -> bytes:
    """A frame with every elided audio blob replaced by silence (zero bytes) of its length.

    Raises :class:`rawlive.DecodeError` if the payload is not JSON or an
    elided blob's length is not a count of bytes.
    """
    try:
        message = msgspec.json.decode(payload)
        _walk_fill(message)
        return msgspec.json.encode(message)
    except JSON_ERRORS as exc:
        raise DecodeError(f"an elided frame is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------
# Line encoding
# ---------------------------------------------------------------------------

_line_encoder = msgspec.json.Encoder()
# Valid raw in JSON strings, but line breaks to Python's str.splitlines() and
# to some editors: escaped, so that one event is one line for every reader.
# (UTF-8 is self-synchronising: these bytes are these characters, in strings.)
_LINE_BREAKS = (
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
    ("\u0085".encode(), b"\\u0085"),
)


def encode_line(line: msgspec.Struct, buffer: bytearray) -> bytearray:
    """One cassette line and its ``\\n``, in ``buffer`` (or a copy when a line break is escaped)."""
    _line_encoder.encode_into(line, buffer)
    if not buffer.isascii():  # (isascii is nearly free; the searches are not)
        for raw, escaped in _LINE_BREAKS:
            if raw in buffer:
                buffer = bytearray(buffer.replace(raw, escaped))
    buffer.extend(b"\n")
    return buffer


# ---------------------------------------------------------------------------
# Joining
# ---------------------------------------------------------------------------


def append_connections(cassette: Cassette, more: Iterable[Cassette]) -> Cassette:
    """``cassette`` with the connections of ``more`` after its own, as one recording.

    Each cassette of ``more`` has its connections numbered on from the last one
    so far (in the order they first appear, which is the order replay serves
    them in) and its times moved to start at the last time so far; only the
    first header is kept. The result is complete when ``cassette`` was: its
    ``end`` event moves to the end.
    """
    events: list[CassetteEvent] = [e for e in cassette.events if not isinstance(e, EndEvent)]
    last_number = max((e.connection for e in events if not isinstance(e, EndEvent)), default=0)
    last_t = max((e.t for e in cassette.events), default=0.0)
    for other in more:
        numbers: dict[int, int] = {}
        start = last_t
        for event in other.events:
            if isinstance(event, EndEvent):
                continue
            number = numbers.get(event.connection)
            if number is None:
                last_number += 1
                number = numbers[event.connection] = last_number
            moved = msgspec.structs.replace(event, t=round(start + event.t, 6), connection=number)
            events.append(moved)
            last_t = max(last_t, moved.t)
    if cassette.complete:
        events.append(EndEvent(t=last_t))
    return Cassette(header=cassette.header, events=events, complete=cassette.complete)
