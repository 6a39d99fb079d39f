"""``rawlive models``: the model table (:mod:`rawlive.core.models`) as people and programs read it.

Each row of the core's table becomes a :class:`ModelInfo`: its id, kind,
status, the backends that serve it, the response modalities it answers in,
the behaviour of a function declared without one, what its setup may not hold
(each with the close the server answers it with, PROTOCOL.md §10.3) and its
own session limit. Nothing here judges a setup: that is
:meth:`rawlive.core.models.Model.problems`.
"""

from __future__ import annotations

import msgspec

from rawlive.core import models

__all__ = ["ModelInfo", "Refusal", "lines", "table", "to_json"]


class Refusal(msgspec.Struct, kw_only=True):
    """A setup field a model refuses (or requires) and the close it gets."""

    #: The field as wire names under ``setup`` (``generationConfig.thinkingConfig``).
    field: str
    #: When it is refused, in words (``proactivity.proactiveAudio: false``, ``... missing``).
    condition: str
    code: int
    reason: str
    #: PROTOCOL.md gives no code or wording: rawlive's choice (§10.16).
    inferred: bool
    backends: list[str]
    source: str


class ModelInfo(msgspec.Struct, kw_only=True):
    """One row of the model table."""

    id: str
    #: ``conversation``, ``transcribe`` or ``translate``.
    kind: str
    #: ``stable``, ``preview`` or ``legacy``.
    status: str
    #: Google's recommendation today (``rawlive send``'s default model).
    recommended: bool
    backends: list[str]
    response_modalities: list[str]
    #: The ``behavior`` of a function declaration that gives none.
    default_tool_behavior: str
    refuses: list[Refusal]
    #: The model's own session limit (``None``: the generic limits, PROTOCOL.md §6).
    session_limit_seconds: float | None

    def to_json(self) -> str:
        return msgspec.json.encode(self).decode("utf-8")


def _info(row: models.Model) -> ModelInfo:
    return ModelInfo(
        id=row.id,
        kind=row.kind.value,
        status=row.status,
        recommended=row.id == models.RECOMMENDED,
        backends=sorted(row.backends),
        response_modalities=sorted(row.modalities),
        default_tool_behavior=row.default_behavior,
        refuses=[
            Refusal(
                field=r.field,
                condition=r.describe(),
                code=r.code,
                reason=r.reason,
                inferred=r.inferred,
                backends=sorted(r.backends),
                source=r.source,
            )
            for r in row.rejects
        ],
        session_limit_seconds=row.session_limit,
    )


def table() -> list[ModelInfo]:
    """Every row of the core's model table, newest first."""
    return [_info(row) for row in models.rows()]


def to_json(infos: list[ModelInfo]) -> str:
    """The rows as one JSON array (``rawlive models --json``)."""
    return msgspec.json.encode(infos).decode("utf-8")


def lines(infos: list[ModelInfo]) -> list[str]:
    """The rows as a person reads them: one block per model."""
    out: list[str] = []
    for info in infos:
        limit = (
            f"{info.session_limit_seconds / 60:g} min"
            if info.session_limit_seconds is not None
            else "generic"
        )
        out += [
            info.id + ("  (recommended)" if info.recommended else ""),
            f"  kind {info.kind}, {info.status}; backends: {', '.join(info.backends)}",
            f"  responds in: {', '.join(info.response_modalities)}; "
            f"tools default to {info.default_tool_behavior}; session limit: {limit}",
        ]
        for refusal in info.refuses:
            guess = " (inferred)" if refusal.inferred else ""
            where = (
                ""
                if refusal.backends == ["gemini", "vertex"]
                else f" [{', '.join(refusal.backends)}]"
            )
            out.append(f"  refuses {refusal.condition}: {refusal.code}{guess}{where}")
        out.append("")
    return out[:-1]
