r"""What changed from one audited session to another: :func:`diff_reports` and its :class:`Diff`.

``rawlive audit --diff A B`` compares two :class:`~rawlive.tools.audit.auditor.Report`\ s:
the message kinds and their counts, the key paths present in only one, the
findings by rule (every one counted, kept or not) and the metrics and
latency percentiles. The structure changed when a kind appeared or vanished
or the key paths differ.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import msgspec

from rawlive.tools.audit.render import fmt, json_text, table

if TYPE_CHECKING:
    from rawlive.tools.audit.auditor import Report

__all__ = [
    "Diff",
    "DiffDocument",
    "KindChange",
    "MeasureChange",
    "RuleChange",
    "diff_reports",
]


@dataclasses.dataclass
class Diff:
    """What changed from session ``a`` to session ``b`` (:func:`diff_reports`)."""

    a: str
    b: str
    #: (sender, kind, frames in a, frames in b) for every kind whose count differs.
    kinds: list[tuple[str, str, int, int]]
    #: Key paths by sender present only in a, only in b.
    only_a: dict[str, list[str]]
    only_b: dict[str, list[str]]
    #: (measure, a, b) for the session's metrics and latency percentiles.
    metrics: list[tuple[str, float | None, float | None]]
    #: (rule, findings in a, findings in b) where the counts differ.
    findings: list[tuple[str, int, int]]

    @property
    def structure_changed(self) -> bool:
        """Whether message kinds appeared or vanished, or the field sets differ."""
        return bool(
            any(min(x, y) == 0 for _, _, x, y in self.kinds)
            or any(self.only_a.values())
            or any(self.only_b.values())
        )

    def document(self) -> DiffDocument:
        """The diff as ``audit --diff --json`` writes it."""
        return DiffDocument(
            a=self.a,
            b=self.b,
            structure_changed=self.structure_changed,
            kinds=[KindChange(*kind) for kind in self.kinds],
            fields_only_in_a=self.only_a,
            fields_only_in_b=self.only_b,
            metrics=[MeasureChange(*measure) for measure in self.metrics],
            findings=[RuleChange(*rule) for rule in self.findings],
        )

    def to_builtins(self) -> dict[str, Any]:
        """:meth:`document` as plain objects (what :func:`json.loads` makes of its JSON)."""
        built: dict[str, Any] = msgspec.to_builtins(self.document())
        return built

    def to_json(self) -> str:
        """:meth:`document` as indented JSON text."""
        return json_text(self.document())

    def render(self) -> str:
        out = [f"diff of {self.a} (a) and {self.b} (b)"]
        if self.kinds:
            out.append("\nmessage kinds (frames):")
            rows = [
                [sender, kind, str(x), str(y), f"{y - x:+d}"] for sender, kind, x, y in self.kinds
            ]
            out.append(table(["from", "kind", "a", "b", "b - a"], rows))
        else:
            out.append("\nmessage kinds: the same, in the same numbers")
        if any(self.only_a.values()) or any(self.only_b.values()):
            out.append("\nfields:")
            rows = [
                [side, sender, path]
                for side, found in (("only in a", self.only_a), ("only in b", self.only_b))
                for sender, paths in found.items()
                for path in paths
            ]
            out.append(table(["", "from", "key path"], rows))
        else:
            out.append("fields: the same key paths")
        if self.findings:
            out.append("\nfindings:")
            out.append(
                table(["rule", "a", "b"], [[rule, str(x), str(y)] for rule, x, y in self.findings])
            )
        rows = []
        for name, x, y in self.metrics:
            if name in _COUNTS:
                cells = [_count(x), _count(y), "-" if x is None or y is None else f"{y - x:+.0f}"]
            else:
                cells = [fmt(x), fmt(y), "-" if x is None or y is None else f"{y - x:+.4f}"]
            rows.append([name, *cells])
        out.append("\nmetrics (latencies in s, from the end of user input):")
        out.append(table(["measure", "a", "b", "b - a"], rows))
        return "\n".join(out)


class KindChange(msgspec.Struct):
    """Frames of one kind from one side (``from``: client or server), in a and in b."""

    sender: str = msgspec.field(name="from")
    kind: str
    a: int
    b: int


class MeasureChange(msgspec.Struct):
    """A metric or latency percentile in a and in b (``None``: not measured)."""

    measure: str
    a: float | None
    b: float | None


class RuleChange(msgspec.Struct):
    """Findings of one rule in a and in b, those not kept included."""

    rule: str
    a: int
    b: int


class DiffDocument(msgspec.Struct):
    """A :class:`Diff` in ``audit --diff --json`` (snake_case keys)."""

    a: str
    b: str
    structure_changed: bool
    kinds: list[KindChange]
    #: Key paths by sender present only in a, only in b.
    fields_only_in_a: dict[str, list[str]]
    fields_only_in_b: dict[str, list[str]]
    metrics: list[MeasureChange]
    findings: list[RuleChange]


_COUNTS = frozenset(
    {
        "turns",
        "interactions",
        "utterances",
        "interruptions",
        "reply audio gaps",
        "tool round trips",
        "total tokens",
    }
)


def _count(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _diff_measures(report: Report) -> dict[str, float | None]:
    m = report.metrics
    measures: dict[str, float | None] = {
        "turns": float(len(m.turns)),
        "interactions": float(len(m.interactions)),
        "utterances": float(len(m.utterances)),
        "interruptions": float(m.interruptions),
        "audio in (s)": m.audio_in_seconds,
        "audio out (s)": m.audio_out_seconds,
        "upload real-time factor": m.upload_real_time_factor,
        "reply audio gaps": float(len(m.reply_gaps)),
        "reply audio gap seconds": sum(m.reply_gaps),
        "tool round trips": float(len(m.tool_round_trips)),
        "total tokens": float(m.total_tokens),
    }
    for name, p in m.latencies().items():
        for q in ("p50", "p90", "max"):
            measures[f"{name} {q}"] = None if p is None else p[q]
    return measures


def diff_reports(a: Report, b: Report) -> Diff:
    """What changed between two audited sessions: message kinds, field sets, latencies."""
    kinds = []
    senders = sorted(set(a.kinds) | set(b.kinds))
    for sender in senders:
        ka, kb = a.kinds.get(sender, {}), b.kinds.get(sender, {})
        for kind in sorted(set(ka) | set(kb)):
            x, y = ka.get(kind, 0), kb.get(kind, 0)
            if x != y:
                kinds.append((sender, kind, x, y))
    only_a: dict[str, list[str]] = {}
    only_b: dict[str, list[str]] = {}
    for sender in sorted(set(a.fields) | set(b.fields)):
        fa, fb = set(a.fields.get(sender, [])), set(b.fields.get(sender, []))
        if fa - fb:
            only_a[sender] = sorted(fa - fb)
        if fb - fa:
            only_b[sender] = sorted(fb - fa)
    ma, mb = _diff_measures(a), _diff_measures(b)
    metrics = [
        (name, ma[name], mb[name]) for name in ma if ma[name] is not None or mb[name] is not None
    ]
    rules_a, rules_b = a.rule_counts, b.rule_counts
    findings = [
        (rule, rules_a.get(rule, 0), rules_b.get(rule, 0))
        for rule in sorted(set(rules_a) | set(rules_b))
        if rules_a.get(rule, 0) != rules_b.get(rule, 0)
    ]
    return Diff(a.path, b.path, kinds, only_a, only_b, metrics, findings)
