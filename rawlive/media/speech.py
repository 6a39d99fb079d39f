"""Spoken user turns from text: pluggable speech sources and a cache kept in the repository.

A scenario's user turn may say what it speaks instead of giving a recording.
:func:`speak` turns that text into a 16 kHz mono 16-bit WAV, the format the
Live API takes in (``PROTOCOL.md`` §6), and keeps it in a cache folder the
caller names (a scenario's ``.speech/`` folder, committed with it), so that
replay and CI need nothing: no key, no synthesiser. The rules:

1. **The cache entry's name** is :func:`entry_name`: the first 16 hex digits
   of the SHA-256 of the UTF-8 JSON array ``["rawlive-speech/1", text, voice
   or "", source]`` (no spaces after separators, non-ASCII kept as is), with
   the text in Unicode NFC and stripped of surrounding white space, then
   ``.wav``. It depends on nothing but these three strings, so it is the same
   on every machine and in every rawlive version (a change of scheme would
   change the ``rawlive-speech/1`` tag, and with it every name).
2. **Beside each WAV** a sidecar ``<name>.json`` says what it is: its
   ``text``, ``voice`` (``null``: the source's default), ``source``,
   ``sample_rate`` and ``seconds``. One file per entry, not one index, so two
   runs (or two branches) adding entries never write the same file. Both are
   written to a temporary file and renamed: a reader never sees half of one.
3. **A cache hit** is a file that exists: nothing is installed, imported or
   asked. With ``source=None`` an entry made by any source counts (Gemini's
   first, then espeak-ng's, then any other's the sidecars name).
4. **On a miss** with ``source=None``, :func:`default_source` picks the
   source: Gemini's speech generation (:class:`GeminiSpeech`) when an API key
   is given or in ``GEMINI_API_KEY`` / ``GOOGLE_API_KEY``, else espeak-ng
   (:class:`EspeakSpeech`) when installed, else :class:`SpeechUnavailable`
   saying what to set, install or record. A source that fails raises
   :class:`SpeechFailed`; there is no silent fall back to another voice.

A :class:`SpeechSource` is anything with a ``name`` and a ``synthesize(text,
voice)`` returning ``(pcm, sample_rate)``: ``pcm`` the bytes of 16-bit
signed little-endian mono samples at ``sample_rate``. :func:`speak`
resamples it to 16 kHz (:class:`rawlive.media.audio.PcmResampler`, soxr).
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import tempfile
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
import wave
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from rawlive.errors import ConfigError, SpeechFailed, SpeechUnavailable
from rawlive.media import audio
from rawlive.wire.endpoints import GEMINI_HOST, is_loopback, redact

__all__ = [
    "CACHE_SCHEME",
    "DEFAULT_GEMINI_VOICE",
    "DEFAULT_TTS_MODEL",
    "EspeakSpeech",
    "GeminiSpeech",
    "SpeechFailed",
    "SpeechSource",
    "SpeechUnavailable",
    "cached",
    "default_source",
    "entry_name",
    "speak",
]

CACHE_SCHEME = "rawlive-speech/1"
"""The tag hashed with every cache entry's text, voice and source (rule 1)."""
DEFAULT_TTS_MODEL = "gemini-2.5-flash-preview-tts"
"""The Gemini model :class:`GeminiSpeech` asks by default."""
DEFAULT_GEMINI_VOICE = "Kore"
"""The prebuilt voice :class:`GeminiSpeech` asks for when a turn names none."""
GEMINI_BASE_URL = f"https://{GEMINI_HOST}"
"""Where :class:`GeminiSpeech` sends its requests by default."""

_KNOWN_SOURCES = ("gemini", "espeak")  # searched first, in this order, with source=None
_TEXT_SHOWN = 40  # characters of a text quoted in an error


@runtime_checkable
class SpeechSource(Protocol):
    """Makes speech from text: ``synthesize`` returns ``(pcm, sample_rate)``.

    ``pcm`` is 16-bit signed little-endian mono samples (bytes) at
    ``sample_rate`` Hz; ``voice`` ``None`` means the source's default voice.
    ``name`` (``"gemini"``, ``"espeak"``) is part of the cache entry's name,
    so two sources never share an entry. Raise :class:`SpeechFailed` when the
    speech cannot be made.
    """

    name: str

    def synthesize(self, text: str, voice: str | None) -> tuple[bytes, int]: ...


def _clean(text: str) -> str:
    if not isinstance(text, str):
        raise ConfigError(f"the text to speak must be a string, not {type(text).__name__}")
    cleaned = unicodedata.normalize("NFC", text).strip()
    if not cleaned:
        raise ConfigError("the text to speak is empty")
    return cleaned


def _shown(text: str) -> str:
    one_line = " ".join(text.split())
    return one_line if len(one_line) <= _TEXT_SHOWN else one_line[: _TEXT_SHOWN - 1].rstrip() + "…"


def entry_name(text: str, voice: str | None, source: str) -> str:
    """The cache file name of ``text`` spoken by ``source`` with ``voice`` (rule 1).

    ``entry_name("Hello", None, "espeak")`` is the same string on every
    machine and in every version of rawlive.
    """
    key = json.dumps(
        [CACHE_SCHEME, _clean(text), voice or "", source],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    return hashlib.sha256(key.encode("utf-8")).hexdigest()[:16] + ".wav"


def _sources_in(cache: Path) -> list[str]:
    """The sources the sidecars in ``cache`` name, beyond the known ones, sorted."""
    found: set[str] = set()
    with contextlib.suppress(OSError):
        for sidecar in cache.glob("*.json"):
            try:
                source = json.loads(sidecar.read_text(encoding="utf-8")).get("source")
            except (OSError, ValueError, AttributeError):
                continue
            if isinstance(source, str) and source not in _KNOWN_SOURCES:
                found.add(source)
    return sorted(found)


def cached(
    text: str,
    *,
    voice: str | None = None,
    cache_dir: str | os.PathLike[str],
    source: SpeechSource | str | None = None,
) -> Path | None:
    """The cached WAV of ``text`` (rule 3), or ``None``; never generates anything.

    ``source`` (an object or its name) limits the search to that source's
    entry; ``None`` takes any source's.
    """
    cache = Path(cache_dir)
    if source is not None:
        name = source if isinstance(source, str) else source.name
        path = cache / entry_name(text, voice, name)
        return path if path.is_file() else None
    for name in (*_KNOWN_SOURCES, *_sources_in(cache)):
        path = cache / entry_name(text, voice, name)
        if path.is_file():
            return path
    return None


def _api_key(api_key: str | None, env: Mapping[str, str]) -> str | None:
    return api_key or env.get("GEMINI_API_KEY") or env.get("GOOGLE_API_KEY") or None


def default_source(
    *, api_key: str | None = None, env: Mapping[str, str] | None = None
) -> SpeechSource | None:
    """The source :func:`speak` uses on a miss (rule 4), or ``None`` when there is none.

    ``env`` defaults to ``os.environ`` (the API key variables and ``PATH``).
    """
    env = os.environ if env is None else env
    key = _api_key(api_key, env)
    if key:
        return GeminiSpeech(key)
    program = EspeakSpeech.find(env.get("PATH"))
    return EspeakSpeech(program) if program else None


def _write_atomic(path: Path, data: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o644)  # (mkstemp's 0600 would hide the cache from the other users)
        with os.fdopen(fd, "wb") as out:
            out.write(data)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def _to_input_rate(pcm: bytes, rate: int, source: str) -> bytes:
    if not isinstance(pcm, bytes | bytearray | memoryview) or not isinstance(rate, int):
        raise SpeechFailed(f"the {source} speech source returned no (pcm bytes, rate) pair")
    if not audio.MIN_SAMPLE_RATE <= rate <= audio.MAX_SAMPLE_RATE:
        raise SpeechFailed(f"the {source} speech source returned audio at {rate} Hz")
    data = bytes(pcm)
    if not data or len(data) % 2:
        raise SpeechFailed(
            f"the {source} speech source returned {len(data)} bytes, not 16-bit samples"
        )
    resampler = audio.PcmResampler(rate, audio.INPUT_RATE)
    return resampler.feed_pcm(data) + resampler.flush()


def speak(
    text: str,
    *,
    voice: str | None = None,
    cache_dir: str | os.PathLike[str],
    source: SpeechSource | None = None,
    api_key: str | None = None,
) -> Path:
    """The cached 16 kHz mono 16-bit WAV of ``text``, made first if need be.

    ``voice`` ``None`` is the source's default voice. With ``source=None``: an
    entry of any source in ``cache_dir``, else Gemini's speech generation
    when ``api_key`` is given or set in the environment, else espeak-ng when
    installed, else :class:`SpeechUnavailable`. With a source: its entry, made
    by it on a miss. ``cache_dir`` is created when missing.
    """
    text = _clean(text)
    cache = Path(cache_dir)
    hit = cached(text, voice=voice, cache_dir=cache, source=source)
    if hit is not None:
        return hit
    if source is None:
        source = default_source(api_key=api_key)
        if source is None:
            raise SpeechUnavailable(
                f'no cached speech for "{_shown(text)}" in {cache}; set GEMINI_API_KEY, '
                "install espeak-ng, or record the turn and give its file"
            )
    pcm, rate = source.synthesize(text, voice)
    data = _to_input_rate(pcm, rate, source.name)
    path = cache / entry_name(text, voice, source.name)
    sidecar = {
        "text": text,
        "voice": voice,
        "source": source.name,
        "sample_rate": audio.INPUT_RATE,
        "seconds": round(len(data) / 2 / audio.INPUT_RATE, 3),
    }
    try:
        cache.mkdir(parents=True, exist_ok=True)
        # The sidecar first: a WAV in the cache always has its description (rule 2).
        _write_atomic(
            path.with_suffix(".json"),
            (json.dumps(sidecar, ensure_ascii=False, indent=2) + "\n").encode("utf-8"),
        )
        _write_atomic(path, audio.wav_bytes(data, audio.INPUT_RATE))
    except OSError as exc:
        raise SpeechFailed(
            f"cannot write the speech cache {cache}: {exc.strerror or exc}"
        ) from None
    return path


# -- Gemini's speech generation ---------------------------------------------------------

_RATE_RE = re.compile(r"(?:^|;)\s*rate\s*=\s*(\d+)", re.IGNORECASE)


class GeminiSpeech:
    """The Gemini API's speech generation (text-to-speech) over REST, stdlib only.

    One ``POST {base_url}/v1beta/models/{model}:generateContent`` whose
    ``generationConfig`` asks for ``responseModalities: ["AUDIO"]`` in the
    prebuilt voice ``speechConfig.voiceConfig.prebuiltVoiceConfig.voiceName``
    (:data:`DEFAULT_GEMINI_VOICE` when the turn names none); the answer's
    first ``candidates[0].content.parts[].inlineData`` holds base64 PCM,
    16-bit mono, at the rate its ``mimeType`` says
    (``audio/L16;codec=pcm;rate=24000``; 24 kHz when it says none). As
    documented at https://ai.google.dev/gemini-api/docs/speech-generation
    and https://ai.google.dev/api/generate-content.

    The key goes in the ``x-goog-api-key`` header only, never in the URL, and
    is in no error, log or ``repr``; a plain ``http://`` base URL is refused
    unless it is this machine (a test server). ``api_key`` ``None`` takes
    ``GEMINI_API_KEY``, else ``GOOGLE_API_KEY``.
    """

    name = "gemini"

    def __init__(
        self,
        api_key: str | None = None,
        *,
        model: str = DEFAULT_TTS_MODEL,
        base_url: str = GEMINI_BASE_URL,
        timeout: float = 60.0,
    ) -> None:
        key = _api_key(api_key, os.environ)
        if not key:
            raise SpeechUnavailable(
                "Gemini speech generation needs an API key: set GEMINI_API_KEY "
                "(or GOOGLE_API_KEY) or pass api_key"
            )
        parsed = urllib.parse.urlsplit(base_url)
        if parsed.scheme not in ("https", "http") or not parsed.hostname:
            raise ConfigError(
                f"the speech base URL must be https://host, not {redact(base_url, [key])!r}"
            )
        if parsed.username or parsed.password or parsed.query:
            raise ConfigError("the speech base URL must hold no credentials or query")
        if parsed.scheme == "http" and not is_loopback(parsed.hostname):
            raise ConfigError(
                f"refusing to send the API key in clear to {parsed.hostname}: use https://"
            )
        if not model or "/" in model or "?" in model or ":" in model:
            raise ConfigError(f"not a model id: {model!r}")
        self._key = key
        self.model = model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"GeminiSpeech(model={self.model!r}, base_url={self.base_url!r})"

    @property
    def url(self) -> str:
        """The URL each request goes to (it carries no credential)."""
        return f"{self.base_url}/v1beta/models/{urllib.parse.quote(self.model)}:generateContent"

    def request_body(self, text: str, voice: str | None) -> dict[str, Any]:
        """The JSON body asking for ``text`` spoken in ``voice``."""
        return {
            "contents": [{"parts": [{"text": text}]}],
            "generationConfig": {
                "responseModalities": ["AUDIO"],
                "speechConfig": {
                    "voiceConfig": {
                        "prebuiltVoiceConfig": {"voiceName": voice or DEFAULT_GEMINI_VOICE}
                    }
                },
            },
        }

    def _fail(self, what: str) -> SpeechFailed:
        return SpeechFailed(redact(f"Gemini speech generation ({self.model}): {what}", [self._key]))

    def synthesize(self, text: str, voice: str | None) -> tuple[bytes, int]:
        """``text`` spoken by ``model``: ``(pcm, rate)``; :class:`SpeechFailed` on any failure."""
        request = urllib.request.Request(
            self.url,
            data=json.dumps(self.request_body(text, voice)).encode("utf-8"),
            headers={"Content-Type": "application/json", "x-goog-api-key": self._key},
            method="POST",
        )
        # The error is raised outside the ``except``: the original (and the
        # request with its key header, in its traceback) is not kept as context.
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as answer:
                return self._audio(answer.read())
        except urllib.error.HTTPError as exc:
            problem = f"HTTP {exc.code} {_error_text(exc)}"
        except (urllib.error.URLError, OSError) as exc:
            problem = f"cannot reach {self.base_url}: {getattr(exc, 'reason', exc)}"
        raise self._fail(problem)

    def _audio(self, body: bytes) -> tuple[bytes, int]:
        try:
            answer = json.loads(body)
            parts = answer["candidates"][0]["content"]["parts"]
            inline = next(
                p["inlineData"] for p in parts if isinstance(p, dict) and "inlineData" in p
            )
            data = base64.b64decode(inline["data"], validate=True)
        except (ValueError, KeyError, IndexError, TypeError, StopIteration, binascii.Error):
            raise self._fail(
                "the answer holds no audio (candidates[0].content.parts[].inlineData)"
            ) from None
        mime = str(inline.get("mimeType", ""))
        if mime.lower().startswith(("audio/wav", "audio/x-wav")) or data[:4] == b"RIFF":
            return _wav_pcm(data, "Gemini's answer")
        match = _RATE_RE.search(mime)
        return data, int(match.group(1)) if match else audio.OUTPUT_RATE


def _error_text(exc: urllib.error.HTTPError) -> str:
    """``STATUS: message`` of a Google API error body, on one line; the reason if none."""
    try:
        error = json.loads(exc.read() or b"{}").get("error", {})
        status, message = error.get("status", ""), error.get("message", "")
    except (ValueError, AttributeError, OSError):
        status, message = "", ""
    text = f"{status}: {message}" if status and message else status or message or exc.reason
    return " ".join(str(text).split())[:300]


def _wav_pcm(data: bytes, what: str) -> tuple[bytes, int]:
    """The 16-bit mono samples and rate of a WAV file's bytes."""
    try:
        with wave.open(io.BytesIO(data), "rb") as wav:
            if wav.getsampwidth() != 2 or wav.getnchannels() != 1:
                raise SpeechFailed(f"{what} is not 16-bit mono audio")
            return wav.readframes(wav.getnframes()), wav.getframerate()
    except (wave.Error, EOFError) as exc:
        raise SpeechFailed(f"{what} is not a readable WAV: {exc}") from None


# -- espeak-ng ---------------------------------------------------------------------------


class EspeakSpeech:
    """espeak-ng (or the older ``espeak``), run as a program: offline, robotic, deterministic.

    The text goes in on standard input (never as an argument an option could
    be read from); ``voice`` is an espeak voice (``en-us``, ``fr``), ``None``
    its default. espeak-ng writes a 22,050 Hz 16-bit mono WAV.
    """

    name = "espeak"

    def __init__(self, program: str | None = None, *, timeout: float = 60.0) -> None:
        found = program or self.find()
        if not found:
            raise SpeechUnavailable("espeak-ng is not installed (apt-get install espeak-ng)")
        self.program = found
        self.timeout = timeout

    def __repr__(self) -> str:
        return f"EspeakSpeech(program={self.program!r})"

    @staticmethod
    def find(path: str | None = None) -> str | None:
        """The espeak-ng (else espeak) program on ``path`` (default ``PATH``), or ``None``."""
        return shutil.which("espeak-ng", path=path) or shutil.which("espeak", path=path)

    def synthesize(self, text: str, voice: str | None) -> tuple[bytes, int]:
        """``text`` spoken by espeak: ``(pcm, rate)``; :class:`SpeechFailed` when it fails."""
        if voice is not None and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_+.-]*", voice):
            raise ConfigError(f"not an espeak voice: {voice!r}")
        with tempfile.TemporaryDirectory(prefix="rawlive-espeak-") as folder:
            out = Path(folder) / "speech.wav"
            command = [self.program, "-w", str(out), *(["-v", voice] if voice else []), "--stdin"]
            try:
                done = subprocess.run(
                    command,
                    input=text.encode("utf-8"),
                    capture_output=True,
                    timeout=self.timeout,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                raise SpeechFailed(f"{self.program} could not run: {exc}") from None
            if done.returncode != 0 or not out.is_file():
                said = " ".join(done.stderr.decode("utf-8", "replace").split())[:200]
                raise SpeechFailed(
                    f"{self.program} failed (exit {done.returncode})"
                    + (f": {said}" if said else "")
                )
            return _wav_pcm(out.read_bytes(), f"{self.program}'s output")
