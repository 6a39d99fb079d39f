"""rawlive report: the page as a browser renders it, its size and speed, and its failures.

The browser tests open the pages in headless Chromium through a harness page
that loads each report in an iframe and reads its rendered DOM (lanes,
turns, latency brackets with their on-screen widths, tables, notes, the
resources it fetched, the duration of every embedded clip as the browser
decodes it). Without a Chromium they skip and say so, except in CI (the
environment variable ``CI`` set, as .ci/run runs), where they fail: CI installs
one, so a missing browser is a broken set-up, not a reason to test less.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import itertools
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn

import fixture_modules
import pytest

from rawlive.media import vad
from rawlive.media.vad import VadConfig
from rawlive.tools.audit import MAX_FINDINGS_PER_RULE, audit_cassette
from rawlive.tools.report import DEFAULT_AUDIO_LIMIT, read_timeline, render_report, write_report

FIXTURES = Path(__file__).parent.parent / "fixtures" / "sessions"
BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
LANES = {
    "turns",
    "user-audio",
    "input",
    "latency",
    "faults",
    "model-audio",
    "output",
    "text",
    "tools",
    "control",
}
#: report-voice.jsonl, as make_report_sessions.py scripts it: (speech or input end, first audio).
VOICE_TURNS = [(1.30, 2.25, "speech"), (3.90, 4.40, "speech"), (5.40, 5.70, "speech")]
VOICE_TURNS += [(6.80, 7.20, "input")]


def _generator() -> ModuleType:
    return fixture_modules.load("sessions/make_report_sessions.py")


# ---------------------------------------------------------------------------
# The browser
# ---------------------------------------------------------------------------

HARNESS = """<!doctype html><html><head><meta charset="utf-8"><script>
var t0 = performance.now(), results = {}, pending = %(count)d, probe = %(probe)s;
function finish() {
  if (--pending === 0) document.getElementById("out").textContent = JSON.stringify(results);
}
function all(d, selector) { return Array.from(d.querySelectorAll(selector)); }
function inspect(frame) {
  var loaded = performance.now(), d = frame.contentDocument, w = frame.contentWindow;
  d.body.getBoundingClientRect();
  var r = {loadMs: loaded - t0, layoutMs: performance.now() - t0};
  var svg = d.querySelector("svg.plot");
  r.pxPerSecond = svg ? +svg.dataset.pxPerSecond : null;
  r.lanes = {};
  all(d, "svg.plot g.lane").forEach(function (g) {
    var env = g.querySelector("path.env");
    r.lanes[g.dataset.lane] = {elements: g.querySelectorAll("*").length,
      envelopeWidth: env ? env.getBoundingClientRect().width : 0};
  });
  r.laneNames = all(d, "[data-lane-name]").map(function (e) {
    return [e.dataset.laneName, e.getBoundingClientRect().height]; });
  r.turns = all(d, "svg.plot g.turn").map(function (g) {
    return {turn: +g.dataset.turn, css: g.getAttribute("class"),
            width: g.querySelector("rect").getBoundingClientRect().width}; });
  r.latency = all(d, "svg.plot g.latency").map(function (g) {
    return {turn: +g.dataset.turn, seconds: +g.dataset.latency, basis: g.dataset.basis,
            from: +g.dataset.from, to: +g.dataset.to,
            label: g.querySelector("text").textContent,
            width: g.querySelector("path").getBoundingClientRect().width}; });
  r.rows = all(d, "#turns tr[data-turn]").map(function (tr) {
    var row = {turn: +tr.dataset.turn};
    tr.querySelectorAll("td[data-metric]").forEach(function (td) {
      row[td.dataset.metric] = td.dataset.seconds === "" ? null : +td.dataset.seconds; });
    return row; });
  r.notes = all(d, "#notes p").map(function (p) { return [p.className, p.innerText]; });
  r.findings = all(d, "#findings tr[data-rule]").map(function (tr) { return tr.dataset.rule; });
  r.tokens = {};
  all(d, "#tokens tr[data-modality]").forEach(function (tr) {
    r.tokens[tr.dataset.modality] = [+tr.cells[1].textContent, +tr.cells[2].textContent]; });
  r.facts = {};
  all(d, "#facts tr[data-fact]").forEach(function (tr) {
    r.facts[tr.dataset.fact] = tr.querySelector("td").innerText; });
  r.connections = all(d, "#connections tr[data-connection]").map(function (tr) {
    return tr.innerText; });
  r.clips = all(d, "[data-clip]").map(function (c) { return c.innerText; });
  r.audios = all(d, "audio").length;
  r.resources = w.performance.getEntriesByType("resource").map(function (e) { return e.name; });
  r.svgElements = svg ? svg.querySelectorAll("*").length : 0;
  r.elements = d.getElementsByTagName("*").length;
  r.audioSeconds = [];
  results[frame.dataset.name] = r;
  var audios = probe ? all(d, "audio") : [];
  pending += audios.length;
  audios.forEach(function (a, i) {
    var clip = new Audio();
    clip.preload = "metadata";
    clip.onloadedmetadata = function () { r.audioSeconds[i] = clip.duration; finish(); };
    clip.onerror = function () { r.audioSeconds[i] = "error"; finish(); };
    clip.src = a.getAttribute("src");
  });
  finish();
}
</script></head><body><pre id="out">pending</pre>%(frames)s</body></html>"""


@dataclasses.dataclass
class Browser:
    executable: str
    profile: Path

    def run(self, *args: str, timeout: float = 90) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [
                self.executable,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--hide-scrollbars",
                f"--user-data-dir={self.profile}",
                *args,
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            stdin=subprocess.DEVNULL,
        )

    def inspect(self, pages: dict[str, Path], *, probe_audio: bool) -> dict[str, Any]:
        """Load the pages side by side in a harness page; what each one's DOM holds."""
        folder = next(iter(pages.values())).parent
        frames = "".join(
            f'<iframe data-name="{name}" src="{path.name}" width="1400" height="900" '
            f'onload="inspect(this)"></iframe>'
            for name, path in pages.items()
        )
        harness = folder / "harness.html"
        harness.write_text(
            HARNESS
            % {"count": len(pages), "probe": "true" if probe_audio else "false", "frames": frames}
        )
        # Virtual time lets the audio probes finish before the DOM is dumped; timing
        # runs go without it, so that performance.now() is the wall clock.
        budget = ["--virtual-time-budget=20000"] if probe_audio else []
        result = self.run("--allow-file-access-from-files", *budget, "--dump-dom", harness.as_uri())
        match = re.search(r'<pre id="out">(.*?)</pre>', result.stdout, re.S)
        assert match and match.group(1) != "pending", result.stderr[-2000:]
        data: dict[str, Any] = json.loads(html.unescape(match.group(1)))
        return data

    def screenshot(self, page: Path, png: Path, size: tuple[int, int] = (1200, 800)) -> bytes:
        result = self.run(
            f"--window-size={size[0]},{size[1]}", f"--screenshot={png}", page.as_uri()
        )
        assert png.exists(), result.stderr[-2000:]
        return png.read_bytes()


def _in_ci() -> bool:
    """Whether this is a CI run: ``CI`` set to anything but empty, 0 or false."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _no_browser(reason: str) -> NoReturn:
    """Skip a browser test for ``reason``; in CI fail it, since CI installs Chromium."""
    if _in_ci():
        pytest.fail(f"{reason} (CI is set: .ci/run must install Chromium)", pytrace=False)
    pytest.skip(reason)


def _find_browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    """A Chromium on PATH that runs headless here (else skip, or fail in CI)."""
    found = next((path for name in BROWSERS if (path := shutil.which(name))), None)
    if found is None:
        _no_browser(
            f"no Chromium to check the page in (looked for {', '.join(BROWSERS)} on PATH); "
            "install one (apt-get install chromium, as .ci/run does)"
        )
    chromium = Browser(found, tmp_path_factory.mktemp("chromium-profile"))
    probe = tmp_path_factory.mktemp("probe") / "probe.html"
    probe.write_text("<!doctype html><p id=probe>ok</p>")
    try:
        result = chromium.run("--dump-dom", probe.as_uri(), timeout=60)
    except (OSError, subprocess.TimeoutExpired) as exc:
        _no_browser(f"{found} does not run headless here: {exc}")
    if 'id="probe"' not in result.stdout:
        last = (result.stderr.strip().splitlines() or ["no output"])[-1]
        _no_browser(f"{found} does not run headless here: {last}")
    return chromium


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Browser:
    return _find_browser(tmp_path_factory)


@pytest.mark.parametrize(
    ("ci", "outcome"),
    [
        ("true", pytest.fail.Exception),
        ("1", pytest.fail.Exception),
        (None, pytest.skip.Exception),
        ("", pytest.skip.Exception),
        ("false", pytest.skip.Exception),
    ],
)
def test_a_missing_browser_fails_in_ci_and_skips_elsewhere(
    monkeypatch: pytest.MonkeyPatch, ci: str | None, outcome: type[BaseException]
) -> None:
    if ci is None:
        monkeypatch.delenv("CI", raising=False)
    else:
        monkeypatch.setenv("CI", ci)
    with pytest.raises(outcome, match="no Chromium here"):
        _no_browser("no Chromium here")


def test_the_browser_fixture_fails_in_ci_without_a_browser(
    monkeypatch: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory
) -> None:
    monkeypatch.setenv("CI", "true")
    monkeypatch.setattr(shutil, "which", lambda name: None)
    with pytest.raises(pytest.fail.Exception, match="no Chromium to check the page in"):
        _find_browser(tmp_path_factory)


@pytest.fixture(scope="module")
def pages(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("pages")
    out = {}
    for name in ("voice", "cut", "empty", "errors"):
        out[name] = write_report(FIXTURES / f"report-{name}.jsonl", folder / f"{name}.html").path
    out["elided"] = write_report(
        FIXTURES / "weather-tool-goaway.jsonl", folder / "elided.html"
    ).path
    return out


@pytest.fixture(scope="module")
def rendered(browser: Browser, pages: dict[str, Path]) -> dict[str, Any]:
    return browser.inspect(pages, probe_audio=True)


# ---------------------------------------------------------------------------
# What the browser shows
# ---------------------------------------------------------------------------


def test_the_voice_session_renders_every_lane_turn_and_latency(rendered: dict[str, Any]) -> None:
    page = rendered["voice"]
    assert set(page["lanes"]) == LANES
    assert {name for name, height in page["laneNames"] if height > 10} == LANES
    for lane in ("user-audio", "model-audio"):
        assert page["lanes"][lane]["envelopeWidth"] > 50, lane
    assert page["lanes"]["tools"]["elements"] >= 3  # the get_weather call
    assert [t["turn"] for t in page["turns"]] == [1, 2, 3, 4]
    assert all(t["width"] > 10 for t in page["turns"])

    audit = audit_cassette(FIXTURES / "report-voice.jsonl")
    assert len(audit.metrics.turns) == len(page["turns"])
    scale = page["pxPerSecond"]
    brackets = page["latency"]
    assert [b["turn"] for b in brackets] == [1, 2, 3, 4]
    for bracket, measured, (start, end, basis) in zip(
        brackets, audit.metrics.turns, VOICE_TURNS, strict=True
    ):
        # Where the user stops streaming when speech ends, both measures agree.
        assert measured.first_reply_audio is not None
        assert bracket["seconds"] == pytest.approx(measured.first_reply_audio, abs=2e-6)
        assert bracket["seconds"] == pytest.approx(end - start, abs=2e-6)
        assert (bracket["from"], bracket["to"], bracket["basis"]) == (
            pytest.approx(start, abs=2e-6),
            pytest.approx(end, abs=2e-6),
            basis,
        )
        assert bracket["label"] == f"{round((end - start) * 1000)} ms"
        assert bracket["width"] == pytest.approx((end - start) * scale, abs=2.5)


def test_the_turn_table_holds_the_audit_metrics(rendered: dict[str, Any]) -> None:
    page = rendered["voice"]
    audit = audit_cassette(FIXTURES / "report-voice.jsonl")
    assert [row["turn"] for row in page["rows"]] == [1, 2, 3, 4]
    for row, measured in zip(page["rows"], audit.metrics.turns, strict=True):
        for name in (
            "first_input_transcription",
            "first_reply_audio",
            "generation_complete",
            "turn_complete",
        ):
            value = getattr(measured, name)
            assert row[name] == (None if value is None else pytest.approx(value, abs=2e-6))
    assert page["findings"] == [f.rule for f in audit.findings] == ["audio-during-blocking-call"]
    assert page["tokens"] == {
        modality: [audit.metrics.prompt_tokens.get(modality, 0), tokens]
        for modality, tokens in {"AUDIO": 70, "TEXT": 0}.items()
    }
    assert page["facts"]["model"] == "models/gemini-2.5-flash-native-audio-preview-12-2025"
    assert page["facts"]["API version"] == "v1beta"
    assert page["facts"]["endpoint"].endswith("?key=<redacted>")
    assert page["facts"]["duration"].startswith("8.61 s")
    assert "goAway" not in page["connections"][1] and "timeLeft 5.00 s" in page["connections"][0]


def test_every_clip_is_embedded_and_decodes_to_its_length(rendered: dict[str, Any]) -> None:
    page = rendered["voice"]
    timeline = read_timeline(FIXTURES / "report-voice.jsonl")
    clips = [clip for turn in timeline.turns for clip in turn.clips]
    assert [(c.side, round(c.seconds, 3)) for c in clips] == [
        ("user", 0.84),
        ("model", 0.8),
        ("user", 0.6),
        ("model", 0.4),
        ("user", 0.4),
        ("model", 0.3),
        ("model", 0.4),
    ]
    assert page["audios"] == len(clips)
    assert page["audioSeconds"] == [pytest.approx(c.seconds, abs=0.002) for c in clips]


def test_the_page_fetches_nothing(rendered: dict[str, Any]) -> None:
    for name, page in rendered.items():
        assert page["resources"] == [], name


@pytest.mark.parametrize(
    ("name", "level", "says"),
    [
        ("cut", "error", "The recording was cut off"),
        ("empty", "warning", "This recording is empty"),
        ("errors", "error", "The session never started"),
        ("elided", "warning", "Audio was elided"),
    ],
)
def test_problem_sessions_say_what_happened(
    rendered: dict[str, Any], name: str, level: str, says: str
) -> None:
    page = rendered[name]
    assert set(page["lanes"]) == LANES  # the timeline is there, whatever happened
    assert any(css == level and text.startswith(says) for css, text in page["notes"]), page["notes"]


def test_a_cut_recording_keeps_what_came_before_the_cut(rendered: dict[str, Any]) -> None:
    page = rendered["cut"]
    assert "cassette-truncated" in page["findings"]
    assert [t["css"] for t in page["turns"]] == ["turn unfinished"]
    assert page["lanes"]["user-audio"]["envelopeWidth"] > 50
    assert page["audios"] == 2  # what arrived of the unfinished turn is still playable


def test_a_failed_session_names_each_close_and_its_hint(rendered: dict[str, Any]) -> None:
    notes = " ".join(text for _, text in rendered["errors"]["notes"])
    assert "closed by the server with 1008" in notes and "check the model name" in notes
    assert "closed by the server with 1011" in notes and "retry" in notes
    assert rendered["errors"]["findings"] == ["close-code", "close-code"]
    assert rendered["errors"]["turns"] == []


def test_elided_audio_is_drawn_but_not_offered(rendered: dict[str, Any]) -> None:
    page = rendered["elided"]
    assert page["audios"] == 0
    assert page["clips"] and all("elided in the recording" in clip for clip in page["clips"])
    assert all(b["basis"] == "input" for b in page["latency"])


def _png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode an 8-bit RGB or RGBA PNG with zlib: width, height and RGB rows."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks, head = 8, [], b""
    while pos < len(data):
        length, kind = struct.unpack(">I4s", data[pos : pos + 8])
        if kind == b"IHDR":
            head = data[pos + 8 : pos + 8 + length]
        elif kind == b"IDAT":
            chunks.append(data[pos + 8 : pos + 8 + length])
        pos += 12 + length
    width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", head)
    assert depth == 8 and colour in (2, 6) and interlace == 0
    bpp = 3 if colour == 2 else 4
    raw = zlib.decompress(b"".join(chunks))
    stride = width * bpp
    prev = bytearray(stride)
    rows = []
    for y in range(height):
        kind = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if kind == 1:
                line[i] = (line[i] + a) & 255
            elif kind == 2:
                line[i] = (line[i] + b) & 255
            elif kind == 3:
                line[i] = (line[i] + ((a + b) >> 1)) & 255
            elif kind == 4:
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                line[i] = (line[i] + (a if pa <= pb and pa <= pc else b if pb <= pc else c)) & 255
        prev = line
        rows.append(bytes(v for i, v in enumerate(line) if bpp == 3 or i % 4 != 3))
    return width, height, rows


def test_the_screenshot_shows_a_drawn_timeline(
    browser: Browser, pages: dict[str, Path], tmp_path: Path
) -> None:
    width, height, rows = _png_pixels(browser.screenshot(pages["voice"], tmp_path / "v.png"))
    assert (width, height) == (1200, 800)
    pixels = [row[i : i + 3] for row in rows for i in range(0, len(row), 3)]
    colours = set(pixels)
    inked = sum(1 for p in pixels if p != b"\xff\xff\xff")
    blue = sum(1 for r, g, b in pixels if b > r + 60)  # user audio
    orange = sum(1 for r, g, b in pixels if r > b + 80 and r > 180)  # model audio
    assert len(colours) > 100
    assert inked > 0.05 * len(pixels)
    assert blue > 500 and orange > 500, (blue, orange)


# ---------------------------------------------------------------------------
# A long session stays usable
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class LongSession:
    cassette: Path
    page: Path
    truth: list[tuple[float, float]]
    frames: int
    generated: float
    rendering: float
    clips_left_out: int


@pytest.fixture(scope="module")
def long_session(tmp_path_factory: pytest.TempPathFactory) -> LongSession:
    """A 30-minute session (microphone never muted, ~130 MB) and its page."""
    folder = tmp_path_factory.mktemp("long")
    cassette = folder / "long.jsonl"
    started = time.perf_counter()
    truth = _generator().synthesize_session(cassette, minutes=30)
    generated = time.perf_counter() - started
    started = time.perf_counter()
    written = write_report(cassette, folder / "long.html")
    rendering = time.perf_counter() - started
    with cassette.open("rb") as lines:
        frames = sum(1 for line in lines if line.startswith(b'{"type":"frame"'))
    return LongSession(
        cassette, written.path, truth, frames, generated, rendering, written.clips_left_out
    )


def test_a_thirty_minute_page_stays_under_10_mb(long_session: LongSession) -> None:
    size = long_session.page.stat().st_size
    page = long_session.page.read_text()
    assert size < 10_000_000
    assert long_session.frames > 20_000
    embedded = re.findall(r'src="(data:audio/wav;base64,[^"]*)"', page)
    assert len(embedded) >= 5 and sum(map(len, embedded)) <= DEFAULT_AUDIO_LIMIT
    assert long_session.clips_left_out > 100
    assert f"{long_session.clips_left_out} audio clip(s)" in page
    assert page.count("<path") + page.count("<rect") < long_session.frames / 5


def test_a_thirty_minute_page_opens_fast_in_a_browser(
    browser: Browser, long_session: LongSession, capsys: pytest.CaptureFixture[str]
) -> None:
    started = time.perf_counter()
    shown = browser.inspect({"long": long_session.page}, probe_audio=False)["long"]
    wall = time.perf_counter() - started
    assert shown["layoutMs"] < 2000
    assert shown["resources"] == []
    assert shown["svgElements"] < long_session.frames / 5  # envelopes, not a shape per frame
    truth = long_session.truth
    assert len(shown["turns"]) == len(truth) + 1  # the microphone still streams at the end
    brackets = {b["turn"]: b for b in shown["latency"]}
    for index, (speech_end, first_audio) in enumerate(truth, start=1):
        bracket = brackets[index]
        assert bracket["basis"] == "speech"
        # The end of speech is found to the 10 ms block.
        assert bracket["seconds"] == pytest.approx(first_audio - speech_end, abs=0.011)
    with capsys.disabled():
        print(
            f"\n30-minute session: {long_session.cassette.stat().st_size / 1e6:.0f} MB cassette "
            f"({long_session.frames} frames, made in {long_session.generated:.1f} s); page "
            f"{long_session.page.stat().st_size / 1e6:.2f} MB written in "
            f"{long_session.rendering:.1f} s; Chromium: load {shown['loadMs']:.0f} ms, "
            f"with layout {shown['layoutMs']:.0f} ms ({wall:.1f} s with the browser's start); "
            f"{shown['elements']} elements"
        )


# ---------------------------------------------------------------------------
# The page on its own (no browser)
# ---------------------------------------------------------------------------

_RESOURCE = re.compile(
    r"""(?ix)
    \b(?:src|href|xlink:href|action|poster|srcset|data|background|formaction)\s*=\s*
        (?!["']?(?:data:|\#))
    | url\(\s*(?!["']?(?:data:|\#))
    | @import
    | <(?:script|link|iframe|object|embed|img|base|frame)\b
    """
)


@pytest.mark.parametrize(
    "cassette",
    [
        "report-voice",
        "report-errors",
        "weather-tool-goaway",
        "hello-text",
        "live38-nonblocking",
        "thinking-filler",
        "transcribe-live",
        "video-frames",
    ],
)
def test_the_html_holds_no_resource_url(cassette: str) -> None:
    page = render_report(FIXTURES / f"{cassette}.jsonl")
    assert "http://" not in page and "https://" not in page
    assert "xmlns" not in page
    assert not re.search(r"""["'(]\s*//""", page)  # no protocol-relative URL either
    assert [m.group(0) for m in _RESOURCE.finditer(page)] == []
    assert "Content-Security-Policy" in page and "default-src 'none'" in page


def test_the_resource_check_catches_a_request() -> None:
    for bad in (
        '<img src="x.png">',
        '<a href="//e.com">',
        "<image href='x.svg'/>",
        "a{background:url(x.png)}",
        '<script>fetch("x")</script>',
    ):
        assert _RESOURCE.search(bad), bad
    for fine in ('<use href="#env-user"/>', '<audio src="data:audio/wav;base64,AA==">'):
        assert not _RESOURCE.search(fine), fine


HEADER = {
    "type": "header",
    "format": "rawlive-cassette",
    "version": 1,
    "rawliveVersion": "0.1.0",
    "created": "2025-06-01T12:00:00.000000Z",
    "model": "models/gemini-live-2.5-flash-preview",
}


def _cassette(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


def _frame(t: float, sender: str, message: dict[str, Any]) -> dict[str, Any]:
    text = json.dumps(message)
    kind = next(iter(message))
    return {"type": "frame", "t": t, "connection": 1, "from": sender, "opcode": "text",
            "kind": kind, "text": text}  # fmt: skip


def test_secrets_in_a_hand_written_cassette_never_reach_the_page(tmp_path: Path) -> None:
    key = "fake.HANDWRITTEN-secret-key-0123456789"
    token = "auth_tokens/ephemeral.abcdef0123456789"
    url = f"wss://example.invalid/ws/x?key={key}&access_token={token}"
    said = {"serverContent": {"outputTranscription": {"text": f"your key is {key}"}}}
    counted = {"usageMetadata": {"promptTokensDetails": [{"modality": key, "tokenCount": 1}]}}
    header = {
        **HEADER,
        "url": url,
        "headers": [["x-goog-api-key", key], ["Authorization", f"Bearer {token}"]],
        "meta": {"note": f"recorded with {key}"},
    }
    close = {"type": "close", "t": 0.2, "connection": 1, "code": 1008, "by": "server"}
    cassette = _cassette(
        tmp_path / "leaky.jsonl",
        [
            header,
            {"type": "connect", "t": 0.0, "connection": 1, "url": url},
            _frame(0.1, "server", said),
            _frame(0.15, "server", counted),
            {**close, "reason": f"bad {token}"},
        ],
    )
    page = render_report(cassette)
    assert key not in page and token not in page
    assert "ephemeral.abcdef" not in page and "HANDWRITTEN" not in page
    assert page.count("&lt;redacted&gt;") >= 5
    assert "your key is &lt;redacted&gt;" in page


def _session(path: Path, *messages: tuple[float, str, dict[str, Any]]) -> Path:
    """A one-connection cassette: setup, setupComplete, ``messages``, a normal close."""
    lines = [HEADER, {"type": "connect", "t": 0.0, "connection": 1, "url": "ws://x"}]
    lines += [_frame(0.01, "client", {"setup": {"model": HEADER["model"]}})]
    lines += [_frame(0.02, "server", {"setupComplete": {}})]
    lines += [_frame(t, sender, message) for t, sender, message in messages]
    end = max((t for t, _, _ in messages), default=0.02) + 0.1
    lines += [{"type": "close", "t": end, "connection": 1, "code": 1000, "by": "client"}]
    return _cassette(path, lines)


def test_a_tool_call_without_an_id_is_answered_by_a_response_without_one(tmp_path: Path) -> None:
    """Vertex sends calls without an id: the session's core matches them by name."""
    call = {"functionCalls": [{"name": "get_time", "args": {"zone": "UTC"}}]}
    response = {"name": "get_time", "response": {"output": "noon"}}
    cassette = _session(
        tmp_path / "vertex.jsonl",
        (0.10, "client", {"realtimeInput": {"text": "what time is it?"}}),
        (0.50, "server", {"toolCall": call}),
        (0.75, "client", {"toolResponse": {"functionResponses": [response]}}),
        (1.00, "server", {"serverContent": {"turnComplete": True}}),
    )
    timeline = read_timeline(cassette)
    [span] = [span for span in timeline.spans if span.lane == "tools"]
    assert span.rtt == pytest.approx(0.25)
    assert (span.start, span.end) == (pytest.approx(0.5), pytest.approx(0.75))
    assert span.text == 'get_time(zone="UTC") → 250 ms'
    assert [turn.tools for turn in timeline.turns] == [["get_time 250 ms"]]
    page = render_report(cassette)
    assert "unanswered" not in page and "for no open call" not in page


def test_token_usage_is_summed_by_the_core(tmp_path: Path) -> None:
    """A count without a modality is MODALITY_UNSPECIFIED; Vertex's candidates* count too."""
    usage = {
        "promptTokenCount": 7,
        "candidatesTokenCount": 5,
        "totalTokenCount": 12,
        "promptTokensDetails": [{"tokenCount": 7}],
        "candidatesTokensDetails": [{"modality": "AUDIO", "tokenCount": 5}],
    }
    done = {"serverContent": {"turnComplete": True}, "usageMetadata": usage}
    page = render_report(
        _session(tmp_path / "usage.jsonl", (0.5, "server", done), (0.9, "server", done))
    )
    rows = dict(re.findall(r'<tr data-modality="([^"]*)">(.*?)</tr>', page))
    assert rows == {
        "AUDIO": '<td>AUDIO</td><td class="num">0</td><td class="num">10</td>',
        "MODALITY_UNSPECIFIED": (
            '<td>MODALITY_UNSPECIFIED</td><td class="num">14</td><td class="num">0</td>'
        ),
    }
    assert re.search(r"data-total-tokens>24</td>", page)


def test_a_flood_of_findings_is_counted_not_listed(tmp_path: Path) -> None:
    odd = {"realtimeInput": {"audio": {"data": "AAAA", "mimeType": "audio/pcm;rate=16000"}}}
    lines = [HEADER, {"type": "connect", "t": 0.0, "connection": 1, "url": "ws://x"}]
    lines += [_frame(0.01, "client", {"setup": {"model": HEADER["model"]}})]
    lines += [_frame(0.02, "server", {"setupComplete": {}})]
    lines += [_frame(0.03 + i * 0.04, "client", odd) for i in range(400)]
    page = render_report(_cassette(tmp_path / "odd.jsonl", lines))
    assert "400 error" in page and "audio-odd-length × 400" in page
    # The audit keeps the first findings of each rule; the page lists those.
    assert page.count('data-rule="audio-odd-length"') == MAX_FINDINGS_PER_RULE
    assert "the first 20 of each rule" in page


def test_the_audio_limit_leaves_later_clips_out_and_lists_them() -> None:
    full = read_timeline(FIXTURES / "report-voice.jsonl")
    sizes = [len(c.data_uri or "") for t in full.turns for c in t.clips]
    assert all(sizes) and sum(sizes) <= DEFAULT_AUDIO_LIMIT
    limited = read_timeline(FIXTURES / "report-voice.jsonl", audio_limit=sum(sizes[:3]))
    clips = [c for t in limited.turns for c in t.clips]
    assert [c.data_uri is not None for c in clips] == [True] * 3 + [False] * 4
    assert [turn for turn, _ in limited.left_out] == [2, 3, 3, 4]
    assert all("audio limit" in c.note for c in clips[3:])
    assert limited.audio_embedded == sum(sizes[:3])
    page = render_report(FIXTURES / "report-voice.jsonl", audio_limit=0)
    assert "<audio" not in page and "7 audio clip(s)" in page


def test_the_model_audio_stops_where_the_user_cut_in() -> None:
    timeline = read_timeline(FIXTURES / "report-voice.jsonl")
    turn = timeline.turns[1]
    assert turn.interrupted and turn.end == pytest.approx(4.71)
    played = [float(t.max()) for t in timeline.model.times if len(t) and 4.3 < float(t.min()) < 5.0]
    # The reply was sent at 4.40-4.80 in real time; the interruption at 4.70 stops it.
    assert played and max(played) < 4.70
    assert [c.seconds for c in turn.clips if c.side == "model"] == [pytest.approx(0.4)]


def test_the_end_of_speech_is_the_vad_s_default_end_level(monkeypatch: pytest.MonkeyPatch) -> None:
    """The report reads the level the VAD ends speech at from rawlive.media.vad, not a copy."""
    assert VadConfig().end_threshold_dbfs == vad.DEFAULT_END_THRESHOLD_DBFS
    ends = [turn.speech_end for turn in read_timeline(FIXTURES / "report-voice.jsonl").turns]
    assert any(end is not None for end in ends)
    page = render_report(FIXTURES / "report-voice.jsonl")
    assert f"audio at {vad.DEFAULT_END_THRESHOLD_DBFS:.0f} dBFS or louder" in page
    # At 0 dBFS no block of the fixture's speech is loud enough: no end of speech.
    monkeypatch.setattr(vad, "DEFAULT_END_THRESHOLD_DBFS", 0.0)
    quiet = read_timeline(FIXTURES / "report-voice.jsonl")
    assert [turn.speech_end for turn in quiet.turns] == [None] * len(ends)
    assert "audio at 0 dBFS or louder" in render_report(FIXTURES / "report-voice.jsonl")


# ---------------------------------------------------------------------------
# The command
# ---------------------------------------------------------------------------

RAWLIVE = [sys.executable, "-m", "rawlive"]


def _run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*RAWLIVE, *args], capture_output=True, text=True, timeout=60, cwd=cwd)


def test_the_command_writes_the_page_beside_the_cassette(tmp_path: Path) -> None:
    cassette = tmp_path / "session.jsonl"
    shutil.copy(FIXTURES / "report-cut.jsonl", cassette)
    result = _run("report", str(cassette))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == (
        f"wrote {tmp_path / 'session.html'} (0.0 MB, 1 turn(s); the recording was cut off)"
    )
    assert "The recording was cut off" in (tmp_path / "session.html").read_text()
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d / "missing.jsonl", "cannot read {path}: No such file or directory"),
        (lambda d: d, "cannot read {path}: Is a directory"),
        (lambda d: _write(d / "empty.jsonl", b""), "{path} has no cassette header"),
        (lambda d: _write(d / "notes.txt", b"hello\n"), "{path}:1: not a rawlive cassette"),
        (lambda d: _write(d / "x.jsonl", b'{"type":"header"}\n'), "{path}:1: not a rawlive"),
    ],
    ids=["missing", "directory", "empty-file", "not-json", "not-a-header"],
)
def test_bad_input_is_one_line_and_exit_status_2(tmp_path: Path, make: Any, message: str) -> None:
    path = make(tmp_path)
    result = _run("report", str(path), "-o", str(tmp_path / "out.html"))
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rawlive: " + message.format(path=path))
    assert not (tmp_path / "out.html").exists()


@pytest.mark.parametrize(
    ("where", "reason"),
    [("no/such/dir.html", "No such file or directory"), ("/dev/full", "No space left on device")],
)
def test_an_unwritable_page_is_one_line_and_exit_status_2(
    tmp_path: Path, where: str, reason: str
) -> None:
    target = tmp_path / where
    result = _run("report", str(FIXTURES / "report-empty.jsonl"), "-o", str(target))
    assert result.returncode == 2
    assert result.stderr.strip() == f"rawlive: cannot write {target}: {reason}"


def test_a_write_failing_halfway_leaves_the_previous_page_whole(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    page = tmp_path / "page.html"
    page.write_bytes(b"the previous page")
    real_write = os.write

    def write_then_fill(fd: int, data: Any) -> int:  # the disk fills after 1 KiB
        if os.fstat(fd).st_size >= 1024:
            raise OSError(28, "No space left on device")
        return real_write(fd, bytes(data[:1024]))

    monkeypatch.setattr(os, "write", write_then_fill)
    with pytest.raises(OSError, match="No space left on device") as caught:
        write_report(FIXTURES / "report-voice.jsonl", page)
    monkeypatch.undo()
    assert caught.value.filename == str(page)
    assert page.read_bytes() == b"the previous page"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["page.html"]  # no temporary left


def test_a_page_that_is_the_cassette_under_another_name_is_refused(tmp_path: Path) -> None:
    cassette = tmp_path / "session.jsonl"
    shutil.copy(FIXTURES / "report-empty.jsonl", cassette)
    os.link(cassette, tmp_path / "page.html")
    result = _run("report", str(cassette), "-o", str(tmp_path / "page.html"))
    assert result.returncode == 2 and "would overwrite the cassette" in result.stderr
    assert cassette.read_bytes() == (FIXTURES / "report-empty.jsonl").read_bytes()


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _model_session(
    path: Path, setup: dict[str, Any], *messages: tuple[float, str, dict[str, Any]]
) -> Path:
    """:func:`_session` with another setup (its model named in it)."""
    lines = [HEADER, {"type": "connect", "t": 0.0, "connection": 1, "url": "ws://x"}]
    lines += [_frame(0.01, "client", {"setup": setup})]
    lines += [_frame(0.02, "server", {"setupComplete": {}})]
    lines += [_frame(t, sender, message) for t, sender, message in messages]
    end = max((t for t, _, _ in messages), default=0.02) + 0.1
    lines += [{"type": "close", "t": end, "connection": 1, "code": 1000, "by": "client"}]
    return _cassette(path, lines)


def _model_audio(ms: int = 100) -> dict[str, Any]:
    data = base64.b64encode(bytes(48 * ms)).decode()
    part = {"inlineData": {"mimeType": "audio/pcm;rate=24000", "data": data}}
    return {"serverContent": {"modelTurn": {"parts": [part]}}}


def _done(status: str) -> dict[str, Any]:
    return {"serverContent": {"turnComplete": True, "interactionStatus": status}}


def test_extended_thinking_turns_say_their_interaction_status(tmp_path: Path) -> None:
    """A filler turn (IN_PROGRESS) is labelled as such; IDLE ends the interaction."""
    setup = {"model": "models/gemini-3.8-live-extended-thinking"}
    said = {"serverContent": {"outputTranscription": {"text": "Checking flights now."}}}
    cassette = _model_session(
        tmp_path / "et.jsonl",
        setup,
        (0.10, "client", {"realtimeInput": {"text": "book a flight"}}),
        (0.40, "server", _model_audio()),
        (0.41, "server", said),
        (0.60, "server", _done("IN_PROGRESS")),
        (1.50, "server", _model_audio()),
        (1.80, "server", _done("IDLE")),
    )
    timeline = read_timeline(cassette)
    labels = [m.label for m in timeline.marks if m.kind.startswith("turn-complete")]
    assert labels == ["turnComplete IN_PROGRESS", "turnComplete IDLE"]
    filler, answer = timeline.turns
    assert filler.filler and filler.status == "IN_PROGRESS"
    assert not answer.in_progress and answer.status == "IDLE"
    page = render_report(cassette)
    assert 'data-status="IN_PROGRESS"' in page and ">1 filler</text>" in page
    assert "[IN_PROGRESS, filler]" in page and "[IDLE]" in page
    assert "interaction_complete" in page  # (the audit's percentiles, beside the turns')


def test_an_interaction_left_in_progress_is_a_finding_on_the_page(tmp_path: Path) -> None:
    setup = {"model": "models/gemini-3.8-live-extended-thinking"}
    cassette = _model_session(
        tmp_path / "left.jsonl",
        setup,
        (0.10, "client", {"realtimeInput": {"text": "book a flight"}}),
        (0.40, "server", _model_audio()),
        (0.60, "server", _done("IN_PROGRESS")),
    )
    page = render_report(cassette)
    assert 'data-rule="interaction-not-idle"' in page


def test_new_findings_are_listed_like_the_others(tmp_path: Path) -> None:
    setup = {"model": "models/gemini-3.8-live", "generationConfig": {"thinkingConfig": {}}}
    content = {"clientContent": {"turns": [{"parts": [{"text": "hi"}]}], "turnComplete": True}}
    page = render_report(_model_session(tmp_path / "38.jsonl", setup, (0.1, "client", content)))
    assert 'data-rule="setup-refused-by-model"' in page
    assert 'data-rule="client-content-role"' in page


def test_transcribe_live_shows_the_latest_interim_and_the_final_per_utterance(
    tmp_path: Path,
) -> None:
    setup = {
        "model": "models/gemini-3.5-transcribe-live",
        "generationConfig": {"responseModalities": ["TEXT"]},
        "realtimeInputConfig": {"automaticActivityDetection": {"disabled": True}},
    }

    def interim(text: str) -> dict[str, Any]:
        return {"serverContent": {"interimInputTranscription": {"text": text}}}

    def final(text: str) -> dict[str, Any]:
        return {"serverContent": {"inputTranscription": {"text": text}}}

    gen = {"serverContent": {"generationComplete": True}}
    end = {"realtimeInput": {"activityEnd": {}}}
    cassette = _model_session(
        tmp_path / "stt.jsonl",
        setup,
        (0.10, "client", {"realtimeInput": {"activityStart": {}}}),
        (0.30, "server", interim("zorblex")),
        (0.50, "server", interim("zorblex the")),
        (0.60, "client", end),
        (0.80, "server", final("Zorblex the quaxil.")),
        (0.81, "server", gen),
        (1.00, "client", {"realtimeInput": {"activityStart": {}}}),
        (1.20, "server", interim("hello")),
        (1.30, "client", end),
        (1.40, "server", final("Hello.")),
        (1.41, "server", gen),
    )
    timeline = read_timeline(cassette)
    spans = [(s.kind, s.text) for s in timeline.spans if s.lane == "input"]
    assert spans == [
        ("interim", "zorblex the"),
        ("final", "Zorblex the quaxil."),
        ("interim", "hello"),
        ("final", "Hello."),
    ]
    first_interim = next(s for s in timeline.spans if s.kind == "interim")
    assert (first_interim.start, first_interim.end) == (0.30, 0.50)
    first_final = next(s for s in timeline.spans if s.kind == "final")
    assert "200 ms after the end of speech" in first_final.detail
    page = render_report(cassette)
    assert '<g class="span interim">' in page and '<g class="span final">' in page
    assert "no turnComplete" not in page
    assert "final_transcription" in page and "Zorblex the quaxil. Hello." in page


def test_the_2026_model_fixtures_show_their_own_shapes() -> None:
    # Extended thinking: the filler turn is labelled and marked IN_PROGRESS,
    # the answer IDLE (PROTOCOL.md §10.6-§10.7).
    thinking = render_report(FIXTURES / "thinking-filler.jsonl")
    assert "[IN_PROGRESS, filler]" in thinking and "[IDLE]" in thinking
    assert "Checking that now." in thinking
    # Transcribe Live: utterances with their interims and finals, no turns (§10.8).
    stt = render_report(FIXTURES / "transcribe-live.jsonl")
    for number in (1, 2):
        assert f"final transcript of utterance {number}" in stt
        assert f"interim transcript of utterance {number}" in stt
    assert "(utterances of speech to text)" in stt
    assert "[IN_PROGRESS" not in stt and "filler" not in stt
    # Plain 3.8 states no interactionStatus: no status marks.
    live = render_report(FIXTURES / "live38-nonblocking.jsonl")
    assert "[IDLE]" not in live and "filler" not in live


def _faults(page: str) -> list[tuple[str, str, float, float, str]]:
    """The faults lane's bands: class, rule, start, time lost, title."""
    lane = page.split('data-lane="faults">', 1)[1].split('<g class="lane"', 1)[0]
    return [
        (css, rule, float(start), float(lost), html.unescape(title))
        for css, rule, start, lost, title in re.findall(
            r'<g class="fault (\w+)" data-rule="([\w-]+)" data-t="([\d.]+)" '
            r'data-lost="([\d.]+)"><title>([^<]*)</title>',
            lane,
        )
    ]


def test_a_misbehaving_server_is_drawn_over_the_time_it_cost(tmp_path: Path) -> None:
    native = {"model": HEADER["model"]}
    cassette = _model_session(
        tmp_path / "stall.jsonl",
        native,
        (1.0, "client", {"realtimeInput": {"text": "hello?"}}),
        (18.0, "server", _model_audio()),  # 17 s of nothing: a stall
        (18.2, "server", {"serverContent": {"turnComplete": True}}),  # and no generationComplete
    )
    page = render_report(cassette)
    faults = _faults(page)
    assert [(css, rule) for css, rule, *_ in faults] == [
        ("error", "stalled-turn"),
        ("warning", "reply-cut"),
    ]
    _, _, start, lost, title = faults[0]
    assert (start, lost) == (pytest.approx(1.0), pytest.approx(17.0))
    assert "stalled-turn (error, connection 1): 17.00 s lost from 1.000 s" in title
    # The findings table says the time lost too.
    assert re.search(r'data-rule="stalled-turn">.*?<td class="num">17\.000</td>', page)
    assert '<div data-lane-name="faults"' in page


def test_sessions_without_server_faults_leave_their_lane_empty() -> None:
    for name in ("report-voice.jsonl", "report-errors.jsonl", "report-cut.jsonl"):
        assert _faults(render_report(FIXTURES / name)) == [], name


@pytest.mark.parametrize(
    "rule", ["stalled-turn", "empty-turn", "reply-cut", "unanswered-input", "early-turn-end"]
)
def test_a_server_fault_is_drawn_on_the_timeline(rule: str) -> None:
    # The emulator-recorded cassette of each fault (make_sessions.py's FAULTS):
    # one band in the faults lane, for that rule alone.
    page = render_report(FIXTURES / f"fault-{rule}.jsonl")
    drawn = re.findall(r'<g class="fault [a-z]+" data-rule="([a-z-]+)"', page)
    assert drawn == [rule]


# -- the video lane (issue 17) ------------------------------------------------------------------

IMAGES = Path(__file__).parent.parent / "fixtures" / "images"
JPEG = (IMAGES / "testsrc-320x240.jpg").read_bytes()
_THUMB = re.compile(r'<image [^>]*href="data:image/jpeg;base64,([A-Za-z0-9+/=]+)"')


def _video_lane(page: str) -> str:
    start = page.index('<g class="lane" data-lane="video">')
    return page[start : page.index('<g class="lane"', start + 10)]


def test_the_video_fixture_shows_a_thumbnail_per_frame_at_its_time() -> None:
    pytest.importorskip("av")
    page = render_report(FIXTURES / "video-frames.jsonl")
    lane = _video_lane(page)
    thumbs = [base64.b64decode(m) for m in _THUMB.findall(lane)]
    assert len(thumbs) == 3
    # Thumbnails, not the frames: small JPEGs, far under the 9 KB original.
    assert all(t.startswith(b"\xff\xd8") and len(t) < len(JPEG) / 2 for t in thumbs)
    times = [float(m) for m in re.findall(r"<title>frame at ([0-9.]+) s", lane)]
    assert len(times) == 3 and all(0.9 < b - a < 1.2 for a, b in itertools.pairwise(times))
    assert 'data-lane-name="video"' in page


def test_no_video_lane_without_frames() -> None:
    page = render_report(FIXTURES / "hello-text.jsonl")
    assert 'data-lane="video"' not in page and 'data-lane-name="video"' not in page


def _frames(count: int) -> list[tuple[float, str, dict[str, Any]]]:
    blob = {"mimeType": "image/jpeg", "data": base64.b64encode(JPEG).decode()}
    return [(0.1 + i, "client", {"realtimeInput": {"video": blob}}) for i in range(count)]


def test_frames_past_the_cap_are_counted_and_the_page_stays_small(tmp_path: Path) -> None:
    pytest.importorskip("av")
    from rawlive.tools.report.reading import MAX_THUMBNAILS

    cassette = _session(tmp_path / "many.jsonl", *_frames(MAX_THUMBNAILS + 7))
    page = render_report(cassette)
    lane = _video_lane(page)
    assert len(_THUMB.findall(lane)) == MAX_THUMBNAILS
    assert "7 more frames" in lane and "7 more frames were sent" in page
    # The frames alone would be MAX_THUMBNAILS x 12 KB of base64; the thumbnails are a third.
    assert len(page) < 40_000 + MAX_THUMBNAILS * len(JPEG) * 4 / 3 / 3


def test_without_pyav_frames_are_ticks_with_a_note(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rawlive.tools.report import thumbs

    monkeypatch.setattr(thumbs, "available", lambda: False)
    broken = {"mimeType": "image/png", "data": base64.b64encode(JPEG).decode()}
    cassette = _session(
        tmp_path / "ticks.jsonl", *_frames(2), (3.0, "client", {"realtimeInput": {"video": broken}})
    )
    page = render_report(cassette)
    lane = _video_lane(page)
    assert "<image" not in lane and lane.count('class="frame tick') == 3
    assert 'class="frame tick error"' in lane and "claims image/png" in lane
    assert "rawlive[media]" in page
