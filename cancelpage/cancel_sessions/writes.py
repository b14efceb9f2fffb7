"""The final write: claim the session, then carry out the customer's choice in Stripe exactly once
(docs/RELIABILITY.md 13-15)."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import current_app, g

from cancelpage import flows, links
from cancelpage.billing import (
    BillingError,
    Gateway,
    StripeUnavailable,
    SubscriptionView,
    gateway_for,
)
from cancelpage.cancel_sessions.opening import record, snapshot_of
from cancelpage.extensions import db
from cancelpage.merchant_webhooks import events as merchant_events
from cancelpage.models import (
    CancelSession,
    StripeCoupon,
    StripeWrite,
    utcnow,
)
from cancelpage.web.dbretry import retrying

# Longer than the slowest Stripe call with its retries, so a live claim never expires mid-call.
CLAIM_SECONDS = 60


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """What happened to a final action: done, busy elsewhere, or failed (and why)."""

    done: bool = False
    busy: bool = False
    error: BillingError | None = None
    redirect_url: str | None = None


def idempotency_key(session: CancelSession, step: str, action: str) -> str:
    """Derived from (link, step, action): a retry or second click sends the same key."""
    material = f"{session.link_digest}|{step}|{action}"
    return "cancelpage-" + hashlib.sha256(material.encode()).hexdigest()[:48]


def claim(session: CancelSession) -> bool:
    """Take the session's write claim: one request at a time, and none after an outcome.

    One conditional UPDATE: of any number of concurrent requests exactly one matches the row.
    """

    def take() -> bool:
        now = utcnow()
        claimed = db.session.execute(
            sa.update(CancelSession)
            .where(
                CancelSession.id == session.id,
                CancelSession.outcome.is_(None),
                sa.or_(CancelSession.busy_until.is_(None), CancelSession.busy_until < now),
            )
            .values(busy_until=now + timedelta(seconds=CLAIM_SECONDS))
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        return bool(claimed == 1)

    taken = retrying(take)
    if taken:
        g.cancel_claim = session.id
    db.session.refresh(session)
    return taken


def _clear_claim(session_id: int) -> None:
    db.session.execute(
        sa.update(CancelSession)
        .where(CancelSession.id == session_id, CancelSession.outcome.is_(None))
        .values(busy_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def release(session: CancelSession) -> None:
    """Give the claim back after a failed write, so the customer can try again at once."""
    retrying(lambda: _clear_claim(session.id))
    g.pop("cancel_claim", None)
    db.session.refresh(session)


def release_abandoned_claim() -> None:
    """After a database failure mid-request: free this request's claim if it holds one.

    Safe because a retry re-reads the subscription before re-sending an uncertain write.
    If the database is still failing, the claim simply expires after CLAIM_SECONDS.
    """
    session_id = g.pop("cancel_claim", None)
    if session_id is None:
        return
    try:
        _clear_claim(session_id)
    except sa.exc.DBAPIError:
        db.session.rollback()


def carry_out(session: CancelSession, effect: flows.Effect, step: str) -> WriteResult:
    """Carry out the customer's final choice exactly once."""
    if not claim(session):
        return WriteResult(done=session.outcome is not None, busy=session.outcome is None)
    try:
        outcome, detail, redirect_url = _apply(session, effect, step)
    except BillingError as error:
        record(session, "write_failed", retryable=error.retryable)
        release(session)
        return WriteResult(error=error)
    session.outcome = outcome
    session.outcome_detail = detail
    session.completed_at = utcnow()
    session.state = flows.complete(flows.State.from_dict(session.state)).to_dict()
    session.busy_until = None
    record(session, "outcome", outcome=outcome, detail=detail)
    merchant_events.session_ended(session)
    db.session.commit()
    g.pop("cancel_claim", None)
    return WriteResult(done=True, redirect_url=redirect_url)


def _apply(
    session: CancelSession, effect: flows.Effect, step: str
) -> tuple[str, dict[str, Any], str | None]:
    """Decide and send the Stripe writes for an effect; returns (outcome, detail, redirect)."""
    snapshot = snapshot_of(session)
    if isinstance(effect, flows.AcceptOffer):
        return "accepted", _accept(session, effect.offer, step, snapshot), None
    if isinstance(effect, flows.KeepSubscription):
        if snapshot.cancel_at_period_end:
            _undo_cancel(session, step)
        return "kept", {}, None
    return _cancel(session, effect, step, snapshot)


def _accept(
    session: CancelSession, offer: flows.Offer, step: str, snapshot: flows.Snapshot
) -> dict[str, Any]:
    """Apply an accepted offer with the write its kind declares; the outcome's detail."""
    session.accepted_offer = offer.id
    action = f"accept:{offer.id}"
    # A retry must send exactly the same parameters under the same key, so dates derive
    # from the first attempt, not from the moment of the retry.
    now = first_attempt_at(session, step, action)
    coupon = offer.coupon()
    target = flows.Target(
        subscription_id=session.subscription_id,
        item_id=session.snapshot.get("item_id") or "",
        snapshot=snapshot,
        now=now,
        coupon_id=ensure_coupon(session, offer.id, coupon) if coupon is not None else None,
    )
    detail: dict[str, Any] = {"offer": offer.id, "kind": offer.kind}
    application = offer.application(target)
    if application is not None:
        detail.update(application.detail)
        _write(
            session,
            application.operation,
            step,
            action,
            application.send,
            applied=application.applied,
            started=now,
        )
    if offer.writes_to_stripe and snapshot.cancel_at_period_end:
        _undo_cancel(session, step)
    return detail


def _undo_cancel(session: CancelSession, step: str) -> None:
    sub = session.subscription_id
    _write(
        session,
        "undo_cancel",
        step,
        "undo",
        lambda gw, key: gw.undo_cancel(sub, idempotency_key=key),
        applied=lambda view: not view.cancel_at_period_end,
    )


def first_attempt_at(session: CancelSession, step: str, action: str) -> datetime:
    """When this action was first tried (now, for a first try), to the second."""
    row = db.session.scalar(
        sa.select(StripeWrite).where(
            StripeWrite.idempotency_key == idempotency_key(session, step, action)
        )
    )
    return row.created_at if row is not None else utcnow().replace(microsecond=0)


def _cancel(
    session: CancelSession, effect: flows.CancelSubscription, step: str, snapshot: flows.Snapshot
) -> tuple[str, dict[str, Any], str | None]:
    merchant = session.merchant
    sub = session.subscription_id
    feedback: Any = effect.feedback
    comment = effect.comment or None
    if merchant.cancel_mode == "portal":
        return_url = safe_return_url(session)
        # A portal session changes nothing by itself: re-creating it (same key) is always safe.
        url = _write(
            session,
            "portal_cancel",
            step,
            "cancel",
            lambda gw, key: gw.portal_url(
                session.customer_id,
                return_url=return_url,
                flow="subscription_cancel",
                subscription_id=sub,
                idempotency_key=key,
            ),
        )
        return "portal", {}, url
    if merchant.cancel_mode == "immediately":
        _write(
            session,
            "cancel_now",
            step,
            "cancel",
            lambda gw, key: gw.cancel_now(
                sub, feedback=feedback, comment=comment, idempotency_key=key
            ),
            applied=lambda view: view.status == "canceled",
        )
        return "canceled", {"ends_at": int(datetime.now(UTC).timestamp())}, None
    if not snapshot.cancel_at_period_end:
        _write(
            session,
            "cancel_at_period_end",
            step,
            "cancel",
            lambda gw, key: gw.cancel_at_period_end(
                sub, feedback=feedback, comment=comment, idempotency_key=key
            ),
            applied=lambda view: view.cancel_at_period_end,
        )
    return "canceled", {"ends_at": snapshot.period_end}, None


def _write(
    session: CancelSession,
    operation: str,
    step: str,
    action: str,
    send: Callable[[Gateway, str], Any],
    *,
    applied: Callable[[SubscriptionView], bool] | None = None,
    started: datetime | None = None,
) -> Any:
    """One Stripe write: a unique row first, then the call with the derived key.

    ``applied`` tells from a fresh read of the subscription whether the change is already in
    place. When an earlier attempt's outcome is unknown (timeout, 5xx, dropped connection, or a
    crash before its answer was saved), the subscription is re-read first and the write is
    recorded as done without sending it again if the change is visible. A write that already
    succeeded is not sent again.
    """
    key = idempotency_key(session, step, action)
    row = db.session.scalar(sa.select(StripeWrite).where(StripeWrite.idempotency_key == key))
    if row is not None and row.status == "succeeded" and applied is not None:
        return None
    if row is None:
        row = StripeWrite(
            merchant_id=session.merchant_id,
            session_id=session.id,
            idempotency_key=key,
            operation=operation,
            preview=not session.live,
            attempts=0,
            created_at=started or utcnow(),
        )
        db.session.add(row)
    uncertain = row.attempts > 0 and row.status in ("pending", "unknown")
    row.attempts += 1
    db.session.commit()
    # A preview session (no key, or the dashboard's preview of a live merchant) sends nothing.
    gateway = gateway_for(session.merchant) if session.live else Gateway.preview()
    seen = len(gateway.recorded)
    try:
        if uncertain and applied is not None:
            view = gateway.read_subscription(session.subscription_id)
            if applied(view):
                row.status = "succeeded"
                row.error = None
                record(session, "write_reconciled", operation=operation)
                db.session.commit()
                return view
        result = send(gateway, key)
    except BillingError as error:
        row.status = "unknown" if isinstance(error, StripeUnavailable) else "failed"
        row.error = str(error)[:1000]
        db.session.commit()
        raise
    row.status = "succeeded"
    row.error = None
    row.requests = [_as_dict(r) for r in gateway.recorded[seen:] if r.method != "get"]
    db.session.commit()
    return result


def _as_dict(request: Any) -> dict[str, Any]:
    return {
        "method": request.method.upper(),
        "path": request.path,
        "params": dict(request.params),
        "idempotency_key": request.idempotency_key,
    }


def ensure_coupon(session: CancelSession, offer_id: str, coupon: flows.CouponTerms) -> str:
    """A coupon per offer and terms, created once (live) and reused by every later session."""
    merchant = session.merchant
    digest = hashlib.sha256(coupon.fingerprint.encode()).hexdigest()[:8]
    coupon_id = f"cancelpage_{merchant.slug}_{offer_id}_{digest}"
    known = db.session.scalar(
        sa.select(StripeCoupon).where(
            StripeCoupon.merchant_id == merchant.id, StripeCoupon.coupon_id == coupon_id
        )
    )
    if known is not None and session.live:
        return coupon_id
    _write(
        session,
        "create_coupon",
        "coupon",
        coupon_id,
        lambda gw, key: gw.create_coupon(
            coupon_id=coupon_id,
            name=coupon.name,
            percent_off=coupon.percent_off,
            amount_off=coupon.amount_off,
            currency=coupon.currency,
            duration=coupon.duration,
            duration_in_months=coupon.duration_in_months,
            idempotency_key=key,
        ),
    )
    if session.live and known is None:
        db.session.add(StripeCoupon(merchant_id=merchant.id, coupon_id=coupon_id))
        try:
            db.session.commit()
        except sa.exc.IntegrityError:
            db.session.rollback()
    return coupon_id


def safe_return_url(session: CancelSession) -> str:
    """The link's return URL if its host is allowed, else the merchant's default."""
    merchant = session.merchant
    if links.host_allowed(session.return_url, merchant.return_hosts):
        return str(session.return_url)
    return merchant.default_return_url or current_app.config["PUBLIC_BASE_URL"] + "/"
