"""Energy-based voice activity detection for the emulator and the client's watchdog, sans I/O.

Finds the user's turns in 16 kHz mono s16le PCM as the real server's
automatic activity detection does (``PROTOCOL.md`` §2.1.3, §8 item 11), as a
stand-in, not a model of Google's detector (the README's "The emulator" gives
its levels). :class:`VadConfig` turns the setup's
``automaticActivityDetection`` into thresholds and durations; :class:`EnergyVad`
is a state machine that takes chunks of any length and returns
``speech_start``/``speech_end`` events at their position in the stream. The
rules:

1. A frame's level is ``20 * log10(rms / 32768)`` dBFS (a full-scale square
   wave 0, a full-scale sine -3, digital silence :data:`FLOOR_DBFS`), compared
   with the sensitivity's threshold (:data:`START_THRESHOLDS_DBFS`,
   :data:`END_THRESHOLDS_DBFS`); an unspecified or unknown sensitivity is
   ``HIGH``.
2. Every end threshold is below every start threshold (level hysteresis) and
   speech ends only after ``silence_duration_ms`` (time hysteresis), so a
   quiet frame inside a word does not end it.
3. No I/O, no clock (offsets are positions in the audio), constant memory,
   O(n) work. numpy is needed; ``import rawlive`` never imports this module.
"""

from __future__ import annotations

import dataclasses
import math
from typing import TYPE_CHECKING, Literal

import numpy as np

from rawlive.errors import ConfigError
from rawlive.wire.types import EndSensitivity, StartSensitivity

if TYPE_CHECKING:
    from rawlive.wire.types import AutomaticActivityDetection

__all__ = [
    "DEFAULT_END_THRESHOLD_DBFS",
    "DEFAULT_PREFIX_PADDING_MS",
    "DEFAULT_SILENCE_DURATION_MS",
    "END_THRESHOLDS_DBFS",
    "FLOOR_DBFS",
    "START_THRESHOLDS_DBFS",
    "EnergyVad",
    "VadConfig",
    "VadEvent",
]

#: The server's documented internal default end-of-speech silence (≈ 800 ms).
DEFAULT_SILENCE_DURATION_MS = 800
#: Not documented by Google; one 20 ms frame of speech commits a start.
DEFAULT_PREFIX_PADDING_MS = 20
#: The level reported for digital silence (an all-zero frame).
FLOOR_DBFS = -120.0

#: A frame at or above this level counts towards a start of speech.
START_THRESHOLDS_DBFS: dict[str, float] = {
    StartSensitivity.START_SENSITIVITY_HIGH: -45.0,
    StartSensitivity.START_SENSITIVITY_LOW: -35.0,
}
#: The default end of speech (``END_SENSITIVITY_HIGH``): audio this loud or
#: louder is still speech. The report dates the end of the user's speech with it.
DEFAULT_END_THRESHOLD_DBFS = -50.0
#: While speaking, a frame below this level counts as silence.
END_THRESHOLDS_DBFS: dict[str, float] = {
    EndSensitivity.END_SENSITIVITY_HIGH: DEFAULT_END_THRESHOLD_DBFS,
    EndSensitivity.END_SENSITIVITY_LOW: -55.0,
}

_FULL_SCALE = 32768.0


def _start_name(value: str | None) -> str:
    if value in START_THRESHOLDS_DBFS:
        return str(value)
    return StartSensitivity.START_SENSITIVITY_HIGH.value


def _end_name(value: str | None) -> str:
    if value in END_THRESHOLDS_DBFS:
        return str(value)
    return EndSensitivity.END_SENSITIVITY_HIGH.value


@dataclasses.dataclass(frozen=True)
class VadEvent:
    """A change of speech state.

    ``offset_ms`` is the position in the audio stream (milliseconds of audio
    since the first sample fed, or since :meth:`EnergyVad.reset`): for
    ``speech_start`` the start of the first loud frame, for ``speech_end``
    the start of the silence that ended the utterance.
    """

    kind: Literal["speech_start", "speech_end"]
    offset_ms: float


@dataclasses.dataclass(frozen=True)
class VadConfig:
    """Detector settings, normally built by :meth:`from_setup`.

    Sensitivities are the wire enum strings; unspecified or unknown values
    are normalised to ``HIGH`` (the Gemini API default). ``disabled`` is
    ``automaticActivityDetection.disabled`` (manual VAD): a detector built
    with it never reports an event. Durations below one frame count as one
    frame; other durations round up to whole frames.
    """

    silence_duration_ms: int = DEFAULT_SILENCE_DURATION_MS
    prefix_padding_ms: int = DEFAULT_PREFIX_PADDING_MS
    start_sensitivity: str = StartSensitivity.START_SENSITIVITY_HIGH.value
    end_sensitivity: str = EndSensitivity.END_SENSITIVITY_HIGH.value
    disabled: bool = False
    sample_rate: int = 16000
    frame_ms: int = 20

    def __post_init__(self) -> None:
        if self.sample_rate <= 0 or self.frame_ms <= 0:
            raise ConfigError("sample_rate and frame_ms must be positive")
        if (self.sample_rate * self.frame_ms) % 1000:
            raise ConfigError(
                f"frame_ms={self.frame_ms} is not a whole number of samples "
                f"at {self.sample_rate} Hz"
            )
        object.__setattr__(self, "start_sensitivity", _start_name(self.start_sensitivity))
        object.__setattr__(self, "end_sensitivity", _end_name(self.end_sensitivity))

    @classmethod
    def from_setup(cls, detection: AutomaticActivityDetection | None) -> VadConfig:
        """The config for ``setup.realtimeInputConfig.automaticActivityDetection``.

        ``None`` (or any field left out) takes the server's default.
        """
        if detection is None:
            return cls()
        return cls(
            silence_duration_ms=(
                DEFAULT_SILENCE_DURATION_MS
                if detection.silence_duration_ms is None
                else detection.silence_duration_ms
            ),
            prefix_padding_ms=(
                DEFAULT_PREFIX_PADDING_MS
                if detection.prefix_padding_ms is None
                else detection.prefix_padding_ms
            ),
            start_sensitivity=_start_name(detection.start_of_speech_sensitivity),
            end_sensitivity=_end_name(detection.end_of_speech_sensitivity),
            disabled=bool(detection.disabled),
        )

    @property
    def frame_samples(self) -> int:
        return self.sample_rate * self.frame_ms // 1000

    @property
    def start_threshold_dbfs(self) -> float:
        return START_THRESHOLDS_DBFS[self.start_sensitivity]

    @property
    def end_threshold_dbfs(self) -> float:
        return END_THRESHOLDS_DBFS[self.end_sensitivity]

    @property
    def prefix_frames(self) -> int:
        """Consecutive loud frames that commit a start (at least one)."""
        return max(1, math.ceil(self.prefix_padding_ms / self.frame_ms))

    @property
    def silence_frames(self) -> int:
        """Consecutive quiet frames that end speech (at least one)."""
        return max(1, math.ceil(self.silence_duration_ms / self.frame_ms))


class EnergyVad:
    """Frame-level RMS detector; feed it PCM, get :class:`VadEvent` lists.

    States: idle (possibly counting a run of loud frames towards
    ``prefix_padding_ms``) and speaking (possibly counting a run of quiet
    frames towards ``silence_duration_ms``). Chunk boundaries never change
    the result: bytes short of a whole frame (even half a sample) wait for
    the next :meth:`feed`.
    """

    def __init__(self, config: VadConfig) -> None:
        self.config = config
        self._frame_bytes = config.frame_samples * 2
        self._start_db = config.start_threshold_dbfs
        self._end_db = config.end_threshold_dbfs
        self._prefix_frames = config.prefix_frames
        self._silence_frames = config.silence_frames
        self._buf = bytearray()
        self.reset()

    def reset(self) -> None:
        """Forget everything, including the stream position (back to 0 ms)."""
        self._buf.clear()
        self._pos = 0  # samples in completed frames (plus flushed partial frames)
        self._speaking = False
        self._run = 0  # loud frames (idle) or quiet frames (speaking) in a row
        self._run_start = 0  # sample position where that run began

    @property
    def speaking(self) -> bool:
        """True between a ``speech_start`` and its ``speech_end``."""
        return self._speaking

    @property
    def silence_ms(self) -> float:
        """While speaking, the milliseconds of quiet frames in a row so far (0: the
        latest frame was speech, or no speech is going on). Speech ends when
        this reaches ``silence_duration_ms``."""
        return self._ms(self._run * self.config.frame_samples) if self._speaking else 0.0

    @property
    def position_ms(self) -> float:
        """Milliseconds of audio consumed so far, partial frame included."""
        return self._ms(self._pos + len(self._buf) // 2)

    def _ms(self, samples: int) -> float:
        return samples * 1000.0 / self.config.sample_rate

    def feed(self, pcm: bytes) -> list[VadEvent]:
        """Take s16le mono PCM of any length; return the events it completes."""
        self._buf += pcm
        n_frames = len(self._buf) // self._frame_bytes
        if n_frames == 0:
            return []
        used = n_frames * self._frame_bytes
        samples = np.frombuffer(self._buf, dtype="<i2", count=used // 2)
        frames = samples.reshape(n_frames, -1).astype(np.float64)
        rms = np.sqrt(np.mean(frames * frames, axis=1)) / _FULL_SCALE
        with np.errstate(divide="ignore"):
            levels = np.maximum(20.0 * np.log10(rms), FLOOR_DBFS)
        del samples, frames  # release the buffer export before resizing it
        del self._buf[:used]
        if self.config.disabled:
            self._pos += n_frames * self.config.frame_samples
            return []
        return self._step(levels.tolist())

    def _step(self, levels: list[float]) -> list[VadEvent]:
        events: list[VadEvent] = []
        step = self.config.frame_samples
        for level in levels:
            if not self._speaking:
                if level >= self._start_db:
                    if self._run == 0:
                        self._run_start = self._pos
                    self._run += 1
                    if self._run >= self._prefix_frames:
                        self._speaking = True
                        self._run = 0
                        events.append(VadEvent("speech_start", self._ms(self._run_start)))
                else:
                    self._run = 0
            elif level < self._end_db:
                if self._run == 0:
                    self._run_start = self._pos
                self._run += 1
                if self._run >= self._silence_frames:
                    self._speaking = False
                    self._run = 0
                    events.append(VadEvent("speech_end", self._ms(self._run_start)))
            else:
                self._run = 0
            self._pos += step
        return events

    def end_after(self, silence_ms: int | None) -> None:
        """From now on, speech ends after ``silence_ms`` of silence (``None``: the config's).

        The emulator's ``early_end`` fault shortens one utterance's
        ``silenceDurationMs`` with it; a run of quiet frames already counting
        counts on.
        """
        ms = self.config.silence_duration_ms if silence_ms is None else silence_ms
        self._silence_frames = max(1, math.ceil(ms / self.config.frame_ms))

    def flush(self) -> list[VadEvent]:
        """End of stream (``audioStreamEnd``): end an active utterance now.

        ``speech_end`` is placed where the current silence began, or at the
        end of the audio fed if there is none. A start still short of
        ``prefix_padding_ms`` is dropped, and so is a partial frame; the
        stream position carries on (including the partial frame's whole
        samples) so later offsets stay on the same clock.
        """
        events: list[VadEvent] = []
        end = self._pos + len(self._buf) // 2
        if self._speaking:
            at = self._run_start if self._run else end
            events.append(VadEvent("speech_end", self._ms(at)))
        self._speaking = False
        self._run = 0
        self._buf.clear()
        self._pos = end
        return events
