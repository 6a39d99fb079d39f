"""The one table of Live models (rawlive.core.models)."""

from __future__ import annotations

import pytest

from rawlive.core import models


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
        assert (row.modalities == {"AUDIO"}) == row.native_audio, row.id


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
