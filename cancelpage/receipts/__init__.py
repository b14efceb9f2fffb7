"""Receipts: after every outcome of a cancel session, one email in the customer's language with
the merchant's branding and copy: what changed, from when, until when, the amounts in the
subscription's currency, and for a scheduled cancel a signed "keep my subscription" link valid
until the end.

Queued where the outcome is recorded (cancel_sessions.writes._finished), in the same
transaction, under one dedupe key per session outcome: a redelivered webhook, a second tab or a
worker that crashed after sending never makes a second row. The facts are stored as the engine's
messages (flows.terms, the same money and dates the page showed) and said in the customer's
language when the worker sends the email.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime
from typing import Any

from flask import current_app

from cancelpage import flows, i18n, links
from cancelpage.cancel_sessions.opening import flow_of, record, snapshot_of
from cancelpage.extensions import db
from cancelpage.i18n.formats import render
from cancelpage.merchants import vault
from cancelpage.models import CancelSession, Merchant, OutboxEmail, StripeWrite, utcnow
from cancelpage.recovery import emails, outbox

CANCELED = "receipt_canceled"  # at the end of the period: carries the keep link
CANCELED_NOW = "receipt_canceled_now"
DISCOUNT = "receipt_discount"
PAUSED = "receipt_paused"
SWITCHED = "receipt_switched"
FREE_PERIOD = "receipt_free_period"
KEPT = "receipt_kept"  # a scheduled cancel undone
KINDS = (CANCELED, CANCELED_NOW, DISCOUNT, PAUSED, SWITCHED, FREE_PERIOD, KEPT)
CANCELS = (CANCELED, CANCELED_NOW)
# The offer kinds whose acceptance changes the subscription, and the receipt each gets (a
# contact or link offer changes nothing: no receipt).
BY_OFFER_KIND = {
    "discount": DISCOUNT,
    "pause": PAUSED,
    "switch_plan": SWITCHED,
    "free_period": FREE_PERIOD,
}


def kind_for(session: CancelSession, operation: str) -> str | None:
    """The receipt an outcome gets (None: nothing changed, or the portal took over)."""
    outcome = session.outcome
    if outcome == "canceled":
        return CANCELED_NOW if operation == "cancel_now" else CANCELED
    if outcome == "accepted":
        return BY_OFFER_KIND.get(str(session.outcome_detail.get("kind")))
    if outcome in ("kept", "undone") and operation == "undo_cancel":
        return KEPT
    return None


def required(session: CancelSession, kind: str) -> bool:
    """Whether the customer's compliance profile requires this receipt (the merchant's switch
    cannot turn it off)."""
    return flows.profile(session.compliance_profile).receipt_required and kind in CANCELS


def declared_at(session: CancelSession, kind: str) -> datetime:
    """When the customer made the choice: the first attempt of its write (a retried write is
    the same declaration; an undo is a declaration of its own), else when the outcome was
    recorded."""
    undo = StripeWrite.operation == "undo_cancel"
    first = db.session.scalar(
        db.select(StripeWrite.created_at)
        .where(
            StripeWrite.session_id == session.id,
            StripeWrite.intent.is_not(None),
            undo if kind == KEPT else ~undo,
        )
        .order_by(StripeWrite.id)
        .limit(1)
    )
    return first or session.completed_at or utcnow()


def queue_for(session: CancelSession, operation: str) -> OutboxEmail | None:
    """Queue the receipt of the session's outcome, once (in the caller's transaction)."""
    kind = kind_for(session, operation)
    if kind is None or session.preview:
        return None
    merchant = session.merchant
    if not merchant.receipts_enabled and not required(session, kind):
        record(session, "receipt_off", receipt=kind)
        return None
    row = outbox.queue(
        merchant,
        kind=kind,
        dedupe_key=f"receipt:{session.id}:{session.outcome}",
        to_address=vault.decrypt(session.contact_encrypted) if session.contact_encrypted else None,
        customer_id=session.customer_id,
        locale=locale_of(session),
        data=facts(session, kind),
    )
    if row is not None:
        record(session, "receipt_queued", receipt=kind, email=row.id, status=row.status)
    return row


def locale_of(session: CancelSession) -> str:
    """The customer's language: the page's (link or chosen), else Stripe's, else the default."""
    return i18n.supported(session.locale) or emails.choose_locale(
        tuple(session.snapshot.get("preferred_locales") or ()), session.merchant
    )


def facts(session: CancelSession, kind: str) -> dict[str, Any]:
    """What the receipt states, as plain values and the engine's messages (said at send time)."""
    snapshot = snapshot_of(session)
    declared = declared_at(session, kind)
    data: dict[str, Any] = {
        "session": session.id,
        "outcome": session.outcome,
        "profile": session.compliance_profile,
        "declared_at": int(declared.timestamp()),
        "subscription": to_json(flows.subscription_line(_after(kind, snapshot))),
    }
    detail = session.outcome_detail
    if kind in CANCELS:
        data["ends_at"] = int(detail.get("ends_at") or declared.timestamp())
        if kind == CANCELED and detail.get("ends_at"):
            data["keep_until"] = int(detail["ends_at"])
    offer = flow_of(session).offers.get(session.accepted_offer or "")
    if offer is not None and kind in (DISCOUNT, PAUSED, SWITCHED, FREE_PERIOD):
        terms = flows.offer_terms(offer, snapshot, declared)
        data["change"] = to_json(terms) if terms is not None else None
        data["title"] = offer.title
        for key in ("resumes_at", "free_until"):
            if detail.get(key):
                data[key] = int(detail[key])
    return data


def _after(kind: str, snapshot: flows.Snapshot) -> flows.Snapshot:
    """The subscription as the outcome left it, for its one line (offers: as it was, the
    change is stated beside it)."""
    if kind == CANCELED:
        return dataclasses.replace(snapshot, cancel_at_period_end=True)
    if kind == CANCELED_NOW:
        return dataclasses.replace(snapshot, period_end=None)
    if kind == KEPT:
        return dataclasses.replace(snapshot, cancel_at_period_end=False)
    return snapshot


# ---- the engine's messages as JSON -----------------------------------------------------------


def to_json(message: flows.Message) -> dict[str, Any]:
    return {
        "text": message.text,
        "plural": message.plural,
        "count": message.count,
        "values": {name: _value_json(value) for name, value in message.values.items()},
    }


def _value_json(value: Any) -> Any:
    if isinstance(value, flows.Money):
        return {"money": [value.amount, value.currency]}
    if isinstance(value, flows.Percent):
        return {"percent": value.value}
    if isinstance(value, flows.Day):
        return {"day": value.timestamp}
    if isinstance(value, flows.Message):
        return {"message": to_json(value)}
    return value


def from_json(data: dict[str, Any]) -> flows.Message:
    return flows.Message(
        str(data["text"]),
        data.get("plural"),
        data.get("count"),
        {name: _value_of(value) for name, value in (data.get("values") or {}).items()},
    )


def _value_of(value: Any) -> Any:
    if isinstance(value, dict):
        if "money" in value:
            return flows.Money(int(value["money"][0]), str(value["money"][1]))
        if "percent" in value:
            return flows.Percent(float(value["percent"]))
        if "day" in value:
            return flows.Day(int(value["day"]))
        if "message" in value:
            return from_json(value["message"])
    return value


# ---- rendering (in the worker, in the row's language) ----------------------------------------


def said(data: dict[str, Any], key: str, locale: str) -> str:
    message = data.get(key)
    return render(from_json(message), locale) if isinstance(message, dict) else ""


def keep_url(merchant: Merchant, row: OutboxEmail) -> str | None:
    """The signed "keep my subscription" link of a scheduled cancel's receipt (signed now)."""
    until = row.data.get("keep_until")
    session = db.session.get(CancelSession, int(row.data.get("session") or 0))
    if not until or session is None or int(until) <= int(utcnow().timestamp()):
        return None
    token = links.sign_keep(
        merchant=merchant.slug,
        customer=session.customer_id,
        subscription=session.subscription_id,
        session_id=session.id,
        until=int(until),
        secrets_oldest_first=merchant.link_secrets,
    )
    return links.link_url(str(current_app.config["PUBLIC_BASE_URL"]), token, "keep")


def sent(row: OutboxEmail) -> None:
    """The trail hears that the receipt went out (committed with the row's "sent")."""
    session = db.session.get(CancelSession, int(row.data.get("session") or 0))
    if session is not None:
        record(session, "emailed", receipt=row.kind, email=row.id)
