"""rawlive: the Gemini Live API (BidiGenerateContent) over a plain WebSocket.

``rawlive.connect()`` opens a session; ``rawlive.types`` holds the wire
objects and ``rawlive.codec`` turns them into frames and back.

Names are loaded on first use (PEP 562), so ``import rawlive`` costs little:
websockets and asyncio come in with the first session, numpy, soundfile and
soxr only with audio.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from rawlive._version import __version__
from rawlive.errors import (
    ConfigError,
    ConnectError,
    DecodeError,
    LiveConnectionClosed,
    LocalProtocolError,
    ProtocolError,
    RawliveError,
    RemoteProtocolError,
    ServerErrorPayload,
    UnknownMessageError,
)

if TYPE_CHECKING:
    from rawlive import codec, messages, types
    from rawlive.compat import Client
    from rawlive.session import (
        Reconnect,
        Session,
        SessionResumed,
        connect,
    )

# name -> module that defines it (a module itself when the name is one).
_LAZY = {
    "codec": "rawlive.codec",
    "messages": "rawlive.messages",
    "types": "rawlive.types",
    "Client": "rawlive.compat",
    "Reconnect": "rawlive.session",
    "Session": "rawlive.session",
    "SessionResumed": "rawlive.session",
    "connect": "rawlive.session",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'rawlive' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name == f"rawlive.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)


__all__ = [
    "Client",
    "ConfigError",
    "ConnectError",
    "DecodeError",
    "LiveConnectionClosed",
    "LocalProtocolError",
    "ProtocolError",
    "RawliveError",
    "Reconnect",
    "RemoteProtocolError",
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
