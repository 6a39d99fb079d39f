"""Thumbnails of the video frames a session sent, small enough to embed in the page.

A frame is scaled down to at most :data:`THUMB_SIDE` pixels a side and
JPEG-encoded with PyAV (``av``, the ``media`` extra); a JPEG or PNG already
that small and under :data:`TINY_BYTES` is embedded as it is. Without PyAV,
:func:`available` is false and the report draws each frame as a tick, with a
note naming the extra.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction

from rawlive.media.image import ImageInfo

__all__ = ["THUMB_SIDE", "TINY_BYTES", "available", "thumbnail"]

#: The longest side of a thumbnail, in pixels.
THUMB_SIDE = 80
#: A whole frame this small (and no larger than a thumbnail) is embedded as it is.
TINY_BYTES = 6_000

_DECODERS = {"image/jpeg": "mjpeg", "image/png": "png"}


def available() -> bool:
    """Whether PyAV (the ``media`` extra) is installed to scale frames down."""
    return importlib.util.find_spec("av") is not None


def thumbnail(data: bytes, info: ImageInfo) -> tuple[str, bytes] | None:
    """A small image of a whole JPEG or PNG frame: (MIME type, bytes), or ``None``.

    ``None``: the frame is not whole, or it needs scaling and PyAV is missing
    or cannot decode it.
    """
    if not info.ok or info.mime_type is None:
        return None
    small = max(info.width or 0, info.height or 0) <= THUMB_SIDE
    if small and len(data) <= TINY_BYTES:
        return info.mime_type, data
    if not available():
        return None
    import av

    try:
        decoder = av.CodecContext.create(_DECODERS[info.mime_type], "r")
        assert isinstance(decoder, av.VideoCodecContext)
        frames = decoder.decode(av.Packet(data)) or decoder.decode(None)
        if not frames:
            return None
        frame = frames[0]
        scale = min(1.0, THUMB_SIDE / max(frame.width, frame.height))
        width = max(2, round(frame.width * scale) & ~1)
        height = max(2, round(frame.height * scale) & ~1)
        encoder = av.CodecContext.create("mjpeg", "w")
        assert isinstance(encoder, av.VideoCodecContext)
        encoder.width, encoder.height, encoder.pix_fmt = width, height, "yuvj420p"
        encoder.time_base = Fraction(1, 1)
        encoder.options = {"qscale": "8"}
        packets = encoder.encode(frame.reformat(width=width, height=height, format="yuvj420p"))
        packets += encoder.encode(None)
    except (av.FFmpegError, ValueError):
        return None
    return "image/jpeg", b"".join(bytes(packet) for packet in packets)
