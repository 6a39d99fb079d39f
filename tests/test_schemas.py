"""The committed JSON Schemas (``schemas/``) match the types, and describe real messages."""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rawlive.tools import schema
from rawlive.wire import codec
from rawlive.wire import types as t

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "schemas"
SERVER_VECTORS = Path(__file__).parent / "data" / "conformance" / "server"


@pytest.mark.parametrize("name", sorted(schema.SCHEMA_FILES))
def test_committed_schema_matches_the_types(name: str) -> None:
    path = COMMITTED / name
    assert path.is_file(), f"schemas/{name} is missing: run `make schemas`"
    assert path.read_text(encoding="utf-8") == schema.schemas()[name], (
        f"schemas/{name} is out of date with rawlive/types.py: run `make schemas`"
    )


def _indented(text: str) -> str:
    """A docstring as written in a class body (what msgspec 0.19 copies as is)."""
    first, *rest = text.split("\n")
    return "\n".join([first, *("    " + line if line else "" for line in rest)]) + "\n    "


def _dedented_with_newline(text: str) -> str:
    """A docstring as Python 3.13 compiles it: dedented, its last newline kept."""
    return text + "\n" if "\n" in text else text


def _texts(node: Any, where: str = "") -> Iterator[tuple[str, str]]:
    """(path, text) of every title and description in a schema document."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in ("title", "description") and isinstance(value, str):
                yield f"{where}/{key}", value
            elif key not in ("examples", "default", "const", "enum"):
                yield from _texts(value, f"{where}/{key}")
    elif isinstance(node, list):
        for i, item in enumerate(node):
            yield from _texts(item, f"{where}/{i}")


def _reshaped(node: Any, text: Callable[[str], str]) -> Any:
    """``node``, its titles and descriptions cleaned then passed through ``text``, nulls first."""
    if isinstance(node, tuple):
        return tuple(_reshaped(item, text) for item in node)
    if isinstance(node, list):
        return [_reshaped(item, text) for item in node]
    if not isinstance(node, dict):
        return node
    out = {}
    for key, value in node.items():
        if key in ("title", "description") and isinstance(value, str):
            out[key] = text(inspect.cleandoc(value))  # from the clean form, whatever msgspec gave
        elif key in ("properties", "$defs"):  # names (a field may be called anyOf) -> schemas
            out[key] = {name: _reshaped(sub, text) for name, sub in value.items()}
        elif key == "anyOf":
            members = _reshaped(value, text)
            out[key] = sorted(members, key=lambda m: m != {"type": "null"})
        elif key in ("examples", "default", "const", "enum"):
            out[key] = value
        else:
            out[key] = _reshaped(value, text)
    return out


@pytest.mark.parametrize(
    "text",
    [_indented, _dedented_with_newline, lambda s: "\n    " + _indented(s)],
    ids=["indented-msgspec-0.19", "python-3.13", "opening-line-empty"],
)
def test_output_does_not_depend_on_how_msgspec_renders_docstrings(
    monkeypatch: pytest.MonkeyPatch, text: Callable[[str], str]
) -> None:
    # What another msgspec or Python hands the generator: the same schema with
    # its docstrings kept indented (or not) and an optional's null listed first.
    expected = schema.schemas()
    real = msgspec.json.schema_components
    changed: list[bool] = []

    def other_msgspec(*args: Any, **kwargs: Any) -> Any:
        given = real(*args, **kwargs)
        reshaped = _reshaped(given, text)
        changed.append(reshaped != given)
        return reshaped

    monkeypatch.setattr(msgspec.json, "schema_components", other_msgspec)
    assert schema.schemas() == expected
    assert changed == [True] * len(schema.SCHEMA_FILES)  # each went through the reshaping


def test_every_title_and_description_is_clean_and_every_null_last() -> None:
    multi_line = 0
    for name, text in schema.schemas().items():
        document = json.loads(text)
        for where, value in _texts(document):
            assert value == inspect.cleandoc(value), f"{name}: {where} is not cleaned"
            assert value == value.strip(), f"{name}: {where} starts or ends with white space"
            assert "  \n" not in value, f"{name}: {where} has a line ending in spaces"
            multi_line += "\n" in value
        assert '{"type": "null"}, ' not in json.dumps(document), f"{name}: a null before a type"
    assert multi_line > 10  # the docstrings of several paragraphs are there


def test_main_writes_every_schema_file(tmp_path: Path) -> None:
    assert schema.main([str(tmp_path / "out")]) == 0
    written = {p.name: p.read_text(encoding="utf-8") for p in (tmp_path / "out").iterdir()}
    assert written == schema.schemas()


def test_main_without_an_outdir_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert schema.main([]) == 2
    assert "usage: python -m rawlive.tools.schema OUTDIR" in capsys.readouterr().err


def test_rendering_is_stable_sorted_and_ends_with_a_newline() -> None:
    texts = schema.schemas()
    assert texts == schema.schemas()
    for text in texts.values():
        assert text.endswith("}\n") and not text.endswith("\n\n")
        document = json.loads(text)
        assert schema.render(document) == text  # already in sorted, indented form


def test_durations_are_strings_with_the_protobuf_pattern() -> None:
    document = json.loads(schema.schemas()["server-messages.schema.json"])
    time_left = document["$defs"]["LiveServerGoAway"]["properties"]["timeLeft"]
    (duration,) = [s for s in time_left["anyOf"] if s.get("type") != "null"]
    assert duration["type"] == "string"
    assert duration["pattern"] == schema.DURATION_PATTERN


def test_roots_refer_to_the_message_types_with_wire_names() -> None:
    client = json.loads(schema.schemas()["client-messages.schema.json"])
    server = json.loads(schema.schemas()["server-messages.schema.json"])
    assert client["$ref"] == "#/$defs/LiveClientMessage"
    assert server["$ref"] == "#/$defs/LiveServerMessage"
    assert set(client["$defs"]["LiveClientMessage"]["properties"]) == {
        "setup",
        "clientContent",
        "realtimeInput",
        "toolResponse",
        "contextUpdate",
    }
    assert "voiceActivityDetectionSignal" in server["$defs"]["LiveServerMessage"]["properties"]


def _vector_wire(case: str) -> Any:
    return json.loads((SERVER_VECTORS / f"{case}.text.json").read_text())["wire"]


CLIENT_MESSAGES: list[Any] = [
    {"setup": {"model": "models/gemini-2.5-flash-native-audio-preview-09-2025"}},
    json.loads(
        codec.encode_client_message(
            t.LiveClientSetup(
                model="models/m",
                generation_config=t.GenerationConfig(
                    response_modalities=[t.Modality.AUDIO], temperature=0.7, top_k=40.0
                ),
                tools=[
                    t.Tool(
                        function_declarations=[
                            t.FunctionDeclaration(
                                name="f",
                                parameters=t.Schema(
                                    type="OBJECT", properties={"room": t.Schema(type="STRING")}
                                ),
                            )
                        ]
                    )
                ],
                session_resumption=t.SessionResumptionConfig(handle="h"),
            )
        )
    ),
    {"realtimeInput": {"audio": {"data": "+//+AAE+Pw==", "mimeType": "audio/pcm;rate=16000"}}},
    {
        "clientContent": {
            "turns": [{"parts": [{"text": "Hi"}], "role": "user"}],
            "turnComplete": True,
        }
    },
    {"toolResponse": {"functionResponses": [{"id": "fc-1", "name": "f", "response": {"ok": 1}}]}},
]

SERVER_MESSAGES: list[Any] = [
    _vector_wire(case)
    for case in (
        "setup_complete_session_id",
        "server_content_everything",
        "server_content_with_usage_metadata",
        "server_content_grounding_metadata",
        "tool_call_single",
        "go_away",
        "voice_activity_detection_signal",
        "session_resumption_update",
    )
] + [{"voiceActivity": {"type": "ACTIVITY_START", "audioOffset": "1.500s"}}]


def _validator(name: str) -> Any:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed (rawlive does not depend on it)"
    )
    document = json.loads(schema.schemas()[name])
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


@pytest.mark.parametrize("message", CLIENT_MESSAGES)
def test_real_client_messages_validate(message: Any) -> None:
    _validator("client-messages.schema.json").validate(message)


@pytest.mark.parametrize("message", SERVER_MESSAGES)
def test_real_server_messages_validate(message: Any) -> None:
    _validator("server-messages.schema.json").validate(message)


@pytest.mark.parametrize(
    "message",
    [
        {"goAway": {"timeLeft": "ten seconds"}},
        {"serverContent": {"turnComplete": "maybe"}},
        {"toolCall": {"functionCalls": {"id": "not-a-list"}}},
    ],
)
def test_invalid_server_messages_do_not_validate(message: Any) -> None:
    validator = _validator("server-messages.schema.json")
    assert not validator.is_valid(message)
