"""The codec's value hooks: every Duration spelling proto3 JSON allows, base64 that is
not a string or not base64, and what cannot be encoded."""

from __future__ import annotations

import pytest

from rawlive import DecodeError
from rawlive.wire import codec
from rawlive.wire import types as t


@pytest.mark.parametrize(
    ("time_left", "expected"),
    [
        (b'"10s"', "10s"),
        (b"10", "10s"),  # a bare number of seconds
        (b'{"seconds":"10","nanos":500000000}', "10.500s"),  # the proto object form
        (b'{"nanos":250000000}', "0.250s"),
    ],
)
def test_every_duration_spelling_decodes_to_the_same_value(time_left: bytes, expected: str) -> None:
    message = codec.decode_server_message(b'{"goAway":{"timeLeft":%s}}' % time_left)
    assert message.go_away is not None and message.go_away.time_left is not None
    assert message.go_away.time_left.to_wire() == expected


@pytest.mark.parametrize(
    ("time_left", "message"),
    [
        (b"true", "expected a Duration string like '10s', got bool"),
        (b"[1]", "expected a Duration string like '10s', got list"),
        (b'"99999999999999s"', "Duration out of range"),
    ],
)
def test_a_duration_that_is_none_is_refused_at_its_path(time_left: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        codec.decode_server_message(b'{"goAway":{"timeLeft":%s}}' % time_left)
    assert info.value.path == "$.goAway.timeLeft"


def _blob_frame(data: bytes) -> bytes:
    return (
        b'{"serverContent":{"modelTurn":{"parts":[{"inlineData":'
        b'{"data":%s,"mimeType":"audio/pcm"}}]}}}' % data
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"12", "Expected base64 `str`, got `a number`"),
        (b'"!!!!"', "Invalid base64 encoded string"),
    ],
)
def test_base64_that_is_no_string_or_no_base64_is_refused(data: bytes, message: str) -> None:
    with pytest.raises(DecodeError, match=message) as info:
        codec.decode_server_message(_blob_frame(data))
    assert info.value.path == "$.serverContent.modelTurn.parts[0].inlineData.data"


def test_null_base64_is_no_data() -> None:
    content = codec.decode_server_message(_blob_frame(b"null")).server_content
    assert content is not None and content.model_turn is not None
    (part,) = content.model_turn.parts or []
    assert part.inline_data == t.Blob(mime_type="audio/pcm")


def test_url_safe_unpadded_base64_is_forgiven_and_reported() -> None:
    message, report = codec.inspect_frame(_blob_frame(b'"a-b_"'), direction="server")
    assert message.server_content is not None and message.server_content.model_turn is not None
    (part,) = message.server_content.model_turn.parts or []
    assert part.inline_data is not None and part.inline_data.data == b"k\xe6\xff"
    assert report.urlsafe_base64 == ["serverContent.modelTurn.parts[].inlineData.data"]


def test_a_duration_is_encoded_as_proto3_seconds() -> None:
    go_away = t.LiveServerGoAway(time_left=t.Duration(seconds=1.5))
    assert codec.encode_server_message(t.LiveServerMessage(go_away=go_away)) == (
        b'{"goAway":{"timeLeft":"1.500s"}}'
    )


def test_a_value_of_no_wire_type_cannot_be_encoded() -> None:
    part = t.Part(text=object())  # type: ignore[arg-type]
    content = t.LiveServerContent(model_turn=t.Content(parts=[part]))
    with pytest.raises(NotImplementedError, match="cannot encode objects of type object"):
        codec.encode_server_message(t.LiveServerMessage(server_content=content))


def test_inspect_frame_needs_a_direction() -> None:
    with pytest.raises(ValueError, match="direction must be 'server' or 'client', not 'up'"):
        codec.inspect_frame(b"{}", direction="up")


def test_keys_become_lower_camel_case_and_camel_case_stays() -> None:
    assert codec.camel_case("realtime_input") == "realtimeInput"
    assert codec.camel_case("last_consumed_client_message_index") == (
        "lastConsumedClientMessageIndex"
    )
    assert codec.camel_case("mimeType") == "mimeType"
    assert codec.camel_case("data") == "data"


@pytest.mark.parametrize("text", ["+/+/AA==", "-_-_AA==", "+/+/AA", "-_-_AA"])
def test_base64_in_either_alphabet_padded_or_not_is_the_same_bytes(text: str) -> None:
    assert codec.standard_base64(text) == "+/+/AA=="
    assert codec.decode_base64(text) == b"\xfb\xff\xbf\x00"


@pytest.mark.parametrize("text", ["not base64!", "A", "AA\n==", "é"])
def test_text_that_is_no_base64_is_a_decode_error(text: str) -> None:
    with pytest.raises(DecodeError, match="invalid base64"):
        codec.decode_base64(text)


def test_canonical_frames_agree_whatever_the_spelling() -> None:
    sdk = {"realtime_input": {"audio": {"data": "-_8", "mime_type": "audio/pcm"}}}
    ours = {"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": "+/8="}}}
    assert codec.canonical(sdk) == codec.canonical(ours)
    assert codec.canonical(ours) == {
        "realtimeInput": {"audio": {"data": b"\xfb\xff", "mimeType": "audio/pcm"}}
    }
    assert codec.canonical({"n": 40}) == {"n": codec.JsonNumber(40)} == codec.canonical({"n": 40.0})
