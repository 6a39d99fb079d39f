"""The pytest plugin: Live sessions in tests, recorded once and replayed from cassettes.

Installed with rawlive (the ``pytest11`` entry point ``rawlive``), so any test
suite that has rawlive installed can use it; ``-p no:rawlive`` turns it off.

Use
---

Mark a test with ``live_cassette`` and ask for the ``live_endpoint`` fixture;
connect with ``rawlive.connect(..., endpoint=live_endpoint)``::

    import asyncio

    import pytest
    import rawlive


    @pytest.mark.live_cassette("greeting")
    def test_greeting(live_endpoint: str) -> None:
        async def main() -> None:
            async with rawlive.connect(
                "gemini-live-2.5-flash-preview",
                {"response_modalities": ["TEXT"]},
                endpoint=live_endpoint,
            ) as session:
                await session.send_realtime_input(text="hello")
                async for message in session.receive():
                    if message.server_content and message.server_content.turn_complete:
                        break

        asyncio.run(main())

``live_endpoint`` is a string URL; the test may be sync or async (the replay
server runs on its own event loop, in a thread). The cassette is
``<cassette dir>/<name>.jsonl`` (``.jsonl`` added unless the name has it; a
name may contain ``/``). Without the marker the name is
``<test module>/<test name>``.

The marker: ``live_cassette(name=None, *, policy="semantic",
allow_unused=(), speed=0)``. ``policy`` is the replay matcher
(:data:`rawlive.servers.replay.MATCHERS`: ``"semantic"`` or ``"strict"``); ``speed``
scales the recorded timing on replay (0: every frame at once, 1.0 as
recorded); ``allow_unused`` lists kinds of trailing server frames a test may
leave unconsumed (below).

Options (command line, or the ini option of the same name with
underscores):

``--live-record-mode`` / ``live_record_mode``
    A :class:`RecordMode`, as vcrpy's ``record_mode``. ``none`` (the
    default): replay only. The cassette must exist (else the test errors,
    naming the file and how to record it) and ``rawlive.connect`` to any
    endpoint other than ``live_endpoint`` raises :class:`LiveNetworkRefused`:
    no test reaches the network by accident. ``once``: replay the cassette if
    it exists, else record it. ``new_episodes``: record the episodes the
    cassette lacks (below), or the whole cassette if there is none. ``all``:
    always record, replacing the cassette.
``--live-cassette-dir`` / ``live_cassette_dir``
    Where cassettes live, relative to pytest's rootdir unless absolute
    (default ``tests/cassettes``).
``--live-upstream`` / ``live_upstream``
    The Live API to record against, a ``ws://``/``wss://`` URL (e.g. a
    ``rawlive serve`` emulator), or ``emulator`` for rawlive's emulator
    started for the test (no script: it echoes what it hears; see
    :mod:`rawlive.servers.emulator`). Without it, recording goes to the real
    Gemini API with the key in ``GEMINI_API_KEY`` (or ``GOOGLE_API_KEY``); with
    neither, a recording test errors saying so.

Recording: ``live_endpoint`` is then the upstream's URL, and
``rawlive.connect`` is patched for the test's duration: a connection to
``live_endpoint`` goes to the upstream and is recorded (credentials
redacted, as ``rawlive.connect(record=...)`` does). Every session of the test
goes into the one cassette, their connections numbered in the order they
opened, which is the order replay serves them in. The cassette is written
to ``<name>.jsonl.partial`` and moved into place only when the test passes,
so a failing recording never replaces a good cassette. A ``record=`` passed
by the test itself is kept (that session is then not in the cassette).

New episodes: an episode is one connection, and a cassette holds the
connections of a test in the order they opened. With ``new_episodes`` and a
cassette there, the connections it holds are replayed as under ``none``
(matched, and each one must be used), and a connection the test opens
beyond them (the test grew a second session, or connects again) is passed on
to the upstream (``--live-upstream``, or Gemini with the key) by the replay
server and recorded there. When the test passes, those connections are
appended to the cassette, numbered after its own, so the next run replays
them all; a cassette the test did not outgrow is left as it is. A mismatch
inside a recorded connection is still a failure, with its diff, and nothing
is appended: a Live session is stateful, so a connection cannot be recorded
again from the frame where it changed (re-record with ``all``). A connection
resumed beyond the cassette carries a handle the upstream never gave, which
the upstream refuses. The connections appended are recorded as the replay
server passed them on: their ``connect`` URL is ``live_endpoint``'s.

Replay: a :class:`~rawlive.servers.replay.ReplayServer` serves the cassette at
``live_endpoint``. When the test's body returns, the plugin stops it and the
test **fails** if

* any client frame did not match the recording (the message shows each
  mismatch's readable diff: the paths that differ, expected and received
  frames), or
* the cassette was not fully consumed: recorded client frames never sent,
  server frames never delivered, connections never opened (each listed).
  Server frames after the last client frame of their connection are
  forgiven when their kind matches an ``allow_unused`` pattern: ``fnmatch``
  patterns on the cassette's ``kind`` (``"usageMetadata"``,
  ``"serverContent.*"``); a pattern without wildcards also matches as a
  prefix, so ``"serverContent"`` covers ``serverContent.modelTurn`` and
  ``serverContent.turnComplete``.

A test that fails on its own is left failing as it is; the replay's findings
are then added to its report as a ``rawlive cassette`` section.

Limits: only ``rawlive.connect`` (looked up on the module at call time:
``rawlive.connect(...)``, not a name imported before the test ran) is
patched; other clients (the official SDK, ``rawlive send``) can be pointed at
``live_endpoint`` for replay but are neither refused nor recorded.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import shutil
import tempfile
import threading
from collections.abc import Callable, Coroutine, Generator, Iterable
from pathlib import Path
from typing import Any, TypeVar

import pytest

import rawlive
from rawlive import cassette
from rawlive.cassette.modes import MODES, Plan, RecordMode
from rawlive.client import session as session_module
from rawlive.errors import ConfigError, LiveNetworkRefused
from rawlive.servers.base import LiveServer
from rawlive.servers.proxy import Proxy
from rawlive.servers.replay import ReplayServer
from rawlive.wire import endpoints

__all__ = ["MODES", "LiveCassette", "LiveNetworkRefused", "RecordMode", "live_endpoint"]


_T = TypeVar("_T")
S = TypeVar("S", bound=LiveServer)


# ---------------------------------------------------------------------------
# Options and marker
# ---------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("rawlive", "rawlive Live API cassettes")
    group.addoption(
        "--live-record-mode",
        choices=MODES,
        default=None,
        help="none (replay only, the default), once, new_episodes or all",
    )
    group.addoption(
        "--live-cassette-dir",
        default=None,
        help="cassette directory, relative to the rootdir (default tests/cassettes)",
    )
    group.addoption(
        "--live-upstream",
        default=None,
        help="Live API URL to record against, or 'emulator' for rawlive's own "
        "(default: Gemini with GEMINI_API_KEY)",
    )
    parser.addini("live_record_mode", f"record mode: {', '.join(MODES)}", default="none")
    parser.addini("live_cassette_dir", "cassette directory", default="tests/cassettes")
    parser.addini("live_upstream", "Live API URL to record against", default="")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "live_cassette(name=None, *, policy='semantic', allow_unused=(), speed=0): "
        "the rawlive cassette the live_endpoint fixture replays or records",
    )
    mode = _setting(config, "live_record_mode")
    if mode not in MODES:
        raise pytest.UsageError(f"live_record_mode must be one of {', '.join(MODES)}, not {mode!r}")


def _setting(config: pytest.Config, name: str) -> str:
    value = config.getoption(name)
    if value is None:
        value = config.getini(name)
    return str(value or "")


def _record_mode(config: pytest.Config) -> RecordMode:
    """The record mode the run asks for (checked by :func:`pytest_configure`)."""
    return RecordMode(_setting(config, "live_record_mode") or RecordMode.NONE)


@dataclasses.dataclass(frozen=True)
class _Marker:
    name: str | None
    policy: str
    allow_unused: tuple[str, ...]
    speed: float


def _marker(
    name: str | None = None,
    *,
    policy: str = "semantic",
    allow_unused: str | Iterable[str] = (),
    speed: float = 0.0,
) -> _Marker:
    allowed = (allow_unused,) if isinstance(allow_unused, str) else tuple(allow_unused)
    return _Marker(name, policy, allowed, float(speed))


def _cassette_path(item: pytest.Item, name: str | None) -> Path:
    folder = Path(_setting(item.config, "live_cassette_dir") or "tests/cassettes")
    if not folder.is_absolute():
        folder = item.config.rootpath / folder
    if name is None:
        module = Path(str(item.path)).stem
        test = re.sub(r"[^\w.-]+", "_", item.name)
        name = f"{module}/{test}"
    return folder / (name if name.endswith(".jsonl") else f"{name}.jsonl")


def _patterns(allow: Iterable[str]) -> list[str]:
    """``fnmatch`` patterns; one without wildcards also matches as a prefix."""
    out: list[str] = []
    for pattern in allow:
        out.append(pattern)
        if not any(c in pattern for c in "*?["):
            out.append(pattern + "*")
    return out


# ---------------------------------------------------------------------------
# Replay on a loop of its own
# ---------------------------------------------------------------------------


class _LoopThread:
    """An event loop in a daemon thread, whatever the test's own loop is."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(
            target=self.loop.run_forever, name="rawlive-replay", daemon=True
        )
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, _T], timeout: float = 30.0) -> _T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


# ---------------------------------------------------------------------------
# Recording: one cassette for every session of a test
# ---------------------------------------------------------------------------


class _SessionRecorder:
    """A session's view of the test's cassette: its connections renumbered, not closing it."""

    def __init__(self, shared: _SharedRecorder) -> None:
        self.shared = shared
        self.numbers: dict[int, int] = {}
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed or self.shared.writer.closed

    def add_secrets(self, secrets: Iterable[str]) -> None:
        self.shared.writer.add_secrets(secrets)

    def write_header(
        self,
        *,
        url: str | None = None,
        headers: Iterable[tuple[str, str]] = (),
        model: str | None = None,
        api_version: str | None = None,
    ) -> None:
        self.shared.writer.write_header(
            url=url, headers=headers, model=model, api_version=api_version
        )

    def _number(self, connection: int) -> int:
        if connection not in self.numbers:
            self.shared.connections += 1
            self.numbers[connection] = self.shared.connections
        return self.numbers[connection]

    def write_connect(
        self, connection: int, url: str, headers: Iterable[tuple[str, str]] = ()
    ) -> None:
        self.shared.writer.write_connect(self._number(connection), url, headers)

    def write_frame(
        self,
        connection: int,
        sender: cassette.Sender,
        opcode: cassette.Opcode,
        payload: bytes | str,
    ) -> None:
        self.shared.writer.write_frame(self._number(connection), sender, opcode, payload)

    def write_close(
        self, connection: int, code: int, reason: str = "", by: cassette.Sender | None = None
    ) -> None:
        self.shared.writer.write_close(self._number(connection), code, reason, by)

    def close(self) -> None:
        self._closed = True  # the plugin closes the cassette at the end of the test


@dataclasses.dataclass
class _SharedRecorder:
    writer: cassette.CassetteWriter
    connections: int = 0


# ---------------------------------------------------------------------------
# The per-test state
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class LiveCassette:
    """What ``live_endpoint`` set up for one test: a replay or a recording."""

    path: Path
    mode: RecordMode
    url: str
    marker: _Marker
    #: Where connections are recorded from (``None``: Gemini, the endpoint the key resolves).
    upstream: str | None = None
    recorder: _SharedRecorder | None = None
    #: The replay server (``None`` when recording).
    server: ReplayServer | None = None
    #: The emulator recorded against (``--live-upstream emulator``), if any.
    emulator: LiveServer | None = None
    loop: _LoopThread | None = None
    #: New episodes: where the replay server records the connections beyond the cassette.
    new_episodes: Path | None = None
    finished: bool = False
    problem: str | None = None

    @property
    def recording(self) -> bool:
        return self.recorder is not None

    @property
    def partial(self) -> Path:
        return self.path.with_name(self.path.name + ".partial")

    def _stop_servers(self) -> None:
        if self.loop is None:
            return
        try:
            for server in (self.server, self.emulator):
                if server is not None:
                    self.loop.run(server.stop())
        finally:
            self.loop.close()

    def finish(self, *, passed: bool) -> str | None:
        """End the replay or recording (once); what went wrong with the cassette, if anything."""
        if self.finished:
            return self.problem
        self.finished = True
        if self.recorder is not None:
            self.recorder.writer.close()
            if passed:
                os.replace(self.partial, self.path)
            else:
                self.partial.unlink(missing_ok=True)
            self._stop_servers()  # an embedded emulator, if any
            return None
        server = self.server
        assert server is not None
        try:
            self._stop_servers()  # the new episodes' recordings end with their connections
            self.problem = self._replay_problem(server)
            if passed and self.problem is None and self.new_episodes is not None:
                self._append_new_episodes(server)
        finally:
            if self.new_episodes is not None:
                shutil.rmtree(self.new_episodes, ignore_errors=True)
        return self.problem

    def _replay_problem(self, server: ReplayServer) -> str | None:
        problems = [str(m) for m in server.mismatches]
        left = server.remaining(allow=_patterns(self.marker.allow_unused))
        if left:
            lines = [
                f"cassette {self.path} not fully consumed: {len(left)} of {server.total} "
                "recorded frames unused:"
            ]
            for frame in left[:20]:
                text = frame.payload.decode("utf-8", "replace")
                text = text if len(text) <= 120 else text[:117] + "..."
                lines.append(
                    f"  connection {frame.connection}, from {frame.sender}: {frame.kind}  {text}"
                )
            if len(left) > 20:
                lines.append(f"  ... and {len(left) - 20} more")
            if all(f.sender == "server" for f in left):
                lines.append(
                    "  (trailing server frames can be allowed: "
                    "@pytest.mark.live_cassette(..., allow_unused=[kinds]))"
                )
            problems.append("\n".join(lines))
        return "\n\n".join(problems) or None

    def _append_new_episodes(self, server: ReplayServer) -> None:
        """Append the connections recorded beyond the cassette to it, if there were any."""
        assert self.new_episodes is not None
        recordings = sorted(self.new_episodes.glob("connection-*.jsonl"))
        if recordings:
            joined = cassette.append_connections(
                server.cassette, [cassette.read_cassette(p) for p in recordings]
            )
            cassette.write_cassette(joined, self.path)


_STATE = pytest.StashKey[LiveCassette]()


def _start_server(make: Callable[[], S], loop: _LoopThread | None = None) -> tuple[S, _LoopThread]:
    """Start the server ``make()`` builds on the loop of a thread (a new one by default)."""
    own = loop is None
    loop = _LoopThread() if loop is None else loop

    async def start() -> S:
        server = make()
        await server.start()
        return server

    try:
        return loop.run(start()), loop
    except BaseException:
        if own:
            loop.close()
        raise


def _start_replay(path: Path, mode: RecordMode, marker: _Marker) -> LiveCassette:
    server, loop = _start_server(
        lambda: ReplayServer(path, policy=marker.policy, speed=marker.speed)
    )
    return LiveCassette(path, mode, server.url, marker, server=server, loop=loop)


def _upstream(
    config: pytest.Config, path: Path, mode: RecordMode
) -> tuple[str | None, LiveServer | None, _LoopThread | None]:
    """Where to record: ``--live-upstream``'s URL, or ``None`` for Gemini with the key.

    For ``emulator``, the emulator is started (and returned, with its loop,
    for stopping). Without an upstream the key must be set: the test fails
    saying so.
    """
    upstream = _setting(config, "live_upstream") or None
    if upstream == "emulator":
        from rawlive.servers.emulator import Emulator

        emulator, loop = _start_server(Emulator)
        return emulator.url, emulator, loop
    if upstream is None:
        try:
            endpoints.resolve()
        except ConfigError:
            pytest.fail(
                f"rawlive: recording {path} (live record mode {mode.value!r}) needs a Live API: "
                "set GEMINI_API_KEY (or GOOGLE_API_KEY) to record against Gemini, or pass "
                "--live-upstream ws://HOST:PORT (e.g. a `rawlive serve` emulator)",
                pytrace=False,
            )
    return upstream, None, None


def _start_recording(
    config: pytest.Config, path: Path, mode: RecordMode, marker: _Marker
) -> LiveCassette:
    upstream, emulator, loop = _upstream(config, path, mode)
    url = upstream if upstream is not None else endpoints.resolve().redacted_url()
    path.parent.mkdir(parents=True, exist_ok=True)
    state = LiveCassette(path, mode, url, marker, upstream=upstream, emulator=emulator, loop=loop)
    state.recorder = _SharedRecorder(
        cassette.CassetteWriter(state.partial, meta={"recordMode": mode.value})
    )
    return state


def _start_new_episodes(
    config: pytest.Config, path: Path, mode: RecordMode, marker: _Marker
) -> LiveCassette:
    """Replay ``path``; a connection beyond it goes to the upstream, recorded to be appended.

    For Gemini the replay server passes on the key the client sends it.
    """
    upstream, emulator, loop = _upstream(config, path, mode)
    target = upstream if upstream is not None else f"wss://{endpoints.GEMINI_HOST}"
    new_episodes = Path(tempfile.mkdtemp(prefix="rawlive-new-episodes-"))
    try:
        try:
            proxy = Proxy(target)
        except ConfigError as exc:
            pytest.fail(f"rawlive: --live-upstream (live_upstream): {exc}", pytrace=False)
        server, loop = _start_server(
            lambda: ReplayServer(
                path,
                policy=marker.policy,
                speed=marker.speed,
                upstream=proxy,
                record_dir=new_episodes,
            ),
            loop,
        )
    except BaseException:
        shutil.rmtree(new_episodes, ignore_errors=True)
        if emulator is not None and loop is not None:
            with contextlib.suppress(Exception):
                loop.run(emulator.stop())
            loop.close()
        raise
    return LiveCassette(
        path,
        mode,
        server.url,
        marker,
        upstream=upstream,
        server=server,
        emulator=emulator,
        loop=loop,
        new_episodes=new_episodes,
    )


def _same_endpoint(endpoint: str | None, url: str) -> bool:
    if endpoint is None:
        return False
    return endpoint == url or endpoint.startswith(url.rstrip("/") + "/")


def _patch_connect(monkeypatch: pytest.MonkeyPatch, state: LiveCassette) -> None:
    original = session_module.connect

    def connect(*args: Any, **kwargs: Any) -> Any:
        endpoint = kwargs.get("endpoint")
        if state.recorder is not None:
            if endpoint == state.url:
                kwargs["endpoint"] = state.upstream
                if kwargs.get("record") is None:
                    kwargs["record"] = _SessionRecorder(state.recorder)
        elif not _same_endpoint(endpoint, state.url):
            # The endpoint may hold a key (``?key=``): never in the message.
            where = (
                endpoints.redact(endpoint)
                if endpoint is not None
                else "the default Gemini endpoint"
            )
            mode = state.mode.value
            raise LiveNetworkRefused(
                f"rawlive: live record mode {mode!r} replays {state.path} and refuses "
                f"connections to anything else, here {where}: connect with "
                "endpoint=live_endpoint, or record with --live-record-mode=once (or all)"
            )
        return original(*args, **kwargs)

    monkeypatch.setattr(rawlive, "connect", connect)
    monkeypatch.setattr(session_module, "connect", connect)


@pytest.fixture
def live_endpoint(
    request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
) -> Generator[str, None, None]:
    """The URL to give ``rawlive.connect(..., endpoint=...)``: a replay, or the recording upstream.

    See :mod:`rawlive.pytest_plugin`.
    """
    item = request.node
    assert isinstance(item, pytest.Item)
    found = item.get_closest_marker("live_cassette")
    try:
        marker = _marker() if found is None else _marker(*found.args, **found.kwargs)
    except TypeError as exc:
        pytest.fail(f"rawlive: bad live_cassette marker: {exc}", pytrace=False)
    path = _cassette_path(item, marker.name)
    mode = _record_mode(item.config)
    plan = mode.plan(path.exists())
    if plan is Plan.RECORD:
        state = _start_recording(item.config, path, mode, marker)
    elif plan is Plan.MISSING:
        pytest.fail(
            f"rawlive: no cassette {path} to replay for {item.nodeid} (live record mode "
            f"{mode.value!r} never records): record it with --live-record-mode=once "
            "(and --live-upstream URL, or GEMINI_API_KEY set)",
            pytrace=False,
        )
    elif plan is Plan.APPEND:
        state = _start_new_episodes(item.config, path, mode, marker)
    else:
        state = _start_replay(path, mode, marker)
    item.stash[_STATE] = state
    _patch_connect(monkeypatch, state)
    try:
        yield state.url
    finally:
        with contextlib.suppress(Exception):
            state.finish(passed=False)  # a no-op when the test's call finished it


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, object, object]:
    try:
        result = yield
    except BaseException:
        state = item.stash.get(_STATE, None)
        if state is not None:
            problem = state.finish(passed=False)
            if problem:
                item.add_report_section("call", "rawlive cassette", problem)
        raise
    state = item.stash.get(_STATE, None)
    if state is not None:
        problem = state.finish(passed=True)
        if problem:
            pytest.fail(f"rawlive replay of {state.path}:\n{problem}", pytrace=False)
    return result
