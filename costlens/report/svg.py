"""SVG charts written as text: a log-log scatter with lines, and horizontal stacked bars.

The HTML pages draw their charts here rather than with a chart library, so that a page is one
file that needs no network, no script to draw and no third-party licence, renders the same in
every browser and is the same bytes for the same model. Each mark carries a `<title>`, which
browsers show as a tooltip.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from html import escape
from typing import Callable, Sequence

from ..units import human

FONT = 'font-family="system-ui, sans-serif" font-size="11"'


def decade(value: float) -> str:
    """An axis tick at a power of ten: `0.01`, `1`, `100`, `10K`, `1G`."""
    return f"{value:g}" if value < 1000 else re.sub(r"\.0+(?=[KMGT])", "", human(value))


@dataclass(frozen=True)
class Point:
    x: float
    y: float
    color: str
    title: str
    radius: float = 3.5
    label: str = ""  # written beside the point (a few points: candidates, not ops)


@dataclass(frozen=True)
class Line:
    """A polyline in data coordinates, labelled at its last point (or its first)."""

    points: Sequence[tuple[float, float]]
    label: str
    color: str = "#444"
    dashed: bool = False
    label_at_start: bool = False  # else at its last point


@dataclass(frozen=True)
class Segment:
    value: float
    color: str
    title: str


class LogScale:
    """Data value to pixels, logarithmic, over whole decades that hold every value."""

    def __init__(self, values: Sequence[float], start: float, end: float) -> None:
        positive = [v for v in values if v > 0] or [1.0]
        self.low = math.floor(math.log10(min(positive)))
        self.high = max(self.low + 1, math.ceil(math.log10(max(positive))))
        self.start, self.end = start, end

    def __call__(self, value: float) -> float:
        share = (math.log10(value) - self.low) / (self.high - self.low)
        return self.start + share * (self.end - self.start)

    @property
    def bounds(self) -> tuple[float, float]:
        return 10.0 ** self.low, 10.0 ** self.high

    def decades(self) -> list[float]:
        step = max(1, math.ceil((self.high - self.low) / 8))  # at most 9 labelled ticks
        return [10.0 ** e for e in range(self.low, self.high + 1, step)]


def scatter(points: Sequence[Point], x_label: str, y_label: str,
            tick_label: Callable[[float], str], y_tick_label: Callable[[float], str],
            lines: Sequence[Line] = (), width: int = 720, height: int = 420,
            chart_id: str = "") -> str:
    """A log-log scatter plot of `points`, with `lines` (roofs) drawn under them."""
    left, right, top, bottom = 64, width - 16, 16, height - 44
    xs = [p.x for p in points] + [x for line in lines for x, _ in line.points]
    ys = [p.y for p in points] + [y for line in lines for _, y in line.points]
    x_scale, y_scale = LogScale(xs, left, right), LogScale(ys, bottom, top)
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" id="{escape(chart_id)}" '
             f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" '
             f'role="img" aria-label="{escape(y_label)} against {escape(x_label)}">']
    parts += _axes(x_scale, y_scale, tick_label, y_tick_label, left, right, top, bottom)
    parts.append(f'<text {FONT} x="{(left + right) / 2:.1f}" y="{height - 8}" '
                 f'text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text {FONT} transform="translate(12 {(top + bottom) / 2:.1f}) rotate(-90)" '
                 f'text-anchor="middle">{escape(y_label)}</text>')
    for line in lines:
        inside = [(x, y) for x, y in line.points if _within(x, x_scale) and _within(y, y_scale)]
        if len(inside) < 2:
            continue
        coordinates = " ".join(f"{x_scale(x):.1f},{y_scale(y):.1f}" for x, y in inside)
        dash = ' stroke-dasharray="5 4"' if line.dashed else ""
        parts.append(f'<polyline class="roof" points="{coordinates}" fill="none" '
                     f'stroke="{line.color}" stroke-width="1.5"{dash}>'
                     f'<title>{escape(line.label)}</title></polyline>')
        x, y = inside[0] if line.label_at_start else inside[-1]
        anchor, shift = ("start", 4) if line.label_at_start else ("end", -4)
        parts.append(f'<text {FONT} x="{x_scale(x) + shift:.1f}" y="{y_scale(y) - 6:.1f}" '
                     f'text-anchor="{anchor}" fill="{line.color}">{escape(line.label)}</text>')
    for point in points:
        parts.append(f'<circle class="point" cx="{x_scale(point.x):.1f}" '
                     f'cy="{y_scale(point.y):.1f}" r="{point.radius}" fill="{point.color}" '
                     f'fill-opacity="0.75"><title>{escape(point.title)}</title></circle>')
        if point.label:  # beside the point, on its left near the right edge
            x = x_scale(point.x)
            anchor, x = ("end", x - 7) if x > (left + right) / 2 else ("start", x + 7)
            parts.append(f'<text {FONT} class="point-label" x="{x:.1f}" '
                         f'y="{y_scale(point.y) + 4:.1f}" text-anchor="{anchor}">'
                         f"{escape(point.label)}</text>")
    parts.append("</svg>")
    return "\n".join(parts)


def _within(value: float, scale: LogScale) -> bool:
    low, high = scale.bounds
    return low <= value <= high


def _axes(x_scale: LogScale, y_scale: LogScale, tick_label: Callable[[float], str],
          y_tick_label: Callable[[float], str], left: float, right: float, top: float,
          bottom: float) -> list[str]:
    parts = [f'<rect x="{left}" y="{top}" width="{right - left}" height="{bottom - top}" '
             'fill="none" stroke="#999"/>']
    for value in x_scale.decades():
        x = x_scale(value)
        parts.append(f'<line x1="{x:.1f}" y1="{top}" x2="{x:.1f}" y2="{bottom}" stroke="#eee"/>')
        parts.append(f'<text {FONT} x="{x:.1f}" y="{bottom + 14}" text-anchor="middle">'
                     f'{escape(tick_label(value))}</text>')
    for value in y_scale.decades():
        y = y_scale(value)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{right}" y2="{y:.1f}" stroke="#eee"/>')
        parts.append(f'<text {FONT} x="{left - 4}" y="{y + 4:.1f}" text-anchor="end">'
                     f'{escape(y_tick_label(value))}</text>')
    return parts


def stacked_bar(segments: Sequence[Segment], scale: float, width: int = 360,
                height: int = 14, label: str = "") -> str:
    """One horizontal bar of `segments`, `scale` being the value that fills `width` pixels (a
    bar's own total, or the largest of bars drawn to compare)."""
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="bar" width="{width}" '
             f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
             f'aria-label="{escape(label)}">']
    x = 0.0
    for segment in segments:
        if segment.value <= 0 or scale <= 0:
            continue
        span = width * segment.value / scale
        parts.append(f'<rect x="{x:.2f}" y="0" width="{span:.2f}" height="{height}" '
                     f'fill="{segment.color}"><title>{escape(segment.title)}</title></rect>')
        x += span
    parts.append("</svg>")
    return "".join(parts)
