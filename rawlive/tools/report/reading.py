"""Reading a cassette into a :class:`Timeline`: what happened, when, on one time axis.

:func:`read_timeline` reads a recording once and places on one axis both
sides' audio (:class:`~rawlive.tools.report.envelopes.Envelope`), transcripts,
model text, tool calls with their round trips, control events, connections
and the turns, each with its clips of user and model audio (embedded as WAV
while the page's audio budget lasts). Where the placement is the report's
own: user audio is drawn as captured just before it was sent, model audio as
played from its arrival, queued, and cut where the user interrupted; a turn's
latency runs from the end of the user's speech (the VAD's end level) to the
first reply audio. Every string it keeps is still unredacted: the page
redacts with :attr:`Timeline.redact`, which learns the recording's credentials.
"""

from __future__ import annotations

import base64
import dataclasses
import math
import os
import warnings

import msgspec

from rawlive.cassette import (
    CassetteHeader,
    CassetteReader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    TruncatedCassetteWarning,
)
from rawlive.core import models
from rawlive.core import state as core
from rawlive.core.closing import NORMAL_CLOSE_CODES, close_hint
from rawlive.errors import DecodeError, ServerErrorPayload
from rawlive.media import frames, image
from rawlive.tools.audit import Turn
from rawlive.tools.report import thumbs
from rawlive.tools.report.envelopes import Envelope
from rawlive.tools.report.text import clean, dur, fmt_args, mb
from rawlive.wire import codec, endpoints
from rawlive.wire import types as lt

__all__ = [
    "DEFAULT_AUDIO_LIMIT",
    "MAX_THUMBNAILS",
    "Clip",
    "Connection",
    "Mark",
    "Picture",
    "Span",
    "Timeline",
    "TurnSpan",
    "read_timeline",
]

#: Bytes of the page that embedded audio may take (base64 WAV): about 2 min 20 s
#: of 16 kHz user audio or 1 min 34 s of 24 kHz model audio. ``rawlive report
#: --audio-limit MB`` changes it.
DEFAULT_AUDIO_LIMIT = 6_000_000
#: Transcript fragments closer than this (s) join into one label.
FRAGMENT_GAP = 2.0


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
    """One turn as the timeline sees it: from its first event (or the speech that led to it).

    Where it ends and whether it was interrupted are the session core's
    (:attr:`exchange`); :attr:`audit` holds the audit's latencies.
    """

    index: int
    connection: int
    start: float
    #: The core's exchange it shows: the one its ``turnComplete`` ended, else the one
    #: under way on the connection of its latest event.
    exchange: core.Turn | None = None
    #: The connection its ``turnComplete`` came on (a resumed session may change it mid-turn).
    end_connection: int | None = None
    last: float = 0.0
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
    def end(self) -> float | None:
        """When ``turnComplete`` ended it (``None``: not in the recording)."""
        return None if self.exchange is None else self.exchange.complete

    @property
    def interrupted(self) -> bool:
        """Whether the user cut the reply short (``interrupted``)."""
        return self.exchange is not None and self.exchange.interrupted

    @property
    def status(self) -> str | None:
        """The ``interactionStatus`` its ``turnComplete`` carried (``PROTOCOL.md`` §10.6)."""
        return None if self.exchange is None or self.end is None else self.exchange.status

    @property
    def in_progress(self) -> bool:
        """Whether its ``turnComplete`` left the interaction going on (the core's rule 8)."""
        return (
            self.end is not None
            and self.exchange is not None
            and not (self.exchange.ends_interaction)
        )

    @property
    def filler(self) -> bool:
        """A turn the model spoke in and that left the interaction going on: a filler (§10.7)."""
        return self.in_progress and bool(self.first_audio is not None or self.output_text)

    @property
    def latency(self) -> tuple[float, float, str] | None:
        """The bracket: (start, end, basis); from the end of speech, else of the user's input."""
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
        user_end = None if self.exchange is None else self.exchange.user_end
        if user_end is not None:
            return user_end, end, "input"
        return None


@dataclasses.dataclass
class Connection:
    """One WebSocket connection of the session."""

    number: int
    opened: float | None = None
    setup_t: float | None = None
    setup_complete_t: float | None = None
    resumed: bool = False
    closed: float | None = None
    code: int | None = None
    reason: str = ""
    by: str | None = None
    #: The session core fed every message of the connection that decoded: its turns,
    #: tool calls, token usage and ``goAway``.
    session: core.SessionState = dataclasses.field(default_factory=core.SessionState)

    @property
    def go_away_t(self) -> float | None:
        """When a ``goAway`` came (the last one)."""
        return None if self.session.go_away is None else self.session.go_away[0]

    @property
    def time_left(self) -> float | None:
        """The ``timeLeft`` it gave (seconds)."""
        return None if self.session.go_away is None else self.session.go_away[1]


#: Frames shown as thumbnails; those beyond are counted ("N more frames").
MAX_THUMBNAILS = 120


@dataclasses.dataclass
class Picture:
    """A video frame (or image) the client sent: when, what, and its thumbnail."""

    t: float
    mime_type: str
    size: int
    width: int | None
    height: int | None
    #: Why it is not a whole JPEG or PNG of its claimed type (``None``: it is).
    problem: str | None
    #: A ``data:`` URI of a small image of it (``None``: drawn as a tick).
    thumb: str | None = None


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
    #: The video frames sent, up to :data:`MAX_THUMBNAILS`, and how many more there were.
    pictures: list[Picture] = dataclasses.field(default_factory=list)
    pictures_more: int = 0
    #: Thumbnails were wanted but PyAV is missing (the frames are ticks).
    thumbs_missing: bool = False

    @property
    def usage(self) -> core.UsageTotals:
        """Token usage over the session: its connections' totals (the core's sums)."""
        total = core.UsageTotals()
        for connection in self.connections.values():
            total.merge(connection.session.usage)
        return total


# ---------------------------------------------------------------------------
# Reading: one pass over the cassette
# ---------------------------------------------------------------------------


def _rate(mime: str | None, default: int) -> int:
    return codec.mime_rate(mime) or default


def _is_audio(blob: lt.Blob | None) -> bool:
    return blob is not None and (blob.mime_type or "").startswith("audio/")


class _Reader:
    """Builds a :class:`Timeline` from events, in recording order."""

    def __init__(self, timeline: Timeline) -> None:
        self.tl = timeline
        self.turn: TurnSpan | None = None
        # The span of each tool call the core holds open, by connection and ledger key.
        self.calls: dict[tuple[int, str], Span] = {}
        self.fragments: dict[str, Span] = {}
        # Speech-to-text: the span of each connection's utterance in progress, by its number.
        self.interims: dict[int, tuple[int, Span]] = {}
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
            # The header's model until a setup names one (as the audit does).
            session = core.SessionState(model=models.find(self.tl.header.model))
            found = self.tl.connections[number] = Connection(number, session=session)
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
        self.turn.exchange = self.conn(connection).session.turn
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
        data = blob.data or b""
        default = 16_000 if side == "user" else 24_000
        rate = _rate(blob.mime_type, default)
        samples = len(data) // 2
        seconds = samples / rate
        env = self.tl.user if side == "user" else self.tl.model
        # User audio was captured before it was sent; model audio plays from its arrival.
        start = env.place(t - seconds if side == "user" else t, seconds)
        if side == "user" and start < turn.start:  # the turn began when this audio was spoken
            turn.start = max(start, 0.0)
        self.audio_seconds[side] += seconds
        if side == "model" and turn.first_audio is None and (elided or samples):
            turn.first_audio = t
            turn.speech_end = None if self.user_elided else self.voiced_end
        if elided:
            self.elided[side] += seconds
            self.user_elided = self.user_elided or side == "user"
            env.add_elided(start, seconds)
        elif samples:
            speech = side == "user" and turn.first_audio is None
            voiced_end = env.add(start, data, rate, voiced=self.voiced if speech else None)
            if voiced_end is not None:
                self.voiced_end = voiced_end
            if self.rates[side] is None:
                self.rates[side] = rate
            if rate == self.rates[side]:
                self.pcm[side].append(data[: samples * 2])
        if side == "model" and (elided or samples):
            index = -1 if elided else len(env.times) - 1
            self.model_placed.append((start, start + seconds, index))

    def interrupt(self, t: float) -> None:
        """The client stops playing: model audio queued after ``t`` is never heard."""
        self.tl.model.stop(t, self.model_placed)

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
                clip.note = f"{dur(self.elided[side])} of audio elided in the recording"
            else:
                wav = audio.wav_bytes(b"".join(self.pcm[side]), rate)
                size = 22 + 4 * math.ceil(len(wav) / 3)  # the data URI's length
                if size <= self.remaining:
                    self.remaining -= size
                    self.tl.audio_embedded += size
                    clip.data_uri = "data:audio/wav;base64," + base64.b64encode(wav).decode()
                else:
                    clip.note = (
                        f"not embedded: {mb(size)} MB would pass the page's audio limit "
                        f"of {mb(self.tl.audio_limit)} MB"
                    )
                    self.tl.left_out.append((turn.index, clip))
            turn.clips.append(clip)
            self.pcm[side] = []
            self.rates[side] = None
            self.elided[side] = 0.0
            self.audio_seconds[side] = 0.0
        self.model_placed = []

    def finish_turn(self, t: float, exchange: core.Turn, connection: int) -> None:
        """The core ended an exchange at ``t`` (``turnComplete``): so ends the turn."""
        turn = self.current_turn(t, connection)
        turn.exchange = exchange
        turn.end_connection = connection
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
        self.unanswered(conn, event.t)

    def unanswered(self, conn: Connection, t: float) -> None:
        """The connection is gone: the calls still open on it were never answered."""
        for call in conn.session.tools.discard():
            span = self.calls.pop((conn.number, call.key), None)
            if span is not None:
                span.end = t
                span.text += " (unanswered)"

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
        conn = self.conn(number)
        answers = conn.session.client(msg, t)
        if msg.setup is not None:
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
            pictures = [rt.video] if rt.video is not None else []
            pictures += [b for b in rt.media_chunks or [] if not _is_audio(b)]
            for blob in pictures:
                assert blob is not None
                self.picture(t, blob)
        content = msg.client_content
        if content is not None:
            texts = [p.text for c in content.turns or [] for p in c.parts or [] if p.text]
            if texts:
                turn = self.current_turn(t, number)
                text = " / ".join(texts)
                turn.user_text.append(text)
                self.tl.spans.append(Span("input", t, t, "user-text", text, turn=turn.index))
        if msg.tool_response is not None:
            responses = msg.tool_response.function_responses or []
            for fr, (answer, key) in zip(responses, answers, strict=True):
                self.response(t, number, fr, answer, key)
        if msg.context_update is not None:
            self.mark(t, "control", "contextUpdate")

    def picture(self, t: float, blob: lt.Blob) -> None:
        """A video frame sent: kept with its thumbnail up to the cap, else counted."""
        tl = self.tl
        if len(tl.pictures) >= MAX_THUMBNAILS:
            tl.pictures_more += 1
            return
        data = bytes(blob.data or b"")
        info = image.inspect(data)
        problem = frames.frame_problem(data, blob.mime_type, info)
        picture = Picture(
            t,
            blob.mime_type or "",
            len(data),
            info.width,
            info.height,
            None if problem is None else problem.why,
        )
        if problem is None:
            small = thumbs.thumbnail(data, info)
            if small is not None:
                mime, thumb = small
                picture.thumb = f"data:{mime};base64,{base64.b64encode(thumb).decode()}"
            elif not thumbs.available():
                tl.thumbs_missing = True
        tl.pictures.append(picture)

    def response(
        self, t: float, number: int, fr: lt.FunctionResponse, answer: core.Answer, key: str
    ) -> None:
        """A function response, as the core's ledger took it (``answer``)."""
        name = fr.name or "?"
        span = self.calls.get((number, key))
        if span is None or answer not in (core.Answer.SETTLED, core.Answer.CONTINUING):
            self.mark(t, "tool", f"response {name}", f"for no open call ({answer.value})")
            return
        after = dur(t - span.start)
        payload = clean(msgspec.json.encode(fr.response).decode(), 300)
        if answer is core.Answer.CONTINUING:
            span.detail += f"\nresponse after {after}, more to come: {payload}"
            return
        del self.calls[(number, key)]
        span.end = t
        span.rtt = t - span.start
        span.text += f" → {after}"
        span.detail += f"\nresponse after {after}: {payload}"
        if self.turn is not None:
            self.turn.tools.append(f"{name} {after}")

    def server(self, event: FrameEvent, msg: lt.LiveServerMessage, elided: bool) -> None:
        t, number = event.t, event.connection
        conn = self.conn(number)
        finished = conn.session.server(msg, t)
        if msg.setup_complete is not None:
            if conn.setup_complete_t is None:
                conn.setup_complete_t = t
            self.mark(t, "setup", "setupComplete", f"connection {number} ready")
        if msg.tool_call is not None:
            turn = self.current_turn(t, number)
            for call in msg.tool_call.function_calls or []:
                name = call.name or "?"
                args = fmt_args(call.args)
                span = Span("tools", t, t, "tool", f"{name}({args})", turn=turn.index)
                span.detail = f"toolCall {name} id={call.id}: {args}"
                self.tl.spans.append(span)
                key = core.call_key(call.id, call.name)
                if key is not None:  # in the core's ledger (a call with no id nor name is not)
                    self.calls[(number, key)] = span
        if msg.tool_call_cancellation is not None:
            for call_id in msg.tool_call_cancellation.ids or []:
                cancelled = self.calls.get((number, call_id))
                if cancelled is not None and call_id not in conn.session.tools.open:
                    del self.calls[(number, call_id)]
                    cancelled.end = t
                    cancelled.text += " (cancelled)"
            self.mark(t, "tool", "toolCallCancellation")
        sc = msg.server_content
        if sc is not None:
            self.content(t, number, sc, elided)
        if finished is not None:
            self.turn_complete(t, finished)
            self.finish_turn(t, finished, number)
        if msg.usage_metadata is not None and self.tl.turns:
            turn = self.turn or self.tl.turns[-1]
            turn.tokens += msg.usage_metadata.total_token_count or 0
        if msg.go_away is not None:
            left = conn.time_left
            label = "goAway" if left is None else f"goAway {dur(left)} left"
            self.mark(t, "goaway", label, f"{label} (connection {number})")
        update = msg.session_resumption_update
        if update is not None:
            self.tick(t, "resumable" if update.resumable else "not-resumable")
        if msg.voice_activity is not None or msg.voice_activity_detection_signal is not None:
            self.tick(t, "vad")

    def turn_complete(self, t: float, finished: core.Turn) -> None:
        """The ``turnComplete`` mark, with the ``interactionStatus`` it carried (§10.6)."""
        status = finished.status
        if not status:
            self.mark(t, "turn-complete", "turnComplete")
        elif finished.ends_interaction:
            detail = f"turnComplete, interactionStatus {status}: the interaction is complete"
            self.mark(t, "turn-complete idle", f"turnComplete {status}", detail)
        else:
            detail = (
                f"turnComplete, interactionStatus {status}: the interaction goes on "
                "(a filler, or background work; more output follows)"
            )
            self.mark(t, "turn-complete in-progress", f"turnComplete {status}", detail)

    def transcripts(self, t: float, number: int, sc: lt.LiveServerContent) -> None:
        """A speech-to-text session's transcripts (the core's rule 10): one span per
        utterance for its interims, showing the latest (each is the whole utterance so
        far), and one per final."""
        session = self.conn(number).session
        utterance = session.ended_utterance or session.utterance
        interim = sc.interim_input_transcription
        if interim is not None and interim.text:
            turn = self.current_turn(t, number)
            held = self.interims.get(number)
            if held is not None and held[0] == utterance.number:
                span = held[1]
                span.end, span.text = t, interim.text
            else:
                span = Span("input", t, t, "interim", interim.text, turn=turn.index)
                self.interims[number] = (utterance.number, span)
                self.tl.spans.append(span)
            span.detail = (
                f"interim transcript of utterance {utterance.number} (the latest of "
                f"{utterance.interims}): {interim.text}"
            )
        final = sc.input_transcription
        if final is not None and final.text:
            turn = self.current_turn(t, number)
            turn.input_text.append(final.text + " ")
            after = utterance.to_final
            detail = f"final transcript of utterance {utterance.number}"
            if after is not None:
                detail += f", {dur(after)} after the end of speech"
            span = Span("input", t, t, "final", final.text, turn=turn.index)
            span.detail = f"{detail}: {final.text}"
            self.tl.spans.append(span)

    def content(self, t: float, number: int, sc: lt.LiveServerContent, elided: bool) -> None:
        if self.conn(number).session.transcribing:
            self.transcripts(t, number, sc)
            sc = msgspec.structs.replace(
                sc, input_transcription=None, interim_input_transcription=None
            )
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
            self.current_turn(t, number)
            self.interrupt(t)
            self.mark(t, "interrupted", "interrupted", "interrupted: the user spoke over the model")
        if sc.generation_complete:
            self.mark(t, "generation", "generationComplete")


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
    for conn in timeline.connections.values():  # not closed in the recording
        builder.unanswered(conn, timeline.duration)
    timeline.recorded = timeline.duration
    timeline.duration = max(timeline.duration, timeline.user.end, timeline.model.end)
    return timeline
