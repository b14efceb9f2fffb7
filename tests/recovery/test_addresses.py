"""Email addresses follow one rule (email-validator, no DNS): forms refuse what the outbox could
not send, and an address stored before the rule existed fails only its own email."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.mail_support import SMTPSink
from support.recovery_support import INVOICE_ID, FakeStripe, event, invoice, post

from cancelpage import addresses
from cancelpage.extensions import db
from cancelpage.merchants import accounts
from cancelpage.merchants.store import by_slug
from cancelpage.models import OutboxEmail
from cancelpage.recovery import outbox

pytestmark = pytest.mark.usefixtures("hooked")


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        ("help;desk@other.example", "invalid characters before the @-sign: ';'"),
        ("help@desk", "It should have a period"),
        ("ü@other.example", "Internationalized characters before the @-sign"),
        ("help@@other.example", "invalid characters"),
    ],
)
def test_the_rule_refuses_with_a_clear_reason(address: str, reason: str) -> None:
    with pytest.raises(addresses.BadAddress, match=reason.replace("(", r"\(")):
        addresses.checked(address)


def test_the_rule_normalises_what_it_accepts() -> None:
    assert addresses.checked("  Jenny@Example.COM ") == "Jenny@example.com"
    assert addresses.checked("a@bücher.example") == "a@xn--bcher-kva.example"


def test_users_need_a_valid_address(app: Flask, merchant: Any) -> None:
    with app.app_context(), pytest.raises(accounts.AccountError, match="';'"):
        accounts.create_user(by_slug("acme"), "help;desk@other.example", "x" * 12)


def test_a_bad_stored_support_address_fails_no_email(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink
) -> None:
    """Saved before addresses were checked: the email goes, without Reply-To."""
    with app.app_context():
        merchant = by_slug("live")
        merchant.support_email = "help;desk@other.example"
        db.session.commit()
    post(client, event("invoice.payment_failed", invoice()))
    with app.app_context():
        outbox.drain()
        statuses = db.session.scalars(sa.select(OutboxEmail.status)).all()
    assert "sent" in statuses
    assert "dead" not in statuses
    [message] = smtp.messages
    assert message["To"] == "jenny@example.com"
    assert message["Reply-To"] is None
    assert "mailto:" not in message["List-Unsubscribe"]


def test_a_bad_customer_address_is_skipped_with_the_reason(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink
) -> None:
    fake_stripe.invoices[INVOICE_ID]["customer_email"] = "jenny;x@example.com"
    post(client, event("invoice.payment_failed", invoice(customer_email="jenny;x@example.com")))
    with app.app_context():
        outbox.drain()
        rows = db.session.scalars(sa.select(OutboxEmail)).all()
        assert rows
        assert {row.status for row in rows} == {"skipped"}
        assert "not a usable email address: 'jenny;x@example.com'" in (rows[0].last_error or "")
    assert smtp.messages == []
