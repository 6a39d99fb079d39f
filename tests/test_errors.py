"""One error policy: every error rawlive raises on purpose is a RawliveError
declared in rawlive.errors; bad arguments are ConfigError; our own misuse and
the peer's violation are different protocol errors."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import pkgutil
from pathlib import Path
from types import ModuleType

import pytest

import rawlive
from rawlive import errors
from rawlive.cassette import CassetteWriter, FrameEvent
from rawlive.media import audio, vad
from rawlive.servers.replay import ReplayServer
from rawlive.wire import codec
from rawlive.wire import types as t

PACKAGE = Path(rawlive.__file__).parent

# Raises of builtin errors that are not rawlive's errors: msgspec's hook
# contracts (a dec_hook's TypeError/ValueError becomes msgspec's
# ValidationError, then a DecodeError; a hook says "not mine" with
# NotImplementedError) and a signal caught at once and re-raised as ConfigError.
HOOKS = {
    ("codec", "_enc_hook"),
    ("codec", "_dec_hook"),
    ("schema", "_schema_hook"),
    ("messages", "_type_schema"),
}
BUILTIN_ERRORS = {
    name
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception) and not issubclass(value, Warning)
} - {"StopIteration", "StopAsyncIteration"}


#: Modules that import Locust, whose gevent would patch this process: never
#: imported here (tests/test_load.py runs them in subprocesses).
LOCUST_MODULES = {"rawlive.load", "rawlive.tools.load.user", "rawlive.tools.load.locustfile"}


def _modules() -> list[ModuleType]:
    names = [
        info.name
        for info in pkgutil.walk_packages([str(PACKAGE)], "rawlive.")
        if info.name != "rawlive.__main__" and info.name not in LOCUST_MODULES
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


def test_no_deliberate_raise_of_a_builtin_error_outside_the_hooks() -> None:
    found = []
    for path in sorted(PACKAGE.glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for function in ast.walk(tree):
            if not isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            if (path.stem, function.name) in HOOKS:
                continue
            for node in ast.walk(function):
                if isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call):
                    func = node.exc.func
                    if isinstance(func, ast.Name) and func.id in BUILTIN_ERRORS:
                        found.append(f"{path.name}:{node.lineno} {func.id}")
    # __getattr__'s AttributeError is the module protocol's, not an error of rawlive.
    assert found == [
        "__init__.py:" + _line_of("__init__.py", "raise AttributeError") + " AttributeError"
    ]


def _line_of(file: str, text: str) -> str:
    lines = (PACKAGE / file).read_text(encoding="utf-8").splitlines()
    return str(next(i for i, line in enumerate(lines, 1) if text in line))


def test_re_exports_keep_their_module_names() -> None:
    from rawlive import pytest_plugin
    from rawlive.client import session
    from rawlive.core import protocol
    from rawlive.servers import base as server
    from rawlive.tools import send

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
    assert issubclass(errors.ConfigTypeError, errors.ConfigError)
    assert issubclass(errors.ConfigTypeError, TypeError)
    assert issubclass(errors.ClosedError, ValueError)
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
    from rawlive.client.session import connection_closed

    error = connection_closed(
        1008, "BidiGenerateContent session not found k-123", secrets=["k-123"]
    )
    assert "k-123" not in str(error) and "k-123" not in repr(error.reason)
    assert error.fatal and error.hint and "2 hours" in error.hint
    assert not connection_closed(1011, "Internal error occurred.").fatal


# -- bad arguments are ConfigError -------------------------------------------------


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda: audio.chunk_bytes(0), "a chunk must last"),
        (lambda: list(audio.chunks(iter([b"\0\0"]), tail_silence_s=-1)), "tail silence"),
        (lambda: audio.Pacer(speed=-1), "speed must be"),
        (lambda: audio.Pacer(spin=float("nan")), "spin must be"),
        (lambda: vad.VadConfig(sample_rate=0), "must be positive"),
        (lambda: vad.VadConfig(sample_rate=44100, frame_ms=1), "whole number of samples"),
        (lambda: codec.inspect_frame(b"{}", direction="up"), "direction must be"),
        (lambda: t.Duration.parse("ten seconds"), "not a protobuf Duration"),
        (
            lambda: FrameEvent(t=0.0, connection=1, sender="client", opcode="text", kind="x"),
            "exactly one",
        ),
        (
            lambda: FrameEvent(
                t=0.0, connection=1, sender="client", opcode="binary", kind="x", b64="*"
            ),
            "base64",
        ),
    ],
)
def test_bad_arguments_are_config_errors(call: object, match: str) -> None:
    assert callable(call)
    with pytest.raises(rawlive.ConfigError, match=match):
        call()


def test_a_wav_writer_refuses_bad_rates_and_writes_after_close(tmp_path: Path) -> None:
    with pytest.raises(rawlive.ConfigError, match="rate and channels"):
        audio.WavWriter(tmp_path / "a.wav", rate=0)
    writer = audio.WavWriter(tmp_path / "b.wav", rate=16000)
    writer.close()
    with pytest.raises(errors.ClosedError, match="closed"):
        writer.write(b"\0\0")


def test_a_cassette_writer_refuses_writes_after_close(tmp_path: Path) -> None:
    writer = CassetteWriter(tmp_path / "c.jsonl")
    writer.close()
    with pytest.raises(errors.ClosedError, match="closed"):
        writer.write_frame(1, "client", "text", b"{}")


def test_encoding_a_non_message_is_a_config_error_and_a_type_error() -> None:
    with pytest.raises(errors.ConfigTypeError, match="Blob") as info:
        codec.encode_client_message(t.Blob(data=b"x"))  # type: ignore[arg-type]
    assert isinstance(info.value, TypeError) and isinstance(info.value, rawlive.ConfigError)


def test_a_replay_server_refuses_a_bad_policy_and_speed(tmp_path: Path) -> None:
    cassette = tmp_path / "c.jsonl"
    CassetteWriter(cassette).close()
    with pytest.raises(rawlive.ConfigError, match="unknown replay policy 'nope'"):
        ReplayServer(cassette, policy="nope")
    with pytest.raises(rawlive.ConfigError, match="speed must not be negative"):
        ReplayServer(cassette, speed=-1)
