"""One money module: Stripe's minor units and exponents in, Babel formatting out."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from cancelpage import flows
from cancelpage.i18n.formats import format_money


@pytest.mark.parametrize(
    ("amount", "currency", "locale", "shown"),
    [
        (1900, "usd", "en", "$19.00"),
        (1900, "eur", "de", "19,00\xa0€"),
        (1900, "eur", "fr", "19,00\xa0€"),
        (1400000, "jpy", "en", "¥1,400,000"),
        (14000, "jpy", "en", "¥14,000"),
        (14000, "krw", "en", "₩14,000"),
        # Stripe's special cases: two-decimal in the API, whole units shown.
        (50000, "huf", "en", "HUF500"),
        (50000, "isk", "en", "ISK500"),
        (50000, "twd", "en", "NT$500.00"),
        (14000, "ugx", "en", "UGX14,000"),
        (12340, "bhd", "en", "BHD12.340"),
    ],
)
def test_format_money(amount: int, currency: str, locale: str, shown: str) -> None:
    assert format_money(amount, currency, locale) == shown


def test_exponents_follow_stripe_not_cldr() -> None:
    # CLDR says HUF and ISK have no decimals; Stripe's amounts still carry two.
    codes = ("usd", "JPY", "krw", "huf", "isk", "twd", "ugx", "kwd")
    assert [flows.exponent(c) for c in codes] == [2, 0, 0, 2, 2, 2, 0, 3]
    assert str(flows.to_major(1900, "usd")) == "19.00"
    assert str(flows.to_major(1235, "kwd")) == "1.235"
    assert flows.to_major(14000, "jpy") == Decimal(14000)
    assert flows.to_major(Fraction(1, 2), "usd") == Decimal("0.005")


def test_amounts_stripe_refuses() -> None:
    assert flows.amount_error(550, "huf") is not None
    assert flows.amount_error(500, "huf") is None
    assert flows.amount_error(1235, "kwd") is not None
    assert flows.amount_error(1235, "usd") is None
    assert flows.amount_error(7, "jpy") is None


def test_discount_amount_checked_for_the_currency() -> None:
    flow = {
        "reasons": [{"code": "price", "label": "Too expensive"}],
        "offers": [
            {"id": "off", "kind": "discount", "title": "Off", "amount_off": 550, "currency": "huf"}
        ],
        "default_offers": ["off"],
    }
    with pytest.raises(flows.FlowError) as err:
        flows.parse_flow(flow)
    assert "divisible by 100" in str(err.value)
