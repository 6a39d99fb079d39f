"""The codec's encoding side, its error hierarchy and its strict report."""

from __future__ import annotations

import base64

import msgspec
import pytest

import rawlive
from rawlive.wire import codec
from rawlive.wire import types as t

PCM = bytes.fromhex("fbfffe00013e3f00")


@pytest.mark.parametrize(
    ("inner", "wire_key"),
    [
        (t.LiveClientRealtimeInput(text="hi"), "realtimeInput"),
        (t.LiveClientContent(turn_complete=True), "clientContent"),
        (t.LiveClientToolResponse(function_responses=[]), "toolResponse"),
        (t.LiveClientSetup(model="models/m"), "setup"),
        (t.LiveClientContextUpdate(), "contextUpdate"),
    ],
)
def test_inner_messages_are_wrapped_in_their_envelope_key(inner: object, wire_key: str) -> None:
    frame = codec.encode_client_message(inner)  # type: ignore[arg-type]
    assert list(msgspec.json.decode(frame)) == [wire_key]


def test_audio_is_sent_compact_camelcase_with_standard_padded_base64() -> None:
    frame = codec.encode_client_message(
        t.LiveClientRealtimeInput(audio=t.Blob(data=PCM, mime_type="audio/pcm;rate=16000"))
    )
    expected = base64.b64encode(PCM).decode()
    assert frame == (
        b'{"realtimeInput":{"audio":{"data":"' + expected.encode() + b'",'
        b'"mimeType":"audio/pcm;rate=16000"}}}'
    )


def test_unset_fields_are_left_out_but_false_and_zero_are_sent() -> None:
    frame = codec.encode_client_message(
        t.LiveClientSetup(
            model="models/m",
            generation_config=t.GenerationConfig(
                temperature=0.0, thinking_config=t.ThinkingConfig(include_thoughts=False)
            ),
        )
    )
    assert msgspec.json.decode(frame) == {
        "setup": {
            "model": "models/m",
            "generationConfig": {"temperature": 0.0, "thinkingConfig": {"includeThoughts": False}},
        }
    }


def test_enum_members_encode_as_their_wire_strings() -> None:
    frame = codec.encode_client_message(
        t.LiveClientSetup(
            model="models/m",
            generation_config=t.GenerationConfig(response_modalities=[t.Modality.AUDIO]),
            realtime_input_config=t.RealtimeInputConfig(
                activity_handling=t.ActivityHandling.NO_INTERRUPTION
            ),
        )
    )
    setup = msgspec.json.decode(frame)["setup"]
    assert setup["generationConfig"]["responseModalities"] == ["AUDIO"]
    assert setup["realtimeInputConfig"]["activityHandling"] == "NO_INTERRUPTION"


def test_a_dict_envelope_with_snake_case_keys_encodes_as_camel_case() -> None:
    frame = codec.encode_client_message(
        {"realtime_input": {"audio": {"mime_type": "audio/pcm", "data": "-__-AAE-Pw"}}}
    )
    assert msgspec.json.decode(frame) == {
        "realtimeInput": {"audio": {"data": "+//+AAE+Pw==", "mimeType": "audio/pcm"}}
    }


def test_an_envelope_with_two_kinds_is_refused() -> None:
    message = t.LiveClientMessage(
        realtime_input=t.LiveClientRealtimeInput(text="a"),
        client_content=t.LiveClientContent(turn_complete=True),
    )
    with pytest.raises(rawlive.ConfigError, match="exactly one"):
        codec.encode_client_message(message)


def test_an_empty_envelope_is_refused() -> None:
    with pytest.raises(rawlive.ConfigError, match="has 0"):
        codec.encode_client_message(t.LiveClientMessage())


def test_a_non_message_object_is_refused_with_a_type_error_naming_it() -> None:
    with pytest.raises(TypeError, match="Blob"):
        codec.encode_client_message(t.Blob(data=b"x"))  # type: ignore[arg-type]


def test_client_frames_decode_back_to_the_same_message() -> None:
    message = t.LiveClientMessage(
        tool_response=t.LiveClientToolResponse(
            function_responses=[
                t.FunctionResponse(
                    id="fc-1",
                    name="f",
                    response={"snake_key": 1, "output": [1, 2]},
                    scheduling=t.FunctionResponseScheduling.WHEN_IDLE,
                )
            ]
        )
    )
    frame = codec.encode_client_message(message)
    assert codec.decode_client_message(frame) == message


def test_user_data_keys_are_never_renamed() -> None:
    frame = b'{"toolCall":{"functionCalls":[{"id":"1","name":"f","args":{"room_name":"a_b"}}]}}'
    message = codec.decode_server_message(frame)
    assert message.tool_call is not None
    assert message.tool_call.function_calls is not None
    assert message.tool_call.function_calls[0].args == {"room_name": "a_b"}
    assert codec.unknown_paths(frame) == []


def test_durations_encode_in_proto3_form() -> None:
    message = t.LiveServerMessage(go_away=t.LiveServerGoAway(time_left=t.Duration(seconds=1.5)))
    assert codec.encode_server_message(message) == b'{"goAway":{"timeLeft":"1.500s"}}'


def test_go_away_time_left_is_a_usable_timedelta() -> None:
    message = codec.decode_server_message(b'{"goAway":{"timeLeft":"59.5s"}}')
    assert message.go_away is not None and message.go_away.time_left is not None
    assert message.go_away.time_left.total_seconds() == 59.5


def test_a_bad_duration_is_a_decode_error_with_its_path() -> None:
    with pytest.raises(rawlive.DecodeError) as info:
        codec.decode_server_message(b'{"goAway":{"timeLeft":"ten seconds"}}')
    assert info.value.path == "$.goAway.timeLeft"


def test_unknown_paths_names_keys_and_enum_values_with_wire_paths() -> None:
    frame = (
        b'{"serverContent":{"turnCompleteReason":"NEW_REASON",'
        b'"modelTurn":{"parts":[{"fooBar":1,"text":"a"}]}},"brandNew":{}}'
    )
    assert sorted(codec.unknown_paths(frame)) == [
        "brandNew",
        "serverContent.modelTurn.parts[].fooBar",
        "serverContent.turnCompleteReason=NEW_REASON",
    ]


def test_unknown_fields_do_not_stop_decoding() -> None:
    frame = b'{"serverContent":{"turnComplete":true,"newField":{"x":1}},"newKind":{}}'
    message = codec.decode_server_message(frame)
    assert message.server_content == t.LiveServerContent(turn_complete=True)


def test_inspect_frame_reports_what_the_sdk_does_that_rawlive_does_not() -> None:
    frame = '{"realtime_input":{"audio":{"mime_type":"audio/pcm","data":"-__-AAE-Pw"}}}'
    message, report = codec.inspect_frame(frame, direction="client")
    assert isinstance(message, t.LiveClientMessage)
    assert report.snake_case_keys == ["realtime_input", "realtimeInput.audio.mime_type"]
    assert report.urlsafe_base64 == ["realtimeInput.audio.data"]
    assert report.unpadded_base64 == ["realtimeInput.audio.data"]
    assert report.unknown_paths() == []


@pytest.mark.parametrize(
    ("frame", "error", "text"),
    [
        (b"{", rawlive.DecodeError, "malformed JSON"),
        (b"[]", rawlive.DecodeError, "got an array"),
        (b"null", rawlive.DecodeError, "got null"),
        (b"42", rawlive.DecodeError, "got a number"),
        (b'"s"', rawlive.DecodeError, "got a string"),
        (b'{"newKind":{}}', rawlive.UnknownMessageError, "no known message kind"),
        (b"{}", rawlive.UnknownMessageError, "no known message kind"),
        (b'{"code":429,"message":"quota"}', rawlive.ServerErrorPayload, "429"),
        (b"\xff\xfe{}", rawlive.DecodeError, "malformed JSON"),
        (b'{"serverContent":[]}', rawlive.DecodeError, "serverContent"),
    ],
)
def test_invalid_frames_raise_decode_errors_that_say_what_was_wrong(
    frame: bytes, error: type[Exception], text: str
) -> None:
    with pytest.raises(error, match=text):
        codec.decode_server_message(frame)


def test_server_error_payload_carries_code_and_status() -> None:
    with pytest.raises(rawlive.ServerErrorPayload) as info:
        codec.decode_server_message(
            b'{"error":{"code":400,"message":"Request contains an invalid argument.",'
            b'"status":"INVALID_ARGUMENT"}}'
        )
    assert (info.value.code, info.value.status) == (400, "INVALID_ARGUMENT")
    assert isinstance(info.value, rawlive.DecodeError)


@pytest.mark.parametrize("size", [1023, 1024, 32_000])
def test_realtime_media_of_any_size_encodes_as_standard_padded_base64(size: int) -> None:
    chunk = bytes(range(256)) * (size // 256) + bytes(size % 256)
    for field in ("audio", "video"):
        blob = t.Blob(data=chunk, mime_type="audio/pcm;rate=16000")
        frame = codec.encode_client_message(t.LiveClientRealtimeInput(**{field: blob}))
        sent = msgspec.json.decode(frame)["realtimeInput"][field]["data"]
        assert sent == base64.b64encode(chunk).decode()
        assert blob.data is chunk  # the caller's message is left as it was


def test_decoded_bytes_are_bytes_and_re_encode_identically() -> None:
    pcm = bytes(range(256)) * 40
    frame = msgspec.json.encode(
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": pcm}}]}}}
    )
    message = codec.decode_server_message(frame)
    data = message.data
    assert isinstance(data, bytes) and data == pcm
    assert codec.encode_server_message(message) == frame


def test_large_urlsafe_unpadded_base64_is_read_through_the_lenient_path() -> None:
    pcm = b"\xfb\xff" * 3001
    text = base64.urlsafe_b64encode(pcm).decode().rstrip("=")
    frame = '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"' + text + '"}}]}}}'
    assert codec.decode_server_message(frame).data == pcm


def test_schema_references_use_the_dollar_wire_names() -> None:
    schema = t.Schema(ref="#/$defs/Room", defs={"Room": t.Schema(type=t.Type.STRING)})
    assert msgspec.json.decode(codec.encode(schema)) == {
        "$ref": "#/$defs/Room",
        "$defs": {"Room": {"type": "STRING"}},
    }
    assert codec.convert({"ref": "#/$defs/Room"}, t.Schema).ref == "#/$defs/Room"


def test_decoded_audio_is_plain_bytes_the_garbage_collector_does_not_track() -> None:
    import gc

    frame = msgspec.json.encode(
        {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": bytes(4000)}}]}}}
    )
    data = codec.decode_server_message(frame).data
    assert type(data) is bytes and not gc.is_tracked(data)
    client = codec.decode_client_message(
        msgspec.json.encode({"realtimeInput": {"audio": {"data": bytes(4000)}}})
    )
    assert client.realtime_input is not None and client.realtime_input.audio is not None
    assert type(client.realtime_input.audio.data) is bytes
