"""The ``rawlive`` command line: a click group; each use adds its command here.

Commands stay thin: they parse options, call the library and print. Logic a
library user would need lives in the library, not here. A user's mistake
ends with a one-line message and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import sys
import time
import warnings
from collections.abc import Hashable
from typing import Any, NoReturn

import click

from rawlive._version import __version__
from rawlive.core.models import RECOMMENDED
from rawlive.core.watchdog import StallPolicy
from rawlive.errors import ConfigError, RawliveError, SessionStalled

EXIT_BAD_INPUT = 2
EXIT_CONNECTION = 3
#: ``rawlive send``: the session stalled and was not resumed.
EXIT_STALLED = 4
#: ``rawlive serve --workers``: a worker died while serving.
EXIT_WORKER_DIED = 5


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> NoReturn:
    click.echo(f"rawlive: {message}", err=True)
    raise SystemExit(code)


def _server_tls(certfile: str | None, keyfile: str | None) -> Any:
    """The TLS context for --certfile/--keyfile (``None``: plain ws://); bad ones exit 2."""
    if certfile is None:
        if keyfile is not None:
            _fail("--keyfile needs --certfile")
        return None
    from rawlive.servers.base import server_ssl_context

    try:
        return server_ssl_context(certfile, keyfile)
    except (OSError, ValueError) as exc:
        _fail(f"cannot load the certificate {certfile}: {exc}")


def _guard_options(command: Any) -> Any:
    """The options every server command has: --setup-timeout and --allow-origin."""
    command = click.option(
        "--allow-origin",
        "allow_origins",
        multiple=True,
        metavar="ORIGIN",
        help="Also accept browser pages of this origin, e.g. https://app.example "
        "(repeatable; * for any). Local pages and non-browser clients always are.",
    )(command)
    return click.option(
        "--setup-timeout",
        default=30.0,
        show_default=True,
        type=float,
        help="Close a connection that sends no setup within this many seconds (0: never).",
    )(command)


def _guards(setup_timeout: float, allow_origins: tuple[str, ...]) -> dict[str, Any]:
    """The server options of --setup-timeout and --allow-origin; bad ones exit 2."""
    from rawlive.servers.base import check_origin

    if not setup_timeout >= 0:
        _fail("--setup-timeout must not be negative (0: no timeout)")
    try:
        origins = [check_origin(origin) for origin in allow_origins]
    except ConfigError as exc:
        _fail(f"--allow-origin: {exc}")
    return {"setup_timeout": setup_timeout or None, "allow_origins": origins}


#: ``--findings-per-rule`` of audit and proxy --audit (the default is
#: rawlive.tools.audit.MAX_FINDINGS_PER_RULE, not imported here to keep startup quick).
_findings_per_rule_option = click.option(
    "--findings-per-rule",
    default=20,
    show_default=True,
    type=int,
    help="Show and keep this many findings of each rule; count the rest (0: no limit).",
)


#: ``--stall-after`` of audit and proxy --audit (the default is
#: rawlive.core.watchdog.StallPolicy().first_reply, not imported here to keep startup quick).
_stall_after_option = click.option(
    "--stall-after",
    default=15.0,
    show_default=True,
    type=float,
    metavar="SECONDS",
    help="stalled-turn: a due reply that has not begun after this long is a stall "
    "(a reply that stops midway: after 5 s).",
)


def _stall_policy(stall_after: float) -> Any:
    """The audit's StallPolicy for --stall-after; one not above 0 exits 2."""
    from rawlive.core.watchdog import StallPolicy

    if not stall_after > 0:
        _fail(f"--stall-after must be a positive number of seconds, not {stall_after:g}")
    return StallPolicy(first_reply=stall_after)


def _per_rule(findings_per_rule: int) -> int | None:
    """The auditor's ``max_per_rule`` for --findings-per-rule; a negative one exits 2."""
    if findings_per_rule < 0:
        _fail("--findings-per-rule must not be negative (0: no limit)")
    return findings_per_rule or None


def _load_script(path: str | None) -> Any:
    """The emulator script at ``path`` (``None``: none); a bad one ends with exit 2."""
    if path is None:
        return None
    from rawlive.servers.emulator.script import load_script

    try:
        return load_script(path)
    except RawliveError as exc:
        _fail(str(exc))


async def _serve_until_stopped(server: Any, name: str, host: str, port: int) -> None:
    """Start a rawlive server, say where it listens, and run it until Ctrl-C or SIGTERM."""
    try:
        await server.start()
    except OSError as exc:
        _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_CONNECTION)
    click.echo(f"{name} listening on {server.url} (Ctrl-C to stop)", err=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    await server.stop()


async def _serve_workers(count: int, verbose: int, options: dict[str, Any]) -> int:
    """``serve --workers``: start them, say where they listen, run until Ctrl-C or SIGTERM
    (or until every worker has died); the number of workers that died."""
    from rawlive.servers.emulator.workers import WorkerDeath, WorkerFailed, Workers

    def died(death: WorkerDeath) -> None:
        left = count - len(workers.deaths)
        click.echo(f"rawlive: {death.describe()}; {left} of {count} still serving", err=True)

    try:
        workers = Workers(count, log_level=_log_level(verbose), on_death=died, **options)
    except ConfigError as exc:
        _fail(str(exc))
    try:
        await workers.start()
    except WorkerFailed as exc:
        _fail(str(exc), EXIT_CONNECTION)
    pids = ", ".join(str(pid) for pid in workers.pids)
    click.echo(
        f"rawlive emulator listening on {workers.url} "
        f"({count} workers, pids {pids}; Ctrl-C to stop)",
        err=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    waits = [asyncio.create_task(stop.wait()), asyncio.create_task(workers.all_dead.wait())]
    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    for wait in waits:
        wait.cancel()
    await workers.stop()
    return len(workers.deaths)


def _log_level(verbose: int) -> int:
    return logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG


def _logging(verbose: int) -> None:
    logging.basicConfig(
        level=_log_level(verbose), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="rawlive")
def main() -> None:
    """Speak the Gemini Live API directly over a WebSocket."""


@main.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0: any free one).")
@click.option(
    "--script",
    "script_path",
    type=click.Path(dir_okay=False),
    help="Replies, tool calls and faults, turn by turn (TOML or JSON).",
)
@click.option("--certfile", type=click.Path(dir_okay=False), help="PEM certificate: serve wss://.")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="PEM key for --certfile.")
@click.option("--strict", is_flag=True, help="Also enforce reported, undocumented closes.")
@click.option("--model", "models", multiple=True, help="Accept this model id too (repeatable).")
@click.option(
    "--connection-lifetime", type=float, help="Seconds before a connection ends (goAway first)."
)
@click.option(
    "--goaway-lead", type=float, default=60.0, show_default=True, help="goAway this early (s)."
)
@click.option(
    "--lifetime-close",
    type=click.Choice(["normal", "deadline"]),
    default="normal",
    show_default=True,
    help="How --connection-lifetime ends a connection: a normal close, or 1011 'Deadline "
    "expired...' as reported for 3.8 at 58:00 (goAway first only if --goaway-lead > 0).",
)
@click.option(
    "--session-limit",
    type=float,
    help="Seconds before a session ends for good (default: the model's own limit, if any).",
)
@click.option("--speed", type=float, help="Reply audio pacing: 1 real time, 0 unpaced.")
@click.option("--frames", type=click.Choice(["text", "binary"]), help="Opcode of server frames.")
@click.option("--pretty", is_flag=True, default=None, help="Pretty-print server JSON.")
@click.option(
    "--max-sessions",
    type=click.IntRange(min=0),
    help="Refuse a session beyond this many concurrent ones (quota).",
)
@click.option(
    "--quota-style",
    type=click.Choice(["close", "http"]),
    default="close",
    show_default=True,
    help="How --max-sessions refuses: close 1011 RESOURCE_EXHAUSTED after the upgrade, "
    "or HTTP 429 instead of it.",
)
@click.option(
    "--seed",
    type=int,
    help="Seed of the script's turn-fault probabilities (default: the script's seed, else 0).",
)
@click.option(
    "--workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="Processes serving the port (SO_REUSEPORT; a handle resumes on any of them). "
    "--max-sessions holds for each.",
)
@click.option(
    "--stats",
    "stats_path",
    type=click.Path(dir_okay=False, writable=True),
    help="Write what the emulator saw (JSON: sessions, turns, audio, close codes, "
    "reply latency percentiles) here, every --stats-interval and at exit.",
)
@click.option(
    "--stats-interval",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Seconds between two writes of --stats.",
)
@_guard_options
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def serve(
    host: str,
    port: int,
    script_path: str | None,
    certfile: str | None,
    keyfile: str | None,
    strict: bool,
    models: tuple[str, ...],
    connection_lifetime: float | None,
    goaway_lead: float,
    lifetime_close: str,
    session_limit: float | None,
    speed: float | None,
    frames: str | None,
    pretty: bool | None,
    max_sessions: int | None,
    quota_style: str,
    seed: int | None,
    workers: int,
    stats_path: str | None,
    stats_interval: float,
    setup_timeout: float,
    allow_origins: tuple[str, ...],
    verbose: int,
) -> None:
    """Run the local Live API emulator until Ctrl-C.

    It serves the Gemini API paths (v1alpha, v1beta, v1; BidiGenerateContent
    and ...Constrained) and Vertex AI's LlmBidiService path, each answered
    in its backend's shape. Point a client at
    it with endpoint="ws://HOST:PORT" (rawlive) or
    http_options={"base_url": "https://HOST:PORT"} with --certfile (the SDK).
    With --workers N, N processes serve the port.
    """
    _logging(verbose)
    from rawlive.servers.emulator import Emulator

    script = _load_script(script_path)
    context = _server_tls(certfile, keyfile)
    guards = _guards(setup_timeout, allow_origins)
    if stats_path is not None:
        _check_stats_path(stats_path)
    options: dict[str, Any] = dict(
        host=host,
        port=port,
        script=script,
        models=models,
        strict=strict,
        connection_lifetime=connection_lifetime,
        goaway_lead=goaway_lead,
        lifetime_close=lifetime_close,
        session_limit=session_limit,
        speed=speed,
        frames=frames,
        pretty=pretty,
        max_sessions=max_sessions,
        quota_style=quota_style,
        seed=seed,
        stats_path=stats_path,
        stats_interval=stats_interval,
        **guards,
    )
    if workers > 1:
        died = asyncio.run(
            _serve_workers(workers, verbose, {**options, "certfile": certfile, "keyfile": keyfile})
        )
        if died:
            click.echo(f"rawlive emulator stopped ({died} of {workers} workers died)", err=True)
            raise SystemExit(EXIT_WORKER_DIED)
        click.echo("rawlive emulator stopped", err=True)
        return
    try:
        emulator = Emulator(ssl=context, **options)
    except ConfigError as exc:
        _fail(str(exc))
    asyncio.run(_serve_until_stopped(emulator, "rawlive emulator", host, port))
    click.echo("rawlive emulator stopped", err=True)


def _check_stats_path(path: str) -> None:
    """--stats must name a file in a folder that exists; otherwise exit 2 now, not at the end."""
    import os

    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder) or not os.access(folder, os.W_OK):
        _fail(f"--stats {path}: cannot write in {folder}")


@main.command()
@click.argument("cassette", type=click.Path(dir_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8765, show_default=True, type=int, help="Port (0: any free one).")
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=float,
    help="Timing: 1 as recorded, 2 twice as fast, 0 at once.",
)
@click.option(
    "--policy",
    default="semantic",
    show_default=True,
    help="How client frames are matched: semantic (ids, audio chunking free) or strict.",
)
@click.option("--certfile", type=click.Path(dir_okay=False), help="PEM certificate: serve wss://.")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="PEM key for --certfile.")
@_guard_options
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def replay(
    cassette: str,
    host: str,
    port: int,
    speed: float,
    policy: str,
    certfile: str | None,
    keyfile: str | None,
    setup_timeout: float,
    allow_origins: tuple[str, ...],
    verbose: int,
) -> None:
    """Serve a recorded CASSETTE to any Live API client until Ctrl-C.

    Each client connection gets the next recorded one; each client message
    must match the next recorded one under --policy, and the server messages
    recorded after it are sent back. A mismatch closes with 1008 and a reason
    naming the first difference (the diff is logged with -v, and the latest
    100 mismatches are printed at the end).
    """
    _logging(verbose)
    from rawlive.cassette import TruncatedCassetteWarning
    from rawlive.servers.replay import MATCHERS, ReplayServer

    if policy not in MATCHERS:
        _fail(f"unknown --policy {policy!r} (known: {', '.join(sorted(MATCHERS))})")
    if speed < 0:
        _fail("--speed must not be negative")
    context = _server_tls(certfile, keyfile)
    guards = _guards(setup_timeout, allow_origins)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", TruncatedCassetteWarning)
            server = ReplayServer(
                cassette,
                host=host,
                port=port,
                ssl=context,
                policy=policy,
                speed=speed,
                **guards,
            )
    except RawliveError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {cassette}: {exc.strerror or exc}")
    for warning in caught:
        if isinstance(warning.message, TruncatedCassetteWarning):
            frames = len(server.cassette.frames())
            click.echo(
                f"warning: {cassette}: last line cut off at byte {warning.message.offset}; "
                f"replaying the {frames} frames before it",
                err=True,
            )
        else:
            warnings.showwarning(
                warning.message, warning.category, warning.filename, warning.lineno
            )

    asyncio.run(_serve_until_stopped(server, "rawlive replay", host, port))
    if server.mismatch_count > len(server.mismatches):
        click.echo(f"{server.mismatch_count} mismatches; the latest follow:", err=True)
    for mismatch in server.mismatches:
        click.echo(str(mismatch), err=True)
    click.echo(f"rawlive replay stopped ({len(server.remaining())} frames unused)", err=True)


@main.command()
@click.option(
    "--listen",
    default="127.0.0.1:8766",
    show_default=True,
    help="HOST:PORT to listen on (port 0: any free one).",
)
@click.option("--upstream", required=True, help="ws:// or wss:// URL of the Live API server.")
@click.option(
    "--record",
    "record_dir",
    type=click.Path(file_okay=False),
    help="Record each connection to DIR/connection-NNNN.jsonl (secrets redacted).",
)
@click.option("--certfile", type=click.Path(dir_okay=False), help="PEM certificate: serve wss://.")
@click.option("--keyfile", type=click.Path(dir_okay=False), help="PEM key for --certfile.")
@click.option(
    "--upstream-ca-file",
    type=click.Path(dir_okay=False),
    help="CA to trust for a wss:// --upstream.",
)
@click.option(
    "--audit",
    "live_audit",
    is_flag=True,
    help="Audit each connection live: print findings as they happen and a summary at its end.",
)
@_findings_per_rule_option
@_stall_after_option
@click.option(
    "--stall-timeout",
    type=float,
    default=60.0,
    show_default=True,
    help="Drop both sides when one takes no frame for this long (s; 0: wait for ever).",
)
@_guard_options
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def proxy(
    listen: str,
    upstream: str,
    record_dir: str | None,
    certfile: str | None,
    keyfile: str | None,
    upstream_ca_file: str | None,
    live_audit: bool,
    findings_per_rule: int,
    stall_after: float,
    stall_timeout: float,
    setup_timeout: float,
    allow_origins: tuple[str, ...],
    verbose: int,
) -> None:
    """Forward Live API clients to --upstream unchanged, recording each connection.

    Every frame goes through as it came (opcode and bytes), closes keep
    their code and reason both ways. A client dialling ws://HOST:PORT/PATH
    reaches UPSTREAM/PATH when --upstream has no path. For the official
    Python SDK, serve wss:// (--certfile for 127.0.0.1) and run it with
    SSL_CERT_FILE=CA.pem and http_options={"base_url": "https://HOST:PORT"}.
    """
    _logging(verbose)
    from rawlive.servers.proxy import Proxy

    host, sep, port_text = listen.rpartition(":")
    if not sep or not port_text.isdigit():
        _fail(f"--listen must be HOST:PORT, got {listen!r}")
    host = host.strip("[]") or "127.0.0.1"
    port = int(port_text)
    context = _server_tls(certfile, keyfile)
    guards = _guards(setup_timeout, allow_origins)
    if stall_timeout < 0:
        _fail("--stall-timeout must not be negative (0: wait for ever)")
    hooks: dict[str, Any] = {}
    if live_audit:
        hooks = _live_audit_hooks(_per_rule(findings_per_rule), _stall_policy(stall_after))
    try:
        server = Proxy(
            upstream,
            upstream_ca_file=upstream_ca_file,
            host=host,
            port=port,
            ssl=context,
            record_dir=record_dir,
            stall_timeout=stall_timeout or None,
            **guards,
            **hooks,
        )
    except RawliveError as exc:
        _fail(str(exc))

    asyncio.run(_serve_until_stopped(server, "rawlive proxy", host, port))
    click.echo(f"rawlive proxy stopped ({server.accepted} connections)", err=True)


def _live_audit_hooks(max_per_rule: int | None, stall: Any = None) -> dict[str, Any]:
    """A proxy's hooks printing each connection's findings live and a summary at its end."""
    from rawlive.servers.base import ConnectionEnd
    from rawlive.tools.audit import Finding, LiveAudit, Report

    def show(number: Hashable, finding: Finding) -> None:
        when = "" if finding.t is None else f" t={finding.t:.3f}"
        if finding.lost is not None:
            when += f" lost={finding.lost:.3f}"
        text = f"[conn {number}] {finding.severity} {finding.rule} ({finding.section}){when}: "
        click.echo(text + finding.message)

    def limit(number: Hashable, rule: str, shown: int) -> None:
        click.echo(
            f"[conn {number}] further {rule} findings are counted, not shown (first {shown})"
        )

    def summary(number: Hashable, report: Report, end: ConnectionEnd) -> None:
        m = report.metrics
        first = m.latencies()["first_reply_audio"]
        latency = "" if first is None else f", first reply audio p50 {first['p50']:.3f} s"
        counts = ", ".join(f"{report.count(s)} {s}" for s in ("error", "warning", "info"))
        hidden = report.not_shown()
        if hidden:
            counts += " (not shown: " + ", ".join(f"{n} {r}" for r, n in hidden.items()) + ")"
        if m.time_lost:
            counts += "; time lost: " + ", ".join(
                f"{rule} {seconds:.1f} s" for rule, seconds in sorted(m.time_lost.items())
            )
        by = f" by {end.by}" if end.by else ""
        click.echo(
            f"[conn {number}] closed {end.code}{by} after {end.time:.1f} s: "
            f"{len(m.turns)} turns{latency}, audio in {m.audio_in_seconds:.1f} s, "
            f"out {m.audio_out_seconds:.1f} s; findings {counts}"
        )

    policy = {} if stall is None else {"stall": stall}
    audit = LiveAudit(show, on_end=summary, on_limit=limit, max_per_rule=max_per_rule, **policy)
    return {"on_frame": audit.on_frame, "on_close": audit.on_close}


@main.command()
@click.argument("cassettes", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the reports as JSON.")
@click.option(
    "--fail-on",
    type=click.Choice(["warning", "error", "never"]),
    default="error",
    show_default=True,
    help="Exit 1 when a finding is at least this severe.",
)
@click.option(
    "--diff",
    "diff",
    is_flag=True,
    help="Compare two sessions A B: message kinds, field sets, findings and latencies. "
    "Exit 1 when kinds appeared or vanished or the field sets differ.",
)
@click.option(
    "--model",
    metavar="MODEL",
    help="Judge a session by this model's row of the model table when neither its setup "
    "nor the cassette's header names a model.",
)
@_findings_per_rule_option
@_stall_after_option
def audit(
    cassettes: tuple[str, ...],
    as_json: bool,
    fail_on: str,
    diff: bool,
    model: str | None,
    findings_per_rule: int,
    stall_after: float,
) -> None:
    """Check recorded sessions against the protocol rules; print findings and metrics.

    With --diff, CASSETTES are two sessions A B, and what changed from A to B
    is printed instead.
    """
    from rawlive.tools.audit import audit_cassette, diff_reports
    from rawlive.tools.audit.render import json_text

    max_per_rule = _per_rule(findings_per_rule)
    stall = _stall_policy(stall_after)
    if diff and len(cassettes) != 2:
        _fail(f"--diff compares two cassettes, A and B; {len(cassettes)} given")
    reports = []
    for path in cassettes:
        try:
            reports.append(
                audit_cassette(path, max_per_rule=max_per_rule, model=model, stall=stall)
            )
        except RawliveError as exc:
            _fail(str(exc))
        except OSError as exc:
            _fail(f"cannot read {path}: {exc.strerror or exc}")
    if diff:
        changes = diff_reports(reports[0], reports[1])
        click.echo(changes.to_json() if as_json else changes.render())
        raise SystemExit(1 if changes.structure_changed else 0)
    if as_json:
        click.echo(json_text([r.document() for r in reports]))
    else:
        click.echo("\n\n".join(r.render() for r in reports))
    if fail_on != "never" and any(
        r.fails("error" if fail_on == "error" else "warning") for r in reports
    ):
        raise SystemExit(1)


#: The model Google recommends today (PROTOCOL.md §10.1).
def _target(
    endpoint: str | None,
    emulator: bool,
    emulator_script: str | None,
    api_version: str | None,
    tools_path: str | None,
) -> tuple[Any, Any]:
    """``send``'s and ``probe``'s emulator script and tools file, loaded; with
    neither --endpoint nor --emulator, an API key must be there (else exit 2)."""
    from rawlive.tools.send import load_tools
    from rawlive.wire import endpoints

    script = _load_script(emulator_script)
    tools = None
    if tools_path is not None:
        try:
            tools = load_tools(tools_path)
        except RawliveError as exc:
            _fail(str(exc))
    if not endpoint and not emulator:
        try:
            endpoints.resolve(api_version=api_version)
        except RawliveError:
            _fail(
                "no API key: set GEMINI_API_KEY (or GOOGLE_API_KEY) to a Gemini API key, "
                "pass --endpoint ws://HOST:PORT for a Live API server, or --emulator to use "
                "rawlive's local emulator"
            )
    return script, tools


DEFAULT_MODEL = RECOMMENDED


class _Printer:
    """Live output of ``rawlive send``: transcripts on stdout, progress on stderr.

    A Transcribe Live model's interim transcripts (each the whole utterance
    so far, PROTOCOL.md §10.8) overwrite one status line when ``interim``
    (stdout is a terminal); each final is printed once on its own line.
    """

    def __init__(self, *, as_json: bool, progress: bool, interim: bool = False) -> None:
        self.as_json = as_json
        self.progress = progress
        self.interim = interim
        self._progress_shown = False
        self._interim_shown = False

    def __call__(self, event: Any) -> None:
        if self.as_json:
            if event.kind != "progress":
                click.echo(event.to_json())
            return
        if event.kind == "progress":
            if self.progress:
                sent, total = event.fields["sent"], max(event.fields["total"], 1e-9)
                width = 30
                filled = min(width, round(width * sent / total))
                bar = "#" * filled + "." * (width - filled)
                click.echo(f"\r[{bar}] {sent:6.1f} / {total:.1f} s", nl=False, err=True)
                self._progress_shown = True
            return
        self._end_progress()
        fields = event.fields
        if event.kind == "interim_transcription":
            if self.interim:
                click.echo(f"\r\x1b[K{fields['text']}", nl=False)
                self._interim_shown = True
            return
        if event.kind in ("generation_complete", "video", "skipped", "frame"):
            return
        self._end_interim()
        if event.kind == "transcript":
            click.echo(fields["text"])
        elif event.kind == "input_transcription":
            click.echo(f"you:   {fields['text']}")
        elif event.kind == "output_transcription":
            click.echo(f"model: {fields['text']}")
        elif event.kind == "text":
            click.echo(f"text:  {fields['text']}")
        elif event.kind == "tool_call":
            args = json.dumps(fields.get("args") or {})
            click.echo(f"tool call:     {fields['name']}({args}) id={fields['id']}")
        elif event.kind == "tool_response":
            click.echo(f"tool response: {fields['name']} -> {json.dumps(fields['response'])}")
        elif event.kind == "interrupted":
            click.echo("(interrupted)")
        elif event.kind == "go_away":
            click.echo(f"(goAway: {fields['time_left']} s left)", err=True)
        elif event.kind == "stalled":
            due = f" after {fields['reason']}" if fields.get("reason") else ""
            click.echo(
                f"(stalled: {fields['kind']}, waited {fields['waited']:.1f} s{due}; resuming)",
                err=True,
            )
        elif event.kind == "resumed":
            click.echo(f"(session resumed after {fields['reason']})", err=True)

    def _end_interim(self) -> None:
        """Clear the interim status line (its final replaces it)."""
        if self._interim_shown:
            click.echo("\r\x1b[K", nl=False)
            self._interim_shown = False

    def _end_progress(self) -> None:
        if self._progress_shown:
            click.echo(err=True)
            self._progress_shown = False

    def summary(self, summary: Any) -> None:
        self._end_progress()
        self._end_interim()
        if self.as_json:
            click.echo(summary.to_json())
        else:
            click.echo("")
            for line in summary.lines():
                click.echo(line)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Live model.")
@click.option("--system", help="System instruction.")
@click.option("--voice", help="Prebuilt voice name (e.g. Kore, Puck).")
@click.option(
    "--target-language",
    metavar="CODE",
    help="With a translation model: the language to translate into (BCP-47, e.g. pl).",
)
@click.option("--prompt", help="Text context sent before the audio (no reply of its own).")
@click.option(
    "--out",
    default="reply.wav",
    show_default=True,
    type=click.Path(dir_okay=False),
    help="Where to write the reply audio (24 kHz mono WAV).",
)
@click.option(
    "--save-video",
    type=click.Path(dir_okay=False),
    help="Write the reply's video parts (a Vertex live avatar's fragmented MP4) here.",
)
@click.option("--record", type=click.Path(dir_okay=False), help="Record the session (JSONL).")
@click.option("--endpoint", help="ws:// or wss:// URL of a Live API server.")
@click.option("--emulator", is_flag=True, help="Run the local emulator in-process and use it.")
@click.option(
    "--emulator-script",
    type=click.Path(dir_okay=False),
    help="With --emulator: what it answers (see rawlive serve --script).",
)
@click.option("--api-version", help="API version (default v1beta).")
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA to trust for a wss:// server.")
@click.option(
    "--fps",
    default=1.0,
    show_default=True,
    help="Video frames sent per second of a video FILE (at most 1, the API's limit).",
)
@click.option(
    "--max-size",
    default=768,
    show_default=True,
    help="Scale video frames to fit this many pixels square (768: the API's recommendation).",
)
@click.option("--no-video", is_flag=True, help="Send a video FILE's audio only.")
@click.option(
    "--image",
    "images",
    multiple=True,
    metavar="PATH[@SECONDS]",
    help="A JPEG or PNG (or a folder of them) to send before the audio, or at SECONDS "
    "into it. Repeatable.",
)
@click.option("--chunk-ms", default=40.0, show_default=True, help="Audio chunk length.")
@click.option("--speed", default=1.0, show_default=True, help="Upload pacing (1.0 real time).")
@click.option("--fast", is_flag=True, help="Upload as fast as possible (no pacing).")
@click.option("--tail-silence", default=0.0, show_default=True, help="Silence appended (s).")
@click.option("--manual-vad", is_flag=True, help="Send activityStart/activityEnd yourself.")
@click.option("--tools", "tools_path", type=click.Path(dir_okay=False), help="Tools JSON.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per event on stdout.")
@click.option(
    "--timeout", default=60.0, show_default=True, help="Give up after this long with no reply (s)."
)
@click.option(
    "--stall-after",
    default=StallPolicy().first_reply,
    show_default=True,
    help="A reply due and nothing of it for this long is a stall (s).",
)
@click.option(
    "--stall-gap",
    default=StallPolicy().gap,
    show_default=True,
    help="A reply that stops for this long midway is a stall (s).",
)
@click.option("--no-watchdog", is_flag=True, help="Do not watch for stalls.")
@click.option(
    "--no-resume", is_flag=True, help="No session resumption: a drop or a stall ends the run."
)
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def send(
    file: str,
    model: str,
    system: str | None,
    voice: str | None,
    target_language: str | None,
    prompt: str | None,
    out: str,
    save_video: str | None,
    record: str | None,
    endpoint: str | None,
    emulator: bool,
    emulator_script: str | None,
    api_version: str | None,
    ca_file: str | None,
    fps: float,
    max_size: int,
    no_video: bool,
    images: tuple[str, ...],
    chunk_ms: float,
    speed: float,
    fast: bool,
    tail_silence: float,
    manual_vad: bool,
    tools_path: str | None,
    as_json: bool,
    timeout: float,
    stall_after: float,
    stall_gap: float,
    no_watchdog: bool,
    no_resume: bool,
    verbose: int,
) -> None:
    """Stream an audio or video FILE to the Live API and save the spoken reply.

    Any file soundfile reads (WAV, FLAC, OGG, ...; any rate and channels) is
    sent as 16 kHz mono chunks in real time; with the media extra (PyAV) any
    other container too (m4a, webm, mp4, mov, mkv, mp3). A video's frames go
    out as JPEG at --fps, fitted to --max-size, with the audio of their time;
    --image sends still pictures. Transcripts are printed as they
    arrive; the reply audio goes to --out. With no API key (GEMINI_API_KEY)
    and no --endpoint, use --emulator to run against the local emulator.

    A Transcribe Live model (gemini-3.5-transcribe-live) answers in text:
    its final transcripts are printed one per line (interim ones overwrite a
    status line on a terminal) and no WAV is written. A translation model
    (gemini-3.5-live-translate-preview) speaks the translation into
    --target-language, with both transcripts. Video parts (a Vertex live
    avatar) go to --save-video, never into the WAV.
    """
    _logging(verbose)
    from rawlive import files
    from rawlive.media import audio, container
    from rawlive.tools.send import ReplyTimeout, build_config, transcribes

    # A transcribe model answers in text (PROTOCOL.md §10.8): no reply WAV.
    transcribe = transcribes(model)
    reply_out = None if transcribe else out
    out_given = click.get_current_context().get_parameter_source("out") not in (
        click.core.ParameterSource.DEFAULT,
        None,
    )
    if endpoint and emulator:
        _fail("give either --endpoint or --emulator, not both")
    if chunk_ms <= 0 or speed < 0 or tail_silence < 0 or timeout <= 0:
        _fail("--chunk-ms and --timeout must be positive, --speed and --tail-silence not negative")
    if not (stall_after > 0 and stall_gap > 0):
        _fail("--stall-after and --stall-gap must be positive")
    watchdog = None if no_watchdog else StallPolicy(first_reply=stall_after, gap=stall_gap)
    try:
        files.check_outputs(
            {
                "FILE": file,
                "--tools": tools_path,
                "--emulator-script": emulator_script,
                "--ca-file": ca_file,
            },
            {"--out": reply_out, "--save-video": save_video, "--record": record},
        )
    except ConfigError as exc:
        _fail(str(exc))
    if not 0 < fps <= container.MAX_FPS:
        _fail("--fps must be above 0 and at most 1: the Live API takes at most one frame a second")
    if max_size < 16:
        _fail("--max-size must be 16 pixels or more")
    try:
        info = container.media_info(file)
        stills = container.load_images(images)
    except audio.AudioFileError as exc:
        _fail(str(exc))
    if not info.has_audio and (no_video or not info.has_video):
        _fail(f"{file}: no audio track, and --no-video leaves nothing to send")
    if emulator_script is not None and not emulator:
        _fail("--emulator-script goes with --emulator")
    script, tools = _target(endpoint, emulator, emulator_script, api_version, tools_path)
    if transcribe and out_given:
        click.echo(
            f"rawlive: note: {model} answers in text, not audio: no reply WAV is written "
            f"(--out {out} is not used)",
            err=True,
        )
    if transcribe and voice:
        click.echo(
            f"rawlive: note: {model} answers in text, not audio: --voice is not used", err=True
        )
    try:
        config = build_config(
            system=system,
            voice=voice,
            manual_vad=manual_vad,
            tools=tools,
            model=model,
            target_language=target_language,
            resume=not no_resume,
        )
    except ConfigError as exc:
        _fail(str(exc))
    # A transcribe model's interim transcripts are the live status on a terminal.
    interim = transcribe and not as_json and sys.stdout.isatty()
    printer = _Printer(
        as_json=as_json,
        progress=not as_json and sys.stderr.isatty() and not interim,
        interim=interim,
    )
    pace = None if fast else speed
    published = False  # whether --out (and --record) are in place, i.e. setupComplete came

    async def run() -> int:
        nonlocal published
        from rawlive.cassette import CassetteWriter
        from rawlive.client.session import connect
        from rawlive.servers.emulator import Emulator
        from rawlive.tools.send import stream_file

        local = Emulator(script=script, speed=0 if fast else speed) if emulator else None
        if local is not None:
            await local.start()
        url = local.url if local is not None else endpoint
        started = time.monotonic()
        recorder: CassetteWriter | None = None
        try:
            # The outputs are written beside their files and put in place only
            # once setupComplete has arrived: a failed connection leaves a
            # previous reply, video and recording as they were. The WAV and
            # the video first: they are removed unpublished if the recording
            # cannot be written.
            with contextlib.ExitStack() as outputs:
                reply = (
                    None
                    if reply_out is None
                    else outputs.enter_context(
                        audio.WavWriter(reply_out, rate=audio.OUTPUT_RATE, staged=True)
                    )
                )
                video = (
                    None
                    if save_video is None
                    else outputs.enter_context(files.AppendFile(save_video, staged=True))
                )
                if record is not None:
                    recorder = CassetteWriter(record, staged=True)
                async with connect(
                    model,
                    config,
                    endpoint=url,
                    api_version=api_version,
                    ca_file=ca_file,
                    record=recorder,
                    watchdog=watchdog,
                ) as session:
                    if recorder is not None:
                        recorder.publish()
                    for output in (reply, video):
                        if output is not None:
                            output.publish()
                    published = True
                    summary = await stream_file(
                        session,
                        file,
                        reply=reply,
                        video=video,
                        transcribe=transcribe,
                        chunk_ms=chunk_ms,
                        speed=pace,
                        manual_vad=manual_vad,
                        tail_silence=tail_silence,
                        prompt=prompt,
                        tools=tools,
                        timeout=timeout,
                        on_event=printer,
                        setup_seconds=time.monotonic() - started,
                        fps=fps,
                        max_size=max_size,
                        video_frames=not no_video,
                        images=stills,
                    )
            printer.summary(summary)
            return 0
        finally:
            if recorder is not None:
                with contextlib.suppress(OSError):  # its failure is the one being raised
                    recorder.close()
            if local is not None:
                await local.stop()

    try:
        code = asyncio.run(run())
    except KeyboardInterrupt:
        kept = [
            name
            for name, given in (
                ("the reply WAV", reply_out),
                ("the video", save_video),
                ("the recording", record),
            )
            if given
        ]
        if len(kept) > 1:
            valid = ", ".join(kept[:-1]) + " and " + kept[-1] + " are valid so far"
        else:
            valid = f"{kept[0]} is valid so far" if kept else "the transcript so far is printed"
        said = (
            f"interrupted; {valid}"
            if published
            else "interrupted before setupComplete; nothing was written, "
            "existing files are untouched"
        )
        click.echo(f"\nrawlive: {said}", err=True)
        raise SystemExit(130) from None
    except audio.AudioFileError as exc:
        _fail(str(exc))
    except ReplyTimeout as exc:
        _fail(str(exc), EXIT_CONNECTION)
    except SessionStalled as exc:
        hint = (
            "drop --no-resume to resume through the session's handle, or raise --stall-after"
            if no_resume
            else "raise --stall-after / --stall-gap if the model is merely slow"
        )
        _fail(f"{exc.what} ({hint}); the reply WAV is valid so far", EXIT_STALLED)
    except ConfigError as exc:  # bad input (an endpoint URL, a config), not the connection
        _fail(str(exc))
    except RawliveError as exc:
        _fail(str(exc), EXIT_CONNECTION)
    except OSError as exc:  # the writers name their file
        _fail(f"cannot write {exc.filename or reply_out or out}: {exc.strerror or exc}")
    raise SystemExit(code)


@main.command()
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("-n", "--trials", default=20, show_default=True, help="How many times to play FILE.")
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    help="Trials at once; keep it within your project's concurrent-session quota "
    "(a trial refused for quota waits and runs again).",
)
@click.option(
    "--out",
    "bundle",
    type=click.Path(file_okay=False),
    help="The bundle directory: cassettes, a report page per failed trial, summary.json "
    "[default: probe-<time>].",
)
@click.option("--model", default=DEFAULT_MODEL, show_default=True, help="Live model.")
@click.option("--system", help="System instruction.")
@click.option("--endpoint", help="ws:// or wss:// URL of a Live API server.")
@click.option("--emulator", is_flag=True, help="Run the local emulator in-process and use it.")
@click.option(
    "--emulator-script",
    type=click.Path(dir_okay=False),
    help="With --emulator: what it answers, faults included (one emulator serves every trial).",
)
@click.option("--api-version", help="API version (default v1beta).")
@click.option("--ca-file", type=click.Path(dir_okay=False), help="CA to trust for a wss:// server.")
@click.option("--chunk-ms", default=40.0, show_default=True, help="Audio chunk length.")
@click.option("--speed", default=1.0, show_default=True, help="Upload pacing (1.0 real time).")
@click.option("--fast", is_flag=True, help="Upload as fast as possible (no pacing).")
@click.option("--manual-vad", is_flag=True, help="Send activityStart/activityEnd yourself.")
@click.option("--tools", "tools_path", type=click.Path(dir_okay=False), help="Tools JSON.")
@click.option(
    "--stall-after",
    default=15.0,
    show_default=True,
    metavar="SECONDS",
    help="A due reply that has not begun after this long is a stall.",
)
@click.option(
    "--stall-gap",
    default=5.0,
    show_default=True,
    metavar="SECONDS",
    help="A reply that stops for this long midway is a stall.",
)
@click.option(
    "--timeout", default=60.0, show_default=True, help="Give up on a silent server after (s)."
)
@click.option(
    "--max-failure-rate",
    type=float,
    metavar="RATE",
    help="Exit 1 when any failure class's rate is above RATE (0 to 1).",
)
@click.option("--elide-audio", is_flag=True, help="Keep audio out of the cassettes (smaller).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@click.option("-v", "--verbose", count=True, help="Log more (-v info, -vv debug).")
def probe(
    file: str,
    trials: int,
    concurrency: int,
    bundle: str | None,
    model: str,
    system: str | None,
    endpoint: str | None,
    emulator: bool,
    emulator_script: str | None,
    api_version: str | None,
    ca_file: str | None,
    chunk_ms: float,
    speed: float,
    fast: bool,
    manual_vad: bool,
    tools_path: str | None,
    stall_after: float,
    stall_gap: float,
    timeout: float,
    max_failure_rate: float | None,
    elide_audio: bool,
    as_json: bool,
    verbose: int,
) -> None:
    """Play FILE N times and count how the server misbehaves.

    Each trial is one session, as rawlive send plays it, recorded to its own
    cassette, with the stall watchdog on and no session resumption (a stall
    ends the trial). Each is classed by how it ended and by the audit of its
    cassette: closed (an abnormal close), stalled, cut, empty, unanswered,
    early-end or ok. The counts, rates with 95 % intervals and first-reply
    latency percentiles per class are printed and written with every
    cassette and a report page per failed trial to the bundle directory.
    Exit 1 when --max-failure-rate is exceeded.
    """
    import datetime
    from pathlib import Path

    from rawlive import files
    from rawlive.core.watchdog import StallPolicy
    from rawlive.media import audio
    from rawlive.tools.send import build_config

    _logging(verbose)
    if not verbose:  # each trial's stall is in its line and the summary, not a warning
        logging.getLogger("rawlive.client.session").setLevel(logging.ERROR)
    if endpoint and emulator:
        _fail("give either --endpoint or --emulator, not both")
    if emulator_script is not None and not emulator:
        _fail("--emulator-script goes with --emulator")
    if trials < 1 or concurrency < 1:
        _fail("--trials and --concurrency must be at least 1")
    if chunk_ms <= 0 or speed < 0 or timeout <= 0:
        _fail("--chunk-ms and --timeout must be positive, --speed not negative")
    if max_failure_rate is not None and not 0 <= max_failure_rate <= 1:
        _fail(f"--max-failure-rate is a rate from 0 to 1, not {max_failure_rate:g}")
    try:
        policy = StallPolicy(first_reply=stall_after, gap=stall_gap)
    except ValueError as exc:
        _fail(
            str(exc)
            .replace("StallPolicy.first_reply", "--stall-after")
            .replace("StallPolicy.gap", "--stall-gap")
        )
    try:
        files.check_outputs(
            {
                "FILE": file,
                "--tools": tools_path,
                "--emulator-script": emulator_script,
                "--ca-file": ca_file,
            },
            {},
        )
        audio.file_info(file)
    except (ConfigError, audio.AudioFileError) as exc:
        _fail(str(exc))
    folder = Path(bundle or f"probe-{datetime.datetime.now().strftime('%Y%m%d-%H%M%S')}")
    if folder.exists() and any(folder.iterdir()):
        _fail(f"{folder} is not empty: give --out a new or empty directory")
    script, tools = _target(endpoint, emulator, emulator_script, api_version, tools_path)
    try:
        config = build_config(
            system=system, manual_vad=manual_vad, tools=tools, model=model, resume=False
        )
    except ConfigError as exc:
        _fail(str(exc))

    def progress(trial: Any) -> None:
        if not as_json:
            why = f" ({trial.detail})" if trial.detail else ""
            click.echo(f"trial {trial.number}: {trial.outcome.value}{why}", err=True)

    async def run() -> Any:
        from rawlive.client.session import connect
        from rawlive.servers.emulator import Emulator
        from rawlive.tools.probe import run_probe

        local = Emulator(script=script, speed=0 if fast else 1.0) if emulator else None
        if local is not None:
            await local.start()
        url = local.url if local is not None else endpoint

        def open_session(recorder: Any) -> Any:
            return connect(
                model,
                config,
                endpoint=url,
                api_version=api_version,
                ca_file=ca_file,
                record=recorder,
                watchdog=policy,
            )

        try:
            return await run_probe(
                open_session,
                file,
                trials=trials,
                bundle=folder,
                model=model,
                concurrency=concurrency,
                stall_after=stall_after,
                stall_gap=stall_gap,
                max_failure_rate=max_failure_rate,
                elide_audio=elide_audio,
                on_trial=progress,
                chunk_ms=chunk_ms,
                speed=None if fast else speed,
                manual_vad=manual_vad,
                tools=tools,
                timeout=timeout,
            )
        finally:
            if local is not None:
                await local.stop()

    try:
        summary = asyncio.run(run())
    except KeyboardInterrupt:
        _fail(f"interrupted; the cassettes so far are in {folder}", code=130)
    if as_json:
        click.echo(summary.to_json())
    else:
        for line in summary.lines():
            click.echo(line)
    raise SystemExit(1 if summary.exceeded else 0)


@main.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print the table as a JSON array.")
def models_command(as_json: bool) -> None:
    """List the Live models rawlive knows and what each refuses.

    For each: its kind (conversation, transcribe, translate), status, the
    backends that serve it, the response modalities it answers in, the
    behaviour of a function declared without one, the setup fields it
    refuses with the close code the server answers (PROTOCOL.md §10.3), and
    its own session limit.
    """
    from rawlive.tools import modeltable

    infos = modeltable.table()
    if as_json:
        click.echo(modeltable.to_json(infos))
    else:
        for line in modeltable.lines(infos):
            click.echo(line)


@main.command()
@click.argument("cassette")
@click.option(
    "-o", "--out", help="The HTML file to write (default: the CASSETTE's name with .html)."
)
@click.option(
    "--audio-limit",
    default=6.0,
    show_default=True,
    type=float,
    help="MB of the page that embedded audio may take (0: none).",
)
def report(cassette: str, out: str | None, audio_limit: float) -> None:
    """Write the timeline of a recorded CASSETTE as one self-contained HTML page.

    Lanes on one time axis (both sides' audio, transcripts, model text, tool
    calls, control events, each turn's latency), then the audit's findings,
    the turns with their audio (playable up to --audio-limit), token usage
    and the session's facts. The page loads nothing from anywhere.
    """
    from pathlib import Path

    from rawlive import files
    from rawlive.tools.report import write_report

    if audio_limit < 0:
        _fail("--audio-limit must not be negative")
    target = Path(out) if out else Path(cassette).with_suffix(".html")
    if files.same_file(target, cassette):
        _fail(f"the page would overwrite the cassette {cassette}: give -o")
    try:
        written = write_report(cassette, target, audio_limit=round(audio_limit * 1_000_000))
    except RawliveError as exc:
        _fail(str(exc))
    except OSError as exc:
        verb = "write" if exc.filename is not None and Path(exc.filename) == target else "read"
        _fail(f"cannot {verb} {exc.filename or cassette}: {exc.strerror or exc}")
    extra = "".join(f"; {note}" for note in written.notes)
    if written.clips_left_out:
        extra += f"; {written.clips_left_out} audio clip(s) over --audio-limit left out"
    size = f"{written.bytes / 1_000_000:.1f} MB"
    click.echo(f"wrote {written.path} ({size}, {written.turns} turn(s){extra})")


@main.command()
@click.argument("texts", metavar="TEXT...", nargs=-1, required=True)
@click.option(
    "--cache-dir",
    required=True,
    type=click.Path(file_okay=False),
    help="The speech cache folder (a scenario's .speech/).",
)
@click.option("--voice", help="The voice (Gemini: Kore, Puck...; espeak-ng: en-us...).")
@click.option(
    "--source",
    type=click.Choice(["gemini", "espeak"]),
    help="Make missing speech with this source (default: the cache, then Gemini "
    "with GEMINI_API_KEY, then espeak-ng).",
)
@click.option("--model", help="Gemini's speech model (with --source gemini).")
def speak(
    texts: tuple[str, ...],
    cache_dir: str,
    voice: str | None,
    source: str | None,
    model: str | None,
) -> None:
    """Fill a speech cache: each TEXT spoken as a 16 kHz mono WAV, its path printed.

    A text already in the cache is not made again. Commit the cache folder
    with the scenarios that speak its texts: replay then needs neither a key
    nor a synthesiser.
    """
    from rawlive.media import speech

    if model is not None and source != "gemini":
        _fail("--model needs --source gemini")
    try:
        chosen: speech.SpeechSource | None = None
        if source == "gemini":
            chosen = speech.GeminiSpeech(model=model or speech.DEFAULT_TTS_MODEL)
        elif source == "espeak":
            chosen = speech.EspeakSpeech()
        for text in texts:
            click.echo(speech.speak(text, voice=voice, cache_dir=cache_dir, source=chosen))
    except RawliveError as exc:
        _fail(str(exc))


@main.group()
def scenario() -> None:
    """Test a conversation: run scenarios and check what they must do."""


@scenario.command("run")
@click.argument("paths", nargs=-1, required=True, metavar="FILE_OR_DIR...")
@click.option(
    "--repeat", default=1, show_default=True, type=click.IntRange(min=1), help="Runs of each."
)
@click.option(
    "--concurrency",
    default=1,
    show_default=True,
    type=click.IntRange(min=1),
    help="Runs at the same time.",
)
@click.option("--emulator", is_flag=True, help="Run on the local emulator (each its script).")
@click.option("--endpoint", help="ws:// or wss:// URL of a Live API server.")
@click.option(
    "--replay", is_flag=True, help="Replay each scenario's cassette (its file's name, .jsonl)."
)
@click.option(
    "--record-dir",
    type=click.Path(file_okay=False),
    help="Keep every run's cassette here (default: only failed runs', in a temporary folder).",
)
@click.option(
    "--speed",
    default=1.0,
    show_default=True,
    type=float,
    help="Pacing of the user's audio (and of the emulator's replies): 1 real time, 0 unpaced.",
)
@click.option("--json", "as_json", is_flag=True, help="Print results and summaries as JSON lines.")
def scenario_run(
    paths: tuple[str, ...],
    repeat: int,
    concurrency: int,
    emulator: bool,
    endpoint: str | None,
    replay: bool,
    record_dir: str | None,
    speed: float,
    as_json: bool,
) -> None:
    """Run the scenarios of FILE_OR_DIR (a folder: its *.toml and *.json files).

    Each run is a line (PASS/FAIL, time, first-audio latencies, the first
    reason); a failed run's cassette and report page are named under it.
    The summary table follows: runs, passes, pass rate and first-audio
    latency percentiles per scenario, and the failures' first reasons.
    Without --emulator, --endpoint or --replay the runs go to Gemini with
    GEMINI_API_KEY. Exit status 1 when a run failed, 2 for bad input.
    """
    from rawlive.tools.scenario import batch, render_table, summarize
    from rawlive.wire import endpoints

    if sum((emulator, endpoint is not None, replay)) > 1:
        _fail("give one of --emulator, --endpoint and --replay")
    if speed < 0:
        _fail("--speed must not be negative")
    if not (emulator or endpoint or replay):
        try:
            endpoints.resolve()
        except ConfigError:
            _fail("no API key: set GEMINI_API_KEY to run on Gemini, or use --emulator")

    def show(result: Any) -> None:
        if as_json:
            click.echo(result.to_json())
            return
        click.echo("\n".join(result.lines()))

    try:
        results = asyncio.run(
            batch.run_many(
                paths,
                repeat=repeat,
                concurrency=concurrency,
                record_dir=record_dir,
                replay=replay,
                on_result=show,
                endpoint=endpoint,
                emulator=emulator,
                speed=speed or None,
                emulator_speed=speed,
            )
        )
    except ConfigError as exc:
        _fail(str(exc))
    rows = summarize(results)
    if as_json:
        for row in rows:
            click.echo(row.to_json())
    else:
        click.echo("")
        click.echo(render_table(rows))
    if not all(r.passed for r in results):
        raise SystemExit(1)


@main.command()
@click.argument("source", metavar="FILE_OR_CASSETTE", type=click.Path(dir_okay=False))
@click.option("-u", "--users", default=10, show_default=True, type=click.IntRange(min=1))
@click.option(
    "-r",
    "--spawn-rate",
    default=10.0,
    show_default=True,
    type=click.FloatRange(min=0, min_open=True),
    help="Users started per second.",
)
@click.option(
    "-t", "--run-time", default="30s", show_default=True, help="How long: 30s, 5m, 1h30m..."
)
@click.option("--endpoint", help="ws:// or wss:// URL of the server under test (your bridge).")
@click.option("--emulator", is_flag=True, help="Start a local emulator and load it instead.")
@click.option(
    "--emulator-script", type=click.Path(dir_okay=False), help="With --emulator: its script."
)
@click.option(
    "--emulator-workers",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="With --emulator: its processes on one port (serve --workers).",
)
@click.option(
    "--emulator-stats",
    type=click.Path(dir_okay=False),
    help="With --emulator: write what it saw to this JSON file (serve --stats).",
)
@click.option("--model", help=f"Live model (default: a cassette's own, else {DEFAULT_MODEL}).")
@click.option("--tools", type=click.Path(dir_okay=False), help="Tools JSON (canned responses).")
@click.option(
    "--processes",
    type=click.IntRange(min=-1),
    help="Locust worker processes on this machine (-1: one per core).",
)
@click.option("--csv", "csv_prefix", metavar="PREFIX", help="Write Locust's CSV statistics.")
@click.option("--speed", type=float, help="Upload pacing: 1 real time (default), 0 unpaced.")
@click.option(
    "--stall-timeout",
    type=float,
    help="Seconds a due reply may take to begin before a `stall` failure (default 15).",
)
@click.option(
    "--stop-timeout",
    default=30.0,
    show_default=True,
    type=float,
    help="At the end, seconds to let conversations under way finish.",
)
def load(
    source: str,
    users: int,
    spawn_rate: float,
    run_time: str,
    endpoint: str | None,
    emulator: bool,
    emulator_script: str | None,
    emulator_workers: int,
    emulator_stats: str | None,
    model: str | None,
    tools: str | None,
    processes: int | None,
    csv_prefix: str | None,
    speed: float | None,
    stall_timeout: float | None,
    stop_timeout: float,
) -> None:
    """Load a Live API server with Locust: each user holds Live conversations.

    Each conversation streams FILE_OR_CASSETTE in real time (an audio or
    video file), or plays the client side of a cassette with its recorded
    timing, answering tool calls from --tools or as the cassette did. Locust
    runs headless (the ``load`` extra: pip install 'rawlive[load]') and
    prints its statistics and percentile table at the end; the exit code is
    Locust's (1 when any request failed). For the web UI or distributed
    runs, use ``locust`` with ``rawlive.load.LiveUser`` directly.
    """
    from rawlive.tools.load import command
    from rawlive.tools.load.driver import plan_for
    from rawlive.tools.send import load_tools

    if emulator and endpoint:
        _fail("give --endpoint or --emulator, not both")
    if (emulator_script or emulator_workers != 1 or emulator_stats) and not emulator:
        _fail("--emulator-script, --emulator-workers and --emulator-stats go with --emulator")
    try:
        command.require_locust()
        book = load_tools(tools) if tools else None
        plan_for(source, model, tools=book)  # the file or cassette is usable: say so now
        if emulator_script:
            _load_script(emulator_script)
        run = command.LoadRun(
            file=source,
            users=users,
            spawn_rate=spawn_rate,
            run_time=run_time,
            endpoint=endpoint,
            model=model,
            processes=processes,
            csv=csv_prefix,
            tools=tools,
            speed=speed,
            stop_timeout=stop_timeout,
            stall_timeout=stall_timeout,
        )
        code = command.run(
            run,
            emulator=emulator,
            emulator_script=emulator_script,
            emulator_workers=emulator_workers,
            emulator_stats=emulator_stats,
        )
    except RawliveError as exc:
        _fail(str(exc))
    except OSError as exc:
        _fail(f"cannot read {exc.filename or source}: {exc.strerror or exc}")
    raise SystemExit(code)
