"""A local Live API: validates like the real server, takes turns, keeps and resumes sessions.

The emulator is a :class:`~rawlive.servers.base.LiveServer` that speaks
``BidiGenerateContent`` on 127.0.0.1 with no key and no network. It is not a
model and does not pretend to be one: it answers from a script
(:mod:`rawlive.servers.emulator.script`) or, without one, echoes the caller's audio back. This
module owns what a session is on the server side:

* **Validation** (``PROTOCOL.md`` §2, §5.3): the first message must be a
  ``setup`` with a model the emulator knows (the Live models of
  ``PROTOCOL.md``, with or without ``models/``, Vertex model paths, plus any
  added by an option), else the connection closes with 1008 and the real
  reason shape; malformed messages, unknown fields (in ``setup`` too), a
  message with more than one kind (the envelope is a oneof) and audio at a
  rate outside 1-768 kHz close with 1007 ``Request contains an invalid
  argument.``; ``responseModalities: ["TEXT"]``
  on a native-audio model closes with 1007. With ``strict``, it also enforces
  what users have reported but Google does not document: a tool response for
  an id never issued closes with 1007, and audio streamed while a blocking
  tool call is unanswered closes with 1008 ``The operation was aborted.``;
  without ``strict`` these are logged.
* **Turns**: energy-based voice activity detection on the incoming 16 kHz
  audio (:mod:`rawlive.media.vad`, honouring ``silenceDurationMs``,
  ``prefixPaddingMs`` and the sensitivities), ``audioStreamEnd``, manual
  ``activityStart``/``activityEnd`` when automatic detection is disabled,
  ``clientContent`` with ``turnComplete`` and ``realtimeInput.text``. New
  speech during a reply interrupts it (``interrupted``, then
  ``turnComplete``; pending tool calls are cancelled with
  ``toolCallCancellation``) unless ``activityHandling`` is
  ``NO_INTERRUPTION``.
* **Replies**: 24 kHz audio streamed in chunks at real time (or faster),
  transcriptions only when the setup asked for them, tool calls and the reply
  that follows their responses, then ``generationComplete``,
  ``turnComplete`` and ``usageMetadata`` with per-modality counts (about 25
  tokens per second of audio, a token per 4 characters of text).
* **Conversation state**: every client message a session consumes is
  numbered from 1 across its connections (the index
  ``lastConsumedClientMessageIndex`` reports) and kept compactly: a 64-bit
  digest of each, the most recent ones in full (``consumed_limit``), so that
  memory does not grow with a session's audio.
* **What is kept after a session's connections end**: only what a handle can
  still resume. A session with no handle is forgotten when its last
  connection ends; one with handles is kept for ``session_ttl``, within two
  caps on the idle sessions kept: ``resumable_sessions`` of them and
  ``resumable_bytes`` of state in all (:attr:`EmulatedSession.kept_bytes`),
  the one idle longest forgotten first. A forgotten session's handles are
  refused as the real server refuses an expired one. ``keep_sessions``
  keeps every session for ``session_ttl``, for a test to look at.
* **Resumption**: with ``sessionResumption`` in the setup, handles come after
  each turn and every ``resumption_interval`` messages (resumable only while
  no reply, tool call or user speech is in progress); a handle restores the
  session to the state it named (its messages and turn count), ends any
  connection of that session still open, and voids the handles issued after
  it; an unknown one closes with 1008 ``BidiGenerateContent session not
  found``.
* **Limits and faults**: ``connection_lifetime`` ends each connection after
  a ``goAway`` sent ``goaway_lead`` seconds before; ``session_limit`` ends a
  session; script faults and :meth:`Emulator.drop`, :meth:`Emulator.go_away`,
  :meth:`Emulator.close_with` break things on purpose.
"""

from __future__ import annotations

import array
import asyncio
import collections
import contextlib
import dataclasses
import hashlib
import itertools
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Iterable, Iterator
from typing import Any

import msgspec
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from rawlive.errors import ConfigError, DecodeError, RemoteProtocolError, SetupRejected
from rawlive.servers.base import (
    CLOSE_INVALID_ARGUMENT,
    LiveServer,
    Peer,
    check_client_message,
)
from rawlive.servers.emulator.script import Reply, Script
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "KNOWN_MODELS",
    "EmulatedSession",
    "Emulator",
    "ReplyPlan",
    "emulator_faults",
    "message_digest",
    "reply_plan",
    "serve",
]

log = logging.getLogger("rawlive.servers.emulator")

#: Live models named in PROTOCOL.md; ``True`` for native-audio ones (AUDIO only).
KNOWN_MODELS: dict[str, bool] = {
    "gemini-3.1-flash-live-preview": True,
    "gemini-2.5-flash-native-audio-preview-12-2025": True,
    "gemini-2.5-flash-native-audio-preview-09-2025": True,
    "gemini-live-2.5-flash-native-audio": True,
    "gemini-live-2.5-flash-preview": False,
    "gemini-live-2.5-flash": False,
    "gemini-2.0-flash-live-001": False,
}

#: Paths the real services answer on (the SDK's double slash included).
_PATH = re.compile(
    r"^//?ws/(?:google\.ai\.generativelanguage\.(?:v1alpha|v1beta|v1)\.GenerativeService\."
    r"BidiGenerateContent(?:Constrained)?"
    r"|google\.cloud\.aiplatform\.(?:v1|v1beta1)\.LlmBidiService/BidiGenerateContent)$"
)

ABORTED = (1008, "The operation was aborted.")
TOKENS_PER_AUDIO_SECOND = 25
_MAX_ECHO_BYTES = 60 * 16_000 * 2  # echo at most the last minute of a user turn
_PREROLL_BYTES = 16_000 * 2  # audio kept while nobody speaks: the detector looks back
_MAX_HANDLES = 256  # resumable handles kept per session (the latest)


def model_id(model: str) -> str:
    """The bare model id of a Gemini (``models/x``) or Vertex model path."""
    return model.rsplit("/", 1)[-1]


def _audio_rate(blob: t.Blob) -> int:
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


def _check_audio_rates(message: t.LiveClientMessage) -> None:
    """Raise :class:`DecodeError` if an audio blob of the message has an unusable rate."""
    realtime = message.realtime_input
    if realtime is None:
        return
    if realtime.audio is not None:
        _audio_rate(realtime.audio)
    for blob in realtime.media_chunks or ():
        if (blob.mime_type or "").startswith("audio/"):
            _audio_rate(blob)


def _audio_tokens(pcm_bytes: int, rate: int) -> int:
    return round(pcm_bytes / 2 / rate * TOKENS_PER_AUDIO_SECOND)


def _text_tokens(text: str) -> int:
    return max(1, len(text) // 4) if text else 0


@dataclasses.dataclass
class ReplyPlan:
    """What the emulator does for one user turn, whatever its source.

    ``audio`` is 24 kHz s16le PCM. ``tool_calls`` are sent first; once every
    one has a response, ``after_tool`` is played (with its own fields).
    """

    text: str | None = None
    audio: bytes | None = None
    input_transcription: str | None = None
    output_transcription: str | None = None
    delay_ms: float = 0.0
    tool_calls: list[t.FunctionCall] = dataclasses.field(default_factory=list)
    after_tool: ReplyPlan | None = None
    prompt_tokens: int | None = None
    response_tokens: int | None = None


def message_digest(message: t.LiveClientMessage) -> int:
    """A 64-bit digest of a client message: BLAKE2b of its canonical encoding.

    The canonical encoding is :func:`rawlive.wire.codec.encode_client_message`'s, so
    a message digests the same whatever casing or base64 alphabet it came in.
    """
    return _digest(codec.encode_client_message(message))


def _digest(frame: bytes) -> int:
    return int.from_bytes(hashlib.blake2b(frame, digest_size=8).digest(), "little")


@dataclasses.dataclass
class EmulatedSession:
    """One session's server-side state, shared by its connections.

    The conversation state is the sequence of client messages consumed,
    numbered from 1 across the session's connections. It is kept in a
    compact form, so that a session of any length costs little: ``digests``
    holds every message's 64-bit :func:`message_digest` (8 bytes a message),
    ``consumed`` only the most recent messages in full, up to the emulator's
    ``consumed_limit`` bytes of their encoding (all of them with ``None``).
    """

    id: str
    setup: t.LiveClientSetup
    #: The most recent client messages consumed, in full and in order; the
    #: first is number :attr:`first_kept` (all of them, while under the limit).
    consumed: list[t.LiveClientMessage] = dataclasses.field(default_factory=list)
    #: One digest per consumed message, from the first: the conversation state.
    digests: array.array[int] = dataclasses.field(default_factory=lambda: array.array("Q"))
    connections: int = 0
    turns: int = 0
    generating: bool = False
    started: float = dataclasses.field(default_factory=time.monotonic)
    #: Connections open now, and when the last one closed (``None``: never).
    open_connections: int = 0
    ended: float | None = None
    #: Resumable handles, oldest first: handle -> (index, turns) of its state.
    handles: dict[str, tuple[int, int]] = dataclasses.field(default_factory=dict)
    #: Size of the setup's JSON encoding (part of :attr:`kept_bytes`).
    setup_bytes: int = 0
    _sizes: collections.deque[int] = dataclasses.field(default_factory=collections.deque)
    _kept_bytes: int = 0

    @property
    def index(self) -> int:
        """Index of the last consumed client message (1-based; 0 = none)."""
        return len(self.digests)

    @property
    def kept_bytes(self) -> int:
        """What the session holds, in bytes: its setup's and kept messages' JSON, its digests."""
        return self.setup_bytes + self._kept_bytes + self.digests.itemsize * len(self.digests)

    @property
    def first_kept(self) -> int:
        """Index of ``consumed[0]`` (``index + 1`` when nothing is kept)."""
        return self.index - len(self.consumed) + 1

    def consume(self, message: t.LiveClientMessage, frame: bytes, limit: int | None) -> None:
        """Append a message (``frame``: its canonical encoding) to the conversation state."""
        self.digests.append(_digest(frame))
        self.consumed.append(message)
        self._sizes.append(len(frame))
        self._kept_bytes += len(frame)
        if limit is not None and self._kept_bytes > limit:
            drop = 0
            while self._kept_bytes > limit and self._sizes:
                self._kept_bytes -= self._sizes.popleft()
                drop += 1
            del self.consumed[:drop]

    def restore(self, handle: str) -> list[str]:
        """Go back to the state ``handle`` names: what followed it is forgotten.

        Handles issued after it named states that no longer exist: they go
        too, and are returned.
        """
        index, turns = self.handles[handle]
        names = list(self.handles)
        later = names[names.index(handle) + 1 :]
        for name in later:
            del self.handles[name]
        forget = self.index - index
        if forget > 0:
            del self.digests[index:]
            kept = min(forget, len(self.consumed))
            del self.consumed[len(self.consumed) - kept :]
            for _ in range(kept):
                self._kept_bytes -= self._sizes.pop()
        self.turns = turns
        self.generating = False
        return later


@dataclasses.dataclass
class _Fault:
    """A fault to fire: ``at`` is ``("after_setup",)``, ``("turn", n)``, ``("message", n)``
    or ``("seconds", x)``."""

    at: tuple[Any, ...]
    action: str
    code: int = 1011
    reason: str = "Internal error occurred."
    time_left_s: float = 5.0
    delay_s: float = 30.0


class _Live:
    """One connection's turn-taking state."""

    def __init__(self, emulator: Emulator, peer: Peer, session: EmulatedSession) -> None:
        from rawlive.media.vad import EnergyVad, VadConfig

        self.emulator = emulator
        self.peer = peer
        self.session = session
        setup = session.setup
        generation = setup.generation_config or t.GenerationConfig()
        self.native = emulator.models.get(model_id(setup.model or ""), False)
        modalities = generation.response_modalities or []
        # "An empty list is equivalent to requesting only text" (the proto);
        # native-audio models answer in audio whatever is asked.
        self.text_only = not self.native and (
            not modalities or ("TEXT" in modalities and "AUDIO" not in modalities)
        )
        self.want_input_tx = setup.input_audio_transcription is not None
        self.want_output_tx = setup.output_audio_transcription is not None
        realtime = setup.realtime_input_config or t.RealtimeInputConfig()
        detection = realtime.automatic_activity_detection
        self.auto_vad = not (detection is not None and detection.disabled)
        self.barge_in = realtime.activity_handling != "NO_INTERRUPTION"
        self.vad = EnergyVad(VadConfig.from_setup(detection)) if self.auto_vad else None
        self.non_blocking = {
            declaration.name
            for tool in setup.tools or ()
            for declaration in tool.function_declarations or ()
            if declaration.behavior == "NON_BLOCKING"
        }
        self.user_audio = bytearray()  # the user turn's audio (16 kHz), for the echo
        self.recent = bytearray()  # audio since recent_start_ms, as the detector saw it
        self.recent_start_ms = 0.0
        self.turn_start_ms = 0.0
        self.user_text: list[str] = []
        self.prompt_audio_bytes = 0  # the last user turn's audio, for usageMetadata
        self.in_turn = False  # the user is speaking (VAD or activityStart)
        self.reply: asyncio.Task[None] | None = None
        self.announce_start = False
        self.pending: dict[str, t.FunctionCall] = {}
        self.blocking_pending = False
        self.after_tool: ReplyPlan | None = None
        self._resamplers: dict[int, Any] = {}
        self.messages = 0
        self.turns_here = 0
        #: Another connection resumed this one's session: this one is over.
        self.superseded = False
        self.timers: list[asyncio.TimerHandle] = []  # its goAway, limits and timed faults

    # -- sending ----------------------------------------------------------------

    async def send(self, message: t.LiveServerMessage) -> None:
        if self.peer.ws.state is not State.OPEN:
            # Closing: nothing more goes out, and waiting to send (websockets
            # waits up to its close timeout) would stop this connection's
            # loop from reading on to the client's close, which ends it.
            return
        emulator = self.emulator
        payload = codec.encode_server_message(message)
        if emulator.pretty:
            payload = msgspec.json.format(payload, indent=2) + b"\n"
        await self.peer.send(payload, opcode=emulator.frames)
        if self.announce_start and self.reply is asyncio.current_task():
            self.announce_start = False
            await emulator.turn_started(self)

    async def content(self, **fields: Any) -> None:
        await self.send(t.LiveServerMessage(server_content=t.LiveServerContent(**fields)))

    # -- input --------------------------------------------------------------------

    def _pcm16k(self, blob: t.Blob) -> bytes:
        data = bytes(blob.data or b"")
        rate = _audio_rate(blob)
        if rate == 16_000:
            return data
        resampler = self._resamplers.get(rate)
        if resampler is None:
            from rawlive.media.audio import PcmResampler

            resampler = self._resamplers[rate] = PcmResampler(rate, 16_000)
        pcm: bytes = resampler.feed_pcm(data)
        return pcm

    async def audio(self, blob: t.Blob) -> None:
        if self.blocking_pending:
            if self.emulator.strict:
                log.info("closing: audio streamed while a blocking tool call is unanswered")
                await self.peer.close(*ABORTED)
                return
            log.warning("audio streamed while a blocking tool call is unanswered (1008 risk)")
        pcm = self._pcm16k(blob)
        if self.vad is None:
            if self.in_turn:
                self._keep_audio(pcm)
            return
        self.recent += pcm
        for event in self.vad.feed(pcm):
            if event.kind == "speech_start":
                await self.speech_started(at_ms=event.offset_ms)
            else:
                await self.speech_ended(at_ms=event.offset_ms)
        if not self.in_turn:
            # Keep only a little pre-roll while nobody speaks.
            excess = len(self.recent) - _PREROLL_BYTES
            if excess > 0:
                del self.recent[:excess]
                self.recent_start_ms += excess / 32
        elif len(self.recent) > _MAX_ECHO_BYTES:
            excess = len(self.recent) - _MAX_ECHO_BYTES
            del self.recent[:excess]
            self.recent_start_ms += excess / 32
            self.turn_start_ms = max(self.turn_start_ms, self.recent_start_ms)

    def _keep_audio(self, pcm: bytes) -> None:
        self.user_audio += pcm
        if len(self.user_audio) > _MAX_ECHO_BYTES:
            del self.user_audio[: len(self.user_audio) - _MAX_ECHO_BYTES]

    def _cut(self, start_ms: float, end_ms: float) -> bytes:
        """The detected utterance from the recent audio, by the detector's offsets."""
        first = max(0, round((start_ms - self.recent_start_ms) * 32)) & ~1
        last = max(first, round((end_ms - self.recent_start_ms) * 32)) & ~1
        return bytes(self.recent[first:last])

    async def speech_started(self, at_ms: float | None = None) -> None:
        # The model's turn is open while it streams or while its tool calls
        # wait for responses: new speech interrupts either.
        replying = self.reply is not None and not self.reply.done()
        if (replying or self.pending) and self.barge_in:
            await self.interrupt()
        self.in_turn = True
        self.user_audio.clear()
        if at_ms is not None:
            self.turn_start_ms = at_ms

    async def speech_ended(self, at_ms: float | None = None) -> None:
        if not self.in_turn:
            return
        self.in_turn = False
        if at_ms is not None:
            self.user_audio[:] = self._cut(self.turn_start_ms, at_ms)
        await self.user_turn()

    async def audio_stream_end(self) -> None:
        if self.vad is None:
            log.warning("audioStreamEnd with automatic activity detection disabled")
            return
        for event in self.vad.flush():
            if event.kind == "speech_end":
                await self.speech_ended(at_ms=event.offset_ms)

    async def interrupt(self) -> None:
        reply = self.reply
        if reply is not None:
            reply.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reply
        self.reply = None
        await self.content(interrupted=True)
        if self.pending:
            ids = [call_id for call_id in self.pending if not call_id.startswith("name:")]
            self.pending.clear()
            self.blocking_pending = False
            self.after_tool = None
            if ids:
                await self.send(
                    t.LiveServerMessage(
                        tool_call_cancellation=t.LiveServerToolCallCancellation(ids=ids)
                    )
                )
        await self.content(turn_complete=True)
        self.session.generating = False

    async def tool_response(self, response: t.LiveClientToolResponse) -> None:
        for answer in response.function_responses or ():
            key = answer.id or f"name:{answer.name}"
            if key not in self.pending:
                if self.emulator.strict:
                    log.info("closing: tool response for an id never issued: %s", key)
                    await self.peer.close(*CLOSE_INVALID_ARGUMENT)
                    return
                log.warning("tool response for an id never issued: %s", key)
                continue
            if not answer.will_continue:
                del self.pending[key]
        self.blocking_pending = any(
            call.name not in self.non_blocking for call in self.pending.values()
        )
        if not self.pending and self.after_tool is not None:
            plan, self.after_tool = self.after_tool, None
            self.start_reply(plan, continuing=True)

    async def user_turn(self, text: str | None = None) -> None:
        """A user turn ended: play the next scripted reply, or the default one."""
        self.session.turns += 1
        self.turns_here += 1
        plan = self.emulator.plan_for(self, self.session.turns, text, bytes(self.user_audio))
        self.prompt_audio_bytes = len(self.user_audio)
        self.user_audio.clear()
        self.start_reply(plan)

    def start_reply(self, plan: ReplyPlan, *, continuing: bool = False) -> None:
        self.reply = asyncio.create_task(self._play(plan, continuing), name="emulator-reply")

    async def _play(self, plan: ReplyPlan, continuing: bool) -> None:
        # A client that leaves mid-reply ends the reply: nothing more to say.
        with contextlib.suppress(ConnectionClosed):
            await self._play_plan(plan, continuing)

    async def _play_plan(self, plan: ReplyPlan, continuing: bool) -> None:
        session = self.session
        session.generating = True
        emulator = self.emulator
        if plan.delay_ms and emulator.speed_factor:
            await asyncio.sleep(plan.delay_ms / 1000 / emulator.speed_factor)
        self.announce_start = not continuing  # turn:N:start fires after the first message
        if plan.input_transcription and self.want_input_tx and not continuing:
            await self.content(input_transcription=t.Transcription(text=plan.input_transcription))
        if plan.tool_calls:
            for call in plan.tool_calls:
                self.pending[call.id or f"name:{call.name}"] = call
            self.blocking_pending = any(c.name not in self.non_blocking for c in plan.tool_calls)
            self.after_tool = plan.after_tool or ReplyPlan()
            await self.send(
                t.LiveServerMessage(tool_call=t.LiveServerToolCall(function_calls=plan.tool_calls))
            )
            await emulator.resumption_update(self)
            return  # the rest comes with the tool responses
        await self._stream(plan)
        if plan.output_transcription and self.want_output_tx:
            await self.content(output_transcription=t.Transcription(text=plan.output_transcription))
        await self.content(generation_complete=True)
        await self.send(
            t.LiveServerMessage(
                server_content=t.LiveServerContent(turn_complete=True),
                usage_metadata=self._usage(plan),
            )
        )
        session.generating = False
        await emulator.resumption_update(self)
        await emulator.turn_done(self)

    async def _stream(self, plan: ReplyPlan) -> None:
        if self.text_only or plan.audio is None:
            text = plan.text if plan.text is not None else None
            if text:
                await self.content(model_turn=t.Content(parts=[t.Part(text=text)]))
            return
        chunk = self.emulator.chunk_bytes
        speed = self.emulator.speed_factor
        loop = asyncio.get_running_loop()
        start = loop.time()
        audio = plan.audio
        for offset in range(0, len(audio), chunk):
            piece = audio[offset : offset + chunk]
            await self.content(
                model_turn=t.Content(
                    parts=[t.Part(inline_data=t.Blob(data=piece, mime_type="audio/pcm;rate=24000"))]
                )
            )
            if speed:
                # A drift-free schedule: chunk n is due at start + n * its length / speed.
                due = start + (offset + len(piece)) / 2 / 24_000 / speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)

    def _usage(self, plan: ReplyPlan) -> t.UsageMetadata:
        prompt_audio = _audio_tokens(self.prompt_audio_bytes, 16_000)
        prompt_text = sum(_text_tokens(x) for x in self.user_text)
        response_audio = 0 if self.text_only else _audio_tokens(len(plan.audio or b""), 24_000)
        response_text = _text_tokens(plan.text or "") if self.text_only else 0
        prompt = (
            plan.prompt_tokens if plan.prompt_tokens is not None else prompt_audio + prompt_text
        )
        response = (
            plan.response_tokens
            if plan.response_tokens is not None
            else response_audio + response_text
        )
        prompt_details = [
            t.ModalityTokenCount(modality=m, token_count=n)
            for m, n in (("AUDIO", prompt_audio), ("TEXT", prompt_text))
            if n
        ]
        response_details = [
            t.ModalityTokenCount(modality=m, token_count=n)
            for m, n in (("AUDIO", response_audio), ("TEXT", response_text))
            if n
        ]
        self.user_text.clear()
        self.prompt_audio_bytes = 0
        return t.UsageMetadata(
            prompt_token_count=prompt,
            response_token_count=response,
            total_token_count=prompt + response,
            prompt_tokens_details=prompt_details or None,
            response_tokens_details=response_details or None,
        )


class Emulator(LiveServer):
    """The local Live API server (see the module docstring).

    ``script`` is a :class:`rawlive.servers.emulator.script.Script` (or ``None`` for the
    default echo). ``models`` adds model ids to :data:`KNOWN_MODELS`.
    ``connection_lifetime``, ``goaway_lead`` and ``session_limit`` are in
    seconds (``None``: no limit). ``frames`` (``"text"``/``"binary"``) and
    ``pretty`` choose how server JSON travels; ``speed`` paces reply audio
    (1.0 real time, 0 as fast as possible). ``consumed_limit`` bounds the
    bytes of recent messages each session keeps in full
    (:attr:`EmulatedSession.consumed`; ``None``: all); ``session_ttl`` is how
    long a session and its handles outlive its last connection (2 hours, as
    the real server's handles). A session no handle can resume is forgotten
    with its last connection; of those that can, at most
    ``resumable_sessions`` (100) are kept once idle, holding at most
    ``resumable_bytes`` (32 MiB) in all (``None``: no cap), the one idle
    longest forgotten first (its handles then close with 1008
    ``BidiGenerateContent session not found``); ``keep_sessions`` keeps every
    session for ``session_ttl`` whatever the caps, for a test that looks at
    a session once its connections are over. Other options are
    :class:`~rawlive.servers.base.LiveServer`'s: ``record_dir`` writes each
    connection to a cassette there.
    """

    def __init__(
        self,
        *,
        script: Any = None,
        models: Iterable[str] = (),
        strict: bool = False,
        connection_lifetime: float | None = None,
        goaway_lead: float = 60.0,
        session_limit: float | None = None,
        resumption_interval: int = 20,
        consumed_limit: int | None = 2**20,
        session_ttl: float = 7200.0,
        resumable_sessions: int | None = 100,
        resumable_bytes: int | None = 32 * 2**20,
        keep_sessions: bool = False,
        frames: str | None = None,
        pretty: bool | None = None,
        speed: float | None = None,
        chunk_ms: float | None = None,
        **server_options: Any,
    ) -> None:
        for name, cap in (
            ("resumable_sessions", resumable_sessions),
            ("resumable_bytes", resumable_bytes),
        ):
            if cap is not None and cap < 0:
                raise ConfigError(f"{name} must be 0 or more (None: no cap), not {cap}")
        super().__init__(**server_options)
        self.script = script
        self.models = dict(KNOWN_MODELS)
        self.models.update({model_id(m): False for m in models})
        self.strict = strict
        self.connection_lifetime = connection_lifetime
        self.goaway_lead = goaway_lead
        self.session_limit = session_limit
        self.resumption_interval = max(1, resumption_interval)
        self.consumed_limit = consumed_limit
        self.session_ttl = session_ttl
        self.resumable_sessions = resumable_sessions
        self.resumable_bytes = resumable_bytes
        self.keep_sessions = keep_sessions
        self.frames: Any = frames or _script_value(script, "frames", "text")
        self.pretty = bool(pretty if pretty is not None else _script_value(script, "pretty", False))
        self.speed_factor = float(
            speed if speed is not None else _script_value(script, "speed", 1.0)
        )
        ms = chunk_ms if chunk_ms is not None else _script_value(script, "model_reply_chunk_ms", 40)
        self.chunk_bytes = max(2, round(24_000 * float(ms) / 1000) * 2)
        self.faults: list[_Fault] = list(_script_faults(script))
        self.sessions: dict[str, EmulatedSession] = {}
        self._handles: dict[str, str] = {}  # handle -> session id
        self._lives: dict[int, _Live] = {}
        self._ids = itertools.count(1)
        self._call_ids = itertools.count(1_000_000_001)

    # -- paths ------------------------------------------------------------------

    def accepts_path(self, path: str) -> bool:
        return _PATH.match(path) is not None

    # -- faults for tests --------------------------------------------------------

    def live_peers(self) -> list[tuple[Peer, EmulatedSession]]:
        return [(live.peer, live.session) for live in self._lives.values()]

    def drop(self) -> None:
        """Abort every live connection with no close frame (clients see 1006)."""
        for peer, _ in self.live_peers():
            peer.abort()

    async def go_away(self, time_left: float) -> None:
        """Send ``goAway`` to every live connection, then end each after ``time_left``."""
        for live in list(self._lives.values()):
            await self._go_away(live, time_left)

    async def close_with(self, code: int, reason: str) -> None:
        """Close every live connection with this code and reason."""
        for peer, _ in self.live_peers():
            await peer.close(code, reason)

    def late_pongs(self, delay: float) -> None:
        """Stop reading every live connection for ``delay`` seconds (pings wait too)."""
        for peer, _ in self.live_peers():
            _pause_reading(peer, delay)

    def handle_state(self, handle: str) -> tuple[EmulatedSession, int] | None:
        """The session a resumable handle belongs to and the index of its state."""
        session = self.sessions.get(self._handles.get(handle, ""))
        if session is None or handle not in session.handles:
            return None
        return session, session.handles[handle][0]

    async def _go_away(self, live: _Live, time_left: float) -> None:
        await live.send(
            t.LiveServerMessage(go_away=t.LiveServerGoAway(time_left=t.Duration(seconds=time_left)))
        )
        asyncio.get_running_loop().call_later(
            time_left,
            lambda: asyncio.ensure_future(live.peer.close(1000, "connection lifetime reached")),
        )

    async def _fire(self, live: _Live, fault: _Fault) -> None:
        log.info("fault: %s at %s", fault.action, fault.at)
        if fault.action == "drop":
            live.peer.abort()
        elif fault.action == "close":
            await live.peer.close(fault.code, fault.reason)
        elif fault.action == "go_away":
            await self._go_away(live, fault.time_left_s)
        elif fault.action == "unknown_message":
            await live.peer.send(b'{"someFutureMessage":{"detail":"emulated"}}', opcode=self.frames)
        elif fault.action == "malformed":
            await live.peer.send(b'{"serverContent": {', opcode=self.frames)
        elif fault.action == "late_pongs":
            _pause_reading(live.peer, fault.delay_s)

    async def _fire_due(self, live: _Live, kind: str, count: int | None = None) -> None:
        for fault in list(self.faults):
            if fault.at[0] == kind and (count is None or fault.at[1] == count):
                self.faults.remove(fault)
                await self._fire(live, fault)

    # -- a connection ------------------------------------------------------------

    async def session(self, peer: Peer) -> None:
        setup = await peer.read_setup(strict=True)
        session = await self._admit(peer, setup)
        session.connections += 1
        session.open_connections += 1
        live = _Live(self, peer, session)
        self._lives[id(peer)] = live
        live.timers = self._schedule(live)
        try:
            await live.send(t.LiveServerMessage(setup_complete=t.LiveServerSetupComplete()))
            await self._fire_due(live, "after_setup")
            async for payload in peer:
                try:
                    message = check_client_message(payload)
                    if message.setup is not None:
                        raise RemoteProtocolError("a second setup")
                    _check_audio_rates(message)
                except (DecodeError, RemoteProtocolError) as exc:
                    log.info("closing: invalid client message: %s", exc)
                    await peer.close(*CLOSE_INVALID_ARGUMENT)
                    return
                if live.superseded:
                    return  # frames still buffered belong to a connection that is over
                await self._consume(live, message)
                live.messages += 1
                await self._fire_due(live, "message", session.index)
        finally:
            self._lives.pop(id(peer), None)
            for timer in live.timers:
                timer.cancel()
            if live.reply is not None:
                live.reply.cancel()
            session.open_connections -= 1
            if not session.open_connections:
                session.ended = time.monotonic()
                if not self.keep_sessions:
                    if not session.handles:
                        self._forget(session)  # nothing can resume it
                    self._cap_idle()

    async def _admit(self, peer: Peer, setup: t.LiveClientSetup) -> EmulatedSession:
        model = setup.model or ""
        native = self.models.get(model_id(model))
        if native is None:
            await peer.close(
                1008,
                f"{model} is not found for API version v1beta, or is not supported for "
                "bidiGenerateContent. Call ListModels to see the list of available models "
                "and their supported methods.",
            )
            raise SetupRejected(f"unknown model {model}")
        modalities = (setup.generation_config or t.GenerationConfig()).response_modalities
        if native and modalities and "TEXT" in modalities:
            log.info("closing: TEXT response modality on native-audio model %s", model)
            await peer.close(*CLOSE_INVALID_ARGUMENT)
            raise SetupRejected("TEXT response modality on a native-audio model")
        self._expire()
        resumption = setup.session_resumption
        if resumption is not None and resumption.handle:
            found = self.handle_state(resumption.handle)
            if found is None:
                await peer.close(1008, "BidiGenerateContent session not found")
                raise SetupRejected("unknown resumption handle")
            session = found[0]
            # A connection of this session still open (the client left it
            # without the server noticing: a drop, a stalled socket) is over:
            # what it still has buffered must not reach the restored state.
            for live in list(self._lives.values()):
                if live.session is session:
                    self._supersede(live)
            # Restore the state the handle named; what followed is forgotten.
            for forgotten in session.restore(resumption.handle):
                self._handles.pop(forgotten, None)
            session.setup = setup
        else:
            session = EmulatedSession(id=f"emulated-{next(self._ids)}", setup=setup)
            self.sessions[session.id] = session
        session.setup_bytes = len(codec.encode_client_message(t.LiveClientMessage(setup=setup)))
        return session

    def _supersede(self, live: _Live) -> None:
        live.superseded = True
        self._lives.pop(id(live.peer), None)
        for timer in live.timers:
            timer.cancel()
        if live.reply is not None:
            live.reply.cancel()
        live.peer.abort()

    def _expire(self) -> None:
        """Forget sessions (and their handles) idle for longer than ``session_ttl``."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if (
                not session.open_connections
                and session.ended is not None
                and now - session.ended > self.session_ttl
            ):
                self._forget(session)

    def _forget(self, session: EmulatedSession) -> None:
        """Drop a session and its handles (they now resume as an unknown handle)."""
        self.sessions.pop(session.id, None)
        for handle in session.handles:
            self._handles.pop(handle, None)

    def _cap_idle(self) -> None:
        """Keep the idle sessions within ``resumable_sessions`` and ``resumable_bytes``.

        The one idle longest goes first; a session with a connection open is
        never forgotten.
        """
        idle = [s for s in self.sessions.values() if not s.open_connections]
        idle.sort(key=lambda s: s.ended or 0.0)
        count, total = len(idle), sum(s.kept_bytes for s in idle)
        for session in idle:
            over_count = self.resumable_sessions is not None and count > self.resumable_sessions
            over_bytes = self.resumable_bytes is not None and total > self.resumable_bytes
            if not (over_count or over_bytes):
                break
            log.info("forgetting idle session %s (caps on resumable sessions)", session.id)
            self._forget(session)
            count, total = count - 1, total - session.kept_bytes

    def _schedule(self, live: _Live) -> list[asyncio.TimerHandle]:
        loop = asyncio.get_running_loop()
        timers = []
        if self.connection_lifetime is not None:
            lead = min(self.goaway_lead, self.connection_lifetime)
            timers.append(
                loop.call_later(
                    self.connection_lifetime - lead,
                    lambda: asyncio.ensure_future(_quietly(self._go_away(live, lead))),
                )
            )
        if self.session_limit is not None:
            left = self.session_limit - (time.monotonic() - live.session.started)
            timers.append(
                loop.call_later(
                    max(left, 0.0),
                    lambda: asyncio.ensure_future(
                        live.peer.close(
                            1011,
                            "Request trace id: emulated, [ORIGINAL ERROR] RPC::DEADLINE_EXCEEDED",
                        )
                    ),
                )
            )
        for fault in list(self.faults):
            if fault.at[0] == "seconds":
                self.faults.remove(fault)
                timers.append(
                    loop.call_later(
                        float(fault.at[1]),
                        lambda f=fault: asyncio.ensure_future(_quietly(self._fire(live, f))),  # type: ignore[misc]
                    )
                )
        return timers

    async def _consume(self, live: _Live, message: t.LiveClientMessage) -> None:
        session = live.session
        session.consume(message, codec.encode_client_message(message), self.consumed_limit)
        realtime = message.realtime_input
        if realtime is not None:
            if realtime.audio is not None:
                await live.audio(realtime.audio)
            for blob in realtime.media_chunks or ():
                if (blob.mime_type or "").startswith("audio/"):
                    await live.audio(blob)
            if realtime.activity_start is not None:
                if live.auto_vad:
                    log.warning("activityStart with automatic activity detection on")
                await live.speech_started()
            if realtime.activity_end is not None:
                if live.auto_vad:
                    log.warning("activityEnd with automatic activity detection on")
                await live.speech_ended()
            if realtime.audio_stream_end:
                await live.audio_stream_end()
            if realtime.text is not None:
                live.user_text.append(realtime.text)
                await live.user_turn(realtime.text)
        content = message.client_content
        if content is not None and content.turn_complete:
            texts = [p.text for turn in content.turns or () for p in turn.parts or () if p.text]
            live.user_text.extend(texts)
            history = session.setup.history_config
            if not (history and history.initial_history_in_client_content and session.turns == 0):
                await live.user_turn(" ".join(texts))
        if message.tool_response is not None:
            await live.tool_response(message.tool_response)
        if session.index % self.resumption_interval == 0:
            await self.resumption_update(live)

    # -- replies -----------------------------------------------------------------

    def plan_for(self, live: _Live, turn: int, text: str | None, user_audio: bytes) -> ReplyPlan:
        """The reply to user turn ``turn`` (1-based): scripted, else the default."""
        script = self.script
        if script is not None:
            plan = reply_plan(script, turn, call_ids=self._call_ids)
            if plan is not None:
                return plan
        return self.default_plan(live, text, user_audio)

    def default_plan(self, live: _Live, text: str | None, user_audio: bytes) -> ReplyPlan:
        """Without a script: echo the caller's audio at 24 kHz; say what text arrived."""
        if user_audio:
            from rawlive.media.audio import PcmResampler

            resampler = PcmResampler(16_000, 24_000)
            echo = resampler.feed_pcm(user_audio) + resampler.flush()
            return ReplyPlan(audio=echo)
        said = f"[rawlive emulator] received: {text or ''}"
        if live.text_only:
            return ReplyPlan(text=said)
        from rawlive.media.audio import tone

        # An honest, short beep: the emulator cannot speak the answer.
        return ReplyPlan(audio=tone(300), text=said)

    async def turn_started(self, live: _Live) -> None:
        await self._fire_due(live, "turn_start", live.session.turns)

    async def turn_done(self, live: _Live) -> None:
        await self._fire_due(live, "turn", live.session.turns)

    async def resumption_update(self, live: _Live) -> None:
        session = live.session
        resumption = session.setup.session_resumption
        if resumption is None:
            return
        # A handle restores the consumed messages and the turn count, not the
        # middle of a turn: none while a reply, a tool call or the user's
        # speech (from its detected start to its end) is in progress.
        resumable = not session.generating and not live.pending and not live.in_turn
        update = t.LiveServerSessionResumptionUpdate(resumable=resumable, new_handle="")
        if resumable:
            handle = secrets.token_urlsafe(12)
            session.handles[handle] = (session.index, session.turns)
            self._handles[handle] = session.id
            if len(session.handles) > _MAX_HANDLES:
                oldest = next(iter(session.handles))
                del session.handles[oldest]
                self._handles.pop(oldest, None)
            update.new_handle = handle
            if resumption.transparent:
                update.last_consumed_client_message_index = session.index
        await live.send(t.LiveServerMessage(session_resumption_update=update))


async def _quietly(action: Awaitable[None]) -> None:
    """Run a timer's action on a connection, which may have ended meanwhile."""
    with contextlib.suppress(ConnectionClosed):
        await action


def _pause_reading(peer: Peer, delay: float) -> None:
    """Stop reading a connection for a while: pings (and everything else) wait."""
    transport = peer.ws.transport
    transport.pause_reading()
    asyncio.get_running_loop().call_later(delay, transport.resume_reading)


def _script_value(script: Any, name: str, default: Any) -> Any:
    value = getattr(script, name, None) if script is not None else None
    return default if value is None else value


def _script_faults(script: Script | None) -> Iterable[_Fault]:
    return () if script is None else emulator_faults(script)


@contextlib.asynccontextmanager
async def serve(**options: Any) -> AsyncIterator[Emulator]:
    """Run an emulator on an ephemeral 127.0.0.1 port for the duration of the block.

    ``async with rawlive.servers.emulator.serve() as emulator:`` then connect to
    ``emulator.url``. Options are :class:`Emulator`'s.
    """
    emulator = Emulator(**options)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()


# -- reading a script ----------------------------------------------------------------------------


def reply_plan(script: Script, turn: int, *, call_ids: Iterator[int]) -> ReplyPlan | None:
    """The emulator's plan for user turn ``turn`` (from 1); ``None``: the default reply.

    Audio is decoded to 24 kHz s16le (files) or synthesised (``tone_ms``);
    calls without an id get ``function-call-<next(call_ids)>``; the turn's
    ``usage`` goes on the plan that ends the turn (``after_tool`` when there
    are tool calls).
    """
    spec = script.turn(turn)
    if spec is None:
        return None
    plan = _plan(spec)
    plan.input_transcription = spec.input_transcription
    plan.tool_calls = [
        t.FunctionCall(
            id=call.id if call.id is not None else f"function-call-{next(call_ids)}",
            name=call.name,
            args=dict(call.args),
        )
        for call in spec.tool_calls
    ]
    last = plan
    if spec.tool_calls:
        last = plan.after_tool = _plan(spec.after_tool or Reply())
    if spec.usage is not None:
        last.prompt_tokens = spec.usage.prompt_tokens
        last.response_tokens = spec.usage.response_tokens
    return plan


def _plan(reply: Reply) -> ReplyPlan:
    from rawlive.media.audio import OUTPUT_RATE, iter_pcm, tone

    audio: bytes | None = None
    if reply.audio is not None:
        audio = b"".join(iter_pcm(reply.audio, rate=OUTPUT_RATE))
    elif reply.tone_ms is not None:
        audio = tone(reply.tone_ms)
    return ReplyPlan(
        text=reply.text,
        audio=audio,
        output_transcription=reply.output_transcription,
        delay_ms=float(reply.delay_ms),
    )


def emulator_faults(script: Script) -> list[_Fault]:
    """The script's faults as the emulator fires them: ``at`` parsed, defaults filled in."""
    return [
        _Fault(
            at=fault.point,
            action=fault.action,
            code=fault.close_code,
            reason=fault.close_reason,
            time_left_s=fault.go_away_time_left,
            delay_s=fault.pong_delay,
        )
        for fault in script.faults
    ]
