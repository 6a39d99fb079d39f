"""What a scenario run did, and the expectations over it, readable in a test.

A :class:`ScenarioRun` holds one run's turns (:class:`TurnRun`: transcripts,
tool calls and responses, latencies, events) and the audit's findings over
its cassette. ``run.turn(1)`` is a :class:`TurnCheck` whose ``expect_*``
methods raise :class:`ScenarioFailed` (an ``AssertionError``) naming the
scenario and the turn, showing what was expected against what happened,
and pointing at the cassette and its report; each returns the check, so
they chain. :meth:`ScenarioRun.check` evaluates every expectation the
scenario file declares and reports all the failures at once. The rules:

1. ``expect_tool_call`` looks for any call of the turn; ``expect_next_tool_call``
   for the call after the one the previous ``expect_next_tool_call``
   matched (the first, at the start). Arguments match exactly (``args``),
   in part (``args_subset``: these keys with these values) and/or by a
   predicate (``where(args) -> bool``).
2. The reply is the turn's output transcription, else its text parts;
   ``contains`` ignores case, ``matches`` is :func:`re.search`.
3. A latency budget fails when the latency is over it or never came.
4. The word error rate is the input transcription's against the turn's
   ``says`` (:func:`rawlive.tools.wer.word_error_rate`, the ``scenario``
   extra).
5. ``expect_no_findings(at_least=...)`` fails on any audit finding at that
   severity or above (``info`` < ``warning`` < ``error``).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import msgspec

from rawlive.errors import ConfigError, ScenarioFailed
from rawlive.tools import wer
from rawlive.tools.audit import SEVERITIES, Finding
from rawlive.tools.scenario.model import Expect, Scenario
from rawlive.tools.send import Event

__all__ = [
    "ScenarioFailed",
    "ScenarioResult",
    "ScenarioRun",
    "ToolCallRecord",
    "ToolResponseRecord",
    "TurnCheck",
    "TurnRun",
    "report_command",
]


class ToolCallRecord(msgspec.Struct, kw_only=True):
    """A tool call the model made: its id, name and arguments, and when (seconds since open)."""

    id: str | None
    name: str
    args: dict[str, Any]
    t: float

    def shown(self) -> str:
        return f"{self.name}({_json(self.args)})"


class ToolResponseRecord(msgspec.Struct, kw_only=True):
    """The answer the runner sent to a tool call."""

    id: str | None
    name: str
    response: dict[str, Any]


class TurnRun(msgspec.Struct, kw_only=True):
    """What happened in one turn: what was sent, what came back and how fast."""

    number: int
    #: ``audio``, ``text``, ``speak``, ``pause`` or ``silence``.
    kind: str
    #: What was sent: the file, the text, the pause.
    input: str = ""
    #: What the turn's audio says (the WER reference).
    says: str | None = None
    #: Seconds since the session opened when the turn began and its input ended.
    started: float = 0.0
    input_end: float | None = None
    audio_seconds: float = 0.0
    input_transcript: str = ""
    #: The reply's output transcription.
    reply: str = ""
    #: The reply's text parts (a TEXT model's answer).
    text: str = ""
    tool_calls: list[ToolCallRecord] = msgspec.field(default_factory=list)
    tool_responses: list[ToolResponseRecord] = msgspec.field(default_factory=list)
    #: Latencies (s) from the input's end; ``None``: it never came.
    first_transcription: float | None = None
    first_audio: float | None = None
    turn_complete: float | None = None
    reply_audio_seconds: float = 0.0
    interruptions: int = 0
    #: Whether the reply was complete within the turn's timeout (pauses: always).
    completed: bool = False
    events: list[Event] = msgspec.field(default_factory=list)

    @property
    def reply_text(self) -> str:
        """The reply as text: its transcript, else its text parts (rule 2)."""
        return self.reply or self.text

    def to_json(self) -> str:
        return msgspec.json.encode(self, enc_hook=str).decode("utf-8")


class ScenarioResult(msgspec.Struct, kw_only=True):
    """One run of a scenario as a result: passed or not, why, and what it measured."""

    scenario: str
    file: str | None = None
    #: Which run of the scenario (from 1, with ``--repeat``).
    run: int = 1
    passed: bool
    failures: list[str] = msgspec.field(default_factory=list)
    error: str | None = None
    #: ``emulator``, ``endpoint``, ``gemini`` or ``cassette``.
    target: str = ""
    cassette: str | None = None
    report: str | None = None
    duration: float = 0.0
    #: Each replying turn's first-audio latency (s), ``None`` where none came.
    first_audio: list[float | None] = msgspec.field(default_factory=list)
    findings: list[Finding] = msgspec.field(default_factory=list)
    turns: list[TurnRun] = msgspec.field(default_factory=list)

    def to_json(self) -> str:
        return msgspec.json.encode(self, enc_hook=str).decode("utf-8")

    def line(self) -> str:
        """One line for a person: PASS/FAIL, the scenario, the first reason."""
        head = f"{'PASS' if self.passed else 'FAIL'} {self.scenario} (run {self.run})"
        latencies = [f"{x * 1000:.0f}" for x in self.first_audio if x is not None]
        head += f" {self.duration:.1f} s"
        if latencies:
            head += f", first audio {'/'.join(latencies)} ms"
        if not self.passed and self.failures:
            head += f": {self.failures[0].splitlines()[0]}"
        return head

    def lines(self) -> list[str]:
        """:meth:`line`, then for a failed run each other reason and where to look."""
        lines = [self.line()]
        if not self.passed:
            lines += [f"  also: {failure.splitlines()[0]}" for failure in self.failures[1:]]
            if self.cassette:
                lines.append(f"  cassette: {self.cassette}")
            if self.report:
                lines.append(f"  report: {self.report}")
        return lines


def report_command(cassette: str) -> str:
    """The command that renders a cassette's report page beside it."""
    page = str(Path(cassette).with_suffix(".html"))
    return f"rawlive report {cassette} -o {page}"


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _seconds(value: float | None) -> str:
    return "never" if value is None else f"{value:.2f} s"


@dataclasses.dataclass
class ScenarioRun:
    """One run of a scenario (see the module docstring)."""

    scenario: Scenario
    turns: list[TurnRun] = dataclasses.field(default_factory=list)
    findings: list[Finding] = dataclasses.field(default_factory=list)
    #: The run's cassette (``None``: not kept, no ``record`` was given).
    cassette: str | None = None
    #: The page written for it, when one was (``rawlive scenario run`` on a failure).
    report: str | None = None
    #: ``emulator``, ``endpoint``, ``gemini`` or ``cassette``.
    target: str = ""
    #: The cassette replayed, with ``target == "cassette"``.
    replayed: str | None = None
    #: Why the run ended early (the connection closed...), if it did.
    error: str | None = None
    #: What went wrong replaying the cassette (a frame that did not match).
    problems: list[str] = dataclasses.field(default_factory=list)
    duration: float = 0.0

    @property
    def name(self) -> str:
        return self.scenario.name

    def turn(self, number: int) -> TurnCheck:
        """Turn ``number`` (from 1, as the scenario lists them) to check."""
        if not 1 <= number <= len(self.scenario.turns):
            raise ConfigError(
                f"scenario {self.name!r} has turns 1 to {len(self.scenario.turns)}, not {number}"
            )
        if number > len(self.turns):
            self.fail(number, f"turn {number} was never played", None)
        return TurnCheck(self, self.turns[number - 1])

    # -- failure messages -------------------------------------------------------

    def where(self) -> str:
        """Where to look: the cassette and its report page."""
        lines = []
        if self.error:
            lines.append(f"  the run ended early: {self.error}")
        if self.cassette:
            lines.append(f"  cassette: {self.cassette}")
            if self.report:
                lines.append(f"  report: {self.report}")
            else:
                lines.append(f"  see it: {report_command(self.cassette)}")
        elif self.replayed:
            lines.append(f"  cassette replayed: {self.replayed}")
            lines.append(f"  see it: {report_command(self.replayed)}")
        else:
            lines.append("  (no cassette kept: run with record=PATH to keep one)")
        return "\n".join(lines)

    def fail(self, number: int | None, reason: str, turn: TurnRun | None) -> None:
        """Raise :class:`ScenarioFailed` for one reason."""
        text = self.describe(number, reason, turn)
        raise ScenarioFailed(f"{text}\n{self.where()}", [text])

    def describe(self, number: int | None, reason: str, turn: TurnRun | None) -> str:
        """``scenario 'x', turn N: reason`` and what happened in the turn."""
        head = f"scenario {self.name!r}" + (f", turn {number}" if number else "") + f": {reason}"
        if turn is None:
            return head
        calls = ", ".join(c.shown() for c in turn.tool_calls) or "none"
        lines = [
            head,
            f"    tool calls: {calls}",
            f"    heard: {turn.input_transcript!r}"
            + (f" (says {turn.says!r})" if turn.says else ""),
            f"    reply: {turn.reply_text!r}",
            f"    latencies: first transcription {_seconds(turn.first_transcription)}, "
            f"first audio {_seconds(turn.first_audio)}, "
            f"turn complete {_seconds(turn.turn_complete)}"
            + ("" if turn.completed else " (no complete reply)"),
        ]
        return "\n".join(lines)

    # -- the run as a whole -----------------------------------------------------

    def expect_no_findings(self, at_least: str = "warning") -> ScenarioRun:
        """No audit finding at ``at_least`` or above (rule 5)."""
        failures = self._finding_failures(at_least)
        if failures:
            raise ScenarioFailed(f"{failures[0]}\n{self.where()}", failures)
        return self

    def _finding_failures(self, at_least: str) -> list[str]:
        if at_least not in SEVERITIES:
            raise ConfigError(f"at_least must be one of {', '.join(SEVERITIES)}, not {at_least!r}")
        level = SEVERITIES.index(at_least)
        bad = [f for f in self.findings if SEVERITIES.index(f.severity) >= level]
        if not bad:
            return []
        shown = "\n".join(
            f"    {f.severity} {f.rule}"
            + (f" at {f.t:.2f} s" if f.t is not None else "")
            + f": {f.message}"
            for f in bad[:10]
        )
        more = f"\n    ... and {len(bad) - 10} more" if len(bad) > 10 else ""
        return [
            f"scenario {self.name!r}: expected no audit finding at {at_least} or above, "
            f"found {len(bad)}:\n{shown}{more}"
        ]

    def _failures(self) -> list[tuple[int | None, str]]:
        """Every failed expectation the scenario file declares: (turn or ``None``, reason)."""
        out: list[tuple[int | None, str]] = []
        if self.error:
            out.append((None, f"the run ended early: {self.error}"))
        out.extend((None, f"replay: {p}") for p in self.problems)
        for number, spec in enumerate(self.scenario.turns, 1):
            if number > len(self.turns):
                if not self.error:
                    out.append((number, "never played"))
                continue
            turn = self.turns[number - 1]
            if spec.replies and not turn.completed and not self.error:
                out.append((number, f"no complete reply within {spec.timeout:g} s"))
            if spec.expect is not None:
                out.extend((number, r) for r in TurnCheck(self, turn).declared(spec.expect))
        if self.scenario.expect.no_findings is not None:
            found = self._finding_failures(self.scenario.expect.no_findings)
            out.extend((None, f.removeprefix(f"scenario {self.name!r}: ")) for f in found)
        return out

    def failures(self) -> list[str]:
        """Every expectation of the scenario file that failed (all are evaluated, not only
        the first), each ``scenario 'x', turn N: reason``."""
        return [
            f"scenario {self.name!r}" + (f", turn {n}" if n else "") + f": {reason}"
            for n, reason in self._failures()
        ]

    def check(self) -> ScenarioRun:
        """Raise :class:`ScenarioFailed` listing every failed expectation the file declares,
        each turn's reasons followed by what happened in it."""
        found = self._failures()
        if not found:
            return self
        count = f"{len(found)} failure" + ("s" if len(found) > 1 else "")
        lines = [f"scenario {self.name!r} failed ({count}):"]
        lines.extend(f"- {reason}" for n, reason in found if n is None)
        for number in sorted({n for n, _ in found if n is not None}):
            lines.extend(f"- turn {number}: {reason}" for n, reason in found if n == number)
            if number <= len(self.turns):
                lines.extend(self.describe(number, "", self.turns[number - 1]).splitlines()[1:])
        raise ScenarioFailed("\n".join(lines) + "\n" + self.where(), self.failures())

    def result(self, run: int = 1) -> ScenarioResult:
        """The run as a :class:`ScenarioResult` (its file expectations evaluated)."""
        failures = self.failures()
        return ScenarioResult(
            scenario=self.name,
            file=self.scenario.source,
            run=run,
            passed=not failures,
            failures=failures,
            error=self.error,
            target=self.target,
            cassette=self.cassette,
            report=self.report,
            duration=self.duration,
            first_audio=[
                turn.first_audio
                for spec, turn in zip(self.scenario.turns, self.turns, strict=False)
                if spec.replies
            ],
            findings=self.findings,
            turns=self.turns,
        )


class TurnCheck:
    """The expectations over one turn (the module docstring's rules 1-4)."""

    def __init__(self, run: ScenarioRun, turn: TurnRun) -> None:
        self.run = run
        self.turn = turn
        #: How many calls ``expect_next_tool_call`` has matched.
        self.next_call = 0

    def _fail(self, reason: str) -> None:
        self.run.fail(self.turn.number, reason, self.turn)

    def _or_raise(self, failure: str | None) -> TurnCheck:
        if failure is not None:
            self._fail(failure)
        return self

    # -- tool calls -------------------------------------------------------------

    @staticmethod
    def _wanted(
        name: str,
        args: dict[str, Any] | None,
        args_subset: dict[str, Any] | None,
        where: Callable[[dict[str, Any]], bool] | None,
    ) -> str:
        shown = name
        if args is not None:
            shown += f" with args {_json(args)}"
        if args_subset is not None:
            shown += f" with args including {_json(args_subset)}"
        if where is not None:
            shown += f" with args passing {getattr(where, '__name__', 'the predicate')}"
        return shown

    @staticmethod
    def _matches(
        call: ToolCallRecord,
        name: str,
        args: dict[str, Any] | None,
        args_subset: dict[str, Any] | None,
        where: Callable[[dict[str, Any]], bool] | None,
    ) -> bool:
        if call.name != name:
            return False
        if args is not None and call.args != args:
            return False
        if args_subset is not None and any(
            key not in call.args or call.args[key] != value for key, value in args_subset.items()
        ):
            return False
        return where is None or bool(where(call.args))

    def tool_call_failure(
        self,
        name: str,
        *,
        args: dict[str, Any] | None = None,
        args_subset: dict[str, Any] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> str | None:
        if any(self._matches(c, name, args, args_subset, where) for c in self.turn.tool_calls):
            return None
        return f"expected a tool call {self._wanted(name, args, args_subset, where)}"

    def expect_tool_call(
        self,
        name: str,
        *,
        args: dict[str, Any] | None = None,
        args_subset: dict[str, Any] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> TurnCheck:
        """Some call of the turn is ``name`` with these arguments (rule 1)."""
        return self._or_raise(
            self.tool_call_failure(name, args=args, args_subset=args_subset, where=where)
        )

    def expect_next_tool_call(
        self,
        name: str,
        *,
        args: dict[str, Any] | None = None,
        args_subset: dict[str, Any] | None = None,
        where: Callable[[dict[str, Any]], bool] | None = None,
    ) -> TurnCheck:
        """The turn's next call (in order) is ``name`` with these arguments (rule 1)."""
        calls = self.turn.tool_calls
        wanted = self._wanted(name, args, args_subset, where)
        if self.next_call >= len(calls):
            self._fail(f"expected tool call {self.next_call + 1} to be {wanted}, there is none")
        call = calls[self.next_call]
        if not self._matches(call, name, args, args_subset, where):
            self._fail(
                f"expected tool call {self.next_call + 1} to be {wanted}, got {call.shown()}"
            )
        self.next_call += 1
        return self

    def expect_no_tool_call(self) -> TurnCheck:
        """The turn made no tool call."""
        if self.turn.tool_calls:
            self._fail("expected no tool call")
        return self

    # -- the reply --------------------------------------------------------------

    def reply_failure(
        self, contains: str | list[str] | None = None, matches: str | None = None
    ) -> str | None:
        reply = self.turn.reply_text
        wanted = [contains] if isinstance(contains, str) else list(contains or ())
        missing = [w for w in wanted if w.lower() not in reply.lower()]
        if missing:
            return f"expected the reply to contain {', '.join(repr(m) for m in missing)}"
        if matches is not None and re.search(matches, reply) is None:
            return f"expected the reply to match /{matches}/"
        return None

    def expect_reply(
        self, *, contains: str | list[str] | None = None, matches: str | None = None
    ) -> TurnCheck:
        """The reply's transcript contains ``contains`` / matches ``matches`` (rule 2)."""
        return self._or_raise(self.reply_failure(contains, matches))

    # -- latencies --------------------------------------------------------------

    def latency_failures(
        self,
        *,
        first_audio: float | None = None,
        first_transcription: float | None = None,
        turn_complete: float | None = None,
    ) -> list[str]:
        out = []
        for label, budget, got in (
            ("first transcription", first_transcription, self.turn.first_transcription),
            ("first audio", first_audio, self.turn.first_audio),
            ("turn complete", turn_complete, self.turn.turn_complete),
        ):
            if budget is None:
                continue
            if got is None:
                out.append(f"expected {label} within {budget:g} s, it never came")
            elif got > budget:
                out.append(f"expected {label} within {budget:g} s, it took {got:.2f} s")
        return out

    def expect_latency(
        self,
        *,
        first_audio: float | None = None,
        first_transcription: float | None = None,
        turn_complete: float | None = None,
    ) -> TurnCheck:
        """Each latency given is within its budget, in seconds (rule 3)."""
        failures = self.latency_failures(
            first_audio=first_audio,
            first_transcription=first_transcription,
            turn_complete=turn_complete,
        )
        if failures:
            self._fail("; ".join(failures))
        return self

    # -- word error rate --------------------------------------------------------

    def wer(self) -> float:
        """The input transcription's word error rate against the turn's ``says`` (rule 4)."""
        if not self.turn.says:
            raise ConfigError(
                f"scenario {self.run.name!r}, turn {self.turn.number}: no says text to compare "
                "the transcription with: give the turn says"
            )
        # (WerMissing, naming the extra, when jiwer is not installed.)
        return wer.word_error_rate(self.turn.says, self.turn.input_transcript)

    def wer_failure(self, max: float) -> str | None:
        rate = self.wer()
        if rate <= max:
            return None
        return (
            f"expected the input transcription's word error rate at most {max:g}, it is {rate:.2f}"
        )

    def expect_wer(self, max: float) -> TurnCheck:
        """The input transcription's WER against ``says`` is at most ``max``."""
        return self._or_raise(self.wer_failure(max))

    # -- a file's [turns.expect] ------------------------------------------------

    def declared(self, expect: Expect) -> list[str]:
        """The reason of every failure of the turn's declared expectations."""
        reasons: list[str | None] = [
            self.tool_call_failure(c.name, args=c.args, args_subset=c.args_subset)
            for c in expect.tool_calls
        ]
        if expect.no_tool_calls and self.turn.tool_calls:
            reasons.append("expected no tool call")
        reasons.append(self.reply_failure(expect.reply_contains, expect.reply_matches))
        reasons.extend(
            self.latency_failures(
                first_audio=expect.first_audio,
                first_transcription=expect.first_transcription,
                turn_complete=expect.turn_complete,
            )
        )
        if expect.max_wer is not None:
            reasons.append(self.wer_failure(expect.max_wer))
        return [reason for reason in reasons if reason is not None]
