"""Any media file in, timed audio chunks and video frames out: what ``rawlive send`` streams.

The Live API takes three realtime inputs: 16 kHz mono PCM audio, video as
individual JPEG or PNG images, **at most one per second**, and text
(``PROTOCOL.md`` §2.3, §6). This module turns a file into the first two, on
one clock:

1. **Who reads what.** soundfile keeps what it reads (WAV, FLAC, OGG/Vorbis,
   ...: audio only, no extra needed); everything else, every other container
   and codec (m4a/AAC, webm/Opus, mp4, mov, mkv, mp3...) and all video, is
   read by PyAV (FFmpeg's libraries), the ``media`` extra
   (``pip install 'rawlive[media]'``; ``make install`` includes it). Without
   it such a file is a one-line :class:`MediaExtraMissing`.
2. **Audio** is decoded to mono float at the file's own rate and converted to
   16 kHz by the same streaming soxr resampler as a WAV
   (:class:`rawlive.media.audio.PcmResampler`), then cut by
   :func:`rawlive.media.audio.chunks`. Each :class:`AudioChunk` carries its
   position ``t`` in the audio.
3. **Frames** are picked at ``fps`` (at most :data:`MAX_FPS`, the API's one
   per second): the first frame of each ``1 / fps`` slot of the video's
   time, scaled (never up) to fit a ``max_size`` square keeping the aspect
   ratio (default :data:`DEFAULT_MAX_SIZE`, 768: the size the Live API's
   limits page recommends, ``PROTOCOL.md`` §6 "recommended 768x768"), and
   JPEG-encoded with FFmpeg's mjpeg encoder. Each :class:`Frame` carries its
   time ``t`` in the video.
4. :func:`timeline` merges the two in time order, a frame before the audio
   chunk that starts at its time: a sender pacing each item at ``t`` sends
   the frame of ``t`` with the audio of ``t``. A file with audio and no
   video, or video and no audio, works (one container, its one stream).
5. **One container** for a file with both (:class:`Demuxer`): opening a file
   costs memory that grows with its length (FFmpeg's mov demuxer builds the
   whole sample index at open, about 2 MiB for an hour of MP4), so audio and
   video are demuxed from one open container, each packet decoded as it
   comes, and each stream's items (16 kHz blocks; picked, scaled,
   JPEG-encoded frames) wait in that stream's queue until their time. The
   items are exactly those :func:`iter_audio` and :func:`iter_frames` give.
   A well interleaved file keeps the queues to a second or so. A badly
   interleaved one (all the audio after all the video, say; or a stream
   that ends long before the other in the file) would make a queue hold the
   file: when the queue of the stream NOT being read passes
   :data:`MAX_QUEUED_BYTES`, that queue is dropped and that stream falls
   back to a container of its own, read again from the start, the items
   already yielded skipped (decoding is deterministic: the n-th item is the
   same). Memory stays bounded whatever the interleaving; such a file costs
   a second open and decoding its start twice.
6. Still images (``--image``): :func:`load_images` reads ``PATH`` or
   ``PATH@SECONDS`` (a folder: its JPEG and PNG files in name order), checks
   each with :func:`rawlive.media.image.inspect` (a bad one is an
   :class:`~rawlive.errors.AudioFileError` naming it) and gives frames that
   :func:`timeline` sends before the audio, or at their time.
7. **Describe, then read, with one open.** Opening a file a second time,
   even after closing the first, costs its index again (glibc's malloc
   raises its mmap threshold when the first index is freed, so the second
   lands on the heap beside it). So :func:`media_info` keeps the PyAV
   container it opened, unread: the next :func:`media_info`,
   :func:`iter_audio`, :func:`iter_frames` or :class:`Demuxer` of that same
   unchanged file (path, inode, size and modification time) uses it instead
   of opening the file again; a read takes it over and closes it. One is
   kept at a time: describing another file closes it, and so does
   :func:`release_kept` (for a program that describes a file it then does
   not read).

PyAV is imported here only, when a file needs it.
"""

from __future__ import annotations

import collections
import dataclasses
import fractions
import heapq
import importlib
import itertools
import math
import os
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import numpy as np
import soundfile as sf

from rawlive.errors import AudioFileError, ConfigError, MediaExtraMissing
from rawlive.media import audio, image

__all__ = [
    "DEFAULT_FPS",
    "DEFAULT_JPEG_QSCALE",
    "DEFAULT_MAX_SIZE",
    "MAX_FPS",
    "MAX_QUEUED_BYTES",
    "AudioChunk",
    "Demuxer",
    "Frame",
    "MediaExtraMissing",
    "MediaInfo",
    "fit",
    "iter_audio",
    "iter_frames",
    "load_images",
    "media_info",
    "release_kept",
    "timeline",
]

MAX_FPS = 1.0
"""The most frames per second the Live API takes (``PROTOCOL.md`` §6)."""
DEFAULT_FPS = 1.0
"""Frames sent per second of video by default: the API's limit."""
DEFAULT_MAX_SIZE = 768
"""The longest side of a frame sent, by default: the Live API's limits page
recommends 768x768 frames (``PROTOCOL.md`` §6, [FB limits])."""
DEFAULT_JPEG_QSCALE = 5
"""FFmpeg's mjpeg quantiser (2 best ... 31 worst): about JPEG quality 80."""

EXTRA_HINT = "pip install 'rawlive[media]'"

_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclasses.dataclass(frozen=True)
class MediaInfo:
    """What a media file holds, before any conversion."""

    path: str
    #: Seconds (the longest stream's; the audio's for a soundfile file).
    duration: float
    has_audio: bool
    has_video: bool
    #: ``soundfile`` or ``pyav``: which library reads it.
    reader: str
    sample_rate: int | None = None
    channels: int | None = None
    width: int | None = None
    height: int | None = None
    #: The container's format name (``WAV``, ``mov,mp4,m4a,3gp,3g2,mj2``...).
    format: str = ""


@dataclasses.dataclass(frozen=True)
class AudioChunk:
    """16 kHz mono s16le audio starting at ``t`` seconds of the file."""

    t: float
    data: bytes

    @property
    def seconds(self) -> float:
        return len(self.data) / 2 / audio.INPUT_RATE


@dataclasses.dataclass(frozen=True)
class Frame:
    """One picture to send as ``realtimeInput.video`` at ``t`` seconds."""

    t: float
    data: bytes
    width: int
    height: int
    mime_type: str = "image/jpeg"
    #: The image file it came from (``--image``); ``None``: a frame of the video.
    source: str | None = None
    #: Sent before the audio, whatever ``t`` (an ``--image`` without a time).
    before_audio: bool = False


def _import_av(name: str, what: str) -> Any:
    try:
        return importlib.import_module("av")
    except ImportError:
        raise MediaExtraMissing(
            f"{name}: {what} need PyAV, the media extra: {EXTRA_HINT}"
        ) from None


def _av_errors(av: Any) -> tuple[type[BaseException], ...]:
    return (av.FFmpegError, OSError, ValueError, IndexError)


def _soundfile_error(name: str) -> str | None:
    """Why soundfile cannot read ``name`` (``None``: it can)."""
    try:
        sf.info(name)
    except (sf.LibsndfileError, RuntimeError, TypeError) as exc:
        return _reason(exc)
    return None


def _check_path(name: str) -> None:
    if not os.path.exists(name):
        raise AudioFileError(f"{name}: no such file")
    if os.path.isdir(name):
        raise AudioFileError(f"{name}: is a folder, not a media file")
    if os.path.getsize(name) == 0:
        raise AudioFileError(f"{name}: the file is empty")


def media_info(path: str | os.PathLike[str]) -> MediaInfo:
    """Describe ``path``: its duration and whether it has audio and video.

    :class:`~rawlive.errors.AudioFileError` when it is missing, empty, not
    media or holds neither audio nor video; :class:`MediaExtraMissing` when it
    needs PyAV and PyAV is not installed. A file PyAV reads stays open, unread,
    for the next read of it (rule 7).
    """
    name = os.fspath(path)
    _check_path(name)
    soundfile_error = _soundfile_error(name)
    if soundfile_error is None:
        info = audio.file_info(name)
        return MediaInfo(
            name,
            info.duration,
            True,
            False,
            "soundfile",
            sample_rate=info.sample_rate,
            channels=info.channels,
            format=info.format,
        )
    av = _import_av(
        name,
        f"soundfile cannot read it ({soundfile_error.rpartition(': ')[2]}); other containers "
        "(m4a, webm, mp4, mov, mkv, mp3...) and video",
    )
    kept = _KEPT.peek(name)
    if kept is not None:
        return _describe(name, kept)
    try:
        container = av.open(name)
    except _av_errors(av) as exc:
        raise AudioFileError(
            f"{name}: not an audio file or a video soundfile or PyAV can read ({_reason(exc)})"
        ) from None
    try:
        described = _describe(name, container)
    except BaseException:
        container.close()
        raise
    _KEPT.keep(name, container)
    return described


class _KeptContainer:
    """The PyAV container :func:`media_info` opened last, kept open, unread, for
    the next read of the same unchanged file (rule 7)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._key: tuple[str, int, int, int] | None = None
        self._container: Any = None

    @staticmethod
    def _key_of(name: str) -> tuple[str, int, int, int] | None:
        try:
            stat = os.stat(name)
        except OSError:
            return None
        return os.path.realpath(name), stat.st_ino, stat.st_size, stat.st_mtime_ns

    def keep(self, name: str, container: Any) -> None:
        """Keep ``container`` (of ``name``), closing the one kept before."""
        key = self._key_of(name)
        with self._lock:
            old, self._key, self._container = self._container, None, None
            if key is not None:
                self._key, self._container = key, container
        if old is not None:
            old.close()
        if key is None:  # not a file to find again: nothing kept
            container.close()

    def release(self) -> None:
        with self._lock:
            old, self._key, self._container = self._container, None, None
        if old is not None:
            old.close()

    def peek(self, name: str) -> Any:
        """The container kept for ``name`` if it is still the same file, left kept."""
        key = self._key_of(name)
        with self._lock:
            return self._container if key is not None and key == self._key else None

    def take(self, name: str) -> Any:
        """The container kept for ``name`` (``None``: none), now the caller's to close."""
        key = self._key_of(name)
        with self._lock:
            if key is None or key != self._key:
                return None
            container, self._key, self._container = self._container, None, None
            return container


_KEPT = _KeptContainer()


def release_kept() -> None:
    """Close the container :func:`media_info` keeps for the next read (rule 7), if any.

    For a program that describes a file and then does not read it.
    """
    _KEPT.release()


def _open(av: Any, name: str) -> Any:
    """An unread container of ``name``: the one :func:`media_info` kept, or a new one."""
    kept = _KEPT.take(name)
    return kept if kept is not None else av.open(name)


def _describe(name: str, container: Any) -> MediaInfo:
    audio_stream = container.streams.audio[0] if container.streams.audio else None
    video_stream = container.streams.video[0] if container.streams.video else None
    duration = container.duration / 1e6 if container.duration else 0.0
    fmt = str(container.format.name)
    if audio_stream is None and video_stream is None:
        raise AudioFileError(f"{name}: the file holds neither audio nor video")
    rate = channels = None
    if audio_stream is not None:
        rate = int(audio_stream.rate or 0)
        channels = int(audio_stream.channels or 0)
        if not audio.MIN_SAMPLE_RATE <= rate <= audio.MAX_SAMPLE_RATE:
            raise AudioFileError(
                f"{name}: a sample rate of {rate} Hz is not supported "
                f"({audio.MIN_SAMPLE_RATE} to {audio.MAX_SAMPLE_RATE} Hz)"
            )
    width = height = None
    if video_stream is not None:
        width, height = int(video_stream.width or 0), int(video_stream.height or 0)
    return MediaInfo(
        name,
        duration,
        audio_stream is not None,
        video_stream is not None,
        "pyav",
        sample_rate=rate,
        channels=channels,
        width=width,
        height=height,
        format=fmt,
    )


def _reason(exc: BaseException) -> str:
    strerror = getattr(exc, "strerror", None)
    if isinstance(strerror, str) and strerror:
        return strerror  # PyAV's errors: without the errno and the file name
    text = str(exc).strip().splitlines()
    return text[-1] if text else type(exc).__name__


# ---------------------------------------------------------------------------
# Audio
# ---------------------------------------------------------------------------


def iter_audio(
    path: str | os.PathLike[str], *, rate: int = audio.INPUT_RATE, info: MediaInfo | None = None
) -> Iterator[bytes]:
    """The file's audio as s16le mono blocks at ``rate`` (nothing for a file with no audio).

    soundfile's files go through :func:`rawlive.media.audio.iter_pcm`; others
    are decoded by PyAV to mono float at their own rate, then resampled by
    soxr in a stream: memory is one decoded frame whatever the length.
    """
    info = info or media_info(path)
    if not info.has_audio:
        return
    if info.reader == "soundfile":
        yield from audio.iter_pcm(info.path, rate=rate)
        return
    av = _import_av(info.path, "its audio and video")
    try:
        with _open(av, info.path) as container:
            stream = container.streams.audio[0]
            decoder = _AudioDecoder(av, stream, rate)
            for decoded in container.decode(stream):
                yield from decoder.feed(decoded)
            tail = decoder.finish()
    except _av_errors(av) as exc:
        raise AudioFileError(f"{info.path}: cannot read the audio ({_reason(exc)})") from None
    yield from tail


class _AudioDecoder:
    """One audio stream's decoded frames in, 16 kHz s16le blocks out (rule 2)."""

    def __init__(self, av: Any, stream: Any, rate: int) -> None:
        self._to_float = av.AudioResampler(format="flt", layout="mono", rate=stream.rate)
        self._resampler = audio.PcmResampler(int(stream.rate), rate)

    def feed(self, decoded: Any) -> list[bytes]:
        """The blocks for one decoded frame (``None``: what PyAV's resampler still holds)."""
        blocks = []
        for frame in self._to_float.resample(decoded):
            out = self._resampler.feed_float(_mono(frame))
            if out:
                blocks.append(out)
        return blocks

    def finish(self) -> list[bytes]:
        """The last blocks, at the end of the stream."""
        blocks = self.feed(None)
        tail = self._resampler.flush()
        if tail:
            blocks.append(tail)
        return blocks


def _mono(frame: Any) -> Any:
    samples = frame.to_ndarray()
    return np.ascontiguousarray(samples.reshape(-1), dtype=np.float32)


# ---------------------------------------------------------------------------
# Frames
# ---------------------------------------------------------------------------


def fit(width: int, height: int, max_size: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled to fit a ``max_size`` square (never up), even sizes."""
    scale = min(1.0, max_size / max(width, height, 1))
    return max(2, int(width * scale) // 2 * 2), max(2, int(height * scale) // 2 * 2)


def _check_frames(fps: float, max_size: int) -> None:
    if not (math.isfinite(fps) and 0 < fps <= MAX_FPS):
        raise ConfigError(
            f"fps must be above 0 and at most {MAX_FPS:g}: the Live API takes at most "
            f"one frame per second (PROTOCOL.md §6), not {fps!r}"
        )
    if max_size < 16:
        raise ConfigError(f"max_size must be 16 pixels or more, not {max_size!r}")


class _JpegEncoder:
    """FFmpeg's mjpeg encoder at one size (a new one when the size changes)."""

    def __init__(self, av: Any, qscale: int) -> None:
        self._av = av
        self._qscale = qscale
        self._context: Any = None
        self._size = (0, 0)
        self._count = 0

    def encode(self, frame: Any, width: int, height: int) -> bytes:
        if self._context is None or self._size != (width, height):
            context = self._av.CodecContext.create("mjpeg", "w")
            context.width, context.height = width, height
            context.pix_fmt = "yuvj420p"
            context.time_base = fractions.Fraction(1, 1)
            context.qmin = context.qmax = self._qscale
            self._context, self._size, self._count = context, (width, height), 0
        picture = frame.reformat(width=width, height=height, format="yuvj420p")
        # The encoder wants increasing timestamps in its own time base.
        picture.pts = self._count
        picture.time_base = self._context.time_base
        self._count += 1
        return b"".join(bytes(packet) for packet in self._context.encode(picture))


def iter_frames(
    path: str | os.PathLike[str],
    *,
    fps: float = DEFAULT_FPS,
    max_size: int = DEFAULT_MAX_SIZE,
    qscale: int = DEFAULT_JPEG_QSCALE,
    info: MediaInfo | None = None,
) -> Iterator[Frame]:
    """The video's frames picked at ``fps``, scaled to ``max_size``, as JPEG (rule 3).

    Nothing for a file with no video. ``t`` counts from the container's start.
    """
    _check_frames(fps, max_size)
    info = info or media_info(path)
    if not info.has_video:
        return
    av = _import_av(info.path, "its audio and video")
    try:
        with _open(av, info.path) as container:
            picker = _FramePicker(av, container, fps=fps, max_size=max_size, qscale=qscale)
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            for decoded in container.decode(stream):
                frame = picker.pick(decoded)
                if frame is not None:
                    yield frame
    except _av_errors(av) as exc:
        raise AudioFileError(f"{info.path}: cannot read the video ({_reason(exc)})") from None


class _FramePicker:
    """One video stream's decoded frames in, a JPEG :class:`Frame` per ``1 / fps`` slot out."""

    def __init__(self, av: Any, container: Any, *, fps: float, max_size: int, qscale: int) -> None:
        self._encoder = _JpegEncoder(av, qscale)
        self._start = container.start_time / 1e6 if container.start_time else 0.0
        self._fps = fps
        self._max_size = max_size
        self._last_slot = -1

    def pick(self, decoded: Any) -> Frame | None:
        """``decoded`` scaled and encoded when it is the first of its slot, else ``None``."""
        if decoded.time is None:
            return None
        t = max(0.0, float(decoded.time) - self._start)
        slot = math.floor(t * self._fps + 1e-6)
        if slot <= self._last_slot:
            return None
        self._last_slot = slot
        width, height = fit(decoded.width, decoded.height, self._max_size)
        data = self._encoder.encode(decoded, width, height)
        return Frame(round(t, 6), data, width, height)


# ---------------------------------------------------------------------------
# Still images
# ---------------------------------------------------------------------------


def load_images(specs: Iterable[str]) -> list[Frame]:
    """Read ``--image`` arguments: ``PATH`` (sent before the audio) or ``PATH@SECONDS``.

    A folder stands for its ``.jpg``/``.jpeg``/``.png`` files in name order;
    with ``@SECONDS`` they go one per second from that time (the API's
    limit). Each file must be a whole JPEG or PNG
    (:func:`rawlive.media.image.inspect`): anything else is an
    :class:`~rawlive.errors.AudioFileError` naming it. Images are sent as
    they are (not scaled).
    """
    frames: list[Frame] = []
    for spec in specs:
        name, at = _split_at(spec)
        if os.path.isdir(name):
            paths = sorted(
                os.path.join(name, entry)
                for entry in os.listdir(name)
                if entry.lower().endswith(_IMAGE_SUFFIXES)
            )
            if not paths:
                raise AudioFileError(f"{name}: the folder holds no .jpg, .jpeg or .png file")
        else:
            paths = [name]
        for index, file in enumerate(paths):
            t = 0.0 if at is None else at + index / MAX_FPS
            frames.append(_read_image(file, t, before_audio=at is None))
    return frames


def _split_at(spec: str) -> tuple[str, float | None]:
    name, sep, when = spec.rpartition("@")
    if not sep or os.path.exists(spec):
        return spec, None
    try:
        seconds = float(when)
    except ValueError:
        raise AudioFileError(
            f"{spec}: give an image as PATH or PATH@SECONDS (e.g. photo.jpg@2.5)"
        ) from None
    if not (math.isfinite(seconds) and seconds >= 0):
        raise AudioFileError(f"{spec}: the time must be 0 s or more")
    return name, seconds


def _read_image(name: str, t: float, *, before_audio: bool) -> Frame:
    try:
        with open(name, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise AudioFileError(f"{name}: no such image") from None
    except OSError as exc:
        raise AudioFileError(f"{name}: cannot read the image ({exc.strerror})") from None
    info = image.inspect(data)
    if info.mime_type not in image.IMAGE_TYPES:
        kind = info.mime_type or "not an image"
        raise AudioFileError(f"{name}: {kind}; the Live API takes JPEG or PNG images")
    if info.problem is not None or info.width is None or info.height is None:
        raise AudioFileError(f"{name}: not a whole image ({info.problem})")
    return Frame(
        t,
        data,
        info.width,
        info.height,
        mime_type=info.mime_type,
        source=name,
        before_audio=before_audio,
    )


# ---------------------------------------------------------------------------
# Audio and video from one container
# ---------------------------------------------------------------------------

MAX_QUEUED_BYTES = 2 * 1024 * 1024
"""How much decoded-but-not-yet-due media :class:`Demuxer` holds for the stream
not being read before it gives that stream its own container (rule 5): 2 MiB,
about 65 s of 16 kHz audio or some 20 to 40 frames of 768 px JPEG."""

_AUDIO, _VIDEO = "audio", "video"


class Demuxer:
    """A file's audio blocks and video frames from ONE open container (rule 5).

    :meth:`audio` yields what :func:`iter_audio` yields and :meth:`frames` what
    :func:`iter_frames` yields, item for item, read in any interleaving by
    the caller. Packets come in file order: each is decoded as it comes and
    its stream's items (16 kHz blocks; picked, scaled, JPEG-encoded frames)
    wait in that stream's queue until read. When the queue of the stream not
    being read passes ``max_queued_bytes``, that stream falls back to its own
    container (a second :func:`iter_audio` or :func:`iter_frames` over the
    file, skipping the items already read): :attr:`fallbacks` names it, and
    its queue is dropped. :attr:`peak_queued_bytes` is the most both queues
    held at once. :meth:`close` (or the end of the file) closes the
    containers.
    """

    def __init__(
        self,
        info: MediaInfo,
        *,
        rate: int = audio.INPUT_RATE,
        fps: float = DEFAULT_FPS,
        max_size: int = DEFAULT_MAX_SIZE,
        qscale: int = DEFAULT_JPEG_QSCALE,
        max_queued_bytes: int | None = None,
    ) -> None:
        _check_frames(fps, max_size)
        if not (info.reader == "pyav" and info.has_audio and info.has_video):
            raise ConfigError(f"{info.path}: a Demuxer reads a file with audio and video")
        self.info = info
        self.max_queued_bytes = MAX_QUEUED_BYTES if max_queued_bytes is None else max_queued_bytes
        #: The streams read again from a container of their own, in order.
        self.fallbacks: list[str] = []
        #: The most bytes (audio blocks and JPEG data) both queues held at once.
        self.peak_queued_bytes = 0
        self._av = _import_av(info.path, "its audio and video")
        self._rate, self._fps, self._max_size, self._qscale = rate, fps, max_size, qscale
        self._container: Any = None
        self._packets: Iterator[Any] | None = None
        self._audio_index = -1
        self._decoder: _AudioDecoder | None = None
        self._picker: _FramePicker | None = None
        self._queues: dict[str, collections.deque[bytes | Frame]] = {
            _AUDIO: collections.deque(),
            _VIDEO: collections.deque(),
        }
        self._queued = {_AUDIO: 0, _VIDEO: 0}
        self._ended = False
        self._rereads: list[Iterator[Any]] = []

    def audio(self) -> Iterator[bytes]:
        """The audio as :func:`iter_audio` gives it."""
        for item in self._read(_AUDIO):
            assert isinstance(item, bytes)
            yield item

    def frames(self) -> Iterator[Frame]:
        """The frames as :func:`iter_frames` gives them."""
        for item in self._read(_VIDEO):
            assert isinstance(item, Frame)
            yield item

    def close(self) -> None:
        """Close the containers (the shared one and any fallback's); nothing more comes."""
        self._close_shared()
        for kind, queue in self._queues.items():
            queue.clear()
            self._queued[kind] = 0
        for reread in self._rereads:
            close = getattr(reread, "close", None)
            if close is not None:
                close()
        self._rereads.clear()

    def _close_shared(self) -> None:
        self._ended = True
        self._packets = None
        if self._container is not None:
            self._container.close()
            self._container = None

    def _read(self, kind: str) -> Iterator[bytes | Frame]:
        queue = self._queues[kind]
        count = 0
        while True:
            if kind in self.fallbacks:
                yield from self._reread(kind, count)
                return
            if queue:
                item = queue.popleft()
                self._queued[kind] -= _size(item)
                count += 1
                yield item
            elif self._ended:
                return
            else:
                self._pump(kind)

    def _reread(self, kind: str, skip: int) -> Iterator[bytes | Frame]:
        info = self.info
        again: Iterator[bytes | Frame]
        if kind == _AUDIO:
            again = iter_audio(info.path, rate=self._rate, info=info)
        else:
            again = iter_frames(
                info.path, fps=self._fps, max_size=self._max_size, qscale=self._qscale, info=info
            )
        self._rereads.append(again)
        yield from itertools.islice(again, skip, None)

    def _open(self) -> None:
        av = self._av
        try:
            container = _open(av, self.info.path)
            self._container = container
            audio_stream = container.streams.audio[0]
            video_stream = container.streams.video[0]
            video_stream.thread_type = "AUTO"
            self._audio_index = audio_stream.index
            self._decoder = _AudioDecoder(av, audio_stream, self._rate)
            self._picker = _FramePicker(
                av, container, fps=self._fps, max_size=self._max_size, qscale=self._qscale
            )
            self._packets = iter(container.demux(audio_stream, video_stream))
        except _av_errors(av) as exc:
            self.close()
            raise AudioFileError(
                f"{self.info.path}: cannot read the file ({_reason(exc)})"
            ) from None

    def _pump(self, want: str) -> None:
        """Read and decode the next packet for a reader of ``want`` whose queue is empty."""
        if self._packets is None:
            self._open()
        assert self._packets is not None and self._decoder is not None
        assert self._picker is not None
        try:
            packet = next(self._packets, None)
            if packet is None:
                tail = [] if _AUDIO in self.fallbacks else self._decoder.finish()
                self._push(_AUDIO, tail, want)
                self._close_shared()
                return
            kind = _AUDIO if packet.stream.index == self._audio_index else _VIDEO
            if kind in self.fallbacks:
                return
            items: list[bytes | Frame] = []
            for decoded in packet.decode():
                if kind == _AUDIO:
                    items.extend(self._decoder.feed(decoded))
                else:
                    frame = self._picker.pick(decoded)
                    if frame is not None:
                        items.append(frame)
        except _av_errors(self._av) as exc:
            self.close()
            raise AudioFileError(
                f"{self.info.path}: cannot read the {want} ({_reason(exc)})"
            ) from None
        self._push(kind, items, want)

    def _push(self, kind: str, items: Sequence[bytes | Frame], want: str) -> None:
        queue = self._queues[kind]
        for item in items:
            queue.append(item)
            self._queued[kind] += _size(item)
        self.peak_queued_bytes = max(self.peak_queued_bytes, sum(self._queued.values()))
        if kind != want and self._queued[kind] > self.max_queued_bytes:
            # Badly interleaved (or one stream ended long before the other in the
            # file): this stream gets its own container instead (rule 5).
            self.fallbacks.append(kind)
            queue.clear()
            self._queued[kind] = 0
            if len(self.fallbacks) == 2:
                self._close_shared()


def _size(item: bytes | Frame) -> int:
    return len(item) if isinstance(item, bytes) else len(item.data)


# ---------------------------------------------------------------------------
# The timeline
# ---------------------------------------------------------------------------


def timeline(
    path: str | os.PathLike[str],
    *,
    chunk_ms: float = audio.DEFAULT_CHUNK_MS,
    tail_silence_s: float = 0.0,
    fps: float = DEFAULT_FPS,
    max_size: int = DEFAULT_MAX_SIZE,
    video: bool = True,
    images: Sequence[Frame] = (),
    info: MediaInfo | None = None,
) -> Iterator[AudioChunk | Frame]:
    """The file's audio chunks and frames, and ``images``, in the order to send them (rule 4).

    Untimed images come first; then audio chunks (``tail_silence_s`` of
    silence after the audio; after the video when there is no audio) and
    frames (``video``: the file's, picked at ``fps``; and timed images) by
    ``t``, a frame before the chunk starting at its time.
    """
    _check_frames(fps, max_size)
    info = info or media_info(path)
    for still in images:
        if still.before_audio:
            yield still
    offset = 0.0 if info.has_audio else info.duration
    demuxer = (
        Demuxer(info, fps=fps, max_size=max_size)
        if video and info.reader == "pyav" and info.has_audio and info.has_video
        else None
    )

    def audio_items() -> Iterator[tuple[float, int, AudioChunk | Frame]]:
        position = offset
        blocks = demuxer.audio() if demuxer is not None else iter_audio(info.path, info=info)
        for data in audio.chunks(blocks, chunk_ms=chunk_ms, tail_silence_s=tail_silence_s):
            yield position, 1, AudioChunk(round(position, 6), data)
            position += len(data) / 2 / audio.INPUT_RATE

    def frame_items() -> Iterator[tuple[float, int, AudioChunk | Frame]]:
        timed = sorted((f for f in images if not f.before_audio), key=lambda f: f.t)
        frames: Iterable[Frame] = ()
        if demuxer is not None:
            frames = demuxer.frames()
        elif video:
            frames = iter_frames(info.path, fps=fps, max_size=max_size, info=info)
        for frame in heapq.merge(frames, timed, key=lambda f: f.t):
            yield frame.t, 0, frame

    try:
        for _, _, item in heapq.merge(audio_items(), frame_items(), key=lambda x: (x[0], x[1])):
            yield item
    finally:
        if demuxer is not None:
            demuxer.close()
