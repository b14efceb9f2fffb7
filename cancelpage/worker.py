"""One worker for all background work: the effects of stored Stripe events, emails, webhooks to
merchants' apps, and revenue scans.

Every piece of work is a row claimed with a lease: ``FOR UPDATE SKIP LOCKED`` on PostgreSQL, so
any number of `flask --app cancelpage worker` processes on any number of hosts share the rows
and never take the same one, and an atomic UPDATE on SQLite. A worker that dies leaves rows that
another takes over once their lease runs out. Rows are queued in the same transaction as what
they report (a case and its emails, a session's outcome and its webhook), so nothing is queued
for a change that rolled back and nothing is lost once it committed.

Single-process mode (``WORKER_IN_PROCESS``, for a small install on SQLite): the web process runs
the same passes in a background thread, started with the first request, so there is no second
process to run. The claims make it safe beside other workers too.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from flask import Flask

from cancelpage.extensions import db
from cancelpage.merchant_webhooks import delivery
from cancelpage.models import RevenueScan
from cancelpage.recovery import inbox, outbox
from cancelpage.scan import jobs
from cancelpage.web import dbretry

log = logging.getLogger(__name__)


@dataclass
class PassReport:
    events: inbox.InboxResult
    emails: outbox.DrainResult
    webhooks: delivery.DeliveryResult
    scan: RevenueScan | None

    @property
    def scanning(self) -> bool:
        """A scan is half-way: the next pass should start at once."""
        return self.scan is not None and self.scan.status == "running"


def one_pass(
    batch_size: int = 100, scan_slice: float = 10.0, event_batch: int = inbox.BATCH
) -> PassReport:
    """Everything due now, once: Stripe events first, since their effects queue emails and
    merchant webhooks that the same pass then sends; then one slice of a revenue scan."""
    events = inbox.drain(batch_size=event_batch)
    emails = outbox.drain(batch_size=batch_size)
    webhooks = delivery.drain()
    scan = jobs.work(scan_slice)
    return PassReport(events, emails, webhooks, scan)


def run(
    stop: threading.Event,
    *,
    interval: float = 5.0,
    batch_size: int = 100,
    scan_slice: float = 10.0,
    event_batch: int = inbox.BATCH,
    report: Callable[[PassReport], None] | None = None,
) -> None:
    """Passes until ``stop`` is set; between passes the worker waits ``interval`` seconds."""
    while not stop.is_set():
        try:
            done = one_pass(batch_size, scan_slice, event_batch)
        except sa.exc.DBAPIError as error:
            # SQLite's one writer was busy, or PostgreSQL chose this pass as a deadlock's
            # victim: what was claimed stays leased, and the next pass goes on from there.
            db.session.rollback()
            if not dbretry.is_transient(error):
                raise
            log.warning("worker pass stopped by a transient database error: %s", error.orig)
            db.session.remove()
            stop.wait(0.1)
            continue
        if report is not None:
            report(done)
        db.session.remove()
        if not done.scanning:
            stop.wait(interval)


def run_threads(app: Flask, stop: threading.Event, threads: int, **options: Any) -> None:
    """``run`` in ``threads`` threads of this process, each with its own database session: they
    claim rows like separate workers do, so events wait on Stripe side by side."""
    if threads <= 1:
        run(stop, **options)
        return

    def work() -> None:
        with app.app_context():
            run(stop, **options)

    pool = [threading.Thread(target=work, name=f"cancelpage-worker-{n}") for n in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        while thread.is_alive():  # in slices, so the main thread still hears SIGTERM
            thread.join(0.5)


def init_app(app: Flask) -> None:
    """Single-process mode: the first request starts this process's worker thread (after
    gunicorn's fork: the master builds the app, each serving process has its own thread).
    ``app.extensions["cancelpage.worker"]`` holds the event that stops it."""
    if not app.config.get("WORKER_IN_PROCESS"):
        return
    stop = app.extensions["cancelpage.worker"] = threading.Event()
    starting = threading.Lock()

    def work() -> None:
        with app.app_context():
            try:
                run(stop)
            except Exception:  # the web process goes on serving; the log says why
                log.exception("in-process worker stopped")

    def start() -> None:
        if starting.acquire(blocking=False):  # never released: once per process
            threading.Thread(target=work, name="cancelpage-worker", daemon=True).start()

    app.before_request(start)
