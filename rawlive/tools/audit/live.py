"""The audit of connections as they happen: :class:`LiveAudit`, behind ``rawlive proxy --audit``.

Each connection gets its own :class:`~rawlive.tools.audit.auditor.Auditor`,
fed frame by frame as the proxy forwards them; findings are passed on the
moment they are found and each connection's report when it ends. A stalled
server sends no frame, so the waits are also judged on a timer
(:meth:`LiveAudit.tick`): ``stalled-turn`` is found while the session hangs,
not when it ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import urllib.parse
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

import pybase64

from rawlive.cassette import CloseEvent, ConnectEvent, FrameEvent, frame_kind
from rawlive.core.watchdog import DEFAULT_POLICY, StallPolicy
from rawlive.tools.audit.auditor import MAX_FINDINGS_PER_RULE, Auditor, Report
from rawlive.tools.audit.rules import Finding

if TYPE_CHECKING:  # the proxy hooks' arguments; the auditor needs no server
    from rawlive.servers.base import CapturedConnection, ConnectionEnd, Frame

__all__ = ["TICK_SECONDS", "LiveAudit"]

log = logging.getLogger(__name__)

#: How often a proxy's live audit judges the waits of a connection with no frame.
TICK_SECONDS = 0.5


class LiveAudit:
    """Audits many independent connections live, as a proxy sees them.

    Each connection (any hashable key, such as its number on the proxy) gets
    its own :class:`Auditor`. :meth:`frame` and :meth:`close` feed it as
    frames pass and when the connection ends; ``on_finding(key, finding)`` is
    called for each finding the moment it is found, and :meth:`close` returns
    the connection's :class:`Report` (its metrics are complete then).

    Of each rule, the first ``max_per_rule`` findings of a connection are
    passed on and kept; then ``on_limit(key, rule, max_per_rule)`` is called
    once, and further findings of that rule are only counted (the report's
    :attr:`Report.rule_counts`).

    :meth:`on_frame` and :meth:`on_close` are those two as a
    :class:`rawlive.servers.proxy.Proxy`'s hooks (``Proxy(..., on_frame=audit.on_frame,
    on_close=audit.on_close)``); then findings and reports come with the
    credentials of the connection's handshake redacted, and ``on_end(key,
    report, end)`` is called with each connection's report and how it ended.
    As hooks they also judge each open connection's waits every ``tick``
    seconds (``None``: only when a frame comes), on the connection's clock;
    ``stall`` is how long a due reply may take (``stalled-turn``).
    """

    def __init__(
        self,
        on_finding: Callable[[Hashable, Finding], None] | None = None,
        *,
        on_end: Callable[[Hashable, Report, ConnectionEnd], None] | None = None,
        on_limit: Callable[[Hashable, str, int], None] | None = None,
        model: str | None = None,
        max_per_rule: int | None = MAX_FINDINGS_PER_RULE,
        stall: StallPolicy = DEFAULT_POLICY,
        tick: float | None = TICK_SECONDS,
    ) -> None:
        self.on_finding = on_finding
        self.on_end = on_end
        self.on_limit = on_limit
        self.model = model
        self.max_per_rule = max_per_rule
        self.stall = stall
        self.tick_seconds = tick
        self._open: dict[Hashable, Auditor] = {}
        self._tickers: dict[Hashable, asyncio.Task[None]] = {}

    def _learn(self, capture: CapturedConnection) -> None:
        """A new connection's auditor learns the credentials of its handshake."""
        if capture.number not in self._open:
            query = urllib.parse.urlencode(capture.query, doseq=True)
            path = capture.path + ("?" + query if query else "")
            self._auditor(capture.number, path).redact.learn(path, capture.headers)

    def on_frame(self, capture: CapturedConnection, frame: Frame) -> None:
        """A proxy's ``on_frame`` hook: :meth:`frame`, keyed by the connection's number."""
        self._learn(capture)
        binary = frame.opcode == "binary"
        self.frame(capture.number, frame.sender, frame.payload, frame.time, binary=binary)
        if self.tick_seconds is not None and capture.number not in self._tickers:
            # The connection's clock: frame times are seconds since its handshake.
            origin = time.monotonic() - frame.time
            with contextlib.suppress(RuntimeError):  # (no event loop: frames only)
                self._tickers[capture.number] = asyncio.get_running_loop().create_task(
                    self._ticking(capture.number, origin, self.tick_seconds)
                )

    async def _ticking(self, key: Hashable, origin: float, every: float) -> None:
        while key in self._open:
            await asyncio.sleep(every)
            try:
                self.tick(key, time.monotonic() - origin)
            except Exception:
                log.exception("live audit tick failed")

    def on_close(self, capture: CapturedConnection, end: ConnectionEnd) -> None:
        """A proxy's ``on_close`` hook: :meth:`close`, then ``on_end`` with the report."""
        ticker = self._tickers.pop(capture.number, None)
        if ticker is not None:
            ticker.cancel()
        self._learn(capture)
        report = self.close(capture.number, end.time, end.code, end.reason)
        if self.on_end is not None:
            self.on_end(capture.number, report, end)

    def _auditor(self, key: Hashable, path: str = "") -> Auditor:
        auditor = self._open.get(key)
        if auditor is None:
            auditor = self._open[key] = Auditor(
                model=self.model, max_per_rule=self.max_per_rule, stall=self.stall
            )
            # (The path tells the backend; the auditor learns its credentials apart.)
            auditor.feed(ConnectEvent(t=0.0, connection=1, url=path))
        return auditor

    def _emit(self, key: Hashable, auditor: Auditor, before: tuple[int, int]) -> None:
        """Pass on what the last event found: new findings, rules that reached the limit."""
        found, capped = before
        if self.on_finding is not None:
            for finding in auditor.findings[found:]:
                self.on_finding(key, finding)
        if self.on_limit is not None and self.max_per_rule is not None:
            for name in auditor.capped[capped:]:
                self.on_limit(key, name, self.max_per_rule)

    def frame(self, key: Hashable, sender: str, payload: bytes, t: float, *, binary: bool) -> None:
        """One frame of connection ``key``: ``sender`` ``client`` or ``server``, at ``t`` s."""
        auditor = self._auditor(key)
        text: str | None = None
        b64: str | None = None
        try:
            text = payload.decode("utf-8")
        except UnicodeDecodeError:
            b64 = pybase64.b64encode(payload).decode("ascii")
        event = FrameEvent(
            t=t,
            connection=1,
            sender="client" if sender == "client" else "server",
            opcode="binary" if binary else "text",
            kind=frame_kind(payload),
            text=text,
            b64=b64,
        )
        before = len(auditor.findings), len(auditor.capped)
        auditor.feed(event)
        self._emit(key, auditor, before)

    def tick(self, key: Hashable, now: float) -> None:
        """No frame of connection ``key`` until ``now`` (its clock): judge its waits
        (``stalled-turn`` while the session hangs). Nothing for a closed one."""
        auditor = self._open.get(key)
        if auditor is None:
            return
        before = len(auditor.findings), len(auditor.capped)
        auditor.check(now)
        self._emit(key, auditor, before)

    def close(self, key: Hashable, t: float, code: int | None, reason: str = "") -> Report:
        """Connection ``key`` ended (``code`` 1006 or ``None``: dropped); its report."""
        auditor = self._auditor(key)
        del self._open[key]
        before = len(auditor.findings), len(auditor.capped)
        code = 1006 if code is None else code
        auditor.feed(CloseEvent(t=t, connection=1, code=code, reason=reason))
        auditor.finish(t)
        self._emit(key, auditor, before)
        return auditor.report(f"connection {key}")
