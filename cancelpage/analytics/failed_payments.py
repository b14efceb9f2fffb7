"""Failed-payment recovery (dunning): cases opened in a range, their outcomes as known at a
moment, recovered revenue, what is still at risk, and the cases as CSV."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.expression import ColumnElement

from cancelpage.analytics import stats
from cancelpage.analytics.exports import csv_cell, stream_csv
from cancelpage.analytics.queries import (
    Filters,
    week_index,
)
from cancelpage.extensions import db
from cancelpage.models import (
    Merchant,
    RecoveryCase,
)

R = RecoveryCase
DUNNING_CSV_COLUMNS = (
    "case_id",
    "opened_at",
    "closed_at",
    "status",
    "close_reason",
    "customer_id",
    "subscription_id",
    "invoice_id",
    "amount_due",
    "amount_recovered",
    "currency",
)


def _dunning_where(merchant_id: int, f: Filters, now: datetime) -> list[ColumnElement[bool]]:
    """The merchant's failed-payment cases opened in the range and by `now`, read through
    ix_recovery_case_opened. The plan, reason, offer and experiment filters describe cancel
    sessions: not applied."""
    return [
        R.merchant_id == merchant_id,
        R.kind == "payment_failed",
        R.opened_at >= f.start_at,
        R.opened_at < f.end_at,
        R.opened_at <= now,
    ]


def _status_at(now: datetime) -> ColumnElement[str]:
    """The case's status as known at `now`: one closed later was still open then."""
    return sa.case((R.closed_at > now, "open"), else_=R.status)


@dataclass(frozen=True)
class DunningWeek:
    start: date  # a Monday
    opened: int
    recovered: int
    lost: int

    @property
    def recovery_rate(self) -> stats.Proportion:
        return stats.Proportion(self.recovered, self.recovered + self.lost)


@dataclass(frozen=True)
class DunningSummary:
    opened: int
    recovered: int
    lost: int
    recovered_revenue: dict[str, int]  # currency -> minor units
    at_risk: dict[str, int]  # amount due of the cases still open, currency -> minor units
    weeks: list[DunningWeek]

    @property
    def closed(self) -> int:
        return self.recovered + self.lost

    @property
    def open(self) -> int:
        return self.opened - self.closed

    @property
    def recovery_rate(self) -> stats.Proportion:
        """Recovered / (recovered + lost): cases still open are not in the denominator."""
        return stats.Proportion(self.recovered, self.closed)


def dunning_summary(merchant: Merchant, f: Filters, now: datetime) -> DunningSummary:
    """Failed-payment recovery over the date range, as known at `now`, in one read.

    * A **case** is one failed invoice (kind ``payment_failed``), dated by when it opened (the
      first failed payment), in UTC. Only the date range applies; the other filters describe
      cancel sessions. Its outcome is the one known at `now`, even if it came after the range.
    * **Recovered**: the invoice was paid later. **Lost**: the invoice was voided or marked
      uncollectible, or the subscription ended. **Open**: neither yet.
    * **Recovery rate** = recovered / (recovered + lost), i.e. over the cases closed by `now`;
      open cases are left out of the denominator. With a Wilson interval (stats.Proportion).
    * **Recovered revenue** is what failed invoices later paid after a dunning case opened: the
      sum of ``amount_recovered`` (the invoice's amount paid) of recovered cases, per currency.
    * **At risk**: the sum of ``amount_due`` of the cases still open, per currency.
    * Weekly: cases opened per week (Monday to Sunday, UTC), with how many were recovered and
      lost by `now`.
    """
    first_monday, weeks, week = week_index(R.opened_at, f)
    status = _status_at(now)
    rows = db.session.execute(
        sa.select(
            week,
            status,
            R.currency,
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(R.amount_recovered), 0),
            sa.func.coalesce(sa.func.sum(R.amount_due), 0),
        )
        .where(*_dunning_where(merchant.id, f, now))
        .group_by(week, status, R.currency)
    ).all()
    counts: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    recovered_revenue: dict[str, int] = defaultdict(int)
    at_risk: dict[str, int] = defaultdict(int)
    for index, case_status, currency, count, recovered_sum, due_sum in rows:
        counts[int(index)][case_status] += count
        if case_status == "recovered":
            recovered_revenue[currency or ""] += int(recovered_sum or 0)
        elif case_status == "open":
            at_risk[currency or ""] += int(due_sum or 0)
    by_week = [
        DunningWeek(
            first_monday + timedelta(weeks=i),
            sum(counts[i].values()),
            counts[i]["recovered"],
            counts[i]["lost"],
        )
        for i in range(weeks)
    ]
    return DunningSummary(
        opened=sum(w.opened for w in by_week),
        recovered=sum(w.recovered for w in by_week),
        lost=sum(w.lost for w in by_week),
        recovered_revenue={c: v for c, v in sorted(recovered_revenue.items()) if v},
        at_risk={c: v for c, v in sorted(at_risk.items()) if v},
        weeks=by_week,
    )


def export_dunning(merchant_id: int, f: Filters, now: datetime, batch: int = 2000) -> Iterator[str]:
    """The range's failed-payment cases as CSV text chunks, oldest first, as known at `now`
    (a case closed later shows as open, with no close date). Ids, amounts, status and dates
    only: no email address or other customer detail."""
    closed_at = sa.case((R.closed_at > now, None), else_=R.closed_at)
    close_reason = sa.case((R.closed_at > now, None), else_=R.close_reason)
    statement = (
        sa.select(
            R.id,
            R.opened_at,
            closed_at.label("closed_at"),
            _status_at(now).label("status"),
            close_reason.label("close_reason"),
            R.customer_id,
            R.subscription_id,
            R.invoice_id,
            R.amount_due,
            R.amount_recovered,
            R.currency,
        )
        .where(*_dunning_where(merchant_id, f, now))
        .order_by(R.opened_at, R.id)
        .execution_options(yield_per=batch)
    )

    def to_row(row: Any) -> tuple[Any, ...]:
        recovered = row.status == "recovered"
        return (
            row.id,
            row.opened_at.isoformat(),
            row.closed_at.isoformat() if row.closed_at else "",
            row.status,
            row.close_reason or "",
            csv_cell(row.customer_id),
            csv_cell(row.subscription_id),
            csv_cell(row.invoice_id),
            "" if row.amount_due is None else row.amount_due,
            row.amount_recovered if recovered and row.amount_recovered is not None else "",
            row.currency or "",
        )

    return stream_csv(DUNNING_CSV_COLUMNS, statement, to_row)
