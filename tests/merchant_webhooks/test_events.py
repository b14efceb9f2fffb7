"""Which events are queued, once, where the effect is recorded: cancel sessions ending and
failed payments recovered or lost."""

from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.recovery_support import FakeStripe, event, invoice, paid_invoice, post

from cancelpage.extensions import db
from cancelpage.merchant_webhooks import endpoints
from cancelpage.merchants.store import by_slug
from cancelpage.models import WebhookDelivery


def add_endpoint(app: Flask, slug: str) -> None:
    with app.app_context():
        merchant = by_slug(slug)
        assert merchant is not None
        endpoints.add_endpoint(merchant, "https://93.184.215.14/hooks")
        db.session.commit()


def queued(app: Flask) -> list[tuple[str, dict[str, Any]]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(WebhookDelivery).order_by(WebhookDelivery.id))
        return [(row.type, json.loads(row.body)["data"]) for row in rows]


@pytest.mark.parametrize(
    ("steps", "event_type", "outcome"),
    [
        (
            [
                ("survey", {"reason": "too_expensive"}),
                ("offer", {"offer": "discount_25_3m", "action": "accept"}),
            ],
            "cancel_session.saved",
            "accepted",
        ),
        (
            [("survey", {"action": "skip"}), ("confirm", {"action": "cancel"})],
            "cancel_session.canceled",
            "canceled",
        ),
        (
            [("survey", {"action": "skip"}), ("confirm", {"action": "keep"})],
            "cancel_session.saved",
            "kept",
        ),
    ],
)
def test_a_session_outcome_is_one_event(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    steps: list[tuple[str, dict[str, str]]],
    event_type: str,
    outcome: str,
) -> None:
    add_endpoint(app, "acme")
    url = start()
    for step, form in steps:
        client.post(f"{url}/{step}", data=form)
    client.post(f"{url}/{steps[-1][0]}", data=steps[-1][1])  # a double click
    [(kind, data)] = queued(app)
    assert kind == event_type
    assert (data["outcome"], data["customer"], data["subscription"]) == (
        outcome,
        "cus_test",
        "sub_test",
    )
    if outcome == "accepted":
        assert data["offer"]["id"] == "discount_25_3m"
        assert data["offer"]["kind"] == "discount"
    else:
        assert data["offer"] is None


def test_portal_hand_off_is_cancel_session_portal(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    with app.app_context():
        found = by_slug("acme")
        assert found is not None
        found.cancel_mode = "portal"
        db.session.commit()
    add_endpoint(app, "acme")
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    assert [kind for kind, _ in queued(app)] == ["cancel_session.portal"]


def test_no_endpoint_no_event(app: Flask, client: FlaskClient, merchant: Any, start: Any) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    assert queued(app) == []


@pytest.mark.usefixtures("hooked")
def test_recovered_and_lost_cases_are_events(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    add_endpoint(app, "live")
    post(client, event("invoice.payment_failed", invoice()))
    fake_stripe.invoices[invoice()["id"]] = paid_invoice()
    paid = event("invoice.paid", paid_invoice())
    post(client, paid)
    post(client, paid)  # redelivered: no second event
    [(kind, data)] = queued(app)
    assert kind == "recovery.recovered"
    assert (data["invoice"], data["amount_recovered"], data["currency"]) == (
        invoice()["id"],
        2900,
        "eur",
    )
    assert "email" not in json.dumps(data)  # ids and amounts only


@pytest.mark.usefixtures("hooked")
def test_a_lost_case_is_recovery_lost(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    add_endpoint(app, "live")
    post(client, event("invoice.payment_failed", invoice()))
    fake_stripe.invoices[invoice()["id"]] = invoice(status="uncollectible")
    post(client, event("invoice.marked_uncollectible", invoice(status="uncollectible")))
    assert [kind for kind, _ in queued(app)] == ["recovery.lost"]
