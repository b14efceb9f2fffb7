"""Smoke test against localstripe: real API calls, real signed webhooks, a real dunning email.

localstripe (an emulator, started here on 127.0.0.1 only) is limited; this test does what it
supports. A renewal whose card needs 3-D Secure that nobody completes fails the invoice
(``invoice.payment_failed``, subscription past_due): our live server verifies the webhook,
re-reads invoice and subscription from localstripe and opens a case; one worker pass mails the
first dunning email through aiosmtpd; paying with a good card (``invoice.payment_succeeded``)
closes the case as recovered and cancels the rest. A failed SEPA debit makes localstripe cancel
the subscription on the spot: re-reading it, we open no case. localstripe has no billing portal
(the card hand-off shows a clear notice), sends no ``customer.subscription.updated``,
``customer.source.expiring`` or ``invoice.paid`` and no ``previous_attributes``; a declined
card on ``invoices/pay`` sends no event at all. The signed-event tests cover those paths.
"""

from __future__ import annotations

import asyncio
import re
import threading
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from typing import Any

import pytest
import requests
import sqlalchemy as sa
import stripe
from flask import Flask
from support.mail_support import SMTPSink, body_of, free_port
from werkzeug.serving import make_server

from cancelpage.billing import API_VERSION
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant
from cancelpage.models import OutboxEmail, RecoveryCase, StripeEvent, utcnow
from cancelpage.recovery import inbox, outbox

localstripe_server = pytest.importorskip("localstripe.server")
localstripe_resources = pytest.importorskip("localstripe.resources")
localstripe_webhooks = pytest.importorskip("localstripe.webhooks")
from aiohttp import web  # noqa: E402  (after the importorskip above)

SECRET = "whsec_localstripe_smoke"
GOOD_CARD = {
    "type": "card",
    "card": {"number": "4242424242424242", "exp_month": 12, "exp_year": 2031, "cvc": "123"},
}
THREE_D_SECURE_CARD = {**GOOD_CARD, "card": {**GOOD_CARD["card"], "number": "4000002760003184"}}
# localstripe's failing IBAN: the debit is accepted, then fails half a second later.
FAILING_SEPA = {"type": "sepa_debit", "sepa_debit": {"iban": "DE62370400440532013001"}}


@pytest.fixture
def localstripe(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """localstripe's aiohttp app on 127.0.0.1 (never all interfaces), in memory only."""
    monkeypatch.setattr(localstripe_resources.Store, "dump_to_disk", lambda self: None)
    localstripe_resources.store.clear()
    localstripe_webhooks._webhooks.clear()
    port = free_port()
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(localstripe_server.app)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", port).start())
        started.set()
        loop.run_forever()
        pending = [task for task in asyncio.all_tasks(loop) if not task.done()]
        for task in pending:
            task.cancel()
        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
        loop.run_until_complete(runner.cleanup())
        loop.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    if not started.wait(10):
        pytest.skip("localstripe could not start")
    yield f"http://127.0.0.1:{port}"
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    localstripe_resources.store.clear()
    localstripe_webhooks._webhooks.clear()


@pytest.fixture
def live_server(app: Flask) -> Iterator[str]:
    """Our app served for real on 127.0.0.1 (localstripe posts its webhooks here)."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    server.server_close()
    thread.join(10)


def wait_until(check: Callable[[], Any], timeout: float = 15.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = check()
        if found:
            return found
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def test_a_real_failed_payment_becomes_a_dunning_email_and_then_recovered(
    app: Flask, localstripe: str, live_server: str, smtp: SMTPSink
) -> None:
    app.config.update(STRIPE_API_BASE=localstripe, PUBLIC_BASE_URL=live_server)
    with app.app_context():
        shop = create_merchant("shop", "Shop & Co", stripe_key="sk_test_localstripe_smoke")
        shop.webhook_secrets = [SECRET]
        db.session.commit()
    requests.post(
        f"{localstripe}/_config/webhooks/cancelpage",
        data={"url": f"{live_server}/webhooks/stripe/shop", "secret": SECRET},
        timeout=10,
    ).raise_for_status()
    client = stripe.StripeClient(
        "sk_test_localstripe_smoke",
        base_addresses={"api": localstripe},
        stripe_version=API_VERSION,
        max_network_retries=0,
    )

    def use(customer: str, method: dict[str, Any]) -> None:
        created = client.v1.payment_methods.create(method)  # type: ignore[arg-type]
        client.v1.payment_methods.attach(created.id, {"customer": customer})
        client.v1.customers.update(
            customer, {"invoice_settings": {"default_payment_method": created.id}}
        )

    def events() -> list[tuple[str, str | None]]:
        with app.app_context():
            inbox.drain()  # the worker's pass: the request only stored what localstripe sent
            return [(e.type, e.outcome) for e in db.session.scalars(sa.select(StripeEvent))]

    # 1. A subscription renewal by SEPA debit fails. localstripe cancels the subscription in
    # the same moment; re-reading it, we see it has ended and open no case (no email).
    client.v1.plans.create(
        {
            "id": "pro",
            "amount": 2900,
            "currency": "eur",
            "interval": "month",
            "product": (client.v1.products.create({"name": "Pro"}).id),
        }
    )
    first = client.v1.customers.create({"email": "sam@example.com"})
    use(first.id, GOOD_CARD)
    subscription = client.v1.subscriptions.create(
        {"customer": first.id, "items": [{"plan": "pro"}]}
    )
    assert subscription.status == "active"
    use(first.id, FAILING_SEPA)
    renewal = client.v1.invoices.create({"customer": first.id, "subscription": subscription.id})
    client.v1.invoices.pay(renewal.id)
    wait_until(lambda: ("invoice.payment_failed", "subscription already ended") in events())
    wait_until(lambda: ("customer.subscription.deleted", "0 case(s) lost") in events())

    # 2. A renewal whose card needs 3-D Secure, which the customer never completes (they are
    # not there): localstripe fails the invoice, the subscription goes past_due. Dunning time.
    customer = client.v1.customers.create({"email": "jenny@example.com"})
    use(customer.id, GOOD_CARD)
    subscription = client.v1.subscriptions.create(
        {"customer": customer.id, "items": [{"plan": "pro"}]}
    )
    use(customer.id, THREE_D_SECURE_CARD)
    invoice = client.v1.invoices.create({"customer": customer.id, "subscription": subscription.id})
    attempt = client.v1.payment_intents.retrieve(
        str(client.v1.invoices.pay(invoice.id).payment_intent)
    )
    assert attempt.status == "requires_action"
    requests.post(
        f"{localstripe}/v1/payment_intents/{attempt.id}/_authenticate",
        data={"client_secret": attempt.client_secret, "success": "false"},
        headers={"Authorization": "Bearer sk_test_localstripe_smoke"},
        timeout=10,
    ).raise_for_status()

    def case() -> RecoveryCase | None:
        with app.app_context():
            inbox.drain()
            found = db.session.scalar(
                sa.select(RecoveryCase).where(RecoveryCase.invoice_id == invoice.id)
            )
            if found is not None:
                db.session.expunge(found)
            return found

    opened = wait_until(case)
    assert (opened.status, opened.amount_due, opened.currency) == ("open", 2900, "eur")
    assert opened.subscription_id == subscription.id

    # One worker pass sends the first email, and only the first.
    with app.app_context():
        assert outbox.drain().sent == 1
    [message] = smtp.messages
    assert message["To"] == "jenny@example.com"
    assert message["Subject"] == "Your payment to Shop & Co didn't go through"
    text = body_of(message, "plain")
    assert "Amount due: €29.00" in text
    card_link = re.search(rf"{re.escape(live_server)}/card/\S+", text)
    assert card_link

    # The link opens the card page; localstripe has no billing portal, so the hand-off
    # shows a clear notice instead of redirecting.
    page = requests.get(card_link.group(0), timeout=10)
    assert page.status_code == 200
    assert "Update your payment details" in page.text
    nonce = re.search(r'name="nonce" value="([^"]+)"', page.text)
    assert nonce
    handoff = requests.post(
        card_link.group(0), data={"nonce": nonce.group(1)}, allow_redirects=False, timeout=10
    )
    # (localstripe answers the unknown path with a non-JSON 404: "unavailable, try again")
    assert handoff.status_code == 200
    assert "answer from the billing system" in handoff.text

    # The customer fixes the card; the retried payment succeeds: recovered, sequence stopped.
    use(customer.id, GOOD_CARD)
    client.v1.invoices.pay(invoice.id)
    recovered = wait_until(lambda: (c := case()) is not None and c.status == "recovered" and c)
    assert (recovered.amount_recovered, recovered.close_reason) == (2900, "invoice paid")
    with app.app_context():
        statuses = list(db.session.scalars(sa.select(OutboxEmail.status).order_by(OutboxEmail.id)))
        db.session.execute(sa.update(OutboxEmail).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()
        assert outbox.drain().sent == 0
        kinds = set(db.session.scalars(sa.select(StripeEvent.type)))
    assert statuses == ["sent", "canceled", "canceled", "canceled"]
    assert {"invoice.payment_failed", "invoice.payment_succeeded"} <= kinds
    assert len(smtp.messages) == 1
