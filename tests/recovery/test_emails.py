"""Merchants' own email copy, test emails and rendering; and the new Stripe reads' wire format."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from support import stripe_support as ss
from support.mail_support import SMTPSink, body_of
from support.recovery_support import card, invoice, payment_method

from cancelpage import receipts
from cancelpage.billing import CardOnFile, card_from_source
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import Merchant
from cancelpage.recovery import emails


def acme(app: Flask) -> Merchant:
    found = by_slug("acme")
    assert found is not None
    return found


# ---- merchants' copy -------------------------------------------------------------------------


def test_own_copy_is_filled_in_and_always_escaped(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    with app.app_context():
        emails.set_copy(
            acme(app),
            "dunning_1",
            "Heads up:\n{amount} is due",
            "<b>Hi!</b> {merchant} could not collect {amount}.\n\nSee <script>alert(1)</script>",
        )
        db.session.commit()
    result = app.test_cli_runner().invoke(args=["email", "test", "acme", "me@acme.example"])
    assert result.exit_code == 0, result.output
    [message] = smtp.messages
    assert message["Subject"] == "Heads up: $29.00 is due"
    html, text = body_of(message, "html"), body_of(message, "plain")
    assert "&lt;b&gt;Hi!&lt;/b&gt; Acme &lt;Analytics&gt; could not collect $29.00." in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<script>" not in html
    assert "<b>Hi!</b> Acme <Analytics> could not collect $29.00." in text
    assert "This is a test email with sample values." in text
    assert "http://cancel.test/email/test-link" in text


@pytest.mark.parametrize(
    ("kind", "subject", "body", "error"),
    [
        ("dunning_1", "Pay {amont}", None, "unknown placeholder 'amont'"),
        ("save", None, "Pay {amount}", "unknown placeholder 'amount'"),
        ("dunning_9", "Hello", None, "unknown email 'dunning_9'"),
        ("save", "x" * 201, None, "longer than 200"),
    ],
)
def test_bad_copy_is_refused_with_a_reason(
    app: Flask, merchant: Merchant, kind: str, subject: Any, body: Any, error: str
) -> None:
    with app.app_context(), pytest.raises(emails.CopyError, match=error):
        emails.set_copy(acme(app), kind, subject, body)


def test_copy_cli_shows_changes_and_resets(app: Flask, merchant: Merchant) -> None:
    runner = app.test_cli_runner()
    changed = runner.invoke(
        args=["email", "copy", "acme", "save", "--subject", "Wait, {merchant}!"]
    )
    assert changed.exit_code == 0
    assert "Subject: Wait, Acme <Analytics>!" in changed.output
    assert "We're sorry to see you go." in changed.output  # body still the default
    reset = runner.invoke(args=["email", "copy", "acme", "save", "--reset"])
    assert "Subject: Your Acme <Analytics> subscription is set to end" in reset.output
    bad = runner.invoke(args=["email", "copy", "acme", "save", "--body", "{amount}"])
    assert bad.exit_code != 0
    assert "this email can use {merchant}, {date}" in bad.output


def test_every_kind_renders_in_both_formats(app: Flask, merchant: Merchant) -> None:
    with app.app_context(), app.test_request_context():
        kinds = emails.email_kinds(acme(app))
        assert kinds == [
            "dunning_1",
            "dunning_2",
            "dunning_3",
            "dunning_4",
            "card_expiring",
            "save",
            "winback",
            *receipts.KINDS,
        ]
        subjects = {kind: emails.preview(acme(app), kind).subject for kind in kinds}
        rendered = emails.preview(acme(app), "dunning_4")
    assert subjects["dunning_2"] == "Reminder: your Acme <Analytics> payment is still outstanding"
    assert subjects["dunning_4"].startswith("Last reminder")
    assert subjects["card_expiring"] == "Your card ending in 4242 expires soon"
    assert "Keep my subscription" in rendered.html
    assert "Keep my subscription" in rendered.text


def test_the_test_cli_refuses_unknown_kinds_and_addresses(app: Flask, merchant: Merchant) -> None:
    runner = app.test_cli_runner()
    assert (
        "unknown email"
        in runner.invoke(args=["email", "test", "acme", "me@acme.example", "--kind", "nope"]).output
    )
    assert "not an email address" in runner.invoke(args=["email", "test", "acme", "me"]).output


def test_the_test_cli_says_when_the_server_is_down(app: Flask, merchant: Merchant) -> None:
    from support.mail_support import free_port

    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port())
    result = app.test_cli_runner().invoke(args=["email", "test", "acme", "me@acme.example"])
    assert result.exit_code != 0
    assert "not sent (pending): cannot connect" in result.output


def test_webhook_secret_cli(app: Flask, merchant: Merchant) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["merchant", "webhook-secret", "acme", "whsec_first1234"])
    assert "http://cancel.test/webhooks/stripe/acme" in first.output
    assert "…1234" in first.output
    runner.invoke(args=["merchant", "webhook-secret", "acme", "whsec_second", "--keep-previous"])
    with app.app_context():
        assert acme(app).webhook_secrets == ["whsec_first1234", "whsec_second"]
    runner.invoke(args=["merchant", "webhook-secret", "acme", "whsec_third"])
    with app.app_context():
        assert acme(app).webhook_secrets == ["whsec_third"]
    bad = runner.invoke(args=["merchant", "webhook-secret", "acme", "sk_test_oops"])
    assert bad.exit_code != 0


# ---- Stripe reads (wire format) --------------------------------------------------------------


def test_read_invoice_wire_format_and_parsing() -> None:
    gateway, recorder = ss.recording_gateway(
        lambda req: (200, invoice(customer=ss.customer(preferred_locales=["de"])))
    )
    view = gateway.read_invoice("in_1")
    [request] = recorder.requests
    assert (request.method, request.path, request.params) == (
        "get",
        "/v1/invoices/in_1",
        {"expand[0]": "customer"},
    )
    assert request.idempotency_key is None
    assert (view.subscription, view.amount_remaining, view.customer) == (
        ss.SUB_ID,
        2900,
        ss.CUSTOMER_ID,
    )
    assert (view.customer_email, view.preferred_locales) == ("jenny@example.com", ("de",))


def test_read_invoice_accepts_the_older_top_level_subscription() -> None:
    gateway, _ = ss.recording_gateway(
        lambda req: (200, invoice(parent=None, subscription="sub_old", amount_remaining=None))
    )
    view = gateway.read_invoice("in_1")
    assert (view.subscription, view.amount_remaining) == ("sub_old", 2900)


def test_read_subscription_status_expands_only_the_customer() -> None:
    gateway, recorder = ss.recording_gateway()
    view = gateway.read_subscription_status(ss.SUB_ID)
    assert recorder.requests[0].params == {"expand[0]": "customer"}
    assert (view.status, view.customer_email) == ("active", "jenny@example.com")


def test_read_customer_knows_whether_a_subscription_runs() -> None:
    def respond(req: Any) -> tuple[int, dict[str, Any]]:
        subscriptions = [ss.subscription(id="sub_old", status="canceled"), ss.subscription()]
        return 200, ss.customer(subscriptions={"object": "list", "data": subscriptions})

    gateway, recorder = ss.recording_gateway(respond)
    view = gateway.read_customer(ss.CUSTOMER_ID)
    assert recorder.requests[0].params == {"expand[0]": "subscriptions"}
    assert (view.email, view.live_subscription, view.deleted) == (
        "jenny@example.com",
        ss.SUB_ID,
        False,
    )


def test_cards_on_file_prefers_the_subscriptions_own_default() -> None:
    customer_default = ss.customer(
        invoice_settings={"default_payment_method": payment_method("pm_cust0002")}
    )
    sepa = {**payment_method("pm_sepa0009"), "type": "sepa_debit", "card": None}
    page = {
        "object": "list",
        "url": "/v1/subscriptions",
        "has_more": False,
        "data": [
            ss.subscription(id="sub_a", default_payment_method=payment_method("pm_subs0001")),
            ss.subscription(id="sub_b", default_payment_method=None, customer=customer_default),
            ss.subscription(id="sub_c", default_payment_method=sepa),
        ],
    }
    gateway, _ = ss.recording_gateway(lambda req: (200, page))
    cards = list(gateway.cards_on_file())
    assert [(c.subscription, c.payment_method, c.last4) for c in cards] == [
        ("sub_a", "pm_subs0001", "0001"),
        ("sub_b", "pm_cust0002", "0002"),
    ]
    assert cards[0].customer_email == "jenny@example.com"


def test_card_from_source_reads_cards_and_card_sources() -> None:
    assert card_from_source(card()) == CardOnFile(
        "card_1PgaftTestCard0001", ss.CUSTOMER_ID, None, "Visa", "4242", 8, 2030
    )
    source = {
        "id": "src_1",
        "object": "source",
        "type": "card",
        "customer": ss.CUSTOMER_ID,
        "card": {"brand": "MasterCard", "last4": "4444", "exp_month": 1, "exp_year": 2031},
    }
    assert card_from_source(source) == CardOnFile(
        "src_1", ss.CUSTOMER_ID, None, "MasterCard", "4444", 1, 2031
    )
    assert card_from_source({"id": "src_2", "object": "source", "type": "sepa_debit"}) is None
