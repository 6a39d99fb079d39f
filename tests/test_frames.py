"""rawlive.media.frames: the one judgement of a video frame the emulator and the audit share."""

from __future__ import annotations

from pathlib import Path

import pytest

from rawlive.media.frames import RECOMMENDED_BYTES, RECOMMENDED_SIDE, frame_problem, oversized
from rawlive.media.image import ImageInfo, inspect

IMAGES = Path(__file__).parent.parent / "fixtures" / "images"
JPEG = (IMAGES / "testsrc-320x240.jpg").read_bytes()
PNG = (IMAGES / "testsrc-64x48.png").read_bytes()
GIF = b"GIF89a" + bytes(20)


@pytest.mark.parametrize(
    ("data", "mime", "kind", "says"),
    [
        (JPEG, "image/jpeg", None, None),
        (PNG, "image/png", None, None),
        (JPEG, "image/jpeg; foo=bar", None, None),  # parameters are not the type
        (PNG, "image/jpeg", "mime", "claims image/jpeg but its bytes are image/png"),
        (JPEG, None, "mime", "claims no type but its bytes are image/jpeg"),
        (JPEG[:-300], "image/jpeg", "broken", "not whole"),
        (b"hello", "image/jpeg", "broken", "is not an image"),
        (GIF, "image/gif", "broken", "the Live API takes JPEG or PNG"),
    ],
)
def test_frame_problem(data: bytes, mime: str | None, kind: str | None, says: str | None) -> None:
    problem = frame_problem(data, mime)
    assert (problem and problem.kind) == kind
    if says is not None:
        assert problem is not None and says in problem.why


def test_oversized_by_side_or_bytes() -> None:
    assert oversized(len(JPEG), inspect(JPEG)) is None
    big = ImageInfo("image/jpeg", RECOMMENDED_SIDE + 1, 10)
    assert "over the recommended 768x768" in (oversized(100, big) or "")
    assert oversized(100, ImageInfo("image/jpeg", RECOMMENDED_SIDE, RECOMMENDED_SIDE)) is None
    heavy = oversized(RECOMMENDED_BYTES + 1, inspect(JPEG))
    assert heavy is not None and str(RECOMMENDED_BYTES) in heavy
