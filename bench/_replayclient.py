"""The client of ``bench/replay.py``, in its own process: pre-built frames out, replies in.

``python -m bench._replayclient FRAMES SERVER_FRAMES``: loads the client
frames (a msgpack list of bytes), prints ``ready``, reads the server's URL
on stdin, sends every frame as fast as the server takes them while reading
``SERVER_FRAMES`` replies, closes and prints ``done``.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import msgspec
from websockets.asyncio.client import connect


async def run(frames: list[bytes], expected: int, url: str) -> None:
    async with connect(url, compression=None, max_size=None) as ws:

        async def read() -> None:
            for _ in range(expected):
                await ws.recv(decode=False)

        reader = asyncio.create_task(read())
        for frame in frames:
            await ws.send(frame, text=True)
        await reader


def main() -> None:
    frames = msgspec.msgpack.decode(Path(sys.argv[1]).read_bytes(), type=list[bytes])
    expected = int(sys.argv[2])
    print("ready", flush=True)
    url = sys.stdin.readline().strip()
    asyncio.run(run(frames, expected, url))
    print("done", flush=True)


if __name__ == "__main__":
    main()
