"""Stripe objects parsed into plain values, whatever the API version leaves out."""

from __future__ import annotations

from typing import Any

import pytest
from support.stripe_support import (
    CREATED,
    CUSTOMER_ID,
    ITEM_ID,
    PERIOD_END,
    PRICE_ID,
    SUB_ID,
    coupon,
    discount,
    fixture_responder,
    price,
    recording_gateway,
    subscription,
    subscription_item,
)

from cancelpage.billing import (
    SubscriptionView,
)

# --- parsing ----------------------------------------------------------------------------------


def read(sub: dict[str, Any]) -> SubscriptionView:
    gateway, _ = recording_gateway(fixture_responder(sub))
    return gateway.read_subscription(SUB_ID)


def test_parses_a_full_subscription() -> None:
    view = read(subscription())
    assert view == SubscriptionView(
        id=SUB_ID,
        customer=CUSTOMER_ID,
        status="active",
        item_id=ITEM_ID,
        price_id=PRICE_ID,
        plan_name="Pro plan",
        unit_amount=2900,
        currency="eur",
        interval="month",
        interval_count=1,
        quantity=1,
        current_period_end=PERIOD_END,
        created=CREATED,
        cancel_at_period_end=False,
        cancel_at=None,
        canceled_at=None,
        trial_end=None,
        paused=False,
        discount_coupons=(),
        preferred_locales=("fr-FR", "en"),
        customer_email="jenny@example.com",
    )


def test_current_period_end_comes_from_the_first_item() -> None:
    items = {
        "object": "list",
        "data": [
            subscription_item(current_period_end=1_800_000_000),
            subscription_item(id="si_second", current_period_end=1_900_000_000),
        ],
    }
    view = read(subscription(items=items))
    assert view.current_period_end == 1_800_000_000
    assert view.item_id == ITEM_ID


def test_plan_name_prefers_price_nickname() -> None:
    item = subscription_item(price=price(nickname="Pro monthly"))
    view = read(subscription(items={"object": "list", "data": [item]}))
    assert view.plan_name == "Pro monthly"


def test_plan_name_is_none_when_product_not_expanded() -> None:
    item = subscription_item(price=price(expand_product=False))
    view = read(subscription(items={"object": "list", "data": [item]}))
    assert view.plan_name is None


def test_discount_coupons_from_expanded_objects_and_ids() -> None:
    legacy = {"id": "di_old", "object": "discount", "coupon": coupon("cp_legacy")}
    discounts = [
        discount("cp_a"),
        discount("cp_b", expand_coupon=False),
        legacy,
        "di_unexpanded",
    ]
    view = read(subscription(discounts=discounts))
    assert view.discount_coupons == ("cp_a", "cp_b", "cp_legacy")


def test_paused_and_cancellation_fields() -> None:
    view = read(
        subscription(
            pause_collection={"behavior": "void", "resumes_at": 1_770_000_000},
            cancel_at_period_end=True,
            cancel_at=PERIOD_END,
            canceled_at=CREATED + 10,
            trial_end=CREATED + 20,
            status="trialing",
        )
    )
    assert view.paused is True
    assert view.cancel_at_period_end is True
    assert (view.cancel_at, view.canceled_at, view.trial_end) == (
        PERIOD_END,
        CREATED + 10,
        CREATED + 20,
    )
    assert view.status == "trialing"


@pytest.mark.parametrize(
    "cust", [CUSTOMER_ID, {"id": CUSTOMER_ID, "object": "customer", "deleted": True}]
)
def test_preferred_locales_empty_when_customer_not_expanded_or_deleted(cust: Any) -> None:
    view = read(subscription(customer=cust))
    assert view.customer == CUSTOMER_ID
    assert view.preferred_locales == ()


def test_write_returns_the_parsed_subscription() -> None:
    paused = subscription(pause_collection={"behavior": "void", "resumes_at": 1_770_000_000})
    gateway, _ = recording_gateway(fixture_responder(paused))
    view = gateway.pause(SUB_ID, resumes_at=1_770_000_000, behavior="void", idempotency_key="k")
    assert view.paused is True
    assert view.preferred_locales == ("fr-FR", "en")
