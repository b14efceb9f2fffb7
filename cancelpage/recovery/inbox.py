"""Stored Stripe events, applied by the worker: each event's effect exactly once, in any order.

The webhook request only verifies and stores the raw event (recovery/webhooks.py). Workers claim
due events with the outbox's claim and lease (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, an atomic
UPDATE on SQLite), run the event's handler, which re-reads the object from Stripe (live) or acts
on the event's own object (preview), and commit the effect together with the event's new status,
but only while their claim still holds the event: a worker that lost its lease rolls its effect
back, so two workers never both apply one event. Stripe down, or the key refused, leaves the event
``failed``, retried with exponential backoff; after STRIPE_EVENT_MAX_ATTEMPTS it is ``dead``:
listed in the dashboard, where it can be run again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import current_app

from cancelpage.billing import (
    InvalidWebhook,
    StripeAuthError,
    StripeRejected,
    StripeUnavailable,
    WebhookEvent,
    parse_event,
)
from cancelpage.extensions import db
from cancelpage.models import Merchant, StripeEvent, utcnow
from cancelpage.recovery import cases, outbox
from cancelpage.web import dbretry

log = logging.getLogger(__name__)

# Each event may read Stripe a few times (10 s timeout each): the lease is refreshed as we go.
BATCH = 20
CONFLICT_ATTEMPTS = 5  # another event opening the same case, or SQLite's one writer, at once
STATUSES = ("received", "processing", "processed", "ignored", "failed", "dead")


@dataclass
class InboxResult:
    processed: int = 0
    ignored: int = 0
    retrying: int = 0
    dead: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def handled(self) -> int:
        return self.processed + self.ignored + self.retrying + self.dead


def ignore_reason(event: WebhookEvent, key_is_live: bool | None) -> str | None:
    """Why an event is not acted on (None: act). ``key_is_live`` is None without a key."""
    if event.type not in cases.HANDLERS:
        return "ignored: event type not used"
    if event.account is not None:
        return "ignored: Connect event"
    if key_is_live is not None and event.livemode != key_is_live:
        return "ignored: event mode does not match the merchant's key"
    return None


def is_live(key: str | None) -> bool | None:
    """A Stripe key's mode (None without a key): events of the other mode are not acted on."""
    return None if key is None else key.startswith(("sk_live_", "rk_live_"))


def drain(*, batch_size: int = BATCH, only_ids: Iterable[int] | None = None) -> InboxResult:
    """Apply every stored event due now, batch by batch (events that fall due meanwhile wait
    for the next pass, so ``worker --once`` ends)."""
    result = InboxResult()
    until = utcnow()
    ids = list(only_ids) if only_ids is not None else None
    while (token := outbox.claim(batch_size, until, ids, model=StripeEvent)) is not None:
        rows = list(
            db.session.execute(
                sa.select(StripeEvent.id, StripeEvent.merchant_id, StripeEvent.payload)
                .add_columns(StripeEvent.attempts)
                .where(StripeEvent.claim_token == token)
                .order_by(StripeEvent.id)
            )
        )
        refreshed_at, held = utcnow(), {row.id for row in rows}
        for row in rows:
            if utcnow() - refreshed_at > outbox.LEASE / 3:
                held, refreshed_at = outbox.refresh_lease(token, StripeEvent), utcnow()
            if row.id in held:  # else our lease ran out and another worker has it
                process(row.id, row.merchant_id, row.payload, row.attempts + 1, token, result)
        db.session.expunge_all()  # memory stays flat however many events are drained
    return result


def process(
    event_id: int,
    merchant_id: int,
    payload: str | None,
    attempts: int,
    token: str,
    result: InboxResult,
) -> None:
    """Apply one event this worker claimed with ``token`` (attempts: this try's number)."""
    merchant = db.session.get(Merchant, merchant_id)
    try:
        event = parse_event(payload or "")
    except InvalidWebhook as err:  # verified when it arrived: only a damaged row gets here
        _failed(event_id, token, attempts, f"unreadable: {err}", result, final=True)
        return
    assert merchant is not None  # merchants are never deleted
    for conflict in range(1, CONFLICT_ATTEMPTS + 1):
        try:
            status, outcome = _apply(merchant, event)
            if _finish(
                event_id,
                token,
                status=status,
                outcome=outcome[:200],
                attempts=attempts,
                last_error=None,
                processed_at=utcnow(),
            ):
                db.session.commit()
                log.info("stripe event %s %s: %s", event.type, event.id, outcome)
                result.ignored += status == "ignored"
                result.processed += status == "processed"
            else:
                db.session.rollback()  # another worker holds it now: its run counts
            return
        except sa.exc.DBAPIError as err:
            # Another event opening the same case committed first, or another worker holds
            # SQLite's write lock: start again and see what is true now.
            db.session.rollback()
            if not isinstance(err, sa.exc.IntegrityError) and not dbretry.is_transient(err):
                _failed(event_id, token, attempts, f"database: {type(err).__name__}", result)
                return
            if conflict == CONFLICT_ATTEMPTS:
                _failed(event_id, token, attempts, "conflicting writes; retried later", result)
                return
            time.sleep(0.02 * 2**conflict)
        except (StripeUnavailable, StripeAuthError) as err:
            db.session.rollback()
            _failed(event_id, token, attempts, f"Stripe: {err.message}", result)
            return
        except Exception as err:  # a bug must not block the events behind this one
            db.session.rollback()
            log.exception("stripe event %s for merchant %s failed", event.id, merchant_id)
            _failed(event_id, token, attempts, f"error: {type(err).__name__}", result)
            return


def _apply(merchant: Merchant, event: WebhookEvent) -> tuple[str, str]:
    """The handler's effect, added to the session (not committed); its status and outcome."""
    ignored = ignore_reason(event, is_live(merchant.stripe_key()))
    if ignored is not None:  # the merchant changed its key since the event arrived
        return "ignored", ignored
    try:
        return "processed", cases.HANDLERS[event.type](merchant, cases.Reader(merchant, event))
    except StripeRejected as err:
        # The object is gone or not ours to read: nothing to act on, ever.
        db.session.rollback()
        return "processed", f"not acted on: {err.message}"


def _finish(event_id: int, token: str, **values: Any) -> bool:
    """Record the outcome in the effect's transaction, if this worker still holds the claim."""
    changed = db.session.execute(
        sa.update(StripeEvent)
        .where(StripeEvent.id == event_id, StripeEvent.claim_token == token)
        .values(claim_token=None, claimed_until=None, **values)
        .execution_options(synchronize_session=False)
    ).rowcount
    return changed == 1


def _failed(
    event_id: int, token: str, attempts: int, error: str, result: InboxResult, final: bool = False
) -> None:
    """No effect this time: retry after a pause that grows, or give up after the last attempt."""
    error = error[:1000]
    result.errors.append(error)
    max_attempts = int(current_app.config["STRIPE_EVENT_MAX_ATTEMPTS"])
    if final or attempts >= max_attempts:
        values: dict[str, Any] = {"status": "dead"}
        result.dead += 1
    else:
        due = utcnow() + outbox.backoff(attempts, "STRIPE_EVENT_RETRY_BASE_SECONDS")
        values = {"status": "failed", "due_at": due}
        result.retrying += 1
    log.warning("stripe event row %s not applied (attempt %s): %s", event_id, attempts, error)
    _finish(event_id, token, attempts=attempts, last_error=error, **values)
    db.session.commit()


# ---- what merchants see ------------------------------------------------------------------------


def events_for(
    merchant: Merchant, *, status: str | None = None, limit: int = 100
) -> list[StripeEvent]:
    """The merchant's most recent Stripe events (optionally one status, e.g. ``dead``)."""
    query = sa.select(StripeEvent).where(StripeEvent.merchant_id == merchant.id)
    if status:
        query = query.where(StripeEvent.status == status)
    return list(db.session.scalars(query.order_by(StripeEvent.id.desc()).limit(limit)))


def counts(merchant: Merchant) -> dict[str, int]:
    return {
        status: number
        for status, number in db.session.execute(
            sa.select(StripeEvent.status, sa.func.count())
            .where(StripeEvent.merchant_id == merchant.id)
            .group_by(StripeEvent.status)
        )
    }


def rerun(merchant: Merchant, row_id: int, now: datetime | None = None) -> bool:
    """Give a dead or failed event a fresh set of attempts, due now (e.g. after fixing the key)."""
    changed = db.session.execute(
        sa.update(StripeEvent)
        .where(
            StripeEvent.id == row_id,
            StripeEvent.merchant_id == merchant.id,
            StripeEvent.status.in_(("dead", "failed")),
        )
        .values(status="received", attempts=0, due_at=now or utcnow(), last_error=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    db.session.commit()
    return changed == 1
