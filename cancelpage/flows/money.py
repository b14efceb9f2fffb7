"""Money, said once: what a Stripe amount (minor units) means per currency, and monthly recurring
revenue. Pure Python; cancelpage.i18n.formats.money says an amount in a language (Babel).

Stripe sends and takes every amount as an integer in the currency's smallest unit, with its own
list of exponents (https://docs.stripe.com/currencies), which is not always ISO 4217's or CLDR's:

* **zero-decimal** (exponent 0): 14000 JPY is ¥14,000. BIF CLP DJF GNF JPY KMF KRW MGA PYG RWF
  UGX VND VUV XAF XOF XPF.
* **three-decimal** (exponent 3): BHD JOD KWD OMR TND; Stripe requires the last digit to be 0.
* **special cases**, two-decimal in the API although the currency has no fractional unit in use:
  ISK (zero-decimal by ISO, kept two-decimal by Stripe for backwards compatibility), HUF and TWD
  (fractional amounts cannot be paid out): 500 means 5 and amounts must be divisible by 100.
  (UGX, the fourth special case Stripe lists, is zero-decimal in the API and is listed above.)
* every other currency: two-decimal.
"""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

ZERO_DECIMAL = frozenset(
    {
        *("bif", "clp", "djf", "gnf", "jpy", "kmf", "krw", "mga"),
        *("pyg", "rwf", "ugx", "vnd", "vuv", "xaf", "xof", "xpf"),
    }
)
THREE_DECIMAL = frozenset(["bhd", "jod", "kwd", "omr", "tnd"])
# Two-decimal in the API, whole units only (the fraction is always 00).
WHOLE_UNITS_ONLY = frozenset(["isk", "huf", "twd"])


def exponent(currency: str) -> int:
    """Digits after the decimal point in Stripe's integer amounts of this currency."""
    code = currency.lower()
    if code in ZERO_DECIMAL:
        return 0
    if code in THREE_DECIMAL:
        return 3
    return 2


def to_major(amount: int | Fraction, currency: str) -> Decimal:
    """Minor units to the currency's unit, exactly (1400 usd -> 14.00, 14000 jpy -> 14000)."""
    digits = exponent(currency)
    if isinstance(amount, Fraction):
        return (Decimal(amount.numerator) / Decimal(amount.denominator)).scaleb(-digits)
    return Decimal(amount).scaleb(-digits)


def amount_error(amount: int, currency: str) -> str | None:
    """Why Stripe would refuse this amount in this currency, or None when it is fine."""
    code = currency.lower()
    if code in WHOLE_UNITS_ONLY and amount % 100:
        return f"{code.upper()} amounts must be whole units (divisible by 100)"
    if code in THREE_DECIMAL and amount % 10:
        return f"{code.upper()} amounts must end in 0"
    return None


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
