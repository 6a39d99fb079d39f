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
audio streams in chunks at real time, or ``speed`` times faster. The video
frames a user turn holds, counted in its ``usageMetadata``, are those its
``turnCoverage`` (or the model's default) takes in
(:func:`~rawlive.core.models.turn_includes`).

On the 3.8 family (``PROTOCOL.md`` §10.4-§10.7, §10.15.2-§10.15.7) the row
says more: calls are ``NON_BLOCKING`` unless declared otherwise and stay open
through new speech (only ``BLOCKING`` ones are cancelled, on any new user
input); the reply a function response brings follows its ``scheduling``
(``SILENT``, ``WHEN_IDLE``, ``INTERRUPT``, held while the user speaks on a
``polite_interrupt`` row); ``clientContent`` with ``turnComplete`` interrupts
a reply, and a turn without role ``user``/``model`` closes 1007; extended
thinking speaks a filler turn before waiting for its calls and puts
``interactionStatus`` on every ``turnComplete``.

A script's turn faults (:mod:`rawlive.servers.emulator.faults`) play a
turn wrong: the reply's :class:`~rawlive.servers.emulator.faults.Misplay`
stalls it, empties it, cuts it short, leaves it unanswered or drops its
input transcription; ``early_end`` shortens the detector's silence for one
user turn.
"""

from __future__ import annotations

import asyncio
import bisect
import collections
import contextlib
import dataclasses
import logging
import time
from typing import TYPE_CHECKING, Any

import msgspec
from websockets.exceptions import ConnectionClosed
from websockets.protocol import State

from rawlive.core import models
from rawlive.core.state import Answer, Call, call_key
from rawlive.media.frames import frame_problem
from rawlive.media.image import inspect as inspect_image
from rawlive.servers.base import CLOSE_INVALID_ARGUMENT, Peer
from rawlive.servers.emulator import avatar, backends, faults, replies, transcribe, validation
from rawlive.servers.emulator.faults import Misplay
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
#: What extended thinking says while its calls run, unless the script gives a filler (§10.7).
FILLER_TEXT = "Checking that now."
FILLER_MS = 600


@dataclasses.dataclass
class _Waiting:
    """A reply that plays once every one of its tool calls has a response."""

    plan: ReplyPlan
    turn: int
    keys: set[str]
    #: Any of its calls blocks: ``scheduling`` is ignored (§10.5).
    blocking: bool


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
        self.model = model
        #: Calls stay open through new speech unless they block (3.8's async
        #: default, PROTOCOL.md §10.5); elsewhere a barge-in cancels them all (§3.4).
        self.async_calls = model.default_behavior == "NON_BLOCKING"
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
        #: What a user turn takes in (PROTOCOL.md §10.2, §10.15.2: 3.8 defaults to
        #: all video, in activity or not), and the video frames it holds so far.
        self.coverage = models.turn_coverage(setup, model)
        self.turn_video = 0
        self.turn_last_frame: tuple[int, int] | None = None  # its last frame's width, height
        self.prompt_video_frames = 0  # the last user turn's frames, for usageMetadata
        self.in_turn = False  # the user is speaking (VAD or activityStart)
        self.reply: asyncio.Task[None] | None = None
        #: The user turns answered here whose ``turnComplete`` has not gone out.
        self.replies_open = 0
        #: The turn whose reply's first message fires ``turn:N:start`` when sent.
        self.announce_start: int | None = None
        #: What to play once tool calls are answered, and the turn each ends.
        self.waiting: list[_Waiting] = []
        #: Replies to function responses held until the model and the user are
        #: quiet (``WHEN_IDLE``), and those held until the user stops speaking
        #: (``INTERRUPT`` on a polite row, §10.5): (plan, turn).
        self.held: list[tuple[ReplyPlan, int]] = []
        self.held_first: list[tuple[ReplyPlan, int]] = []
        self._resamplers: dict[int, Any] = {}
        #: The reply task with a turn fault's ``stall`` to come or under way, until it ends.
        self.stalled: asyncio.Task[None] | None = None
        #: Another connection resumed this one's session: this one is over.
        self.superseded = False
        self.timers: list[asyncio.TimerHandle] = []  # its goAway, limits and timed faults
        #: Transcribe Live's or the translation model's ways (``None``: a conversation).
        self.listener = transcribe.listener_for(self, model)
        #: Its backend's shape of the messages sent, and an avatar's video (PROTOCOL.md §9, §10.10).
        self.shape = backends.shape_for(peer.capture.path, setup, model)
        #: For the stats' reply latency: the detector's audio clock (ms of 16 kHz
        #: audio fed) and when recent audio arrived, as (clock after it, time).
        self.audio_ms = 0.0
        self.arrivals: collections.deque[tuple[float, float]] = collections.deque(maxlen=1024)
        #: When the user's speech ended (``None``: not known yet), and the user
        #: turns whose first reply audio is still to come -> that time.
        self.speech_end_at: float | None = None
        self.latency_from: dict[int, float] = {}

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
        # A user turn's reply is over when its interaction ends: a plain
        # turnComplete, or one at IDLE on extended thinking (rule 8).
        finished = self.session.state.server(message, time.monotonic())
        if finished is not None and finished.ends_interaction:
            self.replies_open = max(0, self.replies_open - 1)
        emulator = self.emulator
        payload = codec.encode_server_message(message)
        if emulator.pretty:
            payload = msgspec.json.format(payload, indent=2) + b"\n"
        await self.peer.send(payload, opcode=self.shape.frames or emulator.frames)
        emulator.counts.messages_out += 1
        if self.announce_start is not None and self.reply is asyncio.current_task():
            turn, self.announce_start = self.announce_start, None
            await emulator.turn_started(self, turn)

    async def content(self, **fields: Any) -> None:
        await self.send(t.LiveServerMessage(server_content=t.LiveServerContent(**fields)))

    # -- input --------------------------------------------------------------------

    @property
    def user_turns(self) -> int:
        """The session's user turns answered, or being answered here.

        Counted by interactions (rule 8): a filler turn of extended thinking
        ends with ``turnComplete`` but not the user's turn.
        """
        session = self.session
        return session.state.interactions_completed + session.unanswered + self.replies_open

    async def refuse(self, refusal: Refusal) -> bool:
        """A strict rule broken: close with ``strict`` (``True``), else log it."""
        if self.emulator.strict:
            log.info("closing: %s", refusal.why)
            await self.peer.close(refusal.code, refusal.reason)
            return True
        log.warning("%s (%d risk)", refusal.why, refusal.code)
        return False

    @property
    def replying(self) -> bool:
        """A reply is being played (streamed, or waiting out its delay)."""
        return self.reply is not None and not self.reply.done()

    async def misplaced(self, why: str) -> bool:
        """A ``clientContent`` rule 7 refuses: whether the connection closed on it.

        A turn without role ``user`` or ``model`` on the 3.8 family closes
        with 1007 (PROTOCOL.md §10.4, §10.15.5; the code is §10.14's, the
        reason the generic invalid argument). A ``clientContent`` after the
        initial history on 3.1 is a third-party report (§2.2): closed only
        with ``strict``, as the other reported rules.
        """
        refusal = Refusal(*CLOSE_INVALID_ARGUMENT, why)
        if self.model.client_content is models.ClientContent.HISTORY_ONLY:
            return await self.refuse(refusal)
        log.info("closing: %s", why)
        await self.peer.close(refusal.code, refusal.reason)
        return True

    async def consume(self, message: t.LiveClientMessage) -> None:
        """Take a client message in: the session numbers and keeps it, then act on it."""
        live, emulator = self, self.emulator
        session = live.session
        frame = codec.encode_client_message(message)
        answers = session.consume(message, frame, emulator.consumed_limit, time.monotonic())
        if live.listener is not None and await live.listener.refuse_input(message):
            return
        if live.shape.video is not None:  # a Vertex AI avatar takes audio chunks only
            refusal = avatar.judge_input(message)
            if refusal is not None:
                log.info("closing: %s", refusal.why)
                await live.peer.close(refusal.code, refusal.reason)
                return
        state = session.state
        if state.misplaced is not None and await live.misplaced(state.misplaced):
            return
        if state.doomed:
            # Rule 9 (PROTOCOL.md §10.5, §10.15.6): new user input cancels the
            # blocking calls still unanswered, before the input is acted on.
            await live.interrupt(state.doomed)
        realtime = message.realtime_input
        if realtime is not None:
            if realtime.audio is not None:
                await live.audio(realtime.audio)
            if realtime.video is not None and await live.video(realtime.video):
                return
            for blob in realtime.media_chunks or ():
                if (blob.mime_type or "").startswith("audio/"):
                    await live.audio(blob)
                elif await live.video(blob):
                    return
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
                if live.model.content_roles is not None and live.replying and not live.stalling:
                    # §10.4: turnComplete always interrupts what the model says.
                    await live.interrupt()
                await live.user_turn(" ".join(texts))
        if message.tool_response is not None:
            await live.tool_response(answers, message.tool_response.function_responses or [])
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
        self.emulator.counts.audio_in_s += len(pcm) / 32_000
        if self.listener is not None:
            await self.listener.heard(pcm)
        if self.vad is None:
            if self.in_turn:
                self._keep_audio(pcm)
            return
        self.recent += pcm
        self.audio_ms += len(pcm) / 32
        self.arrivals.append((self.audio_ms, time.monotonic()))
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

    async def video(self, blob: t.Blob) -> bool:
        """A video frame (or image) arrived: whether the connection closed on it.

        A blob that is not a whole JPEG or PNG, or whose bytes are another
        type than the ``mimeType`` it claims, closes with 1007: the server
        rejects what it cannot decode (PROTOCOL.md §6: video is JPEG or PNG
        images; the reason is §5's generic invalid argument, INFERRED: no
        wording for a bad blob is captured). Otherwise the next user turn
        holds it if its coverage says so (the core rule,
        :func:`~rawlive.core.models.turn_includes`).
        """
        data = bytes(blob.data or b"")
        self.emulator.counts.video_frames_in += 1
        info = inspect_image(data)
        problem = frame_problem(data, blob.mime_type, info)
        if problem is not None:
            log.info("closing: %s", problem.why)
            await self.peer.close(*CLOSE_INVALID_ARGUMENT)
            return True
        if models.turn_includes(self.coverage, "video", in_activity=self.in_turn):
            self.turn_video += 1
            self.turn_last_frame = (info.width or 0, info.height or 0)
        return False

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
        if self.listener is not None:
            await self.listener.speech_started(at_ms)
        # The model's turn is open while it streams or while its tool calls
        # wait for responses: new speech interrupts either. On the 3.8 family
        # a NON_BLOCKING call does not hold the turn: the user may talk on
        # while it runs (PROTOCOL.md §10.5).
        tools = self.session.state.tools
        holding = tools.blocking if self.async_calls else tools.open
        # A stalled connection is hung: speech interrupts nothing (issue 16).
        if (self.replying or holding) and self.barge_in and not self.stalling:
            await self.interrupt()
        self.in_turn = True
        self.user_audio.clear()
        if at_ms is not None:
            self.turn_start_ms = at_ms
        if self.vad is not None:
            self._early_end()

    def _early_end(self) -> None:
        """Draw the ``early_end`` faults of the turn now starting: a shorter pause ends it."""
        early = self.emulator.turn_faults.draw(self.next_turn, on_input=True)
        if not early or self.vad is None:
            return
        silence = min(fault.silence_ms for fault in early)
        configured = self.vad.config.silence_duration_ms
        if silence >= configured:
            log.warning(
                "early_end: early_silence_ms %d is not below silenceDurationMs %d; no effect",
                silence,
                configured,
            )
            return
        self.vad.end_after(silence)

    @property
    def next_turn(self) -> int:
        """The number the user turn now under way will have (Transcribe Live: its utterance)."""
        if isinstance(self.listener, transcribe.Transcriber):
            return self.listener.utterances + 1
        return self.user_turns + 1

    def _arrival(self, at_ms: float) -> float:
        """When the audio holding the detector's offset ``at_ms`` arrived (now, if unknown)."""
        arrivals = self.arrivals
        index = bisect.bisect_left(arrivals, (at_ms, -1.0))
        return arrivals[index][1] if index < len(arrivals) else time.monotonic()

    async def speech_ended(self, at_ms: float | None = None) -> None:
        if not self.in_turn:
            return
        self.in_turn = False
        self.speech_end_at = time.monotonic() if at_ms is None else self._arrival(at_ms)
        if self.vad is not None:
            self.vad.end_after(None)  # an early_end lasts one turn
        if at_ms is not None:
            self.user_audio[:] = self._cut(self.turn_start_ms, at_ms)
        if self.listener is not None and await self.listener.speech_ended(at_ms):
            return
        await self.user_turn()

    async def audio_stream_end(self) -> None:
        if self.vad is None:
            log.warning("audioStreamEnd with automatic activity detection disabled")
            return
        for event in self.vad.flush():
            if event.kind == "speech_end":
                await self.speech_ended(at_ms=event.offset_ms)

    async def interrupt(
        self, doomed: list[Call] | None = None, *, keep_calls: bool = False
    ) -> None:
        """Cut the reply short: ``interrupted``, the calls cancelled, ``turnComplete``.

        Which calls: ``doomed`` (rule 9's, PROTOCOL.md §10.5); none with
        ``keep_calls`` (a function response with ``scheduling: INTERRUPT``
        takes the floor, its reply follows); else every open one (a barge-in,
        §3.4), or on the 3.8 family only the blocking ones.
        """
        reply = self.reply
        if reply is not None:
            reply.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await reply
        self.reply = None
        await self.content(interrupted=True)
        tools = self.session.state.tools
        if keep_calls:
            calls: list[Call] = []
        elif doomed is not None:
            calls = doomed
        else:
            calls = tools.blocking if self.async_calls else list(tools.open.values())
        if calls:
            keys = {call.key for call in calls}
            self.waiting = [w for w in self.waiting if not w.keys & keys]
            ids = [call.call.id for call in calls if call.call.id]
            if ids:  # the session's state cancels them as the message goes out
                await self.send(
                    t.LiveServerMessage(
                        tool_call_cancellation=t.LiveServerToolCallCancellation(ids=ids)
                    )
                )
            if doomed is None and not self.async_calls:
                # Those without an id cannot be cancelled: the interruption ends them.
                tools.discard()
            else:
                for call in calls:
                    tools.cancel(call.key)
        await self.content(turn_complete=True, interaction_status=self._status(more=keep_calls))
        self.session.generating = False

    def _status(self, *, more: bool = False) -> str | None:
        """The ``interactionStatus`` of a ``turnComplete`` sent now (PROTOCOL.md §10.6, §10.15.3).

        Only on a row that sends it (extended thinking): ``IN_PROGRESS``
        while a call is unanswered or a reply to one is still to come
        (``more``), else ``IDLE``.
        """
        if not self.model.interaction_status:
            return None
        pending = more or self.session.state.tools.open or self.held or self.held_first
        return "IN_PROGRESS" if pending else "IDLE"

    async def tool_response(
        self, answers: list[tuple[Answer, str]], responses: list[t.FunctionResponse]
    ) -> None:
        """Function responses taken (``answers``: what each did to its call).

        Once every call of a reply is answered, the reply that follows them
        plays, as the response's ``scheduling`` says (:meth:`_follow_up`).
        A late response to a call cancelled (a barge-in, rule 9) is taken
        silently.
        """
        for answer, key in answers:
            refusal = validation.strict_tool_response(answer, key)
            if refusal is not None:
                if await self.refuse(refusal):
                    return
            elif answer in (Answer.CANCELLED, Answer.ALREADY_SETTLED):
                log.info("tool response for a call %s: %s", answer.value, key)
        still_open = self.session.state.tools.open
        ready = [w for w in self.waiting if not w.keys & still_open.keys()]
        if not ready:
            return
        self.waiting = [w for w in self.waiting if w.keys & still_open.keys()]
        scheduling = {call_key(r.id, r.name): r.scheduling for r in responses}
        for waiting in ready:
            asked = next((scheduling[k] for k in waiting.keys if scheduling.get(k)), None)
            await self._follow_up(waiting, asked)

    async def _follow_up(self, waiting: _Waiting, scheduling: str | None) -> None:
        """Play the reply its calls' responses bring, as ``scheduling`` says (PROTOCOL.md §10.5).

        After a blocking call it plays at once (``scheduling`` is only for
        ``NON_BLOCKING`` calls). ``SILENT``: a turn with nothing said.
        ``WHEN_IDLE`` (the default): once no reply plays and the user is not
        speaking. ``INTERRUPT``: at once, interrupting a reply in progress;
        while the user speaks, on a ``polite_interrupt`` row (3.8), once
        they stop, before the reply to what they said.
        """
        plan, turn = waiting.plan, waiting.turn
        if waiting.blocking:
            self.start_reply(plan, turn, continuing=True)
            return
        if scheduling == "SILENT":
            plan = replies.silent(plan)
        if scheduling == "INTERRUPT":
            if self.in_turn and self.model.polite_interrupt:
                self.held_first.append((plan, turn))
                return
            if self.replying:
                await self.interrupt(keep_calls=True)
            self.start_reply(plan, turn, continuing=True)
            return
        if self.replying or self.in_turn:
            self.held.append((plan, turn))
            return
        self.start_reply(plan, turn, continuing=True)

    async def user_turn(self, text: str | None = None) -> None:
        """A user turn ended: play the next scripted reply, or the default one."""
        self.replies_open += 1
        turn = self.user_turns
        # The stats' reply latency runs from the end of the user's speech (or now).
        ended, self.speech_end_at = self.speech_end_at or time.monotonic(), None
        self.latency_from = {turn: ended}  # an older turn without reply audio has none
        plan = self.emulator.plan_for(self, turn, text, bytes(self.user_audio))
        # A script's reply may say what the turn saw: {frames}, {last_width}x{last_height}.
        replies.fill_frames(plan, self.turn_video, self.turn_last_frame)
        self.turn_last_frame = None
        if self.listener is not None:
            plan = self.listener.reply(plan, turn, bytes(self.user_audio))
        # The script's turn faults draw for each attempt at a turn.
        plan.misplay = misplay = self.emulator.turn_faults.misplay(turn)
        if misplay is not None and plan.tool_calls and plan.after_tool is not None:
            plan.after_tool.misplay = misplay.speaking()
        self.prompt_audio_bytes = len(self.user_audio)
        self.prompt_video_frames, self.turn_video = self.turn_video, 0
        self.user_audio.clear()
        self.start_reply(plan, turn)

    def start_reply(self, plan: ReplyPlan, turn: int, *, continuing: bool = False) -> None:
        """Play ``plan``, the reply to user turn ``turn`` (``continuing``: after its tool calls).

        Replies to function responses held for the user to finish
        (``INTERRUPT`` on a polite row) play first; those held for quiet
        (``WHEN_IDLE``) after it.
        """
        # The reply is under way from now, not from when its task first runs:
        # a handle issued in between (after this same message) would hold a
        # user turn without its reply.
        self.session.generating = True
        plays = [(held, number, True) for held, number in self.held_first]
        self.held_first.clear()
        plays.append((plan, turn, continuing))
        # Replies that queue (translations), and any reply while one stalls: a
        # stalled connection answers nothing more until the stall is over.
        queue = self.listener is not None and self.listener.queues_replies
        queue = queue or self.stalling
        after = self.reply if queue else None
        self.reply = asyncio.create_task(self._play(plays, after), name="emulator-reply")
        if plan.misplay is not None and plan.misplay.stall is not None:
            self.stalled = self.reply

    @property
    def stalling(self) -> bool:
        """A reply with a stall is under way and the stall is not over: the connection is hung.

        From the turn's end (the stall is decided then) to the stall's end:
        speech interrupts nothing, the replies to later turns wait.
        """
        return self.stalled is not None and not self.stalled.done()

    async def _play(
        self, plays: list[tuple[ReplyPlan, int, bool]], after: asyncio.Task[None] | None = None
    ) -> None:
        # A client that leaves mid-reply ends the reply: nothing more to say.
        with contextlib.suppress(ConnectionClosed):
            if after is not None:  # replies that queue play one after another
                try:
                    await asyncio.wait([after])
                except asyncio.CancelledError:
                    after.cancel()  # the connection is over: the whole queue goes
                    raise
            for plan, turn, continuing in plays:
                await self._play_plan(plan, turn, continuing)
            while self.held and not self.in_turn:
                plan, turn = self.held.pop(0)
                self.session.generating = True
                await self._play_plan(plan, turn, True)

    async def _play_plan(self, plan: ReplyPlan, turn: int, continuing: bool) -> None:
        session = self.session
        emulator = self.emulator
        misplay = plan.misplay or Misplay()
        if plan.delay_ms and emulator.speed_factor:
            await asyncio.sleep(plan.delay_ms / 1000 / emulator.speed_factor)
        if misplay.stall_before is not None:
            await faults.stall(self, misplay.stall_before)  # nothing at all for the turn, yet
        # turn:N:start fires after the reply's first message.
        self.announce_start = None if continuing else turn
        if (
            plan.input_transcription
            and self.want_input_tx
            and not continuing
            and not misplay.drop_final
        ):
            await self.content(input_transcription=t.Transcription(text=plan.input_transcription))
        if misplay.no_answer:
            # Speech that gets no answer: no content, no turnComplete; the
            # session goes on to the next turn (which takes the next number).
            log.info("fault: no answer to turn %d", turn)
            self.announce_start = None
            self.replies_open = max(0, self.replies_open - 1)
            session.unanswered += 1
            session.generating = False
            return
        if plan.tool_calls:
            await self._call_tools(plan, turn)
            return  # the rest comes with the tool responses
        if misplay.empty:
            log.info("fault: an empty turn %d", turn)
        else:
            await self._stream(plan, misplay, turn)
        cut = misplay.cut is not None and not misplay.empty  # empty wins: it is complete
        if plan.output_transcription and self.want_output_tx and not (cut or misplay.empty):
            await self.content(output_transcription=t.Transcription(text=plan.output_transcription))
        if not cut:  # a reply cut short ends with turnComplete alone
            await self.content(generation_complete=True)
        await self.send(
            t.LiveServerMessage(
                server_content=t.LiveServerContent(
                    turn_complete=True, interaction_status=self._status()
                ),
                usage_metadata=self._usage(plan),
            )
        )
        session.generating = False
        await emulator.resumption_update(self)
        await emulator.turn_done(self, turn)

    async def _call_tools(self, plan: ReplyPlan, turn: int) -> None:
        """Send the plan's tool calls; its ``after_tool`` waits for their responses.

        The session's state issues the calls, blocking or not by their
        declarations (or the model's default). On a row with fillers
        (extended thinking, PROTOCOL.md §10.6-§10.7) non-blocking calls come
        inside a short spoken turn: the filler, the ``toolCall``,
        ``generationComplete``, then ``turnComplete`` with
        ``interactionStatus: IN_PROGRESS``. Elsewhere the model waits for
        the results (plain 3.8 too, §10.15.4).
        """
        state = self.session.state
        blocking = any(state.blocking(call.name) for call in plan.tool_calls)
        filler = None
        if self.model.fillers and not blocking:
            filler = plan.filler or replies.filler_plan(FILLER_TEXT, FILLER_MS)
            if filler.delay_ms and self.emulator.speed_factor:
                await asyncio.sleep(filler.delay_ms / 1000 / self.emulator.speed_factor)
            await self._stream(filler, turn=turn)
            if filler.output_transcription and self.want_output_tx:
                await self.content(
                    output_transcription=t.Transcription(text=filler.output_transcription)
                )
        keys = {call_key(call.id, call.name) for call in plan.tool_calls}
        # Before the toolCall leaves: the client may answer before this task runs again.
        self.waiting.append(
            _Waiting(plan.after_tool or ReplyPlan(), turn, {k for k in keys if k}, blocking)
        )
        await self.send(
            t.LiveServerMessage(tool_call=t.LiveServerToolCall(function_calls=plan.tool_calls))
        )
        self.emulator.counts.tool_calls += len(plan.tool_calls)
        if filler is not None:
            await self.content(generation_complete=True)
            await self.send(
                t.LiveServerMessage(
                    server_content=t.LiveServerContent(
                        turn_complete=True, interaction_status=self._status()
                    ),
                    usage_metadata=self._usage(filler),
                )
            )
        await self.emulator.resumption_update(self)

    async def _stream(
        self, plan: ReplyPlan, misplay: Misplay | None = None, turn: int | None = None
    ) -> None:
        """Send the reply's content: its audio in paced chunks, or its text.

        ``misplay``: a ``cut_reply`` sends only the start of it; a ``stall``
        with ``during_ms`` stops that far in (audio) or after the text.
        ``turn``: the user turn it answers (its first audio times the stats'
        reply latency).
        """
        misplay = misplay or Misplay()
        if self.shape.video is not None:  # a Vertex AI avatar: the reply is video
            await avatar.stream(self, self.shape.video, plan)
            return
        during = misplay.stall_during
        if self.text_only or plan.audio is None:
            text = plan.text if plan.text is not None else None
            if text and misplay.cut is not None:
                text = misplay.cut.cut_text(text)
            if text:
                await self.content(model_turn=t.Content(parts=[t.Part(text=text)]))
            if during is not None:
                await faults.stall(self, during)
            return
        chunk = self.emulator.chunk_bytes
        speed = self.emulator.speed_factor
        loop = asyncio.get_running_loop()
        start = loop.time()
        audio = plan.audio
        if misplay.cut is not None:
            audio = audio[: misplay.cut.cut_bytes(len(audio))]
        stall_at = None if during is None else (during.during_ms or 0) * 48
        for offset in range(0, len(audio), chunk):
            if stall_at is not None and offset >= stall_at:
                assert during is not None
                stall_at = None
                await faults.stall(self, during)
                start = loop.time() - (offset / 2 / 24_000 / speed if speed else 0.0)
            piece = audio[offset : offset + chunk]
            await self.content(
                model_turn=t.Content(
                    parts=[t.Part(inline_data=t.Blob(data=piece, mime_type="audio/pcm;rate=24000"))]
                )
            )
            counts = self.emulator.counts
            counts.audio_out_s += len(piece) / 48_000
            ended = self.latency_from.pop(turn, None) if turn is not None else None
            if ended is not None:
                counts.latency((time.monotonic() - ended) * 1000)
            if speed:
                # A drift-free schedule: chunk n is due at start + n * its length / speed.
                due = start + (offset + len(piece)) / 2 / 24_000 / speed
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        if stall_at is not None and during is not None:  # during_ms past the reply's end
            await faults.stall(self, during)

    def _usage(self, plan: ReplyPlan) -> t.UsageMetadata:
        """The turn's ``usageMetadata``; the next turn counts its input afresh."""
        usage = replies.usage(
            plan,
            prompt_audio_bytes=self.prompt_audio_bytes,
            user_text=self.user_text,
            text_only=self.text_only,
            prompt_video_frames=self.prompt_video_frames,
        )
        self.user_text.clear()
        self.prompt_audio_bytes = 0
        self.prompt_video_frames = 0
        return usage
