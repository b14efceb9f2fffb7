"""(d) Stripe webhook acknowledgement under gunicorn (the project's gunicorn.conf.py, 2 workers,
127.0.0.1, rate limits on in Redis at 127.0.0.1:6379 as production runs them): signed events
with new ids per second, and duplicate deliveries (an event id already stored) per second, each
against hello (bench/hello_app.py, a one-line Flask app on the same gunicorn settings), in
interleaved rounds, printed as ratios (min / median / max).

    python bench/webhook_ingest.py [--seconds 5] [--clients 4] [--rounds 3]
SQLite in a temporary folder unless DATABASE_URL is set. Target: new events >= 0.5x hello on
PostgreSQL. The request only verifies and stores; afterwards one worker pass (recovery/inbox.py,
in this process) applies every stored event, and the bench prints what the events did, so the
acknowledged events are checked to be the whole work, each once.

Each client repeats a cycle of four events for a new customer: invoice.payment_failed (opens a
case, queues the dunning emails), customer.subscription.updated scheduling a cancel (opens a
case, queues the save email), invoice.paid (recovers the first case, cancels its emails) and
customer.subscription.updated undoing the cancel (closes the second case). The merchant is in
preview mode (no Stripe key), so handlers act on the event's own object: nothing is read from
Stripe. The memory of the gunicorn workers is sampled before and after the rounds.
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
from _setup import (
    ROOT,
    Request,
    Source,
    bench_app,
    figure,
    gunicorn,
    rate,
    rss,
    spread,
    worker_pids,
)
from flask import Flask

from cancelpage.extensions import db
from cancelpage.merchants.secrets import add_webhook_secret
from cancelpage.merchants.store import by_slug
from cancelpage.models import OutboxEmail, RecoveryCase, StripeEvent
from cancelpage.recovery import inbox

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


def applied(app: Flask) -> tuple[int, float, Counter[str], Counter[str], Counter[str]]:
    """One worker pass over the stored events (its events/s); then the events stored, their
    outcomes (digits as #), cases by kind and status, emails by status."""
    with app.app_context():
        started = time.perf_counter()
        result = inbox.drain()
        seconds = time.perf_counter() - started
        events = db.session.scalar(sa.select(sa.func.count()).select_from(StripeEvent)) or 0
        outcomes = Counter(
            re.sub(r"\d+", "#", f"{status}: {outcome}")
            for status, outcome in db.session.execute(
                sa.select(StripeEvent.status, StripeEvent.outcome)
            )
        )
        cases = Counter(
            f"{kind} {status}"
            for kind, status in db.session.execute(
                sa.select(RecoveryCase.kind, RecoveryCase.status)
            )
        )
        emails = Counter(db.session.scalars(sa.select(OutboxEmail.status)))
        db.session.remove()
    return events, result.handled / max(seconds, 1e-9), outcomes, cases, emails


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
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
        hello: Request = ("GET", "/", None, {})
        engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
        print(
            f"(d) webhook acknowledgement: gunicorn, 2 sync workers, {args.clients} clients,"
            f" {engine}, rate limits on (Redis), {args.rounds} interleaved rounds of"
            f" {args.seconds:g} s"
        )
        ratios: dict[str, list[float]] = {"new events": [], "duplicate deliveries": []}
        rates: dict[str, list[float]] = {"hello": [], **{name: [] for name in ratios}}
        sent = {name: 0 for name in ratios}
        with (
            gunicorn(workdir, app="hello_app:app") as hello_port,
            gunicorn(workdir) as port,
            ProcessPoolExecutor(args.clients) as pool,
        ):
            rss_before = sum(rss(pid) for pid in worker_pids(port))
            for round_ in range(args.rounds):
                scenarios: dict[str, list[Source]] = {
                    "new events": [NewEvents() for _ in range(args.clients)],
                    "duplicate deliveries": [
                        Redelivery(round_ * args.clients + c) for c in range(args.clients)
                    ],
                }
                for name, sources in scenarios.items():
                    base, _ = rate(pool, hello_port, [hello] * args.clients, args.seconds)
                    measured, count = rate(pool, port, sources, args.seconds)
                    sent[name] += count
                    rates["hello"].append(base)
                    rates[name].append(measured)
                    ratios[name].append(measured / base)
            rss_after = sum(rss(pid) for pid in worker_pids(port))
        print(f"    hello                   {spread(rates['hello'], 0)} req/s")
        engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
        for name, values in ratios.items():
            print(f"    {name:22}  {spread(rates[name], 0)} events/s")
            # The target is PostgreSQL's; SQLite's single writer is shown without one.
            target = 0.5 if name == "new events" and engine == "PostgreSQL" else None
            figure(f"(d) webhook {name} / hello, {engine}", values, target, "x")
        print(
            f"    gunicorn workers' RSS: {rss_before / 2**20:.1f} MB before,"
            f" {rss_after / 2**20:.1f} MB after {sum(sent.values()):,} requests"
        )
        events, per_second, outcomes, cases, emails = applied(app)
        expected = sent["new events"] + args.clients * args.rounds
        print(
            f"    stored {events} events for {sent['new events']} new events and"
            f" {sent['duplicate deliveries']} deliveries of {args.clients * args.rounds} events"
            f" ({'ok' if events == expected else f'WRONG: expected {expected}'});"
            f" one worker pass applied them at {per_second:.0f} events/s"
        )
        for outcome, count in sorted(outcomes.items()):
            print(f"      {count:7} x {outcome}")
        print("    cases: " + ", ".join(f"{n} {kind}" for kind, n in sorted(cases.items())))
        print("    emails: " + ", ".join(f"{n} {status}" for status, n in sorted(emails.items())))
        if events != expected:
            raise SystemExit("events were lost or stored twice")


if __name__ == "__main__":
    main()
