"""Quota refusals (PROTOCOL.md §10.12): HTTP 429 on the upgrade and a close with
quota text become a QuotaExceeded with the hint, in the library and the CLI."""

from __future__ import annotations

import asyncio
import os
import sys
from http import HTTPStatus
from pathlib import Path

import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

import rawlive
from rawlive.core.closing import QUOTA_HINT, After, after_close, close_hint, quota_close
from rawlive.errors import ConnectError, LiveConnectionClosed, QuotaClosed, QuotaRefused

KEY = "fake.TESTKEY-quota-0123456789abcdef"
SPOKEN = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "weather-16k-mono.wav"
QUOTA_REASON = "RESOURCE_EXHAUSTED: concurrent sessions quota exceeded"


class QuotaServer:
    """Refuses as ``mode`` says: ``429`` answers the upgrade with HTTP 429;
    ``close-first`` closes with 1011 quota text instead of ``setupComplete``;
    ``close-later`` sends ``setupComplete`` (and a resumable handle), then closes so."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.connections = 0
        self.url = ""

    async def __aenter__(self) -> QuotaServer:
        self._server = await websockets.serve(
            self._handle, "127.0.0.1", 0, process_request=self._check, compression=None
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _check(self, ws: ServerConnection, request: Request) -> Response | None:
        self.connections += 1
        if self.mode == "429":
            return ws.respond(HTTPStatus.TOO_MANY_REQUESTS, "Too many concurrent sessions\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        await ws.recv()  # setup
        if self.mode == "close-later":
            await ws.send('{"setupComplete":{}}')
            await ws.send('{"sessionResumptionUpdate":{"newHandle":"h1","resumable":true}}')
            await asyncio.sleep(0.05)
        await ws.close(1011, QUOTA_REASON)


def test_a_quota_close_is_1011_or_1008_with_quota_words_and_is_not_resumed() -> None:
    assert quota_close(1011, "RESOURCE_EXHAUSTED")
    assert quota_close(1011, "Quota exceeded for aiplatform.googleapis.com")
    assert quota_close(1008, "too many concurrent requests")
    assert not quota_close(1011, "Internal error occurred.")
    assert not quota_close(1000, "quota")
    assert close_hint(1011, QUOTA_REASON) == QUOTA_HINT
    assert after_close(1011, QUOTA_REASON, resumable=True, going_away=False).after is After.FAIL
    assert (
        after_close(1011, "Internal error", resumable=True, going_away=False).after
        is After.RESUME_NOW
    )


async def test_http_429_on_the_upgrade_is_a_quota_refusal_with_the_hint() -> None:
    async with QuotaServer("429") as server:
        with pytest.raises(QuotaRefused) as caught:
            await rawlive.connect("gemini-3.8-live", api_key=KEY, endpoint=server.url)
    error = caught.value
    assert isinstance(error, rawlive.QuotaExceeded) and isinstance(error, ConnectError)
    assert error.status == 429
    assert "HTTP 429" in str(error) and "lower concurrency" in str(error)
    assert "request more quota" in str(error) and KEY not in str(error)
    assert error.__context__ is None and error.__cause__ is None


@pytest.mark.parametrize("mode", ["close-first", "close-later"])
async def test_a_1011_quota_close_is_a_quota_error_with_the_hint_and_no_resume(mode: str) -> None:
    async with QuotaServer(mode) as server:
        with pytest.raises(QuotaClosed) as caught:
            async with rawlive.connect(
                "gemini-3.8-live",
                {"session_resumption": {}},
                api_key=KEY,
                endpoint=server.url,
            ) as session:
                async for _ in session.receive():
                    pass
        assert server.connections == 1  # a quota close is not resumed at once
    error = caught.value
    assert isinstance(error, rawlive.QuotaExceeded) and isinstance(error, LiveConnectionClosed)
    assert error.code == 1011 and "RESOURCE_EXHAUSTED" in error.reason
    assert error.hint == QUOTA_HINT


@pytest.mark.parametrize("mode", ["429", "close-first"])
async def test_the_cli_says_it_in_one_line_with_exit_3(mode: str, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    async with QuotaServer(mode) as server:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "rawlive",
            "send",
            str(SPOKEN),
            "--endpoint",
            server.url,
            "--out",
            str(tmp_path / "reply.wav"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 3
    lines = [line for line in err.decode().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rawlive: "), err.decode()
    assert "lower concurrency" in lines[0] and "Traceback" not in err.decode()
    assert ("HTTP 429" if mode == "429" else "1011") in lines[0]
    assert not (tmp_path / "reply.wav").exists()
