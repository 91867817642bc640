"""Geometry for the small inline SVG charts the server renders (no chart library, no inline
styles: the template draws these numbers with classes from amas.css)."""

from __future__ import annotations

import math
from dataclasses import dataclass

from apps.tasks.page_selectors import HourBucket

WIDTH, HEIGHT = 960, 220
LEFT, RIGHT, TOP, BOTTOM = 36, 44, 10, 24


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    y: float
    height: float
    failed_y: float
    failed_height: float
    label: str
    title: str
    count: int
    failed: int
    duration: str


@dataclass(frozen=True)
class Tick:
    y: float
    label: str


@dataclass(frozen=True)
class HourlyChart:
    width: int
    height: int
    bars: list[Bar]
    line: str  # SVG polyline points for mean duration
    dots: list[tuple[float, float, str]]
    count_ticks: list[Tick]
    duration_ticks: list[Tick]
    x_labels: list[tuple[float, str]]
    plot_left: int
    plot_right: int
    plot_bottom: int
    total: int


def _nice_max(value: float) -> float:
    if value <= 0:
        return 1
    exponent = math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        nice = step * 10**exponent
        if nice >= value:
            return nice
    return 10 ** (exponent + 1)


def _duration(ms: float) -> str:
    if ms < 1000:
        return f"{ms:.0f} ms"
    if ms < 120_000:
        return f"{ms / 1000:.1f} s"
    return f"{ms / 60_000:.1f} min"


def hourly_chart(buckets: list[HourBucket]) -> HourlyChart:
    """Bars: tasks created per hour (failed part in red); line: mean duration of the hour's
    finished tasks, on its own scale at the right."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    bottom = TOP + plot_h
    n = max(1, len(buckets))
    slot = plot_w / n
    max_count = _nice_max(max((b.count for b in buckets), default=0))
    durations = [b.mean_duration_ms for b in buckets if b.mean_duration_ms is not None]
    max_ms = _nice_max(max(durations, default=0))
    bars: list[Bar] = []
    points: list[tuple[float, float, str]] = []
    x_labels: list[tuple[float, str]] = []
    for i, b in enumerate(buckets):
        x = LEFT + i * slot
        height = plot_h * b.count / max_count
        failed_height = plot_h * b.failed / max_count
        hour = f"{b.hour:%H}:00"
        title = f"{b.hour:%Y-%m-%d %H}:00 UTC: {b.count} tasks, {b.failed} failed"
        if b.mean_duration_ms is not None:
            title += f", mean duration {_duration(b.mean_duration_ms)}"
            cx = x + slot / 2
            cy = bottom - plot_h * b.mean_duration_ms / max_ms
            points.append((round(cx, 1), round(cy, 1), title))
        bars.append(
            Bar(
                x=round(x + slot * 0.15, 1),
                width=round(slot * 0.7, 1),
                y=round(bottom - height, 1),
                height=round(height, 1),
                failed_y=round(bottom - failed_height, 1),
                failed_height=round(failed_height, 1),
                label=hour,
                title=title,
                count=b.count,
                failed=b.failed,
                duration=_duration(b.mean_duration_ms) if b.mean_duration_ms is not None else "",
            )
        )
        if i % 3 == 0:
            x_labels.append((round(x + slot / 2, 1), hour))
    ticks = [Tick(y=round(bottom - plot_h * f, 1), label=f"{max_count * f:g}") for f in (0, 0.5, 1)]
    duration_ticks = [Tick(y=round(bottom - plot_h * f, 1), label=_duration(max_ms * f)) for f in (0.5, 1)]
    return HourlyChart(
        width=WIDTH,
        height=HEIGHT,
        bars=bars,
        line=" ".join(f"{x},{y}" for x, y, _ in points),
        dots=points,
        count_ticks=ticks,
        duration_ticks=duration_ticks if durations else [],
        x_labels=x_labels,
        plot_left=LEFT,
        plot_right=WIDTH - RIGHT,
        plot_bottom=bottom,
        total=sum(b.count for b in buckets),
    )
