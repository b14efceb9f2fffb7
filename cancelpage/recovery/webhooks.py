"""Stripe webhook endpoint: verify the raw body, store each event once with its effect, dispatch.

Answers: 200 when handled, ignored or already seen; 400 when the body cannot be verified (no
effect); 503/500 when Stripe or the database failed, so that Stripe retries. Never a redirect.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request

from cancelpage.billing import (
    InvalidWebhook,
    StripeAuthError,
    StripeRejected,
    StripeUnavailable,
    WebhookEvent,
    verify_webhook,
)
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import Merchant, StripeEvent
from cancelpage.recovery import cases

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)

TOLERANCE = 300  # seconds, as Stripe's own libraries
MAX_BODY = 1024 * 1024  # Stripe events can outgrow the app-wide 64 KiB form limit
ATTEMPTS = 3  # a concurrent delivery or case creation makes the first try conflict
# What to enable on the merchant's Stripe webhook endpoint: every event a handler acts on.
EVENT_TYPES = tuple(cases.HANDLERS)


def endpoint_url(merchant: Merchant) -> str:
    """The URL to paste into Stripe: from PUBLIC_BASE_URL, never a request's Host header."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/webhooks/stripe/{merchant.slug}"


@bp.post("/webhooks/stripe/<slug>")
def stripe_event(slug: str) -> Response:
    """Verify the signature, then store the event and its effect in one transaction."""
    request.max_content_length = MAX_BODY
    merchant = by_slug(slug)
    event = verify(merchant, request.get_data(), request.headers.get("Stripe-Signature"))
    if merchant is None or event is None:
        return answer(400, "signature not verified")
    try:
        outcome = process(merchant, event)
    except (StripeUnavailable, StripeAuthError) as err:
        db.session.rollback()
        log.warning("stripe event %s for %s not processed: %s", event.id, slug, err.message)
        return answer(503, "Stripe could not be read; please retry")
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        log.exception("stripe event %s for %s not stored", event.id, slug)
        return answer(500, "not stored; please retry")
    log.info("stripe event %s %s for %s: %s", event.type, event.id, slug, outcome)
    return answer(200, outcome)


def answer(status: int, outcome: str) -> Response:
    response = jsonify(received=status == 200, outcome=outcome)
    response.status_code = status
    return response


def verify(merchant: Merchant | None, payload: bytes, signature: str | None) -> WebhookEvent | None:
    """The event if any of the merchant's secrets (two while one is rolled) signed it."""
    if merchant is None:
        return None
    for secret in merchant.webhook_secrets:
        try:
            return verify_webhook(payload, signature, secret, tolerance=TOLERANCE)
        except InvalidWebhook:
            continue
    return None


def seen(merchant: Merchant, event_id: str) -> bool:
    return (
        db.session.scalar(
            sa.select(StripeEvent.id).where(
                StripeEvent.merchant_id == merchant.id, StripeEvent.event_id == event_id
            )
        )
        is not None
    )


def ignore_reason(merchant: Merchant, event: WebhookEvent) -> str | None:
    if event.type not in cases.HANDLERS:
        return "ignored: event type not used"
    if event.account is not None:
        return "ignored: Connect event"
    key = merchant.stripe_key()
    if key is not None and event.livemode != key.startswith(("sk_live_", "rk_live_")):
        return "ignored: event mode does not match the merchant's key"
    return None


def process(merchant: Merchant, event: WebhookEvent) -> str:
    """Run the event's handler and store the event with its effect, exactly once."""
    ignored = ignore_reason(merchant, event)
    if ignored is not None:
        return ignored
    attempt = 0
    while True:
        attempt += 1
        if seen(merchant, event.id):
            return "duplicate: already processed"
        try:
            outcome = handle(merchant, event)
        except sa.exc.IntegrityError:
            # A concurrent delivery of this event, or another event opening the same case,
            # committed first: start again and see what is true now.
            db.session.rollback()
            if attempt >= ATTEMPTS:
                raise
            continue
        return outcome


def handle(merchant: Merchant, event: WebhookEvent) -> str:
    """The handler's effect and the event row, committed together."""
    try:
        outcome = cases.HANDLERS[event.type](merchant, cases.Reader(merchant, event))
    except StripeRejected as err:
        # The object is gone or not ours to read: nothing to act on, ever.
        db.session.rollback()
        outcome = f"not acted on: {err.message}"
    db.session.add(
        StripeEvent(
            merchant_id=merchant.id,
            event_id=event.id,
            type=event.type,
            object_id=str(event.object.get("id") or "") or None,
            created=event.created,
            outcome=outcome[:200],
        )
    )
    db.session.commit()
    return outcome
