"""A receipt's "keep my subscription" link: /k/<token> opens the session's done page (with its
undo) until the scheduled end, long after the cancel link's own capability has expired. GET
never writes to Stripe: the undo is the done page's own form."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, url_for

from cancelpage import links
from cancelpage.customer.cancel_pages import customer_limit, invalid_link
from cancelpage.extensions import db
from cancelpage.models import CancelSession, Merchant, utcnow
from cancelpage.web.rendering import see_other

bp = Blueprint("keep_links", __name__)


@bp.get("/k/<token>")
@customer_limit
def keep(token: str) -> Response:
    """Verify the link, then 303 to the session's step URL under its keep capability."""
    try:
        merchant = db.session.scalar(
            sa.select(Merchant).where(Merchant.slug == links.peek_merchant(token))
        )
        if merchant is None:
            raise links.BadLink
        payload = links.verify_keep(token, merchant.link_secrets, int(utcnow().timestamp()))
    except links.BadLink:
        return invalid_link()
    session = db.session.get(CancelSession, int(payload.ref or 0))
    if (
        session is None
        or session.merchant_id != merchant.id
        or session.customer_id != payload.customer
        or session.subscription_id != payload.subscription
    ):
        return invalid_link()
    cap = links.keep_capability(session.link_digest, current_app.config["SECRET_KEY"])
    if session.keep_capability_digest != links.digest(cap):  # first use, or SECRET_KEY rotated
        session.keep_capability_digest = links.digest(cap)
        db.session.commit()
    return see_other(url_for("cancel.show", cap=cap))
