"""(d) Stripe webhook ingestion under gunicorn (2 workers, 127.0.0.1): signed events with new
ids per second, and duplicate deliveries (an event id already stored) per second, each against
/healthz (a hello-world route of the same app) in the same run, printed as a ratio.

    python bench/webhook_ingest.py [--seconds 5] [--clients 4]
SQLite in a temporary folder unless DATABASE_URL is set. Target: new events ratio >= 0.3.

Each client repeats a cycle of four events for a new customer: invoice.payment_failed (opens a
case, queues the dunning emails), customer.subscription.updated scheduling a cancel (opens a
case, queues the save email), invoice.paid (recovers the first case, cancels its emails) and
customer.subscription.updated undoing the cancel (closes the second case). The merchant is in
preview mode (no Stripe key), so handlers act on the event's own object: nothing is read from
Stripe.
"""

from __future__ import annotations

import argparse
import os
import re
import secrets
import sys
import tempfile
import time
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _setup import ROOT, Request, Source, bench_app, gunicorn, rate
from flask import Flask

from cancelpage.extensions import db
from cancelpage.merchants.secrets import add_webhook_secret
from cancelpage.merchants.store import by_slug
from cancelpage.models import OutboxEmail, RecoveryCase, StripeEvent

sys.path.insert(0, str(ROOT / "tests"))
from support import recovery_support as rs
from support import stripe_support as ss

SECRET = "whsec_bench_webhook_secret"
PATH = "/webhooks/stripe/acme"


def signed(body: dict[str, Any]) -> Request:
    """A delivery as Stripe makes it: the raw JSON body, signed now."""
    raw, header = ss.signed_webhook(body, secret=SECRET, timestamp=int(time.time()))
    headers = {"Content-Type": "application/json; charset=utf-8", "Stripe-Signature": header}
    return ("POST", PATH, raw, headers)


def updated(sub: dict[str, Any], cancel: bool) -> dict[str, Any]:
    """customer.subscription.updated for a cancel scheduled (True) or undone (False)."""
    obj = ss.subscription(**sub, cancel_at_period_end=cancel)
    changed = {"cancel_at_period_end": not cancel}
    return ss.event(
        "customer.subscription.updated", obj, data={"object": obj, "previous_attributes": changed}
    )


def cycle(tag: str, k: int) -> list[dict[str, Any]]:
    """Customer k's four events, each with its own id."""
    invoice_id, sub_id, customer_id = f"in_{tag}{k:06d}", f"sub_{tag}{k:06d}", f"cus_{tag}{k:06d}"
    invoice = {
        "id": invoice_id,
        "customer": customer_id,
        "customer_email": f"{customer_id}@example.com",
        "parent": {
            "type": "subscription_details",
            "quote_details": None,
            "subscription_details": {"metadata": {}, "subscription": sub_id},
        },
    }
    # As in real events, the customer is an id (not expanded).
    sub = {
        "id": sub_id,
        "customer": customer_id,
        "items": {
            "object": "list",
            "data": [ss.subscription_item(subscription=sub_id)],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={sub_id}",
        },
    }
    events = [
        ss.event("invoice.payment_failed", rs.invoice(**invoice)),
        updated(sub, cancel=True),
        ss.event("invoice.paid", rs.paid_invoice(**invoice)),
        updated(sub, cancel=False),
    ]
    now = int(time.time())
    return [{**e, "id": f"evt_{tag}{k:06d}{n}", "created": now} for n, e in enumerate(events)]


class NewEvents:
    """One client's deliveries: customer after customer, each event once (ids never repeat)."""

    def __init__(self) -> None:
        self.pending: list[dict[str, Any]] = []
        self.tag = ""
        self.customers = 0

    def __call__(self) -> Request:
        if not self.tag:  # set in the client process: every copy of this source has its own
            self.tag = secrets.token_hex(5)
        if not self.pending:
            self.pending = cycle(self.tag, self.customers)
            self.customers += 1
        return signed(self.pending.pop(0))


class Redelivery:
    """One client's deliveries of one event, again and again (Stripe retrying, or replaying)."""

    def __init__(self, client: int) -> None:
        self.body = cycle(f"dup{client}", 0)[0]

    def __call__(self) -> Request:
        return signed(self.body)


def stored(app: Flask) -> tuple[int, Counter[str], Counter[str], Counter[str]]:
    """Events stored; their outcomes (digits as #); cases by kind and status; emails by status."""
    with app.app_context():
        events = db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) or 0
        outcomes = Counter(
            re.sub(r"\d+", "#", outcome)
            for outcome in db.session.scalars(sa.select(StripeEvent.outcome))
        )
        cases = Counter(
            f"{kind} {status}"
            for kind, status in db.session.execute(
                sa.select(RecoveryCase.kind, RecoveryCase.status)
            )
        )
        emails = Counter(db.session.scalars(sa.select(OutboxEmail.status)))
        db.session.remove()
    return events, outcomes, cases, emails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        app = bench_app(workdir)
        with app.app_context():
            merchant = by_slug("acme")
            assert merchant is not None
            assert not merchant.live
            add_webhook_secret(merchant, SECRET)
            db.session.commit()
            db.session.remove()
        hello: Request = ("GET", "/healthz", None, {})
        engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
        print(f"(d) webhook ingestion: gunicorn, 2 sync workers, {args.clients} clients, {engine}")
        with gunicorn(workdir) as port, ProcessPoolExecutor(args.clients) as pool:
            scenarios: dict[str, list[Source]] = {
                "new events": [NewEvents() for _ in range(args.clients)],
                "duplicate deliveries": [Redelivery(c) for c in range(args.clients)],
            }
            sent: dict[str, int] = {}
            for name, sources in scenarios.items():
                base, _ = rate(pool, port, [hello] * args.clients, args.seconds)
                measured, sent[name] = rate(pool, port, sources, args.seconds)
                ratio = measured / base
                target = "   (target >= 0.3: {})".format("ok" if ratio >= 0.3 else "MISSED")
                print(
                    f"    {name:22} {measured:8.0f} events/s   /healthz {base:8.0f} req/s"
                    f"   ratio {ratio:.2f}{target if name == 'new events' else ''}"
                )
        events, outcomes, cases, emails = stored(app)
        expected = sent["new events"] + args.clients
        print(
            f"    stored {events} events for {sent['new events']} new events and"
            f" {sent['duplicate deliveries']} deliveries of {args.clients} events"
            f" ({'ok' if events == expected else f'WRONG: expected {expected}'})"
        )
        for outcome, count in sorted(outcomes.items()):
            print(f"      {count:7} x {outcome}")
        print("    cases: " + ", ".join(f"{n} {kind}" for kind, n in sorted(cases.items())))
        print("    emails: " + ", ".join(f"{n} {status}" for status, n in sorted(emails.items())))
        if events != expected:
            raise SystemExit("events were lost or stored twice")


if __name__ == "__main__":
    main()
