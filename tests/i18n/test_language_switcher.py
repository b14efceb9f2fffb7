"""The language switcher on the customer pages."""

from __future__ import annotations

import re
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.i18n_support import (
    HX,
    heading,
    html_lang,
    one_session,
    page,
)

from cancelpage.extensions import db
from cancelpage.models import StripeWrite

# ---- the language switcher -------------------------------------------------------------------


def test_switcher_lists_each_language_in_its_own_name(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    body = page(client.get(start(locale="fr")))
    assert '<span lang="fr" aria-current="true">Français</span>' in body
    for code, name in (("en", "English"), ("de", "Deutsch"), ("es", "Español")):
        assert f'name="locale" value="{code}" lang="{code}">{name}</button>' in body
    assert '<nav class="languages" aria-label="Langue">' in body
    assert re.search(r'<form method="post" action="/s/[^"]+/locale">', body)


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_switching_language_keeps_the_step(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    headers: dict[str, str],
) -> None:
    url = start(locale="de")
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    client.post(f"{url}/offer", data={"offer": "discount_25_3m", "action": "decline"})
    state_before = one_session(app).state
    response = client.post(f"{url}/locale", data={"locale": "fr"}, headers=headers)
    if headers:
        assert response.status_code == 200
        assert response.headers["HX-Redirect"] == url
    else:
        assert response.status_code == 303
        assert response.headers["Location"] == url
    session = one_session(app)
    assert session.locale == "fr"
    assert session.state == state_before
    offer = client.get(url, headers={"Accept-Language": "de"})
    assert html_lang(offer) == "fr"
    assert heading(offer) == "Une pause d’un mois"  # still the second offer, now in French
    assert "Offre 2 sur 2" in page(offer)


def test_unknown_language_choice_changes_nothing(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(locale="es")
    for choice in ({"locale": "xx"}, {"locale": ""}, {}):
        response = client.post(f"{url}/locale", data=choice)
        assert response.status_code == 303
        assert response.headers["Location"] == url
    assert one_session(app).locale == "es"
    assert html_lang(client.get(url)) == "es"


def test_switching_after_the_outcome_writes_nothing_more(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    url = start(locale="en")
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})
    before = one_session(app)
    client.post(f"{url}/locale", data={"locale": "de"})
    assert heading(client.get(url)) == "Ihr Abonnement ist gekündigt"
    after = one_session(app)
    assert (after.outcome, after.completed_at) == (before.outcome, before.completed_at)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count(StripeWrite.id))) == 1


def test_switcher_on_an_unknown_session_is_the_generic_page(client: FlaskClient) -> None:
    response = client.post("/s/nope/locale", data={"locale": "de"})
    assert response.status_code == 404
