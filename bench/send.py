"""``rawlive send`` benchmarks: the whole command's memory, and its CPU at real time.

Cases (``python -m bench send`` runs both):

* ``send.memory`` - peak RSS of ``rawlive send long.wav --endpoint
  ws://127.0.0.1:PORT --fast --out OUT.wav --json`` (the console script, a
  child process measured by :func:`bench.audio.peak_rss`, the kernel's
  ``ru_maxrss``) streaming a 60-minute 16 kHz mono WAV, minus the same
  command streaming a 1-minute WAV. Target: at most 5 MiB more. The server
  is the real :class:`rawlive.servers.emulator.Emulator` (``capture_frames=False``,
  replies unpaced) in a process of its own (``python -m
  bench._emulator_server --speed 0``), so its memory is not counted. The
  WAVs are speech-like (1 s tone bursts, 2 s silences), generated a block at
  a time in a temporary folder: the emulator's VAD ends every burst and
  echoes it, so the command takes a turn's reply every 3 s of audio (some
  are interrupted by the next burst, as a fast upload outruns the replies)
  and writes it to the reply WAV as it arrives.
* ``send.cpu`` - CPU time per second of audio streamed at real time (40 ms
  chunks, ``--speed 1``) over TLS to a local server that answers nothing but
  ``setupComplete`` and, after ``audioStreamEnd``, one ``turnComplete``
  (:mod:`bench._server` ``--mode sink``, its own process, a trustme
  certificate): rawlive's streaming loop (``rawlive.connect`` +
  :func:`rawlive.tools.send.stream_file`), the transport floor (a bare
  ``websockets`` loop sending pre-encoded frames) and google-genai
  (``send_realtime_input(audio=types.Blob(...))``), each in a fresh process
  (:mod:`bench._sendworker`, which describes the three), all paced on the
  same drift-free schedule by the same algorithm (:class:`rawlive.media.audio.Pacer`'s).
  Targets: rawlive ≤ 1.25× the floor and below google-genai. Also shown: the
  whole ``rawlive send FILE --endpoint wss://... --ca-file CA`` command
  (``os.wait4`` user + system time) against the floor's whole process, and
  each side's CPU outside the pacer's waits.

* ``send.video-memory`` (issue 17) - as ``send.memory``, for an MP4 of 64x48
  MPEG-4 video at 1 fps with the same speech-like audio (AAC), written with
  PyAV by :func:`write_video`: 60 minutes against 1 (``--quick``: 3 against
  1); every frame is decoded, picked, scaled and JPEG-encoded. Target: at most
  5 MiB more. Two rows: as a user runs it, and with ``--no-resume``, without
  the session's replay buffer (what a resumption handle may lack), which an
  unpaced upload fills whatever the file, a WAV's too.
* ``send.video-cpu`` (issue 17) - CPU per second of a real-time
  ``rawlive send clip.mp4`` (1280x720 at 25 fps, so every second decodes 25
  frames and encodes one) against the same audio as a WAV, same run
  (``--no-video`` of the clip shown in the details). Reported, no target.

In each round the three sides stream at the same moment, in fresh processes
released together once all are connected, so that the machine's noise hits
them alike; the command runs alone, before or after them (``--quick``: one
round of 5 s of audio; otherwise three rounds of 20 s). The figure of a side
is its median over the rounds.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from bench._core import Context, Row, Target, register
from bench.audio import MIB, RATE, peak_rss

ROOT = Path(__file__).resolve().parent.parent

BURST_S = 1.0
PERIOD_S = 3.0
CHUNK_MS = 40


def write_speech(path: str | os.PathLike[str], seconds: float, *, rate: int = RATE) -> int:
    """Write ``seconds`` of speech-like 16-bit mono WAV: 1 s 220 Hz bursts, 2 s silences.

    Built from one minute-long block written again and again (never more in
    memory); a burst is a -20 dBFS tone with 5 ms fades
    (:func:`rawlive.media.audio.tone`), loud enough for the emulator's VAD. Returns
    the file's size in bytes.
    """
    import numpy as np
    import soundfile as sf

    from rawlive.media.audio import tone

    burst = np.frombuffer(tone(BURST_S * 1000, rate=rate, frequency=220.0), dtype=np.int16)
    period = np.zeros(round(PERIOD_S * rate), dtype=np.int16)
    period[: len(burst)] = burst
    block = np.tile(period, round(60 / PERIOD_S))
    total = round(seconds * rate)
    with sf.SoundFile(path, "w", samplerate=rate, channels=1, subtype="PCM_16", format="WAV") as f:
        for done in range(0, total, len(block)):
            f.write(block[: min(len(block), total - done)])
    return os.path.getsize(path)


def _rawlive_command() -> list[str]:
    """The ``rawlive`` console script next to this interpreter (``python -m rawlive`` if none)."""
    script = Path(sys.executable).with_name("rawlive")
    return [str(script)] if script.exists() else [sys.executable, "-m", "rawlive"]


def _tail(path: str, chars: int = 2000) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-chars:]


# ---------------------------------------------------------------------------
# send.memory
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _emulator(tmp: str, speed: float = 0.0) -> Iterator[tuple[int, dict[str, Any]]]:
    """Run the real emulator (replies paced at ``speed``, 0: unpaced) in its own
    process; yield its port and a dict that receives its final JSON report when
    the block ends."""
    log_path = os.path.join(tmp, "emulator.log")
    argv = [sys.executable, "-m", "bench._emulator_server", "--speed", f"{speed:g}"]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
        )
    report: dict[str, Any] = {}
    try:
        assert proc.stdin is not None and proc.stdout is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.wait(timeout=10)
            raise RuntimeError(f"bench._emulator_server did not start: {_tail(log_path)}")
        yield int(line), report
        proc.stdin.close()  # it stops, and prints what it measured
        lines = proc.stdout.read().decode().strip().splitlines()
        proc.wait(timeout=30)
        if proc.returncode != 0 or not lines:
            raise RuntimeError(f"bench._emulator_server failed: {_tail(log_path)}")
        report.update(json.loads(lines[-1]))
    finally:
        if proc.poll() is None:
            proc.terminate()
            proc.wait(timeout=10)


def _summary(stdout: str) -> dict[str, Any]:
    """The ``summary`` event of ``rawlive send --json``'s output."""
    for line in reversed(stdout.strip().splitlines()):
        event: dict[str, Any] = json.loads(line)
        if event.get("event") == "summary":
            return event
    raise AssertionError(f"rawlive send printed no summary: {stdout[-500:]}")


@register("send.memory", "peak RSS of `rawlive send --fast` of a 60-min WAV minus a 1-min WAV")
def memory(ctx: Context) -> Iterator[Row]:
    long_min, short_min = (10 if ctx.quick else 60), 1
    pairs = 1 if ctx.quick else 5
    rss: dict[int, list[int]] = {short_min: [], long_min: []}
    runs: dict[int, list[dict[str, Any]]] = {short_min: [], long_min: []}
    with tempfile.TemporaryDirectory(prefix="rawlive-bench-send-") as tmp:
        files = {m: os.path.join(tmp, f"speech-{m}min.wav") for m in (short_min, long_min)}
        sizes = {m: write_speech(path, m * 60) for m, path in files.items()}
        with _emulator(tmp) as (port, emulator):
            for i in range(pairs):
                order = (short_min, long_min) if i % 2 == 0 else (long_min, short_min)
                for minutes in order:
                    out = os.path.join(tmp, f"reply-{minutes}min.wav")
                    argv = [*_rawlive_command(), "send", files[minutes]]
                    argv += ["--endpoint", f"ws://127.0.0.1:{port}", "--fast", "--out", out]
                    argv += ["--json"]
                    peak, stdout = peak_rss(argv)  # raises unless it exits 0
                    summary = _summary(stdout)
                    summary["reply_wav_bytes"] = os.path.getsize(out)
                    rss[minutes].append(peak)
                    runs[minutes].append(summary)
    for minutes, summaries in runs.items():
        for summary in summaries:
            if round(summary["audio_sent_seconds"]) != minutes * 60 or summary["turns"] < 1:
                raise AssertionError(f"rawlive send of {minutes} min went wrong: {summary}")
    long_rss, short_rss = statistics.median(rss[long_min]), statistics.median(rss[short_min])
    yield Row(
        "send.memory",
        f"peak RSS added by `rawlive send --fast` of a {long_min}-min 16 kHz mono WAV "
        f"({sizes[long_min] / MIB:.0f} MiB; speech-like, a turn every 3 s) instead of a "
        f"{short_min}-min one, against the emulator in another process, reply WAV written "
        f"as it arrives · baseline: peak RSS of the command for the {short_min}-min WAV",
        (long_rss - short_rss) / MIB,
        short_rss / MIB,
        unit="MiB",
        target=Target.rawlive_at_most(5.0, "rawlive ≤ 5 MiB"),
        details={
            "statistic": "median peak RSS (bench.audio.peak_rss) of each side's processes",
            "method": f"{pairs} alternating pair(s) of `rawlive send FILE --endpoint "
            "ws://127.0.0.1:PORT --fast --out OUT --json` (the console script), each "
            "exiting 0; one `python -m bench._emulator_server --speed 0` for all",
            "long_rss_bytes": rss[long_min],
            "short_rss_bytes": rss[short_min],
            "file_bytes": {f"{m}min": sizes[m] for m in sizes},
            "turns": {f"{m}min": [s["turns"] for s in runs[m]] for m in runs},
            "reply_seconds": {f"{m}min": [s["reply_seconds"] for s in runs[m]] for m in runs},
            "reply_wav_bytes": {f"{m}min": [s["reply_wav_bytes"] for s in runs[m]] for m in runs},
            "emulator": {
                k: emulator.get(k)
                for k in ("connections", "chunks", "end", "cpu_s")
                if k in emulator
            },
            # The command stops at the first turnComplete after its audio is sent,
            # while the emulator may still be echoing a later burst: that session
            # coroutine then ends with ConnectionClosedOK (1000), counted here.
            "emulator_sessions_closed_mid_reply": emulator.get("failures"),
        },
    )


# ---------------------------------------------------------------------------
# send.cpu
# ---------------------------------------------------------------------------

#: The sides of bench._sendworker, run at the same moment in each round.
WORKERS = ("rawlive", "floor", "sdk")
FLOOR = "a bare websockets loop sending the same frames pre-encoded"
SDK = "google-genai send_realtime_input(audio=types.Blob(...))"


def _wait(proc: subprocess.Popen[bytes]) -> tuple[float, str]:
    """Read ``proc``'s stdout to the end and reap it: user+system CPU seconds
    (``os.wait4``) and stdout; raises unless it exits 0."""
    assert proc.stdout is not None
    stdout = proc.stdout.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, proc.args))} exited with {proc.returncode}")  # type: ignore[arg-type]
    return usage.ru_utime + usage.ru_stime, stdout


def _workers(
    path: str,
    port: int,
    ca: str,
    env: dict[str, str],
    log: IO[bytes],
    sides: Sequence[str] = WORKERS,
) -> dict[str, tuple[float, dict[str, Any]]]:
    """Run the sides at once, released together once all are connected:
    each one's whole-process CPU seconds and JSON result."""
    procs: dict[str, subprocess.Popen[bytes]] = {}
    try:
        for side in sides:
            argv = [sys.executable, "-m", "bench._sendworker", side, path]
            argv += ["--port", str(port), "--ca", ca, "--wait"]
            procs[side] = subprocess.Popen(
                argv, cwd=ROOT, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log
            )
        for side, proc in procs.items():
            assert proc.stdout is not None
            if proc.stdout.readline().strip() != b"ready":
                raise RuntimeError(f"the {side} worker did not connect")
        for proc in procs.values():
            assert proc.stdin is not None
            proc.stdin.write(b"go\n")
            proc.stdin.flush()
        results = {}
        for side, proc in procs.items():
            used, stdout = _wait(proc)
            results[side] = (used, json.loads(stdout.strip().splitlines()[-1]))
        return results
    finally:
        for proc in procs.values():
            if proc.returncode is None and proc.poll() is None:
                proc.kill()
                proc.wait()


def _command(argv: Sequence[str], env: dict[str, str], log: IO[bytes]) -> float:
    """Run the ``rawlive send`` command alone: its user+system CPU seconds."""
    proc = subprocess.Popen(
        list(argv), cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
    )
    used, stdout = _wait(proc)
    if "turns                    1" not in stdout:
        raise AssertionError(f"rawlive send did not end its turn: {stdout[-500:]}")
    return used


@register("send.cpu", "CPU per second of audio at real time vs a bare websockets loop and the SDK")
def cpu(ctx: Context) -> Iterator[Row]:
    from bench.client import _server, _tls_files

    seconds, rounds = (2, 1) if ctx.quick else (20, 3)
    whole: dict[str, list[float]] = {side: [] for side in ("command", *WORKERS)}
    window: dict[str, list[dict[str, Any]]] = {side: [] for side in WORKERS}
    with (
        _tls_files() as tls,
        _server(tls, "sink", "--opcode", "text") as port,
        open(os.path.join(tls["dir"], "clients.log"), "wb") as log,
    ):
        path = os.path.join(tls["dir"], "speech.wav")
        write_speech(path, seconds)
        env = os.environ.copy()
        env["SSL_CERT_FILE"] = tls["ca"]  # for google-genai; the others are given the CA
        command = [*_rawlive_command(), "send", path, "--ca-file", tls["ca"]]
        command += ["--endpoint", f"wss://127.0.0.1:{port}"]
        command += ["--out", os.path.join(tls["dir"], "reply.wav")]
        try:
            for i in range(rounds):
                if i % 2:
                    whole["command"].append(_command(command, env, log) / seconds)
                for side, (used, result) in _workers(path, port, tls["ca"], env, log).items():
                    if result["turns"] != 1 or round(result["audio_s"], 3) != seconds:
                        raise AssertionError(f"{side} streamed the wrong audio: {result}")
                    whole[side].append(used / seconds)
                    window[side].append(result)
                if not i % 2:
                    whole["command"].append(_command(command, env, log) / seconds)
        except (RuntimeError, AssertionError) as exc:
            log.flush()
            raise RuntimeError(f"{exc}: {_tail(os.path.join(tls['dir'], 'clients.log'))}") from None

    def median(side: str, key: str = "cpu_per_audio_s") -> float:
        return statistics.median(r[key] for r in window[side])

    ours, floor, sdk = median("rawlive"), median("floor"), median("sdk")
    command_cpu = statistics.median(whole["command"])
    setup = (
        f"{seconds} s of 16 kHz audio in {CHUNK_MS} ms chunks paced in real time over TLS "
        "to a local server that answers nothing until audioStreamEnd"
    )
    why = (
        "rawlive's figure is its streaming loop measured in-process (rawlive.connect + "
        "rawlive.tools.send.stream_file, the call `rawlive send` makes, reading the file as it "
        "goes), from the open session to the turnComplete after the audio; the other "
        "sides over the same window. The whole command's CPU (next row) adds Python's "
        "start-up and rawlive's imports, a fixed cost a short run does not amortise, so "
        "the ratio is taken on the streaming loop"
    )
    details: dict[str, Any] = {
        "statistic": f"median over {rounds} round(s); in each, the three sides in fresh "
        "processes streaming at the same moment (released together once all are "
        "connected), the command alone before or after them; CPU = time.process_time() "
        "across the window / audio seconds",
        "why_in_process": why,
        "pacing": "every side on the same drift-free schedule by the same algorithm "
        "(rawlive.media.audio.Pacer: sleep to 1.5 ms before each due time, then yield to the "
        "loop until it passes), whose spin is most of each side's CPU",
        "window_cpu_per_audio_s": {s: [r["cpu_per_audio_s"] for r in window[s]] for s in window},
        "outside_pacer_cpu_per_audio_s": {
            s: [r["outside_pacer_cpu_s"] / r["audio_s"] for r in window[s]] for s in window
        },
        "whole_process_cpu_per_audio_s": whole,
        "audio_s": seconds,
    }
    yield Row(
        "send.cpu",
        f"CPU time per second of audio, rawlive's streaming loop (connect + stream_file), {setup} "
        f"· baseline: {FLOOR} (the transport floor), same run",
        ours,
        floor,
        target=Target.ratio_at_most(1.25),
        details=details,
    )
    yield Row(
        "send.cpu",
        f"CPU time per second of audio, rawlive's streaming loop, same run · baseline: {SDK}",
        ours,
        sdk,
        target=Target("ratio < 1", lambda row: row.ratio is not None and row.ratio < 1.0),
        details={"why_in_process": why},
    )
    yield Row(
        "send.cpu",
        "CPU time per second of audio of the whole `rawlive send FILE --endpoint wss://... "
        "--ca-file CA` command (os.wait4 user + system: start-up, imports, TLS, streaming), "
        f"same run · baseline: the floor's whole process (Python, websockets, ssl), {seconds} s",
        command_cpu,
        statistics.median(whole["floor"]),
        details={
            "whole_process_cpu_per_audio_s": whole,
            "command_minus_streaming_loop_cpu_s": (command_cpu - ours) * seconds,
        },
    )
    yield Row(
        "send.cpu",
        "CPU time per second of audio outside the pacer's waits (sending, encoding, reading "
        f"the file, events), rawlive's streaming loop, same run · baseline: {FLOOR}",
        statistics.median(r["outside_pacer_cpu_s"] / r["audio_s"] for r in window["rawlive"]),
        statistics.median(r["outside_pacer_cpu_s"] / r["audio_s"] for r in window["floor"]),
        details={
            "sdk_outside_pacer_cpu_per_audio_s": statistics.median(
                r["outside_pacer_cpu_s"] / r["audio_s"] for r in window["sdk"]
            ),
            "method": "time.process_time() around every pacing wait (Pacer.wait "
            "wrapped in the worker; the floor's and the SDK's wait_until), subtracted from "
            "the window's CPU",
        },
    )


# ---------------------------------------------------------------------------
# send.watchdog
# ---------------------------------------------------------------------------


@register("send.watchdog", "CPU of a healthy real-time session with the stall watchdog vs without")
def watchdog(ctx: Context) -> Iterator[Row]:
    """Issue 16: the watchdog adds no measurable CPU to a healthy session.

    Two ``bench._sendworker`` processes stream the same speech-like WAV (1 s
    bursts, 2 s silences) in real time to one emulator process answering
    each burst (replies paced in real time): ``rawlive.connect`` +
    ``stream_file``, one with ``watchdog=StallPolicy()`` (its timer, and the
    voice detector on the audio sent), one without; released together, in
    fresh processes, alternating in three rounds (one in ``--quick``). A
    healthy session: neither may stall.
    """
    seconds, rounds = (5, 1) if ctx.quick else (20, 3)
    sides = ("rawlive-emulator", "rawlive-emulator-watchdog")
    window: dict[str, list[dict[str, Any]]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="rawlive-bench-watchdog-") as tmp:
        path = os.path.join(tmp, "speech.wav")
        write_speech(path, seconds)
        with (
            _emulator(tmp, speed=1.0) as (port, emulator),
            open(os.path.join(tmp, "clients.log"), "wb") as log,
        ):
            try:
                for i in range(rounds):
                    order = sides if i % 2 == 0 else sides[::-1]
                    for side, (_, result) in _workers(
                        path, port, "", os.environ.copy(), log, order
                    ).items():
                        if result["turns"] < 1 or result["stalls"]:
                            raise AssertionError(f"{side}: not a healthy session: {result}")
                        window[side].append(result)
            except (RuntimeError, AssertionError) as exc:
                log.flush()
                raise RuntimeError(f"{exc}: {_tail(os.path.join(tmp, 'clients.log'))}") from None

    def median(side: str, key: str = "cpu_per_audio_s") -> float:
        return statistics.median(r[key] for r in window[side])

    yield Row(
        "send.watchdog",
        f"CPU time per second of audio of a healthy session with the stall watchdog "
        f"(rawlive.connect(watchdog=StallPolicy()) + stream_file, {seconds} s of speech-like "
        "audio in real time to the emulator answering each burst) · baseline: the same "
        "without the watchdog, same run",
        median("rawlive-emulator-watchdog"),
        median("rawlive-emulator"),
        target=Target.ratio_at_most(1.05),
        details={
            "statistic": f"median over {rounds} round(s); in each, both sides in fresh "
            "processes streaming at the same moment to one emulator process; CPU = "
            "time.process_time() across the window / audio seconds",
            "window_cpu_per_audio_s": {s: [r["cpu_per_audio_s"] for r in window[s]] for s in sides},
            "outside_pacer_cpu_per_audio_s": {
                s: [r["outside_pacer_cpu_s"] / r["audio_s"] for r in window[s]] for s in sides
            },
            "turns": {s: [r["turns"] for r in window[s]] for s in sides},
            "emulator": {k: emulator.get(k) for k in ("connections", "chunks") if k in emulator},
        },
    )


# ---------------------------------------------------------------------------
# send.video-memory and send.video-cpu (issue 17)
# ---------------------------------------------------------------------------


def write_video(
    path: str | os.PathLike[str],
    seconds: int,
    *,
    size: tuple[int, int] = (64, 48),
    fps: int = 1,
    rate: int = RATE,
) -> int:
    """Write ``seconds`` of MP4 (MPEG-4 Part 2 video, AAC audio) with PyAV, a second at a time.

    The video is ``size`` at ``fps``, a picture whose shade changes every
    frame; the audio is :func:`write_speech`'s (1 s bursts, 2 s silences), so
    the emulator answers every burst. FFmpeg's own encoders only (in every
    PyAV wheel). Returns the file's size in bytes.
    """
    import fractions

    import av
    import numpy as np

    from rawlive.media.audio import tone

    burst = np.frombuffer(tone(BURST_S * 1000, rate=rate, frequency=220.0), dtype=np.int16)
    period = np.zeros(round(PERIOD_S * rate), dtype=np.float32)
    period[: len(burst)] = burst.astype(np.float32) / 32768.0
    width, height = size
    picture = np.zeros((height, width, 3), dtype=np.uint8)
    with av.open(os.fspath(path), "w") as out:  # the container from the suffix
        video = out.add_stream("mpeg4", rate=fps)
        video.width, video.height, video.pix_fmt = width, height, "yuv420p"
        sound = out.add_stream("aac", rate=rate)
        sound.layout = "mono"
        sample = 0
        for second in range(seconds):
            for index in range(fps):
                picture[:] = (second * fps + index) * 7 % 256
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts, frame.time_base = second * fps + index, fractions.Fraction(1, fps)
                for packet in video.encode(frame):
                    out.mux(packet)
            start = (second * rate) % len(period)
            block = np.roll(period, -start)[:rate]
            chunk = av.AudioFrame.from_ndarray(block.reshape(1, -1), format="flt", layout="mono")
            chunk.sample_rate, chunk.pts = rate, sample
            sample += rate
            for packet in sound.encode(chunk):
                out.mux(packet)
        for stream in (video, sound):
            for packet in stream.encode(None):
                out.mux(packet)
    return os.path.getsize(path)


@register(
    "send.video-memory",
    "peak RSS of `rawlive send --fast` of a 60-min video minus a 1-min video",
)
def video_memory(ctx: Context) -> Iterator[Row]:
    long_min, short_min = (3 if ctx.quick else 60), 1
    pairs = 1 if ctx.quick else 2
    # As a user runs it, and with --no-resume: without the session's replay
    # buffer (the messages a resumption handle may lack, kept until the
    # server's next handle), which an unpaced upload fills whatever the file.
    modes = {"default": [], "no-resume": ["--no-resume"]}
    rss = {mode: {short_min: [], long_min: []} for mode in modes}
    frames: dict[int, list[int]] = {short_min: [], long_min: []}
    with tempfile.TemporaryDirectory(prefix="rawlive-bench-video-") as tmp:
        files = {m: os.path.join(tmp, f"clip-{m}min.mp4") for m in (short_min, long_min)}
        sizes = {m: write_video(path, m * 60) for m, path in files.items()}
        # The library alone: rawlive.media.container.timeline over the file, every
        # frame JPEG-encoded, nothing sent (a fresh process per file).
        reading = {m: [] for m in files}
        for i in range(pairs):
            for minutes in (short_min, long_min) if i % 2 == 0 else (long_min, short_min):
                code = "from rawlive.media.container import timeline as t\n"
                code += "print(sum(1 for _ in t(__import__('sys').argv[1])))"
                peak, _ = peak_rss([sys.executable, "-c", code, files[minutes]])
                reading[minutes].append(peak)
        with _emulator(tmp) as (port, _):
            for i in range(pairs):
                order = (short_min, long_min) if i % 2 == 0 else (long_min, short_min)
                for mode, extra in modes.items():
                    for minutes in order:
                        out = os.path.join(tmp, f"reply-{minutes}min.wav")
                        argv = [*_rawlive_command(), "send", files[minutes]]
                        argv += ["--endpoint", f"ws://127.0.0.1:{port}", "--fast", "--out", out]
                        argv += ["--json", *extra]
                        peak, stdout = peak_rss(argv)  # raises unless it exits 0
                        summary = _summary(stdout)
                        if summary["frames"]["count"] != minutes * 60 or summary["turns"] < 1:
                            raise AssertionError(f"send of {minutes} min went wrong: {summary}")
                        rss[mode][minutes].append(peak)
                        frames[minutes].append(summary["frames"]["count"])
    setup = (
        f"a {long_min}-min MP4 (64x48 MPEG-4 video at 1 fps, speech-like AAC audio; "
        f"{sizes[long_min] / MIB:.1f} MiB) instead of a {short_min}-min one: every frame "
        "decoded, scaled and JPEG-encoded, against the emulator in another process"
    )
    yield Row(
        "send.video-memory",
        f"peak RSS added by reading {setup.split(': every')[0]} with "
        "rawlive.media.container.timeline (audio chunks and JPEG frames, nothing sent) "
        f"· baseline: peak RSS of the same for the {short_min}-min MP4",
        (statistics.median(reading[long_min]) - statistics.median(reading[short_min])) / MIB,
        statistics.median(reading[short_min]) / MIB,
        unit="MiB",
        target=Target.rawlive_at_most(5.0, "rawlive ≤ 5 MiB"),
        details={"long_rss_bytes": reading[long_min], "short_rss_bytes": reading[short_min]},
    )
    for mode in modes:
        long_rss = statistics.median(rss[mode][long_min])
        short_rss = statistics.median(rss[mode][short_min])
        flag = "" if mode == "default" else " --no-resume"
        yield Row(
            "send.video-memory",
            f"peak RSS added by `rawlive send --fast{flag}` of {setup} · baseline: peak RSS "
            f"of the command for the {short_min}-min MP4",
            (long_rss - short_rss) / MIB,
            short_rss / MIB,
            unit="MiB",
            target=Target.rawlive_at_most(5.0, "rawlive ≤ 5 MiB"),
            details={
                "statistic": "median peak RSS (bench.audio.peak_rss) of each side's processes",
                "method": f"{pairs} alternating pair(s) of `rawlive send FILE --endpoint "
                f"ws://127.0.0.1:PORT --fast --out OUT --json{flag}`, each exiting 0 with one "
                "frame sent per second of video; the MP4s written by bench.send.write_video",
                "long_rss_bytes": rss[mode][long_min],
                "short_rss_bytes": rss[mode][short_min],
                "file_bytes": {f"{m}min": sizes[m] for m in sizes},
                "frames_sent": {f"{m}min": frames[m] for m in frames},
            },
        )


@register("send.video-cpu", "CPU per second of a real-time video send vs audio-only, same run")
def video_cpu(ctx: Context) -> Iterator[Row]:
    seconds, rounds = (2, 1) if ctx.quick else (20, 3)
    sides = ("video", "no-video", "wav")
    used: dict[str, list[float]] = {side: [] for side in sides}
    with tempfile.TemporaryDirectory(prefix="rawlive-bench-video-cpu-") as tmp:
        clip = os.path.join(tmp, "clip.mp4")
        write_video(clip, seconds, size=(1280, 720), fps=25)
        wav = os.path.join(tmp, "speech.wav")
        write_speech(wav, seconds)
        with (
            _emulator(tmp, speed=1.0) as (port, _),
            open(os.path.join(tmp, "clients.log"), "wb") as log,
        ):
            for i in range(rounds):
                order = sides if i % 2 == 0 else sides[::-1]
                for side in order:
                    argv = [*_rawlive_command(), "send", wav if side == "wav" else clip]
                    argv += ["--endpoint", f"ws://127.0.0.1:{port}"]
                    argv += ["--out", os.path.join(tmp, f"reply-{side}.wav")]
                    if side == "no-video":
                        argv.append("--no-video")
                    cpu_s = _command_cpu(argv, log, frames=seconds if side == "video" else 0)
                    used[side].append(cpu_s / seconds)
    video, audio_only = statistics.median(used["video"]), statistics.median(used["wav"])
    yield Row(
        "send.video-cpu",
        f"CPU time per second of a real-time `rawlive send clip.mp4` ({seconds} s of 1280x720 "
        "25 fps MPEG-4 + AAC: every frame decoded, one a second scaled to 768 and "
        "JPEG-encoded, the AAC decoded and resampled) · baseline: `rawlive send` of the same "
        "audio as a 16 kHz WAV, same run",
        video,
        audio_only,
        details={
            "statistic": f"median over {rounds} round(s), each side a fresh `rawlive send` "
            "process (os.wait4 user + system CPU / audio seconds), alternating order, "
            "against one emulator process answering in real time",
            "cpu_per_audio_s": used,
            "no_video_cpu_per_audio_s": statistics.median(used["no-video"]),
        },
    )


def _command_cpu(argv: Sequence[str], log: IO[bytes], *, frames: int) -> float:
    """Run one ``rawlive send``: its user+system CPU seconds; checks the frames it sent."""
    proc = subprocess.Popen(
        [*argv, "--json"], cwd=ROOT, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=log
    )
    cpu_s, stdout = _wait(proc)
    summary = _summary(stdout)
    if summary["frames"]["count"] != frames or summary["turns"] < 1:
        raise AssertionError(f"rawlive send went wrong: {summary}")
    return cpu_s
