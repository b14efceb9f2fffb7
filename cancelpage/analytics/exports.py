"""CSV exports of a segment's sessions, streamed in batches, never a live spreadsheet formula."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cancelpage.analytics.queries import (
    RETENTION_DAYS,
    Filters,
    S,
    session_where,
)
from cancelpage.extensions import db
from cancelpage.flows import to_major

CSV_COLUMNS = (
    "session_id",
    "created_at",
    "completed_at",
    "customer_id",
    "subscription_id",
    "plan",
    "mrr",
    "mrr_amount",
    "currency",
    "reason",
    "comment",
    "offers_shown",
    "outcome",
    "accepted_offer",
    "experiments",
    "retained_30",
    "retained_60",
    "retained_90",
    "flow_version_id",
    "live",
)
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: str | None) -> str:
    """Text from customers or merchants, defused so spreadsheets do not run it as a formula."""
    text = value or ""
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def stream_csv(
    header: Iterable[str], statement: sa.Executable, to_row: Callable[[Any], Iterable[Any]]
) -> Iterator[str]:
    """CSV text chunks: the header, then one chunk per partition of `statement` (run with
    execution_options(yield_per=...) so rows come through a server-side cursor and memory stays
    flat however many there are). `to_row` passes text from Stripe or customers through csv_cell."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(header)
    yield buffer.getvalue()
    for partition in db.session.execute(statement).partitions():
        buffer.seek(0)
        buffer.truncate()
        writer.writerows(to_row(row) for row in partition)
        yield buffer.getvalue()


def export_sessions(
    merchant_id: int, f: Filters, now: datetime, batch: int = 2000
) -> Iterator[str]:
    """The segment's sessions as CSV text chunks, oldest first, read `batch` rows at a time.

    retained_N is blank for sessions younger than N days (not known yet)."""
    columns = (
        S.id,
        S.created_at,
        S.completed_at,
        S.customer_id,
        S.subscription_id,
        S.plan,
        S.mrr,
        S.currency,
        S.reason,
        S.comment,
        S.offers_shown,
        S.outcome,
        S.accepted_offer,
        S.assignments,
        S.retained_30,
        S.retained_60,
        S.retained_90,
        S.flow_version_id,
        S.live,
    )

    def to_row(row: Any) -> tuple[Any, ...]:
        created = row.created_at
        retained = [
            ("yes" if value else "no") if created <= now - timedelta(days=days) else ""
            for days, value in zip(
                RETENTION_DAYS, (row.retained_30, row.retained_60, row.retained_90), strict=True
            )
        ]
        return (
            row.id,
            created.isoformat(),
            row.completed_at.isoformat() if row.completed_at else "",
            csv_cell(row.customer_id),
            csv_cell(row.subscription_id),
            csv_cell(row.plan),
            row.mrr,
            to_major(row.mrr, row.currency),
            row.currency,
            csv_cell(row.reason),
            csv_cell(row.comment),
            " ".join(row.offers_shown or []),
            row.outcome or "",
            row.accepted_offer or "",
            ";".join(f"{k}={v}" for k, v in sorted((row.assignments or {}).items())),
            *retained,
            row.flow_version_id or "",
            "yes" if row.live else "no",
        )

    statement = (
        sa.select(*columns)
        .where(*session_where(merchant_id, f))
        .order_by(S.created_at, S.id)
        .execution_options(yield_per=batch)
    )
    return stream_csv(CSV_COLUMNS, statement, to_row)
