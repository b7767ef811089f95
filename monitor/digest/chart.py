"""The trend chart: firing alerts per day, as a PNG (Pillow) or an SVG (text).

Both draw the same picture: one bar per day, the latest day on the right, a light grid
with the scale on the left and the first, middle and last dates underneath. The SVG is
plain markup for the status page (no script, no external resource); every text in it is
a number or a date, escaped all the same.
"""

from __future__ import annotations

import io
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import date
from html import escape

BAR = (196, 62, 47)
GRID = (224, 224, 224)
INK = (60, 60, 60)
PAPER = (255, 255, 255)


def _scale_top(peak: int) -> int:
    """A round, even top for the axis (its middle line is a whole number), at least the
    peak: 2, 4, 6, 8, 10, then 12, 14, 16, 20, 24, 30, 40, 50, 60, 80, 100..."""
    if peak <= 10:
        return max(peak + peak % 2, 2)
    for exponent in range(12):
        for mantissa in (10, 12, 14, 16, 20, 24, 30, 40, 50, 60, 80):
            top: int = mantissa * 10**exponent
            if top >= peak:
                return top
    return peak


@dataclass(frozen=True, slots=True)
class _Frame:
    """Where the chart's parts go, the same for both drawings: the plot area (``left``,
    ``top``, ``plot_w``, ``plot_h``), one ``slot`` a day, the axis' ``peak``."""

    left: int
    top: int
    plot_w: int
    plot_h: int
    slot: float
    peak: int

    @classmethod
    def of(cls, trend: Sequence[tuple[date, int]], width: int, height: int) -> _Frame:
        left, right, top, bottom = 44, 12, 28, 30
        plot_w = width - left - right
        peak = _scale_top(max((c for _, c in trend), default=0))
        return cls(left, top, plot_w, height - top - bottom, plot_w / max(len(trend), 1), peak)

    @property
    def base(self) -> int:
        """The y of the axis (a count of zero)."""
        return self.top + self.plot_h

    def ticks(self) -> list[tuple[int, float]]:
        """The scale's values (zero, the middle, the peak) and the y of each grid line."""
        return [
            (tick, self.top + self.plot_h - self.plot_h * tick / self.peak)
            for tick in (0, self.peak // 2, self.peak)
        ]

    def bars(
        self, trend: Sequence[tuple[date, int]]
    ) -> Iterator[tuple[date, int, float, float, float, float]]:
        """Each day with a count: ``day, count, x0, x1, y0, h`` (its left and right
        edges, its top and height)."""
        for i, (day, count) in enumerate(trend):
            if count <= 0:
                continue
            h = self.plot_h * count / self.peak
            yield (
                day,
                count,
                self.left + i * self.slot + self.slot * 0.15,
                self.left + (i + 1) * self.slot - self.slot * 0.15,
                self.top + self.plot_h - h,
                h,
            )

    def labels(self, trend: Sequence[tuple[date, int]]) -> list[tuple[float, str]]:
        """The first, middle and last dates, each with the x of its day's middle."""
        if not trend:
            return []
        picks = sorted({0, len(trend) // 2, len(trend) - 1})
        return [(self.left + (i + 0.5) * self.slot, trend[i][0].strftime("%d %b")) for i in picks]


def _title(trend: Sequence[tuple[date, int]]) -> str:
    """What the chart shows, its title in every drawing."""
    return f"Firing alerts per day, last {len(trend)} days"


def trend_png(trend: Sequence[tuple[date, int]], *, width: int = 720, height: int = 260) -> bytes:
    """The chart as PNG bytes. Pillow is imported here, when a chart is drawn, so the
    daemon loads it only when a digest goes out."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    frame = _Frame.of(trend, width, height)
    left, base = frame.left, frame.base
    draw.text((left, 6), _title(trend), fill=INK, font=font)
    for tick, y in frame.ticks():
        draw.line([(left, y), (left + frame.plot_w, y)], fill=GRID, width=1)
        draw.text((left - 6, y), str(tick), fill=INK, font=font, anchor="rm")
    for _, _, x0, x1, y0, _ in frame.bars(trend):
        draw.rectangle([(x0, y0), (max(x1, x0 + 1), base)], fill=BAR)
    draw.line([(left, base), (left + frame.plot_w, base)], fill=INK, width=1)
    for x, text in frame.labels(trend):
        draw.text((x, base + 6), text, fill=INK, font=font, anchor="ma")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def trend_svg(trend: Sequence[tuple[date, int]], *, width: int = 720, height: int = 200) -> str:
    """The chart as an inline SVG element (``role="img"``, a title for screen readers)."""
    title = _title(trend)
    frame = _Frame.of(trend, width, height)
    left, base = frame.left, frame.base
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="trend" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" class="trend-title">{escape(title)}</text>',
    ]
    for tick, y in frame.ticks():
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + frame.plot_w}" y2="{y:.1f}" '
                     f'stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    w = max(frame.slot * 0.7, 1.0)
    for day, count, x, _, y, h in frame.bars(trend):
        parts.append(
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="#c43e2f"><title>{escape(day.isoformat())}: {count}</title></rect>'
        )
    parts.append(f'<line x1="{left}" y1="{base}" x2="{left + frame.plot_w}" '
                 f'y2="{base}" stroke="#3c3c3c"/>')
    for x, text in frame.labels(trend):
        parts.append(f'<text x="{x:.1f}" y="{base + 18}" text-anchor="middle">'
                     f"{escape(text)}</text>")
    parts.append("</svg>")
    return "".join(parts)
