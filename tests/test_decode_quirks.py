"""What real server recordings show (PROTOCOL.md §9, §3.9): rawlive takes it in stride.

Each test feeds a frame shaped like what Google's servers (Gemini API or
Vertex) were recorded sending, or what proto3 JSON allows, and pins the
decoded values.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import msgspec
import pytest

import rawlive
from rawlive.wire import codec
from rawlive.wire import types as t


def _both(obj: Any) -> list[str | bytes]:
    """The frame as a text frame (str) and as a binary frame (UTF-8 bytes)."""
    text = obj if isinstance(obj, str) else json.dumps(obj)
    return [text, text.encode("utf-8")]


def decode(obj: Any) -> t.LiveServerMessage:
    """Decode ``obj`` (JSON text or plain data) as text and as binary; both must agree."""
    text, binary = _both(obj)
    msg = codec.decode_server_message(text)
    assert codec.decode_server_message(binary) == msg
    return msg


def test_pretty_printed_json_with_trailing_newline_decodes() -> None:
    frame = (
        json.dumps(
            {
                "serverContent": {
                    "modelTurn": {"parts": [{"text": "Hello"}]},
                    "turnComplete": True,
                }
            },
            indent=2,
        )
        + "\n"
    )
    assert "\n  " in frame and frame.endswith("}\n")
    msg = decode(frame)
    assert msg.text == "Hello"
    assert msg.server_content is not None and msg.server_content.turn_complete is True


def test_usage_metadata_server_content_and_turn_complete_in_one_message() -> None:
    msg = decode(
        {
            "serverContent": {"turnComplete": True},
            "usageMetadata": {
                "promptTokenCount": 29,
                "responseTokenCount": 5,
                "totalTokenCount": 34,
                "promptTokensDetails": [{"modality": "TEXT", "tokenCount": 29}],
                "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 5}],
            },
        }
    )
    assert msg.server_content == t.LiveServerContent(turn_complete=True)
    assert msg.usage_metadata is not None
    assert msg.usage_metadata.total_token_count == 34
    assert msg.usage_metadata.response_tokens == 5
    assert msg.usage_metadata.response_tokens_details == [
        t.ModalityTokenCount(modality=t.MediaModality.AUDIO, token_count=5)
    ]


def test_several_parts_per_model_turn_are_all_kept() -> None:
    pcm = bytes(range(256)) * 4
    msg = decode(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "audio/pcm;rate=24000",
                                "data": base64.b64encode(pcm).decode(),
                            }
                        },
                        {"text": "Hi there"},
                    ]
                },
                "outputTranscription": {"text": "Hi there"},
            }
        }
    )
    assert msg.server_content is not None and msg.server_content.model_turn is not None
    parts = msg.server_content.model_turn.parts
    assert parts is not None and len(parts) == 2
    assert msg.data == pcm
    assert msg.text == "Hi there"
    assert msg.server_content.output_transcription == t.Transcription(text="Hi there")


def test_an_empty_server_content_is_a_server_content_message() -> None:
    msg = decode('{"serverContent": {}}')
    assert msg == t.LiveServerMessage(server_content=t.LiveServerContent())
    assert msg.text is None and msg.data is None


def test_vertex_empty_output_transcription_before_the_first_chunk() -> None:
    msg = decode({"serverContent": {"outputTranscription": {}}})
    assert msg.server_content is not None
    assert msg.server_content.output_transcription == t.Transcription()


def test_vertex_finished_transcription_without_text() -> None:
    msg = decode({"serverContent": {"outputTranscription": {"finished": True}}})
    assert msg.server_content is not None
    transcription = msg.server_content.output_transcription
    assert transcription == t.Transcription(finished=True)
    assert transcription is not None and transcription.text is None


def test_vertex_empty_grounding_metadata_beside_turn_complete() -> None:
    msg = decode({"serverContent": {"groundingMetadata": {}, "turnComplete": True}})
    assert msg.server_content == t.LiveServerContent(
        grounding_metadata=t.GroundingMetadata(), turn_complete=True
    )


def test_a_turn_with_no_content_generation_then_turn_complete_with_usage() -> None:
    first = decode({"serverContent": {"generationComplete": True}})
    last = decode(
        {
            "serverContent": {"turnComplete": True},
            "usageMetadata": {"responseTokenCount": 12, "totalTokenCount": 40},
        }
    )
    assert first.server_content == t.LiveServerContent(generation_complete=True)
    assert last.server_content == t.LiveServerContent(turn_complete=True)
    for msg in (first, last):
        assert msg.server_content is not None and msg.server_content.model_turn is None
        assert msg.text is None and msg.data is None
    assert last.usage_metadata is not None and last.usage_metadata.response_tokens == 12


def test_vertex_setup_complete_carries_a_session_id() -> None:
    session_id = "6f0a5a4e-0a43-4e0c-9d52-2f3b4f3f7f2e"
    msg = decode({"setupComplete": {"sessionId": session_id}})
    assert msg.setup_complete == t.LiveServerSetupComplete(session_id=session_id)
    assert decode({"setupComplete": {}}).setup_complete == t.LiveServerSetupComplete()


def test_vertex_model_turn_with_role_and_plain_audio_pcm() -> None:
    msg = decode(
        {
            "serverContent": {
                "modelTurn": {
                    "role": "model",
                    "parts": [{"inlineData": {"mimeType": "audio/pcm", "data": "AAEAAg=="}}],
                }
            }
        }
    )
    assert msg.server_content is not None and msg.server_content.model_turn is not None
    turn = msg.server_content.model_turn
    assert turn.role == "model"
    assert turn.parts == [t.Part(inline_data=t.Blob(mime_type="audio/pcm", data=b"\0\1\0\2"))]


def test_vertex_usage_names_and_a_details_entry_without_token_count() -> None:
    msg = decode(
        {
            "usageMetadata": {
                "promptTokenCount": 10,
                "candidatesTokenCount": 7,
                "totalTokenCount": 17,
                "candidatesTokensDetails": [{"modality": "AUDIO"}],
                "trafficType": "ON_DEMAND",
            }
        }
    )
    usage = msg.usage_metadata
    assert usage is not None
    assert usage.candidates_token_count == 7
    assert usage.response_token_count is None
    assert usage.response_tokens == 7
    assert usage.candidates_tokens_details == [t.ModalityTokenCount(modality="AUDIO")]
    assert usage.traffic_type == t.TrafficType.ON_DEMAND
    assert codec.unknown_paths(json.dumps({"usageMetadata": {"candidatesTokenCount": 7}})) == []


@pytest.mark.parametrize(
    "call_id",
    [
        "function-call-14227009418898398051",  # Gemini API, 2.5
        "fc_7654321098765432109",  # Gemini API, 3.1
        "2b4c8e1e-8b3e-4b54-9c51-7f0e2f9c1a77",  # Vertex
    ],
)
def test_function_call_ids_of_every_observed_shape_are_kept_verbatim(call_id: str) -> None:
    msg = decode({"toolCall": {"functionCalls": [{"id": call_id, "name": "get_time", "args": {}}]}})
    assert msg.tool_call is not None
    assert msg.tool_call.function_calls == [t.FunctionCall(id=call_id, name="get_time", args={})]


def test_a_function_call_without_id_decodes_with_id_none() -> None:
    msg = decode({"toolCall": {"functionCalls": [{"name": "turn_on_the_lights"}]}})
    assert msg.tool_call is not None and msg.tool_call.function_calls is not None
    (call,) = msg.tool_call.function_calls
    assert call.id is None and call.name == "turn_on_the_lights" and call.args is None


def test_an_executable_code_part_before_a_tool_call() -> None:
    msg = decode(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {
                            "executableCode": {
                                "language": "PYTHON",
                                "code": "print(default_api.get_time())\n",
                            }
                        }
                    ]
                }
            }
        }
    )
    assert msg.server_content is not None and msg.server_content.model_turn is not None
    assert msg.server_content.model_turn.parts == [
        t.Part(
            executable_code=t.ExecutableCode(
                language=t.Language.PYTHON, code="print(default_api.get_time())\n"
            )
        )
    ]
    assert msg.text is None


def test_thought_parts_and_thoughts_token_count() -> None:
    msg = decode(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {"text": "**Planning the reply**", "thought": True},
                        {"text": "Sure."},
                    ]
                }
            },
            "usageMetadata": {"thoughtsTokenCount": 120},
        }
    )
    assert msg.server_content is not None and msg.server_content.model_turn is not None
    parts = msg.server_content.model_turn.parts
    assert parts is not None and parts[0].thought is True and parts[1].thought is None
    assert msg.text == "Sure."  # thoughts are left out, as the SDK does
    assert msg.usage_metadata == t.UsageMetadata(thoughts_token_count=120)


def test_an_unrequested_session_resumption_update_decodes() -> None:
    msg = decode({"sessionResumptionUpdate": {"newHandle": "Cih2Mi0xMjM0NTY3", "resumable": True}})
    assert msg.session_resumption_update == t.LiveServerSessionResumptionUpdate(
        new_handle="Cih2Mi0xMjM0NTY3", resumable=True
    )


def test_standard_base64_audio_decodes_to_the_same_even_length_pcm() -> None:
    pcm = bytes([0xFB, 0xFF, 0xFE, 0x00, 0x01, 0x3E, 0x3F, 0x00]) * 300
    encoded = base64.b64encode(pcm).decode()
    assert "+" in encoded and "/" in encoded  # both characters URL-safe base64 replaces
    msg = decode(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [{"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": encoded}}]
                }
            }
        }
    )
    assert msg.data == pcm
    assert len(msg.data) % 2 == 0


def test_padded_standard_base64_of_odd_byte_counts_decodes() -> None:
    for size in (1, 2, 3, 4, 5):
        data = bytes(range(250, 250 + size))
        frame = {"serverContent": {"modelTurn": {"parts": [{"inlineData": {"data": ""}}]}}}
        frame["serverContent"]["modelTurn"]["parts"][0]["inlineData"]["data"] = base64.b64encode(
            data
        ).decode()
        assert decode(frame).data == data


def test_sdk_style_client_frames_with_snake_case_and_url_safe_base64_decode() -> None:
    audio = b"\xfb\xff\xfe\x00\x01>?"
    assert base64.urlsafe_b64encode(audio) == b"-__-AAE-Pw=="
    frames = {
        '{"realtime_input": {"audio": {"data": "-__-AAE-Pw==", '
        '"mime_type": "audio/pcm;rate=16000"}}}': (
            t.LiveClientMessage(
                realtime_input=t.LiveClientRealtimeInput(
                    audio=t.Blob(data=audio, mime_type="audio/pcm;rate=16000")
                )
            )
        ),
        # unpadded, as some clients send it
        '{"realtime_input": {"media_chunks": [{"data": "-__-AAE-Pw", "mime_type": "x"}]}}': (
            t.LiveClientMessage(
                realtime_input=t.LiveClientRealtimeInput(
                    media_chunks=[t.Blob(data=audio, mime_type="x")]
                )
            )
        ),
        '{"client_content": {"turns": [{"parts": [{"text": "Hi"}], "role": "user"}], '
        '"turn_complete": true}}': t.LiveClientMessage(
            client_content=t.LiveClientContent(
                turns=[t.Content(parts=[t.Part(text="Hi")], role="user")], turn_complete=True
            )
        ),
        '{"tool_response": {"functionResponses": [{"will_continue": true, '
        '"scheduling": "INTERRUPT", "id": "fc-2", "name": "f", '
        '"response": {"snake_key": 1}}]}}': t.LiveClientMessage(
            tool_response=t.LiveClientToolResponse(
                function_responses=[
                    t.FunctionResponse(
                        will_continue=True,
                        scheduling=t.FunctionResponseScheduling.INTERRUPT,
                        id="fc-2",
                        name="f",
                        response={"snake_key": 1},  # user data: never renamed
                    )
                ]
            )
        ),
        '{"setup": {"model": "models/m", "generationConfig": {"speechConfig": '
        '{"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}}}}}': (
            t.LiveClientMessage(
                setup=t.LiveClientSetup(
                    model="models/m",
                    generation_config=t.GenerationConfig(
                        speech_config=t.SpeechConfig(
                            voice_config=t.VoiceConfig(
                                prebuilt_voice_config=t.PrebuiltVoiceConfig(voice_name="Kore")
                            )
                        )
                    ),
                )
            )
        ),
    }
    for frame, expected in frames.items():
        assert codec.decode_client_message(frame) == expected, frame
        assert codec.decode_client_message(frame.encode()) == expected, frame


def test_int64_given_as_a_string_decodes_to_an_int() -> None:
    msg = decode(
        {
            "sessionResumptionUpdate": {
                "newHandle": "h",
                "resumable": True,
                "lastConsumedClientMessageIndex": "123456789",
            }
        }
    )
    assert msg.session_resumption_update is not None
    index = msg.session_resumption_update.last_consumed_client_message_index
    assert index == 123456789 and type(index) is int
    # and is sent back as a number
    assert b'"lastConsumedClientMessageIndex":123456789' in codec.encode_server_message(msg)


@pytest.mark.parametrize(
    ("wire", "microseconds", "proto3"),
    [
        ("10s", 10_000_000, "10s"),
        ("1.5s", 1_500_000, "1.500s"),
        # nanoseconds are rounded to rawlive's microsecond precision
        ("1.000000001s", 1_000_000, "1s"),
        ("-0.5s", -500_000, "-0.500s"),
        ("0.000001s", 1, "0.000001s"),
        ("1.250000s", 1_250_000, "1.250s"),
    ],
)
def test_duration_strings_decode_by_value_and_re_encode_in_proto3_form(
    wire: str, microseconds: int, proto3: str
) -> None:
    msg = decode({"goAway": {"timeLeft": wire}})
    assert msg.go_away is not None
    left = msg.go_away.time_left
    assert isinstance(left, t.Duration)
    assert left == t.Duration(microseconds=microseconds)
    assert codec.encode_server_message(msg) == b'{"goAway":{"timeLeft":"' + proto3.encode() + b'"}}'


def test_voice_activity_offset_is_a_duration_under_the_wire_key_type() -> None:
    msg = decode({"voiceActivity": {"type": "ACTIVITY_START", "audioOffset": "1.5s"}})
    assert msg.voice_activity == t.VoiceActivity(
        voice_activity_type=t.VoiceActivityType.ACTIVITY_START,
        audio_offset=t.Duration(seconds=1.5),
    )


def test_a_utf8_byte_order_mark_is_skipped_in_text_and_binary_frames() -> None:
    text = '\ufeff{"serverContent": {"turnComplete": true}}'
    expected = t.LiveServerMessage(server_content=t.LiveServerContent(turn_complete=True))
    assert codec.decode_server_message(text) == expected
    assert codec.decode_server_message(text.encode("utf-8")) == expected
    assert codec.decode_client_message('\ufeff{"realtimeInput": {"text": "hi"}}'.encode()) == (
        t.LiveClientMessage(realtime_input=t.LiveClientRealtimeInput(text="hi"))
    )


@pytest.mark.parametrize(
    "frame",
    [
        '{"serverContent":{"modelTurn":{"parts":[{"text":"h\\u00e9 \\ud83d\\ude00"}]}}}',
        '{"serverContent":{"modelTurn":{"parts":[{"text":"naïve ✓"}]}},"usageMetadata":{}}',
        '{"toolCall":{"functionCalls":[{"id":"fc_1","name":"f","args":{"a_b":[1,2.5]}}]}}',
        '{"serverContent":{"turnComplete":"true"}}',
        '{"goAway":{"timeLeft":"59.999s"}}',
        '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"data":"-_8"}}]}}}',
    ],
)
def test_bytes_and_str_input_give_identical_results(frame: str) -> None:
    as_str = codec.decode_server_message(frame)
    assert codec.decode_server_message(frame.encode("utf-8")) == as_str
    assert codec.decode_server_message(bytearray(frame.encode("utf-8"))) == as_str
    assert codec.decode_server_message(memoryview(frame.encode("utf-8"))) == as_str


def test_bytes_and_str_input_fail_identically() -> None:
    frame = '{"serverContent":{"turnComplete":"maybe"}}'
    errors = []
    for data in (frame, frame.encode()):
        with pytest.raises(rawlive.DecodeError) as info:
            codec.decode_server_message(data)
        errors.append((type(info.value), info.value.path))
    assert errors[0] == errors[1] == (rawlive.DecodeError, "$.serverContent.turnComplete")


# ---------------------------------------------------------------------------
# The fast path and the lenient path agree
# ---------------------------------------------------------------------------


class _PathSpy:
    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.lenient = 0
        real = codec._decode_lenient

        def spy(*args: Any, **kwargs: Any) -> Any:
            self.lenient += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(codec, "_decode_lenient", spy)


def _lenient(frame: str | bytes) -> t.LiveServerMessage:
    """The lenient path alone: a memoryview never takes the fast one."""
    data = frame.encode() if isinstance(frame, str) else frame
    return codec.decode_server_message(memoryview(data))


def test_a_underscore_enum_value_takes_the_lenient_path_and_decodes_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spy = _PathSpy(monkeypatch)
    fast = codec.decode_server_message(
        '{"serverContent":{"turnComplete":true,"interactionStatus":"IDLE"}}'
    )
    assert spy.lenient == 0
    slow = codec.decode_server_message(
        '{"serverContent":{"turnComplete":true,"interactionStatus":"IN_PROGRESS"}}'
    )
    assert spy.lenient == 1
    assert fast == t.LiveServerMessage(
        server_content=t.LiveServerContent(turn_complete=True, interaction_status="IDLE")
    )
    assert slow == msgspec.structs.replace(
        fast,
        server_content=msgspec.structs.replace(
            fast.server_content, interaction_status=t.InteractionStatus.IN_PROGRESS
        ),
    )


CORPUS = [
    '{"serverContent":{"turnComplete":true,"interactionStatus":"IDLE"}}',
    '{"serverContent":{"turnComplete":true,"interactionStatus":"IN_PROGRESS"}}',
    '{"serverContent":{"modelTurn":{"parts":[{"inlineData":{"mimeType":"audio/pcm;rate=24000",'
    '"data":"APsB/wL+A79/"}}]}}}',
    '{"serverContent":{"modelTurn":{"parts":[{"text":"a","thought":true}]}},'
    '"usageMetadata":{"promptTokenCount":"12","totalTokenCount":30}}',
    '{"toolCall":{"functionCalls":[{"id":"fc-1","name":"getWeather","args":{"city":"Oslo"}}]}}',
    '{"toolCall":{"functionCalls":[{"id":"fc-1","name":"get_weather","args":{"city":"Oslo"}}]}}',
    '{"goAway":{"timeLeft":"1.5s"}}',
    '{"sessionResumptionUpdate":{"newHandle":"h","resumable":true,'
    '"lastConsumedClientMessageIndex":"42"}}',
    '{"serverContent":{"futureField":{"x":1},"turnComplete":true},"futureKind":{}}',
    '{"setupComplete":{"sessionId":"s"}}',
    '{"voiceActivity":{"type":"ACTIVITY_END","audioOffset":"0.020s"}}',
    '{"serverContent":{"turnComplete":"true","generationComplete":"false"}}',
    # an escaped "_" in a key: the fast decoder would unescape it and drop the key
    '{"serverContent":{"turn\\u005fcomplete":true}}',
]


@pytest.mark.parametrize("frame", CORPUS)
def test_fast_and_lenient_paths_decode_to_equal_messages(frame: str) -> None:
    expected = _lenient(frame)
    assert codec.decode_server_message(frame) == expected
    assert codec.decode_server_message(frame.encode()) == expected
    try:
        fast = codec._server_decoder.decode(frame.encode())
    except (msgspec.ValidationError, msgspec.DecodeError):
        return  # the fast decoder refuses: the lenient one must have answered
    if "_" not in frame and "\\u005" not in frame:
        assert fast == expected


def test_an_escaped_underscore_in_a_key_is_not_dropped() -> None:
    frame = '{"serverContent":{"turn\\u005fcomplete":true}}'
    expected = t.LiveServerMessage(server_content=t.LiveServerContent(turn_complete=True))
    assert codec.decode_server_message(frame) == expected
    assert codec.decode_server_message(frame.encode()) == expected
    assert codec.decode_client_message(
        b'{"realtimeInput":{"audio\\u005fstream\\u005fend":true}}'
    ) == (t.LiveClientMessage(realtime_input=t.LiveClientRealtimeInput(audio_stream_end=True)))


def test_the_fast_path_serves_a_plain_audio_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    spy = _PathSpy(monkeypatch)
    pcm = bytes(range(256)) * 19
    frame = json.dumps(
        {
            "serverContent": {
                "modelTurn": {
                    "parts": [
                        {
                            "inlineData": {
                                "mimeType": "audio/pcm;rate=24000",
                                "data": base64.b64encode(pcm).decode(),
                            }
                        }
                    ]
                }
            }
        }
    ).encode()
    assert codec.decode_server_message(frame).data == pcm
    assert spy.lenient == 0
