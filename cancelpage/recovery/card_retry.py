"""Retry a failed invoice the moment the customer fixes their card.

Triggered by ``payment_method.attached``, by ``customer.updated`` with a new default payment
method, and by the customer's return from the card-update portal session. Each (case, payment
method) is paid at most once: the idempotency key derives from both and a StripeWrite row keeps
the result beyond Stripe's 24 h key window, so the three triggers for one new card make one
``POST /v1/invoices/{id}/pay``. Paid closes the case as recovered; a decline is recorded and the
case, with its remaining emails, carries on (Stripe's own retries still run too).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import sqlalchemy as sa

from cancelpage.billing import Gateway, StripeRejected, StripeUnavailable
from cancelpage.extensions import db
from cancelpage.models import Merchant, RecoveryCase, StripeWrite

OPERATION = "invoice_pay"


@dataclass(frozen=True)
class Retry:
    """What one retry did: paid | declined | already | preview."""

    case: RecoveryCase
    result: str
    message: str = ""
    amount_paid: int = 0


def retry_key(case: RecoveryCase, payment_method: str) -> str:
    material = f"{OPERATION}|{case.merchant_id}|{case.id}|{payment_method}"
    return "cancelpage-pay-" + hashlib.sha256(material.encode()).hexdigest()[:40]


def open_cases_of_customer(merchant: Merchant, customer_id: str) -> list[RecoveryCase]:
    return list(
        db.session.scalars(
            sa.select(RecoveryCase)
            .where(
                RecoveryCase.merchant_id == merchant.id,
                RecoveryCase.customer_id == customer_id,
                RecoveryCase.kind == "payment_failed",
                RecoveryCase.status == "open",
                RecoveryCase.invoice_id.is_not(None),
            )
            .order_by(RecoveryCase.id)
            .with_for_update()
        )
    )


def retry(
    merchant: Merchant, gateway: Gateway | None, case: RecoveryCase, payment_method: str
) -> Retry:
    """Pay the case's invoice with ``payment_method`` unless this card was tried already.

    Adds rows to the session; the caller closes a paid case and commits (the worker
    with its event). A timeout raises StripeUnavailable: the same key is safe to send again.
    """
    key = retry_key(case, payment_method)
    row = db.session.scalar(sa.select(StripeWrite).where(StripeWrite.idempotency_key == key))
    if row is not None and row.status in ("succeeded", "failed"):
        return Retry(case, "already", row.error or "")
    if gateway is None:
        return Retry(case, "preview")
    if row is None:
        row = StripeWrite(
            merchant_id=merchant.id,
            idempotency_key=key,
            operation=OPERATION,
            preview=False,
            attempts=0,
        )
        db.session.add(row)
    row.attempts += 1
    db.session.flush()
    try:
        invoice = gateway.pay_invoice(
            case.invoice_id or "", payment_method=payment_method, idempotency_key=key
        )
    except StripeRejected as err:  # declined, or the invoice is no longer payable
        row.status, row.error = "failed", err.message[:1000]
        return Retry(case, "declined", err.message)
    except StripeUnavailable:
        row.status = "unknown"
        raise
    if invoice.status != "paid":
        row.status, row.error = "failed", f"invoice {invoice.status} after the retry"
        return Retry(case, "declined", row.error)
    row.status, row.error = "succeeded", None
    return Retry(case, "paid", amount_paid=invoice.amount_paid)


def summary(retries: list[Retry]) -> str:
    if not retries:
        return "no open failed invoice"
    return "; ".join(f"case {r.case.id} {r.result}" for r in retries)
