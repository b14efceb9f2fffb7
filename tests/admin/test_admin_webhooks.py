"""The dashboard's webhooks page: endpoints (secret shown once, encrypted at rest), refused
URLs, the test event, the delivery log with status codes, re-send, and merchant isolation."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Flask
from support.admin_support import dashboard_client, text
from support.receiver_support import Receiver

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import MerchantWebhookEndpoint, WebhookDelivery


def test_add_an_endpoint_send_a_test_event_and_resend_it(app: Flask, merchant: Any) -> None:
    client = dashboard_client(app)
    receiver = Receiver(secret="")
    response = client.post("/admin/webhooks/endpoints", data={"url": receiver.url})
    page = text(response)
    assert response.status_code == 200
    secret = page.split('Signing secret: <code class="reveal">')[1].split("</code>")[0]
    assert secret.startswith("whsec_")
    assert secret not in text(client.get("/admin/webhooks"))  # shown once
    with app.app_context():
        [endpoint] = db.session.scalars(sa.select(MerchantWebhookEndpoint)).all()
        assert secret not in endpoint.secret_encrypted  # encrypted at rest
        assert endpoint.secret == secret
    receiver.secret = secret
    receiver.answers = [500]
    receiver.start()
    try:
        first = text(client.post("/admin/webhooks/endpoints/1/test", follow_redirects=True))
        assert "Test event not delivered: answered 500." in first
        again = text(client.post("/admin/webhooks/deliveries/1/resend", follow_redirects=True))
        assert "Delivery 1 sent again: delivered (200)." in again
        log = text(client.get("/admin/webhooks"))
        assert "webhook.test" in log
        assert "2: 500, 200" in log  # attempts and their status codes
    finally:
        receiver.stop()
    assert [r.payload["type"] for r in receiver.received if r.verified] == ["webhook.test"] * 2


def test_refused_urls_are_explained_next_to_the_field(app: Flask, merchant: Any) -> None:
    client = dashboard_client(app)
    response = client.post(
        "/admin/webhooks/endpoints",
        data={"url": "https://169.254.169.254/latest"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 422
    assert "private or local address" in text(response)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(MerchantWebhookEndpoint.id))) == 0


def test_win_back_is_set_on_the_page(app: Flask, merchant: Any) -> None:
    client = dashboard_client(app)
    form = {"days": "10", "url": "https://shop.example/plans", "coupon": "", "code_days": "14"}
    assert client.post("/admin/webhooks/winback", data=form).status_code == 303
    with app.app_context():
        found = by_slug("acme")
        assert found is not None
        assert found.winback == {
            "days": 10,
            "url": "https://shop.example/plans",
            "coupon": None,
            "code_days": 14,
        }
    bad = client.post("/admin/webhooks/winback", data={**form, "url": "ftp://x"})
    assert bad.status_code == 422
    assert "resubscribe" in text(bad)
    client.post("/admin/webhooks/winback", data={**form, "days": ""})
    with app.app_context():
        found = by_slug("acme")
        assert found is not None
        assert found.winback is None


def test_another_merchants_endpoints_and_deliveries_are_out_of_reach(
    app: Flask, merchant: Any, live_merchant: Any
) -> None:
    theirs = dashboard_client(app, "live", "owner@live.example")
    theirs.post("/admin/webhooks/endpoints", data={"url": "https://93.184.215.14/hooks"})
    with app.app_context():
        db.session.add(
            WebhookDelivery(merchant_id=2, endpoint_id=1, event_id="msg_x", type="t", body="{}")
        )
        db.session.commit()
    mine = dashboard_client(app)
    assert mine.post("/admin/webhooks/endpoints/1/test").status_code == 404
    assert mine.post("/admin/webhooks/endpoints/1/enabled", data={}).status_code == 404
    assert mine.post("/admin/webhooks/deliveries/1/resend").status_code == 404
    assert "93.184.215.14" not in text(mine.get("/admin/webhooks"))
