"""Customer pages reached from recovery emails: card update hand-off and unsubscribe.

GET never changes anything and never calls Stripe (mail scanners prefetch links); the action
is a POST from the page's button, or the one-click POST of RFC 8058 for unsubscribing.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, Response, current_app, request, url_for

from cancelpage import i18n, links
from cancelpage.billing import BillingError, StripeUnavailable, gateway_for
from cancelpage.customer.cancel_pages import customer_limit
from cancelpage.extensions import db
from cancelpage.i18n import formats
from cancelpage.merchants import vault
from cancelpage.merchants.store import by_slug
from cancelpage.models import Merchant, OutboxEmail, RecoveryCase, StripeWrite, utcnow
from cancelpage.recovery import cases, emails, outbox
from cancelpage.vocabulary import whole_number
from cancelpage.web.rendering import render, see_other

bp = Blueprint("recovery", __name__)

# Clicks within this long of loading the card page share one idempotency key (double click), and
# a portal session made for a card link is handed out again for this long (repeated clicks, a
# reload, a second tab): well inside the few minutes a Stripe portal session URL works. After
# that a click gets a fresh one.
CARD_CLICK_WINDOW = 240


def invalid_link() -> Response:
    return render("cancel/invalid.html", "step", status=404, merchant=None)


# ---- card update -----------------------------------------------------------------------------


@bp.get("/card/<token>")
@customer_limit
def card(token: str) -> Response:
    """A branded page with one button to the secure card form."""
    found = open_card_link(token)
    if found is None:
        return invalid_link()
    return render("recovery/card.html", "step", **card_context(*found, token))


@bp.post("/card/<token>")
@customer_limit
def card_submit(token: str) -> Response:
    """Create a billing-portal session (payment_method_update) and send the customer there."""
    found = open_card_link(token)
    if found is None:
        return invalid_link()
    merchant, case = found
    try:
        url = portal_for(merchant, case, token, request.form.get("nonce", ""))
    except BillingError as error:
        return render("recovery/card.html", "step", **card_context(*found, token, failure=error))
    return see_other(url)


@bp.get("/card/done/<slug>")
def card_done(slug: str) -> Response:
    """Where the billing portal sends the customer back when the merchant set no return URL."""
    merchant = by_slug(slug)
    if merchant is None:
        return invalid_link()
    return render("recovery/card_done.html", "step", merchant=merchant)


# What the return page can say; anything else in ?result= is ignored.
RETURN_RESULTS = ("paid", "declined", "no_card", "unavailable", "preview", "closed")


@bp.get("/card/<token>/return")
def card_return(token: str) -> Response:
    """Where the portal sends the customer back: what happened to the unpaid payment.

    A GET only reads our own records; the retry itself is the page's POST (sent at once by
    htmx, or by the button without JavaScript), so a prefetch never charges a card.
    """
    found = open_card_link(token)
    if found is None:
        return invalid_link()
    merchant, case = found
    result = request.args.get("result")
    if case.status == "recovered":
        result = "paid"
    elif case.status != "open" or case.kind != "payment_failed":
        result = "closed"
    elif result not in RETURN_RESULTS:
        result = None  # not checked yet: the page checks now
    return render(
        "recovery/card_return.html", "step", **return_context(merchant, case, token, result)
    )


@bp.post("/card/<token>/return")
def card_return_submit(token: str) -> Response:
    """Pay the unpaid invoice with the card just saved (once per card) and say how it went."""
    found = open_card_link(token)
    if found is None:
        return invalid_link()
    merchant, case = found
    result = retry_after_portal(merchant, case)
    if request.headers.get("HX-Request") == "true":
        return render(
            "recovery/card_return.html", "step", **return_context(merchant, case, token, result)
        )
    return see_other(url_for(".card_return", token=token, result=result))


def retry_after_portal(merchant: Merchant, case: RecoveryCase) -> str:
    """Retry with the customer's default payment method now; one of RETURN_RESULTS."""
    if case.kind != "payment_failed" or case.status != "open":
        return "paid" if case.status == "recovered" else "closed"
    if not merchant.live:
        return "preview"  # nothing is charged in preview mode
    gateway = gateway_for(merchant)
    try:
        customer = gateway.read_customer(case.customer_id)
        retries = cases.retry_with_card(
            merchant, gateway, case.customer_id, customer.default_payment_method
        )
        db.session.commit()
    except StripeUnavailable:
        db.session.rollback()
        return "unavailable"
    except BillingError:
        db.session.rollback()
        return "closed"
    mine = next((r for r in retries if r.case.id == case.id), None)
    if mine is None:
        return "no_card"
    return "paid" if mine.result == "paid" else "declined"


def return_context(
    merchant: Merchant, case: RecoveryCase, token: str, result: str | None
) -> dict[str, Any]:
    return {
        "merchant": merchant,
        "token": token,
        "result": result,
        "amount": formats.money(case.amount_due or 0, case.currency or ""),
        "back_url": merchant.default_return_url,
    }


def open_card_link(token: str) -> tuple[Merchant, RecoveryCase] | None:
    """The merchant and case a card-update token names, or None for any unusable token."""
    payload = verified(token, "card_update")
    if payload is None or whole_number(payload[1].ref or "") is None:
        return None
    merchant, data = payload
    case = db.session.get(RecoveryCase, whole_number(data.ref or ""))
    if case is None or case.merchant_id != merchant.id or case.customer_id != data.customer:
        return None
    return merchant, case


def card_context(
    merchant: Merchant, case: RecoveryCase, token: str, failure: BillingError | None = None
) -> dict[str, Any]:
    owed = case.kind == "payment_failed" and case.status == "open" and case.amount_due
    return {
        "merchant": merchant,
        "case": case,
        "token": token,
        "amount": formats.money(case.amount_due or 0, case.currency or "") if owed else None,
        "nonce": f"{int(time.time())}.{secrets.token_urlsafe(12)}",
        "failure": failure,
        "retryable": isinstance(failure, StripeUnavailable),
    }


def card_update_key(case: RecoveryCase, nonce: str, now: int) -> str:
    """One key per page view: a double click reuses it, a stale or forged nonce gets its own."""
    stamp, _, rand = nonce.partition(".")
    issued = whole_number(stamp)
    fresh = issued is not None and 0 <= now - issued <= CARD_CLICK_WINDOW and 8 <= len(rand) <= 32
    if not fresh:
        nonce = f"{now}.{secrets.token_urlsafe(12)}"
    material = f"card_update|{case.merchant_id}|{case.id}|{nonce}"
    return "cancelpage-card-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def card_return_url(token: str) -> str:
    """Back from the portal to the page that retries the payment and says how it went."""
    return current_app.config["PUBLIC_BASE_URL"] + url_for("recovery.card_return", token=token)


def portal_for(merchant: Merchant, case: RecoveryCase, token: str, nonce: str) -> str:
    """A portal session deep-linked to updating the payment method; recorded like every write.

    The case's last one is reused while it lives, so a burst of clicks is one Stripe session.
    """
    recent = recent_portal_url(case)
    if recent is not None:
        return recent
    key = card_update_key(case, nonce, int(time.time()))
    row = db.session.scalar(sa.select(StripeWrite).where(StripeWrite.idempotency_key == key))
    if row is None:
        row = StripeWrite(
            merchant_id=merchant.id,
            idempotency_key=key,
            operation="portal_payment_method_update",
            preview=not merchant.live,
            attempts=0,
        )
        db.session.add(row)
    row.attempts += 1
    db.session.commit()
    gateway = gateway_for(merchant)
    seen = len(gateway.recorded)
    try:
        url = gateway.portal_url(
            case.customer_id,
            return_url=card_return_url(token),
            flow="payment_method_update",
            idempotency_key=key,
        )
    except BillingError as error:
        row.status = "unknown" if isinstance(error, StripeUnavailable) else "failed"
        row.error = str(error)[:1000]
        db.session.commit()
        raise
    row.status, row.error = "succeeded", None
    case.portal_url_encrypted = vault.encrypt(url)
    case.portal_expires_at = utcnow() + timedelta(seconds=CARD_CLICK_WINDOW)
    row.requests = [
        {
            "method": r.method.upper(),
            "path": r.path,
            "params": dict(r.params),
            "idempotency_key": r.idempotency_key,
        }
        for r in gateway.recorded[seen:]
    ]
    db.session.commit()
    return url


def recent_portal_url(case: RecoveryCase) -> str | None:
    """The portal session last made for this case, while it still works."""
    if case.portal_url_encrypted is None or case.portal_expires_at is None:
        return None
    if case.portal_expires_at <= utcnow():
        return None
    try:
        return vault.decrypt(case.portal_url_encrypted)
    except vault.VaultError:  # its key was rotated away: make a new session instead
        return None


# ---- unsubscribe -----------------------------------------------------------------------------


@bp.get("/unsubscribe/<token>")
@customer_limit
def unsubscribe(token: str) -> Response:
    """Ask before unsubscribing (a GET changes nothing)."""
    found = open_unsubscribe_link(token)
    if found is None:
        return invalid_link()
    merchant, row = found
    done = outbox.is_suppressed(merchant.id, row.to_address or "")
    return render(
        "recovery/unsubscribe.html", "step", **unsubscribe_context(merchant, row, token, done)
    )


@bp.post("/unsubscribe/<token>")
@customer_limit
def unsubscribe_submit(token: str) -> Response:
    """Unsubscribe: the page's button, or a mail client's one-click POST (RFC 8058)."""
    found = open_unsubscribe_link(token)
    if found is None:
        return invalid_link()
    merchant, row = found
    outbox.suppress(merchant.id, row.to_address or "")
    db.session.commit()
    if request.form.get("List-Unsubscribe") == "One-Click":
        return render(
            "recovery/unsubscribe.html", "step", **unsubscribe_context(merchant, row, token, True)
        )
    return see_other(url_for(".unsubscribe", token=token))


def open_unsubscribe_link(token: str) -> tuple[Merchant, OutboxEmail] | None:
    """The token names an outbox row (the address lives there, never in the link)."""
    payload = verified(token, "unsubscribe", max_age=emails.UNSUBSCRIBE_MAX_AGE)
    if payload is None or whole_number(payload[1].ref or "") is None:
        return None
    merchant, data = payload
    row = db.session.get(OutboxEmail, whole_number(data.ref or ""))
    if row is None or row.merchant_id != merchant.id or not row.to_address:
        return None
    return merchant, row


def masked(address: str) -> str:
    name, _, domain = address.partition("@")
    return f"{name[:1]}•••@{domain}"


def unsubscribe_context(
    merchant: Merchant, row: OutboxEmail, token: str, done: bool
) -> dict[str, Any]:
    return {
        "merchant": merchant,
        "token": token,
        "done": done,
        "address": masked(row.to_address or ""),
    }


# ---- shared ----------------------------------------------------------------------------------


@bp.get("/email/test-link")
def test_link() -> Response:
    """Where the buttons of test emails lead: nothing to act on."""
    return render("recovery/test_link.html", "step", merchant=None)


def verified(
    token: str, purpose: str, max_age: int | None = None
) -> tuple[Merchant, links.LinkPayload] | None:
    try:
        merchant = by_slug(links.peek_merchant(token))
        if merchant is None:
            return None
        payload = links.verify(
            token, merchant.link_secrets, purpose, max_age or merchant.link_max_age
        )
    except links.BadLink:
        return None
    # The page speaks the email's language (then the browser's, then the merchant's).
    i18n.prefer(link=payload.locale, merchant=merchant.default_locale)
    return merchant, payload
