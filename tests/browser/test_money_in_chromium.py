"""What the customer is deciding, in Chromium: every offer kind in en and de, in USD, EUR and JPY,
shows the amounts and dates computed here from the session's own snapshot; a second tab that
moved on; a subscription already scheduled to end; the undo on the done page. Screenshots at 320
and 1280 px go to /work/shots/money/ (SHOTS)."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa
from babel.dates import format_date
from babel.numbers import format_currency
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from support.browser_support import CSP_LISTENER

from cancelpage import flows
from cancelpage.cli.links import make_link
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant, publish_flow
from cancelpage.models import CancelSession

SHOTS = Path(os.environ.get("CANCELPAGE_SHOTS", "/work/shots/money"))
MERCHANT_ZONE = "Europe/Berlin"
BROWSER_ZONE = "America/New_York"
PLANS = {"usd": 2900, "eur": 1900, "jpy": 3000}
DIGITS = {"usd": 2, "eur": 2, "jpy": 0}


def _offer_reason(code: str, label: str) -> dict[str, Any]:
    return {"code": code, "label": label, "feedback": "other", "enabled": True}


FLOW: dict[str, Any] = {
    "reasons": [
        _offer_reason("r_discount", "Discount please"),
        _offer_reason("r_amount", "Five off please"),
        _offer_reason("r_pause", "A break please"),
        _offer_reason("r_switch", "Something smaller"),
        _offer_reason("r_free", "Free time please"),
        _offer_reason("r_contact", "Talk to someone"),
        _offer_reason("r_link", "Show me the guide"),
    ],
    "offers": [
        {
            "id": "discount",
            "kind": "discount",
            "title": "A lower price",
            "percent_off": 25,
            "duration": "repeating",
            "duration_in_months": 3,
        },
        {
            "id": "five_off",
            "kind": "discount",
            "title": "Five dollars off",
            "amount_off": 500,
            "currency": "usd",
            "duration": "once",
        },
        {"id": "pause", "kind": "pause", "title": "Take a break", "months": 2},
        {
            "id": "switch",
            "kind": "switch_plan",
            "title": "Try Basic",
            "price_id": "price_basic",
            "proration_behavior": "none",
            "plan_name": "Basic",
            "amount": 900,
        },
        {"id": "free", "kind": "free_period", "title": "Some time on us", "days": 14},
        {
            "id": "contact",
            "kind": "contact",
            "title": "Talk to us",
            "url": "mailto:care@money.example",
        },
        {
            "id": "guide",
            "kind": "custom_link",
            "title": "Read our guide",
            "url": "https://guide.money.example/start",
        },
    ],
    "rules": [
        {"name": f"r{i}", "reasons": [reason], "conditions": [], "offers": [offer]}
        for i, (reason, offer) in enumerate(
            [
                ("r_discount", "discount"),
                ("r_amount", "five_off"),
                ("r_pause", "pause"),
                ("r_switch", "switch"),
                ("r_free", "free"),
                ("r_contact", "contact"),
                ("r_link", "guide"),
            ]
        )
    ],
    "default_offers": [],
    "max_offers": 1,
}


@pytest.fixture(scope="module")
def money_merchant(live_app: Flask) -> str:
    with live_app.app_context():
        merchant = create_merchant("money", "Money Co", return_hosts=["127.0.0.1"])
        merchant.support_email = "help@money.example"
        merchant.time_zone = MERCHANT_ZONE
        merchant.copy = {
            "confirm_losses": "Your dashboards\n<b>Your reports</b>",
            "de": {"confirm_losses": "Ihre Dashboards\n<b>Ihre Berichte</b>"},
        }
        publish_flow(merchant, FLOW)
        db.session.commit()
    return "money"


@pytest.fixture
def link(live_app: Flask, live_server: str, money_merchant: str) -> Callable[..., str]:
    def make(currency: str = "usd", locale: str = "en", **attrs: str) -> str:
        attributes = {"plan": "Pro", "mrr": str(PLANS[currency]), "currency": currency, **attrs}
        with live_app.app_context():
            return make_link(
                money_merchant,
                "cus_money",
                "sub_money",
                f"{live_server}/healthz",
                attributes,
                locale,
            )

    return make


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def page(request: Any, browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        java_script_enabled=request.param,
        timezone_id=BROWSER_ZONE,
        viewport={"width": 1280, "height": 900},
    )
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js = request.param  # type: ignore[attr-defined]
    yield page
    context.close()
    assert errors == []


def snapshot_of_newest(live_app: Flask) -> dict[str, Any]:
    with live_app.app_context():
        session = db.session.scalars(
            sa.select(CancelSession).order_by(CancelSession.id.desc()).limit(1)
        ).one()
        return dict(session.snapshot)


def cash(minor: int, currency: str, locale: str) -> str:
    major = Decimal(minor).scaleb(-DIGITS[currency])
    return str(format_currency(major, currency.upper(), locale=locale))


def long_day(moment: datetime | int, locale: str, zone: str) -> str:
    if isinstance(moment, int):
        moment = datetime.fromtimestamp(moment, UTC)
    return str(format_date(moment.astimezone(ZoneInfo(zone)).date(), "long", locale=locale))


def per_month(amount: str, locale: str) -> str:
    return {"en": "{} a month", "de": "{} pro Monat"}[locale].format(amount)


def snap(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    for width in (320, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def choose(page: Page, reason: str, locale: str) -> None:
    page.get_by_label(reason).check()
    page.get_by_role("button", name={"en": "Continue", "de": "Weiter"}[locale]).click()


def expected_terms(kind: str, snapshot: dict[str, Any], locale: str, zone: str) -> str | None:
    """The terms line, from the snapshot's amount, currency and period end."""
    currency, amount = snapshot["currency"], snapshot["amount"]
    now = cash(amount, currency, locale)
    de = locale == "de"
    if kind == "discount":
        after = per_month(cash(amount - round(amount * 0.25), currency, locale), locale)
        if de:
            return f"{now} → {after} für die nächsten 3 Monate, danach {now}."
        return f"{now} → {after} for the next 3 months, then {now}."
    if kind == "five_off":
        if currency != "usd":
            return None  # an amount off in another currency is never shown
        day = long_day(snapshot["period_end"], locale, zone)
        after = cash(amount - 500, currency, locale)
        price = per_month(now, locale)
        if de:
            return f"{now} → {after} bei Ihrer nächsten Zahlung ({day}), danach {price}."
        return f"{now} → {after} on your next payment ({day}), then {price}."
    if kind == "switch":
        basic = per_month(cash(900, currency, locale), locale)
        if de:
            return (
                f"Basic für {basic} statt {per_month(now, locale)}. Die Änderung gilt sofort; "
                "die Zahlung für diesen Zeitraum bleibt unverändert."
            )
        return (
            f"Basic at {basic} instead of {per_month(now, locale)}. The change applies now; "
            "this period's payment stays as it is."
        )
    if kind == "free":
        day = long_day(snapshot["period_end"] + 14 * 86400, locale, zone)
        if de:
            return f"14 Tage kostenlos: Ihre nächste Zahlung von {now} ist am {day} fällig."
        return f"14 days free: your next charge, {now}, is on {day}."
    if kind == "contact":
        return {
            "en": "Opens an email to care@money.example.",
            "de": "Öffnet eine E-Mail an care@money.example.",
        }[locale]
    if kind == "guide":
        return {
            "en": "Opens a page on guide.money.example.",
            "de": "Öffnet eine Seite auf guide.money.example.",
        }[locale]
    raise AssertionError(kind)


def pause_terms(snapshot: dict[str, Any], locale: str, zone: str) -> tuple[str, str]:
    """The pause's terms as a prefix and suffix around its date (it runs from the moment the
    page is shown, so the test allows the day the page was rendered on)."""
    now = per_month(cash(snapshot["amount"], snapshot["currency"], locale), locale)
    if locale == "de":
        return "Keine Zahlungen bis ", f", danach {now}."
    return "No charges until ", f", then {now}."


REASONS = {
    "discount": "Discount please",
    "five_off": "Five off please",
    "pause": "A break please",
    "switch": "Something smaller",
    "free": "Free time please",
    "contact": "Talk to someone",
    "guide": "Show me the guide",
}
WALKS = [
    (kind, currency, locale) for kind in REASONS for currency in PLANS for locale in ("en", "de")
]


@pytest.mark.parametrize(("kind", "currency", "locale"), WALKS)
def test_every_offer_in_money_and_dates(
    page: Page, link: Callable[..., str], live_app: Flask, kind: str, currency: str, locale: str
) -> None:
    js = page.js  # type: ignore[attr-defined]
    if not js and (currency, locale) != ("eur", "de"):
        pytest.skip("without JavaScript: one currency and language is enough")
    page.goto(link(currency, locale))
    snapshot = snapshot_of_newest(live_app)
    assert (snapshot["amount"], snapshot["currency"]) == (PLANS[currency], currency)
    line = page.locator("#subscription")
    price = per_month(cash(snapshot["amount"], currency, locale), locale)
    renews = long_day(snapshot["period_end"], locale, MERCHANT_ZONE)
    word = {"en": "renews on", "de": "verlängert sich am"}[locale]
    expect(line).to_contain_text(f"Pro, {price}, {word} {renews}")
    expect(line).to_contain_text(MERCHANT_ZONE)  # no JavaScript yet: the merchant's zone
    choose(page, REASONS[kind], locale)
    # With JavaScript the survey's post told the browser's zone; without, the merchant's stands.
    zone = BROWSER_ZONE if js else MERCHANT_ZONE
    expect(page.locator("#subscription")).to_contain_text(zone)
    terms = page.locator("#terms")
    if kind == "pause":
        start, end = pause_terms(snapshot, locale, zone)
        expect(terms).to_contain_text(start)
        today = datetime.now(UTC)
        days = {
            long_day(flows.add_months(today + timedelta(hours=h), 2), locale, zone)
            for h in (-1, 0, 1)
        }
        said = terms.inner_text()
        assert said.startswith(start)
        assert said.endswith(end)
        assert said.removeprefix(start).removesuffix(end) in days
    else:
        expected = expected_terms(kind, snapshot, locale, zone)
        if expected is None:  # not shown: straight on to the confirmation
            expect(page.locator("#what-ends")).to_be_visible()
            expect(terms).to_have_count(0)
            return
        expect(terms).to_have_text(expected)
    title = page.get_by_role("heading", level=1).inner_text()
    assert title.lower() not in terms.inner_text().lower()
    if currency == "jpy" or kind in ("discount", "pause"):
        snap(page, f"offer-{kind}-{currency}-{locale}-{'js' if js else 'nojs'}")
    accept = page.locator("#step form button[value=accept]")
    accept.click()
    expect(page.locator("[data-cancelpage-outcome]")).to_be_visible()
    done = page.locator("#step")
    if kind == "pause":
        expect(done).to_contain_text({"en": "Billing resumes on", "de": "Die Abrechnung"}[locale])
    if kind == "free":
        day = long_day(snapshot["period_end"] + 14 * 86400, locale, zone)
        expect(done).to_contain_text(day)
    if kind == "discount":
        expect(done).to_contain_text(expected_terms(kind, snapshot, locale, zone) or "")
    expect(page.locator("#support")).to_contain_text("help@money.example")
    if currency == "jpy" or kind in ("discount", "pause"):
        snap(page, f"done-{kind}-{currency}-{locale}-{'js' if js else 'nojs'}")


def test_confirm_names_what_ends_and_what_is_lost(
    page: Page, link: Callable[..., str], live_app: Flask
) -> None:
    page.goto(link("eur", "de"))
    snapshot = snapshot_of_newest(live_app)
    page.get_by_role("button", name="Überspringen und kündigen").click()
    zone = BROWSER_ZONE if page.js else MERCHANT_ZONE  # type: ignore[attr-defined]
    day = long_day(snapshot["period_end"], "de", zone)
    expect(page.locator("#what-ends")).to_contain_text(f"Ihr Abonnement Pro endet am {day}.")
    expect(page.locator("#losses li")).to_have_text(["Ihre Dashboards", "<b>Ihre Berichte</b>"])
    snap(page, f"confirm-eur-de-{'js' if page.js else 'nojs'}")  # type: ignore[attr-defined]
    page.get_by_role("button", name="Abonnement kündigen").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Abonnement ist gekündigt")
    # The undo, in place: same link, one write.
    expect(page.locator("#step")).to_contain_text("Haben Sie es sich anders überlegt?")
    snap(page, f"done-canceled-de-{'js' if page.js else 'nojs'}")  # type: ignore[attr-defined]
    page.locator("#keep").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Ihr Abonnement läuft weiter")
    expect(page.locator(".request code").first).to_contain_text("POST /v1/subscriptions/sub_money")
    expect(page.locator("#keep")).to_have_count(0)


def test_already_scheduled_leads_with_keep(
    page: Page, link: Callable[..., str], live_app: Flask
) -> None:
    page.goto(link("usd", "en", cancel_at_period_end="true"))
    snapshot = snapshot_of_newest(live_app)
    day = long_day(snapshot["period_end"], "en", MERCHANT_ZONE)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"Your subscription is already set to end on {day}."
    )
    expect(page.locator("#subscription")).to_contain_text(f"ends on {day}")
    expect(page.get_by_role("button", name="Skip, just cancel")).to_have_count(0)
    expect(page.locator("#step button").first).to_have_text("Keep my subscription")
    snap(page, f"scheduled-{'js' if page.js else 'nojs'}")  # type: ignore[attr-defined]
    page.locator("#keep").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Your subscription continues")


def test_a_second_tab_that_moved_on(page: Page, link: Callable[..., str]) -> None:
    page.goto(link("usd", "en"))
    other = page.context.new_page()
    other.goto(page.url)
    other.get_by_role("button", name="Skip, just cancel").click()
    other.get_by_role("button", name="Cancel subscription").click()
    expect(other.get_by_role("heading", level=1)).to_have_text("Your subscription is canceled")
    # The first tab still shows the survey; its post is for a step the session has left.
    choose(page, "Discount please", "en")
    expect(page.get_by_role("heading", level=1)).to_have_text("Your subscription is canceled")
    expect(page.locator("#stale-notice")).to_have_text("This page was updated in another tab.")
    snap(page, f"two-tabs-{'js' if page.js else 'nojs'}")  # type: ignore[attr-defined]
