"""SDK-shaped call arguments to client message Structs, as google-genai 3.3.0 builds them.

The step between what a caller writes (the SDK's ``connect``, ``send_*`` and
deprecated ``send`` arguments: SDK objects, rawlive Structs or dicts, in
snake_case or camelCase) and the Structs of :mod:`rawlive.wire.types`. It
applies the SDK's transformations (model names, the config fields that move
into ``generationConfig``, system instructions and plain functions made wire
objects, function declarations merged into one tool) and the SDK's refusals,
raised as :class:`~rawlive.ConfigError` before anything is sent. No I/O and
no bytes: :func:`rawlive.wire.codec.encode_client_message` encodes what it
returns. Where rawlive departs from the SDK on purpose, the function's
docstring says so.
"""

from __future__ import annotations

import collections.abc
import datetime
import enum
import inspect
import math
import types as pytypes
import typing
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeVar

import msgspec

from rawlive.errors import ConfigError, DecodeError
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "build_setup",
    "client_content",
    "context_update",
    "function_declaration",
    "legacy_send",
    "realtime_input",
    "tool_response",
]

_S = TypeVar("_S", bound=msgspec.Struct)

# The SDK's message for a Gemini API tool response without an id.
_REQUIRES_ID = (
    "FunctionResponse request must have an `id` field from the response of a "
    "ToolCall.FunctionalCalls in Google AI: copy the id of the matching "
    "toolCall.functionCalls[] entry (only Vertex AI accepts responses without one)"
)
_VERTEX_ONLY = "is only supported on Vertex AI, not on the Gemini Developer API"
_GEMINI_ONLY = "is only supported on the Gemini Developer API, not on Vertex AI"


# ---------------------------------------------------------------------------
# Turning one value into a wire Struct
# ---------------------------------------------------------------------------


def _kind(value: object) -> str:
    return type(value).__name__


def _as(value: Any, cls: type[_S], where: str) -> _S:
    """``value`` (a ``cls`` Struct or a dict, snake_case or camelCase) as a valid ``cls``.

    A Struct is re-validated too: msgspec does not check what its constructor
    is given, so ``Tool(google_search={})`` holds a plain dict until here.
    Unknown keys are refused (the SDK's pydantic models refuse them too).
    """
    if isinstance(value, msgspec.Struct) and not isinstance(value, cls):
        raise ConfigError(f"{where}: expected a {cls.__name__} or a dict, got a {_kind(value)}")
    if not isinstance(value, cls | dict):
        raise ConfigError(f"{where}: expected a {cls.__name__} or a dict, got a {_kind(value)}")
    try:
        return codec.convert(codec.to_builtins(value), cls, strict=True)
    except (DecodeError, TypeError, NotImplementedError) as exc:
        raise ConfigError(f"{where}: {exc}") from None


def _check_finite(value: Any, where: str) -> None:
    """Refuse NaN and infinities in caller data: JSON has no spelling for them."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ConfigError(
            f"{where} is {value!r}, which JSON cannot carry (the SDK sends the invalid "
            "token NaN/Infinity); send a string or null instead"
        )
    if isinstance(value, dict):
        for key, item in value.items():
            _check_finite(item, f"{where}.{key}")
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            _check_finite(item, f"{where}[{i}]")


# ---------------------------------------------------------------------------
# Content (t_content / t_part)
# ---------------------------------------------------------------------------

_CONTENT_KEYS = frozenset({"parts", "role"})


def _part(value: Any, where: str) -> t.Part:
    if isinstance(value, str):
        return t.Part(text=value)
    if isinstance(value, t.Part):
        return _as(value, t.Part, where)
    if isinstance(value, dict):
        try:
            return _as(value, t.Part, where)
        except ConfigError:
            # As the SDK: a dict that is no Part may be a FileData.
            try:
                return t.Part(file_data=_as(value, t.FileData, where))
            except ConfigError:
                pass
            raise
    raise ConfigError(f"{where}: expected a str, a Part or a dict, got a {_kind(value)}")


def _content(value: Any, where: str) -> t.Content:
    """A system instruction or turn in any shape the SDK's ``t_content`` takes.

    A Content (or a dict of ``parts``/``role``) is kept as it is, role or
    not; a string, a Part or a list of strings and parts becomes a
    ``"user"`` Content (a lone Part with a function call a ``"model"`` one).
    """
    if isinstance(value, t.Content):
        return _as(value, t.Content, where)
    if isinstance(value, dict):
        if set(value) <= _CONTENT_KEYS:
            return _as(value, t.Content, where)
        part = _part(value, where)
        return t.Content(parts=[part], role="model" if part.function_call else "user")
    if isinstance(value, t.Part):
        part = _as(value, t.Part, where)
        return t.Content(parts=[part], role="model" if part.function_call else "user")
    if isinstance(value, str):
        return t.Content(parts=[t.Part(text=value)], role="user")
    if isinstance(value, list | tuple):
        if not value:
            raise ConfigError(f"{where}: content parts are required (got an empty list)")
        return t.Content(
            parts=[_part(item, f"{where}[{i}]") for i, item in enumerate(value)], role="user"
        )
    raise ConfigError(
        f"{where}: expected a str, a Content, a Part, a dict or a list of parts, "
        f"got a {_kind(value)}"
    )


def _check_content(content: t.Content, where: str, vertex: bool) -> None:
    if vertex:
        return
    for i, part in enumerate(content.parts or ()):
        call = part.function_call
        if call is None:
            continue
        for name in ("partial_args", "will_continue"):
            if getattr(call, name) is not None:
                raise ConfigError(f"{where}.parts[{i}].function_call.{name} {_VERTEX_ONLY}")


# ---------------------------------------------------------------------------
# Functions as declarations (FunctionDeclaration.from_callable, JSON Schema form)
# ---------------------------------------------------------------------------

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    bool: {"type": "boolean"},
    int: {"type": "integer"},
    float: {"type": "number"},
    type(None): {"type": "null"},
    None: {"type": "null"},
    bytes: {"format": "binary", "type": "string"},
    datetime.datetime: {"format": "date-time", "type": "string"},
    datetime.date: {"format": "date", "type": "string"},
    datetime.time: {"format": "time", "type": "string"},
}
_LISTS = (list, collections.abc.Sequence, collections.abc.MutableSequence)
_SETS = (set, frozenset, collections.abc.Set, collections.abc.MutableSet)
_DICTS = (dict, collections.abc.Mapping, collections.abc.MutableMapping)


def _json_type(values: Sequence[Any]) -> dict[str, Any]:
    if all(isinstance(v, bool) for v in values):
        return {"type": "boolean"}
    if all(isinstance(v, str) for v in values):
        return {"type": "string"}
    if all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return {"type": "integer"}
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return {"type": "number"}
    return {}


def _type_schema(tp: Any, defs: dict[str, Any], top: bool) -> dict[str, Any]:
    """The JSON Schema pydantic gives ``tp`` (what the SDK sends), without pydantic."""
    if tp is Any:
        return {}
    if tp in _PRIMITIVES:
        return dict(_PRIMITIVES[tp])
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return _type_schema(args[0], defs, top)
    if origin is typing.Union or origin is pytypes.UnionType:
        return {"anyOf": [_type_schema(a, defs, False) for a in args]}
    if origin is typing.Literal:
        values = list(args)
        key = "const" if len(values) == 1 else "enum"
        return {key: values[0] if key == "const" else values, **_json_type(values)}
    if tp in _LISTS or origin in _LISTS:
        return {"items": _type_schema(args[0], defs, False) if args else {}, "type": "array"}
    if tp in _SETS or origin in _SETS:
        items = _type_schema(args[0], defs, False) if args else {}
        return {"items": items, "type": "array", "uniqueItems": True}
    if tp is tuple or origin is tuple:
        if not args or (len(args) == 2 and args[1] is Ellipsis):
            return {"items": _type_schema(args[0], defs, False) if args else {}, "type": "array"}
        return {
            "maxItems": len(args),
            "minItems": len(args),
            "prefixItems": [_type_schema(a, defs, False) for a in args],
            "type": "array",
            "unevaluatedItems": False,
        }
    if tp in _DICTS or origin in _DICTS:
        if len(args) == 2:
            return {"additionalProperties": _type_schema(args[1], defs, False), "type": "object"}
        return {"additionalProperties": True, "type": "object"}
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        values = [member.value for member in tp]
        schema: dict[str, Any] = {"enum": values, "title": tp.__name__, **_json_type(values)}
        if tp.__doc__ and tp.__doc__ != enum.Enum.__doc__ and type(tp).__doc__ != tp.__doc__:
            schema["description"] = inspect.cleandoc(tp.__doc__)
        return _defined(tp.__name__, schema, defs, top)
    model_json_schema = getattr(tp, "model_json_schema", None)
    if isinstance(tp, type) and callable(model_json_schema):  # a pydantic model, duck-typed
        schema = dict(model_json_schema())
        defs.update(schema.pop("$defs", {}))
        return _defined(tp.__name__, schema, defs, top)
    raise TypeError(f"no JSON Schema for {tp!r}")


def _defined(name: str, schema: dict[str, Any], defs: dict[str, Any], top: bool) -> dict[str, Any]:
    if top:
        return schema
    defs[name] = schema
    return {"$ref": f"#/$defs/{name}"}


def function_declaration(func: Callable[..., Any]) -> t.FunctionDeclaration:
    """A :class:`~rawlive.wire.types.FunctionDeclaration` from a Python function, as the SDK does.

    Mirrors ``FunctionDeclaration.from_callable(..., use_json_schema=True)``,
    the path ``connect(config={"tools": [func]})`` takes: the name is
    ``func.__name__``, the description the cleaned docstring (``""`` without
    one), ``parameters_json_schema`` the JSON Schema of the annotated
    parameters (parameters with a default are optional and carry it), and
    ``response_json_schema`` that of the return annotation (only when the
    function has parameters, like the SDK). Supported annotations: ``str``,
    ``int``, ``float``, ``bool``, ``bytes``, ``None``, datetimes, ``Any``,
    lists, sets, tuples, dicts, unions, ``Literal``, enums and pydantic
    models; anything else (or no annotation) raises :class:`ConfigError`, as
    the SDK raises.
    """
    name = getattr(func, "__name__", None)
    if not isinstance(name, str):
        raise ConfigError(f"cannot declare {func!r} as a function: it has no __name__")
    try:
        hints = typing.get_type_hints(func, include_extras=True)
    except Exception as exc:
        raise ConfigError(f"cannot read the type hints of function {name}: {exc}") from None
    signature = inspect.signature(func)
    kinds = (
        inspect.Parameter.POSITIONAL_OR_KEYWORD,
        inspect.Parameter.KEYWORD_ONLY,
        inspect.Parameter.POSITIONAL_ONLY,
    )
    properties: dict[str, Any] = {}
    defs: dict[str, Any] = {}
    for pname, param in signature.parameters.items():
        if param.kind not in kinds:
            continue
        annotation = hints.get(pname, param.annotation)
        if annotation is inspect.Parameter.empty:
            raise ConfigError(
                f"cannot declare parameter {pname!r} of function {name}: it has no type "
                "annotation; annotate it or write the FunctionDeclaration yourself"
            )
        try:
            schema = _type_schema(annotation, defs, top=True)
        except TypeError as exc:
            raise ConfigError(
                f"cannot declare parameter {param} of function {name}: {exc}; use simpler "
                "types or write the FunctionDeclaration yourself"
            ) from None
        if param.default is not inspect.Parameter.empty:
            schema["default"] = param.default
        properties[pname] = schema
    declaration = t.FunctionDeclaration(
        name=name, description=inspect.cleandoc(func.__doc__) if func.__doc__ else ""
    )
    if not properties:
        return declaration
    parameters: dict[str, Any] = {"type": "object", "properties": properties}
    if defs:
        parameters["$defs"] = defs
    # The SDK's rule: a parameter with an empty schema (Any) is never required.
    parameters["required"] = [
        pname for pname, schema in properties.items() if schema and "default" not in schema
    ]
    declaration.parameters_json_schema = parameters
    returns = hints.get("return", signature.return_annotation)
    if returns is not inspect.Signature.empty:
        try:
            declaration.response_json_schema = _type_schema(returns, {}, top=True)
        except TypeError as exc:
            raise ConfigError(f"cannot declare the return type of function {name}: {exc}") from None
    return declaration


# ---------------------------------------------------------------------------
# Tools (t_tool / t_tools / _Tool_to_mldev / _Tool_to_vertex)
# ---------------------------------------------------------------------------


def _tool(value: Any, where: str) -> t.Tool | None:
    if not value and not isinstance(value, t.Tool):
        return None  # the SDK skips empty entries
    if inspect.isfunction(value) or inspect.ismethod(value):
        return t.Tool(function_declarations=[function_declaration(value)])
    return _as(value, t.Tool, where)


def _check_tool(tool: t.Tool, where: str, vertex: bool) -> None:
    if vertex:
        if tool.file_search is not None:
            raise ConfigError(f"{where}.file_search {_GEMINI_ONLY}")
        for i, server in enumerate(tool.mcp_servers or ()):
            for name in ("name", "streamable_http_transport"):
                if getattr(server, name) is not None:
                    raise ConfigError(f"{where}.mcp_servers[{i}].{name} {_GEMINI_ONLY}")
        return
    for name in ("retrieval", "enterprise_web_search"):
        if getattr(tool, name) is not None:
            raise ConfigError(f"{where}.{name} {_VERTEX_ONLY}")
    if tool.google_search is not None:
        for name in ("blocking_confidence", "exclude_domains"):
            if getattr(tool.google_search, name) is not None:
                raise ConfigError(f"{where}.google_search.{name} {_VERTEX_ONLY}")
    maps = tool.google_maps
    if maps is not None and maps.auth_config is not None:
        for f in msgspec.structs.fields(maps.auth_config):
            if getattr(maps.auth_config, f.name) is not None:
                raise ConfigError(f"{where}.google_maps.auth_config.{f.name} {_VERTEX_ONLY}")


def _tools(value: Any, where: str, vertex: bool) -> list[t.Tool]:
    """The SDK's ``t_tools``: functions become declarations, all merged into one last tool."""
    if not isinstance(value, list | tuple):
        raise ConfigError(f"{where}: expected a list of tools, got a {_kind(value)}")
    declarations: list[t.FunctionDeclaration] = []
    tools: list[t.Tool] = []
    for i, item in enumerate(value):
        tool = _tool(item, f"{where}[{i}]")
        if tool is None:
            continue
        _check_tool(tool, f"{where}[{i}]", vertex)
        if tool.function_declarations:
            declarations.extend(tool.function_declarations)
            rest = msgspec.structs.replace(tool, function_declarations=None)
            if rest != t.Tool():
                tools.append(rest)
        else:
            tools.append(tool)
    if declarations:
        tools.append(t.Tool(function_declarations=declarations))
    return tools


# ---------------------------------------------------------------------------
# setup
# ---------------------------------------------------------------------------

_CONFIG_FIELDS: dict[str, str] = {}
for _f in msgspec.structs.fields(t.LiveConnectConfig):
    _CONFIG_FIELDS[_f.name] = _f.name
    _CONFIG_FIELDS[_f.encode_name] = _f.name

# LiveConnectConfig fields that the SDK moves into setup.generationConfig.
_SCALAR_GENERATION_FIELDS = (
    "response_modalities",
    "temperature",
    "top_p",
    "top_k",
    "max_output_tokens",
    "media_resolution",
    "seed",
    "enable_affective_dialog",
)


def _model_name(model: str, vertex: bool, project: str | None, location: str | None) -> str:
    """The SDK's ``t_model`` (plus ``connect``'s Vertex project/location prefix)."""
    if not isinstance(model, str) or not model:
        raise ConfigError("model is required (a model id like 'gemini-live-2.5-flash-preview')")
    if ".." in model or "?" in model or "&" in model:
        raise ConfigError(f"invalid model name {model!r}: it may not contain '..', '?' or '&'")
    if not vertex:
        if model.startswith(("models/", "tunedModels/")):
            return model
        return f"models/{model}"
    if model.startswith(("projects/", "models/", "publishers/")):
        name = model
    elif "/" in model:
        publisher, model_id = model.split("/", 1)
        name = f"publishers/{publisher}/models/{model_id}"
    else:
        name = f"publishers/google/models/{model}"
    if name.startswith("publishers/") and project and location:
        name = f"projects/{project}/locations/{location}/{name}"
    return name


def _config_fields(config: t.LiveConnectConfig | Mapping[str, Any] | None) -> dict[str, Any]:
    """The config's set fields by Python name, from a Struct or a snake/camel dict."""
    if config is None:
        return {}
    if isinstance(config, t.LiveConnectConfig):
        return {
            f.name: getattr(config, f.name)
            for f in msgspec.structs.fields(config)
            if getattr(config, f.name) is not None
        }
    if not isinstance(config, Mapping):
        raise ConfigError(f"config: expected a LiveConnectConfig or a dict, got a {_kind(config)}")
    fields: dict[str, Any] = {}
    for key, value in config.items():
        name = _CONFIG_FIELDS.get(key)
        if name is None:
            raise ConfigError(
                f"config: unknown field {key!r}; LiveConnectConfig has "
                + ", ".join(f.name for f in msgspec.structs.fields(t.LiveConnectConfig))
            )
        if name in fields:
            raise ConfigError(f"config: {name!r} is given twice (snake_case and camelCase)")
        if value is not None:
            fields[name] = value
    return fields


def _speech_config(value: Any, where: str, vertex: bool) -> t.SpeechConfig:
    if isinstance(value, str):
        # The voice name, as the SDK's t_speech_config reads a string.
        voice = t.PrebuiltVoiceConfig(voice_name=value)
        return t.SpeechConfig(voice_config=t.VoiceConfig(prebuilt_voice_config=voice))
    speech = _as(value, t.SpeechConfig, where)
    if speech.multi_speaker_voice_config is not None:
        raise ConfigError(f"{where}.multi_speaker_voice_config is not supported in the live API")
    replicated = speech.voice_config.replicated_voice_config if speech.voice_config else None
    if vertex and replicated is not None:
        for name in ("consent_audio", "voice_consent_signature"):
            if getattr(replicated, name) is not None:
                raise ConfigError(
                    f"{where}.voice_config.replicated_voice_config.{name} {_GEMINI_ONLY}"
                )
    return speech


def _generation_config(fields: dict[str, Any], vertex: bool) -> t.GenerationConfig | None:
    """``generationConfig``: the deprecated ``generation_config`` plus the top-level fields."""
    scalars = {name: fields[name] for name in _SCALAR_GENERATION_FIELDS if name in fields}
    top = codec.convert({}, t.GenerationConfig)
    if scalars:
        top = _as(scalars, t.GenerationConfig, "config")
    if "speech_config" in fields:
        speech = _speech_config(fields["speech_config"], "config.speech_config", vertex)
        top = msgspec.structs.replace(top, speech_config=speech)
    for name, cls in (
        ("thinking_config", t.ThinkingConfig),
        ("translation_config", t.TranslationConfig),
    ):
        if name in fields:
            top = msgspec.structs.replace(top, **{name: _as(fields[name], cls, f"config.{name}")})

    base = fields.get("generation_config")
    if base is None:
        return None if top == t.GenerationConfig() else top
    warnings.warn(
        "LiveConnectConfig.generation_config is deprecated (the SDK removes it after "
        "2026-07-31); set its fields on the config directly",
        DeprecationWarning,
        stacklevel=3,
    )
    merged = _as(base, t.GenerationConfig, "config.generation_config")
    if merged.speech_config is not None:
        _speech_config(merged.speech_config, "config.generation_config.speech_config", vertex)
    if vertex and merged.enable_enhanced_civic_answers is not None:
        raise ConfigError(f"config.generation_config.enable_enhanced_civic_answers {_GEMINI_ONLY}")
    for f in msgspec.structs.fields(top):
        value = getattr(top, f.name)
        if value is None:
            continue
        old = getattr(merged, f.name)
        if old is not None and old != value:
            raise ConfigError(
                f"config.{f.name} ({value!r}) conflicts with config.generation_config."
                f"{f.name} ({old!r}); set it in one place (generation_config is deprecated)"
            )
        merged = msgspec.structs.replace(merged, **{f.name: value})
    return merged


def build_setup(
    model: str,
    config: t.LiveConnectConfig | Mapping[str, Any] | None = None,
    *,
    vertex: bool = False,
    project: str | None = None,
    location: str | None = None,
    oauth: bool = False,
) -> t.LiveClientSetup:
    """The ``setup`` message for ``connect(model=model, config=config)``, as the SDK builds it.

    ``config`` is a :class:`~rawlive.wire.types.LiveConnectConfig` or a dict with
    snake_case or camelCase keys at any level; values may be rawlive Structs
    or dicts. ``vertex`` selects Vertex AI's rules (model
    ``publishers/google/models/...``, prefixed with
    ``projects/{project}/locations/{location}/`` when both are given);
    ``oauth`` says the Vertex session authenticates with OAuth/ADC rather
    than an API key (express mode), where the SDK asks for
    ``responseModalities: ["AUDIO"]`` when none is set.
    ``config.http_options`` concerns the connection and is not part of setup.

    Raises :class:`ConfigError` where the SDK raises (``explicit_vad_signal``
    or ``session_resumption.transparent`` on the Gemini API, a
    multi-speaker voice, fields one backend does not have...).

    Deliberate differences from the SDK: a string ``speech_config`` is taken
    as a voice name (the SDK's pydantic model refuses it); a field set both
    on the config and in the deprecated ``generation_config`` with different
    values raises (the SDK raises for ``temperature``/``seed`` but sends both
    spellings, e.g. ``top_p`` and ``topP``, for the others);
    ``multi_speaker_voice_config`` is refused inside ``generation_config``
    too.
    """
    if oauth and not vertex:
        raise ConfigError("oauth=True is the Vertex AI OAuth path; pass vertex=True with it")
    if (project is not None or location is not None) and not vertex:
        raise ConfigError("project and location are Vertex AI settings; pass vertex=True")
    fields = _config_fields(config)
    setup = t.LiveClientSetup(model=_model_name(model, vertex, project, location))

    generation = _generation_config(fields, vertex)
    if oauth and (generation is None or generation.response_modalities is None):
        base = generation or t.GenerationConfig()
        generation = msgspec.structs.replace(base, response_modalities=[t.Modality.AUDIO.value])
    setup.generation_config = generation

    if "system_instruction" in fields:
        content = _content(fields["system_instruction"], "config.system_instruction")
        _check_content(content, "config.system_instruction", vertex)
        setup.system_instruction = content
    if "tools" in fields:
        setup.tools = _tools(fields["tools"], "config.tools", vertex)
    if "session_resumption" in fields:
        resumption = _as(
            fields["session_resumption"], t.SessionResumptionConfig, "config.session_resumption"
        )
        if not vertex and resumption.transparent is not None:
            raise ConfigError(f"config.session_resumption.transparent {_VERTEX_ONLY}")
        setup.session_resumption = resumption
    for name, cls in (
        ("input_audio_transcription", t.AudioTranscriptionConfig),
        ("output_audio_transcription", t.AudioTranscriptionConfig),
        ("realtime_input_config", t.RealtimeInputConfig),
        ("context_window_compression", t.ContextWindowCompressionConfig),
        ("proactivity", t.ProactivityConfig),
        ("history_config", t.HistoryConfig),
        ("avatar_config", t.AvatarConfig),
    ):
        if name in fields:
            setattr(setup, name, _as(fields[name], cls, f"config.{name}"))
    if "explicit_vad_signal" in fields:
        if not vertex:
            raise ConfigError(f"config.explicit_vad_signal {_VERTEX_ONLY}")
        value = fields["explicit_vad_signal"]
        if not isinstance(value, bool):
            raise ConfigError(f"config.explicit_vad_signal: expected a bool, got a {_kind(value)}")
        setup.explicit_vad_signal = value
    if "safety_settings" in fields:
        settings = fields["safety_settings"]
        if not isinstance(settings, list | tuple):
            raise ConfigError(f"config.safety_settings: expected a list, got a {_kind(settings)}")
        setup.safety_settings = []
        for i, item in enumerate(settings):
            setting = _as(item, t.SafetySetting, f"config.safety_settings[{i}]")
            if not vertex and setting.method is not None:
                raise ConfigError(f"config.safety_settings[{i}].method {_VERTEX_ONLY}")
            setup.safety_settings.append(setting)
    if "labels" in fields:
        try:
            setup.labels = msgspec.convert(fields["labels"], dict[str, str])
        except msgspec.ValidationError as exc:
            raise ConfigError(f"config.labels: expected a dict of strings ({exc})") from None
    return setup


# ---------------------------------------------------------------------------
# realtimeInput
# ---------------------------------------------------------------------------


def _blob(value: Any, where: str) -> t.Blob:
    if isinstance(value, t.Blob):
        # The hot path (a 20 ms audio chunk): check, do not re-validate.
        if value.data is not None and not isinstance(value.data, bytes | bytearray | memoryview):
            raise ConfigError(f"{where}.data: expected bytes, got a {_kind(value.data)}")
        return value
    if not value:
        raise ConfigError(f"{where}: a blob is required (got {value!r})")
    return _as(value, t.Blob, where)


def _media_blob(value: Any, where: str, prefix: str) -> t.Blob:
    blob = _blob(value, where)
    if not (blob.mime_type and blob.mime_type.startswith(prefix)):
        raise ConfigError(
            f"{where}: unsupported mime type {blob.mime_type!r}; {where} takes {prefix}* "
            + ("(e.g. 'audio/pcm;rate=16000')" if prefix == "audio/" else "(e.g. 'image/jpeg')")
        )
    return blob


def realtime_input(
    *,
    media: t.Blob | Mapping[str, Any] | Sequence[t.Blob | Mapping[str, Any]] | None = None,
    audio: t.Blob | Mapping[str, Any] | None = None,
    audio_stream_end: bool | None = None,
    video: t.Blob | Mapping[str, Any] | None = None,
    text: str | None = None,
    activity_start: t.ActivityStart | Mapping[str, Any] | None = None,
    activity_end: t.ActivityEnd | Mapping[str, Any] | None = None,
) -> t.LiveClientRealtimeInput:
    """``realtimeInput`` for ``send_realtime_input(...)``: exactly one argument per message.

    ``audio`` must have an ``audio/*`` MIME type and ``video`` an ``image/*``
    one (a frame), as the SDK checks; ``media`` (deprecated: only the first
    chunk is honoured) becomes ``mediaChunks`` with no check. Blobs may be
    :class:`~rawlive.wire.types.Blob` objects or dicts.
    """
    if (
        type(audio) is t.Blob
        and media is None
        and audio_stream_end is None
        and video is None
        and text is None
        and activity_start is None
        and activity_end is None
    ):
        # The hot path, a streamed audio chunk: the same checks as below, inline.
        mime = audio.mime_type
        if mime is not None and mime.startswith("audio/") and type(audio.data) is bytes:
            return t.LiveClientRealtimeInput(audio=audio)
    given = {
        name: value
        for name, value in (
            ("media", media),
            ("audio", audio),
            ("audio_stream_end", audio_stream_end),
            ("video", video),
            ("text", text),
            ("activity_start", activity_start),
            ("activity_end", activity_end),
        )
        if value is not None
    }
    if len(given) != 1:
        raise ConfigError(
            f"Only one argument can be set, got {len(given)}: {list(given)}; send one "
            "realtime input per call"
        )
    if media is not None:
        chunks = list(media) if isinstance(media, list | tuple) else [media]
        return t.LiveClientRealtimeInput(
            media_chunks=[_blob(c, f"media[{i}]") for i, c in enumerate(chunks)]
        )
    if audio is not None:
        return t.LiveClientRealtimeInput(audio=_media_blob(audio, "audio", "audio/"))
    if video is not None:
        return t.LiveClientRealtimeInput(video=_media_blob(video, "video", "image/"))
    if text is not None:
        if not isinstance(text, str):
            raise ConfigError(f"text: expected a str, got a {_kind(text)}")
        return t.LiveClientRealtimeInput(text=text)
    if audio_stream_end is not None:
        if not isinstance(audio_stream_end, bool):
            raise ConfigError(f"audio_stream_end: expected a bool, got a {_kind(audio_stream_end)}")
        return t.LiveClientRealtimeInput(audio_stream_end=audio_stream_end)
    if activity_start is not None:
        return t.LiveClientRealtimeInput(
            activity_start=_as(activity_start, t.ActivityStart, "activity_start")
        )
    return t.LiveClientRealtimeInput(activity_end=_as(activity_end, t.ActivityEnd, "activity_end"))


# ---------------------------------------------------------------------------
# clientContent, toolResponse, contextUpdate
# ---------------------------------------------------------------------------


def _turn(value: Any, where: str, vertex: bool) -> t.Content:
    if not isinstance(value, t.Content | dict):
        raise ConfigError(
            f"{where}: expected a Content or a dict like "
            f"{{'role': 'user', 'parts': [{{'text': ...}}]}}, got a {_kind(value)}"
            + (" (for text alone, use realtime_input(text=...))" if isinstance(value, str) else "")
        )
    content = _as(value, t.Content, where)
    _check_content(content, where, vertex)
    return content


def client_content(
    turns: t.Content | Mapping[str, Any] | Sequence[t.Content | Mapping[str, Any]] | None = None,
    turn_complete: bool = True,
    *,
    vertex: bool = False,
) -> t.LiveClientContent:
    """``clientContent`` for ``send_client_content(turns=..., turn_complete=...)``.

    ``turns`` is a Content, a dict, or a list of them; roles are kept as
    given (none is added). A plain string is refused, as the SDK refuses it.
    ``turnComplete`` is always sent.
    """
    if not isinstance(turn_complete, bool):
        raise ConfigError(f"turn_complete: expected a bool, got a {_kind(turn_complete)}")
    if turns is None:
        return t.LiveClientContent(turn_complete=turn_complete)
    items = turns if isinstance(turns, list | tuple | str) else [turns]
    return t.LiveClientContent(
        turns=[_turn(item, f"turns[{i}]", vertex) for i, item in enumerate(items)]
        if not isinstance(turns, str)
        else [_turn(turns, "turns", vertex)],
        turn_complete=turn_complete,
    )


def _function_response(value: Any, where: str, vertex: bool) -> t.FunctionResponse:
    if not value:
        raise ConfigError(f"{where}: a function response is required (got {value!r})")
    response = _as(value, t.FunctionResponse, where)
    if not vertex and response.id is None:
        raise ConfigError(f"{where}: {_REQUIRES_ID}")
    if response.response is not None:
        _check_finite(response.response, f"{where}.response")
    return response


def tool_response(
    function_responses: t.FunctionResponse
    | Mapping[str, Any]
    | Sequence[t.FunctionResponse | Mapping[str, Any]],
    *,
    vertex: bool = False,
) -> t.LiveClientToolResponse:
    """``toolResponse`` for ``send_tool_response(function_responses=...)``.

    One response or a list; objects or dicts. On the Gemini API every
    response needs the ``id`` of its call (``vertex=True`` relaxes that, as
    the SDK does on Vertex AI).

    Deliberate difference: a NaN or infinite float in ``response`` raises
    (JSON cannot carry one; the SDK sends the invalid token ``NaN``).
    """
    if not function_responses:
        raise ConfigError("a tool response is required (got an empty value)")
    items = (
        function_responses if isinstance(function_responses, list | tuple) else [function_responses]
    )
    return t.LiveClientToolResponse(
        function_responses=[
            _function_response(item, f"function_responses[{i}]", vertex)
            for i, item in enumerate(items)
        ]
    )


def context_update(
    system_instruction: t.Content | t.Part | str | Mapping[str, Any] | Sequence[Any] | None = None,
    tools: Sequence[Any] | None = None,
    *,
    vertex: bool = False,
) -> t.LiveClientContextUpdate:
    """``contextUpdate`` for ``send_context_update(...)`` (SDK 3.3.0).

    ``system_instruction`` takes what ``connect``'s does; ``tools`` what
    ``config.tools`` does, wrapped as ``{"tools": [...]}`` so that ``[]``
    clears every tool. At least one must be given.
    """
    if system_instruction is None and tools is None:
        raise ConfigError("At least one of `system_instruction` or `tools` must be set.")
    update = t.LiveClientContextUpdate()
    if system_instruction is not None:
        content = _content(system_instruction, "system_instruction")
        _check_content(content, "system_instruction", vertex)
        update.system_instruction = content
    if tools is not None:
        update.tools = t.LiveClientContextUpdateTools(tools=_tools(tools, "tools", vertex))
    return update


# ---------------------------------------------------------------------------
# The deprecated send(input=..., end_of_turn=...)
# ---------------------------------------------------------------------------

LegacyMessage = t.LiveClientContent | t.LiveClientRealtimeInput | t.LiveClientToolResponse


def _unsupported(value: Any) -> ConfigError:
    return ConfigError(
        f"send() does not take a {_kind(value)} ({value!r}); use client_content, "
        "realtime_input or tool_response instead"
    )


def _legacy_function_response(value: Any, where: str, vertex: bool) -> t.FunctionResponse:
    # The SDK keeps only name, response and a non-empty id on this path.
    full = _as(value, t.FunctionResponse, where)
    if not vertex and full.id is None:
        raise ConfigError(f"{where}: {_REQUIRES_ID}")
    if full.response is not None:
        _check_finite(full.response, f"{where}.response")
    return t.FunctionResponse(id=full.id or None, name=full.name, response=full.response)


def _is_blob_like(value: Any) -> bool:
    return isinstance(value, t.Blob) or (isinstance(value, dict) and "data" in value)


def _is_function_response_dict(value: Any) -> bool:
    return isinstance(value, dict) and "name" in value and "response" in value


def legacy_send(
    input: Any = None,  # the SDK's parameter name
    end_of_turn: bool | None = False,
    *,
    vertex: bool = False,
) -> LegacyMessage:
    """The message the SDK's deprecated ``session.send(input=..., end_of_turn=...)`` sends.

    Mirrors ``AsyncSession._parse_client_message``: no input is an empty
    ``turnComplete: true``; text (a str or a list of str and parts) is a user
    turn completed by ``end_of_turn``; a blob (object or dict with ``data``)
    is a ``mediaChunks`` realtime input; a function response (object or dict
    with ``name`` and ``response``) a tool response; a
    :class:`~rawlive.wire.types.LiveClientContent`,
    :class:`~rawlive.wire.types.LiveClientRealtimeInput` (its ``media_chunks``)
    or :class:`~rawlive.wire.types.LiveClientToolResponse`, or a dict with
    ``turns``/``content``, ``media_chunks`` or ``function_responses``, is
    sent as that message. A Content object is refused, as the SDK refuses it.
    New code should call the specific builders instead.
    """
    if not input:
        return t.LiveClientContent(turn_complete=True)
    items: Any = input
    if (
        isinstance(input, str)
        or (isinstance(input, dict) and "data" in input)
        or isinstance(input, t.Blob)
        or _is_function_response_dict(input)
    ):
        items = [input]

    if isinstance(items, list | tuple):
        if any(_is_function_response_dict(item) for item in items):
            return t.LiveClientToolResponse(
                function_responses=[
                    _legacy_function_response(item, f"input[{i}]", vertex)
                    for i, item in enumerate(items)
                    if isinstance(item, dict)
                ]
            )
        if any(isinstance(item, str) for item in items):
            parts = [
                _part(item, f"input[{i}]")
                for i, item in enumerate(items)
                if isinstance(item, str | t.Part)
            ]
            turns: list[t.Content] = []
            for part in parts:  # consecutive user parts share a turn, as t_contents does
                role = "model" if part.function_call else "user"
                if turns and turns[-1].role == role and turns[-1].parts is not None:
                    turns[-1].parts.append(part)
                else:
                    turns.append(t.Content(parts=[part], role=role))
            complete = bool(end_of_turn) if end_of_turn is not None else None
            return t.LiveClientContent(turns=turns, turn_complete=complete)
        if any(
            (isinstance(item, dict) and "data" in item) or isinstance(item, t.Blob)
            for item in items
        ):
            return t.LiveClientRealtimeInput(
                media_chunks=[_blob(item, f"input[{i}]") for i, item in enumerate(items)]
            )
        raise _unsupported(input)
    if isinstance(items, dict):
        if "content" in items or "turns" in items:
            turns_value = items["turns"] if "turns" in items else items["content"]
            complete = items.get("turn_complete", items.get("turnComplete"))
            content = client_content(turns_value, vertex=vertex)
            content.turn_complete = complete
            return content
        if "media_chunks" in items or "mediaChunks" in items:
            chunks = _as(items, t.LiveClientRealtimeInput, "input")
            return t.LiveClientRealtimeInput(media_chunks=chunks.media_chunks)
        if "function_responses" in items or "functionResponses" in items:
            return _as(items, t.LiveClientToolResponse, "input")
        raise _unsupported(input)
    if isinstance(items, t.LiveClientRealtimeInput):
        chunks = _as(items, t.LiveClientRealtimeInput, "input")
        return t.LiveClientRealtimeInput(media_chunks=chunks.media_chunks)
    if isinstance(items, t.LiveClientContent):
        return _as(items, t.LiveClientContent, "input")
    if isinstance(items, t.LiveClientToolResponse):
        message = _as(items, t.LiveClientToolResponse, "input")
        responses = message.function_responses or []
        if not vertex and responses and not responses[0].id:
            raise ConfigError(f"input.function_responses[0]: {_REQUIRES_ID}")
        return message
    if isinstance(items, t.FunctionResponse):
        return t.LiveClientToolResponse(
            function_responses=[_legacy_function_response(items, "input", vertex)]
        )
    raise _unsupported(input)
