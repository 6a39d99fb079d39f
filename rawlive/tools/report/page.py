"""The report's HTML page: one self-contained file made of a timeline and an audit.

:func:`render_report` reads a cassette into a
:class:`~rawlive.tools.report.reading.Timeline`, audits it
(:func:`rawlive.tools.audit.audit_cassette`: findings, per-turn latencies,
percentiles), and lays both out: notes on what happened, the SVG timeline,
the findings, the turns with their audio, token usage, the connections and
the session's facts. The page asks for nothing (inline CSS and SVG, no
script, a Content-Security-Policy that forbids any load) and prints every
recorded string redacted. :func:`write_report` saves it whole or not at all.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import msgspec

from rawlive import files
from rawlive._version import __version__
from rawlive.core.closing import NORMAL_CLOSE_CODES, close_hint
from rawlive.tools.audit import MAX_FINDINGS_PER_RULE, SEVERITIES, Report, Turn, audit_cassette
from rawlive.tools.report.envelopes import FLOOR_DB
from rawlive.tools.report.reading import DEFAULT_AUDIO_LIMIT, Clip, Timeline, read_timeline
from rawlive.tools.report.svg import Plot, lanes_of
from rawlive.tools.report.text import clean, dur, esc, mb, secs
from rawlive.wire import endpoints

__all__ = ["Written", "render_report", "write_report"]

#: Audit findings listed one by one (the rest are counted by rule).
MAX_FINDINGS = 300

_CSS = """
:root{--fg:#1d2430;--muted:#5b6576;--line:#d9dee7;--user:#2f6fdf;--model:#d9572b;
--bg:#fff;--band:#f4f6fa;--err:#c62828;--warn:#b26a00;--ok:#2e7d32}
*{box-sizing:border-box}
body{margin:0;padding:18px 24px 40px;font:14px/1.45 system-ui,-apple-system,"Segoe UI",
Roboto,"Helvetica Neue",Arial,sans-serif;color:var(--fg);background:var(--bg)}
h1{font-size:21px;margin:0 0 2px}h2{font-size:17px;margin:28px 0 8px}
.sub{color:var(--muted);margin:0 0 10px}
.notes p{margin:6px 0;padding:7px 11px;border-left:4px solid var(--line);background:#f7f8fb}
.notes p.error{border-color:var(--err);background:#fdeeee}
.notes p.warning{border-color:var(--warn);background:#fff6e5}
.notes p.ok{border-color:var(--ok);background:#eef7ee}
.tl{display:flex;border:1px solid var(--line);border-radius:6px;overflow:hidden}
.lane-names{flex:0 0 132px;border-right:1px solid var(--line);background:#fafbfd;
font-size:12px;color:var(--muted);padding-top:22px}
.lane-names div{display:flex;align-items:center;padding:0 8px;border-bottom:1px solid #eef0f4}
.tl-scroll{overflow-x:auto;flex:1 1 auto}
svg.plot{display:block;font:11px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif}
svg .grid{stroke:#eceff4;stroke-width:1}
svg .sep{stroke:#eef0f4}
svg .axis text{fill:var(--muted);text-anchor:middle}
svg .band{fill:transparent}svg .band.odd{fill:var(--band)}
svg .turn text{fill:var(--muted);font-weight:600}
svg .turn.unfinished rect{fill:#fff3e0}
svg .mid{stroke:#e3e7ee}svg text.none{fill:#9aa5b8;font-style:italic}
svg [data-lane=user-audio] .env,svg [data-lane=user-audio] use{fill:var(--user);opacity:.75}
svg [data-lane=model-audio] .env,svg [data-lane=model-audio] use{fill:var(--model);opacity:.75}
svg .present{fill:#9aa5b8}
svg .elided{fill:url(#hatch);stroke:#9aa5b8;stroke-width:.5}svg .hatch{fill:#c5ccd8}
svg .span rect{fill:#e8eefc;stroke:#b8c7ef;stroke-width:.5}
svg .span.user-text rect{fill:#dfe9ff}
svg .span.output rect,svg .span.model-text rect{fill:#fdebe3;stroke:#f0c2ad}
svg .span.thought rect{fill:#f1f1f1;stroke:#ddd}
svg .span.tool rect{fill:#efe6fb;stroke:#c6a9ee}
svg .span.interim rect{fill:#f4f6fb;stroke:#c9d3ea;stroke-dasharray:3 2}
svg .span.interim text{font-style:italic}
svg .span.final rect{fill:#dfe9ff;stroke:#8fa9e6}
svg .mark.in-progress path{stroke-dasharray:3 2}
svg .span text{fill:var(--fg)}
svg .latency path{fill:none;stroke:#6b4fbb;stroke-width:1.5}
svg .latency text{fill:#6b4fbb;text-anchor:middle;font-weight:600}
svg .mark path{stroke:#8a94a6;stroke-width:1}
svg .mark text{fill:var(--muted)}
svg .mark.setup path{stroke:var(--ok)}svg .mark.connect path{stroke:#1565c0}
svg .mark.goaway path{stroke:var(--warn);stroke-width:2}svg .mark.goaway text{fill:var(--warn)}
svg .mark.interrupted path{stroke:#ad1457;stroke-width:2}
svg .mark.interrupted text{fill:#ad1457}
svg .mark.error path{stroke:var(--err);stroke-width:2}svg .mark.error text{fill:var(--err)}
svg .fault rect{fill:#eef1f6;stroke:#9aa5b8;stroke-width:.8}svg .fault text{fill:var(--fg)}
svg .fault.warning rect{fill:#fff6e5;stroke:var(--warn)}
svg .fault.error rect{fill:#fdeeee;stroke:var(--err)}svg .fault.error text{fill:var(--err)}
svg .tick{stroke:#7e57c2;stroke-width:1}svg .tick.setup{stroke:var(--ok)}
svg .frame.tick path{stroke:#7e57c2;stroke-width:2}svg .frame.error path{stroke:var(--err)}
svg .more{fill:var(--muted);font-size:11px}
.legend{color:var(--muted);font-size:12px;margin:6px 0 0}
.legend b{display:inline-block;width:10px;height:10px;border-radius:2px;margin:0 4px 0 10px;
vertical-align:-1px}
table{border-collapse:collapse;font-size:13px;margin:4px 0}
th,td{border-bottom:1px solid var(--line);padding:4px 9px;text-align:left;vertical-align:top}
th{background:#f4f6fa;font-weight:600}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap}
td.said{max-width:320px}td.rule{white-space:nowrap}
tr.error td:first-child{color:var(--err);font-weight:600}
tr.warning td:first-child{color:var(--warn);font-weight:600}
audio{display:block;width:230px;height:30px;margin:2px 0}
.clip{font-size:12px;color:var(--muted)}
.scroll{overflow-x:auto}
footer{margin-top:30px;color:var(--muted);font-size:12px}
"""


class _Page:
    def __init__(self, timeline: Timeline, report: Report) -> None:
        self.tl = timeline
        self.report = report
        self.out: list[str] = []

    def t(self, text: str) -> str:
        return esc(self.tl.redact(text))

    def w(self, text: str) -> None:
        self.out.append(text)

    # -- what happened ------------------------------------------------------

    def notes(self) -> list[tuple[str, str]]:
        tl, notes = self.tl, []
        conns = sorted(tl.connections.values(), key=lambda c: c.number)
        frames = tl.frames["client"] + tl.frames["server"]
        if tl.truncated:
            notes.append(
                (
                    "error",
                    "The recording was cut off: its last line is incomplete (the recorder "
                    "stopped mid-write). Everything before it is shown.",
                )
            )
        if tl.unreadable:
            notes.append(("error", f"An unreadable line ended the reading: {tl.unreadable}"))
        if tl.thumbs_missing:
            notes.append(
                (
                    "warning",
                    "Video frames are drawn as ticks: their thumbnails need PyAV, the media "
                    "extra (pip install 'rawlive[media]').",
                )
            )
        if tl.pictures_more:
            notes.append(
                (
                    "info",
                    f"The video lane shows the first {len(tl.pictures)} frames; "
                    f"{tl.pictures_more} more frames were sent.",
                )
            )
        if not tl.complete and not tl.truncated and not tl.unreadable:
            notes.append(
                (
                    "warning",
                    "The recording has no end event: the recorder stopped early (crashed or "
                    "killed), so the session may have gone on after what is shown.",
                )
            )
        if not conns and not frames:
            notes.append(
                (
                    "warning",
                    "This recording is empty: no connection was opened and no message was "
                    "exchanged.",
                )
            )
        elif not frames:
            notes.append(("warning", "Connected, but no message was exchanged."))
        started = [c for c in conns if c.setup_complete_t is not None]
        if conns and not started:
            notes.append(
                (
                    "error",
                    f"The session never started: none of its {len(conns)} connection(s) "
                    "received setupComplete.",
                )
            )
        for conn in conns:
            if conn.code is not None and conn.code not in NORMAL_CLOSE_CODES:
                by = f"by the {conn.by}" if conn.by else "(dropped, no close frame)"
                text = f"Connection {conn.number} was closed {by} with {conn.code}"
                text += f": “{conn.reason}”" if conn.reason else ""
                hint = close_hint(conn.code, conn.reason)
                text += f" — {hint}." if hint else "."
                notes.append(("error", text))
        errors = [m for m in tl.marks if m.kind in ("error", "invalid")]
        for mark in errors[:5]:
            notes.append(("error", f"At {mark.t:.3f} s: {mark.detail}"))
        if len(errors) > 5:
            notes.append(("error", f"… and {len(errors) - 5} more error frames."))
        if tl.user.elided or tl.model.elided:
            notes.append(
                (
                    "warning",
                    "Audio was elided when this session was recorded (elideAudio): the "
                    "hatched spans show where audio was, not how loud it was, and it cannot "
                    "be played.",
                )
            )
        if tl.left_out:
            seconds = sum(clip.seconds for _, clip in tl.left_out)
            notes.append(
                (
                    "warning",
                    f"{len(tl.left_out)} audio clip(s) ({dur(seconds)}) are not embedded: "
                    f"the page holds at most {mb(tl.audio_limit)} MB of audio "
                    f"({mb(tl.audio_embedded)} MB used; rawlive report --audio-limit MB "
                    "changes it). The turn table says which.",
                )
            )
        factor = self.report.metrics.upload_real_time_factor
        if factor is not None and factor > 1.5 and tl.user.seconds > 0.5:
            notes.append(
                (
                    "warning",
                    f"User audio was sent {factor:.0f}× faster than real time: it is drawn at "
                    "its real length from where it started, so it runs past the moment it "
                    "was sent.",
                )
            )
        if not any(level == "error" for level, _ in notes) and started:
            turns = len(tl.turns)
            last = conns[-1]
            ending = (
                f"closed with {last.code} by the {last.by or 'network'}"
                if last.code is not None
                else "still open when the recording ended"
            )
            notes.insert(
                0,
                (
                    "ok",
                    f"{turns} turn(s) over {len(conns)} connection(s) in {dur(tl.recorded)}; "
                    f"the last connection {ending}.",
                ),
            )
        return notes

    # -- sections -----------------------------------------------------------

    def head(self) -> None:
        tl = self.tl
        name = Path(tl.path).name
        model = tl.header.model or "unknown model"
        self.w('<!doctype html>\n<html lang="en"><head><meta charset="utf-8">')
        self.w(
            '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
            "style-src 'unsafe-inline'; media-src data:; img-src data:\">"
        )
        self.w('<meta name="viewport" content="width=device-width, initial-scale=1">')
        self.w(f"<title>rawlive report: {self.t(name)}</title><style>{_CSS}</style></head><body>")
        self.w(f"<header><h1>Session report: {self.t(name)}</h1>")
        self.w(
            f'<p class="sub">{self.t(model)} · {dur(tl.recorded)} · {len(tl.turns)} turn(s) · '
            f"{len(tl.connections)} connection(s) · {self.report.count('error')} error(s), "
            f"{self.report.count('warning')} warning(s) in the audit</p></header>"
        )
        self.w('<section id="notes" class="notes">')
        for level, text in self.notes():
            self.w(f'<p class="{level}">{self.t(text)}</p>')
        self.w("</section>")

    def timeline(self) -> None:
        plot = Plot(self.tl, self.report.findings)
        svg = plot.render()
        self.w('<section id="timeline"><h2>Timeline</h2><div class="tl"><div class="lane-names">')
        for lane in lanes_of(self.tl):
            self.w(
                f'<div data-lane-name="{lane.key}" style="height:{lane.height}px">'
                f"{lane.title}</div>"
            )
        self.w(f'</div><div class="tl-scroll">{svg}</div></div>')
        self.w(
            '<p class="legend">'
            '<b style="background:var(--user)"></b>user audio'
            '<b style="background:var(--model)"></b>model audio (as played; loudness, '
            f"{FLOOR_DB:.0f} to 0 dBFS)"
            '<b style="background:#c5ccd8"></b>elided audio'
            '<b style="background:#6b4fbb"></b>latency: end of the user\'s speech (or input) → '
            "first reply audio"
            '<b style="background:#efe6fb"></b>tool call → response'
            '<b style="background:#fdeeee;border:1px solid var(--err)"></b>server fault: '
            "the time a stall, an empty or cut reply, input left without a reply or a turn "
            "ended too soon cost"
            f" · {plot.scale:.3g} px per second; hover for details</p></section>"
        )

    def findings(self) -> None:
        report = self.report
        counts = ", ".join(f"{report.count(s)} {s}" for s in reversed(SEVERITIES))
        self.w(f'<section id="findings"><h2>Audit findings</h2><p>{counts}.</p>')
        if len(report.findings) > MAX_FINDINGS or report.not_shown():
            rules = ", ".join(f"{rule} × {n}" for rule, n in sorted(report.rule_counts.items()))
            self.w(
                f"<p>By rule: {esc(rules)}. Listed: the first {MAX_FINDINGS_PER_RULE} of each "
                f"rule, {MAX_FINDINGS} at most; <code>rawlive audit --findings-per-rule 0</code> "
                "lists them all.</p>"
            )
        if report.findings:
            self.w('<div class="scroll"><table><tr><th>severity</th><th>rule</th>')
            self.w("<th>section</th><th>conn</th><th>t (s)</th><th>lost (s)</th>")
            self.w("<th>message</th></tr>")
            for f in report.findings[:MAX_FINDINGS]:
                self.w(
                    f'<tr class="{f.severity}" data-rule="{esc(f.rule)}"><td>{f.severity}</td>'
                    f'<td class="rule">{esc(f.rule)}</td><td class="rule">{esc(f.section)}</td>'
                    f'<td class="num">{"" if f.connection is None else f.connection}</td>'
                    f'<td class="num">{"" if f.t is None else f"{f.t:.3f}"}</td>'
                    f'<td class="num">{"" if f.lost is None else f"{f.lost:.3f}"}</td>'
                    f"<td>{self.t(f.message)}</td></tr>"
                )
            self.w("</table></div>")
        if report.drift:
            self.w("<p>Schema drift (keys and enum values the types do not know):</p>")
            self.w("<table><tr><th>from</th><th>path</th><th>count</th><th>first t (s)</th></tr>")
            for d in report.drift:
                self.w(
                    f"<tr><td>{esc(d.direction)}</td><td>{self.t(d.path)}</td>"
                    f'<td class="num">{d.count}</td><td class="num">{d.first_t:.3f}</td></tr>'
                )
            self.w("</table>")
        self.w("</section>")

    def clip(self, clip: Clip) -> str:
        who = "user" if clip.side == "user" else "model"
        head = f'<div class="clip" data-clip="{who}">{who}, {dur(clip.seconds)}'
        if clip.data_uri is not None:
            return (
                f'{head}<audio controls preload="none" src="{clip.data_uri}" '
                f'title="{who} audio, {clip.rate} Hz"></audio></div>'
            )
        return f"{head}: {esc(clip.note)}</div>"

    def turns(self) -> None:
        self.w('<section id="turns"><h2>Turns</h2>')
        if not self.tl.turns:
            self.w("<p>No turn: nothing was said or answered.</p></section>")
            return
        from rawlive.media import vad

        self.w(
            "<p>Reply latency: from the end of the user's speech (the last 10 ms of user "
            f"audio at {vad.DEFAULT_END_THRESHOLD_DBFS:.0f} dBFS or louder, the emulator's "
            "default end-of-speech level; the end of the "
            "input when there is no such audio) to the first reply audio, as the timeline "
            "draws it. The next four columns are the audit's, in seconds from the end of the "
            "user's input (the last message the client sent before the reply began; with a "
            "microphone that never stops, that is just before the reply). Audio: what each "
            "side sent in the turn, playable here.</p>"
        )
        self.w('<div class="scroll"><table><tr><th>turn</th><th>conn</th><th>start (s)</th>')
        self.w("<th>user said</th><th>model said</th><th>reply latency</th>")
        self.w("<th>first input transcript</th>")
        self.w("<th>first reply audio</th><th>generation complete</th><th>turn complete</th>")
        self.w("<th>tools</th><th>tokens</th><th>audio</th></tr>")
        for turn in self.tl.turns:
            a = turn.audit
            said = " ".join([*turn.user_text, "".join(turn.input_text)]).strip()
            reply = "".join(turn.output_text) or "".join(turn.model_text)
            if turn.interrupted:
                reply += " [interrupted]"
            conn = self.tl.connections.get(turn.connection)
            if turn.end is None and not (conn is not None and conn.session.transcribing):
                reply += " [no turnComplete]"  # (speech-to-text sends none, §10.8)
            elif turn.status:  # (extended thinking, PROTOCOL.md §10.6)
                reply += f" [{turn.status}{', filler' if turn.filler else ''}]"
            cells = [
                f'<td class="num">{turn.index}</td>',
                f'<td class="num">{turn.connection}</td>',
                f'<td class="num">{turn.start:.3f}</td>',
                f'<td class="said">{self.t(clean(said, 600))}</td>',
                f'<td class="said">{self.t(clean(reply.strip(), 600))}</td>',
            ]
            bracket = turn.latency
            latency = None if bracket is None else bracket[1] - bracket[0]
            basis = "" if bracket is None else f' data-basis="{bracket[2]}"'
            cells.append(
                f'<td class="num" data-metric="reply_latency" data-seconds="{secs(latency)}"'
                f"{basis}>{dur(latency)}</td>"
            )
            for name in (
                "first_input_transcription",
                "first_reply_audio",
                "generation_complete",
                "turn_complete",
            ):
                value = None if a is None else getattr(a, name)
                cells.append(
                    f'<td class="num" data-metric="{name}" data-seconds="{secs(value)}">'
                    f"{'–' if value is None else f'{value:.3f}'}</td>"
                )
            cells.append(f"<td>{self.t(', '.join(turn.tools))}</td>")
            cells.append(f'<td class="num">{turn.tokens or ""}</td>')
            cells.append(f"<td>{''.join(self.clip(c) for c in turn.clips) or '–'}</td>")
            self.w(f'<tr data-turn="{turn.index}">{"".join(cells)}</tr>')
        self.w("</table></div>")
        latencies = [(k, v) for k, v in self.report.metrics.latencies().items() if v is not None]
        if latencies:
            self.w("<p>Over the session (s):</p><table><tr><th>milestone</th><th>n</th>")
            self.w("<th>p50</th><th>p90</th><th>max</th></tr>")
            for name, p in latencies:
                self.w(
                    f'<tr data-latency-name="{name}"><td>{name.replace("_", " ")}</td>'
                    f'<td class="num">{int(p["n"])}</td><td class="num">{p["p50"]:.3f}</td>'
                    f'<td class="num">{p["p90"]:.3f}</td><td class="num">{p["max"]:.3f}</td></tr>'
                )
            self.w("</table>")
        self.w("</section>")

    def tokens(self) -> None:
        usage = self.tl.usage
        self.w('<section id="tokens"><h2>Token usage</h2>')
        if not usage.reports:
            self.w("<p>No usageMetadata was received.</p></section>")
            return
        prompt, response = usage.prompt_by_modality, usage.response_by_modality
        self.w("<table><tr><th>modality</th><th>prompt</th><th>response</th></tr>")
        for modality in sorted(set(prompt) | set(response)):
            name = self.t(modality)  # a recording's own spelling, redacted as every string
            self.w(
                f'<tr data-modality="{name}"><td>{name}</td>'
                f'<td class="num">{prompt.get(modality, 0)}</td>'
                f'<td class="num">{response.get(modality, 0)}</td></tr>'
            )
        self.w(
            f'<tr><th>total tokens</th><td class="num" colspan="2" data-total-tokens>'
            f"{usage.total_tokens}</td></tr></table></section>"
        )

    def connections(self) -> None:
        self.w('<section id="connections"><h2>Connections</h2>')
        conns = sorted(self.tl.connections.values(), key=lambda c: c.number)
        if not conns:
            self.w("<p>No connection was opened.</p></section>")
            return
        self.w('<div class="scroll"><table><tr><th>#</th><th>opened (s)</th>')
        self.w("<th>setupComplete after</th><th>resumed</th><th>goAway</th><th>closed (s)</th>")
        self.w("<th>close</th><th>what it means</th></tr>")
        for c in conns:
            ready = (
                dur(c.setup_complete_t - c.setup_t)
                if c.setup_complete_t is not None and c.setup_t is not None
                else "never"
            )
            go_away = "" if c.go_away_t is None else f"at {c.go_away_t:.3f} s"
            if c.go_away_t is not None and c.time_left is not None:
                go_away += f", timeLeft {dur(c.time_left)}"
            if c.code is None:
                close, hint = "not closed in the recording", ""
            else:
                by = f"by the {c.by}" if c.by else "dropped"
                close = f"{c.code} {by}" + (f": {c.reason}" if c.reason else "")
                hint = close_hint(c.code, c.reason) or (
                    "normal closure" if c.code in NORMAL_CLOSE_CODES else ""
                )
            self.w(
                f'<tr data-connection="{c.number}" data-close-code="{c.code or ""}">'
                f'<td class="num">{c.number}</td>'
                f'<td class="num">{"" if c.opened is None else f"{c.opened:.3f}"}</td>'
                f"<td>{ready}</td><td>{'yes' if c.resumed else ''}</td><td>{go_away}</td>"
                f'<td class="num">{"" if c.closed is None else f"{c.closed:.3f}"}</td>'
                f"<td>{self.t(close)}</td><td>{self.t(hint)}</td></tr>"
            )
        self.w("</table></div></section>")

    def facts(self) -> None:
        tl, h = self.tl, self.tl.header
        headers = endpoints.Endpoint(url="", headers=tuple(h.headers)).redacted_headers()
        rows = [
            ("file", tl.path),
            ("model", h.model or "unknown"),
            ("endpoint", h.url or "unknown"),
            ("API version", h.api_version or "unknown"),
            ("duration", f"{dur(tl.recorded)} ({tl.recorded:.6f} s)"),
            ("recorded", f"{h.created} by rawlive {h.rawlive_version}"),
            (
                "frames",
                f"{tl.frames['client']} from the client, {tl.frames['server']} from the server",
            ),
            (
                "audio",
                f"user {dur(tl.user.seconds)}, model {dur(tl.model.seconds)}"
                + (" (elided in the recording)" if h.elide_audio else ""),
            ),
            ("complete", "yes (end event)" if tl.complete else "no"),
        ]
        if headers:
            rows.append(("headers", "; ".join(f"{k}: {v}" for k, v in headers)))
        for key, value in h.meta.items():
            text = value if isinstance(value, str) else msgspec.json.encode(value).decode()
            rows.append((f"meta.{key}", clean(text, 300)))
        self.w('<section id="facts"><h2>Session facts</h2><table>')
        for name, value in rows:
            self.w(f'<tr data-fact="{esc(name)}"><th>{esc(name)}</th><td>{self.t(value)}</td></tr>')
        self.w("</table></section>")

    def render(self) -> str:
        self.head()
        self.timeline()
        self.findings()
        self.turns()
        self.tokens()
        self.connections()
        self.facts()
        self.w(
            f"<footer>Written by rawlive {__version__} (rawlive report): one file, no script, "
            "no network.</footer></body></html>\n"
        )
        return "".join(self.out)


def _match_audit(timeline: Timeline, report: Report) -> None:
    """Give each completed turn its audit :class:`Turn` (both end at each turnComplete)."""
    by_conn: dict[int, list[Turn]] = {}
    for measured in report.metrics.turns:
        by_conn.setdefault(measured.connection, []).append(measured)
    for turn in timeline.turns:
        pending = by_conn.get(turn.end_connection or turn.connection)
        if turn.end is not None and pending:
            turn.audit = pending.pop(0)


def _build(cassette: str | os.PathLike[str], audio_limit: int) -> tuple[Timeline, str]:
    timeline = read_timeline(cassette, audio_limit=audio_limit)
    report = audit_cassette(cassette)
    _match_audit(timeline, report)
    return timeline, _Page(timeline, report).render()


def render_report(path: str | os.PathLike[str], *, audio_limit: int = DEFAULT_AUDIO_LIMIT) -> str:
    """The HTML page of the cassette at ``path`` (see :func:`read_timeline` for errors)."""
    return _build(path, audio_limit)[1]


@dataclasses.dataclass
class Written:
    """What :func:`write_report` wrote."""

    path: Path
    bytes: int
    turns: int
    clips_left_out: int
    notes: list[str]


def write_report(
    cassette: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    audio_limit: int = DEFAULT_AUDIO_LIMIT,
) -> Written:
    """Render the cassette's page and write it to ``out`` (UTF-8); see :func:`read_timeline`."""
    timeline, page = _build(cassette, audio_limit)
    data = page.encode("utf-8")
    target = Path(out)
    # Written beside the target and renamed over it: a failure halfway (a full
    # disk) leaves the previous page whole, never a truncated one.
    staged = files.StagedFile(target)
    try:
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(staged.fd, view) :]
        finally:
            os.close(staged.fd)
        staged.publish()
    except OSError as exc:  # a failed write names no file
        staged.discard()
        raise files.named(exc, target) from None
    notes = []
    if timeline.truncated:
        notes.append("the recording was cut off")
    if timeline.unreadable:
        notes.append("an unreadable line ended it")
    return Written(target, len(data), len(timeline.turns), len(timeline.left_out), notes)
