"""Pages reached from emails: the card-update hand-off and unsubscribing."""

from __future__ import annotations

import re
import time
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.mail_support import SMTPSink
from support.recovery_support import FakeStripe, event, invoice, post

from cancelpage import links
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import EmailSuppression, OutboxEmail, RecoveryCase, StripeWrite, utcnow
from cancelpage.recovery import outbox

pytestmark = pytest.mark.usefixtures("hooked")
HX = {"HX-Request": "true"}


def sign(app: Flask, purpose: str, *, slug: str = "live", ref: str, customer: str) -> str:
    with app.app_context():
        merchant = by_slug(slug)
        assert merchant is not None
        payload = links.LinkPayload(merchant=slug, customer=customer, ref=ref)
        return links.sign(payload, merchant.link_secrets, purpose)


@pytest.fixture
def case_id(app: Flask, client: FlaskClient, fake_stripe: FakeStripe) -> int:
    """A live merchant's open dunning case (a failed payment of €29.00)."""
    post(client, event("invoice.payment_failed", invoice()))
    with app.app_context():
        return db.session.scalars(sa.select(RecoveryCase.id)).one()


def card_token(app: Flask, case_id: int) -> str:
    return sign(app, "card_update", ref=str(case_id), customer=ss.CUSTOMER_ID)


def nonce_of(page: str) -> str:
    match = re.search(r'name="nonce" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def portal_requests(stripe_stub: Any) -> list[Any]:
    return [r for r in stripe_stub.requests if r.path == "/v1/billing_portal/sessions"]


# ---- card update -----------------------------------------------------------------------------


def test_the_card_page_is_branded_and_calls_no_stripe(
    app: Flask, client: FlaskClient, case_id: int, stripe_stub: Any
) -> None:
    before = len(stripe_stub.requests)
    token = card_token(app, case_id)
    page = client.get(f"/card/{token}")
    head = client.head(f"/card/{token}")
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert head.status_code == 200
    assert "Update your payment details" in body
    assert "Your last payment of €29.00 didn't go through." in body
    assert "Live Co" in body
    assert "/brand/live.css" in body
    assert f'action="/card/{token}"' in body
    assert 'method="post"' in body
    assert len(stripe_stub.requests) == before  # prefetching scanners trigger nothing


def test_posting_hands_off_to_the_portal(
    app: Flask, client: FlaskClient, case_id: int, stripe_stub: Any
) -> None:
    token = card_token(app, case_id)
    nonce = nonce_of(client.get(f"/card/{token}").get_data(as_text=True))
    response = client.post(f"/card/{token}", data={"nonce": nonce})
    assert response.status_code == 303
    assert response.headers["Location"] == ss.portal_session()["url"]
    [request] = portal_requests(stripe_stub)
    assert request.method == "post"
    assert request.params == {
        "customer": ss.CUSTOMER_ID,
        "return_url": f"http://cancel.test/card/{token}/return",
        "flow_data[type]": "payment_method_update",
    }
    assert request.idempotency_key
    assert request.idempotency_key.startswith("cancelpage-card-")
    with app.app_context():
        [write] = db.session.scalars(
            sa.select(StripeWrite).where(StripeWrite.operation == "portal_payment_method_update")
        ).all()
        assert (write.status, write.attempts, write.idempotency_key) == (
            "succeeded",
            1,
            request.idempotency_key,
        )


def expire_portal_session(app: Flask, case_id: int) -> None:
    with app.app_context():
        case = db.session.get(RecoveryCase, case_id)
        assert case is not None
        case.portal_expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()


def test_200_posts_on_one_card_link_make_one_portal_session(
    app: Flask, client: FlaskClient, case_id: int, stripe_stub: Any
) -> None:
    token = card_token(app, case_id)
    nonce = nonce_of(client.get(f"/card/{token}").get_data(as_text=True))
    locations = {
        client.post(f"/card/{token}", data={"nonce": nonce}).headers["Location"] for _ in range(200)
    }
    assert locations == {ss.portal_session()["url"]}
    assert len(portal_requests(stripe_stub)) == 1
    with app.app_context():
        case = db.session.get(RecoveryCase, case_id)
        assert case is not None
        assert case.portal_url_encrypted is not None
        assert ss.portal_session()["url"] not in case.portal_url_encrypted  # encrypted at rest


def test_an_expired_portal_session_is_replaced_under_a_fresh_key(
    app: Flask, client: FlaskClient, case_id: int, stripe_stub: Any
) -> None:
    token = card_token(app, case_id)
    nonce = nonce_of(client.get(f"/card/{token}").get_data(as_text=True))
    client.post(f"/card/{token}", data={"nonce": nonce})
    client.post(f"/card/{token}", data={"nonce": nonce})  # reused: no request
    expire_portal_session(app, case_id)
    stale = f"{int(time.time()) - 3600}.oldpageoldpage"
    client.post(f"/card/{token}", data={"nonce": stale})
    expire_portal_session(app, case_id)
    client.post(f"/card/{token}", data={"nonce": stale})
    keys = [r.idempotency_key for r in portal_requests(stripe_stub)]
    assert len(keys) == 3
    assert len(set(keys)) == 3  # each expired one is a fresh session, never an expired one


@pytest.mark.parametrize(
    "nonce", ["²³.abcdefghijkl", "9" * 5000 + ".abcdefghijkl", "١٢٣.abcdefghi"]
)
def test_a_forged_nonce_gets_a_fresh_key_not_an_error(
    app: Flask, client: FlaskClient, case_id: int, stripe_stub: Any, nonce: str
) -> None:
    token = card_token(app, case_id)
    response = client.post(f"/card/{token}", data={"nonce": nonce})
    assert response.status_code == 303
    assert response.headers["Location"] == ss.portal_session()["url"]
    assert len(portal_requests(stripe_stub)) == 1


def test_htmx_gets_an_hx_redirect(
    app: Flask, client: FlaskClient, case_id: int, fake_stripe: FakeStripe
) -> None:
    token = card_token(app, case_id)
    response = client.post(f"/card/{token}", data={"nonce": "x"}, headers=HX)
    assert response.status_code == 200
    assert response.headers["HX-Redirect"] == ss.portal_session()["url"]
    assert response.headers["Vary"] == "HX-Request"


def test_stripe_down_shows_the_page_again_with_a_notice(
    app: Flask, client: FlaskClient, case_id: int, fake_stripe: FakeStripe
) -> None:
    token = card_token(app, case_id)
    fake_stripe.down = True
    response = client.post(f"/card/{token}", data={"nonce": "x"})
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "We couldn't get an answer from the billing system." in body
    assert 'name="nonce"' in body


def test_preview_merchants_get_a_preview_portal(app: Flask, client: FlaskClient) -> None:
    post(client, event("invoice.payment_failed", invoice()), slug="acme")
    with app.app_context():
        case = db.session.scalars(sa.select(RecoveryCase)).one()
        token = sign(app, "card_update", slug="acme", ref=str(case.id), customer=case.customer_id)
    response = client.post(f"/card/{token}", data={"nonce": "x"})
    assert response.status_code == 303
    assert response.headers["Location"].startswith("https://billing.stripe.com/p/session/preview_")
    # Back from the portal to the page that says what happened to the payment.
    assert f"http://cancel.test/card/{token}/return" in str(
        db_value(app, sa.select(StripeWrite.requests).where(StripeWrite.preview.is_(True)))
    )


def db_value(app: Flask, query: Any) -> Any:
    with app.app_context():
        return db.session.scalar(query)


@pytest.mark.parametrize("variant", ["tampered", "other_purpose", "other_customer", "no_case"])
def test_bad_card_links_get_the_generic_page(
    app: Flask, client: FlaskClient, case_id: int, stripe_stub: Any, variant: str
) -> None:
    token = {
        "tampered": card_token(app, case_id)[:-2] + "xx",
        "other_purpose": sign(app, "unsubscribe", ref=str(case_id), customer=ss.CUSTOMER_ID),
        "other_customer": sign(app, "card_update", ref=str(case_id), customer="cus_other"),
        "no_case": sign(app, "card_update", ref="99999", customer=ss.CUSTOMER_ID),
    }[variant]
    before = len(stripe_stub.requests)
    for response in (client.get(f"/card/{token}"), client.post(f"/card/{token}")):
        assert response.status_code == 404
        assert "This link is invalid or has expired" in response.get_data(as_text=True)
    assert len(stripe_stub.requests) == before


def test_the_return_page_is_branded(client: FlaskClient) -> None:
    page = client.get("/card/done/live")
    assert page.status_code == 200
    assert "Thank you" in page.get_data(as_text=True)
    assert client.get("/card/done/nobody").status_code == 404


# ---- unsubscribe -----------------------------------------------------------------------------


@pytest.fixture
def mailed(app: Flask, case_id: int, smtp: SMTPSink) -> str:
    """The first dunning email has gone out; returns its unsubscribe path."""
    with app.app_context():
        outbox.drain()
    header = smtp.messages[0]["List-Unsubscribe"]
    match = re.search(r"<http://cancel\.test(/unsubscribe/[^>]+)>", header)
    assert match, header
    return match.group(1)


def suppressed(app: Flask) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(sa.select(EmailSuppression.email)))


def test_unsubscribe_get_asks_and_changes_nothing(
    app: Flask, client: FlaskClient, mailed: str
) -> None:
    page = client.get(mailed)
    body = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Unsubscribe from these emails?" in body
    assert "j•••@example.com" in body
    assert "jenny@example.com" not in body
    assert suppressed(app) == []


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_unsubscribe_post_suppresses_the_rest(
    app: Flask, client: FlaskClient, mailed: str, smtp: SMTPSink, headers: dict[str, str]
) -> None:
    response = client.post(mailed, headers=headers)
    if headers:
        assert response.status_code == 200
        assert response.headers["HX-Redirect"] == mailed
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == mailed
    assert "You're unsubscribed" in client.get(mailed).get_data(as_text=True)
    assert suppressed(app) == ["jenny@example.com"]
    with app.app_context():
        statuses = list(db.session.scalars(sa.select(OutboxEmail.status).order_by(OutboxEmail.id)))
        db.session.execute(sa.update(OutboxEmail).values(due_at=OutboxEmail.created_at))
        db.session.commit()
        assert outbox.drain().sent == 0
    assert statuses == ["sent", "suppressed", "suppressed", "suppressed"]
    assert len(smtp.messages) == 1


def test_one_click_unsubscribe_from_the_mail_client(
    app: Flask, client: FlaskClient, mailed: str, fake_stripe: FakeStripe
) -> None:
    response = client.post(mailed, data={"List-Unsubscribe": "One-Click"})
    assert response.status_code == 200
    assert "You're unsubscribed" in response.get_data(as_text=True)
    assert client.post(mailed, data={"List-Unsubscribe": "One-Click"}).status_code == 200
    assert suppressed(app) == ["jenny@example.com"]
    # Later emails to the address are never even attempted.
    fake_stripe.invoices["in_next"] = invoice(id="in_next")
    post(client, event("invoice.payment_failed", invoice(id="in_next")))
    with app.app_context():
        newest = db.session.scalars(sa.select(OutboxEmail).order_by(OutboxEmail.id.desc())).first()
        assert newest is not None
        assert newest.status == "suppressed"


def test_a_bad_unsubscribe_link_changes_nothing(
    app: Flask, client: FlaskClient, mailed: str
) -> None:
    token = mailed.removeprefix("/unsubscribe/")
    for path in (f"/unsubscribe/{token[:-3]}abc", f"/unsubscribe/{token}x"):
        assert client.post(path).status_code == 404
    assert client.post(f"/card/{token}").status_code == 404
    assert suppressed(app) == []


def test_the_test_link_page(client: FlaskClient) -> None:
    page = client.get("/email/test-link")
    assert page.status_code == 200
    assert "This link came from a test email" in page.get_data(as_text=True)
