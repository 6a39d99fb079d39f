"""rawlive.media.vad: the emulator's energy-based voice activity detector."""

from __future__ import annotations

import itertools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rawlive.media.vad import (
    DEFAULT_PREFIX_PADDING_MS,
    DEFAULT_SILENCE_DURATION_MS,
    EnergyVad,
    VadConfig,
    VadEvent,
)
from rawlive.wire import codec
from rawlive.wire import types as t

RATE = 16000
FRAME_MS = 20
_rng = np.random.default_rng(1234)


def _amp(dbfs: float) -> float:
    return float(10 ** (dbfs / 20) * 32768)


def tone(ms: float, dbfs: float = -20.0, freq: float = 220.0) -> np.ndarray:
    """A sine whose RMS level is ``dbfs``."""
    n = round(ms * RATE / 1000)
    return np.asarray(np.sqrt(2) * _amp(dbfs) * np.sin(2 * np.pi * freq * np.arange(n) / RATE))


def noise(ms: float, dbfs: float = -60.0) -> np.ndarray:
    """Gaussian background noise whose RMS level is ``dbfs``."""
    n = round(ms * RATE / 1000)
    return _rng.normal(0.0, _amp(dbfs), n)


def pcm(*parts: np.ndarray) -> bytes:
    x = np.concatenate(parts)
    return np.clip(np.round(x), -32768, 32767).astype("<i2").tobytes()


def run(audio: bytes, config: VadConfig | None = None, *, flush: bool = True) -> list[VadEvent]:
    vad = EnergyVad(config or VadConfig())
    events = vad.feed(audio)
    if flush:
        events += vad.flush()
    return events


def kinds(events: list[VadEvent]) -> list[str]:
    return [e.kind for e in events]


def near(actual: float, expected: float) -> bool:
    return abs(actual - expected) <= FRAME_MS


# One utterance with a word gap inside, used by several tests:
# speech 1010-1610 ms, 120 ms dip, speech 1730-2310 ms, then 1.2 s of noise.
UTTERANCE = pcm(noise(1010), tone(600), noise(120), tone(580, -25.0, 330.0), noise(1200))


def test_one_utterance_one_start_one_end() -> None:
    events = run(UTTERANCE)
    assert kinds(events) == ["speech_start", "speech_end"]
    assert near(events[0].offset_ms, 1010)
    assert near(events[1].offset_ms, 2310)
    # The end is reported only once the silence has lasted silence_duration_ms.
    vad = EnergyVad(VadConfig())
    cut = (2310 + DEFAULT_SILENCE_DURATION_MS - 60) * RATE // 1000 * 2
    assert kinds(vad.feed(UTTERANCE[:cut])) == ["speech_start"]
    assert vad.speaking
    assert kinds(vad.feed(UTTERANCE[cut:])) == ["speech_end"]
    assert not vad.speaking


def test_offsets_are_frame_aligned_positions() -> None:
    events = run(pcm(noise(1000), tone(500), noise(1000)))
    assert events == [VadEvent("speech_start", 1000.0), VadEvent("speech_end", 1500.0)]


def test_silence_and_noise_only_emit_nothing() -> None:
    assert run(pcm(noise(3000))) == []
    assert run(bytes(RATE * 2 * 2)) == []
    assert run(b"") == []


@pytest.mark.parametrize(("silence_ms", "utterances"), [(300, 2), (800, 1)])
def test_silence_duration_splits_on_a_500ms_pause(silence_ms: int, utterances: int) -> None:
    audio = pcm(noise(500), tone(700), noise(500), tone(700), noise(1500))
    events = run(audio, VadConfig(silence_duration_ms=silence_ms))
    assert kinds(events) == ["speech_start", "speech_end"] * utterances
    if utterances == 2:
        starts = [e.offset_ms for e in events if e.kind == "speech_start"]
        ends = [e.offset_ms for e in events if e.kind == "speech_end"]
        assert near(starts[0], 500) and near(ends[0], 1200)
        assert near(starts[1], 1700) and near(ends[1], 2400)
    else:
        assert near(events[0].offset_ms, 500) and near(events[1].offset_ms, 2400)


def test_a_single_quiet_frame_inside_a_word_does_not_end_speech() -> None:
    audio = pcm(noise(300), tone(400), noise(20), np.zeros(320), tone(400), noise(1000))
    events = run(audio, VadConfig(silence_duration_ms=100))
    assert kinds(events) == ["speech_start", "speech_end"]


def test_prefix_padding_filters_a_short_click() -> None:
    click = pcm(noise(500), tone(40, -10.0, 1000.0), noise(1500))
    assert kinds(run(click)) == ["speech_start", "speech_end"]  # default: one frame
    padded = VadConfig(prefix_padding_ms=100)
    assert run(click, padded) == []
    word = pcm(noise(500), tone(300), noise(1500))
    events = run(word, padded)
    assert kinds(events) == ["speech_start", "speech_end"]
    assert near(events[0].offset_ms, 500)  # reported at the first loud frame


def test_start_sensitivity_decides_what_counts_as_speech() -> None:
    quiet = pcm(noise(500), tone(600, -40.0), noise(1200))
    high = run(quiet, VadConfig(start_sensitivity="START_SENSITIVITY_HIGH"))
    assert kinds(high) == ["speech_start", "speech_end"]
    assert run(quiet, VadConfig(start_sensitivity="START_SENSITIVITY_LOW")) == []
    # Unspecified means HIGH on the Gemini API.
    unspecified = VadConfig(start_sensitivity="START_SENSITIVITY_UNSPECIFIED")
    assert run(quiet, unspecified) == high


def test_end_sensitivity_decides_what_counts_as_silence() -> None:
    # Speech, then a -52 dBFS hum for 1 s, then background noise.
    audio = pcm(noise(500), tone(600), tone(1000, -52.0, 100.0), noise(1500))
    high = run(audio, VadConfig(end_sensitivity="END_SENSITIVITY_HIGH"))
    low = run(audio, VadConfig(end_sensitivity="END_SENSITIVITY_LOW"))
    assert kinds(high) == kinds(low) == ["speech_start", "speech_end"]
    assert near(high[1].offset_ms, 1100)  # the hum is already silence
    assert near(low[1].offset_ms, 2100)  # the hum still holds the turn


def test_threshold_hysteresis() -> None:
    # -48 dBFS cannot start speech at HIGH (-45) but does not end it (-50) either.
    audio = pcm(noise(200), tone(300, -48.0), tone(300), tone(1500, -48.0), noise(1200))
    events = run(audio)
    assert kinds(events) == ["speech_start", "speech_end"]
    assert near(events[0].offset_ms, 500)
    assert near(events[1].offset_ms, 2300)


# Two utterances, the first with a quieter second word, then half a sample.
CHUNK_AUDIO = pcm(
    noise(230), tone(400), noise(150), tone(300, -30.0), noise(900), tone(130), noise(850)
)
CHUNK_AUDIO += b"\x01"


@pytest.mark.parametrize("size", [1, 7, 640, len(CHUNK_AUDIO)])
def test_chunking_does_not_change_events(size: int) -> None:
    expected = run(CHUNK_AUDIO, VadConfig(silence_duration_ms=300), flush=False)
    assert kinds(expected) == ["speech_start", "speech_end"] * 2
    vad = EnergyVad(VadConfig(silence_duration_ms=300))
    events: list[VadEvent] = []
    for i in range(0, len(CHUNK_AUDIO), size):
        events += vad.feed(CHUNK_AUDIO[i : i + size])
    assert events == expected


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(min_value=0, max_value=len(CHUNK_AUDIO)), max_size=40))
def test_random_chunking_does_not_change_events(cuts: list[int]) -> None:
    config = VadConfig(silence_duration_ms=300, prefix_padding_ms=60)
    expected = run(CHUNK_AUDIO, config)
    vad = EnergyVad(config)
    events: list[VadEvent] = []
    bounds = [0, *sorted(cuts), len(CHUNK_AUDIO)]
    for a, b in itertools.pairwise(bounds):
        events += vad.feed(CHUNK_AUDIO[a:b])
    events += vad.flush()
    assert events == expected


def test_flush_ends_an_active_utterance() -> None:
    vad = EnergyVad(VadConfig())
    assert kinds(vad.feed(pcm(noise(500), tone(1000)))) == ["speech_start"]
    assert vad.speaking
    assert vad.flush() == [VadEvent("speech_end", 1500.0)]
    assert not vad.speaking
    assert vad.flush() == []
    # The stream clock carries on after a flush.
    events = vad.feed(pcm(noise(200), tone(300), noise(1000)))
    assert events == [VadEvent("speech_start", 1700.0), VadEvent("speech_end", 2000.0)]


def test_flush_during_trailing_silence_ends_where_the_silence_began() -> None:
    vad = EnergyVad(VadConfig())
    vad.feed(pcm(noise(500), tone(600), noise(300)))
    assert vad.speaking
    assert vad.flush() == [VadEvent("speech_end", 1100.0)]


def test_flush_when_silent_emits_nothing() -> None:
    vad = EnergyVad(VadConfig())
    assert vad.flush() == []
    vad.feed(pcm(noise(700)))
    assert vad.flush() == []
    vad = EnergyVad(VadConfig(prefix_padding_ms=200))
    vad.feed(pcm(noise(100), tone(100)))  # a start still short of its padding
    assert vad.flush() == []
    assert not vad.speaking


def test_reset_restarts_the_clock() -> None:
    vad = EnergyVad(VadConfig())
    vad.feed(pcm(noise(300), tone(300)) + b"\x00")
    assert vad.speaking
    vad.reset()
    assert not vad.speaking
    assert vad.position_ms == 0
    assert vad.feed(pcm(noise(100), tone(100))) == [VadEvent("speech_start", 100.0)]


def test_disabled_detector_reports_nothing() -> None:
    config = VadConfig.from_setup(t.AutomaticActivityDetection(disabled=True))
    assert config.disabled
    assert run(UTTERANCE, config) == []


def test_from_setup_defaults() -> None:
    default = VadConfig()
    assert VadConfig.from_setup(None) == default
    assert VadConfig.from_setup(t.AutomaticActivityDetection()) == default
    assert default.silence_duration_ms == DEFAULT_SILENCE_DURATION_MS == 800
    assert default.prefix_padding_ms == DEFAULT_PREFIX_PADDING_MS
    assert default.start_sensitivity == "START_SENSITIVITY_HIGH"
    assert default.end_sensitivity == "END_SENSITIVITY_HIGH"
    assert not default.disabled
    assert (default.sample_rate, default.frame_ms) == (16000, 20)


def test_from_setup_maps_every_field() -> None:
    detection = t.AutomaticActivityDetection(
        disabled=False,
        start_of_speech_sensitivity=t.StartSensitivity.START_SENSITIVITY_LOW,
        end_of_speech_sensitivity=t.EndSensitivity.END_SENSITIVITY_LOW,
        prefix_padding_ms=120,
        silence_duration_ms=500,
    )
    config = VadConfig.from_setup(detection)
    assert config == VadConfig(
        silence_duration_ms=500,
        prefix_padding_ms=120,
        start_sensitivity="START_SENSITIVITY_LOW",
        end_sensitivity="END_SENSITIVITY_LOW",
    )
    assert config.start_threshold_dbfs == -35.0
    assert config.end_threshold_dbfs == -55.0
    assert config.prefix_frames == 6
    assert config.silence_frames == 25


@pytest.mark.parametrize(
    ("start", "end"),
    [
        ("START_SENSITIVITY_UNSPECIFIED", "END_SENSITIVITY_UNSPECIFIED"),
        ("START_SENSITIVITY_SOMETHING_NEW", "END_SENSITIVITY_SOMETHING_NEW"),
        (None, None),
    ],
)
def test_from_setup_unknown_sensitivity_is_high(start: str | None, end: str | None) -> None:
    config = VadConfig.from_setup(
        t.AutomaticActivityDetection(
            start_of_speech_sensitivity=start, end_of_speech_sensitivity=end
        )
    )
    assert config.start_sensitivity == "START_SENSITIVITY_HIGH"
    assert config.end_sensitivity == "END_SENSITIVITY_HIGH"
    assert config.start_threshold_dbfs == -45.0
    assert config.end_threshold_dbfs == -50.0


def test_from_setup_decoded_from_the_wire() -> None:
    raw = (
        b'{"setup": {"model": "models/x", "realtimeInputConfig": {'
        b'"automaticActivityDetection": {"startOfSpeechSensitivity": "START_SENSITIVITY_LOW",'
        b' "silenceDurationMs": 300, "prefixPaddingMs": 0}}}}'
    )
    setup = codec.decode_client_message(raw).setup
    assert setup is not None and setup.realtime_input_config is not None
    rtc = setup.realtime_input_config
    config = VadConfig.from_setup(rtc.automatic_activity_detection)
    assert config.silence_duration_ms == 300
    assert config.prefix_padding_ms == 0
    assert config.prefix_frames == 1  # a zero padding still needs one loud frame
    assert config.start_sensitivity == "START_SENSITIVITY_LOW"
    assert config.end_sensitivity == "END_SENSITIVITY_HIGH"


def test_short_durations_round_to_whole_frames() -> None:
    config = VadConfig(silence_duration_ms=0, prefix_padding_ms=-5)
    assert (config.silence_frames, config.prefix_frames) == (1, 1)
    assert VadConfig(silence_duration_ms=510).silence_frames == 26


def test_config_rejects_fractional_frames() -> None:
    with pytest.raises(ValueError):
        VadConfig(sample_rate=16000, frame_ms=0)
    with pytest.raises(ValueError):
        VadConfig(sample_rate=22050, frame_ms=15)
    assert VadConfig(sample_rate=24000, frame_ms=10).frame_samples == 240


def test_import_rawlive_does_not_import_numpy() -> None:
    code = "import sys, rawlive; assert 'numpy' not in sys.modules, 'numpy'"
    subprocess.run([sys.executable, "-c", code], check=True)


SPOKEN = Path(__file__).resolve().parent.parent / "fixtures" / "audio" / "weather-16k-mono.wav"


def test_real_speech_is_one_utterance_spanning_the_spoken_part() -> None:
    # A sentence synthesised once with espeak-ng (fixtures/audio/make_fixtures.sh).
    import soundfile

    speech, rate = soundfile.read(SPOKEN, dtype="float64", always_2d=True)
    assert rate == RATE
    speech = speech[:, 0]
    loud = np.flatnonzero(np.abs(speech) > 0.01)
    assert loud.size
    first_ms = loud[0] * 1000 / RATE
    last_ms = loud[-1] * 1000 / RATE
    audio = pcm(noise(500), speech * 32767 * 0.5, noise(1500))
    events = run(audio)
    assert kinds(events) == ["speech_start", "speech_end"]
    assert abs(events[0].offset_ms - (500 + first_ms)) <= 60
    assert abs(events[1].offset_ms - (500 + last_ms)) <= 150


def test_silence_ms_counts_the_pause_going_on_while_speaking() -> None:
    vad = EnergyVad(VadConfig())
    assert vad.silence_ms == 0.0
    vad.feed(pcm(noise(200), tone(400)))
    assert vad.speaking and vad.silence_ms == 0.0
    vad.feed(pcm(noise(300)))
    assert vad.speaking and near(vad.silence_ms, 300)
    vad.feed(pcm(tone(100)))
    assert vad.silence_ms == 0.0  # speech again: the pause is over
    vad.feed(pcm(noise(DEFAULT_SILENCE_DURATION_MS + 40)))
    assert not vad.speaking and vad.silence_ms == 0.0


def test_end_after_shortens_the_silence_that_ends_speech_until_reset() -> None:
    speech, pause = pcm(tone(300)), pcm(noise(400))
    vad = EnergyVad(VadConfig())  # 800 ms of silence ends speech
    assert kinds(vad.feed(speech + pause)) == ["speech_start"]
    vad.end_after(300)  # a run of quiet frames already counting counts on
    assert kinds(vad.feed(pcm(noise(20)))) == ["speech_end"]
    vad.end_after(None)
    assert kinds(vad.feed(speech + pause + speech)) == ["speech_start"]  # 400 ms: no end now
