"""Cassettes: a Live session recorded frame by frame, to replay in tests and to audit.

This module owns the recording format: its types (which are its schema,
``schemas/cassette.schema.json``), the writer (crash-safe and redacted) and
the reader (tolerant of a cut-off last line). It knows nothing of sockets:
the client session, the servers and the proxy hand it frames.

Format v1
---------

A cassette is a UTF-8 `JSON Lines <https://jsonlines.org>`_ file: one JSON
object per line, each line ending in ``\\n`` (and no other line break:
U+0085, U+2028 and U+2029 are written as ``\\u`` escapes). The first line
is the header, every later line one event, in the order they happened::

    {"type":"header","format":"rawlive-cassette","version":1,"rawliveVersion":"0.1.0","created":"2025-06-01T12:00:00.000000Z","url":"wss://generativelanguage.googleapis.com/ws/...","headers":[["x-goog-api-key","<redacted>"]],"model":"models/gemini-live-2.5-flash-preview","apiVersion":"v1beta","elideAudio":false,"meta":{}}
    {"type":"connect","t":0.0021,"connection":1,"url":"wss://...","headers":[["Host","..."],["x-goog-api-key","<redacted>"]]}
    {"type":"frame","t":0.0023,"connection":1,"from":"client","opcode":"text","kind":"setup","text":"{\\"setup\\":{\\"model\\":\\"models/...\\"}}"}
    {"type":"frame","t":0.0412,"connection":1,"from":"server","opcode":"binary","kind":"setupComplete","text":"{\\"setupComplete\\":{}}"}
    {"type":"close","t":9.1375,"connection":1,"code":1000,"by":"client"}
    {"type":"end","t":9.1380}

The header (:class:`CassetteHeader`):

``format``, ``version``
    ``"rawlive-cassette"`` and ``1``. A reader refuses a newer version.
``rawliveVersion``, ``created``
    The rawlive that wrote it and when (UTC, ISO 8601 with microseconds).
``url``, ``headers``
    The endpoint's URL and configured handshake headers (``[name, value]``
    pairs), credentials redacted.
``model``, ``apiVersion``
    The session's model and the API version of its endpoint, when known.
``elideAudio``
    Whether audio payloads were elided (below).
``meta``
    Free-form JSON the recorder was given (every string in it redacted).

Every line has a ``type``: ``"header"`` for the first, the event's kind for
the others. In events, ``t`` is seconds on a monotonic clock since the
cassette started (just before the first connection) and ``connection``
numbers the connections from 1. The events:

``connect`` (:class:`ConnectEvent`)
    A WebSocket connection opened: ``url`` and the ``headers`` of the
    handshake request as sent (credentials redacted). A session resumed after
    a ``goAway`` or a drop has one per connection, so one cassette holds the
    whole resumed session.
``frame`` (:class:`FrameEvent`)
    One WebSocket message. ``from`` is ``"client"`` or ``"server"``;
    ``opcode`` ``"text"`` or ``"binary"`` (the frame type on the wire);
    ``kind`` a summary for grep: the message's top-level keys, with the keys
    inside ``realtimeInput`` and ``serverContent`` spelled out and joined by
    commas (``setup``, ``realtimeInput.audio``,
    ``serverContent.modelTurn,serverContent.turnComplete``,
    ``usageMetadata``...); ``invalid`` when the payload is not a JSON
    object. The payload is in exactly one of two fields:

    * ``text``: the payload as a string, whenever it is valid UTF-8
      (whatever the opcode: JSON is, and it stays readable);
      ``text.encode("utf-8")`` gives back the payload byte for byte;
    * ``b64``: standard base64 of the payload, when it is not valid UTF-8.

    ``elided`` (when not 0) counts the audio blobs elided from it and
    ``redacted`` (when true) says a secret was cut out of it: in both cases
    the payload is not the one on the wire, by design.
``close`` (:class:`CloseEvent`)
    A connection ended: the close ``code`` and ``reason`` of the side that
    closed first, named by ``by`` (``"client"`` or ``"server"``); with no
    close frame at all (a dropped connection) ``by`` is absent and the code
    is 1006.
``end`` (:class:`EndEvent`)
    The writer was closed: the recording is complete. A cassette without it
    stopped early (the recorder crashed or was killed).

Audio is lossless by default. With ``elide_audio`` the base64 ``data`` of
every audio blob (``realtimeInput.audio``, ``realtimeInput.mediaChunks`` and
``inlineData`` parts with an ``audio/*`` MIME type, in ``serverContent``
model turns as in client content) becomes ``{"elided": true, "bytes": N,
"sha256": "<hex of the decoded audio>"}``, and the frame's text is that
JSON, compact. Such a cassette is small enough to keep for audits;
:meth:`FrameEvent.wire_payload` puts N bytes of silence (zeros) back, which
is what replay serves.

Secrets: the writer is given the credential values (an API key, a token;
``rawlive.connect`` gives it the endpoint's). Every string it writes has each
of them, and each of their URL-encoded and JSON-escaped forms, replaced by
``<redacted>``: every field of the header (``model`` and ``meta`` too), URLs,
headers, close reasons and frame payloads (in the payload bytes, before
base64). URLs and headers also have their credential slots redacted whatever
the value (a URL's userinfo, the ``key``, ``access_token`` and ``token``
query parameters, ``x-goog-api-key`` and ``Authorization`` headers:
:func:`rawlive.wire.endpoints.redact`), and a value
found in such a slot joins the known secrets, so a key given only in an
endpoint URL is kept out of the frames too. Frame payloads are searched for
the values only, not for slots: frames carry no credential slots, and a
pattern there would rewrite model text and base64. Values shorter than
:data:`MIN_SECRET_LENGTH` characters are not searched for (they cannot be
told from ordinary text; a real API key has 39). A secret sent inside
base64 data (an inline blob holding the key's bytes) is not found.

Crash safety: each line is written with one ``write`` and flushed to the
operating system at once, so at any moment the file is valid JSON Lines up
to its last complete line; a process killed mid-write leaves at most a
partial last line (the file is not fsync'd: a machine crash may lose more).
:func:`read_cassette` reads such a file up to the cut and warns
(:class:`TruncatedCassetteWarning`); any other bad line raises
:class:`rawlive.DecodeError` naming the file and line.

Use: ``rawlive.connect(..., record="session.jsonl")`` records a client
session (``record_elide_audio=True`` to elide); :class:`CassetteWriter` is
the writer any recorder uses, :func:`read_cassette` reads a whole file into
a :class:`Cassette`, and :class:`CassetteReader` iterates over a big one.
:func:`append_connections` joins recordings into one cassette (the pytest
plugin's new episodes) and :func:`write_cassette` writes one held in memory.
"""

from __future__ import annotations

import contextlib
import datetime
import hashlib
import os
import time
import urllib.parse
import warnings
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Annotated, Any, Literal, Protocol, Self, TypeAlias

import msgspec
import pybase64

from rawlive import files
from rawlive._version import __version__
from rawlive.errors import ClosedError, ConfigError, DecodeError, TruncatedCassetteWarning
from rawlive.wire import endpoints

__all__ = [
    "FORMAT",
    "MIN_SECRET_LENGTH",
    "VERSION",
    "Cassette",
    "CassetteEvent",
    "CassetteHeader",
    "CassetteLine",
    "CassetteReader",
    "CassetteWriter",
    "CloseEvent",
    "ConnectEvent",
    "EndEvent",
    "FrameEvent",
    "Recorder",
    "TruncatedCassetteWarning",
    "append_connections",
    "elide_audio_blobs",
    "fill_silence",
    "frame_kind",
    "read_cassette",
    "write_cassette",
]

FORMAT: Literal["rawlive-cassette"] = "rawlive-cassette"
VERSION = 1
_BINARY = getattr(os, "O_BINARY", 0)
#: Secret values shorter than this are not searched for in what is written.
MIN_SECRET_LENGTH = 8

Sender = Literal["client", "server"]
Opcode = Literal["text", "binary"]


# ---------------------------------------------------------------------------
# The types: one Struct per line kind (they are the JSON Schema)
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
    #: A summary of the message for grep (see the module docstring).
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
            "One line of a rawlive cassette (format v1, JSON Lines, see rawlive/cassette.py): "
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
# What decoding hostile bytes raises: msgspec's errors (ValidationError is a
# DecodeError), invalid UTF-8 in a string it keeps, nesting beyond the stack.
_JSON_ERRORS = (msgspec.DecodeError, UnicodeDecodeError, RecursionError)
_NESTED_KINDS = frozenset({"realtimeInput", "serverContent", "realtime_input", "server_content"})


def frame_kind(payload: bytes | str) -> str:
    """The ``kind`` summary of a frame: top-level keys, two levels for input and content."""
    try:
        top = _RawObject.decode(payload)
    except _JSON_ERRORS:
        return "invalid"
    parts: list[str] = []
    for key, raw in top.items():
        inner: dict[str, msgspec.Raw] = {}
        if key in _NESTED_KINDS:
            with contextlib.suppress(*_JSON_ERRORS):
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
        padded = data.replace("-", "+").replace("_", "/")
        audio = pybase64.b64decode(padded + "=" * (-len(padded) % 4), validate=True)
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
    except _JSON_ERRORS:  # not JSON, or nested beyond the stack: kept as it is
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
    except _JSON_ERRORS as exc:
        raise DecodeError(f"an elided frame is not valid JSON: {exc}") from None


# ---------------------------------------------------------------------------
# Redaction
# ---------------------------------------------------------------------------


def _secret_forms(secret: str) -> set[str]:
    """A secret as it may be written: as is, URL-encoded, JSON-escaped."""
    forms = {
        secret,
        urllib.parse.quote(secret, safe=""),
        urllib.parse.quote(secret),
        urllib.parse.quote_plus(secret, safe="/"),
        urllib.parse.quote_plus(secret),
        secret.replace("/", "\\/"),
    }
    return {f for f in forms if f}


def _redact_json(value: Any, secrets: Sequence[str]) -> Any:
    if isinstance(value, str):
        return endpoints.redact(value, secrets)
    if isinstance(value, dict):
        return {_redact_json(k, secrets): _redact_json(v, secrets) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_redact_json(v, secrets) for v in value]
    return value


# ---------------------------------------------------------------------------
# Writing
# ---------------------------------------------------------------------------


class Recorder(Protocol):
    """What a session (or a server) calls to record; :class:`CassetteWriter` is one.

    A recorder is handed URLs, headers and payloads as they are, with the
    secrets it must keep out of what it stores: redaction is its job.
    """

    @property
    def closed(self) -> bool: ...

    def add_secrets(self, secrets: Iterable[str]) -> None: ...

    def write_header(
        self,
        *,
        url: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        model: str | None = None,
        api_version: str | None = None,
    ) -> None: ...

    def write_connect(
        self, connection: int, url: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None: ...

    def write_frame(
        self, connection: int, sender: Sender, opcode: Opcode, payload: bytes | str
    ) -> None: ...

    def write_close(
        self, connection: int, code: int, reason: str = "", by: Sender | None = None
    ) -> None: ...

    def close(self) -> None: ...


_line_encoder = msgspec.json.Encoder()
# Valid raw in JSON strings, but line breaks to Python's str.splitlines() and
# to some editors: escaped, so that one event is one line for every reader.
# (UTF-8 is self-synchronising: these bytes are these characters, in strings.)
_LINE_BREAKS = (
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
    ("\u0085".encode(), b"\\u0085"),
)


def _encode_line(line: msgspec.Struct, buffer: bytearray) -> bytearray:
    """One cassette line and its ``\\n``, in ``buffer`` (or a copy when a line break is escaped)."""
    _line_encoder.encode_into(line, buffer)
    if not buffer.isascii():  # (isascii is nearly free; the searches are not)
        for raw, escaped in _LINE_BREAKS:
            if raw in buffer:
                buffer = bytearray(buffer.replace(raw, escaped))
    buffer.extend(b"\n")
    return buffer


class CassetteWriter:
    """Writes a cassette: the header, then one flushed line per event.

    ``path`` is created (or truncated) at once. ``secrets`` are the credential
    values to keep out of the file (more can be added with
    :meth:`add_secrets`); ``elide_audio`` replaces audio payloads by their
    length and hash; ``meta`` is free-form JSON data for the header.

    Where a file is already there: ``exclusive`` creates ``path`` only when
    the name is free and never writes through a symlink at it
    (``FileExistsError`` otherwise). ``staged`` leaves ``path`` as it is
    until :meth:`publish`: the cassette is written beside it and put in its
    place by one rename (:class:`rawlive.files.StagedFile`); closed
    unpublished, it is kept at ``path`` only if nothing is there. A failed
    write raises ``OSError`` naming ``path``.

    The header is written by :meth:`write_header`, or with what is known by
    the first event. Writes happen in the caller's thread (for a session: on
    the event loop); each is one small ``write`` to the OS page cache.
    Closing writes the ``end`` event; it is idempotent, and the writer is a
    context manager.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        secrets: Iterable[str] = (),
        elide_audio: bool = False,
        meta: dict[str, Any] | None = None,
        exclusive: bool = False,
        staged: bool = False,
    ) -> None:
        self.path = Path(path)
        self.elide_audio = elide_audio
        self.meta = dict(meta or {})
        self.secrets: tuple[str, ...] = ()
        self._forms: tuple[str, ...] = ()
        self._byte_forms: tuple[bytes, ...] = ()
        self.add_secrets(secrets)
        self._staged: files.StagedFile | None = None
        if staged:
            self._staged = files.StagedFile(self.path)
            fd = self._staged.fd
        elif exclusive:
            fd = files.create_new(self.path)
        else:
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _BINARY, 0o666)
        self._file: IO[bytes] | None = open(fd, "wb")  # noqa: SIM115 (closed by close())
        self._started: float | None = None
        self._buffer = bytearray()
        #: Events written so far (the header not counted).
        self.events = 0

    def __repr__(self) -> str:
        return f"<CassetteWriter {str(self.path)!r} events={self.events}>"

    @property
    def closed(self) -> bool:
        return self._file is None

    def add_secrets(self, secrets: Iterable[str]) -> None:
        """Keep these values (and their encoded forms) out of everything written from now on."""
        known = dict.fromkeys(self.secrets)
        known.update(dict.fromkeys(s for s in secrets if s and len(s) >= MIN_SECRET_LENGTH))
        self.secrets = tuple(known)
        forms = set().union(*(_secret_forms(s) for s in self.secrets)) if self.secrets else set()
        # Longest first, so that no shorter form leaves part of a longer one behind.
        self._forms = tuple(sorted(forms, key=len, reverse=True))
        self._byte_forms = tuple(f.encode("utf-8") for f in self._forms)

    # -- redaction ----------------------------------------------------------

    def _redact(self, text: str) -> str:
        """Metadata text: secret values, their forms and credential slots."""
        for form in self._forms:
            text = text.replace(form, endpoints.REDACTED)
        return endpoints.redact(text, self.secrets)

    def _redacted_headers(self, headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
        endpoint = endpoints.Endpoint(url="", headers=tuple(headers), secrets=self.secrets)
        return [(self._redact(k), self._redact(v)) for k, v in endpoint.redacted_headers()]

    # -- writing ------------------------------------------------------------

    def _now(self) -> float:
        if self._started is None:
            self.write_header()
        assert self._started is not None
        return round(time.monotonic() - self._started, 6)

    def _write(self, line: msgspec.Struct) -> None:
        if self._file is None:
            raise ClosedError(f"the cassette writer for {self.path} is closed")
        # One write per line, then a flush: a crash leaves at most a partial last line.
        buffer = _encode_line(line, self._buffer)
        try:
            self._file.write(buffer)
            self._file.flush()
        except OSError as exc:
            raise files.named(exc, self.path) from None

    def publish(self) -> None:
        """Put a ``staged`` cassette in ``path``'s place (nothing to do otherwise)."""
        if self._staged is not None:
            self._staged.publish()

    def write_header(
        self,
        *,
        url: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        model: str | None = None,
        api_version: str | None = None,
    ) -> None:
        """Write the header line; the clock of ``t`` starts here.

        Every string of it is redacted (a key passed as the model by mistake
        too). Once: when the header is already written (by an earlier call, or by
        the first event), this does nothing.
        """
        if self._started is not None:
            return
        headers = list(headers)
        self.add_secrets(endpoints.credentials(url, headers))
        created = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self._write(
            CassetteHeader(
                created=created,
                url=None if url is None else self._redact(url),
                headers=self._redacted_headers(headers),
                model=None if model is None else self._redact(model),
                api_version=None if api_version is None else self._redact(api_version),
                elide_audio=self.elide_audio,
                meta=_redact_json(self.meta, self._forms),
            )
        )
        self._started = time.monotonic()

    def write_connect(
        self, connection: int, url: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        """A connection opened (numbered from 1), with its handshake request headers."""
        t = self._now()
        headers = list(headers)
        self.add_secrets(endpoints.credentials(url, headers))
        self._write(
            ConnectEvent(
                t=t,
                connection=connection,
                url=self._redact(url),
                headers=self._redacted_headers(headers),
            )
        )
        self.events += 1

    def write_frame(
        self, connection: int, sender: Sender, opcode: Opcode, payload: bytes | str
    ) -> None:
        """One message; ``payload`` as received (``str`` for a decoded text frame) or sent."""
        t = self._now()
        text: str | None = None
        b64: str | None = None
        elided = 0
        if isinstance(payload, str):
            text = payload
        else:
            with contextlib.suppress(UnicodeDecodeError):
                text = payload.decode("utf-8")
        if text is not None:
            redacted = False
            for form in self._forms:
                if form in text:
                    text = text.replace(form, endpoints.REDACTED)
                    redacted = True
            kind = frame_kind(text)
            if self.elide_audio:
                text, elided = elide_audio_blobs(text, kind)
        else:
            assert isinstance(payload, bytes)
            data, redacted = payload, False
            for bform in self._byte_forms:
                if bform in data:
                    data = data.replace(bform, endpoints.REDACTED.encode())
                    redacted = True
            b64 = pybase64.b64encode(data).decode("ascii")
            kind = frame_kind(data)
        self._write(
            FrameEvent(
                t=t,
                connection=connection,
                sender=sender,
                opcode=opcode,
                kind=kind,
                text=text,
                b64=b64,
                elided=elided,
                redacted=redacted,
            )
        )
        self.events += 1

    def write_close(
        self, connection: int, code: int, reason: str = "", by: Sender | None = None
    ) -> None:
        """A connection ended with this code and reason; ``by``: who closed first."""
        t = self._now()
        self._write(
            CloseEvent(t=t, connection=connection, code=code, reason=self._redact(reason), by=by)
        )
        self.events += 1

    def close(self) -> None:
        """Write the ``end`` event and close the file. Idempotent."""
        if self._file is None:
            return
        try:
            self._write(EndEvent(t=self._now()))
        finally:
            file, self._file = self._file, None
            with contextlib.suppress(OSError):  # a failed write was raised already
                file.close()
            if self._staged is not None and not self._staged.published:
                self._staged.publish(replace=False)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# ---------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------

_header_decoder = msgspec.json.Decoder(CassetteHeader)
_event_decoder = msgspec.json.Decoder(CassetteEvent)


#: Bytes of whole lines decoded at a time by :class:`CassetteReader`.
_BLOCK = 1 << 20


def _lines(block: bytes) -> Iterator[bytes]:
    """The lines of a block, each with its ``\\n``: only a line feed ends a line.

    (Not ``bytes.splitlines``, which also breaks at a CR: a stray one in a bad
    line would make it look cut off, and the rest of the file be skipped.)
    """
    start = 0
    while start < len(block):
        end = block.find(b"\n", start) + 1 or len(block)
        yield block[start:end]
        start = end


class CassetteReader:
    """Reads a cassette lazily: :attr:`header` at once, then iterate for the events.

    For files too big to hold in memory; :func:`read_cassette` reads it all.
    After the iteration, :attr:`truncated` and :attr:`complete` say how the
    file ended. Raises :class:`rawlive.DecodeError` (naming the file and the
    line) for a missing or invalid header and for any bad line but a cut-off
    last one, which is skipped with a :class:`TruncatedCassetteWarning`.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.truncated = False
        self.complete = False
        self._file: IO[bytes] | None = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        self._line = 0
        # Where the truncation warning points: the caller's loop (2), or
        # the caller of read_cassette (3).
        self._stacklevel = 2
        try:
            self.header = self._read_header()
        except BaseException:
            self.close()
            raise

    def _read_header(self) -> CassetteHeader:
        assert self._file is not None
        first = self._file.readline()
        self._line = 1
        if not first.strip():
            raise DecodeError(f"{self.path} has no cassette header: the file is empty")
        try:
            header = _header_decoder.decode(first)
        except _JSON_ERRORS as exc:
            cut = "" if first.endswith(b"\n") else " (the line is cut off)"
            raise DecodeError(f"{self.path}:1: not a rawlive cassette header{cut}: {exc}") from None
        if header.version > VERSION:
            raise DecodeError(
                f"{self.path}: cassette format version {header.version} is newer than this "
                f"rawlive ({__version__}) reads (up to {VERSION}): upgrade rawlive"
            )
        return header

    def __iter__(self) -> Iterator[CassetteEvent]:
        if self._file is None:
            return
        while True:
            # Blocks of whole lines decoded in one call; a block with a bad
            # line (or an event after ``end``) is read again line by line,
            # which says where the problem is. Lines are counted only then.
            start = self._file.tell()
            block = self._file.read(_BLOCK)
            if not block:
                return
            if not block.endswith(b"\n"):
                block += self._file.readline()
            events: list[CassetteEvent] | None
            try:
                events = _event_decoder.decode_lines(block)
            except _JSON_ERRORS:
                events = None
            if events is not None and not any(type(e) is EndEvent for e in events[:-1]):
                if self.complete and events:
                    events = None  # an event after the end: found and reported below
                else:
                    if events and isinstance(events[-1], EndEvent):
                        self.complete = True
                    yield from events
                    continue
            self._line = self._lines_before(start)
            offset = start
            for raw in _lines(block):
                event = self._line_event(raw, offset)
                offset += len(raw)
                if event is None:
                    if self.truncated:
                        return
                    continue
                yield event

    def _lines_before(self, offset: int) -> int:
        """How many lines the file has before byte ``offset`` (for naming a bad line)."""
        count = 0
        with open(self.path, "rb") as file:
            while offset > 0:
                chunk = file.read(min(offset, _BLOCK))
                if not chunk:
                    break
                count += chunk.count(b"\n")
                offset -= len(chunk)
        return count

    def _line_event(self, raw: bytes, offset: int) -> CassetteEvent | None:
        """One line's event (``None`` for a blank line or a cut-off last line at ``offset``)."""
        self._line += 1
        if raw.isspace():
            return None
        try:
            event: CassetteEvent = _event_decoder.decode(raw)
        except _JSON_ERRORS as exc:
            if not raw.endswith(b"\n"):
                # A partial last line: what a killed writer leaves behind.
                self.truncated = True
                warnings.warn(
                    TruncatedCassetteWarning(
                        f"{self.path}: line {self._line} is cut off (the recording stopped "
                        f"mid-write); read up to line {self._line - 1}",
                        path=str(self.path),
                        line=self._line,
                        offset=offset,
                    ),
                    stacklevel=self._stacklevel + 1,
                )
                return None
            where = f"{self.path}:{self._line}"
            raise DecodeError(f"{where}: invalid cassette line: {exc}") from None
        if self.complete:
            raise DecodeError(f"{self.path}:{self._line}: event after the end event")
        if isinstance(event, EndEvent):
            self.complete = True
        return event

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def read_cassette(path: str | os.PathLike[str]) -> Cassette:
    """Read a whole cassette (see :class:`CassetteReader` for the errors and warnings)."""
    with CassetteReader(path) as reader:
        reader._stacklevel = 3
        events = list(reader)
        return Cassette(
            header=reader.header,
            events=events,
            truncated=reader.truncated,
            complete=reader.complete,
        )


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


def write_cassette(cassette: Cassette, path: str | os.PathLike[str]) -> None:
    """Write a cassette held in memory to ``path``, in place of a file there once whole.

    The file is written beside ``path`` and renamed over it
    (:class:`rawlive.files.StagedFile`): a write failing halfway leaves the
    old file as it was. Its events are written as they are (already
    redacted: they come from a cassette). A failed write raises ``OSError``
    naming ``path``.
    """
    staged = files.StagedFile(path)
    try:
        with open(staged.fd, "wb") as file:
            buffer = bytearray()
            for line in (cassette.header, *cassette.events):
                file.write(_encode_line(line, buffer))
        staged.publish()
    except OSError as exc:
        raise files.named(exc, path) from None
    finally:
        staged.discard()
