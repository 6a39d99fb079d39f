"""What each Live model accepts, rejects and defaults to: one row per model.

The emulator validates a setup with :meth:`Model.refusal`, the audit judges
a session by its model's row and the client warns from
:meth:`Model.problems`; a new model is a new row of :data:`MODELS`. Facts
come from ``PROTOCOL.md`` (§2.1, §5.3, §8.6-§8.7, §10); where §10 marks a
close as inferred, the :class:`Rejection` says so (``inferred=True``) and
names its source.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import msgspec

if TYPE_CHECKING:
    from rawlive.wire import types as t

__all__ = [
    "MODELS",
    "RECOMMENDED",
    "ClientContent",
    "Kind",
    "Model",
    "Rejection",
    "find",
    "interaction_complete",
    "model_id",
    "rows",
    "setup_values",
    "turn_coverage",
    "turn_includes",
]

Backend = Literal["gemini", "vertex"]

#: The close the real server gives an argument it refuses (``PROTOCOL.md`` §5.3).
INVALID_ARGUMENT = "Request contains an invalid argument."


class ClientContent(enum.Enum):
    """When a model takes ``clientContent`` (``PROTOCOL.md`` §2.2, §8.6, §10.4)."""

    #: At any time; it interrupts a reply.
    ANYTIME = "anytime"
    #: Only to seed history, before the first turn, and only with
    #: ``historyConfig.initialHistoryInClientContent`` (3.1); later is closed with 1007.
    HISTORY_ONLY = "history-only"


class Kind(enum.Enum):
    """What a model does with a session (``PROTOCOL.md`` §10.2)."""

    #: A conversation: the user speaks, the model answers.
    CONVERSATION = "conversation"
    #: Speech to text: interim and final input transcriptions, no model turn (§10.8).
    TRANSCRIBE = "transcribe"
    #: Speech to translated speech, with both transcriptions (§10.9).
    TRANSLATE = "translate"


#: ``Rejection.value`` for "refused whatever its value".
PRESENT: Any = object()


@dataclasses.dataclass(frozen=True)
class Rejection:
    """A setup field a model refuses (or requires), and how the server closes on it.

    By default the field is refused whenever present; ``value`` refuses one
    value only (``proactivity.proactiveAudio: false``), ``allowed`` refuses
    every value outside a set (``thinkingLevel`` on extended thinking) and
    ``missing`` refuses a setup *without* the field (``translationConfig`` on
    the translation model).
    """

    #: The field as a path of wire names under ``setup``
    #: (``generationConfig.thinkingConfig``); list items are walked through
    #: (``tools.functionDeclarations.behavior``).
    field: str
    code: int = 1007
    reason: str = INVALID_ARGUMENT
    value: Any = PRESENT
    allowed: frozenset[str] | None = None
    missing: bool = False
    #: ``PROTOCOL.md`` gives no code or text for this close: rawlive's choice (§10.16).
    inferred: bool = False
    #: Where the fact comes from (a ``PROTOCOL.md`` section and its source tag).
    source: str = ""
    #: The backends whose servers refuse it (both unless narrowed).
    backends: frozenset[str] = frozenset({"gemini", "vertex"})

    def refuses(self, values: list[Any]) -> bool:
        """Whether a setup whose ``field`` holds ``values`` (empty: absent) is refused."""
        if self.missing:
            return not values
        if not values:
            return False
        if self.allowed is not None:
            return any(v not in self.allowed for v in values)
        if self.value is PRESENT:
            return True
        return any(v == self.value for v in values)

    def describe(self) -> str:
        """The rejection in words: the field and the condition."""
        if self.missing:
            return f"{self.field} missing"
        if self.allowed is not None:
            return f"{self.field} not in {', '.join(sorted(self.allowed))}"
        if self.value is not PRESENT:
            return f"{self.field}: {msgspec.json.encode(self.value).decode()}"
        return self.field


def setup_values(setup: t.LiveClientSetup | dict[str, Any], path: str) -> list[Any]:
    """Every value at ``path`` (wire names, dots) in a setup, walking through lists.

    ``tools.functionDeclarations.behavior`` gives the behaviour of every
    declaration that has one; a path not present gives ``[]``.
    """
    root = setup if isinstance(setup, dict) else msgspec.to_builtins(setup)
    found: list[Any] = [root]
    for key in path.split("."):
        found = [
            item[key]
            for node in found
            for item in (node if isinstance(node, list) else [node])
            if isinstance(item, dict) and key in item
        ]
    return [value for node in found for value in (node if isinstance(node, list) else [node])]


@dataclasses.dataclass(frozen=True)
class Model:
    """One Live model: what its setup may hold and how its sessions behave."""

    id: str
    #: Answers in audio only (``responseModalities: ["TEXT"]`` is closed with 1007).
    native_audio: bool
    #: The response modalities the model takes (an empty list asks for text).
    modalities: frozenset[str] = frozenset({"AUDIO", "TEXT"})
    #: Setup fields the model refuses (or requires).
    rejects: tuple[Rejection, ...] = ()
    #: The ``behavior`` of a function declaration that gives none.
    default_behavior: str = "BLOCKING"
    client_content: ClientContent = ClientContent.ANYTIME
    #: Every ``clientContent`` turn needs one of these roles (§10.4); ``None``: any or none.
    content_roles: frozenset[str] | None = None
    kind: Kind = Kind.CONVERSATION
    #: ``stable``, ``preview`` or ``legacy`` (§10.1).
    status: str = "preview"
    #: The APIs that serve it (a Vertex-only preview id is not on the Gemini API).
    backends: frozenset[str] = frozenset({"gemini", "vertex"})
    #: What the user may send in ``realtimeInput``.
    inputs: frozenset[str] = frozenset({"audio", "video", "text"})
    #: ``serverContent.interactionStatus`` on every ``turnComplete`` (§10.6).
    interaction_status: bool = False
    #: A short spoken filler turn while a tool runs (§10.7).
    fillers: bool = False
    #: A ``BLOCKING`` call still unanswered is cancelled when new input arrives (§10.5).
    cancels_blocking_on_input: bool = False
    #: ``scheduling: INTERRUPT`` waits for the user to finish speaking (§10.5).
    polite_interrupt: bool = False
    #: With a ``NON_BLOCKING`` call open, the model waits for its result before answering (§10.5).
    waits_for_tool_results: bool = False
    #: Proactive audio is always on (``proactiveAudio: false`` is refused).
    proactive_audio: bool = False
    #: ``responseModalities: ["VIDEO"]`` with ``avatarConfig`` gives a live avatar (Vertex).
    avatar: bool = False
    #: ``realtimeInputConfig.turnCoverage`` when the setup gives none.
    default_turn_coverage: str = "TURN_INCLUDES_ONLY_ACTIVITY"
    #: The model's own limit on a session, in seconds (``None``: the generic limits, §6).
    session_limit: float | None = None
    #: Input tokens of the context window (``None``: not documented).
    context_window: int | None = None
    #: Where the row's facts come from.
    source: str = ""

    def accepts_modalities(self, modalities: Iterable[str] | None) -> bool:
        """Whether ``responseModalities`` may be ``modalities`` (empty or ``None``: the default)."""
        if not modalities:
            return True
        asked = set(modalities)
        if not asked <= self.modalities:
            return False
        # VIDEO (the avatar) is asked alone: audio is muxed into it (§10.10).
        return not ("VIDEO" in asked and len(asked) > 1)

    def rejection(self, fields: Iterable[str]) -> Rejection | None:
        """The first of the model's presence rejections among ``fields`` (wire paths)."""
        present = set(fields)
        return next(
            (
                r
                for r in self.rejects
                if r.field in present and r.value is PRESENT and r.allowed is None and not r.missing
            ),
            None,
        )

    def problems(self, setup: t.LiveClientSetup, backend: Backend = "gemini") -> list[Rejection]:
        """Everything in ``setup`` the model refuses on ``backend``, in the order the server checks.

        Response modalities first (1007 with the real wording), then the
        row's rejections, then a ``responseModalities: ["VIDEO"]`` without
        ``avatarConfig`` on Vertex AI (§10.10; on the Gemini API the modality
        is refused already).
        """
        data: dict[str, Any] = msgspec.to_builtins(setup)
        found: list[Rejection] = []
        modalities = setup_values(data, "generationConfig.responseModalities")
        if not self.accepts_modalities(modalities) or (
            "VIDEO" in modalities and backend != "vertex"
        ):
            found.append(
                Rejection(
                    "generationConfig.responseModalities",
                    reason=(
                        "The requested combination of response modalities "
                        f"({', '.join(modalities)}) is not supported by the model"
                    ),
                    source="§5.3, §10.3",
                )
            )
        for rejection in self.rejects:
            if backend in rejection.backends and rejection.refuses(
                setup_values(data, rejection.field)
            ):
                found.append(rejection)
        avatar = self.avatar and backend == "vertex"  # (no avatar on the Gemini API)
        if modalities == ["VIDEO"] and avatar and not data.get("avatarConfig"):
            found.append(
                Rejection(
                    "avatarConfig",
                    reason="Avatar config is required for avatar mode",
                    missing=True,
                    source="§10.10 [G-SAMPLE]",
                )
            )
        return found

    def refusal(self, setup: t.LiveClientSetup, backend: Backend = "gemini") -> Rejection | None:
        """The close the server answers ``setup`` with on ``backend`` (``None``: accepted)."""
        return next(iter(self.problems(setup, backend)), None)

    def blocking(self, behavior: str | None) -> bool:
        """Whether a function declared with ``behavior`` blocks the conversation."""
        return (behavior or self.default_behavior) not in ("NON_BLOCKING",)

    def refused_input(self, message: t.LiveClientMessage) -> str | None:
        """The kind of user input in ``message`` the model does not take (``None``: none).

        ``inputs`` names what a model takes: ``audio``, ``video`` (frames,
        images) and ``text`` (``realtimeInput.text``, and any
        ``clientContent``: it carries content, never audio). Transcribe Live
        and the translation model take audio only (``PROTOCOL.md`` §10.2);
        what the real server does with anything else is not recorded
        (§10.16), so how to answer it is the caller's choice (the emulator
        closes with 1007).
        """
        kinds: list[str] = []
        realtime = message.realtime_input
        if realtime is not None:
            if realtime.audio is not None:
                kinds.append("audio")
            if realtime.video is not None:
                kinds.append("video")
            if realtime.text is not None:
                kinds.append("text")
            for blob in realtime.media_chunks or ():
                kinds.append("audio" if (blob.mime_type or "").startswith("audio/") else "video")
        if message.client_content is not None:
            kinds.append("text")
        return next((kind for kind in kinds if kind not in self.inputs), None)


def interaction_complete(status: str | None) -> bool:
    """Whether a ``turnComplete`` carrying ``interactionStatus: status`` ends the interaction.

    The rule of ``PROTOCOL.md`` §10.6 (the SDK's ``_is_interaction_complete``):
    when the field is present and not unspecified, only ``IDLE`` (or its
    deprecated alias ``REQUIRES_ACTION``) ends it; otherwise the
    ``turnComplete`` does.
    """
    if not status or status == "INTERACTION_STATUS_UNSPECIFIED":
        return True
    return status in ("IDLE", "REQUIRES_ACTION")


def turn_coverage(setup: t.LiveClientSetup, model: Model | None = None) -> str:
    """The ``turnCoverage`` a session runs with: the setup's, else its model's default.

    ``realtimeInputConfig.turnCoverage`` absent or ``TURN_COVERAGE_UNSPECIFIED``
    means the model's default (PROTOCOL.md §2.1: ``TURN_INCLUDES_ONLY_ACTIVITY``
    on 2.5; §10.2, §10.15.2: ``TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO`` on 3.8).
    """
    config = setup.realtime_input_config
    asked = config.turn_coverage if config is not None else None
    if asked and asked != "TURN_COVERAGE_UNSPECIFIED":
        return str(asked)
    return model.default_turn_coverage if model is not None else "TURN_INCLUDES_ONLY_ACTIVITY"


def turn_includes(coverage: str, kind: str, *, in_activity: bool) -> bool:
    """Whether user input of ``kind`` (``audio``, ``video``, ``text``) belongs to the user turn.

    Input during activity always does. Outside it, the turn takes everything
    with ``TURN_INCLUDES_ALL_INPUT``, the video frames only with
    ``TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO`` and nothing with
    ``TURN_INCLUDES_ONLY_ACTIVITY`` (PROTOCOL.md §2.1, §10.2).
    """
    if in_activity or coverage == "TURN_INCLUDES_ALL_INPUT":
        return True
    return coverage == "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO" and kind == "video"


def _unknown_name(field: str, at: str) -> str:
    """The real server's wording for a field its schema does not have (§10.14)."""
    return f"Invalid JSON payload received. Unknown name \"{field}\" at '{at}': Cannot find field."


_G38 = "PROTOCOL.md §10.2-§10.5 [G-DOC 3.8 zh-CN], [VTX guide], [3P Magician]"

#: What gemini-3.8-live refuses (§10.3, §10.14); ET shares all but thinking.
_REJECTS_38 = (
    Rejection(
        "generationConfig.enableAffectiveDialog",
        reason=_unknown_name("enable_affective_dialog", "setup"),
        source="§10.3, §10.14 [G-DOC 3.8 zh-CN] removed; [G-SAMPLE] Vertex wording",
    ),
    Rejection(
        "proactivity.proactiveAudio",
        value=False,
        inferred=True,
        source="§10.3 [G-DOC 3.8 zh-CN] 'returns an error'; code and text unpublished",
    ),
    Rejection(
        "tools.codeExecution",
        inferred=True,
        source="§10.2 model page: code execution not supported",
    ),
    Rejection("tools.urlContext", inferred=True, source="§10.2 model page"),
    Rejection("tools.googleMaps", inferred=True, source="§10.2 model page"),
    Rejection("tools.fileSearch", inferred=True, source="§10.2 model page"),
)

_THINKING_38 = Rejection(
    "generationConfig.thinkingConfig",
    reason=_unknown_name("thinking_config", "setup.generation_config"),
    inferred=True,
    source="§10.3 [G-DOC 3.8 zh-CN] omit it; [3P Magician] 1007 of the 'Unknown name' kind",
)

_NO_TOOLS = (
    Rejection("tools", inferred=True, source="§10.9 [G-DOC translate] no tools"),
    Rejection(
        "systemInstruction", inferred=True, source="§10.9 [G-DOC translate] no system instruction"
    ),
    Rejection(
        "generationConfig.thinkingConfig",
        reason=_unknown_name("thinking_config", "setup.generation_config"),
        inferred=True,
        source="§10.2 thinking: none (INF); §10.3 (INF: refuse)",
    ),
)

_TRANSCRIBE = dict(
    native_audio=False,
    modalities=frozenset({"TEXT"}),
    kind=Kind.TRANSCRIBE,
    inputs=frozenset({"audio"}),
    session_limit=600.0,
    rejects=(
        Rejection(
            "generationConfig.responseModalities",
            missing=True,
            source='§10.8, §10.15.8: responseModalities ["TEXT"] required',
        ),
        Rejection("tools", inferred=True, source="§10.2: no tools on Transcribe Live"),
        Rejection(
            "generationConfig.thinkingConfig",
            reason=_unknown_name("thinking_config", "setup.generation_config"),
            inferred=True,
            source="§10.3 (INF: refuse)",
        ),
    ),
    source="PROTOCOL.md §10.8 [G-DOC transcribe], [3P Vizier], [3P LiveKit], [3P Pipecat]",
)

#: Every Live model rawlive knows, by bare id. PROTOCOL.md §2.1.1, §8.6-§8.7, §10.1-§10.3.
MODELS: dict[str, Model] = {
    m.id: m
    for m in (
        Model(
            "gemini-3.8-live",
            native_audio=True,
            modalities=frozenset({"AUDIO", "VIDEO"}),
            rejects=(_THINKING_38, *_REJECTS_38),
            default_behavior="NON_BLOCKING",
            content_roles=frozenset({"user", "model"}),
            status="stable",
            cancels_blocking_on_input=True,
            polite_interrupt=True,
            waits_for_tool_results=True,
            proactive_audio=True,
            avatar=True,
            default_turn_coverage="TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
            context_window=131_072,
            source=_G38,
        ),
        Model(
            "gemini-3.8-live-extended-thinking",
            native_audio=True,
            modalities=frozenset({"AUDIO"}),
            rejects=(
                Rejection(
                    "generationConfig.thinkingConfig.thinkingLevel",
                    allowed=frozenset({"LOW", "MEDIUM", "HIGH"}),
                    inferred=True,
                    source="§10.2 [3P Magician], Agora notes: LOW/MEDIUM/HIGH; MINIMAL refused",
                ),
                Rejection(
                    "generationConfig.thinkingConfig.thinkingBudget",
                    inferred=True,
                    source="§10.2, §10.15.3: thinkingLevel LOW/MEDIUM/HIGH only; "
                    "a thinkingBudget is none of them (INF)",
                ),
                Rejection(
                    "tools.functionDeclarations.behavior",
                    value="BLOCKING",
                    inferred=True,
                    source="§10.5 [G-DOC 3.8ET] async only; [3P Magician] BLOCKING refused",
                ),
                *_REJECTS_38,
            ),
            default_behavior="NON_BLOCKING",
            content_roles=frozenset({"user", "model"}),
            status="stable",
            backends=frozenset({"gemini"}),
            interaction_status=True,
            fillers=True,
            polite_interrupt=True,
            proactive_audio=True,
            default_turn_coverage="TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO",
            context_window=131_072,
            source="PROTOCOL.md §10.2, §10.5-§10.7 [G-DOC 3.8ET], [G-DOC thinking], [3P Magician]",
        ),
        Model("gemini-3.5-transcribe-live", status="stable", **_TRANSCRIBE),  # type: ignore[arg-type]
        Model(
            "gemini-3.5-transcribe-live-preview",
            backends=frozenset({"vertex"}),
            **_TRANSCRIBE,  # type: ignore[arg-type]
        ),
        Model(
            "gemini-3.5-live-translate-preview",
            native_audio=True,
            modalities=frozenset({"AUDIO"}),
            kind=Kind.TRANSLATE,
            inputs=frozenset({"audio"}),
            rejects=(
                Rejection(
                    "generationConfig.translationConfig",
                    missing=True,
                    inferred=True,
                    source="§10.9, §10.15.9: translationConfig required",
                ),
                *_NO_TOOLS,
            ),
            source="PROTOCOL.md §10.9 [G-DOC translate], [VTX translate], [3P LiveKit]",
        ),
        Model(
            "gemini-3.1-flash-live-preview",
            native_audio=True,
            modalities=frozenset({"AUDIO"}),
            client_content=ClientContent.HISTORY_ONLY,
            status="legacy",
            backends=frozenset({"gemini"}),
            source="PROTOCOL.md §2.1.1, §8.6, §10.1 [G-DOC 3.1]",
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

#: The model Google recommends today (§10.1: 3.8 Live is stable, 3.1 legacy).
RECOMMENDED = "gemini-3.8-live"


def model_id(model: str) -> str:
    """The bare id of ``models/<id>`` or of a Vertex model path (``.../models/<id>``)."""
    return model.rsplit("/", 1)[-1]


def find(model: str | None, extra: dict[str, Model] | None = None) -> Model | None:
    """The row of ``model`` in any of its spellings (``None`` when unknown).

    Case-insensitive, as third-party clients compare ids (§10.1).
    """
    if not model:
        return None
    bare = model_id(model)
    if extra and bare in extra:
        return extra[bare]
    return MODELS.get(bare) or MODELS.get(bare.lower())


def rows() -> Iterator[Model]:
    """The table's rows, newest first (the order of :data:`MODELS`)."""
    return iter(MODELS.values())
