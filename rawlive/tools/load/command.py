"""``rawlive load``: Locust, headless, with the :class:`~rawlive.load.LiveUser` locustfile.

This process never imports Locust (gevent would patch it): it checks the
input, starts an emulator subprocess when asked (``rawlive serve --port 0``),
runs ``python -m locust -f LOCUSTFILE --headless ...`` as a child whose
output (the final statistics and percentile table, ``--only-summary``) goes
straight to the terminal, and returns Locust's exit code (1 when any
request failed).
"""

from __future__ import annotations

import contextlib
import dataclasses
import importlib.util
import os
import re
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from typing import IO

from rawlive.errors import ConfigError, LoadExtraMissing
from rawlive.tools.load import LOCUSTFILE

__all__ = ["LoadRun", "emulator_process", "locust_argv", "require_locust", "run"]

#: What a missing extra says (one line).
EXTRA_HINT = "rawlive load needs Locust, the load extra: pip install 'rawlive[load]'"


def require_locust() -> None:
    """Raise :class:`LoadExtraMissing` unless Locust can be imported (without importing it)."""
    try:
        found = importlib.util.find_spec("locust") is not None
    except (ImportError, ValueError):  # a blocked or broken module
        found = False
    if not found:
        raise LoadExtraMissing(EXTRA_HINT)


@dataclasses.dataclass
class LoadRun:
    """One ``rawlive load``: what Locust is told."""

    file: str
    users: int = 10
    spawn_rate: float = 10.0
    run_time: str = "30s"
    endpoint: str | None = None
    model: str | None = None
    processes: int | None = None
    csv: str | None = None
    tools: str | None = None
    speed: float | None = None
    stop_timeout: float = 30.0
    stall_timeout: float | None = None


def locust_argv(load: LoadRun, endpoint: str) -> list[str]:
    """The Locust command line for ``load`` against ``endpoint``."""
    argv = [sys.executable, "-m", "locust", "-f", LOCUSTFILE, "--headless", "--only-summary"]
    argv += ["--users", str(load.users), "--spawn-rate", f"{load.spawn_rate:g}"]
    argv += ["--run-time", load.run_time, "--stop-timeout", f"{load.stop_timeout:g}"]
    argv += ["--host", endpoint, "--live-file", os.path.abspath(load.file)]
    if load.model:
        argv += ["--live-model", load.model]
    if load.tools:
        argv += ["--live-tools", os.path.abspath(load.tools)]
    if load.speed is not None:
        argv += ["--live-speed", f"{load.speed:g}"]
    if load.stall_timeout is not None:
        argv += ["--live-stall-timeout", f"{load.stall_timeout:g}"]
    if load.csv:
        argv += ["--csv", load.csv]
    if load.processes is not None:
        argv += ["--processes", str(load.processes)]
    return argv


_LISTENING = re.compile(r"listening on (wss?://\S+)")


@contextlib.contextmanager
def emulator_process(
    script: str | None = None,
    *,
    timeout: float = 30.0,
    workers: int = 1,
    stats: str | None = None,
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``rawlive serve --port 0`` in a subprocess: yield its URL and the process; stop it after.

    ``workers`` processes on the port (``serve --workers``); ``stats`` the
    file the emulator writes what it saw to (``serve --stats``), complete
    once the block has ended.
    """
    argv = [sys.executable, "-m", "rawlive", "serve", "--port", "0"]
    if script:
        argv += ["--script", script]
    if workers != 1:
        argv += ["--workers", str(workers)]
    if stats:
        argv += ["--stats", stats]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        assert proc.stderr is not None
        deadline = time.monotonic() + timeout
        url = None
        while url is None and time.monotonic() < deadline:
            line = proc.stderr.readline().decode("utf-8", "replace")
            if not line:
                break
            match = _LISTENING.search(line)
            if match:
                url = match.group(1)
            elif line.startswith("rawlive:"):
                raise ConfigError(f"the emulator did not start: {line.strip()}")
        if url is None:
            raise ConfigError("the emulator did not start")
        # Keep reading its stderr, so that a chatty emulator never blocks on a full pipe.
        drain = threading.Thread(target=_drain, args=(proc.stderr,), daemon=True)
        drain.start()
        yield url, proc
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _drain(stream: IO[bytes]) -> None:
    while stream.read(65536):
        pass


def run(
    load: LoadRun,
    *,
    emulator: bool = False,
    emulator_script: str | None = None,
    emulator_workers: int = 1,
    emulator_stats: str | None = None,
) -> int:
    """Run Locust for ``load`` (against a new emulator with ``emulator``, of
    ``emulator_workers`` processes, writing what it saw to ``emulator_stats``);
    Locust's exit code."""
    require_locust()
    if emulator:
        with emulator_process(emulator_script, workers=emulator_workers, stats=emulator_stats) as (
            url,
            _,
        ):
            return subprocess.call(locust_argv(load, url))
    if not load.endpoint:
        raise ConfigError("give --endpoint URL (your bridge or a Live API server) or --emulator")
    return subprocess.call(locust_argv(load, load.endpoint))
