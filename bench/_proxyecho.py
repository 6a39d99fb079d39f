"""The echo server behind ``proxy.latency``, in its own process.

``python -m bench._proxyecho`` serves a :class:`rawlive.servers.base.LiveServer` on
an ephemeral port of 127.0.0.1 that echoes every frame with its opcode,
prints its URL on one line of stdout and serves until its stdin closes.
"""

from __future__ import annotations

import asyncio
import sys

from rawlive.servers.base import LiveServer, Peer


class Echo(LiveServer):
    async def session(self, peer: Peer) -> None:
        ws = peer.ws
        async for data in ws:
            await ws.send(data)


async def main() -> None:
    async with Echo(capture_frames=False) as server:
        print(server.url, flush=True)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)


if __name__ == "__main__":
    asyncio.run(main())
