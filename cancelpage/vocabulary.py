"""The words cancelpage shares with Stripe and with itself, defined once: Stripe's enums and
subscription statuses, id and address patterns, defaults. Standard library only, so the flow
engine (cancelpage.flows) and the Stripe gateway (cancelpage.billing) can both import it."""

from __future__ import annotations

import re
from typing import Final, Literal, get_args

# ---- Stripe's enums (API 2026-10-28.endive) --------------------------------------------------

# cancellation_details.feedback, sorted as Stripe documents it; also the default survey reasons.
Feedback = Literal[
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
]
FEEDBACK_CODES: Final[tuple[Feedback, ...]] = get_args(Feedback)

PauseBehavior = Literal["void", "keep_as_draft", "mark_uncollectible"]
PAUSE_BEHAVIORS: Final[tuple[PauseBehavior, ...]] = get_args(PauseBehavior)

ProrationBehavior = Literal["create_prorations", "none", "always_invoice"]
PRORATION_BEHAVIORS: Final[tuple[ProrationBehavior, ...]] = get_args(ProrationBehavior)

CouponDuration = Literal["once", "repeating", "forever"]
COUPON_DURATIONS: Final[tuple[CouponDuration, ...]] = get_args(CouponDuration)

PortalFlow = Literal["payment_method_update", "subscription_cancel"]

# ---- subscription statuses --------------------------------------------------------------------

# Stripe still accepts changes that keep the subscription running (offers, undoing a cancel).
WRITABLE_STATUSES: Final = ("active", "trialing", "past_due")
# A customer with a subscription in one of these still has something to pay for.
LIVE_STATUSES: Final = WRITABLE_STATUSES
# Still billing, including one Stripe gave up collecting but did not cancel.
RUNNING_STATUSES: Final = ("active", "trialing", "past_due", "unpaid")
# Nothing left to cancel or save.
ENDED_STATUSES: Final = ("canceled", "incomplete_expired")
# Counted as not retained by the analytics (unpaid: the customer stopped paying).
NOT_RETAINED_STATUSES: Final = ("canceled", "unpaid", "incomplete_expired")

# ---- patterns ---------------------------------------------------------------------------------

# A Stripe price (or legacy plan) id: Stripe's ids are letters, digits and underscores, at most
# 255 characters in all.
PRICE_ID_RE: Final = re.compile(r"(price|plan)_[A-Za-z0-9_]{1,249}")
# A currency as Stripe writes it: ISO 4217, lower case.
CURRENCY_RE: Final = re.compile(r"[a-z]{3}")
# A whole number as people and forms write it: ASCII digits only (str.isdigit() also accepts
# "²" and other digits int() refuses) and short enough for int() (which refuses 4,300+ digits).
WHOLE_NUMBER_RE: Final = re.compile(r"[0-9]{1,18}")


def whole_number(text: str) -> int | None:
    """The value of a short string of ASCII digits, else None."""
    return int(text) if WHOLE_NUMBER_RE.fullmatch(text) else None


# ---- defaults ---------------------------------------------------------------------------------

# A merchant's brand colour until it sets one (also --brand in static/cancelpage.css).
DEFAULT_BRAND_COLOR: Final = "#4f46e5"
# The subscription a preview link describes when its attributes leave something out.
PREVIEW_DEFAULTS: Final = {"plan": "Pro", "mrr": "2900", "currency": "usd", "tenure_days": "180"}
