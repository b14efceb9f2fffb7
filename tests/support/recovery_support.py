"""Recovery test support: Stripe-shaped invoices, cards and payment methods (API 2026), a small
in-memory Stripe that answers re-reads with the *current* state, and signed event delivery."""

from __future__ import annotations

import copy
import itertools
import re
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from cancelpage.billing import RecordedRequest
from cancelpage.extensions import db
from cancelpage.models import StripeEvent
from cancelpage.recovery import inbox
from support import stripe_support as ss

INVOICE_ID = "in_1PgcTestInvoice0001"
CARD_ID = "card_1PgaftTestCard0001"
PM_ID = "pm_1Pgc75TestPaymentM01"
_ids = itertools.count(1)


def invoice(**overrides: Any) -> dict[str, Any]:
    """An open subscription invoice after a failed charge; the subscription sits under parent."""
    return {
        "id": INVOICE_ID,
        "object": "invoice",
        "amount_due": 2900,
        "amount_paid": 0,
        "amount_remaining": 2900,
        "attempt_count": 1,
        "attempted": True,
        "billing_reason": "subscription_cycle",
        "collection_method": "charge_automatically",
        "created": ss.CREATED,
        "currency": "eur",
        "customer": ss.CUSTOMER_ID,
        "customer_email": "jenny@example.com",
        "hosted_invoice_url": "https://invoice.stripe.com/i/acct_test/test_secret",
        "livemode": False,
        "next_payment_attempt": ss.CREATED + 3 * 86400,
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": ss.SUB_ID},
        },
        "status": "open",
        "status_transitions": {"finalized_at": ss.CREATED, "paid_at": None, "voided_at": None},
        "total": 2900,
        **overrides,
    }


def paid_invoice(**overrides: Any) -> dict[str, Any]:
    return invoice(status="paid", amount_paid=2900, amount_remaining=0, **overrides)


def card(**overrides: Any) -> dict[str, Any]:
    """A card attached to a customer as a source (customer.source.expiring)."""
    return {
        "id": CARD_ID,
        "object": "card",
        "brand": "Visa",
        "country": "US",
        "customer": ss.CUSTOMER_ID,
        "exp_month": 8,
        "exp_year": 2030,
        "fingerprint": "AOB934RVNwzk6xtn",
        "funding": "credit",
        "last4": "4242",
        "metadata": {},
        **overrides,
    }


def payment_method(
    pm_id: str = PM_ID, *, exp: tuple[int, int] = (2030, 8), **overrides: Any
) -> dict[str, Any]:
    year, month = exp
    return {
        "id": pm_id,
        "object": "payment_method",
        "type": "card",
        "card": {
            "brand": "visa",
            "country": "US",
            "display_brand": "visa",
            "exp_month": month,
            "exp_year": year,
            "funding": "credit",
            "last4": pm_id[-4:],
        },
        "created": ss.CREATED,
        "customer": ss.CUSTOMER_ID,
        "livemode": False,
        "metadata": {},
        **overrides,
    }


def event(event_type: str, obj: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A signed-ready event with a fresh id (Stripe never reuses one)."""
    return ss.event(event_type, obj, id=f"evt_1PgcTest{next(_ids):06d}", **overrides)


def post_only(
    client: FlaskClient,
    body: dict[str, Any],
    *,
    slug: str = "live",
    secret: str = ss.WEBHOOK_SECRET,
    timestamp: int | None = None,
    headers: dict[str, str] | None = None,
) -> TestResponse:
    """Stripe's delivery alone: the request verifies and stores, the worker has not run."""
    raw, header = ss.signed_webhook(body, secret=secret, timestamp=timestamp)
    return client.post(
        f"/webhooks/stripe/{slug}",
        data=raw,
        headers={"Stripe-Signature": header, "Content-Type": "application/json", **(headers or {})},
    )


@dataclass
class Delivered:
    """A delivery and the worker's pass after it: the request's answer and the event's outcome
    (what the handler did; for an event the request did not store, the request's answer)."""

    status_code: int
    json: Any
    outcome: str | None


def drain_events(app: Flask) -> inbox.InboxResult:
    """One worker pass over the stored Stripe events, as `flask worker` makes it."""
    with app.app_context():
        return inbox.drain()


def post(client: FlaskClient, body: dict[str, Any], **options: Any) -> Delivered:
    """Deliver a signed event, then let the worker apply what is due."""
    response = post_only(client, body, **options)
    app = client.application
    drain_events(app)
    outcome = response.json["outcome"] if response.json else None
    if response.status_code == 200 and outcome == "received":
        with app.app_context():
            outcome = db.session.scalar(
                sa.select(StripeEvent.outcome).where(StripeEvent.event_id == body["id"])
            )
    return Delivered(response.status_code, response.json, outcome)


_OBJECT = re.compile(r"^/v1/(invoices|subscriptions|customers)/([^/]+)$")


class FakeStripe:
    """Objects as they are *now*; webhook handlers re-read from here."""

    def __init__(self) -> None:
        # An English-speaking customer unless a test says otherwise.
        english = ss.customer(preferred_locales=["en"])
        self.invoices: dict[str, dict[str, Any]] = {INVOICE_ID: invoice()}
        self.subscriptions: dict[str, dict[str, Any]] = {
            ss.SUB_ID: ss.subscription(customer=english)
        }
        self.customers: dict[str, dict[str, Any]] = {ss.CUSTOMER_ID: copy.deepcopy(english)}
        self.down = False  # answer 500 to everything (Stripe unavailable)
        self.portal = ss.PortalAccount(ss.portal_configuration())

    def respond(self, req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if self.down:
            return 500, ss.default_error_body(500)
        if req.path == "/v1/billing_portal/sessions":
            return 200, ss.portal_session()
        answer = self.portal.respond(req)
        if answer is not None:
            return answer[0], answer[1]
        match = _OBJECT.match(req.path)
        if match is None:
            return 404, ss.error_body("invalid_request_error", "resource_missing", "No such path")
        kind, object_id = match.groups()
        store = getattr(self, kind)
        if object_id not in store:
            return 404, ss.error_body("invalid_request_error", "resource_missing", "No such object")
        obj = copy.deepcopy(store[object_id])
        if req.method == "post" and "cancel_at_period_end" in req.params:
            scheduled = req.params["cancel_at_period_end"] == "true"
            store[object_id]["cancel_at_period_end"] = obj["cancel_at_period_end"] = scheduled
        expand = {v for k, v in req.params.items() if k.startswith("expand")}
        if kind == "invoices" and "customer" in expand:
            obj["customer"] = copy.deepcopy(self.customers[obj["customer"]])
        if kind == "subscriptions" and "customer" not in expand:
            obj["customer"] = obj["customer"]["id"]
        if kind == "customers" and "subscriptions" in expand:
            subs = [s for s in self.subscriptions.values() if _customer_id(s) == object_id]
            obj["subscriptions"] = {"object": "list", "data": subs, "has_more": False}
        return 200, obj


def _customer_id(sub: dict[str, Any]) -> str:
    customer = sub["customer"]
    return customer["id"] if isinstance(customer, dict) else customer


def counts(app: Flask) -> tuple[int, int, int]:
    """(events stored, cases, outbox rows)"""
    from cancelpage.extensions import db
    from cancelpage.models import OutboxEmail, RecoveryCase, StripeEvent

    with app.app_context():
        return tuple(  # type: ignore[return-value]
            db.session.scalar(sa.select(sa.func.count()).select_from(model))
            for model in (StripeEvent, RecoveryCase, OutboxEmail)
        )
