"""Subscription status changes reported by webhooks feed retention (record_subscription_status)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import stripe_support as ss
from flask import Flask
from flask.testing import FlaskClient
from recovery_support import FakeStripe, event, post

from cancelpage import simulate
from cancelpage.extensions import db
from cancelpage.merchants import by_slug
from cancelpage.models import CancelSession, SubscriptionStatus

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
