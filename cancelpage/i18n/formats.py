"""Saying things in the customer's language: amounts of money, dates in a time zone, and the
engine's messages (a subscription's line and an offer's terms, cancelpage.flows.terms).

``render(message, locale, tz)`` works anywhere (emails, the worker, tests): no request needed.
``say(message)`` is the same in a request, in its language and time zone (``time_zone()``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from fractions import Fraction
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_date
from babel.numbers import format_currency, format_percent
from flask import Flask, current_app, g, has_app_context, has_request_context
from flask_babel import get_locale
from markupsafe import Markup, escape

from cancelpage import flows
from cancelpage.i18n.languages import SOURCE_TEXT, compile_catalogs

DEFAULT_ZONE = "UTC"


def format_money(amount: int | Fraction, currency: str, locale: str) -> str:
    """Minor units (Stripe's exponents, flows.money) to an amount in `locale`, with the
    currency's usual digits: format_money(14000, "jpy", "en") == "¥14,000"."""
    code = (currency or "usd").upper()
    return str(format_currency(flows.to_major(amount, code), code, locale=locale))


def money(amount: int | Fraction, currency: str) -> str:
    """format_money in the request's language: customer pages, emails and the dashboard."""
    return format_money(amount, currency, str(get_locale() or "en"))


def zone(name: str | None) -> ZoneInfo:
    """The IANA time zone of that name; UTC for none or an unknown name."""
    try:
        return ZoneInfo(name or DEFAULT_ZONE)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo(DEFAULT_ZONE)


def format_day(timestamp: int | float, locale: str, tz: str | None) -> str:
    """A moment as a long date in `tz` ("14 March 2027", "14. März 2027")."""
    moment = datetime.fromtimestamp(timestamp, UTC).astimezone(zone(tz))
    return str(format_date(moment.date(), "long", locale=locale))


def time_zone() -> str:
    """The time zone of the request's dates (set by the page from the browser or the merchant's
    setting), UTC outside a request."""
    return str(g.get("time_zone") or DEFAULT_ZONE) if has_request_context() else DEFAULT_ZONE


def render(message: flows.Message, locale: str, tz: str | None = None) -> str:
    """The message in `locale` (en, de, fr, es), its values formatted, dates in `tz`; plain text."""
    # The app's catalogs when there is an app (what every other string is looked up in).
    catalogs = (
        current_app.extensions.get("cancelpage.catalogs") if has_app_context() else None
    ) or compile_catalogs()
    translations = catalogs.get(locale, SOURCE_TEXT)
    values = {name: _value(value, locale, tz) for name, value in message.values.items()}
    if message.plural is None:
        text = translations.ugettext(message.text)
    else:
        count = message.count or 0
        text = translations.ungettext(message.text, message.plural, count)
        values.setdefault("num", count)
    return text % values if values else text


def _value(
    value: str | int | flows.Percent | flows.Money | flows.Day | flows.Message,
    locale: str,
    tz: str | None,
) -> str | int:
    if isinstance(value, flows.Percent):
        return str(format_percent(value.value, locale=locale))
    if isinstance(value, flows.Money):
        return format_money(value.amount, value.currency, locale)
    if isinstance(value, flows.Day):
        return format_day(value.timestamp, locale, tz)
    if isinstance(value, flows.Message):
        return render(value, locale, tz)
    return value


def say(message: flows.Message) -> Markup:
    """The message in the request's language and time zone, escaped for a page."""
    return escape(render(message, str(get_locale() or "en"), time_zone()))


def offer_terms(offer: flows.Offer, snapshot: flows.Snapshot) -> Markup:
    """What the customer gets from the offer in money and dates ("" when the offer says it)."""
    terms = flows.offer_terms(offer, snapshot, datetime.now(UTC))
    return say(terms) if terms is not None else Markup("")


def subscription_line(snapshot: flows.Snapshot) -> Markup:
    """The subscription in one line: plan, price per interval, next renewal or end date."""
    return say(flows.subscription_line(snapshot))


def accept_label(offer: flows.Offer) -> Markup:
    """The offer's accept button."""
    return say(flows.Message(offer.accept_label))


def day(timestamp: int | float | datetime | None) -> str:
    """A date in the request's language and time zone (templates: {{ day(period_end) }})."""
    if timestamp is None:
        return ""
    if isinstance(timestamp, datetime):
        timestamp = timestamp.timestamp()
    return format_day(timestamp, str(get_locale() or "en"), time_zone())


def init_app(app: Flask) -> None:
    """Make the helpers available to every template."""
    app.jinja_env.globals.update(
        offer_terms=offer_terms,
        accept_label=accept_label,
        money=money,
        subscription_line=subscription_line,
        day=day,
        time_zone=time_zone,
    )
