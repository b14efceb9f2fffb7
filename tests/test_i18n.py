"""Languages: complete catalogs, locale precedence, the switcher, formats, merchant texts."""

from __future__ import annotations

import re
import shutil
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
import stripe_support
from babel.messages.pofile import read_po, write_po
from flask import Flask
from flask.testing import FlaskClient
from flask_babel import gettext, ngettext

from cancelpage import flows, i18n
from cancelpage.extensions import db
from cancelpage.i18n import catalogs
from cancelpage.merchants.store import by_slug, create_merchant
from cancelpage.models import CancelSession, StripeWrite

HX = {"HX-Request": "true"}
TRANSLATED = ("de", "fr", "es")
DEC_31_2026 = int(datetime(2026, 12, 31, 12, tzinfo=UTC).timestamp())


def page(response: Any) -> str:
    """The response's HTML with whitespace runs collapsed (no-break spaces are kept)."""
    return re.sub(r"[ \t\r\n]+", " ", response.get_data(as_text=True))


def heading(response: Any) -> str:
    match = re.search(r'<h1 id="step-title"[^>]*>(.*?)</h1>', page(response))
    assert match, page(response)
    return match.group(1)


def html_lang(response: Any) -> str:
    match = re.search(r'<html lang="([^"]*)">', response.get_data(as_text=True))
    assert match
    return match.group(1)


def one_session(app: Flask) -> CancelSession:
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        db.session.expunge(session)
        return session


def set_snapshot(app: Flask, **values: Any) -> None:
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        session.snapshot = {**session.snapshot, **values}
        db.session.commit()


def add_merchant(
    app: Flask,
    slug: str,
    flow: dict[str, Any] | None = None,
    default_locale: str = "en",
    **fields: Any,
) -> None:
    with app.app_context():
        merchant = create_merchant(slug, slug.title(), flow_data=flow)
        merchant.default_locale = default_locale
        for name, value in fields.items():
            setattr(merchant, name, value)
        db.session.commit()


# ---- catalogs --------------------------------------------------------------------------------


def test_every_string_is_translated_and_the_catalogs_match_the_sources() -> None:
    """Fails when a marked string has no de/fr/es translation or a catalog is out of date:
    run `flask --app cancelpage translations update`, translate, commit."""
    assert catalogs.problems() == []


def test_the_check_command_passes(app: Flask) -> None:
    result = app.test_cli_runner().invoke(args=["translations", "check"])
    assert result.exit_code == 0, result.output
    assert "All catalogs are complete and up to date." in result.output


def test_no_translated_word_is_long_enough_to_overflow_a_phone_screen() -> None:
    for locale in TRANSLATED:
        with catalogs.catalog_path(locale).open("rb") as po:
            catalog = read_po(po, locale=locale)
        for message in catalog:
            strings = message.string if isinstance(message.string, tuple) else (message.string,)
            for string in strings:
                for word in re.sub(r"%\(\w+\)[sd]", "", string).split():
                    assert len(word) <= 30, (locale, word)


def test_plural_forms_follow_each_language(app: Flask) -> None:
    singular, plural = (
        "%(num)d day free: your next payment moves back.",
        "%(num)d days free: your next payment moves back.",
    )
    seen = {}
    for locale in ("en", *TRANSLATED):
        with app.test_request_context():
            i18n.prefer(link=locale)
            seen[locale] = [ngettext(singular, plural, n) for n in (0, 1, 2)]
    assert seen["en"][0].startswith("0 days")
    assert seen["en"][1].startswith("1 day free")
    assert seen["de"] == [
        "0 Tage kostenlos: Ihre nächste Zahlung verschiebt sich entsprechend.",
        "1 Tag kostenlos: Ihre nächste Zahlung verschiebt sich entsprechend.",
        "2 Tage kostenlos: Ihre nächste Zahlung verschiebt sich entsprechend.",
    ]
    # French counts 0 as singular (plural=(n > 1))
    assert [s.split("\u00a0:")[0] for s in seen["fr"]] == [
        "0 jour offert",
        "1 jour offert",
        "2 jours offerts",
    ]
    assert [s.split(":")[0] for s in seen["es"]] == [
        "0 días gratis",
        "1 día gratis",
        "2 días gratis",
    ]


def _copy_catalogs(tmp_path: Path) -> Path:
    target = tmp_path / "translations"
    shutil.copytree(i18n.TRANSLATIONS_DIR, target, ignore=shutil.ignore_patterns("*.mo"))
    return target


def _edit(path: Path, locale: str, change: Any) -> None:
    with path.open("rb") as po:
        catalog = read_po(po, locale=locale)
    change(catalog)
    with path.open("wb") as po:
        write_po(po, catalog)


def test_the_check_names_every_kind_of_problem(tmp_path: Path) -> None:
    directory = _copy_catalogs(tmp_path)

    def german(catalog: Any) -> None:
        catalog.delete("Continue")
        catalog["Cancel subscription"].string = ""
        catalog["No thanks"].flags.add("fuzzy")
        catalog["Back to %(name)s"].string = "Zurück zu %(shop)s"
        catalog.add("A string nobody uses any more", "Weg damit")

    def french(catalog: Any) -> None:
        catalog["%(off)s off for %(num)d month."].string = ("%(off)s pendant %(num)d mois.", "")

    _edit(catalogs.catalog_path("de", directory), "de", german)
    _edit(catalogs.catalog_path("fr", directory), "fr", french)
    spanish = catalogs.catalog_path("es", directory)
    spanish.write_text(
        spanish.read_text().replace("nplurals=2; plural=(n != 1);", "nplurals=1; plural=0;")
    )
    found = catalogs.problems(directory)
    update = "run `flask --app cancelpage translations update`"
    assert f"de: missing 'Continue'; {update}" in found
    assert "de: 'Cancel subscription' is not translated" in found
    assert "de: 'No thanks' is fuzzy (a guess to review)" in found
    assert "de: 'Back to %(name)s' must use exactly the placeholders ['name']" in found
    assert f"de: 'A string nobody uses any more' is no longer in the sources; {update}" in found
    assert "fr: '%(off)s off for %(num)d month.' is not translated" in found
    assert "es: Plural-Forms should be 'nplurals=2; plural=(n != 1);'" in found
    assert len(found) == 7, found


def test_update_brings_in_new_strings_from_code_and_email_templates(tmp_path: Path) -> None:
    """The one command that adds another branch's strings (emails are .txt and .html)."""
    root = tmp_path / "src"
    package = root / "cancelpage"
    (package / "templates" / "emails").mkdir(parents=True)
    shutil.copy(catalogs.MAPPING_FILE, root / "babel.cfg")
    (package / "dunning.py").write_text(
        "from flask_babel import lazy_gettext as _l\nSUBJECT = _l('Your payment failed')\n"
    )
    (package / "templates" / "emails" / "failed.txt").write_text(
        "{{ _('Please update your card, %(name)s.', name=name) }}\n"
        "{{ ngettext('%(num)d day left', '%(num)d days left', days) }}\n"
    )
    (package / "templates" / "emails" / "failed.html").write_text("<p>{{ _('Update card') }}</p>")
    directory = tmp_path / "translations"
    changed = catalogs.update(directory, root)
    assert sorted(p.parent.parent.name for p in changed) == ["de", "es", "fr"]
    found = catalogs.problems(directory, root)
    for locale in TRANSLATED:
        for msgid in (
            "Your payment failed",
            "Please update your card, %(name)s.",
            "%(num)d day left",
            "Update card",
        ):
            assert f"{locale}: {msgid!r} is not translated" in found
    german = catalogs.catalog_path("de", directory).read_text()
    assert '"Plural-Forms: nplurals=2; plural=(n != 1);\\n"' in german
    assert "#: cancelpage/templates/emails/failed.txt\n" in german  # file names, no line numbers
    assert catalogs.update(directory, root) == []  # a second run changes nothing


def test_catalogs_compile_in_memory_and_fuzzy_entries_stay_english(tmp_path: Path) -> None:
    directory = _copy_catalogs(tmp_path)
    _edit(
        catalogs.catalog_path("de", directory),
        "de",
        lambda catalog: catalog["No thanks"].flags.add("fuzzy"),
    )
    shutil.rmtree(directory / "es")
    compiled = i18n.compile_catalogs(directory)
    assert sorted(compiled) == ["de", "fr"]  # a missing catalog is left out (shown in English)
    assert compiled["de"].gettext("Continue") == "Weiter"
    assert compiled["de"].gettext("No thanks") == "No thanks"
    assert not list(tmp_path.rglob("*.mo"))
    assert not list(i18n.TRANSLATIONS_DIR.rglob("*.mo"))


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
    assert "Votre abonnement prendra fin le 1 janvier 2026." in page(confirm)


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


# ---- dates, money, percentages ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "confirm", "done"),
    [
        (
            "en",
            "Your subscription will end on December 31, 2026.",
            "It ends on December 31, 2026.",
        ),
        ("de", "Ihr Abonnement endet am 31. Dezember 2026.", "Es endet am 31. Dezember 2026."),
        (
            "fr",
            "Votre abonnement prendra fin le 31 décembre 2026.",
            "Il prend fin le 31 décembre 2026.",
        ),
        (
            "es",
            "Su suscripción finalizará el 31 de diciembre de 2026.",
            "Finaliza el 31 de diciembre de 2026.",
        ),
    ],
)
def test_dates_per_locale(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    locale: str,
    confirm: str,
    done: str,
) -> None:
    url = start(locale=locale)
    set_snapshot(app, period_end=DEC_31_2026)
    assert confirm in page(client.post(f"{url}/survey", data={"action": "skip"}, headers=HX))
    client.post(f"{url}/confirm", data={"action": "cancel"})
    assert done in page(client.get(url))


MONEY_FLOW: dict[str, Any] = {
    **flows.DEFAULT_FLOW,
    "offers": [
        {
            "id": "euro19",
            "kind": "discount",
            "title": "€19 off",
            "titles": {"de": "19 € Rabatt", "fr": "19 € de réduction", "es": "19 € de descuento"},
            "amount_off": 1900,
            "currency": "eur",
            "duration": "once",
        },
        {
            "id": "big",
            "kind": "discount",
            "title": "A big discount",
            "titles": {"de": "Großer Rabatt", "fr": "Grosse réduction", "es": "Gran descuento"},
            "amount_off": 123456,
            "currency": "usd",
            "duration": "forever",
        },
    ],
    "rules": [],
    "default_offers": ["euro19", "big"],
}


@pytest.mark.parametrize(
    ("locale", "euros", "dollars", "percent"),
    [
        (
            "en",
            "€19.00 off your next payment.",
            "$1,234.56 off for as long as you stay.",
            "25% off for 3 months.",
        ),
        (
            "de",
            "19,00\u00a0€ Rabatt auf Ihre nächste Zahlung.",
            "1.234,56\u00a0$ Rabatt, solange Sie bleiben.",
            "25\u00a0% Rabatt für 3 Monate.",
        ),
        (
            "fr",
            "19,00\u00a0€ de réduction sur votre prochain paiement.",
            "1\u202f234,56\u00a0$US de réduction aussi longtemps que vous restez avec nous.",
            "25\u00a0% de réduction pendant 3 mois.",
        ),
        (
            "es",
            "19,00\u00a0€ de descuento en su próximo pago.",
            "1.234,56\u00a0US$ de descuento mientras siga con nosotros.",
            "25\u00a0% de descuento durante 3 meses.",
        ),
    ],
)
def test_money_and_percentages_per_locale(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    locale: str,
    euros: str,
    dollars: str,
    percent: str,
) -> None:
    add_merchant(app, "money", flow=MONEY_FLOW)
    url = start("money", locale=locale)
    first = page(client.post(f"{url}/survey", data={"reason": "other"}, headers=HX))
    assert euros in first
    second = page(
        client.post(f"{url}/offer", data={"offer": "euro19", "action": "decline"}, headers=HX)
    )
    assert dollars in second
    url = start(locale=locale, customer="cus_pct")
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    assert percent in page(client.get(url))


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
