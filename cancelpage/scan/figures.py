"""The revenue scan's arithmetic, pure Python: what each subscription and invoice read from Stripe
adds to the monthly figures, and the projections drawn from them.

Figures are plain JSON (stored with the scan after every page, so a scan resumes where it
stopped): ``months[YYYY-MM][currency][kind] = [count, amount]`` and ``now[currency][kind]``.
Amounts are in the currency's minor unit; MRR is per month (``flows.money.monthly_amount``:
yearly / 12, weekly * 52 / 12), for every item's quantity, after the discounts in effect.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from fractions import Fraction
from typing import Any

from cancelpage.billing import DiscountTerms, ScannedInvoice, ScannedSubscription
from cancelpage.flows.money import monthly_amount

Figures = dict[str, Any]

# Ended subscriptions by Stripe's cancellation_details.reason.
VOLUNTARY, INVOLUNTARY, OTHER = "voluntary", "involuntary", "other"
ENDED_KINDS = (VOLUNTARY, INVOLUNTARY, OTHER)
_KIND_OF_REASON = {
    "cancellation_requested": VOLUNTARY,
    "payment_failed": INVOLUNTARY,
    "payment_disputed": INVOLUNTARY,
}
# Invoices that failed at least once: paid later (Stripe's retries or the customer), still open,
# or never paid (uncollectible or void).
RECOVERED, STILL_OPEN, NEVER_PAID = "recovered", "still_open", "never_paid"
INVOICE_KINDS = (RECOVERED, STILL_OPEN, NEVER_PAID)
# Now: subscriptions past due or unpaid (revenue at risk), and set to cancel.
AT_RISK, SCHEDULED = "at_risk", "scheduled"


@dataclass(frozen=True)
class Window:
    """The calendar months a scan covers: ``months`` of them, the last one the current month."""

    start: datetime
    end: datetime

    @classmethod
    def ending(cls, now: datetime, months: int) -> Window:
        index = now.year * 12 + now.month - 1 - (months - 1)
        start = datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)
        return cls(start, now)

    @property
    def start_ts(self) -> int:
        return int(self.start.timestamp())

    @property
    def end_ts(self) -> int:
        return int(self.end.timestamp())

    def month_keys(self) -> list[str]:
        keys, year, month = [], self.start.year, self.start.month
        while (year, month) <= (self.end.year, self.end.month):
            keys.append(f"{year}-{month:02d}")
            year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        return keys

    def month_of(self, timestamp: int) -> str | None:
        """The window's month a timestamp falls in, or None outside the window."""
        if not self.start_ts <= timestamp < self.end_ts:
            return None
        moment = datetime.fromtimestamp(timestamp, UTC)
        return f"{moment.year}-{moment.month:02d}"


def empty() -> Figures:
    return {"months": {}, "now": {}, "unpriced": 0}


def _add(bucket: dict[str, Any], kind: str, amount: int) -> None:
    count, total = bucket.get(kind, [0, 0])
    bucket[kind] = [count + 1, total + amount]


def _discounted(amount: int, discounts: tuple[DiscountTerms, ...], currency: str, at: int) -> int:
    """The amount per interval after the discounts in effect at ``at``."""
    exact = Fraction(amount)
    for discount in discounts:
        if discount.end is not None and discount.end <= at:
            continue
        if discount.percent_off is not None:
            exact *= 1 - Fraction(str(discount.percent_off)) / 100
        if discount.amount_off is not None and discount.currency in (None, currency):
            exact -= discount.amount_off
    return max(0, math.floor(exact + Fraction(1, 2)))


def mrr(subscription: ScannedSubscription, at: int) -> int | None:
    """Monthly recurring revenue in minor units at ``at``; None when a price has no fixed amount.

    A discount takes its share of every item (Stripe applies it to the invoice), so each item is
    discounted in proportion before it is turned into a monthly amount.
    """
    total = 0
    for item in subscription.items:
        if item.unit_amount is None:
            return None
        per_interval = _discounted(
            item.unit_amount * item.quantity,
            subscription.discounts,
            subscription.currency,
            at,
        )
        total += monthly_amount(per_interval, item.interval, item.interval_count)
    return total


def add_ended(figures: Figures, window: Window, subscription: ScannedSubscription) -> None:
    """A canceled subscription: counted in the month it ended, if that is in the window."""
    if subscription.ended_at is None:
        return
    month = window.month_of(subscription.ended_at)
    if month is None:
        return
    amount = mrr(subscription, subscription.ended_at - 1)
    if amount is None:
        figures["unpriced"] += 1
        return
    kind = _KIND_OF_REASON.get(subscription.cancellation_reason or "", OTHER)
    currencies = figures["months"].setdefault(month, {})
    _add(currencies.setdefault(subscription.currency, {}), kind, amount)


def add_current(figures: Figures, window: Window, subscription: ScannedSubscription) -> None:
    """A live subscription: at risk when past due or unpaid, scheduled when set to cancel."""
    if subscription.status in ("past_due", "unpaid"):
        kind = AT_RISK
    elif subscription.cancel_at_period_end or subscription.cancel_at is not None:
        kind = SCHEDULED
    else:
        return
    amount = mrr(subscription, window.end_ts)
    if amount is None:
        figures["unpriced"] += 1
        return
    _add(figures["now"].setdefault(subscription.currency, {}), kind, amount)


def add_invoice(figures: Figures, window: Window, invoice: ScannedInvoice) -> None:
    """An invoice that failed at least once, in the month it was created."""
    month = window.month_of(invoice.created)
    if month is None or invoice.attempt_count < 1:
        return
    if invoice.status == "paid":
        if invoice.attempt_count < 2:
            return  # paid at the first attempt: nothing failed
        kind, amount = RECOVERED, invoice.amount_due
    elif invoice.status == "open":
        kind, amount = STILL_OPEN, invoice.amount_remaining
    elif invoice.status in ("uncollectible", "void"):
        kind, amount = NEVER_PAID, invoice.amount_due
    else:
        return
    currencies = figures["months"].setdefault(month, {})
    _add(currencies.setdefault(invoice.currency, {}), kind, amount)


# --- reading the figures back --------------------------------------------------------------------


def currencies(figures: Figures) -> list[str]:
    """Every currency in the figures, the one with the most MRR lost first."""
    lost: dict[str, int] = {}
    for by_currency in figures["months"].values():
        for currency, kinds in by_currency.items():
            lost[currency] = lost.get(currency, 0) + sum(
                kinds.get(k, [0, 0])[1] for k in ENDED_KINDS
            )
    for currency in figures["now"]:
        lost.setdefault(currency, 0)
    return sorted(lost, key=lambda c: (-lost[c], c))


@dataclass(frozen=True)
class MonthRow:
    """One month of one currency: [count, amount] per kind."""

    month: str
    currency: str
    values: dict[str, list[int]]

    def count(self, kind: str) -> int:
        return self.values.get(kind, [0, 0])[0]

    def amount(self, kind: str) -> int:
        return self.values.get(kind, [0, 0])[1]


def month_rows(figures: Figures, window: Window, currency: str) -> list[MonthRow]:
    """Every month of the window for one currency, empty months included."""
    return [
        MonthRow(month, currency, figures["months"].get(month, {}).get(currency, {}))
        for month in window.month_keys()
    ]


def totals(figures: Figures, currency: str) -> dict[str, list[int]]:
    """[count, amount] per kind over the whole window, plus the current figures, in a currency."""
    out: dict[str, list[int]] = {}
    for by_currency in figures["months"].values():
        for kind, (count, amount) in by_currency.get(currency, {}).items():
            c, a = out.get(kind, [0, 0])
            out[kind] = [c + count, a + amount]
    for kind, value in figures["now"].get(currency, {}).items():
        out[kind] = list(value)
    return out


# --- projections ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rates:
    """Assumed share of lost MRR kept, as (low, high) fractions. The defaults are the usual
    figures: a cancel flow intercepts before the cancel (40-60% kept), dunning reacts after a
    payment failed (15-25% recovered)."""

    cancel_flow: tuple[Fraction, Fraction] = (Fraction(40, 100), Fraction(60, 100))
    dunning: tuple[Fraction, Fraction] = (Fraction(15, 100), Fraction(25, 100))

    @classmethod
    def from_percents(cls, values: dict[str, str | None]) -> tuple[Rates, list[str]]:
        """Rates from percent fields (cancel_low, cancel_high, dunning_low, dunning_high); bad
        or missing ones keep their default and are named in the errors."""
        default = cls()
        errors: list[str] = []

        def pair(name: str, fallback: tuple[Fraction, Fraction]) -> tuple[Fraction, Fraction]:
            got = []
            for end, value in zip(("low", "high"), fallback, strict=True):
                raw = (values.get(f"{name}_{end}") or "").strip()
                if not raw:
                    got.append(value)
                    continue
                try:
                    percent = Fraction(raw)
                except (ValueError, ZeroDivisionError):
                    errors.append(f"{name} {end}: {raw!r} is not a number")
                    got.append(value)
                    continue
                if not 0 <= percent <= 100:
                    errors.append(f"{name} {end}: between 0 and 100, please")
                    got.append(value)
                    continue
                got.append(percent / 100)
            if got[0] > got[1]:
                errors.append(f"{name}: the low rate is above the high one")
                return fallback
            return got[0], got[1]

        return cls(pair("cancel", default.cancel_flow), pair("dunning", default.dunning)), errors

    def percents(self) -> dict[str, str]:
        def show(value: Fraction) -> str:
            return f"{float(value * 100):g}"

        return {
            "cancel_low": show(self.cancel_flow[0]),
            "cancel_high": show(self.cancel_flow[1]),
            "dunning_low": show(self.dunning[0]),
            "dunning_high": show(self.dunning[1]),
        }


@dataclass(frozen=True)
class Projection:
    """What a tool would have kept of the MRR lost in the window: a range, from assumed rates."""

    label: str
    basis: str
    lost: int
    low: int
    high: int
    rates: tuple[Fraction, Fraction]


def projections(figures: Figures, currency: str, rates: Rates) -> Iterator[Projection]:
    """The cancel flow on the MRR lost to cancels, dunning on the MRR lost to failed payments."""
    total = totals(figures, currency)
    for label, basis, kind, (low, high) in (
        ("Cancel flow", "of the MRR lost to customers who cancelled", VOLUNTARY, rates.cancel_flow),
        ("Dunning", "of the MRR lost to failed payments", INVOLUNTARY, rates.dunning),
    ):
        lost = total.get(kind, [0, 0])[1]
        yield Projection(label, basis, lost, _share(lost, low), _share(lost, high), (low, high))


def _share(amount: int, rate: Fraction) -> int:
    return math.floor(amount * rate + Fraction(1, 2))


def first_day(month: str) -> date:
    year, number = month.split("-")
    return date(int(year), int(number), 1)
