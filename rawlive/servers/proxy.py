"""The recording proxy: a Live API client's traffic forwarded to a server, unchanged.

:class:`Proxy` is a :class:`~rawlive.servers.base.LiveServer` that, for each
client connection it accepts, dials an upstream Live API server (the real
one, the emulator, a replay server) and copies every frame both ways as it
came: same opcode (text stays text, binary stays binary), same bytes. Closes
are mirrored with their code and reason in both directions (a close frame
with no code is passed on with no code), and a connection dropped without a
close frame on one side is dropped on the other.

The upstream URL: when ``upstream`` has no path (``wss://host``,
``ws://127.0.0.1:8765``), the client's request path and query are appended,
so whatever endpoint the client dialled (an SDK's Gemini API or Vertex AI
path, ``?key=``/``?access_token=``) reaches the same endpoint upstream. With
a path, that path is used and the client's query is appended to it. The
client's handshake headers are forwarded (``x-goog-api-key``,
``Authorization``, ``User-Agent``, custom headers...), except the hop-by-hop
and WebSocket ones, which the upstream connection sets itself. Credentials
never go in clear to another machine: with a plain ``ws://`` upstream that is
not loopback, a client whose handshake carries one is closed with 1008
before anything is dialled, and an upstream URL holding one is refused.

With ``record_dir`` every connection is recorded as the base class records
(:mod:`rawlive.servers.base`): ``from: "client"`` for frames the client sent,
``from: "server"`` for frames upstream sent, exact bytes and opcodes. The
credentials of the client's handshake (the ``x-goog-api-key`` and
``Authorization`` headers, the ``key``/``access_token`` query parameters) are
secrets of that cassette: redacted wherever they appear, frames included.

``on_frame`` is called with the connection's capture and each
:class:`~rawlive.servers.base.Frame` as it passes (before it is forwarded), and the
base's ``on_close`` when a connection has ended, for live checks such as
``rawlive proxy --audit`` (:class:`rawlive.tools.audit.LiveAudit`); an exception a
hook raises is logged and the frame still goes through.

Point the official Python SDK at a proxy listening on ``wss://`` (it only
dials ``wss://``; give the proxy a certificate for 127.0.0.1)::

    SSL_CERT_FILE=ca.pem python app.py   # the CA that signed the proxy's certificate

with ``genai.Client(api_key=..., http_options={"base_url": "https://127.0.0.1:PORT"})``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import ssl as ssl_module
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

import websockets
from websockets.asyncio.connection import Connection
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus, InvalidURI

from rawlive.errors import ConfigError
from rawlive.servers.base import (
    CapturedConnection,
    Direction,
    Frame,
    LiveServer,
    Peer,
    frame_data,
)
from rawlive.wire import endpoints

__all__ = [
    "CLOSE_BAD_GATEWAY",
    "FrameHook",
    "Proxy",
    "forwarded_headers",
    "upstream_url",
]

log = logging.getLogger("rawlive.servers.proxy")

#: The close code sent to the client when upstream cannot be reached (Bad Gateway).
CLOSE_BAD_GATEWAY = 1014

#: ``on_frame(connection, frame)``: called for every frame passing through.
FrameHook = Callable[[CapturedConnection, Frame], None]

#: The close code sent to a client whose credentials would go upstream in clear.
CLOSE_POLICY = 1008
_CLEAR_TEXT_REASON = "the proxy forwards no credentials over plain ws:// to another host"

# Handshake headers the upstream connection sets itself, or that concern this hop only.
_HOP_HEADERS = frozenset(
    {
        "host",
        "connection",
        "upgrade",
        "keep-alive",
        "te",
        "trailer",
        "transfer-encoding",
        "content-length",
        "proxy-connection",
        "proxy-authorization",
        "proxy-authenticate",
    }
)


def upstream_url(upstream: str, request_path: str) -> str:
    """The URL to dial upstream for a client request path (with its query)."""
    parts = urllib.parse.urlsplit(upstream)
    path, _, query = request_path.partition("?")
    if parts.path in ("", "/"):
        return urllib.parse.urlunsplit((parts.scheme, parts.netloc, path or "/", query, ""))
    joined = "&".join(q for q in (parts.query, query) if q)
    return urllib.parse.urlunsplit((parts.scheme, parts.netloc, parts.path, joined, ""))


def forwarded_headers(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """The client's handshake headers worth passing upstream (no hop-by-hop, no WebSocket)."""
    return [
        (name, value)
        for name, value in headers
        if name.lower() not in _HOP_HEADERS and not name.lower().startswith("sec-websocket-")
    ]


def _upstream_ssl(
    upstream: str, ca_file: str | os.PathLike[str] | None
) -> ssl_module.SSLContext | None:
    if not upstream.startswith("wss://"):
        if ca_file is not None:
            raise ConfigError("upstream_ca_file is for a wss:// upstream")
        return None
    try:
        return ssl_module.create_default_context(
            cafile=None if ca_file is None else os.fspath(ca_file)
        )
    except (OSError, ssl_module.SSLError) as exc:
        raise ConfigError(f"cannot load the upstream CA file {ca_file!r}: {exc}") from None


class Proxy(LiveServer):
    """Forwards each client connection to ``upstream`` (``ws://`` or ``wss://``), unchanged.

    ``upstream_ca_file`` trusts a ``wss://`` upstream's certificate (else the
    system's CAs). ``on_frame`` sees every frame (see the module docstring);
    ``open_timeout`` bounds the upstream handshake. The other arguments are
    :class:`~rawlive.servers.base.LiveServer`'s (``ssl`` to listen on ``wss://``,
    ``record_dir`` to record each connection).

    Backpressure: each direction forwards a frame before it reads the next,
    and both connections buffer at most ``max_queue`` received frames (1 by
    default; ``websockets``' 16 would hold 16 frames of up to ``max_size``
    each), so a side that stops reading stops the proxy reading the other
    side, and a connection holds a few frames at most. A side that takes no
    frame for ``stall_timeout`` seconds (``None``: wait for ever) is dropped,
    and the other side with it: an upstream that stops reading for good does
    not hold the connection, nor :meth:`stop`, for ever (while the proxy
    waits on it, it reads nothing from the client, not even a drop).
    """

    def __init__(
        self,
        upstream: str,
        *,
        upstream_ca_file: str | os.PathLike[str] | None = None,
        on_frame: FrameHook | None = None,
        open_timeout: float | None = 10.0,
        max_queue: int = 1,
        stall_timeout: float | None = 60.0,
        **kwargs: Any,
    ) -> None:
        if not upstream.startswith(("ws://", "wss://")):
            raise ConfigError(
                f"upstream must be a ws:// or wss:// URL, got {endpoints.redact(upstream)!r}"
            )
        # A credential written in the upstream URL (``user:password@``, ``?key=``)
        # is kept out of every connection's log lines and cassette.
        upstream_secrets = [
            s
            for s in endpoints.credentials(upstream)
            if len(s) >= endpoints.MIN_FOUND_SECRET_LENGTH
        ]
        # Checked now: dialling a bad one (``ws://:8765``, a bad port) would fail
        # for every client with the URL, the client's credentials appended, in
        # the error; one in the URL itself must not go in clear to another host.
        endpoints.check_url(upstream, upstream_secrets, what="upstream")
        if endpoints.credentials(upstream):
            sent = [("the credential in the upstream URL", "remove it from the URL")]
            endpoints.check_transport(upstream, sent, upstream_secrets)
        super().__init__(max_queue=max_queue, **kwargs)
        self.upstream = upstream
        self._upstream_secrets = upstream_secrets
        self.upstream_ssl = _upstream_ssl(upstream, upstream_ca_file)
        self.on_frame = on_frame
        self.open_timeout = open_timeout
        if stall_timeout is not None and not stall_timeout > 0:
            raise ConfigError(
                f"stall_timeout must be positive (None: no limit), not {stall_timeout}"
            )
        self.stall_timeout = stall_timeout

    async def session(self, peer: Peer) -> None:
        request = peer.ws.request
        assert request is not None
        headers = list(request.headers.raw_items())
        secrets = endpoints.credentials(request.path, headers) + self._upstream_secrets
        if peer.recorder is not None:
            # The base learns the credential slots too; these also cover a
            # bare credential (``Bearer`` stripped, query value decoded).
            peer.recorder.writer.add_secrets(secrets)
        url = upstream_url(self.upstream, request.path)
        forwarded = forwarded_headers(headers)
        if endpoints.credentials(request.path, forwarded):
            # Forwarded unchanged, but never in clear to another machine.
            sent = [("the client's credentials", "the client connects without them")]
            try:
                endpoints.check_transport(url, sent, secrets)
            except ConfigError as exc:
                log.warning("refusing connection %d: %s", peer.capture.number, exc)
                await peer.close(CLOSE_POLICY, _CLEAR_TEXT_REASON)
                return
        user_agent = next((v for k, v in forwarded if k.lower() == "user-agent"), None)
        forwarded = [(k, v) for k, v in forwarded if k.lower() != "user-agent"]
        try:
            upstream = await websockets.connect(
                url,
                additional_headers=forwarded,
                user_agent_header=user_agent,
                ssl=self.upstream_ssl,
                max_size=self.max_size,
                max_queue=self.max_queue,
                compression=None,
                ping_interval=None,
                open_timeout=self.open_timeout,
                logger=endpoints.RedactingLogger(
                    logging.getLogger("rawlive.servers.proxy.upstream"), secrets
                ),
            )
        except (OSError, TimeoutError, InvalidHandshake, InvalidURI, ValueError) as exc:
            detail = (
                f"HTTP {exc.response.status_code}"
                if isinstance(exc, InvalidStatus)
                else type(exc).__name__
            )
            log.warning(
                "cannot reach upstream %s: %s",
                endpoints.redact(url, secrets),
                endpoints.redact(str(exc), secrets),
            )
            await peer.close(CLOSE_BAD_GATEWAY, f"upstream unavailable: {detail}")
            return
        async with contextlib.AsyncExitStack() as stack:
            stack.push_async_callback(upstream.close)
            down = asyncio.create_task(self._pump(peer, peer.ws, upstream, "client"))
            up = asyncio.create_task(self._pump(peer, upstream, peer.ws, "server"))
            try:
                await asyncio.wait({down, up}, return_when=asyncio.FIRST_COMPLETED)
                # One side ended and its end was passed on; the other follows.
                await asyncio.wait({down, up}, timeout=_close_timeout(peer.ws, upstream))
            finally:
                for task in (down, up):
                    if not task.done():
                        task.cancel()
                await asyncio.gather(down, up, return_exceptions=True)
                for ws in (peer.ws, upstream):
                    if ws.protocol.close_sent is None or ws.protocol.close_rcvd is None:
                        ws.transport.abort()  # no complete closing handshake: drop it
            for task in (down, up):
                if not task.cancelled() and task.exception() is not None:
                    log.error("proxy pump failed", exc_info=task.exception())

    async def _pump(
        self, peer: Peer, source: Connection, target: Connection, sender: Direction
    ) -> None:
        """Copy ``source``'s frames to ``target`` until ``source`` ends, then mirror the end."""
        capture = peer.capture
        hook = self.on_frame
        capturing = peer.capturing or hook is not None
        try:
            while True:
                data = await source.recv(decode=None)
                if sender == "client":
                    peer.first_frame.set()
                if capturing:
                    opcode, payload = frame_data(data)
                    frame = peer.record(sender, opcode, payload, frame=hook is not None)
                    if hook is not None and frame is not None:
                        try:
                            hook(capture, frame)
                        except Exception:
                            log.exception("on_frame hook failed")
                try:
                    async with asyncio.timeout(self.stall_timeout):
                        await target.send(data)
                except ConnectionClosed:
                    return  # the target ended first: its own pump passes that on
                except TimeoutError:
                    taker = "upstream" if sender == "client" else "client"
                    log.warning(
                        "connection %d: the %s took no frame for %g s; dropping both sides",
                        capture.number,
                        taker,
                        self.stall_timeout,
                    )
                    target.transport.abort()  # a frame is half sent: nothing else will do
                    source.transport.abort()
                    return
        except ConnectionClosed:
            pass
        await _mirror_close(source, target)


def _close_timeout(*connections: Connection) -> float:
    timeouts = [c.close_timeout for c in connections if c.close_timeout is not None]
    return 2 * max(timeouts, default=10.0) + 1.0


async def _mirror_close(source: Connection, target: Connection) -> None:
    """End ``target`` as ``source`` ended: the same close code and reason, or a drop."""
    protocol = source.protocol
    rcvd = protocol.close_rcvd
    if rcvd is None:
        sent = protocol.close_sent
        if sent is not None and target.protocol.close_rcvd is not None:
            return  # we closed ``source`` because ``target`` closed: nothing to pass on
        target.transport.abort()  # dropped with no close frame: drop the other side too
        return
    if target.protocol.close_sent is not None or target.protocol.close_rcvd is not None:
        return  # the other side is already closing (it closed first, or was mirrored)
    if rcvd.code == 1005:  # a close frame with no code: passed on with none
        with contextlib.suppress(ConnectionClosed):
            await target.close(None, "")  # type: ignore[arg-type]
        return
    await target.close(rcvd.code, rcvd.reason)
