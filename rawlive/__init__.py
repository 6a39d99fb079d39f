"""rawlive: the Gemini Live API (BidiGenerateContent) over a plain WebSocket.

``rawlive.types`` holds the wire objects, ``rawlive.codec`` turns them into
frames and back. Audio support (numpy, soundfile, soxr) is imported only by
the modules that need it, so ``import rawlive`` stays light.
"""

from __future__ import annotations

from rawlive import codec, types
from rawlive.errors import (
    ConfigError,
    DecodeError,
    RawliveError,
    ServerErrorPayload,
    UnknownMessageError,
)

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DecodeError",
    "RawliveError",
    "ServerErrorPayload",
    "UnknownMessageError",
    "__version__",
    "codec",
    "types",
]
