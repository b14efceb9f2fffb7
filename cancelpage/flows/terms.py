"""What the customer is deciding, in money and dates: the subscription in one line and each
offer's terms. Pure Python, like the rest of the engine (no Flask, no Babel, no clock).

Every function returns a ``Message`` (offers.py): a msgid marked for extraction and its values.
Values are plain strings and numbers, ``Money`` (minor units, Stripe's exponents: money.py),
``Percent``, ``Day`` (a unix timestamp said as a date in the reader's time zone) or another
``Message`` (said first, e.g. a price with its interval). Nothing here formats: one renderer says
a message in a language and a time zone, with Babel:

    cancelpage.i18n.formats.render(message, locale="de", tz="Europe/Berlin") -> str   # anywhere
    cancelpage.i18n.formats.say(message) -> Markup            # in a request (its locale and zone)

Public API (stable: the receipts reuse it, so that an email states the same money and dates as
the page):

    subscription_line(snapshot)               -> Message   plan, price per interval, renewal/end
    standing(snapshot, outcome, detail, offer, now) -> Snapshot   the subscription as a session's
                                                           outcome left it (for the line after it)
    price(amount, currency, interval, count)  -> Message   "$29.00 a month", "¥3,000 a year"
    offer_terms(offer, snapshot, now)         -> Message | None   the offer's terms line
    discounted_amount(offer, snapshot)        -> int | None  what a discount leaves to pay
    offer_shown(offer, snapshot)              -> bool      False for an amount-off coupon in
                                                           another currency (never shown)

``snapshot`` is the flows.Snapshot of the session (read from Stripe when live, so amounts never
come from the link); ``now`` an aware datetime (when the offer would be accepted: a pause runs
from then). Switch-plan offers name the new plan and price their definition states (plan_name,
amount, in the subscription's currency and interval) and what happens to the current period by
their proration_behavior. Contact and link offers say where they go.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from .dates import free_period_end, pause_resumes_at, to_timestamp
from .model import Snapshot
from .offers import (
    N_,
    ContactOffer,
    CustomLinkOffer,
    Day,
    DiscountOffer,
    FreePeriodOffer,
    Message,
    Money,
    Nn_,
    Offer,
    PauseOffer,
    Percent,
    SwitchPlanOffer,
)

__all__ = [
    "discounted_amount",
    "offer_shown",
    "offer_terms",
    "price",
    "standing",
    "subscription_line",
]

_PER_INTERVAL: dict[str, str] = {
    "day": N_("%(amount)s a day"),
    "week": N_("%(amount)s a week"),
    "month": N_("%(amount)s a month"),
    "year": N_("%(amount)s a year"),
}
# Only for two or more intervals (the singular form is never used at one).
_PER_INTERVALS: dict[str, tuple[str, str]] = {
    "day": Nn_("%(amount)s every %(num)d day", "%(amount)s every %(num)d days"),
    "week": Nn_("%(amount)s every %(num)d week", "%(amount)s every %(num)d weeks"),
    "month": Nn_("%(amount)s every %(num)d month", "%(amount)s every %(num)d months"),
    "year": Nn_("%(amount)s every %(num)d year", "%(amount)s every %(num)d years"),
}


def price(amount: int, currency: str, interval: str = "month", count: int = 1) -> Message:
    """An amount per billing interval: "$29.00 a month", "€290.00 every 2 years"."""
    interval = interval if interval in _PER_INTERVAL else "month"
    values: dict[str, str | int | Percent | Money | Day | Message] = {
        "amount": Money(amount, currency)
    }
    if count <= 1:
        return Message(_PER_INTERVAL[interval], values=values)
    singular, plural = _PER_INTERVALS[interval]
    return Message(singular, plural, count, values)


def _current_price(snapshot: Snapshot) -> Message:
    return price(snapshot.amount, snapshot.currency, snapshot.interval, snapshot.interval_count)


def subscription_line(snapshot: Snapshot) -> Message:
    """The subscription in one line: plan, price per interval, next renewal or end date."""
    values: dict[str, str | int | Percent | Money | Day | Message] = {
        "plan": snapshot.plan or Message(N_("Your subscription")),
        "price": _current_price(snapshot),
    }
    if snapshot.period_end is None:
        return Message(N_("%(plan)s, %(price)s"), values=values)
    values["date"] = Day(snapshot.period_end)
    if snapshot.status == "canceled":
        return Message(N_("%(plan)s, ended on %(date)s"), values=values)
    if snapshot.cancel_at_period_end:
        text = N_("%(plan)s, %(price)s, ends on %(date)s")
    elif snapshot.paused:
        text = N_("%(plan)s, %(price)s, paused")
    elif snapshot.status == "trialing" and snapshot.trial_end:
        values["date"] = Day(snapshot.trial_end)
        text = N_("%(plan)s, %(price)s, trial ends on %(date)s")
    else:
        text = N_("%(plan)s, %(price)s, renews on %(date)s")
    return Message(text, values=values)


def standing(
    snapshot: Snapshot,
    outcome: str | None,
    detail: Mapping[str, Any],
    offer: Offer | None,
    now: datetime,
) -> Snapshot:
    """The subscription as a session's outcome left it: scheduled to end (or ended), kept,
    paused, on free time until its next charge, or on the new plan. ``detail`` is the session's
    outcome detail (ends_at, free_until: unix seconds)."""
    if outcome == "canceled":
        ends_at = detail.get("ends_at")
        if isinstance(ends_at, int) and ends_at > now.timestamp():
            return replace(snapshot, cancel_at_period_end=True, period_end=ends_at)
        ended = ends_at if isinstance(ends_at, int) else to_timestamp(now)
        return replace(snapshot, status="canceled", period_end=ended)
    if outcome not in ("kept", "accepted"):
        return snapshot
    kept = replace(snapshot, cancel_at_period_end=False)
    if isinstance(offer, PauseOffer):
        return replace(kept, paused=True)
    free_until = detail.get("free_until")
    if isinstance(offer, FreePeriodOffer) and isinstance(free_until, int):
        return replace(kept, status="trialing", trial_end=free_until)
    if isinstance(offer, SwitchPlanOffer):
        plan = offer.plan_name or kept.plan
        return replace(
            kept, plan=plan, price_id=offer.price_id, amount=_or(offer.amount, kept.amount)
        )
    return kept


def _or(value: int | None, default: int) -> int:
    return default if value is None else value


def offer_shown(offer: Offer, snapshot: Snapshot) -> bool:
    """Whether the offer's terms can be stated for this subscription: Stripe applies an
    amount-off coupon only to a subscription in the coupon's currency, so such an offer in
    another currency would promise nothing."""
    if isinstance(offer, DiscountOffer) and offer.amount_off is not None:
        return (offer.currency or snapshot.currency).lower() == snapshot.currency.lower()
    return True


def discounted_amount(offer: Offer, snapshot: Snapshot) -> int | None:
    """What the customer pays per interval while a discount runs (minor units, never below 0);
    None for other kinds or an amount in another currency."""
    if not isinstance(offer, DiscountOffer) or not offer_shown(offer, snapshot):
        return None
    if offer.percent_off is not None:
        # Stripe rounds the discount to the nearest minor unit.
        off = round(snapshot.amount * offer.percent_off / 100)
    else:
        off = offer.amount_off or 0
    return max(0, snapshot.amount - off)


def offer_terms(offer: Offer, snapshot: Snapshot, now: datetime) -> Message | None:
    """The offer's terms in money and dates (None when the offer's own text says it all)."""
    if isinstance(offer, DiscountOffer):
        return _discount(offer, snapshot)
    if isinstance(offer, PauseOffer):
        until = to_timestamp(pause_resumes_at(offer, now))
        return Message(
            N_("No charges until %(date)s, then %(price)s."),
            values={"date": Day(until), "price": _current_price(snapshot)},
        )
    if isinstance(offer, SwitchPlanOffer):
        return _switch(offer, snapshot)
    if isinstance(offer, FreePeriodOffer):
        next_charge = to_timestamp(free_period_end(offer, snapshot, now))
        singular, plural = Nn_(
            "%(num)d day free: your next charge, %(amount)s, is on %(date)s.",
            "%(num)d days free: your next charge, %(amount)s, is on %(date)s.",
        )
        money = Money(snapshot.amount, snapshot.currency)
        return Message(singular, plural, offer.days, {"amount": money, "date": Day(next_charge)})
    if isinstance(offer, ContactOffer | CustomLinkOffer):
        return _destination(offer.url)
    return None


def _discount(offer: DiscountOffer, snapshot: Snapshot) -> Message | None:
    after = discounted_amount(offer, snapshot)
    if after is None:
        return None
    values: dict[str, str | int | Percent | Money | Day | Message] = {
        "before": Money(snapshot.amount, snapshot.currency),
        "after": price(after, snapshot.currency, snapshot.interval, snapshot.interval_count),
    }
    if offer.duration == "forever":
        return Message(N_("%(before)s → %(after)s for as long as you stay."), values=values)
    months = offer.duration_in_months or 1
    if offer.duration == "repeating" and months == 1:
        text = N_("%(before)s → %(after)s for the next month, then %(before)s.")
        return Message(text, values=values)
    if offer.duration == "repeating":
        # Only for two or more months (the singular form is never used at one).
        singular, plural = Nn_(
            "%(before)s → %(after)s for the next %(num)d month, then %(before)s.",
            "%(before)s → %(after)s for the next %(num)d months, then %(before)s.",
        )
        return Message(singular, plural, months, values)
    values["after"] = Money(after, snapshot.currency)
    values["price"] = _current_price(snapshot)
    if snapshot.period_end is not None:
        values["date"] = Day(snapshot.period_end)
        return Message(
            N_("%(before)s → %(after)s on your next payment (%(date)s), then %(price)s."),
            values=values,
        )
    return Message(
        N_("%(before)s → %(after)s on your next payment, then %(price)s."), values=values
    )


_PRORATION: dict[str, str] = {
    "create_prorations": N_(
        "The change applies now; the unused part of this period is credited on your next invoice."
    ),
    "always_invoice": N_(
        "The change applies now; the difference for this period is charged or credited at once."
    ),
    "none": N_("The change applies now; this period's payment stays as it is."),
}


def _switch(offer: SwitchPlanOffer, snapshot: Snapshot) -> Message:
    period = Message(_PRORATION.get(offer.proration_behavior, _PRORATION["create_prorations"]))
    values: dict[str, str | int | Percent | Money | Day | Message] = {"period": period}
    if offer.amount is None:
        if offer.plan_name:
            values["plan"] = offer.plan_name
            return Message(N_("Move to %(plan)s instead of leaving. %(period)s"), values=values)
        return Message(N_("Move to another plan instead of leaving. %(period)s"), values=values)
    values["price"] = price(
        offer.amount, snapshot.currency, snapshot.interval, snapshot.interval_count
    )
    values["current"] = _current_price(snapshot)
    if offer.plan_name:
        values["plan"] = offer.plan_name
        text = N_("%(plan)s at %(price)s instead of %(current)s. %(period)s")
        return Message(text, values=values)
    return Message(N_("%(price)s instead of %(current)s. %(period)s"), values=values)


def _destination(url: str) -> Message | None:
    if url.startswith("mailto:"):
        address = url.removeprefix("mailto:").split("?", 1)[0]
        return Message(N_("Opens an email to %(address)s."), values={"address": address})
    host = urlsplit(url).hostname
    if not host:
        return None
    return Message(N_("Opens a page on %(site)s."), values={"site": host})
