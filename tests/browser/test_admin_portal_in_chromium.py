"""The Stripe page's customer-portal section in a real browser, with and without JavaScript: the
side-door warning, one click to cancelpage's configuration, no console or CSP errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from support import stripe_support as ss
from support.admin_support import add_user
from support.browser_support import signed_in_page
from test_flow_in_chromium import WIDTHS, Watch

from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant

USER = "owner@portal.example"


@pytest.fixture(scope="module")
def portal_site(live_app: Flask, live_server: str) -> Iterator[ss.PortalAccount]:
    """A live merchant whose Stripe account has the default portal (cancelling on)."""
    account = ss.PortalAccount(ss.portal_configuration())
    gateway, _ = ss.recording_gateway(
        lambda req: account.respond(req) or ss.fixture_responder()(req)
    )
    factory = live_app.extensions["cancelpage.gateway"]
    live_app.extensions["cancelpage.gateway"] = lambda m: gateway if m.live else factory(m)
    with live_app.app_context():
        create_merchant("portalco", "Portal Co", stripe_key="sk_test_portal123")
        db.session.commit()
    add_user(live_app, "portalco", USER)
    yield account
    live_app.extensions["cancelpage.gateway"] = factory


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def signed_in(
    request: Any, browser: Browser, live_server: str, portal_site: ss.PortalAccount
) -> Iterator[tuple[Page, bool]]:
    page = signed_in_page(browser, live_server, USER, js=request.param, heading="Portal Co")
    yield page, request.param
    page.context.close()


def test_the_side_door_is_shown_and_one_click_closes_it(
    signed_in: tuple[Page, bool], portal_site: ss.PortalAccount, artifacts: Path
) -> None:
    page, js = signed_in
    mode = "js" if js else "nojs"
    watch = Watch(page)
    page.get_by_role("link", name="Stripe", exact=True).click()
    expect(page.locator("#portal-side-door")).to_contain_text("Side door:")
    page.get_by_label("Prices customers may switch to").fill("price_Pro")
    page.get_by_role("button", name="Save and apply to Stripe").click()
    expect(page.locator("#portal-drift")).to_contain_text("It says what you chose")
    owned = [
        c
        for c in portal_site.configurations.values()
        if c["metadata"].get("cancelpage_merchant") == "portalco"
    ]
    assert len(owned) == 1
    assert owned[0]["features"]["subscription_cancel"]["enabled"] is False
    assert watch.errors == []
    # Last: screenshots leave style attributes that a later htmx swap would report to the CSP.
    page.reload()
    expect(page.locator("#portal-side-door")).to_contain_text("Side door:")
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(artifacts / f"admin-portal-{mode}-{width}.png"), full_page=True)


def test_preview_lists_the_requests_it_would_send(
    browser: Browser, live_app: Flask, live_server: str, artifacts: Path
) -> None:
    add_user(live_app, "acme", "portal-preview@acme.example")
    page = signed_in_page(
        browser, live_server, "portal-preview@acme.example", heading="Acme Analytics"
    )
    watch = Watch(page)
    page.get_by_role("link", name="Stripe", exact=True).click()
    page.get_by_role("button", name="Save and apply to Stripe").click()
    expect(page.locator("#portal-requests")).to_contain_text(
        "POST /v1/billing_portal/configurations"
    )
    assert watch.errors == []
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(artifacts / f"admin-portal-preview-{width}.png"), full_page=True)
    page.context.close()
