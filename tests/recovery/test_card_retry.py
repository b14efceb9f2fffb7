"""Retry on card update, against the Stripe emulator: signed webhooks from a failed payment to a
paid invoice with exactly one POST /v1/invoices/{id}/pay, declines that keep the case going, and
the page the card-update portal returns to."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.recovery_support import event, post
from support.stripe_emulator import StripeEmulator

from cancelpage import links
from cancelpage.billing import Gateway
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import Merchant, OutboxEmail, RecoveryCase, StripeWrite

pytestmark = pytest.mark.usefixtures("hooked")


@pytest.fixture
def emu(app: Flask, live_merchant: Merchant) -> Iterator[StripeEmulator]:
    """The live merchant's Stripe is the emulator (real HTTP on 127.0.0.1)."""
    with StripeEmulator() as emulator:
        app.extensions["cancelpage.gateway"] = lambda m: Gateway.for_key(
            m.stripe_key() or "",
            http_client=emulator.http_client(),
            max_network_retries=0,
            api_base=emulator.url,
        )
        yield emulator


@pytest.fixture
def failed(client: FlaskClient, emu: StripeEmulator) -> dict[str, str]:
    """A customer whose card declines, and their invoice after a failed payment webhook."""
    seed = emu.seed_subscription()
    assert seed.payment_method is not None
    emu.declining_payment_methods.add(seed.payment_method)
    invoice = emu.add_invoice(customer=seed.customer, subscription=seed.subscription)
    response = post(client, event("invoice.payment_failed", emu.invoice(invoice)))
    assert response.status_code == 200, response.json
    return {"customer": seed.customer, "invoice": invoice, "old_card": seed.payment_method}


def pay_calls(emu: StripeEmulator) -> list[Any]:
    return [r for r in emu.requests if r.method == "POST" and r.path.endswith("/pay")]


def the_case(app: Flask) -> RecoveryCase:
    with app.app_context():
        case = db.session.scalars(sa.select(RecoveryCase)).one()
        db.session.expunge(case)
        return case


def pending_emails(app: Flask) -> int:
    with app.app_context():
        return len(
            db.session.scalars(sa.select(OutboxEmail).where(OutboxEmail.status == "pending")).all()
        )


def attached(emu: StripeEmulator, pm: str) -> dict[str, Any]:
    return event("payment_method.attached", copy.deepcopy(emu.payment_methods[pm]))


def default_changed(emu: StripeEmulator, customer: str, old: str, new: str) -> dict[str, Any]:
    emu.customers[customer]["invoice_settings"]["default_payment_method"] = new
    return event(
        "customer.updated",
        copy.deepcopy(emu.customers[customer]),
        data={
            "object": copy.deepcopy(emu.customers[customer]),
            "previous_attributes": {"invoice_settings": {"default_payment_method": old}},
        },
    )


def test_failed_then_card_updated_then_paid_with_exactly_one_pay_call(
    app: Flask, client: FlaskClient, emu: StripeEmulator, failed: dict[str, str]
) -> None:
    assert pending_emails(app) == 4
    new = emu.add_payment_method(customer=failed["customer"], last4="0077")
    attach = attached(emu, new)
    response = post(client, attach)
    assert response.outcome == f"case {the_case(app).id} paid"
    # The same card announced again, and as the new default: no second charge.
    assert post(client, attach).outcome == "duplicate: already received"
    response = post(client, default_changed(emu, failed["customer"], failed["old_card"], new))
    assert response.outcome == "no open failed invoice"
    paid = emu.invoice(failed["invoice"])
    assert post(client, event("invoice.paid", paid)).outcome == "no open case"

    [call] = pay_calls(emu)
    assert call.path == f"/v1/invoices/{failed['invoice']}/pay"
    assert call.params["payment_method"] == new
    assert (call.idempotency_key or "").startswith("cancelpage-pay-")
    assert paid["status"] == "paid"
    case = the_case(app)
    assert (case.status, case.close_reason, case.amount_recovered) == (
        "recovered",
        "paid after card update",
        2900,
    )
    assert pending_emails(app) == 0  # the rest of the sequence is canceled
    with app.app_context():
        [write] = db.session.scalars(
            sa.select(StripeWrite).where(StripeWrite.operation == "invoice_pay")
        ).all()
        assert (write.status, write.attempts, write.idempotency_key) == (
            "succeeded",
            1,
            call.idempotency_key,
        )


def test_a_declined_retry_keeps_the_case_and_its_emails(
    app: Flask, client: FlaskClient, emu: StripeEmulator, failed: dict[str, str]
) -> None:
    bad = emu.add_payment_method(customer=failed["customer"], last4="0002")
    emu.declining_payment_methods.add(bad)
    assert post(client, attached(emu, bad)).outcome.endswith("declined")
    assert the_case(app).status == "open"
    assert pending_emails(app) == 4
    # That card again: not charged again. Another card: one more try, which works.
    assert post(client, attached(emu, bad)).outcome.endswith("already")
    good = emu.add_payment_method(customer=failed["customer"], last4="4444")
    assert post(client, attached(emu, good)).outcome.endswith("paid")
    calls = pay_calls(emu)
    assert [c.params["payment_method"] for c in calls] == [bad, good]
    assert len({c.idempotency_key for c in calls}) == 2
    assert the_case(app).status == "recovered"


def test_a_new_default_payment_method_retries_at_once(
    app: Flask, client: FlaskClient, emu: StripeEmulator, failed: dict[str, str]
) -> None:
    new = emu.add_payment_method(customer=failed["customer"])
    body = default_changed(emu, failed["customer"], failed["old_card"], new)
    assert post(client, body).outcome.endswith("paid")
    assert [c.params["payment_method"] for c in pay_calls(emu)] == [new]


def test_an_unrelated_customer_update_charges_nothing(
    app: Flask, client: FlaskClient, emu: StripeEmulator, failed: dict[str, str]
) -> None:
    customer = copy.deepcopy(emu.customers[failed["customer"]])
    body = event(
        "customer.updated",
        customer,
        data={"object": customer, "previous_attributes": {"name": "J"}},
    )
    assert post(client, body).outcome == "no new default payment method"
    assert pay_calls(emu) == []


def card_token(app: Flask, case: RecoveryCase) -> str:
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        payload = links.LinkPayload(merchant="live", customer=case.customer_id, ref=str(case.id))
        return links.sign(payload, merchant.link_secrets, "card_update")


def test_the_portal_return_page_retries_once_and_says_what_happened(
    app: Flask, client: FlaskClient, emu: StripeEmulator, failed: dict[str, str]
) -> None:
    token = card_token(app, the_case(app))
    before = len(emu.requests)
    page = client.get(f"/card/{token}/return")
    assert page.status_code == 200
    assert "Checking your payment" in page.get_data(as_text=True)
    assert f'action="/card/{token}/return"' in page.get_data(as_text=True)
    assert len(emu.requests) == before  # a GET (or a prefetch) charges nothing

    # The customer saved a new default card in the portal.
    new = emu.add_payment_method(customer=failed["customer"])
    emu.customers[failed["customer"]]["invoice_settings"]["default_payment_method"] = new
    response = client.post(f"/card/{token}/return")
    assert response.status_code == 303
    assert response.headers["Location"] == f"/card/{token}/return?result=paid"
    shown = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Thank you: your payment went through" in shown
    assert "€29.00" in shown
    # The webhook for the same card arrives afterwards: nothing more is charged.
    post(client, attached(emu, new))
    htmx = client.post(f"/card/{token}/return", headers={"HX-Request": "true"})
    assert "<html" not in htmx.get_data(as_text=True)
    assert "your payment went through" in htmx.get_data(as_text=True)
    assert len(pay_calls(emu)) == 1


def test_the_return_page_says_so_when_the_new_card_is_declined(
    app: Flask, client: FlaskClient, emu: StripeEmulator, failed: dict[str, str]
) -> None:
    token = card_token(app, the_case(app))
    response = client.post(f"/card/{token}/return", headers={"HX-Request": "true"})
    body = response.get_data(as_text=True)  # the default card is still the declining one
    assert "the payment was declined" in body
    assert f'href="/card/{token}"' in body  # try another card
    assert the_case(app).status == "open"
    assert len(pay_calls(emu)) == 1


def test_bad_tokens_on_the_return_page_get_the_generic_page(client: FlaskClient) -> None:
    assert client.get("/card/garbage/return").status_code == 404
    assert client.post("/card/garbage/return").status_code == 404
