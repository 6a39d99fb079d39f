"""Emulator scripts (servers.emulator.script): the format, its loader, its errors, its schema."""

from __future__ import annotations

import itertools
import json
import re
import textwrap
import tomllib
from pathlib import Path
from typing import Any

import msgspec
import pytest

from rawlive import ConfigError
from rawlive.servers import emulator
from rawlive.servers.emulator import script
from rawlive.servers.emulator.script import (
    Fault,
    FaultPoint,
    Reply,
    Script,
    ToolCall,
    Turn,
    Usage,
    load_script,
    parse_fault_point,
)
from rawlive.tools import schema

ROOT = Path(__file__).resolve().parent.parent
SCRIPTS = ROOT / "fixtures" / "scripts"
WEATHER = SCRIPTS / "weather.toml"
BASIC = SCRIPTS / "basic.json"


def _write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def _wav(path: Path, *, rate: int = 16_000, seconds: float = 0.1) -> Path:
    import numpy as np
    import soundfile as sf

    path.parent.mkdir(parents=True, exist_ok=True)
    samples = 0.1 * np.sin(np.arange(int(rate * seconds)) / rate * 2 * np.pi * 440)
    sf.write(str(path), samples.astype(np.float32), rate, subtype="PCM_16")
    return path


def _error(tmp_path: Path, text: str, name: str = "bad.toml") -> str:
    with pytest.raises(ConfigError) as caught:
        load_script(_write(tmp_path, name, text))
    return str(caught.value)


# -- the example scripts -----------------------------------------------------------------------


def test_weather_example_is_a_tool_call_flow_with_a_go_away() -> None:
    loaded = load_script(WEATHER)
    assert (loaded.frames, loaded.pretty, loaded.speed) == ("binary", True, 1.0)
    first, second = loaded.turns
    assert first.input_transcription == "What's the weather in Paris?"
    assert first.tool_calls == [
        ToolCall(name="get_weather", args={"city": "Paris", "unit": "celsius"})
    ]
    assert first.after_tool is not None
    assert first.after_tool.tone_ms == 1200
    assert first.after_tool.output_transcription == "It's sunny in Paris, 24 degrees."
    assert second.usage == Usage(prompt_tokens=40, response_tokens=20)
    assert loaded.faults == [Fault(at="turn:2", action="go_away", time_left_s=2.0)]
    assert loaded.faults[0].point == FaultPoint("turn", 2)


def test_basic_example_resolves_its_audio_next_to_the_script() -> None:
    loaded = load_script(BASIC)
    assert loaded.json_schema == "../../schemas/emulator-script.schema.json"
    assert loaded.turns[0].audio == str(SCRIPTS / "replies" / "hello.wav")
    assert Path(loaded.turns[0].audio).is_file()
    assert [c.id for c in loaded.turns[1].tool_calls] == ["fc-1", "fc-2"]


def test_the_examples_load_from_any_working_directory(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir("/")
    assert load_script(BASIC.relative_to("/")).turns[0].audio == str(
        SCRIPTS / "replies" / "hello.wav"
    )


def test_the_reference_example_in_the_readme_loads(tmp_path: Path) -> None:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("### The script format", 1)[1]
    block = section.split("```toml\n", 1)[1].split("```", 1)[0]
    _wav(tmp_path / "replies" / "goodbye.wav")
    loaded = load_script(_write(tmp_path, "example.toml", block))
    assert loaded.turns[0].tool_calls[0].name == "get_weather"
    assert loaded.turns[1].audio == str(tmp_path / "replies" / "goodbye.wav")
    assert loaded.faults[0].point == FaultPoint("turn", 2)


# -- TOML and JSON are the same format --------------------------------------------------------


def test_toml_and_json_give_the_same_script(tmp_path: Path) -> None:
    _wav(tmp_path / "replies" / "hi.wav")
    toml_path = _write(
        tmp_path,
        "s.toml",
        """
        model_reply_chunk_ms = 20
        speed = 0
        frames = "binary"
        pretty = true

        [[turns]]
        delay_ms = 10
        input_transcription = "hi"
        output_transcription = "hello"
        text = "hello"
        audio = "replies/hi.wav"
        usage = { prompt_tokens = 1, response_tokens = 2 }

        [[turns]]
          [[turns.tool_calls]]
          name = "f"
          args = { a = [1, 2], b = { c = true } }
          id = "x"
          [turns.after_tool]
          delay_ms = 5
          tone_ms = 100

        [[faults]]
        at = "seconds:1.5"
        action = "late_pongs"
        delay_s = 25
        """,
    )
    json_path = _write(
        tmp_path,
        "s.json",
        """
        {
          "model_reply_chunk_ms": 20, "speed": 0, "frames": "binary", "pretty": true,
          "turns": [
            {"delay_ms": 10, "input_transcription": "hi", "output_transcription": "hello",
             "text": "hello", "audio": "replies/hi.wav",
             "usage": {"prompt_tokens": 1, "response_tokens": 2}},
            {"tool_calls": [{"name": "f", "args": {"a": [1, 2], "b": {"c": true}}, "id": "x"}],
             "after_tool": {"delay_ms": 5, "tone_ms": 100}}
          ],
          "faults": [{"at": "seconds:1.5", "action": "late_pongs", "delay_s": 25}]
        }
        """,
    )
    from_toml, from_json = load_script(toml_path), load_script(json_path)
    assert from_toml == from_json
    assert from_toml.turns[0].audio == str(tmp_path / "replies" / "hi.wav")
    assert from_toml.speed == 0.0 and isinstance(from_toml.speed, float)


def test_a_script_survives_a_json_round_trip(tmp_path: Path) -> None:
    original = load_script(WEATHER)
    again = load_script(_write(tmp_path, "again.json", msgspec.json.encode(original).decode()))
    assert again == original


def test_the_weather_example_as_json_is_the_same_script(tmp_path: Path) -> None:
    table = tomllib.loads(WEATHER.read_text(encoding="utf-8"))
    assert load_script(_write(tmp_path, "weather.json", json.dumps(table))) == load_script(WEATHER)


# -- defaults ----------------------------------------------------------------------------------


def test_the_default_script_has_no_turns_and_no_faults() -> None:
    default = Script.default()
    assert default == Script()
    assert default.turns == [] and default.faults == []
    assert (default.model_reply_chunk_ms, default.speed, default.frames, default.pretty) == (
        40,
        1.0,
        "text",
        False,
    )
    assert default.turn(1) is None


@pytest.mark.parametrize(("name", "text"), [("empty.toml", ""), ("empty.json", "{}")])
def test_an_empty_file_is_the_default_script(tmp_path: Path, name: str, text: str) -> None:
    assert load_script(_write(tmp_path, name, text)) == Script.default()


def test_turns_are_numbered_from_one_and_run_out_into_the_default() -> None:
    loaded = load_script(WEATHER)
    assert loaded.turn(1) is loaded.turns[0]
    assert loaded.turn(2) is loaded.turns[1]
    assert loaded.turn(3) is None
    assert loaded.turn(0) is None


# -- validation: every error names the file and the key ------------------------------------------

BAD_SCRIPTS = [
    # (file text, the path the message must name, a hint it must give)
    ('[[turns]]\naudio = "a.wav"\ntone_ms = 3\n', "turns[0].tone_ms", "not both"),
    ("[[turns]]\ntone_ms = 0\n", "turns[0].tone_ms", ">"),
    ("[[turns]]\ndelay_ms = -1\n", "turns[0].delay_ms", ">= 0"),
    ("[[turns]]\ndelay_ms = 1.5\n", "turns[0].delay_ms", "`int`"),
    ('[[turns]]\naudio = ""\n', "turns[0].audio", "path"),
    ('[[turns]]\n[turns.after_tool]\ntext = "x"\n', "turns[0].after_tool", "tool_calls"),
    ("[[turns]]\n[turns.filler]\ntone_ms = 5\n", "turns[0].filler", "filler needs tool_calls"),
    (
        '[[turns]]\ntext = "hi"\n[[turns.tool_calls]]\nname = "f"\n',
        "turns[0].text",
        "move text into after_tool",
    ),
    (
        '[[turns]]\n[[turns.tool_calls]]\nname = "f"\nid = "a"\n'
        '[[turns.tool_calls]]\nname = "g"\nid = "a"\n',
        "turns[0].tool_calls[1].id",
        "used twice",
    ),
    ('[[turns]]\n[[turns.tool_calls]]\nname = "  "\n', "turns[0].tool_calls[0].name", "blank"),
    ('[[turns]]\n[[turns.tool_calls]]\nname = ""\n', "turns[0].tool_calls[0].name", ">= 1"),
    ("[[turns]]\n[[turns.tool_calls]]\nargs = {}\n", "turns[0].tool_calls[0].name", "missing"),
    (
        '[[turns]]\n[[turns]]\n[[turns]]\n[[turns.tool_calls]]\nname = "f"\nargs = "Paris"\n',
        "turns[2].tool_calls[0].args",
        "expected `object`",
    ),
    ("[[turns]]\nusage = { prompt_tokens = -1 }\n", "turns[0].usage.prompt_tokens", ">= 0"),
    ('frames = "json"\n', "frames", "'binary', 'text'"),
    ("speed = -1\n", "speed", ">= 0"),
    ("model_reply_chunk_ms = 0\n", "model_reply_chunk_ms", ">= 1"),
    ("turns = 3\n", "turns", "expected `array`"),
    ('[[faults]]\nat = "turn:0"\naction = "drop"\n', "faults[0].at", "turn:N"),
    ('[[faults]]\nat = "later"\naction = "drop"\n', "faults[0].at", "seconds:X"),
    ('[[faults]]\naction = "drop"\n', "faults[0].at", "missing"),
    ('[[faults]]\nat = "turn:1"\naction = "explode"\n', "faults[0].action", "'go_away'"),
    ('[[faults]]\nat = "turn:1"\naction = "close"\ncode = 999\n', "faults[0].code", "1000-1003"),
    ('[[faults]]\nat = "turn:1"\naction = "close"\ncode = 5000\n', "faults[0].code", "3000-4999"),
    ('[[faults]]\nat = "turn:1"\naction = "close"\ncode = 1006\n', "faults[0].code", "'drop'"),
    ('[[faults]]\nat = "turn:1"\naction = "drop"\ncode = 1011\n', "faults[0].code", "'close' only"),
    (
        '[[faults]]\nat = "turn:1"\naction = "close"\nreason = "' + "é" * 62 + '"\n',
        "faults[0].reason",
        "123 UTF-8 bytes",
    ),
    (
        '[[faults]]\nat = "turn:1"\naction = "close"\ntime_left_s = 3\n',
        "faults[0].time_left_s",
        "'go_away' only",
    ),
    (
        '[[faults]]\nat = "turn:1"\naction = "go_away"\ndelay_s = 3\n',
        "faults[0].delay_s",
        "'late_pongs' only",
    ),
    ('[[faults]]\nat = "turn:1"\naction = "late_pongs"\ndelay_s = 0\n', "faults[0].delay_s", ">"),
]


@pytest.mark.parametrize(("text", "where", "hint"), BAD_SCRIPTS)
def test_every_validation_error_names_the_file_and_the_key(
    tmp_path: Path, text: str, where: str, hint: str
) -> None:
    message = _error(tmp_path, text)
    assert message.startswith(f"{tmp_path / 'bad.toml'}: {where}: "), message
    assert hint in message, message


@pytest.mark.parametrize(("text", "where", "hint"), BAD_SCRIPTS)
def test_json_scripts_report_the_same_errors(
    tmp_path: Path, text: str, where: str, hint: str
) -> None:
    table = tomllib.loads(text)
    message = _error(tmp_path, json.dumps(table), name="bad.json")
    assert message.startswith(f"{tmp_path / 'bad.json'}: {where}: "), message
    assert hint in message, message


@pytest.mark.parametrize(
    ("text", "where", "hint"),
    [
        ("[[turns]]\ntone = 3\n", "turns[0].tone", "did you mean 'tone_ms'?"),
        ("spead = 2\n", "spead", "did you mean 'speed'?"),
        ("delay_ms = 3\n", "delay_ms", "a key of [[turns]] entries"),
        (
            '[[turns]]\n[[turns.tool_calls]]\nname = "f"\narg = {}\n',
            "turns[0].tool_calls[0].arg",
            "'args'",
        ),
        (
            '[[turns]]\n[[turns.tool_calls]]\nname = "f"\n'
            '[turns.after_tool]\ninput_transcription = "x"\n',
            "turns[0].after_tool.input_transcription",
            "known keys here: audio, delay_ms, output_transcription, text, tone_ms",
        ),
        (
            "[[turns]]\nusage = { total_tokens = 3 }\n",
            "turns[0].usage.total_tokens",
            "prompt_tokens",
        ),
        ('[[faults]]\nat = "turn:1"\naction = "drop"\nwhen = 1\n', "faults[0].when", "unknown key"),
    ],
)
def test_unknown_keys_are_rejected_with_their_path(
    tmp_path: Path, text: str, where: str, hint: str
) -> None:
    message = _error(tmp_path, text)
    assert f": {where}: unknown key" in message, message
    assert hint in message, message


def test_a_misspelt_schema_key_in_json_is_caught(tmp_path: Path) -> None:
    message = _error(tmp_path, '{"$schem": "x"}', name="s.json")
    assert "unknown key '$schem'; did you mean '$schema'?" in message


def test_building_an_invalid_struct_in_code_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="tone_ms: give either audio or tone_ms"):
        Turn(audio="a.wav", tone_ms=100)
    with pytest.raises(ConfigError, match="after_tool: after_tool needs tool_calls"):
        Turn(after_tool=Reply(tone_ms=1))
    with pytest.raises(ConfigError, match="at: 'soon' is not a fault point"):
        Fault(at="soon", action="drop")


# -- syntax and file errors ------------------------------------------------------------------------


def test_bad_toml_syntax_is_a_config_error_with_the_line(tmp_path: Path) -> None:
    message = _error(tmp_path, 'speed = 1\nframes = "text\n')
    assert message.startswith(f"{tmp_path / 'bad.toml'}: not valid TOML: ")
    assert "line 2" in message


def test_bad_json_syntax_is_a_config_error_with_the_line(tmp_path: Path) -> None:
    message = _error(tmp_path, '{"turns": [\n  {"tone_ms": 1,}\n]}', name="bad.json")
    assert message.startswith(f"{tmp_path / 'bad.json'}: not valid JSON: ")
    assert "line 2, column" in message


def test_a_json_file_that_is_not_an_object_is_a_config_error(tmp_path: Path) -> None:
    message = _error(tmp_path, "[1, 2]", name="list.json")
    assert ": (top level): expected `object`, got `array`" in message


def test_a_toml_file_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "latin1.toml"
    path.write_bytes('text = "caf\xe9"\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_script(path)


def test_a_missing_script_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such script file"):
        load_script(tmp_path / "nope.toml")


def test_a_folder_is_not_a_script(tmp_path: Path) -> None:
    (tmp_path / "folder.toml").mkdir()
    with pytest.raises(ConfigError, match="cannot read the script"):
        load_script(tmp_path / "folder.toml")


@pytest.mark.parametrize("name", ["script.yaml", "script", "script.txt"])
def test_other_formats_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match=r"name the file \*\.toml or \*\.json"):
        load_script(_write(tmp_path, name, ""))


# -- audio paths -----------------------------------------------------------------------------------


def test_relative_audio_paths_start_from_the_script_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _wav(tmp_path / "scripts" / "audio" / "a.wav")
    _wav(tmp_path / "b.wav")
    path = _write(
        tmp_path,
        "scripts/s.toml",
        """
        [[turns]]
        audio = "audio/a.wav"
        [[turns]]
          [[turns.tool_calls]]
          name = "f"
          [turns.after_tool]
          audio = "../b.wav"
        """,
    )
    monkeypatch.chdir(tmp_path / "scripts" / "audio")  # the working folder does not matter
    loaded = load_script(path)
    assert loaded.turns[0].audio == str(tmp_path / "scripts" / "audio" / "a.wav")
    after = loaded.turns[1].after_tool
    assert after is not None and after.audio == str(tmp_path / "b.wav")


def test_absolute_audio_paths_are_kept(tmp_path: Path) -> None:
    wav = _wav(tmp_path / "elsewhere" / "a.wav")
    path = _write(tmp_path, "s.json", json.dumps({"turns": [{"audio": str(wav)}]}))
    assert load_script(path).turns[0].audio == str(wav)


def test_a_missing_audio_file_is_a_config_error_naming_the_key_and_the_path(
    tmp_path: Path,
) -> None:
    message = _error(tmp_path, '[[turns]]\n[[turns]]\naudio = "replies/nope.wav"\n')
    assert f"bad.toml: turns[1].audio: no audio file at {tmp_path / 'replies' / 'nope.wav'}" in (
        message
    )
    assert "relative paths start from the script's folder" in message


def test_a_missing_after_tool_audio_file_names_after_tool(tmp_path: Path) -> None:
    message = _error(
        tmp_path,
        '[[turns]]\n[[turns.tool_calls]]\nname = "f"\n[turns.after_tool]\naudio = "x.wav"\n',
    )
    assert ": turns[0].after_tool.audio: no audio file at " in message


def test_a_file_that_is_not_audio_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "notes.wav").write_text("these are not samples")
    message = _error(tmp_path, '[[turns]]\naudio = "notes.wav"\n')
    assert ": turns[0].audio: " in message
    assert "soundfile or PyAV can read" in message


# -- fault points ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "point"),
    [
        ("after_setup", FaultPoint("after_setup")),
        ("turn:1", FaultPoint("turn", 1)),
        ("turn:12:end", FaultPoint("turn", 12)),
        ("turn:3:start", FaultPoint("turn_start", 3)),
        ("message:7", FaultPoint("message", 7)),
        ("seconds:2", FaultPoint("seconds", 2.0)),
        ("seconds:0.25", FaultPoint("seconds", 0.25)),
    ],
)
def test_fault_points_parse(text: str, point: FaultPoint) -> None:
    assert parse_fault_point(text) == point
    assert Fault(at=text, action="drop").point == point
    assert re.fullmatch(script.FAULT_AT_PATTERN, text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "after_setup:1",
        "turn",
        "turn:",
        "turn:0",
        "turn:-1",
        "turn:1:middle",
        "turn:x",
        "turn:١",  # a non-ASCII digit
        "message:0",
        "message:1:start",
        "seconds:",
        "seconds:-1",
        "seconds:1e3",
        "minutes:1",
    ],
)
def test_bad_fault_points_are_refused_by_parser_and_schema(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^at: "):
        parse_fault_point(text)
    assert not re.fullmatch(script.FAULT_AT_PATTERN, text)


def test_fault_points_print_back_as_their_canonical_text() -> None:
    for text in ("after_setup", "turn:2", "turn:1:start", "message:3", "seconds:2.5"):
        assert str(parse_fault_point(text)) == text


def test_fault_defaults() -> None:
    fault = Fault(at="after_setup", action="close")
    assert (fault.close_code, fault.close_reason) == (1011, "Internal error occurred.")
    assert Fault(at="after_setup", action="go_away").go_away_time_left == 5.0
    assert Fault(at="after_setup", action="late_pongs").pong_delay == 30.0
    custom = Fault(at="after_setup", action="close", code=1008, reason="nope")
    assert (custom.close_code, custom.close_reason) == (1008, "nope")


@pytest.mark.parametrize("code", [1000, 1001, 1003, 1007, 1011, 1014, 3000, 4999])
def test_sendable_close_codes_are_accepted(code: int) -> None:
    assert Fault(at="turn:1", action="close", code=code).close_code == code


@pytest.mark.parametrize("code", [999, 1004, 1005, 1006, 1015, 2000, 2999, 5000])
def test_unsendable_close_codes_are_refused(code: int) -> None:
    with pytest.raises(ConfigError, match=r"^code: "):
        Fault(at="turn:1", action="close", code=code)


# -- what the emulator gets ------------------------------------------------------------------------


def test_reply_plan_generates_call_ids_and_puts_usage_on_the_last_reply() -> None:
    loaded = load_script(WEATHER)
    ids = itertools.count(1_000_000_001)
    first = emulator.reply_plan(loaded, 1, call_ids=ids)
    assert first is not None
    assert [(c.id, c.name, c.args) for c in first.tool_calls] == [
        ("function-call-1000000001", "get_weather", {"city": "Paris", "unit": "celsius"})
    ]
    assert first.input_transcription == "What's the weather in Paris?"
    assert first.delay_ms == 300 and first.audio is None
    after = first.after_tool
    assert after is not None
    assert after.delay_ms == 150
    assert after.audio is not None and len(after.audio) == 2 * 24_000 * 1200 // 1000
    second = emulator.reply_plan(loaded, 2, call_ids=ids)
    assert second is not None
    assert (second.prompt_tokens, second.response_tokens) == (40, 20)
    assert second.audio is not None and len(second.audio) == 2 * 24_000 * 800 // 1000
    assert emulator.reply_plan(loaded, 3, call_ids=ids) is None


def test_reply_plan_decodes_audio_files_to_24khz() -> None:
    plan = emulator.reply_plan(load_script(BASIC), 1, call_ids=itertools.count())
    assert plan is not None and plan.audio is not None
    assert len(plan.audio) == 2 * 6000  # 0.25 s at 16 kHz -> 6000 samples at 24 kHz
    assert plan.text == "Hello! How can I help?"


def test_usage_of_a_tool_turn_goes_on_the_after_tool_reply() -> None:
    loaded = Script(
        turns=[Turn(tool_calls=[ToolCall(name="f", id="a")], usage=Usage(response_tokens=9))]
    )
    plan = emulator.reply_plan(loaded, 1, call_ids=itertools.count())
    assert plan is not None and plan.after_tool is not None
    assert [c.id for c in plan.tool_calls] == ["a"]
    assert (plan.response_tokens, plan.after_tool.response_tokens) == (None, 9)


def test_emulator_faults_carry_the_parsed_point_and_the_defaults() -> None:
    loaded = Script(
        faults=[
            Fault(at="turn:2", action="go_away", time_left_s=2),
            Fault(at="message:3", action="close"),
            Fault(at="seconds:1.5", action="late_pongs", delay_s=25),
        ]
    )
    faults = emulator.emulator_faults(loaded)
    assert [(f.at, f.action) for f in faults] == [
        (("turn", 2), "go_away"),
        (("message", 3), "close"),
        (("seconds", 1.5), "late_pongs"),
    ]
    assert (faults[0].time_left_s, faults[1].code, faults[1].reason, faults[2].delay_s) == (
        2.0,
        1011,
        "Internal error occurred.",
        25.0,
    )


# -- the JSON Schema -------------------------------------------------------------------------------


def _validator() -> Any:
    jsonschema = pytest.importorskip(
        "jsonschema", reason="jsonschema is not installed (rawlive does not depend on it)"
    )
    document = json.loads(schema.schemas()["emulator-script.schema.json"])
    jsonschema.Draft202012Validator.check_schema(document)
    return jsonschema.Draft202012Validator(document)


def test_the_schema_is_generated_from_script_and_committed() -> None:
    assert schema.SCHEMA_FILES["emulator-script.schema.json"] is Script
    committed = ROOT / "schemas" / "emulator-script.schema.json"
    assert committed.read_text(encoding="utf-8") == schema.schemas()["emulator-script.schema.json"]
    document = json.loads(committed.read_text(encoding="utf-8"))
    assert document["$ref"] == "#/$defs/Script"
    assert set(document["$defs"]["Script"]["properties"]) == {
        "$schema",
        "model_reply_chunk_ms",
        "speed",
        "frames",
        "pretty",
        "turns",
        "faults",
        "turn_faults",
        "seed",
    }
    assert document["$defs"]["Fault"]["properties"]["at"]["pattern"] == script.FAULT_AT_PATTERN


@pytest.mark.parametrize("path", [WEATHER, BASIC], ids=lambda p: p.name)
def test_the_example_scripts_validate_against_the_schema(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    document = tomllib.loads(text) if path.suffix == ".toml" else json.loads(text)
    _validator().validate(document)


@pytest.mark.parametrize(
    "document",
    [
        {"turns": [{"tone": 3}]},
        {"spead": 1},
        {"frames": "json"},
        {"speed": -1},
        {"turns": [{"delay_ms": 1.5}]},
        {"turns": [{"tool_calls": [{"args": {}}]}]},
        {"turns": [{"tool_calls": [{"name": "f", "args": "Paris"}]}]},
        {"faults": [{"at": "turn:0", "action": "drop"}]},
        {"faults": [{"at": "soon", "action": "drop"}]},
        {"faults": [{"at": "turn:1", "action": "explode"}]},
        {"faults": [{"at": "turn:1", "action": "close", "code": 5000}]},
        {"faults": [{"action": "drop"}]},
        {"turn_faults": [{"action": "stall", "probability": 1.5}]},
        {"turn_faults": [{"action": "hang"}]},
        {"turn_faults": [{"action": "cut_reply", "cut_fraction": 1}]},
        {"turn_faults": [{"action": "stall", "turns": [0]}]},
        {"turns": [{"fault": {"action": "stall", "stall_s": 0}}]},
    ],
)
def test_broken_scripts_do_not_validate(tmp_path: Path, document: dict[str, Any]) -> None:
    assert not _validator().is_valid(document)
    with pytest.raises(ConfigError):  # and the loader refuses them too
        load_script(_write(tmp_path, "broken.json", json.dumps(document)))


# -- turn faults ---------------------------------------------------------------------------------


def test_turn_faults_load_per_turn_and_for_every_turn(tmp_path: Path) -> None:
    loaded = load_script(
        _write(
            tmp_path,
            "faults.toml",
            """
            seed = 7
            [[turns]]
            tone_ms = 100
            fault = { action = "stall", during_ms = 200, stall_s = 1.5, pongs = false }
            [[turn_faults]]
            action = "cut_reply"
            probability = 0.25
            turns = [2, 3]
            """,
        )
    )
    stall = loaded.turns[0].fault
    assert stall is not None and stall.once and not stall.answers_pings
    assert (stall.during_ms, stall.stall_s) == (200, 1.5)
    (cut,) = loaded.turn_faults
    assert (cut.probability, cut.turns, cut.once) == (0.25, [2, 3], False)
    assert cut.cut_bytes(48_000) == 24_000  # half, by default
    assert loaded.seed == 7 and Script().seed == script.DEFAULT_SEED


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            '[[turn_faults]]\naction = "empty_turn"\npongs = false\n',
            "turn_faults[0].pongs: pongs goes with action = 'stall' only",
        ),
        (
            '[[turn_faults]]\naction = "cut_reply"\ncut_ms = 100\ncut_fraction = 0.5\n',
            "turn_faults[0].cut_fraction: give either cut_ms or cut_fraction, not both",
        ),
        (
            '[[turns]]\nfault = { action = "no_answer", turns = [1] }\n',
            "turns[0].fault.turns: a turn's fault hits that turn",
        ),
        (
            '[[faults]]\nat = "turn:2"\naction = "stall"\n',
            "stall is a turn's fault: put it in the turn's fault table",
        ),
        ('[[turn_faults]]\naction = "stall"\nprobability = 2\n', "turn_faults[0].probability"),
    ],
)
def test_broken_turn_faults_say_what_to_do(tmp_path: Path, text: str, expected: str) -> None:
    message = _error(tmp_path, text)
    assert expected in message, message
