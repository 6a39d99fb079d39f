"""The timeline as one inline SVG: lanes of one session stacked on one time axis.

:class:`Plot` draws a :class:`~rawlive.tools.report.reading.Timeline`: the
turns as bands, both sides' loudness envelopes (one path per run of audio,
mirrored), labelled spans for transcripts, model text and tool calls packed
into rows, each turn's latency bracket, the audit's findings of a server
that misbehaves (a band over the time each one cost: a stall, an empty or
cut reply, an unanswered input, a turn ended too soon) and the control events. Its size is
bounded whatever the session's length: at most :data:`MAX_PLOT_WIDTH` pixels
wide, one envelope point per :data:`ENVELOPE_BIN_PX` pixels. Every string
from the recording is redacted and escaped here.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from rawlive.tools.report.envelopes import BLOCK_SECONDS, Envelope
from rawlive.tools.report.reading import Span, Timeline
from rawlive.tools.report.text import clean, dur, esc, secs

if TYPE_CHECKING:
    from numpy.typing import NDArray

    from rawlive.tools.audit import Finding

__all__ = ["ENVELOPE_BIN_PX", "LANES", "MAX_PLOT_WIDTH", "Lane", "Plot", "lanes_of"]

#: The widest the timeline's plot gets, in CSS pixels (a longer session gets fewer per second).
MAX_PLOT_WIDTH = 24_000
#: The narrowest.
MIN_PLOT_WIDTH = 960
#: Pixels per second when the session fits between the two.
PX_PER_SECOND = 60.0
#: One envelope point per this many pixels.
ENVELOPE_BIN_PX = 2.0

_CHAR_PX = 6.3  # the width of an average character of the 11 px label font
_ROW = 14


@dataclasses.dataclass(frozen=True)
class Lane:
    """One lane of the plot: its key (``data-lane``), the title beside it, its size."""

    key: str
    title: str
    height: int
    rows: int = 1


LANES = (
    Lane("turns", "Turns", 24),
    Lane("user-audio", "User audio", 56),
    Lane("video", "Video frames", 52),
    Lane("input", "Input transcript", 2 * _ROW + 8, 2),
    Lane("latency", "Latency", 30),
    Lane("faults", "Server faults", 2 * _ROW + 8, 2),
    Lane("model-audio", "Model audio", 56),
    Lane("output", "Output transcript", 2 * _ROW + 8, 2),
    Lane("text", "Model text", 2 * _ROW + 8, 2),
    Lane("tools", "Tool calls", 2 * _ROW + 8, 2),
    Lane("control", "Control", 3 * _ROW + 14, 3),
)
_AXIS = 22


def lanes_of(timeline: Timeline) -> tuple[Lane, ...]:
    """The lanes a timeline draws: every one, the video lane only if frames were sent."""
    video = bool(timeline.pictures or timeline.pictures_more)
    return tuple(lane for lane in LANES if lane.key != "video" or video)


class Plot:
    """The SVG of the timeline: lanes stacked on one time axis."""

    def __init__(self, timeline: Timeline, findings: Sequence[Finding] = ()) -> None:
        self.tl = timeline
        #: The audit's findings that cost time (``Finding.lost``): drawn in their lane.
        self.faults = sorted(
            (f for f in findings if f.lost is not None and f.t is not None),
            key=lambda f: f.t or 0.0,
        )
        span = max(timeline.duration, 1e-3)
        width = min(max(span * PX_PER_SECOND, MIN_PLOT_WIDTH), MAX_PLOT_WIDTH)
        self.left, self.right = 24.0, 80.0
        self.scale = width / span
        self.width = self.left + width + self.right
        self.top: dict[str, float] = {}
        y = float(_AXIS)
        #: The lanes drawn: the video lane only where the client sent frames.
        self.lanes = lanes_of(timeline)
        for lane in self.lanes:
            self.top[lane.key] = y
            y += lane.height
        self.height = y + 4
        self.out: list[str] = []

    def x(self, t: float) -> float:
        return self.left + t * self.scale

    def text(self, text: str) -> str:
        return esc(self.tl.redact(text))

    # -- labels -------------------------------------------------------------

    @staticmethod
    def _fit(text: str, px: float) -> str:
        chars = int(px / _CHAR_PX)
        if len(text) <= chars:
            return text
        return "" if chars < 3 else text[: chars - 1] + "…"

    def pack(
        self, items: list[tuple[float, float, str]], rows: int, max_px: float = 320
    ) -> list[tuple[int, str]]:
        """Rows and fitted texts for labels at ``x`` (sorted), bars ending at ``x_end``."""
        placed: list[tuple[int, str]] = []
        row_end = [-1e9] * rows
        last: list[int | None] = [None] * rows
        for x, x_end, text in items:
            row = next((r for r in range(rows) if row_end[r] <= x), None)
            if row is None:  # every row is taken here: shorten the label before in the emptiest
                row = min(range(rows), key=lambda r: row_end[r])
                prev = last[row]
                if prev is not None:
                    prev_x = items[prev][0]
                    placed[prev] = (row, self._fit(placed[prev][1], x - prev_x - 6))
            label = self._fit(text, max_px)
            placed.append((row, label))
            last[row] = len(placed) - 1
            row_end[row] = max(x + len(label) * _CHAR_PX + 8, x_end + 2)
        return placed

    # -- the parts ----------------------------------------------------------

    def axis(self) -> None:
        span = self.tl.duration
        target = 110 / self.scale  # seconds between ticks, about 110 px apart
        step = 10 ** math.floor(math.log10(target)) if target > 0 else 1
        for factor in (1, 2, 5, 10):
            if step * factor >= target:
                step *= factor
                break
        decimals = max(0, -math.floor(math.log10(step) + 1e-9))
        grid, labels = [], []
        count = int(span / step + 1e-9) + 1
        for i in range(count + 1):
            t = i * step
            if t > span + step * 1e-6:
                break
            x = self.x(t)
            grid.append(f"M{x:.1f},{_AXIS - 4}V{self.height - 4:.0f}")
            if step >= 1 and span >= 60:
                minutes, seconds = divmod(round(t), 60)
                hours, minutes = divmod(minutes, 60)
                label = (
                    f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes}:{seconds:02d}"
                )
            else:
                label = f"{t:.{decimals}f} s"
            labels.append(f'<text x="{x:.1f}" y="14">{label}</text>')
        self.out.append(f'<g class="axis"><path class="grid" d="{"".join(grid)}"/>')
        self.out.extend(labels)
        self.out.append("</g>")

    def turn_bands(self) -> None:
        top = self.top["turns"]
        bottom = self.height - 4
        self.out.append('<g class="lane" data-lane="turns">')
        for turn in self.tl.turns:
            end = turn.end if turn.end is not None else self.tl.duration
            x1, x2 = self.x(turn.start), self.x(end)
            state = "complete" if turn.end is not None else "unfinished"
            title = f"turn {turn.index} (connection {turn.connection}): {turn.start:.3f} s to "
            title += f"{end:.3f} s"
            if turn.end is None:
                conn = self.tl.connections.get(turn.connection)
                transcribing = conn is not None and conn.session.transcribing
                # (Speech to text sends utterances, never a turnComplete: PROTOCOL.md §10.8.)
                title += " (utterances of speech to text)" if transcribing else " (no turnComplete)"
            if turn.interrupted:
                title += ", interrupted"
            label = str(turn.index)
            status = turn.status
            if status:  # (PROTOCOL.md §10.6: only extended thinking says it)
                title += f", interactionStatus {status}"
                if turn.in_progress:
                    what = "a filler" if turn.filler else "in progress"
                    title += f" ({what}: the interaction goes on)"
                    state += " in-progress"
                    label += " filler" if turn.filler else " …"
            css = "band odd" if turn.index % 2 else "band"
            self.out.append(
                f'<g class="turn {state}" data-turn="{turn.index}" '
                f'data-start="{secs(turn.start)}" data-end="{secs(end)}"'
                + (f' data-status="{esc(status)}"' if status else "")
                + f"><title>{esc(title)}</title>"
                f'<rect class="{css}" x="{x1:.1f}" y="{top:.0f}" width="{max(x2 - x1, 1):.1f}" '
                f'height="{bottom - top:.0f}"/>'
                f'<text x="{x1 + 3:.1f}" y="{top + 15:.0f}">{esc(label)}</text></g>'
            )
        self.out.append("</g>")

    def envelope(self, key: str, env: Envelope) -> None:
        top = self.top[key]
        lane = next(lane for lane in LANES if lane.key == key)
        mid = top + lane.height / 2
        half = lane.height / 2 - 4
        self.out.append(f'<g class="lane" data-lane="{key}">')
        self.out.append(
            f'<path class="mid" d="M{self.left:.0f},{mid:.1f}H{self.width - self.right:.0f}"/>'
        )
        if not env.times and not env.elided:
            self.out.append(
                f'<text class="none" x="{self.left + 4:.0f}" y="{mid - 4:.0f}">no audio</text>'
            )
        for start, end in env.elided:
            x1, x2 = self.x(start), self.x(end)
            self.out.append(
                f'<rect class="elided" x="{x1:.1f}" y="{top + 4:.0f}" '
                f'width="{max(x2 - x1, 1):.1f}" height="{lane.height - 8}">'
                "<title>audio elided in the recording: "
                f"{dur(end - start)} at {start:.3f} s</title></rect>"
            )
        bin_s = max(ENVELOPE_BIN_PX / self.scale, BLOCK_SECONDS)
        level = env.levels(self.tl.duration, bin_s)
        if level is not None:
            self._envelope_path(key, level, bin_s, mid, half)
        self.out.append("</g>")

    def _envelope_path(
        self, key: str, level: NDArray[Any], bin_s: float, mid: float, half: float
    ) -> None:
        """One closed path per run of bins with audio: the upper half, mirrored by ``<use>``."""
        import numpy as np

        present = ~np.isnan(level)
        if not present.any():
            return
        edges = np.flatnonzero(np.diff(np.concatenate(([0], present.astype(np.int8), [0]))))
        runs, base = [], []
        for first, stop in zip(edges[::2], edges[1::2], strict=True):
            xs = self.left + (np.arange(first, stop + 1) * bin_s) * self.scale
            ys = mid - level[first:stop] * half
            x0, x1 = xs[0], xs[-1]
            base.append(f"M{x0:.1f},{mid - 0.6:.1f}H{x1:.1f}V{mid + 0.6:.1f}H{x0:.1f}Z")
            steps = "".join(
                f"L{x:.1f},{y:.1f}L{x2:.1f},{y:.1f}"
                for x, x2, y in zip(xs[:-1], xs[1:], ys, strict=True)
            )
            runs.append(f"M{x0:.1f},{mid:.1f}{steps}L{x1:.1f},{mid:.1f}Z")
        ident = f"env-{key}"
        self.out.append(f'<path class="present" d="{"".join(base)}"/>')
        self.out.append(f'<path id="{ident}" class="env" d="{"".join(runs)}"/>')
        self.out.append(f'<use href="#{ident}" transform="matrix(1 0 0 -1 0 {2 * mid:.1f})"/>')

    def spans(self, key: str, spans: list[Span]) -> None:
        lane = next(lane for lane in LANES if lane.key == key)
        top = self.top[key] + 4
        spans = sorted(spans, key=lambda s: s.start)
        items = [(self.x(s.start), self.x(s.end), self.tl.redact(clean(s.text))) for s in spans]
        self.out.append(f'<g class="lane" data-lane="{key}">')
        for span, (row, label), (x1, x2, _) in zip(
            spans, self.pack(items, lane.rows), items, strict=True
        ):
            y = top + row * _ROW
            detail = span.detail or span.text
            rtt = f' data-rtt="{secs(span.rtt)}"' if span.rtt is not None else ""
            self.out.append(
                f'<g class="span {span.kind}"{rtt}><title>{self.text(clean(detail, 2000))}'
                f" ({span.start:.3f} s)</title>"
                f'<rect x="{x1:.1f}" y="{y:.0f}" width="{max(x2 - x1, 2):.1f}" '
                f'height="{_ROW - 2}"/>'
                f'<text x="{x1 + 2:.1f}" y="{y + _ROW - 4:.0f}">{esc(label)}</text></g>'
            )
        self.out.append("</g>")

    def latency(self) -> None:
        top = self.top["latency"]
        self.out.append('<g class="lane" data-lane="latency">')
        for turn in self.tl.turns:
            bracket = turn.latency
            if bracket is None:
                continue
            start, end, basis = bracket
            value = end - start
            x1, x2 = self.x(start), self.x(end)
            label = dur(value)
            since = "the end of the user's speech" if basis == "speech" else "the end of the input"
            title = (
                f"turn {turn.index}: {label} from {since} ({start:.3f} s) "
                f"to the first reply audio ({end:.3f} s)"
            )
            audit = turn.audit
            measured = None if audit is None else audit.first_reply_audio
            self.out.append(
                f'<g class="latency" data-turn="{turn.index}" data-latency="{secs(value)}" '
                f'data-basis="{basis}" data-from="{secs(start)}" data-to="{secs(end)}" '
                f'data-audit-latency="{secs(measured)}">'
                f"<title>{esc(title)}</title>"
                f'<path d="M{x1:.1f},{top + 4:.0f}V{top + 12:.0f}H{x2:.1f}V{top + 4:.0f}"/>'
                f'<text x="{(x1 + x2) / 2:.1f}" y="{top + 25:.0f}">{label}</text></g>'
            )
        self.out.append("</g>")

    def faults_lane(self) -> None:
        """Each finding of a server that misbehaves: a band from its time over the time it cost."""
        lane = next(lane for lane in LANES if lane.key == "faults")
        top = self.top["faults"] + 4
        items = []
        for f in self.faults:
            start, lost = f.t or 0.0, f.lost or 0.0
            items.append((self.x(start), self.x(start + lost), f"{f.rule} {dur(lost)}"))
        self.out.append('<g class="lane" data-lane="faults">')
        for f, (row, label), (x1, x2, _) in zip(
            self.faults, self.pack(items, lane.rows, 260), items, strict=True
        ):
            y = top + row * _ROW
            start, lost = f.t or 0.0, f.lost or 0.0
            conn = "" if f.connection is None else f", connection {f.connection}"
            title = (
                f"{f.rule} ({f.severity}{conn}): {dur(lost)} lost from {start:.3f} s. {f.message}"
            )
            self.out.append(
                f'<g class="fault {f.severity}" data-rule="{esc(f.rule)}" '
                f'data-t="{secs(start)}" data-lost="{secs(lost)}">'
                f"<title>{self.text(clean(title, 2000))}</title>"
                f'<rect x="{x1:.1f}" y="{y:.0f}" width="{max(x2 - x1, 3):.1f}" '
                f'height="{_ROW - 2}"/>'
                f'<text x="{x1 + 2:.1f}" y="{y + _ROW - 4:.0f}">{esc(label)}</text></g>'
            )
        self.out.append("</g>")

    def video(self) -> None:
        """The frames sent: a thumbnail at each one's time (a tick without one), then the cap."""
        top = self.top["video"]
        self.out.append('<g class="lane" data-lane="video">')
        for picture in self.tl.pictures:
            x = self.x(picture.t)
            size = f"{picture.width}x{picture.height}" if picture.width else "?"
            what = f"{picture.mime_type or 'no type'} {size}, {picture.size} bytes"
            if picture.problem is not None:
                what += f": {picture.problem}"
            title = f"<title>frame at {picture.t:.3f} s: {self.text(what)}</title>"
            if picture.thumb is not None:
                width, height = picture.width or 4, picture.height or 3
                h = 40.0
                w = min(h * width / height, 80.0)
                self.out.append(
                    f'<g class="frame">{title}<image x="{x:.1f}" y="{top + 6:.0f}" '
                    f'width="{w:.1f}" height="{h:.0f}" preserveAspectRatio="xMinYMid meet" '
                    f'href="{picture.thumb}"/></g>'
                )
            else:
                css = "frame tick" + (" error" if picture.problem is not None else "")
                self.out.append(
                    f'<g class="{css}">{title}<path d="M{x:.1f},{top + 6:.0f}v40"/></g>'
                )
        if self.tl.pictures_more:
            last = self.tl.pictures[-1].t if self.tl.pictures else 0.0
            self.out.append(
                f'<text class="more" x="{self.x(last) + 84:.1f}" y="{top + 30:.0f}">'
                f"{self.tl.pictures_more} more frames</text>"
            )
        self.out.append("</g>")

    def control(self) -> None:
        lane = next(lane for lane in LANES if lane.key == "control")
        top = self.top["control"]
        marks = sorted(self.tl.marks, key=lambda m: m.t)
        items = [(self.x(m.t), self.x(m.t), m.label) for m in marks]
        self.out.append('<g class="lane" data-lane="control">')
        for kind, times in sorted(self.tl.ticks.items()):
            d = "".join(f"M{self.x(t):.1f},{top + 2:.0f}v6" for t in times)
            what = {
                "resumable": "sessionResumptionUpdate (resumable)",
                "not-resumable": "sessionResumptionUpdate (not resumable)",
                "setup": "setup sent",
                "video": "video frame sent",
                "vad": "voice activity signal",
            }.get(kind, kind)
            self.out.append(
                f'<path class="tick {kind}" d="{d}"><title>{len(times)} × {what}</title></path>'
            )
        for mark, (row, label), (x, _, _) in zip(
            marks, self.pack(items, lane.rows, 220), items, strict=True
        ):
            y = top + 10 + row * _ROW
            css = f"mark {mark.kind}" + (" error" if mark.error else "")
            self.out.append(
                f'<g class="{css}"><title>{self.text(mark.detail)} ({mark.t:.3f} s)</title>'
                f'<path d="M{x:.1f},{top + 8:.0f}V{top + lane.height - 2:.0f}"/>'
                f'<text x="{x + 2:.1f}" y="{y + _ROW - 4:.0f}">{self.text(label)}</text></g>'
            )
        self.out.append("</g>")

    def render(self) -> str:
        self.out.append(
            f'<svg class="plot" width="{self.width:.0f}" height="{self.height:.0f}" '
            f'viewBox="0 0 {self.width:.0f} {self.height:.0f}" role="img" '
            f'data-px-per-second="{self.scale:.6f}" data-origin="{self.left:.0f}" '
            f'aria-label="timeline of the session">'
        )
        self.out.append(
            '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
            'patternTransform="rotate(45)"><rect width="3" height="6" class="hatch"/>'
            "</pattern></defs>"
        )
        self.turn_bands()
        for lane in self.lanes:
            self.out.append(
                f'<path class="sep" d="M0,{self.top[lane.key] + lane.height:.0f}'
                f'H{self.width:.0f}"/>'
            )
        self.axis()
        self.envelope("user-audio", self.tl.user)
        if "video" in self.top:
            self.video()
        self.spans("input", [s for s in self.tl.spans if s.lane == "input"])
        self.latency()
        self.faults_lane()
        self.envelope("model-audio", self.tl.model)
        for key in ("output", "text", "tools"):
            self.spans(key, [s for s in self.tl.spans if s.lane == key])
        self.control()
        self.out.append("</svg>")
        return "".join(self.out)
