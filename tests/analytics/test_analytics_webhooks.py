"""Webhooks feed analytics: subscription status changes (retention), failed and paid invoices
(failed-payment recovery)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.admin_support import dashboard_client
from support.recovery_support import INVOICE_ID, FakeStripe, event, invoice, paid_invoice, post

from cancelpage.analytics import simulate
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import CancelSession, OutboxEmail, SubscriptionStatus

pytestmark = pytest.mark.usefixtures("hooked")


def history(app: Flask) -> list[tuple[str, str, datetime]]:
    with app.app_context():
        return [
            (row.subscription_id, row.status, row.changed_at)
            for row in db.session.scalars(
                sa.select(SubscriptionStatus).order_by(SubscriptionStatus.id)
            )
        ]


def session_of_live_merchant(app: Flask, opened: datetime) -> None:
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        sim = next(simulate.generate(1, opened, seed=5))
        row = simulate.session_row(sim, live.id, None, "hook")
        db.session.add(CancelSession(**{**row, "subscription_id": ss.SUB_ID, "created_at": opened}))
        db.session.commit()


def test_deleted_and_updated_subscriptions_are_recorded(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    session_of_live_merchant(app, at - timedelta(days=40))
    fake_stripe.subscriptions[ss.SUB_ID]["status"] = "past_due"
    updated = event(
        "customer.subscription.updated",
        ss.subscription(status="past_due"),
        created=int((at - timedelta(days=20)).timestamp()),
        data={
            "object": ss.subscription(status="past_due"),
            "previous_attributes": {"status": "active"},
        },
    )
    post(client, updated)
    fake_stripe.subscriptions[ss.SUB_ID]["status"] = "canceled"
    deleted = event(
        "customer.subscription.deleted",
        ss.subscription(status="canceled"),
        created=int((at - timedelta(days=5)).timestamp()),
    )
    post(client, deleted)
    post(client, deleted | {"id": "evt_redelivered_elsewhere"})  # same change: recorded once
    assert history(app) == [
        (ss.SUB_ID, "past_due", at - timedelta(days=20)),
        (ss.SUB_ID, "canceled", at - timedelta(days=5)),
    ]
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        # Past due 20 days in (still running), canceled 35 days in.
        assert (session.retained_30, session.retained_60) == (True, False)


def test_failed_payment_webhooks_feed_the_dunning_figures_and_export(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    """A case opened and closed by real events shows on the live merchant's dashboard; the CSV
    has its ids and amounts but not the customer's email address (which the case's emails hold)."""
    dashboard = dashboard_client(app, "live", "owner@live.example")
    post(client, event("invoice.payment_failed", invoice()))
    with app.app_context():
        assert {e.to_address for e in db.session.scalars(sa.select(OutboxEmail))} == {
            "jenny@example.com"
        }
    html = dashboard.get("/admin/analytics/").get_data(as_text=True)
    assert '<h3>Still open</h3><p class="big">1</p><p class="muted">€29.00 at risk</p>' in html
    assert '<h3>Recovery rate</h3><p class="big">—</p>' in html  # no case closed yet

    fake_stripe.invoices[INVOICE_ID] = paid_invoice()
    post(client, event("invoice.paid", paid_invoice()))
    html = dashboard.get("/admin/analytics/").get_data(as_text=True)
    assert "Recovered <strong>€29.00</strong> from 1 of 1 closed cases" in html
    assert '<h3>Still open</h3><p class="big">0</p><p class="muted">— at risk</p>' in html

    body = dashboard.get("/admin/analytics/dunning.csv").get_data(as_text=True)
    [row] = list(csv.DictReader(io.StringIO(body)))
    assert (row["invoice_id"], row["customer_id"], row["subscription_id"]) == (
        INVOICE_ID,
        ss.CUSTOMER_ID,
        ss.SUB_ID,
    )
    assert (row["status"], row["amount_due"], row["amount_recovered"], row["currency"]) == (
        "recovered",
        "2900",
        "2900",
        "eur",
    )
    assert "jenny@example.com" not in body
    assert "@" not in body
    # The other merchant signed in sees none of it.
    other = dashboard_client(app, "acme", "owner@acme.example")
    assert INVOICE_ID not in other.get("/admin/analytics/dunning.csv").get_data(as_text=True)
    assert '<h3>Cases opened</h3><p class="big">0</p>' in other.get("/admin/analytics/").get_data(
        as_text=True
    )
