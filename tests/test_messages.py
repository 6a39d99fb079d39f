"""The mapping rules of rawlive.wire.messages, one behaviour per test.

Where a rule is the SDK's, the expected value is what google-genai 3.3.0
builds offline for the same call (``sdk_setup``: the request ``connect()``
would send, made without a socket), compared canonically.
"""

from __future__ import annotations

import asyncio
import enum
import json
import warnings
from typing import Any, Literal

import pytest

from rawlive import ConfigError
from rawlive.wire import codec, messages
from rawlive.wire import types as t
from tests.canonical import assert_canonically_equal

genai = pytest.importorskip("google.genai")
from google.genai import _common, _transformers, live  # noqa: E402
from google.genai import _live_converters as converters  # noqa: E402
from google.genai import types as sdk_types  # noqa: E402


def sdk_setup(
    model: str, config: dict[str, Any] | None, *, vertex: bool = False, oauth: bool = True
) -> dict[str, Any]:
    """The setup frame SDK 3.3.0's ``connect`` builds (its code path, minus the socket)."""
    if vertex and oauth:
        client = genai.Client(vertexai=True, project="proj", location="us-central1")
    elif vertex:
        client = genai.Client(vertexai=True, api_key="key")
    else:
        client = genai.Client(api_key="key")
    api = client._api_client
    parsed = sdk_types.LiveConnectConfig(**config) if config is not None else None
    name = _transformers.t_model(api, model)
    params = asyncio.run(live._t_live_connect_config(api, parsed))
    if vertex and oauth and name.startswith("publishers/"):
        name = f"projects/{api.project}/locations/{api.location}/{name}"
    to_wire = (
        converters._LiveConnectParameters_to_vertex
        if vertex
        else converters._LiveConnectParameters_to_mldev
    )
    request = _common.convert_to_dict(
        to_wire(
            api_client=api,
            from_object=sdk_types.LiveConnectParameters(model=name, config=params).model_dump(
                exclude_none=True
            ),
        )
    )
    del request["config"]
    request = _common.encode_unserializable_types(request)
    request["setup"]["model"] = name
    if (
        vertex
        and oauth
        and "responseModalities" not in request["setup"].get("generationConfig", {})
    ):
        request["setup"].setdefault("generationConfig", {})["responseModalities"] = ["AUDIO"]
    frame: dict[str, Any] = json.loads(json.dumps(request))
    return frame


def frame(message: Any) -> dict[str, Any]:
    out: dict[str, Any] = json.loads(codec.encode_client_message(message))
    return out


def setup_of(model: str, config: Any = None, **kwargs: Any) -> dict[str, Any]:
    return frame(messages.build_setup(model, config, **kwargs))


# --- functions as declarations ------------------------------------------------


class Unit(enum.Enum):
    """Temperature unit."""

    C = "celsius"
    F = "fahrenheit"


def get_weather(
    city: str,
    unit: Unit,
    days: int = 3,
    hourly: bool | None = None,
    tags: list[str] | None = None,
    mode: Literal["fast", "slow"] = "fast",
    extra: dict[str, float] | None = None,
    point: tuple[float, float] = (0.0, 0.0),
    anything: Any = None,
) -> dict[str, int]:
    """Returns the forecast.

    Args:
      city: the city
    """
    return {}


def no_params() -> int:
    """Nothing to say."""
    return 1


def undocumented(names: set[str], units: list[Unit]) -> None:
    pass


@pytest.mark.parametrize("func", [get_weather, no_params, undocumented])
def test_a_function_becomes_the_declaration_the_sdk_derives(func: Any) -> None:
    expected = sdk_setup("m", {"tools": [func]})
    assert_canonically_equal(expected, setup_of("m", {"tools": [func]}))


def test_declared_function_marks_only_parameters_without_default_required() -> None:
    declaration = messages.function_declaration(get_weather)
    assert declaration.parameters_json_schema["required"] == ["city", "unit"]
    assert declaration.description == "Returns the forecast.\n\nArgs:\n  city: the city"


def test_function_without_parameters_gets_no_response_schema_like_the_sdk() -> None:
    declaration = messages.function_declaration(no_params)
    assert declaration.parameters_json_schema is None
    assert declaration.response_json_schema is None


def test_an_enum_default_is_sent_as_its_value_where_the_sdk_fails() -> None:
    # Deliberate difference: the SDK's json.dumps raises TypeError on the Enum default.
    def f(unit: Unit = Unit.F) -> None:
        pass

    with pytest.raises(TypeError, match="not JSON serializable"):
        sdk_setup("m", {"tools": [f]})
    sent = setup_of("m", {"tools": [f]})["setup"]["tools"][0]["functionDeclarations"][0]
    assert sent["parametersJsonSchema"]["properties"]["unit"]["default"] == "fahrenheit"


def test_unannotated_parameter_is_refused_with_its_name() -> None:
    def f(x, y: int) -> None:  # type: ignore[no-untyped-def]
        pass

    with pytest.raises(ConfigError, match="parameter 'x' of function f"):
        messages.function_declaration(f)


def test_functions_and_declarations_merge_into_one_last_tool() -> None:
    config = {
        "tools": [
            {"function_declarations": [{"name": "a"}], "google_search": {}},
            no_params,
            t.Tool(code_execution=t.ToolCodeExecution()),
        ]
    }
    setup = messages.build_setup("m", config)
    assert setup.tools is not None
    assert [tool.google_search is not None for tool in setup.tools] == [True, False, False]
    assert setup.tools[1].code_execution is not None
    last = setup.tools[2].function_declarations
    assert last is not None and [d.name for d in last] == ["a", "no_params"]


# --- system instruction shapes ------------------------------------------------


@pytest.mark.parametrize(
    "instruction",
    [
        "Be terse.",
        ["Be terse.", {"text": "Really."}],
        {"text": "Be terse."},
        t.Part(text="Be terse."),
        {"parts": [{"text": "Be terse."}]},
        {"role": "system", "parts": [{"text": "Be terse."}]},
    ],
    ids=["str", "list", "part-dict", "part", "content-dict-no-role", "content-dict-role"],
)
def test_system_instruction_shapes_map_like_the_sdk(instruction: Any) -> None:
    sdk_instruction = (
        sdk_types.Part(text="Be terse.") if isinstance(instruction, t.Part) else instruction
    )
    expected = sdk_setup("m", {"system_instruction": sdk_instruction})
    assert_canonically_equal(expected, setup_of("m", {"system_instruction": instruction}))


def test_string_system_instruction_is_a_user_content() -> None:
    setup = messages.build_setup("m", {"system_instruction": "hi"})
    assert setup.system_instruction == t.Content(parts=[t.Part(text="hi")], role="user")


def test_a_content_keeps_its_role_or_lack_of_one() -> None:
    setup = messages.build_setup("m", {"system_instruction": t.Content(parts=[t.Part(text="x")])})
    assert setup.system_instruction is not None and setup.system_instruction.role is None


def test_empty_list_system_instruction_is_refused() -> None:
    with pytest.raises(ConfigError, match="content parts are required"):
        messages.build_setup("m", {"system_instruction": []})


# --- config spellings ------------------------------------------------------------

SNAKE = {
    "response_modalities": ["AUDIO"],
    "top_p": 0.5,
    "speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}},
    "realtime_input_config": {"automatic_activity_detection": {"silence_duration_ms": 500}},
    "context_window_compression": {"trigger_tokens": 100, "sliding_window": {"target_tokens": 50}},
    "tools": [{"function_declarations": [{"name": "f", "parameters_json_schema": {"a_b": 1}}]}],
    "labels": {"snake_key": "v"},
}
CAMEL = {
    "responseModalities": ["AUDIO"],
    "topP": 0.5,
    "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Kore"}}},
    "realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 500}},
    "contextWindowCompression": {"triggerTokens": 100, "slidingWindow": {"targetTokens": 50}},
    "tools": [{"functionDeclarations": [{"name": "f", "parametersJsonSchema": {"a_b": 1}}]}],
    "labels": {"snake_key": "v"},
}


def test_camel_and_snake_case_dicts_give_the_same_setup() -> None:
    assert messages.build_setup("m", SNAKE) == messages.build_setup("m", CAMEL)


def test_user_data_keys_are_never_renamed() -> None:
    sent = setup_of("m", CAMEL)["setup"]
    assert sent["labels"] == {"snake_key": "v"}
    assert sent["tools"][0]["functionDeclarations"][0]["parametersJsonSchema"] == {"a_b": 1}


def test_a_config_struct_gives_the_same_setup_as_its_dict() -> None:
    struct = t.LiveConnectConfig(
        response_modalities=[t.Modality.AUDIO],
        top_p=0.5,
        speech_config=t.SpeechConfig(
            voice_config=t.VoiceConfig(
                prebuilt_voice_config=t.PrebuiltVoiceConfig(voice_name="Kore")
            )
        ),
        realtime_input_config={"automatic_activity_detection": {"silence_duration_ms": 500}},  # type: ignore[arg-type]
        context_window_compression=t.ContextWindowCompressionConfig(
            trigger_tokens=100, sliding_window=t.SlidingWindow(target_tokens=50)
        ),
        tools=[{"function_declarations": [{"name": "f", "parameters_json_schema": {"a_b": 1}}]}],
        labels={"snake_key": "v"},
    )
    assert messages.build_setup("m", struct) == messages.build_setup("m", SNAKE)


def test_the_sdk_builds_the_same_setup_from_the_snake_case_dict() -> None:
    assert_canonically_equal(sdk_setup("m", SNAKE), setup_of("m", SNAKE))


def test_unknown_config_keys_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match="'temprature'"):
        messages.build_setup("m", {"temprature": 0.1})
    with pytest.raises(ConfigError, match="prefix_padding"):
        messages.build_setup(
            "m", {"realtime_input_config": {"automatic_activity_detection": {"prefix_padding": 1}}}
        )


def test_http_options_stay_out_of_setup() -> None:
    sent = setup_of("m", {"http_options": {"api_version": "v1alpha"}})
    assert sent == {"setup": {"model": "models/m"}}


# --- model names -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("model", "kwargs", "expected"),
    [
        ("gemini-x", {}, "models/gemini-x"),
        ("models/gemini-x", {}, "models/gemini-x"),
        ("tunedModels/t1", {}, "tunedModels/t1"),
        ("gemini-x", {"vertex": True}, "publishers/google/models/gemini-x"),
        ("acme/model-1", {"vertex": True}, "publishers/acme/models/model-1"),
        (
            "gemini-x",
            {"vertex": True, "project": "p", "location": "europe-west4"},
            "projects/p/locations/europe-west4/publishers/google/models/gemini-x",
        ),
        (
            "projects/p/locations/l/x",
            {"vertex": True, "project": "q", "location": "m"},
            "projects/p/locations/l/x",
        ),
    ],
)
def test_model_names_get_the_sdks_prefix(model: str, kwargs: dict[str, Any], expected: str) -> None:
    assert messages.build_setup(model, **kwargs).model == expected


@pytest.mark.parametrize("model", ["", "../x", "m?key=1", "a&b"])
def test_bad_model_names_are_refused(model: str) -> None:
    with pytest.raises(ConfigError, match="model"):
        messages.build_setup(model)


# --- Vertex AI ------------------------------------------------------------------------

VERTEX_CONFIG = {
    "system_instruction": "hi",
    "speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Puck"}}},
    "session_resumption": {"transparent": True},
    "explicit_vad_signal": True,
    "labels": {"team": "voice"},
}


def test_vertex_oauth_setup_matches_the_sdk_and_asks_for_audio() -> None:
    ours = setup_of(
        "gemini-x", VERTEX_CONFIG, vertex=True, project="proj", location="us-central1", oauth=True
    )
    assert_canonically_equal(sdk_setup("gemini-x", VERTEX_CONFIG, vertex=True), ours)
    assert ours["setup"]["generationConfig"]["responseModalities"] == ["AUDIO"]


def test_vertex_express_mode_adds_no_modality() -> None:
    ours = setup_of("gemini-x", {"system_instruction": "hi"}, vertex=True)
    assert_canonically_equal(
        sdk_setup("gemini-x", {"system_instruction": "hi"}, vertex=True, oauth=False), ours
    )
    assert "generationConfig" not in ours["setup"]


def test_an_explicit_modality_is_kept_on_vertex_oauth() -> None:
    setup = messages.build_setup("m", {"response_modalities": ["TEXT"]}, vertex=True, oauth=True)
    assert setup.generation_config is not None
    assert setup.generation_config.response_modalities == ["TEXT"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"explicit_vad_signal": True}, "explicit_vad_signal is only supported on Vertex AI"),
        (
            {"session_resumption": {"handle": "h", "transparent": True}},
            "transparent is only supported on Vertex AI",
        ),
        (
            {"safety_settings": [{"category": "HARM_CATEGORY_HARASSMENT", "method": "SEVERITY"}]},
            "method is only",
        ),
        ({"tools": [{"google_search": {"exclude_domains": ["a.com"]}}]}, "exclude_domains is only"),
        ({"tools": [{"enterprise_web_search": {}}]}, "enterprise_web_search is only"),
    ],
)
def test_vertex_only_fields_are_refused_on_the_gemini_api(
    config: dict[str, Any], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        messages.build_setup("m", config)
    messages.build_setup("m", config, vertex=True)  # accepted there


def test_gemini_only_tools_are_refused_on_vertex() -> None:
    with pytest.raises(ConfigError, match="file_search is only supported on the Gemini"):
        messages.build_setup("m", {"tools": [{"file_search": {}}]}, vertex=True)


def test_vertex_settings_need_vertex() -> None:
    with pytest.raises(ConfigError, match="vertex=True"):
        messages.build_setup("m", project="p", location="l")
    with pytest.raises(ConfigError, match="vertex=True"):
        messages.build_setup("m", oauth=True)


# --- speech and generation config -------------------------------------------------------


def test_multi_speaker_voice_is_refused() -> None:
    speech = {"multi_speaker_voice_config": {"speaker_voice_configs": []}}
    with pytest.raises(ConfigError, match="multi_speaker_voice_config is not supported"):
        messages.build_setup("m", {"speech_config": speech})


def test_string_speech_config_is_a_voice_name_where_the_sdk_refuses_it() -> None:
    # Deliberate difference: the SDK's pydantic LiveConnectConfig rejects a str.
    with pytest.raises(ValueError):
        sdk_types.LiveConnectConfig(speech_config="Kore")
    setup = messages.build_setup("m", {"speech_config": "Kore"})
    expected = sdk_setup(
        "m", {"speech_config": {"voice_config": {"prebuilt_voice_config": {"voice_name": "Kore"}}}}
    )
    assert_canonically_equal(expected, frame(setup))


def test_deprecated_generation_config_merges_with_the_top_level_fields() -> None:
    config = {"generation_config": {"temperature": 0.5, "candidate_count": 1}, "seed": 7}
    with pytest.warns(DeprecationWarning, match="generation_config is deprecated"):
        ours = setup_of("m", config)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert_canonically_equal(sdk_setup("m", config), ours)


def test_a_field_set_twice_with_different_values_is_refused() -> None:
    config = {"generation_config": {"top_p": 0.1}, "top_p": 0.9}
    with pytest.warns(DeprecationWarning), pytest.raises(ConfigError, match=r"top_p .* conflicts"):
        messages.build_setup("m", config)


def test_top_level_generation_fields_move_into_generation_config() -> None:
    config = {
        "temperature": 0.7,
        "top_k": 40,
        "media_resolution": "MEDIA_RESOLUTION_LOW",
        "thinking_config": {"thinking_budget": 0},
        "enable_affective_dialog": True,
        "translation_config": {"target_language_code": "es"},
    }
    assert_canonically_equal(sdk_setup("m", config), setup_of("m", config))


# --- realtime input ------------------------------------------------------------------------


def test_realtime_input_takes_exactly_one_argument() -> None:
    with pytest.raises(
        ConfigError, match=r"Only one argument can be set, got 2: \['audio', 'text'\]"
    ):
        messages.realtime_input(audio={"data": b"\x00", "mime_type": "audio/pcm"}, text="hi")
    with pytest.raises(ConfigError, match="got 0"):
        messages.realtime_input()


def test_audio_without_a_mime_type_is_refused() -> None:
    with pytest.raises(ConfigError, match="unsupported mime type None"):
        messages.realtime_input(audio=t.Blob(data=b"\x00\x00"))


def test_video_must_be_an_image() -> None:
    with pytest.raises(ConfigError, match="video takes image/"):
        messages.realtime_input(video={"data": b"\x00", "mime_type": "video/mp4"})


def test_audio_blob_objects_are_sent_as_given() -> None:
    blob = t.Blob(data=b"\xfb\xff", mime_type="audio/pcm;rate=16000")
    assert messages.realtime_input(audio=blob).audio is blob
    assert frame(messages.realtime_input(audio=blob)) == {
        "realtimeInput": {"audio": {"data": "+/8=", "mimeType": "audio/pcm;rate=16000"}}
    }


def test_media_becomes_media_chunks_without_a_mime_check() -> None:
    sent = messages.realtime_input(media=[{"data": b"\x01", "mimeType": "text/plain"}])
    assert sent.media_chunks == [t.Blob(data=b"\x01", mime_type="text/plain")]


def test_false_audio_stream_end_is_still_sent() -> None:
    assert frame(messages.realtime_input(audio_stream_end=False)) == {
        "realtimeInput": {"audioStreamEnd": False}
    }


# --- client content, tool response, context update ---------------------------------------------


def test_client_content_without_turns_only_completes_the_turn() -> None:
    assert frame(messages.client_content()) == {"clientContent": {"turnComplete": True}}


def test_client_content_refuses_a_plain_string_with_a_hint() -> None:
    with pytest.raises(ConfigError, match="realtime_input"):
        messages.client_content("Hello")


def test_tool_response_needs_an_id_on_the_gemini_api_only() -> None:
    response = {"name": "f", "response": {"ok": True}}
    with pytest.raises(ConfigError, match="must have an `id`"):
        messages.tool_response(response)
    sent = messages.tool_response(response, vertex=True)
    assert sent.function_responses == [t.FunctionResponse(name="f", response={"ok": True})]


def test_tool_response_refuses_non_finite_floats() -> None:
    # Deliberate difference: the SDK sends the invalid JSON token NaN.
    with pytest.raises(ConfigError, match=r"function_responses\[0\].response.x.y is nan"):
        messages.tool_response({"id": "1", "name": "f", "response": {"x": {"y": float("nan")}}})


def test_context_update_needs_something_to_update() -> None:
    with pytest.raises(ConfigError, match="At least one"):
        messages.context_update()


def test_context_update_with_empty_tools_clears_them() -> None:
    assert frame(messages.context_update(tools=[])) == {"contextUpdate": {"tools": {"tools": []}}}


def test_context_update_turns_functions_into_declarations() -> None:
    update = messages.context_update(tools=[no_params])
    assert update.tools is not None and update.tools.tools is not None
    declarations = update.tools.tools[0].function_declarations
    assert declarations == [messages.function_declaration(no_params)]


# --- deprecated send -----------------------------------------------------------------------------


def test_legacy_send_of_text_is_a_user_turn_completed_by_end_of_turn() -> None:
    sent = messages.legacy_send("hi", end_of_turn=True)
    assert sent == t.LiveClientContent(
        turns=[t.Content(parts=[t.Part(text="hi")], role="user")], turn_complete=True
    )


def test_legacy_send_refuses_a_content_object() -> None:
    with pytest.raises(ConfigError, match="send\\(\\) does not take a Content"):
        messages.legacy_send(t.Content(parts=[t.Part(text="hi")]))


def test_legacy_send_of_a_function_response_dict_needs_an_id() -> None:
    with pytest.raises(ConfigError, match="must have an `id`"):
        messages.legacy_send({"name": "f", "response": {}})
