"""Scenarios: the format, the runner on the emulator and from a cassette, the expectations
and their failure messages, the summary table and ``rawlive scenario run``."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rawlive.errors import ConfigError
from rawlive.tools.scenario import (
    Expect,
    ExpectToolCall,
    Scenario,
    ScenarioFailed,
    ScenarioRun,
    ToolSpec,
    Turn,
    load_scenario,
    render_table,
    run_scenario,
    summarize,
)
from rawlive.tools.scenario.table import percentile

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = ROOT / "fixtures" / "scenarios"
WEATHER = SCENARIOS / "weather.toml"
CASSETTE = SCENARIOS / "weather.jsonl"
QUESTION = ROOT / "fixtures" / "audio" / "weather-16k-mono.wav"
RAWLIVE = [sys.executable, "-m", "rawlive"]

#: Fast runs: the user's audio unpaced, the emulator's replies as fast as it can.
FAST: dict[str, Any] = {"speed": None, "emulator_speed": 0}


def _with_expect(scenario: Scenario, number: int, **changes: Any) -> Scenario:
    """``scenario`` with turn ``number``'s expect changed."""
    turns = list(scenario.turns)
    spec = turns[number - 1]
    expect = msgspec.structs.replace(spec.expect or Expect(), **changes)
    turns[number - 1] = msgspec.structs.replace(spec, expect=expect)
    return msgspec.structs.replace(scenario, turns=turns)


# -- the format ---------------------------------------------------------------------------------


def test_the_readme_scenario_loads_with_its_paths_made_absolute() -> None:
    scenario = load_scenario(WEATHER)
    assert scenario.name == "weather"
    assert [turn.kind for turn in scenario.turns] == ["audio", "speak"]
    assert scenario.turns[1].says == "And what about tomorrow?"
    assert scenario.turns[0].audio == str(QUESTION)
    assert scenario.emulator_script == str(SCENARIOS / "emulator" / "weather.toml")
    assert scenario.speech_cache == str(SCENARIOS / ".speech")
    assert scenario.source == str(WEATHER)
    assert scenario.tool_responses() == {
        "get_weather": {"city": "Paris", "sky": "sunny", "temperature_c": 24}
    }
    first = scenario.turns[0].expect
    assert first is not None and first.tool_calls == [
        ExpectToolCall(name="get_weather", args={"city": "Paris"})
    ]


def test_a_json_scenario_is_the_same_format(tmp_path: Path) -> None:
    path = tmp_path / "hello.json"
    path.write_text(json.dumps({"name": "hello", "turns": [{"text": "hi"}, {"pause": 0.5}]}))
    scenario = load_scenario(path)
    assert [turn.kind for turn in scenario.turns] == ["text", "pause"]
    assert scenario.turns[1].replies is False


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('name = "x"\n[[turns]]\ntext = "hi"\nvoice = "Kore"\n', "turns[0].voice: unknown key"),
        ('[[turns]]\ntext = "hi"\n', "name: required key missing; add it"),
        (
            'name = "x"\n[[turns]]\ntext = "hi"\naudio = "a.wav"\n',
            "turns[0]: give exactly one of audio, text, speak, pause, silence (here audio, text)",
        ),
        ('name = "x"\n[[turns]]\nsays = "hi"\n', "(here none of them)"),
        ('name = "x"\n[[turns]]\naudio = "missing.wav"\n', "turns[0].audio: no file at"),
        ('name = "x"\nemulator_script = "nope.toml"\n[[turns]]\ntext = "a"\n', "emulator_script"),
        ('name = "x"\n[[turns]]\npause = -1\n', "turns[0].pause: expected `float` >= 0"),
        ('name = "x"\nturns = [\n', "not valid TOML"),
        (
            'name = "x"\n[expect]\nno_findings = "fatal"\n[[turns]]\ntext = "a"\n',
            "expect.no_findings: invalid enum value 'fatal'; use one of 'info', 'warning', 'error'",
        ),
        (
            'name = "x"\n[[turns]]\ntext = "a"\nvia = "ws"\n',
            "turns[0].via: invalid enum value 'ws'; use one of 'realtime_input', 'client_content'",
        ),
    ],
)
def test_a_bad_scenario_is_one_line_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_scenario(path)
    assert str(caught.value).startswith(f"{path}: ")
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_scenario_file_must_be_toml_or_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="name the file"):
        load_scenario(tmp_path / "s.yaml")
    with pytest.raises(ConfigError, match="no such scenario file"):
        load_scenario(tmp_path / "s.toml")


def test_a_turn_built_in_python_is_checked_too() -> None:
    with pytest.raises(ConfigError, match="exactly one"):
        Turn(text="a", speak="b")
    assert Turn(speak="hello there").says == "hello there"


# -- runs on the emulator -----------------------------------------------------------------------


async def test_the_readme_scenario_passes_on_the_emulator(tmp_path: Path) -> None:
    record = tmp_path / "weather.jsonl"
    run = await run_scenario(WEATHER, record=record, **FAST)
    assert run.error is None and run.target == "emulator"
    run.check()
    first, second = run.turns
    assert first.completed and second.completed
    assert first.input_transcript == "What is the weather like in Paris today?"
    assert [(c.name, c.args) for c in first.tool_calls] == [("get_weather", {"city": "Paris"})]
    assert first.tool_responses[0].response["sky"] == "sunny"
    assert first.tool_calls[0].id == first.tool_responses[0].id
    assert "sunny" in first.reply and first.reply_audio_seconds > 1
    assert first.audio_seconds > 1 and second.input == "And what about tomorrow?"
    assert first.first_audio is not None and first.turn_complete is not None
    assert first.first_audio <= first.turn_complete
    kinds = [e.kind for e in first.events]
    assert kinds.index("input_end") < kinds.index("tool_call") < kinds.index("first_audio")
    assert run.cassette == str(record) and record.is_file()
    assert run.findings == []
    check = run.turn(1)
    check.expect_tool_call("get_weather", args={"city": "Paris"})
    check.expect_tool_call("get_weather", args_subset={"city": "Paris"})
    check.expect_tool_call("get_weather", where=lambda args: args["city"].startswith("Par"))
    check.expect_next_tool_call("get_weather").expect_reply(contains="sunny", matches=r"\d|four")
    check.expect_latency(first_audio=1.5, turn_complete=5)
    run.turn(2).expect_no_tool_call().expect_reply(contains=["tomorrow", "breeze"])
    run.expect_no_findings(at_least="info")


async def test_broken_arguments_and_latency_budget_are_all_reported(tmp_path: Path) -> None:
    scenario = _with_expect(
        load_scenario(WEATHER),
        1,
        tool_calls=[ExpectToolCall(name="get_weather", args={"city": "London"})],
        first_audio=0.01,
    )
    record = tmp_path / "broken.jsonl"
    # Replies at 4x real time: the scripted 250 ms before the reply still takes ~60 ms.
    run = await run_scenario(scenario, record=record, speed=None, emulator_speed=4)
    with pytest.raises(ScenarioFailed) as caught:
        run.check()
    message = str(caught.value)
    assert message.startswith("scenario 'weather' failed (2 failures):")
    assert len(caught.value.failures) == 2
    lines = message.splitlines()
    assert lines[1] == '- turn 1: expected a tool call get_weather with args {"city": "London"}'
    assert lines[2].startswith("- turn 1: expected first audio within 0.01 s, it took 0.")
    assert lines[3] == '    tool calls: get_weather({"city": "Paris"})'
    assert caught.value.failures[0] == (
        "scenario 'weather', turn 1: expected a tool call get_weather with args "
        '{"city": "London"}'
    )
    assert "heard: 'What is the weather like in Paris today?'" in message
    assert "reply: 'It is sunny in Paris today, and about twenty four degrees.'" in message
    assert f"cassette: {record}" in message
    assert f"rawlive report {record} -o {record.with_suffix('.html')}" in message
    # The same from Python: the first failure raises, naming the turn.
    with pytest.raises(ScenarioFailed, match=r"turn 1: expected first audio within 0\.01 s"):
        run.turn(1).expect_latency(first_audio=0.01)
    with pytest.raises(AssertionError, match="turn 1: expected tool call 1 to be get_weather"):
        run.turn(1).expect_next_tool_call("get_weather", args_subset={"city": "Rome"})


async def test_the_word_error_rate_against_what_the_turn_says(tmp_path: Path) -> None:
    run = await run_scenario(WEATHER, **FAST)
    run.turn(1).expect_wer(max=0.0)
    broken = load_scenario(WEATHER)
    turns = list(broken.turns)
    turns[0] = msgspec.structs.replace(
        turns[0],
        says="What is the weather like in London tomorrow?",
        expect=Expect(max_wer=0.2),
    )
    broken = msgspec.structs.replace(broken, turns=turns)
    run = await run_scenario(broken, **FAST)
    with pytest.raises(ScenarioFailed) as caught:
        run.check()
    message = str(caught.value)
    assert "- turn 1: expected the input transcription's word error rate at most 0.2, " in message
    assert "it is 0.25" in message
    assert "(says 'What is the weather like in London tomorrow?')" in message


async def test_python_handlers_answer_tool_calls_sync_or_async() -> None:
    seen: list[dict[str, Any]] = []

    def weather(args: dict[str, Any]) -> dict[str, Any]:
        seen.append(args)
        return {"sky": "cloudy", "city": args["city"]}

    async def weather_async(args: dict[str, Any]) -> dict[str, Any]:
        return weather(args)

    for handler in (weather, weather_async):
        run = await run_scenario(WEATHER, handlers={"get_weather": handler}, **FAST)
        assert run.turns[0].tool_responses[0].response == {"sky": "cloudy", "city": "Paris"}
    assert seen == [{"city": "Paris"}, {"city": "Paris"}]

    def broken(args: dict[str, Any]) -> dict[str, Any]:
        raise RuntimeError("the weather service is down")

    run = await run_scenario(WEATHER, handlers={"get_weather": broken}, **FAST)
    assert run.turns[0].tool_responses[0].response == {
        "error": "RuntimeError: the weather service is down"
    }


async def test_spoken_turns_pauses_and_silence(tmp_path: Path) -> None:
    spoken: list[str] = []

    def speech(text: str) -> Path:  # a local speech source: the question's recording
        spoken.append(text)
        target = tmp_path / "spoken.wav"
        shutil.copy(QUESTION, target)
        return target

    scenario = Scenario(
        name="spoken",
        model="gemini-3.8-live",
        tools=[ToolSpec(name="get_weather", response={"sky": "sunny"})],
        emulator_script=str(SCENARIOS / "emulator" / "weather.toml"),
        turns=[
            Turn(speak="What is the weather like in Paris today?"),
            Turn(pause=0.05),
            Turn(silence=0.2),
            Turn(text="And tomorrow?", via="client_content"),
        ],
    )
    run = await run_scenario(scenario, speech=speech, **FAST)
    assert spoken == ["What is the weather like in Paris today?"]
    assert run.error is None
    run.check()
    assert [t.kind for t in run.turns] == ["speak", "pause", "silence", "text"]
    assert run.turns[0].says == "What is the weather like in Paris today?"
    assert run.turns[0].tool_calls[0].name == "get_weather"
    assert run.turns[2].audio_seconds == pytest.approx(0.2)
    assert "sunny" in run.turns[3].reply


async def test_a_speak_turn_with_no_speech_source_is_a_clear_error() -> None:
    scenario = Scenario(name="s", turns=[Turn(speak="hello")])

    def no_speech(text: str) -> Path:
        raise ConfigError(f'no cached speech for "{text}": set GEMINI_API_KEY or record it')

    with pytest.raises(ConfigError, match="no cached speech"):
        await run_scenario(scenario, speech=no_speech, **FAST)


async def test_a_reply_that_never_completes_fails_its_turn(tmp_path: Path) -> None:
    script = tmp_path / "stall.toml"
    script.write_text(
        '[[turns]]\ninput_transcription = "Hello?"\ntone_ms = 200\nfault = { action = "stall" }\n'
    )
    scenario = Scenario(
        name="silent",
        model="gemini-live-2.5-flash-preview",
        emulator_script=str(script),
        turns=[Turn(audio=str(QUESTION), timeout=0.5), Turn(text="Still there?", timeout=0.5)],
    )
    run = await run_scenario(scenario, **FAST)
    assert not run.turns[0].completed
    assert run.failures()[:2] == [
        "scenario 'silent', turn 1: no complete reply within 0.5 s",
        "scenario 'silent', turn 2: no complete reply within 0.5 s",
    ]
    with pytest.raises(ScenarioFailed) as caught:
        run.check()
    lines = str(caught.value).splitlines()
    at = lines.index("- turn 1: no complete reply within 0.5 s")
    assert lines[at + 1 : at + 5] == [
        "    tool calls: none",
        "    heard: ''",
        "    reply: ''",
        "    latencies: first transcription never, first audio never, turn complete never "
        "(no complete reply)",
    ]


# -- from the cassette --------------------------------------------------------------------------


async def test_the_readme_scenario_passes_from_its_cassette() -> None:
    run = await run_scenario(WEATHER, cassette=CASSETTE, speed=None)
    assert run.target == "cassette" and run.problems == [] and run.error is None
    run.check()
    run.turn(1).expect_tool_call("get_weather", args={"city": "Paris"})
    assert run.replayed == str(CASSETTE)


async def test_a_scenario_that_no_longer_matches_its_cassette_fails() -> None:
    scenario = load_scenario(WEATHER)
    turns = list(scenario.turns)
    turns[1] = Turn(text="And the day after?", timeout=1.0)
    run = await run_scenario(
        msgspec.structs.replace(scenario, turns=turns), cassette=CASSETTE, speed=None
    )
    with pytest.raises(ScenarioFailed) as caught:
        run.check()
    assert "replay:" in str(caught.value) or "ended early" in str(caught.value)
    assert f"rawlive report {CASSETTE}" in str(caught.value)


# -- results and the table ----------------------------------------------------------------------


def _result(name: str, passed: bool, latencies: list[float | None], reason: str = "") -> Any:
    run = ScenarioRun(scenario=Scenario(name=name, turns=[Turn(text="a")]))
    result = run.result()
    result.passed, result.first_audio = passed, latencies
    result.failures = [] if passed else [reason]
    return result


def test_the_summary_table() -> None:
    results = [
        _result("weather", True, [0.2, 0.4]),
        _result("weather", False, [0.3, None], "scenario 'weather', turn 1: expected x\n  more"),
        _result("weather", True, [0.5]),
        _result("quiet", False, [], "scenario 'quiet': the run ended early"),
    ]
    rows = summarize(results)
    assert [(r.scenario, r.runs, r.passed, r.pass_rate) for r in rows] == [
        ("weather", 3, 2, 0.6667),
        ("quiet", 1, 0, 0.0),
    ]
    assert rows[0].first_audio_p50 == pytest.approx(0.35)
    assert rows[0].reasons == ["scenario 'weather', turn 1: expected x"]
    table = render_table(rows).splitlines()
    assert table[0] == "scenario  runs  passed  pass rate  first audio p50     p95"
    assert table[2].split() == ["weather", "3", "2", "67%", "350", "ms", "485", "ms"]
    assert table[3].split() == ["quiet", "1", "0", "0%", "-", "-"]
    assert table[4] == "weather: scenario 'weather', turn 1: expected x"
    assert percentile([], 50) is None and percentile([1.0], 95) == 1.0
    decoded = json.loads(results[0].to_json())
    assert decoded["scenario"] == "weather" and decoded["passed"] is True
    assert json.loads(rows[0].to_json())["event"] == "summary"


# -- the command --------------------------------------------------------------------------------


def _cli(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*RAWLIVE, *args], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
    )


def _absolute_copy(source: Path, target: Path, **replace: str) -> None:
    """``source`` written to ``target`` with its relative paths made absolute (and more)."""
    text = source.read_text()
    text = text.replace('"../audio/', f'"{ROOT}/fixtures/audio/')
    text = text.replace('"emulator/', f'"{SCENARIOS}/emulator/')
    for old, new in replace.items():
        text = text.replace(old, new)
    target.write_text(text)


def test_a_folder_runs_with_repeats_and_prints_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "scenarios"
    folder.mkdir()
    _absolute_copy(WEATHER, folder / "weather.toml")
    _absolute_copy(
        WEATHER,
        folder / "rainy.toml",
        **{'name = "weather"': 'name = "rainy"', '"sunny"': '"rain"'},
    )
    result = _cli(
        "scenario", "run", str(folder), "--emulator", "--repeat", "3", "--concurrency", "3",
        "--speed", "0", "--record-dir", str(tmp_path / "runs"),
    )  # fmt: skip
    assert result.returncode == 1, result.stderr
    lines = result.stdout.splitlines()
    assert sum(line.startswith("PASS weather (run ") for line in lines) == 3
    assert sum(line.startswith("FAIL rainy (run ") for line in lines) == 3
    assert any("expected the reply to contain 'rain'" in line for line in lines)
    assert f"  cassette: {tmp_path / 'runs' / 'rainy-1.jsonl'}" in lines
    assert f"  report: {tmp_path / 'runs' / 'rainy-1.html'}" in lines
    assert (tmp_path / "runs" / "rainy-2.html").is_file()
    table = lines[lines.index("") + 1 :]
    assert table[0].split()[:4] == ["scenario", "runs", "passed", "pass"]
    assert table[2].split()[:4] == ["rainy", "3", "0", "0%"]
    assert table[3].split()[:4] == ["weather", "3", "3", "100%"]
    assert table[4].startswith("rainy: scenario 'rainy', turn 1: expected the reply to contain")


def test_the_command_replays_and_prints_json(tmp_path: Path) -> None:
    result = _cli("scenario", "run", str(WEATHER), "--replay", "--speed", "0", "--json")
    assert result.returncode == 0, result.stderr
    first, summary = (json.loads(line) for line in result.stdout.splitlines())
    assert first["passed"] is True and first["target"] == "cassette"
    assert first["turns"][0]["tool_calls"][0]["args"] == {"city": "Paris"}
    assert summary == {
        "event": "summary",
        "scenario": "weather",
        "runs": 1,
        "passed": 1,
        "pass_rate": 1.0,
        "first_audio_p50": summary["first_audio_p50"],
        "first_audio_p95": summary["first_audio_p95"],
        "reasons": [],
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nowhere.toml", "--emulator"], "nowhere.toml: no such scenario file or folder"),
        (["X", "--emulator", "--replay"], "give one of --emulator, --endpoint and --replay"),
        (["X", "--emulator", "--speed", "-1"], "--speed must not be negative"),
        (["X"], "no API key: set GEMINI_API_KEY to run on Gemini, or use --emulator"),
    ],
)
def test_bad_input_exits_2_with_one_line(args: list[str], message: str) -> None:
    env_free = subprocess.run(
        [*RAWLIVE, "scenario", "run", *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if "API_KEY" not in k},
    )
    assert env_free.returncode == 2
    assert env_free.stderr.strip() == f"rawlive: {message}"


def test_the_readme_shows_the_scenario_file_as_it_is() -> None:
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Test a conversation: `rawlive scenario`") :]
    shown = section[section.index("```toml\n") + len("```toml\n") :]
    assert shown[: shown.index("```")] == WEATHER.read_text()


def test_the_scenario_file_validates_against_its_json_schema() -> None:
    import tomllib

    jsonschema = pytest.importorskip("jsonschema")
    document = json.loads((ROOT / "schemas" / "scenario.schema.json").read_text())
    validator = jsonschema.Draft202012Validator(document)
    validator.validate(tomllib.loads(WEATHER.read_text()))
    errors = list(validator.iter_errors({"name": "x", "turns": [{"audio": "a.wav", "tone": 1}]}))
    assert [e.message for e in errors] == [
        "Additional properties are not allowed ('tone' was unexpected)"
    ]


async def test_a_reply_that_ends_before_the_input_does_completes_its_turn(tmp_path: Path) -> None:
    import wave

    with wave.open(str(QUESTION)) as source:
        params, frames = source.getparams(), source.readframes(source.getnframes())
    padded = tmp_path / "question-then-silence.wav"
    with wave.open(str(padded), "wb") as target:
        target.setparams(params)
        target.writeframes(frames + bytes(2 * 16_000 * 3))  # 3 s of silence after the words
    scenario = Scenario(
        name="early",
        model="gemini-live-2.5-flash-preview",
        turns=[Turn(audio=str(padded), timeout=2.0)],
    )
    # At 4x, the emulator hears the words end, answers (an echo) and completes its
    # turn while the silence is still being sent.
    run = await run_scenario(scenario, speed=4.0, emulator_speed=0)
    kinds = [e.kind for e in run.turns[0].events]
    assert kinds.index("turn_complete") < kinds.index("input_end")
    assert run.turns[0].completed and run.turns[0].turn_complete == 0.0


async def test_a_speech_source_is_cached_beside_the_scenario(tmp_path: Path) -> None:
    import wave

    with wave.open(str(QUESTION)) as source:
        pcm, rate = source.readframes(source.getnframes()), source.getframerate()

    class Recording:
        name = "recording"
        calls = 0

        def synthesize(self, text: str, voice: str | None) -> tuple[bytes, int]:
            Recording.calls += 1
            return pcm, rate

    scenario = msgspec.structs.replace(
        load_scenario(WEATHER).resolved(tmp_path),
        turns=[Turn(speak="What is the weather like in Paris today?")],
        speech_cache=str(tmp_path / ".speech"),
    )
    for _ in range(2):
        run = await run_scenario(scenario, speech=Recording(), **FAST)
        assert run.turns[0].tool_calls[0].args == {"city": "Paris"}
    assert Recording.calls == 1  # the second run found it in the cache
    assert len(list((tmp_path / ".speech").glob("*.wav"))) == 1
