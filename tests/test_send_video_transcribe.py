"""``rawlive send`` with a live avatar's video (PROTOCOL.md §10.10) and with Transcribe
Live (§10.8), against small scripted servers that send the frames those sections show."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import websockets
from websockets.asyncio.server import ServerConnection

from rawlive.errors import ConfigError
from rawlive.tools.send import IDLE_GRACE, Event, build_config, stream_file

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SPOKEN = FIXTURES / "audio" / "weather-16k-mono.wav"
RAWLIVE = [sys.executable, "-m", "rawlive"]
ENV = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
TRANSCRIBE = "gemini-3.5-transcribe-live"

Script = Callable[["Scripted", ServerConnection], Awaitable[None]]


class Scripted:
    """A Live server on 127.0.0.1 that answers the setup, then runs ``script``; it
    keeps every client message (as JSON objects) in :attr:`received`."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.received: list[dict[str, Any]] = []
        self.url = ""

    async def __aenter__(self) -> Scripted:
        self._server = await websockets.serve(self._handle, "127.0.0.1", 0, compression=None)
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    @property
    def setup(self) -> dict[str, Any]:
        setup: dict[str, Any] = self.received[0]["setup"]
        return setup

    async def until(self, ws: ServerConnection, *keys: str) -> None:
        """Read client messages until one whose ``realtimeInput`` has one of ``keys``."""
        async for frame in ws:
            message = json.loads(frame)
            self.received.append(message)
            if any(k in message.get("realtimeInput", {}) for k in keys):
                return

    async def _handle(self, ws: ServerConnection) -> None:
        self.received.append(json.loads(await ws.recv()))
        await ws.send('{"setupComplete": {}}')
        try:
            await self.script(self, ws)
            async for frame in ws:  # until the client closes
                self.received.append(json.loads(frame))
        except websockets.ConnectionClosed:
            pass


async def _send(*args: str, cwd: Path | None = None) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *RAWLIVE,
        "send",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=ENV,
        cwd=cwd,
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


# -- the avatar's video (§10.10) ----------------------------------------------------

AUDIO_A = np.full(2400, 1000, dtype="<i2").tobytes()  # 0.1 s at 24 kHz
AUDIO_B = np.full(4800, -2000, dtype="<i2").tobytes()  # 0.2 s
INIT = b"\x00\x00\x00\x18ftypiso6" + b"\x00" * 12 + b"\x00\x00\x00\x10moov" + b"\x01" * 8
FRAGMENT_1 = b"\x00\x00\x00\x10moof" + b"\x02" * 8 + b"\x00\x00\x01\x08mdat" + b"\x03" * 256
FRAGMENT_2 = b"\x00\x00\x00\x10moof" + b"\x04" * 8 + b"\x00\x00\x00\x88mdat" + b"\x05" * 128
VIDEO = INIT + FRAGMENT_1 + FRAGMENT_2


def _part(mime: str, data: bytes) -> dict[str, Any]:
    return {"inlineData": {"mimeType": mime, "data": _b64(data)}}


async def _avatar(server: Scripted, ws: ServerConnection) -> None:
    """One model turn mixing audio and video parts, as binary frames (§10.10)."""
    await server.until(ws, "audioStreamEnd", "activityEnd")
    turn = [
        [_part("audio/pcm;rate=24000", AUDIO_A), _part("video/mp4", INIT)],
        [_part("video/mp4", FRAGMENT_1), _part("audio/pcm", AUDIO_B)],
        [_part("video/mp4", FRAGMENT_2)],
    ]
    for parts in turn:
        content = {"modelTurn": {"role": "model", "parts": parts}}
        await ws.send(json.dumps({"serverContent": content}).encode())
    await ws.send(json.dumps({"serverContent": {"generationComplete": True}}).encode())
    await ws.send(json.dumps({"serverContent": {"turnComplete": True}}).encode())


async def test_video_parts_go_to_save_video_and_only_the_audio_to_the_wav(
    tmp_path: Path,
) -> None:
    out, video = tmp_path / "reply.wav", tmp_path / "avatar.mp4"
    async with Scripted(_avatar) as server:
        code, stdout, stderr = await _send(
            str(SPOKEN),
            *("--endpoint", server.url, "--fast", "--json"),
            *("--out", str(out), "--save-video", str(video)),
        )
    assert code == 0, stderr
    data, rate = sf.read(out, dtype="int16")
    assert rate == 24_000
    assert data.tobytes() == AUDIO_A + AUDIO_B  # the audio, and nothing of the video
    assert video.read_bytes() == VIDEO  # exactly the video parts, in order
    lines = [json.loads(line) for line in stdout.splitlines()]
    summary = lines[-1]
    assert summary["video"] == {
        "path": str(video),
        "bytes": len(VIDEO),
        "parts": 3,
        "mime_type": "video/mp4",
    }
    assert summary["skipped"] == {} and summary["video_parts_not_saved"] == 0
    assert summary["reply_seconds"] == pytest.approx(0.3)
    saved = [(e["mime_type"], e["bytes"]) for e in lines if e["event"] == "video"]
    assert saved == [("video/mp4", len(part)) for part in (INIT, FRAGMENT_1, FRAGMENT_2)]

    # The person's summary says where the video went.
    async with Scripted(_avatar) as server:
        code, stdout, stderr = await _send(
            str(SPOKEN),
            *("--endpoint", server.url, "--fast"),
            *("--out", str(out), "--save-video", str(video)),
        )
    assert code == 0, stderr
    assert f"{len(VIDEO)} bytes (video/mp4, 3 parts) -> {video}" in stdout
    assert video.read_bytes() == VIDEO  # a second run replaces the file


async def test_without_save_video_the_video_parts_are_counted_not_written(
    tmp_path: Path,
) -> None:
    out = tmp_path / "reply.wav"
    async with Scripted(_avatar) as server:
        code, stdout, stderr = await _send(
            str(SPOKEN), "--endpoint", server.url, "--fast", "--out", str(out)
        )
    assert code == 0, stderr
    assert "3 video parts not saved: use --save-video" in stdout
    assert sf.read(out, dtype="int16")[0].tobytes() == AUDIO_A + AUDIO_B
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reply.wav"]
    async with Scripted(_avatar) as server:
        code, stdout, stderr = await _send(
            str(SPOKEN), "--endpoint", server.url, "--fast", "--out", str(out), "--json"
        )
    summary = json.loads(stdout.splitlines()[-1])
    assert summary["video"] is None and summary["video_parts_not_saved"] == 3
    assert summary["skipped"] == {"video/mp4": {"parts": 3, "bytes": len(VIDEO)}}


async def _video_then_nothing(server: Scripted, ws: ServerConnection) -> None:
    await server.until(ws, "audioStreamEnd")
    for fragment in (INIT, FRAGMENT_1):
        content = {"modelTurn": {"parts": [_part("video/mp4", fragment)]}}
        await ws.send(json.dumps({"serverContent": content}).encode())


async def test_ctrl_c_mid_video_leaves_the_bytes_received_so_far(tmp_path: Path) -> None:
    video = tmp_path / "avatar.mp4"
    async with Scripted(_video_then_nothing) as server:
        process = await asyncio.create_subprocess_exec(
            *RAWLIVE,
            *("send", str(SPOKEN), "--endpoint", server.url, "--fast"),
            *("--out", str(tmp_path / "reply.wav"), "--save-video", str(video)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=ENV,
        )
        for _ in range(200):  # the turn never ends: the parts are on disk before it does
            if video.exists() and video.stat().st_size == len(INIT + FRAGMENT_1):
                break
            await asyncio.sleep(0.05)
        process.send_signal(signal.SIGINT)
        _, stderr = await asyncio.wait_for(process.communicate(), 20)
    assert process.returncode == 130, stderr.decode()
    said = stderr.decode().strip()
    assert said.endswith("interrupted; the reply WAV and the video are valid so far"), said
    assert video.read_bytes() == INIT + FRAGMENT_1


async def _two_kinds(server: Scripted, ws: ServerConnection) -> None:
    await server.until(ws, "audioStreamEnd")
    for mime, data in (("video/mp4", INIT), ("image/jpeg", b"\xff\xd8" * 10)):
        content = {"modelTurn": {"parts": [_part(mime, data)]}}
        await ws.send(json.dumps({"serverContent": content}))
    await ws.send(json.dumps({"serverContent": {"turnComplete": True}}))


async def test_a_part_of_another_type_does_not_join_the_video_stream(tmp_path: Path) -> None:
    from rawlive.client.session import connect
    from rawlive.files import AppendFile

    async with Scripted(_two_kinds) as server:
        async with connect("gemini-3.8-live", endpoint=server.url) as session:
            with AppendFile(tmp_path / "v.mp4") as video:
                summary = await stream_file(session, SPOKEN, video=video, speed=None, settle=0.1)
    assert (tmp_path / "v.mp4").read_bytes() == INIT
    assert summary.video is not None and summary.video.parts == 1
    assert summary.video_parts_not_saved == 1
    assert summary.skipped == {"image/jpeg": {"parts": 1, "bytes": 20}}
    assert any("1 video parts not saved (another MIME type)" in x for x in summary.lines())


# -- Transcribe Live (§10.8) ---------------------------------------------------------

UTTERANCES = (
    (["what's the", "what's the weather", "what's the weather like in"], "What's the weather like"),
    (["in pa", "in paris today"], "in Paris today?"),
)


async def _utterance(ws: ServerConnection, number: int) -> None:
    """§10.8's frames for one utterance: interims (the whole utterance so far), the
    final (it may differ from the last interim), then generationComplete."""
    interims, final = UTTERANCES[number]
    await ws.send(json.dumps({"serverContent": {}, "voiceActivity": {"type": "ACTIVITY_START"}}))
    for text in interims:
        await ws.send(json.dumps({"serverContent": {"interimInputTranscription": {"text": text}}}))
    final_text = {"text": final, "languageCode": "en-US"}
    await ws.send(json.dumps({"serverContent": {"inputTranscription": final_text}}))
    await ws.send(json.dumps({"serverContent": {"generationComplete": True}}))
    activity_end = {"type": "ACTIVITY_END", "audioOffset": f"{1.2 * (number + 1):.1f}s"}
    await ws.send(json.dumps({"serverContent": {}, "voiceActivity": activity_end}))


async def _transcriber(server: Scripted, ws: ServerConnection) -> None:
    """The first utterance while the audio streams, the second at its end (the flush)."""
    async for frame in ws:
        server.received.append(json.loads(frame))
        if "audio" in server.received[-1].get("realtimeInput", {}):
            break
    await _utterance(ws, 0)
    await server.until(ws, "audioStreamEnd", "activityEnd")
    await _utterance(ws, 1)  # then nothing: no turnComplete on Transcribe Live


def _finals() -> list[str]:
    return [final for _, final in UTTERANCES]


def test_a_transcribe_model_asks_for_its_rows_modalities_and_input_transcription() -> None:
    config = build_config(model=f"models/{TRANSCRIBE}", voice="Kore")
    assert config["response_modalities"] == ["TEXT"]
    assert config["input_audio_transcription"] == {}
    assert "output_audio_transcription" not in config
    assert "speech_config" not in config  # no speech to give a voice to
    translate = build_config(model="gemini-3.5-live-translate-preview", target_language="pl")
    assert translate["response_modalities"] == ["AUDIO"]  # speech in, translated speech out
    assert "output_audio_transcription" in translate
    assert translate["translation_config"] == {"target_language_code": "pl"}
    assert build_config(model="gemini-3.8-live", voice="Kore")["speech_config"]
    assert build_config()["response_modalities"] == ["AUDIO"]


async def test_transcribe_prints_each_final_once_and_writes_no_wav(tmp_path: Path) -> None:
    async with Scripted(_transcriber) as server:
        code, stdout, stderr = await _send(
            str(SPOKEN), "--endpoint", server.url, "--model", TRANSCRIBE, "--fast", cwd=tmp_path
        )
        setup = server.setup
    assert code == 0, stderr
    assert setup["model"] == f"models/{TRANSCRIBE}"
    assert setup["generationConfig"]["responseModalities"] == ["TEXT"]
    assert setup["inputAudioTranscription"] == {} and "outputAudioTranscription" not in setup
    printed = stdout.splitlines()
    assert printed[: printed.index("")] == _finals()  # no interims in a pipe, finals once
    assert "what's the weather like in" not in stdout
    assert "transcript               2 utterance(s)" in stdout
    assert "no reply WAV written" in stdout
    assert "note" not in stderr and "Traceback" not in stderr
    assert list(tmp_path.iterdir()) == []  # no reply.wav


async def test_transcribe_json_gives_the_finals_as_a_list(tmp_path: Path) -> None:
    out = tmp_path / "reply.wav"
    async with Scripted(_transcriber) as server:
        code, stdout, stderr = await _send(
            str(SPOKEN),
            *("--endpoint", server.url, "--model", TRANSCRIBE, "--fast", "--json"),
            *("--out", str(out)),
        )
    assert code == 0, stderr
    assert stderr.strip() == (
        f"rawlive: note: {TRANSCRIBE} answers in text, not audio: no reply WAV is written "
        f"(--out {out} is not used)"
    )
    assert not out.exists()
    events = [json.loads(line) for line in stdout.splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary" and summary["transcript"] == _finals()
    assert summary["reply_path"] is None and summary["reply_seconds"] == 0
    interims = [e["text"] for e in events if e["event"] == "interim_transcription"]
    assert interims == [text for texts, _ in UTTERANCES for text in texts]
    finals = [(e["text"], e["language_code"]) for e in events if e["event"] == "transcript"]
    assert finals == [(final, "en-US") for final in _finals()]
    assert sum(e["event"] == "generation_complete" for e in events) == 2


async def test_on_a_terminal_interims_overwrite_one_status_line(tmp_path: Path) -> None:
    import pty

    async with Scripted(_transcriber) as server:
        controller, terminal = pty.openpty()
        process = await asyncio.create_subprocess_exec(
            *RAWLIVE,
            *("send", str(SPOKEN), "--endpoint", server.url, "--model", TRANSCRIBE, "--fast"),
            stdout=terminal,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=ENV,
            cwd=tmp_path,
        )
        os.close(terminal)
        _, stderr = await asyncio.wait_for(process.communicate(), 60)
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
    assert process.returncode == 0, stderr
    text = shown.decode()
    for interim in UTTERANCES[0][0] + UTTERANCES[1][0]:
        assert f"\r\x1b[K{interim}" in text  # each replaces the status line
    lines = [line.rsplit("\x1b[K", 1)[-1] for line in text.replace("\r\n", "\n").split("\n")]
    assert lines[:2] == _finals()  # each final replaces the interims, on its own line
    assert "what's the weather like in\n" not in text.replace("\r\n", "\n")


@pytest.mark.parametrize("manual_vad", [True, False])
async def test_the_run_ends_at_the_generation_complete_after_the_last_final(
    manual_vad: bool,
) -> None:
    from rawlive.client.session import connect

    events: list[Event] = []
    config = build_config(model=TRANSCRIBE, manual_vad=manual_vad)
    async with Scripted(_transcriber) as server:
        async with connect(TRANSCRIBE, config, endpoint=server.url) as session:
            loop = asyncio.get_running_loop()
            started = loop.time()
            summary = await stream_file(
                session,
                SPOKEN,
                speed=None,
                manual_vad=manual_vad,
                transcribe=True,
                settle=0.2,
                on_event=events.append,
            )
            took = loop.time() - started
    assert summary.transcript == _finals()
    assert summary.turns == 0 and summary.reply_seconds == 0
    # Manual detection ends at the generationComplete; automatic after settle seconds:
    # neither waits for a turnComplete that never comes, nor for the 60 s timeout.
    assert took < (1.0 if manual_vad else 0.2 + 1.0)
    kinds = [e.kind for e in events if e.kind != "progress"]
    assert kinds.count("transcript") == 2 and kinds[-1] == "generation_complete"


async def _finals_then_silence(server: Scripted, ws: ServerConnection) -> None:
    """One utterance while the audio streams; the silent tail gives nothing (§10.8)."""
    async for frame in ws:
        server.received.append(json.loads(frame))
        if "audio" in server.received[-1].get("realtimeInput", {}):
            break
    await _utterance(ws, 0)


async def test_with_nothing_after_the_input_the_run_ends_after_a_quiet_period() -> None:
    from rawlive.client.session import connect

    async with Scripted(_finals_then_silence) as server:
        async with connect(TRANSCRIBE, build_config(model=TRANSCRIBE), endpoint=server.url) as s:
            loop = asyncio.get_running_loop()
            started = loop.time()
            summary = await stream_file(
                s, SPOKEN, speed=None, transcribe=True, settle=0.1, timeout=30
            )
            took = loop.time() - started
    assert summary.transcript == [UTTERANCES[0][1]]
    assert IDLE_GRACE - 0.5 < took < IDLE_GRACE + 2  # the quiet period, not the timeout


@pytest.mark.parametrize(
    ("kwargs", "says"),
    [
        ({"model": "gemini-3.5-live-translate-preview"}, "--target-language pl"),
        (
            {"model": "gemini-3.5-live-translate-preview", "target_language": "pl", "system": "x"},
            "takes no system instruction or tools",
        ),
        ({"model": "gemini-3.8-live", "target_language": "pl"}, "goes with a translation model"),
    ],
)
def test_a_translation_needs_its_target_and_nothing_it_refuses(
    kwargs: dict[str, Any], says: str
) -> None:
    with pytest.raises(ConfigError, match=says.replace("(", r"\(")):
        build_config(**kwargs)


async def test_send_translates_end_to_end_on_the_emulator(tmp_path: Path) -> None:
    # PROTOCOL.md §10.9: translated audio with both transcriptions; the
    # emulator marks its "translation" with the target language.
    out = tmp_path / "reply.wav"
    code, stdout, err = await _send(
        str(SPOKEN),
        "--emulator",
        "--fast",
        "--model",
        "gemini-3.5-live-translate-preview",
        "--target-language",
        "pl",
        "--out",
        str(out),
    )
    assert code == 0, err
    assert "model: [pl] " in stdout and "you: " in stdout
    assert sf.info(str(out)).duration > 0.5
    code, _, err = await _send(
        str(SPOKEN), "--emulator", "--fast", "--model", "gemini-3.5-live-translate-preview"
    )
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "--target-language" in lines[0]


async def test_send_waits_through_an_extended_thinking_filler_on_the_emulator(
    tmp_path: Path,
) -> None:
    # PROTOCOL.md §10.6-§10.7: the filler turn ends IN_PROGRESS; the run goes
    # on to the answer, which ends the interaction at IDLE.
    tools = tmp_path / "tools.json"
    tools.write_text(
        json.dumps(
            {
                "function_declarations": [{"name": "get_weather", "description": "weather"}],
                "responses": {"get_weather": {"temperature": 24}},
            }
        )
    )
    out = tmp_path / "reply.wav"
    code, stdout, err = await _send(
        str(SPOKEN),
        "--emulator",
        "--fast",
        "--emulator-script",
        str(FIXTURES / "scripts" / "weather.toml"),
        "--model",
        "gemini-3.8-live-extended-thinking",
        "--tools",
        str(tools),
        "--out",
        str(out),
    )
    assert code == 0, err
    said = [line for line in stdout.splitlines() if line.startswith("model: ")]
    assert said == ["model: Checking that now.", "model: It's sunny in Paris, 24 degrees."]
    assert "tool response: get_weather" in stdout
    assert sf.info(str(out)).duration > 1.5  # the filler and the answer


async def test_send_prints_a_transcript_from_the_emulators_transcribe_live(
    tmp_path: Path,
) -> None:
    code, stdout, err = await _send(
        str(SPOKEN), "--emulator", "--fast", "--model", TRANSCRIBE, "--json", cwd=tmp_path
    )
    assert code == 0, err
    events = [json.loads(line) for line in stdout.splitlines()]
    summary = events[-1]
    assert summary["event"] == "summary" and len(summary["transcript"]) == 1
    assert [e["text"] for e in events if e["event"] == "transcript"] == summary["transcript"]
    assert not (tmp_path / "reply.wav").exists()
