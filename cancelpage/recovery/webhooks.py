"""Stripe webhook endpoint: verify the raw body, store the event once, answer.

Two SQL statements and no Stripe call per request (the merchant's row, then one INSERT ... ON
CONFLICT DO NOTHING): the effect is the worker's (recovery/inbox.py), as Stripe advises, so a
renewal run's burst of events is acknowledged in milliseconds whatever Stripe's latency.

Answers: 200 when stored, already stored or not used; 400 when the body cannot be verified
(nothing stored); 500 when the database failed, so that Stripe retries. Never a redirect.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, jsonify, request
from sqlalchemy.dialects import postgresql, sqlite

from cancelpage.billing import InvalidWebhook, WebhookEvent, verify_webhook
from cancelpage.extensions import db, limiter
from cancelpage.merchants import vault
from cancelpage.models import Merchant, StripeEvent
from cancelpage.recovery import cases
from cancelpage.recovery.inbox import ignore_reason, is_live

log = logging.getLogger(__name__)

bp = Blueprint("webhooks", __name__)
# Stripe signs every request, and rate limits would cost a Redis round trip each.
limiter.exempt(bp)

TOLERANCE = 300  # seconds, as Stripe's own libraries
MAX_BODY = 1024 * 1024  # Stripe events can outgrow the app-wide 64 KiB form limit
# What to enable on the merchant's Stripe webhook endpoint: every event a handler acts on.
EVENT_TYPES = tuple(cases.HANDLERS)
CACHE_SIZE = 1000  # receivers kept decrypted per process
STORED_FIELDS = ("merchant_id", "event_id", "type", "object_id", "created", "payload")


def endpoint_url(merchant: Merchant) -> str:
    """The URL to paste into Stripe: from PUBLIC_BASE_URL, never a request's Host header."""
    return f"{current_app.config['PUBLIC_BASE_URL']}/webhooks/stripe/{merchant.slug}"


@dataclass(frozen=True)
class Receiver:
    """What the request needs of a merchant: its id, signing secrets and its key's mode."""

    merchant_id: int
    secrets: tuple[str, ...]
    key_is_live: bool | None  # None: no Stripe key


@bp.post("/webhooks/stripe/<slug>")
def stripe_event(slug: str) -> Response:
    """Verify the signature, then store the event for the worker."""
    request.max_content_length = MAX_BODY
    payload = request.get_data()
    receiver = receiver_for(slug)
    event = verify(receiver, payload, request.headers.get("Stripe-Signature"))
    if receiver is None or event is None:
        return answer(400, "signature not verified")
    ignored = ignore_reason(event, receiver.key_is_live)
    if ignored is not None:
        return answer(200, ignored)
    try:
        stored = store(receiver.merchant_id, event, payload.decode())
    except sa.exc.SQLAlchemyError:
        db.session.rollback()
        log.exception("stripe event %s for %s not stored", event.id, slug)
        return answer(500, "not stored; please retry")
    return answer(200, "received" if stored else "duplicate: already received")


def answer(status: int, outcome: str) -> Response:
    response = jsonify(received=status == 200, outcome=outcome)
    response.status_code = status
    return response


def receiver_for(slug: str) -> Receiver | None:
    """One statement; the secrets are decrypted once per process and version of them (the
    ciphertexts are the version: rolling a secret or a key re-encrypts)."""
    row = db.session.connection().execute(RECEIVER, {"slug": slug}).one_or_none()
    if row is None or not row.webhook_secrets_encrypted:
        return None
    cache: dict[tuple[int, str, str | None], Receiver] = current_app.extensions.setdefault(
        "cancelpage.webhook_receivers", {}
    )
    version = (row.id, row.webhook_secrets_encrypted, row.stripe_key_encrypted)
    found = cache.get(version)
    if found is None:
        if len(cache) >= CACHE_SIZE:
            cache.clear()
        key = vault.decrypt(row.stripe_key_encrypted) if row.stripe_key_encrypted else None
        found = cache[version] = Receiver(
            row.id, tuple(json.loads(vault.decrypt(row.webhook_secrets_encrypted))), is_live(key)
        )
    return found


def verify(receiver: Receiver | None, payload: bytes, signature: str | None) -> WebhookEvent | None:
    """The event if any of the merchant's secrets (two while one is rolled) signed it."""
    if receiver is None:
        return None
    for secret in receiver.secrets:
        try:
            return verify_webhook(payload, signature, secret, tolerance=TOLERANCE)
        except InvalidWebhook:
            continue
    return None


def store(merchant_id: int, event: WebhookEvent, payload: str) -> bool:
    """Insert the event unless (merchant, event id) is stored already; True if new."""
    connection = db.session.connection()
    stored = connection.execute(
        STORE[connection.dialect.name == "postgresql"],
        {
            "merchant_id": merchant_id,
            "event_id": event.id,
            "type": event.type,
            "object_id": str(event.object.get("id") or "")[:255] or None,
            "created": event.created,
            "payload": payload,
        },
    ).scalar()
    db.session.commit()
    return stored is not None


# Built once, executed on the session's connection: the request's two statements cost no ORM
# and no statement construction.
RECEIVER = sa.select(
    Merchant.id, Merchant.webhook_secrets_encrypted, Merchant.stripe_key_encrypted
).where(Merchant.slug == sa.bindparam("slug"))
STORE = {
    on_postgresql: (postgresql.insert if on_postgresql else sqlite.insert)(StripeEvent)
    .values({name: sa.bindparam(name) for name in STORED_FIELDS})
    .on_conflict_do_nothing(index_elements=["merchant_id", "event_id"])
    .returning(StripeEvent.id)
    for on_postgresql in (False, True)
}
