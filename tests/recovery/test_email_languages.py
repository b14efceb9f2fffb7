"""Every email in English, German, French and Spanish with nothing left in English; dates and
money in each language's own form; merchants' own text per language with its fallbacks; and a
German customer's failed payment end to end, from a signed webhook to the SMTP server."""

from __future__ import annotations

import io
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from babel.dates import format_date
from babel.messages.catalog import Catalog
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po
from babel.support import Translations
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.mail_support import SMTPSink, body_of
from support.page_support import visible_texts
from support.recovery_support import FakeStripe, event, invoice, post

from cancelpage import i18n
from cancelpage.extensions import db
from cancelpage.i18n import catalogs
from cancelpage.merchants.store import by_slug
from cancelpage.models import Merchant, OutboxEmail
from cancelpage.recovery import emails, outbox

LOCALES = ("en", "de", "fr", "es")
ACTION = "http://cancel.test/card/TOKEN"
UNSUBSCRIBE = "http://cancel.test/unsubscribe/TOKEN"
# The same in every language: the merchant's name and address, links, the text separator.
SAME_EVERYWHERE = {"Acme <Analytics>", "help@acme.example", ACTION, UNSUBSCRIBE, "--"}


def acme() -> Merchant:
    found = by_slug("acme")
    assert found is not None
    return found


def render_every_email(locale: str) -> dict[str, emails.RenderedEmail]:
    """Each kind, as a real email and as a test, with the built-in text, in ``locale``."""
    merchant = acme()
    rendered = {}
    for kind in emails.email_kinds(merchant):
        for test in (False, True):
            rendered[f"{kind}{' test' if test else ''}"] = emails.render(
                merchant,
                kind,
                {**emails.sample_data(merchant, kind), "test": test},
                locale=locale,
                action_url=ACTION,
                unsubscribe_url=UNSUBSCRIBE,
                own_copy=emails.MerchantCopy(),
            )
    return rendered


@cache
def english_parts() -> tuple[str, ...]:
    """The literal parts of every source string, between its placeholders and paragraphs, that
    are long enough to be unmistakable."""
    found = set()
    for message in catalogs.extract():
        for msgid in message.id if isinstance(message.id, tuple) else (message.id,):
            for part in re.split(r"%\(\w+\)[sd]|\{\w+\}|\n+", msgid):
                part = " ".join(part.split())
                if len(part) >= 10 and " " in part:
                    found.add(part)
    return tuple(sorted(found))


def texts_of(email: emails.RenderedEmail) -> set[str]:
    """What a reader sees: the subject, each line of the text part, the HTML's text nodes."""
    lines = {" ".join(line.split()) for line in email.text.splitlines()}
    return {email.subject} | visible_texts(email.html) | (lines - {""})


def assert_translated(renders: dict[str, dict[str, emails.RenderedEmail]]) -> None:
    english = renders["en"]
    for locale, by_kind in renders.items():
        for name, email in by_kind.items():
            assert f'<html lang="{locale}">' in email.html, (locale, name)
            for part in (email.subject, email.html, email.text):
                assert "%(" not in part, (locale, name)
                assert not re.search(r"\{\w+\}", part), (locale, name)
            if locale == "en":
                continue
            texts = texts_of(email)
            same = (texts & texts_of(english[name])) - SAME_EVERYWHERE
            assert not same, (locale, name, sorted(same))
            joined = " ".join(texts)
            leaked = [part for part in english_parts() if part in joined]
            assert not leaked, (locale, name, leaked)


# ---- every email in every language -------------------------------------------------------------


def test_every_email_renders_in_every_language_with_nothing_left_in_english(
    app: Flask, merchant: Merchant
) -> None:
    with app.app_context():
        renders = {locale: render_every_email(locale) for locale in LOCALES}
    # 4 dunning steps, card, save, win-back, 7 receipts; real and as a test
    assert len(renders["de"]) == 28
    assert_translated(renders)
    german = renders["de"]
    assert german["dunning_1"].subject == "Ihre Zahlung an Acme <Analytics> ist fehlgeschlagen"
    assert german["dunning_2"].subject.startswith("Erinnerung:")
    assert german["dunning_4"].subject.startswith("Letzte Erinnerung:")
    assert "Abonnement behalten" in german["dunning_4"].text  # the last one's button
    assert "Dies ist eine Test-E-Mail" in german["save test"].text
    assert "Dies ist eine Test-E-Mail" not in german["save"].text
    assert "Fragen? Antworten Sie auf diese E-Mail" in german["card_expiring"].text


def marked(text: str) -> str:
    return "\n\n".join(f"⟦{paragraph}⟧" for paragraph in text.split("\n\n"))


def pseudo_translations() -> Translations:
    """A catalog that marks every string it translates: ⟦...⟧ around each English paragraph."""
    catalog = Catalog(locale="de", domain=i18n.DOMAIN)
    for message in catalogs.extract():
        if isinstance(message.id, tuple):
            forms = tuple(marked(message.id[min(n, 1)]) for n in range(catalog.num_plurals))
            catalog.add(message.id, forms, context=message.context)
        elif message.id:
            catalog.add(message.id, marked(message.id), context=message.context)
    mo = io.BytesIO()
    write_mo(mo, catalog)
    mo.seek(0)
    return Translations(mo, domain=i18n.DOMAIN)


def test_every_word_of_every_email_goes_through_the_catalogs(
    app: Flask, merchant: Merchant
) -> None:
    """Pseudo-translated, nothing readable may be left outside the marks: a string that is
    never looked up in the catalogs (short ones too) is English in every language."""
    app.extensions["cancelpage.catalogs"] = {"de": pseudo_translations()}
    with app.app_context():
        renders = render_every_email("de")
    for name, email in renders.items():
        for text in texts_of(email):
            while (unmarked := re.sub(r"⟦[^⟦⟧]*⟧", "", text)) != text:
                text = unmarked
            left = text.strip()
            assert left in SAME_EVERYWHERE or not re.search(r"[^\W\d_]", left), (name, left)


def test_the_sweep_catches_english_left_in_an_email() -> None:
    """The check itself: one English sentence or one untranslated line fails it."""

    def email(lang: str, subject: str, line: str) -> emails.RenderedEmail:
        html = f'<html lang="{lang}"><h1>{subject}</h1><p>{line}</p></html>'
        return emails.RenderedEmail(subject, html, f"{subject}\n\n{line}\n")

    english = {"x": email("en", "Your card expires", "Update your payment details")}
    good = {"x": email("de", "Ihre Karte läuft ab", "Aktualisieren Sie Ihre Zahlungsdaten")}
    assert_translated({"en": english, "de": good})
    for leaked in (
        email("de", "Ihre Karte läuft ab", "Update your payment details"),
        email("de", "Ihre Karte läuft ab", "Bitte jetzt: We still couldn't collect it"),
        email("de", "Ihre Karte {last4}", "Aktualisieren Sie Ihre Zahlungsdaten"),
    ):
        with pytest.raises(AssertionError):
            assert_translated({"en": english, "de": {"x": leaked}})


# ---- dates and money ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("locale", "facts"),
    [
        (
            "en",
            [
                "Amount due: €29.00",
                "Due since March 3, 2026",
                "Your subscription ends on January 1, 2031.",
                "Visa •••• 4242, expires December 2030",
            ],
        ),
        (
            "de",
            [
                "Offener Betrag: 29,00\xa0€",
                "Fällig seit 3. März 2026",
                "Ihr Abonnement endet am 1. Januar 2031.",
                "Visa •••• 4242, gültig bis Ende Dezember 2030",
            ],
        ),
        (
            "fr",
            [
                "Montant dû\xa0: 29,00\xa0€",
                "Dû depuis le 3 mars 2026",
                "Votre abonnement prend fin le 1 janvier 2031.",
                "Visa •••• 4242, valable jusqu’à fin décembre 2030",
            ],
        ),
        (
            "es",
            [
                "Importe pendiente: 29,00\xa0€",
                "Pendiente desde el 3 de marzo de 2026",
                "Su suscripción termina el 1 de enero de 2031.",
                "Visa •••• 4242, válida hasta finales de diciembre de 2030",
            ],
        ),
    ],
)
def test_dates_and_money_in_each_languages_own_form(
    app: Flask, merchant: Merchant, locale: str, facts: list[str]
) -> None:
    with app.app_context():
        merchant_ = acme()

        def text_of(kind: str, data: dict[str, Any]) -> str:
            return emails.render(
                merchant_,
                kind,
                data,
                locale=locale,
                action_url=ACTION,
                unsubscribe_url=UNSUBSCRIBE,
                own_copy=emails.MerchantCopy(),
            ).text

        texts = [
            text_of("dunning_1", {"amount": 2900, "currency": "eur", "due_since": 1_772_528_400}),
            text_of("save", {"ends_at": 1_924_992_000}),
            text_of(
                "card_expiring",
                {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
            ),
        ]
    found = "\n".join(texts)
    for fact in facts:
        assert fact in found, (fact, found)


def test_zero_decimal_currencies_and_rows_queued_before_due_dates_existed(
    app: Flask, merchant: Merchant
) -> None:
    with app.app_context():
        text = emails.render(
            acme(),
            "dunning_2",
            {"amount": 500, "currency": "jpy"},
            locale="de",
            action_url=ACTION,
            unsubscribe_url=UNSUBSCRIBE,
            own_copy=emails.MerchantCopy(),
        ).text
    assert "Offener Betrag: 500\xa0¥" in text
    assert "Fällig seit" not in text


# ---- merchants' own text per language ------------------------------------------------------------


def own_subject_and_body(locale: str) -> tuple[str, str]:
    email = emails.preview(acme(), "save", locale)
    return email.subject, email.text


def test_own_text_falls_back_per_field_to_the_default_language_then_built_in(
    app: Flask, merchant: Merchant
) -> None:
    with app.app_context():
        emails.set_copy(acme(), "save", "Wait, {merchant}!", None)  # default language (English)
        emails.set_copy(acme(), "save", "Warten Sie, {merchant}!", None, locale="de")
        emails.set_copy(acme(), "save", None, "Restez avec nous jusqu'au {date}.", locale="fr")
        db.session.commit()
        rows = {(r.locale, r.subject, r.body) for r in emails.copies_of(acme(), "save")}
        assert rows == {
            (None, "Wait, {merchant}!", None),
            ("de", "Warten Sie, {merchant}!", None),
            ("fr", None, "Restez avec nous jusqu'au {date}."),
        }
        german, french, spanish, english = (
            own_subject_and_body(code) for code in ("de", "fr", "es", "en")
        )
    assert german[0] == "Warten Sie, Acme <Analytics>!"
    assert "Schade, dass Sie gehen." in german[1]  # no German body of theirs: built-in German
    assert french[0] == "Wait, Acme <Analytics>!"  # no French subject: the default language's
    assert "Restez avec nous jusqu'au 1 janvier 2031." in french[1]
    assert spanish[0] == "Wait, Acme <Analytics>!"
    assert "Lamentamos que se vaya." in spanish[1]
    assert english[0] == "Wait, Acme <Analytics>!"
    assert "We're sorry to see you go." in english[1]


def test_the_default_language_is_the_row_without_a_locale(app: Flask, merchant: Merchant) -> None:
    with app.app_context():
        emails.set_copy(acme(), "dunning_1", "Default {amount}", None, locale="en")
        row = emails.get_copy(acme(), "dunning_1", "en")
        assert row is not None
        assert row.locale is None
        assert emails.get_copy(acme(), "dunning_1") is row
        assert emails.get_copy(acme(), "dunning_1", "de") is None
        emails.set_copy(acme(), "dunning_1", "Standard {amount}", None, locale="de")
        # The merchant switches to German: their German row is what German customers get and
        # what the dashboard edits; the old default-language row stays the fallback for others.
        acme().default_locale = "de"
        shown = emails.get_copy(acme(), "dunning_1", "de")
        assert shown is not None
        assert shown.locale == "de"
        assert (
            emails.preview(acme(), "dunning_1", "fr").subject == "Standard 29,00 $US"
        )  # one line: spaces made plain
        emails.reset_copy(acme(), "dunning_1", "de")
        assert [r.locale for r in emails.copies_of(acme(), "dunning_1")] == [None]
        with pytest.raises(emails.CopyError, match="unknown language 'it'") as refused:
            emails.set_copy(acme(), "dunning_1", "Ciao", None, locale="it")
        assert refused.value.field == "locale"


def test_the_worker_picks_each_customers_language_from_the_merchants_texts(
    app: Flask, merchant: Merchant, smtp: SMTPSink
) -> None:
    with app.app_context():
        emails.set_copy(acme(), "save", "Don't go, {merchant}", None)
        emails.set_copy(acme(), "save", "Bleiben Sie, {merchant}", "Bis {date}.", locale="de")
        for n, locale in enumerate(("de", "fr", "en")):
            outbox.queue(
                acme(),
                kind="save",
                dedupe_key=f"save:{n}",
                to_address=f"{locale}@example.com",
                customer_id=f"cus_{n}",
                locale=locale,
                data={"ends_at": 1_924_992_000},
            )
        db.session.commit()
        assert outbox.drain().sent == 3
    by_address = {m["To"]: m for m in smtp.messages}
    german = by_address["de@example.com"]
    assert german["Subject"] == "Bleiben Sie, Acme <Analytics>"
    assert "Bis 1. Januar 2031." in body_of(german, "plain")
    french = by_address["fr@example.com"]
    assert french["Subject"] == "Don't go, Acme <Analytics>"
    assert "Nous sommes désolés de vous voir partir." in body_of(french, "plain")
    assert by_address["en@example.com"]["Subject"] == "Don't go, Acme <Analytics>"


def test_the_copy_cli_takes_a_language(app: Flask, merchant: Merchant) -> None:
    runner = app.test_cli_runner()
    german = runner.invoke(
        args=["email", "copy", "acme", "save", "--locale", "de", "--subject", "Halt, {merchant}!"]
    )
    assert german.exit_code == 0, german.output
    assert "Subject: Halt, Acme <Analytics>!" in german.output
    assert "Schade, dass Sie gehen." in german.output
    english = runner.invoke(args=["email", "copy", "acme", "save"])
    assert "Subject: Your Acme <Analytics> subscription is set to end" in english.output
    reset = runner.invoke(args=["email", "copy", "acme", "save", "--locale", "de", "--reset"])
    assert "Subject: Ihr Abonnement bei Acme <Analytics> ist gekündigt" in reset.output
    bad = runner.invoke(args=["email", "copy", "acme", "save", "--locale", "xx", "--subject", "x"])
    assert bad.exit_code != 0
    assert "unknown language 'xx'" in bad.output


# ---- the catalogs ------------------------------------------------------------------------------


def test_the_catalog_check_catches_a_dropped_brace_placeholder(tmp_path: Path) -> None:
    directory = tmp_path / "translations"
    for locale in LOCALES[1:]:
        source = i18n.catalog_path(locale)
        target = i18n.catalog_path(locale, directory)
        target.parent.mkdir(parents=True)
        target.write_bytes(source.read_bytes())
    path = i18n.catalog_path("de", directory)
    with path.open("rb") as po:
        catalog = read_po(po, locale="de")
    catalog["Your card ending in {last4} expires soon"].string = "Ihre Karte läuft bald ab"
    with path.open("wb") as po:
        write_po(po, catalog)
    assert catalogs.problems(directory) == [
        "de: 'Your card ending in {last4} expires soon' must use exactly the placeholders "
        "['{last4}']"
    ]


# ---- end to end: a German customer's failed payment ---------------------------------------------


@pytest.mark.usefixtures("hooked")
def test_a_german_customers_failed_payment_becomes_a_german_email(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, smtp: SMTPSink
) -> None:
    fake_stripe.customers[ss.CUSTOMER_ID]["preferred_locales"] = ["de"]
    fake_stripe.subscriptions[ss.SUB_ID]["customer"]["preferred_locales"] = ["de"]
    response = post(client, event("invoice.payment_failed", invoice()))
    assert response.status_code == 200, response.json
    assert smtp.messages == []  # the webhook only queues; the worker sends

    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "sent 1, retrying 0, dead 0" in result.output
    [message] = smtp.wait_for(1)
    assert message["To"] == "jenny@example.com"
    assert message["From"] == "Live Co <cancelpage@localhost>"
    assert message["Subject"] == "Ihre Zahlung an Live Co ist fehlgeschlagen"
    assert message["List-Unsubscribe"].startswith("<http://cancel.test/unsubscribe/")
    assert message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    text, html = body_of(message, "plain"), body_of(message, "html")
    with app.app_context():
        [row, *later] = db.session.scalars(db.select(OutboxEmail).order_by(OutboxEmail.id))
        assert (row.status, row.locale) == ("sent", "de")
        assert {r.status for r in later} == {"pending"}  # the reminders wait for their day
        assert row.case is not None
        since = format_date(row.case.opened_at, "long", locale="de")  # e.g. "3. März 2026"
    for part in (text, html):
        assert "Wir wollten 29,00\xa0€ für Ihr Abonnement bei Live Co einziehen" in part
        assert "Offener Betrag: 29,00\xa0€" in part
        assert f"Fällig seit {since}" in part
        assert "Zahlungsdaten aktualisieren" in part
        assert "Von diesen E-Mails abmelden" in part
    assert '<html lang="de">' in html
    assert message["List-Unsubscribe"][1:-1] in text
    english = [p for p in english_parts() if p in text or p in html]
    assert english == []
    card_link = re.search(r"http://cancel\.test(/card/\S+)", text)
    assert card_link is not None
    card_page = client.get(card_link.group(1)).get_data(as_text=True)
    assert "Aktualisieren Sie Ihre Zahlungsdaten" in card_page  # the page speaks German too
