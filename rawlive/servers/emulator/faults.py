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

A script's turn faults (a turn's ``fault``, the ``turn_faults``) change how
one user turn is answered, not the connection (issue 16's misbehaviours:
stalls, empty or cut replies, speech with no answer, a turn ended early, a
final transcription dropped). :class:`TurnFaults` holds them with the
emulator's seeded generator and draws them for each attempt at a turn:
:meth:`TurnFaults.draw` at the start of the user's speech (``early_end``,
which changes how the turn ends) and when the turn has ended (the rest,
gathered in a :class:`Misplay` the reply plays by). A fault without a
``probability`` hits the first attempt at its turn only, once in the
emulator's life as ``[[faults]]`` do, so a client that resumes and re-sends
the turn is answered; one with a ``probability`` draws at every attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import random
import time
from collections.abc import Awaitable
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed

from rawlive.servers.base import Peer
from rawlive.servers.emulator.script import DEFAULT_SEED, Script, TurnFault
from rawlive.wire import types as t

if TYPE_CHECKING:
    from rawlive.servers.emulator.turns import Live

__all__ = [
    "INPUT_ACTIONS",
    "LIFETIME_CLOSES",
    "MODEL_LIMIT",
    "SESSION_LIMIT",
    "Fault",
    "Misplay",
    "TurnFaults",
    "emulator_faults",
    "fire",
    "go_away",
    "pause_reading",
    "quietly",
    "schedule",
    "script_faults",
    "stall",
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


async def stall(live: Live, fault: TurnFault) -> None:
    """Send nothing for ``fault.stall_s`` seconds of wall-clock time (``None``: until the end).

    The socket stays open; with ``pongs = false`` the connection is not read
    meanwhile, so the client's keepalive pings (PROTOCOL.md §5.2, §8 item 13)
    go unanswered too. The connection is hung: new
    speech interrupts nothing and the replies to later turns wait for the
    stall to end. The stall is this connection's: it ends with it (a client
    that resumes elsewhere is answered there).
    """
    log.info("fault: stall for %s", f"{fault.stall_s} s" if fault.stall_s else "ever")
    transport = live.peer.ws.transport
    if not fault.answers_pings:
        transport.pause_reading()
    try:
        if fault.stall_s is None:
            await asyncio.get_running_loop().create_future()  # until cancelled
        else:
            await asyncio.sleep(fault.stall_s)
    finally:
        if live.stalled is asyncio.current_task():
            live.stalled = None  # the stall is over (live.stalling)
        if not fault.answers_pings and not transport.is_closing():
            transport.resume_reading()


#: The turn faults drawn when the user's speech starts: they change how the turn ends.
INPUT_ACTIONS = frozenset({"early_end"})


@dataclasses.dataclass
class Misplay:
    """How the reply to one attempt at a user turn goes wrong (nothing: it plays as planned).

    ``stall`` is the first ``stall`` drawn (before the reply, or ``during_ms``
    into it); ``cut`` the first ``cut_reply``. ``no_answer`` sends nothing
    but the input transcription; ``empty`` sends ``generationComplete`` and
    ``turnComplete`` with the usage of the reply never sent (PROTOCOL.md §9's
    turn with no content);
    ``drop_final`` leaves the input transcription out.
    """

    stall: TurnFault | None = None
    cut: TurnFault | None = None
    empty: bool = False
    no_answer: bool = False
    drop_final: bool = False

    @classmethod
    def of(cls, drawn: list[TurnFault]) -> Misplay | None:
        """The misplay of the faults drawn (``None`` for none)."""
        if not drawn:
            return None
        misplay = cls()
        for fault in drawn:
            if fault.action == "stall" and misplay.stall is None:
                misplay.stall = fault
            elif fault.action == "cut_reply" and misplay.cut is None:
                misplay.cut = fault
            elif fault.action == "empty_turn":
                misplay.empty = True
            elif fault.action == "no_answer":
                misplay.no_answer = True
            elif fault.action == "drop_final_transcription":
                misplay.drop_final = True
        return misplay

    @property
    def stall_before(self) -> TurnFault | None:
        return self.stall if self.stall is not None and self.stall.during_ms is None else None

    @property
    def stall_during(self) -> TurnFault | None:
        return self.stall if self.stall is not None and self.stall.during_ms is not None else None

    def speaking(self) -> Misplay:
        """The part for the reply after tool calls: a stall during it, a cut, empty."""
        return Misplay(stall=self.stall_during, cut=self.cut, empty=self.empty)


class TurnFaults:
    """The script's turn faults, drawn per attempt at a turn from a seeded generator.

    One per emulator: the draws run on in one sequence across its sessions,
    so a seed reproduces a run, and a once-only fault fires once.
    """

    def __init__(self, script: Script | None, seed: int | None = None) -> None:
        self.entries: list[tuple[str, TurnFault, frozenset[int] | None]] = []
        if isinstance(script, Script):
            for index, turn in enumerate(script.turns):
                if turn.fault is not None:
                    self.entries.append(
                        (f"turns[{index}].fault", turn.fault, frozenset({index + 1}))
                    )
            for index, fault in enumerate(script.turn_faults):
                turns = frozenset(fault.turns) if fault.turns is not None else None
                self.entries.append((f"turn_faults[{index}]", fault, turns))
        if seed is None:
            seed = script.seed if isinstance(script, Script) else DEFAULT_SEED
        self.seed = seed
        self.random = random.Random(seed)
        self.fired: set[tuple[str, int]] = set()
        #: Each entry's draws in order (``True``: it hit), for tests and statistics.
        self.drawn: dict[str, list[bool]] = {}

    def draw(self, turn: int, *, on_input: bool) -> list[TurnFault]:
        """The faults that hit this attempt at user turn ``turn`` (from 1).

        ``on_input``: those drawn when the user starts speaking (``early_end``);
        else the others, drawn once the turn has ended.
        """
        hit = []
        for key, fault, turns in self.entries:
            if (fault.action in INPUT_ACTIONS) != on_input:
                continue
            if turns is not None and turn not in turns:
                continue
            if fault.probability is None:
                if (key, turn) in self.fired:
                    continue
                self.fired.add((key, turn))
                applies = True
            else:
                applies = self.random.random() < fault.probability
            self.drawn.setdefault(key, []).append(applies)
            if applies:
                log.info("turn fault %s (%s) hits turn %d", key, fault.action, turn)
                hit.append(fault)
        return hit

    def misplay(self, turn: int) -> Misplay | None:
        """The reply's faults for this attempt at ``turn``."""
        return Misplay.of(self.draw(turn, on_input=False))


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
