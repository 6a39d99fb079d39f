"""Audit a recorded Live session: protocol rules, schema drift and latency metrics.

The :class:`Auditor` is sans-I/O: it is fed cassette events one by one
(:meth:`Auditor.feed`, then :meth:`Auditor.finish`), so a live tap can feed
it as well as a file. :func:`audit_cassette` reads a cassette and returns a
:class:`Report` (:meth:`Report.render` for tables, :meth:`Report.to_json`).

Every frame goes through the strict decoder (:func:`rawlive.wire.codec.inspect_frame`).
Keys and enum values the types do not know are *drift*: counted, with their
first occurrence, never findings. A frame that cannot be decoded at all is a
finding (``invalid-frame``).

Rules are small functions registered with :func:`rule`, each with a name, a
severity and the ``PROTOCOL.md`` section it comes from; :data:`RULES` lists
them. A rule sees one :class:`Step` (a frame, or the end of a connection)
and the connection's state *before* that step, and yields messages.

A rule broken on every frame would find once per frame: the auditor keeps
the first :data:`MAX_FINDINGS_PER_RULE` findings of each rule and counts the
rest (:attr:`Report.rule_counts`), so its memory and output stay bounded
however long the session.
"""

from __future__ import annotations

import binascii
import dataclasses
import json
import math
import os
import re
import urllib.parse
import warnings
from collections.abc import Callable, Hashable, Iterable, Iterator
from typing import TYPE_CHECKING, Any, Literal

import msgspec
import pybase64

from rawlive.cassette import (
    CassetteEvent,
    CassetteReader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    TruncatedCassetteWarning,
    frame_kind,
)
from rawlive.core.protocol import NORMAL_CLOSE_CODES, close_hint
from rawlive.errors import DecodeError
from rawlive.wire import endpoints
from rawlive.wire import types as lt
from rawlive.wire.codec import WireReport, inspect_frame, mime_rate

if TYPE_CHECKING:  # the proxy hooks' arguments; the auditor needs no server
    from rawlive.servers.base import CapturedConnection, ConnectionEnd, Frame

__all__ = [
    "MAX_FINDINGS_PER_RULE",
    "RULES",
    "SEVERITIES",
    "Auditor",
    "Diff",
    "Finding",
    "LiveAudit",
    "Metrics",
    "Report",
    "Rule",
    "Step",
    "audit_cassette",
    "diff_reports",
    "rule",
]

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")

#: An underrun of reply audio shorter than this is jitter, not a gap.
GAP_MIN_SECONDS = 0.02
#: Seconds between two video frames below which the 1 fps limit is exceeded (with jitter).
MIN_VIDEO_INTERVAL = 0.95
#: Findings of one rule an audit keeps (and a live audit prints); the rest are counted.
MAX_FINDINGS_PER_RULE = 20


@dataclasses.dataclass(frozen=True)
class Finding:
    """One broken rule: where (``t``, ``connection``) and why."""

    rule: str
    severity: Severity
    section: str
    message: str
    t: float | None = None
    connection: int | None = None


@dataclasses.dataclass
class DriftEntry:
    """An unknown key path or enum value: how often, and where first."""

    path: str
    direction: str
    count: int
    first_t: float
    first_connection: int


# ---------------------------------------------------------------------------
# Per-connection state and the step a rule sees
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class ConnState:
    """What the auditor knows about one connection so far."""

    number: int
    model: str | None = None
    setups: int = 0
    setup_t: float | None = None
    setup_complete_t: float | None = None
    client_frames: int = 0
    manual_vad: bool = False
    history_in_client_content: bool = False
    history_done: bool = False
    non_blocking: set[str] = dataclasses.field(default_factory=set)
    #: id -> (t, name, blocking) of tool calls not yet answered.
    open_calls: dict[str, tuple[float, str, bool]] = dataclasses.field(default_factory=dict)
    issued: set[str] = dataclasses.field(default_factory=set)
    answered: set[str] = dataclasses.field(default_factory=set)
    warned_audio_calls: set[str] = dataclasses.field(default_factory=set)
    activity_open: bool = False
    last_video_t: float | None = None
    snake_seen: bool = False
    camel_seen: bool = False
    mixed_reported: bool = False
    closed: bool = False
    #: Steady runs of realtime audio: the one going on (first t, last t, the
    #: declared rate, samples before the last chunk, the last chunk's samples,
    #: chunks) and the sums over finished runs (samples, seconds, chunks, rate).
    audio_run: tuple[float, float, int, int, int, int] | None = None
    audio_flow: tuple[int, float, int, int] = (0, 0.0, 0, 0)
    #: When the reply audio received so far ends if played from its first chunk.
    playout_end: float | None = None


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
    #: The frame's audio blobs (computed once per step, see ``_audio_blobs``).
    blobs: list[lt.Blob] | None = None


#: A rule's check: the messages of what it found (a generator, or a plain
#: function returning a tuple where it runs on every frame and speed counts).
RuleCheck = Callable[[ConnState, Step], Iterable[str]]


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


def _impure_rules_for(triggers: frozenset[str]) -> tuple[Rule, ...]:
    rules = _IMPURE_FOR.get(triggers)
    if rules is None:
        rules = _IMPURE_FOR[triggers] = tuple(r for r in _rules_for(triggers) if not r.pure)
    return rules


def _rules_for(triggers: frozenset[str]) -> tuple[Rule, ...]:
    rules = _RULES_FOR.get(triggers)
    if rules is None:
        rules = _RULES_FOR[triggers] = tuple(r for r in RULES.values() if r.wants(triggers))
    return rules


def _realtime(step: Step) -> lt.LiveClientRealtimeInput | None:
    return step.client.realtime_input if step.client is not None else None


def _audio_blobs(step: Step) -> list[lt.Blob]:
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


def _is_native_audio(model: str | None) -> bool:
    return model is not None and "native-audio" in model


def _is_31(model: str | None) -> bool:
    return model is not None and re.search(r"gemini-3\.1", model) is not None


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
    for blob in _audio_blobs(step):
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
    for blob in _audio_blobs(step):
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
    if state.camel_seen or _has_camel(step):
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
    """A ``toolResponse`` answers an id the server issued in a ``toolCall``."""
    if step.client is None or step.client.tool_response is None:
        return
    for fr in step.client.tool_response.function_responses or []:
        if fr.id is None:
            yield f"function response {fr.name!r} has no id (required on the Gemini API)"
        elif fr.id not in state.issued:
            yield f"toolResponse for id {fr.id!r}, which no toolCall issued"


@rule("tool-response-duplicate", "error", "§2.4", on=("toolResponse",))
def _tool_duplicate(state: ConnState, step: Step) -> Iterator[str]:
    """Each tool call is answered once (``willContinue`` responses excepted)."""
    if step.client is None or step.client.tool_response is None:
        return
    for fr in step.client.tool_response.function_responses or []:
        if fr.id is not None and fr.id in state.answered and fr.id in state.issued:
            yield f"tool call {fr.id!r} answered twice"


@rule("tool-call-unanswered", "warning", "§2.4, §8.10", on=("close",))
def _tool_unanswered(state: ConnState, step: Step) -> Iterator[str]:
    """Every tool call gets a ``toolResponse`` (or a cancellation) before the connection ends."""
    if step.kind == "close":
        for call_id, (_, name, _blocking) in state.open_calls.items():
            yield f"tool call {call_id!r} ({name}) never answered"


@rule(
    "audio-during-blocking-call",
    "warning",
    "§5.3, §8.10",
    on=("realtimeInput.audio", "realtimeInput.mediaChunks"),
)
def _audio_during_call(state: ConnState, step: Step) -> tuple[str, ...]:
    """Streaming audio while a BLOCKING tool call is unanswered risks 1008 "aborted"."""
    if not state.open_calls or not _audio_blobs(step):
        return ()
    return tuple(
        f"realtime audio while blocking tool call {call_id!r} ({name}) is open"
        for call_id, (_, name, blocking) in state.open_calls.items()
        if blocking and call_id not in state.warned_audio_calls
    )


@rule("text-modality-native-audio", "error", "§2.1.1, §8.7", on=("setup",))
def _text_native_audio(state: ConnState, step: Step) -> Iterator[str]:
    """Native-audio models accept ``responseModalities: ["AUDIO"]`` only."""
    setup = step.client.setup if step.client is not None else None
    if setup is None or not _is_native_audio(setup.model or state.model):
        return
    gc = setup.generation_config
    if gc is not None and "TEXT" in (gc.response_modalities or []):
        yield f"TEXT response modality on native-audio model {setup.model or state.model}"


@rule("client-content-mid-session", "warning", "§2.2, §8.6", on=("clientContent",))
def _client_content_mid(state: ConnState, step: Step) -> Iterator[str]:
    """On Gemini 3.1, ``clientContent`` only seeds history; mid-session it is closed with 1007."""
    if step.client is None or step.client.client_content is None or not _is_31(state.model):
        return
    if not state.history_in_client_content:
        yield "clientContent on a 3.1 model without historyConfig.initialHistoryInClientContent"
    elif state.history_done:
        yield "clientContent after the initial history on a 3.1 model"


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


#: Sample rates audio is commonly recorded at, for ``audio-rate-mismatch``.
COMMON_RATES = (8000, 11025, 12000, 16000, 22050, 24000, 32000, 44100, 48000)
#: Seconds of steady streaming ``audio-rate-mismatch`` needs before it judges.
RATE_CHECK_MIN_SECONDS = 2.0
#: A pause longer than this (or 4 chunks' duration) ends a steady run of audio.
RUN_BREAK_SECONDS = 0.5


def _audio_flow(state: ConnState) -> tuple[int, float, int, int]:
    """Samples, seconds, chunks and declared rate of the steady audio runs so far."""
    samples, seconds, chunks, rate = state.audio_flow
    run = state.audio_run
    if run is not None and run[1] > run[0]:
        first, last, rate, before, _, count = run
        samples, seconds, chunks = samples + before, seconds + last - first, chunks + count
    return samples, seconds, chunks, rate


@rule("audio-rate-mismatch", "warning", "§6", on=("close",))
def _audio_rate_mismatch(state: ConnState, step: Step) -> Iterator[str]:
    """Audio streamed in real time flows at the rate its MIME type declares.

    Over steady runs of ``realtimeInput.audio`` (pauses end a run), samples
    per second of wall clock should match ``rate=``. Flowing at another
    common rate means the data is at that rate, mislabelled (it would play
    too fast or too slow). Uploads faster than real time match no common
    rate and are not judged.
    """
    samples, seconds, chunks, declared = _audio_flow(state)
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


def _has_camel(step: Step) -> bool:
    return step.client is not None and _camel_in(msgspec.to_builtins(step.client))


# ---------------------------------------------------------------------------
# Metrics
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Turn:
    """Latencies of one model turn, in seconds from the end of the user's input."""

    connection: int
    user_end_t: float | None = None
    first_input_transcription: float | None = None
    first_reply_audio: float | None = None
    generation_complete: float | None = None
    turn_complete: float | None = None
    interrupted: bool = False
    #: Underruns of the reply audio played from its first chunk: count and seconds.
    audio_gaps: int = 0
    audio_gap_seconds: float = 0.0


def _percentiles(values: list[float]) -> dict[str, float] | None:
    if not values:
        return None
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return {"p50": pick(0.5), "p90": pick(0.9), "max": ordered[-1], "n": float(len(ordered))}


def _stats(sizes: list[int]) -> dict[str, float] | None:
    if not sizes:
        return None
    return {
        "count": float(len(sizes)),
        "min": float(min(sizes)),
        "mean": sum(sizes) / len(sizes),
        "max": float(max(sizes)),
    }


@dataclasses.dataclass
class Metrics:
    """Timings and volumes of a session (seconds, bytes, tokens)."""

    setup_complete: dict[int, float] = dataclasses.field(default_factory=dict)
    turns: list[Turn] = dataclasses.field(default_factory=list)
    tool_round_trips: list[float] = dataclasses.field(default_factory=list)
    audio_in_seconds: float = 0.0
    audio_out_seconds: float = 0.0
    audio_in_chunks: list[int] = dataclasses.field(default_factory=list)
    audio_out_chunks: list[int] = dataclasses.field(default_factory=list)
    upload_span: tuple[float, float] | None = None
    interruptions: int = 0
    #: Each underrun of reply audio (seconds): the next chunk arrived after the
    #: audio before it would have finished playing (see :data:`GAP_MIN_SECONDS`).
    reply_gaps: list[float] = dataclasses.field(default_factory=list)
    prompt_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    response_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    total_tokens: int = 0
    #: (connection, announced timeLeft, actual seconds from goAway to the close).
    go_away: list[tuple[int, float | None, float | None]] = dataclasses.field(default_factory=list)

    @property
    def upload_real_time_factor(self) -> float | None:
        """Seconds of audio sent per second of wall clock while uploading."""
        if self.upload_span is None:
            return None
        span = self.upload_span[1] - self.upload_span[0]
        return None if span <= 0 else self.audio_in_seconds / span

    def latencies(self) -> dict[str, dict[str, float] | None]:
        """Percentiles over the session's turns, by milestone."""
        names = (
            "first_input_transcription",
            "first_reply_audio",
            "generation_complete",
            "turn_complete",
        )
        out: dict[str, dict[str, float] | None] = {}
        for name in names:
            values = [v for turn in self.turns if (v := getattr(turn, name)) is not None]
            out[name] = _percentiles(values)
        out["tool_round_trip"] = _percentiles(self.tool_round_trips)
        out["setup_complete"] = _percentiles(list(self.setup_complete.values()))
        return out

    def to_builtins(self) -> dict[str, Any]:
        return {
            "setupComplete": {str(k): v for k, v in self.setup_complete.items()},
            "turns": [dataclasses.asdict(turn) for turn in self.turns],
            "toolRoundTrips": self.tool_round_trips,
            "audioInSeconds": self.audio_in_seconds,
            "audioOutSeconds": self.audio_out_seconds,
            "audioInChunkBytes": _stats(self.audio_in_chunks),
            "audioOutChunkBytes": _stats(self.audio_out_chunks),
            "uploadRealTimeFactor": self.upload_real_time_factor,
            "interruptions": self.interruptions,
            "replyAudioGaps": {
                "count": len(self.reply_gaps),
                "seconds": sum(self.reply_gaps),
                "max": max(self.reply_gaps, default=None),
            },
            "promptTokens": self.prompt_tokens,
            "responseTokens": self.response_tokens,
            "totalTokens": self.total_tokens,
            "goAway": [
                {"connection": c, "timeLeft": left, "actualLead": lead}
                for c, left, lead in self.go_away
            ],
            "percentiles": self.latencies(),
        }


_RATES: dict[str, int | None] = {}


def _mime_rate(mime: str) -> int | None:
    """:func:`rawlive.wire.codec.mime_rate`, memoised: a stream repeats one MIME type."""
    if mime in _RATES:
        return _RATES[mime]
    rate = mime_rate(mime)
    if len(_RATES) < 256:
        _RATES[mime] = rate
    return rate


def _pcm_seconds(blob: lt.Blob | lt.FunctionResponseBlob, default_rate: int) -> float:
    rate = _mime_rate(blob.mime_type or "") or default_rate
    return len(blob.data or b"") / 2 / rate if rate > 0 else 0.0


_CLOSE = frozenset({"close"})
_CLIENT_KEYS = tuple((f.name, f.encode_name) for f in msgspec.structs.fields(lt.LiveClientMessage))
_SERVER_KEYS = tuple((f.name, f.encode_name) for f in msgspec.structs.fields(lt.LiveServerMessage))


_REALTIME_KEYS = tuple(
    (f.name, f"realtimeInput.{f.encode_name}")
    for f in msgspec.structs.fields(lt.LiveClientRealtimeInput)
)


def _triggers(
    sender: str, message: lt.LiveClientMessage | lt.LiveServerMessage, report: WireReport
) -> frozenset[str]:
    """The step's triggers: its side, the top-level keys its message holds, and
    for ``realtimeInput`` the second-level ones (``realtimeInput.audio``)."""
    keys = _CLIENT_KEYS if sender == "client" else _SERVER_KEYS
    found = [sender, *(wire for name, wire in keys if getattr(message, name) is not None)]
    if isinstance(message, lt.LiveClientMessage) and message.realtime_input is not None:
        rt = message.realtime_input
        found += [wire for name, wire in _REALTIME_KEYS if getattr(rt, name) not in (None, False)]
    if report.urlsafe_base64:
        found.append("urlsafe-base64")
    return frozenset(found)


#: Audio payloads shorter than this are never the variable part of a template.
_TEMPLATE_MIN_DATA = 16
_TEMPLATE_LIMIT = 64
_DATA_KEY = re.compile(rb'"data"\s*:\s*"$')


@dataclasses.dataclass
class _Template:
    """A frame shape seen before whose only variable part is one audio blob's base64."""

    head: bytes
    tail: bytes
    head_text: str
    tail_text: str
    sender: str
    message: lt.LiveClientMessage | lt.LiveServerMessage
    report: WireReport
    triggers: frozenset[str]
    #: Bytes of audio the template holds.
    data_size: int
    #: Index of the part holding the audio (server), or -1 for ``realtimeInput.audio``.
    part: int
    #: The message's audio blobs, and what the pure rules found in it (by rule).
    blobs: list[lt.Blob] = dataclasses.field(default_factory=list)
    pure_found: list[tuple[str, tuple[str, ...]]] | None = None
    #: The other rules its frames need run.
    impure: tuple[Rule, ...] | None = None

    def rebuild(self, data: bytes) -> lt.LiveClientMessage | lt.LiveServerMessage:
        """The template's message with other audio (used to prove the template)."""
        replace = msgspec.structs.replace
        msg = self.message
        if isinstance(msg, lt.LiveClientMessage):
            rt = msg.realtime_input
            assert rt is not None and rt.audio is not None
            return replace(msg, realtime_input=replace(rt, audio=replace(rt.audio, data=data)))
        sc = msg.server_content
        assert sc is not None and sc.model_turn is not None and sc.model_turn.parts
        parts = list(sc.model_turn.parts)
        blob = parts[self.part].inline_data
        assert blob is not None
        parts[self.part] = replace(parts[self.part], inline_data=replace(blob, data=data))
        turn = replace(sc.model_turn, parts=parts)
        return replace(msg, server_content=replace(sc, model_turn=turn))


class _Templates:
    """Audio frames decoded once per shape: the bulk of a cassette skips the strict walk.

    A frame of the same length as a known template, made of the template's
    head, then strict base64 of as many bytes, then its tail, is the
    template's frame with other audio samples. The auditor never looks at samples, only
    at their count, so it audits that frame exactly as the template (the same
    message, wire report and triggers). A template is learnt only when swapping
    its audio for other bytes and decoding in full gives the same message with
    that audio and the same report: the shortcut never changes what the audit sees.
    """

    def __init__(self) -> None:
        # sender -> frame length -> templates (text frames and bytes frames apart).
        self._text: dict[str, dict[int, list[_Template]]] = {"client": {}, "server": {}}
        self._bytes: dict[str, dict[int, list[_Template]]] = {"client": {}, "server": {}}
        self._count = 0

    def match(self, payload: str | bytes, sender: str) -> _Template | None:
        if isinstance(payload, str):
            for tpl in self._text[sender].get(len(payload), ()):
                if payload.startswith(tpl.head_text) and payload.endswith(tpl.tail_text):
                    middle: str | bytes = payload[len(tpl.head_text) : -len(tpl.tail_text)]
                    break
            else:
                return None
        else:
            for tpl in self._bytes[sender].get(len(payload), ()):
                if payload.startswith(tpl.head) and payload.endswith(tpl.tail):
                    middle = payload[len(tpl.head) : -len(tpl.tail)]
                    break
            else:
                return None
        try:
            # Strict base64: no quote, backslash or escape gets through; and
            # as many bytes (padding makes lengths share a base64 length).
            if len(pybase64.b64decode(middle, validate=True)) != tpl.data_size:
                return None
        except (binascii.Error, ValueError):
            return None
        return tpl

    def learn(
        self,
        payload: str | bytes,
        sender: str,
        message: lt.LiveClientMessage | lt.LiveServerMessage,
        report: WireReport,
        triggers: frozenset[str],
    ) -> None:
        if self._count >= _TEMPLATE_LIMIT or sender not in self._text:
            return
        found = _audio_of(message)
        if found is None:
            return
        data, part = found
        if len(data) < _TEMPLATE_MIN_DATA:
            return
        raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        encoded = pybase64.b64encode(data)
        if raw.count(encoded) != 1:
            return
        start = raw.index(encoded)
        head, tail = raw[:start], raw[start + len(encoded) :]
        if not _DATA_KEY.search(head) or not tail.startswith(b'"'):
            return
        try:
            head_text, tail_text = head.decode("utf-8"), tail.decode("utf-8")
        except UnicodeDecodeError:
            return
        tpl = _Template(
            head, tail, head_text, tail_text, sender, message, report, triggers, len(data), part
        )
        # Proof by example: other audio in the same place must decode to the
        # template's message with that audio, and report the same.
        other = bytes(b ^ 0x5A for b in data)
        probe = head + pybase64.b64encode(other) + tail
        try:
            decoded, probe_report = inspect_frame(probe, direction=sender)
        except (DecodeError, msgspec.DecodeError, ValueError, TypeError, KeyError):
            return
        if decoded == tpl.rebuild(other) and probe_report == report:
            if isinstance(message, lt.LiveClientMessage):
                tpl.blobs.extend(_audio_blobs(Step("frame", 0.0, 0, sender, client=message)))
            size = len(head_text) + len(encoded) + len(tail_text)
            self._text[sender].setdefault(size, []).append(tpl)
            self._bytes[sender].setdefault(len(raw), []).append(tpl)
            self._count += 1


def _audio_of(
    message: lt.LiveClientMessage | lt.LiveServerMessage,
) -> tuple[bytes, int] | None:
    """The one audio blob a template can vary: client ``realtimeInput.audio``, or a reply part."""
    if isinstance(message, lt.LiveClientMessage):
        rt = message.realtime_input
        if rt is not None and rt.audio is not None and rt.audio.data:
            return rt.audio.data, -1
        return None
    sc = message.server_content
    if sc is None or sc.model_turn is None or not sc.model_turn.parts:
        return None
    for index, part in enumerate(sc.model_turn.parts):
        blob = part.inline_data
        if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
            return blob.data, index
    return None


# ---------------------------------------------------------------------------
# The auditor
# ---------------------------------------------------------------------------


class Auditor:
    """Consumes cassette events one at a time; collects findings, drift and metrics.

    ``max_per_rule`` findings of each rule are kept in :attr:`findings`
    (``None``: all); :attr:`rule_counts` counts every one.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        redact: endpoints.Redactor | None = None,
        max_per_rule: int | None = MAX_FINDINGS_PER_RULE,
    ) -> None:
        self.default_model = model
        #: Keeps credentials out of findings and the report: it learns those
        #: in each connection's URL and headers (give it the header's too).
        self.redact = endpoints.Redactor() if redact is None else redact
        self.max_per_rule = max_per_rule
        self.findings: list[Finding] = []
        #: Findings by rule, those not kept included.
        self.rule_counts: dict[str, int] = {}
        #: The rules past ``max_per_rule``, in the order they got there.
        self.capped: list[str] = []
        self.drift: dict[tuple[str, str], DriftEntry] = {}
        self.metrics = Metrics()
        self._conns: dict[int, ConnState] = {}
        self._turns: dict[int, Turn] = {}
        self._reply_started: dict[int, bool] = {}
        self._go_away: dict[int, tuple[float, float | None]] = {}
        self._finished = False
        self._templates = _Templates()
        #: Frames by sender, then cassette ``kind``, for ``audit --diff``.
        self._kinds: dict[str, dict[str, int]] = {"client": {}, "server": {}}
        #: Key paths seen, by sender, in wire spelling (``serverContent.modelTurn.parts[]``).
        self.fields: dict[str, set[str]] = {}

    def report(self, path: str, model: str | None = None) -> Report:
        """What was found so far, as a :class:`Report` (call :meth:`finish` first).

        Every string that came from the recording is redacted (:attr:`redact`).
        """
        r = self.redact
        kinds = {s: _redact_keys(dict(sorted(k.items())), r) for s, k in self._kinds.items() if k}
        model = model or self.default_model
        m = self.metrics
        return Report(
            path=path,
            model=None if model is None else r(model),
            findings=list(self.findings),
            rule_counts=dict(sorted(self.rule_counts.items())),
            drift=[dataclasses.replace(d, path=r(d.path)) for d in self.drift.values()],
            metrics=dataclasses.replace(
                m,
                prompt_tokens=_redact_keys(m.prompt_tokens, r),
                response_tokens=_redact_keys(m.response_tokens, r),
            ),
            kinds=kinds,
            fields={s: sorted({r(p) for p in paths}) for s, paths in sorted(self.fields.items())},
        )

    # -- plumbing -----------------------------------------------------------

    def _conn(self, number: int) -> ConnState:
        state = self._conns.get(number)
        if state is None:
            state = self._conns[number] = ConnState(number=number, model=self.default_model)
        return state

    def _add(self, name: str, message: str, when: float | None, connection: int | None) -> None:
        count = self.rule_counts[name] = self.rule_counts.get(name, 0) + 1
        if self.max_per_rule is None or count <= self.max_per_rule:
            r = RULES[name]
            message = self.redact(message)
            self.findings.append(Finding(name, r.severity, r.section, message, when, connection))
        elif count == self.max_per_rule + 1:
            self.capped.append(name)
        if name == "mixed-casing" and connection is not None:
            self._conn(connection).mixed_reported = True

    def _run_rules(
        self,
        state: ConnState,
        step: Step,
        triggers: frozenset[str],
        tpl: _Template | None = None,
    ) -> None:
        """Run the rules the step concerns; the pure ones once per template (see :class:`Rule`)."""
        if tpl is None:
            rules = _rules_for(triggers)
        else:
            if tpl.pure_found is None:
                found = [
                    (r.name, tuple(r.check(state, step))) for r in _rules_for(triggers) if r.pure
                ]
                tpl.pure_found = [(name, messages) for name, messages in found if messages]
            for name, messages in tpl.pure_found:
                for message in messages:
                    self._add(name, message, step.t, step.connection)
            if tpl.impure is None:
                tpl.impure = _impure_rules_for(triggers)
            rules = tpl.impure
        for r in rules:
            for message in r.check(state, step):
                self._add(r.name, message, step.t, step.connection)

    def feed(self, event: CassetteEvent) -> None:
        """Audit one event (in recording order)."""
        if isinstance(event, FrameEvent):  # (nearly every event)
            self._frame(event)
        elif isinstance(event, ConnectEvent):
            self.redact.learn(event.url, event.headers)
            self._conn(event.connection)
        elif isinstance(event, CloseEvent):
            self._close(event.connection, event.t, event.code, event.reason)
        elif isinstance(event, EndEvent):
            self.finish(event.t)

    def finish(self, when: float | None = None) -> None:
        """End of the recording: connections never closed are checked as if closed now."""
        if self._finished:
            return
        self._finished = True
        for number, state in list(self._conns.items()):
            if not state.closed:
                self._close(number, when if when is not None else 0.0, None, "")

    # -- frames -------------------------------------------------------------

    def _frame(self, event: FrameEvent) -> None:
        # (The hot path of an audit: locals rather than repeated attribute lookups.)
        sender, number = event.sender, event.connection
        state = self._conns.get(number) or self._conn(number)
        # The text as recorded is the frame (no copy to bytes) unless audio was elided.
        text = event.text
        payload: str | bytes = (
            text if text is not None and not event.elided else event.wire_payload()
        )
        kinds = self._kinds[sender]
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
        tpl = self._templates.match(payload, sender)
        if tpl is not None:
            message, report, triggers = tpl.message, tpl.report, tpl.triggers
        else:
            try:
                message, report = inspect_frame(payload, direction=event.sender)
            except (DecodeError, msgspec.DecodeError, ValueError, TypeError, KeyError) as exc:
                self._add(
                    "invalid-frame",
                    f"{event.sender} frame ({event.kind}) does not decode: {exc}",
                    event.t,
                    event.connection,
                )
                if event.sender == "client":
                    state.client_frames += 1
                return
            triggers = _triggers(event.sender, message, report)
            self._templates.learn(payload, event.sender, message, report, triggers)
            self.fields.setdefault(event.sender, set()).update(report.key_paths)
        if report.unknown_fields or report.unknown_enum_values:
            self._drift(report, event)
        if sender == "client":
            assert isinstance(message, lt.LiveClientMessage)
            blobs = None if tpl is None else tpl.blobs
            step = Step("frame", event.t, number, "client", message, None, report, None, "", blobs)
            self._run_rules(state, step, triggers, tpl)
            self._after_client(state, step, message, report)
        else:
            assert isinstance(message, lt.LiveServerMessage)
            step = Step("frame", event.t, number, "server", None, message, report)
            self._run_rules(state, step, triggers, tpl)
            self._after_server(state, step, message)

    def _drift(self, report: WireReport, event: FrameEvent) -> None:
        for path in report.unknown_paths():
            key = (event.sender, path)
            entry = self.drift.get(key)
            if entry is None:
                self.drift[key] = DriftEntry(path, event.sender, 1, event.t, event.connection)
            else:
                entry.count += 1

    def _after_client(
        self, state: ConnState, step: Step, msg: lt.LiveClientMessage, report: WireReport
    ) -> None:
        state.client_frames += 1
        if not state.snake_seen and report.snake_case_keys:
            state.snake_seen = True
        if not state.camel_seen:
            state.camel_seen = _has_camel(step)
        turn = self._turns.get(step.connection)
        if turn is None:
            turn = self._turns[step.connection] = Turn(step.connection)
        replying = self._reply_started.get(step.connection, False)
        if msg.setup is not None:
            self._setup(state, step, msg.setup)
        if msg.client_content is not None and msg.client_content.turn_complete:
            state.history_done = True
            if not replying:
                turn.user_end_t = step.t
        rt = msg.realtime_input
        if rt is not None:
            state.history_done = True
            blobs = _audio_blobs(step)
            if blobs:
                metrics = self.metrics
                for blob in blobs:
                    metrics.audio_in_chunks.append(len(blob.data or b""))
                    metrics.audio_in_seconds += _pcm_seconds(blob, 16000)
                    self._flow(state, step.t, blob)
                for call_id, (_, _, blocking) in state.open_calls.items():
                    if blocking:
                        state.warned_audio_calls.add(call_id)
                span = metrics.upload_span
                metrics.upload_span = (span[0] if span else step.t, step.t)
            user_input = (
                blobs or rt.text is not None or rt.activity_end is not None or rt.audio_stream_end
            )
            if user_input and not replying:
                turn.user_end_t = step.t
            if rt.activity_start is not None:
                state.activity_open = True
            if rt.activity_end is not None:
                state.activity_open = False
            if rt.video is not None:
                state.last_video_t = step.t
        if msg.tool_response is not None:
            for fr in msg.tool_response.function_responses or []:
                if fr.id is None:
                    continue
                call = state.open_calls.pop(fr.id, None)
                if call is not None:
                    self.metrics.tool_round_trips.append(step.t - call[0])
                if fr.id in state.issued:
                    state.answered.add(fr.id)

    def _playout(self, state: ConnState, turn: Turn, t: float, seconds: float) -> None:
        """Play reply audio from its first chunk on: a chunk that comes late is a gap."""
        end = state.playout_end
        if end is not None and t - end >= GAP_MIN_SECONDS:
            self.metrics.reply_gaps.append(t - end)
            turn.audio_gaps += 1
            turn.audio_gap_seconds += t - end
        state.playout_end = (t if end is None or t > end else end) + seconds

    def _flow(self, state: ConnState, t: float, blob: lt.Blob) -> None:
        """Extend the steady run of audio, or end it and start another."""
        rate = _mime_rate(blob.mime_type or "") or 0
        samples = len(blob.data or b"") // 2
        run = state.audio_run
        if run is not None:
            first, last, run_rate, before, last_samples, count = run
            chunk_s = last_samples / run_rate if run_rate else 0.0
            if rate == run_rate and t - last <= max(RUN_BREAK_SECONDS, 4 * chunk_s):
                state.audio_run = (first, t, rate, before + last_samples, samples, count + 1)
                return
            # Runs at another declared rate are judged apart: the latest rate's count.
            state.audio_flow = _audio_flow(state) if rate == run_rate else (0, 0.0, 0, rate)
        state.audio_run = (t, t, rate, 0, samples, 1)

    def _setup(self, state: ConnState, step: Step, setup: lt.LiveClientSetup) -> None:
        state.setups += 1
        if state.setups > 1:
            return
        state.setup_t = step.t
        if setup.model:
            state.model = setup.model
        ric = setup.realtime_input_config
        aad = ric.automatic_activity_detection if ric is not None else None
        state.manual_vad = bool(aad is not None and aad.disabled)
        hc = setup.history_config
        state.history_in_client_content = bool(
            hc is not None and getattr(hc, "initial_history_in_client_content", False)
        )
        for tool in setup.tools or []:
            for decl in tool.function_declarations or []:
                if decl.name and decl.behavior == "NON_BLOCKING":
                    state.non_blocking.add(decl.name)

    def _after_server(self, state: ConnState, step: Step, msg: lt.LiveServerMessage) -> None:
        number = step.connection
        if msg.setup_complete is not None and state.setup_complete_t is None:
            state.setup_complete_t = step.t
            if state.setup_t is not None:
                self.metrics.setup_complete[number] = step.t - state.setup_t
        turn = self._turns.get(number)
        if turn is None:
            turn = self._turns[number] = Turn(number)
        # Seconds since the end of the user's input (None: no input yet).
        since_user = None if turn.user_end_t is None else step.t - turn.user_end_t
        if msg.tool_call is not None:
            self._reply_started[number] = True
            state.playout_end = None  # the pause for the tool is not an underrun
            for call in msg.tool_call.function_calls or []:
                if call.id is None:
                    continue
                name = call.name or "?"
                state.issued.add(call.id)
                state.open_calls[call.id] = (step.t, name, name not in state.non_blocking)
        if msg.tool_call_cancellation is not None:
            for call_id in msg.tool_call_cancellation.ids or []:
                state.open_calls.pop(call_id, None)
        sc = msg.server_content
        if sc is not None:
            if sc.input_transcription is not None and turn.first_input_transcription is None:
                turn.first_input_transcription = since_user
            parts = sc.model_turn.parts or [] if sc.model_turn is not None else []
            for part in parts:
                blob = part.inline_data
                if blob is not None and (blob.mime_type or "").startswith("audio/"):
                    metrics = self.metrics
                    metrics.audio_out_chunks.append(len(blob.data or b""))
                    seconds = _pcm_seconds(blob, 24000)
                    metrics.audio_out_seconds += seconds
                    self._playout(state, turn, step.t, seconds)
                    if turn.first_reply_audio is None:
                        turn.first_reply_audio = since_user
            if parts:
                self._reply_started[number] = True
            if sc.interrupted or sc.turn_complete:
                state.playout_end = None
            if sc.interrupted:
                turn.interrupted = True
                self.metrics.interruptions += 1
            if sc.generation_complete and turn.generation_complete is None:
                turn.generation_complete = since_user
            if sc.turn_complete:
                turn.turn_complete = since_user
                self.metrics.turns.append(turn)
                self._turns[number] = Turn(number)
                self._reply_started[number] = False
        usage = msg.usage_metadata
        if usage is not None:
            self.metrics.total_tokens += usage.total_token_count or 0
            for details, into in (
                (usage.prompt_tokens_details, self.metrics.prompt_tokens),
                (usage.response_tokens_details, self.metrics.response_tokens),
            ):
                for d in details or []:
                    modality = d.modality or "UNSPECIFIED"
                    into[modality] = into.get(modality, 0) + (d.token_count or 0)
        if msg.go_away is not None:
            left = msg.go_away.time_left
            self._go_away[number] = (step.t, None if left is None else left.total_seconds())

    # -- connection end -----------------------------------------------------

    def _close(self, number: int, when: float, code: int | None, reason: str) -> None:
        state = self._conn(number)
        if state.closed:
            return
        step = Step("close", when, number, close_code=code, close_reason=reason)
        self._run_rules(state, step, _CLOSE)
        state.closed = True
        if number in self._go_away:
            at, left = self._go_away.pop(number)
            self.metrics.go_away.append((number, left, when - at if code is not None else None))


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    """What auditing one cassette found."""

    path: str
    model: str | None
    #: The findings kept: up to the auditor's limit per rule.
    findings: list[Finding]
    drift: list[DriftEntry]
    metrics: Metrics
    #: Findings by rule, those not kept included (from ``findings`` when not given).
    rule_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Frames by sender, then cassette ``kind`` (``realtimeInput.audio``...).
    kinds: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: Key paths seen, by sender, in wire spelling.
    fields: dict[str, list[str]] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rule_counts:
            for f in self.findings:
                self.rule_counts[f.rule] = self.rule_counts.get(f.rule, 0) + 1

    def count(self, severity: Severity) -> int:
        """Findings of that severity, those not kept included."""
        return sum(n for name, n in self.rule_counts.items() if RULES[name].severity == severity)

    def not_shown(self) -> dict[str, int]:
        """Findings found but not kept, by rule (the rules past the limit)."""
        kept: dict[str, int] = {}
        for f in self.findings:
            kept[f.rule] = kept.get(f.rule, 0) + 1
        return {
            name: n - kept.get(name, 0)
            for name, n in self.rule_counts.items()
            if n > kept.get(name, 0)
        }

    def fails(self, threshold: Severity) -> bool:
        """Whether any finding is at least as severe as ``threshold``."""
        level = SEVERITIES.index(threshold)
        return any(SEVERITIES.index(RULES[name].severity) >= level for name in self.rule_counts)

    def to_builtins(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "drift": [dataclasses.asdict(d) for d in self.drift],
            "metrics": self.metrics.to_builtins(),
            "counts": {s: self.count(s) for s in SEVERITIES},
            "rule_counts": self.rule_counts,
            "kinds": self.kinds,
            "fields": self.fields,
        }

    def to_json(self) -> str:
        return json.dumps(self.to_builtins(), indent=2)

    def render(self) -> str:
        """A plain-text report: findings, drift and metrics as tables."""
        out = [f"audit of {self.path}" + (f" (model {self.model})" if self.model else "")]
        counts = ", ".join(f"{self.count(s)} {s}" for s in reversed(SEVERITIES))
        out.append(f"findings: {counts}")
        if self.findings:
            rows = [
                [
                    f.severity,
                    f.rule,
                    f.section,
                    "" if f.connection is None else str(f.connection),
                    "" if f.t is None else f"{f.t:.3f}",
                    f.message,
                ]
                for f in self.findings
            ]
            out.append(_table(["severity", "rule", "section", "conn", "t", "message"], rows))
        for name, n in self.not_shown().items():
            out.append(f"... {n} more {name} findings counted, not shown")
        if self.drift:
            out.append("\nschema drift (unknown keys and enum values):")
            rows = [
                [d.direction, d.path, str(d.count), f"{d.first_t:.3f}", str(d.first_connection)]
                for d in self.drift
            ]
            out.append(_table(["from", "path", "count", "first t", "conn"], rows))
        m = self.metrics
        out.append("\nmetrics:")
        rows = [
            ["audio in (s)", f"{m.audio_in_seconds:.3f}"],
            ["audio out (s)", f"{m.audio_out_seconds:.3f}"],
            ["upload real-time factor", _fmt(m.upload_real_time_factor)],
            ["turns", str(len(m.turns))],
            ["interruptions", str(m.interruptions)],
            [
                "reply audio gaps",
                f"{len(m.reply_gaps)}, {sum(m.reply_gaps):.3f} s in all"
                + (f", longest {max(m.reply_gaps):.3f} s" if m.reply_gaps else ""),
            ],
            ["total tokens", str(m.total_tokens)],
        ]
        for label, sizes in (("in", m.audio_in_chunks), ("out", m.audio_out_chunks)):
            stats = _stats(sizes)
            if stats:
                rows.append(
                    [
                        f"audio {label} chunks (bytes)",
                        f"{stats['count']:.0f} x min {stats['min']:.0f} "
                        f"mean {stats['mean']:.0f} max {stats['max']:.0f}",
                    ]
                )
        for label, tokens in (("prompt", m.prompt_tokens), ("response", m.response_tokens)):
            if tokens:
                rows.append(
                    [f"{label} tokens", ", ".join(f"{k} {v}" for k, v in sorted(tokens.items()))]
                )
        for conn, left, lead in m.go_away:
            rows.append([f"goAway conn {conn}", f"timeLeft {_fmt(left)} s, closed {_fmt(lead)} s"])
        out.append(_table(["metric", "value"], rows))
        latency_rows = [
            [name, str(int(p["n"])), _fmt(p["p50"]), _fmt(p["p90"]), _fmt(p["max"])]
            for name, p in m.latencies().items()
            if p is not None
        ]
        if latency_rows:
            out.append("\nlatencies (s; turns from the end of user input):")
            out.append(_table(["milestone", "n", "p50", "p90", "max"], latency_rows))
        return "\n".join(out)


def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def _table(head: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)


def _redact_keys(counts: dict[str, int], redact: Callable[[str], str]) -> dict[str, int]:
    """Counts by name, the names redacted (two that become one are added up)."""
    out: dict[str, int] = {}
    for name, count in counts.items():
        name = redact(name)
        out[name] = out.get(name, 0) + count
    return out


def audit_cassette(
    path: str | os.PathLike[str], *, max_per_rule: int | None = MAX_FINDINGS_PER_RULE
) -> Report:
    """Audit a cassette file, keeping ``max_per_rule`` findings of each rule (``None``: all).

    A bad header (not a cassette) raises :class:`rawlive.DecodeError`; a bad
    event line or a cut-off last line ends the audit there with a finding.
    The credentials found in the cassette's URLs and headers are kept out of
    the report, as ``rawlive report`` keeps them out of its page (a cassette
    written by hand or by an older tool may hold one).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedCassetteWarning)
        with CassetteReader(path) as reader:
            auditor = Auditor(model=reader.header.model, max_per_rule=max_per_rule)
            auditor.redact.learn(reader.header.url, reader.header.headers)
            try:
                for event in reader:
                    auditor.feed(event)
            except DecodeError as exc:
                auditor._add("invalid-frame", f"unreadable cassette: {exc}", None, None)
            auditor.finish()
    for w in caught:
        if issubclass(w.category, TruncatedCassetteWarning):
            auditor._add("cassette-truncated", str(w.message), None, None)
    return auditor.report(str(path), reader.header.model)


# ---------------------------------------------------------------------------
# Live audit of connections as they happen
# ---------------------------------------------------------------------------


class LiveAudit:
    """Audits many independent connections live, as a proxy sees them.

    Each connection (any hashable key, such as its number on the proxy) gets
    its own :class:`Auditor`. :meth:`frame` and :meth:`close` feed it as
    frames pass and when the connection ends; ``on_finding(key, finding)`` is
    called for each finding the moment it is found, and :meth:`close` returns
    the connection's :class:`Report` (its metrics are complete then).

    Of each rule, the first ``max_per_rule`` findings of a connection are
    passed on and kept; then ``on_limit(key, rule, max_per_rule)`` is called
    once, and further findings of that rule are only counted (the report's
    :attr:`Report.rule_counts`).

    :meth:`on_frame` and :meth:`on_close` are those two as a
    :class:`rawlive.servers.proxy.Proxy`'s hooks (``Proxy(..., on_frame=audit.on_frame,
    on_close=audit.on_close)``); then findings and reports come with the
    credentials of the connection's handshake redacted, and ``on_end(key,
    report, end)`` is called with each connection's report and how it ended.
    """

    def __init__(
        self,
        on_finding: Callable[[Hashable, Finding], None] | None = None,
        *,
        on_end: Callable[[Hashable, Report, ConnectionEnd], None] | None = None,
        on_limit: Callable[[Hashable, str, int], None] | None = None,
        model: str | None = None,
        max_per_rule: int | None = MAX_FINDINGS_PER_RULE,
    ) -> None:
        self.on_finding = on_finding
        self.on_end = on_end
        self.on_limit = on_limit
        self.model = model
        self.max_per_rule = max_per_rule
        self._open: dict[Hashable, Auditor] = {}

    def _learn(self, capture: CapturedConnection) -> None:
        """A new connection's auditor learns the credentials of its handshake."""
        if capture.number not in self._open:
            query = urllib.parse.urlencode(capture.query, doseq=True)
            path = capture.path + ("?" + query if query else "")
            self._auditor(capture.number).redact.learn(path, capture.headers)

    def on_frame(self, capture: CapturedConnection, frame: Frame) -> None:
        """A proxy's ``on_frame`` hook: :meth:`frame`, keyed by the connection's number."""
        self._learn(capture)
        binary = frame.opcode == "binary"
        self.frame(capture.number, frame.sender, frame.payload, frame.time, binary=binary)

    def on_close(self, capture: CapturedConnection, end: ConnectionEnd) -> None:
        """A proxy's ``on_close`` hook: :meth:`close`, then ``on_end`` with the report."""
        self._learn(capture)
        report = self.close(capture.number, end.time, end.code, end.reason)
        if self.on_end is not None:
            self.on_end(capture.number, report, end)

    def _auditor(self, key: Hashable) -> Auditor:
        auditor = self._open.get(key)
        if auditor is None:
            auditor = self._open[key] = Auditor(model=self.model, max_per_rule=self.max_per_rule)
            auditor.feed(ConnectEvent(t=0.0, connection=1, url=""))
        return auditor

    def _emit(self, key: Hashable, auditor: Auditor, before: tuple[int, int]) -> None:
        """Pass on what the last event found: new findings, rules that reached the limit."""
        found, capped = before
        if self.on_finding is not None:
            for finding in auditor.findings[found:]:
                self.on_finding(key, finding)
        if self.on_limit is not None and self.max_per_rule is not None:
            for name in auditor.capped[capped:]:
                self.on_limit(key, name, self.max_per_rule)

    def frame(self, key: Hashable, sender: str, payload: bytes, t: float, *, binary: bool) -> None:
        """One frame of connection ``key``: ``sender`` ``client`` or ``server``, at ``t`` s."""
        auditor = self._auditor(key)
        text: str | None = None
        b64: str | None = None
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            b64 = pybase64.b64encode(payload).decode("ascii")
        event = FrameEvent(
            t=t,
            connection=1,
            sender="client" if sender == "client" else "server",
            opcode="binary" if binary else "text",
            kind=frame_kind(payload),
            text=text,
            b64=b64,
        )
        before = len(auditor.findings), len(auditor.capped)
        auditor.feed(event)
        self._emit(key, auditor, before)

    def close(self, key: Hashable, t: float, code: int | None, reason: str = "") -> Report:
        """Connection ``key`` ended (``code`` 1006 or ``None``: dropped); its report."""
        auditor = self._auditor(key)
        del self._open[key]
        before = len(auditor.findings), len(auditor.capped)
        code = 1006 if code is None else code
        auditor.feed(CloseEvent(t=t, connection=1, code=code, reason=reason))
        auditor.finish(t)
        self._emit(key, auditor, before)
        return auditor.report(f"connection {key}")


# ---------------------------------------------------------------------------
# Diff of two sessions
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Diff:
    """What changed from session ``a`` to session ``b`` (:func:`diff_reports`)."""

    a: str
    b: str
    #: (sender, kind, frames in a, frames in b) for every kind whose count differs.
    kinds: list[tuple[str, str, int, int]]
    #: Key paths by sender present only in a, only in b.
    only_a: dict[str, list[str]]
    only_b: dict[str, list[str]]
    #: (measure, a, b) for the session's metrics and latency percentiles.
    metrics: list[tuple[str, float | None, float | None]]
    #: (rule, findings in a, findings in b) where the counts differ.
    findings: list[tuple[str, int, int]]

    @property
    def structure_changed(self) -> bool:
        """Whether message kinds appeared or vanished, or the field sets differ."""
        return bool(
            any(min(x, y) == 0 for _, _, x, y in self.kinds)
            or any(self.only_a.values())
            or any(self.only_b.values())
        )

    def to_builtins(self) -> dict[str, Any]:
        return {
            "a": self.a,
            "b": self.b,
            "structureChanged": self.structure_changed,
            "kinds": [
                {"from": sender, "kind": kind, "a": x, "b": y} for sender, kind, x, y in self.kinds
            ],
            "fieldsOnlyInA": self.only_a,
            "fieldsOnlyInB": self.only_b,
            "metrics": [{"measure": name, "a": x, "b": y} for name, x, y in self.metrics],
            "findings": [{"rule": rule, "a": x, "b": y} for rule, x, y in self.findings],
        }

    def to_json(self) -> str:
        return json.dumps(self.to_builtins(), indent=2)

    def render(self) -> str:
        out = [f"diff of {self.a} (a) and {self.b} (b)"]
        if self.kinds:
            out.append("\nmessage kinds (frames):")
            rows = [
                [sender, kind, str(x), str(y), f"{y - x:+d}"] for sender, kind, x, y in self.kinds
            ]
            out.append(_table(["from", "kind", "a", "b", "b - a"], rows))
        else:
            out.append("\nmessage kinds: the same, in the same numbers")
        if any(self.only_a.values()) or any(self.only_b.values()):
            out.append("\nfields:")
            rows = [
                [side, sender, path]
                for side, found in (("only in a", self.only_a), ("only in b", self.only_b))
                for sender, paths in found.items()
                for path in paths
            ]
            out.append(_table(["", "from", "key path"], rows))
        else:
            out.append("fields: the same key paths")
        if self.findings:
            out.append("\nfindings:")
            out.append(
                _table(["rule", "a", "b"], [[rule, str(x), str(y)] for rule, x, y in self.findings])
            )
        rows = []
        for name, x, y in self.metrics:
            if name in _COUNTS:
                cells = [_count(x), _count(y), "-" if x is None or y is None else f"{y - x:+.0f}"]
            else:
                cells = [_fmt(x), _fmt(y), "-" if x is None or y is None else f"{y - x:+.4f}"]
            rows.append([name, *cells])
        out.append("\nmetrics (latencies in s, from the end of user input):")
        out.append(_table(["measure", "a", "b", "b - a"], rows))
        return "\n".join(out)


_COUNTS = frozenset(
    {"turns", "interruptions", "reply audio gaps", "tool round trips", "total tokens"}
)


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _diff_measures(report: Report) -> dict[str, float | None]:
    m = report.metrics
    measures: dict[str, float | None] = {
        "turns": float(len(m.turns)),
        "interruptions": float(m.interruptions),
        "audio in (s)": m.audio_in_seconds,
        "audio out (s)": m.audio_out_seconds,
        "upload real-time factor": m.upload_real_time_factor,
        "reply audio gaps": float(len(m.reply_gaps)),
        "reply audio gap seconds": sum(m.reply_gaps),
        "tool round trips": float(len(m.tool_round_trips)),
        "total tokens": float(m.total_tokens),
    }
    for name, p in m.latencies().items():
        for q in ("p50", "p90", "max"):
            measures[f"{name} {q}"] = None if p is None else p[q]
    return measures


def diff_reports(a: Report, b: Report) -> Diff:
    """What changed between two audited sessions: message kinds, field sets, latencies."""
    kinds = []
    senders = sorted(set(a.kinds) | set(b.kinds))
    for sender in senders:
        ka, kb = a.kinds.get(sender, {}), b.kinds.get(sender, {})
        for kind in sorted(set(ka) | set(kb)):
            x, y = ka.get(kind, 0), kb.get(kind, 0)
            if x != y:
                kinds.append((sender, kind, x, y))
    only_a: dict[str, list[str]] = {}
    only_b: dict[str, list[str]] = {}
    for sender in sorted(set(a.fields) | set(b.fields)):
        fa, fb = set(a.fields.get(sender, [])), set(b.fields.get(sender, []))
        if fa - fb:
            only_a[sender] = sorted(fa - fb)
        if fb - fa:
            only_b[sender] = sorted(fb - fa)
    ma, mb = _diff_measures(a), _diff_measures(b)
    metrics = [
        (name, ma[name], mb[name]) for name in ma if ma[name] is not None or mb[name] is not None
    ]
    rules_a, rules_b = a.rule_counts, b.rule_counts
    findings = [
        (rule, rules_a.get(rule, 0), rules_b.get(rule, 0))
        for rule in sorted(set(rules_a) | set(rules_b))
        if rules_a.get(rule, 0) != rules_b.get(rule, 0)
    ]
    return Diff(a.path, b.path, kinds, only_a, only_b, metrics, findings)
