"""Verifying webhook bodies: signatures, timestamps, rolled secrets, bad JSON."""

from __future__ import annotations

from typing import Any

import pytest
from support.stripe_support import (
    CREATED,
    CUSTOMER_ID,
    SUB_ID,
    WEBHOOK_SECRET,
    event,
    signed_webhook,
    subscription,
)

from cancelpage.billing import (
    InvalidWebhook,
    verify_webhook,
)

# --- webhooks ---------------------------------------------------------------------------------


def test_verify_webhook_returns_plain_event() -> None:
    body, header = signed_webhook(
        event(
            "customer.subscription.updated",
            subscription(customer=CUSTOMER_ID),
            data={"object": subscription(), "previous_attributes": {"status": "past_due"}},
        )
    )
    got = verify_webhook(body, header, WEBHOOK_SECRET)
    assert (got.id, got.type, got.created, got.livemode) == (
        "evt_1PgcTest",
        "customer.subscription.updated",
        CREATED,
        False,
    )
    assert got.object["id"] == SUB_ID
    assert got.previous_attributes == {"status": "past_due"}
    assert got.account is None


@pytest.mark.parametrize(
    ("header_of", "secret"),
    [
        (lambda h: h, "whsec_other"),
        (lambda h: None, WEBHOOK_SECRET),
        (lambda h: "garbage", WEBHOOK_SECRET),
    ],
    ids=["wrong-secret", "missing-header", "garbage-header"],
)
def test_verify_webhook_rejects_bad_signatures(header_of: Any, secret: str) -> None:
    body, header = signed_webhook(event("invoice.paid", {"id": "in_1"}))
    with pytest.raises(InvalidWebhook) as info:
        verify_webhook(body, header_of(header), secret)
    assert info.value.retryable is False
    assert WEBHOOK_SECRET not in str(info.value)


def test_verify_webhook_rejects_old_timestamps_and_tampered_bodies() -> None:
    old_body, old_header = signed_webhook(event("invoice.paid", {}), timestamp=CREATED)
    with pytest.raises(InvalidWebhook):
        verify_webhook(old_body, old_header, WEBHOOK_SECRET)
    body, header = signed_webhook(event("invoice.paid", {"amount_paid": 100}))
    with pytest.raises(InvalidWebhook):
        verify_webhook(body.replace(b"100", b"999"), header, WEBHOOK_SECRET)


def test_verify_webhook_rejects_signed_non_events() -> None:
    body, header = signed_webhook({"object": "customer", "id": "cus_1"})
    with pytest.raises(InvalidWebhook):
        verify_webhook(body, header, WEBHOOK_SECRET)
