"""Decoding, downmixing and resampling audio files to the wire's PCM."""

from __future__ import annotations

import asyncio
import io
import itertools
import math
import os
import signal
import struct
import subprocess
import sys
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

from rawlive.errors import ConfigError
from rawlive.media import audio


def _sine(rate: int, seconds: float, freq: float = 440.0) -> np.ndarray:
    t = np.arange(round(rate * seconds)) / rate
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _pcm(data: bytes) -> np.ndarray:
    return np.frombuffer(data, dtype="<i2").astype(np.float32) / 32768.0


@pytest.mark.parametrize(
    ("rate", "channels", "subtype", "fmt"),
    [
        (16_000, 1, "PCM_16", "WAV"),
        (44_100, 2, "PCM_16", "WAV"),
        (48_000, 1, "FLOAT", "WAV"),
        (8_000, 1, "PCM_U8", "WAV"),
        (22_050, 2, "PCM_24", "FLAC"),
        (48_000, 2, "VORBIS", "OGG"),
    ],
)
def test_any_file_becomes_16khz_mono_s16le_of_the_same_length_and_content(
    tmp_path: Path, rate: int, channels: int, subtype: str, fmt: str
) -> None:
    mono = _sine(rate, 1.5)
    data = np.stack([mono] * channels, axis=1) if channels > 1 else mono
    path = tmp_path / f"x.{fmt.lower()}"
    sf.write(path, data, rate, subtype=subtype, format=fmt)
    pcm = b"".join(audio.iter_pcm(path, rate=16_000, block_frames=1000))
    assert len(pcm) % 2 == 0
    assert abs(len(pcm) // 2 - 24_000) <= 2
    expected = _sine(16_000, 1.5)
    got = _pcm(pcm)[: len(expected)]
    correlation = np.corrcoef(got[200:-200], expected[200 : len(got) - 200])[0, 1]
    assert correlation > 0.99


def test_stereo_channels_are_averaged(tmp_path: Path) -> None:
    left = _sine(16_000, 0.5)
    path = tmp_path / "lr.wav"
    sf.write(path, np.stack([left, np.zeros_like(left)], axis=1), 16_000, subtype="FLOAT")
    got = _pcm(b"".join(audio.iter_pcm(path)))
    assert np.allclose(got, left / 2, atol=2 / 32768)


def test_streaming_resampler_matches_one_shot_whatever_the_chunking() -> None:
    pcm = audio.tone(500, rate=16_000)
    whole = audio.PcmResampler(16_000, 24_000)
    expected = whole.feed_pcm(pcm) + whole.flush()
    pieces = audio.PcmResampler(16_000, 24_000)
    got = b"".join(pieces.feed_pcm(pcm[i : i + 333]) for i in range(0, len(pcm), 333))
    got += pieces.flush()
    assert len(got) == len(expected) == 24_000
    assert np.max(np.abs(_pcm(got) - _pcm(expected))) < 1e-3


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"this is not audio\n", "not an audio file"), (b"RIFF\x00\x00", "not an")],
)
def test_broken_files_raise_a_clear_audio_file_error(
    tmp_path: Path, content: bytes, message: str
) -> None:
    path = tmp_path / "broken.wav"
    path.write_bytes(content)
    with pytest.raises(audio.AudioFileError, match=message):
        list(audio.iter_pcm(path))


def test_a_missing_file_is_named() -> None:
    with pytest.raises(audio.AudioFileError, match="no such file"):
        audio.file_info("/nonexistent/talk.wav")


def test_tone_has_the_requested_length_and_level() -> None:
    samples = _pcm(audio.tone(1000, rate=24_000, level_dbfs=-20))
    assert len(samples) == 24_000
    assert abs(20 * np.log10(np.max(np.abs(samples))) + 20) < 0.1


# ---------------------------------------------------------------------------
# The speech fixtures
# ---------------------------------------------------------------------------

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "audio"
SPEECH = sorted(FIXTURES.glob("weather-*"))
BROKEN = sorted(FIXTURES.glob("broken-*"))
REFERENCE = FIXTURES / "weather-16k-mono.wav"
CHUNK = audio.chunk_bytes(40)


def _aligned_correlation(got: np.ndarray, ref: np.ndarray) -> float:
    """Pearson correlation of ``got`` and ``ref`` after the shift that best aligns them."""
    n = len(got) + len(ref)
    size = 1 << (n - 1).bit_length()
    xcorr = np.fft.irfft(np.fft.rfft(got, size) * np.conj(np.fft.rfft(ref, size)), size)
    shift = int(np.argmax(xcorr))
    if shift > size // 2:
        shift -= size
    a, b = (got[shift:], ref) if shift >= 0 else (got, ref[-shift:])
    length = min(len(a), len(b))
    return float(np.corrcoef(a[:length], b[:length])[0, 1])


def test_the_fixtures_are_there() -> None:
    assert len(SPEECH) >= 6 and REFERENCE in SPEECH
    assert len(BROKEN) >= 3


@pytest.mark.parametrize("path", SPEECH, ids=lambda p: p.name)
def test_every_speech_fixture_becomes_the_same_16khz_mono_speech(path: Path) -> None:
    info = audio.file_info(path)
    pcm = b"".join(audio.chunks(audio.iter_pcm(path)))
    assert len(pcm) % 2 == 0
    assert abs(len(pcm) / 32_000 - info.duration) <= 0.040
    ref = _pcm(b"".join(audio.iter_pcm(REFERENCE)))
    assert _aligned_correlation(_pcm(pcm), ref) > 0.9


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_every_broken_fixture_raises_a_one_line_audio_file_error(path: Path) -> None:
    with pytest.raises(audio.AudioFileError) as caught:
        list(audio.chunks(audio.iter_pcm(path)))
    message = str(caught.value)
    assert message.startswith(str(path)) and "\n" not in message
    assert len(message) > len(str(path)) + 5


# ---------------------------------------------------------------------------
# Chunking
# ---------------------------------------------------------------------------


@st.composite
def _split(draw: st.DrawFn) -> tuple[bytes, list[bytes]]:
    """Some PCM and the same bytes cut at random places (empty blocks included)."""
    data = draw(st.binary(min_size=0, max_size=5000))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    edges = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in itertools.pairwise(edges)]


@given(
    split=_split(),
    chunk_ms=st.sampled_from([0.5, 1, 10, 20, 40, 100]),
    tail=st.sampled_from([0.0, 0.001, 0.04, 0.05, 0.3]),
)
@settings(max_examples=300, deadline=None)
def test_chunking_is_exact_whatever_the_block_sizes(
    split: tuple[bytes, list[bytes]], chunk_ms: float, tail: float
) -> None:
    data, blocks = split
    size = audio.chunk_bytes(chunk_ms)
    got = list(audio.chunks(blocks, chunk_ms=chunk_ms, tail_silence_s=tail))
    assert got == list(audio.chunks([data], chunk_ms=chunk_ms, tail_silence_s=tail))
    even = len(data) - len(data) % 2
    n_audio = -(-even // size)
    speech, silence = got[:n_audio], got[n_audio:]
    assert b"".join(speech) == data[:even]
    assert all(len(c) == size for c in speech[:-1])
    assert all(0 < len(c) <= size and len(c) % 2 == 0 for c in got)
    assert b"".join(silence) == bytes(round(16_000 * tail) * 2)
    assert all(len(c) == size for c in silence[:-1])


def test_chunk_sizes_at_the_defaults() -> None:
    pcm = audio.tone(1000, rate=16_000)  # 25 chunks of 40 ms
    got = list(audio.chunks([pcm[:1001], pcm[1001:]], tail_silence_s=1.0))
    assert [len(c) for c in got] == [1280] * 50
    assert b"".join(got[:25]) == pcm and set(b"".join(got[25:])) == {0}
    assert [len(c) for c in audio.chunks([bytes(1300)], chunk_ms=20)] == [640, 640, 20]


def test_chunking_rejects_nonsense() -> None:
    with pytest.raises(ValueError):
        list(audio.chunks([b""], chunk_ms=0))
    with pytest.raises(ValueError):
        list(audio.chunks([b""], tail_silence_s=-1))


def test_chunking_streams_block_by_block() -> None:
    """A chunk is yielded as soon as its bytes are in: nothing is read ahead."""
    consumed = []

    def blocks() -> Iterator[bytes]:
        for i in range(1000):
            consumed.append(i)
            yield bytes(1000)

    stream = audio.chunks(blocks(), chunk_ms=40)
    next(stream)
    assert consumed == [0, 1]


# ---------------------------------------------------------------------------
# Pacing
# ---------------------------------------------------------------------------


async def _stream(pacer: audio.Pacer, seconds: float, chunk_ms: float) -> float:
    """Tick ``seconds`` of ``chunk_ms`` chunks, wait for the end; wall seconds it took."""
    loop = asyncio.get_running_loop()
    start = loop.time()
    pacer.start(start)
    for _ in range(round(seconds * 1000 / chunk_ms)):
        await pacer.tick(chunk_ms / 1000)
        time.sleep(0.0003)  # some work per chunk (encode, send)
    await pacer.wait(pacer.position)
    return loop.time() - start


async def test_the_pacer_keeps_real_time_without_drift() -> None:
    pacer = audio.Pacer(1.0)
    elapsed = await _stream(pacer, 2.0, 20)
    stats = pacer.stats()
    assert stats.chunks == 101
    # 101 sleeps: a pacer that added each sleep's error (≥ 1 ms late with
    # plain asyncio.sleep) would end ~100 ms late; this one ends on time.
    assert 2.0 <= elapsed < 2.0 + 0.015
    assert stats.drift < 0.015
    assert 0 <= stats.p50 <= stats.p99 <= stats.max


@pytest.mark.parametrize("speed", [4.0, 2.5])
async def test_the_pacer_runs_faster_at_higher_speed(speed: float) -> None:
    pacer = audio.Pacer(speed)
    elapsed = await _stream(pacer, 2.0, 40)
    assert 2.0 / speed <= elapsed < 2.0 / speed + 0.015


@pytest.mark.parametrize("speed", [None, 0])
async def test_an_unpaced_pacer_does_not_wait(speed: float | None) -> None:
    pacer = audio.Pacer(speed)
    assert not pacer.paced
    elapsed = await _stream(pacer, 60.0, 40)  # a minute of audio
    assert elapsed < 1.0
    assert pacer.stats().chunks == 0 and pacer.position == pytest.approx(60.0)


async def test_the_pacer_catches_up_after_a_stall_and_ends_on_time() -> None:
    pacer = audio.Pacer(1.0)
    loop = asyncio.get_running_loop()
    start = loop.time()
    pacer.start(start)
    late = []
    for i in range(50):
        late.append(await pacer.tick(0.02))
        if i == 10:
            time.sleep(0.1)  # a 100 ms stall: the next 5 chunks go out at once
    await pacer.wait(pacer.position)
    assert 1.0 <= loop.time() - start < 1.015
    assert max(late[11:13]) > 0.05
    assert max(late[20:]) < 0.015
    assert pacer.stats().max >= 0.08


async def test_the_pacer_lets_other_tasks_run_while_it_waits() -> None:
    ticks = 0

    async def other() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(other())
    try:
        await _stream(audio.Pacer(1.0), 0.5, 20)
    finally:
        task.cancel()
    assert ticks >= 50


def test_pacer_arguments_are_checked() -> None:
    for bad in (-1.0, math.nan, math.inf):
        with pytest.raises(ValueError):
            audio.Pacer(bad)
    with pytest.raises(ValueError):
        audio.Pacer(1.0, spin=-0.001)


def test_pacer_percentiles_come_from_what_was_recorded() -> None:
    pacer = audio.Pacer(1.0)
    for ms in range(1, 101):  # 1..100 ms
        pacer._record(ms / 1000)
    stats = pacer.stats()
    assert stats.chunks == 100
    assert stats.p50 == pytest.approx(0.050, abs=1.5e-5)  # 10 µs resolution
    assert stats.p99 == pytest.approx(0.099, abs=1.5e-5)
    assert stats.max == pytest.approx(0.100) and stats.drift == pytest.approx(0.100)
    assert stats.mean == pytest.approx(0.0505)
    pacer._record(5.0)  # beyond the histogram: still counted, max exact
    assert pacer.stats().max == 5.0 and pacer.percentile(100) == 5.0


# ---------------------------------------------------------------------------
# Writing WAV files
# ---------------------------------------------------------------------------


def _read_both(path: Path, *, growing: bool = False) -> tuple[np.ndarray, bytes]:
    """The samples as soundfile reads them and the frames as ``wave`` reads them.

    Both must agree; for a file that grows meanwhile, the first read must be a
    prefix of the second.
    """
    data, rate = sf.read(path, dtype="int16")
    assert rate == 24_000
    with wave.open(str(path), "rb") as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (24_000, 1, 2)
        frames = w.readframes(w.getnframes())
    if growing:
        assert frames.startswith(data.tobytes())
    else:
        assert data.tobytes() == frames
    return data, frames


def test_the_wav_is_valid_after_every_write(tmp_path: Path) -> None:
    path = tmp_path / "reply.wav"
    pcm = audio.tone(300, rate=24_000)
    written = b""
    with audio.WavWriter(path) as writer:
        assert _read_both(path)[1] == b""
        for size in (1, 2, 3, 1001, 0, 4800, 7, 1):
            piece, pcm = pcm[:size], pcm[size:]
            writer.write(piece)
            written += piece
            whole = len(written) - len(written) % 2
            assert _read_both(path)[1] == written[:whole]
            assert writer.frames_written == whole // 2
            assert os.path.getsize(path) == 44 + whole
        assert writer.seconds == pytest.approx(writer.frames_written / 24_000)
    assert writer.closed
    assert _read_both(path)[1] == written[: len(written) - len(written) % 2]  # odd byte dropped
    with pytest.raises(ValueError):
        writer.write(b"\x00\x00")


def test_the_wav_header_is_canonical(tmp_path: Path) -> None:
    path = tmp_path / "stereo.wav"
    with audio.WavWriter(path, rate=16_000, channels=2) as writer:
        writer.write(bytes(range(10)))  # 2 frames of 4 bytes, 2 bytes held back
        assert writer.frames_written == 2
    raw = path.read_bytes()
    assert raw[:4] == b"RIFF" and raw[8:16] == b"WAVEfmt "
    riff, data = struct.unpack_from("<I", raw, 4)[0], struct.unpack_from("<I", raw, 40)[0]
    assert (riff, data, len(raw)) == (36 + 8, 8, 52)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.frames, info.subtype) == (16_000, 2, 2, "PCM_16")


@pytest.mark.parametrize(("rate", "channels"), [(16_000, 1), (24_000, 1), (8_000, 2)])
def test_wav_bytes_is_a_wav_soundfile_reads_back(rate: int, channels: int) -> None:
    """The one WAV format: bytes in memory (the report's clips) and the writer's file."""
    pcm = audio.tone(250, rate=rate * channels)
    data = audio.wav_bytes(pcm, rate, channels)
    samples, read_rate = sf.read(io.BytesIO(data), dtype="int16", always_2d=True)
    assert (read_rate, samples.shape[1]) == (rate, channels)
    assert samples.tobytes() == pcm
    assert sf.info(io.BytesIO(data)).subtype == "PCM_16"


def test_wav_bytes_is_what_the_writer_writes(tmp_path: Path) -> None:
    pcm = audio.tone(100, rate=16_000)
    with audio.WavWriter(tmp_path / "x.wav", rate=16_000) as writer:
        writer.write(pcm)
    assert (tmp_path / "x.wav").read_bytes() == audio.wav_bytes(pcm, 16_000)


def test_wav_bytes_rejects_a_bad_rate_or_a_part_frame() -> None:
    with pytest.raises(ConfigError, match="rate and channels must be positive"):
        audio.wav_bytes(b"", 0)
    with pytest.raises(ConfigError, match="whole frames"):
        audio.wav_bytes(b"\x00\x00\x00", 16_000)


def test_the_wav_is_valid_between_the_steps_of_a_write(tmp_path: Path) -> None:
    """The moments inside ``write``: data appended, RIFF size updated, data size not yet."""
    path = tmp_path / "reply.wav"
    with audio.WavWriter(path) as writer:
        writer.write(audio.tone(100, rate=24_000))
    complete = path.read_bytes()
    old = 1200  # as if the header had been written when the file held 1200 bytes of data
    states = [
        complete[:4] + struct.pack("<I", 36 + old) + complete[8:40] + struct.pack("<I", old),
        complete[:40] + struct.pack("<I", old),
    ]
    for header in states:
        path.write_bytes(header + complete[44:])
        assert _read_both(path)[1] == complete[44 : 44 + old]


_KILLED_WRITER = """
import sys, time
from rawlive.media.audio import WavWriter
pattern = bytes(i % 251 for i in range(251 * 20))  # the stream: byte i is i % 251
with WavWriter(sys.argv[1]) as writer:
    print("ready", flush=True)
    n = 0
    while True:
        size = 479 + (n * 7919) % 4000  # odd and even sizes
        writer.write(pattern[n % 251 : n % 251 + size])
        n += size
        time.sleep(0.0005)
"""


def test_the_wav_survives_sigkill_mid_stream(tmp_path: Path) -> None:
    path = tmp_path / "killed.wav"
    proc = subprocess.Popen(
        [sys.executable, "-c", _KILLED_WRITER, str(path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == b"ready\n"
        sizes = []
        deadline = time.monotonic() + 0.4
        while time.monotonic() < deadline:  # read it while it grows: always valid
            data, frames = _read_both(path, growing=True)
            assert frames == bytes(i % 251 for i in range(len(frames)))
            sizes.append(len(data))
        assert sizes == sorted(sizes) and sizes[-1] > 0
    finally:
        proc.kill()  # SIGKILL, mid-write
        proc.wait()
        assert proc.stdout is not None and proc.stderr is not None
        proc.stdout.close()
        proc.stderr.close()
    assert proc.returncode == -signal.SIGKILL
    data, frames = _read_both(path)
    raw = path.read_bytes()
    declared = struct.unpack_from("<I", raw, 40)[0]
    assert declared == len(frames) and declared % 2 == 0
    assert len(raw) - 44 - declared < 2 * 4479  # at most the write that was cut short
    assert len(frames) >= sizes[-1] * 2
    assert frames == bytes(i % 251 for i in range(len(frames)))
