"""The trend chart: firing alerts per day, as a PNG (Pillow) or an SVG (text).

Both draw the same picture: one bar per day, the latest day on the right, a light grid
with the scale on the left and the first, middle and last dates underneath. The SVG is
plain markup for the status page (no script, no external resource); every text in it is
a number or a date, escaped all the same.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from datetime import date
from html import escape

from PIL import Image, ImageDraw, ImageFont

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


def _layout(n: int, width: int, height: int) -> tuple[int, int, int, int, float]:
    left, right, top, bottom = 44, 12, 28, 30
    plot_w = width - left - right
    return left, top, plot_w, height - top - bottom, plot_w / max(n, 1)


def _labels(trend: Sequence[tuple[date, int]]) -> list[tuple[int, str]]:
    if not trend:
        return []
    picks = sorted({0, len(trend) // 2, len(trend) - 1})
    return [(i, trend[i][0].strftime("%d %b")) for i in picks]


def trend_png(
    trend: Sequence[tuple[date, int]],
    *,
    width: int = 720,
    height: int = 260,
    title: str = "Firing alerts per day",
) -> bytes:
    """The chart as PNG bytes."""
    image = Image.new("RGB", (width, height), PAPER)
    draw = ImageDraw.Draw(image)
    font = ImageFont.load_default(size=12)
    left, top, plot_w, plot_h, slot = _layout(len(trend), width, height)
    peak = _scale_top(max((c for _, c in trend), default=0))
    draw.text((left, 6), title, fill=INK, font=font)
    for tick in (0, peak // 2, peak):
        y = top + plot_h - plot_h * tick / peak
        draw.line([(left, y), (left + plot_w, y)], fill=GRID, width=1)
        draw.text((left - 6, y), str(tick), fill=INK, font=font, anchor="rm")
    for i, (_, count) in enumerate(trend):
        if count <= 0:
            continue
        x0 = left + i * slot + slot * 0.15
        x1 = left + (i + 1) * slot - slot * 0.15
        y0 = top + plot_h - plot_h * count / peak
        draw.rectangle([(x0, y0), (max(x1, x0 + 1), top + plot_h)], fill=BAR)
    draw.line([(left, top + plot_h), (left + plot_w, top + plot_h)], fill=INK, width=1)
    for i, text in _labels(trend):
        x = left + (i + 0.5) * slot
        draw.text((x, top + plot_h + 6), text, fill=INK, font=font, anchor="ma")
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def trend_svg(
    trend: Sequence[tuple[date, int]],
    *,
    width: int = 720,
    height: int = 200,
    title: str = "Firing alerts per day",
) -> str:
    """The chart as an inline SVG element (``role="img"``, a title for screen readers)."""
    left, top, plot_w, plot_h, slot = _layout(len(trend), width, height)
    peak = _scale_top(max((c for _, c in trend), default=0))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" class="trend" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}">',
        f"<title>{escape(title)}</title>",
        f'<text x="{left}" y="16" class="trend-title">{escape(title)}</text>',
    ]
    for tick in (0, peak // 2, peak):
        y = top + plot_h - plot_h * tick / peak
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" '
                     f'stroke="#e0e0e0"/>')
        parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for i, (day, count) in enumerate(trend):
        if count <= 0:
            continue
        x = left + i * slot + slot * 0.15
        w = max(slot * 0.7, 1.0)
        h = plot_h * count / peak
        parts.append(
            f'<rect x="{x:.1f}" y="{top + plot_h - h:.1f}" width="{w:.1f}" height="{h:.1f}" '
            f'fill="#c43e2f"><title>{escape(day.isoformat())}: {count}</title></rect>'
        )
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" '
                 f'y2="{top + plot_h}" stroke="#3c3c3c"/>')
    for i, text in _labels(trend):
        x = left + (i + 0.5) * slot
        parts.append(f'<text x="{x:.1f}" y="{top + plot_h + 18}" text-anchor="middle">'
                     f"{escape(text)}</text>")
    parts.append("</svg>")
    return "".join(parts)
