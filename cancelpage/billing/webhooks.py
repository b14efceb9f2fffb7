"""Verifying a Stripe webhook: the raw body against the Stripe-Signature header, then the event as
plain JSON values (docs/RELIABILITY.md 9)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import stripe

from cancelpage.billing.errors import InvalidWebhook
from cancelpage.billing.values import as_int, as_map, as_str
from cancelpage.vocabulary import whole_number


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


def signed_at(signature: str) -> int:
    """The t= timestamp of a Stripe-Signature header (0 when absent or not a number)."""
    for item in signature.split(","):
        name, _, value = item.strip().partition("=")
        if name == "t":
            return whole_number(value) or 0
    return 0


def verify_webhook(
    payload: bytes, signature: str | None, secret: str, *, tolerance: int = 300
) -> WebhookEvent:
    """Check the Stripe-Signature header against the raw body and return the event."""
    try:
        # Stripe signs UTF-8 JSON; the SDK would raise UnicodeDecodeError on anything else.
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidWebhook("Webhook body is not UTF-8") from None
    try:
        stripe.WebhookSignature.verify_header(text, signature, secret, tolerance)
    except stripe.SignatureVerificationError as err:
        raise InvalidWebhook(f"Webhook signature rejected: {err.user_message}") from None
    if signed_at(signature or "") > time.time() + tolerance:
        # The SDK only refuses old timestamps; a future one would outlive the replay window.
        raise InvalidWebhook("Webhook timestamp is in the future")
    return parse_event(text)


def parse_event(text: str) -> WebhookEvent:
    """The event in a body already verified (when it arrived; the worker reads it back)."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
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
