"""Merchant copy, reasons and offers per language, with their fallbacks."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from flask_babel import gettext
from support.i18n_support import (
    HX,
    add_merchant,
    heading,
    html_lang,
    page,
)

from cancelpage import flows, i18n
from cancelpage.merchants.store import by_slug

# ---- merchant copy per locale ----------------------------------------------------------------


def test_localized_falls_back_to_the_default_locale_then_the_builtin() -> None:
    copy = {
        "survey_question": "Why go?",
        "email_subject": "Your payment failed",
        "de": {"survey_question": "Warum?", "email_subject": ""},
        "fr": {"survey_question": 7},
        "es": "not an object",
        "xx": {"survey_question": "ignored"},
    }
    assert i18n.localized(copy, "survey_question", "de") == "Warum?"
    assert i18n.localized(copy, "survey_question", "de-AT") == "Warum?"
    assert i18n.localized(copy, "survey_question", "fr") == "Why go?"  # not a string: ignored
    assert i18n.localized(copy, "survey_question", "es") == "Why go?"
    assert i18n.localized(copy, "survey_question", "xx") == "Why go?"
    assert i18n.localized(copy, "email_subject", "de") == "Your payment failed"  # empty: ignored
    assert i18n.localized(copy, "headline", "de", default="Built in") == "Built in"
    assert i18n.localized({}, "headline", "de") is None
    # the merchant's default locale's entry comes before the untranslated value
    assert (
        i18n.localized({"k": "Base", "fr": {"k": "Français"}}, "k", "es", default_locale="fr")
        == "Français"
    )


def test_localized_reads_a_merchants_headline_and_copy(app: Flask) -> None:
    add_merchant(
        app,
        "copy",
        default_locale="fr",
        headline="Attendez !",
        copy={"fr": {"survey_question": "Pourquoi ?"}, "de": {"headline": "Moment!"}},
    )
    with app.app_context():
        merchant = by_slug("copy")
        assert i18n.localized(merchant, "headline", "de") == "Moment!"
        assert i18n.localized(merchant, "headline", "es") == "Attendez !"
        assert i18n.localized(merchant, "survey_question", "es") == "Pourquoi ?"
        assert i18n.localized(merchant, "email_subject", "es", default="X") == "X"
    with app.test_request_context():
        i18n.prefer(link="de")
        assert i18n.localized(by_slug("copy"), "headline") == "Moment!"  # current locale


def test_survey_copy_per_locale_with_fallbacks(app: Flask, client: FlaskClient, start: Any) -> None:
    add_merchant(
        app,
        "shop",
        headline="Wait a second!",
        copy={"survey_question": "Why are you leaving?", "de": {"headline": "Einen Moment!"}},
    )
    german = client.get(start("shop", locale="de"))
    assert heading(german) == "Einen Moment!"
    assert "<legend>Why are you leaving?</legend>" in page(german)  # merchant default (en)
    spanish = client.get(start("shop", locale="es", customer="cus_es"))
    assert heading(spanish) == "Wait a second!"
    add_merchant(app, "plain")
    built_in = client.get(start("plain", locale="es"))
    assert heading(built_in) == "Antes de irse…"
    assert "<legend>¿Cuál es el motivo principal de su cancelación?</legend>" in page(built_in)


def test_merchant_copy_stays_escaped_in_every_language(
    app: Flask, client: FlaskClient, start: Any
) -> None:
    add_merchant(app, "xss", copy={"fr": {"headline": "<script>alert(1)</script>"}})
    body = page(client.get(start("xss", locale="fr")))
    assert "<script>alert" not in body
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in body


# ---- reasons and offers per locale -----------------------------------------------------------


def _edited_flow() -> dict[str, Any]:
    data = flows.flow_to_dict(flows.default_flow())
    reasons = {r["code"]: r for r in data["reasons"]}
    reasons["too_expensive"]["label"] = "Too pricey for my team"  # edited, untranslated
    reasons["unused"]["labels"] = {"de": "Wir nutzen es kaum", "fr": "On l’utilise peu"}
    offers = {o["id"]: o for o in data["offers"]}
    offers["discount_25_3m"]["title"] = "A quarter off, three months"
    offers["discount_25_3m"]["titles"] = {"es": "Un cuarto menos durante tres meses"}
    offers["pause_1m"]["bodies"] = {"de": "Eine Pause, ganz ohne Kosten."}
    return data


def test_merchant_edited_texts_win_over_the_builtin_translations(
    app: Flask, client: FlaskClient, start: Any
) -> None:
    add_merchant(app, "edited", flow=_edited_flow())
    german = page(client.get(start("edited", locale="de")))
    assert "<span>Too pricey for my team</span>" in german  # as the merchant wrote it
    assert "<span>Wir nutzen es kaum</span>" in german  # the merchant's German
    assert "<span>Es ist zu teuer</span>" not in german
    assert "<span>Der Kundenservice war unzureichend</span>" in german  # untouched: built in
    spanish = start("edited", locale="es", customer="cus_es")
    offer = client.post(f"{spanish}/survey", data={"reason": "too_expensive"}, headers=HX)
    assert heading(offer) == "Un cuarto menos durante tres meses"
    # untouched built-in body, translated
    assert "Quédese con nosotros y pague una cuarta parte menos" in page(offer)
    french = start("edited", locale="fr", customer="cus_fr")
    offer = client.post(f"{french}/survey", data={"reason": "too_expensive"}, headers=HX)
    assert heading(offer) == "A quarter off, three months"  # no French: the merchant's default
    assert "<span>On l’utilise peu</span>" in page(client.get(start("edited", locale="fr")))


def test_translated_offer_body_then_a_german_done_page(
    app: Flask, client: FlaskClient, start: Any
) -> None:
    add_merchant(app, "edited", flow=_edited_flow())
    url = start("edited", locale="de")
    offer = client.post(f"{url}/survey", data={"reason": "unused"}, headers=HX)
    assert heading(offer) == "Einen Monat pausieren"
    assert "<p>Eine Pause, ganz ohne Kosten.</p>" in page(offer)
    done = client.post(f"{url}/offer", data={"offer": "pause_1m", "action": "accept"}, headers=HX)
    months = "Januar|Februar|März|April|Mai|Juni|Juli|August|September|Oktober|November|Dezember"
    assert re.search(
        rf"Ihr Abonnement ist pausiert\. Die Abrechnung beginnt wieder am \d{{1,2}}\. "
        rf"({months}) \d{{4}}\.",
        page(done),
    )


def test_a_merchant_writing_in_french_serves_french_to_other_languages(
    app: Flask, client: FlaskClient, start: Any
) -> None:
    data = flows.flow_to_dict(flows.default_flow())
    data["reasons"][0]["labels"] = {"fr": "Trop cher pour nous"}
    add_merchant(app, "paris", flow=data, default_locale="fr")
    german = page(client.get(start("paris", locale="de")))
    assert "<span>Trop cher pour nous</span>" in german  # the merchant's default locale
    assert "<span>Ich nutze es zu selten</span>" in german  # built-in text, translated


def test_builtin_flow_texts_translate_only_known_text(app: Flask) -> None:
    with app.test_request_context():
        i18n.prefer(link="de")
        assert i18n.builtin("It's too expensive") == "Es ist zu teuer"
        assert i18n.builtin("Continue") == "Continue"  # merchant text that happens to be a msgid
        assert gettext("Continue") == "Weiter"


def test_demo_links_in_german(app: Flask, client: FlaskClient) -> None:
    result = app.test_cli_runner().invoke(args=["demo", "--no-serve", "--locale", "de"])
    assert result.exit_code == 0, result.output
    links = re.findall(r"http://127\.0\.0\.1:5000(/c/\S+)", result.output)
    assert len(links) == 2
    response = client.get(client.get(links[0]).headers["Location"])
    assert html_lang(response) == "de"
    assert heading(response) == "Bevor Sie gehen\u00a0…"
