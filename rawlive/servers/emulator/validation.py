"""What the emulator accepts, and how it closes on what it does not (``PROTOCOL.md`` §2, §5.3).

The paths the real services answer on; a ``setup`` whose model has a row in
the model table (:data:`rawlive.core.models.MODELS` and the rows of the
``models`` option) and holds nothing that row refuses (response modalities
it does not take, fields it rejects), else 1008 with the real reason for an
unknown model or the row's close; client messages that decode strictly,
carry one kind and stream audio at a usable rate, else 1007. The strict
rules (a tool response for an id never issued: 1007; audio while a blocking
call is unanswered: 1008 ``The operation was aborted.``) are what users
report, not what Google documents: they apply only with ``strict``. Each
check returns a :class:`Refusal`; the connection closes with it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterable

from rawlive.core import models
from rawlive.core.state import Answer, SessionState
from rawlive.errors import DecodeError, RemoteProtocolError
from rawlive.servers.base import CLOSE_INVALID_ARGUMENT, check_client_message
from rawlive.wire import codec
from rawlive.wire import types as t
from rawlive.wire.endpoints import Backend

__all__ = [
    "ABORTED",
    "SESSION_NOT_FOUND",
    "Refusal",
    "accepts_path",
    "audio_rate",
    "judge_message",
    "judge_setup",
    "model_table",
    "setup_fields",
    "strict_audio",
    "strict_tool_response",
    "unknown_model_reason",
]

#: Paths the real services answer on (the SDK's double slash included).
_PATH = re.compile(
    r"^//?ws/(?:google\.ai\.generativelanguage\.(?:v1alpha|v1beta|v1)\.GenerativeService\."
    r"BidiGenerateContent(?:Constrained)?"
    r"|google\.cloud\.aiplatform\.(?:v1|v1beta1)\.LlmBidiService/BidiGenerateContent)$"
)

#: The strict close for audio while a blocking tool call is unanswered.
ABORTED = (1008, "The operation was aborted.")
#: The close for a resumption handle the emulator does not hold.
SESSION_NOT_FOUND = (1008, "BidiGenerateContent session not found")


@dataclasses.dataclass(frozen=True)
class Refusal:
    """What the emulator refuses: the close the real server answers with, and why (for the log)."""

    code: int
    reason: str
    why: str


def accepts_path(path: str) -> bool:
    """Whether ``path`` (without its query) is one the real services answer on."""
    return _PATH.match(path) is not None


def model_table(extra: Iterable[str | models.Model] = ()) -> dict[str, models.Model]:
    """:data:`~rawlive.core.models.MODELS` and the rows the ``models`` option adds, by bare id.

    A plain id (any spelling) adds ``Model(id, native_audio=False)`` unless
    the table knows it already; a :class:`~rawlive.core.models.Model` row
    adds or replaces its id's row.
    """
    table = dict(models.MODELS)
    for entry in extra:
        if isinstance(entry, models.Model):
            table[models.model_id(entry.id)] = entry
        else:
            bare = models.model_id(entry)
            table.setdefault(bare, models.Model(bare, native_audio=False))
    return table


def unknown_model_reason(model: str, backend: Backend = "gemini") -> str:
    """The real server's close reason for a model it does not serve (with code 1008).

    Vertex AI names the publisher model's resource (``PROTOCOL.md`` §5.3,
    §1.3: ``publishers/google/models/<id>`` when the setup gave a bare id);
    the Gemini API says the model is not found for the API version.
    """
    if backend == "vertex":
        resource = model
        if not model.startswith(("projects/", "publishers/")):
            resource = f"publishers/google/models/{models.model_id(model)}"
        return f"Publisher Model {resource} was not found"
    return (
        f"{model} is not found for API version v1beta, or is not supported for "
        "bidiGenerateContent. Call ListModels to see the list of available models "
        "and their supported methods."
    )


def setup_fields(setup: t.LiveClientSetup) -> set[str]:
    """The wire paths a setup holds, as a model's rejections name them.

    ``generationConfig.thinkingConfig``; list items as ``tools[].googleSearch``.
    """
    frame = codec.encode_client_message(t.LiveClientMessage(setup=setup))
    _, report = codec.inspect_frame(frame, direction="client")
    return {path.removeprefix("setup.") for path in report.key_paths if path != "setup"}


def judge_setup(
    setup: t.LiveClientSetup, table: dict[str, models.Model], backend: Backend = "gemini"
) -> models.Model | Refusal:
    """The row of the setup's model, or the close for a setup that model refuses.

    An unknown model, or one ``backend`` does not serve, closes with 1008
    and the real reason; otherwise the first of the row's
    :meth:`~rawlive.core.models.Model.problems` closes with its code and
    reason (response modalities it does not take, a field it rejects).
    """
    model = setup.model or ""
    row = models.find(model, table)
    if row is None or backend not in row.backends:
        return Refusal(
            1008, unknown_model_reason(model, backend), f"unknown model {model} on {backend}"
        )
    rejection = row.refusal(setup, backend)
    if rejection is not None:
        return Refusal(rejection.code, rejection.reason, f"{rejection.describe()} on {row.id}")
    return row


def audio_rate(blob: t.Blob) -> int:
    """An audio blob's sample rate (``rate=`` in its MIME type, else 16 kHz).

    :class:`DecodeError` for a rate no audio has (0 Hz, a 30-digit number):
    the emulator would have to resample from it.
    """
    mime = blob.mime_type or ""
    if "rate=" not in mime:
        return 16_000
    from rawlive.media.audio import MAX_SAMPLE_RATE, MIN_SAMPLE_RATE

    rate = codec.mime_rate(mime) or 0
    if not MIN_SAMPLE_RATE <= rate <= MAX_SAMPLE_RATE:
        raise DecodeError(f"unsupported audio sample rate in {mime!r}")
    return rate


def judge_message(payload: bytes | str) -> t.LiveClientMessage | Refusal:
    """A client message after ``setup``, judged as the real server judges it.

    1007 for what :func:`~rawlive.servers.base.check_client_message` refuses
    (it does not decode, has an unknown field or more than one kind), a
    second ``setup``, or audio at a rate no audio has.
    """
    try:
        message = check_client_message(payload)
        if message.setup is not None:
            raise RemoteProtocolError("a second setup")
        realtime = message.realtime_input
        if realtime is not None:
            if realtime.audio is not None:
                audio_rate(realtime.audio)
            for blob in realtime.media_chunks or ():
                if (blob.mime_type or "").startswith("audio/"):
                    audio_rate(blob)
    except (DecodeError, RemoteProtocolError) as exc:
        return Refusal(*CLOSE_INVALID_ARGUMENT, f"invalid client message: {exc}")
    return message


def strict_tool_response(answer: Answer, key: str) -> Refusal | None:
    """The strict close (1007) for a function response to a call never issued.

    One that answers no call at all (neither id nor name) counts as such; a
    late one to a call cancelled or already settled does not: its id was
    issued, and it may have crossed the cancellation on the wire.
    """
    if answer in (Answer.NEVER_ISSUED, Answer.ANONYMOUS):
        return Refusal(*CLOSE_INVALID_ARGUMENT, f"tool response for an id never issued: {key}")
    return None


def strict_audio(state: SessionState) -> Refusal | None:
    """The strict close (1008 aborted) for audio while a blocking tool call is unanswered."""
    if state.tools.open and state.tools.blocking:
        return Refusal(*ABORTED, "audio streamed while a blocking tool call is unanswered")
    return None
