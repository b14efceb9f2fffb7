"""The three paths in a real browser, with JavaScript (htmx swaps) and without (plain forms):
focus on the new step's heading, no console errors, no CSP violations, no serious or critical
axe-core findings, and screenshots at 320 px and 1280 px in test-artifacts/."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import Browser, Page, expect
from support.browser_support import CSP_LISTENER

WIDTHS = (320, 1280)

# Each path: (label to click or radio to pick, heading expected after it).
PATHS = {
    "accept-offer": [
        ("radio:It's too expensive", None),
        ("Continue", "25% off"),
        ("Accept the discount", "Thank you for staying!"),
    ],
    "decline-and-cancel": [
        ("radio:It's too expensive", None),
        ("Continue", "25% off"),
        ("No thanks", "Pause for a month"),
        ("No thanks", "Cancel your subscription?"),
        ("Cancel subscription", "Your subscription is canceled"),
    ],
    "skip-to-cancel": [
        ("Skip, just cancel", "Cancel your subscription?"),
        ("Cancel subscription", "Your subscription is canceled"),
    ],
}


class Watch:
    """Console errors, page errors and navigations of one page."""

    def __init__(self, page: Page) -> None:
        self.errors: list[str] = []
        self.navigations = 0
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("framenavigated", lambda f: setattr(self, "navigations", self.navigations + 1))


@pytest.fixture(params=[True, False], ids=["js", "no-js"])
def js_page(request: Any, browser: Browser) -> Iterator[tuple[Page, bool]]:
    context = browser.new_context(
        java_script_enabled=request.param, viewport={"width": 1280, "height": 900}
    )
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    yield page, request.param
    context.close()


def serious_axe_findings(page: Page) -> list[str]:
    results = Axe().run(page)
    return [
        f"{v['id']}: {v['help']}"
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]


def snap(page: Page, artifacts: Path, name: str) -> None:
    for width in WIDTHS:
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(artifacts / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 900})


@pytest.mark.parametrize("path", list(PATHS))
def test_path(
    js_page: tuple[Page, bool],
    new_link: Callable[[str], str],
    artifacts: Path,
    path: str,
) -> None:
    page, js = js_page
    watch = Watch(page)
    mode = "js" if js else "nojs"
    response = page.goto(new_link(f"{path}-{mode}"))
    assert response is not None
    assert response.ok
    headers = response.all_headers()
    assert "content-security-policy" in headers
    assert "content-security-policy-report-only" not in headers  # enforced, not just reported
    heading = page.locator("#step h1")
    expect(heading).to_have_text("Before you go…")
    step = 0
    snap(page, artifacts, f"{path}-{mode}-{step}")
    if js:
        assert serious_axe_findings(page) == []
    navigations = watch.navigations
    for action, expected in PATHS[path]:
        if action.startswith("radio:"):
            page.get_by_label(action.removeprefix("radio:")).check()
            continue
        page.get_by_role("button", name=action, exact=True).click()
        expect(heading).to_have_text(expected)
        step += 1
        if js:
            # htmx swapped the step in place: focus is on its heading, no page load happened
            expect(heading).to_be_focused()
            assert watch.navigations == navigations
            assert serious_axe_findings(page) == []
        snap(page, artifacts, f"{path}-{mode}-{step}")
    assert watch.errors == []


def test_the_csp_listener_reports_violations(
    browser: Browser, new_link: Callable[[str], str]
) -> None:
    """The check above can fail: an inline script on a real page is refused and reported."""
    context = browser.new_context()
    context.add_init_script(CSP_LISTENER)
    page = context.new_page()
    watch = Watch(page)
    page.goto(new_link("csp-self-test"))
    page.evaluate(
        "() => { const s = document.createElement('script'); s.textContent = 'window.x = 1';"
        " document.body.appendChild(s); }"
    )
    page.wait_for_timeout(100)
    assert page.evaluate("window.x") is None
    assert any("CSP violation: script-src" in e for e in watch.errors), watch.errors
    context.close()
