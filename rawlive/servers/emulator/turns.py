"""One connection's turn-taking: who speaks, when a user turn ends, what interrupts a reply.

:class:`Live` takes each client message in (:meth:`Live.consume`) and plays
the replies. A user turn ends with the end of speech its voice activity
detection hears in the 16 kHz input (:mod:`rawlive.media.vad`, honouring
``silenceDurationMs``, ``prefixPaddingMs`` and the sensitivities), with
``audioStreamEnd``, with ``activityEnd`` when automatic detection is
disabled, with ``clientContent`` and ``turnComplete`` (not the initial
history of ``initialHistoryInClientContent``) or with ``realtimeInput.text``.
New speech during a reply, or while its tool calls wait for responses,
interrupts it (``interrupted``, a ``toolCallCancellation``, then
``turnComplete``) unless ``activityHandling`` is ``NO_INTERRUPTION``. Reply
audio streams in chunks at real time, or ``speed`` times faster.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from rawlive.core import models
from rawlive.core.state import Answer
from rawlive.servers.base import Peer
from rawlive.servers.emulator import avatar, backends, replies, validation
from rawlive.servers.emulator.replies import ReplyPlan
from rawlive.servers.emulator.session import EmulatedSession
from rawlive.servers.emulator.validation import Refusal, audio_rate
from rawlive.wire import codec
from rawlive.wire import types as t

if TYPE_CHECKING:
    from rawlive.servers.emulator import Emulator

__all__ = ["Live"]

log = logging.getLogger("rawlive.servers.emulator")

_MAX_ECHO_BYTES = 60 * 16_000 * 2  # echo at most the last minute of a user turn
_PREROLL_BYTES = 16_000 * 2  # audio kept while nobody speaks: the detector looks back


class Live:
    """One connection's turn-taking state.

    What the session's rules hold (the message index, the turns completed,
    the tool calls open, the handles) is the session's
    :class:`~rawlive.core.state.SessionState`: :meth:`consume` feeds it each
    client message, :meth:`send` each server message.
    """

    def __init__(
        self, emulator: Emulator, peer: Peer, session: EmulatedSession, model: models.Model
    ) -> None:
        from rawlive.media.vad import EnergyVad, VadConfig

        self.emulator = emulator
        self.peer = peer
        self.session = session
        setup = session.setup
        generation = setup.generation_config or t.GenerationConfig()
        modalities = generation.response_modalities or []
        # "An empty list is equivalent to requesting only text" (the proto);
        # native-audio models answer in audio whatever is asked.
        self.text_only = not model.native_audio and (
            not modalities or ("TEXT" in modalities and "AUDIO" not in modalities)
        )
        self.want_input_tx = setup.input_audio_transcription is not None
        self.want_output_tx = setup.output_audio_transcription is not None
        realtime = setup.realtime_input_config or t.RealtimeInputConfig()
        detection = realtime.automatic_activity_detection
        self.auto_vad = not (detection is not None and detection.disabled)
        self.barge_in = realtime.activity_handling != "NO_INTERRUPTION"
        self.vad = EnergyVad(VadConfig.from_setup(detection)) if self.auto_vad else None
        self.user_audio = bytearray()  # the user turn's audio (16 kHz), for the echo
        self.recent = bytearray()  # audio since recent_start_ms, as the detector saw it
        self.recent_start_ms = 0.0
        self.turn_start_ms = 0.0
        self.user_text: list[str] = []
        self.prompt_audio_bytes = 0  # the last user turn's audio, for usageMetadata
        self.in_turn = False  # the user is speaking (VAD or activityStart)
        self.reply: asyncio.Task[None] | None = None
        #: The user turns answered here whose ``turnComplete`` has not gone out.
        self.replies_open = 0
        #: The turn whose reply's first message fires ``turn:N:start`` when sent.
        self.announce_start: int | None = None
        #: What to play once every tool call is answered, and the turn it ends.
        self.after_tool: tuple[ReplyPlan, int] | None = None
        self._resamplers: dict[int, Any] = {}
        #: Another connection resumed this one's session: this one is over.
        self.superseded = False
        self.timers: list[asyncio.TimerHandle] = []  # its goAway, limits and timed faults
        #: Its backend's shape of the messages sent, and an avatar's video (PROTOCOL.md §9, §10.10).
        self.shape = backends.shape_for(peer.capture.path, setup, model)

    # -- sending ----------------------------------------------------------------

    async def send(self, message: t.LiveServerMessage) -> None:
        """Send a server message; the session's state takes it as it goes out."""
        if self.superseded or self.peer.ws.state is not State.OPEN:
            # Closing: nothing more goes out, and waiting to send (websockets
            # waits up to its close timeout) would stop this connection's
            # loop from reading on to the client's close, which ends it.
            return
        shaped = self.shape.apply(message)  # as the connection's backend sends it
        if shaped is None:
            return
        message = shaped
        # Before the frame leaves: the client may answer a toolCall before
        # this task runs again, and its response must find the call issued.
        if self.session.state.server(message, time.monotonic()) is not None:
            self.replies_open = max(0, self.replies_open - 1)
        emulator = self.emulator
        payload = codec.encode_server_message(message)
        if emulator.pretty:
            payload = msgspec.json.format(payload, indent=2) + b"\n"
        await self.peer.send(payload, opcode=self.shape.frames or emulator.frames)
        if self.announce_start is not None and self.reply is asyncio.current_task():
            turn, self.announce_start = self.announce_start, None
            await emulator.turn_started(self, turn)

    async def content(self, **fields: Any) -> None:
        await self.send(t.LiveServerMessage(server_content=t.LiveServerContent(**fields)))

    # -- input --------------------------------------------------------------------

    @property
    def user_turns(self) -> int:
        """The session's user turns answered, or being answered here."""
        return self.session.state.turns_completed + self.replies_open

    async def refuse(self, refusal: Refusal) -> bool:
        """A strict rule broken: close with ``strict`` (``True``), else log it."""
        if self.emulator.strict:
            log.info("closing: %s", refusal.why)
            await self.peer.close(refusal.code, refusal.reason)
            return True
        log.warning("%s (%d risk)", refusal.why, refusal.code)
        return False

    async def consume(self, message: t.LiveClientMessage) -> None:
        """Take a client message in: the session numbers and keeps it, then act on it."""
        live, emulator = self, self.emulator
        session = live.session
        frame = codec.encode_client_message(message)
        answers = session.consume(message, frame, emulator.consumed_limit, time.monotonic())
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
            if not (history and history.initial_history_in_client_content and not live.user_turns):
                await live.user_turn(" ".join(texts))
        if message.tool_response is not None:
            await live.tool_response(answers)
        if session.index % emulator.resumption_interval == 0:
            await emulator.resumption_update(live)

    def _pcm16k(self, blob: t.Blob) -> bytes:
        data = bytes(blob.data or b"")
        rate = audio_rate(blob)
        if rate == 16_000:
            return data
        resampler = self._resamplers.get(rate)
        if resampler is None:
            from rawlive.media.audio import PcmResampler

            resampler = self._resamplers[rate] = PcmResampler(rate, 16_000)
        pcm: bytes = resampler.feed_pcm(data)
        return pcm

    async def audio(self, blob: t.Blob) -> None:
        refusal = validation.strict_audio(self.session.state)
        if refusal is not None and await self.refuse(refusal):
            return
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
        if (replying or self.session.state.tools.open) and self.barge_in:
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
        tools = self.session.state.tools
        if tools.open:
            self.after_tool = None
            ids = [call.call.id for call in tools.open.values() if call.call.id]
            if ids:  # the session's state cancels them as the message goes out
                await self.send(
                    t.LiveServerMessage(
                        tool_call_cancellation=t.LiveServerToolCallCancellation(ids=ids)
                    )
                )
            tools.discard()  # those without an id cannot be cancelled: the interruption ends them
        await self.content(turn_complete=True)
        self.session.generating = False

    async def tool_response(self, answers: list[tuple[Answer, str]]) -> None:
        """Function responses taken (``answers``: what each did to its call).

        Once no call is open, the reply that follows them plays.
        """
        for answer, key in answers:
            refusal = validation.strict_tool_response(answer, key)
            if refusal is not None:
                if await self.refuse(refusal):
                    return
            elif answer in (Answer.CANCELLED, Answer.ALREADY_SETTLED):
                log.info("tool response for a call %s: %s", answer.value, key)
        if not self.session.state.tools.open and self.after_tool is not None:
            (plan, turn), self.after_tool = self.after_tool, None
            self.start_reply(plan, turn, continuing=True)

    async def user_turn(self, text: str | None = None) -> None:
        """A user turn ended: play the next scripted reply, or the default one."""
        self.replies_open += 1
        turn = self.user_turns
        plan = self.emulator.plan_for(self, turn, text, bytes(self.user_audio))
        self.prompt_audio_bytes = len(self.user_audio)
        self.user_audio.clear()
        self.start_reply(plan, turn)

    def start_reply(self, plan: ReplyPlan, turn: int, *, continuing: bool = False) -> None:
        """Play ``plan``, the reply to user turn ``turn`` (``continuing``: after its tool calls)."""
        # The reply is under way from now, not from when its task first runs:
        # a handle issued in between (after this same message) would hold a
        # user turn without its reply.
        self.session.generating = True
        self.reply = asyncio.create_task(self._play(plan, turn, continuing), name="emulator-reply")

    async def _play(self, plan: ReplyPlan, turn: int, continuing: bool) -> None:
        # A client that leaves mid-reply ends the reply: nothing more to say.
        with contextlib.suppress(ConnectionClosed):
            await self._play_plan(plan, turn, continuing)

    async def _play_plan(self, plan: ReplyPlan, turn: int, continuing: bool) -> None:
        session = self.session
        emulator = self.emulator
        if plan.delay_ms and emulator.speed_factor:
            await asyncio.sleep(plan.delay_ms / 1000 / emulator.speed_factor)
        # turn:N:start fires after the reply's first message.
        self.announce_start = None if continuing else turn
        if plan.input_transcription and self.want_input_tx and not continuing:
            await self.content(input_transcription=t.Transcription(text=plan.input_transcription))
        if plan.tool_calls:
            self.after_tool = (plan.after_tool or ReplyPlan(), turn)
            # The session's state issues the calls, blocking or not by their
            # declarations (or the model's default).
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
        await emulator.turn_done(self, turn)

    async def _stream(self, plan: ReplyPlan) -> None:
        if self.shape.video is not None:  # a Vertex AI avatar: the reply is video
            await avatar.stream(self, self.shape.video, plan)
            return
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
        """The turn's ``usageMetadata``; the next turn counts its input afresh."""
        usage = replies.usage(
            plan,
            prompt_audio_bytes=self.prompt_audio_bytes,
            user_text=self.user_text,
            text_only=self.text_only,
        )
        self.user_text.clear()
        self.prompt_audio_bytes = 0
        return usage
