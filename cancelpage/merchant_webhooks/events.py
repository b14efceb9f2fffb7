"""The events cancelpage tells the merchant's app about, queued in the caller's transaction.

Each event has a stable id derived from what happened (a session, a case, an email), so the
effect that records it and its deliveries commit together, exactly once, and a receiver can
dedupe the at-least-once deliveries by ``webhook-id``. Bodies carry ids and amounts only,
never an email address.
"""

from __future__ import annotations

import hashlib
import json
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from cancelpage.extensions import db
from cancelpage.models import (
    CancelSession,
    MerchantWebhookEndpoint,
    OutboxEmail,
    RecoveryCase,
    WebhookDelivery,
    utcnow,
)

EVENT_TYPES = (
    "cancel_session.saved",
    "cancel_session.canceled",
    "cancel_session.portal",
    "recovery.recovered",
    "recovery.lost",
    "winback.sent",
)
TEST_EVENT = "webhook.test"
# A session's outcome as the event that announces it ("kept": saved without an offer).
SESSION_EVENTS = {
    "accepted": "cancel_session.saved",
    "kept": "cancel_session.saved",
    "canceled": "cancel_session.canceled",
    "portal": "cancel_session.portal",
}


def event_id(merchant_id: int, key: str) -> str:
    return "msg_" + hashlib.sha256(f"{merchant_id}|{key}".encode()).hexdigest()[:32]


def body_of(event_type: str, at: datetime, data: dict[str, Any]) -> str:
    """The Standard Webhooks payload shape: type, timestamp, data."""
    return json.dumps(
        {"type": event_type, "timestamp": at.isoformat(), "data": data},
        separators=(",", ":"),
        sort_keys=True,
    )


def emit(
    merchant_id: int,
    event_type: str,
    key: str,
    data: dict[str, Any],
    *,
    endpoints: list[MerchantWebhookEndpoint] | None = None,
) -> list[WebhookDelivery]:
    """Queue one delivery of the event per enabled endpoint (again for the same key: none)."""
    if endpoints is None:
        endpoints = list(
            db.session.scalars(
                sa.select(MerchantWebhookEndpoint).where(
                    MerchantWebhookEndpoint.merchant_id == merchant_id,
                    MerchantWebhookEndpoint.enabled.is_(True),
                )
            )
        )
    if not endpoints:
        return []
    eid = event_id(merchant_id, key)
    queued = set(
        db.session.scalars(
            sa.select(WebhookDelivery.endpoint_id).where(
                WebhookDelivery.event_id == eid,
                WebhookDelivery.endpoint_id.in_([e.id for e in endpoints]),
            )
        )
    )
    body = body_of(event_type, utcnow(), {"id": eid, **data})
    rows = [
        WebhookDelivery(
            merchant_id=merchant_id,
            endpoint_id=endpoint.id,
            event_id=eid,
            type=event_type,
            body=body,
            status="pending",
            due_at=utcnow(),
            attempts=0,
        )
        for endpoint in endpoints
        if endpoint.id not in queued
    ]
    db.session.add_all(rows)
    db.session.flush()
    return rows


def _when(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def session_ended(session: CancelSession) -> None:
    """Where a cancel session records its outcome: cancel_session.saved, .canceled or .portal."""
    event_type = SESSION_EVENTS.get(session.outcome or "")
    if event_type is None or session.purpose != "cancel":
        return  # previews from the dashboard tell the merchant's app nothing
    detail = session.outcome_detail or {}
    offer = (
        {"id": session.accepted_offer, "kind": detail.get("kind"), "terms": detail}
        if session.outcome == "accepted"
        else None
    )
    emit(
        session.merchant_id,
        event_type,
        f"cancel_session:{session.id}",
        {
            "object": "cancel_session",
            "session": session.id,
            "customer": session.customer_id,
            "subscription": session.subscription_id,
            "outcome": session.outcome,
            "reason": session.reason,
            "offer": offer,
            "live": session.live,
            "completed_at": _when(session.completed_at),
        },
    )


def case_closed(case: RecoveryCase) -> None:
    """A failed payment recovered or lost: recovery.recovered or recovery.lost."""
    if case.kind != "payment_failed" or case.status not in ("recovered", "lost"):
        return
    emit(
        case.merchant_id,
        f"recovery.{case.status}",
        f"recovery:{case.id}",
        {
            "object": "recovery_case",
            "case": case.id,
            "customer": case.customer_id,
            "subscription": case.subscription_id,
            "invoice": case.invoice_id,
            "amount_due": case.amount_due,
            "amount_recovered": case.amount_recovered,
            "currency": case.currency,
            "reason": case.close_reason,
            "closed_at": _when(case.closed_at),
        },
    )


def winback_sent(row: OutboxEmail) -> None:
    """A win-back email left the outbox: winback.sent."""
    emit(
        row.merchant_id,
        "winback.sent",
        f"winback:{row.id}",
        {
            "object": "winback",
            "customer": row.customer_id,
            "subscription": row.data.get("subscription"),
            "promotion_code": row.data.get("promotion_code"),
            "locale": row.locale,
            "sent_at": _when(utcnow()),
        },
    )


def test_event(endpoint: MerchantWebhookEndpoint, nonce: str) -> WebhookDelivery:
    """A webhook.test event for one endpoint (the dashboard's "send test event")."""
    (row,) = emit(
        endpoint.merchant_id,
        TEST_EVENT,
        f"test:{endpoint.id}:{nonce}",
        {"object": "test", "message": "A test event from cancelpage."},
        endpoints=[endpoint],
    )
    return row
