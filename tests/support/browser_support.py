"""Shared by the Chromium suites."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from support.admin_support import PASSWORD

# Report every CSP violation as a console error (runs before any page script, in every frame).
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
});
"""


def signed_in_page(
    browser: Any,
    base: str,
    email: str,
    password: str = PASSWORD,
    js: bool = True,
    *,
    heading: str | None = None,
) -> Any:
    """A new browser context (CSP violations reported as console errors) signed in to the
    dashboard as ``email``; its page (``page.context`` closes it)."""
    context = browser.new_context(java_script_enabled=js, viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    if heading is not None:
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    return page
