"""``rawlive report``: a recorded session as one self-contained HTML page.

This module owns the page. :func:`read_timeline` reads a cassette once and
places what happened on one time axis: both sides' audio (as loudness
envelopes, in blocks of 10 ms), transcripts, model text, tool calls with
their round trips, control events (``setupComplete``, ``interrupted``,
``generationComplete``, ``turnComplete``, ``goAway``, resumption, connects
and closes) and the turns, each with its clips of user and model audio.
:func:`render_report` adds the audit of the same cassette
(:func:`rawlive.tools.audit.audit_cassette`: findings, per-turn latencies, token
usage) and writes the HTML; :func:`write_report` saves it.

The page asks for nothing: CSS and SVG are inline, there is no script, no
font and no URL but ``data:`` audio and ``#`` references, and a
Content-Security-Policy forbids the browser any other load. Every string
from the recording goes through a :class:`rawlive.wire.endpoints.Redactor` that
learns the credentials in the cassette's header and connections (as
:func:`rawlive.tools.audit.audit_cassette` does), so no key or token is printed
even from a cassette written by hand.

Sizes stay bounded whatever the session's length: the timeline is at most
:data:`MAX_PLOT_WIDTH` pixels wide, each envelope is one SVG path of one
point per :data:`ENVELOPE_BIN_PX` pixels, and audio is embedded (16-bit WAV
``data:`` URIs) turn by turn until :data:`DEFAULT_AUDIO_LIMIT` bytes of the
page hold audio; the page lists every clip it left out. Elided audio
(``record_elide_audio``) is drawn as hatched spans and is not playable.

Placement: a user audio chunk is drawn as captured just before it was
sent (ending at its frame's time, later when audio came faster than real
time); model audio plays from its arrival, queued behind the audio before
it, and an ``interrupted`` stops what was still queued (the turn's clip
keeps all that arrived). Turns end at each ``turnComplete``; the latency
bracket of a turn runs from the end of the user's input to the first reply
audio, as the audit measures it.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import math
import os
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any

import msgspec

from rawlive import files
from rawlive._version import __version__
from rawlive.cassette import (
    CassetteHeader,
    CassetteReader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    TruncatedCassetteWarning,
)
from rawlive.core.protocol import NORMAL_CLOSE_CODES, close_hint
from rawlive.errors import DecodeError, ServerErrorPayload
from rawlive.tools.audit import MAX_FINDINGS_PER_RULE, SEVERITIES, Report, Turn, audit_cassette
from rawlive.wire import codec, endpoints
from rawlive.wire import types as lt

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = [
    "DEFAULT_AUDIO_LIMIT",
    "ENVELOPE_BIN_PX",
    "MAX_PLOT_WIDTH",
    "Clip",
    "Timeline",
    "read_timeline",
    "render_report",
    "write_report",
]

#: Bytes of the page that embedded audio may take (base64 WAV): about 2 min 20 s
#: of 16 kHz user audio or 1 min 34 s of 24 kHz model audio. ``rawlive report
#: --audio-limit MB`` changes it.
DEFAULT_AUDIO_LIMIT = 6_000_000
#: The widest the timeline's plot gets, in CSS pixels (a longer session gets fewer per second).
MAX_PLOT_WIDTH = 24_000
#: The narrowest.
MIN_PLOT_WIDTH = 960
#: Pixels per second when the session fits between the two.
PX_PER_SECOND = 60.0
#: One envelope point per this many pixels.
ENVELOPE_BIN_PX = 2.0
#: Loudness is measured in blocks of this many seconds before it is binned for drawing.
BLOCK_SECONDS = 0.01
#: Transcript fragments closer than this (s) join into one label.
FRAGMENT_GAP = 2.0
#: The envelope's floor: this loud (dBFS) and below draws as silence.
FLOOR_DB = -60.0
#: Audit findings listed one by one (the rest are counted by rule).
MAX_FINDINGS = 300


# ---------------------------------------------------------------------------
# What the timeline holds
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Mark:
    """A moment on a lane: a control event (``kind`` is its CSS class)."""

    t: float
    kind: str
    label: str
    detail: str
    error: bool = False


@dataclasses.dataclass
class Span:
    """A labelled stretch of time on a lane: a transcript, model text, a tool call."""

    lane: str
    start: float
    end: float
    kind: str
    text: str
    detail: str = ""
    turn: int | None = None
    rtt: float | None = None


@dataclasses.dataclass
class Clip:
    """One turn's audio of one side, and whether (and why not) it is embedded."""

    side: str
    seconds: float
    rate: int
    elided: bool = False
    data_uri: str | None = None
    note: str = ""


@dataclasses.dataclass
class TurnSpan:
    """One turn as the timeline sees it; :attr:`audit` holds the audit's latencies."""

    index: int
    connection: int
    start: float
    end: float | None = None
    #: The connection its ``turnComplete`` came on (a resumed session may change it mid-turn).
    end_connection: int | None = None
    last: float = 0.0
    interrupted: bool = False
    user_text: list[str] = dataclasses.field(default_factory=list)
    input_text: list[str] = dataclasses.field(default_factory=list)
    output_text: list[str] = dataclasses.field(default_factory=list)
    model_text: list[str] = dataclasses.field(default_factory=list)
    tools: list[str] = dataclasses.field(default_factory=list)
    tokens: int = 0
    clips: list[Clip] = dataclasses.field(default_factory=list)
    #: When the first reply audio arrived.
    first_audio: float | None = None
    #: The end of the user's speech before it: the last voiced audio block (``None``: no
    #: voiced audio, e.g. text input, or the audio was elided).
    speech_end: float | None = None
    audit: Turn | None = None

    @property
    def latency(self) -> tuple[float, float, str] | None:
        """The bracket: (start, end, basis); from the end of speech, else of input (audit)."""
        audit = self.audit
        end = self.first_audio
        if (
            end is None
            and audit is not None
            and audit.user_end_t is not None
            and audit.first_reply_audio is not None
        ):
            end = audit.user_end_t + audit.first_reply_audio
        if end is None:
            return None
        if self.speech_end is not None:
            return self.speech_end, end, "speech"
        if audit is not None and audit.user_end_t is not None:
            return audit.user_end_t, end, "input"
        return None


@dataclasses.dataclass
class Connection:
    """One WebSocket connection of the session."""

    number: int
    opened: float | None = None
    setup_t: float | None = None
    setup_complete_t: float | None = None
    resumed: bool = False
    go_away_t: float | None = None
    time_left: float | None = None
    closed: float | None = None
    code: int | None = None
    reason: str = ""
    by: str | None = None


@dataclasses.dataclass
class Envelope:
    """Loudness of one side: mean squares of :data:`BLOCK_SECONDS` blocks at their times."""

    times: list[Any] = dataclasses.field(default_factory=list)
    sums: list[Any] = dataclasses.field(default_factory=list)
    counts: list[Any] = dataclasses.field(default_factory=list)
    rates: list[int] = dataclasses.field(default_factory=list)
    #: (start, end) of audio whose samples were elided from the recording.
    elided: list[list[float]] = dataclasses.field(default_factory=list)
    cursor: float = 0.0
    seconds: float = 0.0
    first: float | None = None
    end: float = 0.0


@dataclasses.dataclass
class Timeline:
    """Everything :func:`read_timeline` placed on the time axis."""

    path: str
    header: CassetteHeader
    #: The credentials found in the cassette's URLs and headers, kept out of the page.
    redact: endpoints.Redactor
    #: The time axis: the recording's length, or longer when audio plays past its end.
    duration: float = 0.0
    #: The time of the last event: how long the recording lasted.
    recorded: float = 0.0
    frames: dict[str, int] = dataclasses.field(default_factory=lambda: {"client": 0, "server": 0})
    connections: dict[int, Connection] = dataclasses.field(default_factory=dict)
    marks: list[Mark] = dataclasses.field(default_factory=list)
    ticks: dict[str, list[float]] = dataclasses.field(default_factory=dict)
    spans: list[Span] = dataclasses.field(default_factory=list)
    turns: list[TurnSpan] = dataclasses.field(default_factory=list)
    user: Envelope = dataclasses.field(default_factory=Envelope)
    model: Envelope = dataclasses.field(default_factory=Envelope)
    truncated: bool = False
    complete: bool = False
    unreadable: str | None = None
    undecodable: int = 0
    left_out: list[tuple[int, Clip]] = dataclasses.field(default_factory=list)
    audio_limit: int = DEFAULT_AUDIO_LIMIT
    audio_embedded: int = 0


# ---------------------------------------------------------------------------
# Reading: one pass over the cassette
# ---------------------------------------------------------------------------


def _rate(mime: str | None, default: int) -> int:
    return codec.mime_rate(mime) or default


def _is_audio(blob: lt.Blob | None) -> bool:
    return blob is not None and (blob.mime_type or "").startswith("audio/")


def _clean(text: str, limit: int = 400) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _fmt_args(args: dict[str, Any] | None) -> str:
    if not args:
        return ""
    parts = [f"{k}={msgspec.json.encode(v).decode()}" for k, v in args.items()]
    return _clean(", ".join(parts), 120)


class _Reader:
    """Builds a :class:`Timeline` from events, in recording order."""

    def __init__(self, timeline: Timeline) -> None:
        self.tl = timeline
        self.turn: TurnSpan | None = None
        self.open_calls: dict[str, Span] = {}
        self.fragments: dict[str, Span] = {}
        self.pcm: dict[str, list[bytes]] = {"user": [], "model": []}
        self.rates: dict[str, int | None] = {"user": None, "model": None}
        self.elided: dict[str, float] = {"user": 0.0, "model": 0.0}
        self.audio_seconds: dict[str, float] = {"user": 0.0, "model": 0.0}
        # Model audio placed in the current turn: (start, end, index into the envelope lists).
        self.model_placed: list[tuple[float, float, int]] = []
        self.remaining = timeline.audio_limit
        # The end of the last voiced user audio of the turn, and whether some was elided.
        self.voiced_end: float | None = None
        self.user_elided = False
        from rawlive.media import vad

        # A 10 ms block as loud as the VAD's default end-of-speech level counts as speech.
        self.voiced = 10 ** (vad.DEFAULT_END_THRESHOLD_DBFS / 10)

    # -- plumbing -----------------------------------------------------------

    def at(self, t: float) -> None:
        self.tl.duration = max(self.tl.duration, t)

    def conn(self, number: int) -> Connection:
        found = self.tl.connections.get(number)
        if found is None:
            found = self.tl.connections[number] = Connection(number)
        return found

    def mark(self, t: float, kind: str, label: str, detail: str = "", error: bool = False) -> None:
        self.tl.marks.append(Mark(t, kind, label, detail or label, error))

    def tick(self, t: float, kind: str) -> None:
        self.tl.ticks.setdefault(kind, []).append(t)

    def current_turn(self, t: float, connection: int) -> TurnSpan:
        if self.turn is None:
            self.turn = TurnSpan(len(self.tl.turns) + 1, connection, t, last=t)
            self.tl.turns.append(self.turn)
        self.turn.last = max(self.turn.last, t)
        return self.turn

    def fragment(self, lane: str, kind: str, t: float, text: str, turn: TurnSpan) -> None:
        """Join transcript or text fragments into one span per stretch of speech."""
        span = self.fragments.get(kind)
        if span is not None and span.turn == turn.index and t - span.end <= FRAGMENT_GAP:
            span.end = t
            span.text += text
            return
        span = Span(lane, t, t, kind, text, turn=turn.index)
        self.fragments[kind] = span
        self.tl.spans.append(span)

    # -- audio --------------------------------------------------------------

    def audio(self, side: str, t: float, blob: lt.Blob, elided: bool, turn: TurnSpan) -> None:
        import numpy as np

        data = blob.data or b""
        default = 16_000 if side == "user" else 24_000
        rate = _rate(blob.mime_type, default)
        samples = len(data) // 2
        seconds = samples / rate
        env = self.tl.user if side == "user" else self.tl.model
        # User audio was captured before it was sent; model audio plays from its arrival.
        start = max(t - seconds if side == "user" else t, env.cursor)
        env.cursor = start + seconds
        env.seconds += seconds
        if side == "user" and start < turn.start:  # the turn began when this audio was spoken
            turn.start = max(start, 0.0)
        env.first = start if env.first is None else env.first
        env.end = max(env.end, env.cursor)
        self.audio_seconds[side] += seconds
        if side == "model" and turn.first_audio is None and (elided or samples):
            turn.first_audio = t
            turn.speech_end = None if self.user_elided else self.voiced_end
        if elided:
            self.elided[side] += seconds
            self.user_elided = self.user_elided or side == "user"
            spans = env.elided
            if spans and start - spans[-1][1] < 0.05:
                spans[-1][1] = max(spans[-1][1], start + seconds)
            else:
                spans.append([start, start + seconds])
        elif samples:
            pcm = np.frombuffer(data, dtype="<i2", count=samples).astype(np.float32)
            block = max(1, int(rate * BLOCK_SECONDS))
            starts = np.arange(0, samples, block)
            sums = np.add.reduceat(np.square(pcm / 32768.0), starts)
            counts = np.diff(np.append(starts, samples))
            env.times.append(start + starts / rate)
            env.sums.append(sums)
            env.counts.append(counts)
            env.rates.append(rate)
            if side == "user" and turn.first_audio is None:
                loud = np.flatnonzero(sums >= self.voiced * counts)
                if len(loud):
                    self.voiced_end = start + (starts[loud[-1]] + counts[loud[-1]]) / rate
            if self.rates[side] is None:
                self.rates[side] = rate
            if rate == self.rates[side]:
                self.pcm[side].append(data[: samples * 2])
        if side == "model" and (elided or samples):
            index = -1 if elided else len(env.times) - 1
            self.model_placed.append((start, start + seconds, index))

    def interrupt(self, t: float) -> None:
        """The client stops playing: model audio queued after ``t`` is never heard."""
        env = self.tl.model
        for _start, end, index in reversed(self.model_placed):
            if end <= t:
                break
            if index >= 0:
                keep = env.times[index] < t
                env.times[index] = env.times[index][keep]
                env.sums[index] = env.sums[index][keep]
                env.counts[index] = env.counts[index][keep]
        for span in env.elided:
            span[1] = min(span[1], max(span[0], t))
        env.cursor = min(env.cursor, max(t, 0.0))

    def end_clips(self, turn: TurnSpan) -> None:
        """Close the turn's audio clips: embed them while the page's audio budget lasts."""
        from rawlive.media import audio

        for side in ("user", "model"):
            seconds = self.audio_seconds[side]
            if seconds <= 0:
                continue
            rate = self.rates[side] or (16_000 if side == "user" else 24_000)
            clip = Clip(side, seconds, rate)
            if self.elided[side] > 0:
                clip.elided = True
                clip.note = f"{_dur(self.elided[side])} of audio elided in the recording"
            else:
                wav = audio.wav_bytes(b"".join(self.pcm[side]), rate)
                size = 22 + 4 * math.ceil(len(wav) / 3)  # the data URI's length
                if size <= self.remaining:
                    self.remaining -= size
                    self.tl.audio_embedded += size
                    clip.data_uri = "data:audio/wav;base64," + base64.b64encode(wav).decode()
                else:
                    clip.note = (
                        f"not embedded: {_mb(size)} MB would pass the page's audio limit "
                        f"of {_mb(self.tl.audio_limit)} MB"
                    )
                    self.tl.left_out.append((turn.index, clip))
            turn.clips.append(clip)
            self.pcm[side] = []
            self.rates[side] = None
            self.elided[side] = 0.0
            self.audio_seconds[side] = 0.0
        self.model_placed = []

    def finish_turn(self, t: float) -> None:
        turn = self.turn
        if turn is None:
            return
        turn.end = t
        self.end_clips(turn)
        self.turn = None
        self.fragments.clear()
        self.voiced_end = None
        self.user_elided = False

    # -- events -------------------------------------------------------------

    def feed(self, event: ConnectEvent | FrameEvent | CloseEvent | EndEvent) -> None:
        self.at(event.t)
        if isinstance(event, ConnectEvent):
            conn = self.conn(event.connection)
            conn.opened = event.t
            self.tl.redact.learn(event.url, event.headers)
            self.mark(event.t, "connect", f"connect #{event.connection}", f"{event.url}")
        elif isinstance(event, FrameEvent):
            self.tl.frames[event.sender] += 1
            self.frame(event)
        elif isinstance(event, CloseEvent):
            self.close(event)
        elif isinstance(event, EndEvent):
            self.tl.complete = True

    def close(self, event: CloseEvent) -> None:
        conn = self.conn(event.connection)
        conn.closed, conn.code, conn.reason, conn.by = event.t, event.code, event.reason, event.by
        by = f"by the {event.by}" if event.by else "dropped"
        hint = close_hint(event.code, event.reason)
        detail = f"connection {event.connection} closed {by} with {event.code}"
        detail += f": {event.reason}" if event.reason else ""
        detail += f" ({hint})" if hint else ""
        error = event.code not in NORMAL_CLOSE_CODES
        self.mark(event.t, "close", f"close {event.code}", detail, error=error)
        for span in self.open_calls.values():
            span.end = event.t
            span.text += " (unanswered)"
        self.open_calls.clear()

    def frame(self, event: FrameEvent) -> None:
        elided = event.elided > 0
        try:
            payload = event.wire_payload()
            if event.sender == "client":
                self.client(event, codec.decode_client_message(payload), elided)
            else:
                self.server(event, codec.decode_server_message(payload), elided)
        except ServerErrorPayload as exc:
            self.mark(event.t, "error", "error", f"the server sent an error: {exc}", error=True)
        except (DecodeError, msgspec.DecodeError, ValueError, TypeError, KeyError) as exc:
            self.tl.undecodable += 1
            detail = f"{event.sender} frame ({event.kind}) does not decode: {exc}"
            self.mark(event.t, "invalid", "invalid frame", detail, error=True)

    def client(self, event: FrameEvent, msg: lt.LiveClientMessage, elided: bool) -> None:
        t, number = event.t, event.connection
        if msg.setup is not None:
            conn = self.conn(number)
            conn.setup_t = t if conn.setup_t is None else conn.setup_t
            resumption = msg.setup.session_resumption
            conn.resumed = bool(resumption is not None and resumption.handle)
            self.tick(t, "setup")
        rt = msg.realtime_input
        if rt is not None:
            blobs = [rt.audio] if _is_audio(rt.audio) else []
            blobs += [b for b in rt.media_chunks or [] if _is_audio(b)]
            for blob in blobs:
                assert blob is not None
                self.audio("user", t, blob, elided, self.current_turn(t, number))
            if rt.text:
                turn = self.current_turn(t, number)
                turn.user_text.append(rt.text)
                self.tl.spans.append(Span("input", t, t, "user-text", rt.text, turn=turn.index))
            if rt.audio_stream_end:
                self.mark(t, "stream-end", "audioStreamEnd")
            if rt.activity_start is not None:
                self.mark(t, "activity", "activityStart")
            if rt.activity_end is not None:
                self.mark(t, "activity", "activityEnd")
            if rt.video is not None:
                self.tick(t, "video")
        content = msg.client_content
        if content is not None:
            texts = [p.text for c in content.turns or [] for p in c.parts or [] if p.text]
            if texts:
                turn = self.current_turn(t, number)
                text = " / ".join(texts)
                turn.user_text.append(text)
                self.tl.spans.append(Span("input", t, t, "user-text", text, turn=turn.index))
        if msg.tool_response is not None:
            for fr in msg.tool_response.function_responses or []:
                span = self.open_calls.pop(fr.id or "", None)
                if span is None:
                    self.mark(t, "tool", f"response {fr.name or '?'}", "for no open call")
                    continue
                span.end = t
                span.rtt = t - span.start
                span.text += f" → {_dur(span.rtt)}"
                span.detail += f"\nresponse after {_dur(span.rtt)}: " + _clean(
                    msgspec.json.encode(fr.response).decode(), 300
                )
                if self.turn is not None:
                    self.turn.tools.append(f"{fr.name or '?'} {_dur(span.rtt)}")
        if msg.context_update is not None:
            self.mark(t, "control", "contextUpdate")

    def server(self, event: FrameEvent, msg: lt.LiveServerMessage, elided: bool) -> None:
        t, number = event.t, event.connection
        if msg.setup_complete is not None:
            conn = self.conn(number)
            if conn.setup_complete_t is None:
                conn.setup_complete_t = t
            self.mark(t, "setup", "setupComplete", f"connection {number} ready")
        if msg.tool_call is not None:
            turn = self.current_turn(t, number)
            for call in msg.tool_call.function_calls or []:
                name = call.name or "?"
                args = _fmt_args(call.args)
                span = Span("tools", t, t, "tool", f"{name}({args})", turn=turn.index)
                span.detail = f"toolCall {name} id={call.id}: {args}"
                self.tl.spans.append(span)
                self.open_calls[call.id or f"#{len(self.tl.spans)}"] = span
        if msg.tool_call_cancellation is not None:
            for call_id in msg.tool_call_cancellation.ids or []:
                cancelled = self.open_calls.pop(call_id, None)
                if cancelled is not None:
                    cancelled.end = t
                    cancelled.text += " (cancelled)"
            self.mark(t, "tool", "toolCallCancellation")
        sc = msg.server_content
        if sc is not None:
            self.content(t, number, sc, elided)
        if msg.usage_metadata is not None and self.tl.turns:
            turn = self.turn or self.tl.turns[-1]
            turn.tokens += msg.usage_metadata.total_token_count or 0
        if msg.go_away is not None:
            left = msg.go_away.time_left
            conn = self.conn(number)
            conn.go_away_t = t
            conn.time_left = None if left is None else left.total_seconds()
            label = "goAway" if left is None else f"goAway {_dur(left.total_seconds())} left"
            self.mark(t, "goaway", label, f"{label} (connection {number})")
        update = msg.session_resumption_update
        if update is not None:
            self.tick(t, "resumable" if update.resumable else "not-resumable")
        if msg.voice_activity is not None or msg.voice_activity_detection_signal is not None:
            self.tick(t, "vad")

    def content(self, t: float, number: int, sc: lt.LiveServerContent, elided: bool) -> None:
        parts = sc.model_turn.parts or [] if sc.model_turn is not None else []
        for part in parts:
            turn = self.current_turn(t, number)
            if _is_audio(part.inline_data):
                assert part.inline_data is not None
                self.audio("model", t, part.inline_data, elided, turn)
            if part.text:
                kind = "thought" if part.thought else "model-text"
                if not part.thought:
                    turn.model_text.append(part.text)
                self.fragment("text", kind, t, part.text, turn)
        if sc.input_transcription is not None and sc.input_transcription.text:
            turn = self.current_turn(t, number)
            turn.input_text.append(sc.input_transcription.text)
            self.fragment("input", "input", t, sc.input_transcription.text, turn)
        if sc.output_transcription is not None and sc.output_transcription.text:
            turn = self.current_turn(t, number)
            turn.output_text.append(sc.output_transcription.text)
            self.fragment("output", "output", t, sc.output_transcription.text, turn)
        if sc.interrupted:
            self.current_turn(t, number).interrupted = True
            self.interrupt(t)
            self.mark(t, "interrupted", "interrupted", "interrupted: the user spoke over the model")
        if sc.generation_complete:
            self.mark(t, "generation", "generationComplete")
        if sc.turn_complete:
            self.current_turn(t, number).end_connection = number
            self.mark(t, "turn-complete", "turnComplete")
            self.finish_turn(t)


def read_timeline(
    path: str | os.PathLike[str], *, audio_limit: int = DEFAULT_AUDIO_LIMIT
) -> Timeline:
    """Read a cassette into a :class:`Timeline`, embedding audio up to ``audio_limit`` bytes.

    Raises :class:`OSError` when the file cannot be read and
    :class:`rawlive.DecodeError` when it is not a cassette (bad header). A
    cut-off last line or an unreadable line ends the timeline there, and the
    timeline says so (:attr:`Timeline.truncated`, :attr:`Timeline.unreadable`).
    """
    with CassetteReader(path) as reader:
        header = reader.header
        redact = endpoints.Redactor()
        redact.learn(header.url, header.headers)
        timeline = Timeline(str(path), header, redact, audio_limit=max(0, audio_limit))
        builder = _Reader(timeline)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", TruncatedCassetteWarning)
            try:
                for event in reader:
                    builder.feed(event)
            except DecodeError as exc:
                timeline.unreadable = str(exc)
        timeline.truncated = reader.truncated
        timeline.complete = reader.complete
    if builder.turn is not None:  # an unfinished last turn: its audio is still worth hearing
        builder.end_clips(builder.turn)
    for span in builder.open_calls.values():
        span.end = timeline.duration
        span.text += " (unanswered)"
    timeline.recorded = timeline.duration
    timeline.duration = max(timeline.duration, timeline.user.end, timeline.model.end)
    return timeline


# ---------------------------------------------------------------------------
# Audio and numbers
# ---------------------------------------------------------------------------


def _mb(size: float) -> str:
    return f"{size / 1_000_000:.1f}"


def _dur(seconds: float | None) -> str:
    """A duration for people: ``0.68 ms``, ``412 ms``, ``1.24 s``, ``2 min 05 s``."""
    if seconds is None:
        return "–"
    if seconds < 0:
        return "-" + _dur(-seconds)
    if seconds < 0.01:
        return f"{seconds * 1000:.2f} ms"
    if seconds < 1:
        return f"{seconds * 1000:.0f} ms"
    if seconds < 120:
        return f"{seconds:.2f} s"
    minutes, rest = divmod(seconds, 60)
    return f"{int(minutes)} min {rest:02.0f} s"


def _secs(seconds: float | None) -> str:
    return "" if seconds is None else f"{seconds:.6f}"


# ---------------------------------------------------------------------------
# Drawing the timeline
# ---------------------------------------------------------------------------

_CHAR_PX = 6.3  # the width of an average character of the 11 px label font
_ROW = 14


@dataclasses.dataclass(frozen=True)
class _Lane:
    key: str
    title: str
    height: int
    rows: int = 1


_LANES = (
    _Lane("turns", "Turns", 24),
    _Lane("user-audio", "User audio", 56),
    _Lane("input", "Input transcript", 2 * _ROW + 8, 2),
    _Lane("latency", "Latency", 30),
    _Lane("model-audio", "Model audio", 56),
    _Lane("output", "Output transcript", 2 * _ROW + 8, 2),
    _Lane("text", "Model text", 2 * _ROW + 8, 2),
    _Lane("tools", "Tool calls", 2 * _ROW + 8, 2),
    _Lane("control", "Control", 3 * _ROW + 14, 3),
)
_AXIS = 22


def _esc(text: str) -> str:
    return html.escape(text, quote=True)


class _Plot:
    """The SVG of the timeline: lanes stacked on one time axis."""

    def __init__(self, timeline: Timeline) -> None:
        self.tl = timeline
        span = max(timeline.duration, 1e-3)
        width = min(max(span * PX_PER_SECOND, MIN_PLOT_WIDTH), MAX_PLOT_WIDTH)
        self.left, self.right = 24.0, 80.0
        self.scale = width / span
        self.width = self.left + width + self.right
        self.top: dict[str, float] = {}
        y = float(_AXIS)
        for lane in _LANES:
            self.top[lane.key] = y
            y += lane.height
        self.height = y + 4
        self.out: list[str] = []

    def x(self, t: float) -> float:
        return self.left + t * self.scale

    def text(self, text: str) -> str:
        return _esc(self.tl.redact(text))

    # -- labels -------------------------------------------------------------

    @staticmethod
    def _fit(text: str, px: float) -> str:
        chars = int(px / _CHAR_PX)
        if len(text) <= chars:
            return text
        return "" if chars < 3 else text[: chars - 1] + "…"

    def pack(
        self, items: list[tuple[float, float, str]], rows: int, max_px: float = 320
    ) -> list[tuple[int, str]]:
        """Rows and fitted texts for labels at ``x`` (sorted), bars ending at ``x_end``."""
        placed: list[tuple[int, str]] = []
        row_end = [-1e9] * rows
        last: list[int | None] = [None] * rows
        for x, x_end, text in items:
            row = next((r for r in range(rows) if row_end[r] <= x), None)
            if row is None:  # every row is taken here: shorten the label before in the emptiest
                row = min(range(rows), key=lambda r: row_end[r])
                prev = last[row]
                if prev is not None:
                    prev_x = items[prev][0]
                    placed[prev] = (row, self._fit(placed[prev][1], x - prev_x - 6))
            label = self._fit(text, max_px)
            placed.append((row, label))
            last[row] = len(placed) - 1
            row_end[row] = max(x + len(label) * _CHAR_PX + 8, x_end + 2)
        return placed

    # -- the parts ----------------------------------------------------------

    def axis(self) -> None:
        span = self.tl.duration
        target = 110 / self.scale  # seconds between ticks, about 110 px apart
        step = 10 ** math.floor(math.log10(target)) if target > 0 else 1
        for factor in (1, 2, 5, 10):
            if step * factor >= target:
                step *= factor
                break
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        grid, labels = [], []
        count = int(span / step + 1e-9) + 1
        for i in range(count + 1):
            t = i * step
            if t > span + step * 1e-6:
                break
            x = self.x(t)
            grid.append(f"M{x:.1f},{_AXIS - 4}V{self.height - 4:.0f}")
            if step >= 1 and span >= 60:
                minutes, seconds = divmod(round(t), 60)
                hours, minutes = divmod(minutes, 60)
                label = (
                    f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
                )
            else:
                label = f"{t:.{decimals}f} s"
            labels.append(f'<text x="{x:.1f}" y="14">{label}</text>')
        self.out.append(f'<g class="axis"><path class="grid" d="{"".join(grid)}"/>')
        self.out.extend(labels)
        self.out.append("</g>")

    def turn_bands(self) -> None:
        top = self.top["turns"]
        bottom = self.height - 4
        self.out.append('<g class="lane" data-lane="turns">')
        for turn in self.tl.turns:
            end = turn.end if turn.end is not None else self.tl.duration
            x1, x2 = self.x(turn.start), self.x(end)
            state = "complete" if turn.end is not None else "unfinished"
            title = f"turn {turn.index} (connection {turn.connection}): {turn.start:.3f} s to "
            title += f"{end:.3f} s" + ("" if turn.end is not None else " (no turnComplete)")
            if turn.interrupted:
                title += ", interrupted"
            css = "band odd" if turn.index % 2 else "band"
            self.out.append(
                f'<g class="turn {state}" data-turn="{turn.index}" '
                f'data-start="{_secs(turn.start)}" data-end="{_secs(end)}">'
                f"<title>{_esc(title)}</title>"
                f'<rect class="{css}" x="{x1:.1f}" y="{top:.0f}" width="{max(x2 - x1, 1):.1f}" '
                f'height="{bottom - top:.0f}"/>'
                f'<text x="{x1 + 3:.1f}" y="{top + 15:.0f}">{turn.index}</text></g>'
            )
        self.out.append("</g>")

    def envelope(self, key: str, env: Envelope) -> None:
        import numpy as np

        top = self.top[key]
        lane = next(lane for lane in _LANES if lane.key == key)
        mid = top + lane.height / 2
        half = lane.height / 2 - 4
        self.out.append(f'<g class="lane" data-lane="{key}">')
        self.out.append(
            f'<path class="mid" d="M{self.left:.0f},{mid:.1f}H{self.width - self.right:.0f}"/>'
        )
        if not env.times and not env.elided:
            self.out.append(
                f'<text class="none" x="{self.left + 4:.0f}" y="{mid - 4:.0f}">no audio</text>'
            )
        for start, end in env.elided:
            x1, x2 = self.x(start), self.x(end)
            self.out.append(
                f'<rect class="elided" x="{x1:.1f}" y="{top + 4:.0f}" '
                f'width="{max(x2 - x1, 1):.1f}" height="{lane.height - 8}">'
                "<title>audio elided in the recording: "
                f"{_dur(end - start)} at {start:.3f} s</title></rect>"
            )
        if env.times:
            times: NDArray[np.float64] = np.concatenate(env.times)
            sums: NDArray[np.float64] = np.concatenate(env.sums).astype(np.float64)
            counts: NDArray[np.float64] = np.concatenate(env.counts).astype(np.float64)
            rates = np.concatenate(
                [
                    np.full(len(c), r, dtype=np.float64)
                    for c, r in zip(env.counts, env.rates, strict=True)
                ]
            )
            bin_s = max(ENVELOPE_BIN_PX / self.scale, BLOCK_SECONDS)
            bins = max(1, math.ceil(self.tl.duration / bin_s) + 2)
            first = np.clip((times / bin_s).astype(np.int64), 0, bins - 1)
            energy = np.bincount(first, weights=sums, minlength=bins)
            samples = np.bincount(first, weights=counts, minlength=bins)
            # Bins a block covers without starting in it take the level of the bin before.
            last = np.clip(((times + counts / rates) / bin_s - 1e-9).astype(np.int64), 0, bins - 1)
            edges = np.bincount(first, minlength=bins + 1) - np.bincount(
                last + 1, minlength=bins + 1
            )
            covered = np.cumsum(edges)[:bins] > 0
            with np.errstate(divide="ignore", invalid="ignore"):
                db = 10 * np.log10(np.where(samples > 0, energy / np.maximum(samples, 1), 0.0))
            level = np.clip((db - FLOOR_DB) / -FLOOR_DB, 0.0, 1.0)
            source = np.maximum.accumulate(np.where(samples > 0, np.arange(bins), 0))
            level = np.where(covered, level[source], np.nan)
            self._envelope_path(key, level, bin_s, mid, half)
        self.out.append("</g>")

    def _envelope_path(
        self, key: str, level: NDArray[Any], bin_s: float, mid: float, half: float
    ) -> None:
        """One closed path per run of bins with audio: the upper half, mirrored by ``<use>``."""
        import numpy as np

        present = ~np.isnan(level)
        if not present.any():
            return
        edges = np.flatnonzero(np.diff(np.concatenate(([0], present.astype(np.int8), [0]))))
        runs, base = [], []
        for first, stop in zip(edges[::2], edges[1::2], strict=True):
            xs = self.left + (np.arange(first, stop + 1) * bin_s) * self.scale
            ys = mid - level[first:stop] * half
            x0, x1 = xs[0], xs[-1]
            base.append(f"M{x0:.1f},{mid - 0.6:.1f}H{x1:.1f}V{mid + 0.6:.1f}H{x0:.1f}Z")
            steps = "".join(
                f"L{x:.1f},{y:.1f}L{x2:.1f},{y:.1f}"
                for x, x2, y in zip(xs[:-1], xs[1:], ys, strict=True)
            )
            runs.append(f"M{x0:.1f},{mid:.1f}{steps}L{x1:.1f},{mid:.1f}Z")
        ident = f"env-{key}"
        self.out.append(f'<path class="present" d="{"".join(base)}"/>')
        self.out.append(f'<path id="{ident}" class="env" d="{"".join(runs)}"/>')
        self.out.append(f'<use href="#{ident}" transform="matrix(1 0 0 -1 0 {2 * mid:.1f})"/>')

    def spans(self, key: str, spans: list[Span]) -> None:
        lane = next(lane for lane in _LANES if lane.key == key)
        top = self.top[key] + 4
        spans = sorted(spans, key=lambda s: s.start)
        items = [(self.x(s.start), self.x(s.end), self.tl.redact(_clean(s.text))) for s in spans]
        self.out.append(f'<g class="lane" data-lane="{key}">')
        for span, (row, label), (x1, x2, _) in zip(
            spans, self.pack(items, lane.rows), items, strict=True
        ):
            y = top + row * _ROW
            detail = span.detail or span.text
            rtt = f' data-rtt="{_secs(span.rtt)}"' if span.rtt is not None else ""
            self.out.append(
                f'<g class="span {span.kind}"{rtt}><title>{self.text(_clean(detail, 2000))}'
                f" ({span.start:.3f} s)</title>"
                f'<rect x="{x1:.1f}" y="{y:.0f}" width="{max(x2 - x1, 2):.1f}" '
                f'height="{_ROW - 2}"/>'
                f'<text x="{x1 + 2:.1f}" y="{y + _ROW - 4:.0f}">{_esc(label)}</text></g>'
            )
        self.out.append("</g>")

    def latency(self) -> None:
        top = self.top["latency"]
        self.out.append('<g class="lane" data-lane="latency">')
        for turn in self.tl.turns:
            bracket = turn.latency
            if bracket is None:
                continue
            start, end, basis = bracket
            value = end - start
            x1, x2 = self.x(start), self.x(end)
            label = _dur(value)
            since = "the end of the user's speech" if basis == "speech" else "the end of the input"
            title = (
                f"turn {turn.index}: {label} from {since} ({start:.3f} s) "
                f"to the first reply audio ({end:.3f} s)"
            )
            audit = turn.audit
            measured = None if audit is None else audit.first_reply_audio
            self.out.append(
                f'<g class="latency" data-turn="{turn.index}" data-latency="{_secs(value)}" '
                f'data-basis="{basis}" data-from="{_secs(start)}" data-to="{_secs(end)}" '
                f'data-audit-latency="{_secs(measured)}">'
                f"<title>{_esc(title)}</title>"
                f'<path d="M{x1:.1f},{top + 4:.0f}V{top + 12:.0f}H{x2:.1f}V{top + 4:.0f}"/>'
                f'<text x="{(x1 + x2) / 2:.1f}" y="{top + 25:.0f}">{label}</text></g>'
            )
        self.out.append("</g>")

    def control(self) -> None:
        lane = next(lane for lane in _LANES if lane.key == "control")
        top = self.top["control"]
        marks = sorted(self.tl.marks, key=lambda m: m.t)
        items = [(self.x(m.t), self.x(m.t), m.label) for m in marks]
        self.out.append('<g class="lane" data-lane="control">')
        for kind, times in sorted(self.tl.ticks.items()):
            d = "".join(f"M{self.x(t):.1f},{top + 2:.0f}v6" for t in times)
            what = {
                "resumable": "sessionResumptionUpdate (resumable)",
                "not-resumable": "sessionResumptionUpdate (not resumable)",
                "setup": "setup sent",
                "video": "video frame sent",
                "vad": "voice activity signal",
            }.get(kind, kind)
            self.out.append(
                f'<path class="tick {kind}" d="{d}"><title>{len(times)} × {what}</title></path>'
            )
        for mark, (row, label), (x, _, _) in zip(
            marks, self.pack(items, lane.rows, 220), items, strict=True
        ):
            y = top + 10 + row * _ROW
            css = f"mark {mark.kind}" + (" error" if mark.error else "")
            self.out.append(
                f'<g class="{css}"><title>{self.text(mark.detail)} ({mark.t:.3f} s)</title>'
                f'<path d="M{x:.1f},{top + 8:.0f}V{top + lane.height - 2:.0f}"/>'
                f'<text x="{x + 2:.1f}" y="{y + _ROW - 4:.0f}">{self.text(label)}</text></g>'
            )
        self.out.append("</g>")

    def render(self) -> str:
        self.out.append(
            f'<svg class="plot" width="{self.width:.0f}" height="{self.height:.0f}" '
            f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" role="img" '
            f'data-px-per-second="{self.scale:.6f}" data-origin="{self.left:.0f}" '
            f'aria-label="timeline of the session">'
        )
        self.out.append(
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="3" height="6" class="hatch"/>'
            "</pattern></defs>"
        )
        self.turn_bands()
        for lane in _LANES:
            self.out.append(
                f'<path class="sep" d="M0,{self.top[lane.key] + lane.height:.0f}'
                f'H{self.width:.0f}"/>'
            )
        self.axis()
        self.envelope("user-audio", self.tl.user)
        self.spans("input", [s for s in self.tl.spans if s.lane == "input"])
        self.latency()
        self.envelope("model-audio", self.tl.model)
        for key in ("output", "text", "tools"):
            self.spans(key, [s for s in self.tl.spans if s.lane == key])
        self.control()
        self.out.append("</svg>")
        return "".join(self.out)


# ---------------------------------------------------------------------------
# The page
# ---------------------------------------------------------------------------

_CSS = """
:root{--fg:#1d2430;--muted:#5b6576;--line:#d9dee7;--user:#2f6fdf;--model:#d9572b;
--bg:#fff;--band:#f4f6fa;--err:#c62828;--warn:#b26a00;--ok:#2e7d32}
*{box-sizing:border-box}
body{margin:0;padding:18px 24px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:21px;margin:0 0 2px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:var(--muted);margin:0 0 10px}
.notes p{margin:6px 0;padding:7px 11px;border-left:4px solid var(--line);background:#f7f8fb}
.notes p.error{border-color:var(--err);background:#fdeeee}
.notes p.warning{border-color:var(--warn);background:#fff6e5}
.notes p.ok{border-color:var(--ok);background:#eef7ee}
.tl{display:flex;border:1px solid var(--line);border-radius:6px;overflow:hidden}
.lane-names{flex:0 0 132px;border-right:1px solid var(--line);background:#fafbfd;
font-size:12px;color:var(--muted);padding-top:22px}
.lane-names div{display:flex;align-items:center;padding:0 8px;border-bottom:1px solid #eef0f4}
.tl-scroll{overflow-x:auto;flex:1 1 auto}
svg.plot{display:block;font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg .grid{stroke:#eceff4;stroke-width:1}
svg .sep{stroke:#eef0f4}
svg .axis text{fill:var(--muted);text-anchor:middle}
svg .band{fill:transparent}svg .band.odd{fill:var(--band)}
svg .turn text{fill:var(--muted);font-weight:600}
svg .turn.unfinished rect{fill:#fff3e0}
svg .mid{stroke:#e3e7ee}svg text.none{fill:#9aa5b8;font-style:italic}
svg [data-lane=user-audio] .env,svg [data-lane=user-audio] use{fill:var(--user);opacity:.75}
svg [data-lane=model-audio] .env,svg [data-lane=model-audio] use{fill:var(--model);opacity:.75}
svg .present{fill:#9aa5b8}
svg .elided{fill:url(#hatch);stroke:#9aa5b8;stroke-width:.5}svg .hatch{fill:#c5ccd8}
svg .span rect{fill:#e8eefc;stroke:#b8c7ef;stroke-width:.5}
svg .span.user-text rect{fill:#dfe9ff}
svg .span.output rect,svg .span.model-text rect{fill:#fdebe3;stroke:#f0c2ad}
svg .span.thought rect{fill:#f1f1f1;stroke:#ddd}
svg .span.tool rect{fill:#efe6fb;stroke:#c6a9ee}
svg .span text{fill:var(--fg)}
svg .latency path{fill:none;stroke:#6b4fbb;stroke-width:1.5}
svg .latency text{fill:#6b4fbb;text-anchor:middle;font-weight:600}
svg .mark path{stroke:#8a94a6;stroke-width:1}
svg .mark text{fill:var(--muted)}
svg .mark.setup path{stroke:var(--ok)}svg .mark.connect path{stroke:#1565c0}
svg .mark.goaway path{stroke:var(--warn);stroke-width:2}svg .mark.goaway text{fill:var(--warn)}
svg .mark.interrupted path{stroke:#ad1457;stroke-width:2}
svg .mark.interrupted text{fill:#ad1457}
svg .mark.error path{stroke:var(--err);stroke-width:2}svg .mark.error text{fill:var(--err)}
svg .tick{stroke:#7e57c2;stroke-width:1}svg .tick.setup{stroke:var(--ok)}
.legend{color:var(--muted);font-size:12px;margin:6px 0 0}
.legend b{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;
vertical-align:-1px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border-bottom:1px solid var(--line);padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f4f6fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.said{max-width:320px}td.rule{white-space:nowrap}
tr.error td:first-child{color:var(--err);font-weight:600}
tr.warning td:first-child{color:var(--warn);font-weight:600}
audio{display:block;width:230px;height:30px;margin:2px 0}
.clip{font-size:12px;color:var(--muted)}
.scroll{overflow-x:auto}
footer{margin-top:30px;color:var(--muted);font-size:12px}
"""


class _Page:
    def __init__(self, timeline: Timeline, report: Report) -> None:
        self.tl = timeline
        self.report = report
        self.out: list[str] = []

    def t(self, text: str) -> str:
        return _esc(self.tl.redact(text))

    def w(self, text: str) -> None:
        self.out.append(text)

    # -- what happened ------------------------------------------------------

    def notes(self) -> list[tuple[str, str]]:
        tl, notes = self.tl, []
        conns = sorted(tl.connections.values(), key=lambda c: c.number)
        frames = tl.frames["client"] + tl.frames["server"]
        if tl.truncated:
            notes.append(
                (
                    "error",
                    "The recording was cut off: its last line is incomplete (the recorder "
                    "stopped mid-write). Everything before it is shown.",
                )
            )
        if tl.unreadable:
            notes.append(("error", f"An unreadable line ended the reading: {tl.unreadable}"))
        if not tl.complete and not tl.truncated and not tl.unreadable:
            notes.append(
                (
                    "warning",
                    "The recording has no end event: the recorder stopped early (crashed or "
                    "killed), so the session may have gone on after what is shown.",
                )
            )
        if not conns and not frames:
            notes.append(
                (
                    "warning",
                    "This recording is empty: no connection was opened and no message was "
                    "exchanged.",
                )
            )
        elif not frames:
            notes.append(("warning", "Connected, but no message was exchanged."))
        started = [c for c in conns if c.setup_complete_t is not None]
        if conns and not started:
            notes.append(
                (
                    "error",
                    f"The session never started: none of its {len(conns)} connection(s) "
                    "received setupComplete.",
                )
            )
        for conn in conns:
            if conn.code is not None and conn.code not in NORMAL_CLOSE_CODES:
                by = f"by the {conn.by}" if conn.by else "(dropped, no close frame)"
                text = f"Connection {conn.number} was closed {by} with {conn.code}"
                text += f": “{conn.reason}”" if conn.reason else ""
                hint = close_hint(conn.code, conn.reason)
                text += f" — {hint}." if hint else "."
                notes.append(("error", text))
        errors = [m for m in tl.marks if m.kind in ("error", "invalid")]
        for mark in errors[:5]:
            notes.append(("error", f"At {mark.t:.3f} s: {mark.detail}"))
        if len(errors) > 5:
            notes.append(("error", f"… and {len(errors) - 5} more error frames."))
        if tl.user.elided or tl.model.elided:
            notes.append(
                (
                    "warning",
                    "Audio was elided when this session was recorded (elideAudio): the "
                    "hatched spans show where audio was, not how loud it was, and it cannot "
                    "be played.",
                )
            )
        if tl.left_out:
            seconds = sum(clip.seconds for _, clip in tl.left_out)
            notes.append(
                (
                    "warning",
                    f"{len(tl.left_out)} audio clip(s) ({_dur(seconds)}) are not embedded: "
                    f"the page holds at most {_mb(tl.audio_limit)} MB of audio "
                    f"({_mb(tl.audio_embedded)} MB used; rawlive report --audio-limit MB "
                    "changes it). The turn table says which.",
                )
            )
        factor = self.report.metrics.upload_real_time_factor
        if factor is not None and factor > 1.5 and tl.user.seconds > 0.5:
            notes.append(
                (
                    "warning",
                    f"User audio was sent {factor:.0f}× faster than real time: it is drawn at "
                    "its real length from where it started, so it runs past the moment it "
                    "was sent.",
                )
            )
        if not any(level == "error" for level, _ in notes) and started:
            turns = len(tl.turns)
            last = conns[-1]
            ending = (
                f"closed with {last.code} by the {last.by or 'network'}"
                if last.code is not None
                else "still open when the recording ended"
            )
            notes.insert(
                0,
                (
                    "ok",
                    f"{turns} turn(s) over {len(conns)} connection(s) in {_dur(tl.recorded)}; "
                    f"the last connection {ending}.",
                ),
            )
        return notes

    # -- sections -----------------------------------------------------------

    def head(self) -> None:
        tl = self.tl
        name = Path(tl.path).name
        model = tl.header.model or "unknown model"
        self.w('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">')
        self.w(
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; media-src data:; img-src data:\">"
        )
        self.w('<meta name="viewport" content="width=device-width, initial-scale=1">')
        self.w(f"<title>rawlive report: {self.t(name)}</title><style>{_CSS}</style></head><body>")
        self.w(f"<header><h1>Session report: {self.t(name)}</h1>")
        self.w(
            f'<p class="sub">{self.t(model)} · {_dur(tl.recorded)} · {len(tl.turns)} turn(s) · '
            f"{len(tl.connections)} connection(s) · {self.report.count('error')} error(s), "
            f"{self.report.count('warning')} warning(s) in the audit</p></header>"
        )
        self.w('<section id="notes" class="notes">')
        for level, text in self.notes():
            self.w(f'<p class="{level}">{self.t(text)}</p>')
        self.w("</section>")

    def timeline(self) -> None:
        plot = _Plot(self.tl)
        svg = plot.render()
        self.w('<section id="timeline"><h2>Timeline</h2><div class="tl"><div class="lane-names">')
        for lane in _LANES:
            self.w(
                f'<div data-lane-name="{lane.key}" style="height:{lane.height}px">'
                f"{lane.title}</div>"
            )
        self.w(f'</div><div class="tl-scroll">{svg}</div></div>')
        self.w(
            '<p class="legend">'
            '<b style="background:var(--user)"></b>user audio'
            '<b style="background:var(--model)"></b>model audio (as played; loudness, '
            f"{FLOOR_DB:.0f} to 0 dBFS)"
            '<b style="background:#c5ccd8"></b>elided audio'
            '<b style="background:#6b4fbb"></b>latency: end of the user\'s speech (or input) → '
            "first reply audio"
            '<b style="background:#efe6fb"></b>tool call → response'
            f" · {plot.scale:.3g} px per second; hover for details</p></section>"
        )

    def findings(self) -> None:
        report = self.report
        counts = ", ".join(f"{report.count(s)} {s}" for s in reversed(SEVERITIES))
        self.w(f'<section id="findings"><h2>Audit findings</h2><p>{counts}.</p>')
        if len(report.findings) > MAX_FINDINGS or report.not_shown():
            rules = ", ".join(f"{rule} × {n}" for rule, n in sorted(report.rule_counts.items()))
            self.w(
                f"<p>By rule: {_esc(rules)}. Listed: the first {MAX_FINDINGS_PER_RULE} of each "
                f"rule, {MAX_FINDINGS} at most; <code>rawlive audit --findings-per-rule 0</code> "
                "lists them all.</p>"
            )
        if report.findings:
            self.w('<div class="scroll"><table><tr><th>severity</th><th>rule</th>')
            self.w("<th>section</th><th>conn</th><th>t (s)</th><th>message</th></tr>")
            for f in report.findings[:MAX_FINDINGS]:
                self.w(
                    f'<tr class="{f.severity}" data-rule="{_esc(f.rule)}"><td>{f.severity}</td>'
                    f'<td class="rule">{_esc(f.rule)}</td><td class="rule">{_esc(f.section)}</td>'
                    f'<td class="num">{"" if f.connection is None else f.connection}</td>'
                    f'<td class="num">{"" if f.t is None else f"{f.t:.3f}"}</td>'
                    f"<td>{self.t(f.message)}</td></tr>"
                )
            self.w("</table></div>")
        if report.drift:
            self.w("<p>Schema drift (keys and enum values the types do not know):</p>")
            self.w("<table><tr><th>from</th><th>path</th><th>count</th><th>first t (s)</th></tr>")
            for d in report.drift:
                self.w(
                    f"<tr><td>{_esc(d.direction)}</td><td>{self.t(d.path)}</td>"
                    f'<td class="num">{d.count}</td><td class="num">{d.first_t:.3f}</td></tr>'
                )
            self.w("</table>")
        self.w("</section>")

    def clip(self, clip: Clip) -> str:
        who = "user" if clip.side == "user" else "model"
        head = f'<div class="clip" data-clip="{who}">{who}, {_dur(clip.seconds)}'
        if clip.data_uri is not None:
            return (
                f'{head}<audio controls preload="none" src="{clip.data_uri}" '
                f'title="{who} audio, {clip.rate} Hz"></audio></div>'
            )
        return f"{head}: {_esc(clip.note)}</div>"

    def turns(self) -> None:
        self.w('<section id="turns"><h2>Turns</h2>')
        if not self.tl.turns:
            self.w("<p>No turn: nothing was said or answered.</p></section>")
            return
        from rawlive.media import vad

        self.w(
            "<p>Reply latency: from the end of the user's speech (the last 10 ms of user "
            f"audio at {vad.DEFAULT_END_THRESHOLD_DBFS:.0f} dBFS or louder, the emulator's "
            "default end-of-speech level; the end of the "
            "input when there is no such audio) to the first reply audio, as the timeline "
            "draws it. The next four columns are the audit's, in seconds from the end of the "
            "user's input (the last message the client sent before the reply began; with a "
            "microphone that never stops, that is just before the reply). Audio: what each "
            "side sent in the turn, playable here.</p>"
        )
        self.w('<div class="scroll"><table><tr><th>turn</th><th>conn</th><th>start (s)</th>')
        self.w("<th>user said</th><th>model said</th><th>reply latency</th>")
        self.w("<th>first input transcript</th>")
        self.w("<th>first reply audio</th><th>generation complete</th><th>turn complete</th>")
        self.w("<th>tools</th><th>tokens</th><th>audio</th></tr>")
        for turn in self.tl.turns:
            a = turn.audit
            said = " ".join([*turn.user_text, "".join(turn.input_text)]).strip()
            reply = "".join(turn.output_text) or "".join(turn.model_text)
            if turn.interrupted:
                reply += " [interrupted]"
            if turn.end is None:
                reply += " [no turnComplete]"
            cells = [
                f'<td class="num">{turn.index}</td>',
                f'<td class="num">{turn.connection}</td>',
                f'<td class="num">{turn.start:.3f}</td>',
                f'<td class="said">{self.t(_clean(said, 600))}</td>',
                f'<td class="said">{self.t(_clean(reply.strip(), 600))}</td>',
            ]
            bracket = turn.latency
            latency = None if bracket is None else bracket[1] - bracket[0]
            basis = "" if bracket is None else f' data-basis="{bracket[2]}"'
            cells.append(
                f'<td class="num" data-metric="reply_latency" data-seconds="{_secs(latency)}"'
                f"{basis}>{_dur(latency)}</td>"
            )
            for name in (
                "first_input_transcription",
                "first_reply_audio",
                "generation_complete",
                "turn_complete",
            ):
                value = None if a is None else getattr(a, name)
                cells.append(
                    f'<td class="num" data-metric="{name}" data-seconds="{_secs(value)}">'
                    f"{'–' if value is None else f'{value:.3f}'}</td>"
                )
            cells.append(f"<td>{self.t(', '.join(turn.tools))}</td>")
            cells.append(f'<td class="num">{turn.tokens or ""}</td>')
            cells.append(f"<td>{''.join(self.clip(c) for c in turn.clips) or '–'}</td>")
            self.w(f'<tr data-turn="{turn.index}">{"".join(cells)}</tr>')
        self.w("</table></div>")
        latencies = [(k, v) for k, v in self.report.metrics.latencies().items() if v is not None]
        if latencies:
            self.w("<p>Over the session (s):</p><table><tr><th>milestone</th><th>n</th>")
            self.w("<th>p50</th><th>p90</th><th>max</th></tr>")
            for name, p in latencies:
                self.w(
                    f'<tr data-latency-name="{name}"><td>{name.replace("_", " ")}</td>'
                    f'<td class="num">{int(p["n"])}</td><td class="num">{p["p50"]:.3f}</td>'
                    f'<td class="num">{p["p90"]:.3f}</td><td class="num">{p["max"]:.3f}</td></tr>'
                )
            self.w("</table>")
        self.w("</section>")

    def tokens(self) -> None:
        m = self.report.metrics
        self.w('<section id="tokens"><h2>Token usage</h2>')
        modalities = sorted(set(m.prompt_tokens) | set(m.response_tokens))
        if not modalities and not m.total_tokens:
            self.w("<p>No usageMetadata was received.</p></section>")
            return
        self.w("<table><tr><th>modality</th><th>prompt</th><th>response</th></tr>")
        for modality in modalities:
            self.w(
                f'<tr data-modality="{_esc(modality)}"><td>{_esc(modality)}</td>'
                f'<td class="num">{m.prompt_tokens.get(modality, 0)}</td>'
                f'<td class="num">{m.response_tokens.get(modality, 0)}</td></tr>'
            )
        self.w(
            f'<tr><th>total tokens</th><td class="num" colspan="2" data-total-tokens>'
            f"{m.total_tokens}</td></tr></table></section>"
        )

    def connections(self) -> None:
        self.w('<section id="connections"><h2>Connections</h2>')
        conns = sorted(self.tl.connections.values(), key=lambda c: c.number)
        if not conns:
            self.w("<p>No connection was opened.</p></section>")
            return
        self.w('<div class="scroll"><table><tr><th>#</th><th>opened (s)</th>')
        self.w("<th>setupComplete after</th><th>resumed</th><th>goAway</th><th>closed (s)</th>")
        self.w("<th>close</th><th>what it means</th></tr>")
        for c in conns:
            ready = (
                _dur(c.setup_complete_t - c.setup_t)
                if c.setup_complete_t is not None and c.setup_t is not None
                else "never"
            )
            go_away = "" if c.go_away_t is None else f"at {c.go_away_t:.3f} s"
            if c.go_away_t is not None and c.time_left is not None:
                go_away += f", timeLeft {_dur(c.time_left)}"
            if c.code is None:
                close, hint = "not closed in the recording", ""
            else:
                by = f"by the {c.by}" if c.by else "dropped"
                close = f"{c.code} {by}" + (f": {c.reason}" if c.reason else "")
                hint = close_hint(c.code, c.reason) or (
                    "normal closure" if c.code in NORMAL_CLOSE_CODES else ""
                )
            self.w(
                f'<tr data-connection="{c.number}" data-close-code="{c.code or ""}">'
                f'<td class="num">{c.number}</td>'
                f'<td class="num">{"" if c.opened is None else f"{c.opened:.3f}"}</td>'
                f"<td>{ready}</td><td>{'yes' if c.resumed else ''}</td><td>{go_away}</td>"
                f'<td class="num">{"" if c.closed is None else f"{c.closed:.3f}"}</td>'
                f"<td>{self.t(close)}</td><td>{self.t(hint)}</td></tr>"
            )
        self.w("</table></div></section>")

    def facts(self) -> None:
        tl, h = self.tl, self.tl.header
        headers = endpoints.Endpoint(url="", headers=tuple(h.headers)).redacted_headers()
        rows = [
            ("file", tl.path),
            ("model", h.model or "unknown"),
            ("endpoint", h.url or "unknown"),
            ("API version", h.api_version or "unknown"),
            ("duration", f"{_dur(tl.recorded)} ({tl.recorded:.6f} s)"),
            ("recorded", f"{h.created} by rawlive {h.rawlive_version}"),
            (
                "frames",
                f"{tl.frames['client']} from the client, {tl.frames['server']} from the server",
            ),
            (
                "audio",
                f"user {_dur(tl.user.seconds)}, model {_dur(tl.model.seconds)}"
                + (" (elided in the recording)" if h.elide_audio else ""),
            ),
            ("complete", "yes (end event)" if tl.complete else "no"),
        ]
        if headers:
            rows.append(("headers", "; ".join(f"{k}: {v}" for k, v in headers)))
        for key, value in h.meta.items():
            text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
            rows.append((f"meta.{key}", _clean(text, 300)))
        self.w('<section id="facts"><h2>Session facts</h2><table>')
        for name, value in rows:
            self.w(
                f'<tr data-fact="{_esc(name)}"><th>{_esc(name)}</th><td>{self.t(value)}</td></tr>'
            )
        self.w("</table></section>")

    def render(self) -> str:
        self.head()
        self.timeline()
        self.findings()
        self.turns()
        self.tokens()
        self.connections()
        self.facts()
        self.w(
            f"<footer>Written by rawlive {__version__} (rawlive report): one file, no script, "
            "no network.</footer></body></html>\n"
        )
        return "".join(self.out)


def _match_audit(timeline: Timeline, report: Report) -> None:
    """Give each completed turn its audit :class:`Turn` (both end at each turnComplete)."""
    by_conn: dict[int, list[Turn]] = {}
    for measured in report.metrics.turns:
        by_conn.setdefault(measured.connection, []).append(measured)
    for turn in timeline.turns:
        pending = by_conn.get(turn.end_connection or turn.connection)
        if turn.end is not None and pending:
            turn.audit = pending.pop(0)


def _build(cassette: str | os.PathLike[str], audio_limit: int) -> tuple[Timeline, str]:
    timeline = read_timeline(cassette, audio_limit=audio_limit)
    report = audit_cassette(cassette)
    _match_audit(timeline, report)
    return timeline, _Page(timeline, report).render()


def render_report(path: str | os.PathLike[str], *, audio_limit: int = DEFAULT_AUDIO_LIMIT) -> str:
    """The HTML page of the cassette at ``path`` (see :func:`read_timeline` for errors)."""
    return _build(path, audio_limit)[1]


@dataclasses.dataclass
class Written:
    """What :func:`write_report` wrote."""

    path: Path
    bytes: int
    turns: int
    clips_left_out: int
    notes: list[str]


def write_report(
    cassette: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    audio_limit: int = DEFAULT_AUDIO_LIMIT,
) -> Written:
    """Render the cassette's page and write it to ``out`` (UTF-8); see :func:`read_timeline`."""
    timeline, page = _build(cassette, audio_limit)
    data = page.encode("utf-8")
    target = Path(out)
    # Written beside the target and renamed over it: a failure halfway (a full
    # disk) leaves the previous page whole, never a truncated one.
    staged = files.StagedFile(target)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(staged.fd, view) :]
        finally:
            os.close(staged.fd)
        staged.publish()
    except OSError as exc:  # a failed write names no file
        staged.discard()
        raise files.named(exc, target) from None
    notes = []
    if timeline.truncated:
        notes.append("the recording was cut off")
    if timeline.unreadable:
        notes.append("an unreadable line ended it")
    return Written(target, len(data), len(timeline.turns), len(timeline.left_out), notes)
