"""The sans-I/O session core: its rules, tested without any socket."""

from __future__ import annotations

import msgspec
import pytest

from rawlive.core.protocol import (
    LocalProtocolError,
    Protocol,
    RemoteProtocolError,
    State,
    resume_again,
    retry_resume,
)
from rawlive.wire import codec
from rawlive.wire import types as t

SETUP_COMPLETE = b'{"setupComplete":{}}'


def _setup(**resumption: object) -> t.LiveClientSetup:
    config = t.SessionResumptionConfig(**resumption) if resumption else None  # type: ignore[arg-type]
    return t.LiveClientSetup(model="models/m", session_resumption=config)


def _text(text: str) -> t.LiveClientRealtimeInput:
    return t.LiveClientRealtimeInput(text=text)


def _opened(setup: t.LiveClientSetup) -> Protocol:
    protocol = Protocol(setup)
    protocol.open()
    protocol.receive(SETUP_COMPLETE, now=0.0)
    return protocol


def _sent_texts(frames: list[bytes]) -> list[str]:
    return [msgspec.json.decode(f)["realtimeInput"]["text"] for f in frames]


def _update(handle: str, *, resumable: bool = True, consumed: int | None = None) -> bytes:
    update: dict[str, object] = {"newHandle": handle, "resumable": resumable}
    if consumed is not None:
        update["lastConsumedClientMessageIndex"] = str(consumed)
    return msgspec.json.encode({"sessionResumptionUpdate": update})


def test_open_returns_the_setup_frame() -> None:
    protocol = Protocol(_setup())
    assert protocol.open() == b'{"setup":{"model":"models/m"}}'
    assert protocol.state is State.SETUP_SENT


def test_setup_complete_opens_the_session_and_keeps_a_vertex_session_id() -> None:
    protocol = Protocol(_setup())
    protocol.open()
    protocol.receive(b'{"setupComplete":{"sessionId":"abc"}}', now=0.0)
    assert protocol.state is State.OPEN
    assert protocol.session_id == "abc"


def test_a_first_message_other_than_setup_complete_is_a_protocol_error() -> None:
    protocol = Protocol(_setup())
    protocol.open()
    with pytest.raises(RemoteProtocolError, match="serverContent"):
        protocol.receive(b'{"serverContent":{"turnComplete":true}}', now=0.0)


def test_an_unknown_kind_first_is_a_protocol_error_not_a_skip() -> None:
    protocol = Protocol(_setup())
    protocol.open()
    with pytest.raises(RemoteProtocolError, match="setupComplete"):
        protocol.receive(b'{"somethingNew":{}}', now=0.0)


def test_nothing_can_be_sent_before_setup_complete() -> None:
    protocol = Protocol(_setup())
    protocol.open()
    with pytest.raises(LocalProtocolError, match="before setupComplete"):
        protocol.send(_text("early"))


def test_unknown_kinds_after_setup_are_skipped_with_a_warning() -> None:
    protocol = _opened(_setup())
    assert protocol.receive(b'{"somethingNew":{}}', now=1.0) is None
    assert "unknown kind" in protocol.warnings[0]


def test_client_messages_are_numbered_from_one_across_connections() -> None:
    protocol = _opened(_setup(handle=None))
    protocol.send(_text("a"))
    protocol.send(_text("b"))
    protocol.connection_lost()
    protocol.open()
    protocol.receive(SETUP_COMPLETE, now=0.0)
    protocol.send(_text("c"))
    assert protocol.message_index == 3


def test_a_lost_connection_takes_the_reply_it_owed_until_a_resume() -> None:
    protocol = _opened(_setup(handle=None))
    protocol.send(_text("a"), now=1.0)
    assert protocol.session.reply_due == 1.0
    protocol.connection_lost()
    # Nothing is owed by a connection that is gone (the watchdog waits for none)...
    assert protocol.session.reply_due is None and protocol.session.reply_lost
    protocol.open()
    protocol.receive(SETUP_COMPLETE, now=2.0)
    # ...until the resumed one has re-sent what it kept (state rule 11).
    protocol.session.resumed(2.5)
    assert (protocol.session.reply_due, protocol.session.reply_due_reason) == (2.5, "resume")


def test_without_resumption_nothing_is_kept() -> None:
    protocol = _opened(_setup())
    protocol.send(_text("a"))
    assert protocol.replay() == []


def test_resume_sends_the_latest_resumable_handle_in_setup() -> None:
    protocol = _opened(_setup(handle=None))
    protocol.receive(_update("h1"), now=1.0)
    protocol.receive(_update("", resumable=False), now=2.0)
    protocol.connection_lost()
    setup = msgspec.json.decode(protocol.open())["setup"]
    assert setup["sessionResumption"] == {"handle": "h1"}
    assert protocol.resuming


def test_non_transparent_replay_is_what_was_sent_since_the_last_resumable_update() -> None:
    protocol = _opened(_setup(handle=None))
    protocol.send(_text("a"))
    protocol.receive(_update("h1"), now=1.0)
    protocol.send(_text("b"))
    protocol.receive(_update("", resumable=False), now=2.0)
    protocol.send(_text("c"))
    assert _sent_texts(protocol.replay()) == ["b", "c"]


def test_transparent_replay_is_exactly_what_follows_the_last_consumed_index() -> None:
    protocol = _opened(_setup(transparent=True))
    for text in "abcd":
        protocol.send(_text(text))
    protocol.receive(_update("h1", consumed=2), now=1.0)
    assert _sent_texts(protocol.replay()) == ["c", "d"]
    protocol.receive(_update("h2", consumed=3), now=1.0)
    assert _sent_texts(protocol.replay()) == ["d"]
    assert protocol.handle == "h2"


MODEL_TEXT = msgspec.json.encode({"serverContent": {"modelTurn": {"parts": [{"text": "hi"}]}}})
TURN_COMPLETE = msgspec.json.encode({"serverContent": {"turnComplete": True}})


def test_the_replay_comes_a_user_turn_at_a_time() -> None:
    # Rule 3: the replay is cut after each message that ended a user turn (the
    # client session marks those: a reply became due with them).
    protocol = _opened(_setup(handle=None))
    for text in ("a", "b"):
        protocol.send(_text(text))
        protocol.mark_turn_end()
    protocol.send(_text("c"))  # (not marked: the user had not finished)
    assert [(_sent_texts(frames), ends) for frames, ends in protocol.replay_turns()] == [
        (["a"], True),
        (["b"], True),
        (["c"], False),
    ]
    assert protocol.replay() == [f for frames, _ in protocol.replay_turns() for f in frames]


def test_after_a_stall_the_unanswered_turn_is_re_sent_even_where_a_handle_holds_it() -> None:
    protocol = _opened(_setup(handle=None))
    protocol.send(_text("a"), now=1.0)
    protocol.receive(MODEL_TEXT, now=1.5)
    protocol.receive(TURN_COMPLETE, now=2.0)  # "a" answered
    protocol.send(_text("b"), now=3.0)  # owed, and then the server stalls...
    protocol.receive(_update("h1"), now=3.1)  # ...with a handle that holds "b"
    protocol.connection_lost()
    assert protocol.session.reply_lost
    # A drop or a goAway: the handle holds "b", nothing is re-sent (no turn twice).
    assert protocol.replay() == []
    # A stall: the state holds "b" but never answers it; "b" goes again, "a" not.
    protocol.stalled = True
    assert _sent_texts(protocol.replay()) == ["b"] and protocol.replay_from == 2
    assert protocol.kept_messages == 1


def test_the_kept_unanswered_turn_is_bounded() -> None:
    from rawlive.core.protocol import MAX_HELD_KEPT

    protocol = _opened(_setup(handle=None))
    for _ in range(MAX_HELD_KEPT + 10):
        protocol.send(t.LiveClientRealtimeInput(audio_stream_end=True))
    protocol.receive(_update("h1"), now=1.0)  # no reply ever: all one "turn"
    protocol.send(_text("z"), now=2.0)
    protocol.connection_lost()
    protocol.stalled = True
    assert protocol.kept_messages == MAX_HELD_KEPT + 1


def _bounded(limit: int | None) -> Protocol:
    protocol = Protocol(_setup(transparent=False), max_kept_bytes=limit)
    protocol.open()
    protocol.receive(SETUP_COMPLETE, now=0.0)
    return protocol


def test_the_kept_messages_are_bounded_in_bytes_the_oldest_dropped() -> None:
    texts = [f"{i:03d}" + "x" * 96 for i in range(50)]
    size = len(codec.encode_client_message(_text(texts[0])))
    protocol = _bounded(10 * size)
    for text in texts:
        protocol.send(_text(text))
    # The latest ten whole frames, however many were sent.
    assert _sent_texts(protocol.replay()) == texts[-10:]
    assert protocol.kept_bytes == 10 * size
    assert protocol.dropped == 40
    # A resume now lacks messages 1 to 40: no handle holds them.
    assert protocol.replay_gap == (1, 40)
    assert protocol.replay_from == 41
    # Said once, not per message dropped.
    [warning] = [w for w in protocol.warnings if "dropped" in w]
    assert f"passed {10 * size / 1024:.3g} KiB" in warning, warning


def test_a_handle_that_holds_the_dropped_messages_closes_the_gap() -> None:
    texts = [f"{i:03d}" + "x" * 96 for i in range(30)]
    size = len(codec.encode_client_message(_text(texts[0])))
    protocol = _bounded(10 * size)
    for text in texts[:20]:
        protocol.send(_text(text))
    assert protocol.replay_gap == (1, 10)
    protocol.receive(_update("h1"), now=1.0)  # holds all 20
    assert protocol.replay_gap is None
    assert protocol.replay() == []
    # (still kept, as the user turn no reply has begun to: re-sent after a stall)
    assert protocol.kept_bytes == 10 * size
    for text in texts[20:]:
        protocol.send(_text(text))
    assert _sent_texts(protocol.replay()) == texts[20:]
    assert protocol.replay_gap is None
    assert protocol.kept_bytes == 10 * size


def test_a_frame_larger_than_the_bound_is_still_kept_alone() -> None:
    protocol = _bounded(10)
    protocol.send(_text("a" * 100))
    protocol.send(_text("b" * 100))
    assert _sent_texts(protocol.replay()) == ["b" * 100]
    assert protocol.replay_gap == (1, 1)


def test_no_bound_keeps_everything() -> None:
    protocol = _bounded(None)
    for i in range(200):
        protocol.send(_text("y" * 1000 + str(i)))
    assert protocol.kept_messages == 200 and protocol.dropped == 0


def test_a_non_resumable_update_never_trims_the_replay_buffer() -> None:
    protocol = _opened(_setup(transparent=True))
    for text in "abc":
        protocol.send(_text(text))
    protocol.receive(_update("h1", consumed=1), now=1.0)
    protocol.receive(_update("", resumable=False, consumed=3), now=2.0)
    assert _sent_texts(protocol.replay()) == ["b", "c"]
    assert protocol.handle == "h1"


def test_tool_calls_are_outstanding_until_answered() -> None:
    protocol = _opened(_setup())
    protocol.receive(
        b'{"toolCall":{"functionCalls":[{"id":"fc-1","name":"f"},{"id":"fc-2","name":"g"}]}}',
        now=1.0,
    )
    assert set(protocol.tool_calls) == {"fc-1", "fc-2"}
    protocol.send(t.LiveClientToolResponse(function_responses=[t.FunctionResponse(id="fc-1")]))
    assert set(protocol.tool_calls) == {"fc-2"}
    assert protocol.warnings == []


def test_will_continue_keeps_the_call_outstanding() -> None:
    protocol = _opened(_setup())
    protocol.receive(b'{"toolCall":{"functionCalls":[{"id":"fc-1","name":"f"}]}}', now=1.0)
    protocol.send(
        t.LiveClientToolResponse(
            function_responses=[t.FunctionResponse(id="fc-1", will_continue=True)]
        )
    )
    assert "fc-1" in protocol.tool_calls


@pytest.mark.parametrize(
    ("server_frames", "answer_twice", "warning"),
    [
        ([], False, "never issued"),
        ([b'{"toolCallCancellation":{"ids":["fc-1"]}}'], False, "cancelled"),
        ([], True, "already answered"),
    ],
)
def test_doubtful_tool_responses_are_sent_but_warned(
    server_frames: list[bytes], answer_twice: bool, warning: str
) -> None:
    protocol = _opened(_setup())
    if server_frames or answer_twice:
        protocol.receive(b'{"toolCall":{"functionCalls":[{"id":"fc-1","name":"f"}]}}', now=1.0)
    for frame in server_frames:
        protocol.receive(frame, now=1.0)
    response = t.LiveClientToolResponse(function_responses=[t.FunctionResponse(id="fc-1")])
    if answer_twice:
        protocol.send(response)
    frame = protocol.send(response)
    assert b"fc-1" in frame
    assert len(protocol.warnings) == 1 and warning in protocol.warnings[0]


def test_calls_without_an_id_are_matched_by_name() -> None:
    protocol = _opened(_setup())
    protocol.receive(b'{"toolCall":{"functionCalls":[{"name":"lights","args":{}}]}}', now=1.0)
    assert list(protocol.tool_calls) == ["name:lights"]
    protocol.send(
        t.LiveClientToolResponse(
            function_responses=[t.FunctionResponse(name="lights", response={"ok": True})]
        )
    )
    assert protocol.tool_calls == {}
    assert protocol.warnings == []


def test_go_away_sets_a_deadline_from_the_callers_clock() -> None:
    protocol = _opened(_setup())
    protocol.receive(b'{"goAway":{"timeLeft":"1.5s"}}', now=100.0)
    assert protocol.go_away_deadline == 101.5


def test_usage_reports_add_up_by_modality_under_both_backends_names() -> None:
    protocol = _opened(_setup())
    gemini = {
        "usageMetadata": {
            "promptTokenCount": 10,
            "responseTokenCount": 20,
            "totalTokenCount": 30,
            "promptTokensDetails": [{"modality": "AUDIO", "tokenCount": 10}],
            "responseTokensDetails": [{"modality": "AUDIO", "tokenCount": 20}],
        }
    }
    vertex = {
        "serverContent": {"turnComplete": True},
        "usageMetadata": {
            "promptTokenCount": "5",
            "candidatesTokenCount": 7,
            "totalTokenCount": 12,
            "candidatesTokensDetails": [
                {"modality": "TEXT", "tokenCount": 7},
                {"modality": "AUDIO"},
            ],
        },
    }
    protocol.receive(msgspec.json.encode(gemini), now=1.0)
    protocol.receive(msgspec.json.encode(vertex), now=2.0)
    usage = protocol.usage
    assert (usage.reports, usage.prompt_tokens, usage.response_tokens, usage.total_tokens) == (
        2,
        15,
        27,
        42,
    )
    assert usage.prompt_by_modality == {"AUDIO": 10}
    assert usage.response_by_modality == {"AUDIO": 20, "TEXT": 7}


def test_turn_state_follows_model_output_and_turn_signals() -> None:
    protocol = _opened(_setup())
    protocol.receive(b'{"serverContent":{"modelTurn":{"parts":[{"text":"hi"}]}}}', now=1.0)
    assert protocol.model_turn_active
    protocol.receive(b'{"serverContent":{"interrupted":true}}', now=1.0)
    assert not protocol.model_turn_active
    protocol.receive(b'{"serverContent":{"turnComplete":true}}', now=1.0)
    assert protocol.turns_completed == 1


def test_a_closed_session_cannot_open_again() -> None:
    protocol = _opened(_setup())
    protocol.close()
    with pytest.raises(LocalProtocolError, match="closed"):
        protocol.open()


def test_sent_frames_are_the_codecs_frames() -> None:
    protocol = _opened(_setup())
    message = _text("hello")
    assert protocol.send(message) == codec.encode_client_message(message)


@pytest.mark.parametrize(
    ("close_code", "retried"),
    [(None, True), (1006, True), (1011, True), (1000, True), (1007, False), (1008, False)],
)
def test_a_failed_resume_attempt_is_retried_unless_it_ended_with_a_fatal_close(
    close_code: int | None, retried: bool
) -> None:
    assert retry_resume(close_code) is retried


# -- rule 9: resumes that make no progress ------------------------------------------

CONTENT = b'{"serverContent":{"turnComplete":true}}'
GO_AWAY = b'{"goAway":{"timeLeft":"0s"}}'


def _resumed(protocol: Protocol, *frames: bytes) -> None:
    """The connection ends; a resume opens the next, which receives ``frames``."""
    protocol.connection_lost()
    protocol.open()
    protocol.receive(SETUP_COMPLETE, now=0.0)
    for frame in frames:
        protocol.receive(frame, now=0.0)


def test_resumed_connections_that_end_with_nothing_new_are_counted_in_a_row() -> None:
    protocol = _opened(_setup())
    protocol.receive(_update("h-1"), now=0.0)
    protocol.connection_lost()  # the first connection is no resume: not counted
    assert protocol.resumes_without_progress == 0
    for count in (1, 2, 3):
        # The same handle again, a goAway: neither is progress.
        _resumed(protocol, _update("h-1"), GO_AWAY)
        protocol.connection_lost()
        assert protocol.resumes_without_progress == count
        protocol.connection_lost()  # (again: still the same end)
        assert protocol.resumes_without_progress == count


def test_failed_attempts_are_rule_8s_and_not_counted_here() -> None:
    protocol = _opened(_setup())
    for _ in range(3):
        protocol.connection_lost()
        protocol.open()  # no setupComplete: the attempt fails
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 0


@pytest.mark.parametrize(
    "frame",
    [
        CONTENT,
        b'{"toolCall":{"functionCalls":[{"id":"c1","name":"f"}]}}',
        b'{"usageMetadata":{"totalTokenCount":3}}',
        b'{"voiceActivity":{"type":"ACTIVITY_START"}}',
    ],
)
def test_any_other_server_message_is_progress_and_starts_the_count_again(frame: bytes) -> None:
    protocol = _opened(_setup())
    _resumed(protocol)
    _resumed(protocol)
    assert protocol.resumes_without_progress == 1
    _resumed(protocol, frame)
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 0


def test_an_update_that_acknowledges_a_new_message_is_progress() -> None:
    protocol = _opened(_setup())
    protocol.send(_text("one"))
    _resumed(protocol)
    # A handle whose state holds the message: progress, once.
    _resumed(protocol, _update("h-1"))
    _resumed(protocol, _update("h-2"))
    protocol.send(_text("two"))  # sent on this connection, acknowledged on the next
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 1
    _resumed(protocol, _update("h-3"))
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 0


def test_in_transparent_mode_only_a_later_consumed_index_is_progress() -> None:
    protocol = _opened(_setup(transparent=True))
    for text in ("one", "two"):
        protocol.send(_text(text))
    _resumed(protocol, _update("h-1"))  # no index: acknowledges nothing
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 1
    _resumed(protocol, _update("h-2", consumed=1))
    _resumed(protocol, _update("h-3", consumed=1))
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 1  # the same index again
    _resumed(protocol, _update("h-4", consumed=2))
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 0


def test_a_non_resumable_update_acknowledges_nothing() -> None:
    protocol = _opened(_setup())
    protocol.send(_text("one"))
    _resumed(protocol, _update("h-1", resumable=False))
    protocol.connection_lost()
    assert protocol.resumes_without_progress == 1


@pytest.mark.parametrize(
    ("count", "limit", "again"),
    [(0, 3, True), (2, 3, True), (3, 3, False), (4, 3, False), (0, 1, True), (1, 1, False)],
)
def test_the_session_resumes_again_until_the_limit_of_resumes_without_progress(
    count: int, limit: int, again: bool
) -> None:
    assert resume_again(count, limit) is again


def test_a_handle_in_the_setup_resumes_from_the_first_connection() -> None:
    protocol = Protocol(_setup(handle="given"))
    assert protocol.handle == "given"
    assert b'"handle":"given"' in protocol.open()
    assert protocol.setup_handle == "given"


def test_the_client_warns_from_the_model_table() -> None:
    setup = t.LiveClientSetup(
        model="models/gemini-3.1-flash-live-preview",
        generation_config=t.GenerationConfig(response_modalities=["TEXT"]),
    )
    protocol = _opened(setup)
    assert any(
        "refuses generationConfig.responseModalities" in w and "1007" in w and "§10.3" in w
        for w in protocol.warnings
    )
    protocol.warnings.clear()
    protocol.send(t.LiveClientContent(turn_complete=True))
    assert any("without historyConfig" in w for w in protocol.warnings)
    healthy = _opened(t.LiveClientSetup(model="models/gemini-live-2.5-flash"))
    healthy.send(t.LiveClientContent(turn_complete=True))
    assert healthy.warnings == []
