"""The auditor: a recorded Live session fed event by event, and the :class:`Report` it makes.

The :class:`Auditor` is sans-I/O: it is fed cassette events one by one
(:meth:`Auditor.feed`, then :meth:`Auditor.finish`), so a live tap
(:mod:`~rawlive.tools.audit.live`) can feed it as well as a file
(:func:`audit_cassette`). It keeps each connection's state
(:class:`ConnState`: the core's :class:`~rawlive.core.state.SessionState`,
fed every decoded message, and what only the audit asks), runs the rules a
step concerns (:mod:`~rawlive.tools.audit.rules`) and sums the metrics
(:mod:`~rawlive.tools.audit.metrics`). Every frame goes through the strict
decoder (:func:`rawlive.wire.codec.inspect_frame`), once per shape for audio
frames (:class:`_Templates`); keys and enum values the types do not know are
drift, counted, never findings. Each connection's waits for the server are
judged by its :class:`~rawlive.tools.audit.waits.Waits` before and after each
step, at its end and, live, on a timer (:meth:`Auditor.check`). Of each rule it keeps the first
:data:`MAX_FINDINGS_PER_RULE` findings and counts the rest, so its memory and
output stay bounded however long the session. :class:`Report` and its JSON
form, :class:`ReportDocument`, are what it makes.
"""

from __future__ import annotations

import binascii
import dataclasses
import os
import re
import warnings
from collections.abc import Callable
from typing import Any

import msgspec
import pybase64

from rawlive.cassette import (
    CassetteEvent,
    CassetteReader,
    CloseEvent,
    ConnectEvent,
    EndEvent,
    FrameEvent,
    TruncatedCassetteWarning,
)
from rawlive.core import models
from rawlive.core import state as core
from rawlive.core.state import Answer, SessionState
from rawlive.core.watchdog import DEFAULT_POLICY, StallPolicy
from rawlive.errors import DecodeError
from rawlive.tools.audit import render
from rawlive.tools.audit.metrics import (
    GAP_MIN_SECONDS,
    Interaction,
    Metrics,
    MetricsDocument,
    Turn,
    Utterance,
    pcm_seconds,
    rate_of,
)
from rawlive.tools.audit.rules import (
    RULES,
    SEVERITIES,
    Finding,
    Rule,
    Severity,
    Step,
    audio_blobs,
    has_camel,
    image_blobs,
    impure_rules_for,
    new_request,
    rules_for,
)
from rawlive.tools.audit.waits import Waits
from rawlive.wire import endpoints
from rawlive.wire import types as lt
from rawlive.wire.codec import WireReport, inspect_frame

__all__ = [
    "MAX_FINDINGS_PER_RULE",
    "Auditor",
    "ConnState",
    "DriftEntry",
    "Report",
    "ReportDocument",
    "audit_cassette",
]

#: Findings of one rule an audit keeps (and a live audit prints); the rest are counted.
MAX_FINDINGS_PER_RULE = 20


class DriftEntry(msgspec.Struct):
    """An unknown key path or enum value: how often, and where first."""

    path: str
    direction: str
    count: int
    first_t: float
    first_connection: int


@dataclasses.dataclass
class ConnState:
    """What the auditor knows about one connection so far.

    The session's own state (tool calls, turns, usage, ``goAway``) is the
    core's :attr:`session`; the rest is what only the audit asks: how the
    client set up and behaved, and how the reply audio would play.
    """

    number: int
    #: The session on this connection as the core's rules see it.
    session: SessionState = dataclasses.field(default_factory=SessionState)
    #: The latencies of the exchange going on (the core's :attr:`SessionState.turn`).
    turn: Turn = dataclasses.field(init=False)
    setups: int = 0
    setup_t: float | None = None
    setup_complete_t: float | None = None
    client_frames: int = 0
    manual_vad: bool = False
    #: Ledger keys of the blocking calls ``audio-during-blocking-call`` has named.
    warned_audio_calls: set[str] = dataclasses.field(default_factory=set)
    activity_open: bool = False
    last_video_t: float | None = None
    #: The setup's turn coverage, or the model's default (the core's rule; ``None``: no setup).
    coverage: str | None = None
    snake_seen: bool = False
    camel_seen: bool = False
    mixed_reported: bool = False
    closed: bool = False
    #: Steady runs of realtime audio: the one going on (first t, last t, the
    #: declared rate, samples before the last chunk, the last chunk's samples,
    #: chunks) and the sums over finished runs (samples, seconds, chunks, rate).
    audio_run: tuple[float, float, int, int, int, int] | None = None
    audio_flow: tuple[int, float, int, int] = (0, 0.0, 0, 0)
    #: When the reply audio received so far ends if played from its first chunk.
    playout_end: float | None = None
    #: The API the connection spoke to, from its URL (``None``: the URL does not say).
    backend: endpoints.Backend | None = None
    #: The first reply audio of the exchange going on (its time in the recording).
    first_audio_t: float | None = None
    #: The interaction going on (§10.6), and when its first ``IN_PROGRESS`` came.
    interaction: Interaction | None = None
    in_progress_t: float | None = None
    #: The user started a new request before the interaction reached ``IDLE``.
    left_interaction: bool = False
    #: The waits for the server and the rules of a server that misbehaves
    #: (the auditor gives it its callbacks; ``None`` until then).
    waits: Waits | None = None

    def __post_init__(self) -> None:
        self.turn = Turn(self.number)

    def flow(self) -> tuple[int, float, int, int]:
        """Samples, seconds, chunks and declared rate of the steady audio runs so far."""
        samples, seconds, chunks, rate = self.audio_flow
        run = self.audio_run
        if run is not None and run[1] > run[0]:
            first, last, rate, before, _, count = run
            samples, seconds, chunks = samples + before, seconds + last - first, chunks + count
        return samples, seconds, chunks, rate


#: A pause longer than this (or 4 chunks' duration) ends a steady run of audio.
RUN_BREAK_SECONDS = 0.5


_CLOSE = frozenset({"close"})
_CLIENT_KEYS = tuple((f.name, f.encode_name) for f in msgspec.structs.fields(lt.LiveClientMessage))
_SERVER_KEYS = tuple((f.name, f.encode_name) for f in msgspec.structs.fields(lt.LiveServerMessage))


_REALTIME_KEYS = tuple(
    (f.name, f"realtimeInput.{f.encode_name}")
    for f in msgspec.structs.fields(lt.LiveClientRealtimeInput)
)


def _triggers(
    sender: str, message: lt.LiveClientMessage | lt.LiveServerMessage, report: WireReport
) -> frozenset[str]:
    """The step's triggers: its side, the top-level keys its message holds, and
    for ``realtimeInput`` the second-level ones (``realtimeInput.audio``)."""
    keys = _CLIENT_KEYS if sender == "client" else _SERVER_KEYS
    found = [sender, *(wire for name, wire in keys if getattr(message, name) is not None)]
    if isinstance(message, lt.LiveClientMessage) and message.realtime_input is not None:
        rt = message.realtime_input
        found += [wire for name, wire in _REALTIME_KEYS if getattr(rt, name) not in (None, False)]
    if report.urlsafe_base64:
        found.append("urlsafe-base64")
    return frozenset(found)


#: Audio payloads shorter than this are never the variable part of a template.
_TEMPLATE_MIN_DATA = 16
_TEMPLATE_LIMIT = 64
_DATA_KEY = re.compile(rb'"data"\s*:\s*"$')


@dataclasses.dataclass
class _Template:
    """A frame shape seen before whose only variable part is one audio blob's base64."""

    head: bytes
    tail: bytes
    head_text: str
    tail_text: str
    sender: str
    message: lt.LiveClientMessage | lt.LiveServerMessage
    report: WireReport
    triggers: frozenset[str]
    #: Bytes of audio the template holds.
    data_size: int
    #: Index of the part holding the audio (server), or -1 for ``realtimeInput.audio``.
    part: int
    #: The message's audio blobs, and what the pure rules found in it (by rule).
    blobs: list[lt.Blob] = dataclasses.field(default_factory=list)
    pure_found: list[tuple[str, tuple[str, ...]]] | None = None
    #: The other rules its frames need run.
    impure: tuple[Rule, ...] | None = None

    def rebuild(self, data: bytes) -> lt.LiveClientMessage | lt.LiveServerMessage:
        """The template's message with other audio (used to prove the template)."""
        replace = msgspec.structs.replace
        msg = self.message
        if isinstance(msg, lt.LiveClientMessage):
            rt = msg.realtime_input
            assert rt is not None and rt.audio is not None
            return replace(msg, realtime_input=replace(rt, audio=replace(rt.audio, data=data)))
        sc = msg.server_content
        assert sc is not None and sc.model_turn is not None and sc.model_turn.parts
        parts = list(sc.model_turn.parts)
        blob = parts[self.part].inline_data
        assert blob is not None
        parts[self.part] = replace(parts[self.part], inline_data=replace(blob, data=data))
        turn = replace(sc.model_turn, parts=parts)
        return replace(msg, server_content=replace(sc, model_turn=turn))


class _Templates:
    """Audio frames decoded once per shape: the bulk of a cassette skips the strict walk.

    A frame of the same length as a known template, made of the template's
    head, then strict base64 of as many bytes, then its tail, is the
    template's frame with other audio samples. The auditor never looks at samples, only
    at their count, so it audits that frame exactly as the template (the same
    message, wire report and triggers). A template is learnt only when swapping
    its audio for other bytes and decoding in full gives the same message with
    that audio and the same report: the shortcut never changes what the audit sees.
    """

    def __init__(self) -> None:
        # sender -> frame length -> templates (text frames and bytes frames apart).
        self._text: dict[str, dict[int, list[_Template]]] = {"client": {}, "server": {}}
        self._bytes: dict[str, dict[int, list[_Template]]] = {"client": {}, "server": {}}
        self._count = 0

    def match(self, payload: str | bytes, sender: str) -> tuple[_Template, bytes] | None:
        """The template the frame fits, and the frame's own audio bytes (``None``: none fits)."""
        if isinstance(payload, str):
            for tpl in self._text[sender].get(len(payload), ()):
                if payload.startswith(tpl.head_text) and payload.endswith(tpl.tail_text):
                    middle: str | bytes = payload[len(tpl.head_text) : -len(tpl.tail_text)]
                    break
            else:
                return None
        else:
            for tpl in self._bytes[sender].get(len(payload), ()):
                if payload.startswith(tpl.head) and payload.endswith(tpl.tail):
                    middle = payload[len(tpl.head) : -len(tpl.tail)]
                    break
            else:
                return None
        try:
            # Strict base64: no quote, backslash or escape gets through; and
            # as many bytes (padding makes lengths share a base64 length).
            data = pybase64.b64decode(middle, validate=True)
        except (binascii.Error, ValueError):
            return None
        if len(data) != tpl.data_size:
            return None
        return tpl, data

    def learn(
        self,
        payload: str | bytes,
        sender: str,
        message: lt.LiveClientMessage | lt.LiveServerMessage,
        report: WireReport,
        triggers: frozenset[str],
    ) -> None:
        if self._count >= _TEMPLATE_LIMIT or sender not in self._text:
            return
        found = _audio_of(message)
        if found is None:
            return
        data, part = found
        if len(data) < _TEMPLATE_MIN_DATA:
            return
        raw = payload.encode("utf-8", "surrogatepass") if isinstance(payload, str) else payload
        encoded = pybase64.b64encode(data)
        if raw.count(encoded) != 1:
            return
        start = raw.index(encoded)
        head, tail = raw[:start], raw[start + len(encoded) :]
        if not _DATA_KEY.search(head) or not tail.startswith(b'"'):
            return
        try:
            head_text, tail_text = head.decode("utf-8"), tail.decode("utf-8")
        except UnicodeDecodeError:
            return
        tpl = _Template(
            head, tail, head_text, tail_text, sender, message, report, triggers, len(data), part
        )
        # Proof by example: other audio in the same place must decode to the
        # template's message with that audio, and report the same.
        other = bytes(b ^ 0x5A for b in data)
        probe = head + pybase64.b64encode(other) + tail
        try:
            decoded, probe_report = inspect_frame(probe, direction=sender)
        except (DecodeError, msgspec.DecodeError, ValueError, TypeError, KeyError):
            return
        if decoded == tpl.rebuild(other) and probe_report == report:
            if isinstance(message, lt.LiveClientMessage):
                tpl.blobs.extend(audio_blobs(Step("frame", 0.0, 0, sender, client=message)))
            size = len(head_text) + len(encoded) + len(tail_text)
            self._text[sender].setdefault(size, []).append(tpl)
            self._bytes[sender].setdefault(len(raw), []).append(tpl)
            self._count += 1


def _audio_of(
    message: lt.LiveClientMessage | lt.LiveServerMessage,
) -> tuple[bytes, int] | None:
    """The one audio blob a template can vary: client ``realtimeInput.audio``, or a reply part."""
    if isinstance(message, lt.LiveClientMessage):
        rt = message.realtime_input
        if rt is not None and rt.audio is not None and rt.audio.data:
            return rt.audio.data, -1
        return None
    sc = message.server_content
    if sc is None or sc.model_turn is None or not sc.model_turn.parts:
        return None
    for index, part in enumerate(sc.model_turn.parts):
        blob = part.inline_data
        if blob is not None and blob.data and (blob.mime_type or "").startswith("audio/"):
            return blob.data, index
    return None


# ---------------------------------------------------------------------------
# The auditor
# ---------------------------------------------------------------------------


class Auditor:
    """Consumes cassette events one at a time; collects findings, drift and metrics.

    ``max_per_rule`` findings of each rule are kept in :attr:`findings`
    (``None``: all); :attr:`rule_counts` counts every one.
    """

    def __init__(
        self,
        *,
        model: str | None = None,
        redact: endpoints.Redactor | None = None,
        max_per_rule: int | None = MAX_FINDINGS_PER_RULE,
        url: str | None = None,
        stall: StallPolicy = DEFAULT_POLICY,
    ) -> None:
        self.default_model = model
        #: How long a due reply or a pause inside one may last (``stalled-turn``).
        self.stall = stall
        #: Findings reported at ``info`` instead of their rule's severity, by rule
        #: (``unanswered-input`` on a model with proactive audio on).
        self.lowered: dict[str, int] = {}
        #: The latest time the recording reached (the end of one that has no end event).
        self.last_t = 0.0
        #: The URL of a connection that records none (the cassette header's).
        self.default_url = url
        #: Keeps credentials out of findings and the report: it learns those
        #: in each connection's URL and headers (give it the header's too).
        self.redact = endpoints.Redactor() if redact is None else redact
        self.max_per_rule = max_per_rule
        self.findings: list[Finding] = []
        #: Findings by rule, those not kept included.
        self.rule_counts: dict[str, int] = {}
        #: The rules past ``max_per_rule``, in the order they got there.
        self.capped: list[str] = []
        self.drift: dict[tuple[str, str], DriftEntry] = {}
        self.metrics = Metrics()
        self._conns: dict[int, ConnState] = {}
        self._finished = False
        self._templates = _Templates()
        #: Frames by sender, then cassette ``kind``, for ``audit --diff``.
        self._kinds: dict[str, dict[str, int]] = {"client": {}, "server": {}}
        #: Key paths seen, by sender, in wire spelling (``serverContent.modelTurn.parts[]``).
        self.fields: dict[str, set[str]] = {}

    def report(self, path: str, model: str | None = None) -> Report:
        """What was found so far, as a :class:`Report` (call :meth:`finish` first).

        Every string that came from the recording is redacted (:attr:`redact`).
        """
        r = self.redact
        kinds = {s: _redact_keys(dict(sorted(k.items())), r) for s, k in self._kinds.items() if k}
        model = model or self.default_model
        m = self.metrics
        return Report(
            path=path,
            model=None if model is None else r(model),
            findings=list(self.findings),
            rule_counts=dict(sorted(self.rule_counts.items())),
            lowered=dict(sorted(self.lowered.items())),
            drift=[msgspec.structs.replace(d, path=r(d.path)) for d in self.drift.values()],
            metrics=dataclasses.replace(
                m,
                prompt_tokens=_redact_keys(m.prompt_tokens, r),
                response_tokens=_redact_keys(m.response_tokens, r),
            ),
            kinds=kinds,
            fields={s: sorted({r(p) for p in paths}) for s, paths in sorted(self.fields.items())},
        )

    # -- plumbing -----------------------------------------------------------

    def _conn(self, number: int) -> ConnState:
        state = self._conns.get(number)
        if state is None:
            session = SessionState(model=models.find(self.default_model))
            state = self._conns[number] = ConnState(number, session)
            state.backend = endpoints.backend_of(self.default_url)

            def add(
                name: str, message: str, when: float, lost: float, severity: Severity | None
            ) -> int | None:
                return self._add(name, message, when, number, lost=lost, severity=severity)

            state.waits = Waits(add, self._grow, self.stall)
        return state

    def _add(
        self,
        name: str,
        message: str,
        when: float | None,
        connection: int | None,
        *,
        lost: float | None = None,
        severity: Severity | None = None,
    ) -> int | None:
        """Count a finding and keep it if its rule is under the limit: its index, else ``None``.

        ``lost`` is the time it cost (summed by rule in the metrics);
        ``severity`` one lower than its rule's (:attr:`lowered`).
        """
        count = self.rule_counts[name] = self.rule_counts.get(name, 0) + 1
        r = RULES[name]
        if severity is not None and severity != r.severity:
            self.lowered[name] = self.lowered.get(name, 0) + 1
        if lost is not None:
            self.metrics.time_lost[name] = self.metrics.time_lost.get(name, 0.0) + lost
        index = None
        if self.max_per_rule is None or count <= self.max_per_rule:
            message = self.redact(message)
            index = len(self.findings)
            self.findings.append(
                Finding(name, severity or r.severity, r.section, message, when, connection, lost)
            )
        elif count == self.max_per_rule + 1:
            self.capped.append(name)
        if name == "mixed-casing" and connection is not None:
            self._conn(connection).mixed_reported = True
        return index

    def _grow(self, index: int | None, name: str, extra: float) -> None:
        """A finding reported earlier (a stall going on) cost ``extra`` more seconds."""
        self.metrics.time_lost[name] = self.metrics.time_lost.get(name, 0.0) + extra
        if index is not None:
            finding = self.findings[index]
            lost = (finding.lost or 0.0) + extra
            self.findings[index] = msgspec.structs.replace(finding, lost=lost)

    def check(self, now: float) -> None:
        """No frame came until ``now``: the waits of each open connection judged then
        (a live audit calls it on a timer: a stalled session sends nothing)."""
        self.last_t = max(self.last_t, now)
        for state in self._conns.values():
            if not state.closed and state.waits is not None:
                state.waits.check(state.session, now)

    def _run_rules(
        self,
        state: ConnState,
        step: Step,
        triggers: frozenset[str],
        tpl: _Template | None = None,
    ) -> None:
        """Run the rules the step concerns; the pure ones once per template (see :class:`Rule`)."""
        if tpl is None:
            rules = rules_for(triggers)
        else:
            if tpl.pure_found is None:
                found = [
                    (r.name, tuple(r.check(state, step))) for r in rules_for(triggers) if r.pure
                ]
                tpl.pure_found = [(name, messages) for name, messages in found if messages]
            for name, messages in tpl.pure_found:
                for message in messages:
                    self._add(name, message, step.t, step.connection)
            if tpl.impure is None:
                tpl.impure = impure_rules_for(triggers)
            rules = tpl.impure
        for r in rules:
            for message in r.check(state, step):
                self._add(r.name, message, step.t, step.connection)

    def feed(self, event: CassetteEvent) -> None:
        """Audit one event (in recording order)."""
        if isinstance(event, FrameEvent):  # (nearly every event)
            self._frame(event)
        elif isinstance(event, ConnectEvent):
            self.redact.learn(event.url, event.headers)
            state = self._conn(event.connection)
            state.backend = endpoints.backend_of(event.url or self.default_url)
        elif isinstance(event, CloseEvent):
            self._close(event.connection, event.t, event.code, event.reason)
        elif isinstance(event, EndEvent):
            self.finish(event.t)

    def finish(self, when: float | None = None) -> None:
        """End of the recording: connections never closed are checked as if closed now
        (``when``; ``None``: the latest time the recording reached)."""
        if self._finished:
            return
        self._finished = True
        for number, state in list(self._conns.items()):
            if not state.closed:
                end = when if when is not None else self.last_t
                self._close(number, end, None, "", recorded=True)

    # -- frames -------------------------------------------------------------

    def _frame(self, event: FrameEvent) -> None:
        # (The hot path of an audit: locals rather than repeated attribute lookups.)
        sender, number = event.sender, event.connection
        state = self._conns.get(number) or self._conn(number)
        # The text as recorded is the frame (no copy to bytes) unless audio was elided.
        text = event.text
        payload: str | bytes = (
            text if text is not None and not event.elided else event.wire_payload()
        )
        kinds = self._kinds[sender]
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
        t = event.t
        if t > self.last_t:
            self.last_t = t
        waits = state.waits
        assert waits is not None
        waits.check(state.session, t)  # the wait before this frame: a stall by now?
        matched = self._templates.match(payload, sender)
        tpl = None if matched is None else matched[0]
        if tpl is not None:
            message, report, triggers = tpl.message, tpl.report, tpl.triggers
        else:
            try:
                message, report = inspect_frame(payload, direction=event.sender)
            except (DecodeError, msgspec.DecodeError, ValueError, TypeError, KeyError) as exc:
                self._add(
                    "invalid-frame",
                    f"{event.sender} frame ({event.kind}) does not decode: {exc}",
                    event.t,
                    event.connection,
                )
                if event.sender == "client":
                    state.client_frames += 1
                return
            triggers = _triggers(event.sender, message, report)
            self._templates.learn(payload, event.sender, message, report, triggers)
            self.fields.setdefault(event.sender, set()).update(report.key_paths)
        if report.unknown_fields or report.unknown_enum_values:
            self._drift(report, event)
        if sender == "client":
            assert isinstance(message, lt.LiveClientMessage)
            blobs = None if tpl is None else tpl.blobs
            # The core takes the message first: the rules read its verdict on
            # each function response (Step.answers).
            if message.tool_response is None:
                state.session.client(message, event.t)
                answers = None
            else:
                answers = self._tool_response(state, event.t, message)
            step = Step(
                "frame", event.t, number, "client", message, None, report, None, "", blobs, answers
            )
            self._run_rules(state, step, triggers, tpl)
            self._after_client(state, step, message, report)
            self._client_waits(waits, state.session, step, message, matched, event.elided)
            waits.sync(state.session, t, by_client=True)
        else:
            assert isinstance(message, lt.LiveServerMessage)
            step = Step("frame", event.t, number, "server", None, message, report)
            waits.server(state.session, message, t)
            self._run_rules(state, step, triggers, tpl)
            self._after_server(state, step, message)
            waits.sync(state.session, t, by_client=False)

    @staticmethod
    def _client_waits(
        waits: Waits,
        session: SessionState,
        step: Step,
        message: lt.LiveClientMessage,
        matched: tuple[_Template, bytes] | None,
        elided: int,
    ) -> None:
        """The client's audio of a step to the detector (its own samples, not a
        template's), or word that the recording holds none."""
        if message.setup is not None:
            waits.setup(session, message.setup)
            return
        rt = message.realtime_input
        if rt is None:
            return
        blobs = audio_blobs(step)
        if blobs:
            if elided:
                waits.elided()
            else:
                chunks = [(b.data or b"", rate_of(b.mime_type or "")) for b in blobs]
                if matched is not None:  # the template's first blob is this frame's audio
                    chunks[0] = (matched[1], chunks[0][1])
                waits.client_audio(session, step.t, chunks)
        if rt.audio_stream_end:
            waits.stream_end()

    def _drift(self, report: WireReport, event: FrameEvent) -> None:
        for path in report.unknown_paths():
            key = (event.sender, path)
            entry = self.drift.get(key)
            if entry is None:
                self.drift[key] = DriftEntry(path, event.sender, 1, event.t, event.connection)
            else:
                entry.count += 1

    def _after_client(
        self, state: ConnState, step: Step, msg: lt.LiveClientMessage, report: WireReport
    ) -> None:
        state.client_frames += 1
        if state.session.interaction_pending and new_request(step):
            state.left_interaction = True
        if not state.snake_seen and report.snake_case_keys:
            state.snake_seen = True
        if not state.camel_seen:
            state.camel_seen = has_camel(step)
        if msg.setup is not None:
            self._setup(state, step, msg.setup)
        rt = msg.realtime_input
        if rt is not None:
            blobs = audio_blobs(step)
            if blobs:
                metrics = self.metrics
                for blob in blobs:
                    size = len(blob.data or b"")
                    rate = rate_of(blob.mime_type or "")
                    metrics.audio_in_chunks.append(size)
                    metrics.audio_in_seconds += pcm_seconds(size, rate or 16000)
                    self._flow(state, step.t, rate or 0, size // 2)
                tools = state.session.tools
                if tools.open:
                    state.warned_audio_calls.update(call.key for call in tools.blocking)
                span = metrics.upload_span
                metrics.upload_span = (span[0] if span else step.t, step.t)
            if rt.activity_start is not None:
                state.activity_open = True
            if rt.activity_end is not None:
                state.activity_open = False
            if rt.video is not None:
                state.last_video_t = step.t
            for blob in image_blobs(step):
                size = len(blob.data or b"")
                state.turn.video_frames += 1
                state.turn.video_bytes += size
                self.metrics.video_frames += 1
                self.metrics.video_bytes += size

    def _tool_response(
        self, state: ConnState, t: float, msg: lt.LiveClientMessage
    ) -> list[tuple[Answer, str]]:
        """Give a ``toolResponse`` to the core; time the round trip of each call it settles."""
        issued = {key: call.issued for key, call in state.session.tools.open.items()}
        answers = state.session.client(msg, t)
        for answer, key in answers:
            if answer is Answer.SETTLED:
                self.metrics.tool_round_trips.append(t - issued[key])
        return answers

    def _playout(self, state: ConnState, turn: Turn, t: float, seconds: float) -> None:
        """Play reply audio from its first chunk on: a chunk that comes late is a gap."""
        end = state.playout_end
        if end is not None and t - end >= GAP_MIN_SECONDS:
            self.metrics.reply_gaps.append(t - end)
            turn.audio_gaps += 1
            turn.audio_gap_seconds += t - end
        state.playout_end = (t if end is None or t > end else end) + seconds

    def _flow(self, state: ConnState, t: float, rate: int, samples: int) -> None:
        """Extend the steady run of audio with a chunk, or end it and start another."""
        run = state.audio_run
        if run is not None:
            first, last, run_rate, before, last_samples, count = run
            chunk_s = last_samples / run_rate if run_rate else 0.0
            if rate == run_rate and t - last <= max(RUN_BREAK_SECONDS, 4 * chunk_s):
                state.audio_run = (first, t, rate, before + last_samples, samples, count + 1)
                return
            # Runs at another declared rate are judged apart: the latest rate's count.
            state.audio_flow = state.flow() if rate == run_rate else (0, 0.0, 0, rate)
        state.audio_run = (t, t, rate, 0, samples, 1)

    def _setup(self, state: ConnState, step: Step, setup: lt.LiveClientSetup) -> None:
        state.setups += 1
        if state.setups > 1:
            return
        state.setup_t = step.t
        ric = setup.realtime_input_config
        aad = ric.automatic_activity_detection if ric is not None else None
        state.manual_vad = bool(aad is not None and aad.disabled)
        state.coverage = models.turn_coverage(setup, state.session.model)

    def _after_server(self, state: ConnState, step: Step, msg: lt.LiveServerMessage) -> None:
        number = step.connection
        if state.session.interaction_pending and new_request(step):
            state.left_interaction = True
        if msg.setup_complete is not None and state.setup_complete_t is None:
            state.setup_complete_t = step.t
            if state.setup_t is not None:
                self.metrics.setup_complete[number] = step.t - state.setup_t
        session, turn = state.session, state.turn
        # Seconds since the end of the user's input (None: no input yet).
        user_end = session.turn.user_end
        since_user = None if user_end is None else step.t - user_end
        if msg.tool_call is not None:
            state.playout_end = None  # the pause for the tool is not an underrun
        sc = msg.server_content
        if sc is not None:
            if sc.input_transcription is not None and turn.first_input_transcription is None:
                turn.first_input_transcription = since_user
            parts = sc.model_turn.parts or [] if sc.model_turn is not None else []
            for part in parts:
                blob = part.inline_data
                if blob is not None and (blob.mime_type or "").startswith("audio/"):
                    metrics = self.metrics
                    size = len(blob.data or b"")
                    metrics.audio_out_chunks.append(size)
                    seconds = pcm_seconds(size, rate_of(blob.mime_type or "") or 24000)
                    metrics.audio_out_seconds += seconds
                    self._playout(state, turn, step.t, seconds)
                    if turn.first_reply_audio is None:
                        turn.first_reply_audio = since_user
                    if state.first_audio_t is None:
                        state.first_audio_t = step.t
            if sc.interrupted or sc.turn_complete:
                state.playout_end = None
            if sc.interrupted:
                self.metrics.interruptions += 1
        finished = session.server(msg, step.t)
        if sc is not None and session.transcribing:
            self._transcripts(state, sc)
        if finished is not None:
            self._turn_complete(state, finished)

    def _transcripts(self, state: ConnState, sc: lt.LiveServerContent) -> None:
        """A speech-to-text session's transcripts: counted, and each utterance the core ended."""
        metrics = self.metrics
        if sc.interim_input_transcription is not None:
            metrics.interim_transcriptions += 1
        if sc.input_transcription is not None and sc.input_transcription.text is not None:
            metrics.final_transcriptions += 1
        ended = state.session.ended_utterance
        if ended is not None:
            metrics.utterances.append(_utterance(state.number, ended))

    def _turn_complete(self, state: ConnState, finished: core.Turn) -> None:
        """The core ended an exchange: its latencies join the metrics, and so does the
        interaction it ended (rule 8), where the model says ``interactionStatus``."""
        turn, end = state.turn, finished.user_end
        turn.user_end_t = end
        turn.interrupted = finished.interrupted
        if end is not None:
            if finished.generation_complete is not None:
                turn.generation_complete = finished.generation_complete - end
            if finished.complete is not None:
                turn.turn_complete = finished.complete - end
        self.metrics.turns.append(turn)
        state.turn = Turn(state.number)
        interaction = state.interaction
        if interaction is None:
            interaction = state.interaction = Interaction(state.number, user_end_t=end)
        start = interaction.user_end_t
        interaction.turns += 1
        interaction.status = finished.status
        if state.first_audio_t is not None and start is not None:
            if interaction.first_reply_audio is None:
                interaction.first_reply_audio = state.first_audio_t - start
            interaction.last_turn_audio = state.first_audio_t - start
        state.first_audio_t = None
        if not finished.ends_interaction:
            interaction.in_progress_turns += 1
            if state.in_progress_t is None:
                state.in_progress_t = finished.complete
            return
        if finished.complete is not None and start is not None:
            interaction.interaction_complete = finished.complete - start
        interaction.idle = True
        self._end_interaction(state)

    def _end_interaction(self, state: ConnState) -> None:
        """The interaction is over (``IDLE``, or its connection ended): into the metrics
        when one of its ``turnComplete`` messages said ``interactionStatus``."""
        interaction = state.interaction
        if interaction is not None and (interaction.status or interaction.in_progress_turns):
            self.metrics.interactions.append(interaction)
        state.interaction = None
        state.in_progress_t = None
        state.left_interaction = False

    # -- connection end -----------------------------------------------------

    def _close(
        self, number: int, when: float, code: int | None, reason: str, *, recorded: bool = False
    ) -> None:
        """The connection ended at ``when`` (``recorded``: the recording did, with no close)."""
        state = self._conn(number)
        if state.closed:
            return
        if state.waits is not None:
            state.waits.close(state.session, when, recorded=recorded)
        step = Step("close", when, number, close_code=code, close_reason=reason)
        self._run_rules(state, step, _CLOSE)
        state.closed = True
        self._end_interaction(state)
        utterance = state.session.utterance
        if utterance.interims or utterance.final is not None:  # cut off by the close
            self.metrics.utterances.append(_utterance(number, utterance))
        self.metrics.add_usage(state.session.usage)
        if state.session.go_away is not None:
            at, left = state.session.go_away
            self.metrics.go_away.append((number, left, when - at if code is not None else None))


def _utterance(connection: int, utterance: core.Utterance) -> Utterance:
    """The metrics of an utterance the core followed (rule 10)."""
    return Utterance(
        connection,
        speech_end_t=utterance.speech_end,
        first_interim_t=utterance.first_interim,
        final_t=utterance.final_t,
        complete_t=utterance.complete,
        interims=utterance.interims,
        final=utterance.final is not None,
        to_final=utterance.to_final,
    )


# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------


@dataclasses.dataclass
class Report:
    """What auditing one cassette found."""

    path: str
    model: str | None
    #: The findings kept: up to the auditor's limit per rule.
    findings: list[Finding]
    drift: list[DriftEntry]
    metrics: Metrics
    #: Findings by rule, those not kept included (from ``findings`` when not given).
    rule_counts: dict[str, int] = dataclasses.field(default_factory=dict)
    #: Frames by sender, then cassette ``kind`` (``realtimeInput.audio``...).
    kinds: dict[str, dict[str, int]] = dataclasses.field(default_factory=dict)
    #: Key paths seen, by sender, in wire spelling.
    fields: dict[str, list[str]] = dataclasses.field(default_factory=dict)
    #: Findings counted at ``info`` instead of their rule's severity, by rule
    #: (``unanswered-input`` where proactive audio lets the model stay silent).
    lowered: dict[str, int] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.rule_counts:
            for f in self.findings:
                self.rule_counts[f.rule] = self.rule_counts.get(f.rule, 0) + 1
                if f.severity != RULES[f.rule].severity:
                    self.lowered[f.rule] = self.lowered.get(f.rule, 0) + 1

    def count(self, severity: Severity) -> int:
        """Findings of that severity, those not kept included."""
        total = 0
        for name, n in self.rule_counts.items():
            lowered = self.lowered.get(name, 0)
            if RULES[name].severity == severity:
                total += n - lowered
            if severity == "info":
                total += lowered
        return total

    def not_shown(self) -> dict[str, int]:
        """Findings found but not kept, by rule (the rules past the limit)."""
        kept: dict[str, int] = {}
        for f in self.findings:
            kept[f.rule] = kept.get(f.rule, 0) + 1
        return {
            name: n - kept.get(name, 0)
            for name, n in self.rule_counts.items()
            if n > kept.get(name, 0)
        }

    def fails(self, threshold: Severity) -> bool:
        """Whether any finding is at least as severe as ``threshold``."""
        level = SEVERITIES.index(threshold)
        # (Findings lowered to info count at info only.)
        return any(
            level == 0
            or (SEVERITIES.index(RULES[name].severity) >= level and n > self.lowered.get(name, 0))
            for name, n in self.rule_counts.items()
        )

    def document(self) -> ReportDocument:
        """The report as ``audit --json`` writes it."""
        return ReportDocument(
            path=self.path,
            model=self.model,
            findings=self.findings,
            drift=self.drift,
            metrics=self.metrics.document(),
            counts={s: self.count(s) for s in SEVERITIES},
            rule_counts=self.rule_counts,
            kinds=self.kinds,
            fields=self.fields,
        )

    def to_builtins(self) -> dict[str, Any]:
        """:meth:`document` as plain objects (what :func:`json.loads` makes of its JSON)."""
        built: dict[str, Any] = msgspec.to_builtins(self.document(), str_keys=True)
        return built

    def to_json(self) -> str:
        """:meth:`document` as indented JSON text."""
        return render.json_text(self.document())

    def render(self) -> str:
        """A plain-text report: findings, drift and metrics as tables."""
        return render.render_report(self)


class ReportDocument(msgspec.Struct):
    """A :class:`Report` in ``audit --json``: snake_case keys; wire names only as data
    (key paths, message kinds, modalities)."""

    path: str
    model: str | None
    findings: list[Finding]
    drift: list[DriftEntry]
    metrics: MetricsDocument
    #: Findings by severity, those not kept included.
    counts: dict[str, int]
    rule_counts: dict[str, int]
    kinds: dict[str, dict[str, int]]
    fields: dict[str, list[str]]


def _redact_keys(counts: dict[str, int], redact: Callable[[str], str]) -> dict[str, int]:
    """Counts by name, the names redacted (two that become one are added up)."""
    out: dict[str, int] = {}
    for name, count in counts.items():
        name = redact(name)
        out[name] = out.get(name, 0) + count
    return out


def audit_cassette(
    path: str | os.PathLike[str],
    *,
    max_per_rule: int | None = MAX_FINDINGS_PER_RULE,
    model: str | None = None,
    stall: StallPolicy = DEFAULT_POLICY,
) -> Report:
    """Audit a cassette file, keeping ``max_per_rule`` findings of each rule (``None``: all).

    The session's model, whose row of the model table the rules read, is the
    one each connection's ``setup`` names, else the cassette header's, else
    ``model``. ``stall`` is how long a due reply may take (``stalled-turn``).

    A bad header (not a cassette) raises :class:`rawlive.DecodeError`; a bad
    event line or a cut-off last line ends the audit there with a finding.
    The credentials found in the cassette's URLs and headers are kept out of
    the report, as ``rawlive report`` keeps them out of its page (a cassette
    written by hand or by an older tool may hold one).
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", TruncatedCassetteWarning)
        with CassetteReader(path) as reader:
            auditor = Auditor(
                model=reader.header.model or model,
                max_per_rule=max_per_rule,
                url=reader.header.url,
                stall=stall,
            )
            auditor.redact.learn(reader.header.url, reader.header.headers)
            try:
                for event in reader:
                    auditor.feed(event)
            except DecodeError as exc:
                auditor._add("invalid-frame", f"unreadable cassette: {exc}", None, None)
            auditor.finish()
    for w in caught:
        if issubclass(w.category, TruncatedCassetteWarning):
            auditor._add("cassette-truncated", str(w.message), None, None)
    return auditor.report(str(path), reader.header.model or model)
