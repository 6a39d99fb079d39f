"""A video frame on the wire judged by its bytes: the one rule the emulator and the audit share.

The Live API takes realtime video as JPEG or PNG images, at most one a
second, and recommends "native 768x768 resolution at 1 FPS" (PROTOCOL.md
§6; [FB limits]: https://firebase.google.com/docs/ai-logic/live-api/limits-and-specs). A blob whose
bytes are not a whole JPEG or PNG, or are another type than the
``mimeType`` it claims, is one the server cannot decode: the emulator closes
on it with 1007 and the audit names it. :func:`frame_problem` says which.
"""

from __future__ import annotations

import dataclasses

from rawlive.media.image import IMAGE_TYPES, ImageInfo, inspect

__all__ = [
    "RECOMMENDED_BYTES",
    "RECOMMENDED_SIDE",
    "FrameProblem",
    "frame_problem",
    "oversized",
]

#: The frame size the Live API recommends (PROTOCOL.md §6: "recommended 768x768", [FB limits]).
RECOMMENDED_SIDE = 768
#: The largest image the Live API takes as inline data: "Maximum file size per
#: file (inline data): 7 MB" (Firebase AI Logic, Live API limits and specs,
#: image formats; PROTOCOL.md's [FB limits] page). Read as 7,000,000 bytes.
RECOMMENDED_BYTES = 7_000_000


@dataclasses.dataclass(frozen=True)
class FrameProblem:
    """Why a frame cannot be decoded: ``kind`` ``mime`` (claim vs bytes) or ``broken``."""

    kind: str
    why: str


def _claimed(mime_type: str | None) -> str:
    return (mime_type or "").split(";", 1)[0].strip().lower()


def frame_problem(
    data: bytes, mime_type: str | None, info: ImageInfo | None = None
) -> FrameProblem | None:
    """What is wrong with a frame of ``data`` claimed as ``mime_type`` (``None``: nothing)."""
    info = info if info is not None else inspect(data)
    claimed = _claimed(mime_type)
    if info.mime_type is None:
        return FrameProblem("broken", f"a frame claimed as {claimed or 'no type'} is not an image")
    if info.problem is not None:
        return FrameProblem("broken", f"a {info.mime_type} frame is not whole: {info.problem}")
    if claimed != info.mime_type:
        return FrameProblem(
            "mime", f"a frame claims {claimed or 'no type'} but its bytes are {info.mime_type}"
        )
    if info.mime_type not in IMAGE_TYPES:
        return FrameProblem("broken", f"a {info.mime_type} frame: the Live API takes JPEG or PNG")
    return None


def oversized(size: int, info: ImageInfo) -> str | None:
    """Why a frame is larger than recommended (``None``: it is not)."""
    if (info.width or 0) > RECOMMENDED_SIDE or (info.height or 0) > RECOMMENDED_SIDE:
        return (
            f"a {info.width}x{info.height} frame, over the recommended "
            f"{RECOMMENDED_SIDE}x{RECOMMENDED_SIDE}"
        )
    if size > RECOMMENDED_BYTES:
        return f"a frame of {size} bytes, over {RECOMMENDED_BYTES} bytes"
    return None
