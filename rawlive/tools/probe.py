"""``rawlive probe``: play the same input N times and count how the server misbehaves.

Users prove a flaky server by hand-running the same file a few dozen times
(python-genai #2117: a 53 % stall rate over 43 runs). :func:`run_probe` does
it for them and keeps the evidence:

1. Each trial is one session: :func:`rawlive.tools.send.stream_file` plays
   the file as ``rawlive send`` does, with the stall watchdog on and no
   session resumption, so a stall ends the trial (a trial that resumed
   would hide what the server did), recorded to its own cassette.
2. The trial's class comes from how it ended and from the audit of its
   cassette (:mod:`rawlive.tools.audit`; the same rules as ``rawlive
   audit``): ``closed`` (an abnormal close, its code kept), ``stalled``
   (the watchdog, a reply timeout or ``stalled-turn``), ``cut``
   (``reply-cut``), ``empty`` (``empty-turn``), ``unanswered``
   (``unanswered-input``), ``early-end`` (``early-turn-end``), else ``ok``;
   the first that applies, in that order.
3. Each class gets its count, its rate with a 95 % Wilson score interval
   (right at 0 and N, where the normal approximation is not) and the
   percentiles of the trials' first-reply latency.
4. A quota refusal (``QuotaExceeded``: the server's limit on concurrent
   sessions, PROTOCOL.md §10.12) is not a trial's outcome: the trial waits
   and runs again (up to :data:`QUOTA_RETRIES` times, then ``closed``), and
   the refusals are counted.
5. The bundle directory holds every trial's cassette, one report page per
   trial that was not ``ok``, and ``summary.json`` (:class:`ProbeSummary`):
   what a user attaches to a bug report.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import math
import os
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import msgspec

from rawlive.cassette import CassetteWriter
from rawlive.client.session import Session
from rawlive.core.watchdog import StallPolicy
from rawlive.errors import (
    LiveConnectionClosed,
    QuotaExceeded,
    RawliveError,
    ReplyTimeout,
    SessionStalled,
)
from rawlive.tools.audit import audit_cassette
from rawlive.tools.audit.metrics import percentiles
from rawlive.tools.report import write_report
from rawlive.tools.send import stream_file

__all__ = [
    "ClassStats",
    "Outcome",
    "ProbeSummary",
    "Trial",
    "run_probe",
    "wilson",
]

#: Times a trial refused for quota is tried again before it counts as closed.
QUOTA_RETRIES = 8
#: The first wait after a quota refusal (seconds; doubled each time, at most 30 s).
QUOTA_BACKOFF = 1.0

#: z for a two-sided 95 % interval.
_Z95 = 1.959963984540054

_json = msgspec.json.Encoder(enc_hook=str)


class Outcome(enum.StrEnum):
    """How a trial went (rule 2 of the module docstring, in precedence order)."""

    CLOSED = "closed"
    STALLED = "stalled"
    CUT = "cut"
    EMPTY = "empty"
    UNANSWERED = "unanswered"
    EARLY_END = "early-end"
    OK = "ok"


#: The audit rule that puts a trial in each class.
RULE_OUTCOMES: tuple[tuple[str, Outcome], ...] = (
    ("stalled-turn", Outcome.STALLED),
    ("reply-cut", Outcome.CUT),
    ("empty-turn", Outcome.EMPTY),
    ("unanswered-input", Outcome.UNANSWERED),
    ("early-turn-end", Outcome.EARLY_END),
)


def wilson(successes: int, trials: int, z: float = _Z95) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95 % by default).

    ``(0.0, 1.0)`` for no trials. Five lines of arithmetic, not worth a
    statistics package as a dependency.
    """
    if trials <= 0:
        return 0.0, 1.0
    p = successes / trials
    z2 = z * z
    centre = (p + z2 / (2 * trials)) / (1 + z2 / trials)
    half = z * math.sqrt(p * (1 - p) / trials + z2 / (4 * trials * trials)) / (1 + z2 / trials)
    return max(0.0, centre - half), min(1.0, centre + half)


class Trial(msgspec.Struct, kw_only=True):
    """One trial: how it went, why, and where its evidence is."""

    number: int
    outcome: Outcome
    #: The audit rules that fired on its cassette (each once), in rule order.
    findings: list[str] = msgspec.field(default_factory=list)
    #: From the end of the input to the first reply audio (seconds).
    first_reply_latency: float | None = None
    seconds: float = 0.0
    close_code: int | None = None
    close_reason: str = ""
    #: The error that ended it, in one line (``None``: it ended normally).
    error: str | None = None
    #: Why it is not ``ok``, in a few words (``no-reply after 15.0 s``, ``close 1011``...).
    detail: str | None = None
    quota_refusals: int = 0
    #: Its cassette and, for a trial that was not ``ok``, its report page
    #: (paths relative to the bundle directory).
    cassette: str = ""
    report: str | None = None


class ClassStats(msgspec.Struct, kw_only=True):
    """One class over all trials."""

    outcome: Outcome
    count: int
    rate: float
    #: The 95 % Wilson score interval of the rate.
    low: float
    high: float
    #: The first-reply latency of its trials: ``p50``, ``p90``, ``max``, ``n``.
    latency: dict[str, float] | None = None


class ProbeSummary(msgspec.Struct, kw_only=True):
    """What :func:`run_probe` found (``summary.json``, ``rawlive probe --json``)."""

    file: str
    model: str
    trials: int
    concurrency: int
    #: The stall watchdog's thresholds used (seconds).
    stall_after: float
    stall_gap: float
    classes: list[ClassStats]
    #: Trials that were not ``ok``, and their rate with its interval.
    failures: int
    failure_rate: float
    failure_low: float
    failure_high: float
    quota_refusals: int
    seconds: float
    bundle: str
    #: The classes whose rate is above ``max_failure_rate`` (``rawlive probe``
    #: then exits 1).
    exceeded: list[str] = msgspec.field(default_factory=list)
    max_failure_rate: float | None = None
    results: list[Trial] = msgspec.field(default_factory=list)

    def to_json(self) -> str:
        return _json.encode(self).decode("utf-8")

    def lines(self) -> list[str]:
        """The summary as a person reads it."""

        def pct(x: float) -> str:
            return f"{100 * x:.1f} %"

        out = [
            f"{self.trials} trials of {self.file} on {self.model} "
            f"(concurrency {self.concurrency}, {self.seconds:.1f} s)",
            "",
            f"{'class':<11} {'count':>5} {'rate':>8}   {'95 % interval':<17} "
            f"{'first reply p50 / p90 / max (s)'}",
        ]
        for stats in self.classes:
            if not stats.count and stats.outcome is not Outcome.OK:
                continue
            latency = (
                f"{stats.latency['p50']:.2f} / {stats.latency['p90']:.2f} / "
                f"{stats.latency['max']:.2f}"
                if stats.latency
                else "-"
            )
            out.append(
                f"{stats.outcome.value:<11} {stats.count:>5} {pct(stats.rate):>8}   "
                f"{pct(stats.low) + ' - ' + pct(stats.high):<17} {latency}"
            )
        out += [
            "",
            f"failures: {self.failures} of {self.trials} ({pct(self.failure_rate)}, "
            f"95 % interval {pct(self.failure_low)} - {pct(self.failure_high)})",
        ]
        if self.quota_refusals:
            out.append(f"quota refusals (trials run again): {self.quota_refusals}")
        out.append(f"bundle: {self.bundle} (cassettes, a report page per failed trial)")
        if self.exceeded:
            limit = pct(self.max_failure_rate or 0.0)
            out.append(f"above --max-failure-rate {limit}: {', '.join(self.exceeded)}")
        return out


OpenSession = Callable[[CassetteWriter], contextlib.AbstractAsyncContextManager[Session]]


async def run_probe(
    open_session: OpenSession,
    file: str | os.PathLike[str],
    *,
    trials: int,
    bundle: str | os.PathLike[str],
    model: str = "",
    concurrency: int = 1,
    stall_after: float = 15.0,
    stall_gap: float = 5.0,
    max_failure_rate: float | None = None,
    elide_audio: bool = False,
    on_trial: Callable[[Trial], None] | None = None,
    **stream: Any,
) -> ProbeSummary:
    """Run ``trials`` sessions of ``file`` (``concurrency`` at a time); see the module docstring.

    ``open_session(recorder)`` opens one session recording to ``recorder``
    (with the watchdog on, no resumption: the CLI's job); ``stream`` goes to
    :func:`~rawlive.tools.send.stream_file` (``speed``, ``chunk_ms``,
    ``manual_vad``, ``tools``, ``timeout``...). ``bundle`` is created if
    missing; its ``summary.json`` is written last.
    """
    if trials < 1:
        raise ValueError("trials must be at least 1")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    folder = Path(bundle)
    folder.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    gate = asyncio.Semaphore(concurrency)
    results: list[Trial] = []

    async def one(number: int) -> None:
        async with gate:
            trial = await _trial(
                open_session,
                file,
                number,
                folder,
                width=len(str(trials)),
                elide_audio=elide_audio,
                stall=StallPolicy(first_reply=stall_after, gap=stall_gap),
                stream=stream,
            )
        results.append(trial)
        if on_trial is not None:
            on_trial(trial)

    async with asyncio.TaskGroup() as group:
        for number in range(1, trials + 1):
            group.create_task(one(number), name=f"rawlive-probe-{number}")
    results.sort(key=lambda trial: trial.number)
    summary = _summarise(
        results,
        file=str(file),
        model=model,
        concurrency=concurrency,
        stall_after=stall_after,
        stall_gap=stall_gap,
        max_failure_rate=max_failure_rate,
        seconds=time.monotonic() - started,
        bundle=str(folder),
    )
    (folder / "summary.json").write_text(summary.to_json() + "\n", encoding="utf-8")
    return summary


async def _trial(
    open_session: OpenSession,
    file: str | os.PathLike[str],
    number: int,
    folder: Path,
    *,
    width: int,
    elide_audio: bool,
    stall: StallPolicy,
    stream: dict[str, Any],
) -> Trial:
    name = f"trial-{number:0{width}d}"
    cassette = folder / f"{name}.jsonl"
    trial = Trial(number=number, outcome=Outcome.OK, cassette=cassette.name)
    began = time.monotonic()
    delay = QUOTA_BACKOFF
    while True:
        recorder = CassetteWriter(
            cassette, elide_audio=elide_audio, meta={"probeTrial": str(number)}
        )
        try:
            async with _recording(recorder), open_session(recorder) as session:
                summary = await stream_file(session, file, reply=None, **stream)
            trial.first_reply_latency = summary.first_reply_latency
            trial.close_code = summary.close_code
            break
        except QuotaExceeded as exc:
            trial.quota_refusals += 1
            if trial.quota_refusals > QUOTA_RETRIES:
                trial.outcome, trial.error = Outcome.CLOSED, _line(exc)
                trial.close_code = getattr(exc, "code", None)
                break
            await asyncio.sleep(delay)
            delay = min(delay * 2, 30.0)
        except SessionStalled as exc:
            trial.outcome, trial.error = Outcome.STALLED, _line(exc)
            trial.detail = f"{exc.kind} after {exc.waited:.1f} s"
            break
        except ReplyTimeout as exc:
            trial.outcome, trial.error = Outcome.STALLED, _line(exc)
            trial.detail = "no message before the timeout"
            break
        except LiveConnectionClosed as exc:
            trial.outcome, trial.error = Outcome.CLOSED, _line(exc)
            trial.close_code, trial.close_reason = exc.code, exc.reason
            trial.detail = f"close {exc.code}" + (f" {exc.reason}" if exc.reason else "")
            break
        except RawliveError as exc:  # could not connect, a resume refused...
            trial.outcome, trial.error = Outcome.CLOSED, _line(exc)
            trial.detail = trial.error
            break
    trial.seconds = round(time.monotonic() - began, 3)
    report = audit_cassette(cassette, stall=stall)
    fired = {finding.rule for finding in report.findings} | set(report.rule_counts)
    trial.findings = [rule for rule, _ in RULE_OUTCOMES if rule in fired]
    if trial.outcome is Outcome.OK:
        rule, trial.outcome = next(
            ((rule, outcome) for rule, outcome in RULE_OUTCOMES if rule in fired),
            ("", Outcome.OK),
        )
        if rule:
            trial.detail = rule
    if trial.outcome is not Outcome.OK:
        page = folder / f"{name}.html"
        with contextlib.suppress(RawliveError, OSError):  # the evidence is the cassette
            write_report(cassette, page)
            trial.report = page.name
    return trial


@contextlib.asynccontextmanager
async def _recording(recorder: CassetteWriter) -> AsyncIterator[None]:
    """Close the trial's cassette however the trial ends (it keeps every frame so far)."""
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            recorder.close()


def _line(exc: BaseException) -> str:
    text = str(exc).splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def _summarise(
    results: list[Trial],
    *,
    file: str,
    model: str,
    concurrency: int,
    stall_after: float,
    stall_gap: float,
    max_failure_rate: float | None,
    seconds: float,
    bundle: str,
) -> ProbeSummary:
    total = len(results)
    classes: list[ClassStats] = []
    for outcome in Outcome:
        members = [trial for trial in results if trial.outcome is outcome]
        low, high = wilson(len(members), total)
        latencies = [
            trial.first_reply_latency for trial in members if trial.first_reply_latency is not None
        ]
        classes.append(
            ClassStats(
                outcome=outcome,
                count=len(members),
                rate=len(members) / total,
                low=low,
                high=high,
                latency=percentiles(latencies),
            )
        )
    failures = sum(1 for trial in results if trial.outcome is not Outcome.OK)
    low, high = wilson(failures, total)
    exceeded = (
        [
            stats.outcome.value
            for stats in classes
            if stats.outcome is not Outcome.OK and stats.rate > max_failure_rate
        ]
        if max_failure_rate is not None
        else []
    )
    return ProbeSummary(
        file=file,
        model=model,
        trials=total,
        concurrency=concurrency,
        stall_after=stall_after,
        stall_gap=stall_gap,
        classes=classes,
        failures=failures,
        failure_rate=failures / total,
        failure_low=low,
        failure_high=high,
        quota_refusals=sum(trial.quota_refusals for trial in results),
        seconds=round(seconds, 3),
        bundle=bundle,
        exceeded=exceeded,
        max_failure_rate=max_failure_rate,
        results=results,
    )
