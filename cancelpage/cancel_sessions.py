"""Cancel sessions: open one per link, drive the flow, carry out the final Stripe write once."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app, g

from . import flows, i18n, links
from .billing import BillingError, Gateway, StripeUnavailable, SubscriptionView
from .dbretry import retrying
from .extensions import db
from .merchants import load_flow
from .models import CancelSession, Merchant, SessionEvent, StripeCoupon, StripeWrite, utcnow

# Longer than the slowest Stripe call with its retries, so a live claim never expires mid-call.
CLAIM_SECONDS = 60
ENDED_STATUSES = ("canceled", "incomplete_expired")
PREVIEW_DEFAULTS = {"plan": "Pro", "mrr": "2900", "currency": "usd", "tenure_days": "180"}


class LinkRefused(Exception):
    """The link cannot open a session (bad token, or the subscription is not the customer's)."""


@dataclasses.dataclass(frozen=True)
class WriteResult:
    """What happened to a final action: done, busy elsewhere, or failed (and why)."""

    done: bool = False
    busy: bool = False
    error: BillingError | None = None
    redirect_url: str | None = None


# ---- opening ---------------------------------------------------------------------------------


def open_session(token: str, purpose: str = "cancel") -> CancelSession:
    """Find or create the one session of a signed link. Reads Stripe at most once; never writes."""
    slug = links.peek_merchant(token)
    merchant = db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))
    if merchant is None:
        raise links.BadLink
    payload = links.verify(token, merchant.link_secrets, purpose, merchant.link_max_age)
    if payload.subscription is None:
        raise links.BadLink
    link_digest = links.digest(token)
    existing = db.session.scalar(
        sa.select(CancelSession).where(CancelSession.link_digest == link_digest)
    )
    if existing is not None:
        # Re-derive in case SECRET_KEY was rotated since the session began (a write only then:
        # this is every repeated click on the link).
        current = links.digest(capability(token))
        if existing.capability_digest != current:
            existing.capability_digest = current
            db.session.commit()
        return existing
    snapshot = read_snapshot(merchant, payload)
    session = CancelSession(
        merchant=merchant,
        link_digest=link_digest,
        capability_digest=links.digest(capability(token)),
        purpose=purpose,
        customer_id=payload.customer,
        subscription_id=payload.subscription,
        return_url=payload.return_url,
        attributes=dict(payload.attributes),
        locale=i18n.supported(payload.locale),
        live=merchant.live and not payload.preview,
        snapshot=snapshot,
        state=flows.State().to_dict(),
        flow_version_id=merchant.flow_version_id,
    )
    db.session.add(session)
    try:
        db.session.flush()
    except sa.exc.IntegrityError:
        # The same link opened twice at once (mail scanner and human): the other one won.
        db.session.rollback()
        return db.session.scalars(
            sa.select(CancelSession).where(CancelSession.link_digest == link_digest)
        ).one()
    record(session, "opened", live=session.live)
    db.session.commit()
    return session


def open_link(token: str) -> CancelSession:
    """Cancel links (from the merchant's app) and save links (from our emails) share /c/."""
    try:
        return open_session(token, "cancel")
    except links.BadLink:
        return open_session(token, "save")


def capability(token: str) -> str:
    return links.capability_for(token, current_app.config["SECRET_KEY"])


def by_capability(capability: str) -> CancelSession | None:
    # Every step page needs the merchant too: one round trip instead of two.
    return db.session.scalar(
        sa.select(CancelSession)
        .options(so.joinedload(CancelSession.merchant))
        .where(CancelSession.capability_digest == links.digest(capability))
    )


def read_snapshot(merchant: Merchant, payload: links.LinkPayload) -> dict[str, Any]:
    """Live: one read of the subscription, which must belong to the signed customer."""
    if not merchant.live or payload.preview:
        return preview_snapshot(payload.attributes)
    assert payload.subscription is not None
    view = gateway_for(merchant).read_subscription(payload.subscription)
    if view.customer != payload.customer:
        raise LinkRefused("subscription does not belong to the signed customer")
    return live_snapshot(view, payload.attributes)


def live_snapshot(view: SubscriptionView, attributes: dict[str, str] | Any) -> dict[str, Any]:
    now = datetime.now(UTC).timestamp()
    snapshot = flows.Snapshot(
        status=view.status,
        plan=view.plan_name,
        price_id=view.price_id,
        amount=view.unit_amount * view.quantity,
        currency=view.currency,
        interval=view.interval,
        interval_count=view.interval_count,
        mrr=flows.monthly_amount(
            view.unit_amount * view.quantity, view.interval, view.interval_count
        ),
        tenure_days=max(0, int((now - view.created) // 86400)),
        period_end=view.current_period_end,
        cancel_at_period_end=view.cancel_at_period_end,
        paused=view.paused,
        trial_end=view.trial_end,
        attributes=dict(attributes),
    )
    extra = {"item_id": view.item_id, "preferred_locales": list(view.preferred_locales)}
    return {**snapshot_to_dict(snapshot), **extra}


def preview_snapshot(attributes: Any) -> dict[str, Any]:
    """Preview: the subscription as the link's attributes describe it, with sensible defaults."""
    attrs = {**PREVIEW_DEFAULTS, **dict(attributes)}
    mrr = _int(attrs.get("mrr"), 2900)
    period_end = datetime.now(UTC) + timedelta(days=_int(attrs.get("period_days"), 18))
    snapshot = flows.Snapshot(
        status=attrs.get("status", "active"),
        plan=attrs["plan"],
        price_id=attrs.get("price_id", "price_preview"),
        amount=mrr,
        currency=attrs["currency"].lower(),
        mrr=mrr,
        tenure_days=_int(attrs.get("tenure_days"), 180),
        period_end=int(period_end.timestamp()),
        cancel_at_period_end=attrs.get("cancel_at_period_end") == "true",
        attributes=dict(attributes),
    )
    locales = [tag.strip() for tag in attrs.get("preferred_locales", "").split(",") if tag.strip()]
    return {**snapshot_to_dict(snapshot), "item_id": "si_preview", "preferred_locales": locales}


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def snapshot_to_dict(snapshot: flows.Snapshot) -> dict[str, Any]:
    data = dataclasses.asdict(snapshot)
    data["attributes"] = dict(snapshot.attributes)
    return data


def snapshot_of(session: CancelSession) -> flows.Snapshot:
    names = {f.name for f in dataclasses.fields(flows.Snapshot)}
    return flows.Snapshot(**{k: v for k, v in session.snapshot.items() if k in names})


def ended(session: CancelSession) -> bool:
    """Nothing left to cancel or save: the subscription is already over."""
    return session.snapshot.get("status") in ENDED_STATUSES


def flow_of(session: CancelSession) -> flows.Flow:
    return load_flow(session.merchant, session.flow_version_id)


def record(session: CancelSession, kind: str, **data: Any) -> None:
    db.session.add(SessionEvent(session=session, kind=kind, data=data))


# ---- stepping --------------------------------------------------------------------------------


def advance(session: CancelSession, step: str, form: dict[str, str]) -> flows.Transition:
    """Apply one posted step to the session's state (no Stripe write here).

    Database-only, so a transient failure (locked, serialization) simply runs it again.
    """
    return retrying(lambda: _advance(session, step, form))


def _advance(session: CancelSession, step: str, form: dict[str, str]) -> flows.Transition:
    flow = flow_of(session)
    state = flows.State.from_dict(session.state)
    transition = flows.submit(
        flow, snapshot_of(session), state, step, form, customer_id=session.customer_id
    )
    if transition.stale or transition.errors:
        return transition
    new = transition.state
    if step == "survey":
        session.reason = new.reason
        session.comment = new.comment or None
        record(session, "answered", reason=new.reason, comment=bool(new.comment))
        if transition.assignments:
            # Kept across answers: a customer who went back still saw the experiment's place.
            session.assignments = {**session.assignments, **transition.assignments}
            record(session, "assigned", arms=dict(transition.assignments))
    if transition.effect is None:
        if step == "offer" and form.get("action") == "decline":
            record(session, "offer_declined", offer=form.get("offer"))
        offer_id = new.current_offer_id()
        if new.step == "offer" and offer_id and offer_id != state.current_offer_id():
            record(session, "offer_shown", offer=offer_id)
            if offer_id not in session.offers_shown:
                session.offers_shown = [*session.offers_shown, offer_id]
        session.state = new.to_dict()
    db.session.commit()
    return transition


def choose_locale(session: CancelSession, tag: str | None) -> None:
    """The customer picked a language on the page: it wins over every other hint from now on."""
    code = i18n.supported(tag)
    if code is not None and code != session.locale:
        session.locale = code
        db.session.commit()


# ---- the final write -------------------------------------------------------------------------


def gateway_for(merchant: Merchant) -> Gateway:
    factory: Callable[[Merchant], Gateway] = current_app.extensions["cancelpage.gateway"]
    return factory(merchant)


def default_gateway_factory(merchant: Merchant) -> Gateway:
    key = merchant.stripe_key()
    if key is None:
        return Gateway.preview()
    config = current_app.config
    return Gateway.for_key(
        key,
        api_base=config["STRIPE_API_BASE"],
        timeout=float(config["STRIPE_TIMEOUT"]),
        max_network_retries=int(config["STRIPE_MAX_RETRIES"]),
    )


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
    db.session.commit()
    g.pop("cancel_claim", None)
    return WriteResult(done=True, redirect_url=redirect_url)


def _apply(
    session: CancelSession, effect: flows.Effect, step: str
) -> tuple[str, dict[str, Any], str | None]:
    """Decide and send the Stripe writes for an effect; returns (outcome, detail, redirect)."""
    snapshot = snapshot_of(session)
    sub = session.subscription_id
    if isinstance(effect, flows.AcceptOffer):
        offer = effect.offer
        session.accepted_offer = offer.id
        action = f"accept:{offer.id}"
        # A retry must send exactly the same parameters under the same key, so dates derive
        # from the first attempt, not from the moment of the retry.
        now = first_attempt_at(session, step, action)
        detail: dict[str, Any] = {"offer": offer.id, "kind": offer.kind}
        if isinstance(offer, flows.DiscountOffer):
            coupon_id = ensure_coupon(session, offer)
            _write(
                session,
                "apply_discount",
                step,
                action,
                lambda gw, key: gw.apply_discount(sub, coupon_id, idempotency_key=key),
                applied=lambda view: coupon_id in view.discount_coupons,
                started=now,
            )
        elif isinstance(offer, flows.PauseOffer):
            resumes_at = int(flows.pause_resumes_at(offer, now).timestamp())
            detail["resumes_at"] = resumes_at
            _write(
                session,
                "pause",
                step,
                action,
                lambda gw, key: gw.pause(
                    sub,
                    resumes_at=resumes_at,
                    behavior=offer.behavior,
                    idempotency_key=key,
                ),
                applied=lambda view: view.paused,
                started=now,
            )
        elif isinstance(offer, flows.SwitchPlanOffer):
            item_id = session.snapshot.get("item_id") or ""
            _write(
                session,
                "switch_price",
                step,
                action,
                lambda gw, key: gw.switch_price(
                    sub,
                    item_id=item_id,
                    price_id=offer.price_id,
                    proration_behavior=offer.proration_behavior,
                    idempotency_key=key,
                ),
                applied=lambda view: view.price_id == offer.price_id,
                started=now,
            )
        elif isinstance(offer, flows.FreePeriodOffer):
            trial_end = int(flows.free_period_end(offer, snapshot, now).timestamp())
            detail["free_until"] = trial_end
            _write(
                session,
                "extend_trial",
                step,
                action,
                lambda gw, key: gw.extend_trial(sub, trial_end=trial_end, idempotency_key=key),
                applied=lambda view: view.trial_end == trial_end,
                started=now,
            )
        if offer.writes_to_stripe and snapshot.cancel_at_period_end:
            _undo_cancel(session, step)
        return "accepted", detail, None
    if isinstance(effect, flows.KeepSubscription):
        if snapshot.cancel_at_period_end:
            _undo_cancel(session, step)
        return "kept", {}, None
    return _cancel(session, effect, step, snapshot)


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


def ensure_coupon(session: CancelSession, offer: flows.DiscountOffer) -> str:
    """A coupon per offer and terms, created once (live) and reused by every later session."""
    merchant = session.merchant
    terms = (
        f"{offer.percent_off}|{offer.amount_off}|{offer.currency}|{offer.duration}|"
        f"{offer.duration_in_months}"
    )
    coupon_id = (
        f"cancelpage_{merchant.slug}_{offer.id}_{hashlib.sha256(terms.encode()).hexdigest()[:8]}"
    )
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
            name=offer.title[:40],
            percent_off=offer.percent_off,
            amount_off=offer.amount_off,
            currency=offer.currency,
            duration=offer.duration,
            duration_in_months=offer.duration_in_months,
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
