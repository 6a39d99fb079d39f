"""rawlive: the Gemini Live API (BidiGenerateContent) over a plain WebSocket.

``rawlive.connect()`` opens a session; ``rawlive.wire.types`` holds the wire
objects and ``rawlive.wire.codec`` turns them into frames and back.

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
    QuotaExceeded,
    RawliveError,
    RemoteProtocolError,
    ServerErrorPayload,
    SessionStalled,
    UnknownMessageError,
)

if TYPE_CHECKING:
    from rawlive.client.compat import Client
    from rawlive.client.session import (
        Reconnect,
        Session,
        SessionResumed,
        Stalled,
        connect,
    )
    from rawlive.core.watchdog import StallPolicy
    from rawlive.wire import codec, messages, types

# name -> module that defines it (a module itself when the name is one).
_LAZY = {
    "codec": "rawlive.wire.codec",
    "messages": "rawlive.wire.messages",
    "types": "rawlive.wire.types",
    "Client": "rawlive.client.compat",
    "Reconnect": "rawlive.client.session",
    "Session": "rawlive.client.session",
    "SessionResumed": "rawlive.client.session",
    "Stalled": "rawlive.client.session",
    "StallPolicy": "rawlive.core.watchdog",
    "connect": "rawlive.client.session",
}


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'rawlive' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.rsplit(".", 1)[-1] == name else getattr(module, name)
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
    "QuotaExceeded",
    "RawliveError",
    "Reconnect",
    "RemoteProtocolError",
    "ServerErrorPayload",
    "Session",
    "SessionResumed",
    "SessionStalled",
    "StallPolicy",
    "Stalled",
    "UnknownMessageError",
    "__version__",
    "codec",
    "connect",
    "messages",
    "types",
]
