"""The revenue scan's arithmetic, without Stripe: MRR per interval, discounts, the window, rates."""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction

import pytest

from cancelpage.billing import DiscountTerms, PricedItem, ScannedInvoice, ScannedSubscription
from cancelpage.scan import figures
from cancelpage.scan.figures import Rates, Window

AT = 1_780_000_000


def sub(
    *items: PricedItem, discounts: tuple[DiscountTerms, ...] = (), **kw: object
) -> ScannedSubscription:
    fields: dict[str, object] = {
        "id": "sub_1",
        "status": "canceled",
        "currency": "usd",
        "created": 0,
        "ended_at": AT,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "cancellation_reason": "cancellation_requested",
        "items": items,
        "discounts": discounts,
        **kw,
    }
    return ScannedSubscription(**fields)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("item", "monthly"),
    [
        (PricedItem(4900, 1, "month", 1), 4900),
        (PricedItem(120000, 1, "year", 1), 10000),
        (PricedItem(1000, 3, "week", 1), 13000),  # 3000 a week * 52 / 12
        (PricedItem(9000, 1, "month", 3), 3000),  # quarterly
        (PricedItem(100, 1, "day", 1), 3042),  # 100 * 365 / 12 = 3041.67
        (PricedItem(36000, 1, "year", 1), 3000),  # JPY has no minor unit: the same arithmetic
    ],
)
def test_mrr_per_interval_and_quantity(item: PricedItem, monthly: int) -> None:
    assert figures.mrr(sub(item), AT) == monthly


def test_discounts_in_effect_are_taken_off_and_ended_ones_are_not() -> None:
    twenty = DiscountTerms(20.0, None, None, None)
    five = DiscountTerms(None, 500, "usd", None)
    expired = DiscountTerms(50.0, None, None, AT - 1)
    other_currency = DiscountTerms(None, 500, "eur", None)
    item = PricedItem(4900, 1, "month", 1)
    assert figures.mrr(sub(item, discounts=(twenty,)), AT) == 3920
    assert figures.mrr(sub(item, discounts=(five,)), AT) == 4400
    assert figures.mrr(sub(item, discounts=(expired,)), AT) == 4900
    assert figures.mrr(sub(item, discounts=(other_currency,)), AT) == 4900
    # A yearly price with a percentage off: discounted, then divided by 12.
    assert figures.mrr(sub(PricedItem(120000, 1, "year", 1), discounts=(twenty,)), AT) == 8000
    assert figures.mrr(sub(PricedItem(300, 1, "month", 1), discounts=(five,)), AT) == 0


def test_a_price_without_a_fixed_amount_is_counted_apart() -> None:
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 12, 31, tzinfo=UTC))
    found = figures.empty()
    figures.add_ended(found, window, sub(PricedItem(None, 1, "month", 1)))
    assert found == {"months": {}, "now": {}, "unpriced": 1}


def test_the_window_is_calendar_months_ending_now() -> None:
    window = Window.ending(datetime(2026, 2, 10, 8, tzinfo=UTC), 3)
    assert window.start == datetime(2025, 12, 1, tzinfo=UTC)
    assert window.month_keys() == ["2025-12", "2026-01", "2026-02"]
    assert window.month_of(int(datetime(2025, 11, 30, 23, tzinfo=UTC).timestamp())) is None
    assert window.month_of(int(datetime(2026, 1, 31, 23, tzinfo=UTC).timestamp())) == "2026-01"
    assert window.month_of(window.end_ts) is None


def test_invoices_count_only_when_a_payment_failed() -> None:
    window = Window(datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 2, 1, tzinfo=UTC))
    found = figures.empty()
    jan = int(datetime(2026, 1, 5, tzinfo=UTC).timestamp())
    for status, attempts in (("paid", 1), ("paid", 2), ("open", 0), ("open", 1), ("void", 2)):
        figures.add_invoice(
            found, window, ScannedInvoice("in", status, "usd", jan, 100, 100, attempts)
        )
    assert found["months"] == {
        "2026-01": {"usd": {"recovered": [1, 100], "still_open": [1, 100], "never_paid": [1, 100]}}
    }


def test_rates_are_editable_and_bad_ones_are_named() -> None:
    rates, errors = Rates.from_percents({"cancel_low": "10", "cancel_high": "30.5"})
    assert rates.cancel_flow == (Fraction(1, 10), Fraction(305, 1000))
    assert rates.dunning == Rates().dunning
    assert errors == []
    rates, errors = Rates.from_percents({"dunning_low": "abc", "cancel_low": "90"})
    assert rates == Rates()
    assert errors == [
        "cancel: the low rate is above the high one",
        "dunning low: 'abc' is not a number",
    ]
    assert Rates.from_percents({"cancel_high": "120"})[1] == [
        "cancel high: between 0 and 100, please"
    ]
