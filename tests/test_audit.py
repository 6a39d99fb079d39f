"""The audit: each rule fires on a cassette built to break it, clean sessions stay clean."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import Hashable
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rawlive.cli import main
from rawlive.errors import DecodeError
from rawlive.tools.audit import RULES, LiveAudit, Report, audit_cassette, diff_reports

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sessions"
NATIVE = "models/gemini-2.5-flash-native-audio-preview-12-2025"
HEADER = {
    "type": "header",
    "format": "rawlive-cassette",
    "version": 1,
    "rawliveVersion": "0.1.0",
    "created": "2025-06-01T12:00:00.000000Z",
}

Frame = tuple[float, str, Any]


def b64(data: bytes, urlsafe: bool = False) -> str:
    enc = base64.urlsafe_b64encode if urlsafe else base64.b64encode
    return enc(data).decode()


def audio(n: int = 640, mime: str = "audio/pcm;rate=16000", t: float = 0.0) -> Frame:
    return (t, "client", {"realtimeInput": {"audio": {"mimeType": mime, "data": b64(bytes(n))}}})


IMAGES = Path(__file__).parent.parent / "fixtures" / "images"
JPEG = (IMAGES / "testsrc-320x240.jpg").read_bytes()
PNG = (IMAGES / "testsrc-64x48.png").read_bytes()


def frame(t: float, data: bytes, mime: str = "image/jpeg", *, chunk: bool = False) -> Frame:
    """A video frame sent at ``t`` (``chunk``: as a deprecated ``mediaChunks`` blob)."""
    blob = {"mimeType": mime, "data": b64(data)}
    if chunk:
        return (t, "client", {"realtimeInput": {"mediaChunks": [blob]}})
    return (t, "client", {"realtimeInput": {"video": blob}})


def big_jpeg(width: int, height: int) -> bytes:
    """A whole JPEG's structure (SOI, a frame header of that size, a scan, EOI), no pixels."""
    sof = b"\xff\xc0\x00\x0b\x08" + height.to_bytes(2, "big") + width.to_bytes(2, "big")
    return (
        b"\xff\xd8" + sof + b"\x01\x01\x11\x00\xff\xda\x00\x08\x01\x01\x00\x00\x3f\x00\x00\xff\xd9"
    )


def setup(**extra: Any) -> Frame:
    return (0.0, "client", {"setup": {"model": NATIVE, **extra}})


SETUP_COMPLETE: Frame = (0.01, "server", {"setupComplete": {}})


def write(
    path: Path,
    frames: list[Frame],
    close: tuple[int, str] = (1000, ""),
    *,
    url: str = "ws://x",
    header: dict[str, Any] | None = None,
) -> Path:
    lines = [
        {**HEADER, **(header or {})},
        {"type": "connect", "t": 0.0, "connection": 1, "url": url},
    ]
    last = 0.0
    for i, (when, sender, payload) in enumerate(frames):
        last = max(last, when or i * 0.01)
        text = payload if isinstance(payload, str) else json.dumps(payload)
        lines.append(
            {
                "type": "frame",
                "t": last,
                "connection": 1,
                "from": sender,
                "opcode": "text",
                "kind": "x",
                "text": text,
            }
        )
    code, reason = close
    lines.append(
        {"type": "close", "t": last + 0.01, "connection": 1, "code": code, "reason": reason}
    )
    lines.append({"type": "end", "t": last + 0.02})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def audit(tmp_path: Path, frames: list[Frame], **kw: Any) -> Report:
    return audit_cassette(write(tmp_path / "c.jsonl", frames, **kw))


def rules(report: Report) -> set[str]:
    return {f.rule for f in report.findings}


TOOLS = [{"functionDeclarations": [{"name": "f"}]}]
CALL: Frame = (0.1, "server", {"toolCall": {"functionCalls": [{"id": "c1", "name": "f"}]}})


def answer(call_id: str = "c1", when: float = 0.2) -> Frame:
    response = {"functionResponses": [{"id": call_id, "name": "f", "response": {}}]}
    return (when, "client", {"toolResponse": response})


MANUAL = {"realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}}}
START: Frame = (0.0, "client", {"realtimeInput": {"activityStart": {}}})
END: Frame = (0.0, "client", {"realtimeInput": {"activityEnd": {}}})

G38 = "models/gemini-3.8-live"
ET = "models/gemini-3.8-live-extended-thinking"
THINKING = {"thinkingConfig": {"thinkingLevel": "LOW"}}


def reply(t: float, ms: int = 40, **extra: Any) -> Frame:
    data = b64(bytes(24 * ms * 2))
    part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
    return (t, "server", {"serverContent": {"modelTurn": {"parts": [part]}, **extra}})


def text(t: float, what: str = "hi") -> Frame:
    return (t, "client", {"realtimeInput": {"text": what}})


def server_content(t: float, **content: Any) -> Frame:
    return (t, "server", {"serverContent": content})


def voiced(t: float, ms: int = 40, level: int = 8000) -> Frame:
    """A chunk of loud 16 kHz audio (a square wave, about -12 dBFS): speech to the detector."""
    period = b"".join(v.to_bytes(2, "little", signed=True) for v in [level] * 20 + [-level] * 20)
    data = (period * (ms * 16 // 40 + 1))[: ms * 32]
    chunk = {"mimeType": "audio/pcm;rate=16000", "data": b64(data)}
    return (t, "client", {"realtimeInput": {"audio": chunk}})


def spoken(start: float, seconds: float, silence: float = 0.0) -> list[Frame]:
    """Speech streamed in real time in 40 ms chunks, then ``silence`` seconds of silence."""
    frames = [voiced(start + 0.04 * (i + 1)) for i in range(round(seconds / 0.04))]
    end = start + 0.04 * len(frames)
    frames += [audio(n=1280, t=end + 0.04 * (i + 1)) for i in range(round(silence / 0.04))]
    return frames


#: A reply as the server ends it: audio, generationComplete, turnComplete.
def answered(t: float) -> list[Frame]:
    return [
        reply(t),
        server_content(t + 0.1, generationComplete=True),
        server_content(t + 0.2, turnComplete=True),
    ]


BROKEN: dict[str, list[Frame]] = {
    "setup-first": [audio(), setup(), SETUP_COMPLETE],
    "setup-once": [setup(), SETUP_COMPLETE, setup()],
    "before-setup-complete": [setup(), audio(), SETUP_COMPLETE],
    "audio-mime-rate": [setup(), SETUP_COMPLETE, audio(mime="audio/pcm")],
    "audio-odd-length": [setup(), SETUP_COMPLETE, audio(n=641)],
    "media-chunks-deprecated": [
        setup(),
        SETUP_COMPLETE,
        (
            0.0,
            "client",
            {
                "realtimeInput": {
                    "mediaChunks": [{"mimeType": "audio/pcm;rate=16000", "data": b64(bytes(4))}]
                }
            },
        ),
    ],
    "mixed-casing": [
        setup(generationConfig={"responseModalities": ["AUDIO"]}),
        SETUP_COMPLETE,
        (0.0, "client", {"realtime_input": {"text": "hi"}}),
    ],
    "urlsafe-base64": [
        setup(),
        SETUP_COMPLETE,
        (
            0.0,
            "client",
            {
                "realtimeInput": {
                    "audio": {"mimeType": "audio/pcm;rate=16000", "data": b64(b"\xfb\xff", True)}
                }
            },
        ),
    ],
    "tool-response-unknown-id": [setup(tools=TOOLS), SETUP_COMPLETE, answer("nope")],
    "tool-response-duplicate": [setup(tools=TOOLS), SETUP_COMPLETE, CALL, answer(), answer()],
    "tool-call-unanswered": [setup(tools=TOOLS), SETUP_COMPLETE, CALL],
    "audio-during-blocking-call": [setup(tools=TOOLS), SETUP_COMPLETE, CALL, audio(), answer()],
    "text-modality-native-audio": [
        setup(generationConfig={"responseModalities": ["TEXT"]}),
        SETUP_COMPLETE,
    ],
    "client-content-mid-session": [
        (0.0, "client", {"setup": {"model": "models/gemini-3.1-flash-live-preview"}}),
        SETUP_COMPLETE,
        (0.0, "client", {"clientContent": {"turns": [], "turnComplete": True}}),
    ],
    "setup-refused-by-model": [
        (0.0, "client", {"setup": {"model": G38, "generationConfig": THINKING}}),
        SETUP_COMPLETE,
    ],
    "client-content-role": [
        (0.0, "client", {"setup": {"model": G38}}),
        SETUP_COMPLETE,
        (0.1, "client", {"clientContent": {"turns": [{"parts": [{"text": "hi"}]}]}}),
    ],
    "interaction-not-idle": [
        (0.0, "client", {"setup": {"model": ET}}),
        SETUP_COMPLETE,
        (0.1, "client", {"realtimeInput": {"text": "book a flight"}}),
        (
            0.5,
            "server",
            {"serverContent": {"turnComplete": True, "interactionStatus": "IN_PROGRESS"}},
        ),
    ],
    "activity-unpaired": [setup(**MANUAL), SETUP_COMPLETE, END],
    "activity-with-auto-vad": [setup(), SETUP_COMPLETE, START, END],
    "audio-stream-end-manual-vad": [
        setup(**MANUAL),
        SETUP_COMPLETE,
        (0.0, "client", {"realtimeInput": {"audioStreamEnd": True}}),
    ],
    "video-fps": [
        setup(),
        SETUP_COMPLETE,
        frame(0.1, JPEG),
        frame(0.3, JPEG),
    ],
    "image-mime-mismatch": [setup(), SETUP_COMPLETE, frame(0.1, PNG, "image/jpeg")],
    "image-broken": [setup(), SETUP_COMPLETE, frame(0.1, JPEG[:-200])],
    "image-size": [setup(), SETUP_COMPLETE, frame(0.1, big_jpeg(1024, 576))],
    "frames-outside-turn": [
        (0.0, "client", {"setup": {"model": NATIVE, **MANUAL}}),
        SETUP_COMPLETE,
        frame(0.1, JPEG),
    ],
    "invalid-frame": [setup(), SETUP_COMPLETE, (0.0, "server", "[1, 2")],
    # A server that misbehaves (rawlive.tools.audit.waits).
    "stalled-turn": [setup(), SETUP_COMPLETE, text(1.0), audio(t=17.0)],
    "empty-turn": [
        setup(),
        SETUP_COMPLETE,
        text(1.0),
        server_content(1.5, generationComplete=True),
        server_content(1.6, turnComplete=True),
    ],
    "unanswered-input": [setup(), SETUP_COMPLETE, text(1.0), text(5.0), *answered(5.5)],
    "reply-cut": [
        setup(),
        SETUP_COMPLETE,
        text(1.0),
        reply(1.3),
        server_content(1.5, turnComplete=True),
    ],
    "early-turn-end": [setup(), SETUP_COMPLETE, *spoken(0.5, 1.0), *answered(1.52)],
    # 24 kHz audio labelled 16 kHz, streamed in real time: 320 samples every 13.3 ms.
    "audio-rate-mismatch": [
        setup(),
        SETUP_COMPLETE,
        *(audio(n=640, t=0.1 + i * 320 / 24000) for i in range(200)),
    ],
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_each_rule_fires_on_a_cassette_built_to_break_it(tmp_path: Path, name: str) -> None:
    report = audit(tmp_path, BROKEN[name])
    finding = next(f for f in report.findings if f.rule == name)
    assert finding.severity == RULES[name].severity
    assert finding.section.startswith("§")
    assert finding.connection == 1


def test_close_code_with_hint(tmp_path: Path) -> None:
    report = audit(tmp_path, [setup(), SETUP_COMPLETE], close=(1008, "The operation was aborted."))
    (finding,) = [f for f in report.findings if f.rule == "close-code"]
    assert "1008" in finding.message and "tool" in finding.message


def test_every_rule_is_documented() -> None:
    for r in RULES.values():
        assert r.doc and r.severity in ("info", "warning", "error") and r.section
    # every rule but the reader's own has a cassette that breaks it
    assert set(RULES) - set(BROKEN) == {"close-code", "cassette-truncated"}


def test_paired_activity_and_answered_calls_are_clean(tmp_path: Path) -> None:
    frames = [setup(tools=TOOLS, **MANUAL), SETUP_COMPLETE, START, audio(), END, CALL, answer()]
    assert audit(tmp_path, frames).findings == []


G38_LIVE = "models/gemini-3.8-live"


@pytest.mark.parametrize(
    ("model", "during", "fires"),
    [
        (NATIVE, False, True),  # 2.5: video only during activity
        (NATIVE, True, False),
        (G38_LIVE, False, False),  # 3.8's default takes all video (§10.15.2)
    ],
)
def test_frames_outside_turn_follows_the_models_turn_coverage(
    tmp_path: Path, model: str, during: bool, fires: bool
) -> None:
    sent = [START, frame(0.1, JPEG), END] if during else [frame(0.1, JPEG), START, END]
    frames = [(0.0, "client", {"setup": {"model": model, **MANUAL}}), SETUP_COMPLETE, *sent]
    report = audit(tmp_path, frames)
    assert ("frames-outside-turn" in {f.rule for f in report.findings}) is fires


def test_frames_outside_turn_hears_the_users_speech_with_automatic_detection(
    tmp_path: Path,
) -> None:
    # 2.5 with automatic activity detection: the detector hears the client's audio.
    speech = spoken(0.5, 1.0, silence=1.0)  # speech from 0.54 s to 1.5 s, then silence
    during, after = frame(1.0, JPEG), frame(2.5, JPEG)
    report = audit(
        tmp_path, [setup(), SETUP_COMPLETE, *sorted([*speech, during, after], key=lambda f: f[0])]
    )
    times = [f.t for f in report.findings if f.rule == "frames-outside-turn"]
    assert times == [2.5]


def test_whole_frames_of_their_type_are_clean_and_measured_per_turn(tmp_path: Path) -> None:
    frames = [
        setup(**MANUAL),
        SETUP_COMPLETE,
        START,
        frame(0.1, JPEG),
        frame(1.2, PNG, "image/png", chunk=True),
        audio(t=1.3),
        END,
        server_content(1.5, turnComplete=True),
        START,
        frame(2.6, JPEG),
        END,
        server_content(3.0, turnComplete=True),
    ]
    report = audit(tmp_path, frames)
    video_rules = {"image-mime-mismatch", "image-broken", "image-size", "frames-outside-turn"}
    assert not video_rules & {f.rule for f in report.findings}
    metrics = report.metrics
    assert (metrics.video_frames, metrics.video_bytes) == (3, 2 * len(JPEG) + len(PNG))
    per_turn = [(turn.video_frames, turn.video_bytes) for turn in metrics.turns]
    assert per_turn == [(2, len(JPEG) + len(PNG)), (1, len(JPEG))]
    document = json.loads(report.to_json())["metrics"]
    assert document["video_frames"] == 3 and document["turns"][0]["video_frames"] == 2
    assert "video frames per turn" in report.render()


def test_an_image_chunk_of_another_type_than_it_claims_is_named(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, frame(0.1, JPEG, "image/png", chunk=True)]
    (finding,) = [f for f in audit(tmp_path, frames).findings if f.rule == "image-mime-mismatch"]
    assert "claims image/png but its bytes are image/jpeg" in finding.message
    assert "to do:" in finding.message


# Vertex sends tool calls without an id; the response names the function instead.
IDLESS_CALL: Frame = (0.1, "server", {"toolCall": {"functionCalls": [{"name": "f"}]}})
IDLESS_ANSWER: Frame = (
    0.2,
    "client",
    {"toolResponse": {"functionResponses": [{"name": "f", "response": {}}]}},
)


def test_a_call_without_id_is_answered_by_a_response_without_id_of_its_name(
    tmp_path: Path,
) -> None:
    frames = [setup(tools=TOOLS), SETUP_COMPLETE, IDLESS_CALL, IDLESS_ANSWER]
    report = audit(tmp_path, frames)
    assert report.findings == []
    assert len(report.metrics.tool_round_trips) == 1


def test_the_video_fixture_counts_its_frames_per_turn() -> None:
    metrics = audit_cassette(FIXTURES / "video-frames.jsonl").metrics
    assert metrics.video_frames == 3 and [t.video_frames for t in metrics.turns] == [3]
    assert metrics.prompt_tokens.get("VIDEO") == 3 * 258  # the emulator counted them too


def test_a_call_without_id_is_kept_until_answered(tmp_path: Path) -> None:
    unanswered = audit(tmp_path, [setup(tools=TOOLS), SETUP_COMPLETE, IDLESS_CALL])
    (finding,) = unanswered.findings
    assert finding.rule == "tool-call-unanswered" and "(f)" in finding.message
    during = audit(
        tmp_path, [setup(tools=TOOLS), SETUP_COMPLETE, IDLESS_CALL, audio(), IDLESS_ANSWER]
    )
    assert rules(during) == {"audio-during-blocking-call"}
    twice = audit(
        tmp_path, [setup(tools=TOOLS), SETUP_COMPLETE, IDLESS_CALL, IDLESS_ANSWER, IDLESS_ANSWER]
    )
    assert rules(twice) == {"tool-response-duplicate"}


def test_a_response_without_id_for_no_call_of_its_name_is_unknown(tmp_path: Path) -> None:
    # The call has an id: a response without one answers nothing.
    report = audit(tmp_path, [setup(tools=TOOLS), SETUP_COMPLETE, CALL, IDLESS_ANSWER])
    assert rules(report) == {"tool-response-unknown-id", "tool-call-unanswered"}
    (finding,) = [f for f in report.findings if f.rule == "tool-response-unknown-id"]
    assert "'f' has no id" in finding.message


def test_responses_with_will_continue_then_the_last_answer_a_call_once(tmp_path: Path) -> None:
    more = {"id": "c1", "name": "f", "response": {}, "willContinue": True}
    frames = [
        setup(tools=TOOLS),
        SETUP_COMPLETE,
        CALL,
        (0.15, "client", {"toolResponse": {"functionResponses": [more]}}),
        answer(when=0.3),
    ]
    report = audit(tmp_path, frames)
    assert report.findings == []
    assert report.metrics.tool_round_trips == [pytest.approx(0.2)]


def test_tokens_without_a_modality_are_modality_unspecified(tmp_path: Path) -> None:
    usage = {
        "totalTokenCount": 12,
        "promptTokensDetails": [{"tokenCount": 5}, {"modality": "AUDIO", "tokenCount": 2}],
        # Vertex names the response counts candidates*.
        "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 5}],
    }
    report = audit(tmp_path, [setup(), SETUP_COMPLETE, (0.1, "server", {"usageMetadata": usage})])
    metrics = report.metrics
    assert metrics.prompt_tokens == {"MODALITY_UNSPECIFIED": 5, "AUDIO": 2}
    assert metrics.response_tokens == {"AUDIO": 5}
    assert metrics.total_tokens == 12


TEXT_ONLY = {"generationConfig": {"responseModalities": ["TEXT"]}}


def _content(turn: dict[str, Any]) -> Frame:
    return (0.2, "client", {"clientContent": {"turns": [turn], "turnComplete": True}})


ROLE_LESS = _content({"parts": [{"text": "hi"}]})
SYSTEM_TURN = _content({"role": "system", "parts": [{"text": "be brief"}]})
USER_TURN = _content({"role": "user", "parts": [{"text": "hi"}]})
CONTENT: Frame = (0.0, "client", {"clientContent": {"turns": [], "turnComplete": True}})
VERTEX = "projects/p/locations/us-central1/publishers/google/models/"


@pytest.mark.parametrize(
    ("model", "extra", "frames", "rule", "fires"),
    [
        (
            VERTEX + "gemini-live-2.5-flash-native-audio",
            TEXT_ONLY,
            [],
            "text-modality-native-audio",
            True,
        ),
        ("models/gemini-live-2.5-flash", TEXT_ONLY, [], "text-modality-native-audio", False),
        (
            VERTEX + "gemini-3.1-flash-live-preview",
            {},
            [CONTENT],
            "client-content-mid-session",
            True,
        ),
        # A model the table does not know is not judged by the look of its name.
        ("models/my-tuned-native-audio", TEXT_ONLY, [], "text-modality-native-audio", False),
        ("models/gemini-3.1-pro-live-someday", {}, [CONTENT], "client-content-mid-session", False),
        # 3.8 takes clientContent all session (PROTOCOL.md §10.4); 3.1 does not.
        (G38, {}, [CONTENT, ROLE_LESS, USER_TURN], "client-content-mid-session", False),
        (
            "models/gemini-3.1-flash-live-preview",
            {},
            [USER_TURN],
            "client-content-mid-session",
            True,
        ),
        # ... but every turn of it needs a role on 3.8; 3.1 and 2.5 ask none.
        (G38, {}, [ROLE_LESS], "client-content-role", True),
        (G38, {}, [SYSTEM_TURN], "client-content-role", True),
        (ET, {}, [ROLE_LESS], "client-content-role", True),
        (G38, {}, [USER_TURN], "client-content-role", False),
        ("models/gemini-3.1-flash-live-preview", {}, [ROLE_LESS], "client-content-role", False),
        (NATIVE, {}, [ROLE_LESS], "client-content-role", False),
    ],
)
def test_model_rules_read_the_model_table(
    tmp_path: Path, model: str, extra: dict[str, Any], frames: list[Frame], rule: str, fires: bool
) -> None:
    first: Frame = (0.0, "client", {"setup": {"model": model, **extra}})
    report = audit(tmp_path, [first, SETUP_COMPLETE, *frames])
    assert (rule in rules(report)) is fires


# The sessions recorded from the emulator by well-behaved clients (the others
# in fixtures/sessions/ are broken on purpose, for the report's tests).
CLEAN_SESSIONS = [
    "hello-text.jsonl",
    "weather-tool-goaway.jsonl",
    "live38-nonblocking.jsonl",
    "thinking-filler.jsonl",
    "transcribe-live.jsonl",
    "video-frames.jsonl",
]


@pytest.mark.parametrize("name", CLEAN_SESSIONS)
def test_recorded_emulator_sessions_are_clean(name: str) -> None:
    report = audit_cassette(FIXTURES / name)
    assert not report.fails("info"), report.render()


def test_metrics_are_plausible() -> None:
    m = audit_cassette(FIXTURES / "weather-tool-goaway.jsonl").metrics
    assert set(m.setup_complete) == {1, 2}
    assert all(0 < v < 1 for v in m.setup_complete.values())
    assert len(m.turns) == 3
    for turn in m.turns:
        assert turn.turn_complete is not None and turn.first_reply_audio is not None
        assert 0 < turn.first_reply_audio <= turn.turn_complete
    # 2 x 69 chunks of 1280 bytes (the last one shorter) at 16 kHz
    assert 5 < m.audio_in_seconds < 5.6
    assert m.audio_out_seconds > 1
    assert len(m.tool_round_trips) == 1
    assert m.response_tokens.get("AUDIO", 0) > 0
    assert m.interruptions == 0
    (go_away,) = m.go_away
    assert go_away[1] == 2.0 and go_away[2] is not None and go_away[2] >= 0
    data = json.loads(audit_cassette(FIXTURES / "weather-tool-goaway.jsonl").to_json())
    assert data["metrics"]["percentiles"]["turn_complete"]["n"] == 3


def test_the_2026_model_sessions_are_measured_by_their_own_rules() -> None:
    # 3.8: the NON_BLOCKING call's answer and a mid-session clientContent turn
    # are two timed turns, and no client-content-mid-session finding (§10.4).
    live = audit_cassette(FIXTURES / "live38-nonblocking.jsonl")
    assert [f.rule for f in live.findings] == []
    assert len(live.metrics.turns) == 2
    assert all(turn.turn_complete is not None for turn in live.metrics.turns)
    assert len(live.metrics.tool_round_trips) == 1
    # Extended thinking: the filler turn and the answer are one interaction
    # that ends at IDLE; the answer is timed from the tool response (§10.6).
    thinking = audit_cassette(FIXTURES / "thinking-filler.jsonl").metrics
    assert len(thinking.turns) == 2
    (interaction,) = thinking.interactions
    assert (interaction.turns, interaction.in_progress_turns) == (2, 1)
    assert interaction.idle and interaction.status == "IDLE"
    answer = thinking.turns[1]
    assert answer.user_end_t is not None and answer.first_reply_audio is not None
    assert 0 < answer.first_reply_audio <= (answer.turn_complete or 0)
    # Transcribe Live: two utterances, each with interims, one final and its
    # generationComplete; no turns, no reply audio (§10.8).
    stt = audit_cassette(FIXTURES / "transcribe-live.jsonl").metrics
    assert stt.turns == [] and stt.audio_out_seconds == 0
    assert [u.final for u in stt.utterances] == [True, True]
    assert all(u.interims > 0 and u.complete_t is not None for u in stt.utterances)
    assert (stt.final_transcriptions, stt.interim_transcriptions) == (2, 7)


def test_cli_fail_on(tmp_path: Path) -> None:
    runner = CliRunner()
    clean = str(FIXTURES / "hello-text.jsonl")
    warn = str(write(tmp_path / "w.jsonl", BROKEN["audio-mime-rate"]))
    result = runner.invoke(main, ["audit", clean])
    assert result.exit_code == 0 and "findings: 0 error" in result.output
    assert runner.invoke(main, ["audit", warn]).exit_code == 0
    assert runner.invoke(main, ["audit", warn, "--fail-on", "warning"]).exit_code == 1
    error = str(write(tmp_path / "e.jsonl", BROKEN["setup-first"]))
    assert runner.invoke(main, ["audit", clean, error]).exit_code == 1
    assert runner.invoke(main, ["audit", error, "--fail-on", "never"]).exit_code == 0
    result = runner.invoke(main, ["audit", "--json", clean, warn])
    assert [r["counts"]["warning"] for r in json.loads(result.output)] == [0, 1]
    result = runner.invoke(main, ["audit", str(tmp_path / "missing.jsonl")])
    assert result.exit_code == 2


json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=12), inner, max_size=3)
    ),
    max_leaves=10,
)
keys = st.sampled_from(
    [
        "setup",
        "realtimeInput",
        "toolResponse",
        "toolCall",
        "serverContent",
        "clientContent",
        "audio",
        "data",
        "mimeType",
        "functionResponses",
        "id",
        "modelTurn",
        "parts",
        "goAway",
    ]
)
messages = st.recursive(
    json_values, lambda inner: st.dictionaries(keys, inner, max_size=3), max_leaves=12
)


@st.composite
def garbage_lines(draw: st.DrawFn) -> str:
    kind = draw(st.sampled_from(["frame", "json", "text", "close", "truncated"]))
    if kind == "frame":
        payload = draw(messages)
        line: Any = {
            "type": "frame",
            "t": draw(st.floats(0, 10)),
            "connection": draw(st.integers(1, 3)),
            "from": draw(st.sampled_from(["client", "server"])),
            "opcode": "text",
            "kind": "x",
            "text": json.dumps(payload) if draw(st.booleans()) else draw(st.text(max_size=20)),
        }
        return json.dumps(line)
    if kind == "json":
        return json.dumps(draw(json_values))
    if kind == "close":
        return json.dumps(
            {
                "type": "close",
                "t": 1.0,
                "connection": draw(st.integers(1, 3)),
                "code": draw(st.integers(0, 5000)),
                "reason": draw(st.text(max_size=10)),
            }
        )
    text = draw(st.text(max_size=30)).replace("\n", " ")
    return text if kind == "text" else json.dumps({"type": "frame", "t": 1})[:-3]


@settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(lines=st.lists(garbage_lines(), max_size=8), cut=st.booleans())
def test_audit_never_crashes(tmp_path: Path, lines: list[str], cut: bool) -> None:
    body = json.dumps(HEADER) + "\n" + "".join(line + "\n" for line in lines)
    if cut and body.endswith("\n"):
        body = body[:-1]
    path = tmp_path / "fuzz.jsonl"
    path.write_text(body)
    try:
        report = audit_cassette(path)
    except DecodeError:
        return
    report.render()
    json.loads(report.to_json())


def test_bad_header_is_a_decode_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("not json\n")
    with pytest.raises(DecodeError):
        audit_cassette(path)
    result = CliRunner().invoke(main, ["audit", str(path)])
    assert result.exit_code == 2 and "rawlive:" in result.output


def paced(start: float, seconds: float, rate: int = 16000, chunk_s: float = 0.02) -> list[Frame]:
    """Realtime audio labelled 16 kHz, sent every ``chunk_s`` holding ``rate`` samples/s."""
    n = int(rate * chunk_s) * 2
    return [audio(n=n, t=start + i * chunk_s) for i in range(int(seconds / chunk_s))]


def test_audio_rate_matches_when_streamed_in_real_time_with_pauses(tmp_path: Path) -> None:
    # Two real-time runs with a long pause between them: the pause is not counted.
    frames = [setup(), SETUP_COMPLETE, *paced(0.1, 3.0), *paced(10.0, 3.0)]
    assert "audio-rate-mismatch" not in rules(audit(tmp_path, frames))


def test_audio_rate_is_not_judged_for_uploads_faster_than_real_time(tmp_path: Path) -> None:
    # 16 kHz data sent at 10x real time matches no common rate: not a mismatch.
    frames = [setup(), SETUP_COMPLETE, *paced(0.1, 3.0, rate=160000)]
    assert "audio-rate-mismatch" not in rules(audit(tmp_path, frames))


@pytest.mark.parametrize(("actual", "label"), [(8000, "8000 Hz"), (48000, "48000 Hz")])
def test_audio_rate_mismatch_names_the_rate_the_data_flows_at(
    tmp_path: Path, actual: int, label: str
) -> None:
    frames = [setup(), SETUP_COMPLETE, *paced(0.1, 3.0, rate=actual)]
    (finding,) = [f for f in audit(tmp_path, frames).findings if f.rule == "audio-rate-mismatch"]
    assert label in finding.message and "rate=16000" in finding.message


def test_gaps_in_reply_audio_are_underruns_of_playback(tmp_path: Path) -> None:
    # 3 chunks of 40 ms arrive at once (playing until 1.12 s); the 4th comes at
    # 1.5 s: 0.38 s of silence for the listener. A second turn streams ahead of
    # playback: no gap.
    frames = [
        setup(),
        SETUP_COMPLETE,
        audio(t=0.5),
        reply(1.0),
        reply(1.0),
        reply(1.0),
        reply(1.5),
        (1.6, "server", {"serverContent": {"turnComplete": True}}),
        audio(t=3.0),
        *(reply(4.0 + i * 0.02) for i in range(10)),
        (4.5, "server", {"serverContent": {"turnComplete": True}}),
    ]
    report = audit(tmp_path, frames)
    gaps = report.metrics.reply_gaps
    assert len(gaps) == 1 and gaps[0] == pytest.approx(0.38)
    first, second = report.metrics.turns
    assert (first.audio_gaps, second.audio_gaps) == (1, 0)
    assert first.audio_gap_seconds == pytest.approx(0.38)
    data = json.loads(report.to_json())["metrics"]["reply_audio_gaps"]
    assert data["count"] == 1 and data["max"] == pytest.approx(0.38)
    assert re.search(r"reply audio gaps +1, 0.380 s in all, longest 0.380 s", report.render())


def test_the_pause_for_a_tool_call_is_not_a_gap(tmp_path: Path) -> None:
    frames = [
        setup(tools=TOOLS),
        SETUP_COMPLETE,
        audio(t=0.5),
        reply(1.0),
        (1.1, "server", CALL[2]),
        (2.0, "client", answer()[2]),
        reply(3.0),
        (3.1, "server", {"serverContent": {"turnComplete": True}}),
    ]
    assert audit(tmp_path, frames).metrics.reply_gaps == []


def test_diff_of_a_session_with_itself_finds_no_change(tmp_path: Path) -> None:
    path = FIXTURES / "weather-tool-goaway.jsonl"
    changes = diff_reports(audit_cassette(path), audit_cassette(path))
    assert changes.kinds == [] and changes.findings == []
    assert not changes.structure_changed
    assert all(x == y for _, x, y in changes.metrics)
    result = CliRunner().invoke(main, ["audit", "--diff", str(path), str(path)])
    assert result.exit_code == 0, result.output
    assert "message kinds: the same" in result.output and "fields: the same" in result.output


def test_diff_reports_kinds_fields_findings_and_latencies(tmp_path: Path) -> None:
    turn = (1.0, "server", {"serverContent": {"turnComplete": True}})
    a = write(tmp_path / "a.jsonl", [setup(), SETUP_COMPLETE, audio(t=0.5), reply(0.6), turn])
    b = write(
        tmp_path / "b.jsonl",
        [
            setup(inputAudioTranscription={}),
            SETUP_COMPLETE,
            audio(t=0.5, mime="audio/pcm"),
            (0.7, "server", {"serverContent": {"inputTranscription": {"text": "hi"}}}),
            reply(0.9),
            reply(0.9),
            turn,
        ],
    )
    changes = diff_reports(audit_cassette(a), audit_cassette(b))
    assert ("server", "x", 3, 5) in changes.kinds  # the test cassettes' kind is "x"
    assert changes.only_b == {
        "client": ["setup.inputAudioTranscription"],
        "server": ["serverContent.inputTranscription", "serverContent.inputTranscription.text"],
    }
    assert changes.only_a == {}
    assert changes.structure_changed
    assert ("audio-mime-rate", 0, 1) in changes.findings
    latency = {name: (x, y) for name, x, y in changes.metrics}
    assert latency["first_reply_audio p50"] == pytest.approx((0.1, 0.4))
    assert latency["first_input_transcription p50"] == (None, pytest.approx(0.2))
    result = CliRunner().invoke(main, ["audit", "--diff", "--json", str(a), str(b)])
    assert result.exit_code == 1
    data = json.loads(result.output)
    assert data["structure_changed"] is True
    assert data["fields_only_in_b"]["client"] == ["setup.inputAudioTranscription"]
    assert {"rule": "audio-mime-rate", "a": 0, "b": 1} in data["findings"]


#: Keys whose values are maps keyed by data (senders, kinds, rules, modalities,
#: connections), not by the names of a document's fields.
DATA_MAPS = frozenset(
    {
        "kinds",
        "fields",
        "rule_counts",
        "counts",
        "prompt_tokens",
        "response_tokens",
        "setup_complete",
        "fields_only_in_a",
        "fields_only_in_b",
        "time_lost",
    }
)


def document_keys(value: Any) -> set[str]:
    """Every key of a JSON document, but those of its data maps."""
    found: set[str] = set()
    if isinstance(value, dict):
        for key, item in value.items():
            found.add(key)
            if key not in DATA_MAPS:
                found |= document_keys(item)
    elif isinstance(value, list):
        for item in value:
            found |= document_keys(item)
    return found


def test_audit_json_documents_have_snake_case_keys(tmp_path: Path) -> None:
    session = str(FIXTURES / "weather-tool-goaway.jsonl")  # tools, goAway, usage, turns
    other = str(write(tmp_path / "o.jsonl", BROKEN["audio-mime-rate"]))
    stalled = str(write(tmp_path / "s.jsonl", BROKEN["stalled-turn"]))  # time lost, by rule
    runner = CliRunner()
    audited = runner.invoke(main, ["audit", "--json", session, other, stalled])
    reports = json.loads(audited.output)
    assert reports[2]["metrics"]["time_lost"] == {"stalled-turn": pytest.approx(16.01)}
    diff = runner.invoke(main, ["audit", "--diff", "--json", session, other])
    keys = document_keys(reports) | document_keys(json.loads(diff.output))
    assert {"reply_audio_gaps", "go_away", "structure_changed", "fields_only_in_b"} <= keys
    assert {"time_lost", "lost"} <= keys
    assert {key for key in keys if not re.fullmatch(r"[a-z][a-z0-9]*(_[a-z0-9]+)*", key)} == set()
    report = audit_cassette(session)
    assert json.loads(report.to_json()) == report.to_builtins()
    changes = diff_reports(report, audit_cassette(other))
    assert json.loads(changes.to_json()) == changes.to_builtins()


def test_diff_needs_exactly_two_cassettes() -> None:
    path = str(FIXTURES / "hello-text.jsonl")
    result = CliRunner().invoke(main, ["audit", "--diff", path])
    assert result.exit_code == 2
    assert "--diff compares two cassettes" in result.output
    assert "Traceback" not in result.output


def _variants() -> list[Frame]:
    """Audio frames of one shape, and frames that look like it but are not the same."""
    raw = bytes(range(256)) * 5  # 1280 bytes: its base64 has '+' and '/'
    frames: list[Frame] = [setup(), SETUP_COMPLETE]
    for i in range(30):
        frames.append(audio(n=1280, t=0.1 + i * 0.04))
    same = {"mimeType": "audio/pcm;rate=16000", "data": b64(raw)}
    frames += [
        (1.5, "client", {"realtimeInput": {"audio": same}}),
        # the same length, URL-safe: a finding the shortcut must not hide
        (1.6, "client", {"realtimeInput": {"audio": {**same, "data": b64(raw, True)}}}),
        # the same length with an unknown key in place of two base64 characters
        (1.7, "client", {"realtimeInput": {"audio": {**same, "data": b64(raw)[:-8] + "AAAA"}}}),
        (1.8, "client", {"realtimeInput": {"audio": {"mimeType": "audio/pcm", "data": b64(raw)}}}),
        (1.9, "client", {"realtimeInput": {"audio": {**same, "data": b64(raw[:-1])}}}),
        reply(2.0),
        reply(2.0, ms=20),
        reply(2.1),
        (2.2, "server", {"serverContent": {"modelTurn": {"parts": [{"text": "hi"}]}}}),
        (2.3, "server", {"serverContent": {"turnComplete": True}}),
    ]
    return frames


@pytest.mark.parametrize("name", [*CLEAN_SESSIONS, "variants"])
def test_audio_frames_decoded_once_per_shape_audit_exactly_as_decoded_in_full(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    import rawlive.tools.audit.auditor as audit_module

    path = write(tmp_path / "v.jsonl", _variants()) if name == "variants" else FIXTURES / name
    shortcut = audit_cassette(path).to_builtins()
    monkeypatch.setattr(audit_module._Templates, "match", lambda self, payload, sender: None)
    full = audit_cassette(path).to_builtins()
    assert shortcut == full
    if name == "variants":
        found = {f["rule"] for f in full["findings"]}
        assert {"urlsafe-base64", "audio-mime-rate", "audio-odd-length"} <= found


def _odd_session(count: int) -> list[Frame]:
    """A session whose every audio chunk breaks two rules (odd length, no rate=)."""
    return [setup(), SETUP_COMPLETE, *(audio(n=641, mime="audio/pcm") for _ in range(count))]


def test_findings_are_kept_up_to_a_limit_per_rule_and_the_rest_counted(tmp_path: Path) -> None:
    report = audit(tmp_path, _odd_session(500))
    kept = [f.rule for f in report.findings]
    assert kept.count("audio-odd-length") == kept.count("audio-mime-rate") == 20
    assert report.rule_counts == {"audio-odd-length": 500, "audio-mime-rate": 500}
    assert report.count("error") == 500 and report.count("warning") == 500
    assert report.fails("error")
    text = report.render()
    assert "480 more audio-odd-length findings counted, not shown" in text
    assert text.count("audio-mime-rate") == 21  # 20 rows and the count line
    data = report.to_builtins()
    assert data["counts"] == {"info": 0, "warning": 500, "error": 500}
    assert data["rule_counts"] == {"audio-mime-rate": 500, "audio-odd-length": 500}
    assert len(data["findings"]) == 40
    # The limit is the auditor's: none keeps them all.
    everything = audit_cassette(tmp_path / "c.jsonl", max_per_rule=None)
    assert len(everything.findings) == 1000 and "not shown" not in everything.render()


def test_diff_counts_every_finding_of_a_rule(tmp_path: Path) -> None:
    a = audit_cassette(write(tmp_path / "a.jsonl", _odd_session(30)))
    b = audit_cassette(write(tmp_path / "b.jsonl", _odd_session(40)))
    assert ("audio-odd-length", 30, 40) in diff_reports(a, b).findings


def test_live_audit_shows_the_first_findings_of_a_rule_then_says_it_stops() -> None:
    shown: list[str] = []
    limited: list[tuple[Hashable, str, int]] = []
    live = LiveAudit(
        lambda key, finding: shown.append(finding.rule),
        on_limit=lambda key, rule, limit: limited.append((key, rule, limit)),
        max_per_rule=5,
    )
    for i, (_, sender, payload) in enumerate(_odd_session(300)):
        live.frame(7, sender, json.dumps(payload).encode(), i * 0.01, binary=False)
    report = live.close(7, 4.0, 1000)
    assert shown.count("audio-odd-length") == shown.count("audio-mime-rate") == 5
    assert limited == [(7, "audio-odd-length", 5), (7, "audio-mime-rate", 5)] or limited == [
        (7, "audio-mime-rate", 5),
        (7, "audio-odd-length", 5),
    ]
    assert len(report.findings) == 10 and report.count("error") == 300


def test_cli_audit_shows_findings_per_rule_up_to_the_limit(tmp_path: Path) -> None:
    path = str(write(tmp_path / "odd.jsonl", _odd_session(50)))
    runner = CliRunner()
    shown = runner.invoke(main, ["audit", path, "--fail-on", "never"])
    assert shown.exit_code == 0
    assert shown.output.count("PCM audio chunk of 641 bytes") == 20
    assert "30 more audio-odd-length findings counted, not shown" in shown.output
    assert "findings: 50 error, 50 warning, 0 info" in shown.output
    every = runner.invoke(main, ["audit", path, "--fail-on", "never", "--findings-per-rule", "0"])
    assert (
        every.output.count("PCM audio chunk of 641 bytes") == 50 and "not shown" not in every.output
    )


def test_proxy_audit_prints_the_first_findings_of_a_rule_and_counts_the_rest(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from rawlive.cli import _live_audit_hooks
    from rawlive.servers.base import CapturedConnection, ConnectionEnd
    from rawlive.servers.base import Frame as WireFrame

    hooks = _live_audit_hooks(3)
    capture = CapturedConnection(path="/ws", query={}, headers=[], number=1)
    for i, (_, sender, payload) in enumerate(_odd_session(100)):
        frame = WireFrame(sender, "text", json.dumps(payload).encode(), i * 0.01)  # type: ignore[arg-type]
        hooks["on_frame"](capture, frame)
    hooks["on_close"](capture, ConnectionEnd(1000, "", "client", 2.0))
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 3 + 3 + 2 + 1
    assert sum("error audio-odd-length" in line for line in lines) == 3
    assert "[conn 1] further audio-odd-length findings are counted, not shown (first 3)" in lines
    assert lines[-1].endswith(
        "findings 100 error, 100 warning, 0 info "
        "(not shown: 97 audio-mime-rate, 97 audio-odd-length)"
    )


def test_the_cli_default_is_the_auditors_limit() -> None:
    from rawlive.cli import audit as audit_command
    from rawlive.tools.audit import MAX_FINDINGS_PER_RULE

    (option,) = [p for p in audit_command.params if p.name == "findings_per_rule"]
    assert option.default == MAX_FINDINGS_PER_RULE


# ---------------------------------------------------------------------------
# Today's models (PROTOCOL.md §10): the rules read their rows
# ---------------------------------------------------------------------------

GEMINI_URL = "wss://h/ws/google.ai.generativelanguage.v1beta.GenerativeService.BidiGenerateContent"
VERTEX_URL = "wss://h/ws/google.cloud.aiplatform.v1beta1.LlmBidiService/BidiGenerateContent"


def _refused(tmp_path: Path, setup_: dict[str, Any], **kw: Any) -> list[str]:
    report = audit(tmp_path, [(0.0, "client", {"setup": setup_}), SETUP_COMPLETE], **kw)
    return [f.message for f in report.findings if f.rule == "setup-refused-by-model"]


def test_each_field_the_model_refuses_is_a_finding_with_its_close(tmp_path: Path) -> None:
    messages = _refused(
        tmp_path,
        {
            "model": G38,
            "generationConfig": {**THINKING, "enableAffectiveDialog": True},
            "proactivity": {"proactiveAudio": False},
        },
    )
    assert len(messages) == 3
    thinking, affective, proactive = messages
    assert thinking.startswith("generationConfig.thinkingConfig refused by gemini-3.8-live")
    assert "closes with 1007" in thinking and "inferred" in thinking and "Magician" in thinking
    # A close PROTOCOL.md quotes is not inferred; its source is named.
    assert 'Unknown name \\"enable_affective_dialog\\"' in json.dumps(affective)
    assert "inferred" not in affective and "source: §10.3" in affective
    assert proactive.startswith("proactivity.proactiveAudio: false") and "inferred" in proactive
    # What the model takes is not a finding.
    assert _refused(tmp_path, {"model": G38, "proactivity": {"proactiveAudio": True}}) == []
    assert _refused(tmp_path, {"model": ET, "generationConfig": THINKING}) == []
    minimal = {"thinkingConfig": {"thinkingLevel": "MINIMAL"}}
    (level,) = _refused(tmp_path, {"model": ET, "generationConfig": minimal})
    assert "thinkingLevel not in HIGH, LOW, MEDIUM" in level


def test_old_models_keep_their_setups(tmp_path: Path) -> None:
    for model in (NATIVE, "models/gemini-3.1-flash-live-preview", "models/gemini-live-2.5-flash"):
        setup_ = {"model": model, "generationConfig": {"enableAffectiveDialog": True}}
        assert _refused(tmp_path, setup_) == [], model


def test_the_backend_is_the_recorded_urls(tmp_path: Path) -> None:
    video = {"model": G38, "generationConfig": {"responseModalities": ["VIDEO"]}}
    (on_gemini,) = _refused(tmp_path, video, url=GEMINI_URL)
    assert "responseModalities refused" in on_gemini and "Gemini API" in on_gemini
    (on_vertex,) = _refused(tmp_path, video, url=VERTEX_URL)
    assert on_vertex.startswith("avatarConfig missing") and "Vertex AI" in on_vertex
    avatar = {**video, "avatarConfig": {"avatarName": "Kira"}}
    assert _refused(tmp_path, avatar, url=VERTEX_URL) == []
    # Extended thinking is not on Vertex AI; a Vertex model path says Vertex too.
    (not_served,) = _refused(tmp_path, {"model": ET}, url=VERTEX_URL)
    assert "not served on the Vertex AI" in not_served and "1008" in not_served
    (by_path,) = _refused(tmp_path, {"model": VERTEX + "gemini-3.8-live-extended-thinking"})
    assert "not served on the Vertex AI" in by_path
    # A URL that says nothing is the Gemini API's: nothing more is claimed.
    assert (
        _refused(tmp_path, {"model": "models/gemini-3.5-transcribe-live-preview", **TEXT_ONLY})
        == []
    )


def test_text_on_38_is_named_once(tmp_path: Path) -> None:
    report = audit(
        tmp_path, [(0.0, "client", {"setup": {"model": G38, **TEXT_ONLY}}), SETUP_COMPLETE]
    )
    assert rules(report) == {"text-modality-native-audio"}


def test_the_model_comes_from_the_setup_else_the_header_else_the_option(tmp_path: Path) -> None:
    frames: list[Frame] = [
        (0.0, "client", {"setup": {"generationConfig": THINKING}}),
        SETUP_COMPLETE,
    ]
    path = write(tmp_path / "h.jsonl", frames, header={"model": G38})
    assert "setup-refused-by-model" in rules(audit_cassette(path))
    bare = write(tmp_path / "b.jsonl", frames)
    assert rules(audit_cassette(bare)) == set()
    assert "setup-refused-by-model" in rules(audit_cassette(bare, model=G38))
    # The setup's model wins over both.
    named = [
        (0.0, "client", {"setup": {"model": NATIVE, "generationConfig": THINKING}}),
        SETUP_COMPLETE,
    ]
    path = write(tmp_path / "n.jsonl", named, header={"model": G38})
    assert rules(audit_cassette(path, model=G38)) == set()


@pytest.mark.parametrize(
    ("code", "reason", "says"),
    [
        (1011, "Deadline expired before operation could complete.", "58:00"),
        (1007, "Avatar config is required for avatar mode", "avatarConfig"),
        (1007, "The 'proactive' feature is not supported for model 'm'", "proactivity"),
        (1011, "RESOURCE_EXHAUSTED", "quota"),
        (1008, "BidiGenerateContent session not found", "handle"),
        (1007, "Request contains an invalid argument.", "second setup"),
    ],
)
def test_close_findings_carry_the_cores_hints(
    tmp_path: Path, code: int, reason: str, says: str
) -> None:
    report = audit(tmp_path, [setup(), SETUP_COMPLETE], close=(code, reason))
    (finding,) = [f for f in report.findings if f.rule == "close-code"]
    assert str(code) in finding.message and says in finding.message


# -- extended thinking: interactions ------------------------------------------


def _status(t: float, status: str) -> Frame:
    # (generationComplete first: a turnComplete without one cuts the reply, reply-cut)
    content = {"generationComplete": True, "turnComplete": True, "interactionStatus": status}
    return (t, "server", {"serverContent": content})


ET_SESSION: list[Frame] = [
    (0.0, "client", {"setup": {"model": ET, "tools": TOOLS}}),
    SETUP_COMPLETE,
    (1.0, "client", {"realtimeInput": {"text": "book a flight"}}),
    reply(1.4),  # the filler
    (1.5, "server", {"toolCall": {"functionCalls": [{"id": "c1", "name": "f"}]}}),
    _status(1.6, "IN_PROGRESS"),
    answer("c1", 2.0),
    reply(2.5),  # the answer
    _status(3.0, "IDLE"),
]


def test_an_interaction_that_reaches_idle_is_clean_and_measured(tmp_path: Path) -> None:
    report = audit(tmp_path, ET_SESSION)
    assert report.findings == []
    m = report.metrics
    assert len(m.turns) == 2
    (interaction,) = m.interactions
    assert (interaction.turns, interaction.in_progress_turns) == (2, 1)
    assert interaction.idle and interaction.status == "IDLE"
    assert interaction.first_reply_audio == pytest.approx(0.4)
    assert interaction.last_turn_audio == pytest.approx(1.5)
    assert interaction.interaction_complete == pytest.approx(2.0)
    assert m.latencies()["interaction_complete"] == {"p50": 2.0, "p90": 2.0, "max": 2.0, "n": 1.0}
    assert "interactions" in report.render()
    assert json.loads(report.to_json())["metrics"]["interactions"][0]["in_progress_turns"] == 1


@pytest.mark.parametrize(
    ("after", "fires"),
    [
        ((2.2, "client", {"realtimeInput": {"text": "and a hotel"}}), True),
        ((2.2, "client", {"clientContent": {"turns": [], "turnComplete": True}}), True),
        ((2.2, "server", {"voiceActivity": {"type": "ACTIVITY_START"}}), True),
        # Audio chunks alone are not a request: a microphone streams silence too.
        (audio(t=2.2), False),
    ],
)
def test_a_new_request_before_idle_is_a_finding(tmp_path: Path, after: Frame, fires: bool) -> None:
    frames = [*ET_SESSION[:7], after, *ET_SESSION[7:]]
    found = [f for f in audit(tmp_path, frames).findings if f.rule == "interaction-not-idle"]
    assert len(found) == int(fires)
    if fires:
        assert "new request" in found[0].message and "1.600 s" in found[0].message


def test_a_session_that_ends_in_progress_is_a_finding(tmp_path: Path) -> None:
    report = audit(tmp_path, ET_SESSION[:7])
    (finding,) = [f for f in report.findings if f.rule == "interaction-not-idle"]
    assert finding.severity == "warning" and "ended" in finding.message
    (interaction,) = report.metrics.interactions
    assert not interaction.idle and interaction.interaction_complete is None


def test_plain_38_turns_are_not_interactions(tmp_path: Path) -> None:
    frames: list[Frame] = [
        (0.0, "client", {"setup": {"model": G38}}),
        SETUP_COMPLETE,
        (1.0, "client", {"realtimeInput": {"text": "hi"}}),
        reply(1.3),
        (1.4, "server", {"serverContent": {"generationComplete": True}}),
        (1.5, "server", {"serverContent": {"turnComplete": True}}),
    ]
    report = audit(tmp_path, frames)
    assert report.findings == [] and len(report.metrics.turns) == 1
    assert report.metrics.interactions == []


# -- Transcribe Live: utterances, no turnComplete -----------------------------


def _interim(t: float, text: str) -> Frame:
    return (t, "server", {"serverContent": {"interimInputTranscription": {"text": text}}})


def _final(t: float, text: str) -> list[Frame]:
    return [
        (
            t,
            "server",
            {"serverContent": {"inputTranscription": {"text": text, "languageCode": "en-US"}}},
        ),
        (t + 0.01, "server", {"serverContent": {"generationComplete": True}}),
    ]


TRANSCRIBE_SETUP = {
    "model": "models/gemini-3.5-transcribe-live",
    **TEXT_ONLY,
    **MANUAL,
    "inputAudioTranscription": {"mode": "SMART", "languageCodes": ["en-US"]},
}
TRANSCRIBE_SESSION: list[Frame] = [
    (0.0, "client", {"setup": TRANSCRIBE_SETUP}),
    SETUP_COMPLETE,
    (0.1, "client", {"realtimeInput": {"activityStart": {}}}),
    audio(t=0.2),
    _interim(0.3, "zorblex"),
    audio(t=0.4),
    _interim(0.5, "zorblex the"),
    (0.6, "client", {"realtimeInput": {"activityEnd": {}}}),
    *_final(0.85, "Zorblex the quaxil."),
    (1.0, "client", {"realtimeInput": {"activityStart": {}}}),
    audio(t=1.1),
    _interim(1.2, "hello"),
    (1.3, "client", {"realtimeInput": {"activityEnd": {}}}),
    *_final(1.45, "Hello."),
]


def test_a_transcribe_live_session_is_clean_and_measured_by_utterance(tmp_path: Path) -> None:
    report = audit(tmp_path, TRANSCRIBE_SESSION)
    assert report.findings == [], report.render()
    m = report.metrics
    assert m.turns == [] and m.interactions == []
    assert (len(m.utterances), m.final_transcriptions, m.interim_transcriptions) == (2, 2, 3)
    first, second = m.utterances
    assert (first.interims, second.interims) == (2, 1)
    assert first.to_final == pytest.approx(0.25) and second.to_final == pytest.approx(0.15)
    assert first.speech_end_t == 0.6 and first.complete_t == pytest.approx(0.86)
    assert m.latencies()["final_transcription"]["n"] == 2  # type: ignore[index]
    assert "2 final(s), 3 interim(s)" in report.render()


def test_an_utterance_cut_off_by_the_close_is_counted(tmp_path: Path) -> None:
    report = audit(tmp_path, [*TRANSCRIBE_SESSION, _interim(2.0, "and")])
    last = report.metrics.utterances[-1]
    assert (last.interims, last.final, last.complete_t) == (1, False, None)


def test_the_readmes_table_of_rules_is_the_registry() -> None:
    """Every rule, its severity and section, in the README's table, and nothing else."""
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    rows = re.findall(r"^\| `([a-z0-9-]+)` \| (info|warning|error) \| ([^|]+) \|", readme, re.M)
    table = {name: (severity, section.strip()) for name, severity, section in rows}
    assert table == {r.name: (r.severity, r.section) for r in RULES.values()}


def test_cli_model_is_the_default_model(tmp_path: Path) -> None:
    frames: list[Frame] = [
        (0.0, "client", {"setup": {"generationConfig": THINKING}}),
        SETUP_COMPLETE,
    ]
    path = str(write(tmp_path / "m.jsonl", frames))
    runner = CliRunner()
    assert runner.invoke(main, ["audit", path]).exit_code == 0
    judged = runner.invoke(main, ["audit", "--json", "--model", G38, path])
    assert judged.exit_code == 1
    (report,) = json.loads(judged.output)
    assert report["rule_counts"] == {"setup-refused-by-model": 1}
