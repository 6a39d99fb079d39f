"""What each Live model accepts, rejects and defaults to: one row per model.

The emulator validates a setup with :func:`find`, the audit judges a session
by its model's row and the client warns from it; a new model is a new row of
:data:`MODELS`. Facts come from ``PROTOCOL.md`` (§2.1, §5.3, §8.6-§8.7, §10);
where a close is only inferred there, the row says so in its reason.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable

__all__ = [
    "MODELS",
    "ClientContent",
    "Model",
    "Rejection",
    "find",
    "model_id",
]


class ClientContent(enum.Enum):
    """When a model takes ``clientContent`` (``PROTOCOL.md`` §2.2, §8.6, §10.4)."""

    #: At any time; it interrupts a reply.
    ANYTIME = "anytime"
    #: Only to seed history, before the first turn, and only with
    #: ``historyConfig.initialHistoryInClientContent`` (3.1); later is closed with 1007.
    HISTORY_ONLY = "history-only"


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A setup field a model refuses, and how the server closes on it."""

    #: The field as a path of wire names under ``setup`` (``generationConfig.thinkingConfig``).
    field: str
    code: int = 1007
    reason: str = "Request contains an invalid argument."


@dataclasses.dataclass(frozen=True)
class Model:
    """One Live model: what its setup may hold and how its sessions behave."""

    id: str
    #: Answers in audio only (``responseModalities: ["TEXT"]`` is closed with 1007).
    native_audio: bool
    #: The response modalities the model takes (an empty list asks for text).
    modalities: frozenset[str] = frozenset({"AUDIO", "TEXT"})
    #: Setup fields the model refuses.
    rejects: tuple[Rejection, ...] = ()
    #: The ``behavior`` of a function declaration that gives none.
    default_behavior: str = "BLOCKING"
    client_content: ClientContent = ClientContent.ANYTIME

    def accepts_modalities(self, modalities: Iterable[str] | None) -> bool:
        """Whether ``responseModalities`` may be ``modalities`` (empty or ``None``: the default)."""
        return not modalities or set(modalities) <= self.modalities

    def rejection(self, fields: Iterable[str]) -> Rejection | None:
        """The first of the model's rejections among ``fields`` (wire paths present in a setup)."""
        present = set(fields)
        return next((r for r in self.rejects if r.field in present), None)

    def blocking(self, behavior: str | None) -> bool:
        """Whether a function declared with ``behavior`` blocks the conversation."""
        return (behavior or self.default_behavior) not in ("NON_BLOCKING",)


#: Every Live model rawlive knows, by bare id. PROTOCOL.md §2.1.1, §8.6-§8.7.
MODELS: dict[str, Model] = {
    m.id: m
    for m in (
        Model(
            "gemini-3.1-flash-live-preview",
            native_audio=True,
            modalities=frozenset({"AUDIO"}),
            client_content=ClientContent.HISTORY_ONLY,
        ),
        Model(
            "gemini-2.5-flash-native-audio-preview-12-2025",
            native_audio=True,
            modalities=frozenset({"AUDIO"}),
        ),
        Model(
            "gemini-2.5-flash-native-audio-preview-09-2025",
            native_audio=True,
            modalities=frozenset({"AUDIO"}),
        ),
        Model(
            "gemini-live-2.5-flash-native-audio",
            native_audio=True,
            modalities=frozenset({"AUDIO"}),
        ),
        Model("gemini-live-2.5-flash-preview", native_audio=False),
        Model("gemini-live-2.5-flash", native_audio=False),
        Model("gemini-2.0-flash-live-001", native_audio=False),
    )
}


def model_id(model: str) -> str:
    """The bare id of ``models/<id>`` or of a Vertex model path (``.../models/<id>``)."""
    return model.rsplit("/", 1)[-1]


def find(model: str | None, extra: dict[str, Model] | None = None) -> Model | None:
    """The row of ``model`` in any of its spellings (``None`` when unknown)."""
    if not model:
        return None
    bare = model_id(model)
    if extra and bare in extra:
        return extra[bare]
    return MODELS.get(bare)
