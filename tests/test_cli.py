"""The command line as a user meets it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import asyncio
import re
import signal
import socket
import subprocess
import sys
from pathlib import Path

import rawlive

RAWLIVE = [sys.executable, "-m", "rawlive"]


def _run(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAWLIVE, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rawlive: ")
    return lines[0]


async def test_serve_answers_a_session_and_stops_cleanly_on_ctrl_c() -> None:
    process = await asyncio.create_subprocess_exec(
        *RAWLIVE, "serve", "--port", "0", stderr=asyncio.subprocess.PIPE
    )
    assert process.stderr is not None
    line = (await asyncio.wait_for(process.stderr.readline(), 20)).decode()
    match = re.search(r"listening on (ws://127\.0\.0\.1:\d+)", line)
    assert match, line
    async with rawlive.connect("gemini-live-2.5-flash-preview", endpoint=match.group(1)) as session:
        await session.send_realtime_input(text="hello")
        async for message in session.receive():
            if message.server_content and message.server_content.turn_complete:
                break
    process.send_signal(signal.SIGINT)
    assert await asyncio.wait_for(process.wait(), 20) == 0
    rest = (await process.stderr.read()).decode()
    assert "stopped" in rest and "Traceback" not in rest


def test_serve_with_a_missing_script_exits_2_naming_it(tmp_path: Path) -> None:
    result = _run("serve", "--script", str(tmp_path / "nope.toml"))
    assert result.returncode == 2
    assert "nope.toml" in _one_line_error(result)


def test_serve_with_an_invalid_script_names_the_field(tmp_path: Path) -> None:
    script = tmp_path / "bad.toml"
    script.write_text('[[turns]]\ntone_ms = "long"\n')
    result = _run("serve", "--script", str(script))
    assert result.returncode == 2
    assert "tone_ms" in _one_line_error(result)


def test_serve_on_a_busy_port_exits_3() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = _run("serve", "--port", str(port))
    assert result.returncode == 3
    assert str(port) in _one_line_error(result)


def test_serve_with_an_unreadable_certificate_exits_2(tmp_path: Path) -> None:
    (tmp_path / "cert.pem").write_text("not a certificate")
    result = _run("serve", "--certfile", str(tmp_path / "cert.pem"))
    assert result.returncode == 2
    assert "certificate" in _one_line_error(result)


def test_version_and_help() -> None:
    assert rawlive.__version__ in _run("--version").stdout
    assert "serve" in _run("--help").stdout


def test_models_lists_the_table_with_what_each_refuses_and_as_json() -> None:
    import json

    from rawlive.core import models

    text = _run("models")
    assert text.returncode == 0, text.stderr
    assert "gemini-3.8-live  (recommended)" in text.stdout
    block = text.stdout.split("\n\n")
    ours = next(b for b in block if b.startswith("gemini-3.8-live-extended-thinking"))
    assert "backends: gemini\n" in ours and "tools default to NON_BLOCKING" in ours
    assert 'refuses tools.functionDeclarations.behavior: "BLOCKING": 1007 (inferred)' in ours
    transcribe = next(b for b in block if b.startswith("gemini-3.5-transcribe-live\n"))
    assert "kind transcribe, stable" in transcribe and "session limit: 10 min" in transcribe
    assert "responds in: TEXT;" in transcribe

    shown = _run("models", "--json")
    assert shown.returncode == 0, shown.stderr
    rows = json.loads(shown.stdout)
    assert [r["id"] for r in rows] == [m.id for m in models.rows()]
    first = rows[0]
    assert first["id"] == models.RECOMMENDED and first["recommended"] is True
    assert sum(r["recommended"] for r in rows) == 1
    assert all(key.islower() and key.isidentifier() for r in rows for key in r)
    thinking = next(r for r in first["refuses"] if r["field"] == "generationConfig.thinkingConfig")
    assert (
        thinking["code"] == 1007 and thinking["inferred"] is True and "§10.3" in thinking["source"]
    )
    legacy = next(r for r in rows if r["id"] == "gemini-3.1-flash-live-preview")
    assert legacy["status"] == "legacy" and legacy["response_modalities"] == ["AUDIO"]
    assert legacy["default_tool_behavior"] == "BLOCKING" and legacy["session_limit_seconds"] is None
