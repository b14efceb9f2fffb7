"""The Stripe webhook endpoint and the worker that applies its events: verification, exactly-once
storage and effect, retries, order independence."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
import stripe
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.recovery_support import (
    INVOICE_ID,
    FakeStripe,
    counts,
    drain_events,
    event,
    invoice,
    paid_invoice,
    post,
    post_only,
)

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import RecoveryCase, StripeEvent, utcnow
from cancelpage.recovery import inbox

pytestmark = pytest.mark.usefixtures("hooked")


def failed_event(**overrides: Any) -> dict[str, Any]:
    return event("invoice.payment_failed", invoice(), **overrides)


# ---- verification ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "tamper",
    ["wrong_secret", "foreign_merchant", "stale", "tampered_body", "no_header", "garbage_header"],
)
def test_unverifiable_events_are_refused_with_no_effect(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, stripe_stub: Any, tamper: str
) -> None:
    body = failed_event()
    if tamper == "foreign_merchant":
        with app.app_context():
            other = by_slug("acme")
            assert other is not None
            other.webhook_secrets = ["whsec_acme_only"]
            db.session.commit()
        response = post(client, body, secret="whsec_acme_only")  # acme's secret, live's URL
    elif tamper == "wrong_secret":
        response = post(client, body, secret="whsec_someone_else")
    elif tamper == "stale":
        response = post(client, body, timestamp=int(time.time()) - 301)
    else:
        raw, header = ss.signed_webhook(body)
        if tamper == "tampered_body":
            raw = raw.replace(b'"amount_due": 2900', b'"amount_due": 1')
        headers = {"no_header": {}, "garbage_header": {"Stripe-Signature": "t=1,v1=abc"}}.get(
            tamper, {"Stripe-Signature": header}
        )
        response = client.post("/webhooks/stripe/live", data=raw, headers=headers)
    assert response.status_code == 400
    assert response.json == {"received": False, "outcome": "signature not verified"}
    assert counts(app) == (0, 0, 0)
    assert stripe_stub.requests == []  # not even a read from Stripe


def raw_post(client: FlaskClient, raw: bytes, header: str) -> Any:
    return client.post(
        "/webhooks/stripe/live",
        data=raw,
        headers={"Stripe-Signature": header, "Content-Type": "application/json"},
    )


def test_a_body_that_is_not_utf8_is_refused_unsigned(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    response = raw_post(client, b'{"id": "\xff\xfe"}', "t=1,v1=abc")
    assert response.status_code == 400
    assert counts(app) == (0, 0, 0)


def test_a_signed_body_nested_5000_deep_is_refused(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    raw = "[" * 5000 + "]" * 5000
    header = stripe_signature(raw, ss.WEBHOOK_SECRET)
    response = raw_post(client, raw.encode(), header)
    assert response.status_code == 400
    assert counts(app) == (0, 0, 0)


@pytest.mark.parametrize("ahead", [301, 10**9])
def test_a_timestamp_too_far_in_the_future_is_refused(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, ahead: int
) -> None:
    response = post(client, failed_event(), timestamp=int(time.time()) + ahead)
    assert response.status_code == 400
    assert counts(app) == (0, 0, 0)


def test_a_timestamp_slightly_ahead_is_accepted(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    """Clocks drift: up to the tolerance either way is fine."""
    response = post(client, failed_event(), timestamp=int(time.time()) + 60)
    assert response.status_code == 200


def stripe_signature(raw: str, secret: str) -> str:
    return str(stripe.WebhookSignature.generate_signature_header(raw, secret))


def test_a_timestamp_within_tolerance_is_accepted(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    response = post(client, failed_event(), timestamp=int(time.time()) - 290)
    assert response.status_code == 200
    assert counts(app) == (1, 1, 4)


def test_both_secrets_verify_while_one_is_rolled(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        live.webhook_secrets = [ss.WEBHOOK_SECRET, "whsec_new_secret"]
        db.session.commit()
    assert post(client, failed_event()).status_code == 200
    paid = event("invoice.paid", paid_invoice())
    fake_stripe.invoices[paid["data"]["object"]["id"]] = paid_invoice()
    assert post(client, paid, secret="whsec_new_secret").status_code == 200
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        live.webhook_secrets = ["whsec_new_secret"]  # roll finished: the old one is refused
        db.session.commit()
    assert post(client, failed_event()).status_code == 400


def test_unknown_merchant_and_merchant_without_secret_are_refused(
    app: Flask, client: FlaskClient
) -> None:
    assert post(client, failed_event(), slug="nobody").status_code == 400
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        acme.webhook_secrets_encrypted = None
        db.session.commit()
    assert post(client, failed_event(), slug="acme").status_code == 400
    assert counts(app) == (0, 0, 0)


def test_the_endpoint_never_redirects(client: FlaskClient, fake_stripe: FakeStripe) -> None:
    raw, header = ss.signed_webhook(failed_event())
    slash = client.post("/webhooks/stripe/live/", data=raw, headers={"Stripe-Signature": header})
    get = client.get("/webhooks/stripe/live")
    assert slash.status_code == 404
    assert get.status_code == 405


def test_secrets_are_encrypted_at_rest(app: Flask) -> None:
    with app.app_context():
        stored = db.session.execute(sa.text("SELECT webhook_secrets_encrypted FROM merchant"))
        values = [row[0] for row in stored]
    assert values
    assert all("whsec_" not in value for value in values)


# ---- exactly once ----------------------------------------------------------------------------


def test_same_event_three_times_has_one_effect(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    body = failed_event()
    answers = [post(client, body) for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert answers[0].outcome.endswith("opened, 4 emails scheduled")
    assert answers[1].outcome == answers[2].outcome == "duplicate: already received"
    assert counts(app) == (1, 1, 4)
    # Only the first delivery re-read Stripe (invoice, then subscription).
    assert [r.path for r in stripe_stub.requests] == [
        f"/v1/invoices/{body['data']['object']['id']}",
        f"/v1/subscriptions/{ss.SUB_ID}",
    ]


def test_another_event_for_the_same_invoice_adds_nothing(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    """Stripe retries the charge and announces each failure: still one case, one sequence."""
    post(client, failed_event())
    second = post(client, event("invoice.payment_failed", invoice(attempt_count=2)))
    assert second.status_code == 200
    assert "already open" in second.outcome
    assert counts(app) == (2, 1, 4)


def test_parallel_deliveries_of_one_event_have_one_effect(
    app: Flask, fake_stripe: FakeStripe
) -> None:
    body = failed_event()
    barrier = threading.Barrier(4)
    statuses: list[int] = []

    def deliver() -> None:
        client = app.test_client()
        barrier.wait()
        statuses.append(post(client, body).status_code)

    threads = [threading.Thread(target=deliver) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [200, 200, 200, 200]
    assert counts(app) == (1, 1, 4)


def test_a_database_failure_answers_5xx_and_the_retry_works(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = failed_event()

    def broken_commit() -> None:
        raise sa.exc.OperationalError("COMMIT", {}, Exception("database is unavailable"))

    with monkeypatch.context() as patch:
        patch.setattr(db.session, "commit", broken_commit)
        failed = post_only(client, body)
    assert failed.status_code == 500
    assert failed.json == {"received": False, "outcome": "not stored; please retry"}
    assert counts(app) == (0, 0, 0)
    retried = post(client, body)
    assert retried.status_code == 200
    assert counts(app) == (1, 1, 4)


def make_due(app: Flask) -> None:
    """Time passes: every event waiting for a retry is due now."""
    with app.app_context():
        db.session.execute(sa.update(StripeEvent).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def stored_event(app: Flask, body: dict[str, Any]) -> StripeEvent:
    with app.app_context():
        row = db.session.scalars(
            sa.select(StripeEvent).where(StripeEvent.event_id == body["id"])
        ).one()
        db.session.expunge(row)
        return row


def test_stripe_down_then_up_retries_later_with_one_effect(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    body = failed_event()
    fake_stripe.down = True
    before = utcnow()
    response = post(client, body)
    assert response.status_code == 200  # acknowledged: the worker retries, not Stripe
    assert counts(app) == (1, 0, 0)
    waiting = stored_event(app, body)
    assert (waiting.status, waiting.attempts, waiting.outcome) == ("failed", 1, None)
    assert (waiting.last_error or "").startswith("Stripe: ")
    assert waiting.due_at >= before + timedelta(seconds=30)  # STRIPE_EVENT_RETRY_BASE_SECONDS
    fake_stripe.down = False
    assert drain_events(app).handled == 0  # not due yet
    make_due(app)
    assert drain_events(app).processed == 1
    assert counts(app) == (1, 1, 4)
    done = stored_event(app, body)
    assert (done.status, done.attempts, done.last_error) == ("processed", 2, None)
    assert (done.outcome or "").endswith("opened, 4 emails scheduled")
    make_due(app)
    assert drain_events(app).handled == 0  # processed events are never run again
    assert counts(app) == (1, 1, 4)


def test_an_event_is_dead_after_the_last_attempt(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    app.config["STRIPE_EVENT_MAX_ATTEMPTS"] = 3
    body = failed_event()
    fake_stripe.down = True
    post(client, body)
    for _ in range(2):
        make_due(app)
        drain_events(app)
    dead = stored_event(app, body)
    assert (dead.status, dead.attempts) == ("dead", 3)
    make_due(app)
    assert drain_events(app).handled == 0  # dead stays dead until someone runs it again
    fake_stripe.down = False
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        assert inbox.rerun(live, dead.id)
    assert drain_events(app).processed == 1
    assert counts(app) == (1, 1, 4)


def test_an_object_stripe_no_longer_has_is_stored_as_not_acted_on(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    fake_stripe.invoices.clear()
    response = post(client, failed_event())
    assert response.status_code == 200
    assert response.outcome.startswith("not acted on: Stripe rejected the request")
    assert counts(app) == (1, 0, 0)


@pytest.mark.parametrize(
    ("overrides", "outcome"),
    [
        ({"type": "charge.succeeded"}, "ignored: event type not used"),
        ({"account": "acct_connected"}, "ignored: Connect event"),
        ({"livemode": True}, "ignored: event mode does not match the merchant's key"),
    ],
)
def test_events_we_do_not_act_on_are_acknowledged(
    app: Flask,
    client: FlaskClient,
    fake_stripe: FakeStripe,
    stripe_stub: Any,
    overrides: dict[str, Any],
    outcome: str,
) -> None:
    response = post(client, failed_event(**overrides))
    assert response.status_code == 200
    assert response.outcome == outcome
    assert counts(app) == (0, 0, 0)
    assert stripe_stub.requests == []


def test_large_events_are_accepted(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    """Stripe events can be far larger than the app's 64 KiB limit for forms."""
    lines = [{"id": f"il_{i}", "description": "x" * 200} for i in range(600)]
    body = event("invoice.payment_failed", invoice(lines={"object": "list", "data": lines}))
    response = post(client, body)
    assert response.status_code == 200, response.json
    assert counts(app) == (1, 1, 4)


# ---- order independence ----------------------------------------------------------------------


def test_paid_before_failed_opens_no_case(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    """Stripe's retry succeeded before the failure's webhook arrived: nothing to chase."""
    fake_stripe.invoices[INVOICE_ID] = paid_invoice()
    paid = post(client, event("invoice.paid", paid_invoice()))
    failed = post(client, failed_event())  # the event still says "open"; Stripe says paid
    assert paid.outcome == "no open case"
    assert failed.outcome == "invoice paid: nothing to recover"
    assert counts(app) == (2, 0, 0)


def test_subscription_deleted_before_failed_opens_no_case(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID]["status"] = "canceled"
    post(client, event("customer.subscription.deleted", ss.subscription(status="canceled")))
    failed = post(client, failed_event())
    assert failed.outcome == "subscription already ended"
    assert counts(app) == (2, 0, 0)


def test_a_stale_paid_event_does_not_close_a_case(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    """An invoice.paid for an invoice that is open again (refund, reopen) changes nothing."""
    post(client, failed_event())
    response = post(client, event("invoice.paid", paid_invoice()))
    assert response.outcome == "invoice open: not paid yet"
    with app.app_context():
        assert db.session.scalars(sa.select(RecoveryCase.status)).one() == "open"
