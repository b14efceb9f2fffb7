"""Email settings in the dashboard: subject and text per email and language, the sandboxed
preview, "send me a test", dunning days, the outbox with re-queueing, the recovery summary, and
the webhook endpoint on the Stripe page."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import HX, add_user, other_app, post, sign_in, text
from support.mail_support import SMTPSink, body_of, free_port

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import EmailCopy, OutboxEmail, RecoveryCase, utcnow
from cancelpage.recovery import emails, outbox

USER = "owner@acme.example"
EDIT = "/admin/emails/copy/dunning_1"


@pytest.fixture
def token(app: Flask, client: FlaskClient, merchant: Any) -> str:
    add_user(app, "acme", USER)
    return sign_in(client, USER)


def copies(app: Flask) -> list[tuple[str, str | None, str | None, str | None]]:
    with app.app_context():
        rows = db.session.scalars(sa.select(EmailCopy).order_by(EmailCopy.id))
        return [(r.kind, r.locale, r.subject, r.body) for r in rows]


def outbox_rows(app: Flask) -> list[OutboxEmail]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id)))
        db.session.expunge_all()
        return rows


# ---- the list of emails ------------------------------------------------------------------------


def test_the_nav_leads_to_every_email_with_its_subject_per_language(
    app: Flask, client: FlaskClient, token: str
) -> None:
    overview = text(client.get("/admin/"))
    assert '<a href="/admin/emails">Emails</a>' in overview
    page = text(client.get("/admin/emails"))
    assert '<a href="/admin/emails" aria-current="page">Emails</a>' in page
    for label, subject in [
        ("Failed payment: first email (day 0)", "Your payment to Acme &lt;Analytics&gt;"),
        ("Failed payment: reminder 1 (day 3)", "Reminder: your Acme &lt;Analytics&gt; payment"),
        ("Failed payment: reminder 2 (day 7)", "Reminder: your Acme"),
        ("Failed payment: last reminder (day 14)", "Last reminder: your Acme"),
        ("Card about to expire", "Your card ending in 4242 expires soon"),
        ("Cancel scheduled outside the cancel page", "Your Acme &lt;Analytics&gt; subscription"),
    ]:
        assert re.search(f"<td>{re.escape(label)}</td> <td>{re.escape(subject)}", page), label
    assert "English (default)" in page
    assert "your text" not in page
    german = text(client.get("/admin/emails?locale=de"))
    assert "Ihre Zahlung an Acme &lt;Analytics&gt; ist fehlgeschlagen" in german
    assert 'href="/admin/emails/copy/save?locale=de"' in german
    assert "Your payment to" not in german


def test_an_unknown_email_is_not_found(client: FlaskClient, token: str) -> None:
    assert client.get("/admin/emails/copy/dunning_9").status_code == 404
    response = post(client, "/admin/emails/copy/nope", token, {"subject": "x"})
    assert response.status_code == 404


# ---- subject and text per language -------------------------------------------------------------


def test_saving_german_text_keeps_english_and_shows_in_the_german_preview(
    app: Flask, client: FlaskClient, token: str
) -> None:
    form = {"locale": "de", "subject": "Zahlung an {merchant} offen", "body": "Bitte {amount}."}
    response = post(client, EDIT, token, form)
    assert response.status_code == 303
    assert response.headers["Location"] == f"{EDIT}?locale=de"
    assert copies(app) == [("dunning_1", "de", "Zahlung an {merchant} offen", "Bitte {amount}.")]
    page = text(client.get(response.headers["Location"]))
    assert "Saved. New emails use this text." in page
    assert 'value="Zahlung an {merchant} offen"' in page
    assert '<strong>Subject:</strong> <span id="preview-subject" lang="de">Zahlung an Acme' in page
    assert "Bitte 29,00 $." in page  # the text version, with German money
    english = text(client.get(EDIT))
    assert "Your payment to Acme &lt;Analytics&gt; didn&#39;t go through" in english
    assert 'value=""' in english  # nothing of the merchant's own in English
    listing = text(client.get("/admin/emails?locale=de"))
    assert 'Zahlung an Acme &lt;Analytics&gt; offen <span class="badge">your text</span>' in listing


def test_the_default_language_is_stored_as_the_fallback_for_all(
    app: Flask, client: FlaskClient, token: str
) -> None:
    post(client, EDIT, token, {"locale": "en", "subject": "Card trouble at {merchant}"})
    assert copies(app) == [("dunning_1", None, "Card trouble at {merchant}", None)]
    page = text(client.get(f"{EDIT}?locale=fr"))
    # French customers get the merchant's English subject (no French of theirs), built-in body.
    assert "Card trouble at Acme &lt;Analytics&gt;" in page
    assert "Nous avons tenté d&#39;encaisser 29,00" in page
    assert "Empty fields use your English text if you wrote one" in page


def test_htmx_save_returns_the_editor_with_the_new_preview(
    app: Flask, client: FlaskClient, token: str
) -> None:
    response = post(
        client,
        "/admin/emails/copy/save",
        token,
        {"locale": "es", "subject": "¡Espere!"},
        headers=HX,
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert "HX-Request" in response.headers["Vary"]
    assert body.strip().startswith('<div id="editor"')
    assert "Saved. New emails use this text." in body
    assert 'id="preview-subject" lang="es">¡Espere!</span>' in body
    assert 'src="/admin/emails/copy/save/preview?locale=es"' in body


@pytest.mark.parametrize(
    ("form", "field", "message"),
    [
        ({"subject": "Pay {amont}"}, "subject", "Unknown placeholder &#39;amont&#39;"),
        ({"body": "Pay {date}"}, "body", "this email can use {merchant}, {amount}."),
        ({"subject": "x" * 201}, "subject", "The subject is longer than 200 characters."),
        ({"body": "y" * 5001}, "body", "The text is longer than 5000 characters."),
    ],
)
def test_bad_text_is_refused_next_to_its_field(
    app: Flask, client: FlaskClient, token: str, form: dict[str, str], field: str, message: str
) -> None:
    for headers in ({}, HX):
        response = post(client, EDIT, token, {"locale": "de", **form}, headers=headers)
        page = response.get_data(as_text=True)
        assert response.status_code == 200
        assert "Nothing was saved" in page
        error = page.index(f'id="{field}-error"')
        assert message in page[error : error + 300]
        assert f'aria-describedby="{field}-error"' in page
        assert form[field] in page  # what was typed stays in the field
    assert copies(app) == []


def test_reset_forgets_one_language_only(app: Flask, client: FlaskClient, token: str) -> None:
    post(client, EDIT, token, {"locale": "de", "subject": "Deutsch"})
    post(client, EDIT, token, {"locale": "fr", "subject": "Français"})
    response = post(client, f"{EDIT}/reset", token, {"locale": "de"}, headers=HX)
    assert response.status_code == 200
    assert "Back to the default text." in text(response)
    assert "Ihre Zahlung an Acme &lt;Analytics&gt; ist fehlgeschlagen" in text(response)
    assert copies(app) == [("dunning_1", "fr", "Français", None)]
    plain = post(client, f"{EDIT}/reset", token, {"locale": "fr"})
    assert plain.status_code == 303
    assert plain.headers["Location"] == f"{EDIT}?locale=fr"
    assert copies(app) == []


# ---- the preview is never raw HTML in the dashboard ---------------------------------------------


def test_the_html_preview_is_sandboxed_on_its_own_route(
    app: Flask, client: FlaskClient, token: str
) -> None:
    hostile = "<script>alert(1)</script><img src=x onerror=alert(2)>"
    post(client, EDIT, token, {"locale": "en", "subject": hostile, "body": hostile})
    page = client.get(EDIT).get_data(as_text=True)
    # The editor page holds no email HTML, only an empty sandboxed frame and escaped text.
    assert 'role="presentation"' not in page
    assert "<script>alert" not in page
    assert re.search(r'<iframe class="email-frame" sandbox src="[^"]+/preview\?locale=en"', page)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    response = client.get(f"{EDIT}/preview?locale=en")
    assert response.status_code == 200
    csp = response.headers["Content-Security-Policy"]
    assert csp.startswith("sandbox;")
    assert "script-src" not in csp
    assert "default-src 'none'" in csp
    assert "frame-ancestors 'self'" in csp
    assert response.headers["X-Frame-Options"] == "SAMEORIGIN"
    html = response.get_data(as_text=True)
    assert 'role="presentation"' in html
    assert "<script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "This is a test email with sample values." in html
    other = client.get("/admin/emails")  # every other page keeps the strict policy
    assert other.headers["Content-Security-Policy"].startswith("default-src 'self'")
    assert other.headers["X-Frame-Options"] == "DENY"


def test_the_preview_follows_the_language(client: FlaskClient, token: str) -> None:
    html = client.get("/admin/emails/copy/card_expiring/preview?locale=es").get_data(as_text=True)
    assert '<html lang="es">' in html
    assert "Su tarjeta terminada en 4242 caduca pronto" in html
    assert "diciembre de 2030" in html


# ---- send me a test ------------------------------------------------------------------------------


def test_send_me_a_test_goes_to_the_signed_in_user_in_the_chosen_language(
    app: Flask, client: FlaskClient, token: str, smtp: SMTPSink
) -> None:
    response = post(client, f"{EDIT}/test", token, {"locale": "de", "to": ""}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert body.strip().startswith('<section id="test-email"')
    assert f"Test sent to {USER}." in body
    [message] = smtp.messages
    assert message["To"] == USER
    assert message["Subject"] == "Ihre Zahlung an Acme <Analytics> ist fehlgeschlagen"
    assert "Dies ist eine Test-E-Mail mit Beispielwerten." in body_of(message, "plain")
    [row] = outbox_rows(app)
    assert (row.status, row.locale, row.kind, row.case_id) == ("sent", "de", "dunning_1", None)


def test_a_plain_test_send_redirects_and_another_address_works(
    app: Flask, client: FlaskClient, token: str, smtp: SMTPSink
) -> None:
    to = "colleague@acme.example"
    response = post(client, "/admin/emails/copy/save/test", token, {"locale": "fr", "to": to})
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/emails/copy/save?locale=fr"
    assert f"Test sent to {to}." in text(client.get(response.headers["Location"]))
    [message] = smtp.messages
    assert message["To"] == to
    assert message["Subject"].startswith("Votre abonnement")


def test_a_bad_address_is_refused_and_nothing_is_queued(
    app: Flask, client: FlaskClient, token: str, smtp: SMTPSink
) -> None:
    response = post(client, f"{EDIT}/test", token, {"to": "not-an-address"})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    error = page.index('id="to-error"')
    assert "is not an email address." in page[error : error + 200]
    assert 'value="not-an-address"' in page
    assert outbox_rows(app) == []
    assert smtp.messages == []


def test_smtp_down_says_so_and_the_test_stays_queued(
    app: Flask, client: FlaskClient, token: str
) -> None:
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_TIMEOUT=2)
    response = post(client, f"{EDIT}/test", token, {}, headers=HX)
    assert response.status_code == 200
    assert "Not sent yet: cannot connect to 127.0.0.1" in text(response)
    assert "It stays in the outbox and is retried." in text(response)
    [row] = outbox_rows(app)
    assert row.status == "pending"
    assert row.to_address == USER


def test_test_sends_are_rate_limited_per_merchant(
    app: Flask, app_config: dict[str, Any], merchant: Any, smtp: SMTPSink
) -> None:
    add_user(app, "acme", USER)
    with other_app(
        app_config,
        TEST_EMAIL_RATE_LIMIT="1 per hour",
        MAIL_SERVER="127.0.0.1",
        MAIL_PORT=smtp.port,
    ) as limited:
        client = limited.test_client()
        token = sign_in(client, USER)
        assert post(client, f"{EDIT}/test", token, {}).status_code == 303
        assert post(client, f"{EDIT}/test", token, {}).status_code == 429
    assert len(smtp.messages) == 1


# ---- dunning days --------------------------------------------------------------------------------


def test_dunning_days_change_the_sequence(app: Flask, client: FlaskClient, token: str) -> None:
    response = post(client, "/admin/emails/days", token, {"days": "5, 0 ,12"}, headers=HX)
    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body
    assert "Dunning emails go out on days 0, 5, 12." in body
    assert "Failed payment: reminder 1 (day 5)" in body
    assert "Failed payment: last reminder (day 12)" in body
    assert "dunning_4" not in body
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        assert acme.dunning_days == [0, 5, 12]
    plain = post(client, "/admin/emails/days", token, {"days": "0, 2"})
    assert plain.status_code == 303
    assert plain.headers["Location"] == "/admin/emails"


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ("0, three", "Use whole numbers separated by commas"),
        ("", "Give 1 to 8 different days between 0 and 60."),
        ("0, 61", "Give 1 to 8 different days between 0 and 60."),
        ("-1", "Use whole numbers separated by commas"),
        (", ".join(map(str, range(9))), "Give 1 to 8 different days"),
    ],
)
def test_bad_days_are_refused_next_to_the_field(
    app: Flask, client: FlaskClient, token: str, days: str, message: str
) -> None:
    response = post(client, "/admin/emails/days", token, {"days": days})
    page = response.get_data(as_text=True)
    assert response.status_code == 200
    error = page.index('id="days-error"')
    assert message in page[error : error + 200]
    assert f'value="{days}"' in page
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        assert acme.dunning_days is None


# ---- the outbox and the recovery summary ---------------------------------------------------------


def queue(app: Flask, status: str, *, slug: str = "acme", recovered: int | None = None) -> int:
    """One dunning email of a case, in the given state; returns the outbox row's id."""
    with app.app_context():
        merchant = by_slug(slug)
        assert merchant is not None
        n = db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCase))
        case = RecoveryCase(
            merchant_id=merchant.id,
            kind="payment_failed",
            ref=f"in_{slug}_{n}",
            customer_id="cus_1",
            amount_due=2900,
            currency="eur",
            status="recovered" if recovered else "open",
            amount_recovered=recovered,
        )
        db.session.add(case)
        db.session.flush()
        row = outbox.queue(
            merchant,
            kind="dunning_1",
            dedupe_key=f"case:{case.id}:dunning_1",
            to_address=f"customer{n}@example.com",
            customer_id="cus_1",
            locale="de",
            data={"amount": 2900, "currency": "eur"},
            case=case,
        )
        assert row is not None
        row.status, row.attempts, row.last_error = status, 12, "550 mailbox unavailable"
        row.due_at = utcnow() - timedelta(hours=1)
        db.session.commit()
        return row.id


def test_the_outbox_lists_emails_and_filters_by_status(
    app: Flask, client: FlaskClient, token: str
) -> None:
    dead, sent = queue(app, "dead"), queue(app, "sent")
    page = text(client.get("/admin/emails/outbox"))
    assert f'id="outbox-{dead}"' in page
    assert f'id="outbox-{sent}"' in page
    assert "customer0@example.com" in page
    assert "550 mailbox unavailable" in page
    assert page.count("Send again</button>") == 1
    only_dead = text(client.get("/admin/emails/outbox?status=dead"))
    assert f'id="outbox-{dead}"' in only_dead
    assert f'id="outbox-{sent}"' not in only_dead
    assert "No emails with status skipped yet." in text(
        client.get("/admin/emails/outbox?status=skipped")
    )


def test_a_dead_email_is_queued_again(app: Flask, client: FlaskClient, token: str) -> None:
    dead, sent = queue(app, "dead"), queue(app, "sent")
    response = post(client, f"/admin/emails/outbox/{dead}/requeue", token, headers=HX)
    body = text(response)
    assert response.status_code == 200
    assert "<html" not in body
    assert f"Email {dead} queued again" in body
    again = post(client, f"/admin/emails/outbox/{sent}/requeue", token)
    assert again.status_code == 200
    assert f"There is no dead email {sent} to send again." in text(again)
    rows = {r.id: r for r in outbox_rows(app)}
    assert (rows[dead].status, rows[dead].attempts) == ("pending", 0)
    assert (rows[sent].status, rows[sent].attempts) == ("sent", 12)
    plain = post(client, f"/admin/emails/outbox/{dead}/requeue", token)
    assert plain.status_code == 200  # pending now: nothing to re-queue, said in place


def test_the_recovery_summary_counts_cases_and_money(
    app: Flask, client: FlaskClient, token: str
) -> None:
    queue(app, "sent", recovered=2900)
    queue(app, "sent", recovered=1000)
    queue(app, "pending")
    page = text(client.get("/admin/emails/outbox"))
    assert "<tr><td>Failed payments</td><td>1</td><td>2</td><td>0</td><td>0</td></tr>" in page
    assert "<td>Expiring cards</td><td>0</td>" in page
    assert "Recovered: <strong>€39.00</strong>." in page


# ---- the Stripe page: where to point the webhook -------------------------------------------------


def test_the_stripe_page_gives_the_webhook_url_from_configuration(
    client: FlaskClient, token: str
) -> None:
    session = client.get_cookie("session")
    assert session is not None
    client.set_cookie("session", session.value, domain="evil.example")
    page = text(client.get("/admin/stripe", base_url="http://evil.example"))
    assert (
        '<code class="reveal" id="webhook-url">http://cancel.test/webhooks/stripe/acme</code>'
        in (page)
    )
    assert "evil.example" not in page
    events = re.search(r'<ul class="plain" id="webhook-events">(.*?)</ul>', page)
    assert events is not None
    assert re.findall(r"<code>([a-z_.]+)</code>", events.group(1)) == [
        "invoice.payment_failed",
        "invoice.paid",
        "invoice.payment_succeeded",
        "invoice.voided",
        "invoice.marked_uncollectible",
        "customer.subscription.deleted",
        "customer.subscription.updated",
        "customer.source.expiring",
        "billing_portal.configuration.updated",
        "payment_method.attached",
        "customer.updated",
        "customer.discount.created",
    ]
    assert "None yet." in page  # no signing secret saved yet


def test_a_signing_secret_entered_in_the_dashboard_verifies_webhooks(
    app: Flask, client: FlaskClient, token: str
) -> None:
    from support.recovery_support import event, invoice
    from support.recovery_support import post as deliver

    secret = "whsec_dashboardsecret0042"
    response = post(client, "/admin/stripe/webhook-secrets", token, {"secret": secret}, headers=HX)
    assert "whsec_…0042" in text(response)
    assert secret not in text(response)
    assert (
        deliver(client, event("invoice.payment_failed", invoice()), slug="acme").status_code == 400
    )
    delivered = deliver(
        client, event("invoice.payment_failed", invoice()), slug="acme", secret=secret
    )
    assert delivered.status_code == 200
    assert "emails scheduled" in delivered.outcome
    with app.app_context():
        acme = by_slug("acme")
        assert acme is not None
        assert acme.webhook_secrets == [secret]
        assert secret not in (acme.webhook_secrets_encrypted or "")
        assert emails.dunning_days(acme) == [0, 3, 7, 14]
