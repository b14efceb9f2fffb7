"""Win-back: N days after a subscription the customer chose to end has ended, one email in the
customer's language with the merchant's copy, a link to the merchant's resubscribe page and,
optionally, a single-use promotion code for that customer only, expiring.

Off until the merchant turns it on. Never after an end for failed payment (dunning's last email
said what there was to say) and never to an unsubscribed address (the outbox's suppression).
Each ended subscription is one ``winback`` case: open while the email waits and the code is
valid, ``recovered`` when the code is redeemed (``customer.discount.created`` or a paid invoice
carrying it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa

from cancelpage.billing import Gateway, StripeRejected, SubscriptionView
from cancelpage.extensions import db
from cancelpage.models import Merchant, OutboxEmail, RecoveryCase
from cancelpage.recovery import emails

KIND = "winback"
MAX_DAYS = 365
DEFAULT_CODE_DAYS = 14


class WinbackError(ValueError):
    """A win-back setting that cannot be used; ``field`` names it."""

    def __init__(self, message: str, field: str) -> None:
        super().__init__(message)
        self.field = field


def configure(
    merchant: Merchant,
    *,
    days: int | None,
    url: str = "",
    coupon: str = "",
    code_days: int = DEFAULT_CODE_DAYS,
) -> None:
    """Turn win-back on (days after the end, the resubscribe URL, an optional coupon) or off."""
    if days is None:
        merchant.winback = None
        return
    if not 1 <= days <= MAX_DAYS:
        raise WinbackError(f"give a number of days between 1 and {MAX_DAYS}", "days")
    parts = urlsplit(url.strip())
    if parts.scheme != "https" or not parts.hostname:
        raise WinbackError("give the https:// URL where customers subscribe again", "url")
    coupon = coupon.strip()
    if coupon and (len(coupon) > 200 or not coupon.replace("_", "").replace("-", "").isalnum()):
        raise WinbackError("give a Stripe coupon id (letters, digits, - and _)", "coupon")
    if not 1 <= code_days <= MAX_DAYS:
        raise WinbackError(f"give a number of days between 1 and {MAX_DAYS}", "code_days")
    merchant.winback = {
        "days": days,
        "url": url.strip(),
        "coupon": coupon or None,
        "code_days": code_days,
    }


def failed_payment_end(merchant: Merchant, subscription_id: str) -> bool:
    """Did the subscription end over a failed payment that was never recovered?"""
    found = db.session.scalar(
        sa.select(RecoveryCase.id)
        .where(
            RecoveryCase.merchant_id == merchant.id,
            RecoveryCase.subscription_id == subscription_id,
            RecoveryCase.kind == "payment_failed",
            RecoveryCase.status.in_(("open", "lost")),
        )
        .limit(1)
    )
    return found is not None


def why_not(merchant: Merchant, sub: SubscriptionView | None) -> str | None:
    """Why this ended subscription gets no win-back email (None: it gets one)."""
    if sub is None:
        return "no win-back: subscription unknown"
    if sub.cancellation_reason != "cancellation_requested" or failed_payment_end(merchant, sub.id):
        return "no win-back: not ended by the customer's choice"
    return None


def email_for(
    merchant: Merchant,
    gateway: Gateway | None,
    case: RecoveryCase,
    sub: SubscriptionView,
    ended_at: int,
) -> tuple[dict[str, Any], datetime, str]:
    """The win-back email's data and due time (N days after the end), with a code made now if
    a coupon is configured; and a note for the event's outcome."""
    config = merchant.winback or {}
    ended = datetime.fromtimestamp(sub.ended_at or ended_at, UTC)
    due = ended + timedelta(days=int(config["days"]))
    data: dict[str, Any] = {"url": config["url"], "subscription": sub.id}
    note = "win-back email scheduled"
    if config.get("coupon") and gateway is not None:
        expires = int((due + timedelta(days=int(config.get("code_days") or 14))).timestamp())
        try:
            code_id, code = gateway.create_promotion_code(
                coupon_id=config["coupon"],
                customer_id=sub.customer,
                expires_at=expires,
                idempotency_key=f"cancelpage-winback-{merchant.id}-{case.id}",
            )
        except StripeRejected as err:
            note = f"win-back email scheduled without a code: {err.message}"
        else:
            data.update(promotion_code=code_id, code=code, code_expires_at=expires)
    return data, due, note


def _open_with_code(merchant: Merchant, customer_id: str) -> sa.Select[Any]:
    return (
        sa.select(RecoveryCase, OutboxEmail)
        .join(OutboxEmail, OutboxEmail.case_id == RecoveryCase.id)
        .where(
            RecoveryCase.merchant_id == merchant.id,
            RecoveryCase.kind == KIND,
            RecoveryCase.customer_id == customer_id,
            RecoveryCase.status == "open",
            OutboxEmail.status == "sent",
        )
    )


def has_open_codes(merchant: Merchant, customer_id: str) -> bool:
    """Was the customer sent a win-back email not yet redeemed?"""
    return db.session.execute(_open_with_code(merchant, customer_id).limit(1)).first() is not None


def redeemed_cases(
    merchant: Merchant, customer_id: str, promotion_codes: tuple[str, ...]
) -> list[RecoveryCase]:
    """The customer's open win-back cases whose emailed code is among ``promotion_codes``."""
    if not promotion_codes:
        return []
    rows = db.session.execute(_open_with_code(merchant, customer_id).with_for_update())
    return [case for case, email in rows if email.data.get("promotion_code") in promotion_codes]


def counts(merchant: Merchant) -> dict[str, int]:
    """For analytics: win-back emails sent, and codes redeemed."""
    sent = db.session.scalar(
        sa.select(sa.func.count()).where(
            OutboxEmail.merchant_id == merchant.id,
            OutboxEmail.kind == emails.WINBACK,
            OutboxEmail.status == "sent",
        )
    )
    won = db.session.scalar(
        sa.select(sa.func.count()).where(
            RecoveryCase.merchant_id == merchant.id,
            RecoveryCase.kind == KIND,
            RecoveryCase.status == "recovered",
        )
    )
    return {"sent": sent or 0, "redeemed": won or 0}
