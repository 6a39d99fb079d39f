"""Audit a recorded Live session: protocol rules, schema drift and latency metrics.

The :class:`Auditor` is sans-I/O: it is fed cassette events one by one
(:meth:`Auditor.feed`, then :meth:`Auditor.finish`), so a live tap can feed
it as well as a file. :func:`audit_cassette` reads a cassette and returns a
:class:`Report` (:meth:`Report.render` for tables, :meth:`Report.to_json`).

Every frame goes through the strict decoder (:func:`rawlive.codec.inspect_frame`).
Keys and enum values the types do not know are *drift*: counted, with their
first occurrence, never findings. A frame that cannot be decoded at all is a
finding (``invalid-frame``).

Rules are small functions registered with :func:`rule`, each with a name, a
severity and the ``PROTOCOL.md`` section it comes from; :data:`RULES` lists
them. A rule sees one :class:`Step` (a frame, or the end of a connection)
and the connection's state *before* that step, and yields messages.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import warnings
from collections.abc import Callable, Iterator
from typing import Any, Literal

import msgspec

from rawlive import types as lt
from rawlive.cassette import (
    CassetteEvent,
    CassetteReader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    TruncatedCassetteWarning,
)
from rawlive.codec import WireReport, inspect_frame
from rawlive.errors import DecodeError
from rawlive.protocol import close_hint

__all__ = [
    "RULES",
    "SEVERITIES",
    "Auditor",
    "Finding",
    "Metrics",
    "Report",
    "Rule",
    "Step",
    "audit_cassette",
    "rule",
]

Severity = Literal["info", "warning", "error"]
SEVERITIES: tuple[Severity, ...] = ("info", "warning", "error")

#: Seconds between two video frames below which the 1 fps limit is exceeded (with jitter).
MIN_VIDEO_INTERVAL = 0.95
_RATE = re.compile(r"rate=(\d+)")


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


@dataclasses.dataclass
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


RuleCheck = Callable[[ConnState, Step], Iterator[str]]


@dataclasses.dataclass(frozen=True)
class Rule:
    """A named protocol rule: its severity, its ``PROTOCOL.md`` section and its check."""

    name: str
    severity: Severity
    section: str
    doc: str
    check: RuleCheck


#: Every rule, by name, in the order they run.
RULES: dict[str, Rule] = {}


def rule(name: str, severity: Severity, section: str) -> Callable[[RuleCheck], RuleCheck]:
    """Register a rule check; its docstring is the rule's documentation."""

    def register(check: RuleCheck) -> RuleCheck:
        doc = (check.__doc__ or "").strip()
        RULES[name] = Rule(name, severity, section, doc, check)
        return check

    return register


def _realtime(step: Step) -> lt.LiveClientRealtimeInput | None:
    return step.client.realtime_input if step.client is not None else None


def _audio_blobs(step: Step) -> list[lt.Blob]:
    rt = _realtime(step)
    if rt is None:
        return []
    blobs = [rt.audio] if rt.audio is not None else []
    blobs += [b for b in rt.media_chunks or [] if (b.mime_type or "").startswith("audio/")]
    return blobs


def _is_native_audio(model: str | None) -> bool:
    return model is not None and "native-audio" in model


def _is_31(model: str | None) -> bool:
    return model is not None and re.search(r"gemini-3\.1", model) is not None


# ---------------------------------------------------------------------------
# The rules
# ---------------------------------------------------------------------------


@rule("setup-first", "error", "§2.0")
def _setup_first(state: ConnState, step: Step) -> Iterator[str]:
    """The first client message of a connection must be ``setup``."""
    if step.client is not None and state.client_frames == 0 and step.client.setup is None:
        yield "the first client message is not setup"


@rule("setup-once", "error", "§2.0")
def _setup_once(state: ConnState, step: Step) -> Iterator[str]:
    """``setup`` is sent once per connection, never again."""
    if step.client is not None and step.client.setup is not None and state.setups > 0:
        yield f"setup sent again (number {state.setups + 1}) on the same connection"


@rule("before-setup-complete", "warning", "§2.0")
def _before_setup_complete(state: ConnState, step: Step) -> Iterator[str]:
    """Clients should wait for ``setupComplete`` before sending anything after ``setup``."""
    if (
        step.client is not None
        and step.client.setup is None
        and state.setups > 0
        and state.setup_complete_t is None
    ):
        yield "client message sent before setupComplete"


@rule("audio-mime-rate", "warning", "§6")
def _audio_mime_rate(state: ConnState, step: Step) -> Iterator[str]:
    """Raw PCM audio must say its sample rate in the MIME type (``audio/pcm;rate=16000``)."""
    for blob in _audio_blobs(step):
        mime = blob.mime_type or ""
        if mime.startswith("audio/pcm") and not _RATE.search(mime):
            yield f"audio MIME type {mime!r} has no rate="
        elif (m := _RATE.search(mime)) and not 8000 <= int(m.group(1)) <= 48000:
            yield f"audio MIME type {mime!r} has an implausible rate"


@rule("audio-odd-length", "error", "§6")
def _audio_odd_length(state: ConnState, step: Step) -> Iterator[str]:
    """16-bit PCM chunks hold whole samples: an even number of bytes."""
    for blob in _audio_blobs(step):
        if (blob.mime_type or "").startswith("audio/pcm") and len(blob.data or b"") % 2:
            yield f"PCM audio chunk of {len(blob.data or b'')} bytes (odd: half a sample)"


@rule("media-chunks-deprecated", "warning", "§2.3, §8.5")
def _media_chunks(state: ConnState, step: Step) -> Iterator[str]:
    """``realtimeInput.mediaChunks`` is deprecated; only its first element is honoured."""
    rt = _realtime(step)
    if rt is not None and rt.media_chunks is not None:
        extra = len(rt.media_chunks) - 1
        yield "deprecated mediaChunks" + (f" ({extra} chunk(s) ignored)" if extra > 0 else "")


@rule("mixed-casing", "info", "§2.0, §8.3")
def _mixed_casing(state: ConnState, step: Step) -> Iterator[str]:
    """The client mixes snake_case and camelCase keys (accepted, but be consistent)."""
    if step.report is None or step.sender != "client" or state.mixed_reported:
        return
    snake = state.snake_seen or bool(step.report.snake_case_keys)
    camel = state.camel_seen or _has_camel(step)
    if snake and camel:
        keys = ", ".join(step.report.snake_case_keys[:3]) or "earlier frames"
        yield f"client mixes snake_case ({keys}) and camelCase keys"


@rule("urlsafe-base64", "info", "§2.0, §8.4")
def _urlsafe_base64(state: ConnState, step: Step) -> Iterator[str]:
    """The client sends URL-safe base64 (the server accepts it; standard is documented)."""
    if step.report is not None and step.sender == "client" and step.report.urlsafe_base64:
        yield f"URL-safe base64 at {', '.join(step.report.urlsafe_base64[:3])}"


@rule("tool-response-unknown-id", "error", "§2.4")
def _tool_unknown(state: ConnState, step: Step) -> Iterator[str]:
    """A ``toolResponse`` answers an id the server issued in a ``toolCall``."""
    if step.client is None or step.client.tool_response is None:
        return
    for fr in step.client.tool_response.function_responses or []:
        if fr.id is None:
            yield f"function response {fr.name!r} has no id (required on the Gemini API)"
        elif fr.id not in state.issued:
            yield f"toolResponse for id {fr.id!r}, which no toolCall issued"


@rule("tool-response-duplicate", "error", "§2.4")
def _tool_duplicate(state: ConnState, step: Step) -> Iterator[str]:
    """Each tool call is answered once (``willContinue`` responses excepted)."""
    if step.client is None or step.client.tool_response is None:
        return
    for fr in step.client.tool_response.function_responses or []:
        if fr.id is not None and fr.id in state.answered and fr.id in state.issued:
            yield f"tool call {fr.id!r} answered twice"


@rule("tool-call-unanswered", "warning", "§2.4, §8.10")
def _tool_unanswered(state: ConnState, step: Step) -> Iterator[str]:
    """Every tool call gets a ``toolResponse`` (or a cancellation) before the connection ends."""
    if step.kind == "close":
        for call_id, (_, name, _blocking) in state.open_calls.items():
            yield f"tool call {call_id!r} ({name}) never answered"


@rule("audio-during-blocking-call", "warning", "§5.3, §8.10")
def _audio_during_call(state: ConnState, step: Step) -> Iterator[str]:
    """Streaming audio while a BLOCKING tool call is unanswered risks 1008 "aborted"."""
    if not _audio_blobs(step):
        return
    for call_id, (_, name, blocking) in state.open_calls.items():
        if blocking and call_id not in state.warned_audio_calls:
            yield f"realtime audio while blocking tool call {call_id!r} ({name}) is open"


@rule("text-modality-native-audio", "error", "§2.1.1, §8.7")
def _text_native_audio(state: ConnState, step: Step) -> Iterator[str]:
    """Native-audio models accept ``responseModalities: ["AUDIO"]`` only."""
    setup = step.client.setup if step.client is not None else None
    if setup is None or not _is_native_audio(setup.model or state.model):
        return
    gc = setup.generation_config
    if gc is not None and "TEXT" in (gc.response_modalities or []):
        yield f"TEXT response modality on native-audio model {setup.model or state.model}"


@rule("client-content-mid-session", "warning", "§2.2, §8.6")
def _client_content_mid(state: ConnState, step: Step) -> Iterator[str]:
    """On Gemini 3.1, ``clientContent`` only seeds history; mid-session it is closed with 1007."""
    if step.client is None or step.client.client_content is None or not _is_31(state.model):
        return
    if not state.history_in_client_content:
        yield "clientContent on a 3.1 model without historyConfig.initialHistoryInClientContent"
    elif state.history_done:
        yield "clientContent after the initial history on a 3.1 model"


@rule("activity-unpaired", "error", "§2.3")
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


@rule("activity-with-auto-vad", "error", "§2.3")
def _activity_auto(state: ConnState, step: Step) -> Iterator[str]:
    """``activityStart``/``activityEnd`` need ``automaticActivityDetection.disabled: true``."""
    rt = _realtime(step)
    if rt is None or state.manual_vad:
        return
    if rt.activity_start is not None or rt.activity_end is not None:
        yield "activity signal sent with automatic activity detection on"


@rule("audio-stream-end-manual-vad", "warning", "§2.3, §8.11")
def _stream_end_manual(state: ConnState, step: Step) -> Iterator[str]:
    """``audioStreamEnd`` belongs to automatic VAD; with manual VAD use ``activityEnd``."""
    rt = _realtime(step)
    if rt is not None and rt.audio_stream_end and state.manual_vad:
        yield "audioStreamEnd sent with manual activity detection"


@rule("video-fps", "warning", "§6")
def _video_fps(state: ConnState, step: Step) -> Iterator[str]:
    """Video is at most 1 frame per second."""
    rt = _realtime(step)
    if rt is None or rt.video is None or state.last_video_t is None:
        return
    gap = step.t - state.last_video_t
    if gap < MIN_VIDEO_INTERVAL:
        yield f"video frame {gap:.3f} s after the previous one (over 1 fps)"


@rule("close-code", "warning", "§5.3")
def _close_code(state: ConnState, step: Step) -> Iterator[str]:
    """A connection closed with an error code; the hint says what to do."""
    code = step.close_code
    if step.kind != "close" or code is None or code in (1000, 1001, 1005):
        return
    hint = close_hint(code, step.close_reason)
    reason = f": {step.close_reason}" if step.close_reason else ""
    yield f"closed with {code}{reason}" + (f" ({hint})" if hint else "")


@rule("invalid-frame", "error", "§2.0, §3.0")
def _invalid_frame(state: ConnState, step: Step) -> Iterator[str]:
    """Every frame decodes as a message (reported by the auditor itself)."""
    return iter(())


@rule("cassette-truncated", "info", "cassette format")
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
            "promptTokens": self.prompt_tokens,
            "responseTokens": self.response_tokens,
            "totalTokens": self.total_tokens,
            "goAway": [
                {"connection": c, "timeLeft": left, "actualLead": lead}
                for c, left, lead in self.go_away
            ],
            "percentiles": self.latencies(),
        }


def _pcm_seconds(blob: lt.Blob | lt.FunctionResponseBlob, default_rate: int) -> float:
    mime = blob.mime_type or ""
    match = _RATE.search(mime)
    rate = int(match.group(1)) if match else default_rate
    return len(blob.data or b"") / 2 / rate if rate > 0 else 0.0


# ---------------------------------------------------------------------------
# The auditor
# ---------------------------------------------------------------------------


class Auditor:
    """Consumes cassette events one at a time; collects findings, drift and metrics."""

    def __init__(self, *, model: str | None = None) -> None:
        self.default_model = model
        self.findings: list[Finding] = []
        self.drift: dict[tuple[str, str], DriftEntry] = {}
        self.metrics = Metrics()
        self._conns: dict[int, ConnState] = {}
        self._turns: dict[int, Turn] = {}
        self._reply_started: dict[int, bool] = {}
        self._go_away: dict[int, tuple[float, float | None]] = {}
        self._finished = False

    # -- plumbing -----------------------------------------------------------

    def _conn(self, number: int) -> ConnState:
        state = self._conns.get(number)
        if state is None:
            state = self._conns[number] = ConnState(number=number, model=self.default_model)
        return state

    def _add(self, name: str, message: str, when: float | None, connection: int | None) -> None:
        r = RULES[name]
        self.findings.append(Finding(name, r.severity, r.section, message, when, connection))

    def _run_rules(self, state: ConnState, step: Step) -> None:
        for r in RULES.values():
            for message in r.check(state, step):
                self._add(r.name, message, step.t, step.connection)

    def feed(self, event: CassetteEvent) -> None:
        """Audit one event (in recording order)."""
        if isinstance(event, ConnectEvent):
            self._conn(event.connection)
        elif isinstance(event, FrameEvent):
            self._frame(event)
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
        state = self._conn(event.connection)
        try:
            payload = event.wire_payload()
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
        self._drift(report, event)
        if isinstance(message, lt.LiveClientMessage):
            step = Step("frame", event.t, event.connection, "client", client=message, report=report)
            self._run_rules(state, step)
            self._after_client(state, step, message, report)
        else:
            step = Step("frame", event.t, event.connection, "server", server=message, report=report)
            self._run_rules(state, step)
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
        state.snake_seen = state.snake_seen or bool(report.snake_case_keys)
        state.camel_seen = state.camel_seen or _has_camel(step)
        if any(f.rule == "mixed-casing" and f.connection == state.number for f in self.findings):
            state.mixed_reported = True
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
            for blob in blobs:
                self.metrics.audio_in_chunks.append(len(blob.data or b""))
                self.metrics.audio_in_seconds += _pcm_seconds(blob, 16000)
                for call_id, (_, _, blocking) in state.open_calls.items():
                    if blocking:
                        state.warned_audio_calls.add(call_id)
            if blobs:
                span = self.metrics.upload_span
                self.metrics.upload_span = (span[0] if span else step.t, step.t)
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

        def since_user() -> float | None:
            return None if turn.user_end_t is None else step.t - turn.user_end_t

        if msg.tool_call is not None:
            self._reply_started[number] = True
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
                turn.first_input_transcription = since_user()
            parts = sc.model_turn.parts or [] if sc.model_turn is not None else []
            for part in parts:
                blob = part.inline_data
                if blob is not None and (blob.mime_type or "").startswith("audio/"):
                    self.metrics.audio_out_chunks.append(len(blob.data or b""))
                    self.metrics.audio_out_seconds += _pcm_seconds(blob, 24000)
                    if turn.first_reply_audio is None:
                        turn.first_reply_audio = since_user()
            if parts:
                self._reply_started[number] = True
            if sc.interrupted:
                turn.interrupted = True
                self.metrics.interruptions += 1
            if sc.generation_complete and turn.generation_complete is None:
                turn.generation_complete = since_user()
            if sc.turn_complete:
                turn.turn_complete = since_user()
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
        self._run_rules(state, step)
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
    findings: list[Finding]
    drift: list[DriftEntry]
    metrics: Metrics

    def count(self, severity: Severity) -> int:
        return sum(1 for f in self.findings if f.severity == severity)

    def fails(self, threshold: Severity) -> bool:
        """Whether any finding is at least as severe as ``threshold``."""
        level = SEVERITIES.index(threshold)
        return any(SEVERITIES.index(f.severity) >= level for f in self.findings)

    def to_builtins(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "model": self.model,
            "findings": [dataclasses.asdict(f) for f in self.findings],
            "drift": [dataclasses.asdict(d) for d in self.drift],
            "metrics": self.metrics.to_builtins(),
            "counts": {s: self.count(s) for s in SEVERITIES},
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


def audit_cassette(path: str | os.PathLike[str]) -> Report:
    """Audit a cassette file.

    A bad header (not a cassette) raises :class:`rawlive.DecodeError`; a bad
    event line or a cut-off last line ends the audit there with a finding.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedCassetteWarning)
        with CassetteReader(path) as reader:
            auditor = Auditor(model=reader.header.model)
            try:
                for event in reader:
                    auditor.feed(event)
            except DecodeError as exc:
                auditor._add("invalid-frame", f"unreadable cassette: {exc}", None, None)
            auditor.finish()
    for w in caught:
        if issubclass(w.category, TruncatedCassetteWarning):
            auditor._add("cassette-truncated", str(w.message), None, None)
    return Report(
        path=str(path),
        model=reader.header.model,
        findings=auditor.findings,
        drift=list(auditor.drift.values()),
        metrics=auditor.metrics,
    )
