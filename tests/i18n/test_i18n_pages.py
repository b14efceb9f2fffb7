"""Every customer page, in English, German, French and Spanish, with nothing left in English.

Each scenario walks a fresh session to one page (or a few) once per language. The German, French
and Spanish renders must share no visible text with the English render except names, addresses
and the technical preview lines, and no English source sentence of the catalogs may appear.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support
from support.page_support import visible_texts

from cancelpage import flows
from cancelpage.extensions import db
from cancelpage.i18n import catalogs
from cancelpage.merchants.store import by_slug, create_merchant
from cancelpage.models import CancelSession, utcnow

LOCALES = ("en", "de", "fr", "es")
# The same in every language: names, addresses, the languages' own names, technical lines.
SAME_EVERYWHERE = {
    "Acme <Analytics>",
    "Live Co",
    "help@acme.example",
    "English",
    "Deutsch",
    "Français",
    "Español",
    "Idempotency-Key:",
    "·",
}


@cache
def english_sentences() -> tuple[str, ...]:
    """The literal parts of every source string that are long enough to be unmistakable."""
    found = set()
    for message in catalogs.extract():
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        for msgid in ids:
            for part in re.split(r"%\(\w+\)[sd]", msgid):
                part = " ".join(part.split())
                if len(part) >= 10 and " " in part:
                    found.add(part)
    return tuple(sorted(found))


def assert_translated(pages: dict[str, list[str]]) -> None:
    english = set().union(*(visible_texts(html) for html in pages["en"]))
    for locale, htmls in pages.items():
        assert htmls
        for html in htmls:
            assert f'<html lang="{locale}">' in html
            assert "%(" not in html  # every placeholder was filled in
            if locale == "en":
                continue
            texts = visible_texts(html)
            same = (texts & english) - SAME_EVERYWHERE
            assert not same, (locale, sorted(same))
            joined = " ".join(texts)
            leaked = [s for s in english_sentences() if s in joined]
            assert not leaked, (locale, leaked)


# ---- walking sessions ------------------------------------------------------------------------


@dataclass
class Walk:
    app: Flask
    client: FlaskClient
    start: Callable[..., str]
    make_link: Callable[..., str]
    stripe: Any
    locale: str = "en"
    n: int = 0

    def open(self, slug: str = "acme", **kwargs: Any) -> str:
        """A fresh session (its own customer, so its own link) in this walk's language."""
        self.n += 1
        if slug == "live":
            kwargs.setdefault("customer", stripe_support.CUSTOMER_ID)
            kwargs.setdefault("attributes", {"n": f"{self.locale}{self.n}"})
        else:
            kwargs.setdefault("customer", f"cus_{self.locale}{self.n}")
        return self.start(slug, locale=self.locale, **kwargs)

    def get(self, url: str, status: int = 200) -> str:
        response = self.client.get(url)
        assert response.status_code == status, response.status_code
        return response.get_data(as_text=True)

    def post(self, url: str, step: str, data: dict[str, str], status: int = 303) -> str:
        response = self.client.post(f"{url}/{step}", data=data)
        assert response.status_code == status, (step, data, response.status_code)
        return response.get_data(as_text=True)

    def merchant(self, slug: str, flow: dict[str, Any] | None = None, **fields: Any) -> None:
        with self.app.app_context():
            if by_slug(slug) is not None:
                return
            merchant = create_merchant(slug, "Acme <Analytics>", flow_data=flow)
            for name, value in fields.items():
                setattr(merchant, name, value)
            db.session.commit()


def _t(en: str, de: str, fr: str, es: str) -> dict[str, Any]:
    return {"en": en, "de": de, "fr": fr, "es": es}


def _offer(offer_id: str, kind: str, title: dict[str, str], body: dict[str, str], **fields: Any):
    return {
        "id": offer_id,
        "kind": kind,
        "title": title["en"],
        "body": body["en"],
        "titles": {k: v for k, v in title.items() if k != "en"},
        "bodies": {k: v for k, v in body.items() if k != "en"},
        **fields,
    }


# Every offer kind and form of words, each titled by the merchant in all four languages.
KINDS_FLOW: dict[str, Any] = {
    "reasons": flows.DEFAULT_FLOW["reasons"],
    "offers": [
        _offer(
            "amount",
            "discount",
            _t("Ten dollars back", "Zehn Dollar zurück", "Dix dollars offerts", "Diez dólares"),
            _t("On us.", "Von uns.", "C’est pour nous.", "Invitamos nosotros."),
            amount_off=1000,
            currency="usd",
            duration="once",
        ),
        _offer(
            "forever",
            "discount",
            _t("A lasting deal", "Dauerhaft günstiger", "Prix réduit", "Precio rebajado"),
            _t("For good.", "Für immer.", "Pour toujours.", "Para siempre."),
            percent_off=10,
            duration="forever",
        ),
        _offer(
            "one_month",
            "discount",
            _t("This month cheaper", "Diesen Monat günstiger", "Ce mois moins cher", "Este mes"),
            _t("Just once.", "Nur einmal.", "Une seule fois.", "Solo una vez."),
            percent_off=50,
            duration="repeating",
            duration_in_months=1,
        ),
        _offer(
            "pause_2m",
            "pause",
            _t("Two months off", "Zwei Monate Pause", "Deux mois de pause", "Dos meses de pausa"),
            _t("Rest.", "Erholung.", "Repos.", "Descanso."),
            months=2,
        ),
        _offer(
            "one_day",
            "free_period",
            _t("A day on us", "Ein Tag geschenkt", "Un jour offert", "Un día gratis"),
            _t("Enjoy.", "Genießen Sie.", "Profitez-en.", "Disfrute."),
            days=1,
        ),
        _offer(
            "basic",
            "switch_plan",
            _t("Go Basic", "Zu Basic wechseln", "Passer à Basic", "Cambiar a Basic"),
            _t("Fewer seats.", "Weniger Plätze.", "Moins de places.", "Menos plazas."),
            price_id="price_basic",
        ),
        _offer(
            "talk",
            "contact",
            _t("Let us help", "Wir helfen", "Laissez-nous aider", "Le ayudamos"),
            _t("Write to us.", "Schreiben Sie uns.", "Écrivez-nous.", "Escríbanos."),
            url="mailto:help@acme.example",
        ),
        _offer(
            "guide",
            "custom_link",
            _t("Read the guide", "Zur Anleitung", "Lire le guide", "Leer la guía"),
            _t("Step by step.", "Schritt für Schritt.", "Pas à pas.", "Paso a paso."),
            url="https://shop.example/guide",
        ),
    ],
    "rules": [
        {
            "name": "Money",
            "reasons": ["too_expensive"],
            "conditions": [],
            "offers": ["amount", "forever", "one_month", "pause_2m", "one_day"],
        },
        {
            "name": "Help",
            "reasons": ["other"],
            "conditions": [],
            "offers": ["basic", "talk", "guide"],
        },
    ],
    "default_offers": [],
    "max_offers": 5,
}


def _through_offers(w: Walk, slug: str, reason: str, count: int) -> tuple[str, list[str]]:
    url = w.open(slug)
    w.post(url, "survey", {"reason": reason})
    pages = []
    for _ in range(count):
        html = w.get(url)
        pages.append(html)
        offer_id = re.search(r'name="offer" value="([^"]+)"', html)
        assert offer_id, html
        w.post(url, "offer", {"offer": offer_id.group(1), "action": "decline"})
    return url, pages


def _accept(w: Walk, slug: str, reason: str, offer_id: str, declines: int = 0) -> list[str]:
    url = w.open(slug)
    w.post(url, "survey", {"reason": reason})
    html = w.get(url)
    for _ in range(declines):
        current = re.search(r'name="offer" value="([^"]+)"', html)
        assert current
        w.post(url, "offer", {"offer": current.group(1), "action": "decline"})
        html = w.get(url)
    w.post(url, "offer", {"offer": offer_id, "action": "accept"})
    done = w.get(url)
    assert 'name="action"' not in done
    return [done]


def _cancel(w: Walk, slug: str = "acme") -> list[str]:
    url = w.open(slug)
    w.post(url, "survey", {"action": "skip"})
    w.post(url, "confirm", {"action": "cancel"})
    return [w.get(url)]


def survey(w: Walk) -> list[str]:
    return [w.get(w.open())]


def survey_errors(w: Walk) -> list[str]:
    url = w.open()
    return [
        w.post(url, "survey", {}, status=200),
        w.post(url, "survey", {"reason": "not_a_reason"}, status=200),
        w.post(url, "survey", {"reason": "other", "comment": "x" * 2001}, status=200),
    ]


def scheduled_cancel_notice(w: Walk) -> list[str]:
    html = w.get(w.open(attributes={"cancel_at_period_end": "true"}))
    assert 'action="/s/' in html
    assert "/keep" in html
    return [html]


def default_offers(w: Walk) -> list[str]:
    _, discount_then_pause = _through_offers(w, "acme", "too_expensive", 2)
    _, pause_then_free = _through_offers(w, "acme", "unused", 2)
    return discount_then_pause + pause_then_free


def every_offer_kind(w: Walk) -> list[str]:
    w.merchant("kinds", KINDS_FLOW)
    _, money = _through_offers(w, "kinds", "too_expensive", 5)
    _, help_ = _through_offers(w, "kinds", "other", 3)
    return money + help_


def offer_bad_action(w: Walk) -> list[str]:
    url = w.open()
    w.post(url, "survey", {"reason": "too_expensive"})
    return [w.post(url, "offer", {"offer": "discount_25_3m", "action": "bogus"}, status=200)]


def confirm(w: Walk) -> list[str]:
    url = w.open()
    w.post(url, "survey", {"action": "skip"})
    page = w.get(url)
    return [page, w.post(url, "confirm", {"action": "bogus"}, status=200)]


def confirm_other_modes(w: Walk) -> list[str]:
    w.merchant("now", cancel_mode="immediately")
    w.merchant("portal", cancel_mode="portal")
    pages = []
    for slug in ("now", "portal"):
        url = w.open(slug)
        w.post(url, "survey", {"action": "skip"})
        pages.append(w.get(url))
    return pages


def done_accepted_default_offers(w: Walk) -> list[str]:
    return (
        _accept(w, "acme", "too_expensive", "discount_25_3m")
        + _accept(w, "acme", "unused", "pause_1m")
        + _accept(w, "acme", "unused", "free_30d", declines=1)
    )


def done_accepted_other_kinds(w: Walk) -> list[str]:
    w.merchant("kinds", KINDS_FLOW)
    return (
        _accept(w, "kinds", "too_expensive", "amount")
        + _accept(w, "kinds", "too_expensive", "forever", declines=1)
        + _accept(w, "kinds", "too_expensive", "pause_2m", declines=3)
        + _accept(w, "kinds", "too_expensive", "one_day", declines=4)
        + _accept(w, "kinds", "other", "basic")
        + _accept(w, "kinds", "other", "talk", declines=1)
        + _accept(w, "kinds", "other", "guide", declines=2)
    )


def done_canceled(w: Walk) -> list[str]:
    w.merchant("now", cancel_mode="immediately")
    return _cancel(w) + _cancel(w, "now")


def done_kept(w: Walk) -> list[str]:
    url = w.open()
    w.post(url, "survey", {"action": "skip"})
    w.post(url, "confirm", {"action": "keep"})
    kept = w.get(url)
    scheduled = w.open(attributes={"cancel_at_period_end": "true"})
    w.post(scheduled, "keep", {})
    return [kept, w.get(scheduled)]


def done_portal(w: Walk) -> list[str]:
    w.merchant("portal", cancel_mode="portal")
    url = w.open("portal")
    w.post(url, "survey", {"action": "skip"})
    w.post(url, "confirm", {"action": "cancel"})
    return [w.get(url)]


def invalid_link(w: Walk) -> list[str]:
    link = w.make_link(locale=w.locale)
    tampered = link[:-5] + ("A" if link[-5] != "A" else "B") + link[-4:]
    return [w.get(tampered, status=404)]


def unavailable(w: Walk) -> list[str]:
    w.stripe.responder = stripe_support.fault_responder([500])
    html = w.get(w.make_link("live", customer=stripe_support.CUSTOMER_ID, locale=w.locale), 503)
    w.stripe.responder = stripe_support.fixture_responder()
    return [html]


def ended(w: Walk) -> list[str]:
    return [w.get(w.open(attributes={"status": "canceled"}))]


def busy(w: Walk) -> list[str]:
    url = w.open()
    w.post(url, "survey", {"action": "skip"})
    with w.app.app_context():
        for session in db.session.scalars(sa.select(CancelSession)):
            session.busy_until = utcnow() + timedelta(seconds=30)
        db.session.commit()
    return [w.post(url, "confirm", {"action": "cancel"}, status=200)]


def billing_failures(w: Walk) -> list[str]:
    url = w.open("live")
    w.post(url, "survey", {"reason": "unused"})
    w.stripe.responder = stripe_support.fault_responder([402])
    card = w.post(url, "offer", {"offer": "pause_1m", "action": "accept"}, status=200)
    w.stripe.responder = stripe_support.fault_responder([500])
    w.post(url, "offer", {"offer": "pause_1m", "action": "cancel_now"})
    outage = w.post(url, "confirm", {"action": "cancel"}, status=200)
    w.stripe.responder = stripe_support.fixture_responder()
    assert "help@" not in card  # the live merchant has no support address
    return [card, outage]


SCENARIOS = [
    survey,
    survey_errors,
    scheduled_cancel_notice,
    default_offers,
    every_offer_kind,
    offer_bad_action,
    confirm,
    confirm_other_modes,
    done_accepted_default_offers,
    done_accepted_other_kinds,
    done_canceled,
    done_kept,
    done_portal,
    invalid_link,
    unavailable,
    ended,
    busy,
    billing_failures,
]


@pytest.mark.parametrize("scenario", SCENARIOS, ids=[s.__name__ for s in SCENARIOS])
def test_page_in_every_language(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    live_merchant: Any,
    stripe_stub: Any,
    start: Any,
    make_link: Any,
    scenario: Callable[[Walk], list[str]],
) -> None:
    pages = {}
    for locale in LOCALES:
        walk = Walk(app, client, start, make_link, stripe_stub, locale)
        pages[locale] = scenario(walk)
    assert_translated(pages)


def test_the_check_catches_an_untranslated_string() -> None:
    """The sweep itself: a page with one English sentence left in fails it."""
    name = "<p>Acme &lt;Analytics&gt;</p>"
    english = f'<html lang="en"><p>Cancel your subscription?</p>{name}'
    german = f'<html lang="de"><p>Möchten Sie Ihr Abonnement kündigen?</p>{name}'
    assert_translated({"en": [english], "de": [german]})
    leaked = german.replace("<p>Möchten", "<p>Keep my subscription</p><p>Möchten")
    with pytest.raises(AssertionError):
        assert_translated({"en": [english], "de": [leaked]})
    mixed = german.replace("kündigen?", "kündigen? Your subscription continues")
    with pytest.raises(AssertionError):
        assert_translated({"en": [english], "de": [mixed]})
