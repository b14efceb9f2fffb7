"""The dashboard's Stripe events: what the worker did with each, and running a dead one again
(merchant-scoped, CSRF-protected)."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import HX, add_user, post, sign_in, text
from support.recovery_support import FakeStripe, drain_events, event, invoice, post_only

from cancelpage.extensions import db
from cancelpage.models import RecoveryCase, StripeEvent

pytestmark = pytest.mark.usefixtures("hooked")

USER = "owner@acme.example"


@pytest.fixture
def token(app: Flask, client: FlaskClient) -> str:
    add_user(app, "acme", USER)
    return sign_in(client, USER)


def give_up_on(app: Flask, client: FlaskClient, slug: str, invoice_id: str) -> int:
    """An event the worker gave up on after its last attempt."""
    post_only(client, event("invoice.payment_failed", invoice(id=invoice_id)), slug=slug)
    with app.app_context():
        row = db.session.scalars(
            sa.select(StripeEvent).where(StripeEvent.object_id == invoice_id)
        ).one()
        row.status, row.attempts, row.last_error = "dead", 12, "Stripe: could not connect"
        db.session.commit()
        return row.id


def test_dead_events_are_listed_and_run_again(
    app: Flask, client: FlaskClient, token: str, fake_stripe: FakeStripe
) -> None:
    dead = give_up_on(app, client, "acme", "in_dead")
    post_only(client, event("invoice.payment_failed", invoice(id="in_done")), slug="acme")
    drain_events(app)
    page = text(client.get("/admin/emails/events"))
    assert f'id="event-{dead}"' in page
    assert "Stripe: could not connect" in page
    assert page.count("Run again</button>") == 1
    assert "Dead: <strong>1</strong>" in page
    only_dead = text(client.get("/admin/emails/events?status=dead"))
    assert only_dead.count('id="event-') == 1
    response = post(client, f"/admin/emails/events/{dead}/rerun", token, headers=HX)
    assert response.status_code == 200
    assert "<html" not in text(response)
    assert f"Event {dead} queued again" in text(response)
    assert drain_events(app).processed == 1
    with app.app_context():
        assert db.session.get(StripeEvent, dead).status == "processed"  # type: ignore[union-attr]
        assert db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCase)) == 2


def test_a_rerun_needs_the_csrf_token_and_the_merchants_own_event(
    app: Flask, client: FlaskClient, token: str
) -> None:
    foreign = give_up_on(app, client, "live", "in_foreign")
    own = give_up_on(app, client, "acme", "in_own")
    refused = client.post(f"/admin/emails/events/{own}/rerun", data={})
    assert refused.status_code == 400
    other = post(client, f"/admin/emails/events/{foreign}/rerun", token)
    assert f"There is no failed or dead event {foreign} to run again." in text(other)
    assert f'id="event-{foreign}"' not in text(client.get("/admin/emails/events"))
    with app.app_context():
        statuses = dict(db.session.execute(sa.select(StripeEvent.id, StripeEvent.status)).all())
    assert statuses == {foreign: "dead", own: "dead"}


def test_the_events_page_is_for_signed_in_users(client: FlaskClient, app: Any) -> None:
    assert client.get("/admin/emails/events").status_code == 303
