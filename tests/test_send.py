"""``rawlive send`` as a user runs it: every fixture format, broken files, tools, JSON
events, errors and Ctrl-C, against an emulator the test controls."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf

from rawlive.cassette import read_cassette
from rawlive.servers.base import LiveServer, Peer
from rawlive.servers.emulator import Emulator
from rawlive.servers.emulator.script import load_script
from rawlive.wire import types as t

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUDIO = FIXTURES / "audio"
REFERENCE = AUDIO / "weather-16k-mono.wav"
RAWLIVE = [sys.executable, "-m", "rawlive"]
ENV = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}


async def _send(*args: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *RAWLIVE,
        "send",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=ENV,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _received_pcm(emulator: Emulator) -> tuple[bytes, list[int]]:
    (session,) = emulator.sessions.values()
    chunks = [
        bytes(m.realtime_input.audio.data or b"")
        for m in session.consumed
        if m.realtime_input is not None and m.realtime_input.audio is not None
    ]
    return b"".join(chunks), [len(c) for c in chunks]


def _correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Peak normalised cross-correlation: alignment-independent similarity."""
    n = min(len(a), len(b))
    a, b = a[:n] - a[:n].mean(), b[:n] - b[:n].mean()
    spectrum = np.fft.irfft(np.fft.rfft(a, 2 * n) * np.conj(np.fft.rfft(b, 2 * n)))
    return float(np.max(np.abs(spectrum)) / (np.linalg.norm(a) * np.linalg.norm(b)))


@pytest.mark.parametrize(
    "name",
    [
        "weather-16k-mono.wav",
        "weather-44k-stereo.wav",
        "weather-48k-float.wav",
        "weather-8k-u8.wav",
        "weather-24k.flac",
        "weather-32k-stereo.ogg",
    ],
)
async def test_every_format_reaches_the_server_as_16khz_mono_of_the_same_speech(
    tmp_path: Path, name: str
) -> None:
    out = tmp_path / "reply.wav"
    async with Emulator(speed=0, keep_sessions=True) as emulator:
        code, stdout, stderr = await _send(
            str(AUDIO / name), "--endpoint", emulator.url, "--fast", "--out", str(out)
        )
        assert code == 0, stderr
        pcm, sizes = _received_pcm(emulator)
    source = sf.info(AUDIO / name)
    assert all(size == 1280 for size in sizes[:-1])  # 40 ms chunks of s16le at 16 kHz
    assert abs(len(pcm) / 32_000 - source.duration) <= 0.040
    reference, _ = sf.read(REFERENCE, dtype="float64")
    got = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert _correlation(got, reference) > 0.9
    reply = sf.info(out)
    assert (reply.samplerate, reply.channels, reply.subtype) == (24_000, 1, "PCM_16")
    assert reply.frames > 0
    assert "reply audio" in stdout and "setupComplete after" in stdout


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("broken-truncated-header.wav", "not an audio file"),
        ("broken-not-audio.wav", "not an audio file"),
        ("broken-empty.wav", "empty"),
        ("no-such-file.wav", "no such file"),
    ],
)
async def test_broken_input_exits_2_with_one_line_and_connects_nowhere(
    name: str, reason: str
) -> None:
    async with Emulator() as emulator:
        code, _, stderr = await _send(str(AUDIO / name), "--endpoint", emulator.url)
    assert code == 2
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rawlive: ") and reason in lines[0]
    assert "Traceback" not in stderr
    assert emulator.connections == []


async def test_no_key_and_no_endpoint_says_how_to_get_either() -> None:
    code, _, stderr = await _send(str(REFERENCE))
    assert code == 2
    assert "GEMINI_API_KEY" in stderr and "--emulator" in stderr and "--endpoint" in stderr


async def test_the_embedded_emulator_answers_with_transcripts(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    code, stdout, stderr = await _send(
        str(REFERENCE),
        "--emulator",
        "--emulator-script",
        str(FIXTURES / "scripts" / "demo.toml"),
        "--fast",
        "--out",
        str(out),
    )
    assert code == 0, stderr
    assert "you:   What is the weather like in Paris today?" in stdout
    assert "model: It is sunny in Paris today" in stdout
    reply, rate = sf.read(out, dtype="float64")
    expected, _ = sf.read(AUDIO / "reply-sunny-24k.wav", dtype="float64")
    assert rate == 24_000 and abs(len(reply) - len(expected)) < 24_000 * 0.05


async def test_json_mode_prints_one_object_per_event_and_a_summary(tmp_path: Path) -> None:
    script = load_script(FIXTURES / "scripts" / "demo.toml")
    async with Emulator(script=script, speed=0) as emulator:
        code, stdout, _ = await _send(
            str(REFERENCE),
            "--endpoint",
            emulator.url,
            "--fast",
            "--json",
            "--out",
            str(tmp_path / "r.wav"),
        )
    assert code == 0
    events = [json.loads(line) for line in stdout.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[0] != "summary" and kinds[-1] == "summary"
    assert {"input_transcription", "output_transcription", "turn_complete", "audio_sent"} <= set(
        kinds
    )
    summary = events[-1]
    assert summary["turns"] == 1 and summary["reply_seconds"] > 4
    assert summary["first_reply_latency"] is not None
    assert summary["response_tokens"].get("AUDIO", 0) > 0
    assert summary["close_code"] == 1000


async def test_tools_file_answers_the_scripted_call(tmp_path: Path) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(
        json.dumps(
            {
                "function_declarations": [
                    {
                        "name": "get_weather",
                        "description": "Forecast for a city.",
                        "parameters": {
                            "type": "OBJECT",
                            "properties": {"city": {"type": "STRING"}},
                        },
                    }
                ],
                "responses": {"get_weather": {"forecast": "sunny", "celsius": 24}},
            }
        )
    )
    script = load_script(FIXTURES / "scripts" / "weather.toml")
    async with Emulator(script=script, speed=0, keep_sessions=True) as emulator:
        code, stdout, stderr = await _send(
            str(REFERENCE),
            "--endpoint",
            emulator.url,
            "--fast",
            "--tools",
            str(tools),
            "--out",
            str(tmp_path / "r.wav"),
        )
        (session,) = emulator.sessions.values()
    assert code == 0, stderr
    assert 'tool call:     get_weather({"city": "Paris", "unit": "celsius"})' in stdout
    assert 'tool response: get_weather -> {"forecast": "sunny", "celsius": 24}' in stdout
    responses = [m.tool_response for m in session.consumed if m.tool_response is not None]
    assert responses[0].function_responses[0].response == {"forecast": "sunny", "celsius": 24}
    declared = session.setup.tools[0].function_declarations[0]  # type: ignore[index]
    assert declared.name == "get_weather"


@pytest.mark.parametrize(
    "content", ['{"responses": {}}', "not json", '{"function_declarations": [{}]}']
)
async def test_a_bad_tools_file_exits_2(tmp_path: Path, content: str) -> None:
    tools = tmp_path / "tools.json"
    tools.write_text(content)
    code, _, stderr = await _send(str(REFERENCE), "--emulator", "--tools", str(tools))
    assert code == 2 and "tools.json" in stderr and "Traceback" not in stderr


async def test_manual_vad_delimits_the_turn_with_activity_signals(tmp_path: Path) -> None:
    async with Emulator(speed=0, keep_sessions=True) as emulator:
        code, _, stderr = await _send(
            str(REFERENCE),
            "--endpoint",
            emulator.url,
            "--fast",
            "--manual-vad",
            "--out",
            str(tmp_path / "r.wav"),
        )
        (session,) = emulator.sessions.values()
    assert code == 0, stderr
    realtime = [m.realtime_input for m in session.consumed if m.realtime_input is not None]
    assert realtime[0].activity_start is not None and realtime[-1].activity_end is not None
    assert not any(r.audio_stream_end for r in realtime)
    detection = session.setup.realtime_input_config.automatic_activity_detection  # type: ignore[union-attr]
    assert detection is not None and detection.disabled


async def test_a_server_close_exits_3_with_the_codes_hint(tmp_path: Path) -> None:
    async with Emulator() as emulator:
        code, _, stderr = await _send(
            str(REFERENCE),
            "--endpoint",
            emulator.url,
            "--model",
            "gemini-unknown",
            "--out",
            str(tmp_path / "r.wav"),
        )
    assert code == 3
    assert "1008" in stderr and "model" in stderr and "Traceback" not in stderr


async def test_ctrl_c_mid_stream_leaves_a_valid_wav(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    long_input = tmp_path / "long.wav"
    speech, rate = sf.read(REFERENCE, dtype="int16")
    pause = np.zeros(int(rate * 1.2), dtype=np.int16)  # each sentence is a turn
    sf.write(long_input, np.concatenate([speech, pause] * 4), rate, subtype="PCM_16")
    async with Emulator(speed=1.0) as emulator:
        process = await asyncio.create_subprocess_exec(
            *RAWLIVE,
            "send",
            str(long_input),
            "--endpoint",
            emulator.url,
            "--out",
            str(out),
            "--record",
            str(tmp_path / "session.jsonl"),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=ENV,
        )
        await asyncio.sleep(5.0)  # the first sentence is being answered, the upload goes on
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 130, stderr.decode()
    assert "Traceback" not in stderr.decode()
    assert "the reply WAV and the recording are valid so far" in stderr.decode()
    info = sf.info(out)
    assert (info.samplerate, info.channels) == (24_000, 1)
    data, _ = sf.read(out, dtype="int16")
    assert len(data) == info.frames > 24_000 // 2  # part of the first answer is there
    cassette = read_cassette(tmp_path / "session.jsonl")
    sent = [e for e in cassette.frames(sender="client") if "realtimeInput.audio" in e.kind]
    received = [e for e in cassette.frames(sender="server") if "modelTurn" in e.kind]
    assert len(sent) > 100 and received  # every frame up to the interrupt is there


class _SilentServer(LiveServer):
    """Takes the setup and never answers it."""

    async def session(self, peer: Peer) -> None:
        async for _ in peer:
            pass


async def test_ctrl_c_before_setup_complete_leaves_existing_files_untouched(
    tmp_path: Path,
) -> None:
    out, record = tmp_path / "reply.wav", tmp_path / "session.jsonl"
    out.write_bytes(b"yesterday's reply")
    record.write_bytes(b"yesterday's recording")
    async with _SilentServer() as server:
        process = await asyncio.create_subprocess_exec(
            *RAWLIVE,
            *("send", str(REFERENCE), "--endpoint", server.url),
            *("--out", str(out), "--record", str(record)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=ENV,
        )
        await server.wait_for_connections(1, timeout=20)
        await asyncio.sleep(0.3)  # the setup is sent; setupComplete never comes
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 130, stderr.decode()
    said = stderr.decode().strip()
    assert said.endswith("nothing was written, existing files are untouched"), said
    assert "valid so far" not in said and "Traceback" not in said
    assert out.read_bytes() == b"yesterday's reply"
    assert record.read_bytes() == b"yesterday's recording"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reply.wav", "session.jsonl"]


async def test_record_writes_the_whole_session_as_a_cassette(tmp_path: Path) -> None:
    script = load_script(FIXTURES / "scripts" / "demo.toml")
    async with Emulator(script=script, speed=0, capture_frames=True) as emulator:
        code, _, stderr = await _send(
            str(REFERENCE),
            "--endpoint",
            emulator.url,
            "--fast",
            "--out",
            str(tmp_path / "r.wav"),
            "--record",
            str(tmp_path / "s.jsonl"),
        )
    assert code == 0, stderr
    cassette = read_cassette(tmp_path / "s.jsonl")
    assert cassette.complete and not cassette.truncated
    server_frames = [f.payload for f in emulator.connections[0].frames if f.sender == "server"]
    assert [e.wire_payload() for e in cassette.frames(sender="server")] == server_frames


async def test_a_progress_bar_shows_on_a_terminal_and_never_in_a_pipe(tmp_path: Path) -> None:
    import pty

    async with Emulator(speed=0) as emulator:
        controller, terminal = pty.openpty()
        process = await asyncio.create_subprocess_exec(
            *RAWLIVE,
            "send",
            str(REFERENCE),
            "--endpoint",
            emulator.url,
            "--speed",
            "4",
            "--out",
            str(tmp_path / "r.wav"),
            stdout=asyncio.subprocess.PIPE,
            stderr=terminal,
            stdin=asyncio.subprocess.DEVNULL,
            env=ENV,
        )
        os.close(terminal)
        stdout, _ = await asyncio.wait_for(process.communicate(), 60)
        shown = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:
                break
            if not chunk:
                break
            shown += chunk
        os.close(controller)
    assert process.returncode == 0
    assert b"\r[" in shown and b"/ 2.7 s" in shown
    assert b"\r[" not in stdout  # the transcript stays clean
    _, _, piped = await _send(
        str(REFERENCE), "--emulator", "--fast", "--out", str(tmp_path / "p.wav")
    )
    assert "\r[" not in piped


def _three_sentences(tmp_path: Path) -> Path:
    speech, rate = sf.read(REFERENCE, dtype="int16")
    pause = np.zeros(int(rate * 1.2), dtype=np.int16)  # > the 800 ms silence of a turn end
    three = tmp_path / "three.wav"
    sf.write(three, np.concatenate([speech, pause] * 3), rate, subtype="PCM_16")
    return three


async def test_every_utterance_of_a_file_gets_its_reply_before_the_run_ends(
    tmp_path: Path,
) -> None:
    # Each sentence ends (and is answered) before the next begins, the last one
    # before the upload is over: the run must still wait for its reply.
    async with Emulator(speed=0) as emulator:
        code, stdout, stderr = await _send(
            str(_three_sentences(tmp_path)),
            "--endpoint",
            emulator.url,
            "--speed",
            "2",
            "--json",
            "--out",
            str(tmp_path / "r.wav"),
        )
    assert code == 0, stderr
    summary = json.loads(stdout.splitlines()[-1])
    assert summary["turns"] == 3
    # Each reply echoes one utterance (about 2.35 s at 24 kHz).
    assert abs(summary["reply_seconds"] - 3 * 2.35) < 0.3
    assert sf.info(tmp_path / "r.wav").duration == pytest.approx(summary["reply_seconds"], abs=0.01)


async def test_a_fast_upload_of_many_utterances_ends_after_the_last_turn(tmp_path: Path) -> None:
    # Uploaded faster than real time, each utterance barges in on the reply to
    # the one before (as on the real server): every turn still completes, and
    # the run waits for the last one.
    async with Emulator(speed=0, keep_sessions=True) as emulator:
        code, stdout, stderr = await _send(
            str(_three_sentences(tmp_path)),
            "--endpoint",
            emulator.url,
            "--fast",
            "--json",
            "--out",
            str(tmp_path / "r.wav"),
        )
        (session,) = emulator.sessions.values()
    assert code == 0, stderr
    assert json.loads(stdout.splitlines()[-1])["turns"] == session.turns == 3


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


async def test_a_failed_connection_leaves_the_previous_reply_and_recording_untouched(
    tmp_path: Path,
) -> None:
    out, record = tmp_path / "reply.wav", tmp_path / "session.jsonl"
    out.write_bytes((AUDIO / "reply-sunny-24k.wav").read_bytes())
    record.write_bytes((FIXTURES / "sessions" / "hello-text.jsonl").read_bytes())
    out.chmod(0o640)
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    outputs = ("--out", str(out), "--record", str(record), "--fast")
    refused = ("--endpoint", f"ws://127.0.0.1:{_closed_port()}")
    async with Emulator(speed=0) as emulator:
        rejected = ("--endpoint", emulator.url, "--model", "gemini-unknown")  # closed: 1008
        for where in (refused, rejected):
            code, _, stderr = await _send(str(REFERENCE), *where, *outputs)
            assert code == 3, stderr
            assert {p.name: p.read_bytes() for p in tmp_path.iterdir()} == before
        code, _, stderr = await _send(str(REFERENCE), "--endpoint", emulator.url, *outputs)
    assert code == 0, stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(before)  # no temporary left
    assert read_cassette(record).complete and sf.info(out).samplerate == 24_000
    assert out.read_bytes() != before["reply.wav"] and out.stat().st_mode & 0o777 == 0o640


async def test_a_failed_connection_creates_no_reply(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    code, _, stderr = await _send(
        str(REFERENCE), "--endpoint", f"ws://127.0.0.1:{_closed_port()}", "--out", str(out)
    )
    assert code == 3, stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("where", ["/dev/full", "no-such-folder/session.jsonl"])
async def test_a_recording_that_cannot_be_written_is_named_and_leaves_no_reply(
    tmp_path: Path, where: str
) -> None:
    record = where if where.startswith("/") else str(tmp_path / where)
    out = tmp_path / "reply.wav"
    code, _, stderr = await _send(
        str(REFERENCE), "--emulator", "--fast", "--out", str(out), "--record", record
    )
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(f"rawlive: cannot write {record}: "), stderr
    assert str(out) not in stderr and not out.exists()


async def test_a_recording_failing_mid_session_ends_it_at_once_naming_the_file(
    tmp_path: Path,
) -> None:
    from rawlive.cassette import CassetteWriter
    from rawlive.client.session import connect
    from rawlive.tools.send import stream_file

    class DiskFull(CassetteWriter):
        """Fills up as the reply comes in (written by the session's reader)."""

        def write_frame(self, connection: int, sender: Any, opcode: Any, payload: Any) -> None:
            if sender == "server" and self.events > 3:
                raise OSError(28, "No space left on device", str(self.path))
            super().write_frame(connection, sender, opcode, payload)

    record = tmp_path / "session.jsonl"
    async with Emulator(speed=0) as emulator:
        started = asyncio.get_running_loop().time()
        with pytest.raises(OSError) as caught:
            async with connect(
                "gemini-live-2.5-flash-preview", endpoint=emulator.url, record=DiskFull(record)
            ) as session:
                await stream_file(session, REFERENCE, speed=None, timeout=30)
    assert caught.value.filename == str(record)
    assert asyncio.get_running_loop().time() - started < 10  # not after the 30 s timeout
    assert read_cassette(record).events  # what was written before is readable


class _MixedReply(LiveServer):
    """Answers the audio with parts of every kind: audio at 24 kHz, at 16 kHz and with no
    rate, an image, a video and audio in another codec."""

    PARTS = (
        ("audio/pcm;rate=24000", np.full(2400, 1000, dtype="<i2").tobytes()),  # 0.1 s
        ("audio/pcm;rate=16000", np.full(8000, 1000, dtype="<i2").tobytes()),  # 0.5 s
        ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 996),
        ("audio/pcm", np.full(4800, 1000, dtype="<i2").tobytes()),  # 0.2 s at 24 kHz
        ("video/mp4", b"\x00" * 500),
        ("audio/opus", b"\x4f\x67\x67\x53" * 50),
        ("image/jpeg", b"\xff\xd8\xff\xe0" + b"\x00" * 996),
    )

    async def session(self, peer: Peer) -> None:
        await peer.read_setup()
        await peer.send(t.LiveServerMessage(setup_complete=t.LiveServerSetupComplete()))
        async for payload in peer:
            if b"audioStreamEnd" in payload:
                break
        for mime, data in self.PARTS:
            part = t.Part(inline_data=t.Blob(data=data, mime_type=mime))
            content = t.LiveServerContent(model_turn=t.Content(role="model", parts=[part]))
            await peer.send(t.LiveServerMessage(server_content=content))
        await peer.send(t.LiveServerMessage(server_content=t.LiveServerContent(turn_complete=True)))
        async for _ in peer:
            pass


async def test_only_audio_goes_into_the_reply_resampled_to_24khz_and_the_rest_is_counted(
    tmp_path: Path,
) -> None:
    from rawlive.client.session import connect
    from rawlive.media.audio import WavWriter
    from rawlive.tools.send import Event, stream_file

    events: list[Event] = []
    async with _MixedReply() as server:
        async with connect("gemini-live-2.5-flash-preview", endpoint=server.url) as session:
            with WavWriter(tmp_path / "reply.wav") as reply:
                summary = await stream_file(
                    session, REFERENCE, reply=reply, speed=None, settle=0.1, on_event=events.append
                )
    data, rate = sf.read(tmp_path / "reply.wav", dtype="int16")
    assert rate == 24_000
    assert abs(len(data) - 0.8 * 24_000) <= 48  # 0.1 s + 0.5 s resampled + 0.2 s, nothing else
    assert np.all(np.abs(data[4800:12000].astype(int) - 1000) < 50)  # the 16 kHz part, in tune
    assert summary.reply_seconds == pytest.approx(0.8, abs=0.002)
    assert summary.skipped == {
        "image/jpeg": {"parts": 2, "bytes": 2000},
        "video/mp4": {"parts": 1, "bytes": 500},
        "audio/opus": {"parts": 1, "bytes": 200},
    }
    skipped = [e.to_builtins() for e in events if e.kind == "skipped"]
    assert [(e["mime_type"], e["bytes"]) for e in skipped] == [
        ("image/jpeg", 1000),
        ("video/mp4", 500),
        ("audio/opus", 200),
        ("image/jpeg", 1000),
    ]
    assert summary.to_builtins()["skipped"]["image/jpeg"] == {"parts": 2, "bytes": 2000}
    assert any("image/jpeg: 2 parts, 2000 bytes" in line for line in summary.lines())


def test_events_and_the_summary_give_json_text_and_plain_objects_with_snake_case_keys() -> None:
    from rawlive.tools.send import Event, Summary

    event = Event("tool_call", 1.23456, {"id": "a", "name": "f", "args": {"city": "Paris"}})
    assert isinstance(event.to_json(), str)
    assert json.loads(event.to_json()) == event.to_builtins()
    assert event.to_builtins() == {
        "event": "tool_call",
        "t": 1.2346,
        "id": "a",
        "name": "f",
        "args": {"city": "Paris"},
    }
    summary = Summary(turns=2, prompt_tokens={"AUDIO": 3}, skipped={"image/png": {"parts": 1}})
    assert isinstance(summary.to_json(), str)
    shape = summary.to_builtins()
    assert json.loads(summary.to_json()) == shape
    assert next(iter(shape.items())) == ("event", "summary")
    assert shape["turns"] == 2 and shape["prompt_tokens"] == {"AUDIO": 3}
    assert all(key.islower() and key.isidentifier() for key in shape)


async def test_the_summary_gives_the_sessions_token_totals() -> None:
    from rawlive.client.session import connect
    from rawlive.tools.send import stream_file

    script = load_script(FIXTURES / "scripts" / "demo.toml")
    async with Emulator(script=script, speed=0) as emulator:
        async with connect("gemini-live-2.5-flash-preview", endpoint=emulator.url) as session:
            summary = await stream_file(session, REFERENCE, speed=None, settle=0.1)
            usage = session.usage
    assert usage.reports >= 1 and summary.total_tokens == usage.total_tokens > 0
    assert summary.prompt_tokens == usage.prompt_by_modality
    assert summary.response_tokens == usage.response_by_modality


class _ExtendedThinking(LiveServer):
    """An extended-thinking answer (PROTOCOL.md §10.6): a filler turn ending
    ``turnComplete`` + ``IN_PROGRESS``, a pause longer than the settle time, then
    the answer ending ``turnComplete`` + ``IDLE``."""

    FILLER = np.full(2400, 1000, dtype="<i2").tobytes()  # 0.1 s at 24 kHz
    ANSWER = np.full(7200, -1000, dtype="<i2").tobytes()  # 0.3 s at 24 kHz

    async def session(self, peer: Peer) -> None:
        await peer.read_setup()
        await peer.send(t.LiveServerMessage(setup_complete=t.LiveServerSetupComplete()))
        async for payload in peer:
            if b"audioStreamEnd" in payload or b"activityEnd" in payload:
                break
        for data, status in ((self.FILLER, "IN_PROGRESS"), (self.ANSWER, "IDLE")):
            part = t.Part(inline_data=t.Blob(data=data, mime_type="audio/pcm;rate=24000"))
            content = t.LiveServerContent(model_turn=t.Content(role="model", parts=[part]))
            await peer.send(t.LiveServerMessage(server_content=content))
            done = t.LiveServerContent(turn_complete=True, interaction_status=status)
            await peer.send(t.LiveServerMessage(server_content=done))
            await asyncio.sleep(0.6)
        async for _ in peer:
            pass


@pytest.mark.parametrize("manual_vad", [False, True])
async def test_an_extended_thinking_filler_turn_does_not_end_the_run(
    tmp_path: Path, manual_vad: bool
) -> None:
    from rawlive.client.session import connect
    from rawlive.media.audio import WavWriter
    from rawlive.tools.send import Event, stream_file

    events: list[Event] = []
    async with _ExtendedThinking() as server:
        async with connect("gemini-3.8-live-extended-thinking", endpoint=server.url) as session:
            with WavWriter(tmp_path / "reply.wav") as reply:
                summary = await stream_file(
                    session,
                    REFERENCE,
                    reply=reply,
                    speed=None,
                    settle=0.1,
                    manual_vad=manual_vad,
                    on_event=events.append,
                )
    data, _ = sf.read(tmp_path / "reply.wav", dtype="int16")
    assert summary.turns == 2
    assert summary.reply_seconds == pytest.approx(0.4, abs=0.002)
    assert np.count_nonzero(data < -900) >= 7000  # the answer is in the WAV
    statuses = [e.fields.get("interaction_status") for e in events if e.kind == "turn_complete"]
    assert statuses == ["IN_PROGRESS", "IDLE"]
