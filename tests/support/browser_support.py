"""Browser test helpers: a Chromium context signed in to the dashboard."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import expect

from support.admin_support import PASSWORD

# Reports every CSP violation as a console error, which the tests count.
CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", (e) => {
  console.error("CSP violation: " + e.violatedDirective + " " + e.blockedURI);
});
"""


def signed_in_page(
    browser: Any, base: str, email: str, *, js: bool, heading: str
) -> tuple[Any, Any]:
    """A new browser context (CSP violations reported as console errors) signed in to the
    dashboard as ``email``; returns (context, page)."""
    context = browser.new_context(java_script_enabled=js, viewport={"width": 1280, "height": 900})
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    page.goto(f"{base}/admin/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    return context, page
