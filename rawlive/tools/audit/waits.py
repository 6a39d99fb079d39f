"""The rules of a server that misbehaves, from the wire timestamps: :class:`Waits`.

A stalled session sends nothing, so these rules cannot wait for a frame that
breaks them: the :class:`~rawlive.tools.audit.auditor.Auditor` gives each
connection a :class:`Waits`, which it calls before each step (:meth:`Waits.check`:
has the wait going on lasted too long by now?), after it (:meth:`Waits.sync`:
did the step end the wait, and how?), at the connection's end
(:meth:`Waits.close`), and on a timer when it audits live
(:meth:`~rawlive.tools.audit.auditor.Auditor.check`). When a reply is due or
under way is the core's rule 11 (:class:`~rawlive.core.state.SessionState`);
how long each may last is :mod:`rawlive.core.watchdog`'s :class:`StallPolicy`.
Nothing here re-derives either.

* ``stalled-turn``: the core's watchdog says the wait is a stall
  (:func:`~rawlive.core.watchdog.stalled`); found the moment it crosses the
  threshold, its time lost grows until the wait ends (something came, the
  user went on, or the connection ended).
* ``unanswered-input``: a reply was due after the client's input and the
  user went on (a client step made a reply due again), or the connection
  ended, with nothing between, after :data:`UNANSWERED_AFTER` seconds and
  before the stall threshold (the rest of an ``IN_PROGRESS`` interaction is
  no input of the user's: only a stall counts there).
* ``empty-turn``: a ``turnComplete`` (not ``interrupted``) came while a reply
  was still due, with nothing in its own message either.
* ``reply-cut``: reply audio, then a ``turnComplete`` with no
  ``generationComplete`` (nor ``interrupted``) before it, or the connection's
  end with neither.
* ``early-turn-end``: with automatic activity detection, the server ended
  the user's turn (its reply began, or it sent ``ACTIVITY_END``) while the
  client's audio, run through :class:`rawlive.media.vad.EnergyVad` with the
  setup's config, still held speech short of ``silenceDurationMs`` of
  silence. The same detector feeds the core its ends of speech
  (:meth:`SessionState.speech_ended`), so a reply is due after speech too.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from rawlive.core.state import SessionState
from rawlive.core.watchdog import DEFAULT_POLICY, StallKind, StallPolicy, stalled
from rawlive.errors import ConfigError
from rawlive.media.vad import EnergyVad, VadConfig
from rawlive.tools.audit.rules import Severity
from rawlive.wire import types as lt

__all__ = ["FLOWING_WITHIN", "UNANSWERED_AFTER", "Waits"]

#: Seconds a due reply must have been awaited before going on without it is
#: ``unanswered-input``: a reply usually begins within 1-3 s
#: (:mod:`rawlive.core.watchdog`); a user who goes on sooner, or a client that
#: hangs up sooner, gave the server no fair chance to answer.
UNANSWERED_AFTER = 3.0

#: ``early-turn-end`` judges the client's audio only while it flows: its
#: latest chunk came at most this long (or two chunks' length) before the
#: server ended the turn. A stream that stopped without ``audioStreamEnd``
#: holds no evidence of what the server heard since.
FLOWING_WITHIN = 0.25

#: What made a reply due (the core's rule 11 reasons), as a finding says it.
_REASONS = {
    "activity-end": "activityEnd",
    "text": "realtime text",
    "client-content": "clientContent with turnComplete",
    "tool-response": "a toolResponse",
    "speech-end": "the end of the user's speech",
    "audio-stream-end": "audioStreamEnd",
    "transcription": "the final input transcription",
    "interaction": "a turnComplete that left the interaction IN_PROGRESS",
}

#: ``add(rule, message, t, lost, severity)``: report a finding (``severity``
#: ``None``: the rule's); the finding's index, to grow its time lost, or ``None``.
Add = Callable[[str, str, float, float, Severity | None], int | None]
#: ``grow(index, rule, seconds)``: a finding reported earlier cost more time.
Grow = Callable[[int | None, str, float], None]


@dataclasses.dataclass
class _Wait:
    """The wait going on: for a due reply (``NO_REPLY``) or the next part of one."""

    kind: StallKind
    since: float
    reason: str | None
    #: ``stalled-turn`` found it; its finding, and the time lost reported so far.
    stalled: bool = False
    finding: int | None = None
    lost: float = 0.0


def _current(session: SessionState) -> tuple[StallKind, float, str | None] | None:
    """The wait the core's rule 11 says is going on (``None``: nothing is awaited)."""
    if session.reply_due is not None:
        return StallKind.NO_REPLY, session.reply_due, session.reply_due_reason
    if session.reply_progress is not None:
        return StallKind.REPLY_STOPPED, session.reply_progress, None
    return None


def _parts(content: lt.LiveServerContent | None) -> list[lt.Part]:
    if content is None or content.model_turn is None:
        return []
    return list(content.model_turn.parts or ())


def _has_audio(parts: list[lt.Part]) -> bool:
    return any(
        p.inline_data is not None and (p.inline_data.mime_type or "").startswith("audio/")
        for p in parts
    )


def _speech_ended_by_server(message: lt.LiveServerMessage) -> bool:
    """The server says the user's speech ended (``ACTIVITY_END``, or the older EOS signal)."""
    activity = message.voice_activity
    signal = message.voice_activity_detection_signal
    return (activity is not None and activity.voice_activity_type == "ACTIVITY_END") or (
        signal is not None and signal.vad_signal_type == "VAD_SIGNAL_TYPE_EOS"
    )


class Waits:
    """One connection's waits for the server, and what the misbehaviour rules found.

    ``policy`` is the stall threshold (``rawlive audit --stall-after`` sets its
    ``first_reply``); findings go to ``add`` and a stall's growing time lost to
    ``grow`` (see :data:`Add` and :data:`Grow`).
    """

    def __init__(self, add: Add, grow: Grow, policy: StallPolicy = DEFAULT_POLICY) -> None:
        self.policy = policy
        self._add = add
        self._grow = grow
        self.wait: _Wait | None = None
        #: The model may stay silent on purpose (proactive audio on).
        self.proactive = False
        # reply-cut: the latest reply audio of the exchange, and its generationComplete.
        self._audio_t: float | None = None
        self._generated = False
        # early-turn-end: the detector, its config, and why it cannot run (None: it can).
        self._vad_config = VadConfig()
        self.vad: EnergyVad | None = None
        self.vad_off: str | None = None
        #: The detector ended the user's speech since the server last ended the turn.
        self._heard_end = False
        self._early_reported = False
        #: When the latest client audio came, and how long it was (seconds).
        self._audio_in: tuple[float, float] | None = None

    # -- setup and the client's audio ---------------------------------------------

    def setup(self, session: SessionState, setup: lt.LiveClientSetup) -> None:
        """The connection's setup (the core has taken it): the detector's config, proactivity."""
        ric = setup.realtime_input_config
        detection = None if ric is None else ric.automatic_activity_detection
        try:
            self._vad_config = VadConfig.from_setup(detection)
        except ConfigError as exc:
            self.vad_off = f"the setup's activity detection: {exc}"
        if self._vad_config.disabled:
            self.vad_off = "manual activity detection: the client ends each turn"
        model = session.model
        asked = setup.proactivity is not None and bool(setup.proactivity.proactive_audio)
        self.proactive = asked or (model is not None and model.proactive_audio)

    def client_audio(
        self, session: SessionState, now: float, chunks: list[tuple[bytes, int | None]]
    ) -> None:
        """The client's audio chunks of one step: through the detector, whose starts and
        ends of speech go to the core (rule 11's ``speech-end``)."""
        if self.vad_off is not None:
            return
        for data, rate in chunks:
            vad = self.vad
            if vad is None:
                try:
                    config = dataclasses.replace(self._vad_config, sample_rate=rate or 16000)
                except ConfigError:
                    self.vad_off = f"client audio at {rate} Hz, which the detector cannot frame"
                    return
                vad = self.vad = EnergyVad(config)
            elif (rate or 16000) != vad.config.sample_rate:
                self.vad_off = "the client's audio changed its sample rate"
                self.vad = None
                return
            self._audio_in = (now, len(data) / 2 / vad.config.sample_rate)
            for event in vad.feed(data):
                if event.kind == "speech_start":
                    session.speech_started(now)
                    self._early_reported = False
                else:
                    session.speech_ended(now)
                    self._heard_end = True

    def elided(self) -> None:
        """The recording holds no samples of the client's audio: the detector cannot run."""
        self.vad_off = "the client's audio is elided in the recording"
        self.vad = None

    def stream_end(self) -> None:
        """``audioStreamEnd``: the client ended the speech itself (the core made the reply due)."""
        if self.vad is not None:
            if self.vad.speaking:
                self._heard_end = True
            self.vad.flush()

    # -- the waits ----------------------------------------------------------------

    def check(self, session: SessionState, now: float) -> None:
        """Before a step (or on a timer): the wait going on is a stall by ``now``."""
        wait = self.wait
        if wait is None or wait.stalled:
            return
        stall = stalled(session, now, self.policy)
        if stall is None or stall.since != wait.since:
            return
        wait.stalled = True
        wait.lost = stall.waited
        if wait.kind is StallKind.NO_REPLY:
            why = _REASONS.get(wait.reason or "", wait.reason or "the user's turn")
            message = (
                f"a reply was due from {wait.since:.3f} s (after {why}) and nothing came "
                f"for {self.policy.first_reply:g} s or more: resume through the latest "
                "handle or reconnect, and send the turn again"
            )
        else:
            message = (
                f"the reply under way stopped at {wait.since:.3f} s: nothing for "
                f"{self.policy.gap:g} s or more before its turnComplete: resume through "
                "the latest handle or reconnect, and ask again"
            )
        wait.finding = self._add("stalled-turn", message, wait.since, stall.waited, None)

    def sync(self, session: SessionState, now: float, *, by_client: bool) -> None:
        """After a step: the wait it ended (a client step that makes a reply due
        again is the user going on), and the one it began."""
        current = _current(session)
        wait = self.wait
        if wait is not None and (current is None or current[:2] != (wait.kind, wait.since)):
            again = by_client and current is not None and current[0] is StallKind.NO_REPLY
            self._end(wait, now, gone_on=again)
            self.wait = None
        if current is not None and self.wait is None:
            self.wait = _Wait(*current)

    def _end(
        self,
        wait: _Wait,
        now: float,
        *,
        gone_on: bool,
        closing: bool = False,
        recorded: bool = False,
    ) -> None:
        if wait.stalled:
            extra = (now - wait.since) - wait.lost
            if extra > 0:
                wait.lost += extra
                self._grow(wait.finding, "stalled-turn", extra)
            return
        if wait.kind is not StallKind.NO_REPLY or not (gone_on or closing):
            return
        if wait.reason == "interaction":
            return  # (the rest of an IN_PROGRESS interaction: no input of the user's)
        waited = now - wait.since
        if waited < UNANSWERED_AFTER:
            return
        why = _REASONS.get(wait.reason or "", wait.reason or "the user's turn")
        then = "the user went on"
        if closing:
            then = "the recording ended" if recorded else "the connection ended"
        message = f"no reply to the input ending at {wait.since:.3f} s (after {why}): {then}"
        message += f" {waited:.1f} s later with nothing from the server; send it again"
        severity: Severity | None = None
        if self.proactive:
            severity = "info"
            message += " (proactive audio is on: the model may choose to stay silent)"
        self._add("unanswered-input", message, wait.since, waited, severity)

    # -- the server's steps ---------------------------------------------------------

    def server(self, session: SessionState, message: lt.LiveServerMessage, now: float) -> None:
        """A server message, before the core takes it: ``empty-turn``, ``reply-cut``,
        ``early-turn-end``."""
        content = message.server_content
        parts = _parts(content)
        begins = (
            not session.transcribing
            and session.turn.reply_start is None
            and (bool(parts) or message.tool_call is not None)
        )
        if begins or _speech_ended_by_server(message):
            self._turn_ended(begins, now)
        if content is None:
            return
        if (
            content.turn_complete
            and not content.interrupted
            and session.reply_due is not None
            and not parts
            and content.output_transcription is None
            and message.tool_call is None
        ):
            due = session.reply_due
            why = _REASONS.get(session.reply_due_reason or "", "the user's turn")
            self._add(
                "empty-turn",
                f"turnComplete with no content {now - due:.1f} s after a reply became due "
                f"(after {why}, {due:.3f} s): nothing to play or show; ask again",
                due,
                now - due,
                None,
            )
        if _has_audio(parts):
            self._audio_t = now
        if content.generation_complete:
            self._generated = True
        if content.interrupted:
            self._audio_t, self._generated = None, False
        if content.turn_complete:
            if self._audio_t is not None and not self._generated:
                self._cut(now, "a turnComplete with no generationComplete before it")
            self._audio_t, self._generated = None, False

    def _turn_ended(self, begins: bool, now: float) -> None:
        """The server ended the user's turn: early if the detector still hears that speech."""
        vad = self.vad
        flowing = self._audio_in is not None and now - self._audio_in[0] <= max(
            FLOWING_WITHIN, 2 * self._audio_in[1]
        )
        early = (
            vad is not None
            and flowing
            and vad.speaking
            and not self._heard_end
            and not self._early_reported
            and self.vad_off is None
        )
        self._heard_end = False
        if not early or vad is None:
            return
        self._early_reported = True
        need = vad.config.silence_duration_ms
        silence = vad.silence_ms
        how = "its reply began" if begins else "it sent ACTIVITY_END"
        heard = (
            "while the user was still speaking"
            if silence == 0
            else f"{silence / 1000:.2f} s into a pause"
        )
        self._add(
            "early-turn-end",
            f"the server ended the user's turn ({how}) {heard}, before the "
            f"{need} ms of silence silenceDurationMs asks: raise silenceDurationMs "
            "or use manual activity detection",
            now,
            max(need - silence, 0.0) / 1000,
            None,
        )

    def _cut(self, now: float, how: str) -> None:
        start = self._audio_t
        assert start is not None
        self._add(
            "reply-cut",
            f"the reply audio stopped at {start:.3f} s without interrupted or a full "
            f"turnComplete ({how}): ask again",
            start,
            max(now - start, 0.0),
            None,
        )

    # -- the end --------------------------------------------------------------------

    def close(self, session: SessionState, now: float, *, recorded: bool = False) -> None:
        """The connection ended at ``now``: a stall still going on, an input left
        unanswered, a reply cut off. ``recorded``: the recording ended there with
        no close of the connection in it; a reply under way may have gone on
        after, so it is not called cut (a stall or an unanswered input still is:
        the wait had lasted that long)."""
        self.check(session, now)
        wait = self.wait
        if wait is not None:
            self._end(wait, now, gone_on=False, closing=True, recorded=recorded)
            self.wait = None
        if self._audio_t is not None and not self._generated and not recorded:
            self._cut(now, "the connection ended mid-reply")
        self._audio_t, self._generated = None, False
