"""The subscription line and every offer's terms, said in en and de, in USD, EUR and JPY: the
expected text is built here from the fixture's numbers (Babel formats them independently)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from babel.dates import format_date
from babel.numbers import format_currency

from cancelpage import flows
from cancelpage.i18n.formats import render

NOW = datetime(2026, 12, 14, 12, 0, tzinfo=UTC)
PERIOD_END = datetime(2027, 1, 9, 23, 30, tzinfo=UTC)  # 10 January in Berlin
PLANS = {"usd": 2900, "eur": 1900, "jpy": 3000}  # minor units; JPY has none
DIGITS = {"usd": 2, "eur": 2, "jpy": 0}

PER_MONTH = {"en": "{} a month", "de": "{} pro Monat"}


def snapshot(currency: str, **changes: object) -> flows.Snapshot:
    base = flows.Snapshot(
        plan="Pro",
        price_id="price_pro",
        amount=PLANS[currency],
        currency=currency,
        period_end=int(PERIOD_END.timestamp()),
    )
    return flows.Snapshot(**{**base.__dict__, **changes})


def cash(minor: int, currency: str, locale: str) -> str:
    major = Decimal(minor).scaleb(-DIGITS[currency])
    return str(format_currency(major, currency.upper(), locale=locale))


def long_day(moment: datetime, locale: str, zone: str = "UTC") -> str:
    from zoneinfo import ZoneInfo

    return str(format_date(moment.astimezone(ZoneInfo(zone)).date(), "long", locale=locale))


CASES = [(currency, locale) for currency in PLANS for locale in ("en", "de")]


@pytest.mark.parametrize(("currency", "locale"), CASES)
def test_subscription_line(currency: str, locale: str) -> None:
    price = PER_MONTH[locale].format(cash(PLANS[currency], currency, locale))
    day = long_day(PERIOD_END, locale)
    said = render(flows.subscription_line(snapshot(currency)), locale)
    renews = {
        "en": f"Pro, {price}, renews on {day}",
        "de": f"Pro, {price}, verlängert sich am {day}",
    }
    assert said == renews[locale]
    ends = render(flows.subscription_line(snapshot(currency, cancel_at_period_end=True)), locale)
    assert (
        ends
        == {"en": f"Pro, {price}, ends on {day}", "de": f"Pro, {price}, endet am {day}"}[locale]
    )


def test_dates_follow_the_time_zone() -> None:
    line = flows.subscription_line(snapshot("eur"))
    assert render(line, "de", "UTC").endswith("9. Januar 2027")
    assert render(line, "de", "Europe/Berlin").endswith("10. Januar 2027")


def test_a_plan_without_a_name_is_your_subscription() -> None:
    assert render(flows.subscription_line(snapshot("usd", plan=None)), "en").startswith(
        "Your subscription, $29.00 a month"
    )


@pytest.mark.parametrize(("currency", "locale"), CASES)
def test_repeating_percent_discount(currency: str, locale: str) -> None:
    offer = flows.DiscountOffer(
        id="d", title="t", percent_off=25, duration="repeating", duration_in_months=3
    )
    amount = PLANS[currency]
    after = amount - round(amount * 25 / 100)
    before = cash(amount, currency, locale)
    new = PER_MONTH[locale].format(cash(after, currency, locale))
    expected = {
        "en": f"{before} → {new} for the next 3 months, then {before}.",
        "de": f"{before} → {new} für die nächsten 3 Monate, danach {before}.",
    }
    assert render(flows.offer_terms(offer, snapshot(currency), NOW), locale) == expected[locale]
    assert flows.discounted_amount(offer, snapshot(currency)) == after


def test_the_examples_of_the_issue() -> None:
    offer = flows.DiscountOffer(
        id="d", title="t", percent_off=25, duration="repeating", duration_in_months=3
    )
    said = render(flows.offer_terms(offer, snapshot("usd"), NOW), "en")
    assert said == "$29.00 → $21.75 a month for the next 3 months, then $29.00."
    pause = flows.PauseOffer(id="p", title="t", months=3)
    said = render(flows.offer_terms(pause, snapshot("usd"), NOW), "en")
    assert said == "No charges until March 14, 2027, then $29.00 a month."


@pytest.mark.parametrize(("currency", "locale"), CASES)
def test_amount_off_once_in_the_subscriptions_currency(currency: str, locale: str) -> None:
    off = 500  # $5.00, 5,00 €, ¥500
    offer = flows.DiscountOffer(id="d", title="t", amount_off=off, currency=currency)
    before = cash(PLANS[currency], currency, locale)
    after = cash(PLANS[currency] - off, currency, locale)
    price = PER_MONTH[locale].format(before)
    day = long_day(PERIOD_END, locale)
    expected = {
        "en": f"{before} → {after} on your next payment ({day}), then {price}.",
        "de": f"{before} → {after} bei Ihrer nächsten Zahlung ({day}), danach {price}.",
    }
    assert render(flows.offer_terms(offer, snapshot(currency), NOW), locale) == expected[locale]


def test_jpy_has_no_decimals() -> None:
    offer = flows.DiscountOffer(id="d", title="t", percent_off=10, duration="forever")
    said = render(flows.offer_terms(offer, snapshot("jpy"), NOW), "en")
    assert said == "¥3,000 → ¥2,700 a month for as long as you stay."


def test_amount_off_in_another_currency_is_not_shown() -> None:
    offer = flows.DiscountOffer(id="d", title="t", amount_off=500, currency="usd")
    assert not flows.offer_shown(offer, snapshot("eur"))
    assert not offer.applies_to(snapshot("eur"))
    assert flows.offer_terms(offer, snapshot("eur"), NOW) is None
    assert flows.offer_shown(offer, snapshot("usd"))


@pytest.mark.parametrize(("currency", "locale"), CASES)
def test_pause(currency: str, locale: str) -> None:
    offer = flows.PauseOffer(id="p", title="t", months=2)
    until = long_day(flows.add_months(NOW, 2), locale)
    price = PER_MONTH[locale].format(cash(PLANS[currency], currency, locale))
    expected = {
        "en": f"No charges until {until}, then {price}.",
        "de": f"Keine Zahlungen bis {until}, danach {price}.",
    }
    assert render(flows.offer_terms(offer, snapshot(currency), NOW), locale) == expected[locale]


@pytest.mark.parametrize(("currency", "locale"), CASES)
def test_free_period_names_the_next_charge(currency: str, locale: str) -> None:
    offer = flows.FreePeriodOffer(id="f", title="t", days=30)
    next_charge = long_day(PERIOD_END + timedelta(days=30), locale)
    amount = cash(PLANS[currency], currency, locale)
    expected = {
        "en": f"30 days free: your next charge, {amount}, is on {next_charge}.",
        "de": f"30 Tage kostenlos: Ihre nächste Zahlung von {amount} ist am {next_charge} fällig.",
    }
    assert render(flows.offer_terms(offer, snapshot(currency), NOW), locale) == expected[locale]


@pytest.mark.parametrize(("currency", "locale"), CASES)
@pytest.mark.parametrize("proration", ["create_prorations", "always_invoice", "none"])
def test_switch_plan(currency: str, locale: str, proration: str) -> None:
    new_amount = PLANS[currency] // 3
    offer = flows.SwitchPlanOffer(
        id="s",
        title="t",
        price_id="price_basic",
        proration_behavior=proration,  # type: ignore[arg-type]
        plan_name="Basic",
        amount=new_amount,
    )
    new = PER_MONTH[locale].format(cash(new_amount, currency, locale))
    current = PER_MONTH[locale].format(cash(PLANS[currency], currency, locale))
    said = render(flows.offer_terms(offer, snapshot(currency), NOW), locale)
    lead = {
        "en": f"Basic at {new} instead of {current}. ",
        "de": f"Basic für {new} statt {current}. ",
    }
    assert said.startswith(lead[locale])
    period = {
        "create_prorations": ("credited on your next invoice", "nächsten Rechnung gutgeschrieben"),
        "always_invoice": ("charged or credited at once", "sofort berechnet"),
        "none": ("payment stays as it is", "bleibt unverändert"),
    }[proration]
    assert period[0 if locale == "en" else 1] in said


def test_switch_plan_without_a_stated_price() -> None:
    offer = flows.SwitchPlanOffer(id="s", title="t", price_id="price_basic", plan_name="Basic")
    said = render(flows.offer_terms(offer, snapshot("usd"), NOW), "en")
    assert said.startswith("Move to Basic instead of leaving. The change applies now")


@pytest.mark.parametrize("locale", ["en", "de"])
def test_contact_and_link_say_where_they_go(locale: str) -> None:
    mail = flows.ContactOffer(id="c", title="t", url="mailto:help@acme.example?subject=Hi")
    link = flows.CustomLinkOffer(id="l", title="t", url="https://acme.example/plans")
    said_mail = render(flows.offer_terms(mail, snapshot("usd"), NOW), locale)
    said_link = render(flows.offer_terms(link, snapshot("usd"), NOW), locale)
    assert (
        said_mail
        == {
            "en": "Opens an email to help@acme.example.",
            "de": "Öffnet eine E-Mail an help@acme.example.",
        }[locale]
    )
    assert (
        said_link
        == {
            "en": "Opens a page on acme.example.",
            "de": "Öffnet eine Seite auf acme.example.",
        }[locale]
    )


def test_every_offer_kind_has_terms() -> None:
    examples = {
        "discount": flows.DiscountOffer(id="x", title="t", percent_off=10),
        "pause": flows.PauseOffer(id="x", title="t"),
        "switch_plan": flows.SwitchPlanOffer(id="x", title="t", price_id="price_b"),
        "free_period": flows.FreePeriodOffer(id="x", title="t"),
        "contact": flows.ContactOffer(id="x", title="t", url="mailto:a@b.example"),
        "custom_link": flows.CustomLinkOffer(id="x", title="t", url="https://b.example"),
    }
    assert set(examples) == set(flows.OFFER_KINDS)
    for offer in examples.values():
        assert flows.offer_terms(offer, snapshot("usd"), NOW) is not None


@pytest.mark.parametrize(
    ("interval", "count", "expected"),
    [
        ("year", 1, "€190.00 a year"),
        ("month", 3, "€190.00 every 3 months"),
        ("week", 2, "€190.00 every 2 weeks"),
    ],
)
def test_price_per_interval(interval: str, count: int, expected: str) -> None:
    assert render(flows.price(19000, "eur", interval, count), "en") == expected
