"""The ``rawlive`` command line: a click group; each use adds its command here.

Commands stay thin: they parse options, call the library and print. Logic a
library user would need lives in the library, not here. A user's mistake
ends with a one-line message and exit status 2, never a traceback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from typing import Any

import click

from rawlive import __version__
from rawlive.errors import RawliveError

EXIT_BAD_INPUT = 2
EXIT_CONNECTION = 3


def _fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"rawlive: {message}", err=True)
    raise SystemExit(code)


def _logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")


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
@click.option("--session-limit", type=float, help="Seconds before a session ends for good.")
@click.option("--speed", type=float, help="Reply audio pacing: 1 real time, 0 unpaced.")
@click.option("--frames", type=click.Choice(["text", "binary"]), help="Opcode of server frames.")
@click.option("--pretty", is_flag=True, default=None, help="Pretty-print server JSON.")
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
    session_limit: float | None,
    speed: float | None,
    frames: str | None,
    pretty: bool | None,
    verbose: int,
) -> None:
    """Run the local Live API emulator until Ctrl-C.

    It serves the Gemini API paths (v1alpha, v1beta, v1; BidiGenerateContent
    and ...Constrained) and Vertex AI's LlmBidiService path. Point a client at
    it with endpoint="ws://HOST:PORT" (rawlive) or
    http_options={"base_url": "https://HOST:PORT"} with --certfile (the SDK).
    """
    _logging(verbose)
    from rawlive.emulator import Emulator
    from rawlive.server import server_ssl_context

    script: Any = None
    if script_path is not None:
        from rawlive.script import load_script

        try:
            script = load_script(script_path)
        except RawliveError as exc:
            _fail(str(exc))
    context = None
    if certfile is not None:
        try:
            context = server_ssl_context(certfile, keyfile)
        except (OSError, ValueError) as exc:
            _fail(f"cannot load the certificate {certfile}: {exc}")
    elif keyfile is not None:
        _fail("--keyfile needs --certfile")

    emulator = Emulator(
        host=host,
        port=port,
        ssl=context,
        script=script,
        models=models,
        strict=strict,
        connection_lifetime=connection_lifetime,
        goaway_lead=goaway_lead,
        session_limit=session_limit,
        speed=speed,
        frames=frames,
        pretty=pretty,
        capture_frames=False,  # a long-running server must not grow with its traffic
    )

    async def run() -> None:
        try:
            await emulator.start()
        except OSError as exc:
            _fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", EXIT_CONNECTION)
        click.echo(f"rawlive emulator listening on {emulator.url} (Ctrl-C to stop)", err=True)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError):
                loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await emulator.stop()
        click.echo("rawlive emulator stopped", err=True)

    asyncio.run(run())
