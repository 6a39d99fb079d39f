"""rawlive's exception hierarchy, at the bottom of the house so every layer can raise it.

Every error rawlive raises on purpose is a :class:`RawliveError` declared
here (the modules that raise one re-export it: ``rawlive.client.session.ConnectError``
is this module's). A bad argument is a :class:`ConfigError`; a broken protocol
rule is a :class:`LocalProtocolError` when this program broke it (a bug in the
calling code) and a :class:`RemoteProtocolError` when the peer did. An error
that stands in for a builtin one keeps it as a base (``ConfigError`` is a
``ValueError``), so ``except ValueError`` still catches it. Messages say what
was wrong and what to do. No message or repr ever carries an API key or
token: anything that might (a URL, a header) is redacted before it gets here.
"""

from __future__ import annotations

__all__ = [
    "AudioFileError",
    "ClosedError",
    "ConfigError",
    "ConfigTypeError",
    "ConnectError",
    "DecodeError",
    "LiveConnectionClosed",
    "LiveNetworkRefused",
    "LoadExtraMissing",
    "LoadFailure",
    "LocalProtocolError",
    "MediaExtraMissing",
    "ProtocolError",
    "QuotaClosed",
    "QuotaExceeded",
    "QuotaRefused",
    "RawliveError",
    "RawliveWarning",
    "RemoteProtocolError",
    "ReplayDiverged",
    "ReplyTimeout",
    "ScenarioFailed",
    "ServerErrorPayload",
    "SessionStalled",
    "SetupRejected",
    "SpeechFailed",
    "SpeechUnavailable",
    "TruncatedCassetteWarning",
    "UnknownMessageError",
    "WerMissing",
    "WorkerFailed",
]


class RawliveError(Exception):
    """Base class of every error rawlive raises on purpose."""


class RawliveWarning(UserWarning):
    """Base class of every warning rawlive issues."""


# -- the caller's arguments and calls -------------------------------------------


class ConfigError(RawliveError, ValueError):
    """A config or call argument rawlive (like the SDK) refuses; nothing was sent."""


class ConfigTypeError(ConfigError, TypeError):
    """A call argument of a type rawlive does not take; a ``TypeError`` too, as Python's are."""


class ClosedError(RawliveError, ValueError):
    """A write to a closed writer (cassette, WAV); a ``ValueError``, as for a closed file."""


# -- frames ------------------------------------------------------------------------


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


# -- the session's rules (as h11 splits them) ------------------------------------


class ProtocolError(RawliveError):
    """A side of a Live session broke its rules; see the two kinds below."""


class LocalProtocolError(ProtocolError):
    """This program used a session against the protocol; nothing was sent.

    A message before ``setupComplete``, anything on a closed session: a bug
    in the calling code, not the peer's fault.
    """


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol (for example no ``setupComplete`` first)."""


class SetupRejected(RemoteProtocolError):
    """A server refused a client's first message and closed the socket.

    Not a ``setup`` with a model, or one the server does not serve (an
    unknown model or resumption handle).
    """


class ReplayDiverged(RemoteProtocolError):
    """A replay server's client sent what its cassette does not hold; the server closed.

    The mismatch itself is in :attr:`rawlive.servers.replay.ReplayServer.mismatches`.
    """


# -- connections -------------------------------------------------------------------


class ConnectError(RawliveError):
    """The connection could not be opened (network, TLS, HTTP status, timeout)."""


class LiveConnectionClosed(RawliveError):
    """The server or the network ended the session abnormally.

    ``code`` and ``reason`` are the close frame's (1006 when none arrived),
    the reason already redacted; ``hint`` says what to do when the reason is a
    known one; ``fatal`` whether the same setup would be refused the same
    way; ``context``, when given, says what the close interrupted (``"could
    not resume the session"``). :func:`rawlive.client.session.connection_closed`
    makes one from a close as received.
    """

    def __init__(
        self,
        code: int | None,
        reason: str,
        *,
        hint: str | None = None,
        fatal: bool = False,
        context: str = "",
    ) -> None:
        self.code = code
        self.reason = reason
        self.hint = hint
        self.fatal = fatal
        text = f"connection closed with {code}" + (f": {reason}" if reason else "")
        text += f" ({hint})" if hint else ""
        super().__init__(f"{context}: {text}" if context else text)


class QuotaExceeded(RawliveError):
    """The server refused for quota (``PROTOCOL.md`` §10.12): lower concurrency, wait, or
    request more quota. Catch this for either form: :class:`QuotaRefused` (the
    handshake answered with HTTP 429) or :class:`QuotaClosed` (a close with quota text)."""


class QuotaRefused(QuotaExceeded, ConnectError):
    """The WebSocket handshake was answered with HTTP 429 (or quota text); ``status``: its code."""

    def __init__(self, message: str, *, status: int) -> None:
        super().__init__(message)
        self.status = status


class QuotaClosed(QuotaExceeded, LiveConnectionClosed):
    """The server closed with quota text (1011 ``RESOURCE_EXHAUSTED``, "quota", "concurrent")."""


class SessionStalled(RawliveError):
    """The session's watchdog found it stalled and could not resume it.

    The socket stayed open and the reply did not come, or stopped midway
    (:mod:`rawlive.core.watchdog`). ``kind`` is ``"no-reply"``,
    ``"reply-stopped"`` or ``"no-pong"`` (the connection did not answer a
    ping either); ``waited`` the seconds the session waited, ``threshold``
    the limit that was passed, ``reason`` what made the reply due (rule 11
    of :mod:`rawlive.core.state`; ``None`` for a reply under way); ``what``
    says it and ``hint`` what to do. Raised without session resumption, or
    when stalls recur on one turn after resumes.
    """

    def __init__(
        self,
        what: str,
        *,
        hint: str = "",
        kind: str,
        waited: float,
        threshold: float,
        reason: str | None = None,
    ) -> None:
        super().__init__(f"{what} ({hint})" if hint else what)
        #: What happened, without the hint (a command line words its own).
        self.what = what
        self.hint = hint
        self.kind = kind
        self.waited = waited
        self.threshold = threshold
        self.reason = reason


# -- tools -------------------------------------------------------------------------


class AudioFileError(RawliveError):
    """An audio file cannot be used: missing, empty, not audio or unsupported."""


class MediaExtraMissing(AudioFileError):
    """A file needs PyAV (the ``media`` extra) and it is not installed."""


class ScenarioFailed(RawliveError, AssertionError):
    """A scenario did not do what was expected (``rawlive.tools.scenario``);
    ``failures`` lists each reason. An :class:`AssertionError` too, so that a
    test that checks a scenario fails as an assertion does."""

    def __init__(self, message: str, failures: list[str]) -> None:
        super().__init__(message)
        self.failures = failures


class SpeechUnavailable(ConfigError):
    """No speech for a text: not in the cache, and no way to generate it here.

    :func:`rawlive.media.speech.speak` found no cached file, no API key and no
    espeak-ng; the message says what to set, install or record.
    """


class SpeechFailed(RawliveError):
    """A speech source was asked for a text's speech and failed (HTTP error, bad answer, crash)."""


class WerMissing(RawliveError):
    """The word error rate needs jiwer (the ``scenario`` extra) and it is not installed."""


class WorkerFailed(RawliveError, OSError):
    """An emulator worker (``rawlive serve --workers``) could not start: the port
    is taken, a bad option; the message says why."""


class ReplyTimeout(RawliveError):
    """No complete reply arrived in time after the user's audio ended."""


class LiveNetworkRefused(RawliveError, RuntimeError):
    """A test tried to reach a Live API other than its cassette in record mode ``none``."""


class TruncatedCassetteWarning(RawliveWarning):
    """A cassette's last line is cut off; it was read up to the cut.

    ``path`` is the cassette, ``line`` the cut-off line's number and
    ``offset`` the byte it starts at (what a command line says in one line).
    """

    def __init__(self, message: str, *, path: str = "", line: int = 0, offset: int = 0) -> None:
        super().__init__(message)
        self.path = path
        self.line = line
        self.offset = offset


class LoadExtraMissing(ConfigError):
    """``rawlive.load`` needs Locust (the ``load`` extra) and it is not installed."""


class LoadFailure(RawliveError):
    """What went wrong in a load test's conversation (``rawlive.load``), reported to Locust
    as a failure: the text is the reason (a close's, a stall's...)."""
