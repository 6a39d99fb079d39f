"""Client benchmarks: a whole Live session over TLS, rawlive against google-genai.

Cases (``python -m bench client`` runs both):

* ``client.e2e-cpu`` - the client process's CPU time for one session of 60 s
  of audio each way: 600 unpaced ``send_realtime_input(audio=Blob(...))``
  calls of 100 ms of 16 kHz s16le audio and ``audioStreamEnd``, while a
  receiver task reads ``.data`` of 300 replies of 200 ms of 24 kHz audio and
  stops at ``turnComplete``. Target: rawlive uses at least 4× less CPU than
  google-genai's ``client.aio.live.connect`` (ratio ≤ 0.25).
* ``client.loop-stall`` - the worst event-loop stall while replies arrive
  during real-time 20 ms streaming, the first reply included, in a fresh
  process each time: rawlive's must stay ≤ 5 ms; google-genai's is shown for
  comparison (its first reply pays for lazy imports and model building).

Both talk to :mod:`bench._server`, a local TLS server (a trustme certificate
made at run time in a temporary directory) running in its own process, so its
CPU never counts as the client's. The clients run from :mod:`bench._liveclient`
as fresh subprocesses, rawlive and google-genai alternating (``r s s r ...``)
so that drift on this small, noisy machine hits both alike; only the side's
own library is imported in each. google-genai dials ``wss://`` only and reads
its CA from ``SSL_CERT_FILE``; rawlive gets ``ca_file=``.
"""

from __future__ import annotations

import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from bench._core import Context, Row, Target, register

ROOT = Path(__file__).resolve().parent.parent

SIDES = ("rawlive", "sdk")
BASELINE = "google-genai client.aio.live.connect"


# ---------------------------------------------------------------------------
# The TLS server process and the client processes
# ---------------------------------------------------------------------------


@contextlib.contextmanager
def _tls_files() -> Iterator[dict[str, str]]:
    """A throwaway CA and a certificate for 127.0.0.1: paths ``ca``, ``cert``, ``key``."""
    import trustme

    with tempfile.TemporaryDirectory(prefix="rawlive-bench-") as tmp:
        ca = trustme.CA()
        cert = ca.issue_cert("127.0.0.1", "localhost")
        paths = {name: os.path.join(tmp, f"{name}.pem") for name in ("ca", "cert", "key")}
        ca.cert_pem.write_to_path(paths["ca"])
        cert.private_key_pem.write_to_path(paths["key"])
        for i, pem in enumerate(cert.cert_chain_pems):
            pem.write_to_path(paths["cert"], append=i > 0)
        paths["dir"] = tmp
        yield paths


@contextlib.contextmanager
def _server(tls: dict[str, str], mode: str, *extra: str) -> Iterator[int]:
    """Run ``python -m bench._server`` in its own process; yield its port."""
    log_path = os.path.join(tls["dir"], f"server-{mode}.log")
    argv = [sys.executable, "-m", "bench._server", "--mode", mode, *extra]
    argv += ["--cert", tls["cert"], "--key", tls["key"]]
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        assert proc.stdout is not None and proc.stdin is not None
        line = proc.stdout.readline()
        if not line.strip().isdigit():
            proc.wait(timeout=10)
            raise RuntimeError(f"bench._server did not start: {_tail(log_path)}")
        yield int(line)
    finally:
        if proc.stdin is not None:
            proc.stdin.close()  # the server exits when its stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.terminate()
            proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()


def _tail(path: str, chars: int = 2000) -> str:
    with open(path, encoding="utf-8", errors="replace") as f:
        return f.read()[-chars:]


def _run_client(
    scenario: str, side: str, port: int, tls: dict[str, str], *extra: str
) -> dict[str, Any]:
    """One fresh ``python -m bench._liveclient`` process; its JSON result."""
    env = os.environ.copy()
    env["SSL_CERT_FILE"] = tls["ca"]  # for google-genai; rawlive is given ca_file
    argv = [sys.executable, "-m", "bench._liveclient", scenario, "--side", side]
    argv += ["--port", str(port), "--ca", tls["ca"], *extra]
    proc = subprocess.run(
        argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{side} {scenario} client failed: {proc.stderr[-2000:]}")
    result: dict[str, Any] = json.loads(proc.stdout.strip().splitlines()[-1])
    return result


def _alternating(count: int) -> Iterator[tuple[str, str]]:
    """``(rawlive, sdk), (sdk, rawlive), ...``: the order of each pair, ``count`` pairs."""
    for i in range(count):
        yield SIDES if i % 2 == 0 else SIDES[::-1]


# ---------------------------------------------------------------------------
# client.e2e-cpu
# ---------------------------------------------------------------------------

#: 60 s of 16 kHz audio in 100 ms chunks up; 300 replies of 200 ms of 24 kHz down.
E2E_CHUNKS = 600
E2E_WARMUP_CHUNKS = 20


@register("client.e2e-cpu", "client CPU for 60 s of audio each way over TLS vs google-genai")
def e2e_cpu(ctx: Context) -> Iterator[Row]:
    pairs, sessions = (2, 1) if ctx.quick else (8, 3)
    cpu: dict[str, list[float]] = {side: [] for side in SIDES}
    wall: dict[str, list[float]] = {side: [] for side in SIDES}
    per_process: dict[str, list[float]] = {side: [] for side in SIDES}
    with _tls_files() as tls, _server(tls, "e2e", "--per-reply", "2") as port:
        for order in _alternating(pairs):
            for side in order:
                result = _run_client(
                    "e2e",
                    side,
                    port,
                    tls,
                    "--chunks",
                    str(E2E_CHUNKS),
                    "--warmup",
                    str(E2E_WARMUP_CHUNKS),
                    "--sessions",
                    str(sessions),
                )
                for run in result["runs"]:
                    if run["messages"] != E2E_CHUNKS // 2 + 1 or run["audio_bytes"] != (
                        E2E_CHUNKS // 2 * 9600
                    ):
                        raise AssertionError(f"{side} received the wrong replies: {run}")
                    cpu[side].append(run["cpu_s"])
                    wall[side].append(run["wall_s"])
                per_process[side].append(min(run["cpu_s"] for run in result["runs"]))
    rawlive, sdk = min(cpu["rawlive"]), min(cpu["sdk"])
    yield Row(
        "client.e2e-cpu",
        "client CPU (process_time) for a session over TLS: 600 × 100 ms 16 kHz chunks sent "
        "unpaced while 300 × 200 ms 24 kHz replies are read, .data of each "
        f"· baseline: {BASELINE}",
        rawlive,
        sdk,
        target=Target.faster_by(4),
        details={
            "statistic": "min over all measured sessions of each side",
            "cpu_clock": "time.process_time() (user+sys, all threads) inside the client "
            "process, from before connect to after the session is closed; the server "
            "runs in a separate process",
            "method": f"{pairs} alternating pairs of fresh client processes, each: one warm-up "
            f"session of {E2E_WARMUP_CHUNKS} chunks, then {sessions} measured session(s)",
            "server_frames": "binary",
            "paired_median_ratio": statistics.median(
                r / s for r, s in zip(per_process["rawlive"], per_process["sdk"], strict=True)
            ),
            "rawlive_median_cpu_s": statistics.median(cpu["rawlive"]),
            "sdk_median_cpu_s": statistics.median(cpu["sdk"]),
            "rawlive_median_wall_s": statistics.median(wall["rawlive"]),
            "sdk_median_wall_s": statistics.median(wall["sdk"]),
            "rawlive_cpu_s": cpu["rawlive"],
            "sdk_cpu_s": cpu["sdk"],
        },
    )


# ---------------------------------------------------------------------------
# client.loop-stall
# ---------------------------------------------------------------------------


@register("client.loop-stall", "worst event-loop stall while replies arrive, fresh process")
def loop_stall(ctx: Context) -> Iterator[Row]:
    repeats, seconds = (3, 1.0) if ctx.quick else (7, 3.0)
    runs: dict[str, list[dict[str, Any]]] = {side: [] for side in SIDES}
    with (
        _tls_files() as tls,
        _server(tls, "stall", "--delay", "0.2", "--interval", "0.2") as port,
    ):
        for order in _alternating(repeats):
            for side in order:
                result = _run_client("stall", side, port, tls, "--seconds", str(seconds))
                if result["replies"] < 1:
                    raise AssertionError(f"{side} received no reply: {result}")
                runs[side].append(result)

    def median(side: str, key: str) -> float:
        return float(statistics.median(run[key] for run in runs[side]))

    def first_reply(side: str) -> float | None:
        values = [run["first_reply_stall_s"] for run in runs[side]]
        return statistics.median(values) if None not in values else None

    setup = (
        f"20 ms 16 kHz chunks paced in real time for {seconds:g} s, a 200 ms 24 kHz reply "
        "every 200 ms from 200 ms in"
    )
    common = {
        "method": f"{repeats} fresh client processes per side, alternating; the monitor "
        "task sleeps 0.001 s in a loop and records how late it wakes (perf_counter), from "
        "right after connect returns to the end of streaming",
        "server_frames": "binary",
        "rawlive_first_reply_stall_median_s": first_reply("rawlive"),
        "sdk_first_reply_stall_median_s": first_reply("sdk"),
        "rawlive_max_s": [run["max_s"] for run in runs["rawlive"]],
        "sdk_max_s": [run["max_s"] for run in runs["sdk"]],
        "rawlive_p99_s": [run["p99_s"] for run in runs["rawlive"]],
        "sdk_p99_s": [run["p99_s"] for run in runs["sdk"]],
        "replies": [run["replies"] for side in SIDES for run in runs[side]],
        "samples_median": median("rawlive", "samples"),
    }
    yield Row(
        "client.loop-stall",
        f"max event-loop stall (median of {repeats} fresh processes' max) while {setup}, "
        f"first reply included · baseline: {BASELINE}",
        median("rawlive", "max_s"),
        median("sdk", "max_s"),
        target=Target.rawlive_at_most(0.005, "rawlive ≤ 5 ms"),
        details={"statistic": "median over processes of each process's max lag", **common},
    )
    yield Row(
        "client.loop-stall",
        f"p99 event-loop lag (median of {repeats} fresh processes' p99), same run "
        f"· baseline: {BASELINE}",
        median("rawlive", "p99_s"),
        median("sdk", "p99_s"),
        details={"statistic": "median over processes of each process's p99 lag", **common},
    )
