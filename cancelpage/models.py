"""Database models (SQLAlchemy 2, typed)."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from typing import Any

import sqlalchemy as sa
import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql

from cancelpage.extensions import db
from cancelpage.merchants import vault
from cancelpage.vocabulary import DEFAULT_BRAND_COLOR, NOT_RETAINED_STATUSES


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes on every engine (SQLite drops the zone)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime")
        return value

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


CANCEL_MODES = ("period_end", "immediately", "portal")
# Subscription statuses that count as not retained (the subscription is over or will not collect).


# Session columns copied from the snapshot (for analytics): column -> (snapshot key, fallback).
SNAPSHOT_COPIES: dict[str, tuple[str, Any]] = {
    "plan": ("plan", None),
    "mrr": ("mrr", 0),
    "currency": ("currency", "usd"),
    "billing_interval": ("interval", "month"),
    "billing_interval_count": ("interval_count", 1),
}


def _copied(snapshot: dict[str, Any], column: str) -> Any:
    key, fallback = SNAPSHOT_COPIES[column]
    value = snapshot.get(key)
    return fallback if value is None else value


def _running(snapshot: dict[str, Any]) -> bool:
    return snapshot.get("status", "active") not in NOT_RETAINED_STATUSES


def _from_snapshot(column: str) -> Any:
    """A column default read from the row's snapshot (a context-sensitive default)."""

    def default(context: Any) -> Any:
        return _copied(context.get_current_parameters().get("snapshot") or {}, column)

    return default


def _running_at_start(context: Any) -> bool:
    return _running(context.get_current_parameters().get("snapshot") or {})


class Merchant(db.Model):
    __tablename__ = "merchant"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    slug: so.Mapped[str] = so.mapped_column(sa.String(40), unique=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(120))
    logo_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    brand_color: so.Mapped[str] = so.mapped_column(sa.String(7), default=DEFAULT_BRAND_COLOR)
    headline: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    # Per-step copy overrides, e.g. {"survey_intro": "..."}; always rendered escaped.
    copy: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    support_email: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    # IANA zone of the dates on customer pages when the browser does not tell its own.
    time_zone: so.Mapped[str] = so.mapped_column(sa.String(64), default="UTC", server_default="UTC")
    return_hosts: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    default_return_url: so.Mapped[str | None] = so.mapped_column(sa.String(500))
    cancel_mode: so.Mapped[str] = so.mapped_column(sa.String(20), default="period_end")
    link_max_age: so.Mapped[int] = so.mapped_column(default=7 * 24 * 3600)
    default_locale: so.Mapped[str] = so.mapped_column(sa.String(10), default="en")
    # Encrypted with vault; None means preview mode (nothing is sent to Stripe).
    stripe_key_encrypted: so.Mapped[str | None] = so.mapped_column(sa.Text)
    stripe_key_last4: so.Mapped[str | None] = so.mapped_column(sa.String(4))
    # Encrypted JSON list of link-signing secrets, oldest first; the last one signs.
    link_secrets_encrypted: so.Mapped[str] = so.mapped_column(sa.Text)
    flow_version_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("flow_version.id", use_alter=True)
    )
    # Dashboard: encrypted JSON list of Stripe webhook signing secrets (at most two, for a roll),
    # the preview/live switch (a saved key is only used once switched to live), the outcome of the
    # last key check (mode, kind, missing permissions; never the key), and the flow being edited.
    webhook_secrets_encrypted: so.Mapped[str | None] = so.mapped_column(sa.Text)
    preview_mode: so.Mapped[bool] = so.mapped_column(default=False)
    stripe_key_check: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    flow_draft: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # https origins allowed to show the customer pages in a frame (CSP frame-ancestors).
    frame_ancestors: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    # Days after a failed payment on which dunning emails go out; None means the default.
    dunning_days: so.Mapped[list[int] | None] = so.mapped_column(sa.JSON)
    # Stripe's customer portal: the configuration cancelpage keeps for this merchant (its id),
    # the merchant's choices for it (cancel timing when handed off, switchable prices, headline,
    # privacy and terms URLs), and the last check of it against Stripe (what drifted, and when).
    portal_configuration_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    portal_settings: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    portal_check: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    # Win-back after a customer-chosen end: {"days", "url", "coupon", "code_days"}; None is off.
    winback: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON)
    # Compliance: the profile for customers whose country is unknown (flows.compliance), and
    # whether receipts go out where no profile requires them.
    compliance_default: so.Mapped[str] = so.mapped_column(
        sa.String(10), default="standard", server_default="standard"
    )
    receipts_enabled: so.Mapped[bool] = so.mapped_column(default=True, server_default=sa.true())

    flow_version: so.Mapped[FlowVersion | None] = so.relationship(
        foreign_keys=[flow_version_id], post_update=True
    )

    @property
    def live(self) -> bool:
        return self.stripe_key_encrypted is not None and not self.preview_mode

    @property
    def link_secrets(self) -> list[str]:
        return list(json.loads(vault.decrypt(self.link_secrets_encrypted)))

    @link_secrets.setter
    def link_secrets(self, secrets: list[str]) -> None:
        self.link_secrets_encrypted = vault.encrypt(json.dumps(secrets))

    @property
    def webhook_secrets(self) -> list[str]:
        if not self.webhook_secrets_encrypted:
            return []
        return list(json.loads(vault.decrypt(self.webhook_secrets_encrypted)))

    @webhook_secrets.setter
    def webhook_secrets(self, secrets: list[str]) -> None:
        self.webhook_secrets_encrypted = vault.encrypt(json.dumps(secrets)) if secrets else None

    def set_stripe_key(self, key: str | None) -> None:
        self.stripe_key_encrypted = vault.encrypt(key) if key else None
        self.stripe_key_last4 = key[-4:] if key else None

    def stripe_key(self) -> str | None:
        return vault.decrypt(self.stripe_key_encrypted) if self.stripe_key_encrypted else None


class FlowVersion(db.Model):
    """A published version of a merchant's flow; sessions record the version they ran."""

    __tablename__ = "flow_version"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "number"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    number: so.Mapped[int]
    data: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class CancelSession(db.Model):
    """One customer's walk through the cancel flow; one per signed link."""

    __tablename__ = "cancel_session"
    __table_args__ = (sa.Index("ix_session_merchant_created", "merchant_id", "created_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    # Digests only: the link token and the session capability are bearer secrets.
    link_digest: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    capability_digest: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    purpose: so.Mapped[str] = so.mapped_column(sa.String(20), default="cancel")
    customer_id: so.Mapped[str] = so.mapped_column(sa.String(255))
    subscription_id: so.Mapped[str] = so.mapped_column(sa.String(255), index=True)
    return_url: so.Mapped[str | None] = so.mapped_column(sa.String(2000))
    attributes: so.Mapped[dict[str, str]] = so.mapped_column(sa.JSON, default=dict)
    locale: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    # The customer's browser's IANA time zone, once a page has told it.
    time_zone: so.Mapped[str | None] = so.mapped_column(sa.String(64))
    live: so.Mapped[bool] = so.mapped_column(default=False)
    # Started by a preview link ("preview as a customer"): never counted in analytics.
    preview: so.Mapped[bool] = so.mapped_column(default=False, server_default=sa.false())
    snapshot: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    state: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    flow_version_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("flow_version.id"))
    reason: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    comment: so.Mapped[str | None] = so.mapped_column(sa.Text)
    offers_shown: so.Mapped[list[str]] = so.mapped_column(sa.JSON, default=list)
    # accepted | canceled | kept | portal | undone (None while open)
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    accepted_offer: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    outcome_detail: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    # A claim so that one request at a time carries out the final write (double click, two tabs).
    busy_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    completed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # When the link that opened the session expired (the capability works a grace period longer);
    # None for sessions opened before it was recorded: theirs is created_at + the link lifetime.
    link_expires_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # Analytics. Experiment arms entered, {experiment id: arm} (arm "holdout" saw no offer there).
    assignments: so.Mapped[dict[str, str]] = so.mapped_column(
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql"), default=dict
    )
    # Copied from the snapshot when the row is inserted, so that analytics can index them.
    plan: so.Mapped[str | None] = so.mapped_column(sa.String(255), default=_from_snapshot("plan"))
    mrr: so.Mapped[int] = so.mapped_column(default=_from_snapshot("mrr"))
    currency: so.Mapped[str] = so.mapped_column(sa.String(3), default=_from_snapshot("currency"))
    billing_interval: so.Mapped[str] = so.mapped_column(
        sa.String(5), default=_from_snapshot("billing_interval")
    )
    billing_interval_count: so.Mapped[int] = so.mapped_column(
        default=_from_snapshot("billing_interval_count")
    )
    # Whether the subscription was still running 30/60/90 days after the session, as far as known:
    # the snapshot's status, overridden by later statuses (analytics.record_subscription_status).
    retained_30: so.Mapped[bool] = so.mapped_column(default=_running_at_start)
    retained_60: so.Mapped[bool] = so.mapped_column(default=_running_at_start)
    retained_90: so.Mapped[bool] = so.mapped_column(default=_running_at_start)
    # The compliance profile in force for this customer (flows.compliance), chosen at opening.
    compliance_profile: so.Mapped[str] = so.mapped_column(
        sa.String(10), default="standard", server_default="standard"
    )
    # The Stripe customer's email for the receipt (personal data: encrypted with vault, never
    # in the snapshot or the trail); None in preview or when Stripe has none.
    contact_encrypted: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # The receipt's "keep my subscription" capability (a digest only): it opens this session's
    # done page until the scheduled end, after the link's own capability has expired.
    keep_capability_digest: so.Mapped[str | None] = so.mapped_column(sa.String(64), unique=True)
    # The tamper-evident trail: the digest of the session's newest event (see cancelpage.trail).
    trail_head: so.Mapped[str | None] = so.mapped_column(sa.String(64))

    merchant: so.Mapped[Merchant] = so.relationship()
    events: so.Mapped[list[SessionEvent]] = so.relationship(
        order_by="SessionEvent.id", back_populates="session"
    )
    writes: so.Mapped[list[StripeWrite]] = so.relationship(order_by="StripeWrite.id")

    def take_snapshot(self, snapshot: dict[str, Any]) -> None:
        """Fill in the snapshot of a claimed row (see cancel_sessions.opening) and its copies."""
        self.snapshot = snapshot
        for column in SNAPSHOT_COPIES:
            setattr(self, column, _copied(snapshot, column))
        self.retained_30 = self.retained_60 = self.retained_90 = _running(snapshot)


class SessionEvent(db.Model):
    """Ordered audit trail of what a session was shown, what the customer chose, what was
    written to Stripe and emailed: a hash chain per session (cancelpage.trail)."""

    __tablename__ = "session_event"
    # One event per place in a session's chain: two writers racing for a place cannot fork it.
    __table_args__ = (sa.UniqueConstraint("session_id", "seq", name="uq_session_event_seq"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    session_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("cancel_session.id"), index=True)
    kind: so.Mapped[str] = so.mapped_column(sa.String(30))
    data: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    # The place in the session's chain (1, 2, ...) and sha256 over the canonical content and
    # the previous event's digest; NULL only for events recorded before the chain existed.
    seq: so.Mapped[int | None]
    digest: so.Mapped[str | None] = so.mapped_column(sa.String(64))

    session: so.Mapped[CancelSession] = so.relationship(back_populates="events")


class StripeWrite(db.Model):
    """Every intended or sent Stripe write; the unique key makes a repeat a no-op."""

    __tablename__ = "stripe_write"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    session_id: so.Mapped[int | None] = so.mapped_column(
        sa.ForeignKey("cancel_session.id"), index=True
    )
    idempotency_key: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    operation: so.Mapped[str] = so.mapped_column(sa.String(40))
    preview: so.Mapped[bool] = so.mapped_column(default=False)
    # pending (stored, maybe sent) | unknown (no answer) | failed (an answer, not yet checked
    # against a read) | not_applied (checked: nothing changed) | succeeded
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="pending")
    attempts: so.Mapped[int] = so.mapped_column(default=0)  # times sent under this key
    # A session's final write: which attempt of the session (a new one gets a new key), and the
    # intent stored before sending: the exact arguments and what it means once in place.
    attempt: so.Mapped[int] = so.mapped_column(default=1, server_default="1")
    intent: so.Mapped[dict[str, Any] | None] = so.mapped_column(sa.JSON(none_as_null=True))
    # The requests as sent on the wire (method, path, params); filled in preview mode.
    requests: so.Mapped[list[dict[str, Any]]] = so.mapped_column(sa.JSON, default=list)
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class StripeCoupon(db.Model):
    """Coupons are created once per offer (and its terms) and reused."""

    __tablename__ = "stripe_coupon"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "coupon_id"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    coupon_id: so.Mapped[str] = so.mapped_column(sa.String(200))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


# --- webhooks, recovery cases and the email outbox -------------------------------------------


class StripeEvent(db.Model):
    """A verified Stripe event: stored raw when it arrives (the webhook request's one write), its
    effect applied once by the worker, which claims due rows like outbox rows."""

    __tablename__ = "stripe_event"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "event_id"),
        sa.Index("ix_stripe_event_due", "status", "due_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    event_id: so.Mapped[str] = so.mapped_column(sa.String(255))
    type: so.Mapped[str] = so.mapped_column(sa.String(100))
    object_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    created: so.Mapped[int]  # Stripe's timestamp; never used for ordering decisions
    # The body exactly as Stripe signed it (None on events stored before the worker ran them).
    payload: so.Mapped[str | None] = so.mapped_column(sa.Text)
    # received | processing | processed | ignored | failed (retried at due_at) | dead
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="received")
    due_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    claim_token: so.Mapped[str | None] = so.mapped_column(sa.String(32), index=True)
    claimed_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # What the handler did, once it ran.
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    received_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    processed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)


class RecoveryCase(db.Model):
    """One failed invoice, one expiring card or one scheduled cancel, and how it ended."""

    __tablename__ = "recovery_case"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "kind", "ref"),
        sa.Index("ix_recovery_case_subscription", "merchant_id", "subscription_id"),
        # Analytics: one merchant's failed payments opened over a date range.
        sa.Index("ix_recovery_case_opened", "merchant_id", "kind", "opened_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    # payment_failed | card_expiring | cancel_intent
    kind: so.Mapped[str] = so.mapped_column(sa.String(20))
    # What makes the case unique: the invoice id, card+expiry, or subscription+cancel date.
    ref: so.Mapped[str] = so.mapped_column(sa.String(255))
    customer_id: so.Mapped[str] = so.mapped_column(sa.String(255))
    subscription_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    invoice_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    # open | recovered | lost | kept
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="open")
    amount_due: so.Mapped[int | None]
    amount_recovered: so.Mapped[int | None]
    currency: so.Mapped[str | None] = so.mapped_column(sa.String(3))
    close_reason: so.Mapped[str | None] = so.mapped_column(sa.String(100))
    opened_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    closed_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    # The last billing-portal session made for its card-update link, reused while it lives.
    portal_url_encrypted: so.Mapped[str | None] = so.mapped_column(sa.Text)
    portal_expires_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    merchant: so.Mapped[Merchant] = so.relationship()


class OutboxEmail(db.Model):
    """Every email is a row first; the worker claims due rows and sends each once."""

    __tablename__ = "outbox_email"
    __table_args__ = (sa.Index("ix_outbox_email_due", "status", "due_at"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    case_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("recovery_case.id"), index=True)
    # Which email: dunning_1..n, card_expiring, save.
    kind: so.Mapped[str] = so.mapped_column(sa.String(40))
    # Unique per case and step: a redelivered webhook or a rerun scan never adds a second row.
    dedupe_key: so.Mapped[str] = so.mapped_column(sa.String(255), unique=True)
    # Personal data: kept here (and in the suppression list) only, never in links.
    to_address: so.Mapped[str | None] = so.mapped_column(sa.String(254))
    customer_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    locale: so.Mapped[str] = so.mapped_column(sa.String(10), default="en")
    # Values the email shows (amount, card brand and expiry, end date); no secrets.
    data: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    # pending | sending | sent | canceled | suppressed | skipped | dead
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="pending")
    due_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    claim_token: so.Mapped[str | None] = so.mapped_column(sa.String(32), index=True)
    claimed_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    message_id: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    sent_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    merchant: so.Mapped[Merchant] = so.relationship()
    case: so.Mapped[RecoveryCase | None] = so.relationship()


class MerchantWebhookEndpoint(db.Model):
    """A URL of the merchant's own app that hears what happened, signed with its own secret."""

    __tablename__ = "merchant_webhook_endpoint"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    url: so.Mapped[str] = so.mapped_column(sa.String(500))
    # Encrypted with vault like every other secret; pages show the last four characters.
    secret_encrypted: so.Mapped[str] = so.mapped_column(sa.Text)
    secret_last4: so.Mapped[str] = so.mapped_column(sa.String(4))
    enabled: so.Mapped[bool] = so.mapped_column(default=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    @property
    def secret(self) -> str:
        return vault.decrypt(self.secret_encrypted)

    @secret.setter
    def secret(self, value: str) -> None:
        self.secret_encrypted = vault.encrypt(value)
        self.secret_last4 = value[-4:]


class WebhookDelivery(db.Model):
    """One event for one endpoint: claimed, sent and retried like an outbox email."""

    __tablename__ = "webhook_delivery"
    __table_args__ = (
        # The event id is stable: an effect recorded twice never queues a second delivery.
        sa.UniqueConstraint("endpoint_id", "event_id"),
        sa.Index("ix_webhook_delivery_due", "status", "due_at"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    endpoint_id: so.Mapped[int] = so.mapped_column(
        sa.ForeignKey("merchant_webhook_endpoint.id"), index=True
    )
    event_id: so.Mapped[str] = so.mapped_column(sa.String(64))
    type: so.Mapped[str] = so.mapped_column(sa.String(60))
    # The exact JSON body sent on every attempt (ids and amounts; no email addresses).
    body: so.Mapped[str] = so.mapped_column(sa.Text)
    # pending | sending | delivered | dead
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="pending")
    due_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    attempts: so.Mapped[int] = so.mapped_column(default=0)
    last_status_code: so.Mapped[int | None]
    last_error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    claim_token: so.Mapped[str | None] = so.mapped_column(sa.String(32), index=True)
    claimed_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    delivered_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    endpoint: so.Mapped[MerchantWebhookEndpoint] = so.relationship()
    attempt_log: so.Mapped[list[WebhookAttempt]] = so.relationship(
        order_by="WebhookAttempt.id", back_populates="delivery"
    )


class WebhookAttempt(db.Model):
    """The delivery log: every attempt with the receiver's status code (or why none)."""

    __tablename__ = "webhook_attempt"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    delivery_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("webhook_delivery.id"), index=True)
    status_code: so.Mapped[int | None]
    error: so.Mapped[str | None] = so.mapped_column(sa.String(300))
    duration_ms: so.Mapped[int] = so.mapped_column(default=0)
    attempted_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)

    delivery: so.Mapped[WebhookDelivery] = so.relationship(back_populates="attempt_log")


class EmailSuppression(db.Model):
    """Addresses a merchant never mails again (unsubscribed)."""

    __tablename__ = "email_suppression"
    __table_args__ = (sa.UniqueConstraint("merchant_id", "email"),)

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    email: so.Mapped[str] = so.mapped_column(sa.String(254))  # lower-cased
    reason: so.Mapped[str] = so.mapped_column(sa.String(40), default="unsubscribed")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class EmailCopy(db.Model):
    """A merchant's own subject and body for one kind of email in one language (rendered
    escaped); locale None is the text in the merchant's default language."""

    __tablename__ = "email_copy"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "kind", "locale"),
        # NULLs are distinct in a unique constraint: one default-language row per kind too.
        sa.Index(
            "uq_email_copy_default_locale",
            "merchant_id",
            "kind",
            unique=True,
            sqlite_where=sa.text("locale IS NULL"),
            postgresql_where=sa.text("locale IS NULL"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    kind: so.Mapped[str] = so.mapped_column(sa.String(40))
    locale: so.Mapped[str | None] = so.mapped_column(sa.String(10))
    subject: so.Mapped[str | None] = so.mapped_column(sa.String(200))
    body: so.Mapped[str | None] = so.mapped_column(sa.Text)
    updated_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


# ---- merchant dashboard and link API ---------------------------------------------------------


class MerchantUser(db.Model):
    """Someone who signs in to a merchant's dashboard; belongs to exactly one merchant."""

    __tablename__ = "merchant_user"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    # Stored lower-cased; unique across the install so that signing in needs only the address.
    email: so.Mapped[str] = so.mapped_column(sa.String(254), unique=True)
    password_hash: so.Mapped[str] = so.mapped_column(sa.String(255))
    # In every session cookie; bumped by signing out and by a password change, which ends every
    # session signed in before.
    session_version: so.Mapped[int] = so.mapped_column(default=0, server_default="0")
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_login_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    merchant: so.Mapped[Merchant] = so.relationship()


class PasswordResetRequest(db.Model):
    """A forgot-password form as it was sent: the worker looks the address up, so that the form
    does the same work, in the same time, whether or not the address has an account."""

    __tablename__ = "password_reset_request"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    email: so.Mapped[str] = so.mapped_column(sa.String(254))
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class ApiKey(db.Model):
    """A merchant's key for the link API; only a digest of the secret part is kept."""

    __tablename__ = "api_key"

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    name: so.Mapped[str] = so.mapped_column(sa.String(80))
    # The visible start of the key (e.g. "cp_test_3kq9x2"), to tell keys apart in the dashboard.
    prefix: so.Mapped[str] = so.mapped_column(sa.String(40))
    digest: so.Mapped[str] = so.mapped_column(sa.String(64), unique=True)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    last_used_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    revoked_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    merchant: so.Mapped[Merchant] = so.relationship()


# ---- analytics -------------------------------------------------------------------------------

# The dashboard reads one merchant's cancel sessions over a date range. These indexes hold every
# column its queries read, so they are answered from the index alone (PostgreSQL: INCLUDE columns,
# JSON cannot be a key there; SQLite: trailing key columns). See bench/analytics_bench.py.
_ANALYTICS_COLUMNS = (
    CancelSession.outcome,
    CancelSession.reason,
    CancelSession.plan,
    CancelSession.currency,
    CancelSession.mrr,
    CancelSession.billing_interval,
    CancelSession.billing_interval_count,
    CancelSession.accepted_offer,
    CancelSession.flow_version_id,
    CancelSession.completed_at,
    CancelSession.retained_30,
    CancelSession.retained_60,
    CancelSession.retained_90,
    CancelSession.offers_shown,
    CancelSession.assignments,
)
sa.Index(
    "ix_session_analytics_pg",
    CancelSession.merchant_id,
    CancelSession.purpose,
    CancelSession.created_at,
    postgresql_include=[column.key for column in _ANALYTICS_COLUMNS],
).ddl_if(dialect="postgresql")
sa.Index(
    "ix_session_analytics_lite",
    CancelSession.merchant_id,
    CancelSession.purpose,
    CancelSession.created_at,
    *_ANALYTICS_COLUMNS,
).ddl_if(dialect="sqlite")
# An experiment's verdict reads the first sessions of each arm in the order they ended.
sa.Index(
    "ix_session_completed",
    CancelSession.merchant_id,
    CancelSession.completed_at,
    CancelSession.id,
)
# Newest comments first, without reading the sessions that have none.
sa.Index(
    "ix_session_comments",
    CancelSession.merchant_id,
    CancelSession.created_at,
    CancelSession.id,
    postgresql_where=CancelSession.comment.is_not(None),
    sqlite_where=CancelSession.comment.is_not(None),
)


class SubscriptionStatus(db.Model):
    """History of a subscription's status: as webhooks report it, and as the cancel flow's own
    successful writes set it (source "flow"; a scheduled end is dated when it takes effect)."""

    __tablename__ = "subscription_status"
    __table_args__ = (
        sa.UniqueConstraint(
            "merchant_id",
            "subscription_id",
            "changed_at",
            "status",
            name="uq_subscription_status_change",
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    subscription_id: so.Mapped[str] = so.mapped_column(sa.String(255))
    status: so.Mapped[str] = so.mapped_column(sa.String(30))
    changed_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    recorded_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    source: so.Mapped[str] = so.mapped_column(
        sa.String(10), default="webhook", server_default="webhook"
    )


class SessionRollup(db.Model):
    """Cancel sessions counted per merchant, day opened (UTC) and every dimension the dashboard
    filters or groups by: what analytics reads instead of the sessions themselves. Kept in step
    with cancel_session in the same transaction (analytics.rollups); `flask analytics rebuild`
    recomputes it from the sessions."""

    __tablename__ = "session_rollup"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "day", "dimensions", name="uq_session_rollup_cell"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    day: so.Mapped[date] = so.mapped_column(sa.Date)
    dimensions: so.Mapped[str] = so.mapped_column(sa.String(40))  # digest of the columns below
    purpose: so.Mapped[str] = so.mapped_column(sa.String(20))
    preview: so.Mapped[bool]
    plan: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    reason: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    outcome: so.Mapped[str | None] = so.mapped_column(sa.String(20))
    flow_version_id: so.Mapped[int | None]
    accepted_offer: so.Mapped[str | None] = so.mapped_column(sa.String(40))
    currency: so.Mapped[str] = so.mapped_column(sa.String(3))
    billing_interval: so.Mapped[str] = so.mapped_column(sa.String(5))
    billing_interval_count: so.Mapped[int]
    # The MRR of accepted sessions (an amount discount keeps a share that depends on it).
    accepted_mrr: so.Mapped[int | None]
    offers_shown: so.Mapped[list[str]] = so.mapped_column(sa.JSON)
    assignments: so.Mapped[dict[str, str]] = so.mapped_column(
        sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
    )
    retained_30: so.Mapped[bool]
    retained_60: so.Mapped[bool]
    retained_90: so.Mapped[bool]
    sessions: so.Mapped[int]
    mrr: so.Mapped[int] = so.mapped_column(sa.BigInteger)  # the sessions' MRR, summed


class ExperimentRecord(db.Model):
    """Every experiment a merchant ever published, by id: an id names one experiment for all
    time, and its definition (arms, weights, holdout, minimum effect, metric) is frozen once it
    has data."""

    __tablename__ = "experiment_record"
    __table_args__ = (
        sa.UniqueConstraint("merchant_id", "experiment_id", name="uq_experiment_record_id"),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    experiment_id: so.Mapped[str] = so.mapped_column(sa.String(40))
    definition: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)


class ExperimentDecision(db.Model):
    """A merchant stopped an experiment or promoted an arm: one decision per experiment."""

    __tablename__ = "experiment_decision"
    __table_args__ = (
        sa.UniqueConstraint(
            "merchant_id", "experiment_id", name="uq_experiment_decision_experiment"
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"))
    experiment_id: so.Mapped[str] = so.mapped_column(sa.String(40))
    action: so.Mapped[str] = so.mapped_column(sa.String(10))  # stop | promote
    # The arm everyone gets from now on: a variant's offer id, or "holdout" (no offer there).
    arm: so.Mapped[str] = so.mapped_column(sa.String(40))
    # The experiment as it was defined when decided, and the flow version the decision published.
    definition: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON)
    flow_version_id: so.Mapped[int | None] = so.mapped_column(sa.ForeignKey("flow_version.id"))
    decided_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    by: so.Mapped[str] = so.mapped_column(sa.String(255))


class RevenueScan(db.Model):
    """One revenue scan of a merchant's Stripe account: a durable job for the worker (claimed
    like outbox rows), its progress after every page, and the figures it found."""

    __tablename__ = "revenue_scan"
    __table_args__ = (
        sa.Index("ix_revenue_scan_due", "status", "claimed_until"),
        # One scan at a time per merchant: a second one waits until the first has finished.
        sa.Index(
            "uq_revenue_scan_one_active",
            "merchant_id",
            unique=True,
            sqlite_where=sa.text("status IN ('queued', 'running')"),
            postgresql_where=sa.text("status IN ('queued', 'running')"),
        ),
    )

    id: so.Mapped[int] = so.mapped_column(primary_key=True)
    merchant_id: so.Mapped[int] = so.mapped_column(sa.ForeignKey("merchant.id"), index=True)
    # queued | running | done | failed
    status: so.Mapped[str] = so.mapped_column(sa.String(20), default="queued")
    months: so.Mapped[int] = so.mapped_column(default=12)
    window_start: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    window_end: so.Mapped[datetime] = so.mapped_column(UTCDateTime)
    # Preview: a simulated account stood in for Stripe (the merchant has no key).
    simulated: so.Mapped[bool] = so.mapped_column(default=False)
    # The checkpoint: the list being read, the cursor of its next page, the figures so far.
    phase: so.Mapped[int] = so.mapped_column(default=0)
    cursor: so.Mapped[str | None] = so.mapped_column(sa.String(255))
    objects_read: so.Mapped[int] = so.mapped_column(default=0)
    requests: so.Mapped[int] = so.mapped_column(default=0)
    rate_limited: so.Mapped[int] = so.mapped_column(default=0)
    figures: so.Mapped[dict[str, Any]] = so.mapped_column(sa.JSON, default=dict)
    error: so.Mapped[str | None] = so.mapped_column(sa.Text)
    claim_token: so.Mapped[str | None] = so.mapped_column(sa.String(32))
    claimed_until: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    created_at: so.Mapped[datetime] = so.mapped_column(UTCDateTime, default=utcnow)
    started_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)
    finished_at: so.Mapped[datetime | None] = so.mapped_column(UTCDateTime)

    merchant: so.Mapped[Merchant] = so.relationship()
