"""What the message builders refuse before anything is sent, and the edge shapes they accept.

Each refusal is a :class:`rawlive.ConfigError` that names the field at
fault, raised by :mod:`rawlive.wire.messages` before a frame exists; the accepted
shapes are the less common ones of the SDK's transformers (the common ones
are compared with the SDK itself in ``test_messages.py``).
"""

from __future__ import annotations

import datetime
import typing
from typing import Annotated, Any, Literal

import pytest

from rawlive import ConfigError
from rawlive.wire import messages
from rawlive.wire import types as t

# --- values of the wrong kind ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: messages.build_setup("m", {"session_resumption": t.Blob(data=b"")}),
            r"config.session_resumption: expected a SessionResumptionConfig or a dict, got a Blob",
        ),
        (
            lambda: messages.build_setup("m", {"session_resumption": "yes"}),
            r"config.session_resumption: expected a SessionResumptionConfig or a dict, got a str",
        ),
        (
            lambda: messages.build_setup("m", {"system_instruction": 42}),
            r"config.system_instruction: expected a str, a Content, a Part, a dict or a list",
        ),
        (
            lambda: messages.build_setup("m", {"system_instruction": ["ok", 3]}),
            r"config.system_instruction\[1\]: expected a str, a Part or a dict, got a int",
        ),
        (
            lambda: messages.build_setup("m", {"tools": {"google_search": {}}}),
            r"config.tools: expected a list of tools, got a dict",
        ),
        (
            lambda: messages.build_setup("m", ["not", "a", "config"]),  # type: ignore[arg-type]
            r"config: expected a LiveConnectConfig or a dict, got a list",
        ),
        (
            lambda: messages.build_setup("m", {"temperature": 0.5, "Temperature": 1}),
            r"unknown field 'Temperature'",
        ),
        (
            lambda: messages.build_setup(
                "m", {"response_modalities": ["TEXT"], "responseModalities": ["AUDIO"]}
            ),
            r"'response_modalities' is given twice",
        ),
        (
            lambda: messages.build_setup("m", {"safety_settings": {"category": "x"}}),
            r"config.safety_settings: expected a list, got a dict",
        ),
        (
            lambda: messages.build_setup("m", {"labels": {"team": 7}}),
            r"config.labels: expected a dict of strings",
        ),
        (
            lambda: messages.build_setup(
                "m", {"explicit_vad_signal": "yes"}, vertex=True, project="p", location="l"
            ),
            r"config.explicit_vad_signal: expected a bool, got a str",
        ),
        (
            lambda: messages.realtime_input(text=b"bytes"),  # type: ignore[arg-type]
            r"text: expected a str, got a bytes",
        ),
        (
            lambda: messages.realtime_input(audio_stream_end="yes"),  # type: ignore[arg-type]
            r"audio_stream_end: expected a bool, got a str",
        ),
        (
            lambda: messages.realtime_input(audio=t.Blob(data="pcm", mime_type="audio/pcm")),  # type: ignore[arg-type]
            r"audio.data: expected bytes, got a str",
        ),
        (
            lambda: messages.realtime_input(audio={}),
            r"audio: a blob is required \(got \{\}\)",
        ),
        (
            lambda: messages.client_content(turn_complete="yes"),  # type: ignore[arg-type]
            r"turn_complete: expected a bool, got a str",
        ),
        (
            lambda: messages.client_content(turns=[{"role": "user", "parts": [{"text": "a"}]}, 5]),  # type: ignore[list-item]
            r"turns\[1\]: expected a Content or a dict",
        ),
        (
            lambda: messages.tool_response([{"id": "1", "name": "f", "response": {}}, {}]),
            r"function_responses\[1\]: a function response is required",
        ),
        (
            lambda: messages.tool_response([]),
            r"a tool response is required \(got an empty value\)",
        ),
    ],
)
def test_a_value_of_the_wrong_kind_is_refused_naming_where_it_is(
    build: typing.Callable[[], object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        build()


def test_a_dict_that_is_no_part_nor_file_data_reports_the_part_error() -> None:
    with pytest.raises(ConfigError, match=r"config.system_instruction") as info:
        messages.build_setup("m", {"system_instruction": {"txt": "typo"}})
    assert "txt" in str(info.value)


def test_a_dict_with_file_data_fields_becomes_a_file_data_part() -> None:
    setup = messages.build_setup(
        "m", {"system_instruction": {"file_uri": "gs://b/f.pdf", "mime_type": "application/pdf"}}
    )
    assert setup.system_instruction is not None
    (part,) = setup.system_instruction.parts or []
    assert part.file_data == t.FileData(file_uri="gs://b/f.pdf", mime_type="application/pdf")


def test_a_part_object_as_system_instruction_is_revalidated() -> None:
    setup = messages.build_setup("m", {"system_instruction": [t.Part(text="a"), "b"]})
    assert setup.system_instruction == t.Content(
        parts=[t.Part(text="a"), t.Part(text="b")], role="user"
    )


# --- fields one backend does not have ---------------------------------------------------------


def test_function_call_continuations_are_vertex_only() -> None:
    turn = {"role": "model", "parts": [{"function_call": {"name": "f", "will_continue": True}}]}
    with pytest.raises(ConfigError, match=r"turns\[0\].parts\[0\].function_call.will_continue"):
        messages.client_content(turns=[turn])
    assert messages.client_content(turns=[turn], vertex=True).turns is not None


@pytest.mark.parametrize(
    ("tool", "message"),
    [
        (
            {"mcp_servers": [{"name": "srv"}]},
            r"mcp_servers\[0\].name is only supported on the Gemini",
        ),
        ({"retrieval": {}}, r"retrieval is only supported on Vertex AI"),
        (
            {"google_maps": {"auth_config": {"auth_type": "API_KEY"}}},
            r"google_maps.auth_config.auth_type is only supported on Vertex AI",
        ),
    ],
)
def test_a_tool_field_of_the_other_backend_is_refused(tool: dict[str, Any], message: str) -> None:
    vertex = "mcp_servers" in tool
    with pytest.raises(ConfigError, match=message):
        messages.build_setup("m", {"tools": [tool]}, vertex=vertex)
    # ... and accepted by the backend that has it.
    assert messages.build_setup("m", {"tools": [tool]}, vertex=not vertex).tools


def test_empty_tool_entries_are_skipped_like_the_sdk() -> None:
    setup = messages.build_setup("m", {"tools": [None, {}, {"google_search": {}}]})
    assert setup.tools == [t.Tool(google_search=t.GoogleSearch())]


def test_replicated_voice_consent_is_gemini_only() -> None:
    speech = {"voice_config": {"replicated_voice_config": {"consent_audio": "AAAA"}}}
    with pytest.raises(ConfigError, match=r"replicated_voice_config.consent_audio is only"):
        messages.build_setup("m", {"speech_config": speech}, vertex=True)
    setup = messages.build_setup("m", {"speech_config": speech})
    assert setup.generation_config is not None and setup.generation_config.speech_config


def test_deprecated_generation_config_is_checked_like_the_top_level() -> None:
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ConfigError, match=r"generation_config\.speech_config\.multi_speaker"),
    ):
        messages.build_setup(
            "m",
            {"generation_config": {"speech_config": {"multi_speaker_voice_config": {}}}},
        )
    with (
        pytest.warns(DeprecationWarning),
        pytest.raises(ConfigError, match="enable_enhanced_civic_answers is only supported on the"),
    ):
        messages.build_setup(
            "m", {"generation_config": {"enable_enhanced_civic_answers": True}}, vertex=True
        )


# --- functions as declarations -------------------------------------------------------------


def _schema(annotation: Any) -> dict[str, Any]:
    def f(x: int) -> None:
        pass

    f.__annotations__ = {"x": annotation, "return": None}
    declaration = messages.function_declaration(f)
    assert declaration.parameters_json_schema is not None
    schema: dict[str, Any] = declaration.parameters_json_schema["properties"]["x"]
    return schema


@pytest.mark.parametrize(
    ("annotation", "schema"),
    [
        (Literal[True, False], {"enum": [True, False], "type": "boolean"}),
        (Literal[1, 2], {"enum": [1, 2], "type": "integer"}),
        (Literal[1, 2.5], {"enum": [1, 2.5], "type": "number"}),
        (Literal["a", 1], {"enum": ["a", 1]}),
        (Literal["only"], {"const": "only", "type": "string"}),
        (Annotated[int, "a note"], {"type": "integer"}),
        (tuple[int, ...], {"items": {"type": "integer"}, "type": "array"}),
        (tuple, {"items": {}, "type": "array"}),
        (dict, {"additionalProperties": True, "type": "object"}),
        (datetime.date, {"format": "date", "type": "string"}),
        (Any, {}),
    ],
)
def test_annotations_map_to_the_json_schema_pydantic_gives(
    annotation: Any, schema: dict[str, Any]
) -> None:
    assert _schema(annotation) == schema


class Point:
    """Duck-typed like a pydantic model: it has ``model_json_schema``."""

    @classmethod
    def model_json_schema(cls) -> dict[str, Any]:
        return {
            "type": "object",
            "properties": {"unit": {"$ref": "#/$defs/Unit"}},
            "$defs": {"Unit": {"enum": ["m"], "type": "string"}},
        }


def at(where: list[Point]) -> None:
    pass


def test_a_model_with_model_json_schema_is_used_as_pydantic_would() -> None:
    declaration = messages.function_declaration(at)
    parameters = declaration.parameters_json_schema
    assert parameters is not None
    assert parameters["properties"]["where"] == {
        "items": {"$ref": "#/$defs/Point"},
        "type": "array",
    }
    assert set(parameters["$defs"]) == {"Point", "Unit"}


def test_an_annotation_with_no_schema_is_refused_naming_the_parameter() -> None:
    def f(when: complex) -> None:
        pass

    with pytest.raises(
        ConfigError, match=r"parameter when: 'complex' of function f: no JSON Schema"
    ):
        messages.function_declaration(f)


def test_a_return_annotation_with_no_schema_is_refused() -> None:
    def f(x: int) -> complex:
        return complex(x)

    with pytest.raises(ConfigError, match="cannot declare the return type of function f"):
        messages.function_declaration(f)


def test_unresolvable_hints_and_nameless_callables_are_refused() -> None:
    def f(x: NoSuchType) -> None:  # type: ignore[name-defined]  # noqa: F821
        pass

    with pytest.raises(ConfigError, match="cannot read the type hints of function f"):
        messages.function_declaration(f)

    class Nameless:
        def __call__(self, x: int) -> None:
            pass

    with pytest.raises(ConfigError, match="it has no __name__"):
        messages.function_declaration(Nameless())


def test_star_args_are_not_parameters() -> None:
    def f(x: int, *rest: int, **options: str) -> None:
        pass

    declaration = messages.function_declaration(f)
    assert declaration.parameters_json_schema is not None
    assert list(declaration.parameters_json_schema["properties"]) == ["x"]


# --- the deprecated send(input=...) -----------------------------------------------------------


def test_legacy_send_of_a_turns_dict_keeps_its_turn_complete() -> None:
    sent = messages.legacy_send({"turns": [{"role": "user", "parts": [{"text": "hi"}]}]})
    assert isinstance(sent, t.LiveClientContent) and sent.turn_complete is None
    sent = messages.legacy_send({"content": {"parts": [{"text": "hi"}]}, "turnComplete": True})
    assert isinstance(sent, t.LiveClientContent) and sent.turn_complete is True


def test_legacy_send_of_media_chunks_and_tool_responses_as_dicts() -> None:
    chunk = {"data": "AAAA", "mime_type": "audio/pcm"}
    sent = messages.legacy_send({"media_chunks": [chunk]})
    assert sent == t.LiveClientRealtimeInput(
        media_chunks=[t.Blob(data=b"\0\0\0", mime_type="audio/pcm")]
    )
    responses = {"function_responses": [{"id": "1", "name": "f", "response": {"ok": True}}]}
    assert messages.legacy_send(responses) == t.LiveClientToolResponse(
        function_responses=[t.FunctionResponse(id="1", name="f", response={"ok": True})]
    )


def test_legacy_send_of_messages_and_a_function_response_object() -> None:
    realtime = t.LiveClientRealtimeInput(media_chunks=[t.Blob(data=b"x", mime_type="image/png")])
    assert messages.legacy_send(realtime) == realtime
    content = t.LiveClientContent(turns=[t.Content(parts=[t.Part(text="a")])])
    assert messages.legacy_send(content) == content
    response = t.FunctionResponse(id="9", name="f", response={"v": 1.5})
    assert messages.legacy_send(response) == t.LiveClientToolResponse(function_responses=[response])
    with pytest.raises(ConfigError, match=r"input.function_responses\[0\]: FunctionResponse"):
        messages.legacy_send(
            t.LiveClientToolResponse(function_responses=[t.FunctionResponse(name="f")])
        )
    with pytest.raises(ConfigError, match=r"input.response.v is nan"):
        messages.legacy_send(t.FunctionResponse(id="9", name="f", response={"v": float("nan")}))


@pytest.mark.parametrize("value", [{"other": 1}, [1, 2], 3.5])
def test_legacy_send_refuses_what_it_cannot_send(value: Any) -> None:
    with pytest.raises(ConfigError, match="send\\(\\) does not take a"):
        messages.legacy_send(value)
