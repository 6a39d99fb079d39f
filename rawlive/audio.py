"""Audio for the Live API: any file in, 16-bit mono PCM at the rate the wire wants out.

The Live API takes 16 kHz mono s16le and answers in 24 kHz mono s16le
(``PROTOCOL.md`` §6). This module owns getting there from anything soundfile
reads (WAV of any sample format, FLAC, OGG/Vorbis, ...; any channel count and
sample rate): blocks are read, downmixed and resampled by soxr's streaming
resampler (high quality), so memory stays constant whatever the file's
length. It also converts PCM between rates in a stream (the emulator's
24 kHz echo of 16 kHz input) and makes test tones.

numpy, soundfile and soxr are imported here only; ``import rawlive`` never
loads this module.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
import soxr

from rawlive.errors import RawliveError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "INPUT_RATE",
    "OUTPUT_RATE",
    "AudioFileError",
    "AudioInfo",
    "PcmResampler",
    "file_info",
    "iter_pcm",
    "tone",
]

INPUT_RATE = 16_000
"""Sample rate of the audio the Live API takes in."""
OUTPUT_RATE = 24_000
"""Sample rate of the audio the Live API sends back."""

_BLOCK_FRAMES = 8192  # frames read per block: ~0.2 s at 44.1 kHz, a few hundred KiB at most


class AudioFileError(RawliveError):
    """An audio file cannot be used: missing, empty, not audio or unsupported."""


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a file holds, before any conversion."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def file_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Open ``path`` and describe it; :class:`AudioFileError` if it is not usable audio."""
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioFileError(f"{name}: no such file")
    if os.path.isdir(name):
        raise AudioFileError(f"{name}: is a folder, not an audio file")
    if os.path.getsize(name) == 0:
        raise AudioFileError(f"{name}: the file is empty")
    try:
        info = sf.info(name)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        raise AudioFileError(
            f"{name}: not an audio file soundfile can read ({_reason(exc)}); "
            "use WAV, FLAC or OGG, for example"
        ) from None
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(f"{name}: the file holds no audio")
    return AudioInfo(name, info.samplerate, info.channels, info.frames, info.format, info.subtype)


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _to_s16(samples: NDArray[np.float32]) -> bytes:
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    return (clipped * 32768.0).astype("<i2").tobytes()


class PcmResampler:
    """A streaming resampler: float or s16le blocks in, s16le mono bytes at ``out_rate`` out.

    Keeps soxr's state between calls, so chunk boundaries leave no clicks and
    the total length is exact once :meth:`flush` has been called.
    """

    def __init__(self, in_rate: int, out_rate: int, *, quality: str = "HQ") -> None:
        self.in_rate = in_rate
        self.out_rate = out_rate
        self._stream = (
            None
            if in_rate == out_rate
            else soxr.ResampleStream(in_rate, out_rate, 1, "float32", quality)
        )
        self._odd = b""

    def feed_float(self, mono: NDArray[np.float32]) -> bytes:
        """Resample a block of mono float samples in [-1, 1)."""
        if self._stream is None:
            return _to_s16(mono)
        return _to_s16(self._stream.resample_chunk(mono))

    def feed_pcm(self, pcm: bytes) -> bytes:
        """Resample s16le mono bytes (any length; an odd byte waits for the next call)."""
        data = self._odd + pcm
        whole = len(data) - len(data) % 2
        self._odd = data[whole:]
        if self._stream is None:
            return data[:whole]
        samples = np.frombuffer(data[:whole], dtype="<i2").astype(np.float32) / 32768.0
        return self.feed_float(samples)

    def flush(self) -> bytes:
        """The samples soxr still holds; call once at the end of the stream."""
        self._odd = b""
        if self._stream is None:
            return b""
        return _to_s16(self._stream.resample_chunk(np.zeros(0, dtype=np.float32), last=True))


def iter_pcm(
    path: str | os.PathLike[str],
    *,
    rate: int = INPUT_RATE,
    block_frames: int = _BLOCK_FRAMES,
) -> Iterator[bytes]:
    """Yield the file's audio as s16le mono bytes at ``rate``, block by block.

    Channels are averaged; the sample rate is converted by soxr (HQ). Memory
    stays bounded by one block whatever the file's length. Raises
    :class:`AudioFileError` for a file that is missing, empty, not audio or
    cut short in a way soundfile cannot read past.
    """
    info = file_info(path)
    resampler = PcmResampler(info.sample_rate, rate)
    try:
        with sf.SoundFile(info.path) as handle:
            while True:
                block: Any = handle.read(block_frames, dtype="float32", always_2d=True)
                if len(block) == 0:
                    break
                mono = block.mean(axis=1, dtype=np.float32) if block.shape[1] > 1 else block[:, 0]
                out = resampler.feed_float(np.ascontiguousarray(mono, dtype=np.float32))
                if out:
                    yield out
    except (sf.LibsndfileError, RuntimeError) as exc:
        raise AudioFileError(f"{info.path}: cannot read the audio ({_reason(exc)})") from None
    tail = resampler.flush()
    if tail:
        yield tail


def tone(
    duration_ms: float,
    *,
    rate: int = OUTPUT_RATE,
    frequency: float = 440.0,
    level_dbfs: float = -20.0,
) -> bytes:
    """A sine tone as s16le mono bytes, with 5 ms fades so it starts and ends cleanly."""
    count = round(rate * duration_ms / 1000)
    if count <= 0:
        return b""
    t = np.arange(count, dtype=np.float32) / rate
    amplitude = math.pow(10.0, level_dbfs / 20.0)
    samples = amplitude * np.sin(2 * math.pi * frequency * t, dtype=np.float32)
    fade = min(count // 2, round(rate * 0.005))
    if fade:
        ramp = np.linspace(0.0, 1.0, fade, dtype=np.float32)
        samples[:fade] *= ramp
        samples[-fade:] *= ramp[::-1]
    return _to_s16(samples.astype(np.float32))
