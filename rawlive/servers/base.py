"""The small base that rawlive's local servers share.

rawlive runs Live API servers on 127.0.0.1 for tests and offline work: a
capture server (here), the emulator, the replay server and the proxy. They
share what this module owns: starting a ``websockets`` server on an ephemeral
or given port, with TLS when given a certificate (the official Python SDK
only dials ``wss://``); capturing each connection's handshake (path, query,
headers) and every frame both ways with its opcode and time; reading and
validating the client's first message, which must be a ``setup`` with a
model, closing with the real server's code and reason otherwise.

Two guards protect a server on a developer's machine. A connection that sends
no first message within ``setup_timeout`` seconds is closed (1008, see
:data:`CLOSE_SETUP_TIMEOUT`), so idle sockets do not pile up. A handshake
whose ``Origin`` header names a browser page other than a local one
(``http(s)://localhost``, ``127.0.0.1`` or ``[::1]``, any port) is refused
with HTTP 403 unless listed in ``allow_origins``: without it any web page the
user opens could talk to the server (cross-site WebSocket, DNS rebinding).
Clients that are not browsers send no ``Origin`` and are accepted.

Subclasses override :meth:`LiveServer.session`, which runs once per
connection after the handshake.

Recording: with ``record_dir``, every connection is written to its own
cassette (:mod:`rawlive.cassette`) in that directory, named
``connection-0001.jsonl``, ``connection-0002.jsonl``... in the order the
connections were accepted (a subclass may leave some out:
:meth:`LiveServer.records`). The directory is created and checked when the
server is made (:class:`~rawlive.errors.ConfigError` if no file can be
created there); numbering goes on after the highest recording already there,
and no existing file is overwritten nor a symlink written through (a name
taken meanwhile is skipped). It
is the server's view: the handshake as ``connect`` (URL ``ws://host:port`` plus
the request path, request headers redacted), the frames received as ``from:
"client"``, the frames sent as ``from: "server"`` (with their opcode and exact
bytes) and the ``close`` (``by`` the side that sent the first close frame).
The header's model is the first frame's ``setup.model``. Frames are
captured in one place, :meth:`Peer.record`: a subclass that moves frames
without :meth:`Peer.recv` and :meth:`Peer.send` calls it for each frame.

Memory: a server keeps what a connection needs while it is open. Once it has
ended, ``connections`` keeps a summary of it (handshake, close code and
reason; not its setup or frames), for the latest ``keep_closed`` closed
connections only, unless ``capture_frames`` asked to keep everything
(:class:`CaptureServer` does, for tests).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import re
import ssl
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable
from http import HTTPStatus
from pathlib import Path
from types import TracebackType
from typing import Any, Literal, Self

import msgspec
import websockets
from websockets.asyncio.server import Server, ServerConnection
from websockets.exceptions import ConcurrencyError, ConnectionClosed
from websockets.http11 import Request, Response

from rawlive import cassette
from rawlive.core.closing import first_close
from rawlive.errors import ConfigError, DecodeError, SetupRejected
from rawlive.wire import codec, endpoints
from rawlive.wire import types as t

__all__ = [
    "CLOSE_INVALID_ARGUMENT",
    "CLOSE_SETUP_TIMEOUT",
    "DEFAULT_SETUP_TIMEOUT",
    "CaptureServer",
    "CapturedConnection",
    "CloseHook",
    "ConnectionEnd",
    "Frame",
    "LiveServer",
    "Peer",
    "SetupRejected",
    "check_client_message",
    "check_origin",
    "connection_end",
    "frame_data",
    "origin_allowed",
    "server_ssl_context",
]

log = logging.getLogger("rawlive.servers.base")

# The real server's close reasons (PROTOCOL.md §5.3).
CLOSE_INVALID_ARGUMENT = (1007, "Request contains an invalid argument.")
#: Closing a connection that sent no setup in time: no real server's close is
#: recorded for it, so 1008 (policy violation: the client broke the rule that
#: setup comes first) rather than 1011, which says the server failed and which
#: clients treat as worth retrying. The reason is formatted with the timeout.
CLOSE_SETUP_TIMEOUT = (
    1008,
    "no setup message within {seconds:g} s of connecting; send setup first",
)
#: Seconds a connection may take to send its first message (``setup``).
DEFAULT_SETUP_TIMEOUT = 30.0

_LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "[::1]"})

Opcode = Literal["text", "binary"]
Direction = Literal["client", "server"]


@dataclasses.dataclass
class Frame:
    """One WebSocket message: who sent it, when (seconds since the handshake)."""

    sender: Direction
    opcode: Opcode
    payload: bytes
    time: float

    @property
    def text(self) -> str:
        return self.payload.decode("utf-8", errors="replace")


@dataclasses.dataclass
class CapturedConnection:
    """A connection as the server saw it: handshake, frames and close."""

    path: str
    query: dict[str, list[str]]
    headers: list[tuple[str, str]]
    frames: list[Frame] = dataclasses.field(default_factory=list)
    setup: t.LiveClientSetup | None = None
    close_code: int | None = None
    close_reason: str | None = None
    closed: asyncio.Event = dataclasses.field(default_factory=asyncio.Event)
    #: The connection's number on this server, from 1 (its cassette's number too).
    number: int = 0

    def header(self, name: str) -> str | None:
        """The first header of that name (case-insensitive), or ``None``."""
        lowered = name.lower()
        return next((v for k, v in self.headers if k.lower() == lowered), None)

    def client_frames(self) -> list[Frame]:
        return [f for f in self.frames if f.sender == "client"]


def server_ssl_context(
    certfile: str | os.PathLike[str], keyfile: str | os.PathLike[str] | None = None
) -> ssl.SSLContext:
    """A TLS server context from a PEM certificate chain and key."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.fspath(certfile), os.fspath(keyfile) if keyfile else None)
    return context


def _origin_parts(origin: str) -> tuple[str, str] | None:
    """``(scheme, host[:port])`` of a serialized origin, lower-cased; ``None`` if not one."""
    scheme, sep, rest = origin.strip().lower().partition("://")
    if not sep or not scheme or not rest or any(c in rest for c in "/?#@ "):
        return None
    return scheme, rest


def check_origin(origin: str) -> str:
    """An ``allow_origins`` entry, normalized; :class:`ConfigError` if it is not an origin."""
    if origin == "*":
        return origin
    parts = _origin_parts(origin)
    if parts is None:
        raise ConfigError(
            f"origin {origin!r} is not scheme://host[:port] "
            "(as a browser sends it: https://app.example, http://localhost:3000) or *"
        )
    return "://".join(parts)


def origin_allowed(origin: str | None, allowed: Iterable[str]) -> bool:
    """Whether a handshake with this ``Origin`` header (``None``: none) may connect.

    No ``Origin`` (not a browser), a local page (``http(s)://localhost``,
    ``127.0.0.1`` or ``[::1]``, any port) and the ``allowed`` origins (exact,
    case-insensitive; ``*`` for any) may; any other page may not.
    """
    if origin is None:
        return True
    parts = _origin_parts(origin)
    if parts is None:  # "null" (a sandboxed frame, a file:// page) or garbage
        return "*" in allowed
    scheme, authority = parts
    host, _, port = authority.rpartition(":")
    if not port.isdigit() or not host:
        host = authority
    if scheme in ("http", "https") and host in _LOCAL_HOSTS:
        return True
    normalized = f"{scheme}://{authority}"
    return any(a == "*" or a == normalized for a in allowed)


class LiveServer:
    """A Live API server on a local port; subclasses implement :meth:`session`.

    Use it as an async context manager; ``url`` is then ``ws://host:port``
    (``wss://`` with ``ssl``). ``connections`` holds the connections'
    captures, in order: with ``capture_frames``, every one of them with its
    frames and setup; otherwise the open ones and the latest ``keep_closed``
    closed ones, each reduced to a summary when it ends (see the module
    docstring). ``record_dir`` records each connection into a cassette there.
    ``setup_timeout`` closes a connection that sends no first message in that
    many seconds (``None`` or 0: never); ``allow_origins`` lists the browser
    origins accepted besides local pages (see the module docstring).
    ``max_queue`` is how many received frames ``websockets`` buffers per
    connection before it stops reading from the socket (backpressure on a
    client sending faster than the session reads; each frame up to
    ``max_size`` bytes). ``reuse_port`` binds with ``SO_REUSEPORT`` so that
    several processes serve one port (the emulator's workers; the kernel
    spreads the connections); ``server_header`` replaces the handshake's
    ``Server`` header (``None``: ``websockets``' own).
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        ssl: ssl.SSLContext | None = None,
        max_size: int | None = 16 * 2**20,
        max_queue: int = 16,
        capture_frames: bool = False,
        keep_closed: int = 256,
        record_dir: str | os.PathLike[str] | None = None,
        on_close: CloseHook | None = None,
        setup_timeout: float | None = DEFAULT_SETUP_TIMEOUT,
        allow_origins: Iterable[str] = (),
        reuse_port: bool = False,
        server_header: str | None = None,
    ) -> None:
        if keep_closed < 0:
            raise ConfigError(f"keep_closed must be 0 or more, not {keep_closed}")
        if setup_timeout is not None and not setup_timeout >= 0:
            raise ConfigError(f"setup_timeout must not be negative, got {setup_timeout}")
        #: Seconds a connection may take to send its first message (``None``: no limit).
        self.setup_timeout = setup_timeout or None
        #: Browser origins accepted besides local pages (normalized; ``*``: any).
        self.allow_origins = tuple(check_origin(o) for o in allow_origins)
        self.host = host
        #: ``on_close(capture, end)``: called once per connection when it has ended.
        self.on_close = on_close
        #: Where each connection's cassette is written (``None``: not recorded).
        self.record_dir = None if record_dir is None else Path(record_dir)
        #: The number of the last recording in ``record_dir``.
        self._recorded = 0 if self.record_dir is None else _prepare_record_dir(self.record_dir)
        #: Keep every connection, its setup and every frame in memory (for
        #: tests); off, a closed connection leaves only a summary behind.
        self.capture_frames = capture_frames
        #: Without ``capture_frames``: how many closed connections to keep.
        self.keep_closed = keep_closed
        #: Connections accepted so far (``connections`` may hold fewer).
        self.accepted = 0
        self.port = port
        self.ssl = ssl
        self.max_size = max_size
        self.max_queue = max_queue
        self.reuse_port = reuse_port
        self.server_header = server_header
        self.connections: list[CapturedConnection] = []
        self._server: Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self.new_connection = asyncio.Condition()

    @property
    def url(self) -> str:
        scheme = "wss" if self.ssl else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    async def start(self) -> None:
        extra: dict[str, Any] = {}
        if self.reuse_port:
            extra["reuse_port"] = True
        if self.server_header is not None:
            extra["server_header"] = self.server_header
        self._server = await websockets.serve(
            self._handle,
            self.host,
            self.port,
            ssl=self.ssl,
            max_size=self.max_size,
            max_queue=self.max_queue,
            compression=None,
            ping_interval=None,
            process_request=self._check_request,
            # Clients send credentials in the handshake: keep them out of the
            # log, which prints every request header at DEBUG.
            logger=endpoints.RedactingLogger(logging.getLogger("websockets.server"), ()),
            **extra,
        )
        sockets = list(self._server.sockets)
        self.port = sockets[0].getsockname()[1]

    def accepts_path(self, path: str) -> bool:
        """Whether to accept a WebSocket at this path (without its query); all, here."""
        return True

    def refuse_handshake(self, ws: ServerConnection, request: Request) -> Response | None:
        """An HTTP answer instead of the upgrade (``ws.respond(...)``), or ``None`` to accept.

        Asked for a handshake to an accepted path from an allowed origin;
        none is refused here (the emulator's quota may refuse some).
        """
        return None

    def ended(self, capture: CapturedConnection, end: ConnectionEnd) -> None:
        """A connection has ended (before ``on_close``); nothing here, the emulator counts it."""

    def records(self, number: int) -> bool:
        """Whether ``record_dir`` gets connection ``number`` (from 1); every one, here."""
        return True

    def _check_request(self, ws: ServerConnection, request: Request) -> Response | None:
        origin = request.headers.get("Origin")
        if not origin_allowed(origin, self.allow_origins):
            log.warning("refusing a connection from the web page of origin %r", origin)
            return ws.respond(
                HTTPStatus.FORBIDDEN,
                f"connections from web pages of origin {origin} are refused; "
                "allow it with --allow-origin (allow_origins=)\n",
            )
        path = request.path.partition("?")[0]  # not urlsplit: "//ws/..." is no netloc here
        if self.accepts_path(path):
            return self.refuse_handshake(ws, request)
        log.info("refusing a connection to unknown path %s", path)
        return ws.respond(HTTPStatus.NOT_FOUND, f"no Live API endpoint at {path}\n")

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def wait_for_connections(self, count: int, timeout: float = 5.0) -> None:
        """Wait until at least ``count`` connections have been accepted."""
        async with self.new_connection:
            await asyncio.wait_for(
                self.new_connection.wait_for(lambda: self.accepted >= count), timeout
            )

    # -- per connection -------------------------------------------------------

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        path, _, query = request.path.partition("?")
        capture = CapturedConnection(
            path=path,
            query=urllib.parse.parse_qs(query),
            headers=list(request.headers.raw_items()),
        )
        async with self.new_connection:
            self.accepted += 1
            capture.number = self.accepted
            self.connections.append(capture)
            self.new_connection.notify_all()
        recorder = self._recorder(request) if self.records(capture.number) else None
        conn = Peer(
            ws, capture, time.monotonic(), keep_frames=self.capture_frames, recorder=recorder
        )
        deadline = (
            None
            if self.setup_timeout is None
            else asyncio.create_task(_setup_deadline(conn, self.setup_timeout))
        )
        try:
            await self.session(conn)
        except (ConnectionClosed, SetupRejected):
            pass
        except Exception:
            log.exception("server session failed")
            await conn.close(1011, "Internal error occurred.")
        finally:
            if deadline is not None:
                deadline.cancel()
            await ws.wait_closed()
            capture.close_code = ws.close_code
            capture.close_reason = ws.close_reason
            end = connection_end(ws, time.monotonic() - conn.started)
            if recorder is not None:
                recorder.finish(end)
            try:
                self.ended(capture, end)
            except Exception:
                log.exception("counting a connection's end failed")
            if self.on_close is not None:
                try:
                    self.on_close(capture, end)
                except Exception:
                    log.exception("on_close hook failed")
            capture.closed.set()
            if not self.capture_frames:
                self._summarise(capture)

    def _summarise(self, capture: CapturedConnection) -> None:
        """Reduce an ended connection to its summary; keep the latest ``keep_closed``."""
        capture.setup = None
        closed = [c for c in self.connections if c.closed.is_set()]
        excess = {id(c) for c in closed[: max(len(closed) - self.keep_closed, 0)]}
        if excess:
            self.connections[:] = [c for c in self.connections if id(c) not in excess]

    def _recorder(self, request: Request) -> _ConnectionRecorder | None:
        if self.record_dir is None:
            return None
        while True:
            self._recorded += 1
            path = self.record_dir / f"connection-{self._recorded:04d}.jsonl"
            try:
                writer = cassette.CassetteWriter(path, exclusive=True)
            except FileExistsError:
                continue  # taken since the start (another server, a planted symlink)
            except OSError as exc:
                log.error("not recording a connection: cannot create %s: %s", path, exc.strerror)
                return None
            break
        return _ConnectionRecorder(writer, self.url + request.path, request.headers.raw_items())

    async def session(self, peer: Peer) -> None:
        """Serve one connection; the default reads ``setup`` and echoes nothing."""
        await peer.read_setup()
        await peer.send(t.LiveServerMessage(setup_complete=t.LiveServerSetupComplete()))
        async for _ in peer:
            pass


_RECORDING = re.compile(r"connection-([0-9]+)\.jsonl")


def _prepare_record_dir(path: Path) -> int:
    """Create ``path`` if need be, check a file can be created in it, and return the
    highest connection number recorded there already (0: none)."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=path, prefix=".rawlive-probe-")
        os.close(fd)
        os.unlink(probe)
        names = os.listdir(path)
    except OSError as exc:
        raise ConfigError(
            f"cannot record into {path}: {exc.strerror or exc}; give a folder rawlive can write"
        ) from None
    numbers = (int(m.group(1)) for name in names if (m := _RECORDING.fullmatch(name)))
    return max(numbers, default=0)


async def _setup_deadline(peer: Peer, seconds: float) -> None:
    """Close ``peer`` if its first frame has not come within ``seconds``."""
    try:
        await asyncio.wait_for(peer.first_frame.wait(), seconds)
        return
    except TimeoutError:
        pass
    log.info("closing: no first message within %g s of connecting", seconds)
    code, reason = CLOSE_SETUP_TIMEOUT
    # Shielded: the session ending (the close makes it end) cancels this task,
    # not the closing handshake.
    await asyncio.shield(peer.close(code, reason.format(seconds=seconds)))


def _fit_reason(reason: str, limit: int = 123) -> str:
    encoded = reason.encode()
    if len(encoded) <= limit:
        return reason
    return encoded[:limit].decode("utf-8", errors="ignore")


class _ConnectionRecorder:
    """One connection's cassette, written from the server's side."""

    def __init__(
        self, writer: cassette.CassetteWriter, url: str, headers: Iterable[tuple[str, str]]
    ) -> None:
        self.writer = writer
        self.url = url
        self.headers = list(headers)
        self.started = False

    def _start(self, first: bytes | None) -> None:
        self.started = True
        self.writer.write_header(url=self.url, model=_setup_model(first))
        self.writer.write_connect(1, self.url, self.headers)

    def frame(self, sender: Direction, opcode: Opcode, payload: bytes) -> None:
        if not self.started:
            self._start(payload if sender == "client" else None)
        self.writer.write_frame(1, sender, opcode, payload)

    def finish(self, end: ConnectionEnd) -> None:
        """Write the close and end the cassette."""
        if not self.started:
            self._start(None)
        self.writer.write_close(1, end.code, end.reason, end.by)
        self.writer.close()


@dataclasses.dataclass(frozen=True)
class ConnectionEnd:
    """How a connection ended: the close code and reason, and who closed first.

    ``by`` is ``"client"`` or ``"server"`` (this server's side), ``None``
    when it dropped with no close frame (code 1006). ``time``: seconds since
    the handshake.
    """

    code: int
    reason: str
    by: Direction | None
    time: float


#: ``on_close(capture, end)``: called when a connection has ended.
CloseHook = Callable[[CapturedConnection, ConnectionEnd], None]


def connection_end(ws: ServerConnection, when: float) -> ConnectionEnd:
    """The end of a closed connection as its closing handshake tells it (:func:`first_close`)."""
    end = first_close(ws.protocol, "server")
    return ConnectionEnd(end.code, end.reason, end.by, when)


def frame_data(data: str | bytes) -> tuple[Opcode, bytes]:
    """A received message's opcode and bytes (``websockets`` gives a text frame as ``str``)."""
    if isinstance(data, str):
        return "text", data.encode()
    return "binary", data


def _setup_model(payload: bytes | None) -> str | None:
    """``setup.model`` of a first frame, if it has one."""
    if payload is None:
        return None
    try:
        setup = codec.decode_client_message(payload).setup
    except DecodeError:
        return None
    return setup.model if setup is not None else None


_CLIENT_KINDS = tuple(f.name for f in msgspec.structs.fields(t.LiveClientMessage))


def check_client_message(payload: bytes | str) -> t.LiveClientMessage:
    """Decode a client frame as the real server judges it; :class:`DecodeError` if invalid.

    The real server parses proto3 JSON strictly: besides a frame that does not
    decode, a field it does not know and a message with more than one kind
    (the envelope is a oneof) are invalid arguments (1007).
    """
    message, report = codec.inspect_frame(payload, direction="client")
    assert isinstance(message, t.LiveClientMessage)
    if report.unknown_fields:
        raise DecodeError(
            f"unknown field(s): {', '.join(report.unknown_fields)}", path=report.unknown_fields[0]
        )
    kinds = [name for name in _CLIENT_KINDS if getattr(message, name) is not None]
    if len(kinds) != 1:
        raise DecodeError(f"a client message has exactly one kind; this one has {', '.join(kinds)}")
    return message


class Peer:
    """One client connection, as a server session sees it: frames both ways, logged."""

    def __init__(
        self,
        ws: ServerConnection,
        capture: CapturedConnection,
        started: float,
        *,
        keep_frames: bool = True,
        recorder: _ConnectionRecorder | None = None,
    ) -> None:
        self.ws = ws
        self.capture = capture
        self.started = started
        self.keep_frames = keep_frames
        self.recorder = recorder
        #: Set when the client's first frame has come (the setup timeout stops).
        self.first_frame = asyncio.Event()

    @property
    def capturing(self) -> bool:
        """Whether frames are kept (``keep_frames``) or recorded: :meth:`record` wants them."""
        return self.keep_frames or self.recorder is not None

    def record(
        self, sender: Direction, opcode: Opcode, payload: bytes, *, frame: bool = False
    ) -> Frame | None:
        """Capture a frame that passed: keep it (``keep_frames``) and write it to the cassette.

        The one place a server captures frames: :meth:`recv` and :meth:`send`
        call it, and so does a subclass that moves frames itself (the proxy).
        Returns the :class:`Frame` kept, or made because ``frame`` asks for
        one (for an ``on_frame`` hook), else ``None``.
        """
        captured = None
        if self.keep_frames or frame:
            captured = Frame(sender, opcode, payload, self._now())
            if self.keep_frames:
                self.capture.frames.append(captured)
        if self.recorder is not None:
            self.recorder.frame(sender, opcode, payload)
        return captured

    def _now(self) -> float:
        return time.monotonic() - self.started

    async def recv(self) -> bytes:
        """The next client frame's payload (raises ``ConnectionClosed`` at the end)."""
        # Captures keep the opcode, so text frames are decoded then; otherwise
        # bytes come straight through (the codec reads bytes).
        capturing = self.capturing
        data = await self.ws.recv(decode=None if capturing else False)
        self.first_frame.set()
        opcode, payload = frame_data(data)
        if capturing:
            self.record("client", opcode, payload)
        return payload

    def __aiter__(self) -> Peer:
        return self

    async def __anext__(self) -> bytes:
        try:
            return await self.recv()
        except ConnectionClosed:
            raise StopAsyncIteration from None

    async def send(
        self, message: t.LiveServerMessage | bytes | str, *, opcode: Opcode = "text"
    ) -> None:
        """Send a server message (or raw JSON) as a text or binary frame, captured."""
        if isinstance(message, t.LiveServerMessage):
            payload = codec.encode_server_message(message)
        elif isinstance(message, str):
            payload = message.encode()
        else:
            payload = message
        self.record("server", opcode, payload)
        # Bytes as they are, whatever the opcode: no decoding to str and back.
        await self.ws.send(payload, text=opcode == "text")

    async def close(self, code: int = 1000, reason: str = "") -> None:
        """Close with a code and reason; reasons are cut to the 123 bytes a close frame holds.

        The client's frames are read (and captured) until its close frame
        comes: unread, the frames it sent before it saw ours would fill
        ``websockets``' bounded queue, which then stops reading the socket,
        and the client's close frame would wait there until ``close_timeout``
        (10 s) ended the connection.
        """
        reading = asyncio.create_task(self._read_to_the_end())
        try:
            await self.ws.close(code, _fit_reason(reason))
        finally:
            reading.cancel()
            await asyncio.wait({reading})

    async def _read_to_the_end(self) -> None:
        # (A reader elsewhere, already in recv(), reads them itself.)
        with contextlib.suppress(ConnectionClosed, ConcurrencyError):
            async for _ in self:
                pass

    def abort(self) -> None:
        """Drop the TCP connection with no close frame (the client sees 1006)."""
        self.ws.transport.abort()

    async def read_setup(
        self, known_models: Iterable[str] | None = None, *, strict: bool = False
    ) -> t.LiveClientSetup:
        """Read and check the first client message; close as the real server does if bad.

        It must decode, be a ``setup`` and carry a ``model``; otherwise the
        connection closes with 1007 and the real reason text. With ``strict``
        it is judged as the real server does (:func:`check_client_message`:
        no unknown field, one message kind).
        """
        payload = await self.recv()
        try:
            message = (
                check_client_message(payload) if strict else codec.decode_client_message(payload)
            )
        except DecodeError as exc:
            log.info("closing: first frame is not a valid client message: %s", exc)
            await self.close(*CLOSE_INVALID_ARGUMENT)
            raise SetupRejected(str(exc)) from None
        if message.setup is None or not message.setup.model:
            log.info("closing: the first message must be a setup with a model")
            await self.close(*CLOSE_INVALID_ARGUMENT)
            raise SetupRejected("first message is not a setup with a model")
        self.capture.setup = message.setup
        return message.setup


class CaptureServer(LiveServer):
    """Answers ``setup`` with ``setupComplete`` and records everything; for tests.

    It keeps every connection with its setup and frames (``capture_frames``
    on by default).
    """

    def __init__(self, *, capture_frames: bool = True, **options: Any) -> None:
        super().__init__(capture_frames=capture_frames, **options)
