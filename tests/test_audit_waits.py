"""The audit's rules of a server that misbehaves: stalls, empty and cut replies,
unanswered input and turns ended too soon, from the wire timestamps alone."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import fixture_modules
import pytest
import websockets
from click.testing import CliRunner

from rawlive.cli import main
from rawlive.core.watchdog import StallPolicy
from rawlive.servers.base import LiveServer, Peer
from rawlive.servers.proxy import Proxy
from rawlive.tools.audit import Finding, LiveAudit, Report, audit_cassette
from rawlive.tools.audit.waits import UNANSWERED_AFTER
from tests.test_audit import (
    FIXTURES,
    G38,
    MANUAL,
    SETUP_COMPLETE,
    Frame,
    answered,
    audio,
    reply,
    server_content,
    setup,
    spoken,
    text,
    write,
)

WAIT_RULES = {"stalled-turn", "empty-turn", "unanswered-input", "early-turn-end", "reply-cut"}


def audit(tmp_path: Path, frames: list[Frame], **kw: Any) -> Report:
    close = kw.pop("close", (1000, ""))
    return audit_cassette(write(tmp_path / "w.jsonl", frames, close=close), **kw)


def found(report: Report, rule: str | None = None) -> list[Finding]:
    return [f for f in report.findings if f.rule in WAIT_RULES and rule in (None, f.rule)]


# -- stalled-turn ------------------------------------------------------------------


def test_a_reply_that_comes_after_the_threshold_is_a_stall_and_its_whole_wait_is_lost(
    tmp_path: Path,
) -> None:
    report = audit(tmp_path, [setup(), SETUP_COMPLETE, text(1.0), *answered(20.0)])
    (stall,) = found(report)
    assert (stall.rule, stall.severity, stall.t) == ("stalled-turn", "error", 1.0)
    assert stall.lost == pytest.approx(19.0)  # from due to the first part of the reply
    assert "realtime text" in stall.message and "resume" in stall.message
    assert report.metrics.time_lost == {"stalled-turn": pytest.approx(19.0)}
    data = json.loads(report.to_json())
    assert data["metrics"]["time_lost"]["stalled-turn"] == pytest.approx(19.0)
    assert data["findings"][0]["lost"] == pytest.approx(19.0)
    assert "time lost to stalled-turn (s)  19.000" in report.render()


def test_a_reply_that_stops_midway_for_the_gap_is_a_stall(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), reply(1.5), *answered(8.0)]
    (stall,) = found(audit(tmp_path, frames))
    assert stall.rule == "stalled-turn" and stall.t == 1.5
    assert stall.lost == pytest.approx(6.5) and "stopped" in stall.message


def test_a_slow_but_healthy_session_is_no_stall(tmp_path: Path) -> None:
    # 14 s to the first audio, 4 s between parts: within StallPolicy's defaults.
    frames = [
        setup(),
        SETUP_COMPLETE,
        text(1.0),
        reply(15.0),
        reply(19.0),
        reply(23.0),
        server_content(27.0, generationComplete=True),
        server_content(31.0, turnComplete=True),
    ]
    assert found(audit(tmp_path, frames)) == []


def test_a_recording_that_ends_still_waiting_is_a_stall_up_to_its_end(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), audio(t=20.0)]
    (stall,) = found(audit(tmp_path, frames))
    assert stall.rule == "stalled-turn" and stall.lost == pytest.approx(19.01)  # to the close


def test_stall_after_sets_the_threshold_one_fault_one_finding(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), audio(t=12.0)]
    # 11 s: under the default 15 s, so the connection's end left it unanswered.
    assert [f.rule for f in found(audit(tmp_path, frames))] == ["unanswered-input"]
    (short,) = found(audit(tmp_path, frames, stall=StallPolicy(first_reply=10)))
    assert short.rule == "stalled-turn"
    path = str(write(tmp_path / "cli.jsonl", frames))
    runner = CliRunner()
    assert runner.invoke(main, ["audit", path]).exit_code == 0  # a warning only
    result = runner.invoke(main, ["audit", "--json", "--stall-after", "10", path])
    assert result.exit_code == 1
    (doc,) = json.loads(result.output)
    assert doc["rule_counts"] == {"stalled-turn": 1}
    bad = runner.invoke(main, ["audit", "--stall-after", "0", path])
    assert bad.exit_code == 2 and "--stall-after must be a positive number" in bad.output
    assert "Traceback" not in bad.output


def test_the_stall_threshold_counts_from_the_latest_input(tmp_path: Path) -> None:
    # A reply due after a tool response is timed from that response.
    frames = [
        setup(tools=[{"functionDeclarations": [{"name": "f"}]}]),
        SETUP_COMPLETE,
        text(1.0),
        (1.5, "server", {"toolCall": {"functionCalls": [{"id": "c1", "name": "f"}]}}),
        (
            12.0,
            "client",
            {"toolResponse": {"functionResponses": [{"id": "c1", "name": "f", "response": {}}]}},
        ),
        *answered(14.0),
    ]
    assert found(audit(tmp_path, frames)) == []  # the tool took 10.5 s: the client's time
    # The user asking again while the blocking call is open changes nothing: the
    # model answers after the result (the core's rule 11), so the wait is the client's.
    asked = [*frames[:4], text(3.0, "are you there?"), (20.0, *frames[4][1:]), *answered(21.0)]
    assert found(audit(tmp_path, asked)) == []


# -- unanswered-input ----------------------------------------------------------------


def test_the_user_going_on_with_no_reply_is_unanswered_input(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), text(5.0), *answered(5.5)]
    (finding,) = found(audit(tmp_path, frames))
    assert (finding.rule, finding.severity, finding.t) == ("unanswered-input", "warning", 1.0)
    assert finding.lost == pytest.approx(4.0) and "the user went on" in finding.message


def test_going_on_sooner_than_the_server_could_answer_is_no_finding(tmp_path: Path) -> None:
    soon = 1.0 + UNANSWERED_AFTER - 0.5
    frames = [setup(), SETUP_COMPLETE, text(1.0), text(soon), *answered(soon + 0.5)]
    assert found(audit(tmp_path, frames)) == []


def test_a_connection_that_ends_with_no_reply_is_unanswered_input(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), audio(t=6.0)]
    (finding,) = found(audit(tmp_path, frames))
    assert finding.rule == "unanswered-input" and "the connection ended" in finding.message
    assert finding.lost == pytest.approx(5.01)


def test_with_proactive_audio_an_unanswered_input_is_information(tmp_path: Path) -> None:
    frames: list[Frame] = [
        (0.0, "client", {"setup": {"model": G38}}),
        SETUP_COMPLETE,
        text(1.0),
        text(5.0),
        *answered(5.5),
    ]
    report = audit(tmp_path, frames)
    (finding,) = found(report)
    assert finding.rule == "unanswered-input" and finding.severity == "info"
    assert "proactive audio" in finding.message
    assert (report.count("warning"), report.count("info")) == (0, 1)
    assert not report.fails("warning") and report.fails("info")
    assert json.loads(report.to_json())["counts"] == {"info": 1, "warning": 0, "error": 0}
    # The same on 2.5 when the setup asks for proactive audio.
    asked = [setup(proactivity={"proactiveAudio": True}), *frames[1:]]
    (finding,) = found(audit(tmp_path, asked))
    assert finding.severity == "info"


# -- empty-turn ----------------------------------------------------------------------


def test_a_turn_complete_with_nothing_in_it_is_an_empty_turn(tmp_path: Path) -> None:
    frames = [
        setup(),
        SETUP_COMPLETE,
        text(1.0),
        server_content(1.5, generationComplete=True),
        (1.6, "server", {"serverContent": {"turnComplete": True}, "usageMetadata": {}}),
    ]
    (finding,) = found(audit(tmp_path, frames))
    assert (finding.rule, finding.t) == ("empty-turn", 1.0)
    assert finding.lost == pytest.approx(0.6)


@pytest.mark.parametrize(
    "content",
    [
        {"outputTranscription": {"text": "hi"}, "turnComplete": True},
        {
            "modelTurn": {"parts": [{"text": "hi"}]},
            "generationComplete": True,
            "turnComplete": True,
        },
        {"interrupted": True, "turnComplete": True},
    ],
)
def test_a_turn_with_content_or_interrupted_is_not_empty(
    tmp_path: Path, content: dict[str, Any]
) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), (1.5, "server", {"serverContent": content})]
    assert found(audit(tmp_path, frames), "empty-turn") == []


# -- reply-cut -----------------------------------------------------------------------


def test_a_turn_complete_without_generation_complete_cuts_the_reply(tmp_path: Path) -> None:
    frames = [
        setup(),
        SETUP_COMPLETE,
        text(1.0),
        reply(1.3),
        server_content(1.5, turnComplete=True),
    ]
    (cut,) = found(audit(tmp_path, frames))
    assert (cut.rule, cut.t) == ("reply-cut", 1.3) and cut.lost == pytest.approx(0.2)
    assert "no generationComplete" in cut.message


def test_a_connection_that_ends_mid_reply_cuts_it(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), reply(1.3), reply(1.4)]
    (cut,) = found(audit(tmp_path, frames, close=(1011, "Internal error encountered.")))
    assert cut.rule == "reply-cut" and "connection ended mid-reply" in cut.message
    assert cut.t == 1.4 and cut.lost == pytest.approx(0.01)


@pytest.mark.parametrize(
    "ending",
    [
        [server_content(1.5, interrupted=True), server_content(1.51, turnComplete=True)],
        [server_content(1.5, generationComplete=True)],  # then the close: the reply was whole
    ],
)
def test_an_interrupted_or_whole_reply_is_not_cut(tmp_path: Path, ending: list[Frame]) -> None:
    frames = [setup(), SETUP_COMPLETE, text(1.0), reply(1.3), *ending]
    assert found(audit(tmp_path, frames)) == []


# -- early-turn-end ------------------------------------------------------------------


def test_a_reply_while_the_user_still_speaks_ends_the_turn_early(tmp_path: Path) -> None:
    frames = [setup(), SETUP_COMPLETE, *spoken(0.5, 1.0), *answered(1.52)]
    (early,) = found(audit(tmp_path, frames))
    assert (early.rule, early.t) == ("early-turn-end", 1.52)
    assert early.lost == pytest.approx(0.8)  # the whole default silenceDurationMs
    assert "still speaking" in early.message and "800 ms" in early.message


def test_a_server_activity_end_in_a_pause_too_short_ends_the_turn_early(tmp_path: Path) -> None:
    frames = [
        setup(),
        SETUP_COMPLETE,
        *spoken(0.5, 1.0, silence=0.32),
        (1.83, "server", {"voiceActivity": {"type": "ACTIVITY_END"}}),
        *answered(2.0),
    ]
    (early,) = found(audit(tmp_path, frames))
    assert early.rule == "early-turn-end" and "ACTIVITY_END" in early.message
    assert "0.32 s into a pause" in early.message
    assert early.lost == pytest.approx(0.48)


def test_the_setups_silence_duration_is_the_one_judged(tmp_path: Path) -> None:
    frames = [*spoken(0.5, 1.0, silence=0.32), *answered(1.83)]
    default = [setup(), SETUP_COMPLETE, *frames]
    assert [f.rule for f in found(audit(tmp_path, default))] == ["early-turn-end"]
    short = {"realtimeInputConfig": {"automaticActivityDetection": {"silenceDurationMs": 200}}}
    assert found(audit(tmp_path, [setup(**short), SETUP_COMPLETE, *frames])) == []


def test_a_reply_after_the_silence_is_on_time_and_the_end_of_speech_makes_it_due(
    tmp_path: Path,
) -> None:
    speech = spoken(0.5, 1.0, silence=1.0)
    assert found(audit(tmp_path, [setup(), SETUP_COMPLETE, *speech, *answered(2.6)])) == []
    # No reply at all while the microphone streams silence: the detector ended
    # the speech, so a reply was due from there, and it stalled.
    silence = [audio(n=1280, t=2.5 + 0.5 * i) for i in range(40)]
    (stall,) = found(audit(tmp_path, [setup(), SETUP_COMPLETE, *speech, *silence]))
    assert stall.rule == "stalled-turn" and "the end of the user's speech" in stall.message
    assert 2.2 < (stall.t or 0) < 2.4  # 800 ms of silence after the speech ended at 1.5 s


def test_manual_activity_detection_or_elided_audio_is_not_judged(tmp_path: Path) -> None:
    frames = [*spoken(0.5, 1.0), *answered(1.52)]
    assert found(audit(tmp_path, [setup(**MANUAL), SETUP_COMPLETE, *frames])) == []
    path = write(tmp_path / "elided.jsonl", [setup(), SETUP_COMPLETE, *frames])
    lines = []
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if event.get("from") == "client" and "realtimeInput" in event.get("text", ""):
            message = json.loads(event["text"])
            size = len(message["realtimeInput"]["audio"]["data"]) * 3 // 4
            message["realtimeInput"]["audio"]["data"] = {
                "elided": True,
                "bytes": size,
                "sha256": "0" * 64,
            }
            event.update(text=json.dumps(message), elided=1)
        lines.append(json.dumps(event) + "\n")
    path.write_text("".join(lines))
    report = audit_cassette(path)
    assert report.metrics.audio_in_seconds > 0.9  # the audio was there, its samples not
    assert found(report) == []


def test_audio_that_stopped_flowing_is_no_evidence(tmp_path: Path) -> None:
    # The stream stops without audioStreamEnd; the reply comes 0.5 s later.
    frames = [setup(), SETUP_COMPLETE, *spoken(0.5, 1.0), *answered(2.0)]
    assert found(audit(tmp_path, frames)) == []


# -- the fixtures, the proxy, the report ---------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "hello-text.jsonl",
        "weather-tool-goaway.jsonl",
        "live38-nonblocking.jsonl",
        "thinking-filler.jsonl",
        "transcribe-live.jsonl",
        "video-frames.jsonl",
        "report-voice.jsonl",
        "report-errors.jsonl",
        "report-empty.jsonl",
    ],
)
def test_no_fixture_session_has_a_misbehaving_server(name: str) -> None:
    report = audit_cassette(FIXTURES / name)
    assert found(report) == [], report.render()
    assert report.metrics.time_lost == {}


def _fault_cassettes() -> dict[str, tuple[dict[str, object], str]]:
    """fixtures/sessions/make_sessions.py's FAULTS: each cassette, its emulator fault and rule."""
    faults: dict[str, tuple[dict[str, object], str]] = fixture_modules.load(
        "sessions/make_sessions.py"
    ).FAULTS
    return faults


FAULT_CASSETTES = _fault_cassettes()


def test_every_fixture_session_is_a_fault_cassette_or_judged_clean() -> None:
    # A new fixture session must be added to one list or the other.
    judged = set(FAULT_CASSETTES) | {
        "hello-text.jsonl",
        "weather-tool-goaway.jsonl",
        "live38-nonblocking.jsonl",
        "thinking-filler.jsonl",
        "transcribe-live.jsonl",
        "video-frames.jsonl",
        "report-voice.jsonl",
        "report-errors.jsonl",
        "report-empty.jsonl",
        "report-cut.jsonl",
    }
    assert {path.name for path in FIXTURES.glob("*.jsonl")} == judged
    assert {rule for _, rule in FAULT_CASSETTES.values()} == WAIT_RULES


@pytest.mark.parametrize("name", sorted(FAULT_CASSETTES))
def test_each_rule_fires_on_the_emulators_own_fault_and_only_it(name: str) -> None:
    # Recorded from the emulator with the turn fault applied to turn 1
    # (make_sessions.py): the rule it must cause, once, and no other of the five.
    fault, rule = FAULT_CASSETTES[name]
    report = audit_cassette(FIXTURES / name)
    assert [f.rule for f in found(report)] == [rule], (fault, report.render())
    (finding,) = [f for f in report.findings if f.rule == rule]
    assert finding.lost is not None and finding.lost >= 0
    assert report.metrics.time_lost.get(rule, 0.0) == pytest.approx(finding.lost)
    if rule == "stalled-turn":
        assert finding.lost >= 15.0  # the fault's 16 s stall, from the activityEnd on


def test_a_recording_cut_off_mid_reply_is_not_a_cut_reply() -> None:
    # report-cut.jsonl: the recorder was killed while writing a reply audio
    # frame. The recording, not the connection, ended there: the reply may
    # have gone on, so it is truncated, not cut.
    report = audit_cassette(FIXTURES / "report-cut.jsonl")
    assert found(report) == []
    assert "cassette-truncated" in {f.rule for f in report.findings}


def test_the_live_audit_finds_a_stall_on_its_timer_with_no_frame() -> None:
    seen: list[Finding] = []
    live = LiveAudit(lambda key, finding: seen.append(finding), tick=None)
    for sender, payload, t in [
        ("client", {"setup": {"model": "models/gemini-2.5-flash"}}, 0.0),
        ("server", {"setupComplete": {}}, 0.1),
        ("client", {"realtimeInput": {"text": "hi"}}, 1.0),
    ]:
        live.frame(1, sender, json.dumps(payload).encode(), t, binary=False)
    live.tick(1, 10.0)
    assert seen == []
    live.tick(1, 16.5)
    (stall,) = seen
    assert stall.rule == "stalled-turn" and stall.lost == pytest.approx(15.5)
    report = live.close(1, 20.0, 1000)
    (kept,) = [f for f in report.findings if f.rule == "stalled-turn"]
    assert kept.lost == pytest.approx(19.0)  # grown to the close
    assert report.metrics.time_lost == {"stalled-turn": pytest.approx(19.0)}


class Mute(LiveServer):
    """Completes the setup, then takes every frame and answers none (a stalled server)."""

    async def session(self, peer: Peer) -> None:
        await super().session(peer)
        while True:
            await peer.recv()


async def test_a_proxy_audit_prints_a_stall_while_the_session_hangs() -> None:
    seen: list[Finding] = []
    live = LiveAudit(
        lambda key, finding: seen.append(finding), stall=StallPolicy(first_reply=0.3), tick=0.05
    )
    async with Mute() as upstream:
        async with Proxy(upstream.url, on_frame=live.on_frame, on_close=live.on_close) as proxy:
            async with websockets.connect(proxy.url) as ws:
                await ws.send(json.dumps({"setup": {"model": "models/gemini-2.5-flash"}}))
                await ws.recv()
                await ws.send(json.dumps({"realtimeInput": {"text": "hello?"}}))
                for _ in range(100):
                    if seen:
                        break
                    await asyncio.sleep(0.05)
                # Found while the connection is open and silent.
                assert [f.rule for f in seen] == ["stalled-turn"]
                assert seen[0].lost is not None and seen[0].lost >= 0.3


def test_proxy_stall_after_is_checked_before_anything_listens() -> None:
    args = ["proxy", "--listen", "127.0.0.1:0", "--upstream", "ws://127.0.0.1:9", "--audit"]
    result = CliRunner().invoke(main, [*args, "--stall-after", "-1"])
    assert result.exit_code == 2 and "--stall-after must be a positive number" in result.output
    assert "Traceback" not in result.output


def test_the_proxys_summary_says_the_time_lost(capsys: pytest.CaptureFixture[str]) -> None:
    from rawlive.cli import _live_audit_hooks
    from rawlive.servers.base import CapturedConnection, ConnectionEnd
    from rawlive.servers.base import Frame as WireFrame

    hooks = _live_audit_hooks(20, StallPolicy(first_reply=2.0))
    capture = CapturedConnection(path="/", query={}, headers=[], number=1)
    for sender, payload, t in [
        ("client", {"setup": {"model": "models/gemini-2.5-flash"}}, 0.0),
        ("server", {"setupComplete": {}}, 0.1),
        ("client", {"realtimeInput": {"text": "hi"}}, 1.0),
        ("client", {"realtimeInput": {"audioStreamEnd": True}}, 4.0),
    ]:
        hooks["on_frame"](capture, WireFrame(sender, "text", json.dumps(payload).encode(), t))
    hooks["on_close"](capture, ConnectionEnd(code=1000, reason="", time=5.0, by="client"))
    printed = capsys.readouterr().out
    assert "[conn 1] error stalled-turn (§3.2, §7) t=1.000 lost=3.000:" in printed
    assert "time lost: stalled-turn 4.0 s" in printed  # grown to the close


def test_the_rest_of_an_interaction_left_waiting_is_no_unanswered_input(tmp_path: Path) -> None:
    in_progress = {"generationComplete": True, "turnComplete": True}
    frames: list[Frame] = [
        (0.0, "client", {"setup": {"model": "models/gemini-3.8-live-extended-thinking"}}),
        SETUP_COMPLETE,
        text(1.0),
        reply(1.2),
        server_content(1.5, **in_progress, interactionStatus="IN_PROGRESS"),
        text(6.0, "and?"),  # 4.5 s into the background work: interaction-not-idle's
        *answered(6.5),
    ]
    report = audit(tmp_path, frames)
    assert found(report) == [] and "interaction-not-idle" in {f.rule for f in report.findings}
