"""Stripe connection: the API key (checked and explained), the preview/live switch and the
webhook signing secrets."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from cancelpage import billing
from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db
from cancelpage.merchants import secrets
from cancelpage.recovery import webhooks

TEMPLATE = "admin/stripe.html"


def context(**extra: Any) -> dict[str, Any]:
    current = merchant()
    return {
        "webhook_last4s": secrets.last4s(current.webhook_secrets),
        "webhook_url": webhooks.endpoint_url(current),
        "webhook_events": webhooks.EVENT_TYPES,
        "key_check": current.stripe_key_check or {},
        "permissions": billing.REQUIRED_PERMISSIONS,
        "scan_permissions": billing.SCAN_PERMISSIONS,
        "check": None,
        "unavailable": False,
        **extra,
    }


@bp.get("/stripe")
def stripe() -> Response:
    """Where the Stripe connection stands."""
    return page(TEMPLATE, "content", **context())


@bp.post("/stripe/key")
def stripe_key() -> Response:
    """Check a pasted key (prefix, mode, permissions) and keep it only if usable."""
    current = merchant()
    try:
        check = secrets.connect_stripe(current, request.form.get("api_key", ""))
    except billing.StripeUnavailable:
        return page(TEMPLATE, "connection", **context(unavailable=True))
    if not check.usable:
        return page(TEMPLATE, "connection", **context(check=check))
    db.session.commit()
    message = f"Key ending in {check.last4} checked and saved (Stripe {check.mode} mode)."
    return saved("admin.stripe", message, TEMPLATE, "connection", **context(check=check))


@bp.post("/stripe/key/remove")
def stripe_key_remove() -> Response:
    """Forget the key: back to preview mode."""
    secrets.disconnect_stripe(merchant())
    db.session.commit()
    return saved("admin.stripe", "Key removed: preview mode.", TEMPLATE, "connection", **context())


@bp.post("/stripe/mode")
def stripe_mode() -> Response:
    """The switch between preview (nothing sent) and live (the saved key is used)."""
    live = request.form.get("mode") == "live"
    try:
        secrets.set_live(merchant(), live)
    except secrets.SecretError as exc:
        return page(TEMPLATE, "connection", **context(mode_error=str(exc)))
    db.session.commit()
    message = "Live: customers' choices now go to Stripe." if live else "Preview: nothing is sent."
    return saved("admin.stripe", message, TEMPLATE, "connection", **context())


@bp.post("/stripe/webhook-secrets")
def webhook_secret_add() -> Response:
    """Save a webhook signing secret (two at most, for a roll)."""
    try:
        secrets.add_webhook_secret(merchant(), request.form.get("secret", ""))
    except secrets.SecretError as exc:
        return page(TEMPLATE, "webhooks", **context(webhook_error=str(exc)))
    db.session.commit()
    return saved("admin.stripe", "Webhook secret saved.", TEMPLATE, "webhooks", **context())


@bp.post("/stripe/webhook-secrets/<int:index>/remove")
def webhook_secret_remove(index: int) -> Response:
    """Remove one webhook signing secret."""
    try:
        secrets.remove_webhook_secret(merchant(), index)
    except secrets.SecretError as exc:
        return page(TEMPLATE, "webhooks", **context(webhook_error=str(exc)))
    db.session.commit()
    return saved("admin.stripe", "Webhook secret removed.", TEMPLATE, "webhooks", **context())
