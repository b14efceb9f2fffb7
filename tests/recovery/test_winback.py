"""Win-back: off by default; N days after a customer-chosen end one email in the customer's
language with the merchant's resubscribe link and a single-use code for that customer; never
after a failed payment or to an unsubscribed address; sent and redeemed are counted."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.mail_support import body_of
from support.receiver_support import Receiver
from support.recovery_support import FakeStripe, event, invoice, post

from cancelpage.extensions import db
from cancelpage.merchant_webhooks import delivery, endpoints
from cancelpage.merchants.store import by_slug
from cancelpage.models import OutboxEmail, RecoveryCase
from cancelpage.recovery import outbox, winback

pytestmark = pytest.mark.usefixtures("hooked")

ENDED = int(time.time()) - 60
PROMO = "promo_1PgcWinback001"


@pytest.fixture
def stripe(fake_stripe: FakeStripe, stripe_stub: Any) -> FakeStripe:
    """The fake Stripe, also answering promotion-code creation."""

    def respond(req: Any) -> tuple[int, dict[str, Any]]:
        if req.path == "/v1/promotion_codes":
            return 200, {"id": PROMO, "object": "promotion_code", "code": "BACK-4Y7Q"}
        return fake_stripe.respond(req)

    stripe_stub.responder = respond
    return fake_stripe


def turn_on(app: Flask, **settings: Any) -> None:
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        winback.configure(
            merchant,
            **{"days": 7, "url": "https://shop.example/plans", "coupon": "winback_20", **settings},
        )
        db.session.commit()


def ended(stripe: FakeStripe, reason: str = "cancellation_requested") -> dict[str, Any]:
    """The subscription as Stripe has it after it ended, and the deletion event for it."""
    sub = stripe.subscriptions[ss.SUB_ID]
    sub.update(
        status="canceled",
        canceled_at=ENDED,
        ended_at=ENDED,
        cancellation_details={"reason": reason, "feedback": None, "comment": None},
    )
    return event("customer.subscription.deleted", {**sub, "customer": ss.CUSTOMER_ID})


def winback_rows(app: Flask) -> list[OutboxEmail]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.kind == "winback")))
        db.session.expunge_all()
        return rows


def counts(app: Flask) -> dict[str, int]:
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        return winback.counts(merchant)


def promo_requests(stub: Any) -> list[Any]:
    return [r for r in stub.requests if r.path == "/v1/promotion_codes"]


def test_off_by_default_nothing_is_scheduled_or_read(
    app: Flask, client: FlaskClient, stripe: FakeStripe, stripe_stub: Any
) -> None:
    response = post(client, ended(stripe))
    assert response.outcome == "0 case(s) lost"
    assert winback_rows(app) == []
    assert stripe_stub.requests == []


def test_one_email_due_n_days_after_the_end_with_a_code_for_that_customer(
    app: Flask, client: FlaskClient, stripe: FakeStripe, stripe_stub: Any
) -> None:
    turn_on(app)
    body = ended(stripe)
    assert post(client, body).outcome.endswith("win-back email scheduled")
    post(client, event("customer.subscription.deleted", body["data"]["object"]))  # again
    [row] = winback_rows(app)
    end = datetime.fromtimestamp(ENDED, UTC)
    assert row.due_at == end + timedelta(days=7)
    assert (row.status, row.to_address, row.locale) == ("pending", "jenny@example.com", "en")
    [req] = promo_requests(stripe_stub)
    expires = int((end + timedelta(days=7 + 14)).timestamp())
    assert req.params == {
        "promotion[type]": "coupon",
        "promotion[coupon]": "winback_20",
        "customer": ss.CUSTOMER_ID,
        "max_redemptions": "1",
        "expires_at": str(expires),
    }
    assert row.data["code"] == "BACK-4Y7Q"
    with app.app_context():
        assert outbox.drain().handled == 0  # not due for another week


def test_the_email_goes_out_once_due_links_to_resubscribe_and_is_counted(
    app: Flask, client: FlaskClient, stripe: FakeStripe, smtp: Any
) -> None:
    receiver = Receiver(secret="").start()
    try:
        turn_on(app)
        with app.app_context():
            merchant = by_slug("live")
            assert merchant is not None
            _, receiver.secret = endpoints.add_endpoint(merchant, receiver.url)
            db.session.commit()
        stripe.customers[ss.CUSTOMER_ID]["preferred_locales"] = ["de-DE"]
        stripe.subscriptions[ss.SUB_ID]["customer"]["preferred_locales"] = ["de-DE"]
        post(client, ended(stripe))
        with app.app_context():
            db.session.execute(
                sa.update(OutboxEmail).values(due_at=datetime.now(UTC) - timedelta(seconds=1))
            )
            db.session.commit()
            assert outbox.drain().sent == 1
        [message] = smtp.wait_for(1)
        text = body_of(message, "plain")
        assert message["Subject"] == "Wir würden uns freuen, Sie wieder bei Live Co zu begrüßen"
        assert "https://shop.example/plans" in text
        assert "BACK-4Y7Q" in text
        assert counts(app) == {"sent": 1, "redeemed": 0}
        with app.app_context():
            delivery.drain()
        sent = [r.payload for r in receiver.received if r.verified]
        assert [p["type"] for p in sent] == ["winback.sent"]
        assert sent[0]["data"]["promotion_code"] == PROMO

        discount = {
            "id": "di_1",
            "object": "discount",
            "customer": ss.CUSTOMER_ID,
            "promotion_code": PROMO,
        }
        assert post(client, event("customer.discount.created", discount)).outcome == (
            "1 win-back case(s) redeemed"
        )
        assert counts(app) == {"sent": 1, "redeemed": 1}
    finally:
        receiver.stop()


@pytest.mark.parametrize("reason", ["payment_failed", "payment_disputed"])
def test_never_after_an_end_for_failed_payment(
    app: Flask, client: FlaskClient, stripe: FakeStripe, stripe_stub: Any, reason: str
) -> None:
    turn_on(app)
    outcome = post(client, ended(stripe, reason)).outcome
    assert outcome.endswith("not ended by the customer's choice")
    assert winback_rows(app) == []
    assert promo_requests(stripe_stub) == []


def test_never_after_an_unrecovered_failed_payment_even_if_requested(
    app: Flask, client: FlaskClient, stripe: FakeStripe
) -> None:
    turn_on(app)
    post(client, event("invoice.payment_failed", invoice()))
    post(client, ended(stripe))
    assert winback_rows(app) == []
    with app.app_context():
        kinds = {(c.kind, c.status) for c in db.session.scalars(sa.select(RecoveryCase))}
    assert kinds == {("payment_failed", "lost")}


def test_never_to_an_unsubscribed_address(
    app: Flask, client: FlaskClient, stripe: FakeStripe
) -> None:
    turn_on(app)
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        outbox.suppress(merchant.id, "Jenny@Example.com")
        db.session.commit()
    post(client, ended(stripe))
    [row] = winback_rows(app)
    assert row.status == "suppressed"


def test_without_a_coupon_no_code_is_made(
    app: Flask, client: FlaskClient, stripe: FakeStripe, stripe_stub: Any
) -> None:
    turn_on(app, coupon="")
    post(client, ended(stripe))
    [row] = winback_rows(app)
    assert "code" not in row.data
    assert promo_requests(stripe_stub) == []


@pytest.mark.parametrize(
    ("settings", "field"),
    [
        ({"days": 0}, "days"),
        ({"days": 400}, "days"),
        ({"url": "http://shop.example/plans"}, "url"),
        ({"coupon": "bad coupon!"}, "coupon"),
        ({"code_days": 0}, "code_days"),
    ],
)
def test_bad_settings_are_refused(app: Flask, settings: dict[str, Any], field: str) -> None:
    with pytest.raises(winback.WinbackError) as refused:
        turn_on(app, **settings)
    assert refused.value.field == field
