"""The dashboard blueprint, its sign-in gate and helpers shared by its view modules.

Every view finds the merchant through the signed-in user, never through the URL, and looks up
objects by id only within that merchant: a user of one merchant cannot reach another's data.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, flash, g, request, url_for
from flask_login import current_user

from cancelpage.extensions import db, login
from cancelpage.models import Merchant
from cancelpage.web.rendering import render, see_other, wants_fragment

bp = Blueprint("admin", __name__, url_prefix="/admin")

PUBLIC_ENDPOINTS = frozenset({"admin.login", "admin.forgot", "admin.reset_link", "admin.reset"})
NAV = (
    ("admin.overview", "Overview"),
    ("admin.settings", "Settings"),
    ("admin.stripe", "Stripe"),
    ("admin.flow", "Flow"),
    ("admin.preview", "Preview"),
    ("admin.emails", "Emails"),
    ("admin.developers", "Links & API"),
    ("admin.webhooks", "Webhooks"),
    ("admin.compliance", "Compliance"),
    ("analytics.dashboard", "Analytics"),
    ("admin.scan", "Revenue scan"),
)


@bp.before_request
def require_sign_in() -> Response | None:
    if request.endpoint in PUBLIC_ENDPOINTS:
        return None
    return sign_in_gate()


def sign_in_gate() -> Response | None:
    """Put the signed-in user's merchant in g.merchant, or send the visitor to sign in.

    Shared by every dashboard blueprint (admin, analytics) so there is one gate.
    """
    if not current_user.is_authenticated:
        return unauthorized()
    merchant = db.session.get(Merchant, current_user.merchant_id)
    if merchant is None:
        return unauthorized()
    g.merchant = merchant
    g.actor = current_user.user.email
    return None


@bp.after_request
def same_origin_referrer(response: Response) -> Response:
    """Keep referrers on this site: Flask-WTF's CSRF check needs one on HTTPS posts."""
    response.headers["Referrer-Policy"] = "same-origin"
    return response


@login.unauthorized_handler
def unauthorized() -> Response:
    next_path = request.full_path if request.method == "GET" else None
    target = url_for("admin.login", next=next_path.rstrip("?") if next_path else None)
    return see_other(target)


def merchant() -> Merchant:
    """The signed-in user's merchant (set by require_sign_in)."""
    found: Merchant = g.merchant
    return found


def page(template: str, block: str, status: int = 200, **context: Any) -> Response:
    """Render a dashboard page (or its block for htmx) with what every page needs."""
    context.setdefault("merchant", g.get("merchant"))
    context.setdefault("nav", NAV)
    context.setdefault("errors", {})
    context.setdefault("notice", None)
    context.setdefault("refresh_seconds", None)
    return render(template, block, status, **context)


def saved(
    endpoint: str, message: str, template: str, block: str, anchor: str = "", **context: Any
) -> Response:
    """After a successful POST: htmx gets the updated block (200), a plain form a 303 (to
    ``#anchor``, where the page shows the message, when given)."""
    if wants_fragment():
        return page(template, block, notice=message, **context)
    flash(message)
    return see_other(url_for(endpoint) + (f"#{anchor}" if anchor else ""))
