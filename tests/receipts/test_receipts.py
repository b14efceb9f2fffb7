"""Receipts: one email per session outcome through the outbox, in the customer's language, with
the facts, to the Stripe customer's address; once under redelivery and worker crashes."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import receipt_support as rs
from support import stripe_support as ss
from support.mail_support import body_of

from cancelpage import receipts
from cancelpage.extensions import db
from cancelpage.i18n.formats import format_day
from cancelpage.merchants.store import by_slug
from cancelpage.models import CancelSession, OutboxEmail, SessionEvent, utcnow
from cancelpage.recovery import outbox

SUBJECTS = {
    "en": {
        "receipt_canceled": "Your Live Co subscription is canceled",
        "receipt_canceled_now": "Your Live Co subscription has ended",
        "receipt_discount": "Your Live Co discount is applied",
        "receipt_paused": "Your Live Co subscription is paused",
        "receipt_free_period": "Your free period at Live Co has started",
        "receipt_switched": "Your Live Co plan has changed",
        "receipt_kept": "Your Live Co subscription continues",
    },
    "de": {
        "receipt_canceled": "Ihr Abonnement bei Live Co ist gekündigt",
        "receipt_canceled_now": "Ihr Abonnement bei Live Co ist beendet",
        "receipt_discount": "Ihr Rabatt bei Live Co ist aktiv",
        "receipt_paused": "Ihr Abonnement bei Live Co ist pausiert",
        "receipt_free_period": "Ihr kostenloser Zeitraum bei Live Co hat begonnen",
        "receipt_switched": "Ihr Tarif bei Live Co wurde geändert",
        "receipt_kept": "Ihr Abonnement bei Live Co läuft weiter",
    },
}
# A fact each receipt states, in each language (amounts in the subscription's currency, EUR).
FACTS = {
    "en": {
        "receipt_canceled": "Pro plan, €29.00 a month, ends on {end} Ends on: {end}",
        "receipt_canceled_now": "Ended on: ",
        "receipt_discount": "€29.00 → €21.75 a month for the next 3 months, then €29.00.",
        "receipt_paused": "No charges until",
        "receipt_free_period": "Free until: ",
        "receipt_switched": "Basic at €9.00 a month instead of €29.00 a month.",
        "receipt_kept": "What changes: Your cancellation is withdrawn.",
    },
    "de": {
        "receipt_canceled": "Endet am: {end}",
        "receipt_canceled_now": "Beendet am: ",
        "receipt_discount": "29,00 € → 21,75 € pro Monat für die nächsten 3 Monate, danach",
        "receipt_paused": "Keine Zahlungen bis",
        "receipt_free_period": "Kostenlos bis: ",
        "receipt_switched": "Basic für 9,00 € pro Monat statt 29,00 € pro Monat.",
        "receipt_kept": "Was sich ändert: Ihre Kündigung ist widerrufen.",
    },
}
RECEIVED = {"en": "Received on: ", "de": "Eingegangen am: "}


@pytest.fixture
def live(app: Flask, live_merchant: Any, stripe_stub: Any) -> Any:
    rs.publish_with_switch(app)
    return stripe_stub


def drain(app: Flask) -> outbox.DrainResult:
    with app.app_context():
        return outbox.drain()


def rows(app: Flask) -> list[OutboxEmail]:
    with app.app_context():
        found = list(db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)))
        db.session.expunge_all()
        return found


@pytest.mark.parametrize("locale", ["en", "de"])
def test_every_outcome_gets_one_receipt_in_the_customers_language(
    app: Flask,
    client: FlaskClient,
    live: Any,
    make_link: Any,
    smtp: Any,
    locale: str,
) -> None:
    for outcome in rs.OUTCOMES:
        rs.walk(app, client, live, make_link, outcome, locale=locale)
    queued = rows(app)
    assert [r.kind for r in queued] == list(rs.OUTCOMES)
    assert {r.to_address for r in queued} == {rs.EMAIL}
    assert {r.locale for r in queued} == {locale}
    assert drain(app).sent == len(rs.OUTCOMES)
    messages = smtp.wait_for(len(rs.OUTCOMES))
    assert len(messages) == len(rs.OUTCOMES)
    end = format_day(rs.PERIOD_END, locale, None)
    for outcome, message in zip(rs.OUTCOMES, messages, strict=True):
        text = " ".join(body_of(message, "plain").split())
        assert message["To"] == rs.EMAIL
        assert message["Subject"] == SUBJECTS[locale][outcome]
        assert FACTS[locale][outcome].format(end=end) in text, (outcome, text)
        assert RECEIVED[locale] in text
        assert "UTC" in text  # the declaration's time, with its zone
        page = " ".join(html.unescape(body_of(message, "html")).split())
        assert FACTS[locale][outcome].format(end=end).split(": ")[-1] in page, outcome


def keep_link_of_a_scheduled_cancel(
    app: Flask, client: FlaskClient, live: Any, make_link: Any, smtp: Any
) -> str:
    """Cancel at period end, send the receipt, and return the keep link it carries."""
    rs.walk(app, client, live, make_link, "receipt_canceled")
    drain(app)
    (message,) = smtp.wait_for(1)
    (keep,) = [u for u in rs.links_in(body_of(message, "plain")) if "/k/" in u]
    return keep


def test_a_scheduled_cancel_receipt_carries_a_keep_link_to_the_done_page(
    app: Flask, client: FlaskClient, live: Any, make_link: Any, smtp: Any
) -> None:
    keep = keep_link_of_a_scheduled_cancel(app, client, live, make_link, smtp)
    path = keep.removeprefix("http://cancel.test")
    opened = client.get(path)
    assert opened.status_code == 303
    done = client.get(opened.headers["Location"])
    assert done.status_code == 200
    assert "Your subscription is canceled" in done.get_data(as_text=True)
    # a tampered link opens nothing
    assert client.get(path[:-2] + ("AA" if not path.endswith("AA") else "BB")).status_code == 404


def test_a_keep_link_undoes_the_cancel_after_the_cancel_link_has_expired(
    app: Flask, client: FlaskClient, live: Any, make_link: Any, smtp: Any
) -> None:
    keep = keep_link_of_a_scheduled_cancel(app, client, live, make_link, smtp)
    with app.app_context():  # the cancel link's own life is over; the period is not
        db.session.execute(
            sa.update(CancelSession).values(link_expires_at=utcnow() - timedelta(days=2))
        )
        db.session.commit()
    done_url = client.get(keep.removeprefix("http://cancel.test")).headers["Location"]
    assert "Keep my subscription" in client.get(done_url).get_data(as_text=True)
    kept = client.post(f"{done_url}/keep")
    assert kept.status_code in (200, 303), kept.get_data(as_text=True)[-3000:]
    with app.app_context():
        assert db.session.scalars(sa.select(CancelSession)).one().outcome == "kept"


def test_a_keep_link_stops_working_when_the_period_has_ended(
    app: Flask, client: FlaskClient, live: Any, make_link: Any, smtp: Any, monkeypatch: Any
) -> None:
    keep = keep_link_of_a_scheduled_cancel(app, client, live, make_link, smtp)
    later = utcnow() + timedelta(days=21)
    monkeypatch.setattr("cancelpage.customer.keep_links.utcnow", lambda: later)
    assert client.get(keep.removeprefix("http://cancel.test")).status_code == 404


def test_once_per_outcome_under_redelivery_and_a_second_tab(
    app: Flask, client: FlaskClient, live: Any, make_link: Any, smtp: Any, hooked: None
) -> None:
    url = rs.walk(app, client, live, make_link, "receipt_canceled")
    client.post(f"{url}/confirm", data={"action": "cancel"})  # the other tab, late
    event = ss.event("customer.subscription.updated", live.responder.sub)
    from support import recovery_support

    for _ in range(3):  # Stripe redelivers the same event
        assert recovery_support.post(client, event).status_code == 200
    drain(app)
    drain(app)
    assert [r.kind for r in rows(app)] == ["receipt_canceled"]
    assert len(smtp.wait_for(2, timeout=1)) == 1


def test_once_when_a_worker_dies_after_claiming(
    app: Flask, client: FlaskClient, live: Any, make_link: Any, smtp: Any
) -> None:
    rs.walk(app, client, live, make_link, "receipt_discount")
    with app.app_context():  # a worker claims the row, then dies before sending
        assert outbox.claim(10, utcnow()) is not None
        db.session.execute(
            sa.update(OutboxEmail).values(claimed_until=utcnow() - timedelta(seconds=1))
        )
        db.session.commit()
    assert drain(app).sent == 1
    assert drain(app).sent == 0
    assert len(smtp.wait_for(2, timeout=1)) == 1
    (row,) = rows(app)
    assert row.status == "sent"
    with app.app_context():
        kinds = list(db.session.scalars(sa.select(SessionEvent.kind).order_by(SessionEvent.id)))
    assert kinds[-2:] == ["receipt_queued", "emailed"] or kinds.count("emailed") == 1


def test_a_suppressed_address_is_honoured(
    app: Flask, client: FlaskClient, live: Any, make_link: Any, smtp: Any
) -> None:
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        outbox.suppress(merchant.id, rs.EMAIL)
        db.session.commit()
    rs.walk(app, client, live, make_link, "receipt_canceled")
    (row,) = rows(app)
    assert row.status == "suppressed"
    assert drain(app).sent == 0
    assert smtp.wait_for(1, timeout=0.5) == []


def test_a_merchant_switches_receipts_off_except_where_a_profile_requires_them(
    app: Flask, client: FlaskClient, live: Any, make_link: Any
) -> None:
    with app.app_context():
        merchant = by_slug("live")
        assert merchant is not None
        merchant.receipts_enabled = False
        db.session.commit()
    rs.walk(app, client, live, make_link, "receipt_canceled", country="US")
    rs.walk(app, client, live, make_link, "receipt_discount", country="DE")
    assert rows(app) == []
    rs.walk(app, client, live, make_link, "receipt_canceled", country="DE")
    assert [r.kind for r in rows(app)] == ["receipt_canceled"]
    with app.app_context():
        profiles = list(db.session.scalars(sa.select(CancelSession.compliance_profile)))
    assert profiles == ["standard", "de", "de"]


def test_no_address_leaves_a_visible_skipped_row(
    app: Flask, client: FlaskClient, live: Any, make_link: Any
) -> None:
    rs.walk(app, client, live, make_link, "receipt_canceled", email=None)
    (row,) = rows(app)
    assert row.status == "skipped"


def test_the_email_is_stored_encrypted_and_never_in_the_snapshot_or_trail(
    app: Flask, client: FlaskClient, live: Any, make_link: Any
) -> None:
    rs.walk(app, client, live, make_link, "receipt_canceled")
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        assert rs.EMAIL not in str(session.snapshot)
        assert rs.EMAIL not in (session.contact_encrypted or "")
        assert all(rs.EMAIL not in str(e.data) for e in session.events)
        assert receipts.locale_of(session) == "en"
