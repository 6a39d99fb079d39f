"""Record modes: when a test's cassette is recorded, replayed or grown, as vcrpy has them.

The pytest plugin takes one from ``--live-record-mode``; :meth:`RecordMode.plan`
is the rule, given whether the cassette exists:

1. ``none`` replays and never records: a missing cassette is an error.
2. ``once`` replays the cassette if it exists, else records it.
3. ``new_episodes`` replays the connections the cassette holds and records
   those beyond them, to append (or records the whole cassette if there is none).
4. ``all`` always records, replacing the cassette.
"""

from __future__ import annotations

import enum

__all__ = ["MODES", "Plan", "RecordMode"]


class Plan(enum.Enum):
    """What to do with a test's cassette (:meth:`RecordMode.plan`)."""

    RECORD = "record"
    REPLAY = "replay"
    #: Replay what the cassette holds; record the connections beyond, to append.
    APPEND = "append"
    #: The cassette is needed and missing.
    MISSING = "missing"


class RecordMode(enum.StrEnum):
    """When a cassette is recorded: vcrpy's record modes, but ``any`` (see the module's rules)."""

    #: Replay only; a missing cassette is an error and other endpoints are refused.
    NONE = "none"
    #: Replay the cassette if it exists, else record it.
    ONCE = "once"
    #: Replay the connections the cassette holds, record those beyond and append them.
    NEW_EPISODES = "new_episodes"
    #: Always record, replacing the cassette.
    ALL = "all"

    def plan(self, exists: bool) -> Plan:
        """What this mode does with a cassette that ``exists`` (or not)."""
        if self is RecordMode.ALL or (self is not RecordMode.NONE and not exists):
            return Plan.RECORD
        if not exists:
            return Plan.MISSING
        return Plan.APPEND if self is RecordMode.NEW_EPISODES else Plan.REPLAY


#: The record modes' names, as ``--live-record-mode`` takes them.
MODES = tuple(mode.value for mode in RecordMode)
