"""The audit's metrics: :class:`Metrics` of a session and the latencies of each :class:`Turn`.

Timings come from the wire timestamps of a recording: time to
``setupComplete``; per turn, from the end of the user's input (the core's
turn rule, :mod:`rawlive.core.state`) to the first input transcription, the
first reply audio, ``generationComplete`` and ``turnComplete``; per
interaction where ``turnComplete`` carries ``interactionStatus`` (extended
thinking, ``PROTOCOL.md`` §10.6), its turns and the time to the first audio
and to ``IDLE``; per utterance of a speech-to-text session (§10.8), its
interim count and the time from the end of speech to the final; tool-call
round trips; audio seconds and chunk sizes each way; gaps in the reply audio
as a listener would hear them; tokens by modality; and percentiles over the
session.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import msgspec

from rawlive.core.state import UsageTotals
from rawlive.wire.codec import mime_rate

__all__ = [
    "GAP_MIN_SECONDS",
    "GoAwayLead",
    "Interaction",
    "Metrics",
    "MetricsDocument",
    "ReplyGaps",
    "Turn",
    "Utterance",
    "pcm_seconds",
    "percentiles",
    "rate_of",
    "stats",
]

#: An underrun of reply audio shorter than this is jitter, not a gap.
GAP_MIN_SECONDS = 0.02


class Turn(msgspec.Struct):
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
    #: The video frames (and images) the client sent in this exchange, and their bytes.
    video_frames: int = 0
    video_bytes: int = 0


class Interaction(msgspec.Struct):
    """One interaction of a model that says ``interactionStatus`` (§10.6): the user's
    request and every turn the model spends on it, fillers included, up to ``IDLE``.

    Times are seconds from the end of the user's input (``user_end_t``).
    """

    connection: int
    user_end_t: float | None = None
    #: Its turns (``turnComplete`` messages), and those that said ``IN_PROGRESS`` (fillers...).
    turns: int = 0
    in_progress_turns: int = 0
    first_reply_audio: float | None = None
    #: The first audio of its last turn (the answer after the fillers).
    last_turn_audio: float | None = None
    #: To the ``turnComplete`` that said ``IDLE`` (``None``: it never came).
    interaction_complete: float | None = None
    #: The ``interactionStatus`` of its last ``turnComplete``.
    status: str | None = None
    #: Whether it ended at ``IDLE``.
    idle: bool = False


class Utterance(msgspec.Struct):
    """One utterance of a speech-to-text session (§10.8; the core's rule 10).

    ``*_t`` are times in the recording; ``to_final`` is seconds from the end of
    speech (``activityEnd``, ``audioStreamEnd`` or the server's ``ACTIVITY_END``)
    to the final ``inputTranscription``.
    """

    connection: int
    speech_end_t: float | None = None
    first_interim_t: float | None = None
    final_t: float | None = None
    #: When the ``generationComplete`` that ended it came (``None``: it never did).
    complete_t: float | None = None
    interims: int = 0
    final: bool = False
    to_final: float | None = None


def percentiles(values: list[float]) -> dict[str, float] | None:
    """The median, the 90th percentile, the maximum and the count of ``values``."""
    if not values:
        return None
    ordered = sorted(values)

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]

    return {"p50": pick(0.5), "p90": pick(0.9), "max": ordered[-1], "n": float(len(ordered))}


def stats(sizes: list[int]) -> dict[str, float] | None:
    """The count, smallest, mean and largest of ``sizes``."""
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
    interactions: list[Interaction] = dataclasses.field(default_factory=list)
    utterances: list[Utterance] = dataclasses.field(default_factory=list)
    #: ``interimInputTranscription`` and final ``inputTranscription`` messages of
    #: speech-to-text sessions (finals: one per utterance, §10.8).
    interim_transcriptions: int = 0
    final_transcriptions: int = 0
    tool_round_trips: list[float] = dataclasses.field(default_factory=list)
    audio_in_seconds: float = 0.0
    audio_out_seconds: float = 0.0
    audio_in_chunks: list[int] = dataclasses.field(default_factory=list)
    audio_out_chunks: list[int] = dataclasses.field(default_factory=list)
    upload_span: tuple[float, float] | None = None
    #: Video frames and images the client sent (``realtimeInput.video``, image ``mediaChunks``).
    video_frames: int = 0
    video_bytes: int = 0
    interruptions: int = 0
    #: Each underrun of reply audio (seconds): the next chunk arrived after the
    #: audio before it would have finished playing (see :data:`GAP_MIN_SECONDS`).
    reply_gaps: list[float] = dataclasses.field(default_factory=list)
    prompt_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    response_tokens: dict[str, int] = dataclasses.field(default_factory=dict)
    total_tokens: int = 0
    #: (connection, announced timeLeft, actual seconds from goAway to the close).
    go_away: list[tuple[int, float | None, float | None]] = dataclasses.field(default_factory=list)
    #: Seconds lost to each rule of a server that misbehaves (``stalled-turn``,
    #: ``empty-turn``...), every finding counted (those not kept included).
    time_lost: dict[str, float] = dataclasses.field(default_factory=dict)

    def add_usage(self, usage: UsageTotals) -> None:
        """Add a connection's token counts, which the core summed (``MODALITY_UNSPECIFIED``:
        counts without a modality)."""
        self.total_tokens += usage.total_tokens
        for into, counts in (
            (self.prompt_tokens, usage.prompt_by_modality),
            (self.response_tokens, usage.response_by_modality),
        ):
            for modality, count in counts.items():
                into[modality] = into.get(modality, 0) + count

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
            out[name] = percentiles(values)
        out["interaction_first_audio"] = percentiles(
            [v for i in self.interactions if (v := i.first_reply_audio) is not None]
        )
        out["interaction_complete"] = percentiles(
            [v for i in self.interactions if (v := i.interaction_complete) is not None]
        )
        out["final_transcription"] = percentiles(
            [v for u in self.utterances if (v := u.to_final) is not None]
        )
        out["tool_round_trip"] = percentiles(self.tool_round_trips)
        out["setup_complete"] = percentiles(list(self.setup_complete.values()))
        return out

    def document(self) -> MetricsDocument:
        """The metrics as ``audit --json`` writes them: sums and percentiles, not every chunk."""
        return MetricsDocument(
            setup_complete=self.setup_complete,
            turns=self.turns,
            interactions=self.interactions,
            utterances=self.utterances,
            interim_transcriptions=self.interim_transcriptions,
            final_transcriptions=self.final_transcriptions,
            tool_round_trips=self.tool_round_trips,
            audio_in_seconds=self.audio_in_seconds,
            audio_out_seconds=self.audio_out_seconds,
            audio_in_chunk_bytes=stats(self.audio_in_chunks),
            audio_out_chunk_bytes=stats(self.audio_out_chunks),
            upload_real_time_factor=self.upload_real_time_factor,
            video_frames=self.video_frames,
            video_bytes=self.video_bytes,
            interruptions=self.interruptions,
            reply_audio_gaps=ReplyGaps(
                len(self.reply_gaps),
                float(sum(self.reply_gaps)),
                max(self.reply_gaps, default=None),
            ),
            prompt_tokens=self.prompt_tokens,
            response_tokens=self.response_tokens,
            total_tokens=self.total_tokens,
            go_away=[GoAwayLead(*entry) for entry in self.go_away],
            time_lost=dict(sorted(self.time_lost.items())),
            percentiles=self.latencies(),
        )

    def to_builtins(self) -> dict[str, Any]:
        """:meth:`document` as plain objects (what :func:`json.loads` makes of its JSON)."""
        built: dict[str, Any] = msgspec.to_builtins(self.document(), str_keys=True)
        return built


class ReplyGaps(msgspec.Struct):
    """The underruns of the reply audio: how many, their seconds and the longest."""

    count: int
    seconds: float
    max: float | None


class GoAwayLead(msgspec.Struct):
    """A ``goAway``: the ``timeLeft`` it announced and the seconds until the close came."""

    connection: int
    time_left: float | None
    #: ``None``: the connection was never seen to close.
    actual_lead: float | None


class MetricsDocument(msgspec.Struct):
    """:class:`Metrics` in ``audit --json``: seconds, bytes and tokens, snake_case keys."""

    setup_complete: dict[int, float]
    turns: list[Turn]
    #: Interactions of a model that says ``interactionStatus`` (empty otherwise).
    interactions: list[Interaction]
    #: Utterances of a speech-to-text session (empty otherwise).
    utterances: list[Utterance]
    interim_transcriptions: int
    final_transcriptions: int
    tool_round_trips: list[float]
    audio_in_seconds: float
    audio_out_seconds: float
    #: ``count``, ``min``, ``mean``, ``max`` of the chunks' sizes (``None``: no audio).
    audio_in_chunk_bytes: dict[str, float] | None
    audio_out_chunk_bytes: dict[str, float] | None
    upload_real_time_factor: float | None
    #: Video frames and images sent, and their bytes (per turn: ``turns[].video_frames``).
    video_frames: int
    video_bytes: int
    interruptions: int
    reply_audio_gaps: ReplyGaps
    #: Tokens by modality (``MODALITY_UNSPECIFIED``: counted without one).
    prompt_tokens: dict[str, int]
    response_tokens: dict[str, int]
    total_tokens: int
    go_away: list[GoAwayLead]
    #: Seconds lost to each rule of a server that misbehaves, by rule name.
    time_lost: dict[str, float]
    #: ``p50``, ``p90``, ``max`` and ``n`` by milestone (:meth:`Metrics.latencies`).
    percentiles: dict[str, dict[str, float] | None]


_RATES: dict[str, int | None] = {}


def rate_of(mime: str) -> int | None:
    """:func:`rawlive.wire.codec.mime_rate`, memoised: a stream repeats one MIME type."""
    if mime in _RATES:
        return _RATES[mime]
    rate = mime_rate(mime)
    if len(_RATES) < 256:
        _RATES[mime] = rate
    return rate


def pcm_seconds(size: int, rate: int) -> float:
    """Seconds of 16-bit PCM audio: ``size`` bytes at ``rate`` samples a second."""
    return size / 2 / rate if rate > 0 else 0.0
