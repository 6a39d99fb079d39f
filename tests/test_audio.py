"""Decoding, downmixing and resampling audio files to the wire's PCM."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rawlive import audio


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
