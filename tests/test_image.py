"""rawlive.media.image: an image's type, size and wholeness from its bytes alone."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest

from rawlive.media.image import ImageInfo, inspect, sniff

IMAGES = Path(__file__).resolve().parent.parent / "fixtures" / "images"
JPEG = (IMAGES / "testsrc-320x240.jpg").read_bytes()  # made by ffmpeg (testsrc)
PNG = (IMAGES / "testsrc-64x48.png").read_bytes()


def test_a_whole_jpeg_and_png_with_their_sizes() -> None:
    assert inspect(JPEG) == ImageInfo("image/jpeg", 320, 240) and inspect(JPEG).ok
    assert inspect(PNG) == ImageInfo("image/png", 64, 48) and inspect(PNG).ok


@pytest.mark.parametrize(
    ("data", "kind"),
    [
        (JPEG, "image/jpeg"),
        (PNG, "image/png"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (b"GIF89a" + bytes(10), "image/gif"),
        (b"\x00\x00\x00\x18ftypmp42", None),
        (b"", None),
    ],
)
def test_the_signature_says_the_type(data: bytes, kind: str | None) -> None:
    assert sniff(data) == kind
    info = inspect(data)
    assert info.mime_type == kind and (info.ok is (kind in ("image/jpeg", "image/png")))


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (JPEG[: len(JPEG) // 2], "truncated"),
        (JPEG[:2] + JPEG[2:4] + b"\xff\xff", "runs past the end"),
        (b"\xff\xd8\xff\xe0\x00\x07JFIF\x00\xff\xd9", "no JPEG frame header"),
        (PNG[:-12], "no PNG IEND chunk"),
        (PNG[:40], "no PNG IEND chunk (truncated)"),
        (PNG[:30], "runs past the end"),
        (PNG[:16] + b"XXXX" + PNG[20:], "CRC is wrong"),
        (PNG[:12] + b"IDAT" + PNG[16:], "the first PNG chunk is not IHDR"),
    ],
)
def test_a_broken_image_says_what_is_wrong(data: bytes, says: str) -> None:
    info = inspect(data)
    assert not info.ok and info.problem is not None and says in info.problem


def test_a_png_of_zero_size_is_not_whole() -> None:
    header = b"IHDR" + (0).to_bytes(4, "big") + (5).to_bytes(4, "big") + b"\x08\x02\x00\x00\x00"
    ihdr = (13).to_bytes(4, "big") + header + zlib.crc32(header).to_bytes(4, "big")
    iend = (0).to_bytes(4, "big") + b"IEND" + zlib.crc32(b"IEND").to_bytes(4, "big")
    info = inspect(b"\x89PNG\r\n\x1a\n" + ihdr + iend)
    assert info.problem == "a PNG of zero size" and (info.width, info.height) == (0, 5)
