"""No secret in any output of a session (issue 8).

Real sessions with a distinctive fake API key, ephemeral token and Vertex
OAuth token, against local servers (the emulator, through the recording
proxy, the replay of what was recorded) and through the command line, and
sessions that fail (refused with HTTP 403 or close 1008, dropped, no server,
no WebSocket, no TLS, a URL websockets refuses). Everything they put out is
swept: every cassette written, every log record at DEBUG from every logger
(``websockets`` included), the commands' stdout and stderr (``--json``
events, ``audit`` reports, the proxy's and replay server's output), the
messages, reprs and tracebacks of the errors, ``rawlive audit`` reports. The
secret must be in none of them, in any encoding an onlooker could decode
(as is, URL-encoded, JSON-escaped, base64). Each test also checks that the
secret did reach a server, so that the sweep looked at a session where it
was really used.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import io
import ipaddress
import json
import logging
import os
import re
import signal
import socket
import sys
import traceback
import urllib.parse
from collections.abc import AsyncIterator, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

import pytest
import websockets
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

import rawlive
from rawlive.cassette import FrameEvent, frame_kind, read_cassette
from rawlive.servers.base import CapturedConnection
from rawlive.servers.emulator import Emulator
from rawlive.servers.proxy import Proxy
from rawlive.servers.replay import ReplayServer
from rawlive.tools.audit import audit_cassette
from rawlive.tools.report import render_report, write_report

# Distinctive, with the characters that URL encoding changes ("/", "+", "="),
# each with a marker that no legitimate output contains: a partial leak that
# keeps the marker is caught too.
KEY = "fake.RAWLIVE-SWEEPKEY-0123456789abcdef"
TOKEN = "auth_tokens/rawlive+SWEEPTOKEN/0123456789abc=="
BEARER = "ya29.rawlive-SWEEPBEARER/0123456789+abcdef"
MARKERS = ("SWEEPKEY", "SWEEPTOKEN", "SWEEPBEARER")
# The user part of a URL's userinfo (``ws://USER:KEY@host``): kept out too, conservatively.
USER = "rawlive-SWEEPUSER"

MODEL = "gemini-live-2.5-flash-preview"
CONFIG: dict[str, Any] = {"response_modalities": ["TEXT"]}
FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"
SPOKEN = FIXTURES / "audio" / "weather-16k-mono.wav"
RAWLIVE = [sys.executable, "-m", "rawlive"]


@dataclasses.dataclass(frozen=True)
class Credential:
    secret: str
    #: How it is given to ``connect``.
    options: dict[str, Any]
    #: Its slot in the DEBUG handshake log, and in a cassette, redacted.
    log_slot: str
    cassette_slot: str


CREDENTIALS = {
    "api-key": Credential(
        KEY, {"api_key": KEY}, "x-goog-api-key: <redacted>", '["x-goog-api-key","<redacted>"]'
    ),
    "ephemeral-token": Credential(
        TOKEN, {"api_key": TOKEN}, "access_token=<redacted>", "access_token=<redacted>"
    ),
    "vertex-oauth": Credential(
        BEARER,
        {
            "vertex": True,
            "project": "sweep-project",
            "location": "us-central1",
            "access_token": BEARER,
        },
        "Authorization: <redacted>",
        '["Authorization","<redacted>"]',
    ),
}


def _forms(secret: str) -> dict[str, str]:
    """The secret as an onlooker could find it written."""
    return {
        "raw": secret,
        "url-encoded": urllib.parse.quote(secret, safe=""),
        "url-encoded (path)": urllib.parse.quote(secret),
        "form-encoded": urllib.parse.quote_plus(secret),
        "json-escaped": json.dumps(secret)[1:-1].replace("/", "\\/"),
        "base64": base64.b64encode(secret.encode()).decode(),
        "base64url": base64.urlsafe_b64encode(secret.encode()).decode(),
    }


FORMS = [
    (f"{name} {form_name}", form)
    for name, secret in (("key", KEY), ("token", TOKEN), ("bearer", BEARER), ("user", USER))
    for form_name, form in _forms(secret).items()
] + [(f"marker {m}", m) for m in (*MARKERS, "SWEEPUSER")]


def test_every_form_is_distinct_from_the_secret_where_encoding_changes_it() -> None:
    # Otherwise the URL-encoded sweep would look for nothing new.
    assert urllib.parse.quote(TOKEN, safe="") != TOKEN
    assert urllib.parse.quote(BEARER, safe="") != BEARER
    assert all(
        marker in secret for marker, secret in zip(MARKERS, (KEY, TOKEN, BEARER), strict=True)
    )


class Sweep:
    """Every output of the sessions under test, by where it came from."""

    def __init__(self) -> None:
        self.outputs: list[tuple[str, str]] = []

    def add(self, where: str, text: str | bytes) -> None:
        if isinstance(text, bytes):
            text = text.decode("utf-8", errors="replace")
        self.outputs.append((where, text))

    def add_exception(self, where: str, exc: BaseException) -> None:
        """Message, repr, args and traceback, of the error and every error chained to it."""
        self.add(f"{where}: traceback", "".join(traceback.format_exception(exc)))
        seen: set[int] = set()
        current: BaseException | None = exc
        while current is not None and id(current) not in seen:
            seen.add(id(current))
            self.add(f"{where}: str", str(current))
            self.add(f"{where}: repr", repr(current))
            self.add(f"{where}: args", repr(current.args))
            self.add(f"{where}: attributes", repr(vars(current)))
            # The suppressed context too: ``raise ... from None`` still keeps it.
            current = current.__cause__ or current.__context__

    def add_files(self, folder: Path) -> list[Path]:
        """Every file under ``folder``, raw; cassettes also frame by frame, decoded."""
        files = sorted(p for p in folder.rglob("*") if p.is_file())
        for path in files:
            self.add(str(path), path.read_bytes())
            if path.suffix == ".jsonl":
                for event in read_cassette(path).events:
                    if isinstance(event, FrameEvent) and not event.elided:
                        self.add(f"{path} frame", event.payload)
        return files

    def add_audits(self, cassettes: list[Path]) -> None:
        for path in cassettes:
            report = audit_cassette(path)
            self.add(f"audit {path}", report.render())
            self.add(f"audit --json {path}", json.dumps(report.to_builtins()))

    def leaks(self) -> list[str]:
        return [
            f"{label} in {where}"
            for where, text in self.outputs
            for label, form in FORMS
            if form in text
        ]

    def check(self) -> None:
        assert self.outputs, "nothing was swept"
        leaks = self.leaks()
        assert not leaks, "a secret leaked:\n" + "\n".join(leaks)


@pytest.fixture
def sweep() -> Sweep:
    return Sweep()


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every log record at DEBUG from every logger, formatted with its traceback."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    # Whatever an earlier test left set on these, every record reaches the root.
    loggers = [logging.getLogger(name) for name in ("websockets", "rawlive", "asyncio")]
    saved = [(root.level, root.disabled)] + [(lg.level, lg.disabled) for lg in loggers]
    for logger in loggers:
        logger.setLevel(logging.NOTSET)
        logger.disabled = False
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for logger, (level, disabled) in zip([root, *loggers], saved, strict=True):
            logger.setLevel(level)
            logger.disabled = disabled


@pytest.fixture(autouse=True)
def _no_key_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GEMINI_API_KEY", raising=False)
    monkeypatch.delenv("GOOGLE_API_KEY", raising=False)


def _reached(capture: CapturedConnection, secret: str) -> bool:
    """Whether the server's handshake carried the secret (header or decoded query)."""
    values = [v for _, v in capture.headers]
    values += [v for vs in capture.query.values() for v in vs]
    return any(secret in value for value in values)


async def _turn(session: rawlive.Session) -> str:
    await session.send_realtime_input(text="hello")
    text = ""
    async for message in session.receive():
        text += message.text or ""
        if message.server_content and message.server_content.turn_complete:
            break
    return text


# ---------------------------------------------------------------------------
# Sessions that work: emulator, recording proxy, replay
# ---------------------------------------------------------------------------


@pytest.mark.parametrize("credential", list(CREDENTIALS))
async def test_a_session_through_the_proxy_and_its_replay_show_the_secret_nowhere(
    tmp_path: Path, sweep: Sweep, debug_log: io.StringIO, credential: str
) -> None:
    secret, options = CREDENTIALS[credential].secret, CREDENTIALS[credential].options
    recorded = tmp_path / "client.jsonl"
    async with (
        Emulator(speed=0, record_dir=tmp_path / "emulator") as emulator,
        Proxy(emulator.url, record_dir=tmp_path / "proxy") as proxy,
    ):
        async with rawlive.connect(
            MODEL, CONFIG, endpoint=proxy.url, record=recorded, **options
        ) as session:
            sweep.add("repr(session)", repr(session))
            sweep.add("repr(session.endpoint)", repr(session.endpoint))
            assert "received: hello" in await _turn(session)
    # The secret was used: it reached the proxy, and through it the emulator.
    assert _reached(proxy.connections[0], secret)
    assert _reached(emulator.connections[0], secret)

    async with ReplayServer(recorded, speed=0, record_dir=tmp_path / "replay") as replay:
        async with rawlive.connect(
            MODEL, CONFIG, endpoint=replay.url, record=tmp_path / "replayed.jsonl", **options
        ) as session:
            assert "received: hello" in await _turn(session)
    assert replay.mismatches == []
    assert _reached(replay.connections[0], secret)

    cassettes = [p for p in sweep.add_files(tmp_path) if p.suffix == ".jsonl"]
    assert len(cassettes) == 5  # client, proxy, emulator, replay server, replayed client
    sweep.add_audits(cassettes)
    log = debug_log.getvalue()
    sweep.add("log records at DEBUG", log)
    # The sweep saw the handshakes at DEBUG, the credential's slot among them.
    assert "> GET /ws/" in log and "< GET /ws/" in log
    assert CREDENTIALS[credential].log_slot in log
    # ... and the cassettes kept the slot, redacted.
    for path in (recorded, *(tmp_path / "proxy").iterdir(), *(tmp_path / "emulator").iterdir()):
        assert CREDENTIALS[credential].cassette_slot in path.read_text(), path
    sweep.check()


# ---------------------------------------------------------------------------
# Sessions that fail
# ---------------------------------------------------------------------------

_REMOTE_LOG = logging.getLogger("tests.secrets.remote")
_REMOTE_LOG.propagate = False  # the stand-in for Google's server: its log is not rawlive's
_REMOTE_LOG.addHandler(logging.NullHandler())


class Remote:
    """A stand-in for the real API that turns the client away.

    ``mode``: ``"403"`` refuses the handshake; ``"1008"`` reads setup and
    closes with 1008, the reason quoting the credential it was given (a
    server that echoes is the worst case); ``"drop"`` answers the first
    connection (setupComplete, a resumable handle), then drops it and
    refuses every later one with 403.
    """

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.handshakes: list[str] = []
        self.url = ""

    @property
    def reached(self) -> str:
        """Every handshake received, URL-decoded."""
        return urllib.parse.unquote("\n".join(self.handshakes))

    async def __aenter__(self) -> Remote:
        self._server = await websockets.serve(
            self._handle,
            "127.0.0.1",
            0,
            process_request=self._check,
            compression=None,
            logger=_REMOTE_LOG,
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"ws://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    def _check(self, ws: ServerConnection, request: Request) -> Response | None:
        lines = [request.path, *(f"{k}: {v}" for k, v in request.headers.raw_items())]
        self.handshakes.append("\n".join(lines))
        if self.mode == "403" or (self.mode == "drop" and len(self.handshakes) > 1):
            return ws.respond(HTTPStatus.FORBIDDEN, f"API key not valid: {_given(request)}\n")
        return None

    async def _handle(self, ws: ServerConnection) -> None:
        request = ws.request
        assert request is not None
        await ws.recv()  # setup
        if self.mode == "1008":
            await ws.close(1008, f"API key not valid: {_given(request)}")
            return
        await ws.send('{"setupComplete":{}}')
        await ws.send('{"sessionResumptionUpdate":{"newHandle":"h-1","resumable":true}}')
        ws.transport.abort()


def _given(request: Request) -> str:
    """The credential a handshake carried, as a server that echoes it would quote it."""
    query = urllib.parse.parse_qs(request.path.partition("?")[2])
    return (
        request.headers.get("x-goog-api-key")
        or request.headers.get("authorization")
        or (query.get("access_token") or query["key"])[0]
    )


class NotWebSocket:
    """A TCP server that answers any request with plain HTTP 200: no WebSocket."""

    def __init__(self) -> None:
        self.received = b""

    async def __aenter__(self) -> NotWebSocket:
        self._server = await asyncio.start_server(self._answer, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self._server.close()
        await self._server.wait_closed()

    async def _answer(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        # One read: a handshake request comes in one piece (a TLS hello too).
        self.received += await reader.read(65536)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
        await writer.drain()
        writer.close()


def _closed_port() -> int:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        return int(free.getsockname()[1])


async def _fail(sweep: Sweep, where: str, **kwargs: Any) -> BaseException:
    """Open a session that must fail; the error is swept and returned."""
    options = {"open_timeout": 5.0, **kwargs}
    with pytest.raises(rawlive.RawliveError) as info:
        async with rawlive.connect(MODEL, {**CONFIG, **options.pop("config", {})}, **options) as s:
            async for _ in s.receive():
                pass
    sweep.add_exception(where, info.value)
    return info.value


@pytest.mark.parametrize("credential", list(CREDENTIALS))
async def test_failed_sessions_show_the_secret_nowhere(
    tmp_path: Path, sweep: Sweep, debug_log: io.StringIO, credential: str
) -> None:
    secret, options = CREDENTIALS[credential].secret, CREDENTIALS[credential].options

    async with Remote("403") as remote:
        error = await _fail(
            sweep, "refused (403)", endpoint=remote.url, record=tmp_path / "403.jsonl", **options
        )
        assert isinstance(error, rawlive.ConnectError) and "HTTP 403" in str(error)
        assert secret in remote.reached

    async with Remote("1008") as remote:
        error = await _fail(
            sweep, "closed (1008)", endpoint=remote.url, record=tmp_path / "1008.jsonl", **options
        )
        assert isinstance(error, rawlive.LiveConnectionClosed) and error.code == 1008
        assert error.reason.startswith("API key not valid: ")  # echoed, then redacted
        assert secret in remote.reached

    async with Remote("drop") as remote:
        error = await _fail(
            sweep,
            "dropped, resumption refused",
            endpoint=remote.url,
            record=tmp_path / "drop.jsonl",
            config={"session_resumption": {}},
            reconnect=rawlive.Reconnect(attempts=2, first_delay=0.01, max_delay=0.01),
            **options,
        )
        assert isinstance(error, rawlive.ConnectError) and "could not resume" in str(error)
        assert len(remote.handshakes) == 3 and secret in remote.reached

    async with NotWebSocket() as plain:
        error = await _fail(
            sweep, "not a WebSocket server", endpoint=f"ws://127.0.0.1:{plain.port}", **options
        )
        assert isinstance(error, rawlive.ConnectError)
        assert secret in urllib.parse.unquote(plain.received.decode())
        error = await _fail(
            sweep, "TLS handshake failed", endpoint=f"wss://127.0.0.1:{plain.port}", **options
        )
        assert isinstance(error, rawlive.ConnectError)

    error = await _fail(
        sweep, "unreachable", endpoint=f"ws://127.0.0.1:{_closed_port()}", **options
    )
    assert isinstance(error, rawlive.ConnectError)

    cassettes = [p for p in sweep.add_files(tmp_path) if p.suffix == ".jsonl"]
    assert len(cassettes) == 3
    sweep.add_audits(cassettes)
    log = debug_log.getvalue()
    sweep.add("log records at DEBUG", log)
    assert "> GET /ws/" in log and "reconnect attempt 1 failed" in log
    sweep.check()


@pytest.mark.parametrize(
    ("secret", "options"),
    [
        # The token's query appended after a fragment: websockets refuses it.
        (TOKEN, {"api_key": TOKEN, "endpoint": "ws://127.0.0.1:1/ws#fragment"}),
        # A key in a custom endpoint's query, and no host.
        (KEY, {"endpoint": f"ws:///ws/custom?key={KEY}"}),
        (KEY, {"endpoint": f"ws://127.0.0.1:99999/ws/custom?key={KEY}"}),
        (TOKEN, {"api_key": TOKEN, "endpoint": "ws://user@127.0.0.1:1"}),
    ],
    ids=["fragment", "no-host", "bad-port", "user-without-password"],
)
async def test_an_endpoint_url_websockets_refuses_is_refused_without_its_credential(
    sweep: Sweep, secret: str, options: dict[str, Any]
) -> None:
    # websockets' own error quotes the whole URL, query and all; it must
    # neither escape nor stay attached as the context of rawlive's.
    error = await _fail(sweep, "invalid endpoint URL", **options)
    assert isinstance(error, rawlive.ConfigError)
    assert "invalid endpoint URL" in str(error) and "<redacted>" in str(error)
    assert error.__context__ is None and error.__cause__ is None
    sweep.check()


async def test_a_proxy_whose_upstream_url_websockets_refuses_is_refused_at_once() -> None:
    # Dialled, it would fail for every client, the error quoting the client's
    # credentials appended to it.
    with pytest.raises(rawlive.ConfigError, match="invalid upstream URL") as info:
        Proxy("ws://:8765")
    assert info.value.__context__ is None
    with pytest.raises(rawlive.ConfigError, match="Port"):
        Proxy(f"ws://127.0.0.1:99999/ws?key={KEY}")


# ---------------------------------------------------------------------------
# The command line
# ---------------------------------------------------------------------------


class Process:
    """A ``rawlive`` command run in a child process, its output kept for the sweep."""

    def __init__(self, *args: str, env: dict[str, str]) -> None:
        self.args = args
        self.env = env
        self.stdout = b""
        self.stderr = b""
        self.returncode: int | None = None

    async def run(self, timeout: float = 60) -> Process:
        process = await asyncio.create_subprocess_exec(
            *RAWLIVE,
            *self.args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=self.env,
        )
        self.stdout, self.stderr = await asyncio.wait_for(process.communicate(), timeout)
        self.returncode = process.returncode
        return self

    def swept(self, sweep: Sweep) -> Process:
        sweep.add(f"rawlive {' '.join(self.args)}: stdout", self.stdout)
        sweep.add(f"rawlive {' '.join(self.args)}: stderr", self.stderr)
        return self


class Servers:
    """Long-running ``rawlive`` servers; each is stopped with Ctrl-C and its output swept."""

    def __init__(self, sweep: Sweep) -> None:
        self.sweep = sweep
        self.running: list[tuple[asyncio.subprocess.Process, str, bytearray]] = []

    async def start(self, *args: str, env: dict[str, str]) -> str:
        """Start ``rawlive ARGS``; the URL it says it listens on."""
        process = await asyncio.create_subprocess_exec(
            *RAWLIVE,
            *args,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            stdin=asyncio.subprocess.DEVNULL,
            env=env,
        )
        output = bytearray()
        self.running.append((process, f"rawlive {' '.join(args)}", output))
        assert process.stderr is not None
        while True:
            line = await asyncio.wait_for(process.stderr.readline(), 20)
            assert line, f"rawlive {' '.join(args)} ended: {bytes(output).decode()}"
            output += line
            match = re.search(rb"listening on (ws://127\.0\.0\.1:\d+)", line)
            if match:
                return match.group(1).decode()

    async def stop(self) -> None:
        while self.running:
            process, name, output = self.running.pop()
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
            out, err = await asyncio.wait_for(process.communicate(), 20)
            output += err
            self.sweep.add(f"{name}: stdout", out)
            self.sweep.add(f"{name}: stderr", bytes(output))
            assert process.returncode == 0, output.decode()
            assert b"stopped" in err


@pytest.fixture
async def servers(sweep: Sweep) -> AsyncIterator[Servers]:
    started = Servers(sweep)
    try:
        yield started
    finally:
        for process, _, _ in started.running:
            if process.returncode is None:
                process.kill()
                await process.wait()


def _env(secret: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GEMINI_API_KEY", "GOOGLE_API_KEY")}
    if secret is not None:
        env["GEMINI_API_KEY"] = secret  # how `rawlive send` takes a key or token
    return env


@pytest.mark.parametrize("credential", ["api-key", "ephemeral-token"])
async def test_the_command_line_shows_the_secret_nowhere(
    tmp_path: Path,
    sweep: Sweep,
    debug_log: io.StringIO,
    servers: Servers,
    credential: str,
) -> None:
    secret, slot = CREDENTIALS[credential].secret, CREDENTIALS[credential].log_slot
    env, plain = _env(secret), _env()
    send = ["send", str(SPOKEN), "--fast", "--json", "-vv", "--timeout", "20"]
    async with Emulator(speed=0, record_dir=tmp_path / "emulator") as emulator:
        # rawlive send -> rawlive proxy --record -> the emulator
        proxy_url = await servers.start(
            "proxy",
            "-vv",
            "--listen",
            "127.0.0.1:0",
            "--upstream",
            emulator.url,
            "--record",
            str(tmp_path / "proxy"),
            env=plain,
        )
        first = await Process(
            *send,
            "--endpoint",
            proxy_url,
            "--record",
            str(tmp_path / "send.jsonl"),
            "--out",
            str(tmp_path / "reply.wav"),
            env=env,
        ).run()
        assert first.swept(sweep).returncode == 0, first.stderr.decode()
        assert _reached(emulator.connections[0], secret)
    events = [json.loads(line) for line in first.stdout.decode().splitlines()]
    assert any(e.get("event") == "turn_complete" for e in events), events

    # rawlive send -> (a proxy that captures) -> rawlive replay of that recording
    replay_url = await servers.start(
        "replay", str(tmp_path / "send.jsonl"), "--port", "0", "--speed", "0", "-vv", env=plain
    )
    async with Proxy(replay_url, record_dir=tmp_path / "capture") as capture:
        again = await Process(
            *send, "--endpoint", capture.url, "--out", str(tmp_path / "again.wav"), env=env
        ).run()
        assert again.swept(sweep).returncode == 0, again.stderr.decode()
        assert _reached(capture.connections[0], secret)

    # rawlive send --emulator: the embedded server's handshake log goes to the same stderr.
    embedded = await Process(
        *send, "--emulator", "--out", str(tmp_path / "embedded.wav"), env=env
    ).run()
    assert embedded.swept(sweep).returncode == 0, embedded.stderr.decode()
    # ... at DEBUG, the handshake as the embedded server saw it.
    assert any(
        "websockets.server: <" in line and slot in line
        for line in embedded.stderr.decode().splitlines()
    )

    # Failures: refused with 403, closed with 1008 quoting the credential, no server.
    async with Remote("403") as refused, Remote("1008") as closing:
        failures = await asyncio.gather(
            Process(*send, "--endpoint", refused.url, env=env).run(),
            Process(*send, "--endpoint", closing.url, env=env).run(),
            Process(*send, "--endpoint", f"ws://127.0.0.1:{_closed_port()}", env=env).run(),
            Process(*send, "--endpoint", "ws://127.0.0.1:1/ws#fragment", env=env).run(),
        )
        assert secret in refused.reached and secret in closing.reached
    # A connection that fails exits 3; an endpoint URL that cannot be one is bad input: 2.
    for failed, code in zip(failures, (3, 3, 3, 2), strict=True):
        assert failed.swept(sweep).returncode == code, failed.stderr.decode()
        assert b"Traceback" not in failed.stderr
    assert b"HTTP 403" in failures[0].stderr
    assert b"1008" in failures[1].stderr and b"API key not valid: <redacted>" in failures[1].stderr

    cassettes = [p for p in sweep.add_files(tmp_path) if p.suffix == ".jsonl"]
    assert len(cassettes) == 4  # send's, rawlive proxy's, the emulator's, the capture's
    audit_text, audit_json = await asyncio.gather(
        Process("audit", "--fail-on", "never", *map(str, cassettes), env=env).run(),
        Process("audit", "--json", "--fail-on", "never", *map(str, cassettes), env=env).run(),
    )
    assert audit_text.swept(sweep).returncode == 0, audit_text.stderr.decode()
    assert audit_json.swept(sweep).returncode == 0, audit_json.stderr.decode()
    assert len(json.loads(audit_json.stdout)) == len(cassettes)
    await servers.stop()
    sweep.add("log records at DEBUG (this process)", debug_log.getvalue())
    assert slot in first.stderr.decode()  # the handshake at DEBUG, redacted
    sweep.check()


# ---------------------------------------------------------------------------
# Credentials in the other slots of a handshake
# ---------------------------------------------------------------------------

SEND = ["send", str(SPOKEN), "--fast", "--json", "-vv", "--timeout", "20"]


async def test_a_credential_in_the_urls_userinfo_is_a_secret_everywhere(
    tmp_path: Path, sweep: Sweep, debug_log: io.StringIO
) -> None:
    recorded = tmp_path / "client.jsonl"
    async with Emulator(speed=0) as emulator:
        endpoint = f"ws://{USER}:{KEY}@{emulator.url.removeprefix('ws://')}"
        async with rawlive.connect(MODEL, CONFIG, endpoint=endpoint, record=recorded) as session:
            sweep.add("repr(session)", repr(session))
            sweep.add("repr(session.endpoint)", repr(session.endpoint))
            assert "received: hello" in await _turn(session)
    # websockets sends the userinfo as Basic credentials: the secret was used.
    sent = dict((k.lower(), v) for k, v in emulator.connections[0].headers)["authorization"]
    assert base64.b64decode(sent.removeprefix("Basic ")).decode() == f"{USER}:{KEY}"

    down = f"127.0.0.1:{_closed_port()}"
    error = await _fail(sweep, "unreachable", endpoint=f"ws://{USER}:{KEY}@{down}")
    assert isinstance(error, rawlive.ConnectError) and "<redacted>@" in str(error)
    error = await _fail(sweep, "invalid URL", endpoint=f"ws://{USER}:{KEY}@127.0.0.1:99999")
    assert isinstance(error, rawlive.ConfigError)
    with pytest.raises(rawlive.ConfigError) as info:
        Proxy(f"ws://{USER}:{KEY}@:8765")
    sweep.add_exception("a proxy's invalid upstream URL", info.value)
    # A proxy whose upstream is down warns, naming the upstream URL.
    async with Proxy(f"ws://{USER}:{KEY}@{down}") as proxy:
        await _fail(sweep, "through a proxy, upstream down", endpoint=proxy.url)

    report = write_report(recorded, tmp_path / "client.html")
    assert report.bytes > 0
    cassettes = [p for p in sweep.add_files(tmp_path) if p.suffix == ".jsonl"]
    sweep.add_audits(cassettes)
    log = debug_log.getvalue()
    sweep.add("log records at DEBUG", log)
    assert "cannot reach upstream ws://<redacted>@127.0.0.1:" in log
    assert '"url":"ws://<redacted>@127.0.0.1:' in recorded.read_text()
    sweep.check()


async def test_a_key_given_only_in_the_endpoint_url_is_kept_out_of_an_echoing_close_reason(
    sweep: Sweep, debug_log: io.StringIO
) -> None:
    async with Remote("1008") as remote:
        endpoint = f"{remote.url}/ws/custom?key={KEY}"
        error = await _fail(sweep, "closed (1008), key in the URL", endpoint=endpoint)
        assert isinstance(error, rawlive.LiveConnectionClosed) and error.code == 1008
        assert error.reason == "API key not valid: <redacted>"
        failed = await Process(*SEND, "--endpoint", endpoint, env=_env()).run()
        assert KEY in remote.reached
    assert failed.swept(sweep).returncode == 3, failed.stderr.decode()
    assert b"API key not valid: <redacted>" in failed.stderr
    sweep.add("log records at DEBUG", debug_log.getvalue())
    sweep.check()


_CLIENT_LOG = logging.getLogger("tests.secrets.client")
_CLIENT_LOG.propagate = False  # a foreign client: only the servers' logs are rawlive's
_CLIENT_LOG.addHandler(logging.NullHandler())
_SETUP = json.dumps({"setup": {"model": f"models/{MODEL}"}})


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        (f"?%6Bey={KEY}", []),
        (f"?%6b%65%79={KEY}&x=1", []),
        (f"?x=1&acc%65ss_token={urllib.parse.quote(TOKEN, safe='')}", []),
        (f"?%74oken={urllib.parse.quote(TOKEN, safe='')}", []),
        ("", [("x-goog-api-key", f"not-a-key, {KEY}")]),
        ("", [("x-goog-api-key", "not-a-key"), ("x-goog-api-key", KEY)]),
        ("", [("Authorization", f"Bearer not-a-token, Bearer {BEARER}")]),
        ("", [("Authorization", "Bearer not-a-token"), ("Authorization", f"Bearer {BEARER}")]),
    ],
    ids=[
        "encoded-key-name",
        "encoded-key-name-lowercase",
        "encoded-access-token-name",
        "encoded-token-name",
        "key-after-a-comma",
        "repeated-key-header",
        "bearer-after-a-comma",
        "repeated-authorization",
    ],
)
async def test_servers_logs_show_no_credential_however_the_handshake_spells_it(
    tmp_path: Path,
    sweep: Sweep,
    debug_log: io.StringIO,
    query: str,
    headers: list[tuple[str, str]],
) -> None:
    # A foreign client (not rawlive's) -> the recording proxy -> the emulator, both at -vv.
    async with (
        Emulator(speed=0, record_dir=tmp_path / "emulator") as emulator,
        Proxy(emulator.url, record_dir=tmp_path / "proxy") as proxy,
    ):
        async with websockets.connect(
            proxy.url + rawlive.wire.endpoints.gemini_path() + query,
            additional_headers=headers,
            compression=None,
            logger=_CLIENT_LOG,
        ) as ws:
            await ws.send(_SETUP)
            assert "setupComplete" in str(await ws.recv())
    handshake = [f"{k}: {v}" for k, v in emulator.connections[0].headers]
    handshake.append(urllib.parse.unquote(emulator.connections[0].path + query))
    assert any(s in line for s in (KEY, TOKEN, BEARER) for line in handshake)
    sweep.add_files(tmp_path)
    log = debug_log.getvalue()
    sweep.add("log records at DEBUG", log)
    assert "websockets.server DEBUG < GET /ws/" in log
    sweep.check()


async def test_a_key_passed_as_the_model_is_kept_out_of_the_cassette_header(
    tmp_path: Path, sweep: Sweep
) -> None:
    recorded = tmp_path / "client.jsonl"
    async with Emulator(speed=0, models=[KEY]) as emulator:
        async with rawlive.connect(
            f"models/{KEY}", CONFIG, endpoint=emulator.url, api_key=KEY, record=recorded
        ) as session:
            assert "received: hello" in await _turn(session)
    assert _reached(emulator.connections[0], KEY)
    assert read_cassette(recorded).header.model == "models/<redacted>"
    sweep.add_files(tmp_path)
    sweep.check()


def _hand_written_cassette(path: Path) -> Path:
    """A cassette holding the key as an older tool (or a hand) may have written it."""
    lines: list[dict[str, Any]] = [
        {
            "type": "header",
            "format": "rawlive-cassette",
            "version": 1,
            "rawliveVersion": "0.0.1",
            "created": "2025-06-01T12:00:00.000000Z",
            "url": f"wss://{rawlive.wire.endpoints.GEMINI_HOST}/ws/x?key={KEY}",
            "headers": [["x-goog-api-key", KEY]],
            "model": KEY,
        },
        {"type": "connect", "t": 0.0, "connection": 1, "url": f"wss://h/ws/x?key={KEY}"},
    ]
    frames = [
        ("client", {"setup": {"model": f"models/{MODEL}"}}),
        ("server", {"setupComplete": {}}),
        ("server", {"serverContent": {KEY: 1, "turnComplete": True}}),
        ("server", f'{{"broken": "{KEY}'),
    ]
    for i, (sender, payload) in enumerate(frames):
        text = payload if isinstance(payload, str) else json.dumps(payload)
        lines.append(
            {"type": "frame", "t": 0.01 * (i + 1), "connection": 1, "from": sender}
            | {"opcode": "text", "kind": frame_kind(text), "text": text}
        )
    lines.append(
        {"type": "close", "t": 1.0, "connection": 1, "code": 1008, "reason": f"bad key {KEY}"}
    )
    lines.append({"type": "end", "t": 1.0})
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))
    return path


async def test_audit_redacts_a_secret_a_cassette_already_holds_as_the_report_does(
    tmp_path: Path, sweep: Sweep
) -> None:
    cassette = _hand_written_cassette(tmp_path / "old.jsonl")
    other = _hand_written_cassette(tmp_path / "other.jsonl")
    report = audit_cassette(cassette)
    # The audit saw the secret (in the close reason, the unknown key, the model)...
    assert any("bad key <redacted>" in f.message for f in report.findings)
    assert report.model == "<redacted>"
    sweep.add("audit", report.render())
    sweep.add("audit --json", json.dumps(report.to_builtins()))
    sweep.add("audit findings", repr(report))
    sweep.add("report page", render_report(cassette))
    env = _env()
    for args in (
        ["audit", "--fail-on", "never", str(cassette)],
        ["audit", "--json", "--fail-on", "never", str(cassette)],
        ["audit", "--diff", str(cassette), str(other)],
        ["audit", "--diff", "--json", str(cassette), str(other)],
    ):
        done = await Process(*args, env=env).run()
        assert done.swept(sweep).returncode in (0, 1), done.stderr.decode()
        assert b"Traceback" not in done.stderr
    sweep.check()


# ---------------------------------------------------------------------------
# No credential in clear over the network
# ---------------------------------------------------------------------------

#: TEST-NET-1 (RFC 5737), documentation only: never dialled by these tests, and
#: the refusal must come before any attempt.
ELSEWHERE = "192.0.2.1:9"


@pytest.fixture
def dialled(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Every connection attempt, each refused: websockets' dial, and any socket not loopback."""
    attempts: list[object] = []

    async def no_dial(*args: object, **kwargs: object) -> None:
        attempts.append(args)
        raise OSError("this test dials nothing")

    real_connect = socket.socket.connect

    def loopback_only(self: socket.socket, address: Any) -> None:
        if isinstance(address, tuple) and not ipaddress.ip_address(address[0]).is_loopback:
            attempts.append(address)
            raise OSError(f"this test never connects to {address[0]}")
        real_connect(self, address)

    monkeypatch.setattr(websockets, "connect", no_dial)
    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    return attempts


@pytest.mark.parametrize(
    ("options", "env"),
    [
        ({"api_key": KEY}, {}),
        ({}, {"GEMINI_API_KEY": KEY}),
        ({}, {"GOOGLE_API_KEY": KEY}),
        ({"api_key": TOKEN}, {}),
        ({"vertex": True, "access_token": BEARER, "location": "us-central1"}, {}),
        ({"headers": {"Authorization": f"Bearer {BEARER}"}}, {}),
        ({"endpoint": f"ws://{ELSEWHERE}/ws/custom?key={KEY}"}, {}),
        ({"endpoint": f"ws://{USER}:{KEY}@{ELSEWHERE}"}, {}),
        ({"endpoint": f"http://{ELSEWHERE}"}, {"GEMINI_API_KEY": KEY}),
    ],
    ids=[
        "api-key",
        "GEMINI_API_KEY",
        "GOOGLE_API_KEY",
        "ephemeral-token",
        "vertex-oauth",
        "authorization-header",
        "key-in-the-url",
        "userinfo",
        "http-url",
    ],
)
async def test_no_credential_goes_over_plain_ws_to_a_host_not_loopback(
    sweep: Sweep,
    dialled: list[object],
    monkeypatch: pytest.MonkeyPatch,
    options: dict[str, Any],
    env: dict[str, str],
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    options = {"endpoint": f"ws://{ELSEWHERE}", **options}
    error = await asyncio.wait_for(_fail(sweep, "plain ws:// elsewhere", **options), 5)
    assert dialled == []
    assert isinstance(error, rawlive.ConfigError)
    message = str(error)
    assert "plain ws://" in message and "wss://" in message and "\n" not in message
    assert "192.0.2.1" in message
    sweep.check()


def test_rawlive_send_refuses_a_key_for_plain_ws_elsewhere_before_dialling(
    tmp_path: Path, sweep: Sweep, dialled: list[object]
) -> None:
    from click.testing import CliRunner

    from rawlive.cli import main

    result = CliRunner().invoke(
        main,
        [*SEND, "--endpoint", f"ws://{ELSEWHERE}", "--out", str(tmp_path / "reply.wav")],
        env={"GEMINI_API_KEY": KEY, "GOOGLE_API_KEY": None},
    )
    sweep.add("rawlive send: output", result.output)
    assert dialled == []
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and "wss://" in result.output
    assert "GEMINI_API_KEY" in result.output  # how to proceed without it
    sweep.check()


async def test_the_proxy_forwards_no_credential_in_clear_to_a_host_not_loopback(
    sweep: Sweep, dialled: list[object], debug_log: io.StringIO, tmp_path: Path
) -> None:
    from websockets.asyncio.client import connect as dial  # not the patched websockets.connect

    # This raw client logs its own handshake, key included: not rawlive's output.
    client_log = logging.getLogger("tests.raw-client")
    client_log.propagate = False
    async with Proxy(f"ws://{ELSEWHERE}", record_dir=tmp_path) as proxy:
        async with dial(
            proxy.url + f"/ws/custom?key={KEY}",
            additional_headers={"x-goog-api-key": KEY},
            logger=client_log,
        ) as client:
            with pytest.raises(websockets.ConnectionClosed) as closed:
                await asyncio.wait_for(client.recv(), 5)
        assert dialled == []  # refused before anything was dialled
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1008
        assert "plain ws://" in closed.value.rcvd.reason
        # A client without credentials is forwarded as ever (here: dialling is refused).
        async with dial(proxy.url + "/ws/custom", logger=client_log) as client:
            with pytest.raises(websockets.ConnectionClosed):
                await asyncio.wait_for(client.recv(), 5)
        assert len(dialled) == 1
    log = debug_log.getvalue()
    assert "refusing connection 1" in log and "192.0.2.1" in log
    sweep.add("debug log", log)
    sweep.add_files(tmp_path)
    sweep.check()


def test_a_proxy_upstream_holding_a_credential_in_clear_elsewhere_is_refused(
    sweep: Sweep,
) -> None:
    for upstream in (f"ws://{USER}:{KEY}@{ELSEWHERE}", f"ws://{ELSEWHERE}/ws?key={KEY}"):
        with pytest.raises(rawlive.ConfigError, match=r"plain ws://.*wss://") as refused:
            Proxy(upstream)
        sweep.add_exception(upstream.split("/")[2][-12:], refused.value)
    Proxy(f"ws://127.0.0.1:9/ws?key={KEY}")  # loopback: nothing goes over the network
    Proxy(f"wss://{USER}:{KEY}@{ELSEWHERE}")
    sweep.check()
