"""(e) The email outbox draining N due emails into a local SMTP server (aiosmtpd on 127.0.0.1, in
its own process): messages per second and the worker's memory *during the drain*, at several
counts, so it shows whether memory stays flat as the count grows.

    python bench/outbox_drain.py [--counts 1000,10000,100000] [--batch-size 100]
SQLite in a temporary folder unless DATABASE_URL is set. Each count starts from a fresh schema
filled by bulk inserts (one open case per email, a mix of dunning, save and card emails in four
languages), then drains in a fresh process exactly as ``flask worker --once`` does
(outbox.drain), which renders, signs and sends every email and records each one as sent.
The worker's resident memory is sampled (/proc, every 20 ms) from just before the drain to its
end, in a thread of the draining process: the process's lifetime peak would be reached at import
(the dashboard's dummy argon2 hash takes 64 MiB) and hide any growth under it.
Targets: memory flat (the growth during the drain differs by less than 10 MB from the smallest
count to the largest).
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import resource
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import timedelta
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import _setup
import sqlalchemy as sa
from _setup import bench_app, figure, free_port, make_app

from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import OutboxEmail, RecoveryCase, utcnow
from cancelpage.recovery import outbox

CHUNK = 10_000  # rows per bulk insert
KINDS = [  # (email kind, case kind, data)
    ("dunning_1", "payment_failed", {"amount": 2900, "currency": "eur", "final": False}),
    ("save", "cancel_intent", {"ends_at": 1_924_992_000}),
    (
        "card_expiring",
        "card_expiring",
        {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
    ),
]
LOCALES = ["en", "de", "fr", "es"]
MB = 1024 * 1024


# ---- the SMTP server (its own process, so the worker's memory is the worker's alone) ----------


class CountingHandler:
    """Accepts every message and counts it (and its bytes); keeps nothing."""

    def __init__(self, messages: Synchronized[int], size: Synchronized[int]) -> None:
        self.messages, self.size = messages, size

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.size.value += len(envelope.content)
        self.messages.value += 1
        return "250 Message accepted for delivery"


def smtp_server(
    port: int, messages: Synchronized[int], size: Synchronized[int], ready: Event, stop: Event
) -> None:
    from aiosmtpd.controller import Controller

    controller = Controller(CountingHandler(messages, size), hostname="127.0.0.1", port=port)
    controller.start()
    ready.set()
    stop.wait()
    controller.stop()


# ---- filling the outbox ------------------------------------------------------------------------


def fill(workdir: Path, count: int) -> float:
    """``count`` open cases, each with one email due now; returns the seconds it took."""
    app = bench_app(workdir)
    started = time.perf_counter()
    with app.app_context():
        merchant = by_slug("acme")
        assert merchant is not None
        # Fell due one after another over the last minutes, as cases opened by webhooks do.
        oldest = utcnow() - timedelta(minutes=1, milliseconds=count)
        for first in range(0, count, CHUNK):
            cases, rows = [], []
            for n in range(first + 1, min(first + CHUNK, count) + 1):
                kind, case_kind, data = KINDS[n % len(KINDS)]
                due = oldest + timedelta(milliseconds=n)
                cases.append(
                    {
                        "id": n,
                        "merchant_id": merchant.id,
                        "kind": case_kind,
                        "ref": f"ref_{n}",
                        "customer_id": f"cus_{n}",
                        "subscription_id": f"sub_{n}",
                        "invoice_id": f"in_{n}" if case_kind == "payment_failed" else None,
                        "status": "open",
                        "amount_due": 2900 if case_kind == "payment_failed" else None,
                        "currency": "eur",
                        "opened_at": due,
                    }
                )
                rows.append(
                    {
                        "merchant_id": merchant.id,
                        "case_id": n,
                        "kind": kind,
                        "dedupe_key": f"case:{n}:{kind}",
                        "to_address": f"customer{n}@example.com",
                        "customer_id": f"cus_{n}",
                        "locale": LOCALES[n % len(LOCALES)],
                        "data": data,
                        "status": "pending",
                        "due_at": due,
                        "attempts": 0,
                        "created_at": due,
                    }
                )
            db.session.execute(sa.insert(RecoveryCase), cases)
            db.session.execute(sa.insert(OutboxEmail), rows)
            db.session.commit()
        db.session.remove()
        db.engine.dispose()
    return time.perf_counter() - started


# ---- draining (a fresh process per count) ----------------------------------------------------


def rss() -> int:
    """This process's resident memory now, in bytes."""
    return _setup.rss(os.getpid())


class Sampler:
    """This process's RSS every ``every`` seconds, in a thread, while the block runs: the
    highest seen."""

    def __init__(self, every: float = 0.02) -> None:
        self.every, self.peak = every, rss()
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.sample, daemon=True)

    def sample(self) -> None:
        while not self.stop.wait(self.every):
            self.peak = max(self.peak, rss())

    def __enter__(self) -> Sampler:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()
        self.peak = max(self.peak, rss())


def drain(workdir: Path, smtp_port: int, batch_size: int) -> dict[str, Any]:
    """Drain the outbox as ``worker --once`` does; time it and watch this process's memory."""
    app = make_app(workdir, MAIL_SERVER="127.0.0.1", MAIL_PORT=smtp_port)
    with app.app_context():
        before = rss()
        started = time.perf_counter()
        with Sampler() as memory:
            result = outbox.drain(batch_size=batch_size)
        seconds = time.perf_counter() - started
        left = db.session.scalar(
            sa.select(sa.func.count()).select_from(OutboxEmail).where(OutboxEmail.status != "sent")
        )
        db.session.remove()
        db.engine.dispose()
    return {
        "sent": result.sent,
        "handled": result.handled,
        "left": left,
        "seconds": seconds,
        "rss_before": before,
        "rss_during": memory.peak,
        "rss_after": rss(),
        "lifetime_peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", default="1000,10000,100000")
    parser.add_argument("--batch-size", type=int, default=100)
    args = parser.parse_args()
    counts = [int(c) for c in args.counts.split(",")]
    spawn = multiprocessing.get_context("spawn")
    messages, size = spawn.Value("q", 0), spawn.Value("q", 0)
    ready, stop = spawn.Event(), spawn.Event()
    port = free_port()
    server = spawn.Process(target=smtp_server, args=(port, messages, size, ready, stop))
    server.start()
    ready.wait(30)
    engine = "PostgreSQL" if os.environ.get("DATABASE_URL") else "SQLite"
    print(f"(e) outbox drain into aiosmtpd on 127.0.0.1, batches of {args.batch_size}, {engine}")
    growths: list[int] = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for count in counts:
                filled = fill(Path(tmp), count)
                received = messages.value
                with ProcessPoolExecutor(1, mp_context=spawn) as pool:
                    run = pool.submit(drain, Path(tmp), port, args.batch_size).result()
                received = messages.value - received
                growths.append(run["rss_during"] - run["rss_before"])
                problems = []
                if not (run["sent"] == received == count and run["left"] == 0):
                    problems.append(
                        f"WRONG: sent {run['sent']}, received {received}, not sent {run['left']}"
                    )
                before, during = run["rss_before"] / MB, run["rss_during"] / MB
                print(
                    f"    {count:>7,} emails: {count / run['seconds']:7.0f} messages/s"
                    f" ({run['seconds']:6.1f} s; inserted in {filled:5.1f} s)"
                    f"   RSS before the drain {before:5.1f} MB, highest during it {during:5.1f} MB"
                    f" (+{during - before:4.1f} MB), after {run['rss_after'] / MB:5.1f} MB;"
                    f" lifetime peak {run['lifetime_peak'] / MB:5.1f} MB (import)"
                    + (f"   {'; '.join(problems)}" if problems else "")
                )
                if problems:
                    raise SystemExit("emails were lost or sent twice")
        growth = (growths[-1] - growths[0]) / MB
        print(f"    average message {size.value / max(messages.value, 1):,.0f} B")
        name = f"(e) drain RSS growth, {counts[0]:,} -> {counts[-1]:,} emails, {engine}"
        figure(name, [growth], 10, " MB", lower=True)
    finally:
        stop.set()
        server.join(30)


if __name__ == "__main__":
    main()
