"""The Locust user class: each task is one Live conversation (``rawlive.load.LiveUser``).

Importing this module imports Locust (and so gevent): do it in a locustfile,
never in a process that runs asyncio code. A missing Locust is one line,
:class:`~rawlive.errors.LoadExtraMissing`, naming the ``load`` extra.

Use it in a locustfile::

    from rawlive.load import LiveUser

    class Caller(LiveUser):
        file = "fixtures/audio/weather-16k-mono.wav"   # or a cassette
        model = "gemini-3.8-live"

and run ``locust -f locustfile.py --host ws://127.0.0.1:8765``: headless,
the web UI, CSV and distributed mode are Locust's own. Every setting is a
class attribute, overridden by the command line (``--live-file``,
``--live-model``, ``--live-endpoint``, ``--live-speed``,
``--live-stall-timeout``, ``--live-tools``, ``--live-audio-late-per-chunk``;
each also read from the environment as ``LOCUST_LIVE_FILE``...). The
endpoint is ``--live-endpoint``, else the class's ``endpoint``, else
Locust's ``--host``; the API key is ``GEMINI_API_KEY`` (or
``GOOGLE_API_KEY``), as :func:`rawlive.wire.endpoints.resolve` reads it.

Each measurement is a Locust request of type ``live`` named after what it
measures (:mod:`rawlive.tools.load.driver` defines each one): ``connect``,
``setup``, ``first_audio``, ``turn``, ``tool_round_trip``, ``audio_late``;
failures are named ``close CODE``, ``stall``, ``connect``, ``setup`` or
``protocol``.
"""

from __future__ import annotations

import os
import time
from typing import Any, ClassVar

from rawlive.errors import ConfigError, LoadExtraMissing

try:
    from locust import User, constant, events, task
except ImportError:  # pragma: no cover - tested in a subprocess with Locust hidden
    raise LoadExtraMissing(
        "rawlive.load needs Locust, the load extra: pip install 'rawlive[load]'"
    ) from None

from rawlive.tools.load.driver import Conversation, LoadOptions, Plan, plan_for
from rawlive.tools.send import ToolBook, load_tools

__all__ = ["REQUEST_TYPE", "LiveUser"]

#: The ``request_type`` of every request a :class:`LiveUser` reports.
REQUEST_TYPE = "live"

_PLANS: dict[tuple[str, str, str | int | None], Plan] = {}


def _arguments(parser: Any) -> None:
    group = parser.add_argument_group("rawlive LiveUser")
    group.add_argument(
        "--live-file", env_var="LOCUST_LIVE_FILE", help="Audio/video file or cassette to play."
    )
    group.add_argument("--live-model", env_var="LOCUST_LIVE_MODEL", help="Live model.")
    group.add_argument(
        "--live-endpoint",
        env_var="LOCUST_LIVE_ENDPOINT",
        help="ws:// or wss:// URL of the Live API server (default: --host).",
    )
    group.add_argument(
        "--live-speed", env_var="LOCUST_LIVE_SPEED", type=float, help="1 real time, 0 unpaced."
    )
    group.add_argument(
        "--live-stall-timeout",
        env_var="LOCUST_LIVE_STALL_TIMEOUT",
        type=float,
        help="Seconds a due reply may take to begin before a stall failure.",
    )
    group.add_argument(
        "--live-tools", env_var="LOCUST_LIVE_TOOLS", help="Tools file (rawlive send --tools)."
    )
    group.add_argument(
        "--live-audio-late-per-chunk",
        env_var="LOCUST_LIVE_AUDIO_LATE_PER_CHUNK",
        action="store_true",
        default=False,
        help="Report audio_late per reply chunk, not per reply.",
    )


events.init_command_line_parser.add_listener(_arguments)  # type: ignore[no-untyped-call]


class LiveUser(User):
    """A caller: each task run is one Live conversation (a file streamed, or a cassette played).

    Class attributes (the command line's ``--live-*`` override them):
    ``file``, ``model`` (default: a cassette's own, else
    :data:`~rawlive.core.models.RECOMMENDED`), ``endpoint``, ``speed`` (1.0 real time),
    ``stall_timeout``, ``tools`` (a :class:`~rawlive.tools.send.ToolBook` or
    a tools file's path), ``config`` (an SDK-shaped session config; default
    ``rawlive send``'s without resumption), ``audio_late_per_chunk``.
    """

    abstract = True
    wait_time = constant(0)

    file: ClassVar[str | None] = None
    model: ClassVar[str | None] = None
    endpoint: ClassVar[str | None] = None
    speed: ClassVar[float] = 1.0
    stall_timeout: ClassVar[float] = 15.0
    tools: ClassVar[ToolBook | str | None] = None
    config: ClassVar[dict[str, Any] | None] = None
    audio_late_per_chunk: ClassVar[bool] = False
    failure_pause: ClassVar[float] = 1.0

    def _option(self, name: str, default: Any) -> Any:
        parsed = getattr(self.environment, "parsed_options", None)
        value = getattr(parsed, f"live_{name}", None) if parsed is not None else None
        return default if value in (None, False) else value

    def on_start(self) -> None:
        file = self._option("file", self.file)
        if not file:
            raise ConfigError("LiveUser: give a file (--live-file or the class's `file`)")
        model = self._option("model", self.model)
        tools = self._option("tools", self.tools)
        book = load_tools(tools) if isinstance(tools, str) else tools
        # One plan per process and setting: every user sends the same file.
        key = (
            os.path.abspath(file),
            model or "",
            tools if isinstance(tools, str | None) else id(tools),
        )
        plan = _PLANS.get(key)
        if plan is None:
            plan = _PLANS[key] = plan_for(file, model, config=self.config, tools=book)
        self.plan = plan
        self.options = LoadOptions(
            endpoint=self._option("endpoint", self.endpoint) or self.host,
            speed=float(self._option("speed", self.speed)),
            stall_timeout=float(self._option("stall_timeout", self.stall_timeout)),
            audio_late_per_chunk=bool(
                self._option("audio_late_per_chunk", self.audio_late_per_chunk)
            ),
        )

    def report(
        self, name: str, seconds: float, length: int = 0, error: BaseException | None = None
    ) -> None:
        """One Locust request event (type :data:`REQUEST_TYPE`), in milliseconds."""
        self.environment.events.request.fire(
            request_type=REQUEST_TYPE,
            name=name,
            response_time=seconds * 1000,
            response_length=length,
            exception=error,
            context={},
        )

    @task
    def conversation(self) -> None:
        """One Live conversation, its measurements reported as it goes; after a
        failure, a pause of ``failure_pause`` seconds (a refused connection
        would otherwise be retried in a busy loop)."""
        if not Conversation(self.plan, self.options, self.report).run():
            time.sleep(self.failure_pause)
