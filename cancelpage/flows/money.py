"""Monthly recurring revenue from a price and its billing interval."""

from __future__ import annotations

import math
from fractions import Fraction

# Billing intervals as a fraction of a month.
_MONTHS_PER_INTERVAL: dict[str, Fraction] = {
    "day": Fraction(12, 365),
    "week": Fraction(12, 52),
    "month": Fraction(1),
    "year": Fraction(12),
}


def monthly_amount(amount: int, interval: str, interval_count: int) -> int:
    """Monthly recurring revenue in minor units, rounded half up (year /12, week *52/12,
    day *365/12)."""
    months = _MONTHS_PER_INTERVAL.get(interval)
    if months is None:
        raise ValueError(f"unknown billing interval {interval!r}")
    if interval_count < 1:
        raise ValueError("interval_count must be at least 1")
    # Exact arithmetic, so that e.g. 12000/year is exactly 1000/month.
    exact = Fraction(amount) / (months * interval_count)
    return math.floor(exact + Fraction(1, 2))
