"""Dunning sequences, cancel-intent saves and expiring cards, driven by signed events."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.mail_support import SMTPSink, body_of
from support.recovery_support import (
    CARD_ID,
    INVOICE_ID,
    FakeStripe,
    card,
    event,
    invoice,
    paid_invoice,
    payment_method,
    post,
)

from cancelpage.billing import CardOnFile
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import CancelSession, OutboxEmail, RecoveryCase, StripeWrite, utcnow
from cancelpage.recovery import cases as recovery_cases
from cancelpage.recovery import outbox

pytestmark = pytest.mark.usefixtures("hooked")


def cases(app: Flask) -> list[RecoveryCase]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(RecoveryCase).order_by(RecoveryCase.id)))
        db.session.expunge_all()
        return rows


def emails_of(app: Flask) -> list[OutboxEmail]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)))
        db.session.expunge_all()
        return rows


def drain(app: Flask) -> outbox.DrainResult:
    with app.app_context():
        return outbox.drain()


def make_due(app: Flask) -> None:
    """Time passes: every scheduled email is due now."""
    with app.app_context():
        db.session.execute(sa.update(OutboxEmail).values(due_at=utcnow() - timedelta(seconds=1)))
        db.session.commit()


def link_in(message: Any, path: str) -> str:
    match = re.search(rf"http://cancel\.test({path}[A-Za-z0-9_.\-]+)", body_of(message, "plain"))
    assert match, body_of(message, "plain")
    return match.group(1)


# ---- failed payments -------------------------------------------------------------------------


def test_a_failed_payment_schedules_the_default_sequence(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    before = utcnow()
    post(client, event("invoice.payment_failed", invoice()))
    [case] = cases(app)
    assert (case.kind, case.ref, case.status) == ("payment_failed", INVOICE_ID, "open")
    assert (case.amount_due, case.currency, case.subscription_id) == (2900, "eur", ss.SUB_ID)
    rows = emails_of(app)
    assert [r.kind for r in rows] == ["dunning_1", "dunning_2", "dunning_3", "dunning_4"]
    assert [round((r.due_at - case.opened_at) / timedelta(days=1)) for r in rows] == [0, 3, 7, 14]
    assert rows[0].due_at <= utcnow()
    assert rows[0].due_at >= before
    assert {r.to_address for r in rows} == {"jenny@example.com"}
    assert [r.data["final"] for r in rows] == [False, False, False, True]
    assert {r.dedupe_key for r in rows} == {f"case:{case.id}:dunning_{n}" for n in range(1, 5)}


def test_the_merchant_chooses_the_days(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    result = app.test_cli_runner().invoke(args=["merchant", "dunning-days", "live", "5", "0"])
    assert result.exit_code == 0
    assert "days 0, 5" in result.output
    post(client, event("invoice.payment_failed", invoice()))
    rows = emails_of(app)
    assert [r.kind for r in rows] == ["dunning_1", "dunning_2"]
    assert round((rows[1].due_at - rows[0].due_at) / timedelta(days=1)) == 5
    bad = app.test_cli_runner().invoke(args=["merchant", "dunning-days", "live", "99"])
    assert bad.exit_code != 0
    assert "between 0 and 60" in bad.output


def test_first_email_goes_out_in_one_pass_and_paid_stops_the_rest(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink
) -> None:
    post(client, event("invoice.payment_failed", invoice()))
    first = drain(app)
    assert first.sent == 1
    [message] = smtp.messages
    assert message["To"] == "jenny@example.com"
    assert message["Subject"] == "Your payment to Live Co didn't go through"
    fake_stripe.invoices[INVOICE_ID] = paid_invoice()
    paid = post(client, event("invoice.paid", paid_invoice()))
    assert paid.outcome.endswith("recovered"), paid
    [case] = cases(app)
    assert (case.status, case.amount_recovered, case.close_reason) == (
        "recovered",
        2900,
        "invoice paid",
    )
    assert [r.status for r in emails_of(app)] == ["sent", "canceled", "canceled", "canceled"]
    make_due(app)
    assert drain(app).sent == 0
    assert len(smtp.messages) == 1  # nothing more was mailed
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        assert recovery_cases.summary(live) == {
            "cases": {"payment_failed": {"recovered": 1}},
            "recovered": {"eur": 2900},
        }


def test_subscription_deleted_closes_the_case_as_lost(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    post(client, event("invoice.payment_failed", invoice()))
    fake_stripe.subscriptions[ss.SUB_ID]["status"] = "canceled"
    post(client, event("customer.subscription.deleted", ss.subscription(status="canceled")))
    [case] = cases(app)
    assert (case.status, case.close_reason) == ("lost", "subscription ended")
    assert {r.status for r in emails_of(app)} == {"canceled"}


def test_a_voided_invoice_closes_the_case_as_lost(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    post(client, event("invoice.payment_failed", invoice()))
    fake_stripe.invoices[INVOICE_ID] = invoice(status="void")
    post(client, event("invoice.voided", invoice(status="void")))
    assert [(c.status, c.close_reason) for c in cases(app)] == [("lost", "invoice void")]


def test_a_new_subscriptions_first_payment_is_not_chased(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID]["status"] = "incomplete"
    response = post(client, event("invoice.payment_failed", invoice()))
    assert "still signing up" in response.outcome
    assert cases(app) == []


def test_preview_merchants_act_on_the_events_own_object(
    app: Flask, client: FlaskClient, stripe_stub: Any
) -> None:
    post(client, event("invoice.payment_failed", invoice()), slug="acme")
    [case] = cases(app)
    assert case.status == "open"
    assert len(emails_of(app)) == 4
    assert stripe_stub.requests == []  # no key, no Stripe


def test_the_email_locale_follows_the_customers_stripe_locales(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink
) -> None:
    fake_stripe.customers[ss.CUSTOMER_ID]["preferred_locales"] = ["fr-FR", "en"]
    post(client, event("invoice.payment_failed", invoice()))
    assert {r.locale for r in emails_of(app)} == {"fr"}
    drain(app)
    [message] = smtp.messages
    assert message["Subject"] == "Votre paiement à Live Co n'a pas abouti"
    assert "Montant dû\xa0: 29,00\xa0€" in body_of(message, "plain")
    card_page = client.get(link_in(message, "/card/")).get_data(as_text=True)
    assert "Mettez à jour vos informations de paiement" in card_page  # the page follows
    fake_stripe.customers[ss.CUSTOMER_ID]["preferred_locales"] = ["ja"]
    fake_stripe.invoices["in_other"] = invoice(id="in_other")
    post(client, event("invoice.payment_failed", invoice(id="in_other")))
    assert emails_of(app)[-1].locale == "en"  # not spoken: the merchant's default


def test_no_known_address_is_visible_not_silent(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    fake_stripe.invoices[INVOICE_ID] = invoice(customer_email=None)
    fake_stripe.customers[ss.CUSTOMER_ID]["email"] = None
    fake_stripe.subscriptions[ss.SUB_ID]["customer"]["email"] = None
    post(client, event("invoice.payment_failed", invoice(customer_email=None)))
    rows = emails_of(app)
    assert {(r.status, r.last_error) for r in rows} == {
        ("skipped", "no email address known for this customer")
    }


# ---- cancel intent ---------------------------------------------------------------------------


def scheduled(**overrides: Any) -> dict[str, Any]:
    english = ss.customer(preferred_locales=["en"])
    return ss.subscription(
        cancel_at_period_end=True, cancel_at=ss.PERIOD_END, customer=english, **overrides
    )


def cancel_event() -> dict[str, Any]:
    return event(
        "customer.subscription.updated",
        scheduled(),
        data={
            "object": scheduled(),
            "previous_attributes": {"cancel_at_period_end": False, "cancel_at": None},
        },
    )


def test_a_cancel_made_elsewhere_gets_one_save_email(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID] = scheduled()
    first = post(client, cancel_event())
    again = post(client, cancel_event())  # another event about the same cancellation
    assert first.outcome.endswith("save email queued")
    assert again.outcome.endswith("already open")
    [case] = cases(app)
    assert (case.kind, case.ref) == ("cancel_intent", f"{ss.SUB_ID}:{ss.PERIOD_END}")
    [row] = emails_of(app)
    assert (row.kind, row.to_address, row.data) == (
        "save",
        "jenny@example.com",
        {"ends_at": ss.PERIOD_END},
    )


def test_unrelated_updates_send_nothing(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID] = scheduled()
    body = event(
        "customer.subscription.updated",
        scheduled(),
        data={"object": scheduled(), "previous_attributes": {"metadata": {"plan": "old"}}},
    )
    assert post(client, body).outcome == "no change to the cancellation"
    assert cases(app) == []
    assert stripe_stub.requests == []


def test_a_cancel_undone_before_the_event_arrived_sends_nothing(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    """The event says 'scheduled'; Stripe says it no longer is."""
    response = post(client, cancel_event())
    assert response.outcome == "not scheduled to cancel; 0 case(s) kept"
    assert cases(app) == []
    assert emails_of(app) == []


def test_our_own_cancel_sends_no_save_email(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, start: Any
) -> None:
    """The customer already saw the offers in the cancel flow."""
    fake_stripe.subscriptions[ss.SUB_ID] = ss.subscription()
    url = start(
        "live", customer=ss.CUSTOMER_ID, subscription=ss.SUB_ID
    )  # opens a live cancel session
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    with app.app_context():
        [write] = db.session.scalars(sa.select(StripeWrite)).all()
        assert (write.operation, write.status) == ("cancel_at_period_end", "succeeded")
    response = post(client, cancel_event())
    assert response.outcome == "scheduled by a cancelpage session: no save email"
    assert cases(app) == []
    assert [row.kind for row in emails_of(app)] == ["receipt_canceled"]  # the flow's own


def test_an_old_own_cancel_does_not_hide_a_new_one(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID] = scheduled()
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        session = CancelSession(
            merchant=live,
            link_digest="a" * 64,
            capability_digest="b" * 64,
            customer_id=ss.CUSTOMER_ID,
            subscription_id=ss.SUB_ID,
            snapshot={},
        )
        db.session.add(session)
        db.session.flush()
        db.session.add(
            StripeWrite(
                merchant_id=live.id,
                session_id=session.id,
                idempotency_key="old-cancel",
                operation="cancel_at_period_end",
                status="succeeded",
                created_at=utcnow() - timedelta(days=30),
            )
        )
        db.session.commit()
    assert post(client, cancel_event()).outcome.endswith("save email queued")


def test_the_save_link_lets_the_customer_keep_the_subscription(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink, stripe_stub: Any
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID] = scheduled()
    post(client, cancel_event())
    assert drain(app).sent == 1
    [message] = smtp.messages
    assert message["Subject"] == "Your Live Co subscription is set to end"
    assert "Your subscription ends on January 1, 2026." in body_of(message, "plain")
    link = link_in(message, "/c/")
    opened = client.get(link)
    assert opened.status_code == 303
    page = client.get(opened.headers["Location"]).get_data(as_text=True)
    assert "Your subscription is already set to end on January 1, 2026." in page
    assert 'name="reason"' in page  # the offers are one answer away
    writes_before = len(stripe_stub.writes())
    kept = client.post(opened.headers["Location"] + "/keep")
    assert kept.status_code == 303
    [undo] = stripe_stub.writes()[writes_before:]
    assert (undo.path, undo.params["cancel_at_period_end"]) == (
        f"/v1/subscriptions/{ss.SUB_ID}",
        "false",
    )
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        assert (session.purpose, session.outcome) == ("save", "kept")
    # Stripe then announces the undone cancel: the case ends as kept.
    body = event(
        "customer.subscription.updated",
        ss.subscription(),
        data={"object": ss.subscription(), "previous_attributes": {"cancel_at_period_end": True}},
    )
    assert post(client, body).outcome == "not scheduled to cancel; 1 case(s) kept"
    assert [(c.status, c.close_reason) for c in cases(app)] == [("kept", "cancel undone")]


def test_a_save_link_is_not_a_card_link(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID] = scheduled()
    post(client, cancel_event())
    drain(app)
    token = link_in(smtp.messages[0], "/c/").removeprefix("/c/")
    assert client.get(f"/card/{token}").status_code == 404
    assert client.get(f"/unsubscribe/{token}").status_code == 404


# ---- expiring cards --------------------------------------------------------------------------


def test_source_expiring_queues_one_pre_expiry_email(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    first = post(client, event("customer.source.expiring", card()))
    again = post(client, event("customer.source.expiring", card()))
    assert (first.outcome, again.outcome) == (
        "card email queued",
        "card email exists",
    )
    [case] = cases(app)
    assert (case.kind, case.ref, case.subscription_id) == (
        "card_expiring",
        f"{CARD_ID}:2030-08",
        ss.SUB_ID,
    )
    [row] = emails_of(app)
    assert row.data == {"brand": "Visa", "last4": "4242", "exp_month": 8, "exp_year": 2030}


def test_source_expiring_for_a_customer_without_subscription_sends_nothing(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe
) -> None:
    fake_stripe.subscriptions[ss.SUB_ID]["status"] = "canceled"
    response = post(client, event("customer.source.expiring", card()))
    assert response.outcome == "no running subscription"
    assert emails_of(app) == []


def test_card_email_renders_brand_and_expiry(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink
) -> None:
    post(client, event("customer.source.expiring", card()))
    drain(app)
    [message] = smtp.messages
    assert message["Subject"] == "Your card ending in 4242 expires soon"
    text = body_of(message, "plain")
    assert "Visa •••• 4242, expires August 2030" in text
    assert link_in(message, "/card/")


def listed(subscriptions: list[dict[str, Any]], *, has_more: bool) -> dict[str, Any]:
    return {
        "object": "list",
        "url": "/v1/subscriptions",
        "has_more": has_more,
        "data": subscriptions,
    }


def test_cards_scan_queues_cards_expiring_next_month(
    app: Flask, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    today = datetime.now(UTC).date()
    soon = recovery_cases.next_month(today)
    customer_default = ss.customer(
        invoice_settings={"default_payment_method": payment_method("pm_cust0002", exp=soon)}
    )
    pages = [
        listed(
            [
                ss.subscription(
                    id="sub_a", default_payment_method=payment_method("pm_subs0001", exp=soon)
                ),
                ss.subscription(id="sub_b", default_payment_method=payment_method("pm_late0003")),
            ],
            has_more=True,
        ),
        listed(
            [
                ss.subscription(id="sub_c", default_payment_method=None, customer=customer_default),
                ss.subscription(
                    id="sub_d", default_payment_method=payment_method("pm_subs0001", exp=soon)
                ),
            ],
            has_more=False,
        ),
    ]

    def respond(req: Any) -> tuple[int, dict[str, Any]]:
        return 200, pages[1 if "starting_after" in req.params else 0]

    stripe_stub.responder = respond
    result = app.test_cli_runner().invoke(args=["cards", "scan", "live"])
    assert result.exit_code == 0, result.output
    assert "Scanning active subscriptions" in result.output
    assert (
        f"4 subscriptions with a card; 3 expire in {soon[0]}-{soon[1]:02d}; 2 emails queued."
        in (result.output)
    )
    first, second = stripe_stub.requests
    assert first.params == {
        "status": "active",
        "limit": "100",
        "expand[0]": "data.default_payment_method",
        "expand[1]": "data.customer.invoice_settings.default_payment_method",
    }
    assert second.params["starting_after"] == "sub_b"
    rows = emails_of(app)
    assert sorted(r.data["last4"] for r in rows) == ["0001", "0002"]  # one per card
    again = app.test_cli_runner().invoke(args=["cards", "scan", "live"])
    assert "0 emails queued" in again.output
    assert len(emails_of(app)) == 2


def test_the_scan_and_the_event_share_one_email_per_card_and_month(app: Flask) -> None:
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        today = date(2026, 7, 20)
        card_on_file = CardOnFile("card_x", ss.CUSTOMER_ID, ss.SUB_ID, "visa", "1111", 8, 2026)
        list(recovery_cases.scan_cards(live, [card_on_file], today))
        assert recovery_cases.queue_card_expiring(live, card_on_file) is False
        renewed = CardOnFile("card_x", ss.CUSTOMER_ID, ss.SUB_ID, "visa", "1111", 8, 2029)
        assert (
            recovery_cases.queue_card_expiring(live, renewed) is True
        )  # a new expiry is a new email


def test_cards_scan_needs_a_stripe_key(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["cards", "scan", "acme"])
    assert result.exit_code != 0
    assert "preview mode" in result.output
