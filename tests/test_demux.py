"""rawlive.media.container.Demuxer: a video's audio and frames from ONE open container
(issue 17's memory figure), the same items as two containers give, and its fallback to
a second container when a file is badly interleaved (module docstring, rule 5)."""

from __future__ import annotations

import fractions
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest

from rawlive.media import container
from rawlive.media.container import AudioChunk, Demuxer, Frame

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
CLIP = FIXTURES / "video" / "clip.mp4"
VIDEO_ONLY = FIXTURES / "video" / "video-only.webm"
M4A = FIXTURES / "audio" / "weather-16k-mono.m4a"
WAV = FIXTURES / "audio" / "weather-16k-mono.wav"


@pytest.fixture
def opens(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every ``av.open`` rawlive makes, by path, none kept from before (rule 7)."""
    container.release_kept()
    opened: list[str] = []
    real = av.open

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real(path, *args, **kwargs)

    monkeypatch.setattr(av, "open", counting)
    yield opened
    container.release_kept()


@pytest.fixture
def demuxers(monkeypatch: pytest.MonkeyPatch) -> list[Demuxer]:
    """The Demuxers :func:`container.timeline` makes."""
    made: list[Demuxer] = []

    class Recorded(Demuxer):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            made.append(self)

    monkeypatch.setattr(container, "Demuxer", Recorded)
    return made


def _interleaved(first: Iterator[Any], second: Iterator[Any]) -> tuple[list[Any], list[Any]]:
    """Read two iterators one item each in turn (the way a time merge reads them)."""
    a: list[Any] = []
    b: list[Any] = []
    for out, it in ((a, first), (b, second)) * 10_000:
        item = next(it, None)
        if item is not None:
            out.append(item)
    assert next(first, None) is None and next(second, None) is None
    return a, b


def test_one_container_gives_what_two_give_in_any_reading_order() -> None:
    info = container.media_info(CLIP)
    blocks = list(container.iter_audio(CLIP, info=info))
    frames = list(container.iter_frames(CLIP, info=info))
    assert blocks and len(frames) == 4
    # All the audio first, all the frames first, and in turn.
    first = Demuxer(info)
    assert (list(first.audio()), list(first.frames())) == (blocks, frames)
    second = Demuxer(info)
    assert (list(second.frames()), list(second.audio())) == (frames, blocks)
    third = Demuxer(info)
    assert _interleaved(third.audio(), third.frames()) == (blocks, frames)
    for demuxer in (first, second, third):
        assert demuxer.fallbacks == []
        assert 0 < demuxer.peak_queued_bytes < container.MAX_QUEUED_BYTES


def test_timeline_opens_a_video_once_and_yields_what_the_two_container_path_does(
    monkeypatch: pytest.MonkeyPatch, opens: list[str], demuxers: list[Demuxer]
) -> None:
    # media_info opens the file; the read takes that container over (rule 7).
    info = container.media_info(CLIP)
    items = list(container.timeline(CLIP, info=info, tail_silence_s=0.3))
    assert opens == [str(CLIP)]
    assert len(demuxers) == 1 and demuxers[0].fallbacks == []
    assert [i.t for i in items if isinstance(i, Frame)] == [0.0, 1.0, 2.0, 3.0]
    assert sum(i.seconds for i in items if isinstance(i, AudioChunk)) == pytest.approx(
        4.3, abs=0.05
    )
    # Without ``info``: the same, one open.
    opens.clear()
    assert list(container.timeline(CLIP, tail_silence_s=0.3)) == items
    assert opens == [str(CLIP)] and demuxers[1].fallbacks == []
    # A bound of 0 bytes: a stream falls back to its own container as soon as
    # it is ahead of the one read; then the read is two containers, as before.
    opens.clear()
    monkeypatch.setattr(container, "MAX_QUEUED_BYTES", 0)
    again = list(container.timeline(CLIP, info=info, tail_silence_s=0.3))
    assert demuxers[2].fallbacks and len(opens) == 1 + len(demuxers[2].fallbacks)
    assert again == items


def test_media_info_keeps_its_container_for_the_next_read_of_the_same_file(
    tmp_path: Path, opens: list[str]
) -> None:
    copy = tmp_path / "clip.mp4"
    copy.write_bytes(CLIP.read_bytes())
    first = container.media_info(copy)
    assert container.media_info(copy) == first and opens == [str(copy)]  # described again
    assert len(list(container.iter_frames(copy, info=first))) == 4 and len(opens) == 1
    assert list(container.iter_audio(copy, info=first)) and len(opens) == 2  # taken: a new one
    # A file changed since it was described is opened again.
    container.media_info(copy)
    os.utime(copy, ns=(0, 0))
    assert container.media_info(copy) == first and len(opens) == 4
    # Describing another file closes the one kept; release_kept closes it too.
    container.media_info(VIDEO_ONLY)
    assert list(container.iter_audio(copy, info=first)) and len(opens) == 6
    container.release_kept()
    # (kept, it would have been read with no open)
    assert list(container.iter_frames(VIDEO_ONLY)) and len(opens) == 7


def _write_badly_interleaved(path: Path, seconds: int, first: str) -> None:
    """A Matroska file holding all of one stream's packets, then all of the other's.

    ``max_interleave_delta`` of 1 us makes FFmpeg's muxer write packets in the
    order given instead of interleaving them by time.
    """
    with av.open(str(path), "w", options={"max_interleave_delta": "1"}) as out:
        video = out.add_stream("mpeg4", rate=1)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        sound = out.add_stream("aac", rate=16000)
        sound.layout = "mono"
        video_packets: list[Any] = []
        audio_packets: list[Any] = []
        picture = np.zeros((48, 64, 3), dtype=np.uint8)
        tone = (0.3 * np.sin(np.arange(16000) * 2 * np.pi * 220 / 16000)).astype(np.float32)
        for second in range(seconds):
            picture[:] = second * 37 % 256
            frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
            frame.pts, frame.time_base = second, fractions.Fraction(1, 1)
            video_packets += video.encode(frame)
            block = av.AudioFrame.from_ndarray(tone.reshape(1, -1), format="flt", layout="mono")
            block.sample_rate, block.pts = 16000, second * 16000
            audio_packets += sound.encode(block)
        video_packets += video.encode(None)
        audio_packets += sound.encode(None)
        ordered = (
            audio_packets + video_packets if first == "audio" else video_packets + audio_packets
        )
        for packet in ordered:
            out.mux(packet)


def _file_order(path: Path) -> str:
    with av.open(str(path)) as source:
        return "".join(p.stream.type[0] for p in source.demux() if p.size)


@pytest.mark.parametrize(("first", "bound"), [("audio", 64 * 1024), ("video", 2 * 1024)])
def test_a_badly_interleaved_file_falls_back_to_a_second_container_with_bounded_queues(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    opens: list[str],
    demuxers: list[Demuxer],
    first: str,
    bound: int,
) -> None:
    path = tmp_path / f"{first}-first.mkv"
    _write_badly_interleaved(path, 20, first)
    order = _file_order(path)
    lagging = "v" if first == "audio" else "a"
    # Badly interleaved: (nearly) all of the first stream before any of the other.
    assert order[: order.index(lagging)].count(first[0]) >= 0.9 * order.count(first[0])
    info = container.media_info(path)
    blocks = list(container.iter_audio(path, info=info))
    frames = list(container.iter_frames(path, info=info))
    assert sum(len(b) for b in blocks) > 20 * 32000 * 0.9 and len(frames) == 20

    # Read as timeline reads: the streams in time order; the stream ahead in
    # the file fills its queue past the bound and gets its own container.
    demuxer = Demuxer(info, max_queued_bytes=bound)
    assert _interleaved(demuxer.audio(), demuxer.frames()) == (blocks, frames)
    assert demuxer.fallbacks == [first]
    # Never more than the bound and one packet's items (an AAC packet: 1024
    # samples; a frame: one small JPEG) at once, not the file.
    assert demuxer.peak_queued_bytes <= bound + 4096

    monkeypatch.setattr(container, "MAX_QUEUED_BYTES", bound)
    opens.clear()
    items = list(container.timeline(path, info=info))
    assert demuxers[-1].fallbacks == [first] and len(opens) == 2
    assert [i for i in items if isinstance(i, Frame)] == frames
    assert b"".join(i.data for i in items if isinstance(i, AudioChunk)).startswith(b"".join(blocks))
    times = [i.t for i in items]
    assert times == sorted(times)


def test_a_container_with_one_stream_is_read_once_without_a_demuxer(
    opens: list[str], demuxers: list[Demuxer]
) -> None:
    for path, kinds in ((VIDEO_ONLY, {Frame, AudioChunk}), (M4A, {AudioChunk})):
        opens.clear()
        items = list(container.timeline(path, tail_silence_s=0.2))
        assert opens == [str(path)]  # media_info's, read by iter_frames or iter_audio
        assert {type(i) for i in items} == kinds
        with pytest.raises(container.ConfigError, match="reads a file with audio and video"):
            Demuxer(container.media_info(path))
    # soundfile reads a WAV: PyAV opens nothing.
    opens.clear()
    assert list(container.timeline(WAV)) and opens == []
    # Without video wanted, a video's audio is read alone, from media_info's container.
    chunks = list(container.timeline(CLIP, video=False))
    assert opens == [str(CLIP)]
    assert chunks and all(isinstance(i, AudioChunk) for i in chunks)
    assert demuxers == []


def test_closing_the_timeline_early_closes_the_shared_container(
    opens: list[str], demuxers: list[Demuxer]
) -> None:
    items = container.timeline(CLIP)
    assert isinstance(next(items), Frame)
    assert demuxers[0].peak_queued_bytes > 0
    items.close()
    # Closed: nothing more comes from it, and no container is open to read.
    assert list(demuxers[0].audio()) == [] and list(demuxers[0].frames()) == []
