"""The revenue scan reading a large account from the Stripe emulator (real HTTP on 127.0.0.1, in
its own process): requests made, wall time and the scanning process's peak memory, at several
sizes, so it shows that memory stays flat as the account grows (one page in memory, never the
account).

    python bench/revenue_scan.py [--sizes 10000:5000,100000:50000] [--months 12]

Each size is SUBSCRIPTIONS:INVOICES. The emulator is seeded in its own process with a mix like
a real account (a third cancelled in the last year for the three reasons, some past due, unpaid,
trialing or set to cancel; invoices paid at once, paid after retries, open, uncollectible, void),
then a fresh process runs the scan exactly as the worker does (scan.jobs.run, a checkpoint
written after every page) on SQLite in a temporary folder unless DATABASE_URL is set.
Targets: requests = the pages the lists need (about (S + I) / 100, plus one per list); memory flat
(the peak grows by less than 10 MB from the smallest size to the largest).
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import resource
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

from _setup import ROOT, bench_app

sys.path.insert(0, str(ROOT / "tests"))

from support.stripe_emulator import StripeEmulator

from cancelpage.billing import Gateway
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.models import utcnow
from cancelpage.scan import jobs

KEY = "sk_test_benchscan0000"
DAY = 86400
REASONS = ["cancellation_requested"] * 6 + ["payment_failed"] * 3 + ["payment_disputed", None]


def seed(emu: StripeEmulator, subscriptions: int, invoices: int) -> None:
    rng = random.Random(17)
    now = emu.now()
    customer = emu.add_customer()
    prices = [
        emu.add_price(unit_amount=1900, currency="usd"),
        emu.add_price(unit_amount=49000, currency="usd", interval="year"),
        emu.add_price(unit_amount=1500, currency="usd", interval="week"),
        emu.add_price(unit_amount=2900, currency="eur"),
        emu.add_price(unit_amount=3000, currency="jpy"),
    ]
    coupon = emu.add_coupon(id="BENCH20", percent_off=20.0, duration="forever")
    for _ in range(subscriptions):
        price, roll = rng.choice(prices), rng.random()
        kw: dict[str, Any] = {"quantity": rng.choice((1, 1, 2, 5))}
        if rng.random() < 0.1:
            kw["coupons"] = [coupon]
        if roll < 0.33:
            kw.update(
                ended_at=now - rng.randint(1, 360) * DAY, cancellation_reason=rng.choice(REASONS)
            )
        elif roll < 0.38:
            kw["status"] = "past_due"
        elif roll < 0.40:
            kw["status"] = "unpaid"
        elif roll < 0.43:
            kw["trial_end"] = now + 7 * DAY
        elif roll < 0.48:
            kw["cancel_at_period_end"] = True
        emu.add_subscription(customer=customer, price=price, created=now - 400 * DAY, **kw)
    outcomes = [("paid", 1)] * 6 + [("paid", 3), ("open", 2), ("uncollectible", 4), ("void", 2)]
    for _ in range(invoices):
        status, attempts = rng.choice(outcomes)
        emu.add_invoice(
            customer=customer,
            status=status,
            attempt_count=attempts,
            amount_due=rng.choice((1900, 2900, 49000)),
            currency=rng.choice(("usd", "usd", "eur")),
            created=now - rng.randint(0, 360) * DAY,
        )


def serve(subscriptions: int, invoices: int, conn: Connection) -> None:
    """The emulator process: seed, say where it listens, serve until told to stop."""
    with StripeEmulator() as emu:
        seed(emu, subscriptions, invoices)
        conn.send(emu.url)
        conn.recv()


def scan(workdir: str, url: str, months: int) -> dict[str, Any]:
    """A fresh process: one scan as the worker runs it; its own peak memory."""
    app = bench_app(Path(workdir))
    app.extensions["cancelpage.gateway"] = lambda m: Gateway.for_key(
        KEY, api_base=url, max_network_retries=0
    )
    with app.app_context():
        merchant = by_slug("acme")
        merchant.set_stripe_key(KEY)
        db.session.commit()
        started = time.perf_counter()
        done = jobs.run(*jobs.claim(jobs.start(merchant, months, now=utcnow()).id))
        seconds = time.perf_counter() - started
        assert done.status == "done", done.error
        return {
            "requests": done.requests,
            "objects": done.objects_read,
            "seconds": seconds,
            "peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        }


def run_size(subscriptions: int, invoices: int, months: int) -> dict[str, Any]:
    parent, child = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(subscriptions, invoices, child))
    server.start()
    try:
        url = parent.recv()
        with tempfile.TemporaryDirectory() as workdir, ProcessPoolExecutor(1) as pool:
            return pool.submit(scan, workdir, url, months).result()
    finally:
        parent.send("stop")
        server.join()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000:5000,100000:50000")
    parser.add_argument("--months", type=int, default=12)
    args = parser.parse_args()
    peaks = []
    for size in args.sizes.split(","):
        subscriptions, invoices = (int(n) for n in size.split(":"))
        result = run_size(subscriptions, invoices, args.months)
        peaks.append(result["peak_mb"])
        print(
            f"{subscriptions:>7,} subscriptions + {invoices:>6,} invoices: "
            f"{result['requests']:,} requests for {result['objects']:,} objects, "
            f"{result['seconds']:.1f} s, peak memory {result['peak_mb']:.1f} MB"
        )
    if len(peaks) > 1:
        print(f"memory growth from the smallest to the largest: {peaks[-1] - peaks[0]:+.1f} MB")


if __name__ == "__main__":
    main()
