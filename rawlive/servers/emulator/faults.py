"""Things that go wrong on purpose: a script's faults, the connection's limits, a test's calls.

A script's ``[[faults]]`` (:mod:`rawlive.servers.emulator.script`) become
:class:`Fault`\\ s, each fired once, the first time its point is reached in any
session (after setup, at a turn's start or end, after a message, or some
seconds in). The connection lifetime (a ``goAway`` ``goaway_lead`` seconds
before its end) and the session limit (1011 ``DEADLINE_EXCEEDED``) are
timers of the same kind; a model with its own session limit (Transcribe
Live's 10 minutes, the default of ``session_limit``) gets a ``goAway``
``goaway_lead`` seconds before it (at most half of it) and 1011 ``Deadline
expired before operation could complete.`` :meth:`Emulator.drop`,
:meth:`Emulator.go_away`, :meth:`Emulator.close_with` and
:meth:`Emulator.late_pongs` do it now.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from rawlive.servers.base import Peer
from rawlive.servers.emulator.script import Script
from rawlive.wire import types as t

if TYPE_CHECKING:
    from rawlive.servers.emulator.turns import Live

__all__ = [
    "LIFETIME_CLOSES",
    "MODEL_LIMIT",
    "SESSION_LIMIT",
    "Fault",
    "emulator_faults",
    "fire",
    "go_away",
    "pause_reading",
    "quietly",
    "schedule",
    "script_faults",
    "take_due",
]

log = logging.getLogger("rawlive.servers.emulator")

#: The close at the end of ``session_limit``, as the real server's.
SESSION_LIMIT = (1011, "Request trace id: emulated, [ORIGINAL ERROR] RPC::DEADLINE_EXCEEDED")
#: The close at the end of a model's own session limit (Transcribe Live's 10 minutes):
#: the 2026 servers' time-limit close (PROTOCOL.md §10.14), after a ``goAway`` (§7).
MODEL_LIMIT = (1011, "Deadline expired before operation could complete.")
#: How a connection ends at ``connection_lifetime`` (PROTOCOL.md §10.15.12):
#: ``"normal"`` (the documented ~10 minutes: ``goAway`` ahead, then a normal
#: close) or ``"deadline"`` (1011 ``Deadline expired…``, as one field report
#: saw a 3.8 connection end at 58:00 on the Gemini API, §10.14, §10.16.6;
#: the ``goAway`` ahead only with a ``goaway_lead`` above 0, the report does
#: not say whether one came).
LIFETIME_CLOSES = ("normal", "deadline")


@dataclasses.dataclass
class Fault:
    """A fault to fire: ``at`` is ``("after_setup",)``, ``("turn", n)``, ``("message", n)``
    or ``("seconds", x)``."""

    at: tuple[Any, ...]
    action: str
    code: int = 1011
    reason: str = "Internal error occurred."
    time_left_s: float = 5.0
    delay_s: float = 30.0


def emulator_faults(script: Script) -> list[Fault]:
    """The script's faults as the emulator fires them: ``at`` parsed, defaults filled in."""
    return [
        Fault(
            at=fault.point,
            action=fault.action,
            code=fault.close_code,
            reason=fault.close_reason,
            time_left_s=fault.go_away_time_left,
            delay_s=fault.pong_delay,
        )
        for fault in script.faults
    ]


def script_faults(script: Script | None) -> list[Fault]:
    """:func:`emulator_faults`, none without a script."""
    return [] if script is None else emulator_faults(script)


def take_due(faults: list[Fault], kind: str, count: int | None = None) -> list[Fault]:
    """Remove and return the faults due at point ``kind`` (number ``count``, if it has one)."""
    due = [f for f in faults if f.at[0] == kind and (count is None or f.at[1] == count)]
    for fault in due:
        faults.remove(fault)
    return due


async def quietly(action: Awaitable[None]) -> None:
    """Run a timer's action on a connection, which may have ended meanwhile."""
    with contextlib.suppress(ConnectionClosed):
        await action


def pause_reading(peer: Peer, delay: float) -> None:
    """Stop reading a connection for a while: pings (and everything else) wait."""
    transport = peer.ws.transport
    transport.pause_reading()
    asyncio.get_running_loop().call_later(delay, transport.resume_reading)


async def go_away(live: Live, time_left: float) -> None:
    """Send ``goAway``, then end the connection ``time_left`` seconds later."""
    await live.send(
        t.LiveServerMessage(go_away=t.LiveServerGoAway(time_left=t.Duration(seconds=time_left)))
    )
    asyncio.get_running_loop().call_later(
        time_left,
        lambda: asyncio.ensure_future(live.peer.close(1000, "connection lifetime reached")),
    )


async def fire(live: Live, fault: Fault) -> None:
    """Do what ``fault`` says to the connection."""
    log.info("fault: %s at %s", fault.action, fault.at)
    peer = live.peer
    if fault.action == "drop":
        peer.abort()
    elif fault.action == "close":
        await peer.close(fault.code, fault.reason)
    elif fault.action == "go_away":
        await go_away(live, fault.time_left_s)
    elif fault.action == "unknown_message":
        await peer.send(b'{"someFutureMessage":{"detail":"emulated"}}', opcode=live.emulator.frames)
    elif fault.action == "malformed":
        await peer.send(b'{"serverContent": {', opcode=live.emulator.frames)
    elif fault.action == "late_pongs":
        pause_reading(peer, fault.delay_s)


def schedule(live: Live, faults: list[Fault]) -> list[asyncio.TimerHandle]:
    """A connection's timers: its ``goAway`` and end, its session's limit, timed faults.

    The timed faults (``seconds:X``) are taken from ``faults``: they fire on
    this connection only.
    """
    emulator = live.emulator
    loop = asyncio.get_running_loop()
    timers = []
    lifetime = emulator.connection_lifetime
    if lifetime is not None and emulator.lifetime_close == "deadline":
        lead = min(emulator.goaway_lead, lifetime)
        if lead > 0:
            ahead = t.LiveServerMessage(
                go_away=t.LiveServerGoAway(time_left=t.Duration(seconds=lead))
            )
            timers.append(
                loop.call_later(
                    lifetime - lead, lambda: asyncio.ensure_future(quietly(live.send(ahead)))
                )
            )
        timers.append(
            loop.call_later(lifetime, lambda: asyncio.ensure_future(live.peer.close(*MODEL_LIMIT)))
        )
    elif lifetime is not None:
        lead = min(emulator.goaway_lead, lifetime)
        timers.append(
            loop.call_later(
                lifetime - lead, lambda: asyncio.ensure_future(quietly(go_away(live, lead)))
            )
        )
    row = live.session.state.model
    own = row.session_limit if row is not None else None
    limit = emulator.session_limit if emulator.session_limit is not None else own
    if limit is not None:
        left = max(limit - (time.monotonic() - live.session.started), 0.0)
        close = SESSION_LIMIT
        if own is not None:
            # A model with its own limit (PROTOCOL.md §10.8) warns first, as
            # the server does before it ends a connection (§6, §7).
            close = MODEL_LIMIT
            lead = min(emulator.goaway_lead, limit / 2, left)
            message = t.LiveServerMessage(
                go_away=t.LiveServerGoAway(time_left=t.Duration(seconds=lead))
            )
            timers.append(
                loop.call_later(
                    left - lead, lambda: asyncio.ensure_future(quietly(live.send(message)))
                )
            )
        timers.append(loop.call_later(left, lambda: asyncio.ensure_future(live.peer.close(*close))))
    for fault in take_due(faults, "seconds"):
        timers.append(
            loop.call_later(
                float(fault.at[1]),
                lambda f=fault: asyncio.ensure_future(quietly(fire(live, f))),  # type: ignore[misc]
            )
        )
    return timers
