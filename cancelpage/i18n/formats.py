"""Saying things in the customer's language: amounts of money, and the engine's messages (an
offer's terms and accept label, declared with the offer kind in cancelpage.flows.offers)."""

from __future__ import annotations

from fractions import Fraction

from babel.numbers import format_currency
from flask import Flask
from flask_babel import format_percent, get_locale, get_translations
from markupsafe import Markup

from cancelpage import flows


def format_money(amount: int | Fraction, currency: str, locale: str) -> str:
    """Minor units (Stripe's exponents, flows.money) to an amount in `locale`, with the
    currency's usual digits: format_money(14000, "jpy", "en") == "¥14,000"."""
    code = (currency or "usd").upper()
    return str(format_currency(flows.to_major(amount, code), code, locale=locale))


def money(amount: int | Fraction, currency: str) -> str:
    """format_money in the request's language: customer pages, emails and the dashboard."""
    return format_money(amount, currency, str(get_locale() or "en"))


def _value(value: str | int | flows.Percent | flows.Money) -> str | int:
    if isinstance(value, flows.Percent):
        return str(format_percent(value.value))
    if isinstance(value, flows.Money):
        return money(value.amount, value.currency)
    return value


def say(message: flows.Message) -> Markup:
    """The message translated, its values formatted and escaped (as Jinja's own _() does)."""
    translations = get_translations()
    values = {name: _value(value) for name, value in message.values.items()}
    if message.plural is None:
        text = translations.ugettext(message.text)
    else:
        count = message.count or 0
        text = translations.ungettext(message.text, message.plural, count)
        values.setdefault("num", count)
    return Markup(text) % values if values else Markup(text)


def offer_terms(offer: flows.Offer, snapshot: flows.Snapshot) -> Markup:
    """What the customer gets from the offer, in one sentence ("" when the offer says it)."""
    terms = offer.terms(snapshot)
    return say(terms) if terms is not None else Markup("")


def accept_label(offer: flows.Offer) -> Markup:
    """The offer's accept button."""
    return say(flows.Message(offer.accept_label))


def init_app(app: Flask) -> None:
    """Make the helpers available to every template."""
    app.jinja_env.globals.update(offer_terms=offer_terms, accept_label=accept_label, money=money)
