"""The final write: what the customer chose, in Stripe once, and never told otherwise than Stripe
holds (docs/RELIABILITY.md 13-15).

A choice becomes an *intent* before anything is sent: a row with the gateway operation, its exact
arguments, the idempotency key and the outcome it means once in place. The key is derived from
the link and the attempt number, following Stripe's rules: Stripe keeps the first result per key
for 24 h (500s included) and refuses the key with other parameters. So:

- no answer (timeout, dropped connection, 409, 429): the outcome is open; only the same request
  under the same key settles it ("Try again"), and a read that shows it in place does too;
- an answer that is a failure: a read decides; not in place, the intent is closed and the next
  try is a new attempt with a new key (the customer may also choose again, say with another
  reason or comment);
- while an intent is open the session accepts no other effect, and every request to the
  session first settles it (``settle``), so the page never contradicts Stripe.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import timedelta
from typing import Any, cast

import sqlalchemy as sa
from flask import current_app, g
from sqlalchemy.sql.expression import ColumnElement

from cancelpage import flows, links, receipts
from cancelpage.analytics.queries import record_flow_outcome
from cancelpage.billing import (
    BillingError,
    Gateway,
    SubscriptionWrite,
    gateway_for,
    in_place,
)
from cancelpage.cancel_sessions.opening import record, snapshot_of
from cancelpage.extensions import db
from cancelpage.merchant_webhooks import events as merchant_events
from cancelpage.models import CancelSession, StripeCoupon, StripeWrite, utcnow
from cancelpage.web.dbretry import retrying

# Longer than the slowest Stripe call with its retries, so a live claim never expires mid-call.
CLAIM_SECONDS = 60
# An intent in one of these is not yet known to be in Stripe, or known not to be.
OPEN = ("pending", "unknown", "failed")
FINAL = "final"  # the purpose of a session's final write, in its key
PORTAL = "portal_cancel"  # the hand-off: a portal session changes nothing in Stripe by itself
COUPON = "create_coupon"


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """What happened to a final action: done, busy elsewhere, failed (and why), or left open."""

    done: bool = False
    busy: bool = False
    error: BillingError | None = None
    redirect_url: str | None = None
    # An earlier choice's outcome is still unknown: only that same choice can be tried again.
    unsettled: bool = False


@dataclasses.dataclass(frozen=True)
class Intent:
    """A choice as one write: the gateway operation and its arguments, and what it means."""

    operation: str
    arguments: dict[str, Any]
    outcome: str  # accepted | kept | canceled | portal
    detail: dict[str, Any]
    offer: str | None = None

    def as_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def of(cls, row: StripeWrite) -> Intent:
        return cls(**(row.intent or {}))


def idempotency_key(session: CancelSession, purpose: str, attempt: int) -> str:
    """Derived from (link, purpose, attempt): the same attempt always sends the same key."""
    material = f"{session.link_digest}|{purpose}|{attempt}"
    return "cancelpage-" + hashlib.sha256(material.encode()).hexdigest()[:48]


# ---- the claim: one request at a time writes for a session -----------------------------------


def claim(session: CancelSession) -> bool:
    """Take the session's write claim: one request at a time, and none after an outcome.

    One conditional UPDATE: of any number of concurrent requests exactly one matches the row.
    """

    g.pop("cancel_no_open_intent", None)  # from here on, this request may write intents

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
        )
        db.session.commit()
        return bool(cast(sa.CursorResult[Any], claimed).rowcount == 1)

    taken = retrying(take)
    if taken:
        g.cancel_claim = session.id
    db.session.refresh(session)
    return taken


def in_flight(session: CancelSession) -> bool:
    """Another request holds the claim: a write of this session is being sent right now."""
    return session.busy_until is not None and session.busy_until > utcnow()


def _clear_claim(session_id: int) -> None:
    db.session.execute(
        sa.update(CancelSession)
        .where(CancelSession.id == session_id, CancelSession.outcome.is_(None))
        .values(busy_until=None)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def release(session: CancelSession) -> None:
    """Give the claim back, so the customer can go on at once."""
    retrying(lambda: _clear_claim(session.id))
    g.pop("cancel_claim", None)
    db.session.refresh(session)


def release_abandoned_claim() -> None:
    """After a database failure mid-request: free this request's claim if it holds one.

    Safe because every later request settles an open intent before anything else. If the
    database is still failing, the claim simply expires after CLAIM_SECONDS.
    """
    session_id = g.pop("cancel_claim", None)
    if session_id is None:
        return
    try:
        _clear_claim(session_id)
    except sa.exc.DBAPIError:
        db.session.rollback()


# ---- carrying out a choice -------------------------------------------------------------------


def _open_intents(session_id: Any) -> list[ColumnElement[bool]]:
    return [
        StripeWrite.session_id == session_id,
        StripeWrite.operation != COUPON,
        StripeWrite.status.in_(OPEN),
    ]


def open_intent_exists(session_id: Any) -> ColumnElement[bool]:
    """Whether a session has an open final write, as a column of the query that loads it."""
    return sa.exists().where(*_open_intents(session_id))


def known_without_open_intent(session: CancelSession) -> None:
    """The session was loaded with no open final write: until this request claims the session
    (every write starts with the claim), open_intent answers without asking again."""
    g.cancel_no_open_intent = session.id


def open_intent(session: CancelSession) -> StripeWrite | None:
    """The session's final write whose outcome is still open, if any."""
    if g.get("cancel_no_open_intent") == session.id:
        return None
    return db.session.scalar(
        sa.select(StripeWrite)
        .where(*_open_intents(session.id))
        .order_by(StripeWrite.attempt.desc())
        .limit(1)
    )


def carry_out(session: CancelSession, effect: flows.Effect) -> WriteResult:
    """Carry out the customer's final choice exactly once, unless an earlier one is open."""
    if not claim(session):
        return WriteResult(done=session.outcome is not None, busy=session.outcome is None)
    try:
        row = open_intent(session)
        if row is not None:
            _check(session, row)
            if session.outcome is not None:
                return WriteResult(done=True)
            if row.status in OPEN:
                return WriteResult(unsettled=True)
        return _attempt(session, effect)
    finally:
        if session.outcome is None:
            release(session)


def try_again(session: CancelSession) -> WriteResult:
    """The open intent, sent again exactly as stored, under its own key."""
    if not claim(session):
        return WriteResult(done=session.outcome is not None, busy=session.outcome is None)
    try:
        row = open_intent(session)
        if row is None:
            return WriteResult(done=session.outcome is not None)
        return _send(session, row)
    finally:
        if session.outcome is None:
            release(session)


def settle(session: CancelSession) -> None:
    """Before showing any step: an open intent is checked against a fresh read of Stripe.

    A read only (GET never writes to Stripe): in place, the session gets its outcome; a
    failure answer that did not apply closes the intent; no answer yet leaves it open.
    """
    if session.outcome is not None or open_intent(session) is None or not claim(session):
        return
    try:
        row = open_intent(session)
        if row is not None:
            _check(session, row)
    finally:
        if session.outcome is None:
            release(session)


def _attempt(session: CancelSession, effect: flows.Effect) -> WriteResult:
    """A new attempt: decide the write, store it with a fresh key, send it."""
    attempt = 1 + _attempts_made(session)
    try:
        intent = plan(session, effect, attempt)
    except BillingError as error:  # the offer's coupon could not be created: nothing changed
        record(session, "write_failed", operation=COUPON, final=error.final_answer)
        return WriteResult(error=error)
    if intent is None:
        return WriteResult(done=True)
    key = idempotency_key(session, FINAL, attempt)
    row = _new_row(session, key, intent.operation, attempt=attempt, intent=intent.as_json())
    db.session.commit()
    return _send(session, row)


def _new_row(session: CancelSession, key: str, operation: str, **fields: Any) -> StripeWrite:
    """A write's row, added before anything is sent (a unique key: a repeat is a no-op)."""
    g.pop("cancel_no_open_intent", None)
    row = StripeWrite(
        merchant_id=session.merchant_id,
        session_id=session.id,
        idempotency_key=key,
        operation=operation,
        preview=not session.live,
        **{"attempts": 0, **fields},
    )
    db.session.add(row)
    return row


def _attempts_made(session: CancelSession) -> int:
    made = db.session.scalar(
        sa.select(sa.func.max(StripeWrite.attempt)).where(
            StripeWrite.session_id == session.id, StripeWrite.operation != COUPON
        )
    )
    return int(made or 0)


def plan(session: CancelSession, effect: flows.Effect, attempt: int) -> Intent | None:
    """The write that carries out an effect; None when Stripe already holds it (the session
    then has its outcome)."""
    snapshot = snapshot_of(session)
    scheduled = snapshot.cancel_at_period_end
    if isinstance(effect, flows.AcceptOffer):
        return _accept(session, effect.offer, snapshot, attempt)
    if isinstance(effect, flows.KeepSubscription):
        if not scheduled:
            return _finished(session, Intent("", {}, "kept", {}))
        return Intent("undo_cancel", {}, "kept", {})
    reason = {"feedback": effect.feedback, "comment": effect.comment or None}
    mode = session.merchant.cancel_mode
    if mode == "portal":
        return Intent(PORTAL, {"return_url": safe_return_url(session)}, "portal", {})
    if mode == "immediately":
        now = int(utcnow().timestamp())
        return Intent("cancel_now", reason, "canceled", {"ends_at": now})
    detail = {"ends_at": snapshot.period_end}
    if scheduled:
        return _finished(session, Intent("", {}, "canceled", detail))
    return Intent("cancel_at_period_end", reason, "canceled", detail)


def _accept(
    session: CancelSession, offer: flows.Offer, snapshot: flows.Snapshot, attempt: int
) -> Intent | None:
    """An accepted offer as the write its kind declares (clearing a scheduled cancel with it)."""
    detail: dict[str, Any] = {"offer": offer.id, "kind": offer.kind}
    coupon = offer.coupon()
    target = flows.Target(
        item_id=session.snapshot.get("item_id") or "",
        snapshot=snapshot,
        now=utcnow().replace(microsecond=0),
        coupon_id=ensure_coupon(session, offer.id, coupon, attempt) if coupon else None,
    )
    application = offer.application(target)
    if application is None:  # an offer that changes nothing in Stripe (contact, a link)
        return _finished(session, Intent("", {}, "accepted", detail, offer.id))
    detail.update(application.detail)
    arguments = {**application.arguments, "keep": snapshot.cancel_at_period_end}
    return Intent(application.operation, arguments, "accepted", detail, offer.id)


def _send(session: CancelSession, row: StripeWrite) -> WriteResult:
    """Send the stored intent under its key; a failure is checked against a read at once."""
    intent = Intent.of(row)
    row.attempts += 1
    db.session.commit()
    # A preview session (no key, or the dashboard's preview of a live merchant) sends nothing.
    gateway = _gateway(session)
    seen = len(gateway.recorded)
    try:
        redirect_url = _dispatch(gateway, session, intent, row.idempotency_key)
    except BillingError as error:
        row.status = "failed" if error.final_answer else "unknown"
        row.error = str(error)[:1000]
        record(session, "write_failed", operation=row.operation, final=error.final_answer)
        db.session.commit()
        _check(session, row, gateway)
        if session.outcome is not None:
            return WriteResult(done=True)
        return WriteResult(error=error, unsettled=row.status in OPEN)
    row.requests = [_as_dict(r) for r in gateway.recorded[seen:] if r.method != "get"]
    _succeeded(session, row)
    return WriteResult(done=True, redirect_url=redirect_url)


def _dispatch(gateway: Gateway, session: CancelSession, intent: Intent, key: str) -> str | None:
    """The one call an intent makes; the portal hand-off answers with where to send the
    customer."""
    if intent.operation == PORTAL:
        return gateway.portal_url(
            session.customer_id,
            return_url=str(intent.arguments["return_url"]),
            flow="subscription_cancel",
            subscription_id=session.subscription_id,
            idempotency_key=key,
        )
    operation = cast(SubscriptionWrite, intent.operation)
    gateway.perform(operation, session.subscription_id, intent.arguments, idempotency_key=key)
    return None


def _check(session: CancelSession, row: StripeWrite, gateway: Gateway | None = None) -> None:
    """Settle an open intent by reading the subscription: in place, the session gets the
    intent's outcome; a failure answer that is not in place closes the intent; otherwise (no
    answer, or the read failed) it stays open."""
    if row.operation == PORTAL:  # nothing to read back; a new portal session is always safe
        row.status = "not_applied"
        db.session.commit()
        return
    try:
        view = (gateway or _gateway(session)).read_subscription(session.subscription_id)
    except BillingError:
        return
    if in_place(view, cast(SubscriptionWrite, row.operation), Intent.of(row).arguments):
        record(session, "write_reconciled", operation=row.operation)
        _succeeded(session, row)
        return
    if row.status == "failed":
        row.status = "not_applied"
        db.session.commit()


def _succeeded(session: CancelSession, row: StripeWrite) -> None:
    row.status = "succeeded"
    row.error = None
    _finished(session, Intent.of(row))


def _finished(session: CancelSession, intent: Intent) -> None:
    """Record the outcome Stripe now holds (the session is done)."""
    if intent.offer is not None:
        session.accepted_offer = intent.offer
    session.outcome = intent.outcome
    session.outcome_detail = intent.detail
    session.completed_at = utcnow()
    session.state = flows.complete(flows.State.from_dict(session.state)).to_dict()
    session.busy_until = None
    record(session, "outcome", outcome=intent.outcome, detail=intent.detail)
    record_flow_outcome(session)  # retention reads the flow's own writes, never only webhooks
    merchant_events.session_ended(session)  # the merchant's app hears it (same transaction)
    receipts.queue_for(session, intent.operation)  # the customer's receipt (same transaction)
    db.session.commit()
    g.pop("cancel_claim", None)


def _gateway(session: CancelSession) -> Gateway:
    return gateway_for(session.merchant) if session.live else Gateway.preview()


def _as_dict(request: Any) -> dict[str, Any]:
    return {
        "method": request.method.upper(),
        "path": request.path,
        "params": dict(request.params),
        "idempotency_key": request.idempotency_key,
    }


# ---- coupons and the portal ------------------------------------------------------------------


def ensure_coupon(
    session: CancelSession, offer_id: str, coupon: flows.CouponTerms, attempt: int
) -> str:
    """A coupon per offer and terms, created once (live) and reused by every later session.

    Keyed per coupon and the session's attempt: creating a coupon that exists counts as done,
    so a new attempt's new key is always safe. Raises BillingError when it cannot be made.
    """
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
    key = idempotency_key(session, f"coupon:{coupon_id}", attempt)
    row = db.session.scalar(sa.select(StripeWrite).where(StripeWrite.idempotency_key == key))
    if row is None:
        row = _new_row(session, key, COUPON, attempt=attempt)
    row.attempts += 1
    db.session.commit()
    gateway = _gateway(session)
    seen = len(gateway.recorded)
    try:
        gateway.create_coupon(
            coupon_id=coupon_id,
            name=coupon.name,
            percent_off=coupon.percent_off,
            amount_off=coupon.amount_off,
            currency=coupon.currency,
            duration=coupon.duration,
            duration_in_months=coupon.duration_in_months,
            idempotency_key=key,
        )
    except BillingError as error:
        row.status, row.error = "failed" if error.final_answer else "unknown", str(error)[:1000]
        db.session.commit()
        raise
    row.status, row.error = "succeeded", None
    row.requests = [_as_dict(r) for r in gateway.recorded[seen:] if r.method != "get"]
    if session.live and known is None:
        db.session.add(StripeCoupon(merchant_id=merchant.id, coupon_id=coupon_id))
    try:
        db.session.commit()
    except sa.exc.IntegrityError:  # another session recorded the same coupon first
        db.session.rollback()
    return coupon_id


UNDO = "undo"  # the purpose of the undo of a cancel at period end, after the session's outcome


def undoable(session: CancelSession, *, by_keep_link: bool = False) -> bool:
    """A cancel at period end this session made, whose period has not ended yet, while its link
    lives (past it the session is read-only) or, by the receipt's keep link, until the end."""
    ends_at = (session.outcome_detail or {}).get("ends_at")
    expires = session.link_expires_at
    return (
        session.outcome == "canceled"
        and (by_keep_link or expires is None or expires > utcnow())
        and isinstance(ends_at, int)
        and ends_at > utcnow().timestamp()
        and session.merchant.cancel_mode == "period_end"
    )


def undo_cancel(session: CancelSession, *, by_keep_link: bool = False) -> WriteResult:
    """ "Keep my subscription" after a cancel at period end: one write under one key per
    session, so a repeat (a double click, the email's link, a lost answer) sends the same request
    and Stripe applies it once. Done, the session's outcome becomes "kept"."""
    key = idempotency_key(session, UNDO, 1)
    row = db.session.scalar(sa.select(StripeWrite).where(StripeWrite.idempotency_key == key))
    if row is None:
        if not undoable(session, by_keep_link=by_keep_link):
            return WriteResult(done=True)
        intent = Intent("undo_cancel", {}, "kept", {"undone": True})
        row = _new_row(session, key, intent.operation, attempt=0, intent=intent.as_json())
        try:
            db.session.commit()
        except sa.exc.IntegrityError:  # another request is sending it now
            db.session.rollback()
            return WriteResult(busy=True)
    elif row.status == "succeeded":
        return WriteResult(done=True)
    row.attempts += 1
    db.session.commit()
    gateway = _gateway(session)
    seen = len(gateway.recorded)
    try:
        _dispatch(gateway, session, Intent.of(row), key)
    except BillingError as error:
        row.status = "failed" if error.final_answer else "unknown"
        row.error = str(error)[:1000]
        record(session, "write_failed", operation=row.operation, final=error.final_answer)
        db.session.commit()
        return WriteResult(error=error)
    row.requests = [_as_dict(r) for r in gateway.recorded[seen:] if r.method != "get"]
    row.status, row.error = "succeeded", None
    session.snapshot = {**session.snapshot, "cancel_at_period_end": False}
    _finished(session, Intent.of(row))
    return WriteResult(done=True)


def portal_again(session: CancelSession) -> str:
    """A fresh portal session after the hand-off (the earlier one may have expired): the
    hand-off stays a way into the portal however often the link is reopened."""
    made = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(StripeWrite)
        .where(StripeWrite.session_id == session.id, StripeWrite.operation == PORTAL)
    )
    key = idempotency_key(session, "portal", int(made or 0) + 1)
    row = _new_row(session, key, PORTAL, attempts=1)
    db.session.commit()
    intent = Intent(PORTAL, {"return_url": safe_return_url(session)}, "portal", {})
    try:
        url = _dispatch(_gateway(session), session, intent, key)
    except BillingError as error:
        row.status, row.error = "not_applied", str(error)[:1000]
        db.session.commit()
        raise
    row.status = "succeeded"
    db.session.commit()
    assert url is not None
    return url


def safe_return_url(session: CancelSession) -> str:
    """The link's return URL if its host is allowed, else the merchant's default."""
    merchant = session.merchant
    if links.host_allowed(session.return_url, merchant.return_hosts):
        return str(session.return_url)
    return merchant.default_return_url or current_app.config["PUBLIC_BASE_URL"] + "/"
