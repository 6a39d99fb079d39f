"""A local Live API: validates like the real server, takes turns, keeps and resumes sessions.

:class:`Emulator` is a :class:`~rawlive.servers.base.LiveServer` that speaks
``BidiGenerateContent`` on 127.0.0.1 with no key and no network; it is not a
model and answers from a script or echoes (the README says what it does).
Its parts each have one reason to change: ``validation`` (what a setup and a
message must be), ``turns`` (one connection's turn taking), ``replies``
(what a turn is answered with), ``faults`` (what goes wrong on purpose),
``session`` (a session's conversation state) and ``script`` (the script
format). This module owns the sessions: a connection joins a new one or the
one its handle resumes, restored to the handle's state (a connection of it
still open is ended, the handles issued after it are voided; an unknown
handle closes with 1008 ``BidiGenerateContent session not found``). Handles
come after each turn and every ``resumption_interval`` messages, resumable
only while no reply, tool call or user speech is in progress. Once its
connections end, a session is kept only if a handle can resume it, for
``session_ttl``, within ``resumable_sessions`` and ``resumable_bytes``, the
one idle longest forgotten first; ``keep_sessions`` keeps every one.

Each API's shape of the messages and the quota are ``backends``'; Vertex
AI's live avatar video is ``avatar``'s. The sessions are kept in memory,
unless a ``store`` (:class:`~rawlive.servers.emulator.store.SharedStore`)
shares the resumable ones with other emulators (the worker processes of
:mod:`rawlive.servers.emulator.workers`). What the emulator saw is counted in
``counts`` (:mod:`rawlive.servers.emulator.stats`), written every
``stats_interval`` seconds and at the end to ``stats_path`` if given.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Iterable
from typing import Any, NoReturn

from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from rawlive.core.models import Model
from rawlive.core.state import MAX_HANDLES, SessionState
from rawlive.errors import ConfigError, SetupRejected
from rawlive.servers.base import CapturedConnection, ConnectionEnd, LiveServer, Peer
from rawlive.servers.emulator import avatar, backends, faults, replies, stats, validation
from rawlive.servers.emulator.faults import emulator_faults
from rawlive.servers.emulator.replies import ReplyPlan, reply_plan
from rawlive.servers.emulator.session import EmulatedSession, message_digest
from rawlive.servers.emulator.store import NOTICE_INTERVAL, SharedStore
from rawlive.servers.emulator.turns import Live
from rawlive.wire import codec
from rawlive.wire import types as t

__all__ = [
    "EmulatedSession",
    "Emulator",
    "ReplyPlan",
    "SharedStore",
    "emulator_faults",
    "message_digest",
    "reply_plan",
    "serve",
]

log = logging.getLogger("rawlive.servers.emulator")


class Emulator(LiveServer):
    """The local Live API server (see the module docstring and the README).

    ``script`` is a :class:`rawlive.servers.emulator.script.Script` (or ``None`` for the
    default echo). ``models`` adds models to
    :data:`rawlive.core.models.MODELS`: ids (a model that answers in text or
    audio) or :class:`~rawlive.core.models.Model` rows.
    ``connection_lifetime``, ``goaway_lead`` and ``session_limit`` are in
    seconds (``None``: no limit; for ``session_limit``, the model's own
    limit, Transcribe Live's 10 minutes, and none for the others).
    ``lifetime_close`` says how a connection ends at ``connection_lifetime``:
    ``"normal"`` (``goAway`` ``goaway_lead`` ahead, then a normal close) or
    ``"deadline"`` (1011 ``Deadline expired before operation could
    complete.``, the close reported for a 3.8 connection at 58:00,
    PROTOCOL.md §10.15.12; ``goAway`` ahead only with a ``goaway_lead``
    above 0).
    ``frames`` (``"text"``/``"binary"``) and ``pretty`` choose how server
    JSON travels; ``speed`` paces reply audio (1.0 real time, 0 as fast as
    possible). ``consumed_limit`` bounds the
    bytes of recent messages each session keeps in full
    (:attr:`EmulatedSession.consumed`; ``None``: all); ``session_ttl`` is how
    long a session and its handles outlive its last connection (2 hours, as
    the real server's handles). A session no handle can resume is forgotten
    with its last connection; of those that can, at most
    ``resumable_sessions`` (100) are kept once idle, holding at most
    ``resumable_bytes`` (32 MiB) in all (``None``: no cap), the one idle
    longest forgotten first (its handles then close with 1008
    ``BidiGenerateContent session not found``); ``keep_sessions`` keeps every
    session for ``session_ttl`` whatever the caps, for a test that looks at
    a session once its connections are over. Other options are
    :class:`~rawlive.servers.base.LiveServer`'s: ``record_dir`` writes each
    connection to a cassette there.

    Each connection is answered in its backend's shape (the Gemini API's, or
    Vertex AI's on the ``LlmBidiService`` path; Vertex AI also serves the
    live avatar), see :mod:`rawlive.servers.emulator.backends`.
    ``max_sessions`` caps the concurrent sessions (``None``: no cap); one
    more is refused in ``quota_style``: ``"close"`` (1011
    RESOURCE_EXHAUSTED after the upgrade) or ``"http"`` (HTTP 429 instead
    of the upgrade), PROTOCOL.md §10.12. ``seed`` seeds the draws of the
    script's turn faults that have a ``probability`` (default: the script's
    ``seed``, else 0), :attr:`turn_faults`.

    ``store``: a :class:`~rawlive.servers.emulator.store.SharedStore` the
    resumable sessions are kept in, shared with other emulators (worker
    processes) so that a handle resumes on any of them (``None``: in memory,
    this emulator only); the caps and ``session_ttl`` then apply to the
    store. ``stats_path``: write :class:`~rawlive.servers.emulator.stats.EmulatorStats`
    there as JSON every ``stats_interval`` seconds and when the emulator
    stops (``counts`` holds them meanwhile).
    """

    def __init__(
        self,
        *,
        script: Any = None,
        models: Iterable[str | Model] = (),
        strict: bool = False,
        connection_lifetime: float | None = None,
        goaway_lead: float = 60.0,
        lifetime_close: str = "normal",
        session_limit: float | None = None,
        resumption_interval: int = 20,
        consumed_limit: int | None = 2**20,
        session_ttl: float = 7200.0,
        resumable_sessions: int | None = 100,
        resumable_bytes: int | None = 32 * 2**20,
        keep_sessions: bool = False,
        frames: str | None = None,
        pretty: bool | None = None,
        speed: float | None = None,
        chunk_ms: float | None = None,
        max_sessions: int | None = None,
        quota_style: str = "close",
        seed: int | None = None,
        store: SharedStore | None = None,
        stats_path: str | os.PathLike[str] | None = None,
        stats_interval: float = 2.0,
        **server_options: Any,
    ) -> None:
        style = backends.check_quota_options(max_sessions, quota_style)
        if lifetime_close not in faults.LIFETIME_CLOSES:
            raise ConfigError(
                f"lifetime_close must be one of {', '.join(faults.LIFETIME_CLOSES)}, "
                f"not {lifetime_close!r}"
            )
        for name, cap in (
            ("resumable_sessions", resumable_sessions),
            ("resumable_bytes", resumable_bytes),
        ):
            if cap is not None and cap < 0:
                raise ConfigError(f"{name} must be 0 or more (None: no cap), not {cap}")
        if not stats_interval > 0:
            raise ConfigError(f"stats_interval must be above 0 seconds, not {stats_interval}")
        super().__init__(**server_options)
        self.script = script
        #: The model table setups are judged by, by bare model id.
        self.models = validation.model_table(models)
        self.strict = strict
        self.connection_lifetime = connection_lifetime
        self.goaway_lead = goaway_lead
        #: How a connection ends at ``connection_lifetime`` (:data:`faults.LIFETIME_CLOSES`).
        self.lifetime_close = lifetime_close
        self.session_limit = session_limit
        self.resumption_interval = max(1, resumption_interval)
        self.consumed_limit = consumed_limit
        self.session_ttl = session_ttl
        self.resumable_sessions = resumable_sessions
        self.resumable_bytes = resumable_bytes
        self.keep_sessions = keep_sessions
        self.frames: Any = frames or _script_value(script, "frames", "text")
        self.pretty = bool(pretty if pretty is not None else _script_value(script, "pretty", False))
        self.speed_factor = float(
            speed if speed is not None else _script_value(script, "speed", 1.0)
        )
        ms = chunk_ms if chunk_ms is not None else _script_value(script, "model_reply_chunk_ms", 40)
        self.chunk_bytes = max(2, round(24_000 * float(ms) / 1000) * 2)
        #: Concurrent sessions allowed (``None``: any number), refused in ``quota_style``.
        self.max_sessions = max_sessions
        self.quota_style: backends.QuotaStyle = style
        self.faults: list[faults.Fault] = faults.script_faults(script)
        #: The script's turn faults and the seeded generator they draw from.
        self.turn_faults = faults.TurnFaults(script, seed)
        self.sessions: dict[str, EmulatedSession] = {}
        self._handles: dict[str, str] = {}  # handle -> session id
        self._lives: dict[int, Live] = {}
        self._ids = itertools.count(1)
        self._call_ids = itertools.count(1_000_000_001)
        #: Where resumable sessions are shared with other emulators (``None``: memory only).
        self.store = store
        #: What this emulator saw so far (:mod:`rawlive.servers.emulator.stats`).
        self.counts = stats.Counts()
        self.stats_path = stats_path
        self.stats_interval = stats_interval
        self.started_at = time.monotonic()
        self._background: list[asyncio.Task[None]] = []

    # -- paths ------------------------------------------------------------------

    def accepts_path(self, path: str) -> bool:
        return validation.accepts_path(path)

    def refuse_handshake(self, ws: ServerConnection, request: Request) -> Response | None:
        """With ``quota_style="http"``: HTTP 429 once ``max_sessions`` connections are open."""
        if self.quota_style != "http" or self.max_sessions is None:
            return None
        open_now = sum(1 for capture in self.connections if not capture.closed.is_set())
        if open_now < self.max_sessions:
            return None
        log.info("refusing a connection: %d open, max_sessions %d", open_now, self.max_sessions)
        response = ws.respond(
            backends.QUOTA_HTTP_STATUS, backends.quota_http_body(self.max_sessions)
        )
        del response.headers["Content-Type"]
        response.headers["Content-Type"] = "application/json; charset=utf-8"
        return response

    async def start(self) -> None:
        await super().start()
        self.started_at = time.monotonic()
        if self.store is not None:
            self._background.append(asyncio.create_task(self._take_notices()))
        if self.stats_path is not None:
            self._background.append(asyncio.create_task(self._write_stats_often()))

    async def stop(self) -> None:
        """Stop serving; a connection not being read (a stall without pongs, late pongs) is cut.

        Such a connection cannot hear its client leave, nor the close
        handshake: waiting for it would take the close timeout.
        """
        for peer, _ in self.live_peers():
            transport = peer.ws.transport
            if not transport.is_closing() and not transport.is_reading():
                peer.abort()
        await super().stop()
        for task in self._background:
            task.cancel()
        self._background.clear()
        if self.stats_path is not None:
            self.write_stats()

    def statistics(self) -> stats.EmulatorStats:
        """What this emulator saw so far (:class:`~.stats.EmulatorStats`)."""
        return stats.summary(self.counts, uptime_s=time.monotonic() - self.started_at)

    def write_stats(self) -> None:
        """Write :meth:`statistics` to ``stats_path`` now."""
        if self.stats_path is not None:
            stats.write_stats(self.stats_path, self.statistics())

    async def _write_stats_often(self) -> None:
        while True:
            await asyncio.sleep(self.stats_interval)
            try:
                self.write_stats()
            except OSError as exc:
                log.error("cannot write the stats to %s: %s", self.stats_path, exc)

    async def _take_notices(self) -> None:
        """End the connections whose sessions were resumed on another emulator."""
        store = self.store
        assert store is not None
        while True:
            await asyncio.sleep(NOTICE_INTERVAL)
            numbers = set(store.notices())
            if not numbers:
                continue
            for live in list(self._lives.values()):
                if live.peer.capture.number in numbers:
                    log.info("connection %d superseded elsewhere", live.peer.capture.number)
                    self._supersede(live)

    def ended(self, capture: CapturedConnection, end: ConnectionEnd) -> None:
        self.counts.closed(end.code)

    # -- faults for tests --------------------------------------------------------

    def live_peers(self) -> list[tuple[Peer, EmulatedSession]]:
        return [(live.peer, live.session) for live in self._lives.values()]

    def drop(self) -> None:
        """Abort every live connection with no close frame (clients see 1006)."""
        for peer, _ in self.live_peers():
            peer.abort()

    async def go_away(self, time_left: float) -> None:
        """Send ``goAway`` to every live connection, then end each after ``time_left``."""
        for live in list(self._lives.values()):
            await faults.go_away(live, time_left)

    async def close_with(self, code: int, reason: str) -> None:
        """Close every live connection with this code and reason."""
        for peer, _ in self.live_peers():
            await peer.close(code, reason)

    def late_pongs(self, delay: float) -> None:
        """Stop reading every live connection for ``delay`` seconds (pings wait too)."""
        for peer, _ in self.live_peers():
            faults.pause_reading(peer, delay)

    def handle_state(self, handle: str) -> tuple[EmulatedSession, int] | None:
        """The session a resumable handle belongs to and the index of its state.

        With a shared ``store``, the session as the store holds it.
        """
        if self.store is not None:
            stored = self.store.peek(handle)
            return None if stored is None else (stored, stored.handles[handle].index)
        session = self.sessions.get(self._handles.get(handle, ""))
        if session is None or handle not in session.handles:
            return None
        return session, session.handles[handle].index

    async def _fire_due(self, live: Live, kind: str, count: int | None = None) -> None:
        for fault in faults.take_due(self.faults, kind, count):
            await faults.fire(live, fault)

    # -- a connection ------------------------------------------------------------

    async def session(self, peer: Peer) -> None:
        counts = self.counts
        counts.connections += 1
        setup = await peer.read_setup(strict=True)
        counts.messages_in += 1
        session, model = await self._admit(peer, setup)
        session.connections += 1
        session.open_connections += 1
        live = Live(self, peer, session, model)
        self._lives[id(peer)] = live
        live.timers = faults.schedule(live, self.faults)
        try:
            await live.send(t.LiveServerMessage(setup_complete=t.LiveServerSetupComplete()))
            await self._fire_due(live, "after_setup")
            async for payload in peer:
                counts.messages_in += 1
                message = validation.judge_message(payload)
                if isinstance(message, validation.Refusal):
                    await _close(peer, message)
                    return
                if live.superseded:
                    return  # frames still buffered belong to a connection that is over
                await live.consume(message)
                await self._fire_due(live, "message", session.index)
        finally:
            self._lives.pop(id(peer), None)
            for timer in live.timers:
                timer.cancel()
            if live.reply is not None:
                live.reply.cancel()
            if not live.superseded:  # else the connection that resumed the session owns it now
                # The reply in flight and the calls open end with the connection.
                session.state.connection_lost()
                session.state.tools.discard()
                if self.store is not None:
                    self.store.release(
                        _key(session), session, self.store.owner(peer.capture.number)
                    )
            session.open_connections -= 1
            if not session.open_connections:
                session.ended = time.monotonic()
                if self.store is not None:
                    # The store keeps it for whichever emulator a handle comes to.
                    if not self.keep_sessions:
                        self._forget(session)
                        self.store.trim(
                            self.session_ttl, self.resumable_sessions, self.resumable_bytes
                        )
                elif not self.keep_sessions:
                    if not session.handles:
                        self._forget(session)  # nothing can resume it
                    self._cap_idle()

    async def _admit(self, peer: Peer, setup: t.LiveClientSetup) -> tuple[EmulatedSession, Model]:
        """The session a setup joins (new, or the one its handle resumes) and its model's row.

        A setup the emulator refuses is closed and raises :class:`SetupRejected`.
        """
        # The backend is the path's (PROTOCOL.md §1.3): Vertex AI serves other models.
        backend = backends.backend_of(peer.capture.path)
        model = validation.judge_setup(setup, self.models, backend)
        if isinstance(model, validation.Refusal):
            await _close(peer, model)
            raise SetupRejected(model.why)
        quota = self._quota_refusal(setup)
        refusal = quota or (avatar.judge_avatar(setup) if avatar.wants_avatar(setup) else None)
        if refusal is not None:
            await _close(peer, refusal)
            raise SetupRejected(refusal.why)
        self._expire()
        resumption = setup.session_resumption
        if resumption is not None and resumption.handle and self.store is not None:
            session = await self._claim(peer, resumption.handle)
            session.setup = setup
            session.state.model = model
            session.state.configure(setup)
        elif resumption is not None and resumption.handle:
            found = self.handle_state(resumption.handle)
            if found is None:
                await self._refuse_handle(peer)
            session = found[0]
            # A connection of this session still open (the client left it
            # without the server noticing: a drop, a stalled socket) is over:
            # what it still has buffered must not reach the restored state.
            for live in list(self._lives.values()):
                if live.session is session:
                    self._supersede(live)
            # Restore the state the handle named; what followed is forgotten.
            for forgotten in session.restore(resumption.handle):
                self._handles.pop(forgotten, None)
            session.setup = setup
            session.state.model = model
            session.state.configure(setup)
            self.counts.resumes += 1
        else:
            number = self.store.new_key() if self.store is not None else next(self._ids)
            session = EmulatedSession(
                id=f"emulated-{number}",
                setup=setup,
                state=SessionState(setup, model=model, rows=self.models),
            )
            self.sessions[session.id] = session
            self.counts.sessions += 1
        session.setup_bytes = len(codec.encode_client_message(t.LiveClientMessage(setup=setup)))
        return session, model

    async def _refuse_handle(self, peer: Peer) -> NoReturn:
        """Close 1008 ``BidiGenerateContent session not found``: no session has the handle."""
        self.counts.resumes_refused += 1
        refusal = validation.Refusal(*validation.SESSION_NOT_FOUND, "unknown handle")
        await _close(peer, refusal)
        raise SetupRejected(refusal.why)

    async def _claim(self, peer: Peer, handle: str) -> EmulatedSession:
        """Resume from the shared store (:meth:`SharedStore.claim`): the session restored.

        A connection of the session still open here ends now; one open on
        another emulator ends when that one reads its notice.
        """
        store = self.store
        assert store is not None
        claimed = store.claim(handle, store.owner(peer.capture.number), self.session_ttl)
        if claimed is None:
            await self._refuse_handle(peer)
        session, _, _ = claimed
        session.state.rows = self.models
        for live in list(self._lives.values()):
            if live.session.id == session.id:
                self._supersede(live)
        self.sessions[session.id] = session
        self.counts.resumes += 1
        return session

    def _quota_refusal(self, setup: t.LiveClientSetup) -> validation.Refusal | None:
        """With ``quota_style="close"``: 1011 once ``max_sessions`` sessions have a connection open.

        A setup resuming one of them takes its place, so it is not refused.
        """
        if self.quota_style != "close" or self.max_sessions is None:
            return None
        resumption = setup.session_resumption
        resumed = self._session_of(resumption.handle) if resumption and resumption.handle else None
        open_sessions = {live.session.id for live in self._lives.values()} - {resumed}
        if len(open_sessions) < self.max_sessions:
            return None
        return validation.Refusal(
            *backends.QUOTA_CLOSE, f"{len(open_sessions)} sessions open, max_sessions reached"
        )

    def _session_of(self, handle: str) -> str | None:
        """The id of the session a handle names (``None``: unknown)."""
        if self.store is not None:
            key = self.store.key_of(handle)
            return None if key is None else f"emulated-{key}"
        return self._handles.get(handle)

    def _supersede(self, live: Live) -> None:
        live.superseded = True
        self._lives.pop(id(live.peer), None)
        for timer in live.timers:
            timer.cancel()
        if live.reply is not None:
            live.reply.cancel()
        live.peer.abort()

    def _expire(self) -> None:
        """Forget sessions (and their handles) idle for longer than ``session_ttl``."""
        now = time.monotonic()
        for session in list(self.sessions.values()):
            if (
                not session.open_connections
                and session.ended is not None
                and now - session.ended > self.session_ttl
            ):
                self._forget(session)

    def _forget(self, session: EmulatedSession) -> None:
        """Drop a session and its handles (they now resume as an unknown handle)."""
        if self.sessions.get(session.id) is not session:
            return  # a newer copy of it (resumed from the shared store) took its place
        self.sessions.pop(session.id, None)
        for handle in session.handles:
            self._handles.pop(handle, None)

    def _cap_idle(self) -> None:
        """Keep the idle sessions within ``resumable_sessions`` and ``resumable_bytes``.

        The one idle longest goes first; a session with a connection open is
        never forgotten.
        """
        idle = [s for s in self.sessions.values() if not s.open_connections]
        idle.sort(key=lambda s: s.ended or 0.0)
        count, total = len(idle), sum(s.kept_bytes for s in idle)
        for session in idle:
            over_count = self.resumable_sessions is not None and count > self.resumable_sessions
            over_bytes = self.resumable_bytes is not None and total > self.resumable_bytes
            if not (over_count or over_bytes):
                break
            log.info("forgetting idle session %s (caps on resumable sessions)", session.id)
            self._forget(session)
            count, total = count - 1, total - session.kept_bytes

    # -- replies -----------------------------------------------------------------

    def plan_for(self, live: Live, turn: int, text: str | None, user_audio: bytes) -> ReplyPlan:
        """The reply to user turn ``turn`` (1-based): scripted, else the default."""
        script = self.script
        if script is not None:
            plan = reply_plan(script, turn, call_ids=self._call_ids)
            if plan is not None:
                return plan
        return self.default_plan(live, text, user_audio)

    def default_plan(self, live: Live, text: str | None, user_audio: bytes) -> ReplyPlan:
        """Without a script: echo the caller's audio at 24 kHz; say what text arrived."""
        return replies.default_plan(live.text_only, text, user_audio)

    async def turn_started(self, live: Live, turn: int) -> None:
        """The reply to user turn ``turn`` sent its first message."""
        await self._fire_due(live, "turn_start", turn)

    async def turn_done(self, live: Live, turn: int) -> None:
        """The reply to user turn ``turn`` is complete."""
        self.counts.turns += 1
        await self._fire_due(live, "turn", turn)

    async def resumption_update(self, live: Live) -> None:
        """Send a ``sessionResumptionUpdate``: a new handle, if the session can resume from here."""
        session = live.session
        resumption = session.setup.session_resumption
        if resumption is None or live.stalling:
            return  # a stalled connection sends nothing at all (a turn fault's stall)
        state = session.state
        # A handle restores the consumed messages and the turn count, not the
        # middle of a turn: none while a reply, a tool call or the user's
        # speech (from its detected start to its end) is in progress.
        resumable = not session.generating and not state.tools.open and not live.in_turn
        update = t.LiveServerSessionResumptionUpdate(resumable=resumable, new_handle="")
        if not resumable:
            await live.send(t.LiveServerMessage(session_resumption_update=update))
            return
        store = self.store
        key = _key(session)
        handle = secrets.token_urlsafe(12) if store is None else store.new_handle(key)
        update.new_handle = handle
        if resumption.transparent:
            update.last_consumed_client_message_index = session.index
        # The state keeps the latest MAX_HANDLES: the oldest goes with this one.
        oldest = next(iter(state.handles)) if len(state.handles) >= MAX_HANDLES else None
        self._handles[handle] = session.id  # before it is sent: a client may resume at once
        if session.unanswered:
            session.unanswered_at[handle] = session.unanswered
        message = t.LiveServerMessage(session_resumption_update=update)
        if store is not None:
            # In the shared store before it is sent, as above (taking the update
            # twice is harmless: the second issues the same handle again). A
            # connection whose session was resumed elsewhere publishes nothing:
            # it is over (the store's module docstring).
            shaped = live.shape.apply(message)
            if shaped is None:  # the backend sends no handles (an avatar session)
                self._handles.pop(handle, None)
                return
            state.server(shaped, time.monotonic())
            if not store.publish(key, session, store.owner(live.peer.capture.number)):
                self._handles.pop(handle, None)
                self._supersede(live)
                return
        await live.send(message)
        for name in (handle, oldest):
            if name is not None and name not in state.handles:  # not sent, or voided
                self._handles.pop(name, None)
                session.unanswered_at.pop(name, None)


async def _close(peer: Peer, refusal: validation.Refusal) -> None:
    log.info("closing: %s", refusal.why)
    await peer.close(refusal.code, refusal.reason)


def _key(session: EmulatedSession) -> str:
    """A session's key in a shared store (its id is ``emulated-<key>`` there)."""
    return session.id.removeprefix("emulated-")


def _script_value(script: Any, name: str, default: Any) -> Any:
    value = getattr(script, name, None) if script is not None else None
    return default if value is None else value


@contextlib.asynccontextmanager
async def serve(**options: Any) -> AsyncIterator[Emulator]:
    """Run an emulator on an ephemeral 127.0.0.1 port for the duration of the block.

    ``async with rawlive.servers.emulator.serve() as emulator:`` then connect to
    ``emulator.url``. Options are :class:`Emulator`'s.
    """
    emulator = Emulator(**options)
    await emulator.start()
    try:
        yield emulator
    finally:
        await emulator.stop()
