"""A Live session's state as the wire defines it, for either role.

:class:`SessionState` does not know which side it serves: the client feeds it
what it sends (:meth:`~SessionState.client`) and receives
(:meth:`~SessionState.server`); the emulator what it consumes and sends; the
audit and the report what a recording holds. Each rule is written here once:

1. Client messages after ``setup`` are numbered 1, 2, 3... across the whole
   session, reconnections included: the index ``lastConsumedClientMessageIndex``
   refers to (the wire leaves the base undocumented; rawlive counts this way).
2. A ``toolCall`` issues each of its calls, keyed by id, or by
   ``name:<name>`` for a call without one (Vertex sends those). A function
   response settles its call unless ``willContinue`` is set; one for a call
   never issued, cancelled or already settled is noted
   (:class:`Answer`), never fatal. ``toolCallCancellation`` cancels by id.
   Whether a call blocks is its declaration's ``behavior``, or the model's
   default (:mod:`rawlive.core.models`).
3. A user turn ends with the last user input before the model starts
   replying (audio, text, ``activityEnd``, ``audioStreamEnd``, or
   ``clientContent`` with ``turnComplete``); a reply starts with the first
   model part or tool call, and the exchange ends with ``turnComplete``
   (``interrupted`` marks it cut short by the user).
4. ``usageMetadata`` reports add up, by modality; a count without a modality
   is ``MODALITY_UNSPECIFIED`` (the enum's own zero value).
5. A resumable ``sessionResumptionUpdate`` issues a handle that holds the
   client messages up to its ``lastConsumedClientMessageIndex`` when given,
   else every message numbered so far, and the turns completed; resuming
   from it (:meth:`~SessionState.restore`) goes back to that state and voids
   the handles issued after it (the interactions completed too, rule 8).
   A non-resumable update issues nothing.
6. ``goAway`` sets a deadline: the time it arrived plus ``timeLeft``.
7. On a model that takes ``clientContent`` only as initial history
   (:attr:`~rawlive.core.models.ClientContent.HISTORY_ONLY`, 3.1), it is
   welcome only with ``historyConfig.initialHistoryInClientContent`` and
   until the history ends: a ``clientContent`` with ``turnComplete``, or any
   realtime input. Elsewhere the server closes with 1007
   (:meth:`~SessionState.misplaced_client_content` says why). On a model
   whose row names ``content_roles`` (3.8, ``PROTOCOL.md`` §10.4) every turn
   of a ``clientContent`` needs one of those roles, else the same 1007.
8. ``interactionStatus`` rides on ``turnComplete`` (§10.6): when present and
   not unspecified, the interaction (the user's request and everything the
   model does for it, fillers and background work included) ends only at
   ``IDLE`` (or its deprecated alias ``REQUIRES_ACTION``); without it the
   ``turnComplete`` ends it.
9. On a model that cancels blocking calls on new input (3.8, §10.5), user
   input while a ``BLOCKING`` call is unanswered dooms that call: the server
   will send ``toolCallCancellation`` for it
   (:attr:`~SessionState.doomed` lists them; the wire form is inferred).
10. On a speech-to-text model (:attr:`~rawlive.core.models.Kind.TRANSCRIBE`,
    ``PROTOCOL.md`` §10.8) no ``turnComplete`` comes: the session is a run of
    utterances (:class:`Utterance`). Each ``interimInputTranscription`` is the whole
    utterance so far (it replaces the one before); ``inputTranscription`` is
    its final text, and the ``generationComplete`` after a final ends it. The
    end of speech is the latest ``activityEnd`` or ``audioStreamEnd`` the
    client sent, or ``voiceActivity`` ``ACTIVITY_END`` the server sent,
    before the final.
11. A reply is *due* once the user's turn has ended and nothing of the reply
    has come: after ``activityEnd``, realtime ``text``, ``clientContent``
    with ``turnComplete``, a ``toolResponse`` that settles a call (unless its
    ``scheduling`` is ``SILENT``), ``audioStreamEnd`` after speech, the end of
    speech a voice-activity detector found in the client's audio
    (:meth:`~SessionState.speech_ended`: the server's automatic detection
    ends the turn there), or a final ``inputTranscription`` (the server heard
    the user). A transcription model's reply is the utterance's final text.
    The reply is *under way* from its first part, tool call or output
    transcription until ``turnComplete``, ``interrupted`` or a ``toolCall``
    (then the client owes the next step); a ``turnComplete`` that leaves the
    interaction ``IN_PROGRESS`` with no call open makes the rest of the
    interaction due (rule 8). The user's input makes nothing due while the
    model must first have the result of an open call: a ``BLOCKING`` one on a
    model that does not cancel it on new input, a ``NON_BLOCKING`` one on a
    model that waits for results (3.8, ``PROTOCOL.md`` §10.5); the
    ``toolResponse`` that settles it makes the reply due then (the client
    owed it meanwhile). A lost connection takes the wait with it; once a
    connection has resumed the session (its kept messages re-sent), the
    reply the lost one owed is due again from then, for reason ``resume``
    (:meth:`~SessionState.resumed`): the re-sent input asks for it anew, and
    a resumed server that never answers is a stall like any other.
    :mod:`rawlive.core.watchdog` says when either has gone on too long.
"""

from __future__ import annotations

import collections
import dataclasses
import enum

from rawlive.core import models
from rawlive.wire import types as t

__all__ = [
    "UNSPECIFIED_MODALITY",
    "Answer",
    "Call",
    "Handle",
    "SessionState",
    "ToolCalls",
    "Turn",
    "UsageTotals",
    "Utterance",
    "call_key",
]

#: The modality a token count without one is filed under (rule 4).
UNSPECIFIED_MODALITY = "MODALITY_UNSPECIFIED"

#: Handles kept per session (the latest); older ones can no longer be restored.
MAX_HANDLES = 256


def call_key(call_id: str | None, name: str | None) -> str | None:
    """The ledger key of a call or response: its id, else ``name:<name>`` (rule 2)."""
    if call_id:
        return call_id
    return f"name:{name}" if name else None


@dataclasses.dataclass
class Call:
    """A tool call the server issued and nobody settled yet."""

    key: str
    call: t.FunctionCall
    issued: float
    blocking: bool


class Answer(enum.Enum):
    """What a function response did to its call (rule 2)."""

    SETTLED = "settled"
    #: ``willContinue``: more responses follow; the call stays open.
    CONTINUING = "continuing"
    NEVER_ISSUED = "never-issued"
    CANCELLED = "cancelled"
    ALREADY_SETTLED = "already-settled"
    #: Neither an id nor a name: nothing to match.
    ANONYMOUS = "anonymous"


class ToolCalls:
    """The ledger of tool calls: issued, open, settled and cancelled (rule 2)."""

    def __init__(self) -> None:
        self.open: dict[str, Call] = {}
        self.issued: set[str] = set()
        self.settled: set[str] = set()
        self.cancelled: set[str] = set()

    def issue(self, call: t.FunctionCall, now: float, blocking: bool) -> Call | None:
        key = call_key(call.id, call.name)
        if key is None:
            return None
        entry = self.open[key] = Call(key, call, now, blocking)
        self.issued.add(key)
        return entry

    def answer(self, response: t.FunctionResponse) -> tuple[Answer, Call | None]:
        """Apply one function response: what it did, and the call it answered."""
        key = call_key(response.id, response.name)
        if key is None:
            return Answer.ANONYMOUS, None
        call = self.open.get(key)
        if call is not None:
            if response.will_continue:
                return Answer.CONTINUING, call
            del self.open[key]
            self.settled.add(key)
            return Answer.SETTLED, call
        if key in self.cancelled:
            return Answer.CANCELLED, None
        if key in self.settled:
            return Answer.ALREADY_SETTLED, None
        return Answer.NEVER_ISSUED, None

    def cancel(self, call_id: str) -> Call | None:
        call = self.open.pop(call_id, None)
        if call is not None:
            self.cancelled.add(call_id)
        return call

    def discard(self) -> list[Call]:
        """End every open call without an answer (its connection is gone, or an
        interruption ended the calls the server cannot cancel: those without id)."""
        calls = list(self.open.values())
        for call in calls:
            self.cancelled.add(call.key)
        self.open.clear()
        return calls

    @property
    def blocking(self) -> list[Call]:
        """The open calls that block the conversation until answered."""
        return [call for call in self.open.values() if call.blocking]


@dataclasses.dataclass
class UsageTotals:
    """Token counts summed over every ``usageMetadata`` report (rule 4)."""

    reports: int = 0
    prompt_tokens: int = 0
    response_tokens: int = 0
    thoughts_tokens: int = 0
    tool_use_prompt_tokens: int = 0
    total_tokens: int = 0
    prompt_by_modality: dict[str, int] = dataclasses.field(default_factory=dict)
    response_by_modality: dict[str, int] = dataclasses.field(default_factory=dict)

    def add(self, usage: t.UsageMetadata) -> None:
        self.reports += 1
        self.prompt_tokens += usage.prompt_token_count or 0
        self.response_tokens += usage.response_tokens or 0
        self.thoughts_tokens += usage.thoughts_token_count or 0
        self.tool_use_prompt_tokens += usage.tool_use_prompt_token_count or 0
        self.total_tokens += usage.total_token_count or 0
        _add_details(self.prompt_by_modality, usage.prompt_tokens_details)
        _add_details(
            self.response_by_modality,
            usage.response_tokens_details or usage.candidates_tokens_details,
        )

    def merge(self, other: UsageTotals) -> None:
        """Add ``other``'s counts to these: a session's totals from its connections'."""
        self.reports += other.reports
        self.prompt_tokens += other.prompt_tokens
        self.response_tokens += other.response_tokens
        self.thoughts_tokens += other.thoughts_tokens
        self.tool_use_prompt_tokens += other.tool_use_prompt_tokens
        self.total_tokens += other.total_tokens
        for into, counts in (
            (self.prompt_by_modality, other.prompt_by_modality),
            (self.response_by_modality, other.response_by_modality),
        ):
            for modality, count in counts.items():
                into[modality] = into.get(modality, 0) + count


def _add_details(into: dict[str, int], details: list[t.ModalityTokenCount] | None) -> None:
    for entry in details or ():
        key = entry.modality or UNSPECIFIED_MODALITY
        into[key] = into.get(key, 0) + (entry.token_count or 0)


@dataclasses.dataclass
class Turn:
    """One exchange: the user's input, then the model's reply (rule 3)."""

    #: 1 for the session's first exchange.
    number: int
    #: When the user's input last came before the reply began (``None``: no input).
    user_end: float | None = None
    #: When the reply began: its first model part or tool call.
    reply_start: float | None = None
    generation_complete: float | None = None
    interrupted: bool = False
    #: When ``turnComplete`` ended it (``None``: not yet).
    complete: float | None = None
    #: The ``interactionStatus`` its ``turnComplete`` carried (rule 8).
    status: str | None = None

    @property
    def ends_interaction(self) -> bool:
        """Whether its ``turnComplete`` ended the interaction (rule 8)."""
        return self.complete is not None and models.interaction_complete(self.status)

    @property
    def replying(self) -> bool:
        return self.reply_start is not None


@dataclasses.dataclass
class Utterance:
    """One utterance of a speech-to-text session (rule 10)."""

    #: 1 for the session's first utterance.
    number: int
    #: The end of the user's speech: the latest ``activityEnd``,
    #: ``audioStreamEnd`` or server ``ACTIVITY_END`` before the final.
    speech_end: float | None = None
    #: The server showed it began (``ACTIVITY_START`` or an interim). Until
    #: then a server ``ACTIVITY_END`` is the previous utterance's echo: the
    #: real server sends it after that one's ``generationComplete``
    #: (PROTOCOL.md §10.8, the probe's frames).
    started: bool = False
    first_interim: float | None = None
    #: ``interimInputTranscription`` messages that came, and the latest one's text.
    interims: int = 0
    interim: str = ""
    #: The final text (``inputTranscription``) and when it came.
    final: str | None = None
    final_t: float | None = None
    #: The ``generationComplete`` that ended it (``None``: not yet).
    complete: float | None = None

    @property
    def to_final(self) -> float | None:
        """Seconds from the end of speech to the final text (``None``: either is missing)."""
        if self.speech_end is None or self.final_t is None:
            return None
        return self.final_t - self.speech_end


@dataclasses.dataclass(frozen=True)
class Handle:
    """What a resumption handle holds (rule 5)."""

    #: The last client message its state holds.
    index: int
    #: The exchanges completed in its state.
    turns: int
    #: Whether the server said so (``lastConsumedClientMessageIndex``) or it
    #: was every message numbered when the update came.
    acknowledged: bool
    #: The interactions completed in its state (rule 8; ``None``: as ``turns``).
    interactions: int | None = None


class SessionState:
    """One session's rules, as either side sees them (see the module docstring).

    ``setup`` gives the model and the tool declarations (set again with
    :meth:`configure` when a setup goes out or comes in); ``model`` names a row
    of :mod:`rawlive.core.models` for a model the table lacks; ``rows`` are
    rows that take precedence over the table's (the emulator's ``models``).
    """

    def __init__(
        self,
        setup: t.LiveClientSetup | None = None,
        *,
        model: models.Model | None = None,
        rows: dict[str, models.Model] | None = None,
    ) -> None:
        #: Model rows that take precedence over :data:`~rawlive.core.models.MODELS`.
        self.rows = rows
        #: Client messages numbered so far (rule 1).
        self.message_index = 0
        self.tools = ToolCalls()
        #: The exchange going on (or the next one, before any input).
        self.turn = Turn(1)
        self.turns_completed = 0
        #: A ``modelTurn`` came and no ``turnComplete`` or ``interrupted`` since:
        #: the model is speaking (a reply paused for a tool call is not).
        self.model_turn_active = False
        self.usage = UsageTotals()
        #: Resumption handles issued, oldest first (the latest :data:`MAX_HANDLES`).
        self.handles: collections.OrderedDict[str, Handle] = collections.OrderedDict()
        #: The latest resumable handle (``None`` until one comes).
        self.handle: str | None = None
        #: When a ``goAway`` came and the ``timeLeft`` it gave (seconds; ``None``: none given).
        self.go_away: tuple[float, float | None] | None = None
        self.model: models.Model | None = model
        #: Rule 7: the setup asked to seed history and the history has not ended.
        self.seeding_history = False
        #: Rule 7's verdict on the latest client message, taken before it
        #: applied (``None``: not a misplaced ``clientContent``).
        self.misplaced: str | None = None
        #: The part of :attr:`misplaced` that is about its turns' roles (3.8's
        #: rule; ``None``: the roles are fine, or the model asks none).
        self.misplaced_role: str | None = None
        #: Rule 8: a ``turnComplete`` said ``IN_PROGRESS``; the interaction goes on.
        self.interaction_pending = False
        #: Interactions ended (rule 8): a plain ``turnComplete`` or one at ``IDLE``.
        self.interactions_completed = 0
        #: Rule 9: the blocking calls the latest client message dooms to cancellation.
        self.doomed: list[Call] = []
        #: Rule 10: the utterance going on, those ended, and the one the latest
        #: server message ended (``None``: it ended none).
        self.utterance = Utterance(1)
        self.utterances_completed = 0
        self.ended_utterance: Utterance | None = None
        #: Rule 11: since when a reply has been due and not begun (``None``: none
        #: due), and what made it due (``activity-end``, ``text``,
        #: ``client-content``, ``tool-response``, ``speech-end``,
        #: ``audio-stream-end``, ``transcription``, ``interaction``, ``resume``).
        self.reply_due: float | None = None
        self.reply_due_reason: str | None = None
        #: Rule 11: a reply is under way; when its latest part came.
        self.reply_progress: float | None = None
        #: Rule 11: a connection was lost while a reply was due or under way;
        #: the connection that resumes the session owes it (:meth:`resumed`).
        self.reply_lost = False
        #: The client's audio holds speech that has not ended (a detector said so).
        self.speaking = False
        self._history_asked = False
        self._behaviors: dict[str, bool] = {}
        if setup is not None:
            self.configure(setup)

    # -- setup ------------------------------------------------------------------

    def configure(self, setup: t.LiveClientSetup) -> None:
        """Take the model and tool declarations of a ``setup``."""
        self.model = models.find(setup.model, self.rows) or self.model
        history = setup.history_config
        self._history_asked = bool(history and history.initial_history_in_client_content)
        # (A resume's setup asks again; the history is in the resumed state by then.)
        self.seeding_history = self._history_asked and self.message_index == 0
        self._behaviors = {
            declaration.name: self._blocking(declaration.behavior)
            for tool in setup.tools or ()
            for declaration in tool.function_declarations or ()
            if declaration.name
        }

    def _blocking(self, behavior: str | None) -> bool:
        if self.model is not None:
            return self.model.blocking(behavior)
        return behavior != "NON_BLOCKING"

    def blocking(self, name: str | None) -> bool:
        """Whether a call of ``name`` blocks: its declaration, else the model's default."""
        found = self._behaviors.get(name or "")
        return self._blocking(None) if found is None else found

    @property
    def go_away_deadline(self) -> float | None:
        """When the server will end the connection after a ``goAway`` (rule 6)."""
        if self.go_away is None:
            return None
        at, left = self.go_away
        return at + (left or 0.0)

    # -- client messages --------------------------------------------------------

    def misplaced_client_content(self, content: t.LiveClientContent | None = None) -> str | None:
        """Why a ``clientContent`` sent now would be refused (rule 7); ``None``: it would not.

        With ``content``, its turns' roles are judged too (:meth:`misplaced_roles`).
        """
        model = self.model
        if model is None:
            return None
        if content is not None:
            roles = self.misplaced_roles(content)
            if roles is not None:
                return roles
        if model.client_content is not models.ClientContent.HISTORY_ONLY:
            return None
        if self.seeding_history:
            return None
        if not self._history_asked:
            return (
                f"clientContent on {model.id} without historyConfig.initialHistoryInClientContent"
            )
        return f"clientContent after the initial history on {model.id}"

    def misplaced_roles(self, content: t.LiveClientContent) -> str | None:
        """Why the roles of ``content``'s turns would be refused (rule 7, §10.4); ``None``: fine.

        On a model whose row names ``content_roles`` (3.8), a turn without a
        role or with another one (``"system"``) is closed with 1007.
        """
        model = self.model
        roles = None if model is None else model.content_roles
        if model is None or roles is None:
            return None
        for turn in content.turns or ():
            if turn.role not in roles:
                what = "without a role" if not turn.role else f"with role {turn.role!r}"
                takes = "/".join(sorted(roles))
                return f"clientContent turn {what} on {model.id} (it takes {takes})"
        return None

    @property
    def transcribing(self) -> bool:
        """Whether the model is a speech-to-text one: utterances, no turns (rule 10)."""
        return self.model is not None and self.model.kind is models.Kind.TRANSCRIBE

    def client(self, message: t.LiveClientMessage, now: float) -> list[tuple[Answer, str]]:
        """Apply a client message; for a ``toolResponse``, what each response did.

        ``setup`` is :meth:`configure`\\ d and not numbered; every other
        message is (rule 1).
        """
        if message.setup is not None:
            self.configure(message.setup)
            return []
        content = message.client_content
        self.misplaced = None if content is None else self.misplaced_client_content(content)
        self.misplaced_role = None if content is None else self.misplaced_roles(content)
        self.doomed = []
        self.message_index += 1
        answers: list[tuple[Answer, str]] = []
        if message.tool_response is not None:
            for response in message.tool_response.function_responses or ():
                answer, _ = self.tools.answer(response)
                answers.append((answer, call_key(response.id, response.name) or "?"))
                if answer is Answer.SETTLED and response.scheduling != "SILENT":
                    self._due(now, "tool-response")
            if not self.turn.replying and self.turn.user_end is None:
                # Results for calls whose turn already ended (3.8's NON_BLOCKING
                # calls, extended thinking's filler turn, PROTOCOL.md §10.5-§10.7):
                # the reply they prompt is timed from them.
                self.turn.user_end = now
        if content is not None and content.turn_complete:
            self._user_input(now)
            self._end_history()
            self._user_due(now, "client-content")
        realtime = message.realtime_input
        if realtime is not None:
            self._end_history()
            if _is_user_input(realtime):
                self._user_input(now)
            if realtime.activity_end is not None or realtime.audio_stream_end:
                self._speech_end(now)
            if realtime.activity_end is not None:
                self._user_due(now, "activity-end")
            elif realtime.text is not None:
                self._user_due(now, "text")
            elif realtime.audio_stream_end and (self.speaking or self._utterance_open):
                self.speaking = False
                self._user_due(now, "audio-stream-end")
        return answers

    @property
    def _utterance_open(self) -> bool:
        """A transcription model showed it heard speech it has not finalised (rule 10)."""
        utterance = self.utterance
        return self.transcribing and utterance.started and utterance.final is None

    def speech_started(self, now: float) -> None:
        """A voice-activity detector found speech in the client's audio (rule 11)."""
        del now
        self.speaking = True

    def speech_ended(self, now: float) -> None:
        """A detector found the end of the client's speech: with automatic
        activity detection the server ends the user's turn there (rule 11)."""
        if not self.speaking:
            return
        self.speaking = False
        self._user_due(now, "speech-end")

    @property
    def awaiting_results(self) -> bool:
        """Rule 11: the model answers nothing before the result of an open call: a
        ``BLOCKING`` one it does not cancel on new input, or a ``NON_BLOCKING``
        one on a model that waits for results (§10.5)."""
        model = self.model
        for call in self.tools.open.values():
            if call.blocking:
                if model is None or not model.cancels_blocking_on_input:
                    return True
            elif model is not None and model.waits_for_tool_results:
                return True
        return False

    def _user_due(self, now: float, reason: str) -> None:
        """Rule 11: the user's turn ended; a reply is due unless the client owes a result."""
        if not self.awaiting_results:
            self._due(now, reason)

    def _due(self, now: float, reason: str) -> None:
        """Rule 11: a reply is due from ``now`` (a later input restarts the wait)."""
        if self.reply_progress is not None and reason in ("speech-end", "transcription"):
            return  # the model is already answering
        self.reply_due = now
        self.reply_due_reason = reason
        self.reply_progress = None

    def _reply_part(self, now: float) -> None:
        """Rule 11: part of a reply came; it is under way."""
        self.reply_due = None
        self.reply_due_reason = None
        self.reply_progress = now

    def _reply_over(self) -> None:
        self.reply_due = None
        self.reply_due_reason = None
        self.reply_progress = None

    def _speech_end(self, now: float) -> None:
        """The user stopped speaking: the utterance's end of speech (rule 10)."""
        if self.transcribing and self.utterance.final is None:
            self.utterance.speech_end = now

    def _end_history(self) -> None:
        self.seeding_history = False

    def _user_input(self, now: float) -> None:
        if not self.turn.replying:
            self.turn.user_end = now
        model = self.model
        if model is not None and model.cancels_blocking_on_input:
            self.doomed = [call for call in self.tools.blocking if call.call.id]

    # -- server messages --------------------------------------------------------

    def server(self, message: t.LiveServerMessage, now: float) -> Turn | None:
        """Apply a server message; the exchange it completed, if it did."""
        turn = self.turn
        finished = None
        self.ended_utterance = None
        if self.transcribing:
            self._transcribe(message, now)
        if message.tool_call is not None:
            self._reply_over()  # the client owes the next step (rule 11)
            if turn.reply_start is None:
                turn.reply_start = now
            for call in message.tool_call.function_calls or ():
                self.tools.issue(call, now, self.blocking(call.name))
        if message.tool_call_cancellation is not None:
            for call_id in message.tool_call_cancellation.ids or ():
                self.tools.cancel(call_id)
        content = message.server_content
        if content is not None and not self.transcribing:
            self._reply_signs(content, now)
        if content is not None:
            if content.model_turn is not None:
                self.model_turn_active = True
                if content.model_turn.parts and turn.reply_start is None:
                    turn.reply_start = now
            if content.interrupted:
                turn.interrupted = True
                self.model_turn_active = False
            if content.generation_complete and turn.generation_complete is None:
                turn.generation_complete = now
            if content.turn_complete:
                self.model_turn_active = False
                turn.complete = now
                turn.status = content.interaction_status
                if turn.ends_interaction:
                    self.interaction_pending = False
                    self.interactions_completed += 1
                else:
                    self.interaction_pending = True
                    if not self.tools.open:  # the rest of the interaction is due
                        self._due(now, "interaction")
                self.turns_completed += 1
                finished = turn
                self.turn = Turn(self.turns_completed + 1)
        if message.go_away is not None:
            left = message.go_away.time_left
            self.go_away = (now, None if left is None else left.total_seconds())
        update = message.session_resumption_update
        if update is not None and update.resumable and update.new_handle:
            consumed = update.last_consumed_client_message_index
            self._issue_handle(
                update.new_handle,
                Handle(
                    index=self.message_index if consumed is None else consumed,
                    turns=self.turns_completed,
                    acknowledged=consumed is not None,
                    interactions=self.interactions_completed,
                ),
            )
        if message.usage_metadata is not None:
            self.usage.add(message.usage_metadata)
        return finished

    def _reply_signs(self, content: t.LiveServerContent, now: float) -> None:
        """Rule 11 on a conversation: what a ``serverContent`` says of the reply."""
        parts = content.model_turn.parts if content.model_turn is not None else None
        if parts or content.output_transcription is not None:
            self._reply_part(now)
        elif content.generation_complete and self.reply_progress is not None:
            self.reply_progress = now
        final = content.input_transcription
        if final is not None and final.text and self.reply_progress is None and not self.tools.open:
            self._due(now, "transcription")
        if content.interrupted or content.turn_complete:
            self._reply_over()

    def _transcribe(self, message: t.LiveServerMessage, now: float) -> None:
        """Rule 10: interim snapshots, the final, and the ``generationComplete`` that ends it."""
        utterance = self.utterance
        activity = message.voice_activity
        kind = activity.voice_activity_type if activity is not None else None
        if kind == "ACTIVITY_START":
            utterance.started = True
        elif kind == "ACTIVITY_END" and utterance.started:
            self._speech_end(now)
            if utterance.final is None and self.reply_progress is None:
                self._due(now, "speech-end")
        content = message.server_content
        if content is None:
            return
        interim = content.interim_input_transcription
        if interim is not None and interim.text is not None:
            utterance.started = True
            utterance.interims += 1
            if self.reply_due is not None or self.reply_progress is not None:
                self._reply_part(now)
            utterance.interim = interim.text
            if utterance.first_interim is None:
                utterance.first_interim = now
        final = content.input_transcription
        if final is not None and final.text is not None:
            utterance.final = (utterance.final or "") + final.text
            if utterance.final_t is None:
                utterance.final_t = now
            self._reply_part(now)
        if content.generation_complete and utterance.final is not None:
            self._reply_over()
            utterance.complete = now
            self.ended_utterance = utterance
            self.utterances_completed += 1
            self.utterance = Utterance(self.utterances_completed + 1)

    def _issue_handle(self, name: str, handle: Handle) -> None:
        self.handles[name] = handle
        self.handle = name
        while len(self.handles) > MAX_HANDLES:
            self.handles.popitem(last=False)

    # -- connections ------------------------------------------------------------

    def connection_lost(self) -> None:
        """The connection ended: the reply in flight with it, and the goAway it announced."""
        self.turn = Turn(self.turns_completed + 1)
        self.utterance = Utterance(self.utterances_completed + 1)
        self.model_turn_active = False
        self.go_away = None
        if self.reply_due is not None or self.reply_progress is not None:
            self.reply_lost = True  # owed again once a connection resumes (rule 11)
        self._reply_over()

    def resent_turn(self, now: float) -> None:
        """A resume re-sent a user turn (its last message ended it): its reply is
        due from ``now`` (rule 11, ``resume``), whatever the lost connection owed."""
        self.reply_lost = False
        self._due(now, "resume")

    def resumed(self, now: float) -> None:
        """A connection resumed the session and re-sent what its handle may lack:
        the reply a lost connection owed is due from ``now`` (rule 11, ``resume``)."""
        if self.reply_lost:
            self.reply_lost = False
            self._due(now, "resume")

    def restore(self, name: str) -> list[str]:
        """Go back to the state handle ``name`` holds (rule 5); the handles voided."""
        handle = self.handles[name]
        names = list(self.handles)
        later = names[names.index(name) + 1 :]
        for voided in later:
            del self.handles[voided]
        self.handle = name
        self.message_index = handle.index
        self.turns_completed = handle.turns
        self.interactions_completed = (
            handle.turns if handle.interactions is None else handle.interactions
        )
        self.interaction_pending = False
        self.turn = Turn(handle.turns + 1)
        self.model_turn_active = False
        self.go_away = None
        return later


def _is_user_input(realtime: t.LiveClientRealtimeInput) -> bool:
    """Whether realtime input carries the user's turn (rule 3): not video, not ``activityStart``."""
    chunks = realtime.media_chunks or ()
    return bool(
        realtime.audio is not None
        or realtime.text is not None
        or realtime.activity_end is not None
        or realtime.audio_stream_end
        or any((blob.mime_type or "").startswith("audio/") for blob in chunks)
    )
