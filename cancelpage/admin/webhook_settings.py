"""Webhooks to the merchant's app: endpoints (secret shown once), a test event, the delivery
log with status codes, and re-sending one delivery. Also the win-back setting."""

from __future__ import annotations

import secrets
from typing import Any

from flask import Response, flash, request, url_for

from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db
from cancelpage.merchant_webhooks import delivery, endpoints, events
from cancelpage.recovery import winback
from cancelpage.web.rendering import see_other

TEMPLATE = "admin/webhooks.html"


def context(**extra: Any) -> dict[str, Any]:
    current = merchant()
    config = current.winback or {}
    return {
        "endpoints": endpoints.endpoints_of(current),
        "deliveries": delivery.deliveries_of(current.id),
        "event_types": events.EVENT_TYPES,
        "winback": config,
        "winback_counts": winback.counts(current),
        "new_secret": None,
        "error": None,
        **extra,
    }


@bp.get("/webhooks")
def webhooks() -> Response:
    """Endpoints, the delivery log and the win-back setting."""
    return page(TEMPLATE, "content", **context())


@bp.post("/webhooks/endpoints")
def webhooks_add() -> Response:
    """Add an endpoint; its signing secret is shown this once."""
    try:
        endpoint, secret = endpoints.add_endpoint(merchant(), request.form.get("url", ""))
    except endpoints.EndpointError as err:
        db.session.rollback()
        errors = {"url": str(err)}
        return page(TEMPLATE, "endpoints", status=422, **context(errors=errors))
    db.session.commit()
    # Shown on this response only (never flashed into the cookie session, never stored plain).
    notice = f"Endpoint {endpoint.id} added. Copy its signing secret now; it is not shown again."
    return page(TEMPLATE, "endpoints", **context(new_secret=secret, notice=notice))


@bp.post("/webhooks/endpoints/<int:endpoint_id>/enabled")
def webhooks_toggle(endpoint_id: int) -> Response:
    """Pause or resume sending to an endpoint (its log is kept)."""
    endpoint = endpoints.endpoint_of(merchant(), endpoint_id)
    if endpoint is None:
        return page(TEMPLATE, "endpoints", status=404, **context(error="No such endpoint."))
    endpoint.enabled = request.form.get("enabled") == "true"
    db.session.commit()
    state = "resumed" if endpoint.enabled else "paused"
    return saved(
        "admin.webhooks", f"Endpoint {endpoint.id} {state}.", TEMPLATE, "endpoints", **context()
    )


@bp.post("/webhooks/endpoints/<int:endpoint_id>/test")
def webhooks_test(endpoint_id: int) -> Response:
    """Send a webhook.test event to one endpoint now and say what it answered."""
    endpoint = endpoints.endpoint_of(merchant(), endpoint_id)
    if endpoint is None:
        return page(TEMPLATE, "endpoints", status=404, **context(error="No such endpoint."))
    row = delivery.send_now(events.test_event(endpoint, secrets.token_hex(8)))
    message = (
        f"Test event delivered (HTTP {row.last_status_code})."
        if row.status == "delivered"
        else f"Test event not delivered: {row.last_error}."
    )
    return saved("admin.webhooks", message, TEMPLATE, "endpoints", **context())


@bp.post("/webhooks/deliveries/<int:delivery_id>/resend")
def webhooks_resend(delivery_id: int) -> Response:
    """Send one delivery again now, same event id and body."""
    row = delivery.resend(merchant().id, delivery_id)
    if row is None:
        return page(TEMPLATE, "endpoints", status=404, **context(error="No such delivery."))
    message = (
        f"Delivery {row.id} sent again: {row.status} ({row.last_status_code or row.last_error})."
    )
    return saved("admin.webhooks", message, TEMPLATE, "endpoints", **context())


@bp.post("/webhooks/winback")
def webhooks_winback() -> Response:
    """Turn win-back on or off, with its days, resubscribe URL and optional coupon."""
    form = request.form
    days = form.get("days", "").strip()
    try:
        winback.configure(
            merchant(),
            days=int(days) if days.isdigit() else None,
            url=form.get("url", ""),
            coupon=form.get("coupon", ""),
            code_days=int(form.get("code_days") or winback.DEFAULT_CODE_DAYS),
        )
    except (winback.WinbackError, ValueError) as err:
        db.session.rollback()
        field = getattr(err, "field", "days")
        return page(TEMPLATE, "content", status=422, **context(errors={field: str(err)}))
    db.session.commit()
    flash("Win-back saved." if merchant().winback else "Win-back is off.")
    return see_other(url_for("admin.webhooks"))
