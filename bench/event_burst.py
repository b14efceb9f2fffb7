"""(d) A renewal run's burst: N stored Stripe events (invoice.payment_failed, each for its own
invoice) applied by 1, 2 and 4 worker processes against a local Stripe-shaped server on 127.0.0.1
that answers every request after 200 ms, as Stripe's latency is; events/s and how they grow with
workers, in interleaved rounds (min / median / max), and each worker's memory.

    python bench/event_burst.py [--events 100000] [--workers 1,2,4] [--rounds 1] [--threads 32]
SQLite in a temporary folder unless DATABASE_URL is set (PostgreSQL is what several workers are
for: SQLite has one writer). CI smokes it with ``--events 200``.

Each event makes the worker read the invoice and its subscription from the server (two requests,
400 ms) and open a case with its dunning emails (days 3 and 7: none due during the run). Workers
are ``flask --app cancelpage worker --threads T`` processes, claiming events in batches with
``FOR UPDATE SKIP LOCKED`` (PostgreSQL) like any number of workers on any hosts. After each run
the bench checks that every event was applied exactly once (one case, two emails each).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from _setup import ROOT, SECRET_KEY, bench_app, database_url, figure, free_port, rss, spread
from flask import Flask

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import OutboxEmail, RecoveryCase, StripeEvent, utcnow

sys.path.insert(0, str(ROOT / "tests"))
from support import recovery_support as rs
from support import stripe_support as ss

CHUNK = 5_000  # events per bulk insert
_PATH = re.compile(r"^/v1/(invoices|subscriptions)/([A-Za-z0-9_]+)")


# ---- the Stripe-shaped server (its own process) ----------------------------------------------


def stripe_object(kind: str, object_id: str) -> dict[str, Any]:
    """The invoice or subscription as Stripe answers it, with the customer expanded."""
    n = object_id.rsplit("_", 1)[-1]
    customer = ss.customer(id=f"cus_burst_{n}", email=f"customer{n}@example.com")
    if kind == "invoices":
        return rs.invoice(
            id=object_id,
            customer=customer,
            customer_email=customer["email"],
            parent={
                "type": "subscription_details",
                "quote_details": None,
                "subscription_details": {"metadata": {}, "subscription": f"sub_burst_{n}"},
            },
        )
    return ss.subscription(id=object_id, customer=customer)


class StripeShaped(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as stripe-python's session expects
    latency = 0.2

    def do_GET(self) -> None:
        time.sleep(self.latency)
        match = _PATH.match(self.path)
        if match is None:
            status, body = 404, ss.error_body("invalid_request_error", "resource_missing", "No")
        else:
            status, body = 200, stripe_object(*match.groups())
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Request-Id", "req_burst")
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def serve_stripe(port: int, latency: float, ready: Event, stop: Event) -> None:
    StripeShaped.latency = latency
    server = ThreadingHTTPServer(("127.0.0.1", port), StripeShaped)
    server.daemon_threads = True
    server.request_queue_size = 512
    import threading

    threading.Thread(target=server.serve_forever, daemon=True).start()
    ready.set()
    stop.wait()
    server.shutdown()


# ---- the events --------------------------------------------------------------------------------


def store_events(app: Flask, count: int) -> int:
    """``count`` verified events as the webhook request stores them; the merchant's id."""
    with app.app_context():
        merchant = by_slug("acme")
        assert merchant is not None
        merchant.set_stripe_key("sk_test_burst_" + "0" * 20)
        merchant.dunning_days = [3, 7]
        db.session.commit()
        for first in range(0, count, CHUNK):
            rows = []
            for n in range(first, min(first + CHUNK, count)):
                invoice_id = f"in_burst_{n}"
                body = ss.event(
                    "invoice.payment_failed", rs.invoice(id=invoice_id), id=f"evt_burst_{n}"
                )
                rows.append(
                    {
                        "merchant_id": merchant.id,
                        "event_id": body["id"],
                        "type": body["type"],
                        "object_id": invoice_id,
                        "created": body["created"],
                        "payload": json.dumps(body),
                        "status": "received",
                        "due_at": utcnow(),
                        "attempts": 0,
                        "received_at": utcnow(),
                    }
                )
            db.session.execute(sa.insert(StripeEvent), rows)
            db.session.commit()
        merchant_id = merchant.id
        db.session.remove()
    return merchant_id


def reset(app: Flask) -> None:
    """Every event received again, no effects: the next run starts from the same burst."""
    with app.app_context():
        db.session.execute(sa.delete(OutboxEmail))
        db.session.execute(sa.delete(RecoveryCase))
        db.session.execute(
            sa.update(StripeEvent).values(
                status="received",
                attempts=0,
                outcome=None,
                last_error=None,
                claim_token=None,
                claimed_until=None,
                processed_at=None,
                due_at=utcnow() - timedelta(seconds=1),
            )
        )
        db.session.commit()
        db.session.remove()


def tally(app: Flask) -> dict[str, int]:
    with app.app_context():
        found = {
            status: n
            for status, n in db.session.execute(
                sa.select(StripeEvent.status, sa.func.count()).group_by(StripeEvent.status)
            )
        }
        found["cases"] = db.session.scalar(sa.select(sa.func.count()).select_from(RecoveryCase))
        found["emails"] = db.session.scalar(sa.select(sa.func.count()).select_from(OutboxEmail))
        db.session.remove()
    return found


# ---- one run -----------------------------------------------------------------------------------


def run(
    app: Flask, workdir: Path, count: int, workers: int, threads: int, stripe: str
) -> dict[str, Any]:
    """Start the workers, wait until every event is applied; events/s and worker memory."""
    reset(app)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CANCELPAGE_")}
    env.update(
        DATABASE_URL=database_url(workdir),
        CANCELPAGE_SECRET_KEY=SECRET_KEY,
        CANCELPAGE_SEED_DEMO="false",
        CANCELPAGE_STRIPE_API_BASE=stripe,
        CANCELPAGE_STRIPE_MAX_RETRIES="0",
    )
    command = [sys.executable, "-m", "flask", "--app", "cancelpage", "worker"]
    command += ["--threads", str(threads), "--event-batch", "2", "--interval", "0.5"]
    procs = [
        subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
        for _ in range(workers)
    ]
    for proc in procs:
        assert proc.stdout is not None
        proc.stdout.readline()  # "Worker started": the app is built, the passes begin
    started = [rss(p.pid) for p in procs]  # each worker's memory as it starts working
    first_seen: tuple[float, int] | None = None
    peaks = list(started)
    deadline = time.monotonic() + max(600.0, count / 2)
    try:
        while time.monotonic() < deadline:
            time.sleep(0.25)
            memory = [rss(p.pid) for p in procs]
            peaks = [max(a, b) for a, b in zip(peaks, memory, strict=True)]
            done = tally(app).get("processed", 0)
            now = time.monotonic()
            if first_seen is None and done:
                first_seen = (now, done)
            if done >= count:
                break
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.communicate(timeout=60)
    assert first_seen is not None, "no event was applied"
    seconds = now - first_seen[0]
    return {
        "per_second": (count - first_seen[1]) / max(seconds, 1e-9),
        "tally": tally(app),
        "rss_start": max(started),
        "rss_peak": max(peaks),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--workers", default="1,2,4")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--threads", type=int, default=32, help="per worker process")
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per Stripe request")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    spawn = multiprocessing.get_context("spawn")
    ready, stop = spawn.Event(), spawn.Event()
    port = free_port()
    server = spawn.Process(target=serve_stripe, args=(port, args.latency, ready, stop))
    server.start()
    ready.wait(30)
    engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(
        f"(d) burst: {args.events:,} stored events, workers {args.workers} x {args.threads}"
        f" threads, Stripe-shaped server at {args.latency * 1000:.0f} ms a request, {engine},"
        f" {args.rounds} interleaved round(s)"
    )
    rates: dict[int, list[float]] = {w: [] for w in counts}
    memory: dict[int, list[tuple[int, int]]] = {w: [] for w in counts}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            workdir = Path(tmp)
            app = bench_app(workdir)
            store_events(app, args.events)
            for _ in range(args.rounds):
                for workers in counts:
                    result = run(
                        app, workdir, args.events, workers, args.threads, f"http://127.0.0.1:{port}"
                    )
                    found = result["tally"]
                    expected = {
                        "processed": args.events,
                        "cases": args.events,
                        "emails": 2 * args.events,
                    }
                    if found != expected:
                        raise SystemExit(f"WRONG with {workers} worker(s): {found} != {expected}")
                    rates[workers].append(result["per_second"])
                    memory[workers].append((result["rss_start"], result["rss_peak"]))
    finally:
        stop.set()
        server.join(30)
    base = rates[counts[0]]
    for workers in counts:
        scaling = [r / b for r, b in zip(rates[workers], base, strict=True)]
        start = max(m[0] for m in memory[workers]) / 2**20
        peak = max(m[1] for m in memory[workers]) / 2**20
        print(
            f"    {workers} worker(s): {spread(rates[workers], 0)} events/s;"
            f" x{spread(scaling)} of {counts[0]} worker(s) (ideal x{workers / counts[0]:g});"
            f" worker RSS {start:.0f} MB at start, peak {peak:.0f} MB (+{peak - start:.1f} MB)"
        )
        figure(f"(d) burst, {workers} worker(s), events/s", rates[workers], None)
    print(f"    every event applied exactly once in every run ({args.events:,} cases, ok)")


if __name__ == "__main__":
    main()
