"""Any container, video frames and still images in ``rawlive send`` (issue 17):
rawlive.media.container on the committed fixtures, and ``send`` against the emulator."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rawlive.cassette import read_cassette
from rawlive.media import container, image
from rawlive.media.container import AudioChunk, Frame
from rawlive.servers.emulator import Emulator

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
AUDIO = FIXTURES / "audio"
VIDEO = FIXTURES / "video"
IMAGES = FIXTURES / "images"
REFERENCE = AUDIO / "weather-16k-mono.wav"
CLIP = VIDEO / "clip.mp4"
VIDEO_ONLY = VIDEO / "video-only.webm"
ENV = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}


async def _run(*argv: str, timeout: float = 60) -> tuple[int, str, str]:
    process = await asyncio.create_subprocess_exec(
        *argv,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        stdin=asyncio.subprocess.DEVNULL,
        env=ENV,
    )
    out, err = await asyncio.wait_for(process.communicate(), timeout)
    assert process.returncode is not None
    return process.returncode, out.decode(), err.decode()


async def _send(*args: str) -> tuple[int, str, str]:
    return await _run(sys.executable, "-m", "rawlive", "send", *args)


def _one_line_error(code: int, stderr: str, *words: str) -> None:
    assert code == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rawlive: "), stderr
    assert all(word in lines[0] for word in words), lines[0]
    assert "Traceback" not in stderr


def _size(data: bytes) -> tuple[int | None, int | None]:
    info = image.inspect(data)
    return info.width, info.height


def _client_inputs(path: Path) -> list[tuple[float, str, bytes, str]]:
    """Each realtimeInput the client sent: (time, "audio"/"video", bytes, MIME type)."""
    import pybase64

    found = []
    for event in read_cassette(path).frames(sender="client"):
        message = json.loads(event.wire_payload())
        realtime = message.get("realtimeInput") or message.get("realtime_input") or {}
        for kind in ("audio", "video"):
            blob = realtime.get(kind)
            if blob:
                data = pybase64.urlsafe_b64decode(blob["data"].replace("+", "-").replace("/", "_"))
                found.append((event.t, kind, data, blob.get("mimeType") or blob["mime_type"]))
    return found


# -- the library -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "reader", "has_audio", "has_video", "duration"),
    [
        (AUDIO / "weather-16k-mono.wav", "soundfile", True, False, 2.736),
        (AUDIO / "weather-24k.flac", "soundfile", True, False, 2.736),
        (AUDIO / "weather-16k-mono.m4a", "pyav", True, False, 2.74),
        (AUDIO / "weather-16k-mono.webm", "pyav", True, False, 2.74),
        (CLIP, "pyav", True, True, 4.0),
        (VIDEO_ONLY, "pyav", False, True, 3.0),
    ],
)
def test_media_info_says_what_a_file_holds_and_who_reads_it(
    name: Path, reader: str, has_audio: bool, has_video: bool, duration: float
) -> None:
    info = container.media_info(name)
    assert (info.reader, info.has_audio, info.has_video) == (reader, has_audio, has_video)
    assert info.duration == pytest.approx(duration, abs=0.05)
    if has_video:
        assert (info.width, info.height) in ((320, 240), (160, 120))


def test_a_clip_gives_one_frame_per_second_each_before_the_audio_of_its_time() -> None:
    items = list(container.timeline(CLIP))
    frames = [i for i in items if isinstance(i, Frame)]
    assert [f.t for f in frames] == [0.0, 1.0, 2.0, 3.0]
    for frame in frames:
        assert image.inspect(frame.data).ok and image.sniff(frame.data) == "image/jpeg"
        assert (frame.width, frame.height) == (320, 240) == _size(frame.data)
    # Every item's time is no earlier than the one before it; a frame comes right
    # before the chunk that starts at its time.
    times = [i.t for i in items]
    assert times == sorted(times)
    for index, item in enumerate(items):
        if isinstance(item, Frame):
            after = items[index + 1]
            assert isinstance(after, AudioChunk) and after.t == pytest.approx(item.t)
    audio = sum(i.seconds for i in items if isinstance(i, AudioChunk))
    assert audio == pytest.approx(4.0, abs=0.05)


def test_frames_are_fitted_to_max_size_and_picked_at_fps() -> None:
    frames = list(container.iter_frames(CLIP, fps=0.5, max_size=100))
    assert [f.t for f in frames] == [0.0, 2.0]
    assert {(f.width, f.height) for f in frames} == {(100, 74)}
    assert all(_size(f.data) == (100, 74) for f in frames)
    assert container.fit(4000, 3000, 768) == (768, 576)
    assert container.fit(64, 48, 768) == (64, 48)  # never scaled up
    with pytest.raises(container.ConfigError, match="one frame per second"):
        list(container.iter_frames(CLIP, fps=2))


def test_a_video_with_no_audio_track_gives_frames_on_the_clock_then_the_tail_silence() -> None:
    items = list(container.timeline(VIDEO_ONLY, tail_silence_s=0.2))
    frames = [i for i in items if isinstance(i, Frame)]
    chunks = [i for i in items if isinstance(i, AudioChunk)]
    assert [f.t for f in frames] == [0.0, 1.0, 2.0]
    assert (frames[0].width, frames[0].height) == (160, 120)
    assert chunks[0].t == pytest.approx(3.0) and not any(b for c in chunks for b in c.data)
    assert list(container.iter_audio(VIDEO_ONLY)) == []


def test_audio_without_video_gives_no_frames() -> None:
    assert list(container.iter_frames(AUDIO / "weather-16k-mono.m4a")) == []
    assert not [i for i in container.timeline(REFERENCE) if isinstance(i, Frame)]


def _correlation(a: np.ndarray, b: np.ndarray) -> tuple[float, int]:
    """Peak normalised cross-correlation and its lag (samples a is behind b)."""
    n = max(len(a), len(b))
    a, b = a - a.mean(), b - b.mean()
    spectrum = np.fft.irfft(np.fft.rfft(a, 2 * n) * np.conj(np.fft.rfft(b, 2 * n)))
    peak = int(np.argmax(np.abs(spectrum)))
    lag = peak if peak < n else peak - 2 * n
    return float(np.abs(spectrum[peak]) / (np.linalg.norm(a) * np.linalg.norm(b))), lag


@pytest.mark.parametrize("name", ["weather-16k-mono.m4a", "weather-16k-mono.webm"])
def test_compressed_audio_decodes_to_the_same_speech_at_the_same_place(name: str) -> None:
    pcm = b"".join(container.iter_audio(AUDIO / name))
    got = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    reference, _ = sf.read(REFERENCE, dtype="float64")
    assert abs(len(got) - len(reference)) / 16_000 <= 0.05
    similarity, lag = _correlation(got, reference)
    assert similarity > 0.8
    assert abs(lag) <= 16_000 * 0.01  # within 10 ms: the speech is where it was


def test_without_pyav_a_container_needs_the_media_extra_and_a_wav_does_not(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "av", None)
    with pytest.raises(container.MediaExtraMissing, match=r"pip install 'rawlive\[media\]'"):
        container.media_info(AUDIO / "weather-16k-mono.m4a")
    assert container.media_info(REFERENCE).has_audio
    assert b"".join(container.iter_audio(REFERENCE))


def test_images_load_before_the_audio_or_at_their_time_and_bad_ones_are_named(
    tmp_path: Path,
) -> None:
    jpg, png = IMAGES / "testsrc-320x240.jpg", IMAGES / "testsrc-64x48.png"
    first, timed = container.load_images([str(jpg), f"{png}@1.5"])
    assert first.before_audio and first.mime_type == "image/jpeg" and first.source == str(jpg)
    assert (timed.t, timed.before_audio, timed.mime_type) == (1.5, False, "image/png")
    assert (timed.width, timed.height) == (64, 48)
    folder = container.load_images([f"{IMAGES}@2"])
    assert [(f.t, Path(f.source or "").name) for f in folder] == [
        (2.0, "testsrc-320x240.jpg"),
        (3.0, "testsrc-64x48.png"),
    ]
    items = list(container.timeline(REFERENCE, images=[first, timed]))
    assert items[0] is first
    index = items.index(timed)
    assert items[index - 1].t < 1.5 <= items[index + 1].t
    empty = tmp_path / "empty"
    empty.mkdir()
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(jpg.read_bytes()[:400])
    for spec, words in [
        (str(cut), "not a whole image"),
        (str(REFERENCE), "not an image"),
        (str(tmp_path / "none.png"), "no such image"),
        (f"{jpg}@soon", "PATH@SECONDS"),
        (str(empty), "no .jpg"),
    ]:
        with pytest.raises(container.AudioFileError, match=words):
            container.load_images([spec])


# -- rawlive send ----------------------------------------------------------------


async def test_send_a_clip_records_one_frame_per_second_with_the_audio_of_its_time(
    tmp_path: Path,
) -> None:
    record = tmp_path / "s.jsonl"
    code, stdout, stderr = await _send(
        str(CLIP), "--emulator", "--fast", "--out", str(tmp_path / "r.wav"),
        "--record", str(record), "--json",
    )  # fmt: skip
    assert code == 0, stderr
    inputs = _client_inputs(record)
    kinds = [kind for _, kind, _, _ in inputs]
    assert kinds.count("video") == 4
    # Frame k goes out right before the audio of k seconds: 25 chunks of 40 ms per second.
    audio_before = [kinds[:i].count("audio") for i, kind in enumerate(kinds) if kind == "video"]
    assert audio_before == [0, 25, 50, 75]
    for _, kind, data, mime in inputs:
        if kind == "video":
            assert mime == "image/jpeg" and image.inspect(data).ok
    lines = [json.loads(line) for line in stdout.splitlines()]
    frames = [line for line in lines if line["event"] == "frame"]
    assert [f["at"] for f in frames] == [0.0, 1.0, 2.0, 3.0]
    assert all((f["width"], f["height"]) == (320, 240) and f["bytes"] > 1000 for f in frames)
    summary = lines[-1]
    assert summary["event"] == "summary"
    assert summary["frames"]["count"] == 4 and summary["frames"]["sizes"] == {"320x240": 4}
    assert summary["frames"]["bytes"] == sum(f["bytes"] for f in frames)
    assert summary["audio_sent_seconds"] == pytest.approx(4.0, abs=0.05)


async def test_a_paced_clip_sends_each_frame_at_its_second(tmp_path: Path) -> None:
    record = tmp_path / "s.jsonl"
    code, stdout, stderr = await _send(
        str(CLIP), "--emulator", "--out", str(tmp_path / "r.wav"), "--record", str(record),
        "--max-size", "160", "--image", f"{IMAGES / 'testsrc-64x48.png'}@2.5",
    )  # fmt: skip
    assert code == 0, stderr
    inputs = _client_inputs(record)
    audio_times = [t for t, kind, _, _ in inputs if kind == "audio"]
    video = [(t, data) for t, kind, data, _ in inputs if kind == "video"]
    assert len(video) == 5
    start = audio_times[0]
    sent_at = [round(t - start, 1) for t, _ in video]
    assert sent_at == [0.0, 1.0, 2.0, 2.5, 3.0]
    assert image.inspect(video[3][1]).mime_type == "image/png"
    assert {_size(data) for _, data in video} == {(160, 120), (64, 48)}
    assert "frames sent              5" in stdout


@pytest.mark.parametrize("name", ["weather-16k-mono.m4a", "weather-16k-mono.webm"])
async def test_m4a_and_webm_stream_like_the_wav(tmp_path: Path, name: str) -> None:
    async with Emulator(speed=0, keep_sessions=True) as emulator:
        code, stdout, stderr = await _send(
            str(AUDIO / name), "--endpoint", emulator.url, "--fast",
            "--out", str(tmp_path / "r.wav"),
        )  # fmt: skip
        assert code == 0, stderr
        (session,) = emulator.sessions.values()
        pcm = b"".join(
            bytes(m.realtime_input.audio.data or b"")
            for m in session.consumed
            if m.realtime_input is not None and m.realtime_input.audio is not None
        )
    reference, _ = sf.read(REFERENCE, dtype="float64")
    got = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    assert abs(len(got) - len(reference)) / 16_000 <= 0.05
    similarity, lag = _correlation(got, reference)
    assert similarity > 0.8 and abs(lag) <= 160
    assert "reply audio" in stdout and "frames sent" not in stdout


async def test_send_refuses_bad_video_options_and_images_with_one_line(tmp_path: Path) -> None:
    code, _, stderr = await _send(str(CLIP), "--emulator", "--fps", "2")
    _one_line_error(code, stderr, "--fps", "one frame")
    code, _, stderr = await _send(str(CLIP), "--emulator", "--max-size", "8")
    _one_line_error(code, stderr, "--max-size")
    code, _, stderr = await _send(str(CLIP), "--emulator", "--image", str(REFERENCE))
    _one_line_error(code, stderr, "not an image", "JPEG or PNG")
    code, _, stderr = await _send(str(VIDEO_ONLY), "--emulator", "--no-video")
    _one_line_error(code, stderr, "no audio track")


async def test_without_pyav_send_names_the_extra_in_one_line(tmp_path: Path) -> None:
    code, _, stderr = await _run(
        sys.executable, "-c",
        "import sys; sys.modules['av'] = None; from rawlive.cli import main; main()",
        "send", str(AUDIO / "weather-16k-mono.m4a"), "--emulator",
    )  # fmt: skip
    _one_line_error(code, stderr, "pip install 'rawlive[media]'")


def test_the_fixtures_script_names_every_media_fixture() -> None:
    script = (VIDEO / "make_fixtures.sh").read_text()
    for name in ("clip.mp4", "video-only.webm", "weather-16k-mono.m4a", "weather-16k-mono.webm"):
        assert name in script
    assert shutil.which("bash")


async def test_a_video_with_no_audio_track_streams_its_frames_and_ends_without_a_reply(
    tmp_path: Path,
) -> None:
    record = tmp_path / "s.jsonl"
    code, stdout, stderr = await _send(
        str(VIDEO_ONLY), "--emulator", "--out", str(tmp_path / "r.wav"),
        "--record", str(record), "--json", "--timeout", "30",
    )  # fmt: skip
    assert code == 0, stderr
    summary = json.loads(stdout.splitlines()[-1])
    assert summary["frames"]["count"] == 3 and summary["frames"]["sizes"] == {"160x120": 3}
    assert summary["audio_sent_seconds"] == 0 and summary["turns"] == 0
    inputs = _client_inputs(record)
    times = [round(t - inputs[0][0], 1) for t, kind, _, _ in inputs if kind == "video"]
    assert times == [0.0, 1.0, 2.0]  # on the clock, not all at once
    messages = [json.loads(e.wire_payload()) for e in read_cassette(record).frames(sender="client")]
    assert any(
        (m.get("realtimeInput") or m.get("realtime_input") or {}).get("audioStreamEnd")
        for m in messages
    )
