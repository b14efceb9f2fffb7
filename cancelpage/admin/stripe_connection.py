"""Stripe connection: the API key (checked and explained), the preview/live switch, the
webhook signing secrets, and Stripe's customer portal (the side-door warning, cancelpage's own
configuration, applying it to the account's default after an explicit confirmation)."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from cancelpage import billing
from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db
from cancelpage.merchants import portal, secrets
from cancelpage.models import Merchant
from cancelpage.recovery import webhooks
from cancelpage.web.rendering import wants_fragment

TEMPLATE = "admin/stripe.html"
BLOCK = "portal"


def context(**extra: Any) -> dict[str, Any]:
    """The page's context; a full page also shows the portal (checked in Stripe on a visit)."""
    if "portal_form" not in extra and not wants_fragment():
        if request.method != "GET":
            extra.setdefault("portal_status", None)  # no Stripe read for another form's answer
        extra = portal_context(**extra)
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


def portal_context(**extra: Any) -> dict[str, Any]:
    """What the portal block shows; reads Stripe (live) unless a status is given, so each visit
    checks the default configuration and cancelpage's own."""
    current = merchant()
    if "portal_status" not in extra:
        try:
            extra["portal_status"] = portal.status(current)
        except billing.BillingError as err:
            extra["portal_status"], extra["portal_error"] = None, err.message
        db.session.commit()  # the check's outcome (what drifted, and when)
    return {
        "portal_form": portal.settings_of(current),
        "portal_errors": {},
        "cancel_timings": portal.CANCEL_TIMING_LABELS,
        "hand_off": current.cancel_mode == "portal",
        "portal_check": current.portal_check or {},
        "default_changes": None,
        **extra,
    }


def portal_page(**extra: Any) -> Response:
    return page(TEMPLATE, BLOCK, **context(**portal_context(**extra)))


@bp.post("/stripe/portal")
def portal_configure() -> Response:
    """Keep the portal choices and create or update cancelpage's configuration in Stripe."""
    current = merchant()
    try:
        portal.update_settings(current, request.form)
    except portal.PortalSettingsError as exc:
        db.session.rollback()
        return portal_page(portal_errors=exc.errors, portal_form=request.form)
    return _configure(current, apply_to_default=False)


@bp.post("/stripe/portal/default")
def portal_make_default() -> Response:
    """Apply cancelpage's settings to the account's default configuration: first say what
    changes for every portal link already in use, then act only on the explicit confirmation."""
    current = merchant()
    if request.form.get("confirm") != "yes":
        try:
            changes = portal.default_changes(current)
        except billing.BillingError as err:
            return portal_page(portal_status=None, portal_error=err.message)
        return portal_page(default_changes=changes)
    return _configure(current, apply_to_default=True)


def _configure(current: Merchant, *, apply_to_default: bool) -> Response:
    try:
        status = portal.configure(current, apply_to_default=apply_to_default)
    except billing.BillingError as err:
        db.session.rollback()
        return portal_page(portal_status=None, portal_error=err.message)
    db.session.commit()
    if not status.live:
        notice = "Preview: nothing was sent. These are the requests live mode would send."
        return portal_page(portal_status=status, portal_notice=notice)
    if apply_to_default:
        notice = "Your default portal configuration now has cancelpage's settings too."
    else:
        notice = f"Portal configuration {status.ours.id if status.ours else ''} is up to date."
    return saved(
        "admin.stripe", notice, TEMPLATE, BLOCK, **context(**portal_context(portal_status=status))
    )


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
