"""The pytest plugin: Live sessions in tests, recorded once and replayed from cassettes.

Installed with rawlive (the ``pytest11`` entry point ``rawlive``). A test
marked ``live_cassette`` connects with ``rawlive.connect(...,
endpoint=live_endpoint)``; the README's "Record and replay in your tests" is
the reference for the marker, the options and the record modes. The rules:

1. The record mode (:class:`~rawlive.cassette.modes.RecordMode`, re-exported
   here) plans what a test does with its cassette: replay, record, or replay
   and record the connections beyond it.
2. Replaying, a :class:`~rawlive.servers.replay.ReplayServer` serves the
   cassette at ``live_endpoint``; under ``none``, ``rawlive.connect`` to any
   other endpoint raises :class:`LiveNetworkRefused`.
3. Recording, ``rawlive.connect`` is patched for the test: a connection to
   ``live_endpoint`` goes to the upstream and is recorded, redacted, into the
   test's one cassette, which is written beside its place and put there only
   when the test passes.
4. New episodes: the connections beyond the cassette go to the upstream
   through the replay server and are appended when the test passes; a
   mismatch inside a recorded connection fails and appends nothing.
5. A test fails when a client frame does not match the recording or the
   cassette is not used up (but trailing server frames of an
   ``allow_unused`` kind); a test that fails on its own keeps its failure,
   with the replay's findings as a report section.
6. Only ``rawlive.connect``, looked up on the module at call time, is patched.
7. ``live_scenario`` runs a scenario (:mod:`rawlive.tools.scenario`) at
   ``live_endpoint``: its cassette is the test's. Recording with
   ``--live-upstream emulator``, the emulator plays the scenario's
   ``emulator_script``; the run is also recorded into a file of its own for
   the audit. The scenario's declared expectations are checked.
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

__all__ = [
    "MODES",
    "LiveCassette",
    "LiveNetworkRefused",
    "RecordMode",
    "live_endpoint",
    "live_scenario",
]


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

    See the README's "Record and replay in your tests".
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


# ---------------------------------------------------------------------------
# Scenarios
# ---------------------------------------------------------------------------


def _scenario_file(item: pytest.Item, given: str | os.PathLike[str]) -> Path:
    """A scenario path: as given when absolute, else from the test's folder, else the rootdir."""
    path = Path(given)
    if path.is_absolute():
        return path
    for base in (Path(str(item.path)).parent, item.config.rootpath):
        if (base / path).is_file():
            return base / path
    return path


def _play_scenario_script(state: LiveCassette, script_path: str, speed: float | None) -> None:
    """Recording on the plugin's emulator: replace it by one that plays ``script_path``."""
    from rawlive.servers.emulator import Emulator
    from rawlive.servers.emulator.script import load_script

    script = load_script(script_path)
    old, loop = state.emulator, state.loop
    assert old is not None and loop is not None
    loop.run(old.stop())
    emulator, _ = _start_server(lambda: Emulator(script=script, speed=speed), loop)
    state.emulator, state.upstream = emulator, emulator.url


@pytest.fixture
def live_scenario(
    request: pytest.FixtureRequest, live_endpoint: str, tmp_path: Path
) -> Callable[..., Any]:
    """Run a scenario at ``live_endpoint``: ``run = live_scenario("weather.toml")``.

    Takes a :class:`~rawlive.tools.scenario.Scenario` or its file (relative
    to the test's folder, else the rootdir) and the options of
    :func:`~rawlive.tools.scenario.run_scenario` (``handlers``, ``speech``,
    ``speed``...); returns the :class:`~rawlive.tools.scenario.ScenarioRun`,
    its declared expectations checked (``check=False``: not). Each run's own
    copy of the session (audited, and named in failure messages) is kept in
    the test's ``tmp_path``. Call it from a
    test with no event loop running (an ``async`` test awaits
    ``run_scenario(..., endpoint=live_endpoint)`` itself). See the README's
    "Test a conversation: ``rawlive scenario``".
    """
    from rawlive.tools.scenario import Scenario, load_scenario, run_scenario_sync

    item = request.node
    assert isinstance(item, pytest.Item)
    state = item.stash[_STATE]
    runs = 0

    def run(scenario: Any, *, check: bool = True, **options: Any) -> Any:
        nonlocal runs
        runs += 1
        if not isinstance(scenario, Scenario):
            scenario = load_scenario(_scenario_file(item, scenario))
        also = None
        if state.recorder is not None:
            if state.emulator is not None and scenario.emulator_script:
                _play_scenario_script(
                    state, scenario.emulator_script, options.get("emulator_speed")
                )
            also = _SessionRecorder(state.recorder)
        options.pop("emulator_speed", None)
        options.setdefault("record", tmp_path / f"scenario-{runs}.jsonl")
        result = run_scenario_sync(
            scenario, endpoint=live_endpoint, emulator=False, also_record=also, **options
        )
        if check:
            result.check()
        return result

    return run
