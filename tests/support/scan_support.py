"""A small Stripe account for the revenue scan's tests, and its figures worked out by hand.

The emulator's clock stands at 2026-07-15 00:00 UTC; a 3-month scan covers May, June and July
(to the 15th). Every amount below is in the currency's minor unit (JPY has none: 3000 is ¥3,000).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from support.stripe_emulator import StripeEmulator

NOW = datetime(2026, 7, 15, tzinfo=UTC)
MONTHS = 3
FILLER = 150  # plain active subscriptions: the active list takes two pages


def ts(month: int, day: int) -> int:
    return int(datetime(2026, month, day, 12, tzinfo=UTC).timestamp())


def seed_small_account(emu: StripeEmulator) -> None:
    customer = emu.add_customer()

    def price(amount: int, currency: str = "usd", interval: str = "month") -> str:
        return emu.add_price(unit_amount=amount, currency=currency, interval=interval)

    def ended(price_id: str, month: int, day: int, reason: str | None, **kw: Any) -> None:
        emu.add_subscription(
            customer=customer,
            price=price_id,
            ended_at=ts(month, day),
            cancellation_reason=reason,
            created=ts(1, 10),
            **kw,
        )

    twenty_off = emu.add_coupon(id="TWENTY", percent_off=20.0, duration="forever")
    five_dollars = emu.add_coupon(
        id="FIVE", percent_off=None, amount_off=500, currency="usd", duration="forever"
    )
    monthly = price(4900)
    # May: 4900 (monthly) + 120000 / 12 = 10000 (yearly), both cancelled by the customer.
    ended(monthly, 5, 10, "cancellation_requested")
    ended(price(120000, interval="year"), 5, 20, "cancellation_requested")
    # June: 1000 a week * 3 seats = 3000 * 52 / 12 = 13000 (payment failed), 4900 - 20% = 3920
    # (disputed), 4900 ended another way (no reason): other.
    ended(price(1000, interval="week"), 6, 5, "payment_failed", quantity=3)
    ended(monthly, 6, 12, "payment_disputed", coupons=[twenty_off])
    ended(monthly, 6, 20, None)
    # July: 2000 * 2 - 500 off = 3500, and two items 1000 + 500 * 4 = 3000: both voluntary.
    ended(price(2000), 7, 2, "cancellation_requested", quantity=2, coupons=[five_dollars])
    ended(price(1000), 7, 5, "cancellation_requested", extra_items=[(price(500), 4)])
    # Before the window: not counted.
    ended(monthly, 4, 20, "cancellation_requested")
    # EUR: 2900 voluntary in June. JPY (zero-decimal): 36000 a year = 3000 voluntary in May,
    # 3000 a month involuntary in July.
    ended(price(2900, "eur"), 6, 1, "cancellation_requested")
    ended(price(36000, "jpy", "year"), 5, 5, "cancellation_requested")
    ended(price(3000, "jpy"), 7, 3, "payment_failed")
    # Now: at risk 4900 USD (past due) and 2900 * 2 EUR (unpaid); set to cancel 60000 / 12 =
    # 5000 USD (active) and 1900 USD (trialing).
    emu.add_subscription(customer=customer, price=monthly, status="past_due")
    emu.add_subscription(customer=customer, price=price(2900, "eur"), status="unpaid", quantity=2)
    emu.add_subscription(
        customer=customer, price=price(60000, interval="year"), cancel_at_period_end=True
    )
    emu.add_subscription(
        customer=customer,
        price=price(1900),
        trial_end=emu.now() + 7 * 86400,
        cancel_at_period_end=True,
    )
    for _ in range(FILLER):
        emu.add_subscription(customer=customer, price=monthly)

    def invoice(amount: int, status: str, attempts: int, month: int, day: int, **kw: Any) -> None:
        emu.add_invoice(
            customer=customer,
            amount_due=amount,
            status=status,
            attempt_count=attempts,
            created=ts(month, day),
            **{"currency": "usd", **kw},
        )

    invoice(4900, "paid", 1, 5, 3)  # paid at once: not a failure
    invoice(4900, "paid", 3, 5, 4)  # recovered
    invoice(3000, "paid", 2, 6, 9, currency="jpy")  # recovered
    invoice(13000, "uncollectible", 4, 6, 6)  # never paid
    invoice(2900, "void", 2, 7, 1, currency="eur")  # never paid
    invoice(4900, "open", 2, 7, 10)  # still open
    invoice(1000, "open", 0, 7, 12)  # not attempted yet
    invoice(9999, "paid", 3, 4, 20)  # before the window
    invoice(7777, "uncollectible", 4, 6, 7, collection_method="send_invoice")  # not charged
    invoice(4900, "draft", 0, 7, 13)


# [count, amount] per kind, by month and currency, then now.
EXPECTED_MONTHS = {
    "2026-05": {
        "usd": {"voluntary": [2, 14900], "recovered": [1, 4900]},
        "jpy": {"voluntary": [1, 3000]},
    },
    "2026-06": {
        "usd": {"involuntary": [2, 16920], "other": [1, 4900], "never_paid": [1, 13000]},
        "eur": {"voluntary": [1, 2900]},
        "jpy": {"recovered": [1, 3000]},
    },
    "2026-07": {
        "usd": {"voluntary": [2, 6500], "still_open": [1, 4900]},
        "eur": {"never_paid": [1, 2900]},
        "jpy": {"involuntary": [1, 3000]},
    },
}
EXPECTED_NOW = {
    "usd": {"at_risk": [1, 4900], "scheduled": [2, 6900]},
    "eur": {"at_risk": [1, 5800]},
}
# One page per list, two for the active subscriptions (150 + 1 set to cancel).
EXPECTED_REQUESTS = 10
EXPECTED_OBJECTS = 11 + 1 + 1 + 151 + 1 + 3 + 2 + 1 + 1
