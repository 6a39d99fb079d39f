"""The emulator across cores: N worker processes serving one port.

``rawlive serve --workers N`` and :func:`serve_workers` run N processes, each
an :class:`~rawlive.servers.emulator.Emulator` on its own event loop,
listening on one port: each binds its own socket with ``SO_REUSEPORT`` and
the kernel spreads the connections (Linux balances them; other systems with
the option may hand most of them to one worker). Where the option does not
exist (Windows) :class:`Workers` refuses with a one-line
:class:`~rawlive.errors.ConfigError` rather than share one listening socket:
run a single process there.

Each worker is a fresh interpreter, ``python -m
rawlive.servers.emulator.workers`` (no fork of a process with threads or an
event loop, and unlike multiprocessing's ``spawn`` no re-import of the
caller's main module: a script without ``if __name__ == "__main__"`` may
start workers), in a session of its own (the terminal's Ctrl-C is the
parent's to handle). It talks to the parent over a socket pair with
:mod:`multiprocessing.connection`'s framing: its options first, then
``ready`` once listening, its counts every ``stats_interval`` seconds and
when it stops, and ``stop`` from the parent; the parent gone (the socket
closed), it stops too, and deletes the shared store.
The parent picks the port first when given 0: it binds one with
``SO_REUSEPORT`` (without listening) and keeps it until every worker listens
on it; a given port already in use is refused before any worker starts. A
handle resumes whichever worker the reconnection lands on: the resumable
sessions live in a :class:`~rawlive.servers.emulator.store.SharedStore` on
tmpfs that the parent makes and deletes (its docstring says how a resumed
session's older connection on another worker ends). Each worker names
itself in the handshake's ``Server`` header (``... rawlive-worker/<index>``).

A worker that ends while the parent did not ask it to (a crash, a signal of
its own) is reported (``on_death``, :attr:`Workers.deaths`); the others go
on serving the port. Ctrl-C is the parent's: the workers ignore SIGINT and
stop when the parent tells them. ``max_sessions`` holds for each worker.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable
from multiprocessing.connection import Connection
from typing import Any

from rawlive.errors import ConfigError, WorkerFailed
from rawlive.servers.emulator import stats
from rawlive.servers.emulator.store import SharedStore

__all__ = ["WorkerDeath", "WorkerFailed", "Workers", "serve_workers"]

log = logging.getLogger("rawlive.servers.emulator")

#: Options the parent sets for each worker itself.
_OWN_OPTIONS = ("store", "reuse_port", "server_header", "ssl", "stats_path")


@dataclasses.dataclass(frozen=True)
class WorkerDeath:
    """A worker that ended while the parent did not ask it to."""

    index: int
    pid: int
    exit_code: int | None

    def describe(self) -> str:
        code = self.exit_code
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        return f"worker {self.index} (pid {self.pid}) died ({how})"


@dataclasses.dataclass
class _Spec:
    """What a worker process is given (pickled by ``spawn``)."""

    index: int
    host: str
    port: int
    store_dir: str
    certfile: str | None
    keyfile: str | None
    stats_interval: float
    log_level: int | None
    options: dict[str, Any]


@dataclasses.dataclass
class _Worker:
    index: int
    process: subprocess.Popen[bytes]
    conn: Connection
    pid: int = 0
    counts: stats.Counts = dataclasses.field(default_factory=stats.Counts)
    ready: bool = False
    stopped: bool = False
    failure: str | None = None
    dead: bool = False


class Workers:
    """N emulator processes on one port (see the module docstring).

    ``options`` are :class:`~rawlive.servers.emulator.Emulator`'s (picklable:
    no ``ssl`` context, give ``certfile``/``keyfile``); ``stats_path`` gets
    the merged :class:`~rawlive.servers.emulator.stats.EmulatorStats` every
    ``stats_interval`` seconds and at the end. ``on_death(death)`` is called
    when a worker dies. Use it as an async context manager, or
    :meth:`start` and :meth:`stop`; ``url`` is then where they listen.
    """

    def __init__(
        self,
        count: int,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        certfile: str | None = None,
        keyfile: str | None = None,
        stats_path: str | os.PathLike[str] | None = None,
        stats_interval: float = 2.0,
        start_timeout: float = 60.0,
        stop_timeout: float = 15.0,
        log_level: int | None = None,
        on_death: Callable[[WorkerDeath], None] | None = None,
        **options: Any,
    ) -> None:
        if count < 1:
            raise ConfigError(f"workers must be 1 or more, not {count}")
        if not hasattr(socket, "SO_REUSEPORT"):
            raise ConfigError(
                "--workers needs SO_REUSEPORT (Linux, macOS, BSD), which this system lacks; "
                "run one process (--workers 1)"
            )
        if not stats_interval > 0:
            raise ConfigError(f"stats_interval must be above 0, not {stats_interval}")
        given = sorted(name for name in _OWN_OPTIONS if name in options)
        if given:
            raise ConfigError(
                f"workers set {', '.join(given)} themselves "
                "(for TLS give certfile and keyfile; for stats, stats_path here)"
            )
        from rawlive.servers.emulator import Emulator

        Emulator(**options)  # a bad option fails here, not in each worker
        for name, value in options.items():
            try:
                pickle.dumps(value)
            except Exception:
                raise ConfigError(
                    f"option {name} cannot be sent to worker processes (not picklable)"
                ) from None
        self.count = count
        self.host = host
        self.port = port
        self.certfile = certfile
        self.keyfile = keyfile
        self.stats_path = stats_path
        self.stats_interval = stats_interval
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self.log_level = log_level
        self.on_death = on_death
        self.options = options
        #: The workers that died, in the order they did.
        self.deaths: list[WorkerDeath] = []
        #: Set once no worker is left serving.
        self.all_dead = asyncio.Event()
        self._workers: list[_Worker] = []
        self._store: SharedStore | None = None
        self._monitor: asyncio.Task[None] | None = None
        self._stopping = False
        self._started_at = time.monotonic()

    @property
    def url(self) -> str:
        scheme = "wss" if self.certfile else "ws"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"

    @property
    def pids(self) -> list[int]:
        """The workers' process ids, by index."""
        return [worker.pid for worker in self._workers]

    async def start(self) -> None:
        """Start the workers; return once each listens (:class:`WorkerFailed` if one cannot)."""
        reserved = _reserve_port(self.host, self.port)
        self.port = reserved.getsockname()[1]
        self._started_at = time.monotonic()
        try:
            self._store = SharedStore.temporary()
            for index in range(1, self.count + 1):
                spec = _Spec(
                    index=index,
                    host=self.host,
                    port=self.port,
                    store_dir=str(self._store.directory),
                    certfile=self.certfile,
                    keyfile=self.keyfile,
                    stats_interval=self.stats_interval,
                    log_level=self.log_level,
                    options=self.options,
                )
                ours, theirs = socket.socketpair()
                try:
                    process = subprocess.Popen(
                        [sys.executable, "-m", __name__, str(theirs.fileno())],
                        pass_fds=[theirs.fileno()],
                        stdin=subprocess.DEVNULL,
                        start_new_session=True,
                    )
                finally:
                    theirs.close()
                conn = Connection(ours.detach())
                conn.send(spec)
                self._workers.append(_Worker(index, process, conn, pid=process.pid))
            await self._wait_ready()
        except BaseException:
            await self._shutdown()
            raise
        finally:
            reserved.close()
        self._monitor = asyncio.create_task(self._watch())

    async def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout
        while not all(worker.ready for worker in self._workers):
            for worker in self._workers:
                self._drain(worker)
                if worker.failure is not None:
                    raise WorkerFailed(worker.failure)
                if not worker.ready and not _alive(worker.process):
                    self._drain(worker)
                    raise WorkerFailed(
                        worker.failure
                        or f"worker {worker.index} ended while starting "
                        f"(exit code {worker.process.returncode})"
                    )
            if time.monotonic() > deadline:
                raise WorkerFailed(f"the workers did not start within {self.start_timeout:g} s")
            await asyncio.sleep(0.02)

    def _drain(self, worker: _Worker) -> None:
        """Take what a worker sent: ready, its counts, a failure, stopped."""
        try:
            while worker.conn.poll():
                message = worker.conn.recv()
                kind = message[0]
                if kind == "ready":
                    worker.ready, worker.pid = True, message[1]
                elif kind == "counts":
                    worker.counts = message[1]
                elif kind == "failed":
                    worker.failure = message[1]
                elif kind == "stopped":
                    worker.stopped = True
        except (EOFError, OSError):
            pass  # it has ended; the process's exit says how

    async def _watch(self) -> None:
        """Take the workers' counts, notice deaths, and write the stats now and then."""
        next_write = time.monotonic() + self.stats_interval
        while True:
            await asyncio.sleep(0.05)
            for worker in self._workers:
                self._drain(worker)
                if not worker.dead and not _alive(worker.process) and not self._stopping:
                    self._drain(worker)
                    worker.dead = True
                    death = WorkerDeath(worker.index, worker.pid, worker.process.returncode)
                    self.deaths.append(death)
                    if self.on_death is None:
                        log.error("%s", death.describe())
                    else:
                        try:
                            self.on_death(death)
                        except Exception:
                            log.exception("on_death hook failed")
                    if all(w.dead for w in self._workers):
                        self.all_dead.set()
            if self.stats_path is not None and time.monotonic() >= next_write:
                next_write = time.monotonic() + self.stats_interval
                try:
                    self.write_stats()
                except OSError as exc:
                    log.error("cannot write the stats to %s: %s", self.stats_path, exc)

    def counts(self) -> stats.Counts:
        """The workers' latest counts, added up."""
        return stats.merge(worker.counts for worker in self._workers)

    def statistics(self) -> stats.EmulatorStats:
        """What the workers saw, merged (:class:`~rawlive.servers.emulator.stats.EmulatorStats`)."""
        per_worker = [
            stats.WorkerStats(
                index=worker.index,
                pid=worker.pid,
                connections=worker.counts.connections,
                sessions=worker.counts.sessions,
                turns=worker.counts.turns,
                alive=_alive(worker.process),
                exit_code=worker.process.returncode,
            )
            for worker in self._workers
        ]
        return stats.summary(
            self.counts(),
            uptime_s=time.monotonic() - self._started_at,
            workers=self.count,
            per_worker=per_worker,
            dead_workers=len(self.deaths),
        )

    def write_stats(self) -> None:
        """Write :meth:`statistics` to ``stats_path`` now."""
        if self.stats_path is not None:
            stats.write_stats(self.stats_path, self.statistics())

    async def stop(self) -> None:
        """Stop every worker (those that do not stop in ``stop_timeout`` are killed), write
        the stats a last time and delete the shared store."""
        if self._monitor is not None:
            self._monitor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._monitor
            self._monitor = None
        await self._shutdown()
        if self.stats_path is not None:
            self.write_stats()

    async def _shutdown(self) -> None:
        self._stopping = True
        for worker in self._workers:
            with contextlib.suppress(OSError, ValueError):
                worker.conn.send(("stop",))
        deadline = time.monotonic() + self.stop_timeout
        while any(_alive(w.process) for w in self._workers) and time.monotonic() < deadline:
            for worker in self._workers:
                self._drain(worker)
            await asyncio.sleep(0.02)
        for worker in self._workers:
            if _alive(worker.process):
                log.error("worker %d (pid %d) did not stop: killed", worker.index, worker.pid)
                worker.process.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.process.wait(5)
            self._drain(worker)
            worker.conn.close()
        if self._store is not None:
            self._store.remove()
            self._store = None

    async def __aenter__(self) -> Workers:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@contextlib.asynccontextmanager
async def serve_workers(count: int, **options: Any) -> AsyncIterator[Workers]:
    """Run ``count`` emulator processes on one 127.0.0.1 port for the block's duration.

    ``async with serve_workers(2, script=...) as workers:`` then connect to
    ``workers.url``. Options are :class:`Workers`' and the emulator's.
    """
    workers = Workers(count, **options)
    await workers.start()
    try:
        yield workers
    finally:
        await workers.stop()


def _alive(process: subprocess.Popen[bytes]) -> bool:
    return process.poll() is None


def _reserve_port(host: str, port: int) -> socket.socket:
    """A socket bound (not listening) with ``SO_REUSEPORT`` on ``host:port``: it holds
    the port (0: a free one) while the workers bind it too.

    A port something already listens on is refused (:class:`WorkerFailed`),
    rather than shared with it.
    """
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    if port:
        probe = socket.socket(family, kind, proto)
        try:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(address)
        except OSError as exc:
            raise WorkerFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        finally:
            probe.close()
    reserved = socket.socket(family, kind, proto)
    try:
        reserved.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        reserved.bind(address)
    except OSError as exc:
        reserved.close()
        raise WorkerFailed(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    return reserved


# -- in the worker process -------------------------------------------------------------


def _worker_main(fd: int) -> None:
    """A worker process: serve the port until the parent says stop (or goes away)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    conn = Connection(fd)
    spec = conn.recv()
    if spec.log_level is not None:
        logging.basicConfig(
            level=spec.log_level,
            format=f"%(asctime)s %(levelname)s %(name)s[worker {spec.index}]: %(message)s",
        )
    try:
        code = asyncio.run(_serve(spec, conn))
    finally:
        conn.close()
    raise SystemExit(code)


async def _serve(spec: _Spec, conn: Connection) -> int:
    from websockets.http11 import SERVER

    from rawlive.servers.base import server_ssl_context
    from rawlive.servers.emulator import Emulator

    try:
        store = SharedStore(spec.store_dir)
        context = (
            server_ssl_context(spec.certfile, spec.keyfile) if spec.certfile is not None else None
        )
        emulator = Emulator(
            host=spec.host,
            port=spec.port,
            ssl=context,
            store=store,
            reuse_port=True,
            server_header=f"{SERVER} rawlive-worker/{spec.index}",
            **spec.options,
        )
    except (ConfigError, OSError, ValueError) as exc:
        conn.send(("failed", f"worker {spec.index}: {exc}"))
        return 2
    try:
        await emulator.start()
    except OSError as exc:
        conn.send(("failed", f"cannot listen on {spec.host}:{spec.port}: {exc.strerror or exc}"))
        store.close()
        return 3
    stop = asyncio.Event()
    orphaned = False
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    def readable() -> None:
        nonlocal orphaned
        try:
            while conn.poll():
                if conn.recv()[0] == "stop":
                    stop.set()
        except (EOFError, OSError):  # the parent is gone (killed): nobody else cleans up
            orphaned = True
            stop.set()

    loop.add_reader(conn.fileno(), readable)
    conn.send(("ready", os.getpid()))
    try:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), spec.stats_interval)
            with contextlib.suppress(OSError):
                conn.send(("counts", emulator.counts))
    finally:
        loop.remove_reader(conn.fileno())
        await emulator.stop()
        if orphaned:
            store.remove()
        else:
            store.close()
        with contextlib.suppress(OSError):
            conn.send(("counts", emulator.counts))
            conn.send(("stopped",))
    return 0


if __name__ == "__main__":
    _worker_main(int(sys.argv[1]))
