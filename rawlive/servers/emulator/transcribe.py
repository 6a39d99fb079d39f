"""The emulator's Transcribe Live and translation models (``PROTOCOL.md`` §10.8, §10.9, §10.15.8-9).

:func:`listener_for` gives a connection of a model whose row is not a
conversation (``row.kind``) the :class:`Listener` that :class:`~turns.Live`
hands its input to at four points: each audio chunk (:meth:`Listener.heard`),
the start and the end of the user's speech, and the reply to a user turn.

The emulator has no speech recognition. "What the user said" in an
utterance is the script's ``input_transcription`` for that turn, else
:data:`DEFAULT_SAID`; its language is the turn's ``language_code``, else the
setup's first ``inputAudioTranscription.languageCodes``, else ``en``
(:func:`said`).

**Transcribe Live** (:class:`Transcriber`, ``Kind.TRANSCRIBE``), an utterance:

1. ``{"serverContent": {}, "voiceActivity": {"type": "ACTIVITY_START",
   "audioOffset": ...}}`` when speech starts (the detector's start with
   automatic detection; with manual detection the first voiced frame after
   ``activityStart``). ``audioOffset`` is the position in the connection's
   audio stream.
2. ``interimInputTranscription {text}`` while it goes on: each the whole
   utterance so far, one more word every :data:`INTERIM_WORD_MS` of speech,
   lower case without punctuation (a first pass).
3. At its end (the detector's end of speech, ``audioStreamEnd``,
   ``activityEnd``): one ``inputTranscription {text, languageCode}``, the
   text as said (a second pass: its case and punctuation), with the setup's
   ``customVocabulary`` terms spelt as given and, in ``mode: SMART``,
   :data:`DISFLUENCIES` dropped (:func:`final_text`); then
   ``generationComplete``; then the ``ACTIVITY_END`` echo. No ``modelTurn``,
   no audio, no ``turnComplete``. An activity with no voiced frame (manual
   detection) gets the ``ACTIVITY_END`` echo alone. Utterances are numbered
   from 1 per connection (the script's turns in order).

**Translation** (:class:`Translator`, ``Kind.TRANSLATE``): each user turn is
answered as a conversation turn is, except that new speech does not
interrupt a translation (they queue, one after another), the reply being
the translation: ``inputTranscription`` is what was said,
``outputTranscription`` the script's ``output_transcription`` or what was
said marked with the target language (``[pl] ...``), the audio the turn's
reply audio or the echo of the caller's speech, then ``generationComplete``
and ``turnComplete`` (no ``interactionStatus``). Speech already in the
target language (same primary language subtag) is repeated when
``echoTargetLanguage`` is true and gets no audio and no
``outputTranscription`` when it is false or absent, as the SDK's docstring
says (§10.9, §10.16 conflict 5).

Both models take audio only (``row.inputs``, §10.2): text, video or
``clientContent`` closes with 1007 ``Request contains an invalid argument.``
(:data:`NOT_AUDIO`; the real reaction is not recorded, 1007 is the
conservative choice).
"""

from __future__ import annotations

import logging
import re
from typing import TYPE_CHECKING

from rawlive.core import models
from rawlive.servers.base import CLOSE_INVALID_ARGUMENT
from rawlive.servers.emulator import replies
from rawlive.servers.emulator.replies import ReplyPlan
from rawlive.wire import types as t

if TYPE_CHECKING:
    from rawlive.media.vad import EnergyVad
    from rawlive.servers.emulator.turns import Live

__all__ = [
    "DEFAULT_LANGUAGE",
    "DEFAULT_SAID",
    "DISFLUENCIES",
    "INTERIM_WORD_MS",
    "NOT_AUDIO",
    "Listener",
    "Transcriber",
    "Translator",
    "final_text",
    "interim_words",
    "listener_for",
    "said",
    "translation",
]

log = logging.getLogger("rawlive.servers.emulator")

#: What the user said when the script does not say: the emulator cannot know.
DEFAULT_SAID = "The rawlive emulator heard speech; it does not recognise words."
#: The language of what was said when neither the script nor the setup names one.
DEFAULT_LANGUAGE = "en"
#: Speech that reveals one more word of an interim transcription (a fast talker's pace).
INTERIM_WORD_MS = 200.0
#: Words ``mode: SMART`` drops from the final transcription (§10.8: "removes disfluencies").
DISFLUENCIES = ("um", "umm", "uh", "uhh", "uhm", "erm")
#: The close for input a model does not take (text, video, clientContent): §10.16 has none.
NOT_AUDIO = CLOSE_INVALID_ARGUMENT

_DISFLUENCY = re.compile(
    r"(?<![\w'])(?:" + "|".join(DISFLUENCIES) + r")(?![\w'])[,.]?\s*", re.IGNORECASE
)
_WORD = re.compile(r"[\w']+")


def said(live: Live, turn: int) -> tuple[str, str]:
    """What the user said in turn ``turn`` (from 1) of ``live``, and its language.

    The script's ``input_transcription`` and ``language_code`` for that
    turn; else :data:`DEFAULT_SAID` and the setup's first
    ``inputAudioTranscription.languageCodes`` (else :data:`DEFAULT_LANGUAGE`).
    """
    script = live.emulator.script
    spec = script.turn(turn) if script is not None else None
    config = live.session.setup.input_audio_transcription
    hinted = next(iter((config and config.language_codes) or ()), None)
    text = spec.input_transcription if spec is not None else None
    language = spec.language_code if spec is not None else None
    return text or DEFAULT_SAID, language or hinted or DEFAULT_LANGUAGE


def interim_words(text: str) -> list[str]:
    """The words of ``text`` as a first pass hears them: lower case, no punctuation."""
    return _WORD.findall(text.lower())


def final_text(text: str, config: t.AudioTranscriptionConfig | None) -> str:
    """The final transcription of ``text`` under the setup's ``inputAudioTranscription``.

    ``mode: SMART`` drops :data:`DISFLUENCIES` (a sentence that began with a
    capital still does); every ``customVocabulary`` term found as a word
    (case-insensitively) is spelt as given.
    """
    if config is None:
        return text
    result = text
    if config.mode == "SMART":
        result = " ".join(_DISFLUENCY.sub("", text).split())
        if text[:1].isupper() and result[:1].islower():
            result = result[:1].upper() + result[1:]
    for term in config.custom_vocabulary or ():
        spelling = term.strip()
        if spelling:
            pattern = re.compile(r"(?<![\w'])" + re.escape(spelling) + r"(?![\w'])", re.IGNORECASE)
            result = pattern.sub(spelling.replace("\\", "\\\\"), result)
    return result


def translation(source: str, target: str) -> str:
    """The emulator's "translation" of ``source``: marked with the target language."""
    return f"[{target}] {source}"


def _primary(language: str) -> str:
    return language.split("-", 1)[0].split("_", 1)[0].lower()


def _seconds(ms: float) -> t.Duration:
    return t.Duration(microseconds=round(ms * 1000))


class Listener:
    """What a connection of a model that is not a conversation does differently.

    The base takes audio only and otherwise changes nothing;
    :class:`Transcriber` and :class:`Translator` do the rest.
    """

    #: A reply waits for the one before it to finish instead of overlapping it.
    queues_replies = False

    def __init__(self, live: Live, model: models.Model) -> None:
        self.live = live
        self.model = model

    async def refuse_input(self, message: t.LiveClientMessage) -> bool:
        """Close on input the model does not take (``True``: closed)."""
        kind = self.model.refused_input(message)
        if kind is None:
            return False
        log.info("closing: %s input on %s, which takes audio only", kind, self.model.id)
        await self.live.peer.close(*NOT_AUDIO)
        return True

    async def heard(self, pcm: bytes) -> None:
        """A chunk of the caller's audio (16 kHz), before the detector sees it."""

    async def speech_started(self, at_ms: float | None) -> None:
        """The caller began speaking, at the detector's ``at_ms`` (``None``: ``activityStart``)."""

    async def speech_ended(self, at_ms: float | None) -> bool:
        """The caller stopped speaking; ``True``: handled here, no reply follows."""
        return False

    def reply(self, plan: ReplyPlan, turn: int, user_audio: bytes) -> ReplyPlan:
        """The reply to user turn ``turn``, from the one a conversation would get."""
        return plan


class Transcriber(Listener):
    """Transcribe Live: interim and final input transcriptions, voice activity, no reply."""

    def __init__(self, live: Live, model: models.Model) -> None:
        super().__init__(live, model)
        #: Milliseconds of audio this connection has received (the audioOffset clock).
        self.stream_ms = 0.0
        self.utterances = 0
        self.voiced = False
        self.voice_start_ms = 0.0
        self.activity_start_ms = 0.0
        self.detector: EnergyVad | None = None  # manual detection: is the activity voiced?
        self.text = ""
        self.language = DEFAULT_LANGUAGE
        self.words: list[str] = []
        self.shown = 0

    async def heard(self, pcm: bytes) -> None:
        self.stream_ms += len(pcm) / 32
        if not self.live.in_turn:
            return
        if self.detector is not None and not self.voiced:
            for event in self.detector.feed(pcm):
                if event.kind == "speech_start":
                    await self._voice(self.activity_start_ms + event.offset_ms)
                    break
        if self.voiced:
            await self._interim()

    async def speech_started(self, at_ms: float | None) -> None:
        if at_ms is not None:
            await self._voice(at_ms)
            return
        from rawlive.media.vad import EnergyVad, VadConfig

        # activityStart: the activity is voiced once a frame of it is (the default detector).
        self.activity_start_ms = self.stream_ms
        self.detector = EnergyVad(VadConfig())

    async def _voice(self, at_ms: float) -> None:
        self.voiced = True
        self.voice_start_ms = at_ms
        self.text, self.language = said(self.live, self.utterances + 1)
        self.words = interim_words(self.text)
        self.shown = 0
        await self._activity("ACTIVITY_START", at_ms)

    async def _interim(self) -> None:
        count = min(len(self.words), int((self.stream_ms - self.voice_start_ms) // INTERIM_WORD_MS))
        if count > self.shown:
            self.shown = count
            await self.live.content(
                interim_input_transcription=t.Transcription(text=" ".join(self.words[:count]))
            )

    async def _activity(self, kind: str, at_ms: float) -> None:
        await self.live.send(
            t.LiveServerMessage(
                server_content=t.LiveServerContent(),
                voice_activity=t.VoiceActivity(
                    voice_activity_type=kind, audio_offset=_seconds(max(at_ms, 0.0))
                ),
            )
        )

    async def speech_ended(self, at_ms: float | None) -> bool:
        end_ms = self.stream_ms if at_ms is None else at_ms
        voiced, self.voiced, self.detector = self.voiced, False, None
        live = self.live
        if voiced:
            self.utterances += 1
            # The script's turn faults (drawn per utterance): the final
            # transcription dropped, or no answer at all (the echo still comes).
            misplay = live.emulator.turn_faults.misplay(self.utterances)
            if misplay is not None and (misplay.stall or misplay.cut or misplay.empty):
                log.warning(
                    "stall, cut_reply and empty_turn do not apply to %s; utterance %d as planned",
                    self.model.id,
                    self.utterances,
                )
            drop = misplay is not None and (misplay.drop_final or misplay.no_answer)
            if not drop:
                final = final_text(self.text, live.session.setup.input_audio_transcription)
                await live.content(
                    input_transcription=t.Transcription(text=final, language_code=self.language)
                )
            if misplay is None or not misplay.no_answer:
                await live.content(generation_complete=True)
        await self._activity("ACTIVITY_END", end_ms)
        if voiced:
            await live.emulator.resumption_update(live)
            await live.emulator.turn_done(live, self.utterances)
        return True


class Translator(Listener):
    """The translation model: each user turn answered with its translation.

    An interpreter does not stop for the speaker's next sentence: new speech
    never interrupts a translation (whatever ``activityHandling`` says), and
    each translation waits for the one before it.
    """

    queues_replies = True

    def __init__(self, live: Live, model: models.Model) -> None:
        super().__init__(live, model)
        live.barge_in = False

    def reply(self, plan: ReplyPlan, turn: int, user_audio: bytes) -> ReplyPlan:
        source, language = said(self.live, turn)
        generation = self.live.session.setup.generation_config
        config = (generation and generation.translation_config) or t.TranslationConfig()
        target = config.target_language_code or "und"
        plan.input_transcription = source
        plan.text = None
        if _primary(language) == _primary(target) and not config.echo_target_language:
            # Already in the target language and not to be repeated: nothing to say.
            plan.audio = None
            plan.output_transcription = None
            return plan
        if plan.audio is None:
            plan.audio = replies.default_plan(False, None, user_audio).audio
        if plan.output_transcription is None:
            plan.output_transcription = translation(source, target)
        return plan


def listener_for(live: Live, model: models.Model) -> Listener | None:
    """The listener of a connection to ``model``; ``None`` for a conversation model."""
    if model.kind is models.Kind.TRANSCRIBE:
        return Transcriber(live, model)
    if model.kind is models.Kind.TRANSLATE:
        return Translator(live, model)
    return None
