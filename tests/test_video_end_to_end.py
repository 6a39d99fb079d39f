"""Issue 17's acceptance, end to end: a video clip sent to the emulator, audited, reported."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("av")  # the media extra (make install includes it)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
ENV = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}


def _rawlive(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rawlive", *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
        stdin=subprocess.DEVNULL,
    )


def test_a_clip_goes_out_frame_by_second_with_its_audio_audits_clean_and_shows_thumbnails(
    tmp_path: Path,
) -> None:
    record, page = tmp_path / "s.jsonl", tmp_path / "s.html"
    sent = _rawlive(
        "send",
        str(FIXTURES / "video" / "clip.mp4"),
        "--emulator",  # in real time: unpaced, the frames would come faster than 1 fps
        "--record",
        str(record),
        "--out",
        str(tmp_path / "reply.wav"),
    )
    assert sent.returncode == 0, sent.stderr
    # One frame per second of video, each on the audio's clock: the frame at
    # t goes out before the audio chunk of t (25 chunks of 40 ms a second).
    kinds = []
    for line in record.read_text().splitlines():
        event = json.loads(line)
        if event["type"] == "frame" and event["from"] == "client":
            text = event.get("text") or ""
            if '"video"' in text:
                kinds.append("V")
            elif '"audio"' in text:
                kinds.append("a")
    frames = [i for i, kind in enumerate(kinds) if kind == "V"]
    assert len(frames) == 4 and frames[0] == 0
    assert [b - a for a, b in itertools.pairwise(frames)] == [26, 26, 26]
    audited = _rawlive("audit", str(record), "--json")
    assert audited.returncode == 0, audited.stderr
    (report,) = json.loads(audited.stdout)
    assert report["findings"] == []
    assert report["metrics"]["video_frames"] == 4
    shown = _rawlive("report", str(record), "--out", str(page))
    assert shown.returncode == 0, shown.stderr
    assert page.read_text().count("data:image/jpeg") == 4
