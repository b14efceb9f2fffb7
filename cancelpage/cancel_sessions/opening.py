"""Opening a cancel session: one per signed link, its snapshot of the subscription (read from
Stripe once, or described by a preview link), and the session's events."""

from __future__ import annotations

import dataclasses
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from flask import current_app

from cancelpage import flows, i18n, links, trail
from cancelpage.billing import StripeUnavailable, SubscriptionView, gateway_for
from cancelpage.extensions import db
from cancelpage.merchants import vault
from cancelpage.merchants.store import load_flow
from cancelpage.models import CancelSession, Merchant
from cancelpage.vocabulary import ENDED_STATUSES, PREVIEW_DEFAULTS


class LinkRefused(Exception):
    """The link cannot open a session (bad token, or the subscription is not the customer's)."""


# The snapshot key that carries the customer's email from the read to the session (encrypted
# there); taken out before the snapshot is stored.
CONTACT = "customer_email"
# A link opened many times at once (mail scanners, a double click, twenty tabs) reads Stripe
# once: the first request claims the session row, reads and fills in the snapshot; the others
# wait this long for it, checking every POLL seconds, then ask the customer to try again.
OPEN_WAIT_SECONDS = 10.0
POLL_SECONDS = 0.05
# A claim older than this was abandoned (its worker died mid-read): the next open takes over.
STALE_CLAIM = timedelta(seconds=60)


def open_session(token: str, purpose: str = "cancel") -> CancelSession:
    """Find or create the one session of a signed link. Reads Stripe at most once; never writes.

    A refused link (the subscription is not the customer's) leaves no session behind.
    """
    slug = links.peek_merchant(token)
    merchant = db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))
    if merchant is None:
        raise links.BadLink
    payload = links.verify(token, merchant.link_secrets, purpose, merchant.link_max_age)
    if payload.subscription is None:
        raise links.BadLink
    link_digest = links.digest(token)
    deadline = time.monotonic() + OPEN_WAIT_SECONDS
    while True:  # claim, or wait for another request's claim (and claim again if it gave up)
        existing = session_of_link(link_digest)
        if existing is None:
            claimed = claim(merchant, payload, token, purpose)
            if claimed is not None:
                return fill(claimed, merchant, payload)
            continue
        if not existing.snapshot:
            existing = wait_for_snapshot(existing, deadline)
            if existing is None:
                continue  # the claim was given up (refused, Stripe down, abandoned)
        # Re-derive in case SECRET_KEY was rotated since the session began (a write only then:
        # this is every repeated click on the link).
        current = links.digest(capability(token))
        if existing.capability_digest != current:
            existing.capability_digest = current
            db.session.commit()
        return existing


def session_of_link(link_digest: str) -> CancelSession | None:
    return db.session.scalar(
        sa.select(CancelSession)
        .where(CancelSession.link_digest == link_digest)
        .execution_options(populate_existing=True)
    )


def claim(
    merchant: Merchant, payload: links.LinkPayload, token: str, purpose: str
) -> CancelSession | None:
    """Insert the link's session row with an empty snapshot; None if another request won."""
    session = CancelSession(
        merchant=merchant,
        link_digest=links.digest(token),
        capability_digest=links.digest(capability(token)),
        purpose=purpose,
        customer_id=payload.customer,
        subscription_id=payload.subscription,
        return_url=payload.return_url,
        attributes=dict(payload.attributes),
        locale=i18n.supported(payload.locale),
        link_expires_at=datetime.fromtimestamp(payload.issued_at + merchant.link_max_age, UTC),
        live=merchant.live and not payload.preview,
        preview=payload.preview,
        snapshot={},
        state=flows.State().to_dict(),
        flow_version_id=merchant.flow_version_id,
    )
    db.session.add(session)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        db.session.rollback()
        return None
    return session


def fill(session: CancelSession, merchant: Merchant, payload: links.LinkPayload) -> CancelSession:
    """The claim's winner reads Stripe once; if that fails, the claim is given up."""
    try:
        snapshot = read_snapshot(merchant, payload)
    except BaseException:
        db.session.rollback()
        db.session.execute(sa.delete(CancelSession).where(CancelSession.id == session.id))
        db.session.commit()
        raise
    contact = snapshot.pop(CONTACT, None)  # personal data: never kept in the snapshot
    session.take_snapshot(snapshot)
    session.contact_encrypted = vault.encrypt(contact) if contact else None
    profile = flows.profile_for(
        snapshot.get("country"), snapshot.get("region"), merchant.compliance_default
    )
    session.compliance_profile = profile.code
    state = flows.opening_state(profile, flow_of(session), snapshot_of(session))
    session.state = state.to_dict()
    record(session, "opened", live=session.live, profile=profile.code)
    if state.offer_ids:  # a confirm-first page shows its one offer beside the cancel button
        record(session, "offer_shown", offer=state.offer_ids[0], beside_cancel=True)
        session.offers_shown = list(state.offer_ids)
    db.session.commit()
    return session


def wait_for_snapshot(pending: CancelSession, deadline: float) -> CancelSession | None:
    """The claimed session once its snapshot is in; None if the claim was given up. Past the
    deadline (time.monotonic()), the customer is asked to try again."""
    session_id, claimed_at = pending.id, pending.created_at
    if datetime.now(UTC) - claimed_at > STALE_CLAIM:
        db.session.execute(sa.delete(CancelSession).where(CancelSession.id == session_id))
        db.session.commit()
        return None
    while time.monotonic() < deadline:
        db.session.rollback()  # end the transaction: the next read sees the winner's commit
        session = db.session.get(CancelSession, session_id, populate_existing=True)
        if session is None or session.snapshot:
            return session
        time.sleep(POLL_SECONDS)
    raise StripeUnavailable("the first open of this link is still reading Stripe")


def open_link(token: str) -> CancelSession:
    """Cancel links (from the merchant's app) and save links (from our emails) share /c/."""
    try:
        return open_session(token, "cancel")
    except links.BadLink:
        return open_session(token, "save")


def capability(token: str) -> str:
    return links.capability_for(token, current_app.config["SECRET_KEY"])


def by_capability(capability: str) -> CancelSession | None:
    """The session a capability names, while it works (see capability_expires_at)."""
    from cancelpage.cancel_sessions.writes import known_without_open_intent, open_intent_exists

    # Every step page needs the merchant, and whether a final write is open (settle, and the
    # page shown): one statement for all three.
    wanted = links.digest(capability)
    found = db.session.execute(
        sa.select(CancelSession, open_intent_exists(CancelSession.id))
        .options(so.joinedload(CancelSession.merchant))
        .where(
            sa.or_(
                CancelSession.capability_digest == wanted,
                CancelSession.keep_capability_digest == wanted,
            )
        )
    ).first()
    if found is None:
        return None
    session, has_open_intent = found
    # An empty snapshot is a claim still being filled in (see open_session).
    if not session.snapshot:
        return None
    if session.keep_capability_digest == wanted:  # a receipt's keep link: until the end
        ends = session.outcome_detail.get("ends_at") or session.snapshot.get("period_end") or 0
        expires_at = datetime.fromtimestamp(int(ends), UTC)
    else:
        expires_at = capability_expires_at(session)
    if datetime.now(UTC) > expires_at:
        return None
    if not has_open_intent:
        known_without_open_intent(session)
    return session


def capability_expires_at(session: CancelSession) -> datetime:
    """A capability works until its link expired plus a grace period (CAPABILITY_GRACE_SECONDS):
    a customer who opened the link just in time can finish, and a finished session stays
    viewable (read-only) that long. Then it is a bad link like any other."""
    link_expires_at = session.link_expires_at or session.created_at + timedelta(
        seconds=session.merchant.link_max_age
    )
    return link_expires_at + timedelta(seconds=int(current_app.config["CAPABILITY_GRACE_SECONDS"]))


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
    extra = {
        "item_id": view.item_id,
        "preferred_locales": list(view.preferred_locales),
        # The customer's address decides the compliance profile (flows.compliance).
        "country": view.customer_country,
        "region": view.customer_region,
        CONTACT: view.customer_email,
    }
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
    # "country": "DE" or "US-CA" describes the customer's address (for the compliance profile).
    country, _, region = attrs.get("country", "").upper().partition("-")
    return {
        **snapshot_to_dict(snapshot),
        "item_id": "si_preview",
        "preferred_locales": locales,
        "country": country or None,
        "region": region or None,
    }


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
    """One event of the session's audit trail, chained to the one before (cancelpage.trail)."""
    trail.record(session, kind, data)
