"""The email editor in a real browser, with and without JavaScript: the sandboxed preview frame
loads and shows the email, saving German text updates it (in place with htmx), and nothing
breaks the page's CSP or accessibility."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect
from support.admin_support import PASSWORD, add_user
from support.browser_support import signed_in_page
from test_flow_in_chromium import Watch, serious_axe_findings

USER = "editor@acme.example"


@pytest.fixture(scope="module")
def editor(live_app: Flask, live_server: str) -> str:
    add_user(live_app, "acme", USER)
    return live_server


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def signed_in(request: Any, browser: Browser, editor: str) -> Iterator[tuple[Page, bool]]:
    page = signed_in_page(browser, editor, USER, PASSWORD, request.param, heading="Acme Analytics")
    yield page, request.param
    page.context.close()


def test_edit_german_text_and_see_it_in_the_sandboxed_preview(
    signed_in: tuple[Page, bool], editor: str, artifacts: Path
) -> None:
    page, js = signed_in
    watch = Watch(page)
    mode = "js" if js else "nojs"
    page.get_by_role("link", name="Emails", exact=True).click()
    page.get_by_role("link", name="German").click()
    page.get_by_role("link", name="Edit: Card about to expire").click()
    frame_element = page.locator("iframe.email-frame")
    assert frame_element.get_attribute("sandbox") == ""
    preview = page.frame_locator("iframe.email-frame")
    expect(preview.locator("h1")).to_have_text("Ihre Karte mit der Endung 4242 läuft bald ab")
    expect(preview.get_by_text("Visa •••• 4242, gültig bis Ende Dezember 2030")).to_be_visible()

    subject = page.get_by_label("Subject")
    subject.click()
    page.keyboard.type(f"Ihre Karte {{last4}} läuft ab ({mode})")
    page.evaluate("window.beforeSave = true")
    page.get_by_role("button", name="Save German text").click()
    expect(page.get_by_role("status")).to_have_text("Saved. New emails use this text.")
    expect(preview.locator("h1")).to_have_text(f"Ihre Karte 4242 läuft ab ({mode})")
    if js:
        # htmx swapped the editor in place: the page itself did not load again
        assert page.evaluate("window.beforeSave") is True
    else:
        assert page.url.endswith("/admin/emails/copy/card_expiring?locale=de")

    page.once("dialog", lambda dialog: dialog.accept())  # htmx asks before forgetting the text
    page.get_by_role("button", name="Back to the default").click()
    expect(page.get_by_role("status")).to_have_text("Back to the default text.")
    expect(preview.locator("h1")).to_have_text("Ihre Karte mit der Endung 4242 läuft bald ab")
    expect(subject).to_have_value("")
    assert watch.errors == []
    # Last: screenshots and axe leave empty style attributes on inputs, which a later htmx swap
    # would copy onto the new inputs (a CSP violation only these tools cause).
    page.screenshot(path=str(artifacts / f"admin-email-editor-{mode}.png"), full_page=True)
    if js:
        assert serious_axe_findings(page) == []
