"""Recovery cases driven by Stripe events: failed payments (dunning), expiring cards, and
cancellations scheduled outside the cancel flow (one save email).

Handlers never trust the order events arrive in: they re-read the invoice, subscription or
customer from Stripe (preview mode: the event's own object) and act on what is true now. They
run in the worker (recovery/inbox.py) and only add rows to the session; the worker commits them
with the event's status, once.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cancelpage import analytics
from cancelpage.billing import (
    CardOnFile,
    CustomerView,
    Gateway,
    InvoiceView,
    SubscriptionView,
    WebhookEvent,
    card_from_source,
    gateway_for,
    id_of,
    invoice_view,
    subscription_view,
)
from cancelpage.extensions import db
from cancelpage.merchant_webhooks import events as merchant_events
from cancelpage.merchants import portal
from cancelpage.models import CancelSession, Merchant, RecoveryCase, StripeWrite, utcnow
from cancelpage.recovery import card_retry, emails, outbox, winback
from cancelpage.vocabulary import ENDED_STATUSES, RUNNING_STATUSES

# Our own cancel writes: a scheduled cancel seen within this window after one is ours.
OWN_CANCEL_WINDOW = timedelta(days=3)
OWN_CANCEL_OPERATIONS = ("cancel_at_period_end", "portal_cancel")


class Reader:
    """Reads the current state of an object: from Stripe (live) or from the event (preview)."""

    def __init__(self, merchant: Merchant, event: WebhookEvent) -> None:
        self.event = event
        self.gateway: Gateway | None = gateway_for(merchant) if merchant.live else None

    def invoice(self) -> InvoiceView:
        if self.gateway is None:
            return invoice_view(self.event.object)
        return self.gateway.read_invoice(str(self.event.object.get("id")))

    def subscription(self, subscription_id: str) -> SubscriptionView | None:
        if self.gateway is not None:
            return self.gateway.read_subscription_status(subscription_id)
        obj = self.event.object
        if obj.get("object") == "subscription" and obj.get("id") == subscription_id:
            return subscription_view(obj)
        return None  # preview mode knows only what the event carries

    def customer(self, customer_id: str) -> CustomerView | None:
        return self.gateway.read_customer(customer_id) if self.gateway is not None else None


# ---- cases -----------------------------------------------------------------------------------


def find_case(merchant: Merchant, kind: str, ref: str) -> RecoveryCase | None:
    return db.session.scalar(
        sa.select(RecoveryCase)
        .where(
            RecoveryCase.merchant_id == merchant.id,
            RecoveryCase.kind == kind,
            RecoveryCase.ref == ref,
        )
        .with_for_update()
    )


def open_case(merchant: Merchant, kind: str, ref: str, **fields: Any) -> tuple[RecoveryCase, bool]:
    """The case for (merchant, kind, ref), created if new; a race ends in an IntegrityError
    that the worker answers by running the event again."""
    case = find_case(merchant, kind, ref)
    if case is not None:
        return case, False
    case = RecoveryCase(merchant_id=merchant.id, kind=kind, ref=ref, status="open", **fields)
    case.opened_at = utcnow()
    db.session.add(case)
    db.session.flush()
    return case, True


def close(
    case: RecoveryCase, status: str, reason: str, amount_recovered: int | None = None
) -> None:
    """End a case and cancel the rest of its emails."""
    case.status = status
    case.close_reason = reason
    case.closed_at = utcnow()
    if amount_recovered is not None:
        case.amount_recovered = amount_recovered
    outbox.cancel_pending(case, reason)
    merchant_events.case_closed(case)


def open_cases_of(
    merchant: Merchant, subscription_id: str, kind: str | None = None
) -> list[RecoveryCase]:
    query = sa.select(RecoveryCase).where(
        RecoveryCase.merchant_id == merchant.id,
        RecoveryCase.subscription_id == subscription_id,
        RecoveryCase.status == "open",
    )
    if kind is not None:
        query = query.where(RecoveryCase.kind == kind)
    return list(db.session.scalars(query.with_for_update()))


# ---- failed payments -------------------------------------------------------------------------


def on_payment_failed(merchant: Merchant, reader: Reader) -> str:
    """Open one case per invoice and schedule the merchant's sequence of emails."""
    invoice = reader.invoice()
    if invoice.status != "open" or invoice.amount_remaining <= 0:
        return f"invoice {invoice.status}: nothing to recover"
    sub = reader.subscription(invoice.subscription) if invoice.subscription else None
    if sub is not None and sub.status in ENDED_STATUSES:
        return "subscription already ended"
    if sub is not None and sub.status == "incomplete":
        return "first payment of a new subscription: the customer is still signing up"
    case, created = open_case(
        merchant,
        "payment_failed",
        invoice.id,
        customer_id=invoice.customer,
        subscription_id=invoice.subscription,
        invoice_id=invoice.id,
        amount_due=invoice.amount_remaining,
        currency=invoice.currency,
    )
    if not created:
        return f"case {case.id} already {case.status}"
    email = invoice.customer_email or (sub.customer_email if sub else None)
    locale = emails.choose_locale(
        invoice.preferred_locales or (sub.preferred_locales if sub else ()), merchant
    )
    days = emails.dunning_days(merchant)
    for step, day in enumerate(days, start=1):
        outbox.queue(
            merchant,
            kind=f"dunning_{step}",
            dedupe_key=f"case:{case.id}:dunning_{step}",
            to_address=email,
            customer_id=invoice.customer,
            locale=locale,
            data={
                "amount": invoice.amount_remaining,
                "currency": invoice.currency,
                "final": step == len(days) and step > 1,
                "due_since": int(case.opened_at.timestamp()),
            },
            case=case,
            due_at=case.opened_at + timedelta(days=day),
        )
    return f"case {case.id} opened, {len(days)} emails scheduled"


def on_invoice_paid(merchant: Merchant, reader: Reader) -> str:
    """A paid invoice closes its case as recovered and stops the sequence."""
    invoice = reader.invoice()
    if invoice.status != "paid":
        return f"invoice {invoice.status}: not paid yet"
    won = winback_redeemed_by(merchant, reader, invoice)
    case = find_case(merchant, "payment_failed", invoice.id)
    if case is None or case.status != "open":
        return f"{won} win-back case(s) redeemed" if won else "no open case"
    close(case, "recovered", "invoice paid", amount_recovered=invoice.amount_paid)
    return f"case {case.id} recovered"


def retry_with_card(
    merchant: Merchant, gateway: Gateway | None, customer_id: str, payment_method: str | None
) -> list[card_retry.Retry]:
    """Retry each open failed invoice of the customer with their new payment method."""
    if not payment_method:
        return []
    retries = [
        card_retry.retry(merchant, gateway, case, payment_method)
        for case in card_retry.open_cases_of_customer(merchant, customer_id)
    ]
    for done in retries:
        if done.result == "paid":
            close(done.case, "recovered", "paid after card update", done.amount_paid)
    return retries


def on_payment_method_attached(merchant: Merchant, reader: Reader) -> str:
    """A card added to a customer with an unpaid invoice: pay it with that card, now."""
    method = reader.event.object
    customer = id_of(method.get("customer"))
    if customer is None:
        return "not attached to a customer"
    retries = retry_with_card(merchant, reader.gateway, customer, id_of(method.get("id")))
    return card_retry.summary(retries)


def on_customer_updated(merchant: Merchant, reader: Reader) -> str:
    """A new default payment method: pay the customer's unpaid invoices with it, now."""
    before = reader.event.previous_attributes.get("invoice_settings")
    if not isinstance(before, dict) or "default_payment_method" not in before:
        return "no new default payment method"
    customer_id = str(reader.event.object.get("id"))
    customer = reader.customer(customer_id)
    settings = reader.event.object.get("invoice_settings") or {}
    method = (
        customer.default_payment_method
        if customer is not None
        else id_of(settings.get("default_payment_method"))
    )
    if method is None or method == id_of(before.get("default_payment_method")):
        return "no new default payment method"
    return card_retry.summary(retry_with_card(merchant, reader.gateway, customer_id, method))


def winback_redeemed_by(merchant: Merchant, reader: Reader, invoice: InvoiceView) -> int:
    """A paid invoice carrying a customer's win-back code: read its discounts only then."""
    if not winback.has_open_codes(merchant, invoice.customer):
        return 0
    if reader.gateway is not None:
        invoice = reader.gateway.read_invoice(invoice.id, with_discounts=True)
    return close_redeemed(merchant, invoice.customer, invoice.promotion_codes)


def on_invoice_given_up(merchant: Merchant, reader: Reader) -> str:
    """A voided or uncollectible invoice will not be paid: the case is lost."""
    invoice = reader.invoice()
    if invoice.status not in ("void", "uncollectible"):
        return f"invoice {invoice.status}: case unchanged"
    case = find_case(merchant, "payment_failed", invoice.id)
    if case is None or case.status != "open":
        return "no open case"
    close(case, "lost", f"invoice {invoice.status}")
    return f"case {case.id} lost"


def on_subscription_deleted(merchant: Merchant, reader: Reader) -> str:
    """The subscription has ended (deletion is final): every open case for it is lost."""
    subscription_id = str(reader.event.object.get("id"))
    record_status(merchant, reader, subscription_id, "canceled")
    cases = [c for c in open_cases_of(merchant, subscription_id) if c.kind != winback.KIND]
    for case in cases:
        close(case, "lost", "subscription ended")
    outcome = f"{len(cases)} case(s) lost"
    note = schedule_winback(merchant, reader, subscription_id)
    return outcome if note is None else f"{outcome}; {note}"


def schedule_winback(merchant: Merchant, reader: Reader, subscription_id: str) -> str | None:
    """Win-back after a customer-chosen end, when the merchant has it on (None: off)."""
    if not merchant.winback:
        return None
    sub = reader.subscription(subscription_id)
    refused = winback.why_not(merchant, sub)
    if refused is not None or sub is None:
        return refused
    case, created = open_case(
        merchant, winback.KIND, sub.id, customer_id=sub.customer, subscription_id=sub.id
    )
    if not created:
        return f"win-back case {case.id} already {case.status}"
    data, due, note = winback.email_for(merchant, reader.gateway, case, sub, reader.event.created)
    _queue_email(merchant, case, emails.WINBACK, sub, data, due_at=due)
    return note


def close_redeemed(merchant: Merchant, customer_id: str, codes: tuple[str, ...]) -> int:
    cases = winback.redeemed_cases(merchant, customer_id, codes)
    for case in cases:
        close(case, "recovered", "promotion code redeemed")
    return len(cases)


def on_discount_created(merchant: Merchant, reader: Reader) -> str:
    """A customer used a promotion code: a win-back code counts as won back."""
    discount = reader.event.object
    code = id_of(discount.get("promotion_code"))
    customer = id_of(discount.get("customer"))
    if code is None or customer is None:
        return "no promotion code"
    return f"{close_redeemed(merchant, customer, (code,))} win-back case(s) redeemed"


def record_status(merchant: Merchant, reader: Reader, subscription_id: str, status: str) -> None:
    """Feed the status history that retention analytics reads (repeats are ignored)."""
    changed_at = datetime.fromtimestamp(reader.event.created, UTC)
    analytics.record_subscription_status(merchant.id, subscription_id, status, changed_at)


# ---- cancel intent ---------------------------------------------------------------------------


def caused_by_us(merchant: Merchant, subscription_id: str) -> bool:
    """Did a cancel-flow session schedule this cancel (or hand the customer to the portal)?"""
    since = utcnow() - OWN_CANCEL_WINDOW
    found = db.session.scalar(
        sa.select(StripeWrite.id)
        .join(CancelSession, StripeWrite.session_id == CancelSession.id)
        .where(
            CancelSession.merchant_id == merchant.id,
            CancelSession.subscription_id == subscription_id,
            StripeWrite.operation.in_(OWN_CANCEL_OPERATIONS),
            # pending/unknown too: the webhook may beat our own bookkeeping of the write.
            StripeWrite.status.in_(("succeeded", "pending", "unknown")),
            StripeWrite.created_at >= since,
        )
        .limit(1)
    )
    return found is not None


def on_subscription_updated(merchant: Merchant, reader: Reader) -> str:
    """A cancel scheduled outside the flow gets one save email; an undone one closes the case."""
    changed = reader.event.previous_attributes
    if changed and not {"cancel_at_period_end", "cancel_at", "status"} & changed.keys():
        return "no change to the cancellation"
    sub = reader.subscription(str(reader.event.object.get("id")))
    if sub is None:
        return "subscription unknown"
    record_status(merchant, reader, sub.id, sub.status)
    if not sub.cancel_at_period_end or sub.status in ENDED_STATUSES:
        outcome = "lost" if sub.status in ENDED_STATUSES else "kept"
        cases = open_cases_of(merchant, sub.id, "cancel_intent")
        for case in cases:
            close(case, outcome, "subscription ended" if outcome == "lost" else "cancel undone")
        return f"not scheduled to cancel; {len(cases)} case(s) {outcome}"
    if sub.status not in RUNNING_STATUSES:
        return f"subscription {sub.status}: no save email"
    if caused_by_us(merchant, sub.id):
        return "scheduled by a cancelpage session: no save email"
    ends_at = sub.cancel_at or sub.current_period_end or 0
    case, created = open_case(
        merchant,
        "cancel_intent",
        f"{sub.id}:{ends_at}",
        customer_id=sub.customer,
        subscription_id=sub.id,
    )
    if not created:
        return f"case {case.id} already {case.status}"
    _queue_email(merchant, case, "save", sub, {"ends_at": ends_at})
    return f"case {case.id} opened, save email queued"


def _queue_email(
    merchant: Merchant,
    case: RecoveryCase,
    kind: str,
    customer: SubscriptionView | CardOnFile,
    data: dict[str, Any],
    due_at: datetime | None = None,
) -> None:
    """The case's one email of this kind, to the customer in their language."""
    outbox.queue(
        merchant,
        kind=kind,
        dedupe_key=f"case:{case.id}:{kind}",
        to_address=customer.customer_email,
        customer_id=customer.customer,
        locale=emails.choose_locale(customer.preferred_locales, merchant),
        data=data,
        case=case,
        due_at=due_at,
    )


# ---- expiring cards --------------------------------------------------------------------------


def queue_card_expiring(merchant: Merchant, card: CardOnFile) -> bool:
    """One pre-expiry email per card and expiry month; True if newly queued."""
    case, created = open_case(
        merchant,
        "card_expiring",
        f"{card.payment_method}:{card.exp_year:04d}-{card.exp_month:02d}",
        customer_id=card.customer,
        subscription_id=card.subscription,
    )
    if not created:
        return False
    _queue_email(
        merchant,
        case,
        "card_expiring",
        card,
        {
            "brand": card.brand,
            "last4": card.last4,
            "exp_month": card.exp_month,
            "exp_year": card.exp_year,
        },
    )
    return True


def on_source_expiring(merchant: Merchant, reader: Reader) -> str:
    """Stripe's own notice for cards attached as sources: the same pre-expiry email."""
    card = card_from_source(reader.event.object)
    if card is None:
        return "not a card"
    customer = reader.customer(card.customer)
    if reader.gateway is not None:
        if customer is None or customer.deleted or customer.live_subscription is None:
            return "no running subscription"
        card = dataclasses.replace(
            card,
            subscription=customer.live_subscription,
            customer_email=customer.email,
            preferred_locales=customer.preferred_locales,
        )
    return "card email queued" if queue_card_expiring(merchant, card) else "card email exists"


def next_month(today: date) -> tuple[int, int]:
    return (today.year + 1, 1) if today.month == 12 else (today.year, today.month + 1)


@dataclass
class ScanResult:
    subscriptions: int = 0
    expiring: int = 0
    queued: int = 0


def scan_cards(
    merchant: Merchant, cards: Iterable[CardOnFile], today: date, *, commit_every: int = 100
) -> Iterator[ScanResult]:
    """Queue a pre-expiry email for each default card that expires next month.

    Yields the running totals after each card (for a progress bar) and commits as it goes,
    so a long scan keeps its work if interrupted and never holds every subscription in memory.
    """
    year, month = next_month(today)
    result = ScanResult()
    for card in cards:
        result.subscriptions += 1
        if (card.exp_year, card.exp_month) == (year, month):
            result.expiring += 1
            result.queued += queue_card_expiring(merchant, card)
        if result.subscriptions % commit_every == 0:
            db.session.commit()
        yield result
    db.session.commit()


# ---- dispatch --------------------------------------------------------------------------------

HANDLERS: dict[str, Callable[[Merchant, Reader], str]] = {
    "invoice.payment_failed": on_payment_failed,
    "invoice.paid": on_invoice_paid,
    # Some senders (and older integrations) only announce payment_succeeded.
    "invoice.payment_succeeded": on_invoice_paid,
    "invoice.voided": on_invoice_given_up,
    "invoice.marked_uncollectible": on_invoice_given_up,
    "customer.subscription.deleted": on_subscription_deleted,
    "customer.subscription.updated": on_subscription_updated,
    "customer.source.expiring": on_source_expiring,
    # Someone edited a portal configuration: note what drifted from cancelpage's own.
    "billing_portal.configuration.updated": portal.on_configuration_updated,
    "payment_method.attached": on_payment_method_attached,
    "customer.updated": on_customer_updated,
    "customer.discount.created": on_discount_created,
}


def summary(merchant: Merchant) -> dict[str, Any]:
    """Cases by kind and status, and the amounts recovered per currency."""
    counts: dict[str, dict[str, int]] = {}
    for kind, status, number in db.session.execute(
        sa.select(RecoveryCase.kind, RecoveryCase.status, sa.func.count())
        .where(RecoveryCase.merchant_id == merchant.id)
        .group_by(RecoveryCase.kind, RecoveryCase.status)
    ):
        counts.setdefault(kind, {})[status] = number
    recovered = {
        currency: amount
        for currency, amount in db.session.execute(
            sa.select(RecoveryCase.currency, sa.func.sum(RecoveryCase.amount_recovered))
            .where(RecoveryCase.merchant_id == merchant.id, RecoveryCase.status == "recovered")
            .group_by(RecoveryCase.currency)
        )
    }
    return {"cases": counts, "recovered": recovered}
