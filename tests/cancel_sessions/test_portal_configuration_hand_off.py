"""The cancel hand-off to Stripe's portal shows cancelpage's portal configuration."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug


def test_the_cancel_hand_off_passes_the_merchants_configuration(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        merchant.cancel_mode = "portal"
        merchant.portal_configuration_id = "bpc_1PgcOwn0000000000000001"
        db.session.commit()
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    client.post(f"{url}/survey", data={"action": "skip"})
    assert client.post(f"{url}/confirm", data={"action": "cancel"}).status_code == 303
    [write] = stripe_stub.writes()
    assert write.path == "/v1/billing_portal/sessions"
    assert write.params["configuration"] == "bpc_1PgcOwn0000000000000001"
    assert write.params["flow_data[type]"] == "subscription_cancel"
