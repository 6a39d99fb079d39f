"""The audit as text: a :class:`~rawlive.tools.audit.auditor.Report` as plain tables.

:func:`render_report` writes what ``rawlive audit`` prints: the findings (and
how many of each rule were counted but not kept), the schema drift, the
metrics and the latency percentiles. :func:`table` and :func:`fmt` are the
layout the audit's other texts (``audit --diff``) share, and :func:`json_text`
writes their JSON documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import msgspec

from rawlive.tools.audit.metrics import stats
from rawlive.tools.audit.rules import SEVERITIES

if TYPE_CHECKING:
    from rawlive.tools.audit.auditor import Report

__all__ = ["fmt", "json_text", "render_report", "table"]


def render_report(report: Report) -> str:
    """A plain-text report: findings, drift and metrics as tables."""
    out = [f"audit of {report.path}" + (f" (model {report.model})" if report.model else "")]
    counts = ", ".join(f"{report.count(s)} {s}" for s in reversed(SEVERITIES))
    out.append(f"findings: {counts}")
    if report.findings:
        rows = [
            [
                f.severity,
                f.rule,
                f.section,
                "" if f.connection is None else str(f.connection),
                "" if f.t is None else f"{f.t:.3f}",
                "" if f.lost is None else f"{f.lost:.3f}",
                f.message,
            ]
            for f in report.findings
        ]
        head = ["severity", "rule", "section", "conn", "t", "lost", "message"]
        out.append(table(head, rows))
    for name, n in report.not_shown().items():
        out.append(f"... {n} more {name} findings counted, not shown")
    if report.drift:
        out.append("\nschema drift (unknown keys and enum values):")
        rows = [
            [d.direction, d.path, str(d.count), f"{d.first_t:.3f}", str(d.first_connection)]
            for d in report.drift
        ]
        out.append(table(["from", "path", "count", "first t", "conn"], rows))
    m = report.metrics
    out.append("\nmetrics:")
    rows = [
        ["audio in (s)", f"{m.audio_in_seconds:.3f}"],
        ["audio out (s)", f"{m.audio_out_seconds:.3f}"],
        ["upload real-time factor", fmt(m.upload_real_time_factor)],
        ["turns", str(len(m.turns))],
    ]
    if m.interactions:
        idle = sum(1 for i in m.interactions if i.idle)
        rows.append(["interactions", f"{len(m.interactions)}, {idle} ended at IDLE"])
    if m.utterances or m.interim_transcriptions or m.final_transcriptions:
        rows.append(
            [
                "utterances",
                f"{len(m.utterances)}: {m.final_transcriptions} final(s), "
                f"{m.interim_transcriptions} interim(s)",
            ]
        )
    if m.video_frames:
        per_turn = ", ".join(
            f"{turn.video_frames} ({turn.video_bytes} B)" for turn in m.turns if turn.video_frames
        )
        rows.append(["video frames", f"{m.video_frames}, {m.video_bytes} bytes"])
        if per_turn:
            rows.append(["video frames per turn", per_turn])
    rows += [
        ["interruptions", str(m.interruptions)],
        [
            "reply audio gaps",
            f"{len(m.reply_gaps)}, {sum(m.reply_gaps):.3f} s in all"
            + (f", longest {max(m.reply_gaps):.3f} s" if m.reply_gaps else ""),
        ],
        ["total tokens", str(m.total_tokens)],
    ]
    for label, sizes in (("in", m.audio_in_chunks), ("out", m.audio_out_chunks)):
        found = stats(sizes)
        if found:
            rows.append(
                [
                    f"audio {label} chunks (bytes)",
                    f"{found['count']:.0f} x min {found['min']:.0f} "
                    f"mean {found['mean']:.0f} max {found['max']:.0f}",
                ]
            )
    for label, tokens in (("prompt", m.prompt_tokens), ("response", m.response_tokens)):
        if tokens:
            rows.append(
                [f"{label} tokens", ", ".join(f"{k} {v}" for k, v in sorted(tokens.items()))]
            )
    for conn, left, lead in m.go_away:
        rows.append([f"goAway conn {conn}", f"timeLeft {fmt(left)} s, closed {fmt(lead)} s"])
    for name, seconds in sorted(m.time_lost.items()):
        rows.append([f"time lost to {name} (s)", f"{seconds:.3f}"])
    out.append(table(["metric", "value"], rows))
    latency_rows = [
        [name, str(int(p["n"])), fmt(p["p50"]), fmt(p["p90"]), fmt(p["max"])]
        for name, p in m.latencies().items()
        if p is not None
    ]
    if latency_rows:
        out.append("\nlatencies (s; turns from the end of user input):")
        out.append(table(["milestone", "n", "p50", "p90", "max"], latency_rows))
    return "\n".join(out)


def json_text(document: Any) -> str:
    """A document (Structs, or lists of them) as indented JSON text: ``audit --json``."""
    return msgspec.json.format(msgspec.json.encode(document), indent=2).decode()


def fmt(value: float | None) -> str:
    """A time or ratio to four decimals; ``-`` for none."""
    return "-" if value is None else f"{value:.4f}"


def table(head: list[str], rows: list[list[str]]) -> str:
    """Rows under a header, in columns as wide as their widest cell."""
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(head, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    for r in rows:
        lines.append("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    return "\n".join(lines)
