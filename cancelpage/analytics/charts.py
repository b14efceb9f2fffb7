"""Geometry of the dashboard's SVG charts, pure Python; templates/analytics/_charts.html draws.

Charts are plain SVG elements with presentation attributes (fill, stroke): no JavaScript and no
style attributes, so they render without scripts and under a strict Content-Security-Policy.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cancelpage.analytics import ReasonRow, Week

WIDTH = 720


@dataclass(frozen=True)
class Bar:
    label: str
    value: int
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class BarChart:
    """Horizontal bars, one row per item, labels in a left column."""

    width: int
    height: int
    label_width: int
    bars: tuple[Bar, ...]


def reasons_chart(rows: Sequence[ReasonRow], width: int = WIDTH, row: int = 28) -> BarChart:
    """One bar per reason, its length proportional to the number of sessions."""
    label_width = 230
    room = width - label_width - 70  # space for the value after the longest bar
    top = max((r.sessions for r in rows), default=0) or 1
    bars = tuple(
        Bar(r.label, r.sessions, label_width, i * row + 4, r.sessions / top * room, row - 8)
        for i, r in enumerate(rows)
    )
    return BarChart(width, max(row, len(rows) * row), label_width, bars)


@dataclass(frozen=True)
class Column:
    """One week: a stacked column (saved at the bottom, cancelled above, open on top)."""

    label: str
    show_label: bool
    x: float
    width: float
    saved_y: float
    saved_h: float
    cancelled_y: float
    cancelled_h: float
    open_y: float
    open_h: float
    title: str


@dataclass(frozen=True)
class TrendChart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    plot_right: int
    max_sessions: int
    columns: tuple[Column, ...]
    rate_points: str  # polyline points of the weekly save rate (right axis, 0-100%)


def trend_chart(weeks: Sequence[Week], width: int = WIDTH, height: int = 240) -> TrendChart:
    """Weekly sessions as stacked columns, and the save rate as a line over them."""
    left, right, top, bottom = 48, width - 48, 12, height - 36
    plot_height = bottom - top
    top_value = max((w.sessions for w in weeks), default=0) or 1
    step = (right - left) / max(1, len(weeks))
    columns = []
    points = []
    for i, week in enumerate(weeks):
        x = left + i * step + step * 0.15
        saved_h = week.saved / top_value * plot_height
        cancelled_h = week.cancelled / top_value * plot_height
        open_h = (week.sessions - week.saved - week.cancelled) / top_value * plot_height
        rate = week.save_rate.rate
        title = (
            f"Week of {week.start.isoformat()}: {week.sessions} sessions, {week.saved} saved, "
            f"{week.cancelled} cancelled"
        )
        columns.append(
            Column(
                label=week.start.strftime("%b %d"),
                show_label=i % max(1, len(weeks) // 7) == 0,
                x=x,
                width=step * 0.7,
                saved_y=bottom - saved_h,
                saved_h=saved_h,
                cancelled_y=bottom - saved_h - cancelled_h,
                cancelled_h=cancelled_h,
                open_y=bottom - saved_h - cancelled_h - open_h,
                open_h=open_h,
                title=title,
            )
        )
        if rate is not None:
            points.append(f"{x + step * 0.35:.1f},{bottom - rate * plot_height:.1f}")
    return TrendChart(
        width, height, top, bottom, left, right, top_value, tuple(columns), " ".join(points)
    )
