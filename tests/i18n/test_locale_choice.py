"""Which language a customer gets: link, Stripe, browser, merchant, English."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support
from support.i18n_support import (
    HX,
    add_merchant,
    heading,
    html_lang,
    one_session,
    page,
)

from cancelpage import i18n

# ---- choosing the locale ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        ("de", "de"),
        ("de-AT", "de"),
        ("de_AT", "de"),
        ("DE-at", "de"),
        (" fr-CA ", "fr"),
        ("es-419", "es"),
        ("en-GB", "en"),
        ("pt-BR", None),
        ("xx", None),
        ("*", None),
        ("", None),
        (None, None),
        (["de"], None),
    ],
)
def test_supported_maps_region_variants_to_the_base_language(tag: Any, code: str | None) -> None:
    assert i18n.supported(tag) == code


@pytest.mark.parametrize(
    ("hints", "accept", "expected"),
    [
        # each level wins over the ones below it
        (i18n.LocaleHints("es", ["de-DE"], "fr"), [("fr", 1.0)], "es"),
        (i18n.LocaleHints(None, ["de-DE", "fr"], "fr"), [("es", 1.0)], "de"),
        (i18n.LocaleHints(None, [], "de"), [("fr-CA", 1.0), ("en", 0.5)], "fr"),
        (i18n.LocaleHints(None, [], "de"), [], "de"),
        (i18n.LocaleHints(), [], "en"),
        # unknown tags fall through to the next candidate, then the next level
        (i18n.LocaleHints("xx", ["pt-BR", "es-ES"], "de"), [], "es"),
        (i18n.LocaleHints("pt-BR", [], "de"), [("xx-YY", 1.0), ("de-CH", 0.8)], "de"),
        (i18n.LocaleHints("xx", ["zz"], "qq"), [("xx", 1.0)], "en"),
        # the browser's order is by quality; q=0 means "not this one"; * says nothing
        (i18n.LocaleHints(merchant="en"), [("fr", 0.3), ("es", 0.9)], "es"),
        (i18n.LocaleHints(merchant="en"), [("de", 0.0)], "en"),
        (i18n.LocaleHints(merchant="fr"), [("*", 1.0)], "fr"),
        (i18n.LocaleHints(merchant="de-AT"), [], "de"),
    ],
)
def test_resolve_locale_precedence(
    hints: i18n.LocaleHints, accept: list[tuple[str, float]], expected: str
) -> None:
    assert i18n.resolve_locale(hints, accept) == expected


def test_the_links_locale_wins(client: FlaskClient, merchant: Any, start: Any) -> None:
    url = start(locale="de", attributes={"preferred_locales": "fr-FR"})
    response = client.get(url, headers={"Accept-Language": "es"})
    assert html_lang(response) == "de"
    assert heading(response) == "Bevor Sie gehen\u00a0…"


def test_stripe_preferred_locales_come_next(client: FlaskClient, merchant: Any, start: Any) -> None:
    url = start(attributes={"preferred_locales": "pt-BR,es-ES"})
    response = client.get(url, headers={"Accept-Language": "fr"})
    assert html_lang(response) == "es"
    assert heading(response) == "Antes de irse…"


def test_live_preferred_locales_are_read_from_stripe(
    client: FlaskClient, live_merchant: Any, stripe_stub: Any, start: Any
) -> None:
    url = start("live", customer=stripe_support.CUSTOMER_ID)  # the customer prefers fr-FR
    response = client.get(url, headers={"Accept-Language": "de"})
    assert html_lang(response) == "fr"
    confirm = client.post(f"{url}/survey", data={"action": "skip"}, headers=HX)
    assert "Votre abonnement Pro plan prendra fin le 1 janvier 2026." in page(confirm)


def test_then_the_browsers_accept_language(client: FlaskClient, merchant: Any, start: Any) -> None:
    url = start(locale="xx")
    response = client.get(url, headers={"Accept-Language": "xx-YY, fr-CA;q=0.8, en;q=0.5"})
    assert html_lang(response) == "fr"
    assert heading(response) == "Avant de partir…"


def test_then_the_merchants_default(app: Flask, client: FlaskClient, start: Any) -> None:
    add_merchant(app, "gmbh", default_locale="de")
    url = start("gmbh", locale="pt-BR", attributes={"preferred_locales": "zz"})
    response = client.get(url, headers={"Accept-Language": "*"})
    assert html_lang(response) == "de"
    assert heading(response) == "Bevor Sie gehen\u00a0…"


def test_unknown_locales_everywhere_fall_back_to_english(
    app: Flask, client: FlaskClient, start: Any
) -> None:
    add_merchant(app, "odd", default_locale="xx")
    url = start("odd", locale="tlh-Latn-x-klingon", attributes={"preferred_locales": "tlh"})
    response = client.get(url, headers={"Accept-Language": "qq"})
    assert response.status_code == 200
    assert html_lang(response) == "en"
    assert heading(response) == "Before you go…"
    assert one_session(app).locale is None  # an unknown tag is not stored (column holds 10)


@pytest.mark.parametrize(("tag", "stored"), [("de_AT", "de"), ("en-US-x-twain", "en")])
def test_region_variant_link_is_stored_as_the_base_language(
    app: Flask, client: FlaskClient, merchant: Any, start: Any, tag: str, stored: str
) -> None:
    response = client.get(start(locale=tag))
    assert html_lang(response) == stored
    assert one_session(app).locale == stored


@pytest.mark.parametrize("cause", ["tampered", "expired"])
def test_refused_link_speaks_the_links_language(
    app: Flask, client: FlaskClient, merchant: Any, make_link: Any, cause: str, monkeypatch: Any
) -> None:
    link = make_link(locale="es")
    if cause == "tampered":
        link = link[:-5] + ("A" if link[-5] != "A" else "B") + link[-4:]
    else:
        import time

        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + 8 * 24 * 3600)
    response = client.get(link)
    assert response.status_code == 404
    assert heading(response) == "Este enlace no es válido o ha caducado"
    assert html_lang(response) == "es"
    assert 'name="locale"' not in page(response)  # no session: no language switcher
    plain = client.get("/c/not-a-token", headers={"Accept-Language": "es"})
    assert heading(plain) == heading(response)


def test_unavailable_page_speaks_the_links_language(
    client: FlaskClient, live_merchant: Any, stripe_stub: Any, make_link: Any
) -> None:
    stripe_stub.responder = stripe_support.fault_responder([500])
    response = client.get(make_link("live", customer=stripe_support.CUSTOMER_ID, locale="de"))
    assert response.status_code == 503
    assert heading(response) == "Wir konnten Ihr Abonnement nicht laden"
