"""Demo mode (`flask --app cancelpage demo`): the app's root stands in for the merchant's own app.

Its page has the merchant's "Cancel subscription" buttons; each opens a fresh signed demo link,
and demo links return to it. Outside demo mode these routes do not exist (404).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlsplit

from flask import Blueprint, Response, abort, current_app, render_template, request

from cancelpage import links
from cancelpage.merchants.store import DEMO_SLUG, ensure_demo_merchant
from cancelpage.web.rendering import see_other

bp = Blueprint("demo_app", __name__)

# The demo's customers: who they are to the flow (segment attributes).
DEMO_CUSTOMERS = (
    ("Price-sensitive customer on Pro", {"plan": "Pro", "mrr": "4900", "tenure_days": "400"}),
    ("Newer customer on Starter", {"plan": "Starter", "mrr": "900", "tenure_days": "20"}),
)


@bp.before_request
def demo_only() -> None:
    if not current_app.config.get("DEMO"):
        abort(404)


def demo_link(which: int, locale: str | None = None) -> str:
    """A fresh cancel link for demo customer ``which`` that returns to this app's root."""
    merchant = ensure_demo_merchant()
    base = current_app.config["PUBLIC_BASE_URL"]
    return links.sign_cancel_link(
        base_url=base,
        merchant=DEMO_SLUG,
        secret=merchant.link_secrets,
        # A new customer id per click: every link is its own session.
        customer=f"cus_demo_{secrets.token_hex(4)}",
        subscription="sub_demo",
        return_url=f"{base}/",
        allowed_return_hosts=merchant.return_hosts,
        attributes=DEMO_CUSTOMERS[which][1],
        locale=locale,
    )


@bp.get("/")
def home() -> str:
    """The stand-in merchant app: an account page with Cancel buttons."""
    return render_template(
        "demo/app.html", customers=DEMO_CUSTOMERS, merchant=ensure_demo_merchant()
    )


@bp.get("/demo/cancel/<int:which>")
def cancel(which: int) -> Response:
    """What the merchant's Cancel button does: sign a link and send the customer to it."""
    if not 0 <= which < len(DEMO_CUSTOMERS):
        abort(404)
    locale = request.args.get("locale") or None
    return see_other(urlsplit(demo_link(which, locale)).path)
