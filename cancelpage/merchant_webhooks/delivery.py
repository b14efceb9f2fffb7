"""Deliver queued merchant webhooks: sign (Standard Webhooks), POST, log, retry with backoff.

Rows are claimed through the email outbox's claim and lease (``outbox.claim`` with
``WebhookDelivery``), so several workers never post the same row at once. Any 2xx is delivered;
anything else (a status, a timeout, a refused connection) is logged with its status code and
retried with exponential backoff until WEBHOOK_MAX_ATTEMPTS, then ``dead`` (kept, re-sendable).
A receiver may see an event more than once; ``webhook-id`` is the same on every attempt.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import requests
import sqlalchemy as sa
from flask import current_app
from standardwebhooks.webhooks import Webhook

from cancelpage.extensions import db
from cancelpage.merchant_webhooks import endpoints
from cancelpage.models import MerchantWebhookEndpoint, WebhookAttempt, WebhookDelivery, utcnow
from cancelpage.recovery import outbox

log = logging.getLogger(__name__)

BATCH = 20  # at WEBHOOK_TIMEOUT each, a batch ends well inside the claim's lease
USER_AGENT = "cancelpage-webhooks/1"


@dataclass
class DeliveryResult:
    delivered: int = 0
    retrying: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.delivered + self.retrying + self.dead


def signed_headers(secret: str, event_id: str, body: str, at: datetime) -> dict[str, str]:
    """The three Standard Webhooks headers, signed now (each attempt has its own timestamp)."""
    return {
        "webhook-id": event_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(secret).sign(event_id, at, body),
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


def post(endpoint: MerchantWebhookEndpoint, row: WebhookDelivery) -> tuple[int | None, str | None]:
    """One attempt: the receiver's status code, or None and what went wrong."""
    try:
        url = endpoints.check_url(endpoint.url)
    except endpoints.EndpointError as err:
        return None, f"refused: {err}"
    headers = signed_headers(endpoint.secret, row.event_id, row.body, datetime.now(UTC))
    try:
        response = requests.post(
            url,
            data=row.body.encode(),
            headers=headers,
            timeout=float(current_app.config["WEBHOOK_TIMEOUT"]),
            allow_redirects=False,  # a redirect could lead anywhere, past the URL check
        )
    except requests.Timeout:
        return None, "timed out"
    except requests.RequestException as err:
        return None, f"connection failed: {type(err).__name__}"
    response.close()
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"answered {response.status_code}"


def drain(*, only_ids: list[int] | None = None) -> DeliveryResult:
    """Deliver every row due now, batch by batch."""
    result = DeliveryResult()
    until = utcnow()
    while (token := outbox.claim(BATCH, until, only_ids, model=WebhookDelivery)) is not None:
        rows = list(
            db.session.scalars(
                sa.select(WebhookDelivery)
                .where(WebhookDelivery.claim_token == token)
                .order_by(WebhookDelivery.id)
            )
        )
        for row in rows:
            _deliver(row, token, result)
            db.session.expunge(row)  # memory stays flat; the caller's objects stay attached
    return result


def _deliver(row: WebhookDelivery, token: str, result: DeliveryResult) -> None:
    started = time.monotonic()
    status_code, error = post(row.endpoint, row)
    attempts = row.attempts + 1
    db.session.add(
        WebhookAttempt(
            delivery_id=row.id,
            status_code=status_code,
            error=error[:300] if error else None,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    )
    values: dict[str, Any] = {
        "attempts": attempts,
        "last_status_code": status_code,
        "last_error": error,
    }
    if error is None:
        values.update(status="delivered", delivered_at=utcnow())
        result.delivered += 1
    elif attempts >= int(current_app.config["WEBHOOK_MAX_ATTEMPTS"]):
        values.update(status="dead")
        result.dead += 1
    else:
        due = utcnow() + outbox.backoff(attempts, "WEBHOOK_RETRY_BASE_SECONDS")
        values.update(status="pending", due_at=due)
        result.retrying += 1
    if error is not None:
        result.errors.append(f"{row.event_id}: {error}")
        log.warning("webhook %s to endpoint %s: %s", row.event_id, row.endpoint_id, error)
    outbox.finish(row.id, token, WebhookDelivery, **values)


def send_now(row: WebhookDelivery) -> WebhookDelivery:
    """Deliver one row at once (a test event, a re-send) and return it as it ended."""
    db.session.commit()
    row_id = row.id
    drain(only_ids=[row_id])
    sent = db.session.get(WebhookDelivery, row_id)
    assert sent is not None
    return sent


def resend(merchant_id: int, delivery_id: int) -> WebhookDelivery | None:
    """The same event (same id and body) once more, now, whatever its status."""
    row = db.session.get(WebhookDelivery, delivery_id)
    if row is None or row.merchant_id != merchant_id or row.status == "sending":
        return None
    row.status, row.due_at = "pending", utcnow()
    return send_now(row)


def deliveries_of(merchant_id: int, *, limit: int = 50) -> list[WebhookDelivery]:
    return list(
        db.session.scalars(
            sa.select(WebhookDelivery)
            .where(WebhookDelivery.merchant_id == merchant_id)
            .order_by(WebhookDelivery.id.desc())
            .limit(limit)
        )
    )
