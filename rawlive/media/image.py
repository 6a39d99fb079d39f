"""Still images on the wire (video frames, ``--image``): what the bytes are, without a decoder.

The Live API takes realtime video as JPEG or PNG images (at most one per
second, PROTOCOL.md §2.2). What a blob claims (its ``mimeType``) and what its
bytes are can differ; the server rejects a blob it cannot decode. This module
reads what the container structure says, in pure Python and in constant
time per image:

* :func:`sniff` — the MIME type the bytes carry (``image/jpeg``,
  ``image/png``, ``image/webp``, ``image/gif``), by their signature;
* :func:`inspect` — an :class:`ImageInfo`: that type, the width and height
  from the header (JPEG's SOF segment, PNG's IHDR), and, for JPEG and PNG,
  whether the structure is whole: a JPEG starts with SOI, has a frame header
  and ends with EOI; a PNG has its signature, an IHDR with a valid CRC first
  and an IEND chunk last. A truncated or corrupt file is :attr:`ImageInfo.problem`.

Decoding every pixel needs a codec (PyAV, the ``media`` extra); what is
checked here is what a server's decoder fails on first, and what the audit,
the emulator and the report need: the type, the size, and whether it is whole.
"""

from __future__ import annotations

import dataclasses
import struct
import zlib

__all__ = ["IMAGE_TYPES", "ImageInfo", "inspect", "sniff"]

#: The image MIME types the Live API takes as realtime video.
IMAGE_TYPES = frozenset({"image/jpeg", "image/png"})

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# JPEG start-of-frame markers (baseline, extended, progressive, lossless...),
# not DHT (C4), JPG (C8) or DAC (CC).
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


@dataclasses.dataclass(frozen=True)
class ImageInfo:
    """What an image's bytes say."""

    #: The MIME type by signature (``None``: not an image this module knows).
    mime_type: str | None
    width: int | None = None
    height: int | None = None
    #: Why it is not a whole JPEG or PNG (``None``: it is, or it is another type).
    problem: str | None = None

    @property
    def ok(self) -> bool:
        """A whole JPEG or PNG (what the Live API decodes)."""
        return self.mime_type in IMAGE_TYPES and self.problem is None


def sniff(data: bytes) -> str | None:
    """The image MIME type ``data``'s signature says, or ``None``."""
    if data.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if data.startswith(_PNG_SIGNATURE):
        return "image/png"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif"
    return None


def inspect(data: bytes) -> ImageInfo:
    """The type, size and wholeness of an image (see the module docstring)."""
    kind = sniff(data)
    if kind == "image/jpeg":
        return _jpeg(data)
    if kind == "image/png":
        return _png(data)
    return ImageInfo(kind)


def _jpeg(data: bytes) -> ImageInfo:
    size: tuple[int, int] | None = None
    pos = 2  # after SOI
    end = len(data)
    while pos + 4 <= end:
        if data[pos] != 0xFF:
            return ImageInfo("image/jpeg", problem=f"no JPEG marker at byte {pos}")
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker == 0xD9:  # EOI before any scan
            break
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            pos += 2
            continue
        (length,) = struct.unpack_from(">H", data, pos + 2)
        if length < 2 or pos + 2 + length > end:
            return ImageInfo("image/jpeg", problem="a JPEG segment runs past the end (truncated)")
        if marker in _SOF and length >= 7:
            height, width = struct.unpack_from(">HH", data, pos + 5)
            size = (width, height)
        if marker == 0xDA:  # start of scan: entropy-coded data up to EOI
            break
        pos += 2 + length
    width, height = size if size is not None else (None, None)
    if size is None:
        return ImageInfo("image/jpeg", problem="no JPEG frame header (SOF): not a whole image")
    if not width or not height:
        return ImageInfo("image/jpeg", width, height, problem="a JPEG frame of zero size")
    if not data.rstrip(b"\x00").endswith(b"\xff\xd9"):
        return ImageInfo("image/jpeg", width, height, problem="no JPEG end marker (truncated)")
    return ImageInfo("image/jpeg", width, height)


def _png(data: bytes) -> ImageInfo:
    pos = len(_PNG_SIGNATURE)
    width = height = None
    first = True
    while pos + 12 <= len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        kind = data[pos + 4 : pos + 8]
        body_end = pos + 8 + length
        if body_end + 4 > len(data):
            return ImageInfo("image/png", width, height, problem="a PNG chunk runs past the end")
        if first:
            if kind != b"IHDR" or length < 8:
                return ImageInfo("image/png", problem="the first PNG chunk is not IHDR")
            (crc,) = struct.unpack_from(">I", data, body_end)
            if zlib.crc32(data[pos + 4 : body_end]) != crc:
                return ImageInfo("image/png", problem="the PNG header's CRC is wrong (corrupt)")
            width, height = struct.unpack_from(">II", data, pos + 8)
            first = False
        elif kind == b"IEND":
            if not width or not height:
                return ImageInfo("image/png", width, height, problem="a PNG of zero size")
            return ImageInfo("image/png", width, height)
        pos = body_end + 4
    return ImageInfo("image/png", width, height, problem="no PNG IEND chunk (truncated)")
