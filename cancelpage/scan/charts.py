"""Geometry of the revenue scan's SVG charts, pure Python; templates/admin/_scan_charts.html draws
them with presentation attributes only (no script, no style attributes: a strict CSP holds)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from cancelpage.i18n.formats import money
from cancelpage.scan.figures import (
    ENDED_KINDS,
    INVOLUNTARY,
    NEVER_PAID,
    OTHER,
    RECOVERED,
    VOLUNTARY,
    MonthRow,
    first_day,
)

WIDTH = 720
COLORS = {
    VOLUNTARY: "#4f46e5",
    INVOLUNTARY: "#dc2626",
    OTHER: "#9ca3af",
    RECOVERED: "#047857",
    NEVER_PAID: "#dc2626",
}
LABELS = {
    VOLUNTARY: "Cancelled by the customer",
    INVOLUNTARY: "Ended by failed payments",
    OTHER: "Ended otherwise",
    RECOVERED: "Failed, then paid",
    NEVER_PAID: "Failed, never paid",
}


@dataclass(frozen=True)
class Segment:
    kind: str
    color: str
    x: float
    y: float
    width: float
    height: float


@dataclass(frozen=True)
class MonthColumn:
    label: str
    label_x: float
    title: str
    segments: tuple[Segment, ...]


@dataclass(frozen=True)
class MonthChart:
    width: int
    height: int
    plot_top: int
    plot_bottom: int
    plot_left: int
    plot_right: int
    top_label: str  # the axis' top: the largest column, as money
    columns: tuple[MonthColumn, ...]
    legend: tuple[tuple[str, str], ...]  # (color, label)


def _frame(rows: Sequence[MonthRow], width: int, height: int) -> tuple[int, int, int, int, float]:
    left, right, top, bottom = 64, width - 16, 12, height - 30
    return left, right, top, bottom, (right - left) / max(1, len(rows))


def lost_mrr_chart(rows: Sequence[MonthRow], width: int = WIDTH, height: int = 240) -> MonthChart:
    """MRR lost per month, stacked by kind: voluntary at the bottom, then involuntary, other."""
    left, right, top, bottom, step = _frame(rows, width, height)
    top_value = max((sum(r.amount(k) for k in ENDED_KINDS) for r in rows), default=0) or 1
    scale = (bottom - top) / top_value
    columns = []
    for i, row in enumerate(rows):
        x, y, segments = left + i * step + step * 0.15, float(bottom), []
        for kind in ENDED_KINDS:
            h = row.amount(kind) * scale
            y -= h
            segments.append(Segment(kind, COLORS[kind], x, y, step * 0.7, h))
        columns.append(MonthColumn(_label(row), x, _title(row, ENDED_KINDS), tuple(segments)))
    legend = tuple((COLORS[k], LABELS[k]) for k in ENDED_KINDS)
    top_label = _top_label(rows, top_value)
    return MonthChart(width, height, top, bottom, left, right, top_label, tuple(columns), legend)


def recovery_chart(rows: Sequence[MonthRow], width: int = WIDTH, height: int = 240) -> MonthChart:
    """Failed invoices per month: recovered beside never paid (amounts)."""
    left, right, top, bottom, step = _frame(rows, width, height)
    kinds = (RECOVERED, NEVER_PAID)
    top_value = max((row.amount(k) for row in rows for k in kinds), default=0) or 1
    scale = (bottom - top) / top_value
    columns = []
    for i, row in enumerate(rows):
        x = left + i * step + step * 0.1
        segments = tuple(
            Segment(
                k,
                COLORS[k],
                x + j * step * 0.4,
                bottom - row.amount(k) * scale,
                step * 0.38,
                row.amount(k) * scale,
            )
            for j, k in enumerate(kinds)
        )
        columns.append(MonthColumn(_label(row), x, _title(row, kinds), segments))
    legend = tuple((COLORS[k], LABELS[k]) for k in kinds)
    top_label = _top_label(rows, top_value)
    return MonthChart(width, height, top, bottom, left, right, top_label, tuple(columns), legend)


def _top_label(rows: Sequence[MonthRow], top_value: int) -> str:
    return money(top_value, rows[0].currency) if rows else ""


def _label(row: MonthRow) -> str:
    return first_day(row.month).strftime("%b")


def _title(row: MonthRow, kinds: Sequence[str]) -> str:
    """The column's tooltip: each kind's count and amount."""
    parts = (f"{LABELS[k]}: {row.count(k)}, {money(row.amount(k), row.currency)}" for k in kinds)
    return f"{row.month}. " + "; ".join(parts)
