"""The embed: embed.js and its stylesheet for merchants' pages, and the outcome the hosted page
reports to the merchant's page when it runs inside the embed dialog."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app

from cancelpage.models import CancelSession

bp = Blueprint("embed", __name__)

# The outcomes a merchant's page hears; "closed" is embed.js's own (dialog closed first).
OUTCOMES = {"accepted": "saved", "kept": "saved", "canceled": "canceled", "portal": "portal"}
ASSET_MAX_AGE = 300


def outcome_message(session: CancelSession) -> dict[str, Any] | None:
    """What the parent page is told: no ids of the customer, no links, nothing secret."""
    if session.outcome is None:
        return None
    ends_at = session.outcome_detail.get("ends_at") if session.outcome == "canceled" else None
    return {
        "outcome": OUTCOMES[session.outcome],
        "offer": session.accepted_offer if session.outcome == "accepted" else None,
        "ends_at": datetime.fromtimestamp(ends_at, UTC).isoformat() if ends_at else None,
    }


def asset(filename: str) -> Response:
    """A static file any merchant's page may load, cached briefly so a fix reaches them soon."""
    response = current_app.send_static_file(filename)
    response.cache_control.no_cache = None
    response.cache_control.public = True
    response.cache_control.max_age = ASSET_MAX_AGE
    return response


@bp.get("/embed.js")
def script() -> Response:
    """The one script merchants include: progressive enhancement of their cancel link."""
    return asset("embed.js")


@bp.get("/embed.css")
def stylesheet() -> Response:
    """The dialog's styles, loaded by embed.js (no inline styles on the merchant's page)."""
    return asset("embed.css")
