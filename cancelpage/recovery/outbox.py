"""The durable email outbox and its worker.

Every email is a row first (its dedupe key unique per case and step). Workers claim due rows
in small batches with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL (a single atomic UPDATE on
SQLite), so several workers on several hosts never take the same row. A claim is a lease: a
worker that dies mid-batch leaves rows that another worker takes over once the lease ends.
SMTP failures are retried with exponential backoff; after MAIL_MAX_ATTEMPTS a row is marked
``dead`` (kept, visible, and re-queueable), never deleted.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from typing import Any

import sqlalchemy as sa
from flask import current_app

from cancelpage import addresses, i18n
from cancelpage.extensions import db
from cancelpage.merchant_webhooks import events as merchant_events
from cancelpage.merchants import accounts
from cancelpage.models import (
    EmailCopy,
    EmailSuppression,
    Merchant,
    OutboxEmail,
    PasswordResetRequest,
    RecoveryCase,
    StripeEvent,
    WebhookDelivery,
    utcnow,
)
from cancelpage.recovery import emails

log = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
# Rows that are claimed, leased and retried the same way: emails, merchant webhook deliveries and
# the Stripe events whose effects the worker applies.
Queued = type[OutboxEmail] | type[WebhookDelivery] | type[StripeEvent]
BACKOFF_CAP = timedelta(hours=6)


@dataclass
class DrainResult:
    sent: int = 0
    failed: int = 0
    dead: int = 0
    suppressed: int = 0
    canceled: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.sent + self.failed + self.dead + self.suppressed + self.canceled


# ---- queueing --------------------------------------------------------------------------------


def queue(
    merchant: Merchant,
    *,
    kind: str,
    dedupe_key: str,
    to_address: str | None,
    customer_id: str | None,
    locale: str,
    data: dict[str, Any],
    case: RecoveryCase | None = None,
    due_at: datetime | None = None,
) -> OutboxEmail | None:
    """Add one email to the outbox in the caller's transaction; None if the key exists.

    An unknown or suppressed address still gets a row (status ``skipped``/``suppressed``) so a
    merchant can see why nobody was mailed.
    """
    exists = db.session.scalar(
        sa.select(OutboxEmail.id).where(OutboxEmail.dedupe_key == dedupe_key)
    )
    if exists is not None:
        return None
    address = addresses.usable(to_address)
    row = OutboxEmail(
        merchant_id=merchant.id,
        case=case,
        kind=kind,
        dedupe_key=dedupe_key,
        to_address=address,
        customer_id=customer_id,
        locale=locale,
        data=data,
        status="pending",
        due_at=due_at or utcnow(),
        attempts=0,
    )
    if address is None:
        row.status = "skipped"
        row.last_error = (
            f"not a usable email address: {to_address.strip()[:100]!r}"
            if to_address and to_address.strip()
            else "no email address known for this customer"
        )
    elif is_suppressed(merchant.id, address):
        row.status = "suppressed"
    db.session.add(row)
    db.session.flush()
    return row


def cancel_pending(case: RecoveryCase, reason: str) -> int:
    """Stop the rest of a case's sequence (rows being sent right now finish)."""
    return db.session.execute(
        sa.update(OutboxEmail)
        .where(OutboxEmail.case_id == case.id, OutboxEmail.status == "pending")
        .values(status="canceled", last_error=reason)
        .execution_options(synchronize_session=False)
    ).rowcount


def is_suppressed(merchant_id: int, address: str) -> bool:
    return (
        db.session.scalar(
            sa.select(EmailSuppression.id).where(
                EmailSuppression.merchant_id == merchant_id,
                EmailSuppression.email == address.lower(),
            )
        )
        is not None
    )


def suppress(merchant_id: int, address: str, reason: str = "unsubscribed") -> bool:
    """Never mail this address for this merchant again; True if it was newly added."""
    address = address.lower()
    if is_suppressed(merchant_id, address):
        return False
    db.session.add(EmailSuppression(merchant_id=merchant_id, email=address, reason=reason))
    try:
        db.session.flush()
    except sa.exc.IntegrityError:  # unsubscribed twice at once: the other request won
        db.session.rollback()
        return False
    db.session.execute(
        sa.update(OutboxEmail)
        .where(
            OutboxEmail.merchant_id == merchant_id,
            sa.func.lower(OutboxEmail.to_address) == address,
            OutboxEmail.status == "pending",
        )
        .values(status="suppressed")
        .execution_options(synchronize_session=False)
    )
    return True


def send_test(
    merchant: Merchant, to_address: str, kind: str = "dunning_1", locale: str | None = None
) -> OutboxEmail:
    """Queue a test of one kind of email with sample values to ``to_address`` and send it now,
    in ``locale`` (None: the merchant's default language)."""
    if kind not in emails.email_kinds(merchant):
        raise emails.CopyError(
            f"unknown email {kind!r}; choose one of {', '.join(emails.email_kinds(merchant))}"
        )
    address = addresses.usable(to_address)
    if address is None:
        raise emails.CopyError(f"{to_address!r} is not an email address")
    row = queue(
        merchant,
        kind=kind,
        dedupe_key=f"test:{merchant.id}:{secrets.token_hex(8)}",
        to_address=address,
        customer_id=None,
        locale=i18n.supported(locale) or i18n.supported(merchant.default_locale) or "en",
        data=emails.sample_data(merchant, kind),
    )
    assert row is not None
    return _send_now(row)


def request_password_reset(address: str) -> None:
    """Record a forgot-password form in the caller's transaction; the worker does the rest.

    The same one insert whether or not the address has an account, so the form's answer takes
    as long either way (no account enumeration by timing).
    """
    db.session.add(PasswordResetRequest(email=address.strip().lower()[:254]))


def queue_requested_resets(batch_size: int = 100) -> None:
    """Turn recorded forgot-password forms into reset emails for addresses that have an account;
    the link itself is signed when the email is rendered, so the outbox never holds it. A failed
    send is retried like any other email (docs/RELIABILITY.md 25)."""
    requests = db.session.scalars(
        sa.select(PasswordResetRequest)
        .order_by(PasswordResetRequest.id)
        .limit(batch_size)
        .with_for_update(skip_locked=True)
    ).all()
    for request in requests:
        user = accounts.user_by_email(request.email)
        if user is not None:
            queue(
                user.merchant,
                kind=emails.PASSWORD_RESET,
                dedupe_key=f"password_reset:{user.id}:{request.id}",
                to_address=user.email,
                customer_id=None,
                locale=i18n.SOURCE_LOCALE,  # the dashboard is in English
                data={"user_id": user.id},
            )
        db.session.delete(request)
    db.session.commit()


def _send_now(row: OutboxEmail) -> OutboxEmail:
    """Send a row the person is waiting for (a test, a reset link) at once. Suppression is for
    recovery emails to customers: it does not stop these."""
    if row.status == "suppressed":
        row.status = "pending"
    db.session.commit()
    row_id = row.id
    drain(only_ids=[row_id])
    sent = db.session.get(OutboxEmail, row_id)
    assert sent is not None
    return sent


# ---- claiming --------------------------------------------------------------------------------


def waiting(model: Queued) -> tuple[str, ...]:
    """The statuses of rows that wait for their due time (a Stripe event: new, or to retry)."""
    return ("received", "failed") if model is StripeEvent else ("pending",)


def claimed_status(model: Queued) -> str:
    """The status of a row a worker holds."""
    return "processing" if model is StripeEvent else "sending"


def _due(until: datetime, now: datetime, model: Queued) -> sa.ColumnElement[bool]:
    """What _pick selects, as one condition (checked again when the rows are claimed)."""
    return sa.or_(
        sa.and_(model.status.in_(waiting(model)), model.due_at <= until),
        sa.and_(model.status == claimed_status(model), model.claimed_until < now),
    )


def _pick(
    batch_size: int, until: datetime, now: datetime, only_ids: list[int] | None, model: Queued
) -> list[int]:
    """Up to ``batch_size`` due row ids, oldest first: claims whose worker died, then pending.

    One query per status, not one with OR: each follows the (status, due_at) index and stops
    after ``batch_size`` rows, where the OR made the database sort every due row for each batch.
    """
    picks = [
        # A claim whose worker died: take it over once its lease has run out.
        sa.select(model.id).where(model.status == claimed_status(model), model.claimed_until < now),
        *(
            sa.select(model.id).where(model.status == status, model.due_at <= until)
            for status in waiting(model)
        ),
    ]
    ids: list[int] = []
    for pick in picks:
        if only_ids is not None:
            pick = pick.where(model.id.in_(only_ids))
        pick = pick.order_by(model.due_at, model.id).limit(batch_size - len(ids))
        if db.engine.dialect.name == "postgresql":
            # Rows another worker is claiming are skipped, not waited for. (A separate SELECT,
            # not a subquery of the UPDATE: PostgreSQL may rescan such a subquery and exceed
            # the LIMIT.)
            pick = pick.with_for_update(skip_locked=True)
        ids += db.session.scalars(pick)
        if len(ids) >= batch_size:
            break
    return ids


def claim(
    batch_size: int,
    until: datetime,
    only_ids: Iterable[int] | None = None,
    model: Queued = OutboxEmail,
) -> str | None:
    """Claim up to ``batch_size`` due rows of ``model`` (emails, or webhook deliveries) for this
    worker; returns the claim token."""
    now = utcnow()
    due = _due(until, now, model)
    wanted = list(only_ids) if only_ids is not None else None
    token = secrets.token_hex(16)
    while ids := _pick(batch_size, until, now, wanted, model):
        claimed = db.session.execute(
            sa.update(model)
            # Checked again at the write: on SQLite another worker may have taken a row since,
            # in which case we look again rather than stop.
            .where(model.id.in_(ids), due)
            .values(status=claimed_status(model), claim_token=token, claimed_until=now + LEASE)
            .execution_options(synchronize_session=False)
        ).rowcount
        db.session.commit()
        if claimed:
            return token
    db.session.commit()
    return None


def refresh_lease(token: str, model: Queued = OutboxEmail) -> set[int]:
    """Extend the lease on the rows this claim still holds, and say which those are."""
    db.session.execute(
        sa.update(model)
        .where(model.claim_token == token, model.status == claimed_status(model))
        .values(claimed_until=utcnow() + LEASE)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()
    return set(
        db.session.scalars(
            sa.select(model.id).where(
                model.claim_token == token, model.status == claimed_status(model)
            )
        )
    )


def finish(row_id: int, token: str, model: Queued = OutboxEmail, **values: Any) -> None:
    """Record a row's outcome, only if this worker still holds its claim."""
    db.session.execute(
        sa.update(model)
        .where(model.id == row_id, model.claim_token == token)
        .values(claim_token=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    )
    db.session.commit()


def backoff(attempts: int, setting: str = "MAIL_RETRY_BASE_SECONDS") -> timedelta:
    base = float(current_app.config.get(setting, 60))
    return min(timedelta(seconds=base * 2 ** max(attempts - 1, 0)), BACKOFF_CAP)


# ---- draining --------------------------------------------------------------------------------


def drain(
    *,
    batch_size: int = 100,
    transport: emails.SMTPTransport | None = None,
    only_ids: Iterable[int] | None = None,
) -> DrainResult:
    """Send every row due now, batch by batch; stops early if the SMTP server is down.

    Rows that fall due while this runs wait for the next pass, so ``worker --once`` ends.
    """
    if only_ids is None:
        queue_requested_resets(batch_size)
    until = utcnow()
    result = DrainResult()
    transport = transport or emails.SMTPTransport(current_app.config)
    ids = list(only_ids) if only_ids is not None else None
    try:
        while True:
            token = claim(batch_size, until, ids)
            if token is None:
                break
            if not _deliver_batch(token, transport, result):
                break
            db.session.expunge_all()  # keep memory flat however many rows are drained
    finally:
        transport.close()
    return result


@dataclass
class _BatchContext:
    merchants: dict[int, Merchant]
    cases: dict[int, RecoveryCase]
    copies: dict[tuple[int, str], list[EmailCopy]]  # every language's own text per kind
    suppressed: set[tuple[int, str]]


def _load_context(rows: list[OutboxEmail]) -> _BatchContext:
    """Everything a batch renders from, in four queries rather than four per row."""
    merchant_ids = {r.merchant_id for r in rows}
    case_ids = {r.case_id for r in rows if r.case_id is not None}
    addresses = {(r.to_address or "").lower() for r in rows}
    merchants = {
        m.id: m
        for m in db.session.scalars(sa.select(Merchant).where(Merchant.id.in_(merchant_ids)))
    }
    cases = {
        c.id: c
        for c in db.session.scalars(sa.select(RecoveryCase).where(RecoveryCase.id.in_(case_ids)))
    }
    copies: dict[tuple[int, str], list[EmailCopy]] = {}
    for own in db.session.scalars(
        sa.select(EmailCopy).where(EmailCopy.merchant_id.in_(merchant_ids))
    ):
        copies.setdefault((own.merchant_id, own.kind), []).append(own)
    suppressed = {
        (merchant_id, email)
        for merchant_id, email in db.session.execute(
            sa.select(EmailSuppression.merchant_id, EmailSuppression.email).where(
                EmailSuppression.merchant_id.in_(merchant_ids),
                EmailSuppression.email.in_(addresses),
            )
        )
    }
    return _BatchContext(merchants, cases, copies, suppressed)


def _deliver_batch(token: str, transport: emails.SMTPTransport, result: DrainResult) -> bool:
    """Send one claimed batch; False when the SMTP server is unreachable (stop for now)."""
    rows = list(
        db.session.scalars(
            sa.select(OutboxEmail).where(OutboxEmail.claim_token == token).order_by(OutboxEmail.id)
        )
    )
    context = _load_context(rows)
    # Detached from the session: otherwise every per-row commit below would expire all of
    # them and the next row would reload itself, its case and its merchant one query at a time.
    db.session.expunge_all()
    refreshed_at = utcnow()
    held = {r.id for r in rows}
    for index, row in enumerate(rows):
        if utcnow() - refreshed_at > LEASE / 3:
            held, refreshed_at = refresh_lease(token), utcnow()
        if row.id not in held:
            continue  # lease lost (this worker stalled) and another worker took the row
        if not _deliver(row, token, transport, context, result):
            _release(token, [r.id for r in rows[index + 1 :]])
            return False
    return True


def _message(
    row: OutboxEmail, merchant: Merchant, case: RecoveryCase | None, context: _BatchContext
) -> EmailMessage:
    if row.kind == emails.PASSWORD_RESET:
        return emails.password_reset_message(merchant, row)
    copies = context.copies.get((merchant.id, row.kind), [])
    # Signed once: the body's link and the List-Unsubscribe header must be the same.
    unsubscribe = emails.unsubscribe_url(merchant, row)
    rendered = emails.render_row(row, merchant, case, copies, unsubscribe)
    return emails.build_message(merchant, row, rendered, unsubscribe)


def _release(token: str, row_ids: list[int]) -> None:
    """Hand unsent rows back, untouched, for the next pass."""
    if row_ids:
        db.session.execute(
            sa.update(OutboxEmail)
            .where(OutboxEmail.id.in_(row_ids), OutboxEmail.claim_token == token)
            .values(status="pending", claim_token=None, claimed_until=None)
            .execution_options(synchronize_session=False)
        )
        db.session.commit()


def _deliver(
    row: OutboxEmail,
    token: str,
    transport: emails.SMTPTransport,
    context: _BatchContext,
    result: DrainResult,
) -> bool:
    merchant = context.merchants[row.merchant_id]
    case = context.cases.get(row.case_id) if row.case_id is not None else None
    address = (row.to_address or "").lower()
    requested = row.data.get("test") or row.kind == emails.PASSWORD_RESET
    if (merchant.id, address) in context.suppressed and not requested:
        finish(row.id, token, status="suppressed")
        result.suppressed += 1
        return True
    if case is not None:
        # Read now, not when the batch was loaded: an invoice paid a moment ago stops its email.
        status = db.session.scalar(sa.select(RecoveryCase.status).where(RecoveryCase.id == case.id))
        if status != "open":
            finish(row.id, token, status="canceled", last_error=f"case {status}")
            result.canceled += 1
            return True
    try:
        message = _message(row, merchant, case, context)
    except Exception as exc:  # one unrenderable row must not block the queue behind it
        log.exception("outbox email %s cannot be rendered", row.id)
        finish(row.id, token, status="dead", last_error=f"cannot render: {type(exc).__name__}")
        result.dead += 1
        return True
    attempts = row.attempts + 1
    try:
        transport.send(message)
    except emails.SendFailed as exc:
        error = str(exc)[:1000]
        result.errors.append(error)
        log.warning("outbox email %s not sent (attempt %s): %s", row.id, attempts, error)
        max_attempts = int(current_app.config.get("MAIL_MAX_ATTEMPTS", 12))
        if exc.permanent or attempts >= max_attempts:
            finish(row.id, token, status="dead", attempts=attempts, last_error=error)
            result.dead += 1
        else:
            due = utcnow() + backoff(attempts)
            finish(row.id, token, status="pending", attempts=attempts, last_error=error, due_at=due)
            result.failed += 1
        return not isinstance(exc, emails.TransportUnavailable)
    if row.kind == emails.WINBACK:
        merchant_events.winback_sent(row)  # committed with the row's "sent", once
    if emails.family(row.kind) == emails.RECEIPT and not row.data.get("test"):
        from cancelpage import receipts  # receipts queue through this module

        receipts.sent(row)  # the session's trail hears it, committed with the "sent"
    finish(
        row.id,
        token,
        status="sent",
        attempts=attempts,
        sent_at=utcnow(),
        message_id=message["Message-ID"],
        last_error=None,
    )
    result.sent += 1
    return True


# ---- what merchants see ------------------------------------------------------------------------


def rows_for(
    merchant: Merchant, *, status: str | None = None, limit: int = 50
) -> list[OutboxEmail]:
    """The merchant's most recent outbox rows (optionally one status, e.g. ``dead``)."""
    query = sa.select(OutboxEmail).where(OutboxEmail.merchant_id == merchant.id)
    if status:
        query = query.where(OutboxEmail.status == status)
    return list(db.session.scalars(query.order_by(OutboxEmail.id.desc()).limit(limit)))


def requeue(merchant: Merchant, row_id: int) -> bool:
    """Give a dead row a fresh set of attempts (e.g. after fixing the SMTP settings)."""
    changed = db.session.execute(
        sa.update(OutboxEmail)
        .where(
            OutboxEmail.id == row_id,
            OutboxEmail.merchant_id == merchant.id,
            OutboxEmail.status == "dead",
        )
        .values(status="pending", attempts=0, due_at=utcnow())
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return changed == 1
