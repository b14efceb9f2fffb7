"""Compliance profiles on the hosted page: de opens on the confirmation with "Jetzt kündigen"
and at most an offer after it; us-ca carries a one-step cancel on every offer; the rest is the
flow as built."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import CancelSession, SessionEvent


def page(client: FlaskClient, url: str) -> str:
    return re.sub(r"\s+", " ", client.get(url).get_data(as_text=True))


def session_of(app: Flask) -> CancelSession:
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        db.session.expunge(session)
        return session


def test_a_german_customer_opens_on_the_confirmation(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(attributes={"country": "DE"}, locale="de")
    body = page(client, url)
    assert 'value="cancel" class="danger">Jetzt kündigen</button>' in body
    assert 'name="reason"' not in body  # no survey before the confirmation
    # the offer stands beside the cancel button, after it, never before it
    assert body.index("Jetzt kündigen") < body.index('class="side-offer"')
    assert 'name="offer" value="pause_1m"' in body
    assert "Datum und Uhrzeit Ihrer Kündigung" in body
    answer = client.post(f"{url}/confirm", data={"action": "cancel"})
    assert answer.status_code == 303
    session = session_of(app)
    assert (session.compliance_profile, session.outcome) == ("de", "canceled")


def test_the_offer_beside_the_german_cancel_can_be_taken(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(attributes={"country": "DE"})
    assert "Cancel now" in page(client, url)
    client.post(f"{url}/offer", data={"offer": "pause_1m", "action": "accept"})
    session = session_of(app)
    assert (session.outcome, session.accepted_offer) == ("accepted", "pause_1m")
    with app.app_context():
        kinds = list(db.session.scalars(sa.select(SessionEvent.kind).order_by(SessionEvent.id)))
    assert kinds[:2] == ["opened", "offer_shown"]


def test_a_californian_offer_step_always_carries_a_one_step_cancel(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(attributes={"country": "US-CA"})
    client.post(f"{url}/survey", data={"reason": "unused"})
    for offer in ("pause_1m", "free_30d"):
        body = page(client, url)
        assert f'name="offer" value="{offer}"' in body
        assert 'name="action" value="cancel" class="danger">Cancel subscription</button>' in body
        client.post(f"{url}/offer", data={"offer": offer, "action": "decline"})
    session = session_of(app)
    assert session.compliance_profile == "us-ca"


def test_the_californian_cancel_is_one_step(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(attributes={"country": "US-CA"})
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    answer = client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "cancel"})
    assert answer.status_code == 303
    assert session_of(app).outcome == "canceled"


def test_an_american_customers_flow_is_unchanged(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(attributes={"country": "US-NY"})
    assert 'name="reason"' in page(client, url)
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    body = page(client, url)
    assert 'value="cancel_now" class="quiet"' in body
    assert 'value="cancel" class="danger"' not in body
    refused = client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "cancel"})
    assert refused.status_code == 200
    assert session_of(app).outcome is None
    assert session_of(app).compliance_profile == "standard"


def test_an_unknown_country_takes_the_merchants_default(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    with app.app_context():
        found = by_slug("acme")
        assert found is not None
        found.compliance_default = "de"
        db.session.commit()
    url = start()
    assert "Cancel now" in page(client, url)
    assert session_of(app).compliance_profile == "de"
