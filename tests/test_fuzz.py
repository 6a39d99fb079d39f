"""Fuzzing: hostile input only ever comes out as a rawlive error.

Four targets, each fed random input and mutations of real data (the frames
of ``fixtures/sessions/*.jsonl`` and of the conformance vectors in
``tests/data/conformance``, the files of ``fixtures/audio``):

* the decoders (:func:`~rawlive.wire.codec.decode_server_message`,
  :func:`~rawlive.wire.codec.decode_client_message`,
  :func:`~rawlive.wire.codec.inspect_frame`): a frame decodes to a message that
  survives re-encoding, or raises a :class:`~rawlive.RawliveError`; the fast
  and the lenient paths agree, and so do text and bytes;
* the cassette reader: a mutated cassette reads, or raises
  :class:`~rawlive.DecodeError`; the only warning is
  :class:`~rawlive.cassette.TruncatedCassetteWarning`; a cassette cut
  anywhere reads as a prefix of the whole; any frame, however broken, is
  recorded and read back byte for byte;
* the emulator: one running emulator takes many connections, each sending a
  random or mutated frame (text or binary, as the first frame or after a
  valid ``setup``); it closes with 1007 exactly when rawlive's own decoder
  finds the frame invalid, accepts it otherwise, and still serves a valid
  session at the end;
* the audio reader: WAV and FLAC files with mutated or truncated headers read
  or raise :class:`~rawlive.media.audio.AudioFileError`, in bounded time and memory.

Budgets follow the loaded Hypothesis profile (``tests/conftest.py``):
``make test`` runs the fast, derandomized ``ci`` profile, ``make fuzz`` the
long ``fuzz`` profile (``HYPOTHESIS_PROFILE=fuzz``).
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import io
import json
import signal
import tempfile
import threading
import tracemalloc
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

import rawlive
from rawlive.cassette import (
    Cassette,
    CassetteWriter,
    FrameEvent,
    TruncatedCassetteWarning,
    read_cassette,
)
from rawlive.errors import DecodeError, RawliveError
from rawlive.media import audio
from rawlive.media.frames import frame_problem
from rawlive.servers.emulator import Emulator
from rawlive.wire import codec
from rawlive.wire import types as t

ROOT = Path(__file__).resolve().parent.parent
SESSIONS = sorted((ROOT / "fixtures" / "sessions").glob("*.jsonl"))
CONFORMANCE = Path(__file__).resolve().parent / "data" / "conformance"
AUDIO = ROOT / "fixtures" / "audio"


def budget(share: float) -> Any:
    """Settings for one fuzz target: ``share`` of the profile's ``max_examples``."""
    return settings(
        max_examples=max(5, round(settings.default.max_examples * share)),
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


# ---------------------------------------------------------------------------
# Seeds: real frames, both ways
# ---------------------------------------------------------------------------


def _cassette_frames(sender: str, per_kind: int = 3) -> list[str]:
    """Frames one side sent in the fixture cassettes, a few of each kind."""
    frames: list[str] = []
    seen: dict[str, int] = {}
    for path in SESSIONS:
        for line in path.read_text(encoding="utf-8").splitlines()[1:]:
            try:
                event = json.loads(line)
            except ValueError:  # a cassette cut on purpose
                continue
            if event.get("type") != "frame" or event.get("from") != sender:
                continue
            if seen.setdefault(event["kind"], 0) < per_kind and "text" in event:
                seen[event["kind"]] += 1
                frames.append(event["text"])
    return frames


def _conformance_frames(side: str) -> list[str]:
    frames: list[str] = []
    for path in sorted((CONFORMANCE / side).glob("*.json")):
        vector = json.loads(path.read_text(encoding="utf-8"))
        for key in ("wire_raw", "wire_sequence_raw", "frames_raw"):
            value = vector.get(key)
            if isinstance(value, str):
                frames.append(value)
            elif isinstance(value, list):
                frames.extend(v for v in value if isinstance(v, str))
    return frames


SERVER_SEEDS = sorted(set(_cassette_frames("server") + _conformance_frames("server")))
CLIENT_SEEDS = sorted(set(_cassette_frames("client") + _conformance_frames("client")))
# The emulator takes a setup first, then anything else: seeds of each, so that
# the mutations of each stay valid often enough to test both verdicts.
CLIENT_SETUP_SEEDS = [s for s in CLIENT_SEEDS if s.lstrip().startswith('{"setup"')]
CLIENT_MESSAGE_SEEDS = [s for s in CLIENT_SEEDS if s not in CLIENT_SETUP_SEEDS]


def _wire_keys() -> list[str]:
    """Every wire name (and its snake_case twin) of every wire Struct: keys worth guessing."""
    from rawlive import cassette

    keys: set[str] = set()
    for value in [*vars(t).values(), *vars(cassette).values()]:
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            for field in msgspec.structs.fields(value):
                keys.update((field.encode_name, field.name))
    return sorted(keys)


WIRE_KEYS = _wire_keys()

# Values that tend to break things: type confusions, bounds, base64 and Duration look-alikes.
NASTY_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**31,
    2**63,
    2**64,
    10**30,
    -(10**30),
    1.5,
    1e308,
    -1e308,
    5e-324,
    "",
    "x",
    "0",
    "true",
    "10s",
    "-1s",
    "1.5s",
    "99999999999999999999s",
    "1e400",
    "NaN",
    "AAAA",
    "AA==",
    "A===",
    "-_-_",
    "!!!!",
    "audio/pcm;rate=0",
    "audio/pcm;rate=1",
    "audio/pcm;rate=99999999999999999999",
    "audio/pcm;rate=-5",
    "audio/pcm",
    "\ud7ff\ue000\U0010ffff",
    [],
    {},
    [None],
    {"seconds": 10**30},
    {"seconds": "1", "nanos": "2"},
    {"elided": True, "bytes": 10**12, "sha256": ""},
]


def _pick(values: list[Any]) -> st.SearchStrategy[Any]:
    """``sampled_from(values)`` with a short repr (Hypothesis prints strategies in
    its statistics) and a copy of each value: drawn values are mutated in place."""

    def pick(index: int) -> Any:
        return copy.deepcopy(values[index])

    return st.integers(0, len(values) - 1).map(pick)


nasty_values = _pick(NASTY_VALUES)
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12)
    | nasty_values
)
json_keys = _pick(WIRE_KEYS) | st.text(max_size=8)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(json_keys, inner, max_size=4),
    max_leaves=12,
)


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path to a value inside ``value`` (the root included)."""
    yield path
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*path, index))


def _get(value: Any, path: tuple[Any, ...]) -> Any:
    for step in path:
        value = value[step]
    return value


def _snake(name: str) -> str:
    # snake_case written independently of the codec's own rule, so that the fuzz
    # checks the codec's accepted spellings against an oracle it does not share.
    return "".join("_" + c.lower() if c.isupper() else c for c in name)


def _broken_base64(draw: st.DrawFn) -> str:
    alphabet = st.sampled_from(
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=-_ \n!."
    )
    return "".join(draw(st.lists(alphabet, max_size=14)))


def _mutate_once(draw: st.DrawFn, value: Any) -> Any:
    """One structural mutation somewhere in a JSON value; returns the new value."""
    path = draw(st.sampled_from(list(_paths(value))))
    target = _get(value, path)
    op = draw(
        st.sampled_from(
            ["drop", "replace", "nasty", "rename", "insert", "base64", "wrap", "unwrap", "snake"]
        )
    )
    if op == "drop" and path:
        parent = _get(value, path[:-1])
        del parent[path[-1]]
        return value
    if op == "replace":
        new: Any = draw(json_values)
    elif op == "nasty":
        new = draw(nasty_values)
    elif op == "rename" and isinstance(target, dict) and target:
        old = draw(st.sampled_from(sorted(target)))
        target[draw(json_keys)] = target.pop(old)
        return value
    elif op == "insert" and isinstance(target, dict):
        target[draw(json_keys)] = draw(json_values)
        return value
    elif op == "base64":
        new = _broken_base64(draw)
    elif op == "wrap":
        new = [target]
    elif op == "unwrap" and isinstance(target, list | dict) and target:
        new = draw(st.sampled_from(list(target.values() if isinstance(target, dict) else target)))
    elif op == "snake" and isinstance(target, dict):
        new = {_snake(k): v for k, v in target.items()}
    else:
        new = draw(json_values)
    if not path:
        return new
    _get(value, path[:-1])[path[-1]] = new
    return value


def _mutate_bytes(draw: st.DrawFn, data: bytes) -> bytes:
    """One byte-level mutation: truncate, flip, insert or delete."""
    op = draw(st.sampled_from(["truncate", "flip", "insert", "delete"]))
    at = draw(st.integers(0, len(data)))
    if op == "truncate":
        return data[:at]
    if op == "flip" and at < len(data):
        return data[:at] + bytes([data[at] ^ (1 << draw(st.integers(0, 7)))]) + data[at + 1 :]
    if op == "insert":
        return data[:at] + draw(st.binary(min_size=1, max_size=4)) + data[at:]
    return data[:at] + data[at + draw(st.integers(1, 8)) :]


def _as_frame(draw: st.DrawFn, data: bytes) -> bytes | str:
    """As a binary frame (bytes) or, when it is UTF-8, perhaps as a text frame (str)."""
    if draw(st.booleans()):
        with contextlib.suppress(UnicodeDecodeError):
            return data.decode("utf-8")
    return data


@st.composite
def mutated_frames(draw: st.DrawFn, seeds: list[str]) -> bytes | str:
    """A real frame, mutated in its JSON structure and/or in its bytes."""
    seed = draw(st.sampled_from(seeds))
    try:
        value = json.loads(seed)
    except ValueError:  # a malformed seed (the conformance vectors have some): bytes only
        data = seed.encode("utf-8")
    else:
        for _ in range(draw(st.integers(0, 3))):
            value = _mutate_once(draw, value)
        data = json.dumps(
            value,
            ensure_ascii=draw(st.booleans()),
            separators=draw(st.sampled_from([(",", ":"), (", ", ": ")])),
        ).encode("utf-8")
    for _ in range(draw(st.integers(0, 2))):
        data = _mutate_bytes(draw, data)
    return _as_frame(draw, data)


@st.composite
def random_frames(draw: st.DrawFn) -> bytes | str:
    """Random bytes, random text, or random JSON (objects with known keys, mostly)."""
    kind = draw(st.sampled_from(["bytes", "text", "json", "object", "deep"]))
    if kind == "bytes":
        return draw(st.binary(max_size=64))
    if kind == "text":
        return draw(st.text(max_size=64))
    if kind == "deep":  # nesting deeper than the interpreter's stack
        depth = draw(st.integers(800, 3000))
        key = draw(st.sampled_from(["serverContent", "realtimeInput", "items", "args", "x"]))
        opener, closer = draw(st.sampled_from([("[", "]"), (f'{{"{key}":', "}")]))
        return (opener * depth + "1" + closer * depth).encode()
    value = draw(json_values if kind == "json" else st.dictionaries(json_keys, json_values))
    data = json.dumps(value).encode("utf-8")
    return _as_frame(draw, data)


def any_frames(seeds: list[str]) -> st.SearchStrategy[bytes | str]:
    return mutated_frames(seeds) | random_frames()


# ---------------------------------------------------------------------------
# 1. The decoders
# ---------------------------------------------------------------------------


def _outcome(decode: Callable[[Any], Any], frame: bytes | str) -> Any:
    """The decoded message, or the rawlive error; any other exception fails the test."""
    try:
        return decode(frame)
    except RawliveError as exc:
        assert isinstance(exc, DecodeError), f"{type(exc).__name__} from a decoder: {exc}"
        return exc


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, Exception) or isinstance(b, Exception):
        return type(a) is type(b)
    return bool(a == b)


def _other_form(frame: bytes | str) -> bytes | str | None:
    """The same payload as the other frame type (None when it is not UTF-8 text)."""
    if isinstance(frame, str):
        return frame.encode("utf-8")
    try:
        return frame.decode("utf-8")
    except UnicodeDecodeError:
        return None


def _kinds(message: t.LiveServerMessage | t.LiveClientMessage) -> list[str]:
    """The message kinds (top-level fields) set in a message."""
    return [f.name for f in msgspec.structs.fields(message) if getattr(message, f.name) is not None]


def _assert_paths_agree(message: Any, frame: bytes | str, direction: str) -> None:
    """The lenient path (behind inspect_frame) agrees with the decoder.

    Where both decode, to the same message. The fast path skips unknown
    fields unparsed, so it may accept a frame whose unknown parts the lenient
    path cannot parse (invalid UTF-8, a number out of range): then, and only
    then, the lenient path alone fails, as malformed JSON.
    """
    strict = _outcome(lambda f: codec.inspect_frame(f, direction=direction), frame)
    if isinstance(strict, Exception):
        if not isinstance(message, Exception):
            assert "malformed JSON" in str(strict), strict
        return
    inspected, report = strict
    assert inspected == message
    assert all(isinstance(path, str) for path in report.unknown_paths())


@budget(5.0)
@given(frame=any_frames(SERVER_SEEDS))
@example(frame=b'{"goAway":{"timeLeft":"99999999999999999999s"}}')
@example(frame=b'{"goAway":{"timeLeft":1e300}}')
@example(frame=b'{"goAway":{"timeLeft":{"seconds":1e300}}}')
@example(frame=b'{"go_away":{"timeLeft":"99999999999999999999s"}}')
@example(frame=b'[{"\x80serverContent":{"turnComplete":true}}]')  # not UTF-8 in a key
@example(frame=b'{"serverContent":{"modelTurn":{"parts":[{"text":"\x80"}]}}}')  # ... a value
@example(frame=b"[" * 3000)  # deeper than the stack
@example(frame='{"serverContent":' * 3000 + "{}" + "}" * 3000)
def test_server_frames_decode_or_raise_a_rawlive_error(frame: bytes | str) -> None:
    message = _outcome(codec.decode_server_message, frame)
    # Text and binary frames of the same bytes decode alike.
    other = _other_form(frame)
    if other is not None:
        assert _same(_outcome(codec.decode_server_message, other), message)
    _assert_paths_agree(message, frame, "server")
    if isinstance(message, Exception):
        return
    assert _kinds(message), "a decoded message carries a known kind"
    # What decodes re-encodes, and reads back the same.
    assert codec.decode_server_message(codec.encode_server_message(message)) == message


@budget(5.0)
@given(frame=any_frames(CLIENT_SEEDS))
@example(frame=b'{"realtimeInput":{"text":"\xff"}}')
@example(frame=b'{"setup":{"model":"m","\x80generationConfig":{}}}')
@example(frame=b'{"toolResponse":{"functionResponses":[{"response":' + b"[" * 3000 + b"]" * 3000)
def test_client_frames_decode_or_raise_a_rawlive_error(frame: bytes | str) -> None:
    message = _outcome(codec.decode_client_message, frame)
    other = _other_form(frame)
    if other is not None:
        assert _same(_outcome(codec.decode_client_message, other), message)
    _assert_paths_agree(message, frame, "client")
    if isinstance(message, Exception):
        return
    assert _kinds(message), "a decoded message carries a known kind"
    assert codec.decode_client_message(codec.encode(message)) == message


# ---------------------------------------------------------------------------
# 2. The cassette reader
# ---------------------------------------------------------------------------


def _seed_cassette() -> bytes:
    """A small cassette of every line kind, with a ``b64`` frame and an elided one."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "seed.jsonl"
        with CassetteWriter(path, elide_audio=True, meta={"fuzz": [1, "two"]}) as writer:
            writer.write_header(url="ws://127.0.0.1:1/ws", model="models/m", api_version="v1beta")
            writer.write_connect(1, "ws://127.0.0.1:1/ws", [("Host", "127.0.0.1")])
            writer.write_frame(1, "client", "text", '{"setup":{"model":"models/m"}}')
            writer.write_frame(1, "server", "binary", b'{"setupComplete":{}}')
            writer.write_frame(1, "client", "binary", b"\xff\xfe not UTF-8")
            audio_frame = {"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": "AAAA"}}}
            writer.write_frame(1, "client", "text", json.dumps(audio_frame))
            writer.write_frame(1, "server", "text", '{"serverContent":{"text":"h\\u00e9"}}')
            writer.write_close(1, 1000, "bye", "client")
        return path.read_bytes()


SEED_CASSETTE = _seed_cassette()
SEED_LINES = SEED_CASSETTE.splitlines(keepends=True)


def _read(path: Path) -> tuple[Cassette | DecodeError, list[warnings.WarningMessage]]:
    """Read a cassette: the cassette or the DecodeError, and the warnings it gave."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result: Cassette | DecodeError = read_cassette(path)
        except DecodeError as exc:
            result = exc
    return result, caught


def read_cassette_bytes(data: bytes) -> Cassette | DecodeError:
    """Read cassette bytes; only a DecodeError or TruncatedCassetteWarning may come out."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "fuzz.jsonl"
        path.write_bytes(data)
        result, caught = _read(path)
    assert all(issubclass(w.category, TruncatedCassetteWarning) for w in caught), caught
    if isinstance(result, Cassette):
        assert bool(caught) == result.truncated
        for frame in result.frames():
            _check_frame(frame)
    else:
        assert not caught
    return result


def _check_frame(frame: FrameEvent) -> None:
    """A frame read gives its payload (``b64`` was checked as the line was read); the
    silence of an elided one, or a DecodeError: never another error."""
    payload = frame.payload
    if not frame.elided:
        assert frame.wire_payload() == payload
        return
    with contextlib.suppress(DecodeError):
        assert isinstance(frame.wire_payload(), bytes)


def test_the_seed_cassette_reads_whole() -> None:
    seed = read_cassette_bytes(SEED_CASSETTE)
    assert isinstance(seed, Cassette) and seed.complete
    assert len(seed.events) == len(SEED_LINES) - 1
    assert [f.elided for f in seed.frames()] == [0, 0, 0, 1, 0]


@budget(2.0)
@given(cut=st.integers(0, len(SEED_CASSETTE)))
def test_a_cassette_cut_anywhere_reads_as_a_prefix_of_the_whole(cut: int) -> None:
    whole = read_cassette_bytes(SEED_CASSETTE)
    assert isinstance(whole, Cassette)
    prefix = SEED_CASSETTE[:cut]
    *lines, partial = prefix.split(b"\n")
    complete_lines = len(lines) + (
        partial == SEED_LINES[len(lines)].rstrip(b"\n") if partial else 0
    )
    result = read_cassette_bytes(prefix)
    if complete_lines == 0:  # no whole header
        assert isinstance(result, DecodeError)
        return
    assert isinstance(result, Cassette), result
    assert result.header == whole.header
    assert result.events == whole.events[: complete_lines - 1]
    # Cut inside a line: that line is skipped, with the warning.
    assert result.truncated == (len(lines) + 1 > complete_lines and bool(partial))
    assert result.complete == (complete_lines == len(SEED_LINES))


def _mutated_text(draw: st.DrawFn, text: str) -> str:
    value = json.loads(text)
    for _ in range(draw(st.integers(1, 3))):
        value = _mutate_once(draw, value)
    return json.dumps(value)


@st.composite
def mutated_cassettes(draw: st.DrawFn) -> bytes:
    """The seed cassette with lines mutated, replaced, added, removed or cut."""
    lines = list(SEED_LINES)
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, len(lines) - 1))
        op = draw(
            st.sampled_from(
                ["json", "payload", "random", "garbage", "blank", "dup", "drop", "swap"]
            )
        )
        if op == "payload":  # mutate the frame inside a frame line, perhaps marking it elided
            try:
                line = json.loads(lines[at])
                line["text"] = _mutated_text(draw, line["text"])
            except (ValueError, KeyError, TypeError):
                continue
            if draw(st.booleans()):
                line["elided"] = draw(st.integers(0, 3))
            lines[at] = json.dumps(line).encode() + b"\n"
        elif op == "json":
            try:
                value = json.loads(lines[at])
            except ValueError:  # mutated already
                continue
            for _ in range(draw(st.integers(1, 3))):
                value = _mutate_once(draw, value)
            lines[at] = json.dumps(value).encode() + b"\n"
        elif op == "random":
            lines[at] = json.dumps(draw(json_values)).encode() + b"\n"
        elif op == "garbage":
            lines[at] = draw(st.binary(max_size=40)) + b"\n"
        elif op == "blank":
            lines.insert(at, draw(st.sampled_from([b"\n", b"  \n", b"\r\n", b"\t\n"])))
        elif op == "dup":
            lines.insert(at, lines[at])
        elif op == "drop" and len(lines) > 1:
            del lines[at]
        elif op == "swap":
            other = draw(st.integers(0, len(lines) - 1))
            lines[at], lines[other] = lines[other], lines[at]
    data = b"".join(lines)
    if draw(st.booleans()):
        data = _mutate_bytes(draw, data)
    return data


@budget(3.0)
@given(data=mutated_cassettes())
@example(data=SEED_CASSETTE.replace(b'"header"', b'"\xe8eader"'))  # not UTF-8
@example(data=SEED_CASSETTE.replace(b'"connect"', b'"con\rnect"'))  # a CR is no line break
@example(data=SEED_CASSETTE.replace(b'"connect"', b'"\xe8onnect"'))
@example(data=SEED_CASSETTE.replace(b'"b64":"', b'"b64":"!'))  # not base64
@example(data=SEED_CASSETTE.replace(b'\\"bytes\\":3', b'\\"bytes\\":1000000000000'))
@example(data=SEED_CASSETTE.replace(b'\\"bytes\\":3', b'\\"bytes\\":\\"3\\"'))
@example(data=SEED_CASSETTE.replace(b'{\\"realtimeInput', b'{{\\"realtimeInput'))
@example(
    data=SEED_CASSETTE.replace(b'"meta":{', b'"meta":{"x":' + b"[" * 5000 + b"]" * 5000 + b",")
)
def test_mutated_cassettes_read_or_raise_a_decode_error(data: bytes) -> None:
    result = read_cassette_bytes(data)
    if isinstance(result, Cassette):
        # Only the last line can be cut off: the one with no line feed after it.
        assert not (result.truncated and data.endswith(b"\n"))
        # What reads is well-formed: the end, if any, is the last event.
        ends = [i for i, e in enumerate(result.events) if type(e).__name__ == "EndEvent"]
        assert ends in ([], [len(result.events) - 1])
        assert result.complete == bool(ends)


@budget(1.5)
@given(
    frames=st.lists(any_frames(CLIENT_SEEDS + SERVER_SEEDS), min_size=1, max_size=4),
    elide=st.booleans(),
)
@example(frames=[b'{"\x80":1}', b"[" * 3000], elide=False)
@example(frames=['{"realtimeInput":' + "[" * 3000 + "]" * 3000 + "}"], elide=True)
def test_any_frame_records_and_reads_back_byte_for_byte(
    tmp_path: Path, frames: list[bytes | str], elide: bool
) -> None:
    path = tmp_path / "recorded.jsonl"
    with CassetteWriter(path, elide_audio=elide) as writer:
        for frame in frames:
            opcode = "text" if isinstance(frame, str) else "binary"
            writer.write_frame(1, "server", opcode, frame)
    recorded = read_cassette_bytes(path.read_bytes())
    assert isinstance(recorded, Cassette) and recorded.complete
    for frame, line in zip(frames, recorded.frames(), strict=True):
        wire = frame.encode() if isinstance(frame, str) else frame
        assert isinstance(line.kind, str)
        if not line.elided:
            assert line.payload == wire


# ---------------------------------------------------------------------------
# 3. The emulator
# ---------------------------------------------------------------------------

GEMINI_PATH = "/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
HALF = "gemini-live-2.5-flash-preview"
NATIVE = "gemini-2.5-flash-native-audio-preview-12-2025"
INVALID = (1007, "Request contains an invalid argument.")

# Valid setups to fuzz after. With sessionResumption and a handle after every
# message (resumption_interval=1), each message the emulator accepts is
# answered by a sessionResumptionUpdate: a clear sign it was taken.
SETUPS = [
    {"setup": {"model": f"models/{HALF}", "sessionResumption": {}}},
    {
        "setup": {
            "model": f"models/{NATIVE}",
            "generationConfig": {"responseModalities": ["AUDIO"]},
            "inputAudioTranscription": {},
            "sessionResumption": {"transparent": True},
            "tools": [{"functionDeclarations": [{"name": "f", "behavior": "NON_BLOCKING"}]}],
        }
    },
    {
        "setup": {
            "model": f"models/{NATIVE}",
            "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
            "sessionResumption": {},
        }
    },
]


class BackgroundEmulator:
    """An emulator on its own event loop in a thread, for synchronous clients."""

    def __init__(self, **options: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="emulator", daemon=True)
        self.options = options

    def __enter__(self) -> Emulator:
        self.thread.start()

        async def start() -> Emulator:
            emulator = Emulator(**self.options)
            await emulator.start()
            return emulator

        self.emulator = asyncio.run_coroutine_threadsafe(start(), self.loop).result(10)
        return self.emulator

    def __exit__(self, *exc_info: object) -> None:
        asyncio.run_coroutine_threadsafe(self.emulator.stop(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture(scope="module")
def emulator(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """One emulator for all the module's connections, each recorded (the recorder is fuzzed)."""
    record_dir = tmp_path_factory.mktemp("emulator-cassettes")
    with BackgroundEmulator(
        speed=0, resumption_interval=1, capture_frames=False, record_dir=record_dir
    ) as running:
        yield running
    # Every connection's recording reads back, whatever was sent.
    for path in sorted(record_dir.glob("*.jsonl")):
        recorded = read_cassette(path)
        assert recorded.complete and recorded.closes, path


def _judge(frame: bytes | str) -> tuple[str, t.LiveClientMessage | None]:
    """What rawlive's own decoder makes of a client frame: ``invalid``, ``setup`` or ``message``.

    Invalid: it does not decode, has a field the types do not know, does
    not carry exactly one message kind (the envelope is a oneof), streams
    audio at a rate no audio has (the emulator resamples what it hears), or
    sends a video frame (``video``, a non-audio media chunk) that is not a
    whole JPEG or PNG of the type it claims (:func:`rawlive.media.frames.frame_problem`,
    the emulator's rule).
    """
    try:
        message, report = codec.inspect_frame(frame, direction="client")
    except DecodeError:
        return "invalid", None
    assert isinstance(message, t.LiveClientMessage)
    if report.unknown_fields or len(_kinds(message)) != 1:
        return "invalid", None
    realtime = message.realtime_input
    if realtime is not None:
        blobs = [realtime.audio] if realtime.audio is not None else []
        blobs += [
            b for b in realtime.media_chunks or () if (b.mime_type or "").startswith("audio/")
        ]
        for blob in blobs:
            mime = blob.mime_type or ""
            rate = mime.split("rate=", 1)[1] if "rate=" in mime else "16000"
            digits = rate[: len(rate) - len(rate.lstrip("0123456789"))]
            if not (
                0 < len(digits) < 10
                and audio.MIN_SAMPLE_RATE <= int(digits) <= audio.MAX_SAMPLE_RATE
            ):
                return "invalid", None
        frames = [realtime.video] if realtime.video is not None else []
        frames += [
            b for b in realtime.media_chunks or () if not (b.mime_type or "").startswith("audio/")
        ]
        for blob in frames:
            if frame_problem(bytes(blob.data or b""), blob.mime_type) is not None:
                return "invalid", None
    return ("setup" if message.setup is not None else "message"), message


def _closed(ws: ClientConnection) -> tuple[int | None, str]:
    """Wait for the server's close; its code and reason."""
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        while True:
            ws.recv(timeout=10)
    return ws.close_code, ws.close_reason or ""


def _until_accepted(ws: ClientConnection) -> tuple[int | None, str] | None:
    """Read until the emulator acknowledges a message (``None``) or closes (code, reason)."""
    try:
        while True:
            reply = json.loads(ws.recv(timeout=10))
            if "sessionResumptionUpdate" in reply:
                return None
    except ConnectionClosed:
        return ws.close_code, ws.close_reason or ""


@budget(2.0)
@given(
    setup=st.sampled_from(SETUPS),
    frame=mutated_frames(CLIENT_MESSAGE_SEEDS) | any_frames(CLIENT_SEEDS),
)
@example(setup=SETUPS[0], frame=b'{"realtimeInput":{"text":"hi"},"toolResponse":{}}')
@example(setup=SETUPS[1], frame=b'{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=0"}}}')
@example(
    setup=SETUPS[1],
    frame='{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=%s"}}}' % ("9" * 5000),
)
@example(setup=SETUPS[2], frame='{"realtimeInput":{"audio":{"mimeType":"x;rate=1;rate=16000"}}}')
@example(
    setup=SETUPS[0],
    frame='{"realtimeInput":{"audio":{"mimeType":"audio/pcm;rate=8000","data":"AAE="}}}',
)
def test_the_emulator_answers_any_frame_after_setup_with_1007_or_takes_it(
    emulator: Emulator, setup: dict[str, Any], frame: bytes | str
) -> None:
    verdict, _ = _judge(frame)
    with connect(emulator.url + GEMINI_PATH, open_timeout=10, close_timeout=5) as ws:
        ws.send(json.dumps(setup))
        assert json.loads(ws.recv(timeout=10)) == {"setupComplete": {}}
        ws.send(frame)
        outcome = _until_accepted(ws)
    event(f"{verdict}: {'taken' if outcome is None else outcome[0]}")
    if verdict == "message":
        assert outcome is None, f"a valid message was refused: {outcome}"
    else:  # invalid, or a second setup
        assert outcome is not None and outcome[0] == 1007, outcome
        assert outcome[1] == INVALID[1]


@budget(2.0)
@given(frame=mutated_frames(CLIENT_SETUP_SEEDS) | any_frames(CLIENT_SEEDS))
@example(frame=b'{"setup":{"model":"models/gemini-live-2.5-flash-preview","fooBar":1}}')
@example(frame=b'{"setup":{"model":"models/gemini-live-2.5-flash-preview"},"toolResponse":{}}')
@example(
    frame=b'{"setup":{"model":"models/gemini-live-2.5-flash-preview","realtimeInputConfig":'
    b'{"automaticActivityDetection":{"startOfSpeechSensitivity":"FOO",'
    b'"prefixPaddingMs":18446744073709551615,"silenceDurationMs":-5}}}}'
)
def test_the_emulator_answers_any_first_frame_with_1007_or_a_setup_verdict(
    emulator: Emulator, frame: bytes | str
) -> None:
    verdict, message = _judge(frame)
    with connect(emulator.url + GEMINI_PATH, open_timeout=10, close_timeout=5) as ws:
        ws.send(frame)
        try:
            first: Any = json.loads(ws.recv(timeout=10))
        except ConnectionClosed:
            first = None
        code, reason = (None, "") if first is not None else _closed(ws)
    event(f"{verdict}: {code or 'setupComplete'}")
    if verdict != "setup":
        assert (code, reason) == INVALID
        return
    assert message is not None and message.setup is not None
    setup = message.setup
    model = (setup.model or "").rsplit("/", 1)[-1]
    if not setup.model:
        assert (code, reason) == INVALID
    elif model not in emulator.models:
        assert code == 1008 and "is not found" in reason
    elif (
        set((setup.generation_config and setup.generation_config.response_modalities) or [])
        - emulator.models[model].modalities
    ):
        # e.g. TEXT: a native-audio model answers in audio only (PROTOCOL.md §10.3's wording).
        assert code == 1007
        assert reason.startswith("The requested combination of response modalities (")
        assert reason.endswith(") is not supported by the model")
    elif setup.session_resumption is not None and setup.session_resumption.handle:
        assert (code, reason) == (1008, "BidiGenerateContent session not found")
    else:
        assert first == {"setupComplete": {}}, (code, reason)


def test_the_emulator_still_serves_a_valid_session_after_the_fuzz(emulator: Emulator) -> None:
    async def session() -> list[t.LiveServerMessage]:
        async with rawlive.connect(
            HALF, {"response_modalities": ["TEXT"]}, endpoint=emulator.url
        ) as live:
            await live.send_realtime_input(text="still there?")
            received = []
            async for message in live.receive():
                received.append(message)
                if message.server_content and message.server_content.turn_complete:
                    return received
        return received

    received = asyncio.run(asyncio.wait_for(session(), 10))
    assert "".join(m.text or "" for m in received) == "[rawlive emulator] received: still there?"
    # Not one connection so far ended in an internal error.
    assert all(c.close_code != 1011 for c in emulator.connections)


# ---------------------------------------------------------------------------
# 4. The audio reader
# ---------------------------------------------------------------------------


def _wav_seed(name: str, body: int = 6000) -> tuple[str, bytes, int]:
    """A fixture WAV cut to its header and ``body`` bytes of audio, its sizes made to fit."""
    data = (AUDIO / name).read_bytes()
    header = data.index(b"data") + 8
    cut = bytearray(data[: header + body])
    cut[4:8] = (len(cut) - 8).to_bytes(4, "little")
    cut[header - 4 : header] = body.to_bytes(4, "little")
    return name, bytes(cut), header


def _flac_seed(name: str, seconds: float = 0.25) -> tuple[str, bytes, int]:
    """A fixture FLAC's first ``seconds``, encoded as it was (rate, channels, sample format)."""
    with sf.SoundFile(AUDIO / name) as source:
        samples = source.read(round(source.samplerate * seconds), dtype="float32")
        rate, subtype = source.samplerate, source.subtype
    buffer = io.BytesIO()
    sf.write(buffer, samples, rate, format="FLAC", subtype=subtype)
    data = buffer.getvalue()
    header = 4  # "fLaC", then metadata blocks up to the one flagged last
    while True:
        flags, length = data[header], int.from_bytes(data[header + 1 : header + 4], "big")
        header += 4 + length
        if flags & 0x80:
            return f"{name} (excerpt)", data, header


AUDIO_SEEDS = [
    _wav_seed("weather-16k-mono.wav"),
    _wav_seed("weather-44k-stereo.wav"),
    _wav_seed("weather-48k-float.wav"),
    _wav_seed("weather-8k-u8.wav"),
    _flac_seed("weather-24k.flac"),
]

# Little- and big-endian integers worth writing over a size, a rate or a count.
_NASTY_INTS = [0, 1, 2, 3, 255, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF]


class AudioCase:
    """A mutated audio file; its repr names the seed and the mutations, not the bytes."""

    def __init__(self, name: str, data: bytes, mutations: list[str]) -> None:
        self.name, self.data, self.mutations = name, data, mutations

    def __repr__(self) -> str:
        return f"AudioCase({self.name!r}, {len(self.data)} bytes, {self.mutations})"


@st.composite
def mutated_audio(draw: st.DrawFn) -> AudioCase:
    """A seed file with its header (RIFF/fmt/data or fLaC/metadata) mutated, or cut."""
    name, seed, header = draw(st.sampled_from(AUDIO_SEEDS))
    data = bytearray(seed)
    mutations: list[str] = []
    for _ in range(draw(st.integers(1, 4))):
        at = draw(st.integers(0, header - 1))
        op = draw(st.sampled_from(["byte", "int", "flip", "cut", "delete", "insert"]))
        if op == "byte":
            data[at] = draw(st.integers(0, 255))
            mutations.append(f"[{at}]={data[at]}")
        elif op == "int":
            width = draw(st.sampled_from([2, 4]))
            value = draw(st.sampled_from(_NASTY_INTS)) % (1 << (8 * width))
            order = "big" if seed.startswith(b"fLaC") else "little"
            data[at : at + width] = value.to_bytes(width, order)
            mutations.append(f"[{at}:{at + width}]={value:#x}")
        elif op == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
            mutations.append(f"[{at}]^={data[at] ^ seed[at] if at < len(seed) else '?'}")
        elif op == "cut":
            del data[draw(st.integers(0, len(data))) :]
            mutations.append(f"cut at {len(data)}")
            break
        elif op == "delete":
            count = draw(st.integers(1, 8))
            del data[at : at + count]
            mutations.append(f"del [{at}:{at + count}]")
        else:
            inserted = draw(st.binary(min_size=1, max_size=8))
            data[at:at] = inserted
            mutations.append(f"insert {inserted!r} at {at}")
        header = min(header, len(data))
        if header == 0:
            break
    return AudioCase(name, bytes(data), mutations)


class _TookTooLong(Exception):
    pass


@contextlib.contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Fail (instead of hanging) if the block takes longer than ``seconds``."""

    def expire(signum: int, frame: object) -> None:
        raise _TookTooLong(f"took more than {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


#: Reading a file of a few KiB must stay within this much memory (numpy's
#: buffers are traced too): a header claiming 65535 channels or a 1 Hz rate
#: must not turn into gigabytes.
_MEMORY_LIMIT = 32 * 2**20


def _read_audio(path: Path) -> bytes | audio.AudioFileError:
    tracemalloc.start()
    try:
        # A warning is a way out too (numpy's RuntimeWarning for NaN samples...).
        with _time_limit(10), warnings.catch_warnings():
            warnings.simplefilter("error")
            try:
                audio.file_info(path)
                return b"".join(audio.iter_pcm(path))
            except audio.AudioFileError as exc:
                return exc
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert peak < _MEMORY_LIMIT, f"reading {path.stat().st_size} bytes peaked at {peak} bytes"


@pytest.mark.parametrize(("name", "seed"), [(n, s) for n, s, _ in AUDIO_SEEDS])
def test_the_audio_seeds_read_cleanly(tmp_path: Path, name: str, seed: bytes) -> None:
    path = tmp_path / "seed"
    path.write_bytes(seed)
    info = audio.file_info(path)
    pcm = _read_audio(path)
    assert isinstance(pcm, bytes), (name, pcm)
    assert abs(len(pcm) / 2 - info.frames * 16_000 / info.sample_rate) <= 2


@budget(3.0)
@given(case=mutated_audio())
def test_mutated_audio_headers_read_or_raise_audio_file_error(
    tmp_path: Path, case: AudioCase
) -> None:
    data = case.data
    path = tmp_path / ("fuzz.flac" if "flac" in case.name else "fuzz.wav")
    path.write_bytes(data)
    pcm = _read_audio(path)
    event("read" if isinstance(pcm, bytes) else "AudioFileError")
    if isinstance(pcm, bytes):
        assert len(pcm) % 2 == 0
        # Bounded output: at most 16 kHz out per 1 kHz in, a few samples per byte of input.
        assert len(pcm) <= 2 * 16 * 8 * len(data) + 2**16


# What the audio fuzzing found, pinned.


def _wav(path: Path, rate: int, samples: Any, subtype: str) -> None:
    sf.write(path, samples, rate, subtype=subtype, format="WAV")


def test_a_header_claiming_a_16_hz_rate_is_refused_not_resampled_a_thousandfold(
    tmp_path: Path,
) -> None:
    path = tmp_path / "slow.wav"
    path.write_bytes(AUDIO_SEEDS[0][1])
    data = bytearray(path.read_bytes())
    data[24:28] = (16).to_bytes(4, "little")  # the fmt chunk's sample rate
    path.write_bytes(bytes(data))
    with pytest.raises(audio.AudioFileError, match="sample rate of 16 Hz"):
        list(audio.iter_pcm(path))


def test_nan_samples_read_as_silence_without_a_warning(tmp_path: Path) -> None:
    samples = np.full(1600, np.nan, dtype=np.float32)
    samples[800:] = 0.5
    path = tmp_path / "nan.wav"
    _wav(path, 16_000, samples, "FLOAT")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pcm = np.frombuffer(b"".join(audio.iter_pcm(path)), dtype="<i2")
    assert len(pcm) == 1600 and not pcm[:800].any() and (pcm[800:] == 16384).all()


def test_a_file_of_many_channels_is_read_in_small_blocks(tmp_path: Path) -> None:
    path = tmp_path / "wide.wav"
    _wav(path, 8_000, np.zeros((4_000, 512), dtype=np.int16), "PCM_16")  # 4 MB of audio
    tracemalloc.start()
    try:
        pcm = b"".join(audio.iter_pcm(path))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(pcm) == 8_000 * 2
    assert peak < 2 * 2**20  # its 4000 frames of 512 channels in one block: 8 MiB
