"""rawlive's exception hierarchy, at the bottom of the house so every layer can raise it.

Every error rawlive raises on purpose is a :class:`RawliveError`. Messages say
what was wrong and what to do. No message or repr ever carries an API key or
token: anything that might (a URL, a header) is redacted before it gets here.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DecodeError",
    "RawliveError",
    "ServerErrorPayload",
    "UnknownMessageError",
]


class RawliveError(Exception):
    """Base class of every error rawlive raises on purpose."""


class ConfigError(RawliveError, ValueError):
    """A config or call argument rawlive (like the SDK) refuses; nothing was sent."""


class DecodeError(RawliveError, ValueError):
    """A frame is not a valid Live API message.

    ``path`` names where in the message the problem is, when known
    (``$.serverContent.modelTurn.parts[0].inlineData.data``).
    """

    def __init__(self, message: str, *, path: str | None = None) -> None:
        super().__init__(message)
        self.path = path


class UnknownMessageError(DecodeError):
    """A JSON object with none of the known message kinds.

    Forward compatibility: a newer server may send a kind this version does
    not know. A session logs and skips these instead of failing; ``keys``
    holds the top-level keys that were seen.
    """

    def __init__(self, message: str, *, keys: list[str]) -> None:
        super().__init__(message)
        self.keys = keys


class ServerErrorPayload(DecodeError):
    """The server sent an error object (``{"error": {...}}`` or ``{"code": ...}``)."""

    def __init__(self, message: str, *, code: int | None, status: str | None = None) -> None:
        super().__init__(
            f"server error {code if code is not None else '(no code)'}"
            f"{' ' + status if status else ''}: {message}"
        )
        self.code = code
        self.status = status
        self.server_message = message
