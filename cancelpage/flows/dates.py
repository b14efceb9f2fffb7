"""Date arithmetic for offers; `now` is always passed in, the clock is never read here."""

from __future__ import annotations

import calendar
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .model import Snapshot
    from .offers import FreePeriodOffer, PauseOffer


def as_utc(moment: datetime | int | float) -> datetime:
    """An aware UTC datetime from an aware datetime or a unix timestamp."""
    if isinstance(moment, datetime):
        if moment.tzinfo is None or moment.utcoffset() is None:
            # A naive value could be local time; guessing would shift dates by hours.
            raise ValueError("naive datetime: pass an aware (UTC) datetime")
        return moment.astimezone(UTC)
    return datetime.fromtimestamp(moment, tz=UTC)


def to_timestamp(moment: datetime) -> int:
    """Whole unix seconds, as Stripe expects them."""
    return int(as_utc(moment).timestamp())


def add_months(moment: datetime, months: int) -> datetime:
    """Same day and time `months` calendar months later, clamped to the month's last day."""
    month_index = moment.month - 1 + months
    year = moment.year + month_index // 12
    month = month_index % 12 + 1
    day = min(moment.day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def pause_resumes_at(offer: PauseOffer, now: datetime | int | float) -> datetime:
    """When a pause accepted at `now` ends (Jan 31 + 1 month -> end of February)."""
    return add_months(as_utc(now), offer.months)


def free_period_end(
    offer: FreePeriodOffer, snapshot: Snapshot, now: datetime | int | float
) -> datetime:
    """End of the free days: they start after whatever the customer already has (paid period or
    trial), never in the past."""
    start = as_utc(now)
    for ts in (snapshot.period_end, snapshot.trial_end):
        if ts is not None:
            start = max(start, as_utc(ts))
    return start + timedelta(days=offer.days)
