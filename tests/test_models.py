"""The one table of Live models (rawlive.core.models)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from rawlive.core import models
from rawlive.wire import codec
from rawlive.wire import types as t


@pytest.mark.parametrize(
    "spelling",
    [
        "gemini-3.1-flash-live-preview",
        "models/gemini-3.1-flash-live-preview",
        "projects/p/locations/us-central1/publishers/google/models/gemini-3.1-flash-live-preview",
        "publishers/google/models/gemini-3.1-flash-live-preview",
    ],
)
def test_a_model_is_found_in_every_spelling(spelling: str) -> None:
    assert models.find(spelling) is models.MODELS["gemini-3.1-flash-live-preview"]


def test_unknown_models_and_extra_rows() -> None:
    assert models.find("models/nope") is None and models.find(None) is None
    extra = {"nope": models.Model("nope", native_audio=False)}
    assert models.find("models/nope", extra) is extra["nope"]


def test_native_audio_models_take_audio_only() -> None:
    native = models.MODELS["gemini-2.5-flash-native-audio-preview-12-2025"]
    assert native.accepts_modalities(["AUDIO"]) and native.accepts_modalities(None)
    assert not native.accepts_modalities(["TEXT"])
    assert not native.accepts_modalities(["AUDIO", "TEXT"])
    half_cascade = models.MODELS["gemini-live-2.5-flash-preview"]
    assert half_cascade.accepts_modalities(["TEXT"])


def test_every_native_audio_row_takes_only_audio() -> None:
    for row in models.MODELS.values():
        assert row.id == models.model_id(row.id)
        assert ("AUDIO" in row.modalities and "TEXT" not in row.modalities) == row.native_audio, (
            row.id
        )


def test_clientcontent_rule_of_31() -> None:
    assert (
        models.MODELS["gemini-3.1-flash-live-preview"].client_content
        is models.ClientContent.HISTORY_ONLY
    )
    assert models.MODELS["gemini-live-2.5-flash"].client_content is models.ClientContent.ANYTIME


def test_a_row_names_the_first_rejected_field_present() -> None:
    row = models.Model(
        "m",
        native_audio=True,
        rejects=(
            models.Rejection("generationConfig.thinkingConfig"),
            models.Rejection("generationConfig.enableAffectiveDialog", 1008, "no"),
        ),
    )
    found = row.rejection(["model", "generationConfig.enableAffectiveDialog"])
    assert found is not None and (found.code, found.reason) == (1008, "no")
    assert row.rejection(["model"]) is None


def test_blocking_default() -> None:
    row = models.MODELS["gemini-live-2.5-flash"]
    assert row.blocking(None) and row.blocking("BLOCKING") and not row.blocking("NON_BLOCKING")
    later = models.Model("later", native_audio=True, default_behavior="NON_BLOCKING")
    assert not later.blocking(None) and later.blocking("BLOCKING")


def _setup(model: str, **fields: Any) -> t.LiveClientSetup:
    return codec.decode_client_message(
        msgspec.json.encode({"setup": {"model": model, **fields}})
    ).setup  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("model", "fields", "refused"),
    [
        # PROTOCOL.md §10.3: what 3.8 refuses, and what it takes.
        (
            "gemini-3.8-live",
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "LOW"}}},
            "generationConfig.thinkingConfig",
        ),
        (
            "gemini-3.8-live",
            {"generationConfig": {"enableAffectiveDialog": True}},
            "generationConfig.enableAffectiveDialog",
        ),
        (
            "gemini-3.8-live",
            {"proactivity": {"proactiveAudio": False}},
            "proactivity.proactiveAudio",
        ),
        ("gemini-3.8-live", {"proactivity": {"proactiveAudio": True}}, None),
        ("gemini-3.8-live", {"tools": [{"codeExecution": {}}]}, "tools.codeExecution"),
        ("gemini-3.8-live", {"tools": [{"googleSearch": {}}]}, None),
        (
            "gemini-3.8-live",
            {"generationConfig": {"responseModalities": ["TEXT"]}},
            "generationConfig.responseModalities",
        ),
        # Extended thinking: LOW/MEDIUM/HIGH only, no BLOCKING declaration.
        (
            "gemini-3.8-live-extended-thinking",
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "HIGH"}}},
            None,
        ),
        (
            "gemini-3.8-live-extended-thinking",
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}},
            "generationConfig.thinkingConfig.thinkingLevel",
        ),
        (
            "gemini-3.8-live-extended-thinking",
            {
                "tools": [
                    {"functionDeclarations": [{"name": "a"}, {"name": "b", "behavior": "BLOCKING"}]}
                ]
            },
            "tools.functionDeclarations.behavior",
        ),
        (
            "gemini-3.8-live-extended-thinking",
            {"tools": [{"functionDeclarations": [{"name": "a", "behavior": "NON_BLOCKING"}]}]},
            None,
        ),
        # Transcribe Live: TEXT required.
        (
            "gemini-3.5-transcribe-live",
            {"generationConfig": {"responseModalities": ["TEXT"]}},
            None,
        ),
        ("gemini-3.5-transcribe-live", {}, "generationConfig.responseModalities"),
        (
            "gemini-3.5-transcribe-live",
            {"generationConfig": {"responseModalities": ["AUDIO"]}},
            "generationConfig.responseModalities",
        ),
        # Translation: translationConfig required, no tools or system instruction.
        (
            "gemini-3.5-live-translate-preview",
            {"generationConfig": {"translationConfig": {"targetLanguageCode": "pl"}}},
            None,
        ),
        ("gemini-3.5-live-translate-preview", {}, "generationConfig.translationConfig"),
        (
            "gemini-3.5-live-translate-preview",
            {
                "generationConfig": {"translationConfig": {"targetLanguageCode": "pl"}},
                "systemInstruction": {"parts": [{"text": "x"}]},
            },
            "systemInstruction",
        ),
        # An old model is judged as before.
        (
            "gemini-3.1-flash-live-preview",
            {"generationConfig": {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}},
            None,
        ),
    ],
)
def test_what_each_model_refuses(model: str, fields: dict[str, Any], refused: str | None) -> None:
    row = models.MODELS[model]
    found = row.refusal(_setup(f"models/{model}", **fields))
    assert (found and found.field) == refused
    if found is not None:
        assert found.code == 1007 and found.reason


def test_the_avatar_is_vertex_only_asked_alone_and_needs_its_config() -> None:
    row = models.MODELS["gemini-3.8-live"]
    video = {"generationConfig": {"responseModalities": ["VIDEO"]}}
    with_config = {**video, "avatarConfig": {"avatarName": "Kira"}}
    assert row.refusal(_setup("m", **with_config), "vertex") is None
    assert row.refusal(_setup("m", **with_config), "gemini") is not None
    missing = row.refusal(_setup("m", **video), "vertex")
    assert missing is not None and missing.reason == "Avatar config is required for avatar mode"
    both = {"generationConfig": {"responseModalities": ["AUDIO", "VIDEO"]}, "avatarConfig": {}}
    assert row.refusal(_setup("m", **both), "vertex") is not None
    # On the Gemini API the modality is refused; the avatar's config is not asked for too.
    (on_gemini,) = row.problems(_setup("m", **video), "gemini")
    assert on_gemini.field == "generationConfig.responseModalities"


def test_every_inferred_close_names_its_source() -> None:
    for row in models.MODELS.values():
        for rejection in row.rejects:
            assert rejection.source, (row.id, rejection.field)


def test_ids_are_found_case_insensitively_and_the_recommended_model_is_a_stable_row() -> None:
    assert models.find("models/Gemini-3.8-Live") is models.MODELS["gemini-3.8-live"]
    assert models.MODELS[models.RECOMMENDED].status == "stable"


def test_setup_values_walk_lists() -> None:
    setup = _setup(
        "m",
        tools=[
            {"functionDeclarations": [{"name": "a", "behavior": "BLOCKING"}, {"name": "b"}]},
            {"googleSearch": {}},
        ],
    )
    assert models.setup_values(setup, "tools.functionDeclarations.behavior") == ["BLOCKING"]
    assert models.setup_values(setup, "tools.functionDeclarations.name") == ["a", "b"]
    assert models.setup_values(setup, "nope.nothing") == []


@pytest.mark.parametrize(
    ("model", "frame", "refused"),
    [
        # PROTOCOL.md §10.2: Transcribe Live and the translation model take audio only.
        ("gemini-3.5-transcribe-live", {"realtimeInput": {"text": "hi"}}, "text"),
        (
            "gemini-3.5-transcribe-live",
            {"realtimeInput": {"video": {"data": "AAAA", "mimeType": "image/jpeg"}}},
            "video",
        ),
        (
            "gemini-3.5-live-translate-preview",
            {"realtimeInput": {"mediaChunks": [{"data": "AAAA", "mimeType": "image/png"}]}},
            "video",
        ),
        (
            "gemini-3.5-live-translate-preview",
            {"clientContent": {"turns": [{"role": "user", "parts": [{"text": "x"}]}]}},
            "text",
        ),
        (
            "gemini-3.5-transcribe-live",
            {"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/pcm;rate=16000"}}},
            None,
        ),
        ("gemini-3.5-transcribe-live", {"realtimeInput": {"activityEnd": {}}}, None),
        ("gemini-3.5-transcribe-live", {"clientContent": {"turnComplete": True}}, "text"),
        ("gemini-3.5-transcribe-live", {"realtimeInput": {"audioStreamEnd": True}}, None),
        # A conversation model takes them all.
        ("gemini-3.8-live", {"realtimeInput": {"text": "hi"}}, None),
        ("gemini-3.1-flash-live-preview", {"realtimeInput": {"text": "hi"}}, None),
    ],
)
def test_the_input_kinds_a_model_takes(
    model: str, frame: dict[str, Any], refused: str | None
) -> None:
    message = codec.decode_client_message(msgspec.json.encode(frame))
    assert models.MODELS[model].refused_input(message) == refused


@pytest.mark.parametrize(
    ("model", "asked", "coverage"),
    [
        # PROTOCOL.md §10.2, §10.15.2: 3.8's default takes all video; §2.1: 2.5's only activity.
        ("gemini-3.8-live", None, "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"),
        ("gemini-3.8-live-extended-thinking", None, "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"),
        (
            "gemini-3.8-live",
            "TURN_COVERAGE_UNSPECIFIED",
            "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
        ),
        ("gemini-3.8-live", "TURN_INCLUDES_ONLY_ACTIVITY", "TURN_INCLUDES_ONLY_ACTIVITY"),
        ("gemini-live-2.5-flash", None, "TURN_INCLUDES_ONLY_ACTIVITY"),
        ("gemini-live-2.5-flash", "TURN_INCLUDES_ALL_INPUT", "TURN_INCLUDES_ALL_INPUT"),
    ],
)
def test_the_turn_coverage_is_the_setups_else_the_models_default(
    model: str, asked: str | None, coverage: str
) -> None:
    fields = {"realtimeInputConfig": {"turnCoverage": asked}} if asked else {}
    assert models.turn_coverage(_setup(model, **fields), models.MODELS[model]) == coverage


def test_what_a_turn_includes_outside_activity_follows_its_coverage() -> None:
    cases = {
        "TURN_INCLUDES_ONLY_ACTIVITY": {"audio": False, "video": False, "text": False},
        "TURN_INCLUDES_ALL_INPUT": {"audio": True, "video": True, "text": True},
        "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO": {
            "audio": False,
            "video": True,
            "text": False,
        },
    }
    for coverage, outside in cases.items():
        for kind, included in outside.items():
            assert models.turn_includes(coverage, kind, in_activity=False) is included
            assert models.turn_includes(coverage, kind, in_activity=True)
