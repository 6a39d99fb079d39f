"""The local TLS Live server the ``client.*`` benchmarks talk to, run in its own process.

``python -m bench._server --cert CHAIN.pem --key KEY.pem --mode e2e|stall|sink``
serves a :class:`rawlive.servers.base.LiveServer` subclass on an ephemeral port of
127.0.0.1 with TLS, prints the port on one line of stdout and serves until it
is terminated (or its stdin closes). It runs in a separate process so that its
CPU time never counts as the client's.

Every reply is the same pre-encoded ``serverContent.modelTurn`` message of
200 ms of 24 kHz s16le audio in base64 ``inlineData`` (built once at start),
sent as a text or binary frame (``--opcode``); client frames after ``setup``
are counted, never decoded (the server's CPU is not what is measured, but it
shares the machine's two cores).

Modes, after ``setup`` / ``setupComplete``:

* ``e2e``: one reply after every ``--per-reply`` client frames (2: one 200 ms
  reply per two 100 ms chunks), then, at the client's ``audioStreamEnd``, any
  replies still owed and a ``turnComplete``. The count of chunks is the
  client's choice, so a short warm-up session and the measured one share one
  server.
* ``stall``: from the first client frame on, after ``--delay`` seconds and
  then every ``--interval`` seconds, one reply, in real time, until the client
  closes.
* ``sink``: no replies while the client streams; at each ``audioStreamEnd``
  one ``turnComplete``. Every client (rawlive, a bare websockets loop,
  google-genai) gets the same two small messages, so the server makes none of
  them do more work than another (``send.cpu``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import random
import sys
from typing import Literal

from websockets.exceptions import ConnectionClosed

from rawlive.servers.base import LiveServer, Peer, server_ssl_context

__all__ = ["OUT_MIME", "OUT_PCM_BYTES", "BenchServer", "reply_frame"]

OUT_MIME = "audio/pcm;rate=24000"
#: 200 ms of 24 kHz mono s16le audio.
OUT_PCM_BYTES = 9600

SETUP_COMPLETE = b'{"setupComplete":{}}'
TURN_COMPLETE = b'{"serverContent":{"turnComplete":true}}'

Mode = Literal["e2e", "stall", "sink"]


def reply_frame(seed: int = 24000) -> bytes:
    """A ``serverContent.modelTurn`` message with 200 ms of (random) reply audio."""
    pcm = random.Random(seed).randbytes(OUT_PCM_BYTES)
    return (
        b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"'
        + OUT_MIME.encode()
        + b'","data":"'
        + base64.b64encode(pcm)
        + b'"}}]}}}'
    )


def _is_stream_end(data: str | bytes) -> bool:
    if isinstance(data, str):
        return "audioStreamEnd" in data
    return b"audioStreamEnd" in data


class BenchServer(LiveServer):
    """Answers audio with audio, as described in the module docstring."""

    def __init__(
        self,
        *,
        mode: Mode,
        text: bool,
        per_reply: int = 2,
        delay: float = 0.2,
        interval: float = 0.2,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.mode = mode
        self.per_reply = per_reply
        self.delay = delay
        self.interval = interval
        frame = reply_frame()
        # websockets sends a str as a text frame and bytes as a binary one.
        self._reply: str | bytes = frame.decode() if text else frame
        self._turn_complete: str | bytes = TURN_COMPLETE.decode() if text else TURN_COMPLETE
        self._setup_complete: str | bytes = SETUP_COMPLETE.decode() if text else SETUP_COMPLETE

    async def session(self, peer: Peer) -> None:
        await peer.read_setup()
        # Straight to the socket: Peer.send/recv would log every frame.
        await peer.ws.send(self._setup_complete)
        try:
            if self.mode == "e2e":
                await self._e2e(peer)
            elif self.mode == "sink":
                await self._sink(peer)
            else:
                await self._stall(peer)
        finally:
            self.connections.clear()  # keep no captures across many sessions

    async def _e2e(self, peer: Peer) -> None:
        ws = peer.ws
        audio = sent = 0
        async for data in ws:
            if len(data) < 200 and _is_stream_end(data):
                for _ in range(audio // self.per_reply - sent):
                    await ws.send(self._reply)
                sent = audio // self.per_reply
                await ws.send(self._turn_complete)
                continue
            audio += 1
            if audio % self.per_reply == 0:
                await ws.send(self._reply)
                sent += 1

    async def _sink(self, peer: Peer) -> None:
        ws = peer.ws
        async for data in ws:
            if len(data) < 200 and _is_stream_end(data):
                await ws.send(self._turn_complete)

    async def _stall(self, peer: Peer) -> None:
        ws = peer.ws
        await ws.recv()
        loop = asyncio.get_running_loop()
        start = loop.time()

        async def drain() -> None:
            with contextlib.suppress(ConnectionClosed):
                async for _ in ws:
                    pass

        drainer = asyncio.create_task(drain())
        try:
            k = 0
            while not drainer.done():
                await asyncio.sleep(max(0.0, start + self.delay + k * self.interval - loop.time()))
                await ws.send(self._reply)
                k += 1
        except ConnectionClosed:
            pass
        finally:
            drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await drainer


async def _serve(args: argparse.Namespace) -> None:
    server = BenchServer(
        mode=args.mode,
        text=args.opcode == "text",
        per_reply=args.per_reply,
        delay=args.delay,
        interval=args.interval,
        ssl=server_ssl_context(args.cert, args.key),
    )
    async with server:
        print(server.port, flush=True)
        # Serve until stdin closes (the parent died or closed it) or SIGTERM.
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench._server")
    parser.add_argument("--cert", required=True, help="PEM certificate chain")
    parser.add_argument("--key", required=True, help="PEM private key")
    parser.add_argument("--mode", choices=("e2e", "stall", "sink"), required=True)
    parser.add_argument("--opcode", choices=("text", "binary"), default="binary")
    parser.add_argument("--per-reply", type=int, default=2)
    parser.add_argument("--delay", type=float, default=0.2)
    parser.add_argument("--interval", type=float, default=0.2)
    asyncio.run(_serve(parser.parse_args()))


if __name__ == "__main__":
    main()
