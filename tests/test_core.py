"""The session's rules for either role (rawlive.core.state): frames and times in, no socket.

Each test feeds :class:`SessionState` wire frames as a client would send them
or a server would, decoded by the codec, with explicit times.
"""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from rawlive.core import models, watchdog
from rawlive.core.state import (
    MAX_HANDLES,
    UNSPECIFIED_MODALITY,
    Answer,
    SessionState,
    UsageTotals,
    call_key,
)
from rawlive.wire import codec
from rawlive.wire import types as t


def _client(state: SessionState, wire: dict[str, Any], now: float = 0.0) -> list[Any]:
    return state.client(codec.decode_client_message(msgspec.json.encode(wire)), now)


def _server(state: SessionState, wire: dict[str, Any], now: float = 0.0) -> Any:
    return state.server(codec.decode_server_message(msgspec.json.encode(wire)), now)


AUDIO = {"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/pcm;rate=16000"}}}
MODEL_AUDIO = {
    "serverContent": {
        "modelTurn": {"parts": [{"inlineData": {"data": "AAAA", "mimeType": "audio/pcm"}}]}
    }
}
TURN_COMPLETE = {"serverContent": {"turnComplete": True}}


def _tools(*declarations: dict[str, Any]) -> dict[str, Any]:
    return {"tools": [{"functionDeclarations": list(declarations)}]}


def _state(model: str = "models/gemini-live-2.5-flash", **setup: Any) -> SessionState:
    state = SessionState()
    _client(state, {"setup": {"model": model, **setup}})
    return state


# -- rule 1: the message index ------------------------------------------------


def test_every_client_message_but_setup_is_numbered_from_one() -> None:
    state = _state()
    assert state.message_index == 0
    _client(state, AUDIO)
    _client(state, {"clientContent": {"turnComplete": True}})
    _client(state, {"toolResponse": {"functionResponses": [{"id": "x", "name": "f"}]}})
    assert state.message_index == 3
    _client(state, {"setup": {"model": "models/m"}})  # a resume's setup
    assert state.message_index == 3


# -- rule 2: tool calls -------------------------------------------------------


def test_a_tool_call_is_open_until_its_response_settles_it() -> None:
    state = _state()
    _server(state, {"toolCall": {"functionCalls": [{"id": "c1", "name": "f"}]}}, now=1.0)
    assert list(state.tools.open) == ["c1"]
    assert state.tools.open["c1"].issued == 1.0
    answers = _client(state, {"toolResponse": {"functionResponses": [{"id": "c1", "name": "f"}]}})
    assert answers == [(Answer.SETTLED, "c1")]
    assert state.tools.open == {}
    assert state.tools.settled == {"c1"}


def test_will_continue_keeps_the_call_open() -> None:
    state = _state()
    _server(state, {"toolCall": {"functionCalls": [{"id": "c1", "name": "f"}]}})
    response = {"id": "c1", "name": "f", "willContinue": True}
    assert _client(state, {"toolResponse": {"functionResponses": [response]}}) == [
        (Answer.CONTINUING, "c1")
    ]
    assert "c1" in state.tools.open


def test_calls_without_an_id_are_kept_by_name_and_answered_by_name() -> None:
    state = _state()
    _server(state, {"toolCall": {"functionCalls": [{"name": "lookup", "args": {}}]}})
    assert list(state.tools.open) == ["name:lookup"]
    answers = _client(state, {"toolResponse": {"functionResponses": [{"name": "lookup"}]}})
    assert answers == [(Answer.SETTLED, "name:lookup")]
    assert state.tools.open == {}


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        ([], Answer.NEVER_ISSUED),
        ([{"toolCallCancellation": {"ids": ["c1"]}}], Answer.CANCELLED),
        ([], Answer.ALREADY_SETTLED),
    ],
    ids=["never-issued", "cancelled", "answered-twice"],
)
def test_a_response_that_settles_nothing_says_why(
    before: list[dict[str, Any]], expected: Answer
) -> None:
    state = _state()
    response = {"toolResponse": {"functionResponses": [{"id": "c1", "name": "f"}]}}
    if expected is not Answer.NEVER_ISSUED:
        _server(state, {"toolCall": {"functionCalls": [{"id": "c1", "name": "f"}]}})
    for message in before:
        _server(state, message)
    if expected is Answer.ALREADY_SETTLED:
        _client(state, response)
    assert _client(state, response) == [(expected, "c1")]


def test_a_response_with_neither_id_nor_name_is_anonymous() -> None:
    state = _state()
    assert _client(state, {"toolResponse": {"functionResponses": [{"response": {}}]}}) == [
        (Answer.ANONYMOUS, "?")
    ]


def test_cancellation_cancels_by_id() -> None:
    state = _state()
    calls = [{"id": "a", "name": "f"}, {"id": "b", "name": "f"}]
    _server(state, {"toolCall": {"functionCalls": calls}})
    _server(state, {"toolCallCancellation": {"ids": ["a", "never"]}})
    assert list(state.tools.open) == ["b"]
    assert state.tools.cancelled == {"a"}


def test_blocking_comes_from_the_declaration_else_the_model_default() -> None:
    state = _state(**_tools({"name": "slow"}, {"name": "fast", "behavior": "NON_BLOCKING"}))
    calls = [{"id": "1", "name": "slow"}, {"id": "2", "name": "fast"}, {"id": "3", "name": "x"}]
    _server(state, {"toolCall": {"functionCalls": calls}})
    assert [call.key for call in state.tools.blocking] == ["1", "3"]


def test_a_model_whose_default_is_non_blocking_makes_undeclared_behaviour_non_blocking() -> None:
    row = models.Model("future-live", native_audio=True, default_behavior="NON_BLOCKING")
    state = SessionState(model=row)
    _client(state, {"setup": {"model": "models/future-live", **_tools({"name": "f"})}})
    _server(state, {"toolCall": {"functionCalls": [{"id": "1", "name": "f"}]}})
    assert state.tools.blocking == []


def test_discard_ends_every_open_call() -> None:
    state = _state()
    _server(state, {"toolCall": {"functionCalls": [{"id": "a", "name": "f"}, {"name": "g"}]}})
    assert [call.key for call in state.tools.discard()] == ["a", "name:g"]
    assert state.tools.open == {}
    assert state.tools.cancelled == {"a", "name:g"}


def test_call_key() -> None:
    assert call_key("id", "name") == "id"
    assert call_key(None, "name") == "name:name"
    assert call_key("", None) is None


# -- rule 3: turns ------------------------------------------------------------


def test_a_turn_runs_from_the_last_user_input_to_turn_complete() -> None:
    state = _state()
    _client(state, AUDIO, now=1.0)
    _client(state, AUDIO, now=2.0)
    _server(state, {"serverContent": {"inputTranscription": {"text": "hi"}}}, now=2.2)
    assert state.turn.user_end == 2.0 and not state.turn.replying
    _server(state, MODEL_AUDIO, now=2.5)
    _client(state, AUDIO, now=2.6)  # the user goes on speaking: the reply had begun
    _server(state, {"serverContent": {"generationComplete": True}}, now=3.0)
    finished = _server(state, TURN_COMPLETE, now=3.5)
    assert finished is not None
    assert (finished.number, finished.user_end, finished.reply_start) == (1, 2.0, 2.5)
    assert (finished.generation_complete, finished.complete) == (3.0, 3.5)
    assert not finished.interrupted
    assert state.turns_completed == 1
    assert state.turn.number == 2 and state.turn.user_end is None


@pytest.mark.parametrize(
    "wire",
    [
        {"realtimeInput": {"text": "hi"}},
        {"realtimeInput": {"activityEnd": {}}},
        {"realtimeInput": {"audioStreamEnd": True}},
        {"realtimeInput": {"mediaChunks": [{"data": "AAAA", "mimeType": "audio/pcm"}]}},
        {"clientContent": {"turnComplete": True}},
    ],
)
def test_each_kind_of_user_input_ends_the_users_turn(wire: dict[str, Any]) -> None:
    state = _state()
    _client(state, wire, now=4.0)
    assert state.turn.user_end == 4.0


@pytest.mark.parametrize(
    "wire",
    [
        {"realtimeInput": {"video": {"data": "AAAA", "mimeType": "image/jpeg"}}},
        {"realtimeInput": {"activityStart": {}}},
        {"clientContent": {"turns": [{"role": "user", "parts": [{"text": "x"}]}]}},
    ],
)
def test_what_is_not_the_end_of_user_input(wire: dict[str, Any]) -> None:
    state = _state()
    _client(state, wire, now=4.0)
    assert state.turn.user_end is None


def test_a_tool_call_starts_the_reply_and_the_model_turn_flag_follows_model_turns() -> None:
    state = _state()
    _client(state, AUDIO, now=1.0)
    _server(state, {"toolCall": {"functionCalls": [{"id": "c", "name": "f"}]}}, now=1.5)
    assert state.turn.reply_start == 1.5
    assert not state.model_turn_active  # a reply paused for a tool is not speech
    _server(state, MODEL_AUDIO, now=2.0)
    assert state.model_turn_active and state.turn.reply_start == 1.5


def test_interrupted_marks_the_turn_and_stops_the_model_turn() -> None:
    state = _state()
    _server(state, MODEL_AUDIO, now=1.0)
    _server(state, {"serverContent": {"interrupted": True}}, now=1.2)
    assert state.turn.interrupted and not state.model_turn_active
    finished = _server(state, TURN_COMPLETE, now=1.3)
    assert finished is not None and finished.interrupted


def test_connection_lost_abandons_the_reply_in_flight_and_the_go_away() -> None:
    state = _state()
    _server(state, MODEL_AUDIO, now=1.0)
    _server(state, {"goAway": {"timeLeft": "5s"}}, now=1.0)
    state.connection_lost()
    assert not state.model_turn_active and not state.turn.replying
    assert state.go_away is None and state.turn.number == 1


# -- rule 4: usage ------------------------------------------------------------


def test_usage_adds_up_by_modality_with_one_key_for_none() -> None:
    state = _state()
    usage = {
        "promptTokenCount": 10,
        "responseTokenCount": 20,
        "totalTokenCount": 30,
        "thoughtsTokenCount": 2,
        "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 7}, {"tokenCount": 3}],
        "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}],
    }
    _server(state, {"usageMetadata": usage})
    _server(state, {"usageMetadata": usage})
    totals = state.usage
    assert (totals.reports, totals.prompt_tokens, totals.response_tokens) == (2, 20, 40)
    assert (totals.total_tokens, totals.thoughts_tokens) == (60, 4)
    assert totals.prompt_by_modality == {"AUDIO": 14, UNSPECIFIED_MODALITY: 6}
    assert totals.response_by_modality == {"AUDIO": 40}
    assert UNSPECIFIED_MODALITY == "MODALITY_UNSPECIFIED"


def test_usage_falls_back_to_candidates_details() -> None:
    state = _state()
    usage = {"candidatesTokensDetails": [{"modality": "TEXT", "tokenCount": 5}]}
    _server(state, {"usageMetadata": usage})
    assert state.usage.response_by_modality == {"TEXT": 5}


# -- rule 5: handles ----------------------------------------------------------


def _update(handle: str, *, resumable: bool = True, consumed: int | None = None) -> dict[str, Any]:
    update: dict[str, Any] = {"newHandle": handle, "resumable": resumable}
    if consumed is not None:
        update["lastConsumedClientMessageIndex"] = str(consumed)
    return {"sessionResumptionUpdate": update}


def test_a_handle_holds_the_acknowledged_index_else_every_message_so_far() -> None:
    state = _state()
    for _ in range(3):
        _client(state, AUDIO)
    _server(state, _update("h1"))
    _server(state, _update("h2", consumed=2))
    assert state.handles["h1"].index == 3 and not state.handles["h1"].acknowledged
    assert state.handles["h2"].index == 2 and state.handles["h2"].acknowledged
    assert state.handle == "h2"


def test_a_non_resumable_update_issues_nothing() -> None:
    state = _state()
    _server(state, _update("h1", resumable=False, consumed=1))
    _server(state, {"sessionResumptionUpdate": {"resumable": True}})
    assert state.handles == {} and state.handle is None


def test_restore_goes_back_to_the_handles_state_and_voids_later_handles() -> None:
    state = _state()
    _client(state, AUDIO)
    _server(state, TURN_COMPLETE)
    _server(state, _update("h1"))
    _client(state, AUDIO)
    _server(state, TURN_COMPLETE)
    _server(state, _update("h2"))
    _server(state, _update("h3"))
    assert state.restore("h1") == ["h2", "h3"]
    assert (state.message_index, state.turns_completed, state.turn.number) == (1, 1, 2)
    assert list(state.handles) == ["h1"] and state.handle == "h1"


def test_only_the_latest_handles_are_kept() -> None:
    state = _state()
    for n in range(MAX_HANDLES + 5):
        _server(state, _update(f"h{n}"))
    assert len(state.handles) == MAX_HANDLES
    assert next(iter(state.handles)) == "h5"


# -- rule 6: goAway -----------------------------------------------------------


def test_go_away_sets_a_deadline() -> None:
    state = _state()
    assert state.go_away_deadline is None
    _server(state, {"goAway": {"timeLeft": "2.5s"}}, now=10.0)
    assert state.go_away == (10.0, 2.5)
    assert state.go_away_deadline == 12.5
    _server(state, {"goAway": {}}, now=20.0)
    assert state.go_away_deadline == 20.0


# -- the state is the same whichever side feeds it ---------------------------


def test_a_client_and_a_server_fed_the_same_exchange_agree() -> None:
    """The emulator feeds what it consumes and sends, the client what it sends
    and receives; both see one exchange and must reach one state."""
    exchange: list[tuple[str, dict[str, Any]]] = [
        ("client", AUDIO),
        ("server", {"toolCall": {"functionCalls": [{"name": "f"}]}}),
        ("client", {"toolResponse": {"functionResponses": [{"name": "f"}]}}),
        ("server", MODEL_AUDIO),
        ("server", {"usageMetadata": {"totalTokenCount": 9}}),
        ("server", TURN_COMPLETE),
        ("server", _update("h", consumed=2)),
    ]
    sides = [_state(), _state()]
    for n, (sender, wire) in enumerate(exchange):
        for state in sides:
            (_client if sender == "client" else _server)(state, wire, float(n))
    a, b = sides
    assert (a.message_index, a.turns_completed, a.handle, a.usage) == (
        b.message_index,
        b.turns_completed,
        b.handle,
        b.usage,
    )
    assert (a.message_index, a.turns_completed, a.handle) == (2, 1, "h")
    assert a.tools.settled == {"name:f"}


def test_setup_configures_the_model_row() -> None:
    state = SessionState(t.LiveClientSetup(model="models/gemini-3.1-flash-live-preview"))
    assert state.model is models.MODELS["gemini-3.1-flash-live-preview"]


def test_a_call_with_neither_id_nor_name_cannot_be_kept() -> None:
    state = _state()
    _server(state, {"toolCall": {"functionCalls": [{"args": {}}]}})
    assert state.tools.open == {} and state.tools.issued == set()


# -- rule 7: clientContent on a model that takes it only as history -----------

HISTORY = {"clientContent": {"turns": [{"role": "user", "parts": [{"text": "x"}]}]}}
HISTORY_END = {"clientContent": {"turns": [], "turnComplete": True}}


def test_history_only_models_take_client_content_while_seeding_history() -> None:
    seeding = _state(
        "models/gemini-3.1-flash-live-preview",
        historyConfig={"initialHistoryInClientContent": True},
    )
    assert seeding.misplaced_client_content() is None
    _client(seeding, HISTORY)
    assert seeding.misplaced_client_content() is None and seeding.misplaced is None
    _client(seeding, HISTORY_END)  # judged before it ends the history: welcome
    assert seeding.misplaced is None
    assert "after the initial history" in (seeding.misplaced_client_content() or "")
    _client(seeding, HISTORY)
    assert "after the initial history" in (seeding.misplaced or "")
    _client(seeding, AUDIO)
    assert seeding.misplaced is None


def test_realtime_input_ends_the_history_too() -> None:
    seeding = _state(
        "models/gemini-3.1-flash-live-preview",
        historyConfig={"initialHistoryInClientContent": True},
    )
    _client(seeding, AUDIO)
    assert seeding.misplaced_client_content() is not None


def test_client_content_without_history_config_is_misplaced_on_31_only() -> None:
    on_31 = _state("models/gemini-3.1-flash-live-preview")
    assert "without historyConfig" in (on_31.misplaced_client_content() or "")
    assert _state("models/gemini-live-2.5-flash").misplaced_client_content() is None
    assert _state("models/unknown").misplaced_client_content() is None


def _usage(prompt: int, modality: str | None, response: int) -> t.UsageMetadata:
    return t.UsageMetadata(
        prompt_token_count=prompt,
        response_token_count=response,
        total_token_count=prompt + response,
        prompt_tokens_details=[t.ModalityTokenCount(modality=modality, token_count=prompt)],
        response_tokens_details=[t.ModalityTokenCount(modality="AUDIO", token_count=response)],
    )


def test_usage_totals_merge_as_if_one_had_taken_every_report() -> None:
    """A session's totals from its connections' (the report keeps one state per connection)."""
    reports = [_usage(10, "AUDIO", 4), _usage(3, None, 2), _usage(5, "TEXT", 1)]
    one = UsageTotals()
    for usage in reports:
        one.add(usage)
    first, second = UsageTotals(), UsageTotals()
    first.add(reports[0])
    second.add(reports[1])
    second.add(reports[2])
    merged = UsageTotals()
    merged.merge(first)
    merged.merge(second)
    assert merged == one
    assert merged.prompt_by_modality == {"AUDIO": 10, "MODALITY_UNSPECIFIED": 3, "TEXT": 5}
    assert (merged.reports, merged.total_tokens) == (3, 25)
    assert first.prompt_by_modality == {"AUDIO": 10}  # what was merged is left as it was


def test_rows_given_take_precedence_over_the_table() -> None:
    row = models.Model("gemini-live-2.5-flash", native_audio=False, default_behavior="NON_BLOCKING")
    state = SessionState(rows={row.id: row})
    _client(state, {"setup": {"model": "models/gemini-live-2.5-flash"}})
    assert state.model is row and not state.blocking("f")


# -- rule 7 on 3.8: every clientContent turn needs a role ----------------------


@pytest.mark.parametrize(
    ("turn", "refused"),
    [
        ({"parts": [{"text": "hi"}]}, "without a role"),
        ({"role": "system", "parts": [{"text": "hi"}]}, "with role 'system'"),
        ({"role": "user", "parts": [{"text": "hi"}]}, None),
        ({"role": "model", "parts": [{"text": "hi"}]}, None),
    ],
)
def test_38_takes_client_content_all_session_with_a_role(
    turn: dict[str, Any], refused: str | None
) -> None:
    state = _state("models/gemini-3.8-live")
    _client(state, AUDIO)
    _server(state, MODEL_AUDIO)
    _client(state, {"clientContent": {"turns": [turn], "turnComplete": True}})
    if refused is None:
        assert state.misplaced is None
    else:
        assert state.misplaced is not None and refused in state.misplaced
    # 2.5 takes a turn without a role (PROTOCOL.md §10.4).
    old = _state()
    _client(old, {"clientContent": {"turns": [{"parts": [{"text": "hi"}]}]}})
    assert old.misplaced is None


# -- rule 8: interactionStatus ------------------------------------------------


def test_an_interaction_ends_at_idle_when_the_status_is_given() -> None:
    state = _state("models/gemini-3.8-live-extended-thinking")
    _client(state, AUDIO, 1.0)
    _server(state, MODEL_AUDIO, 2.0)
    first = _server(
        state, {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}}, 3.0
    )
    assert first.status == "IN_PROGRESS" and not first.ends_interaction
    assert state.interaction_pending and state.interactions_completed == 0
    assert state.turns_completed == 1
    _server(state, MODEL_AUDIO, 4.0)
    last = _server(
        state, {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}}, 5.0
    )
    assert last.ends_interaction and not state.interaction_pending
    assert state.interactions_completed == 1 and state.turns_completed == 2


def test_a_tool_response_after_its_turn_ended_times_the_reply_it_prompts() -> None:
    # Extended thinking's filler turn carries the call and ends IN_PROGRESS; the
    # answer that follows the tool response is timed from that response
    # (PROTOCOL.md §10.6-§10.7), not left without a start.
    state = _state("models/gemini-3.8-live-extended-thinking")
    _client(state, AUDIO, 1.0)
    _server(state, {"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {}}]}}, 2.0)
    _server(
        state, {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}}, 3.0
    )
    assert state.turn.user_end is None
    _client(state, {"toolResponse": {"functionResponses": [{"id": "c1", "name": "f"}]}}, 4.0)
    assert state.turn.user_end == 4.0
    _server(state, MODEL_AUDIO, 4.5)
    last = _server(
        state, {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}}, 5.0
    )
    assert last.user_end == 4.0 and last.ends_interaction
    # Mid-turn (a BLOCKING call on 2.5) the turn keeps the user's end of speech.
    old = _state()
    _client(old, AUDIO, 1.0)
    _server(old, {"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {}}]}}, 2.0)
    _client(old, {"toolResponse": {"functionResponses": [{"id": "c1", "name": "f"}]}}, 3.0)
    assert old.turn.user_end == 1.0


def test_restore_goes_back_to_the_interactions_its_handle_held() -> None:
    # A filler turn ends with turnComplete but not the interaction: a handle
    # holds both counts, and restoring it gives both back (rules 5 and 8).
    state = _state("models/gemini-3.8-live-extended-thinking")
    in_progress = {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}}
    idle = {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}}
    _client(state, AUDIO)
    _server(state, in_progress)
    _server(state, idle)
    _server(state, _update("h1"))
    _client(state, AUDIO)
    _server(state, idle)
    assert (state.turns_completed, state.interactions_completed) == (3, 2)
    state.restore("h1")
    assert (state.turns_completed, state.interactions_completed) == (2, 1)
    assert not state.interaction_pending


@pytest.mark.parametrize(
    ("status", "ends"),
    [
        (None, True),
        ("INTERACTION_STATUS_UNSPECIFIED", True),
        ("REQUIRES_ACTION", True),
        ("IDLE", True),
        ("IN_PROGRESS", False),
    ],
)
def test_interaction_complete(status: str | None, ends: bool) -> None:
    assert models.interaction_complete(status) is ends


# -- rule 9: new input dooms a blocking call on 3.8 ----------------------------


def _call(call_id: str, name: str = "lookup") -> dict[str, Any]:
    return {"toolCall": {"functionCalls": [{"id": call_id, "name": name, "args": {}}]}}


def test_input_dooms_an_unanswered_blocking_call_on_38_only() -> None:
    for model, doomed in (("models/gemini-3.8-live", ["c1"]), ("models/gemini-live-2.5-flash", [])):
        state = _state(model, **_tools({"name": "lookup", "behavior": "BLOCKING"}, {"name": "bg"}))
        _client(state, AUDIO)
        _server(state, _call("c1"))
        _server(state, _call("c2", "bg"))
        _client(state, AUDIO)
        assert [call.key for call in state.doomed] == doomed, model
        # A toolResponse is not new input: nothing more is doomed by it.
        _client(state, {"toolResponse": {"functionResponses": [{"id": "c2", "name": "bg"}]}})
        assert state.doomed == []


def test_38_calls_are_non_blocking_unless_declared_blocking() -> None:
    state = _state(
        "models/gemini-3.8-live", **_tools({"name": "a"}, {"name": "b", "behavior": "BLOCKING"})
    )
    assert not state.blocking("a") and state.blocking("b")


def test_the_roles_part_of_rule_7_is_told_apart() -> None:
    """3.8's roles (client-content-role) and 3.1's timing (client-content-mid-session)."""
    on_38 = _state("models/gemini-3.8-live")
    _client(on_38, {"clientContent": {"turns": [{"parts": [{"text": "x"}]}]}})
    assert on_38.misplaced_role is not None and on_38.misplaced == on_38.misplaced_role
    _client(on_38, HISTORY)
    assert on_38.misplaced is None and on_38.misplaced_role is None
    on_31 = _state("models/gemini-3.1-flash-live-preview")
    _client(on_31, {"clientContent": {"turns": [{"parts": [{"text": "x"}]}]}})
    assert on_31.misplaced is not None and on_31.misplaced_role is None


# -- rule 10: utterances of a speech-to-text model -----------------------------


def _interim(text: str) -> dict[str, Any]:
    return {"serverContent": {"interimInputTranscription": {"text": text}}}


FINAL = {"serverContent": {"inputTranscription": {"text": "Zorblex the quaxil."}}}
GENERATION_COMPLETE = {"serverContent": {"generationComplete": True}}


def test_a_final_then_generation_complete_ends_an_utterance_on_transcribe_live() -> None:
    state = _state(
        "models/gemini-3.5-transcribe-live",
        generationConfig={"responseModalities": ["TEXT"]},
        realtimeInputConfig={"automaticActivityDetection": {"disabled": True}},
    )
    assert state.transcribing
    _client(state, {"realtimeInput": {"activityStart": {}}}, 0.5)
    _client(state, AUDIO, 1.0)
    _server(state, _interim("zorblex"), 1.2)
    _server(state, _interim("zorblex the"), 1.6)
    _client(state, {"realtimeInput": {"activityEnd": {}}}, 2.0)
    _server(state, GENERATION_COMPLETE, 2.1)  # before the final: ends nothing
    assert state.ended_utterance is None and state.utterances_completed == 0
    _server(state, FINAL, 2.4)
    assert state.ended_utterance is None
    assert _server(state, GENERATION_COMPLETE, 2.5) is None  # (no turn ends)
    done = state.ended_utterance
    assert done is not None and state.utterances_completed == 1
    assert (done.interims, done.interim, done.final) == (2, "zorblex the", "Zorblex the quaxil.")
    assert done.first_interim == 1.2 and done.complete == 2.5
    assert done.to_final == pytest.approx(0.4)
    assert state.utterance.number == 2 and state.utterance.interims == 0
    assert state.turns_completed == 0
    # The next message ends none. The server's ACTIVITY_END echo that follows
    # a generationComplete (§10.8's probe order) is the ended utterance's, not
    # the next one's end of speech; once the next one began, it is its own.
    activity_end = {"serverContent": {}, "voiceActivity": {"type": "ACTIVITY_END"}}
    _server(state, activity_end, 2.6)
    assert state.ended_utterance is None and state.utterance.speech_end is None
    _server(state, {"serverContent": {}, "voiceActivity": {"type": "ACTIVITY_START"}}, 3.0)
    _server(state, activity_end, 4.0)
    assert state.utterance.speech_end == 4.0
    state.utterance = type(state.utterance)(3)
    _server(state, _interim("and"), 4.5)  # an interim also says it began
    _server(state, activity_end, 5.0)
    assert state.utterance.speech_end == 5.0


def test_utterances_are_transcribe_lives_only() -> None:
    state = _state("models/gemini-3.8-live")
    assert not state.transcribing
    _client(state, AUDIO, 1.0)
    _server(state, {"serverContent": {"inputTranscription": {"text": "hi"}}}, 1.1)
    _server(state, GENERATION_COMPLETE, 1.2)
    assert state.ended_utterance is None and state.utterances_completed == 0
    assert state.utterance.final is None


# -- rule 11: a reply is due; the watchdog ------------------------------------


TEXT_IN = {"realtimeInput": {"text": "hi"}}
CALL = {"toolCall": {"functionCalls": [{"id": "c1", "name": "f", "args": {}}]}}


def _response(scheduling: str | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"id": "c1", "name": "f", "response": {}}
    if scheduling:
        response["scheduling"] = scheduling
    return {"toolResponse": {"functionResponses": [response]}}


@pytest.mark.parametrize(
    ("message", "reason"),
    [
        ({"realtimeInput": {"activityEnd": {}}}, "activity-end"),
        (TEXT_IN, "text"),
        ({"clientContent": {"turns": [], "turnComplete": True}}, "client-content"),
    ],
)
def test_a_reply_is_due_when_the_users_turn_ends(message: dict[str, Any], reason: str) -> None:
    state = _state()
    _client(state, AUDIO, 1.0)
    assert state.reply_due is None  # audio alone says nothing of the turn's end
    _client(state, message, 2.0)
    assert (state.reply_due, state.reply_due_reason) == (2.0, reason)
    assert watchdog.deadline(state) == 2.0 + watchdog.DEFAULT_POLICY.first_reply
    _server(state, MODEL_AUDIO, 3.0)
    assert state.reply_due is None and state.reply_progress == 3.0
    _server(state, {"serverContent": {"outputTranscription": {"text": "hi"}}}, 3.5)
    assert state.reply_progress == 3.5
    _server(state, {"serverContent": {"generationComplete": True}}, 4.0)
    assert state.reply_progress == 4.0
    _server(state, TURN_COMPLETE, 4.1)
    assert state.reply_due is None and state.reply_progress is None
    assert watchdog.deadline(state) is None


def test_speech_a_detector_found_and_audio_stream_end_after_it_make_a_reply_due() -> None:
    state = _state()
    state.speech_ended(0.5)  # no speech began: nothing ends
    assert state.reply_due is None
    state.speech_started(1.0)
    _client(state, AUDIO, 1.2)
    state.speech_ended(2.0)
    assert (state.reply_due, state.reply_due_reason) == (2.0, "speech-end")
    _server(state, MODEL_AUDIO, 2.5)
    _server(state, TURN_COMPLETE, 3.0)
    # audioStreamEnd flushes speech still going on; after silence it asks nothing.
    _client(state, {"realtimeInput": {"audioStreamEnd": True}}, 4.0)
    assert state.reply_due is None
    state.speech_started(5.0)
    _client(state, {"realtimeInput": {"audioStreamEnd": True}}, 6.0)
    assert (state.reply_due, state.reply_due_reason) == (6.0, "audio-stream-end")


def test_a_final_input_transcription_says_the_server_heard_the_user() -> None:
    state = _state()
    _client(state, AUDIO, 1.0)
    _server(state, {"serverContent": {"inputTranscription": {"text": "hello"}}}, 2.0)
    assert (state.reply_due, state.reply_due_reason) == (2.0, "transcription")
    _server(state, MODEL_AUDIO, 2.5)
    # Transcription that trails into the reply does not make it due again.
    _server(state, {"serverContent": {"inputTranscription": {"text": " there"}}}, 2.6)
    assert state.reply_due is None and state.reply_progress == 2.5


def test_tool_calls_hand_the_wait_to_the_client_and_responses_back() -> None:
    state = _state()
    _client(state, TEXT_IN, 1.0)
    _server(state, CALL, 2.0)
    assert state.reply_due is None and state.reply_progress is None  # the client owes
    assert watchdog.stalled(state, 100.0) is None
    _client(state, _response(), 3.0)
    assert (state.reply_due, state.reply_due_reason) == (3.0, "tool-response")
    # A SILENT result asks for no reply (PROTOCOL.md §10.5).
    quiet = _state("models/gemini-3.8-live")
    _server(quiet, CALL, 1.0)
    _client(quiet, _response("SILENT"), 2.0)
    assert quiet.reply_due is None


def test_an_in_progress_interaction_with_no_call_open_is_still_due() -> None:
    state = _state("models/gemini-3.8-live-extended-thinking")
    _client(state, TEXT_IN, 1.0)
    _server(state, MODEL_AUDIO, 1.5)
    _server(state, CALL, 1.6)
    in_progress = {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}}
    _server(state, in_progress, 2.0)
    assert state.reply_due is None  # the call is the client's to answer
    _client(state, _response(), 3.0)
    _server(state, MODEL_AUDIO, 3.5)
    _server(state, in_progress, 4.0)  # background work: more output follows
    assert (state.reply_due, state.reply_due_reason) == (4.0, "interaction")
    idle = {"serverContent": {"turnComplete": True, "interactionStatus": "IDLE"}}
    _server(state, MODEL_AUDIO, 5.0)
    _server(state, idle, 5.5)
    assert state.reply_due is None and state.reply_progress is None


def test_an_interruption_ends_the_reply_and_a_lost_connection_every_wait() -> None:
    state = _state()
    _client(state, TEXT_IN, 1.0)
    _server(state, MODEL_AUDIO, 2.0)
    _server(state, {"serverContent": {"interrupted": True}}, 2.5)
    assert state.reply_progress is None and state.reply_due is None
    _client(state, TEXT_IN, 3.0)
    state.connection_lost()
    assert state.reply_due is None and watchdog.deadline(state) is None


def test_a_resumed_connection_owes_the_reply_the_lost_one_owed() -> None:
    state = _state()
    _client(state, TEXT_IN, 1.0)
    state.connection_lost()
    state.connection_lost()  # a failed resume attempt loses nothing more
    assert state.reply_due is None and watchdog.deadline(state) is None
    state.resumed(5.0)
    assert (state.reply_due, state.reply_due_reason) == (5.0, "resume")
    # A reply cut off by the loss is owed again too, from the resume.
    _server(state, MODEL_AUDIO, 6.0)
    state.connection_lost()
    state.resumed(8.0)
    assert (state.reply_due, state.reply_due_reason) == (8.0, "resume")
    stall = watchdog.stalled(state, 8.0 + watchdog.DEFAULT_POLICY.first_reply)
    assert stall is not None and stall.reason == "resume"
    # Nothing owed when the connection went: a resume asks for nothing.
    _server(state, MODEL_AUDIO, 9.0)
    _server(state, TURN_COMPLETE, 9.5)
    state.connection_lost()
    state.resumed(10.0)
    assert state.reply_due is None and watchdog.deadline(state) is None


def test_transcribe_live_owes_the_final_of_an_utterance_it_heard() -> None:
    state = _state(
        "models/gemini-3.5-transcribe-live", generationConfig={"responseModalities": ["TEXT"]}
    )
    _client(state, {"realtimeInput": {"audioStreamEnd": True}}, 0.5)
    assert state.reply_due is None  # nothing heard: nothing owed
    _server(state, {"voiceActivity": {"type": "ACTIVITY_START"}}, 1.0)
    _server(state, _interim("zorblex"), 1.5)
    assert state.reply_due is None
    _server(state, {"voiceActivity": {"type": "ACTIVITY_END"}}, 2.0)
    assert (state.reply_due, state.reply_due_reason) == (2.0, "speech-end")
    _server(state, FINAL, 2.4)
    assert state.reply_due is None and state.reply_progress == 2.4
    _server(state, GENERATION_COMPLETE, 2.5)
    assert state.reply_due is None and state.reply_progress is None
    # The ACTIVITY_END echo after generationComplete asks for nothing more.
    _server(state, {"voiceActivity": {"type": "ACTIVITY_END"}}, 2.6)
    assert state.reply_due is None


def test_the_watchdog_judges_each_wait_by_its_own_limit() -> None:
    policy = watchdog.StallPolicy(first_reply=10.0, gap=2.0)
    state = _state()
    _client(state, TEXT_IN, 1.0)
    assert watchdog.deadline(state, policy) == 11.0
    assert watchdog.stalled(state, 10.9, policy) is None
    stall = watchdog.stalled(state, 11.5, policy)
    assert stall == watchdog.Stall(watchdog.StallKind.NO_REPLY, 1.0, 10.5, "text")
    _server(state, MODEL_AUDIO, 12.0)
    assert watchdog.deadline(state, policy) == 14.0
    assert watchdog.stalled(state, 13.9, policy) is None
    cut = watchdog.stalled(state, 15.0, policy)
    assert cut is not None and cut.kind is watchdog.StallKind.REPLY_STOPPED
    assert (cut.since, cut.waited, cut.reason) == (12.0, 3.0, None)
    with pytest.raises(ValueError, match="first_reply must be a positive number"):
        watchdog.StallPolicy(first_reply=0)


@pytest.mark.parametrize(
    ("model", "behavior", "due"),
    [
        # A BLOCKING call holds the answer until its result (2.5) ...
        ("models/gemini-2.5-flash-native-audio-preview-12-2025", None, None),
        # ... unless new input cancels it (3.8, §10.5): then the input is answered.
        ("models/gemini-3.8-live", "BLOCKING", 2.0),
        # 3.8 waits for a NON_BLOCKING call's result before it answers (§10.5).
        ("models/gemini-3.8-live", "NON_BLOCKING", None),
        # A NON_BLOCKING call elsewhere holds nothing.
        ("models/gemini-2.5-flash-native-audio-preview-12-2025", "NON_BLOCKING", 2.0),
    ],
)
def test_input_while_the_model_awaits_a_result_is_due_only_once_the_result_comes(
    model: str, behavior: str | None, due: float | None
) -> None:
    declaration: dict[str, Any] = {"name": "f"}
    if behavior:
        declaration["behavior"] = behavior
    state = _state(model, tools=[{"functionDeclarations": [declaration]}])
    _client(state, TEXT_IN, 1.0)
    _server(state, CALL, 1.5)
    _client(state, {"realtimeInput": {"text": "and also?"}}, 2.0)
    assert state.reply_due == due
    assert state.awaiting_results is (due is None)
    # Whatever held it, a slow tool is the client's time, never a stall.
    _client(state, _response(), 30.0)
    assert (state.reply_due, state.reply_due_reason) == (30.0, "tool-response")
    assert watchdog.stalled(state, 31.0) is None
