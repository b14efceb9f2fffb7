"""A simulated Stripe account for preview mode: a year of plausible subscriptions and invoices,
seeded, so a merchant without a key (the demo merchant) sees what a revenue scan finds.

The same day gives the same account; its lists page, filter and expand like Stripe's list
endpoints do for the filters the scan uses.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

DAY = 86400
# (id, amount per interval, currency, interval, interval_count)
_PRICES = (
    ("price_sim_basic", 1900, "usd", "month", 1),
    ("price_sim_pro", 4900, "usd", "month", 1),
    ("price_sim_pro_year", 49000, "usd", "year", 1),
    ("price_sim_team_week", 1500, "usd", "week", 1),
    ("price_sim_eu", 2900, "eur", "month", 1),
    ("price_sim_jp", 3000, "jpy", "month", 1),
)
_COUPON = {
    "id": "SIM20",
    "object": "coupon",
    "percent_off": 20.0,
    "amount_off": None,
    "currency": None,
    "duration": "forever",
}
_REASONS = ["cancellation_requested"] * 12 + ["payment_failed"] * 6 + ["payment_disputed"] + [None]


def _subscription(rng: random.Random, number: int, created: int, **fields: Any) -> dict[str, Any]:
    price_id, amount, currency, interval, count = rng.choice(_PRICES)
    quantity = rng.choice((1, 1, 1, 2, 3))
    discounts = []
    if rng.random() < 0.15:
        discounts = [
            {
                "id": f"di_sim{number:05d}",
                "object": "discount",
                "end": None,
                "source": {"type": "coupon", "coupon": _COUPON},
            }
        ]
    return {
        "id": f"sub_sim{number:05d}",
        "object": "subscription",
        "status": "active",
        "currency": currency,
        "created": created,
        "canceled_at": None,
        "ended_at": None,
        "cancel_at": None,
        "cancel_at_period_end": False,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "discounts": discounts,
        "items": {
            "object": "list",
            "has_more": False,
            "data": [
                {
                    "id": f"si_sim{number:05d}",
                    "object": "subscription_item",
                    "quantity": quantity,
                    "price": {
                        "id": price_id,
                        "object": "price",
                        "currency": currency,
                        "unit_amount": amount,
                        "type": "recurring",
                        "recurring": {
                            "interval": interval,
                            "interval_count": count,
                            "usage_type": "licensed",
                        },
                    },
                }
            ],
        },
        **fields,
    }


def _settle(rng: random.Random, sub: dict[str, Any], day: int) -> None:
    """Give a simulated subscription its fate: ended, behind on payments, set to cancel, ..."""
    roll = rng.random()
    if roll < 0.40:
        ended = rng.randint(max(sub["created"] + DAY, day - 380 * DAY), day - DAY)
        sub.update(status="canceled", canceled_at=ended, ended_at=ended)
        sub["cancellation_details"]["reason"] = rng.choice(_REASONS)
    elif roll < 0.44:
        sub["status"] = "past_due"
    elif roll < 0.46:
        sub["status"] = "unpaid"
    elif roll < 0.52:
        sub["cancel_at_period_end"] = True
        sub["cancel_at"] = day + rng.randint(1, 28) * DAY
    elif roll < 0.56:
        sub["status"] = "trialing"


def _invoice(rng: random.Random, number: int, sub: dict[str, Any], day: int) -> dict[str, Any]:
    amount = sub["items"]["data"][0]["price"]["unit_amount"]
    status, attempts = rng.choice(
        [("paid", 1)] * 9
        + [("paid", rng.randint(2, 4))] * 6
        + [("uncollectible", 4)] * 3
        + [("void", rng.randint(1, 4)), ("open", rng.randint(1, 3))]
    )
    return {
        "id": f"in_sim{number:05d}",
        "object": "invoice",
        "status": status,
        "currency": sub["currency"],
        "created": day - rng.randint(0, 370) * DAY,
        "amount_due": amount,
        "amount_paid": amount if status == "paid" else 0,
        "amount_remaining": 0 if status == "paid" else amount,
        "attempt_count": attempts,
        "collection_method": "charge_automatically",
    }


def _newest_first(obj: Mapping[str, Any]) -> tuple[int, str]:
    return -int(obj["created"]), str(obj["id"])


@lru_cache(maxsize=2)
def account(day: int) -> tuple[tuple[dict[str, Any], ...], tuple[dict[str, Any], ...]]:
    """(subscriptions, invoices) of the simulated account as of ``day`` (a UTC midnight), each
    newest first."""
    rng = random.Random(day)
    subscriptions = [
        _subscription(rng, number, day - rng.randint(20, 720) * DAY) for number in range(420)
    ]
    for sub in subscriptions:
        _settle(rng, sub, day)
    invoices = [_invoice(rng, n, rng.choice(subscriptions), day) for n in range(560)]
    return (
        tuple(sorted(subscriptions, key=_newest_first)),
        tuple(sorted(invoices, key=_newest_first)),
    )


def _created(params: Mapping[str, str]) -> Callable[[int], bool]:
    bounds = {
        op: int(params[f"created[{op}]"])
        for op in ("gt", "gte", "lt", "lte")
        if f"created[{op}]" in params
    }
    return lambda t: (
        t > bounds.get("gt", t - 1)
        and t >= bounds.get("gte", t)
        and t < bounds.get("lt", t + 1)
        and t <= bounds.get("lte", t)
    )


def list_page(kind: str, params: Mapping[str, str], now: int) -> dict[str, Any]:
    """One page of the simulated ``subscriptions`` or ``invoices`` list, as Stripe answers it."""
    day = datetime.fromtimestamp(now, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    subscriptions, invoices = account(int(day.timestamp()))
    objects = subscriptions if kind == "subscriptions" else invoices
    status = params.get("status")
    created = _created(params)
    matching = [
        o for o in objects if (status is None or o["status"] == status) and created(o["created"])
    ]
    after = params.get("starting_after")
    if after:
        ids = [o["id"] for o in matching]
        matching = matching[ids.index(after) + 1 :] if after in ids else []
    limit = int(params.get("limit", "10"))
    return {
        "object": "list",
        "url": f"/v1/{kind}",
        "data": matching[:limit],
        "has_more": len(matching) > limit,
    }
