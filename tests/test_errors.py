"""One error policy: every error rawlive raises on purpose is a RawliveError
declared in rawlive.errors; bad arguments are ConfigError; our own misuse and
the peer's violation are different protocol errors."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import rawlive
from rawlive import audio, errors

PACKAGE = Path(rawlive.__file__).parent


def _modules() -> list[ModuleType]:
    names = [
        info.name
        for info in pkgutil.walk_packages([str(PACKAGE)], "rawlive.")
        if info.name != "rawlive.__main__"
    ]
    return [rawlive, *(importlib.import_module(name) for name in names)]


def _subclasses(cls: type[BaseException]) -> list[type[BaseException]]:
    found: list[type[BaseException]] = []
    todo = [cls]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found:
                found.append(sub)
                todo.append(sub)
    return found


def test_every_exception_class_of_rawlive_is_a_rawlive_error_declared_in_errors() -> None:
    modules = _modules()
    ours = [c for c in _subclasses(BaseException) if c.__module__.startswith("rawlive")]
    assert errors.RawliveError in ours and errors.RemoteProtocolError in ours
    for cls in ours:
        assert cls.__module__ == "rawlive.errors", f"{cls.__module__}.{cls.__qualname__}"
        base = errors.RawliveWarning if issubclass(cls, Warning) else errors.RawliveError
        assert issubclass(cls, base), cls
    # What a module exposes under an error's name is the class errors.py declares.
    for module in modules:
        for name, value in vars(module).items():
            ours = inspect.isclass(value) and value.__module__.startswith("rawlive")
            if ours and issubclass(value, BaseException):
                assert getattr(errors, name) is value, f"{module.__name__}.{name}"


def test_every_declared_error_is_listed_in_errors_all() -> None:
    declared = {
        name
        for name, value in vars(errors).items()
        if inspect.isclass(value) and issubclass(value, BaseException)
    }
    assert declared == set(errors.__all__)


def test_re_exports_keep_their_module_names() -> None:
    from rawlive import protocol, pytest_plugin, send, server, session

    assert rawlive.ProtocolError is protocol.ProtocolError is errors.ProtocolError
    assert rawlive.LocalProtocolError is protocol.LocalProtocolError
    assert rawlive.RemoteProtocolError is protocol.RemoteProtocolError
    assert rawlive.ConnectError is session.ConnectError is errors.ConnectError
    assert rawlive.LiveConnectionClosed is session.LiveConnectionClosed
    assert server.SetupRejected is errors.SetupRejected
    assert pytest_plugin.LiveNetworkRefused is errors.LiveNetworkRefused
    assert audio.AudioFileError is errors.AudioFileError
    assert send.ReplyTimeout is errors.ReplyTimeout


def test_the_builtin_bases_are_kept_for_callers_that_catch_them() -> None:
    assert issubclass(errors.ConfigError, ValueError)
    assert issubclass(errors.LiveNetworkRefused, RuntimeError)
    assert issubclass(errors.TruncatedCassetteWarning, UserWarning)


def test_misuse_and_the_peers_violation_are_different_protocol_errors() -> None:
    local, remote = errors.LocalProtocolError, errors.RemoteProtocolError
    assert issubclass(local, errors.ProtocolError) and issubclass(remote, errors.ProtocolError)
    assert not issubclass(local, remote) and not issubclass(remote, local)
    # A server refusing a client's setup, or a replay's client leaving the
    # cassette: the peer's doing, as the server sees it.
    assert issubclass(errors.SetupRejected, remote)
    assert issubclass(errors.ReplayDiverged, remote)


def test_live_connection_closed_says_code_reason_hint_and_context() -> None:
    error = errors.LiveConnectionClosed(
        1008, "gone", hint="start again", fatal=True, context="could not resume"
    )
    assert str(error) == "could not resume: connection closed with 1008: gone (start again)"
    assert (error.code, error.reason, error.hint, error.fatal) == (
        1008,
        "gone",
        "start again",
        True,
    )


def test_connection_closed_redacts_the_reason_and_adds_the_hint() -> None:
    from rawlive.session import connection_closed

    error = connection_closed(
        1008, "BidiGenerateContent session not found k-123", secrets=["k-123"]
    )
    assert "k-123" not in str(error) and "k-123" not in repr(error.reason)
    assert error.fatal and error.hint and "2 hours" in error.hint
    assert not connection_closed(1011, "Internal error occurred.").fatal
