"""The ``live_scenario`` fixture: a scenario recorded on the emulator once, then replayed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

# C extensions (numpy, soxr, av) cannot be imported afresh by pytester's in-process runs,
# which forget the modules first imported inside them: imported here, once.
import rawlive.media.audio
import rawlive.media.container
import rawlive.media.vad
import rawlive.servers.emulator.script
import rawlive.tools.scenario  # noqa: F401

pytest_plugins = ["pytester"]

WEATHER = Path(__file__).resolve().parent.parent / "fixtures" / "scenarios" / "weather.toml"

MODULE = f"""
import pytest

from rawlive.tools.scenario import ScenarioFailed

WEATHER = {str(WEATHER)!r}


def test_weather(live_scenario):
    run = live_scenario(WEATHER, speed=None, emulator_speed=0)
    run.turn(1).expect_tool_call("get_weather", args={{"city": "Paris"}}).expect_reply(
        contains="sunny"
    )
    assert run.target == "endpoint"
    run.expect_no_findings()
"""

BROKEN = """

def test_weather_in_london(live_scenario):
    run = live_scenario(WEATHER, check=False, speed=None, emulator_speed=0)
    run.turn(1).expect_tool_call("get_weather", args_subset={"city": "London"})
"""


@pytest.fixture(autouse=True)
def _ini(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")


def test_recorded_on_the_emulator_then_replayed(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_live=MODULE)
    result = pytester.runpytest("--live-record-mode=once", "--live-upstream=emulator")
    result.assert_outcomes(passed=1)
    cassette = pytester.path / "tests" / "cassettes" / "test_live" / "test_weather.jsonl"
    lines = [json.loads(line) for line in cassette.read_text().splitlines()]
    sent = [
        json.loads(e["text"])
        for e in lines
        if e["type"] == "frame" and e["from"] == "client" and "text" in e
    ]
    assert sent[0]["setup"]["model"] == "models/gemini-3.8-live"
    assert sent[0]["setup"]["tools"][0]["functionDeclarations"][0]["name"] == "get_weather"
    assert any("toolResponse" in m for m in sent)
    # Replayed with no upstream at all (the default mode, none).
    pytester.runpytest().assert_outcomes(passed=1)


def test_a_failed_expectation_fails_the_test_and_records_nothing(
    pytester: pytest.Pytester,
) -> None:
    pytester.makepyfile(test_live=MODULE + BROKEN)
    result = pytester.runpytest(
        "--live-record-mode=once", "--live-upstream=emulator", "-k", "london"
    )
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*ScenarioFailed: scenario 'weather', turn 1: expected a tool call get_weather "
            'with args including {"city": "London"}',
            '*tool calls: get_weather({"city": "Paris"})',
            "*cassette: *scenario-1.jsonl",
            "*see it: rawlive report *scenario-1.jsonl -o *scenario-1.html",
        ]
    )
    cassette = pytester.path / "tests" / "cassettes" / "test_live" / "test_weather_in_london.jsonl"
    assert not cassette.exists()
    assert not cassette.with_name(cassette.name + ".partial").exists()
