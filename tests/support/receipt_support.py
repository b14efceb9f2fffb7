"""Receipts test support: a live merchant's Stripe subscription for a customer with an email and
an address, and a walk to each outcome of the cancel flow."""

from __future__ import annotations

import copy
import re
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from cancelpage.extensions import db
from cancelpage.flows import DEFAULT_FLOW
from cancelpage.merchants.store import by_slug, publish_flow
from support import stripe_support as ss

EMAIL = "jenny@example.com"
PERIOD_END = int(time.time()) + 20 * 86400  # the current period ends in 20 days
SWITCH = {
    "id": "switch_basic",
    "kind": "switch_plan",
    "title": "Move to Basic",
    "price_id": "price_basic",
    "plan_name": "Basic",
    "amount": 900,
}
# Outcome -> how a walk reaches it: (merchant cancel mode, scheduled already, posts).
OUTCOMES: dict[str, tuple[str, bool, list[tuple[str, dict[str, str]]]]] = {
    "receipt_canceled": (
        "period_end",
        False,
        [("survey", {"action": "skip"}), ("confirm", {"action": "cancel"})],
    ),
    "receipt_canceled_now": (
        "immediately",
        False,
        [("survey", {"action": "skip"}), ("confirm", {"action": "cancel"})],
    ),
    "receipt_discount": (
        "period_end",
        False,
        [
            ("survey", {"reason": "too_expensive"}),
            ("offer", {"offer": "discount_25_3m", "action": "accept"}),
        ],
    ),
    "receipt_paused": (
        "period_end",
        False,
        [("survey", {"reason": "unused"}), ("offer", {"offer": "pause_1m", "action": "accept"})],
    ),
    "receipt_free_period": (
        "period_end",
        False,
        [
            ("survey", {"reason": "unused"}),
            ("offer", {"offer": "pause_1m", "action": "decline"}),
            ("offer", {"offer": "free_30d", "action": "accept"}),
        ],
    ),
    "receipt_switched": (
        "period_end",
        False,
        [
            ("survey", {"reason": "too_complex"}),
            ("offer", {"offer": "switch_basic", "action": "accept"}),
        ],
    ),
    "receipt_kept": ("period_end", True, [("keep", {})]),
}


def subscription(
    *,
    country: str | None = "US",
    region: str | None = None,
    scheduled: bool = False,
    email: str | None = EMAIL,
    locales: list[str] | None = None,
) -> dict[str, Any]:
    """A live subscription whose customer has an email and an address (None: no country)."""
    address = {"country": country, "state": region, "city": None, "line1": None}
    customer = ss.customer(email=email, address=address, preferred_locales=locales or [])
    sub = ss.subscription(customer=customer, cancel_at_period_end=scheduled)
    sub["items"]["data"][0]["current_period_end"] = PERIOD_END
    return sub


def publish_with_switch(app: Flask, slug: str = "live") -> None:
    """The default flow plus a plan switch for "too complicated"."""
    data = copy.deepcopy(DEFAULT_FLOW)
    data["offers"].append(SWITCH)
    data["rules"].insert(
        0,
        {
            "name": "Simpler",
            "reasons": ["too_complex"],
            "conditions": [],
            "offers": ["switch_basic"],
        },
    )
    with app.app_context():
        merchant = by_slug(slug)
        assert merchant is not None
        publish_flow(merchant, data)
        db.session.commit()


def set_cancel_mode(app: Flask, mode: str, slug: str = "live") -> None:
    with app.app_context():
        merchant = by_slug(slug)
        assert merchant is not None
        merchant.cancel_mode = mode
        db.session.commit()


walks = {"n": 0}


def walk(
    app: Flask,
    client: FlaskClient,
    stripe_stub: Any,
    make_link: Callable[..., str],
    outcome: str,
    *,
    locale: str = "en",
    **customer: Any,
) -> str:
    """Walk one fresh session of the live merchant to ``outcome``; its step URL."""
    mode, scheduled, posts = OUTCOMES[outcome]
    set_cancel_mode(app, mode)
    stripe_stub.responder = ss.StatefulStripe(subscription(scheduled=scheduled, **customer))
    # A link per walk (two signed in the same second with the same payload are one link).
    walks["n"] += 1
    attributes = {"walk": str(walks["n"])}
    link = make_link("live", ss.CUSTOMER_ID, ss.SUB_ID, locale=locale, attributes=attributes)
    opened = client.get(link)
    assert opened.status_code == 303, opened.data
    url = opened.headers["Location"]
    for step, form in posts:
        answer = client.post(f"{url}/{step}", data=form)
        assert answer.status_code == 303, (step, answer.get_data(as_text=True)[:2000])
    return url


def links_in(text: str) -> list[str]:
    return re.findall(r"https?://\S+", text)
