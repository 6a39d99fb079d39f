"""The official JS SDK (``@google/genai``) replays a rawlive cassette over ``wss://``.

The SDK is installed once from the npm registry into ``.venv/js`` (pinned in
``tests/js/package.json``); without node and npm the test says so and skips.
"""

from __future__ import annotations

import asyncio
import json
import os
import pathlib
import shutil
import subprocess

import pytest

import rawlive
from rawlive.servers.base import server_ssl_context
from rawlive.servers.emulator import serve
from rawlive.servers.replay import ReplayServer

HERE = pathlib.Path(__file__).resolve().parent
JS_DIR = HERE / "js"
INSTALL = HERE.parent / ".venv" / "js"


def _js_sdk() -> pathlib.Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.skip("node and npm are not installed: the JS SDK cannot run here")
    marker = INSTALL / "node_modules" / "@google" / "genai" / "package.json"
    if not marker.exists():
        INSTALL.mkdir(parents=True, exist_ok=True)
        shutil.copy(JS_DIR / "package.json", INSTALL / "package.json")
        result = subprocess.run(
            ["npm", "install", "--silent", "--no-audit", "--no-fund"],
            cwd=INSTALL,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if result.returncode != 0:
            pytest.skip(f"npm could not install @google/genai: {result.stderr.strip()[-300:]}")
    shutil.copy(JS_DIR / "replay_client.js", INSTALL / "replay_client.js")
    return INSTALL


async def test_the_js_sdk_replays_a_cassette_over_wss(
    tmp_path: pathlib.Path, tls: tuple[pathlib.Path, pathlib.Path]
) -> None:
    install = await asyncio.to_thread(_js_sdk)
    cassette = tmp_path / "hello.jsonl"
    async with serve(speed=0) as emulator:
        async with rawlive.connect(
            "gemini-live-2.5-flash-preview",
            {"response_modalities": ["TEXT"]},
            endpoint=emulator.url,
            record=cassette,
        ) as session:
            await session.send_realtime_input(text="hello from node")
            async for message in session.receive():
                if message.server_content and message.server_content.turn_complete:
                    break
    ca_file, server_pem = tls
    async with ReplayServer(cassette, speed=0, ssl=server_ssl_context(server_pem)) as replay:
        process = await asyncio.create_subprocess_exec(
            "node",
            str(install / "replay_client.js"),
            str(replay.port),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "NODE_EXTRA_CA_CERTS": str(ca_file)},
        )
        out, err = await asyncio.wait_for(process.communicate(), 60)
        await asyncio.sleep(0.1)
        assert replay.mismatches == []
        assert replay.remaining() == []
    assert process.returncode == 0, err.decode()
    result = json.loads(out.decode().strip().splitlines()[-1])
    assert result["text"] == "[rawlive emulator] received: hello from node"
    assert result["messages"] == 4  # setupComplete, the text, generationComplete, turnComplete
