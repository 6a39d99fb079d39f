"""Vertex AI's live avatar in the emulator: the reply as fragmented MP4 (``PROTOCOL.md`` §10.10).

On Vertex AI, ``gemini-3.8-live`` with ``responseModalities: ["VIDEO"]`` and
``avatarConfig`` answers with a talking head: base64 fragmented MP4 in
``serverContent.modelTurn.parts[].inlineData``, the audio muxed in. First an
init segment (``ftyp`` + ``moov``), then media fragments (``moof`` +
``mdat``), every message a binary WebSocket frame, and no
``sessionResumptionUpdate`` ever, even with ``sessionResumption`` set
(§10.10, §10.15.10; Google's sample authors observed all of it).

The emulator is not a model: its video is one real 1-second clip shipped
with the package (``data/avatar.mp4``: 176x320, 24 fps, H.264 Constrained
Baseline level 3.2 = ``avc1.42C020``, AAC-LC 24 kHz mono; made once with
ffmpeg ``-movflags frag_keyframe+empty_moov+default_base_moof``). It is
split by walking its MP4 boxes (:func:`boxes`, :func:`split`); a reply
plays as many of its fragments, looped, as cover the reply's audio, each
renumbered (``mfhd``) and retimed (``tfdt``) so that the stream a
connection gets is one continuous presentation. The ``inlineData.mimeType``
of real avatar parts is not recorded (§10.16): ``video/mp4``
(:data:`VIDEO_MIME`) is inferred.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import importlib.resources
import math
import struct
from collections.abc import Iterator
from typing import TYPE_CHECKING

from rawlive.servers.emulator.validation import Refusal
from rawlive.wire import types as t

if TYPE_CHECKING:
    from rawlive.servers.emulator.replies import ReplyPlan
    from rawlive.servers.emulator.turns import Live

__all__ = [
    "VIDEO_MIME",
    "AvatarVideo",
    "Box",
    "Fmp4",
    "boxes",
    "clip",
    "judge_avatar",
    "judge_input",
    "split",
    "stream",
    "wants_avatar",
]

#: ``inlineData.mimeType`` of the avatar's video parts: not recorded, inferred (§10.10, §10.16).
VIDEO_MIME = "video/mp4"

#: A custom avatar image in WebP closes with 1011 (§10.10, §10.14 [G-SAMPLE]); the
#: reason is not quoted anywhere: the real server's generic 1011 text (§5.3) stands in.
WEBP_CLOSE = (1011, "Internal error encountered.")

_CONTAINERS = frozenset({"moov", "trak", "mdia", "minf", "stbl", "mvex", "moof", "traf"})


def wants_avatar(setup: t.LiveClientSetup) -> bool:
    """Whether a setup asks for the live avatar: ``responseModalities: ["VIDEO"]`` and
    ``avatarConfig`` (the model's row has already judged that its model and backend take it)."""
    generation = setup.generation_config
    modalities = (generation.response_modalities if generation else None) or []
    return list(modalities) == ["VIDEO"] and setup.avatar_config is not None


def judge_avatar(setup: t.LiveClientSetup) -> Refusal | None:
    """The close for an avatar setup the real server fails on: a WebP custom image (1011)."""
    config = setup.avatar_config
    custom = config.customized_avatar if config is not None else None
    mime = (custom.image_mime_type or "") if custom is not None else ""
    if mime.strip().lower() == "image/webp":
        return Refusal(*WEBP_CLOSE, "custom avatar image in image/webp (§10.10)")
    return None


def judge_input(message: t.LiveClientMessage) -> Refusal | None:
    """The close for an image sent through ``mediaChunks`` in avatar mode (1007).

    PROTOCOL.md §10.10, §10.14 [G-SAMPLE]: ``Mime type 'image/jpeg' is not
    supported. Either use 'audio/pcm...``; the source cuts the reason off
    there, so the emulator sends the words recorded, with the chunk's type.
    """
    realtime = message.realtime_input
    for blob in (realtime.media_chunks or ()) if realtime is not None else ():
        mime = blob.mime_type or ""
        if not mime.startswith("audio/"):
            return Refusal(
                1007,
                f"Mime type '{mime}' is not supported. Either use 'audio/pcm",
                f"{mime} through mediaChunks in avatar mode (§10.10)",
            )
    return None


# -- MP4 boxes -------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Box:
    """One MP4 box: its four-letter type and where it lies in the data (header included)."""

    type: str
    start: int
    end: int
    header: int

    @property
    def body(self) -> slice:
        """Where its contents lie (after the size and type, and a 64-bit size)."""
        return slice(self.start + self.header, self.end)


def boxes(data: bytes, start: int = 0, end: int | None = None) -> Iterator[Box]:
    """The boxes one after another in ``data[start:end]``; :class:`ValueError` if one is cut."""
    end = len(data) if end is None else end
    offset = start
    while offset < end:
        if end - offset < 8:
            raise ValueError(f"a box header is cut at byte {offset}")
        size, kind = struct.unpack_from(">I4s", data, offset)
        header = 8
        if size == 1:
            if end - offset < 16:
                raise ValueError(f"a 64-bit box size is cut at byte {offset}")
            (size,) = struct.unpack_from(">Q", data, offset + 8)
            header = 16
        elif size == 0:  # to the end of the data
            size = end - offset
        if size < header or offset + size > end:
            raise ValueError(f"box {kind!r} at byte {offset} claims {size} bytes")
        yield Box(kind.decode("latin-1"), offset, offset + size, header)
        offset += size


def _children(data: bytes, box: Box) -> Iterator[Box]:
    return boxes(data, box.body.start, box.end)


def _find(data: bytes, box: Box, path: str) -> Iterator[Box]:
    """The boxes at ``path`` (``traf/tfdt``) below ``box``."""
    first, _, rest = path.partition("/")
    for child in _children(data, box):
        if child.type == first:
            if rest:
                yield from _find(data, child, rest)
            else:
                yield child


@dataclasses.dataclass(frozen=True)
class Fmp4:
    """A fragmented MP4 split for streaming: the init segment, then each media fragment.

    ``durations`` is each track's length (by track id) in its own timescale,
    what a fragment's ``tfdt`` moves on by when the clip loops;
    ``fragment_seconds`` is the clip's length over its fragment count.
    """

    init: bytes
    fragments: tuple[bytes, ...]
    durations: dict[int, int]
    fragment_seconds: float


def split(data: bytes) -> Fmp4:
    """Split a fragmented MP4 into its init segment and its ``moof`` + ``mdat`` fragments.

    The init segment is everything before the first ``moof`` (``ftyp``,
    ``moov``); a fragment runs from one ``moof`` to the next (its ``mdat``
    with it); a trailing ``mfra`` (the random-access index) is left out.
    :class:`ValueError` for data that is not such a file.
    """
    top = list(boxes(data))
    if not top or top[0].type != "ftyp":
        raise ValueError("not an MP4: no ftyp box first")
    moofs = [i for i, box in enumerate(top) if box.type == "moof"]
    if not any(box.type == "moov" for box in top) or not moofs:
        raise ValueError("not a fragmented MP4: it needs a moov and moof boxes")
    init = data[: top[moofs[0]].start]
    fragments = []
    for n, index in enumerate(moofs):
        stop = moofs[n + 1] if n + 1 < len(moofs) else len(top)
        last = index
        while last + 1 < stop and top[last + 1].type not in ("moof", "mfra"):
            last += 1
        fragments.append(data[top[index].start : top[last].end])
    moov = next(box for box in top if box.type == "moov")
    scales = _timescales(data, moov)
    defaults = _trex_durations(data, moov)
    durations: dict[int, int] = {}
    for fragment in fragments:
        for track, base, length in _fragment_times(fragment, defaults):
            durations[track] = max(durations.get(track, 0), base + length)
    seconds = max((durations[k] / scales[k] for k in durations if scales.get(k)), default=0.0)
    return Fmp4(bytes(init), tuple(fragments), durations, seconds / len(fragments))


def _timescales(data: bytes, moov: Box) -> dict[int, int]:
    """Each track's timescale (``mdhd``), by track id (``tkhd``)."""
    scales: dict[int, int] = {}
    for trak in _find(data, moov, "trak"):
        tkhd = next(_find(data, trak, "tkhd"))
        mdhd = next(_find(data, trak, "mdia/mdhd"))
        body = tkhd.body.start
        track = struct.unpack_from(">I", data, body + (20 if data[body] == 1 else 12))[0]
        body = mdhd.body.start
        scales[track] = struct.unpack_from(">I", data, body + (20 if data[body] == 1 else 12))[0]
    return scales


def _trex_durations(data: bytes, moov: Box) -> dict[int, int]:
    """Each track's default sample duration (``mvex/trex``), by track id."""
    found: dict[int, int] = {}
    for trex in _find(data, moov, "mvex/trex"):
        track, _, duration = struct.unpack_from(">III", data, trex.body.start + 4)
        found[track] = duration
    return found


def _fragment_times(fragment: bytes, defaults: dict[int, int]) -> Iterator[tuple[int, int, int]]:
    """``(track id, base decode time, duration)`` of each track run in a fragment."""
    moof = next(boxes(fragment))
    for traf in _find(fragment, moof, "traf"):
        tfhd = next(_find(fragment, traf, "tfhd"))
        at = tfhd.body.start
        flags = struct.unpack_from(">I", fragment, at)[0] & 0xFFFFFF
        (track,) = struct.unpack_from(">I", fragment, at + 4)
        at += 8 + (8 if flags & 0x01 else 0) + (4 if flags & 0x02 else 0)
        default = struct.unpack_from(">I", fragment, at)[0] if flags & 0x08 else defaults.get(track)
        base = 0
        for tfdt in _find(fragment, traf, "tfdt"):
            at = tfdt.body.start
            base = struct.unpack_from(">Q" if fragment[at] == 1 else ">I", fragment, at + 4)[0]
        length = 0
        for trun in _find(fragment, traf, "trun"):
            at = trun.body.start
            flags = struct.unpack_from(">I", fragment, at)[0] & 0xFFFFFF
            (count,) = struct.unpack_from(">I", fragment, at + 4)
            at += 8 + (4 if flags & 0x01 else 0) + (4 if flags & 0x04 else 0)
            fields = [bit for bit in (0x100, 0x200, 0x400, 0x800) if flags & bit]
            for _ in range(count):
                if 0x100 in fields:
                    length += struct.unpack_from(">I", fragment, at)[0]
                else:
                    length += default or 0
                at += 4 * len(fields)
        yield track, base, length


def _retimed(fragment: bytes, sequence: int, shift: dict[int, int]) -> bytes:
    """A fragment renumbered to ``sequence`` (``mfhd``); each track's ``tfdt`` moved by ``shift``
    (in the track's timescale)."""
    out = bytearray(fragment)
    moof = next(boxes(fragment))
    for mfhd in _find(fragment, moof, "mfhd"):
        struct.pack_into(">I", out, mfhd.body.start + 4, sequence)
    for traf in _find(fragment, moof, "traf"):
        tfhd = next(_find(fragment, traf, "tfhd"))
        (track,) = struct.unpack_from(">I", fragment, tfhd.body.start + 4)
        for tfdt in _find(fragment, traf, "tfdt"):
            at = tfdt.body.start
            wide = fragment[at] == 1
            form = ">Q" if wide else ">I"
            (base,) = struct.unpack_from(form, fragment, at + 4)
            struct.pack_into(
                form, out, at + 4, (base + shift.get(track, 0)) % (2**64 if wide else 2**32)
            )
    return bytes(out)


@functools.cache
def clip() -> Fmp4:
    """The packaged avatar clip, split (read once)."""
    data = importlib.resources.files("rawlive.servers.emulator").joinpath("data/avatar.mp4")
    return split(data.read_bytes())


class AvatarVideo:
    """One connection's avatar stream: the init segment once, then fragments that go on in time."""

    def __init__(self, video: Fmp4 | None = None) -> None:
        self.video = video or clip()
        #: Whether the init segment has gone out.
        self.started = False
        #: Fragments sent so far (the next one's ``mfhd`` sequence number is this plus one).
        self.sent = 0

    def parts(self, seconds: float) -> Iterator[bytes]:
        """The segments that show ``seconds`` of reply: the init segment first, once."""
        video = self.video
        if not self.started:
            self.started = True
            yield video.init
        count = max(1, math.ceil(seconds / video.fragment_seconds - 1e-9))
        for _ in range(count):
            loop, index = divmod(self.sent, len(video.fragments))
            shift = {track: loop * length for track, length in video.durations.items()}
            self.sent += 1
            yield _retimed(video.fragments[index], self.sent, shift)


async def stream(live: Live, video: AvatarVideo, plan: ReplyPlan) -> None:
    """Play a reply as avatar video: base64 fMP4 parts, paced like the audio they carry."""
    seconds = len(plan.audio or b"") / 2 / 24_000
    speed = live.emulator.speed_factor
    loop = asyncio.get_running_loop()
    start = loop.time()
    played = 0.0
    for segment in video.parts(seconds):
        is_init = segment is video.video.init
        part = t.Part(inline_data=t.Blob(data=segment, mime_type=VIDEO_MIME))
        await live.content(model_turn=t.Content(parts=[part]))
        if is_init or not speed:
            continue
        played += video.video.fragment_seconds
        delay = start + played / speed - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
