"""What the emulator accepts, and how it closes on what it does not (``PROTOCOL.md`` §2, §5.3).

The paths the real services answer on; a ``setup`` whose model the emulator
knows, with response modalities that model takes, else 1008 with the real
reason or 1007; client messages that decode strictly, carry one kind and
stream audio at a usable rate, else 1007. The strict rules (a tool response
for an id never issued: 1007; audio while a blocking call is unanswered:
1008 ``The operation was aborted.``) are what users report, not what Google
documents: the connection applies them only with ``strict``.
"""

from __future__ import annotations

import re

from rawlive.errors import DecodeError, RemoteProtocolError
from rawlive.servers.base import check_client_message
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "ABORTED",
    "KNOWN_MODELS",
    "SESSION_NOT_FOUND",
    "accepts_path",
    "audio_rate",
    "check_message",
    "model_id",
    "unknown_model_reason",
]

#: Live models named in PROTOCOL.md; ``True`` for native-audio ones (AUDIO only).
KNOWN_MODELS: dict[str, bool] = {
    "gemini-3.1-flash-live-preview": True,
    "gemini-2.5-flash-native-audio-preview-12-2025": True,
    "gemini-2.5-flash-native-audio-preview-09-2025": True,
    "gemini-live-2.5-flash-native-audio": True,
    "gemini-live-2.5-flash-preview": False,
    "gemini-live-2.5-flash": False,
    "gemini-2.0-flash-live-001": False,
}

#: Paths the real services answer on (the SDK's double slash included).
_PATH = re.compile(
    r"^//?ws/(?:google\.ai\.generativelanguage\.(?:v1alpha|v1beta|v1)\.GenerativeService\."
    r"BidiGenerateContent(?:Constrained)?"
    r"|google\.cloud\.aiplatform\.(?:v1|v1beta1)\.LlmBidiService/BidiGenerateContent)$"
)

#: The strict close for audio while a blocking tool call is unanswered.
ABORTED = (1008, "The operation was aborted.")
#: The close for a resumption handle the emulator does not hold.
SESSION_NOT_FOUND = (1008, "BidiGenerateContent session not found")


def accepts_path(path: str) -> bool:
    """Whether ``path`` (without its query) is one the real services answer on."""
    return _PATH.match(path) is not None


def model_id(model: str) -> str:
    """The bare model id of a Gemini (``models/x``) or Vertex model path."""
    return model.rsplit("/", 1)[-1]


def unknown_model_reason(model: str) -> str:
    """The real server's close reason for a model it does not serve (with code 1008)."""
    return (
        f"{model} is not found for API version v1beta, or is not supported for "
        "bidiGenerateContent. Call ListModels to see the list of available models "
        "and their supported methods."
    )


def audio_rate(blob: t.Blob) -> int:
    """An audio blob's sample rate (``rate=`` in its MIME type, else 16 kHz).

    :class:`DecodeError` for a rate no audio has (0 Hz, a 30-digit number):
    the emulator would have to resample from it.
    """
    mime = blob.mime_type or ""
    if "rate=" not in mime:
        return 16_000
    from rawlive.media.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

    rate = codec.mime_rate(mime) or 0
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DecodeError(f"unsupported audio sample rate in {mime!r}")
    return rate


def check_message(payload: bytes | str) -> t.LiveClientMessage:
    """A client message after ``setup``, judged as the real server judges it.

    :class:`DecodeError` or :class:`RemoteProtocolError` (both closed with
    1007) for what :func:`~rawlive.servers.base.check_client_message`
    refuses, a second ``setup``, or audio at a rate no audio has.
    """
    message = check_client_message(payload)
    if message.setup is not None:
        raise RemoteProtocolError("a second setup")
    realtime = message.realtime_input
    if realtime is not None:
        if realtime.audio is not None:
            audio_rate(realtime.audio)
        for blob in realtime.media_chunks or ():
            if (blob.mime_type or "").startswith("audio/"):
                audio_rate(blob)
    return message
