"""The hosted cancel page, step by step, with plain forms and with htmx."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from itsdangerous import URLSafeTimedSerializer
from support import stripe_support

from cancelpage import links
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import CancelSession, SessionEvent, StripeWrite

HX = {"HX-Request": "true"}


def main_of(html: str) -> str:
    match = re.search(r"<main.*?</main>", html, re.S)
    assert match, html
    return match.group(0)


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def one_session(app: Flask) -> CancelSession:
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        db.session.expunge(session)
        return session


def writes(app: Flask) -> list[StripeWrite]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(StripeWrite).order_by(StripeWrite.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


# ---- each step, plain and htmx ---------------------------------------------------------------


def test_link_opens_survey_as_full_page(client: FlaskClient, merchant: Any, start: Any) -> None:
    page = client.get(start())
    body = text(page)
    assert page.status_code == 200
    assert "<html" in body
    assert page.headers["Vary"] == "HX-Request"
    for code in ("too_expensive", "unused", "missing_features", "switched_service", "other"):
        assert f'name="reason" value="{code}"' in body
    assert 'name="comment"' in body
    assert 'value="skip"' in body  # the visible way straight on to cancelling
    assert "Acme &lt;Analytics&gt;" in body  # merchant copy is escaped
    assert "<legend>" in body


def test_survey_plain_post_redirects_to_the_offer(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    response = client.post(f"{url}/survey", data={"reason": "too_expensive", "comment": "pricey"})
    assert response.status_code == 303
    assert response.headers["Location"] == url
    offer = text(client.get(url))
    assert "$29.00 → $21.75 a month for the next 3 months, then $29.00." in offer
    assert 'name="offer" value="discount_25_3m"' in offer
    assert 'value="accept"' in offer
    assert 'value="decline"' in offer
    assert 'value="cancel_now"' in offer


def test_survey_htmx_post_returns_the_offer_fragment(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    response = client.post(f"{url}/survey", data={"reason": "too_expensive"}, headers=HX)
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert "<head" not in body
    assert body.strip().startswith('<main id="step"')
    assert "$29.00 → $21.75 a month for the next 3 months, then $29.00." in body
    assert response.headers["Vary"] == "HX-Request"


def test_boosted_and_history_restore_requests_get_the_full_page(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    for headers in ({**HX, "HX-Boosted": "true"}, {**HX, "HX-History-Restore-Request": "true"}):
        assert "<html" in text(client.get(url, headers=headers))


def test_path_accept_offer_plain(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    response = client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "accept"})
    assert response.status_code == 303
    assert response.headers["Location"] == url
    done = text(client.get(url))
    assert "Thank you for staying!" in done
    assert "Your discount is applied: $29.00 → $21.75 a month for the next 3 months" in done
    assert 'href="https://shop.example/account"' in done  # default return URL
    # preview mode shows exactly what would have gone to Stripe
    assert "POST /v1/coupons" in done
    assert "POST /v1/subscriptions/sub_test" in done
    assert "discounts[0][coupon]=cancelpage_acme_discount_25_3m_" in done
    session = one_session(app)
    assert (session.outcome, session.accepted_offer) == ("accepted", "discount_25_3m")
    assert [w.operation for w in writes(app)] == ["create_coupon", "apply_discount"]
    assert all(w.preview and w.status == "succeeded" for w in writes(app))


def test_path_accept_offer_htmx(app: Flask, client: FlaskClient, merchant: Any, start: Any) -> None:
    url = start()
    client.post(f"{url}/survey", data={"reason": "unused"}, headers=HX)
    response = client.post(
        f"{url}/offer", data={"offer": "pause_1m", "action": "accept"}, headers=HX
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "<html" not in body
    assert "Thank you for staying!" in body
    assert "Your subscription is paused. Billing resumes on " in body
    assert "pause_collection[behavior]=void" in body
    assert one_session(app).outcome == "accepted"


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_path_decline_all_then_cancel(
    app: Flask, client: FlaskClient, merchant: Any, start: Any, headers: dict[str, str]
) -> None:
    url = start()
    client.post(
        f"{url}/survey", data={"reason": "too_expensive", "comment": "too much"}, headers=headers
    )
    client.post(
        f"{url}/offer", data={"offer": "discount_25_3m", "action": "decline"}, headers=headers
    )
    second = client.post(
        f"{url}/offer", data={"offer": "pause_1m", "action": "decline"}, headers=headers
    )
    confirm = text(client.get(url))
    assert "Cancel your subscription?" in confirm
    assert "will end on" in confirm
    if headers:
        assert "Cancel your subscription?" in text(second)
    response = client.post(f"{url}/confirm", data={"action": "cancel"}, headers=headers)
    assert response.status_code == (200 if headers else 303)
    done = text(client.get(url))
    assert "Your subscription is canceled" in done
    [write] = writes(app)
    assert write.operation == "cancel_at_period_end"
    [request] = write.requests
    assert request["params"]["cancel_at_period_end"] == "true"
    assert request["params"]["cancellation_details[feedback]"] == "too_expensive"
    assert request["params"]["cancellation_details[comment]"] == "too much"
    with app.app_context():
        kinds = [
            e.kind for e in db.session.scalars(sa.select(SessionEvent).order_by(SessionEvent.id))
        ]
    assert kinds == [
        "opened",
        "answered",
        "offer_shown",
        "offer_declined",
        "offer_shown",
        "offer_declined",
        "outcome",
        "receipt_queued",  # the receipt, queued with the outcome (receipts/)
    ]


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_path_skip_straight_to_cancel_in_two_clicks(
    app: Flask, client: FlaskClient, merchant: Any, start: Any, headers: dict[str, str]
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"}, headers=headers)
    client.post(f"{url}/confirm", data={"action": "cancel"}, headers=headers)
    session = one_session(app)
    assert session.outcome == "canceled"
    assert session.reason is None
    [write] = writes(app)
    assert "cancellation_details[feedback]" not in write.requests[0]["params"]


def test_keep_at_confirm_writes_nothing(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "keep"})
    assert "Your subscription continues" in text(client.get(url))
    assert one_session(app).outcome == "kept"
    assert writes(app) == []


def test_cancel_now_from_an_offer_goes_to_confirm(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "cancel_now"})
    assert "Cancel your subscription?" in text(client.get(url))


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({}, "Please choose a reason."),
        ({"reason": "not_a_reason"}, "Please choose one of the reasons listed."),
        ({"reason": "other", "comment": "x" * 2001}, "under 2,000 characters"),
    ],
)
@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_bad_survey_input_shows_the_same_step_with_a_message(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    data: dict[str, str],
    message: str,
    headers: dict[str, str],
) -> None:
    url = start()
    response = client.post(f"{url}/survey", data=data, headers=headers)
    assert response.status_code == 200
    body = text(response)
    assert message in body
    assert 'name="reason"' in body
    if "comment" in data:  # nothing the customer typed is lost
        assert "x" * 2001 in body
    assert one_session(app).state["step"] == "survey"


def test_odd_unicode_in_comment_is_kept_clean(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"reason": "other", "comment": "e\u0301t\u00e9\x00 \u202e!"})
    assert one_session(app).comment is not None
    assert "\x00" not in (one_session(app).comment or "")


def test_bad_offer_and_action_never_write(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    client.post(f"{url}/offer", data={"offer": "free_30d", "action": "accept"})  # not shown
    client.post(f"{url}/confirm", data={"action": "cancel"})  # not at confirm yet
    response = client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "bogus"})
    assert "Please use one of the buttons below." in text(response)
    assert writes(app) == []
    assert one_session(app).outcome is None


# ---- links -----------------------------------------------------------------------------------


def _tamper(token: str) -> str:
    flipped = "A" if token[-5] != "A" else "B"
    return token[:-5] + flipped + token[-4:]


@pytest.mark.parametrize(
    "case",
    [
        "tampered",
        "garbage",
        "empty-ish",
        "unknown-merchant",
        "wrong-purpose",
        "expired",
        "future",
        "foreign-secret",
        "no-subscription",
        "huge",
    ],
)
def test_bad_tokens_get_one_generic_page(
    app: Flask, client: FlaskClient, merchant: Any, make_link: Any, case: str, monkeypatch: Any
) -> None:
    good = make_link().removeprefix("/c/")
    with app.app_context():
        secrets = by_slug("acme").link_secrets
    payload = {"m": "acme", "c": "cus_test", "s": "sub_test"}
    tokens = {
        "tampered": _tamper(good),
        "garbage": "not-a-token",
        "empty-ish": ".",
        "unknown-merchant": URLSafeTimedSerializer(secrets, salt="cancelpage.cancel").dumps(
            {**payload, "m": "nobody"}
        ),
        "wrong-purpose": links.sign(
            links.LinkPayload("acme", "cus_test", "sub_test"), secrets, "card_update"
        ),
        "foreign-secret": URLSafeTimedSerializer("other", salt="cancelpage.cancel").dumps(payload),
        "no-subscription": links.sign(links.LinkPayload("acme", "cus_test"), secrets, "cancel"),
        "huge": "a" * 5000,
    }
    if case in ("expired", "future"):
        offset = -8 * 24 * 3600 if case == "expired" else 3600
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + offset)
        tokens[case] = URLSafeTimedSerializer(secrets, salt="cancelpage.cancel").dumps(payload)
        monkeypatch.setattr(time, "time", real)
    response = client.get(f"/c/{tokens[case]}")
    assert response.status_code == 404
    assert "This link is invalid or has expired" in text(response)
    reference = client.get("/c/not-a-token")
    assert main_of(text(response)) == main_of(text(reference))  # identical for every cause
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(CancelSession.id))) == 0


def test_unknown_capability_is_the_same_generic_page(client: FlaskClient, merchant: Any) -> None:
    assert client.get("/s/nope").status_code == 404
    assert client.post("/s/nope/survey", data={"reason": "other"}).status_code == 404


def test_rotated_secrets_keep_verifying_until_removed(
    app: Flask, client: FlaskClient, merchant: Any, make_link: Any
) -> None:
    old_link = make_link()
    with app.app_context():
        m = by_slug("acme")
        m.link_secrets = [*m.link_secrets, links.new_secret()]
        db.session.commit()
    new_link = make_link(customer="cus_two")
    assert client.get(old_link).status_code == 303
    assert client.get(new_link).status_code == 303
    with app.app_context():
        m = by_slug("acme")
        m.link_secrets = m.link_secrets[-1:]
        db.session.commit()
    assert client.get(old_link).status_code == 404
    assert client.get(new_link).status_code == 303


def test_one_session_per_link_and_two_tabs_share_it(
    app: Flask, client: FlaskClient, merchant: Any, make_link: Any
) -> None:
    link = make_link()
    first = client.get(link).headers["Location"]
    second = client.get(link).headers["Location"]
    assert first == second
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(CancelSession.id))) == 1
        row = db.session.scalars(sa.select(CancelSession)).one()
        # only digests are stored, never the token or the capability
        assert link.removeprefix("/c/") not in str(row.__dict__)
        assert first.removeprefix("/s/") not in str(row.__dict__)


def test_reused_link_after_outcome_shows_it_and_writes_nothing(
    app: Flask, client: FlaskClient, merchant: Any, make_link: Any
) -> None:
    link = make_link()
    url = client.get(link).headers["Location"]
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    assert len(writes(app)) == 1
    again = client.get(link).headers["Location"]
    assert "Your subscription is canceled" in text(client.get(again))
    for step, data in (
        ("survey", {"reason": "other"}),
        ("confirm", {"action": "cancel"}),
        ("offer", {"offer": "pause_1m", "action": "accept"}),
    ):
        client.post(f"{url}/{step}", data=data)
    assert len(writes(app)) == 1


@pytest.mark.parametrize(
    ("return_url", "expected"),
    [
        ("https://shop.example/billing?x=1", "https://shop.example/billing?x=1"),
        ("https://evil.example/phish", "https://shop.example/account"),
        ("https://shop.example.evil.example/", "https://shop.example/account"),
        ("javascript:alert(1)", "https://shop.example/account"),
        ("https://user@shop.example/", "https://shop.example/account"),
    ],
)
def test_return_url_only_to_allowed_hosts(
    app: Flask, client: FlaskClient, merchant: Any, return_url: str, expected: str
) -> None:
    # Signed without the helpers (they refuse such URLs): the page must not follow them either.
    with app.app_context():
        payload = links.LinkPayload("acme", "cus_test", "sub_test", return_url=return_url)
        token = links.sign(payload, by_slug("acme").link_secrets, "cancel")
    url = client.get(f"/c/{token}").headers["Location"]
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "keep"})
    body = text(client.get(url))
    assert f'href="{expected}"' in body
    if expected != return_url:
        assert return_url not in body


def test_head_and_get_never_write_to_stripe(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, make_link: Any
) -> None:
    link = make_link("live", customer=stripe_support.CUSTOMER_ID)
    assert client.head(link).status_code == 303
    url = client.get(link).headers["Location"]
    client.get(url)
    client.head(url)
    assert stripe_stub.writes() == []
    assert [r.method for r in stripe_stub.requests] == ["get"]  # one read per session, ever


# ---- live mode -------------------------------------------------------------------------------
# The fixture customer's Stripe preferred_locales say fr-FR; the links ask for English (the link's
# locale wins), since these tests read English text.


def test_live_subscription_must_belong_to_the_signed_customer(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, make_link: Any
) -> None:
    response = client.get(make_link("live", customer="cus_someone_else"))
    assert response.status_code == 404
    assert "This link is invalid or has expired" in text(response)


def test_live_cancel_sends_one_write_with_the_derived_key(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    confirm = text(client.post(f"{url}/survey", data={"action": "skip"}, headers=HX))
    assert "will end on January 1, 2026" in confirm  # item-level current_period_end
    client.post(f"{url}/confirm", data={"action": "cancel"})
    client.post(f"{url}/confirm", data={"action": "cancel"})  # double submit
    [write] = stripe_stub.writes()
    assert (write.method, write.path) == ("post", "/v1/subscriptions/sub_test")
    assert write.params["cancel_at_period_end"] == "true"
    [row] = writes(app)
    assert write.idempotency_key == row.idempotency_key
    assert row.status == "succeeded"
    assert not row.preview


def test_a_stripe_failure_changes_nothing_and_the_next_click_is_a_new_attempt(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    """Stripe keeps a 500 for its key, so the next click is a new attempt with a new key."""
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    client.post(f"{url}/survey", data={"action": "skip"})
    stripe_stub.responder = stripe_support.fault_responder([500])
    failed = text(client.post(f"{url}/confirm", data={"action": "cancel"}))
    assert "We couldn't apply that change, and nothing was changed." in failed
    assert 'value="cancel"' in failed
    assert one_session(app).outcome is None
    assert writes(app)[0].status == "not_applied"
    retried = client.post(f"{url}/confirm", data={"action": "cancel"})
    assert retried.status_code == 303
    first, second = stripe_stub.writes()
    assert first.idempotency_key != second.idempotency_key
    assert first.params == second.params
    assert one_session(app).outcome == "canceled"
    assert [(row.attempt, row.status) for row in writes(app)] == [
        (1, "not_applied"),
        (2, "succeeded"),
    ]


def test_card_error_is_not_retryable_and_says_so(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    client.post(f"{url}/survey", data={"reason": "unused"})
    stripe_stub.responder = stripe_support.fault_responder([402])
    body = text(client.post(f"{url}/offer", data={"offer": "pause_1m", "action": "accept"}))
    assert "We couldn't apply that change" in body
    assert one_session(app).outcome is None


def test_already_scheduled_cancel_offers_to_keep(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    stripe_stub.responder = stripe_support.fixture_responder(
        stripe_support.subscription(cancel_at_period_end=True)
    )
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    page = text(client.get(url))
    assert "already set to end on January 1, 2026" in page
    response = client.post(f"{url}/keep", headers=HX)
    assert "Your subscription continues" in text(response)
    [write] = stripe_stub.writes()
    assert write.params == {
        "cancel_at_period_end": "false",
        **{k: v for k, v in write.params.items() if k.startswith("expand")},
    }
    assert one_session(app).outcome == "kept"


def test_already_canceled_subscription_gets_a_clear_page(
    client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    stripe_stub.responder = stripe_support.fixture_responder(
        stripe_support.subscription(status="canceled")
    )
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    assert "This subscription has already ended" in text(client.get(url))
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    assert stripe_stub.writes() == []


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_portal_mode_hands_off_to_stripe(
    app: Flask,
    client: FlaskClient,
    live_merchant: Any,
    stripe_stub: Any,
    start: Any,
    headers: dict[str, str],
) -> None:
    with app.app_context():
        by_slug("live").cancel_mode = "portal"
        db.session.commit()
    url = start(
        "live",
        customer=stripe_support.CUSTOMER_ID,
        locale="en",
        return_url="https://shop.example/done",
    )
    client.post(f"{url}/survey", data={"action": "skip"})
    response = client.post(f"{url}/confirm", data={"action": "cancel"}, headers=headers)
    portal = "https://billing.stripe.com/p/session/test_abc"
    if headers:
        assert response.status_code == 200
        assert response.headers["HX-Redirect"] == portal
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == portal
    [write] = stripe_stub.writes()
    assert write.path == "/v1/billing_portal/sessions"
    assert write.params["flow_data[type]"] == "subscription_cancel"
    assert write.params["flow_data[subscription_cancel][subscription]"] == "sub_test"
    assert write.params["return_url"] == "https://shop.example/done"


def test_immediate_mode_cancels_now(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    with app.app_context():
        by_slug("live").cancel_mode = "immediately"
        db.session.commit()
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    assert "ends now" in text(client.post(f"{url}/survey", data={"action": "skip"}, headers=HX))
    client.post(f"{url}/confirm", data={"action": "cancel"})
    [write] = stripe_stub.writes()
    assert (write.method, write.path) == ("delete", "/v1/subscriptions/sub_test")
    assert write.idempotency_key == writes(app)[0].idempotency_key


def test_discount_coupon_is_created_once_and_reused(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    for n in range(2):
        url = start(
            "live", customer=stripe_support.CUSTOMER_ID, locale="en", attributes={"n": str(n)}
        )
        client.post(f"{url}/survey", data={"reason": "too_expensive"})
        client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "accept"})
    paths = [w.path for w in stripe_stub.writes()]
    assert paths == ["/v1/coupons", "/v1/subscriptions/sub_test", "/v1/subscriptions/sub_test"]
    coupon = stripe_stub.writes()[0].params["id"]
    assert stripe_stub.writes()[2].params["discounts[0][coupon]"] == coupon
