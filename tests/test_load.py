"""rawlive.load.LiveUser and ``rawlive load``: Locust runs against emulator subprocesses.

Locust runs on gevent and patches the standard library, so it never runs in
this process: every run here is ``python -m locust`` or ``rawlive load`` in a
child, and its statistics are read back from its ``--json`` summary (the
final figures) and its CSV files. Each run is a few users for a few seconds,
with ``--stop-timeout`` so that the conversations under way at the end
finish and the counts are exact.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rawlive.tools.load import LOCUSTFILE
from rawlive.tools.load.command import emulator_process

ROOT = Path(__file__).resolve().parent.parent
SPEECH = str(ROOT / "fixtures" / "audio" / "weather-16k-mono.wav")

TOOLS = {
    "function_declarations": [
        {
            "name": "get_weather",
            "parameters": {"type": "OBJECT", "properties": {"city": {"type": "STRING"}}},
        }
    ],
    "responses": {"get_weather": {"temperature_c": 24}},
}

# One turn: a tool call, then a 600 ms answer; the first session is closed
# with 1011 right after its setupComplete (a fault fires once per emulator).
FAULT_SCRIPT = """
[[turns]]
delay_ms = 100
  [[turns.tool_calls]]
  name = "get_weather"
  args = { city = "Paris" }
  [turns.after_tool]
  delay_ms = 120
  tone_ms = 600

[[faults]]
at = "after_setup"
action = "close"
code = 1011
reason = "Internal error occurred."
"""

TOOL_SCRIPT = FAULT_SCRIPT.split("[[faults]]")[0]


@pytest.fixture
def emulator() -> Iterator[str]:
    with emulator_process() as (url, _):
        yield url


def _locust(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _headless(url: str, users: int, *more: str) -> list[str]:
    return [
        "--headless",
        "--users",
        str(users),
        "--spawn-rate",
        str(users),
        "--run-time",
        "2s",
        "--stop-timeout",
        "20",
        "--host",
        url,
        "--json",
        "--skip-log",
        *more,
    ]


def _stats(stdout: str) -> dict[str, dict[str, Any]]:
    """Locust's ``--json`` summary by request name (every request type here is ``live``)."""
    rows = json.loads(stdout)
    assert {row["method"] for row in rows} == {"live"}
    return {row["name"]: row for row in rows}


def _count(stats: dict[str, dict[str, Any]], name: str) -> int:
    return int(stats[name]["num_requests"]) if name in stats else 0


def test_users_stream_a_file_and_report_each_request_type(emulator: str, tmp_path: Path) -> None:
    prefix = tmp_path / "run"
    done = _locust(
        *_headless(emulator, 3, "--live-file", SPEECH, "--csv", str(prefix)), "--only-summary"
    )
    assert done.returncode == 0, done.stderr[-2000:]
    stats = _stats(done.stdout)
    sessions = _count(stats, "setup")
    assert sessions >= 3
    assert _count(stats, "connect") == sessions
    # One user turn per conversation (the file is one question): one reply each.
    assert _count(stats, "turn") == sessions
    assert _count(stats, "first_audio") == sessions
    assert _count(stats, "audio_late") == sessions
    assert "tool_round_trip" not in stats
    assert all(row["num_failures"] == 0 for row in stats.values())
    # The emulator echoes the question: the reply begins once the upload is over.
    first = stats["first_audio"]
    assert 0 < first["min_response_time"] <= first["max_response_time"] < 2000
    turn = stats["turn"]
    assert turn["min_response_time"] > first["max_response_time"]  # the echo takes its time
    # Locust's CSV has the same request types (written once a second while it runs).
    with open(f"{prefix}_stats.csv", newline="") as f:
        names = {row["Name"] for row in csv.DictReader(f) if row["Type"] == "live"}
    assert {"connect", "setup", "first_audio"} <= names


def test_tool_calls_answered_and_failures_named_by_close_code(tmp_path: Path) -> None:
    script = tmp_path / "fault.toml"
    script.write_text(FAULT_SCRIPT)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    with emulator_process(str(script)) as (url, _):
        done = _locust(*_headless(url, 3, "--live-file", SPEECH, "--live-tools", str(tools)))
    assert done.returncode == 1, done.stderr[-2000:]  # Locust: a failure is exit code 1
    stats = _stats(done.stdout)
    closed = stats["close 1011"]
    assert closed["num_requests"] == closed["num_failures"] == 1
    sessions = _count(stats, "setup")
    assert sessions >= 3
    # Every other session had its turn: a tool call answered, then the reply.
    assert _count(stats, "tool_round_trip") == _count(stats, "turn") == sessions - 1
    assert _count(stats, "first_audio") == sessions - 1
    round_trip = stats["tool_round_trip"]
    assert 100 <= round_trip["min_response_time"] <= round_trip["max_response_time"] < 1000
    # The user's turn ends, 100 ms, the call, 120 ms after its answer the audio.
    assert stats["first_audio"]["min_response_time"] >= 200


def test_a_cassette_is_played_with_its_tool_answers(tmp_path: Path) -> None:
    script = tmp_path / "tool.toml"
    script.write_text(TOOL_SCRIPT)
    tools = tmp_path / "tools.json"
    tools.write_text(json.dumps(TOOLS))
    tape = tmp_path / "call.jsonl"
    with emulator_process(str(script)) as (url, _):
        send = [sys.executable, "-m", "rawlive", "send", SPEECH, "--endpoint", url, "--fast"]
        send += ["--tools", str(tools), "--record", str(tape)]
        recorded = subprocess.run(send, capture_output=True, text=True, timeout=60)
        assert recorded.returncode == 0, recorded.stderr
        # No --live-tools: the answer is the one the cassette gave.
        done = _locust(*_headless(url, 2, "--live-file", str(tape)))
    assert done.returncode == 0, done.stderr[-2000:]
    stats = _stats(done.stdout)
    sessions = _count(stats, "setup")
    assert sessions >= 2
    assert _count(stats, "tool_round_trip") == _count(stats, "turn") == sessions
    assert _count(stats, "first_audio") == sessions


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _distributed(
    url: str, users: int, run_time: str, *live: str
) -> tuple[subprocess.CompletedProcess[str], list[subprocess.Popen[bytes]]]:
    """A headless master (``--expect-workers 2``) and two ``--worker`` processes on
    this machine against ``url``, each given the ``--live-*`` options ``live``;
    the master's result and the workers, ended."""
    port = str(_free_port())
    base = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, *live]
    workers = [
        subprocess.Popen(
            [*base, "--worker", "--master-port", port],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        for _ in range(2)
    ]
    try:
        headless = _headless(url, users)
        headless[headless.index("--run-time") + 1] = run_time
        master = _locust(
            *headless,
            "--master",
            "--master-bind-host",
            "127.0.0.1",
            "--master-bind-port",
            port,
            "--expect-workers",
            "2",
            *live,
            timeout=90,
        )
    finally:
        for worker in workers:
            try:
                worker.wait(timeout=20)
            except subprocess.TimeoutExpired:
                worker.kill()
                worker.wait()
    return master, workers


def test_distributed_master_and_two_workers(tmp_path: Path) -> None:
    """A master and two workers on this machine against one emulator.

    A headless master quits its workers at the end of the run without
    waiting for the conversations under way (Locust's own way, whatever
    ``--stop-timeout``), so the counts are checked as bounds: every
    conversation that began reported ``connect`` and ``setup``, only the
    finished ones ``turn``, and each of the four users finished one at least
    (the emulator answers at once: a conversation is the 2.7 s upload and a
    moment).
    """
    script = tmp_path / "fast.toml"
    script.write_text("speed = 0\n")
    with emulator_process(str(script)) as (url, _):
        master, workers = _distributed(url, 4, "5s", "--live-file", SPEECH)
    assert master.returncode == 0, master.stderr[-2000:]
    assert all(worker.returncode == 0 for worker in workers)
    stats = _stats(master.stdout)
    sessions = _count(stats, "setup")
    assert _count(stats, "connect") == sessions
    assert 4 <= _count(stats, "turn") <= _count(stats, "first_audio") <= sessions
    assert all(row["num_failures"] == 0 for row in stats.values())


def test_rawlive_load_end_to_end(tmp_path: Path) -> None:
    prefix = tmp_path / "cli"
    argv = [sys.executable, "-m", "rawlive", "load", SPEECH, "--emulator", "-u", "2", "-r", "2"]
    argv += ["-t", "2s", "--csv", str(prefix)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout + done.stderr
    assert "Response time percentiles" in out
    table = out[out.index("Response time percentiles") :]
    for name in ("connect", "setup", "first_audio", "turn", "audio_late"):
        assert f"live     {name}" in table
    assert Path(f"{prefix}_stats.csv").exists()


def test_rawlive_load_refuses_bad_input_in_one_line(tmp_path: Path) -> None:
    def load(*args: str) -> subprocess.CompletedProcess[str]:
        argv = [sys.executable, "-m", "rawlive", "load", *args]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    missing = load(str(tmp_path / "none.wav"), "--emulator")
    assert missing.returncode == 2
    assert missing.stderr.strip() == f"rawlive: {tmp_path / 'none.wav'}: no such file"
    nowhere = load(SPEECH)
    assert nowhere.returncode == 2
    assert nowhere.stderr.strip().splitlines() == [
        "rawlive: give --endpoint URL (your bridge or a Live API server) or --emulator"
    ]


BLOCK_LOCUST = textwrap.dedent(
    """
    import sys

    class Block:
        def find_spec(self, name, path=None, target=None):
            if name == "locust" or name.startswith("locust."):
                raise ModuleNotFoundError(f"No module named {name!r}")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def test_missing_extra_is_one_line_naming_it() -> None:
    env = {**os.environ}
    cli = BLOCK_LOCUST + f"from rawlive.cli import main\nmain(['load', {SPEECH!r}, '--emulator'])\n"
    done = subprocess.run([sys.executable, "-c", cli], capture_output=True, text=True, env=env)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "rawlive: rawlive load needs Locust, the load extra: pip install 'rawlive[load]'"
    )
    module = BLOCK_LOCUST + (
        "try:\n    import rawlive.load\n"
        "except Exception as exc:\n    print(type(exc).__name__, exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", module], capture_output=True, text=True)
    assert done.stdout.strip() == (
        "LoadExtraMissing rawlive.load needs Locust, the load extra: pip install 'rawlive[load]'"
    )


def _median(row: dict[str, Any]) -> float:
    """The median of a request type's times (ms), from Locust's ``response_times`` histogram."""
    times = sorted((float(ms), int(n)) for ms, n in row["response_times"].items())
    half, seen = row["num_requests"] / 2, 0
    for ms, count in times:
        seen += count
        if seen >= half:
            return ms
    raise AssertionError(f"no response times in {row}")


def test_distributed_load_on_a_two_worker_emulator_matches_what_it_saw(tmp_path: Path) -> None:
    """Issue 19's check at small scale: a Locust master and two workers against
    ``rawlive serve --workers 2 --stats``, Locust's statistics against the emulator's.

    Both sides count sessions and turns, and time a reply from the end of the
    user's speech (the same detector on both sides) to its first audio. The
    master quits its workers without waiting for the conversations under way
    (see above), so what the emulator saw bounds what Locust reports, within
    the four conversations cut short; the latencies' medians agree within
    the network and scheduling noise of one machine.
    """
    script = tmp_path / "reply.toml"
    script.write_text("[[turns]]\ndelay_ms = 300\ntone_ms = 400\n")
    stats_path = tmp_path / "emulator-stats.json"
    live = ["--live-file", SPEECH, "--live-speed", "4"]  # more conversations in a short run
    with emulator_process(str(script), workers=2, stats=str(stats_path)) as (url, _):
        master, _ = _distributed(url, 4, "8s", *live)
    assert master.returncode == 0, master.stderr[-2000:]
    stats = _stats(master.stdout)
    seen = json.loads(stats_path.read_text())
    assert seen["workers"] == 2 and seen["dead_workers"] == 0
    # Sessions: every setupComplete Locust counted, the emulator sent.
    sessions = _count(stats, "setup")
    assert sessions >= 12, sessions
    assert sessions <= seen["sessions"] <= sessions + 4
    assert seen["connections"] == seen["sessions"]  # no resumption in a load run
    # The kernel spread them over both workers (SO_REUSEPORT).
    served = [worker["connections"] for worker in seen["per_worker"]]
    assert len(served) == 2 and all(served) and sum(served) == seen["connections"], served
    # Turns: one reply per conversation, each played to its turnComplete.
    turns = _count(stats, "turn")
    assert turns <= seen["turns"] <= turns + 4
    # (a reply timed that a quitting worker did not wait the end of is not a turn)
    assert seen["turns"] <= seen["reply_latency"]["count"] <= seen["turns"] + 4
    assert all(row["num_failures"] == 0 for row in stats.values())
    # The same latency from both ends: the script's 300 ms after the speech ends.
    theirs = seen["reply_latency"]["p50_ms"]
    ours = _median(stats["first_audio"])
    assert 300 <= theirs <= ours + 20, (theirs, ours)
    assert ours - theirs < 150, (theirs, ours)
