"""Compliance paths in a real browser, with JavaScript and without: a German customer's link
opens the confirmation with "Jetzt kündigen", one click cancels; a Californian offer step
carries its one-step cancel. Screenshots at 320 and 1280 px in /work/shots/receipts/ (when
that folder exists) and test-artifacts/."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from support.browser_support import CSP_LISTENER

from cancelpage.cli.links import make_link

SHOTS = Path("/work/shots/receipts")


def link(app: Flask, base: str, name: str, country: str, locale: str | None = None) -> str:
    with app.app_context():
        return make_link(
            "acme",
            "cus_browser",
            "sub_browser",
            f"{base}/healthz",
            {"plan": "Pro", "mrr": "4900", "run": name, "country": country},
            locale=locale,
        )


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def js_page(request: Any, browser: Browser) -> Iterator[tuple[Page, bool]]:
    context = browser.new_context(
        java_script_enabled=request.param, viewport={"width": 1280, "height": 900}
    )
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page, request.param
    assert errors == []
    context.close()


def snap(page: Page, artifacts: Path, name: str) -> None:
    for width in (320, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        for folder in (artifacts, SHOTS):
            if folder.is_dir():
                page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


def test_a_german_link_opens_the_confirmation_and_one_click_cancels(
    js_page: tuple[Page, bool], live_app: Flask, live_server: str, artifacts: Path
) -> None:
    page, js = js_page
    mode = "js" if js else "nojs"
    page.goto(link(live_app, live_server, f"de-{mode}", "DE", "de"))
    heading = page.locator("#step h1")
    expect(heading).to_have_text("Möchten Sie Ihr Abonnement kündigen?")
    cancel = page.get_by_role("button", name="Jetzt kündigen", exact=True)
    expect(cancel).to_be_visible()
    expect(page.locator("input[name=reason]")).to_have_count(0)  # no survey first
    # the offer stands after the cancel button in the page, never before it
    order = page.evaluate(
        "() => { const b = [...document.querySelectorAll('button')]"
        ".find(x => x.textContent.trim() === 'Jetzt kündigen');"
        " const o = document.querySelector('.side-offer');"
        " return !!(b.compareDocumentPosition(o) & Node.DOCUMENT_POSITION_FOLLOWING); }"
    )
    assert order is True
    snap(page, artifacts, f"de-confirm-{mode}")
    cancel.click()
    expect(heading).to_have_text("Ihr Abonnement ist gekündigt")
    snap(page, artifacts, f"de-done-{mode}")


def test_a_californian_offer_carries_a_one_step_cancel(
    js_page: tuple[Page, bool], live_app: Flask, live_server: str, artifacts: Path
) -> None:
    page, js = js_page
    mode = "js" if js else "nojs"
    page.goto(link(live_app, live_server, f"ca-{mode}", "US-CA"))
    page.get_by_label("It's too expensive").check()
    page.get_by_role("button", name="Continue", exact=True).click()
    heading = page.locator("#step h1")
    offer = page.locator("#step input[name=offer]")
    expect(offer).to_have_value("discount_25_3m")
    cancel = page.get_by_role("button", name="Cancel subscription", exact=True)
    expect(cancel).to_be_visible()
    snap(page, artifacts, f"us-ca-offer-{mode}")
    page.get_by_role("button", name="No thanks", exact=True).click()
    expect(offer).to_have_value("pause_1m")
    expect(cancel).to_be_visible()
    cancel.click()
    expect(heading).to_have_text("Your subscription is canceled")
