"""The embed in a real browser: the merchant's page (http://localhost:PORT) and cancelpage
(http://127.0.0.1:PORT) are different sites, as in production. The dialog opens, the three paths
complete inside it, the parent hears exactly one outcome from the right origin, a page on another
origin cannot frame the flow, blocked third-party cookies change nothing, without JavaScript the
link navigates, and neither page logs a console error."""

from __future__ import annotations

import html
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserType, Page, expect
from support.admin_support import PASSWORD, add_user
from support.browser_support import CSP_LISTENER
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from cancelpage.cli.links import make_link
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant

MERCHANT_JS = """
window.addEventListener("message", function (event) {
  if (event.data && event.data.type === "cancelpage:outcome") {
    window.recordMessage({ origin: event.origin, data: event.data });
  }
});
document.addEventListener("cancelpage:outcome", function (event) {
  window.recordEvent({ target: event.target.id || "document", detail: event.detail });
});
"""


def merchant_site(cancel_origin: str) -> Callable[..., Any]:
    """The merchant's own app: its account page with the two-line embed, under a strict CSP."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        request = Request(environ)
        if request.path == "/merchant.js":
            response = Response(MERCHANT_JS, mimetype="text/javascript")
        else:
            link = html.escape(request.args.get("link", ""))
            body = (
                "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
                "<meta name='viewport' content='width=device-width, initial-scale=1'>"
                "<title>Acme account</title><script src='/merchant.js'></script>"
                f"<script src='{cancel_origin}/embed.js' defer></script></head>"
                "<body><main><h1>Your account</h1><button id='other'>Other button</button>"
                f"<p><a id='cancel-link' href='{link}' data-cancelpage>Cancel subscription</a>"
                "</p></main></body></html>"
            )
            response = Response(body, mimetype="text/html")
            # What a careful merchant runs: no inline script or style, cancelpage allowed by name.
            response.headers["Content-Security-Policy"] = (
                f"default-src 'none'; script-src 'self' {cancel_origin}; "
                f"style-src {cancel_origin}; frame-src {cancel_origin}"
            )
        return response(environ, start_response)

    return app


@pytest.fixture(scope="module")
def merchant_origins(live_server: str) -> Iterator[tuple[str, str]]:
    """(allowed, other): the same merchant app on two origins; only the first may frame."""
    servers = [make_server("127.0.0.1", 0, merchant_site(live_server)) for _ in range(2)]
    threads = [threading.Thread(target=s.serve_forever, daemon=True) for s in servers]
    for thread in threads:
        thread.start()
    yield f"http://localhost:{servers[0].server_port}", f"http://localhost:{servers[1].server_port}"
    for server, thread in zip(servers, threads, strict=True):
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


@pytest.fixture(scope="module")
def embed_link(
    live_app: Flask, live_server: str, merchant_origins: tuple[str, str]
) -> Callable[[str, str], str]:
    """A fresh link of a merchant whose allow-list frames the first merchant origin."""
    allowed = merchant_origins[0]
    with live_app.app_context():
        for slug, mode in (("embedco", "at_period_end"), ("embedportal", "portal")):
            merchant = create_merchant(slug, "Acme Embedded", return_hosts=["localhost"])
            merchant.cancel_mode = mode
            # http origins are for this test only: the dashboard and CLI accept https alone.
            merchant.frame_ancestors = [allowed]
            db.session.commit()

    def make(slug: str, run: str) -> str:
        with live_app.app_context():
            return make_link(
                slug, "cus_embed", "sub_embed", f"{allowed}/account", {"plan": "Pro", "run": run}
            )

    return make


@dataclass
class Parent:
    """What the merchant's page heard, and every console error of it and of the frame."""

    page: Page
    messages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.page.expose_function("recordMessage", lambda m: self.messages.append(m))
        self.page.expose_function("recordEvent", lambda e: self.events.append(e))
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))

    def open_account(self, origin: str, link: str) -> None:
        self.page.goto(f"{origin}/account?link={quote(link, safe='')}")

    def wait_for_event(self) -> None:
        for _ in range(100):
            if self.events:
                return
            self.page.wait_for_timeout(50)

    def one_outcome(self) -> dict[str, Any]:
        self.wait_for_event()
        self.page.wait_for_timeout(300)  # a second message would have arrived by now
        assert len(self.messages) == 1, self.messages
        assert len(self.events) == 1, self.events
        return self.messages[0]


def new_parent(browser: Browser, width: int = 1280, js: bool = True) -> Parent:
    context = browser.new_context(viewport={"width": width, "height": 800}, java_script_enabled=js)
    context.add_init_script(CSP_LISTENER)
    return Parent(context.new_page())


@pytest.fixture
def parent(browser: Browser) -> Iterator[Parent]:
    watched = new_parent(browser)
    yield watched
    watched.page.context.close()


def heading_in_frame(page: Page) -> Any:
    return page.frame_locator("iframe.cancelpage-frame").locator("#step h1")


def click_in_frame(page: Page, name: str) -> None:
    page.frame_locator("iframe.cancelpage-frame").get_by_role(
        "button", name=name, exact=True
    ).click()


def open_dialog(parent: Parent, origin: str, link: str) -> None:
    parent.open_account(origin, link)
    parent.page.get_by_role("link", name="Cancel subscription").click()
    expect(parent.page.locator("dialog.cancelpage-dialog")).to_be_visible()
    expect(heading_in_frame(parent.page)).to_have_text("Before you go…")


def assert_modal_with_focus_inside(page: Page) -> None:
    # A modal dialog makes the rest of the page inert; focus is on the flow inside it.
    assert page.evaluate("document.querySelector('dialog').matches(':modal')")
    assert page.evaluate("document.activeElement.className") == "cancelpage-frame"


def test_saved_inside_the_dialog(
    parent: Parent,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
    live_server: str,
    artifacts: Path,
) -> None:
    page = parent.page
    open_dialog(parent, merchant_origins[0], embed_link("embedco", "saved"))
    assert_modal_with_focus_inside(page)
    frame = page.frame_locator("iframe.cancelpage-frame")
    frame.get_by_label("It's too expensive").check()
    click_in_frame(page, "Continue")
    expect(heading_in_frame(page)).to_have_text("25% off")
    click_in_frame(page, "Accept the discount")
    expect(heading_in_frame(page)).to_have_text("Thank you for staying!")
    message = parent.one_outcome()
    assert message["origin"] == live_server
    assert message["data"] == {
        "type": "cancelpage:outcome",
        "outcome": "saved",
        "offer": "discount_25_3m",
        "ends_at": None,
    }
    assert parent.events == [
        {
            "target": "cancel-link",
            "detail": {"outcome": "saved", "offer": "discount_25_3m", "ends_at": None},
        }
    ]
    back = frame.get_by_role("link", name="Back to Acme Embedded")
    expect(back).to_have_attribute("target", "_top")
    expect(back).to_have_attribute("href", f"{merchant_origins[0]}/account")
    for width in (320, 1280):
        page.set_viewport_size({"width": width, "height": 800})
        page.screenshot(path=str(artifacts / f"embed-saved-{width}.png"))
    # Closing after an outcome reports nothing more, and focus returns to the link.
    page.get_by_role("button", name="Close").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator("#cancel-link")).to_be_focused()
    assert len(parent.messages) == len(parent.events) == 1
    assert parent.errors == []


def test_canceled_inside_the_dialog(
    parent: Parent,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
    live_server: str,
) -> None:
    page = parent.page
    open_dialog(parent, merchant_origins[0], embed_link("embedco", "canceled"))
    click_in_frame(page, "Skip, just cancel")
    expect(heading_in_frame(page)).to_have_text("Cancel your subscription?")
    click_in_frame(page, "Cancel subscription")
    expect(heading_in_frame(page)).to_have_text("Your subscription is canceled")
    message = parent.one_outcome()
    assert message["origin"] == live_server
    assert message["data"]["outcome"] == "canceled"
    assert message["data"]["offer"] is None
    assert message["data"]["ends_at"].endswith("+00:00")
    assert parent.events[0]["detail"]["outcome"] == "canceled"
    assert parent.errors == []


def test_portal_opens_in_the_top_window(
    parent: Parent,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
    live_server: str,
    artifacts: Path,
) -> None:
    page = parent.page
    # Stripe's portal is never reached from the tests: the browser answers for it.
    page.context.route(
        "https://billing.stripe.com/**",
        lambda route: route.fulfill(body="<title>Stripe portal</title>", content_type="text/html"),
    )
    open_dialog(parent, merchant_origins[0], embed_link("embedportal", "portal"))
    click_in_frame(page, "Skip, just cancel")
    expect(heading_in_frame(page)).to_have_text("Cancel your subscription?")
    frame = page.frame_locator("iframe.cancelpage-frame")
    expect(frame.get_by_text("It opens in the full window")).to_be_visible()
    page.screenshot(path=str(artifacts / "embed-portal-confirm-1280.png"))
    with page.expect_navigation(url="https://billing.stripe.com/p/session/preview_*"):
        click_in_frame(page, "Cancel subscription")
    expect(page).to_have_title("Stripe portal")
    assert len(parent.messages) == 1
    assert parent.messages[0]["origin"] == live_server
    assert parent.messages[0]["data"] == {
        "type": "cancelpage:outcome",
        "outcome": "portal",
        "offer": None,
        "ends_at": None,
    }
    assert parent.errors == []


@pytest.mark.parametrize("how", ["escape", "close-button"])
def test_closing_reports_closed_and_returns_focus(
    parent: Parent,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
    how: str,
) -> None:
    page = parent.page
    open_dialog(parent, merchant_origins[0], embed_link("embedco", f"close-{how}"))
    assert_modal_with_focus_inside(page)
    if how == "escape":
        # Focus is inside the framed flow: Esc there still closes the dialog.
        page.frame_locator("iframe.cancelpage-frame").get_by_label("It's too expensive").focus()
        page.keyboard.press("Escape")
    else:
        page.get_by_role("button", name="Close").click()
    expect(page.locator("dialog")).to_have_count(0)
    expect(page.locator("#cancel-link")).to_be_focused()
    assert parent.messages == []  # the frame reported nothing: the customer chose nothing
    assert parent.events == [
        {"target": "cancel-link", "detail": {"outcome": "closed", "offer": None, "ends_at": None}}
    ]
    assert parent.errors == []


def test_open_api_resolves_with_the_outcome(
    parent: Parent,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
) -> None:
    page = parent.page
    parent.open_account(merchant_origins[0], "")
    page.evaluate(
        "url => { window.apiResult = null; Cancelpage.open(url).then(r => (apiResult = r)); }",
        embed_link("embedco", "api"),
    )
    expect(heading_in_frame(page)).to_have_text("Before you go…")
    click_in_frame(page, "Skip, just cancel")
    click_in_frame(page, "Keep my subscription")
    expect(heading_in_frame(page)).to_have_text("Your subscription continues")
    parent.wait_for_event()
    assert page.evaluate("window.apiResult") == {"outcome": "saved", "offer": None, "ends_at": None}
    assert parent.events == [
        {"target": "document", "detail": {"outcome": "saved", "offer": None, "ends_at": None}}
    ]
    assert parent.errors == []


def test_another_origin_cannot_frame_the_flow(
    parent: Parent,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
) -> None:
    page = parent.page
    parent.open_account(merchant_origins[1], embed_link("embedco", "other-origin"))
    with page.expect_response(lambda r: "/s/" in r.url) as shown:
        page.get_by_role("link", name="Cancel subscription").click()
    assert "frame-ancestors" in shown.value.headers["content-security-policy"]
    page.wait_for_timeout(500)
    flow = page.frame_locator("iframe.cancelpage-frame").locator("#step")
    expect(flow).to_have_count(0)
    assert parent.messages == []
    assert [e for e in parent.errors if "frame-ancestors" not in e] == []
    assert any("frame-ancestors" in e for e in parent.errors)


def test_blocked_third_party_cookies_change_nothing(
    browser_type: BrowserType,
    browser_type_launch_args: dict[str, Any],
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
    live_server: str,
) -> None:
    args = [*browser_type_launch_args["args"], "--test-third-party-cookie-phaseout"]
    browser = browser_type.launch(**{**browser_type_launch_args, "args": args})
    try:
        parent = new_parent(browser)
        page = parent.page
        open_dialog(parent, merchant_origins[0], embed_link("embedco", "no-cookies"))
        frame = next(f for f in page.frames if f.url.startswith(live_server))
        # The frame gets no cookie at all (a cross-site frame on http never does in Chromium;
        # the flag blocks them on https too), and the flow below needs none.
        access = "async () => [document.cookie = 'probe=1', await document.hasStorageAccess()]"
        assert frame.evaluate(access) == ["probe=1", False]
        assert frame.evaluate("document.cookie") == ""
        click_in_frame(page, "Skip, just cancel")
        click_in_frame(page, "Cancel subscription")
        expect(heading_in_frame(page)).to_have_text("Your subscription is canceled")
        assert parent.one_outcome()["data"]["outcome"] == "canceled"
        assert page.context.cookies() == []
        assert parent.errors == []
    finally:
        browser.close()


def test_without_javascript_the_link_navigates(
    browser: Browser,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
    live_server: str,
) -> None:
    parent = new_parent(browser, js=False)
    page = parent.page
    parent.open_account(merchant_origins[0], embed_link("embedco", "no-js"))
    page.get_by_role("link", name="Cancel subscription").click()
    expect(page.locator("#step h1")).to_have_text("Before you go…")
    assert page.url.startswith(f"{live_server}/s/")
    assert page.locator("dialog").count() == 0
    assert parent.errors == []
    page.context.close()


def test_dialog_fits_320_px(
    browser: Browser,
    embed_link: Callable[[str, str], str],
    merchant_origins: tuple[str, str],
    artifacts: Path,
) -> None:
    parent = new_parent(browser, width=320)
    page = parent.page
    open_dialog(parent, merchant_origins[0], embed_link("embedco", "narrow"))
    box = page.locator("dialog").bounding_box()
    assert box is not None
    assert box["x"] >= 0
    assert box["width"] <= 320
    scroll = page.frame_locator("iframe.cancelpage-frame").locator("html")
    assert scroll.evaluate("e => e.scrollWidth <= e.clientWidth")  # no sideways scrolling
    page.screenshot(path=str(artifacts / "embed-survey-320.png"))
    assert parent.errors == []
    page.context.close()


def test_dashboard_embed_section(
    browser: Browser, live_app: Flask, live_server: str, artifacts: Path
) -> None:
    add_user(live_app, "acme", "embedder@acme.example")
    parent = new_parent(browser)
    page = parent.page
    page.goto(f"{live_server}/admin/login")
    page.get_by_label("Email").fill("embedder@acme.example")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_role("navigation", name="Dashboard").get_by_role("link", name="Links & API").click()
    page.get_by_label("Pages that may show the dialog").fill("https://app.acme.example")
    page.get_by_role("button", name="Save origins").click()
    expect(page.get_by_role("status")).to_have_text("Embed origins saved.")
    section = page.locator("#embed")
    expect(section).to_contain_text(f'<script src="{live_server}/embed.js" defer></script>')
    expect(section).to_contain_text('"return_url": "https://app.acme.example/account"')
    for width in (320, 1280):
        page.set_viewport_size({"width": width, "height": 900})
        section.screenshot(path=str(artifacts / f"embed-dashboard-{width}.png"))
    assert parent.errors == []
    page.context.close()
