"""rawlive.wire.messages + codec put on the wire what google-genai 3.3.0 puts there.

Every vector in ``tests/data/conformance/client`` is one SDK session captured
on a loopback server. Each test rebuilds the vector's ``sdk_call`` (the
connect config and every send call, as data) with ``rawlive.wire.messages``,
encodes it with ``codec.encode_client_message`` and compares each frame
canonically (:func:`rawlive.wire.codec.canonical`) with the SDK's frame. Where the SDK
raised, rawlive must raise a :class:`rawlive.RawliveError` and send nothing.

Deliberate differences from the SDK, each pinned by a targeted assertion
below instead of a faked equality:

* ``send_tool_response_nonfinite_floats``: a NaN or infinite float inside a
  tool ``response`` makes rawlive raise ``ConfigError``; the SDK sends the
  invalid JSON tokens ``NaN``/``Infinity``, which a strict JSON parser refuses.
* ``send_tool_response_bytes_value``: Python ``bytes`` inside a user-data map
  (a tool ``response``) go out as *standard* padded base64 from rawlive and
  as URL-safe base64 from the SDK. The canonical rules do not decode
  user-data maps, so the test decodes both strings and compares the bytes.

The ``url_*`` vectors are about the upgrade URL and headers, which belong to
the endpoints layer; here they check the setup frame only.
"""

from __future__ import annotations

import base64
import json
import pathlib
from typing import Any

import msgspec
import pytest

from rawlive import ConfigError, RawliveError
from rawlive.servers.replay import differences
from rawlive.wire import codec, messages
from rawlive.wire import types as t
from rawlive.wire.codec import JsonNumber, canonical, decode_base64
from tests.canonical import assert_canonically_equal

VECTORS = pathlib.Path(__file__).parent / "data" / "conformance" / "client"
CASES = sorted(VECTORS.glob("*.json"))

NONFINITE_CASE = "send_tool_response_nonfinite_floats"
BYTES_IN_USER_DATA_CASE = "send_tool_response_bytes_value"


def load(case: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((VECTORS / f"{case}.json").read_text())
    return data


def revive(value: Any) -> Any:
    """The vector's call data as Python: bytes, rawlive Structs and enums."""
    if isinstance(value, list):
        return [revive(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$bytes_b64" in value:
        return base64.b64decode(value["$bytes_b64"])
    if "$float" in value:
        return float(value["$float"])
    if "$enum" in value:
        enum_name, member = value["$enum"].split(".", 1)
        enum_cls = getattr(t, enum_name, None)
        return enum_cls[member] if enum_cls is not None else value["value"]
    if "$async_iterator_of_bytes" in value:
        return [revive(v) for v in value["$async_iterator_of_bytes"]]
    fields = {k: revive(v) for k, v in value.items() if k != "$type"}
    if "$type" in value:
        cls = getattr(t, value["$type"])
        assert issubclass(cls, msgspec.Struct), value["$type"]
        return cls(**fields)
    return fields


def as_floats(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: as_floats(v) for k, v in value.items()}
    if isinstance(value, list):
        return [as_floats(v) for v in value]
    if isinstance(value, JsonNumber):
        return JsonNumber(float(value.value))
    return value


def encode(message: Any) -> dict[str, Any]:
    frame: dict[str, Any] = json.loads(codec.encode_client_message(message))
    return frame


def run_call(method: str, kwargs: dict[str, Any]) -> list[dict[str, Any]]:
    """The frames rawlive makes for one SDK session call."""
    if method == "send_client_content":
        return [encode(messages.client_content(**kwargs))]
    if method == "send_realtime_input":
        return [encode(messages.realtime_input(**kwargs))]
    if method == "send_tool_response":
        return [encode(messages.tool_response(**kwargs))]
    if method == "send_context_update":
        return [encode(messages.context_update(**kwargs))]
    if method == "send":
        return [encode(messages.legacy_send(**kwargs))]
    if method == "start_stream":
        # The SDK's start_stream sends each chunk with send(input=LiveClientRealtimeInput(...)).
        chunk_input = [
            t.LiveClientRealtimeInput(
                media_chunks=[t.Blob(data=chunk, mime_type=kwargs["mime_type"])]
            )
            for chunk in kwargs["stream"]
        ]
        return [encode(messages.legacy_send(input=chunk)) for chunk in chunk_input]
    raise AssertionError(f"no rawlive equivalent for SDK method {method}")


def align_bytes_in_user_data(frames: list[dict[str, Any]], expected_frames: list[Any]) -> None:
    """Pin the documented difference of ``send_tool_response_bytes_value``.

    Both clients carry the same bytes in the tool ``response`` (frame 1),
    rawlive as standard base64 and the SDK as URL-safe base64; once that is
    checked, rawlive's string is replaced by the SDK's so that the rest of
    the frame compares canonically.
    """
    ours = frames[1]["toolResponse"]["functionResponses"][0]["response"]["blob"]
    sdks = expected_frames[1]["tool_response"]["functionResponses"][0]["response"]["blob"]
    assert ours != sdks  # different alphabets...
    assert decode_base64(ours) == decode_base64(sdks) == bytes.fromhex("fbefbeffffff0001")
    assert base64.b64decode(ours, validate=True)  # ...rawlive's is standard base64
    frames[1]["toolResponse"]["functionResponses"][0]["response"]["blob"] = sdks


def test_every_vector_is_covered() -> None:
    assert len(CASES) >= 79


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_canonical_form_of_sdk_frames_matches_the_vectors_own(path: pathlib.Path) -> None:
    """codec.canonical agrees with the canonical frames shipped in each vector.

    The shipped canonical frames hold every number as a float (12345678901234567890
    became 1.2345678901234567e19), so numbers are compared as floats here only.
    """
    vector = json.loads(path.read_text())
    found = differences(
        as_floats(canonical(vector["frames_canonical"])), as_floats(canonical(vector["frames"]))
    )
    assert not found, "\n".join(map(str, found))


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_rawlive_sends_what_the_sdk_sends(path: pathlib.Path) -> None:
    case = path.stem
    vector = json.loads(path.read_text())
    connect = revive(vector["sdk_call"]["connect"])
    expected_frames: list[Any] = vector["frames"]

    if not vector["connected"]:
        # The SDK refused the config before sending anything.
        assert vector["connect_error"] is not None
        assert expected_frames == []
        with pytest.raises(ConfigError):
            messages.build_setup(connect["model"], connect["config"])
        return

    frames = [encode(messages.build_setup(connect["model"], connect["config"]))]
    calls = vector["sdk_call"]["calls"]
    assert len(calls) == len(vector["call_results"])
    for call, result in zip(calls, vector["call_results"], strict=True):
        kwargs = revive(call["kwargs"])
        if result["error"] is not None:
            assert result["frames"] == []
            with pytest.raises(RawliveError) as caught:
                run_call(call["method"], kwargs)
            assert isinstance(caught.value, ConfigError)
            continue
        if case == NONFINITE_CASE:
            with pytest.raises(ConfigError, match="JSON cannot carry"):
                run_call(call["method"], kwargs)
            continue
        made = run_call(call["method"], kwargs)
        assert len(made) == len(result["frames"])
        frames.extend(made)

    if case == NONFINITE_CASE:
        expected_frames = expected_frames[:1]  # rawlive sent nothing for the NaN call
    if case == BYTES_IN_USER_DATA_CASE:
        align_bytes_in_user_data(frames, expected_frames)

    assert len(frames) == len(expected_frames), (
        f"rawlive made {len(frames)} frames, the SDK {len(expected_frames)}"
    )
    for i, (expected, actual) in enumerate(zip(expected_frames, frames, strict=True)):
        assert_canonically_equal(expected, actual, what=f"{case} frame {i}")
