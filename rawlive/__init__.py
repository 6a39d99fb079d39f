"""rawlive: the Gemini Live API (BidiGenerateContent) over a plain WebSocket.

``rawlive.connect()`` opens a session; ``rawlive.types`` holds the wire
objects and ``rawlive.codec`` turns them into frames and back. Audio support
(numpy, soundfile, soxr) is imported only by the modules that need it, so
``import rawlive`` stays light.
"""

from __future__ import annotations

__version__ = "0.1.0"

from rawlive import codec, messages, types
from rawlive.compat import Client
from rawlive.errors import (
    ConfigError,
    DecodeError,
    RawliveError,
    ServerErrorPayload,
    UnknownMessageError,
)
from rawlive.protocol import ProtocolError
from rawlive.session import (
    ConnectError,
    LiveConnectionClosed,
    Reconnect,
    Session,
    SessionResumed,
    connect,
)

__all__ = [
    "Client",
    "ConfigError",
    "ConnectError",
    "DecodeError",
    "LiveConnectionClosed",
    "ProtocolError",
    "RawliveError",
    "Reconnect",
    "ServerErrorPayload",
    "Session",
    "SessionResumed",
    "UnknownMessageError",
    "__version__",
    "codec",
    "connect",
    "messages",
    "types",
]
