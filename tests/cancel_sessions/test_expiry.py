"""Session capabilities expire: a bounded time (CAPABILITY_GRACE_SECONDS) after their link did."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient

from cancelpage.extensions import db
from cancelpage.models import CancelSession, StripeWrite

GENERIC = "This link is invalid or has expired"


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


def age(app: Flask, *, link_expired: timedelta | None, created: timedelta) -> None:
    """Move the one session back in time: its link expired that long ago (None: not recorded,
    as for sessions opened before expiry was stored)."""
    now = datetime.now(UTC)
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        session.created_at = now - created
        session.link_expires_at = None if link_expired is None else now - link_expired
        db.session.commit()


def writes(app: Flask) -> int:
    with app.app_context():
        return len(db.session.scalars(sa.select(StripeWrite)).all())


def test_the_session_remembers_when_its_link_expires(app: Flask, merchant: Any, start: Any) -> None:
    start()
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        expected = datetime.now(UTC) + timedelta(seconds=merchant.link_max_age)
        assert session.link_expires_at is not None
        assert abs(session.link_expires_at - expected) < timedelta(seconds=10)


@pytest.mark.parametrize(
    "link_expired",
    [timedelta(hours=25), None],
    ids=["expired-beyond-grace", "400-days-old-without-recorded-expiry"],
)
def test_an_expired_capability_is_a_bad_link_and_cannot_cancel(
    app: Flask, client: FlaskClient, merchant: Any, start: Any, link_expired: timedelta | None
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    age(app, link_expired=link_expired, created=timedelta(days=400))
    page = client.get(url)
    assert page.status_code == 404
    assert GENERIC in text(page)
    posted = client.post(f"{url}/confirm", data={"action": "cancel"})
    assert posted.status_code == 404
    assert writes(app) == 0
    with app.app_context():
        assert db.session.scalars(sa.select(CancelSession.outcome)).one() is None


def test_within_the_grace_period_an_open_session_can_still_finish(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    age(app, link_expired=timedelta(hours=23), created=timedelta(days=8))
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    assert writes(app) == 1


def test_a_finished_session_is_viewable_until_the_grace_ends(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    age(app, link_expired=timedelta(hours=23), created=timedelta(days=8))
    page = client.get(url)
    assert page.status_code == 200
    assert GENERIC not in text(page)
    client.post(f"{url}/keep")  # read-only: nothing more is written
    assert writes(app) == 1
    age(app, link_expired=timedelta(hours=25), created=timedelta(days=8))
    assert client.get(url).status_code == 404


def test_the_grace_period_is_configurable(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start()
    age(app, link_expired=timedelta(hours=2), created=timedelta(days=8))
    assert client.get(url).status_code == 200
    app.config["CAPABILITY_GRACE_SECONDS"] = 3600
    assert client.get(url).status_code == 404
