"""The customer pages name the subscription and what each choice means in money and dates: from
the live snapshot (never the link), in the browser's or the merchant's time zone; stale posts
from another tab; the undo of a cancel at period end."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support
from support.i18n_support import one_session

from cancelpage.extensions import db
from cancelpage.models import Merchant, StripeWrite

HX = {"HX-Request": "true"}
NEXT_YEAR = int((datetime.now(UTC) + timedelta(days=365)).timestamp())


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def writes(app: Flask) -> list[StripeWrite]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(StripeWrite).order_by(StripeWrite.id)))
        for row in rows:
            db.session.expunge(row)
        return rows


def set_merchant(app: Flask, slug: str, **values: Any) -> None:
    with app.app_context():
        merchant = db.session.scalars(sa.select(Merchant).where(Merchant.slug == slug)).one()
        for name, value in values.items():
            setattr(merchant, name, value)
        db.session.commit()


def future_period(stripe_stub: Any) -> None:
    """The fixture subscription with its period ending next year (an undo needs a future end)."""
    item = stripe_support.subscription_item(current_period_end=NEXT_YEAR)
    items = {"object": "list", "data": [item], "has_more": False, "url": "/v1/subscription_items"}
    stripe_stub.responder = stripe_support.fixture_responder(
        stripe_support.subscription(items=items)
    )


def test_live_amounts_come_from_stripe_not_the_link(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    url = start(
        "live",
        customer=stripe_support.CUSTOMER_ID,
        locale="en",
        attributes={"mrr": "1", "currency": "jpy", "plan": "Fake"},
    )
    survey = text(client.get(url))
    assert "€29.00 a month, renews on January 1, 2026" in survey
    assert "¥" not in survey
    assert "Fake" not in survey
    offer = text(client.post(f"{url}/survey", data={"reason": "too_expensive"}, headers=HX))
    assert "€29.00 → €21.75 a month for the next 3 months, then €29.00." in offer


def test_every_step_names_the_zone_of_its_dates(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    assert "Dates in UTC time" in text(client.get(url))
    set_merchant(app, "acme", time_zone="Asia/Tokyo")
    assert "Dates in Asia/Tokyo time" in text(client.get(url))


def test_the_browser_zone_wins_once_a_page_tells_it(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    set_merchant(app, "acme", time_zone="Asia/Tokyo")
    client.post(f"{url}/survey", data={"reason": "too_expensive", "tz": "Not/AZone"})
    assert one_session(app).time_zone is None  # unknown names are ignored
    page = text(
        client.post(
            f"{url}/offer",
            data={"action": "x"},
            headers={**HX, "X-Time-Zone": "America/Los_Angeles"},
        )
    )
    assert one_session(app).time_zone == "America/Los_Angeles"
    assert "Dates in America/Los_Angeles time" in page
    client.post(f"{url}/locale", data={"locale": "de", "tz": "Europe/Berlin"})
    assert "Zeitzone Europe/Berlin" in text(client.get(url))


def test_a_post_for_a_step_the_session_left_says_so(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    # Another tab still on the survey, then on an offer: the current step, with the reason.
    fragment = text(client.post(f"{url}/survey", data={"reason": "unused"}, headers=HX))
    assert "Your subscription is canceled" in fragment
    assert "This page was updated in another tab." in fragment
    plain = client.post(f"{url}/offer", data={"offer": "pause_1m", "action": "accept"})
    assert plain.status_code == 303
    assert plain.headers["Location"] == f"{url}?updated=1"
    shown = text(client.get(plain.headers["Location"]))
    assert "This page was updated in another tab." in shown
    assert "This page was updated" not in text(client.get(url))


def test_an_offer_from_an_older_answer_is_stale(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"reason": "unused"})  # pause_1m, free_30d
    page = text(
        client.post(
            f"{url}/offer", data={"offer": "discount_25_3m", "action": "accept"}, headers=HX
        )
    )
    assert "This page was updated in another tab." in page
    assert "Pause for a month" in page
    assert one_session(app).outcome is None


def test_confirm_names_the_plan_the_date_and_the_losses_escaped(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    set_merchant(
        app,
        "acme",
        copy={
            "confirm_losses": "Your <b>dashboards</b>\nYour reports",
            "de": {"confirm_losses": "Ihre Dashboards"},
        },
    )
    url = start(attributes={"plan": "Team"})
    page = text(client.post(f"{url}/survey", data={"action": "skip"}, headers=HX))
    assert re.search(r"Your Team subscription will end on \w+ \d+, \d{4}\.", page)
    assert "<li>Your &lt;b&gt;dashboards&lt;/b&gt;</li><li>Your reports</li>" in page
    client.post(f"{url}/locale", data={"locale": "de"})
    assert "<li>Ihre Dashboards</li>" in text(client.get(url))


def test_confirm_when_the_cancel_is_immediate_says_now(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    set_merchant(app, "acme", cancel_mode="immediately")
    url = start(attributes={"plan": "Team"})
    page = text(client.post(f"{url}/survey", data={"action": "skip"}, headers=HX))
    assert "Your Team subscription ends now, and you lose access right away." in page


def test_undo_after_a_cancel_at_period_end_is_one_write(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    future_period(stripe_stub)
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    client.post(f"{url}/survey", data={"action": "skip"})
    done = text(client.post(f"{url}/confirm", data={"action": "cancel"}, headers=HX))
    assert "Changed your mind?" in done
    assert f'action="{url}/keep"' in done
    assert "Pro plan, €29.00 a month, ends on" in done  # the line says what now holds
    kept = text(client.post(f"{url}/keep", headers=HX))
    assert "Your subscription continues" in kept
    assert "Changed your mind?" not in kept
    again = client.post(f"{url}/keep")  # the email's link, a double click
    assert again.status_code == 303
    _cancel, undo = stripe_stub.writes()
    assert undo.params["cancel_at_period_end"] == "false"
    assert [row.operation for row in writes(app)] == ["cancel_at_period_end", "undo_cancel"]
    assert one_session(app).outcome == "kept"


def test_undo_without_an_answer_sends_the_same_request_again(
    app: Flask, client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    future_period(stripe_stub)
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    stripe_stub.responder = stripe_support.fault_responder([500])
    failed = text(client.post(f"{url}/keep", headers=HX))
    assert "Changed your mind?" in failed
    assert one_session(app).outcome == "canceled"
    future_period(stripe_stub)
    client.post(f"{url}/keep")
    first, second = stripe_stub.writes()[1:]
    assert first.idempotency_key == second.idempotency_key
    assert one_session(app).outcome == "kept"


def test_no_undo_after_an_immediate_cancel(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    set_merchant(app, "acme", cancel_mode="immediately")
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    done = text(client.post(f"{url}/confirm", data={"action": "cancel"}, headers=HX))
    assert "Changed your mind?" not in done
    assert "This page was updated" in text(client.post(f"{url}/keep", headers=HX))
    assert one_session(app).outcome == "canceled"


def test_already_scheduled_offers_no_skip(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(attributes={"cancel_at_period_end": "true"})
    survey = text(client.get(url))
    assert "Skip, just cancel" not in survey
    assert survey.index("Keep my subscription") < survey.index("What is the main reason")
    offer = text(client.post(f"{url}/survey", data={"reason": "too_expensive"}, headers=HX))
    assert "Skip offers, just cancel" not in offer


def test_support_contact_on_the_done_page(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    done = text(client.post(f"{url}/confirm", data={"action": "cancel"}, headers=HX))
    assert 'Need help? Write to us: <a href="mailto:help@acme.example">' in done


def test_amount_off_in_another_currency_is_not_offered(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    from cancelpage.merchants.store import publish_flow

    with app.app_context():
        acme = db.session.scalars(sa.select(Merchant).where(Merchant.slug == "acme")).one()
        publish_flow(
            acme,
            {
                "reasons": [{"code": "r", "label": "R", "feedback": "other", "enabled": True}],
                "offers": [
                    {
                        "id": "five",
                        "kind": "discount",
                        "title": "Five off",
                        "amount_off": 500,
                        "currency": "usd",
                    }
                ],
                "rules": [],
                "default_offers": ["five"],
            },
        )
        db.session.commit()
    url = start(attributes={"currency": "eur"})
    page = text(client.post(f"{url}/survey", data={"reason": "r"}, headers=HX))
    assert "Five off" not in page
    assert "Cancel your subscription?" in page
