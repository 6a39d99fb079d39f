"""Audio for the Live API: any file in, 16-bit mono PCM at the rate the wire wants out.

The wire takes 16 kHz mono s16le and answers in 24 kHz (``PROTOCOL.md`` §6).
This module gets there from anything soundfile reads (anything else through
:mod:`rawlive.media.container`, PyAV), converts PCM between
rates in a stream, cuts and paces chunks (:func:`chunks`, :class:`Pacer`),
writes reply WAVs (:class:`WavWriter`; :func:`wav_bytes` in memory) and
makes test tones. The rules:

1. Files are read in blocks, downmixed and resampled by soxr's streaming
   resampler: memory stays constant whatever the file's length.
2. A :class:`Pacer` schedules on :func:`time.monotonic` without drift, and
   records how late each wake-up was.
3. A :class:`WavWriter`'s file is a valid WAV at every moment, even after the
   process is killed.
4. numpy, soundfile and soxr are imported here only; ``import rawlive`` never
   loads this module.
"""

from __future__ import annotations

import array
import asyncio
import dataclasses
import math
import os
import struct
import time
from collections.abc import Iterable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any

import numpy as np
import soundfile as sf
import soxr

from rawlive import files
from rawlive.errors import AudioFileError, ClosedError, ConfigError

if TYPE_CHECKING:
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_CHUNK_MS",
    "DEFAULT_SPIN",
    "INPUT_RATE",
    "MAX_SAMPLE_RATE",
    "MIN_SAMPLE_RATE",
    "OUTPUT_RATE",
    "AudioFileError",
    "AudioInfo",
    "Pacer",
    "PacingStats",
    "PcmResampler",
    "WavWriter",
    "chunk_bytes",
    "chunks",
    "file_info",
    "iter_pcm",
    "tone",
    "wav_bytes",
]

INPUT_RATE = 16_000
"""Sample rate of the audio the Live API takes in."""
OUTPUT_RATE = 24_000
"""Sample rate of the audio the Live API sends back."""

MIN_SAMPLE_RATE = 1_000
"""The lowest sample rate read or resampled: below it no speech is left, and
resampling from it to 16 kHz would multiply the samples many times over."""
MAX_SAMPLE_RATE = 768_000
"""The highest sample rate read or resampled (the fastest audio hardware)."""

_BLOCK_FRAMES = 8192  # frames read per block: ~0.2 s at 44.1 kHz, a few hundred KiB at most
_BLOCK_SAMPLES = 8 * _BLOCK_FRAMES  # samples per block, all channels: 256 KiB as float32


@dataclasses.dataclass(frozen=True)
class AudioInfo:
    """What a file holds, before any conversion."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    format: str
    #: soundfile's subtype (``PCM_16``...); ``pyav`` for a file PyAV reads
    #: (:mod:`rawlive.media.container`), whose ``frames`` come from its duration.
    subtype: str

    @property
    def duration(self) -> float:
        return self.frames / self.sample_rate if self.sample_rate else 0.0


def file_info(path: str | os.PathLike[str]) -> AudioInfo:
    """Open ``path`` and describe its audio; :class:`AudioFileError` if it has no usable audio.

    A file soundfile cannot read is described by PyAV
    (:func:`rawlive.media.container.media_info`, the ``media`` extra): any
    container and codec, the audio track of a video.
    """
    name = os.fspath(path)
    if not os.path.exists(name):
        raise AudioFileError(f"{name}: no such file")
    if os.path.isdir(name):
        raise AudioFileError(f"{name}: is a folder, not an audio file")
    if os.path.getsize(name) == 0:
        raise AudioFileError(f"{name}: the file is empty")
    try:
        info = sf.info(name)
    except (sf.LibsndfileError, RuntimeError, TypeError):
        return _container_info(name)
    if info.frames <= 0 or info.samplerate <= 0 or info.channels <= 0:
        raise AudioFileError(f"{name}: the file holds no audio")
    if not MIN_SAMPLE_RATE <= info.samplerate <= MAX_SAMPLE_RATE:
        # A damaged header, most likely; resampling 16 Hz to 16 kHz would
        # also turn every block read into a thousand times its size.
        raise AudioFileError(
            f"{name}: a sample rate of {info.samplerate} Hz is not supported "
            f"({MIN_SAMPLE_RATE} to {MAX_SAMPLE_RATE} Hz)"
        )
    return AudioInfo(name, info.samplerate, info.channels, info.frames, info.format, info.subtype)


def _container_info(name: str) -> AudioInfo:
    """The audio of a file soundfile cannot read, as PyAV describes it."""
    from rawlive.media import container  # it imports this module

    media = container.media_info(name)
    if not media.has_audio or not media.sample_rate:
        raise AudioFileError(f"{name}: the file holds no audio (a video with no audio track)")
    frames = round(media.duration * media.sample_rate)
    return AudioInfo(
        name, media.sample_rate, media.channels or 1, frames, media.format, media.reader
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


def _to_s16(samples: NDArray[np.float32]) -> bytes:
    clipped = np.clip(samples, -1.0, 32767 / 32768)
    # NaN (a damaged float file) passes clip; as silence, not an undefined cast.
    np.nan_to_num(clipped, copy=False)
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

    Channels are averaged; the sample rate is converted by soxr (HQ). A file
    soundfile cannot read is decoded by PyAV (the ``media`` extra). Memory
    stays bounded by one block whatever the file's length. Raises
    :class:`AudioFileError` for a file that is missing, empty, not audio or
    cut short in a way soundfile cannot read past.
    """
    info = file_info(path)
    if info.subtype == "pyav":  # a container soundfile cannot read
        from rawlive.media import container

        yield from container.iter_audio(info.path, rate=rate)
        return
    resampler = PcmResampler(info.sample_rate, rate)
    # A block holds every channel: fewer frames when there are many (up to
    # libsndfile's 1024), so that a block stays small whatever the header says.
    block_frames = max(1, min(block_frames, _BLOCK_SAMPLES // info.channels))
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


# ---------------------------------------------------------------------------
# Chunking
# ---------------------------------------------------------------------------

DEFAULT_CHUNK_MS = 40
"""Default length of one chunk of audio sent to the server."""


def chunk_bytes(chunk_ms: float = DEFAULT_CHUNK_MS, rate: int = INPUT_RATE) -> int:
    """Bytes in ``chunk_ms`` of s16le mono at ``rate`` (rounded to whole samples, ≥ 1)."""
    if not (math.isfinite(chunk_ms) and chunk_ms > 0) or rate <= 0:
        raise ConfigError(f"a chunk must last more than 0 ms at a positive rate, not {chunk_ms!r}")
    return max(1, round(rate * chunk_ms / 1000)) * 2


def chunks(
    pcm_blocks: Iterable[bytes],
    chunk_ms: float = DEFAULT_CHUNK_MS,
    rate: int = INPUT_RATE,
    tail_silence_s: float = 0.0,
) -> Iterator[bytes]:
    """Re-cut a stream of s16le mono blocks into chunks of exactly ``chunk_ms``.

    Whatever the sizes of the blocks, the chunks are the same: every one is
    :func:`chunk_bytes` long except perhaps the last one of the audio, which
    holds what is left (a trailing odd byte, half a sample, is dropped). Then
    ``tail_silence_s`` of silence follows in chunks of the same size (the last
    of them short if the silence is not a whole number of chunks), so that the
    server's voice activity detection sees the speech end.

    Memory is bounded by one block plus one chunk: blocks are sliced, never
    joined together.
    """
    size = chunk_bytes(chunk_ms, rate)
    if not (math.isfinite(tail_silence_s) and tail_silence_s >= 0):
        raise ConfigError(f"tail silence must be 0 s or more, not {tail_silence_s!r}")
    pending = bytearray()
    for block in pcm_blocks:
        view = memoryview(block).cast("B")
        start, end = 0, len(view)
        if pending:
            start = min(end, size - len(pending))
            pending += view[:start]
            if len(pending) < size:
                continue
            yield bytes(pending)
            pending.clear()
        while end - start >= size:
            yield bytes(view[start : start + size])
            start += size
        pending += view[start:]
    if len(pending) > 1:
        yield bytes(pending[: len(pending) - len(pending) % 2])
    silence = round(rate * tail_silence_s) * 2
    if silence:
        full = bytes(size)
        for _ in range(silence // size):
            yield full
        if silence % size:
            yield bytes(silence % size)


# ---------------------------------------------------------------------------
# Pacing
# ---------------------------------------------------------------------------

#: How long before a deadline :class:`Pacer` stops sleeping and starts yielding.
#: ``asyncio.sleep`` wakes up to ~1 ms late (the selector rounds its timeout up
#: to whole milliseconds, and on some values a second time), plus the kernel's
#: wake-up latency; the last stretch is covered by ``await asyncio.sleep(0)``.
DEFAULT_SPIN = 0.0015

_HIST_BIN = 10e-6  # lateness histogram: 10 µs bins ...
_HIST_BINS = 10_000  # ... up to 100 ms; later wake-ups go to one overflow bin


@dataclasses.dataclass(frozen=True)
class PacingStats:
    """How well a :class:`Pacer` kept its schedule (seconds; 10 µs resolution)."""

    chunks: int
    p50: float
    p99: float
    max: float
    mean: float
    #: Lateness of the last wake-up: how far behind its schedule the stream ended.
    drift: float


class Pacer:
    """A drift-free pacing clock for streaming audio at ``speed`` times real time.

    The schedule is absolute: audio position ``p`` (seconds) is due at
    ``start + p / speed`` on :func:`time.monotonic` (the event loop's clock),
    ``start`` being the first wait. Each wait sleeps until its own deadline,
    so the error of one sleep never carries over to the next, and a stall is
    caught up by sending the chunks behind schedule at once.

    ``asyncio.sleep`` alone wakes up to 1-2 ms late, so the pacer sleeps until
    ``spin`` seconds before the deadline and then yields to the loop
    (``await asyncio.sleep(0)``, other tasks run meanwhile) until the deadline
    has passed: wake-ups are tens of µs late, for a CPU cost of about
    ``spin / 2`` per chunk. ``spin=0`` sleeps only.

    ``speed`` ``None`` or ``0`` is unpaced: every wait only yields to the loop
    once and nothing is recorded. Lateness per wait (how late the wake-up was
    against the schedule) goes to a fixed-size histogram, so memory stays
    constant however long the stream; see :meth:`stats`.

    Use :meth:`tick` once per chunk, before sending it::

        pacer = Pacer(speed=1.0)
        for chunk in chunks(iter_pcm(path)):
            await pacer.tick(len(chunk) / 32_000)
            await session.send_realtime_input(audio=Blob(data=chunk, mime_type=MIME))
    """

    def __init__(self, speed: float | None = 1.0, *, spin: float = DEFAULT_SPIN) -> None:
        if speed is not None and not (math.isfinite(speed) and speed >= 0):
            raise ConfigError(f"speed must be a positive number, 0 or None, not {speed!r}")
        if not (math.isfinite(spin) and spin >= 0):
            raise ConfigError(f"spin must be 0 s or more, not {spin!r}")
        self.speed: float | None = speed or None
        self.spin = spin
        #: Audio seconds counted by :meth:`tick` so far.
        self.position = 0.0
        self._start: float | None = None
        self._hist = array.array("Q", bytes(8 * (_HIST_BINS + 1)))
        self._count = 0
        self._sum = 0.0
        self._max = 0.0
        self._last = 0.0

    @property
    def paced(self) -> bool:
        """Whether waits sleep at all (``speed`` is a positive number)."""
        return self.speed is not None

    @property
    def start_time(self) -> float | None:
        """The :func:`time.monotonic` origin of the schedule, once started."""
        return self._start

    def start(self, at: float | None = None) -> None:
        """Fix the schedule's origin (default: now); the first wait does it otherwise."""
        self._start = time.monotonic() if at is None else at

    def deadline(self, audio_seconds: float) -> float:
        """When (on :func:`time.monotonic`) audio position ``audio_seconds`` is due."""
        if self._start is None:
            self.start()
        assert self._start is not None
        return self._start + audio_seconds / (self.speed or math.inf)

    async def wait(self, audio_seconds: float) -> float:
        """Sleep until audio position ``audio_seconds`` is due; return how late it woke up.

        Unpaced, yield to the loop once and return 0.
        """
        if self.speed is None:
            await asyncio.sleep(0)
            return 0.0
        due = self.deadline(audio_seconds)
        now = time.monotonic()
        if now >= due:
            await asyncio.sleep(0)  # behind schedule: still let other tasks run
        else:
            if due - self.spin > now:
                await asyncio.sleep(due - self.spin - now)
            while time.monotonic() < due:
                await asyncio.sleep(0)
        lateness = time.monotonic() - due
        self._record(lateness)
        return lateness

    async def tick(self, chunk_seconds: float) -> float:
        """Wait until the audio counted so far is due, then count ``chunk_seconds`` more.

        Call it before sending each chunk of ``chunk_seconds`` of audio; returns
        the lateness of the wake-up.
        """
        lateness = await self.wait(self.position)
        self.position += chunk_seconds
        return lateness

    def _record(self, lateness: float) -> None:
        lateness = max(0.0, lateness)
        self._hist[min(_HIST_BINS, int(lateness / _HIST_BIN))] += 1
        self._count += 1
        self._sum += lateness
        self._max = max(self._max, lateness)
        self._last = lateness

    def percentile(self, q: float) -> float:
        """The ``q``-th percentile (0-100) of recorded lateness, rounded up to 10 µs.

        Beyond 100 ms, the histogram has one bin: a percentile falling there is the maximum.
        """
        if not self._count:
            return 0.0
        rank = max(1, math.ceil(self._count * q / 100))
        seen = 0
        for index, count in enumerate(self._hist):
            seen += count
            if seen >= rank:
                return self._max if index == _HIST_BINS else min(self._max, (index + 1) * _HIST_BIN)
        return self._max  # pragma: no cover - the counts add up to _count

    def stats(self) -> PacingStats:
        """Lateness over every wait so far, and the drift at the last one."""
        return PacingStats(
            chunks=self._count,
            p50=self.percentile(50),
            p99=self.percentile(99),
            max=self._max,
            mean=self._sum / self._count if self._count else 0.0,
            drift=self._last,
        )


# ---------------------------------------------------------------------------
# Writing WAV files
# ---------------------------------------------------------------------------

_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_WAV_MAX_DATA = 0xFFFFFFFF - (_WAV_HEADER.size - 8)


def _check_format(rate: int, channels: int) -> None:
    if rate <= 0 or channels <= 0:
        raise ConfigError(f"rate and channels must be positive, not {rate!r}, {channels!r}")


def _wav_header(data_bytes: int, rate: int, channels: int) -> bytes:
    """The canonical 44-byte header of 16-bit PCM WAV holding ``data_bytes`` of samples."""
    frame = 2 * channels
    return _WAV_HEADER.pack(
        b"RIFF",
        36 + data_bytes,
        b"WAVE",
        b"fmt ",
        16,
        1,  # PCM
        channels,
        rate,
        rate * frame,
        frame,
        16,
        b"data",
        data_bytes,
    )


def wav_bytes(pcm: bytes, rate: int, channels: int = 1) -> bytes:
    """s16le samples (interleaved if ``channels`` > 1) as the bytes of a WAV file.

    The same header :class:`WavWriter` writes, for audio kept in memory (the
    report embeds each turn's audio as a ``data:`` URI of it).
    """
    _check_format(rate, channels)
    if len(pcm) % (2 * channels):
        raise ConfigError(
            f"{len(pcm)} bytes of {channels}-channel 16-bit audio are not whole frames"
        )
    if len(pcm) > _WAV_MAX_DATA:
        raise AudioFileError("a WAV file cannot hold more than 4 GiB of audio")
    return _wav_header(len(pcm), rate, channels) + pcm


class WavWriter:
    """A 16-bit PCM WAV file written as the audio arrives, valid at every moment.

    The complete 44-byte header (0 frames) is written on creation; each
    :meth:`write` appends the samples and then updates the RIFF and data sizes
    in place, in that order, with unbuffered system calls. A reader opening the
    file at any moment, or after the writer was killed (even with SIGKILL: the
    bytes are in the operating system's hands once ``write`` returns), sees a
    valid WAV holding every complete frame written so far, and at worst a few
    bytes after the data chunk that the header does not count yet.

    Bytes that do not complete a frame (an odd byte of a 16-bit sample) wait
    for the next write; :meth:`close` drops them. WAV cannot exceed 4 GiB
    (about 24 hours of 24 kHz mono): a write past that raises
    :class:`AudioFileError`; a failed write raises ``OSError`` naming ``path``.

    With ``staged``, ``path`` is left as it is until :meth:`publish`: the WAV
    is written beside it and put in its place by one rename
    (:class:`rawlive.files.StagedFile`), so a run that fails before it has
    anything to say leaves a previous file untouched; closing an unpublished
    writer removes its file.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        rate: int = OUTPUT_RATE,
        channels: int = 1,
        *,
        staged: bool = False,
    ) -> None:
        _check_format(rate, channels)
        self.path = os.fspath(path)
        self.rate = rate
        self.channels = channels
        self._frame = 2 * channels
        self._data_bytes = 0
        self._pending = b""
        self._staged: files.StagedFile | None = None
        try:
            if staged:
                self._staged = files.StagedFile(self.path)
                self._fd: int | None = self._staged.fd
            else:
                self._fd = os.open(
                    self.path,
                    os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_BINARY", 0),
                    0o666,
                )
        except OSError as exc:
            raise AudioFileError(f"{self.path}: cannot write ({exc.strerror})") from None
        try:
            self._write_all(_wav_header(0, self.rate, self.channels))
        except BaseException:
            self.close()
            raise

    def publish(self) -> None:
        """Put a ``staged`` WAV in ``path``'s place (nothing to do otherwise)."""
        if self._staged is not None:
            self._staged.publish()

    def _write_all(self, data: bytes | memoryview) -> None:
        assert self._fd is not None
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(self._fd, view) :]
        except OSError as exc:
            raise files.named(exc, self.path) from None

    def _write_at(self, offset: int, value: int) -> None:
        assert self._fd is not None
        field = struct.pack("<I", value)
        if hasattr(os, "pwrite"):
            try:
                os.pwrite(self._fd, field, offset)
            except OSError as exc:
                raise files.named(exc, self.path) from None
        else:  # pragma: no cover - Windows
            end = os.lseek(self._fd, 0, os.SEEK_CUR)
            os.lseek(self._fd, offset, os.SEEK_SET)
            self._write_all(field)
            os.lseek(self._fd, end, os.SEEK_SET)

    def write(self, pcm: bytes | bytearray | memoryview) -> None:
        """Append s16le samples (interleaved if ``channels`` > 1) and update the header."""
        if self._fd is None:
            raise ClosedError(f"{self.path}: the WAV writer is closed")
        data = self._pending + bytes(pcm)
        whole = len(data) - len(data) % self._frame
        self._pending = data[whole:]
        if not whole:
            return
        if self._data_bytes + whole > _WAV_MAX_DATA:
            raise AudioFileError(f"{self.path}: a WAV file cannot hold more than 4 GiB of audio")
        self._write_all(memoryview(data)[:whole])
        self._data_bytes += whole
        self._write_at(4, 36 + self._data_bytes)
        self._write_at(40, self._data_bytes)

    @property
    def frames_written(self) -> int:
        """Complete frames in the file so far."""
        return self._data_bytes // self._frame

    @property
    def seconds(self) -> float:
        """Duration of the audio in the file so far."""
        return self.frames_written / self.rate

    @property
    def closed(self) -> bool:
        return self._fd is None

    def close(self) -> None:
        """Close the file (it is already complete); bytes short of a frame are dropped.

        An unpublished ``staged`` WAV is removed: ``path`` stays as it was.
        """
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self._pending = b""
            if self._staged is not None and not self._staged.published:
                self._staged.discard()
            os.close(fd)

    def __enter__(self) -> WavWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._fd is None else f"{self.frames_written} frames"
        return f"<WavWriter {self.path!r} {self.rate} Hz {self.channels} ch, {state}>"
