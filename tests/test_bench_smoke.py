"""Smoke test of the benchmarks: ``python -m bench --quick codec client ... proxy audit``.

Only the shape of the report is checked (each expected row present, a number
in its ratio column unless it has no baseline, a verdict unless it is a
figure reported alone); the figures themselves are not, since the
machines running the tests are small and noisy.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

COLUMNS = ["benchmark", "measured quantity", "rawlive", "baseline", "ratio", "target", "verdict"]

# (benchmark, text its "measured quantity" contains), one per expected row.
EXPECTED = [
    ("codec.encode-base64", "20 ms audio (640 B), Structs built per call"),
    ("codec.encode-base64", "20 ms audio (640 B), prebuilt message"),
    ("codec.encode-base64", "100 ms audio (3200 B), Structs built per call"),
    ("codec.encode-base64", "100 ms audio (3200 B), prebuilt message"),
    ("codec.encode-base64", "1 s audio (32000 B), Structs built per call"),
    ("codec.encode-base64", "1 s audio (32000 B), prebuilt message"),
    ("codec.encode-sdk", "20 ms (640 B)"),
    ("codec.encode-sdk", "100 ms (3200 B)"),
    ("codec.encode-sdk", "1 s (32000 B)"),
    ("codec.decode-base64", "200 ms 24 kHz audio"),
    ("codec.decode-sdk", "200 ms 24 kHz audio"),
    ("codec.import", 'python -c "import rawlive"'),
    ("codec.import", 'python -c "import rawlive.wire.codec"'),
    ("codec.import", 'python -c "import rawlive; rawlive.connect"'),
    ("client.e2e-cpu", "client CPU (process_time)"),
    ("client.loop-stall", "max event-loop stall"),
    ("audio.memory", "peak RSS added by streaming a 10-min 16 kHz mono WAV"),
    ("audio.pacing", "p99 lateness of a chunk against its schedule"),
    ("audio.pacing", "drift at the end"),
    ("replay.speed0", "at speed 0 to a client process"),
    ("send.memory", "peak RSS added by `rawlive send --fast` of a 10-min"),
    ("send.cpu", "rawlive's streaming loop (connect + stream_file)"),
    ("send.cpu", "baseline: google-genai send_realtime_input"),
    ("send.watchdog", "healthy session with the stall watchdog"),
    ("send.video-memory", "peak RSS added by `rawlive send --fast` of a 3-min MP4"),
    ("send.video-memory", "peak RSS added by `rawlive send --fast --no-resume` of a 3-min MP4"),
    ("send.video-memory", "with rawlive.media.container.timeline"),
    ("audit.throughput", "audio in full) vs msgspec.json.decode of its lines"),
]
# Rows with a target but no baseline (ratio "—"): a check, or a figure of rawlive's alone.
CHECKS = [
    ("codec.import", "sys.modules"),
    ("emulator.concurrency", "max lateness of an audio chunk"),
    ("emulator.concurrency", "sessions completed without error"),
    ("proxy.latency", "latency added per frame at p99"),
]
# Rows shown for comparison: a ratio, no target.
REPORTS = [
    ("client.loop-stall", "p99 event-loop lag"),
    ("audio.pacing", "p99 lateness with Pacer(spin=0)"),
    ("audio.pacing", "CPU time per second of wall time"),
    ("send.cpu", "of the whole `rawlive send FILE"),
    ("send.cpu", "outside the pacer's waits"),
    ("send.video-cpu", "real-time `rawlive send clip.mp4`"),
    ("proxy.latency", "p99 round trip of a chunk through the proxy"),
    ("audit.throughput", "audio elided) vs msgspec.json.decode of its lines"),
]
# Figures reported alone: no baseline, no ratio, no target.
FIGURES = [
    ("emulator.concurrency", "p99 lateness of an audio chunk"),
    ("emulator.concurrency", "client-side send lateness"),
    ("emulator.concurrency", "peak memory per session"),
]


def _table(stdout: str) -> list[dict[str, str]]:
    lines = [line for line in stdout.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    assert header == COLUMNS
    assert set(lines[1].strip("|").split("|")) == {"---"}
    return [
        dict(zip(header, (cell.strip() for cell in line.strip("|").split(" | ")), strict=True))
        for line in lines[2:]
    ]


def _find(rows: list[dict[str, str]], benchmark: str, text: str) -> dict[str, str]:
    hits = [r for r in rows if r["benchmark"] == benchmark and text in r["measured quantity"]]
    assert len(hits) == 1, f"expected one row {benchmark} / {text!r}, got {len(hits)}"
    return hits[0]


def test_quick_codec_bench_reports_every_row(tmp_path: Path) -> None:
    out_json = tmp_path / "bench.json"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "codec",
            "client",
            "emulator",
            "audio",
            "replay",
            "send",
            "proxy",
            "audit",
            "--json",
            str(out_json),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr

    for header in ("- date:", "- python:", "- machine:"):
        assert header in proc.stdout
    rows = _table(proc.stdout)
    assert len(rows) == len(EXPECTED) + len(CHECKS) + len(REPORTS) + len(FIGURES)
    for benchmark, text in EXPECTED:
        row = _find(rows, benchmark, text)
        float(row["ratio"])  # a number, whatever its value
        assert row["verdict"] in ("meets target", "misses target"), row
    for benchmark, text in CHECKS:
        row = _find(rows, benchmark, text)
        assert row["ratio"] == "—", row
        assert row["verdict"] in ("meets target", "misses target"), row
    for benchmark, text in REPORTS:
        row = _find(rows, benchmark, text)
        float(row["ratio"])
        assert row["verdict"] == "—", row
    for benchmark, text in FIGURES:
        row = _find(rows, benchmark, text)
        assert row["ratio"] == "—" and row["verdict"] == "—", row
        assert row["rawlive"] != "—", row

    data = json.loads(out_json.read_text())
    assert data["environment"]["quick"] is True
    assert len(data["rows"]) == len(rows)
    assert all(r["error"] is None for r in data["rows"])


def test_quick_load_bench_reports_its_rows() -> None:
    """``python -m bench --quick load``: Locust steps against an emulator (about 20 s)."""
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "load"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    rows = _table(proc.stdout)
    assert len(rows) == 3
    best = _find(rows, "load.capacity", "most concurrent real-time sessions")
    assert best["rawlive"].endswith(" sessions") and best["ratio"] == "—", best
    int(best["rawlive"].split()[0])  # a count, whatever its value
    for text in ("p99 lateness of a reply audio chunk", "to the first reply audio"):
        row = _find(rows, "load.capacity", text)
        assert row["rawlive"] != "—" and row["verdict"] == "—", row
