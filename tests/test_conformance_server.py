"""Server frames: rawlive decodes what google-genai 3.3.0 decodes, to the same values.

The vectors in ``tests/data/conformance/server/`` are copied unchanged from
the shared conformance capture (see its README): each is one server message
sent to the SDK as a text or a binary frame, with what the SDK made of it
(``sdk_parsed``, a pydantic ``model_dump(mode="json")``) or the exception it
raised (``sdk_error``). ``*.close.json`` vectors describe a close with no
message at all.

* Where the SDK parsed the frame, rawlive's message must equal it field by
  field: Python attribute names (the same as the SDK's), bytes compared as
  bytes, Durations by value, numbers by value.
* Where the SDK raised, rawlive either decodes to sensible values or raises
  :class:`rawlive.DecodeError` (or a subclass), never anything else; which of
  the two is pinned per case in :data:`SDK_FAILED`.
* Where rawlive deliberately differs from the SDK, :data:`RAWLIVE_DIFFERS`
  and :data:`EXTRA_FIELDS` say so and why.
* Generic: every key of a frame that decodes either survives re-encoding or
  is reported by :func:`rawlive.wire.codec.unknown_paths`; nothing is dropped
  silently.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec
import pytest

import rawlive
from rawlive.wire import codec
from rawlive.wire import types as t

DATA = Path(__file__).parent / "data" / "conformance" / "server"
MESSAGE_VECTORS = sorted(
    p for p in DATA.glob("*.json") if p.name.endswith((".text.json", ".binary.json"))
)
CLOSE_VECTORS = sorted(DATA.glob("*.close.json"))


def _load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return data


@dataclasses.dataclass(frozen=True)
class Frame:
    """One server frame of a vector, as the socket hands it over."""

    case: str
    index: int
    payload: str | bytes  # str for a text frame, bytes for a binary frame
    sdk_parsed: dict[str, Any] | None
    sdk_bytes_fields: tuple[dict[str, Any], ...]

    @property
    def id(self) -> str:
        return f"{self.case}[{self.index}]"


def _generated_wire(generator: dict[str, Any]) -> str:
    assert generator["kind"] == "audio_inline_data", generator
    data = bytes.fromhex(generator["fill_byte"]) * generator["decoded_bytes"]
    return json.dumps(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": generator["mime_type"],
                                "data": base64.b64encode(data).decode("ascii"),
                            }
                        }
                    ]
                }
            }
        },
        separators=(",", ":"),
    )


def _frames(path: Path) -> list[Frame]:
    vector = _load(path)
    case = vector["case"]
    binary = vector["frame_kind"] == "binary"
    assert vector["frame_kind"] in ("text", "binary"), path.name

    raws: list[str | bytes]
    parsed: list[dict[str, Any] | None]
    bytes_fields: list[list[dict[str, Any]]]
    if vector.get("wire_sequence_raw") is not None:
        raws = list(vector["wire_sequence_raw"])
        details = [d for call in vector["receive_calls_detail"] for d in call]
        assert len(details) == len(raws), f"{path.name}: one SDK result per frame"
        parsed = [d["sdk_parsed"] for d in details]
        bytes_fields = [d["sdk_bytes_fields"] for d in details]
    else:
        if vector.get("wire_raw_bytes_b64") is not None:
            raws = [base64.b64decode(vector["wire_raw_bytes_b64"])]
        elif vector.get("wire_raw") is not None:
            raws = [vector["wire_raw"]]
        else:
            raws = [_generated_wire(vector["wire_generator"])]
        parsed = [vector["sdk_parsed"]]
        bytes_fields = [vector.get("sdk_bytes_fields") or []]

    frames = []
    for index, (raw, sdk, fields) in enumerate(zip(raws, parsed, bytes_fields, strict=True)):
        payload: str | bytes
        if binary:
            payload = raw if isinstance(raw, bytes) else raw.encode("utf-8")
        else:
            payload = raw.decode("utf-8") if isinstance(raw, bytes) else raw
        frames.append(Frame(case, index, payload, sdk, tuple(fields)))
    return frames


ALL_FRAMES = [
    pytest.param(frame, id=f"{path.name}:{frame.index}")
    for path in MESSAGE_VECTORS
    for frame in _frames(path)
]

# ---------------------------------------------------------------------------
# Decisions per vector
# ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Raises:
    """rawlive refuses the frame with exactly this DecodeError class."""

    error: type[rawlive.DecodeError]
    path: str | None = None
    check: Callable[[Any], bool] = lambda exc: True
    why: str = ""


@dataclasses.dataclass(frozen=True)
class Decodes:
    """rawlive decodes the frame although the SDK raised."""

    check: Callable[[t.LiveServerMessage], bool]
    why: str = ""


# Every case whose SDK run raised without parsing the frame. A new vector of
# this kind fails test_every_sdk_failure_has_a_pinned_decision until decided.
# (sequence_go_away_then_close also has an sdk_error, but it is the close 1000
# that followed the goAway; its frame was parsed and is compared as usual.)
SDK_FAILED: dict[str, Raises | Decodes] = {
    "bool_invalid": Raises(
        rawlive.DecodeError,
        path="$.serverContent.turnComplete",
        why="'maybe' is no proto3 JSON bool (only true/false and their strings are)",
    ),
    "error_object": Raises(
        rawlive.ServerErrorPayload,
        check=lambda exc: exc.code == 400 and exc.status == "INVALID_ARGUMENT",
        why="the SDK crashes with a TypeError; rawlive surfaces the error with its code",
    ),
    "json_array": Raises(
        rawlive.DecodeError,
        check=lambda exc: type(exc) is rawlive.DecodeError and "array" in str(exc),
        why="a message is a JSON object; an array holding one is not unwrapped",
    ),
    "malformed_json": Raises(rawlive.DecodeError, check=lambda exc: "malformed" in str(exc)),
    "setup_reply_malformed_json": Raises(
        rawlive.DecodeError, check=lambda exc: "malformed" in str(exc)
    ),
    "server_content_audio_b64_with_newline": Raises(
        rawlive.DecodeError,
        path="$.serverContent.modelTurn.parts[0].inlineData.data",
        why="proto3 JSON base64 has no line breaks (RFC 4648 without MIME wrapping); "
        "the SDK refuses it too",
    ),
    "server_content_audio_invalid_b64": Raises(
        rawlive.DecodeError, path="$.serverContent.modelTurn.parts[0].inlineData.data"
    ),
    "unknown_top_level_only": Raises(
        rawlive.UnknownMessageError,
        check=lambda exc: exc.keys == ["someFutureMessage"],
        why="a future message kind: a session logs and skips it; the SDK crashes (TypeError)",
    ),
    "oversized_message": Decodes(
        lambda msg: msg.data is not None and msg.data == bytes(900_000),
        why="the SDK failed in websockets (max_size 1 MiB, close 1009), not in decoding; "
        "the frame size limit is the transport's business, the codec decodes any size",
    ),
}

# Cases the SDK parsed, where rawlive deliberately decodes differently.
RAWLIVE_DIFFERS: dict[str, Raises] = {
    "json_null": Raises(
        rawlive.DecodeError,
        check=lambda exc: type(exc) is rawlive.DecodeError and "null" in str(exc),
        why="the SDK turns `null` into an empty LiveServerMessage (every field None); "
        "rawlive says it is not a message, so a caller never handles a message of no kind",
    ),
}

# Fields rawlive keeps that the SDK's dump lacks: (case, SDK-style path) -> why.
EXTRA_FIELDS: dict[tuple[str, str], str] = {
    ("usage_metadata_candidates_token_count", "usage_metadata.candidates_token_count"): (
        "Vertex names the response tokens candidatesTokenCount (PROTOCOL.md 3.7, 9); the "
        "SDK's ML Dev converter drops it, rawlive keeps it (UsageMetadata.response_tokens)"
    ),
}

# Cases where both agree, but on dropping a key; unknown_paths reports it.
REPORTED_DROPS: dict[str, list[str]] = {
    "setup_complete_unknown_field": ["setupComplete.futureField"],
    "unknown_nested_fields": [
        "serverContent.futureServerContentField",
        "serverContent.modelTurn.futureContentField",
        "serverContent.modelTurn.parts[].futurePartField",
    ],
    # The SDK's Python name is not a wire name: the wire key is `type`.
    "voice_activity_long_key": ["voiceActivity.voiceActivityType"],
    "unknown_enum_value": ["serverContent.turnCompleteReason=SOME_FUTURE_REASON"],
}

# ---------------------------------------------------------------------------
# Comparing a rawlive Struct with the SDK's model_dump
# ---------------------------------------------------------------------------


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def assert_same_as_sdk(
    ours: Any, sdk: Any, path: str = "", extra_ok: frozenset[str] = frozenset()
) -> None:
    """Fail unless ``ours`` (rawlive) carries the same values as ``sdk`` (its dump).

    Structs are compared by Python attribute name, bytes as bytes (the dump
    holds URL-safe base64), Durations by value against the SDK's raw string,
    numbers by value (a bool never equals a number).
    """
    where = path or "<message>"
    if isinstance(ours, msgspec.Struct):
        assert isinstance(sdk, dict), f"{where}: SDK has {sdk!r}, rawlive a {type(ours).__name__}"
        fields = {
            f.name: getattr(ours, f.name)
            for f in msgspec.structs.fields(ours)
            if getattr(ours, f.name) is not None
        }
        extra = {_join(path, k) for k in fields.keys() - sdk.keys()}
        assert extra <= extra_ok, f"rawlive has {sorted(extra - extra_ok)} that the SDK lacks"
        missing = sorted(_join(path, k) for k in sdk.keys() - fields.keys())
        assert not missing, f"the SDK has {missing} that rawlive lacks"
        for key in fields.keys() & sdk.keys():
            assert_same_as_sdk(fields[key], sdk[key], _join(path, key), extra_ok)
    elif isinstance(ours, t.Duration):
        assert isinstance(sdk, str), f"{where}: the SDK keeps Durations as their wire string"
        assert t.Duration.parse(sdk) == ours, f"{where}: {sdk!r} != {ours!r}"
    elif isinstance(ours, bytes):
        assert isinstance(sdk, str), f"{where}: SDK has {sdk!r}"
        assert base64.urlsafe_b64decode(sdk) == ours, f"{where}: bytes differ"
    elif isinstance(ours, list):
        assert isinstance(sdk, list) and len(sdk) == len(ours), f"{where}: {sdk!r} vs {ours!r}"
        for i, (mine, theirs) in enumerate(zip(ours, sdk, strict=True)):
            assert_same_as_sdk(mine, theirs, f"{path}[{i}]", extra_ok)
    elif isinstance(ours, dict):  # user data (function args): keys as they are
        assert isinstance(sdk, dict) and sdk.keys() == ours.keys(), f"{where}: {sdk!r}"
        for key in ours:
            assert_same_as_sdk(ours[key], sdk[key], _join(path, key), extra_ok)
    elif isinstance(ours, bool) or isinstance(sdk, bool):
        assert type(sdk) is bool and type(ours) is bool and sdk == ours, f"{where}: {sdk!r}"
    elif isinstance(ours, int | float):
        assert isinstance(sdk, int | float) and sdk == ours, f"{where}: {sdk!r} != {ours!r}"
    else:
        assert sdk == ours, f"{where}: {sdk!r} != {ours!r}"


_STEP = re.compile(r"([A-Za-z_]\w*)|\[(\d+)\]")


def _resolve(obj: Any, path: str) -> Any:
    """Follow an SDK-style path (``server_content.model_turn.parts[0].inline_data.data``)."""
    for name, index in _STEP.findall(path):
        obj = obj[int(index)] if index else getattr(obj, name)
    return obj


def test_comparator_notices_differences() -> None:
    msg = t.LiveServerMessage(
        server_content=t.LiveServerContent(
            model_turn=t.Content(parts=[t.Part(inline_data=t.Blob(data=b"\xfb\xff"))]),
            turn_complete=True,
        ),
        go_away=t.LiveServerGoAway(time_left=t.Duration(seconds=1.5)),
    )
    good = {
        "server_content": {
            "model_turn": {"parts": [{"inline_data": {"data": "-_8="}}]},
            "turn_complete": True,
        },
        "go_away": {"time_left": "1.5s"},
    }
    assert_same_as_sdk(msg, good)
    bad_variants = [
        {**good, "go_away": {"time_left": "1.6s"}},
        {**good, "server_content": {**good["server_content"], "turn_complete": 1}},
        {**good, "server_content": {"turn_complete": True}},
        {"server_content": good["server_content"]},
        {
            **good,
            "server_content": {
                **good["server_content"],
                "model_turn": {"parts": [{"inline_data": {"data": "-_4="}}]},
            },
        },
    ]
    for bad in bad_variants:
        with pytest.raises(AssertionError):
            assert_same_as_sdk(msg, bad)


# ---------------------------------------------------------------------------
# The tests
# ---------------------------------------------------------------------------


def _frames_where(keep: Callable[[Frame], bool]) -> list[Any]:
    return [param for param in ALL_FRAMES if keep(param.values[0])]


# The SDK parsed these, and rawlive agrees.
PARSED_FRAMES = _frames_where(lambda f: f.sdk_parsed is not None and f.case not in RAWLIVE_DIFFERS)
# The SDK raised instead of parsing these.
FAILED_FRAMES = _frames_where(lambda f: f.sdk_parsed is None)
# rawlive decodes these (by the decisions above, not by trying).
DECODED_FRAMES = PARSED_FRAMES + _frames_where(
    lambda f: isinstance(SDK_FAILED.get(f.case), Decodes)
)


@pytest.mark.parametrize("frame", PARSED_FRAMES)
def test_frame_decodes_to_what_the_sdk_parsed(frame: Frame) -> None:
    msg = codec.decode_server_message(frame.payload)
    assert isinstance(msg, t.LiveServerMessage)
    extra_ok = frozenset(path for (case, path) in EXTRA_FIELDS if case == frame.case)
    assert_same_as_sdk(msg, frame.sdk_parsed, extra_ok=extra_ok)
    for field in frame.sdk_bytes_fields:
        assert _resolve(msg, field["path"]) == bytes.fromhex(field["hex"]), field["path"]


@pytest.mark.parametrize(("case", "path"), sorted(EXTRA_FIELDS))
def test_fields_the_sdk_drops_are_kept_by_rawlive(case: str, path: str) -> None:
    (frame,) = _frames(DATA / f"{case}.text.json")
    assert frame.sdk_parsed is not None
    assert _resolve(codec.decode_server_message(frame.payload), path) is not None
    with pytest.raises(KeyError):
        node: Any = frame.sdk_parsed
        for step in path.split("."):
            node = node[step]


@pytest.mark.parametrize("frame", FAILED_FRAMES)
def test_where_the_sdk_raised_rawlive_does_what_is_pinned(frame: Frame) -> None:
    decision = SDK_FAILED[frame.case]
    if isinstance(decision, Decodes):
        msg = codec.decode_server_message(frame.payload)
        assert decision.check(msg), decision.why
        return
    with pytest.raises(rawlive.DecodeError) as info:
        codec.decode_server_message(frame.payload)
    assert type(info.value) is decision.error, f"{type(info.value).__name__}: {info.value}"
    assert decision.check(info.value), str(info.value)
    if decision.path is not None:
        assert info.value.path == decision.path


def test_every_sdk_failure_has_a_pinned_decision() -> None:
    assert {param.values[0].case for param in FAILED_FRAMES} == SDK_FAILED.keys()
    parsed = {p.values[0].case for p in ALL_FRAMES if p.values[0].sdk_parsed is not None}
    assert RAWLIVE_DIFFERS.keys() <= parsed


@pytest.mark.parametrize("case", sorted(RAWLIVE_DIFFERS))
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_where_rawlive_differs_from_the_sdk(case: str, kind: str) -> None:
    decision = RAWLIVE_DIFFERS[case]
    (frame,) = _frames(DATA / f"{case}.{kind}.json")
    assert frame.sdk_parsed is not None, "the SDK parsed it; rawlive refuses"
    with pytest.raises(rawlive.DecodeError) as info:
        codec.decode_server_message(frame.payload)
    assert type(info.value) is decision.error
    assert decision.check(info.value), str(info.value)


@pytest.mark.parametrize("frame", ALL_FRAMES)
def test_decoding_raises_nothing_but_decode_errors(frame: Frame) -> None:
    try:
        msg = codec.decode_server_message(frame.payload)
    except rawlive.DecodeError:
        return
    assert isinstance(msg, t.LiveServerMessage)


def _key_paths(value: Any, prefix: str = "") -> set[str]:
    """Every object key path in plain JSON, keys camelCased, ``[]`` for list items.

    A key whose value is ``null`` is absent in proto3 JSON and left out.
    """
    paths: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            if item is None:
                continue
            path = _join(prefix, codec.camel_case(key))
            paths.add(path)
            paths |= _key_paths(item, path)
    elif isinstance(value, list):
        for item in value:
            paths |= _key_paths(item, f"{prefix}[]")
    return paths


def _normalise_reported(path: str) -> str:
    return ".".join(codec.camel_case(step) for step in path.split("."))


def _lost_keys(payload: str | bytes) -> set[str]:
    """Key paths of the frame that neither survive re-encoding nor are reported."""
    msg = codec.decode_server_message(payload)
    raw = payload.removeprefix("\ufeff") if isinstance(payload, str) else payload
    if isinstance(raw, bytes):
        raw = raw.removeprefix(b"\xef\xbb\xbf")
    seen = _key_paths(json.loads(raw))
    kept = _key_paths(msgspec.json.decode(codec.encode_server_message(msg)))
    reported = [
        _normalise_reported(p) for p in codec.unknown_paths(payload) if "=" not in p.split(".")[-1]
    ]

    def covered(path: str) -> bool:
        return any(path == r or path.startswith((r + ".", r + "[]")) for r in reported)

    return {p for p in seen - kept if not covered(p)}


@pytest.mark.parametrize("frame", DECODED_FRAMES)
def test_no_key_is_dropped_unless_unknown_paths_reports_it(frame: Frame) -> None:
    assert _lost_keys(frame.payload) == set()


def test_the_drop_check_notices_a_silently_dropped_key(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = '{"serverContent":{"turnComplete":true,"futureField":1}}'
    assert _lost_keys(frame) == set()
    monkeypatch.setattr(codec, "unknown_paths", lambda data, direction="server": [])
    assert _lost_keys(frame) == {"serverContent.futureField"}


@pytest.mark.parametrize("case", sorted(REPORTED_DROPS))
@pytest.mark.parametrize("kind", ["text", "binary"])
def test_unknown_keys_and_values_are_reported_by_the_strict_decoder(case: str, kind: str) -> None:
    (frame,) = _frames(DATA / f"{case}.{kind}.json")
    assert codec.unknown_paths(frame.payload) == REPORTED_DROPS[case]


def _pairs() -> list[Any]:
    texts = {p.name.removesuffix(".text.json") for p in DATA.glob("*.text.json")}
    binaries = {p.name.removesuffix(".binary.json") for p in DATA.glob("*.binary.json")}
    return sorted(texts & binaries)


@pytest.mark.parametrize("case", _pairs())
def test_text_and_binary_frames_decode_alike(case: str) -> None:
    def outcome(path: Path) -> list[Any]:
        results: list[Any] = []
        for frame in _frames(path):
            try:
                results.append(codec.decode_server_message(frame.payload))
            except rawlive.DecodeError as exc:
                results.append((type(exc), str(exc), exc.path))
        return results

    text = outcome(DATA / f"{case}.text.json")
    assert isinstance(_frames(DATA / f"{case}.binary.json")[0].payload, bytes)
    assert outcome(DATA / f"{case}.binary.json") == text


@pytest.mark.parametrize("path", CLOSE_VECTORS, ids=lambda p: p.name)
def test_close_vectors_carry_no_message_and_any_setup_reply_decodes(path: Path) -> None:
    vector = _load(path)
    assert vector["server_close"] is not None
    # A close vector is a close and nothing else: the frame the SDK saw, if any,
    # belongs in a message vector (*.text.json / *.binary.json), which this file
    # decodes and compares; here it would go untested.
    assert vector["frame_kind"] is None
    assert vector["wire"] is None
    assert vector["wire_raw"] is None
    assert vector["sdk_parsed"] is None
    session = vector.get("session")
    if session is not None:  # the setupComplete the server sent before closing
        reply = json.dumps({"setupComplete": session["setup_complete"]})
        msg = codec.decode_server_message(reply)
        assert msg.setup_complete is not None
        assert msg.setup_complete.session_id == session["session_id"]


def test_every_vector_is_used() -> None:
    names = {p.name for p in DATA.glob("*.json")}
    assert names == {p.name for p in MESSAGE_VECTORS} | {p.name for p in CLOSE_VECTORS}
    assert len(ALL_FRAMES) >= len(MESSAGE_VECTORS)
