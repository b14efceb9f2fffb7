"""Verifying a Stripe webhook: the raw body against the Stripe-Signature header, then the event as
plain JSON values (docs/RELIABILITY.md 9)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import stripe

from cancelpage.billing.errors import InvalidWebhook
from cancelpage.billing.values import as_int, as_map, as_str


@dataclass(frozen=True)
class WebhookEvent:
    """A verified Stripe event, as plain JSON values."""

    id: str
    type: str
    created: int
    livemode: bool
    account: str | None  # set for Connect events
    object: dict[str, Any]  # data.object
    previous_attributes: dict[str, Any]  # data.previous_attributes, {} when absent


def verify_webhook(
    payload: bytes, signature: str | None, secret: str, *, tolerance: int = 300
) -> WebhookEvent:
    """Check the Stripe-Signature header against the raw body and return the event."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
    except stripe.SignatureVerificationError as err:
        raise InvalidWebhook(f"Webhook signature rejected: {err.user_message}") from None
    try:
        data = json.loads(payload)
    except ValueError:
        raise InvalidWebhook("Webhook body is not JSON") from None
    event = as_map(data)
    inner = as_map(event.get("data"))
    event_id, event_type = as_str(event.get("id")), as_str(event.get("type"))
    if event.get("object") != "event" or not event_id or not event_type:
        raise InvalidWebhook("Webhook body is not a Stripe event")
    return WebhookEvent(
        id=event_id,
        type=event_type,
        created=as_int(event.get("created")) or 0,
        livemode=event.get("livemode") is True,
        account=as_str(event.get("account")),
        object=dict(as_map(inner.get("object"))),
        previous_attributes=dict(as_map(inner.get("previous_attributes"))),
    )
