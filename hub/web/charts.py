"""Server-side SVG charts of one vital sign over a time range, with alert thresholds.

Pure functions: a list of points (or min/mean/max buckets from the store's roll-ups) and
the thresholds go in, an SVG document (a string, every text escaped) comes out. No
JavaScript is needed to see a chart; each data point is a ``<circle class="pt">`` with a
``<title>`` so it can be read by hovering and by assistive technology.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from html import escape

from hub.web.errors import ChartError

__all__ = ["ChartPoint", "Threshold", "nice_ticks", "render_chart", "segments"]

WIDTH = 720
HEIGHT = 240
PAD_LEFT = 52
PAD_RIGHT = 16
PAD_TOP = 14
PAD_BOTTOM = 30


@dataclass(frozen=True, slots=True)
class ChartPoint:
    """One plotted value; ``low``/``high`` give the bucket's range when rolled up."""

    time: datetime
    value: float
    low: float | None = None
    high: float | None = None


@dataclass(frozen=True, slots=True)
class Threshold:
    value: float
    label: str
    severity: str = "high"


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round tick values covering ``[low, high]`` (steps of 1, 2, 2.5 or 5 x 10^n)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ChartError("tick range must be finite")
    if high <= low:
        high = low + 1.0
    raw = (high - low) / max(count - 1, 1)
    magnitude = 10 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1, 2, 2.5, 5, 10) if m * magnitude >= raw)
    first = math.floor(low / step) * step
    ticks: list[float] = []
    value = first
    while value <= high + step * 1e-9:
        ticks.append(round(value, 10))
        value += step
    if ticks[-1] < high:
        ticks.append(round(value, 10))
    return ticks


def _value_range(points: Sequence[ChartPoint], thresholds: Sequence[Threshold]) -> list[float]:
    values = [p.value for p in points]
    values += [p.low for p in points if p.low is not None]
    values += [p.high for p in points if p.high is not None]
    values += [t.value for t in thresholds]
    if not values:
        return [0.0, 1.0]
    low, high = min(values), max(values)
    margin = (high - low) * 0.08 or max(abs(high) * 0.05, 1.0)
    return nice_ticks(low - margin, high + margin)


def _fmt(value: float, comma: bool = False) -> str:
    text = f"{value:.2f}".rstrip("0").rstrip(".")
    text = "0" if text == "-0" else text
    return text.replace(".", ",") if comma else text


def _time_ticks(start: datetime, end: datetime, zone: tzinfo) -> list[datetime]:
    span = end - start
    step = timedelta(hours=4) if span <= timedelta(days=1, hours=1) else timedelta(days=1)
    local = start.astimezone(zone)
    if step >= timedelta(days=1):
        first = local.replace(hour=0, minute=0, second=0, microsecond=0) + step
    else:
        first = local.replace(minute=0, second=0, microsecond=0)
        first += timedelta(hours=(4 - first.hour % 4) % 4 or 4)
    ticks = []
    tick = first
    while tick < end:
        ticks.append(tick)
        tick += step
    return ticks


def render_chart(
    points: Sequence[ChartPoint],
    *,
    start: datetime,
    end: datetime,
    thresholds: Sequence[Threshold] = (),
    title: str,
    unit: str = "",
    zone: tzinfo,
    time_label: Callable[[datetime], str],
    empty_text: str = "",
    gap: timedelta | None = None,
    decimal_comma: bool = False,
) -> str:
    """An accessible SVG line chart of ``points`` in ``[start, end)``; the line breaks where
    readings are more than ``gap`` apart. ``decimal_comma`` writes 38,5 (Danish) for 38.5."""
    if end <= start:
        raise ChartError(f"end {end.isoformat()} is not after start {start.isoformat()}")
    ticks = _value_range(points, thresholds)
    y_low, y_high = ticks[0], ticks[-1]
    plot_w = WIDTH - PAD_LEFT - PAD_RIGHT
    plot_h = HEIGHT - PAD_TOP - PAD_BOTTOM
    span_s = (end - start).total_seconds()

    def x_of(moment: datetime) -> float:
        return PAD_LEFT + plot_w * (moment - start).total_seconds() / span_s

    def y_of(value: float) -> float:
        return PAD_TOP + plot_h * (1 - (value - y_low) / (y_high - y_low))

    parts = [
        (
            f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {HEIGHT}"'
            f' role="img" aria-label="{escape(title)}"><title>{escape(title)}</title>'
        )
    ]
    for tick in ticks:
        y = y_of(tick)
        parts.append(
            f'<line class="grid" x1="{PAD_LEFT}" x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}"'
            f' y2="{y:.1f}"/><text class="axis" x="{PAD_LEFT - 6}" y="{y + 4:.1f}"'
            f' text-anchor="end">{_fmt(tick, decimal_comma)}</text>'
        )
    for moment in _time_ticks(start, end, zone):
        x = x_of(moment)
        parts.append(
            f'<line class="grid" x1="{x:.1f}" x2="{x:.1f}" y1="{PAD_TOP}"'
            f' y2="{HEIGHT - PAD_BOTTOM}"/><text class="axis" x="{x:.1f}"'
            f' y="{HEIGHT - PAD_BOTTOM + 18}" text-anchor="middle">'
            f"{escape(time_label(moment))}</text>"
        )
    parts.extend(_threshold_lines(thresholds, y_of))
    parts.extend(
        _series(points, x_of, y_of, unit=unit, time_label=time_label, gap=gap, comma=decimal_comma)
    )
    if not points and empty_text:
        parts.append(
            f'<text class="empty" x="{PAD_LEFT + plot_w / 2:.1f}" y="{PAD_TOP + plot_h / 2:.1f}"'
            f' text-anchor="middle">{escape(empty_text)}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _threshold_lines(thresholds: Sequence[Threshold], y_of: Callable[[float], float]) -> list[str]:
    out = []
    for item in thresholds:
        y = y_of(item.value)
        out.append(
            f'<g class="threshold sev-{escape(item.severity)}"><line x1="{PAD_LEFT}"'
            f' x2="{WIDTH - PAD_RIGHT}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text x="{WIDTH - PAD_RIGHT - 4}" y="{y - 4:.1f}" text-anchor="end">'
            f"{escape(item.label)}</text></g>"
        )
    return out


def segments(points: Sequence[ChartPoint], gap: timedelta | None) -> list[list[ChartPoint]]:
    """Split the series where consecutive points lie more than ``gap`` apart (no line is
    drawn across a period without readings)."""
    out: list[list[ChartPoint]] = []
    for point in points:
        if out and (gap is None or point.time - out[-1][-1].time <= gap):
            out[-1].append(point)
        else:
            out.append([point])
    return out


def _series(
    points: Sequence[ChartPoint],
    x_of: Callable[[datetime], float],
    y_of: Callable[[float], float],
    *,
    unit: str,
    time_label: Callable[[datetime], str],
    gap: timedelta | None,
    comma: bool = False,
) -> list[str]:
    out = []
    for part in segments(points, gap):
        ranged = [p for p in part if p.low is not None and p.high is not None]
        if len(ranged) > 1:
            upper = " ".join(f"{x_of(p.time):.1f},{y_of(float(p.high or 0)):.1f}" for p in ranged)
            lower = " ".join(
                f"{x_of(p.time):.1f},{y_of(float(p.low or 0)):.1f}" for p in reversed(ranged)
            )
            out.append(f'<polygon class="band" points="{upper} {lower}"/>')
        if len(part) > 1:
            line = " ".join(f"{x_of(p.time):.1f},{y_of(p.value):.1f}" for p in part)
            out.append(f'<polyline class="line" points="{line}"/>')
    suffix = f" {escape(unit)}" if unit else ""
    out.extend(
        f'<circle class="pt" cx="{x_of(p.time):.1f}" cy="{y_of(p.value):.1f}" r="2.5">'
        f"<title>{escape(time_label(p.time))}: {_fmt(p.value, comma)}{suffix}</title></circle>"
        for p in points
    )
    return out
