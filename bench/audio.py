"""Audio benchmarks: constant memory whatever the file's length, and pacing without drift.

Cases (``python -m bench audio`` runs both):

* ``audio.memory`` - peak RSS of a fresh process streaming a 60-minute
  16 kHz mono WAV minus that of one streaming a 1-minute WAV (both generated
  block by block in a temporary folder): ``iter_pcm`` + ``chunks`` (40 ms) +
  ``codec.encode_client_message`` of each chunk as a ``realtimeInput``
  message, unpaced (:mod:`bench._audioworker` ``stream``). Target: at most
  5 MiB more. The processes are plain command lines measured by
  :func:`peak_rss` (``ru_maxrss``), so the same figure can be taken through
  ``rawlive send --fast`` against the emulator.
* ``audio.pacing`` - 10 minutes of 40 ms chunks paced at ``--speed 1.0``
  (5 s with ``--quick``) by :class:`rawlive.media.audio.Pacer`, in an asyncio loop
  that encodes each chunk while a receiver task decodes a 200 ms reply every
  200 ms into a ``WavWriter``. Targets: p99 lateness of a chunk against its
  schedule ≤ 2 ms, lateness of the last chunk (drift at the end) ≤ 5 ms; the
  CPU it costs is shown. The baseline is the common ``await
  asyncio.sleep(chunk_seconds)`` after each chunk, run at the same time in
  its own process (so the same machine noise hits both); a third process
  paces with the same absolute schedule but ``asyncio.sleep`` only
  (``Pacer(spin=0)``), shown for comparison: what the spin buys, and costs.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from bench._core import Context, Row, Target, register

ROOT = Path(__file__).resolve().parent.parent

MIB = 1024 * 1024
RATE = 16_000


def write_wav(path: str | os.PathLike[str], seconds: float, *, rate: int = RATE) -> int:
    """Write ``seconds`` of a 220 Hz tone with noise as 16-bit mono WAV, 10 s at a time.

    Never holds more than one block; returns the file's size in bytes.
    """
    import numpy as np
    import soundfile as sf

    rng = np.random.default_rng(1)
    total, block = round(seconds * rate), 10 * rate
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16", format="WAV") as f:
        for done in range(0, total, block):
            n = min(block, total - done)
            t = np.arange(done, done + n) / rate
            x = 0.2 * np.sin(2 * np.pi * 220 * t) + 0.05 * rng.standard_normal(n)
            f.write(x.astype(np.float32))
    return os.path.getsize(path)


#: Runs the command given after it and prints its ``ru_maxrss`` (KiB) to stderr
#: last: see :func:`peak_rss`. Python with no site and no imports but these.
_RSS_WRAPPER = (
    "import os,resource,subprocess,sys\n"
    "code=subprocess.call(sys.argv[1:])\n"
    "sys.stderr.write('\\nrawlive-bench-maxrss %d\\n' % "
    "resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n"
    "sys.exit(code)"
)


def peak_rss(argv: Sequence[str], *, cwd: str | os.PathLike[str] = ROOT) -> tuple[int, str]:
    """Run ``argv`` to completion; its peak resident set size in bytes and its stdout.

    Measured by the kernel for that one process (``ru_maxrss`` of the
    children of a small wrapper), so any command line works, a Python worker
    or ``rawlive send --fast``. Not ``os.wait4`` on a child of this process:
    Linux starts a child's ``ru_maxrss`` at its parent's resident size when it
    forks and execs (the old memory map's high-water mark), so a command
    smaller than the benchmark's own process (which has written the files and
    imported PyAV) would read as the benchmark's size whatever it used. The
    wrapper, a bare interpreter (``-S``, a few MiB), sets that floor instead.
    """
    wrapper = [sys.executable, "-S", "-c", _RSS_WRAPPER, *argv]
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(wrapper, cwd=cwd, stdout=out, stderr=err)
        proc.wait()
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    stderr, _, last = stderr.rstrip().rpartition("\n")
    if proc.returncode != 0 or not last.startswith("rawlive-bench-maxrss "):
        raise RuntimeError(f"{' '.join(argv)} exited with {proc.returncode}: {stderr[-2000:]}")
    return int(last.split()[1]) * 1024, stdout  # ru_maxrss is in KiB on Linux


def _worker(*args: str) -> list[str]:
    return [sys.executable, "-m", "bench._audioworker", *args]


# ---------------------------------------------------------------------------
# audio.memory
# ---------------------------------------------------------------------------


@register("audio.memory", "peak RSS streaming a 60-min WAV minus a 1-min WAV (iter_pcm+chunks)")
def memory(ctx: Context) -> Iterator[Row]:
    long_min, short_min = (10 if ctx.quick else 60), 1
    repeats = 2 if ctx.quick else 5
    with tempfile.TemporaryDirectory(prefix="rawlive-bench-audio-") as tmp:
        files = {
            minutes: os.path.join(tmp, f"speech-{minutes}min.wav")
            for minutes in (short_min, long_min)
        }
        sizes = {minutes: write_wav(path, minutes * 60) for minutes, path in files.items()}
        rss: dict[int, list[int]] = {short_min: [], long_min: []}
        results: dict[int, dict[str, Any]] = {}
        for i in range(repeats):
            order = (short_min, long_min) if i % 2 == 0 else (long_min, short_min)
            for minutes in order:
                peak, stdout = peak_rss(_worker("stream", files[minutes]))
                rss[minutes].append(peak)
                results[minutes] = json.loads(stdout.strip().splitlines()[-1])
    for minutes, result in results.items():
        expected = minutes * 60 * RATE * 2
        if result["pcm_bytes"] != expected or result["chunks"] != minutes * 60 * 25:
            raise AssertionError(f"streaming {minutes} min gave the wrong audio: {result}")
    long_rss, short_rss = statistics.median(rss[long_min]), statistics.median(rss[short_min])
    yield Row(
        "audio.memory",
        f"peak RSS added by streaming a {long_min}-min 16 kHz mono WAV "
        f"({sizes[long_min] / MIB:.0f} MiB) instead of a {short_min}-min one: iter_pcm + "
        "40 ms chunks + encode each as realtimeInput, unpaced "
        f"· baseline: peak RSS streaming the {short_min}-min WAV",
        (long_rss - short_rss) / MIB,
        short_rss / MIB,
        unit="MiB",
        target=Target.rawlive_at_most(5.0, "rawlive ≤ 5 MiB"),
        details={
            "statistic": "median peak RSS (bench.audio.peak_rss) of each side's processes",
            "method": f"{repeats} alternating pairs of fresh `python -m bench._audioworker "
            "stream FILE` processes",
            "long_rss_bytes": rss[long_min],
            "short_rss_bytes": rss[short_min],
            "file_bytes": {f"{m}min": sizes[m] for m in sizes},
            "stream_wall_s": {f"{m}min": results[m]["wall_s"] for m in results},
        },
    )


# ---------------------------------------------------------------------------
# audio.pacing
# ---------------------------------------------------------------------------

PACE_MODES = ("rawlive", "naive", "sleep-only")


@register("audio.pacing", "p99 lateness and end drift pacing 40 ms chunks at speed 1.0")
def pacing(ctx: Context) -> Iterator[Row]:
    seconds = 5 if ctx.quick else 600
    with tempfile.TemporaryDirectory(prefix="rawlive-bench-pace-") as tmp:
        path = os.path.join(tmp, "speech.wav")
        write_wav(path, seconds)
        procs = {
            mode: subprocess.Popen(
                _worker("pace", path, "--mode", mode, "--speed", "1", "--out-dir", tmp),
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for mode in PACE_MODES
        }
        runs: dict[str, dict[str, Any]] = {}
        for mode, proc in procs.items():
            stdout, stderr = proc.communicate(timeout=seconds * 3 + 60)
            if proc.returncode != 0:
                raise RuntimeError(f"pace --mode {mode} failed: {stderr[-2000:]}")
            runs[mode] = json.loads(stdout.strip().splitlines()[-1])
    for mode, run in runs.items():
        if run["chunks"] != seconds * 25 or run["replies"] < seconds * 4:
            raise AssertionError(f"pace --mode {mode} streamed the wrong audio: {run}")
    ours, naive = runs["rawlive"], runs["naive"]
    length = f"{seconds // 60} min" if seconds >= 60 else f"{seconds} s"
    setup = (
        f"{length} of 40 ms chunks at --speed 1.0, each encoded, "
        "a 200 ms reply decoded into a WavWriter every 200 ms"
    )
    baseline = "await asyncio.sleep(0.04) after each chunk, same run"
    details = {
        "method": "three fresh processes at once (rawlive Pacer, naive sleep, Pacer(spin=0)); "
        "lateness of chunk i = time.monotonic() when it is sent - (start + i × 40 ms)",
        **{f"{mode}": run for mode, run in runs.items()},
    }
    yield Row(
        "audio.pacing",
        f"p99 lateness of a chunk against its schedule, {setup} · baseline: {baseline}",
        ours["p99_s"],
        naive["p99_s"],
        target=Target.rawlive_at_most(0.002, "rawlive ≤ 2 ms"),
        details=details,
    )
    yield Row(
        "audio.pacing",
        f"drift at the end (lateness of the last chunk), same run · baseline: {baseline}",
        ours["drift_s"],
        naive["drift_s"],
        target=Target.rawlive_at_most(0.005, "rawlive ≤ 5 ms"),
        details=details,
    )
    yield Row(
        "audio.pacing",
        "p99 lateness with Pacer(spin=0): the same absolute schedule, asyncio.sleep only, "
        f"same run · baseline: {baseline}",
        runs["sleep-only"]["p99_s"],
        naive["p99_s"],
        details=details,
    )
    yield Row(
        "audio.pacing",
        "CPU time per second of wall time of the pacing process (pacing, encoding, "
        f"replies), same run · baseline: {baseline}",
        ours["cpu_per_wall"],
        naive["cpu_per_wall"],
        unit="",
        details=details,
    )
