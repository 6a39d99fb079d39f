"""Option combinations the commands refuse: one ``rawlive:`` line, exit status 2, and
nothing started (in-process through click's runner, so each case costs no new process)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from click.testing import CliRunner

from rawlive.cli import main

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SPOKEN = str(FIXTURES / "audio" / "weather-16k-mono.wav")
CASSETTE = str(FIXTURES / "sessions" / "hello-text.jsonl")


def _refused(args: list[str], *, env: dict[str, str] | None = None) -> str:
    result = CliRunner().invoke(main, args, env=env)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("rawlive: "), result.output
    return lines[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve", "--keyfile", "key.pem"], "--keyfile needs --certfile"),
        (["replay", CASSETTE, "--speed", "-1"], "--speed must not be negative"),
        (
            ["proxy", "--upstream", "ws://:8765", "--listen", "127.0.0.1:0"],
            "invalid upstream URL 'ws://:8765': hostname isn't provided",
        ),
        (
            ["proxy", "--upstream", "ws://127.0.0.1:1", "--record", "/dev/full/recordings"],
            "cannot record into /dev/full/recordings: Not a directory",
        ),
        (["replay", CASSETTE, "--policy", "fuzzy"], "unknown --policy 'fuzzy' (known: semantic"),
        (["serve", "--setup-timeout", "-1"], "--setup-timeout must not be negative"),
        (["replay", CASSETTE, "--setup-timeout", "-1"], "--setup-timeout must not be negative"),
        (
            ["proxy", "--upstream", "ws://127.0.0.1:1", "--setup-timeout", "-1"],
            "--setup-timeout must not be negative",
        ),
        (
            ["proxy", "--upstream", "ws://127.0.0.1:1", "--stall-timeout", "-1"],
            "--stall-timeout must not be negative",
        ),
        (["serve", "--allow-origin", "app.example"], "--allow-origin: origin 'app.example' is not"),
        (["replay", CASSETTE, "--allow-origin", "x"], "--allow-origin: origin 'x' is not"),
        (
            ["proxy", "--upstream", "ws://127.0.0.1:1", "--allow-origin", "https://a/b"],
            "--allow-origin: origin 'https://a/b' is not",
        ),
        (["audit", CASSETTE, "--findings-per-rule", "-1"], "--findings-per-rule must not be"),
        (["send", SPOKEN, "--endpoint", "ws://127.0.0.1:1", "--emulator"], "not both"),
        (["send", SPOKEN, "--emulator", "--chunk-ms", "0"], "--chunk-ms and --timeout"),
        (["send", SPOKEN, "--emulator", "--speed", "-2"], "--speed and --tail-silence"),
        (["send", SPOKEN, "--emulator", "--timeout", "0"], "--timeout must be positive"),
        (
            ["send", SPOKEN, "--emulator-script", str(FIXTURES / "scripts" / "demo.toml")],
            "--emulator-script goes with --emulator",
        ),
    ],
)
def test_a_bad_option_combination_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    assert message in _refused(args)


def test_a_reply_file_that_cannot_be_written_is_named(tmp_path: Path) -> None:
    out = tmp_path / "no-such-folder" / "reply.wav"
    line = _refused(["send", SPOKEN, "--emulator", "--fast", "--out", str(out)])
    assert str(out) in line and "cannot write" in line and "No such file or directory" in line


def test_replay_of_a_cassette_that_cannot_be_read_is_named(tmp_path: Path) -> None:
    line = _refused(["replay", str(tmp_path / "missing.jsonl")])
    assert "missing.jsonl" in line


def test_audit_of_a_missing_cassette_is_named(tmp_path: Path) -> None:
    line = _refused(["audit", str(tmp_path / "missing.jsonl")])
    assert "missing.jsonl" in line


def _outputs_clashing(tmp_path: Path) -> list[tuple[list[str], str]]:
    """``send`` arguments naming an output that is an input or another output."""
    spoken = tmp_path / "question.wav"
    spoken.write_bytes(Path(SPOKEN).read_bytes())
    tools = tmp_path / "tools.json"
    tools.write_text('{"function_declarations": [{"name": "f"}]}')
    (tmp_path / "link.wav").symlink_to(spoken)
    os.link(spoken, tmp_path / "hard.wav")
    (tmp_path / "sub").mkdir()
    other = str(tmp_path / "sub" / ".." / "out.wav")
    base = ["send", str(spoken), "--emulator", "--fast"]
    return [
        ([*base, "--out", str(spoken)], "--out"),
        ([*base, "--record", str(spoken)], "--record"),
        ([*base, "--out", str(tmp_path / "link.wav")], "--out"),
        ([*base, "--record", str(tmp_path / "hard.wav")], "--record"),
        ([*base, "--tools", str(tools), "--record", str(tools)], "--record"),
        ([*base, "--out", str(tmp_path / "out.wav"), "--record", other], "--record"),
        ([*base, "--save-video", str(spoken)], "--save-video"),
        ([*base, "--out", str(tmp_path / "out.wav"), "--save-video", other], "--save-video"),
    ]


def test_an_output_that_is_an_input_or_another_output_is_refused_untouched(
    tmp_path: Path,
) -> None:
    for args, option in _outputs_clashing(tmp_path):
        before = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        line = _refused(args)
        assert option in line and ("is the input" in line or "same file" in line), line
        after = {p: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
        assert after == before, args  # nothing written, nothing created


def test_two_outputs_may_both_be_dev_null(tmp_path: Path) -> None:
    args = ["send", SPOKEN, "--emulator", "--fast", "--out", os.devnull, "--record", os.devnull]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
