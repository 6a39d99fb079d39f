r"""The audit's rules: :class:`Rule`, the :func:`rule` registry, every check and :data:`RULES`.

A rule is a small function registered with :func:`rule`: a name, a severity,
the ``PROTOCOL.md`` section it comes from and a docstring that is its
documentation. It sees one :class:`Step` (a frame, or the end of a
connection) and the connection's state *before* that step
(:class:`~rawlive.tools.audit.auditor.ConnState`), and yields the messages of
what it found; the :class:`~rawlive.tools.audit.auditor.Auditor` turns them
into :class:`Finding`\ s. A rule only judges: the session's state is the
core's (``ConnState.session``, a :class:`~rawlive.core.state.SessionState`,
which takes a client frame before the rules see it, so that they read its
verdict on each function response, :attr:`Step.answers`), and what a model
accepts is its row of :mod:`rawlive.core.models`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import msgspec

from rawlive.core.closing import NORMAL_CLOSE_CODES, close_hint
from rawlive.core.models import setup_values, turn_includes
from rawlive.core.state import Answer
from rawlive.media.frames import frame_problem, oversized
from rawlive.media.image import inspect as inspect_image
from rawlive.wire import endpoints
from rawlive.wire import types as lt
from rawlive.wire.codec import WireReport, mime_rate

if TYPE_CHECKING:  # what a rule reads; the auditor keeps it
    from rawlive.tools.audit.auditor import ConnState

__all__ = [
    "RULES",
    "SEVERITIES",
    "Finding",
    "Rule",
    "Severity",
    "Step",
    "audio_blobs",
    "has_camel",
    "image_blobs",
    "impure_rules_for",
    "new_request",
    "rule",
    "rules_for",
]

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")

#: Seconds between two video frames below which the 1 fps limit is exceeded (with jitter).
MIN_VIDEO_INTERVAL = 0.95


class Finding(msgspec.Struct, frozen=True):
    """One broken rule: where (``t``, ``connection``) and why."""

    rule: str
    severity: Severity
    section: str
    message: str
    t: float | None = None
    connection: int | None = None
    #: Seconds the fault cost, from ``t`` on: the wait of ``stalled-turn``
    #: and ``unanswered-input``, how early ``early-turn-end`` ended the
    #: user's turn... (``None``: the rule measures none).
    lost: float | None = None


@dataclasses.dataclass(slots=True)
class Step:
    """One thing that happened on a connection: a decoded frame, or its end."""

    kind: Literal["frame", "close"]
    t: float
    connection: int
    sender: str | None = None
    client: lt.LiveClientMessage | None = None
    server: lt.LiveServerMessage | None = None
    report: WireReport | None = None
    close_code: int | None = None
    close_reason: str = ""
    #: The frame's audio blobs (computed once per step, see ``audio_blobs``).
    blobs: list[lt.Blob] | None = None
    #: For a ``toolResponse``: what each function response did to the core's
    #: ledger of tool calls, and the call's key (:meth:`SessionState.client`).
    answers: list[tuple[Answer, str]] | None = None


#: A rule's check: the messages of what it found (a generator, or a plain
#: function returning a tuple where it runs on every frame and speed counts).
RuleCheck = Callable[["ConnState", Step], Iterable[str]]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A named protocol rule: its severity, its ``PROTOCOL.md`` section and its check."""

    name: str
    severity: Severity
    section: str
    doc: str
    check: RuleCheck
    #: The steps it looks at: ``client``/``server`` (any frame from that side),
    #: a top-level wire key (``realtimeInput``, ``toolCall``...) or ``close``;
    #: ``None``: every step.
    on: frozenset[str] | None = None
    #: Whether the check depends on the step's message and wire report only
    #: (not on the connection's state or the time): then a frame with the same
    #: shape as an earlier one gets the same result without running it again.
    pure: bool = False

    def wants(self, triggers: frozenset[str]) -> bool:
        return self.on is None or not self.on.isdisjoint(triggers)


#: Every rule, by name, in the order they run.
RULES: dict[str, Rule] = {}


def rule(
    name: str,
    severity: Severity,
    section: str,
    *,
    on: Iterable[str] | None = None,
    pure: bool = False,
) -> Callable[[RuleCheck], RuleCheck]:
    """Register a rule check; its docstring is the rule's documentation.

    ``on`` names the steps the check looks at (see :attr:`Rule.on`), so that
    the auditor runs only the rules a step concerns.
    """

    def register(check: RuleCheck) -> RuleCheck:
        doc = (check.__doc__ or "").strip()
        triggers = None if on is None else frozenset(on)
        RULES[name] = Rule(name, severity, section, doc, check, triggers, pure)
        _RULES_FOR.clear()
        _IMPURE_FOR.clear()
        return check

    return register


_RULES_FOR: dict[frozenset[str], tuple[Rule, ...]] = {}
_IMPURE_FOR: dict[frozenset[str], tuple[Rule, ...]] = {}


def impure_rules_for(triggers: frozenset[str]) -> tuple[Rule, ...]:
    rules = _IMPURE_FOR.get(triggers)
    if rules is None:
        rules = _IMPURE_FOR[triggers] = tuple(r for r in rules_for(triggers) if not r.pure)
    return rules


def rules_for(triggers: frozenset[str]) -> tuple[Rule, ...]:
    rules = _RULES_FOR.get(triggers)
    if rules is None:
        rules = _RULES_FOR[triggers] = tuple(r for r in RULES.values() if r.wants(triggers))
    return rules


def _realtime(step: Step) -> lt.LiveClientRealtimeInput | None:
    return step.client.realtime_input if step.client is not None else None


def audio_blobs(step: Step) -> list[lt.Blob]:
    if step.blobs is not None:
        return step.blobs
    rt = _realtime(step)
    if rt is None:
        step.blobs = []
        return step.blobs
    blobs = [rt.audio] if rt.audio is not None else []
    blobs += [b for b in rt.media_chunks or [] if (b.mime_type or "").startswith("audio/")]
    step.blobs = blobs
    return blobs


def _answers(step: Step) -> Iterator[tuple[lt.FunctionResponse, Answer]]:
    """Each function response of the step with what it did to the core's ledger."""
    if step.client is None or step.client.tool_response is None or step.answers is None:
        return
    responses = step.client.tool_response.function_responses or []
    for response, (answer, _) in zip(responses, step.answers, strict=True):
        yield response, answer


def _call(call_id: str | None, name: str | None) -> str:
    """A tool call as a finding names it: its id and function, or its function alone."""
    return f"{call_id!r} ({name or '?'})" if call_id else f"without id ({name or '?'})"


# ---------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------


@rule("setup-first", "error", "§2.0", on=("client",))
def _setup_first(state: ConnState, step: Step) -> tuple[str, ...]:
    """The first client message of a connection must be ``setup``."""
    if state.client_frames == 0 and step.client is not None and step.client.setup is None:
        return ("the first client message is not setup",)
    return ()


@rule("setup-once", "error", "§2.0", on=("setup",))
def _setup_once(state: ConnState, step: Step) -> Iterator[str]:
    """``setup`` is sent once per connection, never again."""
    if step.client is not None and step.client.setup is not None and state.setups > 0:
        yield f"setup sent again (number {state.setups + 1}) on the same connection"


@rule("before-setup-complete", "warning", "§2.0", on=("client",))
def _before_setup_complete(state: ConnState, step: Step) -> tuple[str, ...]:
    """Clients should wait for ``setupComplete`` before sending anything after ``setup``."""
    if (
        state.setup_complete_t is None
        and state.setups > 0
        and step.client is not None
        and step.client.setup is None
    ):
        return ("client message sent before setupComplete",)
    return ()


@rule(
    "audio-mime-rate",
    "warning",
    "§6",
    on=("realtimeInput.audio", "realtimeInput.mediaChunks"),
    pure=True,
)
def _audio_mime_rate(state: ConnState, step: Step) -> Iterator[str]:
    """Raw PCM audio must say its sample rate in the MIME type (``audio/pcm;rate=16000``)."""
    for blob in audio_blobs(step):
        mime = blob.mime_type or ""
        rate = mime_rate(mime)
        if mime.startswith("audio/pcm") and rate is None:
            yield f"audio MIME type {mime!r} has no rate="
        elif rate is not None and not 8000 <= rate <= 48000:
            yield f"audio MIME type {mime!r} has an implausible rate"


@rule(
    "audio-odd-length",
    "error",
    "§6",
    on=("realtimeInput.audio", "realtimeInput.mediaChunks"),
    pure=True,
)
def _audio_odd_length(state: ConnState, step: Step) -> Iterator[str]:
    """16-bit PCM chunks hold whole samples: an even number of bytes."""
    for blob in audio_blobs(step):
        if (blob.mime_type or "").startswith("audio/pcm") and len(blob.data or b"") % 2:
            yield f"PCM audio chunk of {len(blob.data or b'')} bytes (odd: half a sample)"


@rule(
    "media-chunks-deprecated", "warning", "§2.3, §8.5", on=("realtimeInput.mediaChunks",), pure=True
)
def _media_chunks(state: ConnState, step: Step) -> Iterator[str]:
    """``realtimeInput.mediaChunks`` is deprecated; only its first element is honoured."""
    rt = _realtime(step)
    if rt is not None and rt.media_chunks is not None:
        extra = len(rt.media_chunks) - 1
        yield "deprecated mediaChunks" + (f" ({extra} chunk(s) ignored)" if extra > 0 else "")


@rule("mixed-casing", "info", "§2.0, §8.3", on=("client",))
def _mixed_casing(state: ConnState, step: Step) -> tuple[str, ...]:
    """The client mixes snake_case and camelCase keys (accepted, but be consistent)."""
    if state.mixed_reported or step.report is None or step.sender != "client":
        return ()
    if not (state.snake_seen or step.report.snake_case_keys):
        return ()  # (the common case: no snake_case key yet)
    if state.camel_seen or has_camel(step):
        keys = ", ".join(step.report.snake_case_keys[:3]) or "earlier frames"
        return (f"client mixes snake_case ({keys}) and camelCase keys",)
    return ()


@rule("urlsafe-base64", "info", "§2.0, §8.4", on=("urlsafe-base64",), pure=True)
def _urlsafe_base64(state: ConnState, step: Step) -> Iterator[str]:
    """The client sends URL-safe base64 (the server accepts it; standard is documented)."""
    if step.report is not None and step.sender == "client" and step.report.urlsafe_base64:
        yield f"URL-safe base64 at {', '.join(step.report.urlsafe_base64[:3])}"


@rule("tool-response-unknown-id", "error", "§2.4", on=("toolResponse",))
def _tool_unknown(state: ConnState, step: Step) -> Iterator[str]:
    """A ``toolResponse`` answers a call the server issued in a ``toolCall``: by its id,
    or by its name where the call came without one (Vertex)."""
    for response, answer in _answers(step):
        if answer is Answer.ANONYMOUS:
            yield "function response with neither id nor name"
        elif answer is Answer.NEVER_ISSUED and response.id is None:
            yield (
                f"function response {response.name!r} has no id (required on the Gemini "
                "API), and no call of that name came without one"
            )
        elif answer is Answer.NEVER_ISSUED:
            yield f"toolResponse for id {response.id!r}, which no toolCall issued"


@rule("tool-response-duplicate", "error", "§2.4", on=("toolResponse",))
def _tool_duplicate(state: ConnState, step: Step) -> Iterator[str]:
    """Each tool call is answered once (``willContinue`` responses excepted)."""
    for response, answer in _answers(step):
        if answer is Answer.ALREADY_SETTLED:
            yield f"tool call {_call(response.id, response.name)} answered twice"


@rule("tool-call-unanswered", "warning", "§2.4, §8.10", on=("close",))
def _tool_unanswered(state: ConnState, step: Step) -> Iterator[str]:
    """Every tool call gets a ``toolResponse`` (or a cancellation) before the connection ends."""
    if step.kind == "close":
        for call in state.session.tools.open.values():
            yield f"tool call {_call(call.call.id, call.call.name)} never answered"


@rule(
    "audio-during-blocking-call",
    "warning",
    "§5.3, §8.10",
    on=("realtimeInput.audio", "realtimeInput.mediaChunks"),
)
def _audio_during_call(state: ConnState, step: Step) -> tuple[str, ...]:
    """Streaming audio while a BLOCKING tool call is unanswered risks 1008 "aborted"."""
    tools = state.session.tools
    if not tools.open or not audio_blobs(step):
        return ()
    return tuple(
        f"realtime audio while blocking tool call {_call(call.call.id, call.call.name)} is open"
        for call in tools.blocking
        if call.key not in state.warned_audio_calls
    )


@rule("text-modality-native-audio", "error", "§2.1.1, §8.7", on=("setup",))
def _text_native_audio(state: ConnState, step: Step) -> Iterator[str]:
    """A model answers in the modalities its row of the model table lists
    (:mod:`rawlive.core.models`): native-audio models in ``AUDIO`` only."""
    setup = step.client.setup if step.client is not None else None
    model = state.session.model  # (the core has taken this setup)
    if setup is None or model is None or setup.generation_config is None:
        return
    modalities = setup.generation_config.response_modalities
    if not model.accepts_modalities(modalities):
        kind = "native-audio model" if model.native_audio else "model"
        yield (
            f"{', '.join(modalities or ())} response modality on {kind} {model.id}, "
            f"which answers in {', '.join(sorted(model.modalities))} only"
        )


_BACKENDS = {"gemini": "Gemini API", "vertex": "Vertex AI"}


@rule("setup-refused-by-model", "error", "§10.3, §10.14", on=("setup",))
def _setup_refused(state: ConnState, step: Step) -> Iterator[str]:
    """The setup holds nothing its model refuses on its backend: each field of
    :meth:`Model.problems <rawlive.core.models.Model.problems>` (the model's row of
    the model table) is a finding, with the close the server gives and, where
    ``PROTOCOL.md`` gives no code or text, that the close is inferred and from what.

    The backend is the recorded URL's (``LlmBidiService``: Vertex AI), else the
    model's form (a ``projects/...`` path), else the Gemini API. Response
    modalities the model never answers in are ``text-modality-native-audio``'s.
    """
    setup = step.client.setup if step.client is not None else None
    model = state.session.model  # (the core has taken this setup)
    if setup is None or model is None or state.setups > 0:
        return
    known = state.backend or endpoints.backend_of(None, setup.model)
    backend = known or "gemini"
    where = _BACKENDS[backend]
    if known is not None and backend not in model.backends:
        yield (
            f"{model.id} is not served on the {where}: the server closes with 1008 "
            "(not found, or not supported for bidiGenerateContent); inferred from "
            "PROTOCOL.md §10.1, which finds it on no page of that backend"
        )
        return
    modalities = setup_values(setup, "generationConfig.responseModalities")
    for rejection in model.problems(setup, backend):
        if (
            rejection.field == "generationConfig.responseModalities"
            and not rejection.missing
            and not model.accepts_modalities(modalities)
        ):
            continue  # (text-modality-native-audio names it)
        close = f'{rejection.code} "{rejection.reason}"'
        if rejection.inferred:
            why = f"inferred: PROTOCOL.md gives no code or text (source: {rejection.source})"
        else:
            why = f"source: {rejection.source}"
        yield (
            f"{rejection.describe()} refused by {model.id} on the {where}: "
            f"the server closes with {close} ({why})"
        )


@rule("client-content-mid-session", "warning", "§2.2, §8.6", on=("clientContent",))
def _client_content_mid(state: ConnState, step: Step) -> Iterator[str]:
    """Where the model takes ``clientContent`` only to seed history (Gemini 3.1),
    mid-session it is closed with 1007. (3.8 takes it at any time, §10.4.)"""
    # The core has taken the message and judged it (its rule 7); the roles are
    # client-content-role's.
    client = step.client
    session = state.session
    content = None if client is None else client.client_content
    if content is not None and session.misplaced and session.misplaced_role is None:
        yield session.misplaced


@rule("client-content-role", "error", "§10.4, §10.14", on=("clientContent",))
def _client_content_role(state: ConnState, step: Step) -> Iterator[str]:
    """On a model whose turns need a role (3.8: ``user`` or ``model``), a
    ``clientContent`` turn without one, or with ``system``, is closed with 1007."""
    client = step.client
    if client is not None and client.client_content is not None:
        why = state.session.misplaced_role  # (the core's rule 7)
        if why is not None:
            yield f"{why}: the server closes with 1007"


#: Server steps that say the user began to speak (automatic VAD).
_SPEECH_STARTS = ("ACTIVITY_START", "VAD_SIGNAL_TYPE_SOS")


def new_request(step: Step) -> bool:
    """Whether the step is the user starting a request: text, a complete
    ``clientContent``, ``activityStart``, or the server saying speech began.
    (Audio chunks alone are not: a microphone streams silence too.)"""
    if step.client is not None:
        rt = step.client.realtime_input
        content = step.client.client_content
        if rt is not None and (rt.text or rt.activity_start is not None):
            return True
        return content is not None and bool(content.turn_complete)
    if step.server is not None:
        activity = step.server.voice_activity
        signal = step.server.voice_activity_detection_signal
        return (activity is not None and activity.voice_activity_type in _SPEECH_STARTS) or (
            signal is not None and signal.vad_signal_type in _SPEECH_STARTS
        )
    return False


@rule(
    "interaction-not-idle",
    "warning",
    "§10.6",
    on=(
        "realtimeInput.text",
        "realtimeInput.activityStart",
        "clientContent",
        "voiceActivity",
        "voiceActivityDetectionSignal",
        "close",
    ),
)
def _interaction_not_idle(state: ConnState, step: Step) -> Iterator[str]:
    """An interaction runs until a ``turnComplete`` says ``interactionStatus: IDLE``
    (extended thinking): after one that said ``IN_PROGRESS``, the session should
    not end, nor the user start a new request, before it (the core's rule 8)."""
    session = state.session
    if not session.interaction_pending or state.in_progress_t is None:
        return
    since = f"the turnComplete at {state.in_progress_t:.3f} s said IN_PROGRESS"
    if step.kind == "close":
        yield f"the connection ended with the interaction still in progress ({since}, no IDLE)"
    elif not state.left_interaction and new_request(step):
        yield f"a new request before the interaction reached IDLE ({since})"


@rule(
    "activity-unpaired",
    "error",
    "§2.3",
    on=("realtimeInput.activityStart", "realtimeInput.activityEnd", "close"),
)
def _activity_unpaired(state: ConnState, step: Step) -> Iterator[str]:
    """``activityStart`` and ``activityEnd`` alternate, and no activity is left open."""
    rt = _realtime(step)
    if step.kind == "close" and state.activity_open:
        yield "activityStart never ended by activityEnd"
    if rt is None:
        return
    if rt.activity_start is not None and state.activity_open:
        yield "activityStart while an activity is already open"
    if rt.activity_end is not None and not state.activity_open and rt.activity_start is None:
        yield "activityEnd without activityStart"


@rule(
    "activity-with-auto-vad",
    "error",
    "§2.3",
    on=("realtimeInput.activityStart", "realtimeInput.activityEnd"),
)
def _activity_auto(state: ConnState, step: Step) -> Iterator[str]:
    """``activityStart``/``activityEnd`` need ``automaticActivityDetection.disabled: true``."""
    rt = _realtime(step)
    if rt is None or state.manual_vad:
        return
    if rt.activity_start is not None or rt.activity_end is not None:
        yield "activity signal sent with automatic activity detection on"


@rule("audio-stream-end-manual-vad", "warning", "§2.3, §8.11", on=("realtimeInput.audioStreamEnd",))
def _stream_end_manual(state: ConnState, step: Step) -> Iterator[str]:
    """``audioStreamEnd`` belongs to automatic VAD; with manual VAD use ``activityEnd``."""
    rt = _realtime(step)
    if rt is not None and rt.audio_stream_end and state.manual_vad:
        yield "audioStreamEnd sent with manual activity detection"


@rule("video-fps", "warning", "§6", on=("realtimeInput.video",))
def _video_fps(state: ConnState, step: Step) -> Iterator[str]:
    """Video is at most 1 frame per second."""
    rt = _realtime(step)
    if rt is None or rt.video is None or state.last_video_t is None:
        return
    gap = step.t - state.last_video_t
    if gap < MIN_VIDEO_INTERVAL:
        yield f"video frame {gap:.3f} s after the previous one (over 1 fps)"


def image_blobs(step: Step) -> list[lt.Blob]:
    """The step's video frames and images: ``realtimeInput.video`` and image ``mediaChunks``."""
    rt = _realtime(step)
    if rt is None:
        return []
    blobs = [rt.video] if rt.video is not None else []
    blobs += [b for b in rt.media_chunks or [] if not (b.mime_type or "").startswith("audio/")]
    return blobs


_FRAMES_ON = ("realtimeInput.video", "realtimeInput.mediaChunks")


def _frame_problems(step: Step, kind: str) -> Iterator[str]:
    for blob in image_blobs(step):
        problem = frame_problem(bytes(blob.data or b""), blob.mime_type)
        if problem is not None and problem.kind == kind:
            yield problem.why


@rule("image-mime-mismatch", "error", "§6", on=_FRAMES_ON)
def _image_mime(state: ConnState, step: Step) -> Iterator[str]:
    """A frame's bytes are the type its ``mimeType`` claims (a JPEG is ``image/jpeg``)."""
    for why in _frame_problems(step, "mime"):
        yield f"{why}; to do: send the mimeType of the bytes (the server rejects it, 1007)"


@rule("image-broken", "error", "§6", on=_FRAMES_ON)
def _image_broken(state: ConnState, step: Step) -> Iterator[str]:
    """Each frame is a whole JPEG or PNG (not truncated, not another format)."""
    for why in _frame_problems(step, "broken"):
        yield f"{why}; to do: send whole JPEG or PNG images (the server rejects it, 1007)"


@rule("image-size", "warning", "§6", on=_FRAMES_ON)
def _image_size(state: ConnState, step: Step) -> Iterator[str]:
    """Frames are at most the recommended 768x768 and the 7 MB of an inline image ([FB limits])."""
    for blob in image_blobs(step):
        data = bytes(blob.data or b"")
        info = inspect_image(data)
        if info.problem is None and (why := oversized(len(data), info)) is not None:
            yield f"{why}; to do: scale frames down (rawlive send --max-size)"


@rule("frames-outside-turn", "info", "§2.3, §10.15.2", on=_FRAMES_ON)
def _frames_outside_turn(state: ConnState, step: Step) -> Iterator[str]:
    """Under a turn coverage that takes video only during activity (2.5's default,
    ``TURN_INCLUDES_ONLY_ACTIVITY``), no frames are sent while the user is silent:
    the server ignores them. Judged with manual activity detection (between
    ``activityStart`` and ``activityEnd``) or on the client's audio as the
    detector hears it; not when neither says."""
    coverage = state.coverage
    if coverage is None or turn_includes(coverage, "video", in_activity=False):
        return
    if state.manual_vad:
        speaking: bool | None = state.activity_open
    else:
        vad = state.waits.vad if state.waits is not None else None
        speaking = None if vad is None else vad.speaking
    if speaking is False and (count := len(image_blobs(step))):
        yield (
            f"{count} frame(s) sent while the user is silent under {coverage}: the server "
            "ignores them; to do: send frames while the user speaks, or ask for "
            "TURN_INCLUDES_AUDIO_ACTIVITY_AND_ALL_VIDEO"
        )


#: Sample rates audio is commonly recorded at, for ``audio-rate-mismatch``.
COMMON_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
#: Seconds of steady streaming ``audio-rate-mismatch`` needs before it judges.
RATE_CHECK_MIN_SECONDS = 2.0


@rule("audio-rate-mismatch", "warning", "§6", on=("close",))
def _audio_rate_mismatch(state: ConnState, step: Step) -> Iterator[str]:
    """Audio streamed in real time flows at the rate its MIME type declares.

    Over steady runs of ``realtimeInput.audio`` (pauses end a run), samples
    per second of wall clock should match ``rate=``. Flowing at another
    common rate means the data is at that rate, mislabelled (it would play
    too fast or too slow). Uploads faster than real time match no common
    rate and are not judged.
    """
    samples, seconds, chunks, declared = state.flow()
    if seconds < RATE_CHECK_MIN_SECONDS or chunks < 10 or declared <= 0:
        return
    measured = samples / seconds
    if abs(measured / declared - 1) <= 0.08:
        return
    for common in COMMON_RATES:
        if common != declared and abs(measured / common - 1) <= 0.03:
            yield (
                f"audio declared rate={declared} flows at {measured:.0f} samples per second "
                f"over {seconds:.1f} s of steady streaming: the data looks like {common} Hz "
                f"audio (it would play {common / declared:.2g}x its speed); resample to "
                f"{declared} Hz or declare rate={common}"
            )
            return


@rule("close-code", "warning", "§5.3", on=("close",))
def _close_code(state: ConnState, step: Step) -> Iterator[str]:
    """A connection closed with an error code; the hint says what to do."""
    code = step.close_code
    if step.kind != "close" or code is None or code in NORMAL_CLOSE_CODES:
        return
    hint = close_hint(code, step.close_reason)
    reason = f": {step.close_reason}" if step.close_reason else ""
    yield f"closed with {code}{reason}" + (f" ({hint})" if hint else "")


# -- a server that misbehaves (judged by :mod:`~rawlive.tools.audit.waits`) ---------
#
# These five are computed from the wire timestamps by the connection's
# :class:`~rawlive.tools.audit.waits.Waits` (when a reply is due is the core's
# rule 11, how long it may take :mod:`rawlive.core.watchdog`); the auditor
# reports them itself, with the time each one cost (``Finding.lost``).


@rule("stalled-turn", "error", "§3.2, §7", on=())
def _stalled_turn(state: ConnState, step: Step) -> Iterator[str]:
    """A reply was due (the core's rule 11) and nothing of it came for
    ``--stall-after`` seconds (``StallPolicy.first_reply``, 15 by default), or
    a reply under way stopped for ``StallPolicy.gap`` (5 s) before its
    ``turnComplete``; also when the recording ends still waiting. The time
    lost runs from when the reply became due (or stopped) to when something
    came, the user went on, or the connection ended. What to do: resume
    through the latest handle or reconnect and send again (rawlive's client
    watchdog does so)."""
    return iter(())


@rule("empty-turn", "warning", "§3.2, §9", on=())
def _empty_turn(state: ConnState, step: Step) -> Iterator[str]:
    """A ``turnComplete`` (not ``interrupted``) ended a reply that was due and
    had no content: no model part, no output transcription, no tool call
    (real servers do this, §9). Time lost: from when the reply became due to
    that ``turnComplete``. What to do: ask again, or treat it as no answer."""
    return iter(())


@rule("unanswered-input", "warning", "§3.2", on=())
def _unanswered_input(state: ConnState, step: Step) -> Iterator[str]:
    """The user's turn ended (a reply was due) and the user went on (a new
    input made a reply due again) or the connection ended with no reply
    between, after at least ``UNANSWERED_AFTER`` (3 s) and before the stall
    threshold (a longer wait is ``stalled-turn``: one fault, one finding).
    Time lost: the wait. On a model with proactive audio on (3.8's row, or
    ``proactivity.proactiveAudio: true``) the model may choose to stay silent:
    the finding is ``info`` there. What to do: send the input again."""
    return iter(())


@rule("early-turn-end", "warning", "§2.1.3, §8.11", on=())
def _early_turn_end(state: ConnState, step: Step) -> Iterator[str]:
    """With automatic activity detection, the server ended the user's turn
    (its reply began, or it sent ``ACTIVITY_END``) before the setup's
    ``silenceDurationMs`` (800 ms by default) of silence had passed in the
    client's audio, as :class:`rawlive.media.vad.EnergyVad` with the setup's
    config hears it. Time lost: how much sooner than the silence allowed.
    It needs the client's audio: a recording whose client audio is elided
    cannot be judged (nor one at a rate the detector cannot frame), and
    neither can a turn end after the audio stopped flowing without
    ``audioStreamEnd`` (no audio is no evidence of what the server heard). What to
    do: nothing in the client can stop it; longer ``silenceDurationMs`` or
    manual activity detection (``activityStart``/``activityEnd``) avoid it."""
    return iter(())


@rule("reply-cut", "warning", "§3.2", on=())
def _reply_cut(state: ConnState, step: Step) -> Iterator[str]:
    """Reply audio stopped without ``interrupted`` or a full ``turnComplete``:
    a ``turnComplete`` with no ``generationComplete`` before it, or the
    connection ending mid-reply. Time lost: from the reply's last audio to
    that ``turnComplete`` or the end. What to do: ask again (or resume)."""
    return iter(())


@rule("invalid-frame", "error", "§2.0, §3.0", on=())
def _invalid_frame(state: ConnState, step: Step) -> Iterator[str]:
    """Every frame decodes as a message (reported by the auditor itself)."""
    return iter(())


@rule("cassette-truncated", "info", "cassette format", on=())
def _cassette_truncated(state: ConnState, step: Step) -> Iterator[str]:
    """The recording stopped mid-write: its last line was cut off (reported by the reader)."""
    return iter(())


# Known camelCase wire names (multi-word), to tell camelCase keys from user data.
def _camel_names() -> frozenset[str]:
    names: set[str] = set()
    for value in vars(lt).values():
        if isinstance(value, type) and issubclass(value, msgspec.Struct):
            for f in msgspec.structs.fields(value):
                if f.encode_name != f.name and any(c.isupper() for c in f.encode_name):
                    names.add(f.encode_name)
    return frozenset(names)


_CAMEL = _camel_names()
_USER_DATA = frozenset({"args", "response", "parameters", "parametersJsonSchema", "labels"})


def _camel_in(value: Any, depth: int = 0) -> bool:
    if depth > 12:
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if key in _CAMEL:
                return True
            if key not in _USER_DATA and _camel_in(item, depth + 1):
                return True
    elif isinstance(value, list):
        return any(_camel_in(item, depth + 1) for item in value)
    return False


def has_camel(step: Step) -> bool:
    return step.client is not None and _camel_in(msgspec.to_builtins(step.client))
