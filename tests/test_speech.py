"""Spoken turns from text (issue 18): rawlive.media.speech's cache, sources and ``rawlive speak``.

Everything but the real espeak-ng test runs anywhere: a fake source object,
a fake espeak-ng program (a Python script on a PATH of the test's own) and a
local HTTP server standing in for the Gemini API.
"""

from __future__ import annotations

import base64
import hashlib
import http.server
import json
import shutil
import stat
import sys
import threading
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import fixture_modules
import numpy as np
import pytest
import soundfile as sf
from click.testing import CliRunner

from rawlive.cli import main
from rawlive.errors import ConfigError, SpeechFailed, SpeechUnavailable
from rawlive.media import speech
from rawlive.media.speech import EspeakSpeech, GeminiSpeech, cached, entry_name, speak

KEY = "fake.key-4f7c2a9e1b"
PARIS = "What's the weather like in Paris today?"
TOMORROW = "And what about tomorrow?"
HAS_ESPEAK = shutil.which("espeak-ng") is not None


def _tone(rate: int, seconds: float) -> bytes:
    t = np.arange(round(rate * seconds)) / rate
    return (np.sin(2 * np.pi * 220 * t) * 8000).astype("<i2").tobytes()


class FakeSource:
    """A speech source that counts its calls and says a 220 Hz tone."""

    def __init__(self, name: str = "fake", rate: int = 24_000, seconds: float = 1.0) -> None:
        self.name = name
        self.rate = rate
        self.seconds = seconds
        self.calls: list[tuple[str, str | None]] = []

    def synthesize(self, text: str, voice: str | None) -> tuple[bytes, int]:
        self.calls.append((text, voice))
        return _tone(self.rate, self.seconds), self.rate


@pytest.fixture
def no_sources(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No API key and a PATH with nothing on it: no way to make speech."""
    empty = tmp_path / "empty-bin"
    empty.mkdir()
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)
    monkeypatch.setenv("PATH", str(empty))
    return empty


# -- the cache's names ---------------------------------------------------------------------


def test_entry_names_are_the_documented_hash_and_never_change() -> None:
    # The scheme, written out here as the module's docstring states it...
    key = json.dumps(["rawlive-speech/1", PARIS, "", "espeak"], separators=(",", ":"))
    by_hand = hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] + ".wav"
    assert entry_name(PARIS, None, "espeak") == by_hand
    # ...and its value, fixed: a version that named entries otherwise would
    # miss every cache already committed.
    assert entry_name(PARIS, None, "espeak") == "047265093873115f.wav"
    assert entry_name(TOMORROW, None, "espeak") == "208050541de30ef2.wav"


def test_entry_names_tell_text_voice_and_source_apart_but_not_spelling_of_one_text() -> None:
    base = entry_name("Café au lait", None, "espeak")
    decomposed = unicodedata.normalize("NFD", "Café au lait")
    assert decomposed != "Café au lait"
    assert entry_name(f"  {decomposed}\n", None, "espeak") == base
    assert entry_name("Café au lait", "", "espeak") == base  # "" and None: the default voice
    others = {
        entry_name("Café au lait.", None, "espeak"),
        entry_name("Café au lait", "fr", "espeak"),
        entry_name("Café au lait", None, "gemini"),
    }
    assert base not in others and len(others) == 3
    # Non-ASCII text is hashed as UTF-8, not as \\u escapes.
    key = json.dumps(["rawlive-speech/1", "Café au lait", "", "espeak"], ensure_ascii=False)
    assert base == hashlib.sha256(key.replace(", ", ",").encode()).hexdigest()[:16] + ".wav"


# -- speak with a source -------------------------------------------------------------------


def test_speak_writes_a_16k_mono_wav_and_its_sidecar_then_hits_the_cache(tmp_path: Path) -> None:
    source = FakeSource(rate=24_000, seconds=1.0)
    cache = tmp_path / "scenarios" / ".speech"
    path = speak(PARIS, voice="Kore", cache_dir=cache, source=source)
    assert path == cache / entry_name(PARIS, "Kore", "fake")
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    assert info.frames == 16_000  # 1 s at 24 kHz is 1 s at 16 kHz, to the sample
    samples, _ = sf.read(str(path), dtype="float32")
    spectrum = np.abs(np.fft.rfft(samples))
    assert np.argmax(spectrum) == pytest.approx(220, abs=2)  # the tone, resampled, not garbled
    assert json.loads(path.with_suffix(".json").read_text()) == {
        "text": PARIS,
        "voice": "Kore",
        "source": "fake",
        "sample_rate": 16_000,
        "seconds": 1.0,
    }
    assert oct(path.stat().st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in cache.iterdir()) == sorted([path.name, path.stem + ".json"])
    # A second call makes nothing, whatever the spelling of the same text.
    assert speak(f" {PARIS} ", voice="Kore", cache_dir=cache, source=source) == path
    assert source.calls == [(PARIS, "Kore")]
    # Another voice is another entry.
    other = speak(PARIS, cache_dir=cache, source=source)
    assert other != path and source.calls[-1] == (PARIS, None)


def test_a_cache_hit_needs_no_source_and_finds_any_sources_entry(
    tmp_path: Path, no_sources: Path
) -> None:
    path = speak(PARIS, cache_dir=tmp_path, source=FakeSource(name="studio"))
    # No key, no espeak-ng: the entry of an unknown source is found by its sidecar.
    assert speak(PARIS, cache_dir=tmp_path) == path
    assert cached(PARIS, cache_dir=tmp_path) == path
    assert cached(PARIS, cache_dir=tmp_path, source="studio") == path
    assert cached(PARIS, cache_dir=tmp_path, source="espeak") is None
    assert cached(PARIS, voice="en-us", cache_dir=tmp_path) is None
    assert cached(PARIS, cache_dir=tmp_path / "nowhere") is None


def test_gemini_entries_come_before_espeak_ones(tmp_path: Path, no_sources: Path) -> None:
    espeak_entry = speak(PARIS, cache_dir=tmp_path, source=FakeSource(name="espeak"))
    assert cached(PARIS, cache_dir=tmp_path) == espeak_entry
    gemini_entry = speak(PARIS, cache_dir=tmp_path, source=FakeSource(name="gemini"))
    assert cached(PARIS, cache_dir=tmp_path) == gemini_entry != espeak_entry


def test_with_nothing_to_make_speech_the_error_says_what_to_do(
    tmp_path: Path, no_sources: Path
) -> None:
    assert speech.default_source() is None
    text = "Please book a table for four people at eight o'clock tonight"
    with pytest.raises(SpeechUnavailable) as caught:
        speak(text, cache_dir=tmp_path / ".speech")
    message = str(caught.value)
    assert "\n" not in message and isinstance(caught.value, ConfigError)
    assert message == (
        'no cached speech for "Please book a table for four people at…" in '
        f"{tmp_path / '.speech'}; set GEMINI_API_KEY, install espeak-ng, or record the turn "
        "and give its file"
    )
    assert not (tmp_path / ".speech").exists()


def test_the_default_source_is_gemini_with_a_key_else_espeak_on_the_path(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    chosen = speech.default_source(env={"GOOGLE_API_KEY": KEY, "PATH": str(empty)})
    assert isinstance(chosen, GeminiSpeech)
    assert isinstance(speech.default_source(api_key=KEY, env={}), GeminiSpeech)
    program = _fake_espeak(tmp_path / "bin")
    chosen = speech.default_source(env={"PATH": str(program.parent)})
    assert isinstance(chosen, EspeakSpeech) and chosen.program == str(program)
    assert speech.default_source(env={"PATH": str(empty)}) is None


@pytest.mark.parametrize(
    ("returned", "problem"),
    [
        ((b"\x00", 16_000), "1 bytes, not 16-bit samples"),
        ((b"", 16_000), "0 bytes"),
        ((b"\x00\x00", 10), "at 10 Hz"),
        (("text", 16_000), r"no \(pcm bytes, rate\) pair"),
    ],
)
def test_a_source_returning_no_audio_is_refused(
    tmp_path: Path, returned: tuple[Any, int], problem: str
) -> None:
    class Broken:
        name = "broken"

        def synthesize(self, text: str, voice: str | None) -> tuple[Any, int]:
            return returned

    with pytest.raises(SpeechFailed, match=problem):
        speak("hello", cache_dir=tmp_path, source=Broken())
    assert not any(tmp_path.iterdir())


def test_an_empty_text_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="empty"):
        speak(" \n", cache_dir=tmp_path, source=FakeSource())


# -- espeak-ng -------------------------------------------------------------------------------

FAKE_ESPEAK = """\
import sys, wave, math, struct
args = sys.argv[1:]
out = args[args.index("-w") + 1]
voice = args[args.index("-v") + 1] if "-v" in args else None
text = sys.stdin.buffer.read().decode("utf-8")
if voice == "nosuch":
    sys.stderr.write("Error: The specified espeak-ng voice does not exist.\\n")
    sys.exit(1)
with open(out + ".args", "w", encoding="utf-8") as f:
    f.write(repr((args[args.index("-w") + 2:], text)))
with wave.open(out, "wb") as w:
    w.setnchannels(1); w.setsampwidth(2); w.setframerate(22050)
    w.writeframes(b"".join(struct.pack("<h", int(8000 * math.sin(i / 10))) for i in range(22050)))
"""


def _fake_espeak(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    program = folder / "espeak-ng"
    program.write_text(f"#!{sys.executable}\n{FAKE_ESPEAK}")
    program.chmod(program.stat().st_mode | stat.S_IXUSR)
    return program


def test_espeak_gets_the_text_on_stdin_and_its_22k_wav_is_resampled(tmp_path: Path) -> None:
    program = _fake_espeak(tmp_path / "bin")
    source = EspeakSpeech(str(program))
    text = "-v fr --help is text, not options"
    pcm, rate = source.synthesize(text, "en-us")
    assert rate == 22_050 and len(pcm) == 2 * 22_050
    path = speak(text, voice="en-us", cache_dir=tmp_path / "c", source=source)
    assert sf.info(str(path)).frames == 16_000
    assert json.loads(path.with_suffix(".json").read_text())["source"] == "espeak"


def test_espeak_sees_the_voice_and_the_text_as_given(tmp_path: Path, monkeypatch: Any) -> None:
    program = _fake_espeak(tmp_path / "bin")
    seen: list[str] = []
    real = speech.subprocess.run

    def spy(command: list[str], **kwargs: Any) -> Any:
        done = real(command, **kwargs)
        seen.append(Path(command[command.index("-w") + 1] + ".args").read_text())
        return done

    monkeypatch.setattr(speech.subprocess, "run", spy)
    EspeakSpeech(str(program)).synthesize("Grüße -x", "de")
    EspeakSpeech(str(program)).synthesize("plain", None)
    assert seen == [repr((["-v", "de", "--stdin"], "Grüße -x")), repr((["--stdin"], "plain"))]


def test_espeak_failures_are_one_line_errors(tmp_path: Path, no_sources: Path) -> None:
    program = _fake_espeak(tmp_path / "bin")
    with pytest.raises(SpeechFailed, match=r"failed \(exit 1\): Error: The specified espeak-ng"):
        EspeakSpeech(str(program)).synthesize("hi", "nosuch")
    with pytest.raises(ConfigError, match="not an espeak voice"):
        EspeakSpeech(str(program)).synthesize("hi", "--help")
    with pytest.raises(SpeechUnavailable, match="espeak-ng is not installed"):
        EspeakSpeech()
    with pytest.raises(SpeechFailed, match="could not run"):
        EspeakSpeech(str(tmp_path / "missing")).synthesize("hi", None)


@pytest.mark.skipif(not HAS_ESPEAK, reason="espeak-ng is not installed")
def test_real_espeak_speaks_a_sentence(tmp_path: Path) -> None:
    path = speak(PARIS, voice="en-us", cache_dir=tmp_path, source=EspeakSpeech())
    info = sf.info(str(path))
    assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
    assert 1.0 < info.duration < 5.0
    samples, _ = sf.read(str(path), dtype="float32")
    assert float(np.sqrt(np.mean(samples**2))) > 0.01  # speech, not silence


# -- Gemini's speech generation ---------------------------------------------------------------


class FakeGemini(http.server.BaseHTTPRequestHandler):
    """Answers generateContent like the Gemini API, after checking the request."""

    answer: tuple[int, dict[str, Any]] = (200, {})
    seen: list[dict[str, Any]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.seen.append(
            {
                "path": self.path,
                "key": self.headers.get("x-goog-api-key"),
                "type": self.headers.get("Content-Type"),
                "body": json.loads(body),
            }
        )
        status, payload = self.answer
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def gemini() -> Iterator[tuple[str, type[FakeGemini]]]:
    handler = type("Handler", (FakeGemini,), {"seen": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", handler
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _audio_answer(pcm: bytes, mime: str = "audio/L16;codec=pcm;rate=24000") -> dict[str, Any]:
    inline = {"mimeType": mime, "data": base64.b64encode(pcm).decode()}
    return {"candidates": [{"content": {"role": "model", "parts": [{"inlineData": inline}]}}]}


def test_gemini_request_and_answer(tmp_path: Path, gemini: tuple[str, Any]) -> None:
    url, handler = gemini
    handler.answer = (200, _audio_answer(_tone(24_000, 0.5)))
    source = GeminiSpeech(KEY, base_url=url + "/")
    path = speak(PARIS, voice="Puck", cache_dir=tmp_path, source=source)
    [request] = handler.seen
    assert request["path"] == "/v1beta/models/gemini-2.5-flash-preview-tts:generateContent"
    assert request["key"] == KEY and request["type"] == "application/json"
    assert request["body"] == {
        "contents": [{"parts": [{"text": PARIS}]}],
        "generationConfig": {
            "responseModalities": ["AUDIO"],
            "speechConfig": {"voiceConfig": {"prebuiltVoiceConfig": {"voiceName": "Puck"}}},
        },
    }
    assert path.name == entry_name(PARIS, "Puck", "gemini")
    assert sf.info(str(path)).frames == 8_000  # 0.5 s at 24 kHz → 0.5 s at 16 kHz
    assert KEY not in repr(source) and KEY not in source.url


def test_gemini_default_voice_other_model_and_rate(tmp_path: Path, gemini: tuple[str, Any]) -> None:
    url, handler = gemini
    handler.answer = (200, _audio_answer(_tone(16_000, 0.25), "audio/L16;codec=pcm;rate=16000"))
    pcm, rate = GeminiSpeech(KEY, model="gemini-tts-x", base_url=url).synthesize("Hi", None)
    assert (rate, len(pcm)) == (16_000, 8_000)
    [request] = handler.seen
    assert request["path"] == "/v1beta/models/gemini-tts-x:generateContent"
    voice = request["body"]["generationConfig"]["speechConfig"]["voiceConfig"]
    assert voice == {"prebuiltVoiceConfig": {"voiceName": speech.DEFAULT_GEMINI_VOICE}}
    # A MIME type without a rate: 24 kHz, the Live API's own output rate.
    handler.answer = (200, _audio_answer(b"\x00\x00" * 10, "audio/pcm"))
    assert GeminiSpeech(KEY, base_url=url).synthesize("Hi", None) == (b"\x00\x00" * 10, 24_000)


@pytest.mark.parametrize(
    ("status", "error", "expected"),
    [
        (403, {"code": 403, "message": "Method doesn't allow unregistered callers.",
               "status": "PERMISSION_DENIED"},
         "HTTP 403 PERMISSION_DENIED: Method doesn't allow unregistered callers."),
        (429, {"code": 429, "message": f"Quota exceeded\nfor key {KEY}",
               "status": "RESOURCE_EXHAUSTED"},
         "HTTP 429 RESOURCE_EXHAUSTED: Quota exceeded for key <redacted>"),
    ],
)  # fmt: skip
def test_gemini_http_errors_are_one_line_without_the_key(
    tmp_path: Path, gemini: tuple[str, Any], status: int, error: dict[str, Any], expected: str
) -> None:
    url, handler = gemini
    handler.answer = (status, {"error": error})
    with pytest.raises(SpeechFailed) as caught:
        speak("Hi", cache_dir=tmp_path, source=GeminiSpeech(KEY, base_url=url))
    message = str(caught.value)
    assert message == f"Gemini speech generation (gemini-2.5-flash-preview-tts): {expected}"
    assert KEY not in message and "\n" not in message
    assert caught.value.__cause__ is None and caught.value.__context__ is None
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    "answer",
    [
        {"candidates": []},
        {"candidates": [{"content": {"parts": [{"text": "I cannot"}]}}]},
        {"candidates": [{"content": {"parts": [{"inlineData": {"data": "not base64!"}}]}}]},
    ],
)
def test_gemini_answers_without_audio_are_refused(
    gemini: tuple[str, Any], answer: dict[str, Any]
) -> None:
    url, handler = gemini
    handler.answer = (200, answer)
    with pytest.raises(SpeechFailed, match=r"the answer holds no audio"):
        GeminiSpeech(KEY, base_url=url).synthesize("Hi", None)


def test_gemini_unreachable_and_bad_settings(
    tmp_path: Path, no_sources: Path, unused_tcp_port: int
) -> None:
    with pytest.raises(SpeechFailed, match=r"cannot reach http://127\.0\.0\.1:\d+: ") as caught:
        GeminiSpeech(KEY, base_url=f"http://127.0.0.1:{unused_tcp_port}").synthesize("Hi", None)
    assert KEY not in str(caught.value)
    with pytest.raises(ConfigError, match=r"in clear to example\.com"):
        GeminiSpeech(KEY, base_url="http://example.com")
    with pytest.raises(ConfigError, match="no credentials"):
        GeminiSpeech(KEY, base_url=f"https://example.com/?key={KEY}")
    with pytest.raises(ConfigError, match="not a model id"):
        GeminiSpeech(KEY, model="../x")
    with pytest.raises(SpeechUnavailable, match="needs an API key"):
        GeminiSpeech()


# -- rawlive speak --------------------------------------------------------------------------------


def test_rawlive_speak_prints_the_cached_paths(tmp_path: Path, no_sources: Path) -> None:
    path = speak(PARIS, cache_dir=tmp_path, source=FakeSource(name="espeak"))
    result = CliRunner().invoke(main, ["speak", PARIS, "--cache-dir", str(tmp_path)])
    assert (result.exit_code, result.output) == (0, f"{path}\n")
    result = CliRunner().invoke(main, ["speak", PARIS, TOMORROW, "--cache-dir", str(tmp_path)])
    assert result.exit_code == 2  # (the first text's path printed, then the error)
    assert result.output == f"{path}\n" + (
        f'rawlive: no cached speech for "{TOMORROW}" in {tmp_path}; set GEMINI_API_KEY, '
        "install espeak-ng, or record the turn and give its file\n"
    )
    result = CliRunner().invoke(main, ["speak", "x", "--cache-dir", str(tmp_path), "--model", "m"])
    assert (result.exit_code, result.output) == (2, "rawlive: --model needs --source gemini\n")


def test_rawlive_speak_with_a_source(tmp_path: Path, no_sources: Path) -> None:
    _fake_espeak(no_sources)
    result = CliRunner().invoke(
        main, ["speak", "One", "Two", "--cache-dir", str(tmp_path), "--source", "espeak"]
    )
    assert result.exit_code == 0, result.output
    expected = [str(tmp_path / entry_name(t, None, "espeak")) for t in ("One", "Two")]
    assert result.output.splitlines() == expected
    result = CliRunner().invoke(
        main, ["speak", "One", "--cache-dir", str(tmp_path), "--source", "gemini"]
    )
    assert result.exit_code == 2 and "set GEMINI_API_KEY" in result.output


# -- the committed speech of the README's scenario ------------------------------------------------


def test_the_committed_speech_is_what_the_generator_would_name(no_sources: Path) -> None:
    generator = fixture_modules.load("scenarios/make_speech.py")
    cache = generator.CACHE
    assert cache == fixture_modules.FIXTURES / "scenarios" / ".speech"
    assert generator.TEXTS == (PARIS, TOMORROW) and generator.VOICE is None
    expected = set()
    for text in generator.TEXTS:
        name = entry_name(text, generator.VOICE, "espeak")
        expected |= {name, name.replace(".wav", ".json")}
        # No key, no espeak-ng on the PATH: the committed file is the answer.
        assert speak(text, voice=generator.VOICE, cache_dir=cache) == cache / name
        sidecar = json.loads((cache / name).with_suffix(".json").read_text())
        assert sidecar["text"] == text and sidecar["voice"] is None
        assert sidecar["source"] == "espeak"
        info = sf.info(str(cache / name))
        assert (info.samplerate, info.channels, info.subtype) == (16_000, 1, "PCM_16")
        assert sidecar["seconds"] == pytest.approx(info.duration, abs=0.001)
    assert {p.name for p in cache.iterdir()} == expected


def test_a_broken_sidecar_does_not_hide_the_other_entries(tmp_path: Path, no_sources: Path) -> None:
    path = speak(PARIS, cache_dir=tmp_path, source=FakeSource(name="studio"))
    (tmp_path / "0000000000000000.json").write_text("{not json")
    (tmp_path / "1111111111111111.json").write_text("[1, 2]")
    assert cached(PARIS, cache_dir=tmp_path) == path


def test_gemini_may_answer_with_a_wav(gemini: tuple[str, Any]) -> None:
    url, handler = gemini
    pcm = _tone(24_000, 0.1)
    handler.answer = (200, _audio_answer(speech.audio.wav_bytes(pcm, 24_000), "audio/wav"))
    assert GeminiSpeech(KEY, base_url=url).synthesize("Hi", None) == (pcm, 24_000)
    stereo = speech.audio.wav_bytes(pcm, 24_000, channels=2)
    handler.answer = (200, _audio_answer(stereo, "audio/wav"))
    with pytest.raises(SpeechFailed, match="Gemini's answer is not 16-bit mono audio"):
        GeminiSpeech(KEY, base_url=url).synthesize("Hi", None)
    handler.answer = (200, _audio_answer(b"RIFF-not-really", "audio/wav"))
    with pytest.raises(SpeechFailed, match="Gemini's answer is not a readable WAV"):
        GeminiSpeech(KEY, base_url=url).synthesize("Hi", None)
