"""`flask --app cancelpage worker`: all background work (cancelpage/worker.py), looped or once."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask import current_app
from flask.cli import with_appcontext

from cancelpage import worker
from cancelpage.merchant_webhooks import delivery
from cancelpage.models import RevenueScan
from cancelpage.recovery import inbox, outbox
from cancelpage.scan import jobs


@click.command("worker")
@click.option("--once", is_flag=True, help="Do what is due now, then exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--batch-size", default=100, show_default=True, help="Rows claimed at a time.")
@click.option(
    "--scan-slice",
    default=10.0,
    show_default=True,
    help="Seconds a pass spends on a revenue scan before sending email again.",
)
@click.option(
    "--threads",
    default=1,
    show_default=True,
    help="Passes run side by side in this process: Stripe's latency, not the CPU, bounds one.",
)
@click.option(
    "--event-batch",
    default=inbox.BATCH,
    show_default=True,
    help="Stripe events claimed at a time (with many threads, a few each keeps all busy).",
)
@with_appcontext
def worker_command(
    once: bool, interval: float, batch_size: int, scan_slice: float, threads: int, event_batch: int
) -> None:
    """All background work: apply stored Stripe events, send queued emails and merchant
    webhooks, run queued revenue scans. Loops until stopped (SIGTERM/Ctrl-C finish the current
    batch or page; a scan stopped half-way continues on the next start). Run as many as you like,
    on any hosts: they share the work."""
    if once:
        report(worker.one_pass(batch_size, scan_slice, event_batch), quiet=False)
        while (scan := jobs.work(scan_slice)) is not None:
            report_scan(scan)
        return
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"Worker started; a pass every {interval:g} s.")
    worker.run_threads(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        stop,
        threads,
        interval=interval,
        batch_size=batch_size,
        scan_slice=scan_slice,
        event_batch=event_batch,
        report=lambda done: report(done, quiet=True),
    )
    click.echo("Worker stopped.")


def report(done: worker.PassReport, quiet: bool) -> None:
    """What a pass did (a quiet loop says nothing of kinds that had nothing to do)."""
    if done.events.handled or not quiet:
        report_events(done.events)
    if done.emails.handled or not quiet:
        report_emails(done.emails)
    if done.webhooks.handled or not quiet:
        report_webhooks(done.webhooks)
    if done.scan is not None:
        report_scan(done.scan)


def report_events(result: inbox.InboxResult) -> None:
    click.echo(
        f"stripe events: processed {result.processed}, ignored {result.ignored}, "
        f"retrying {result.retrying}, dead {result.dead}"
    )
    for error in result.errors[:5]:
        click.echo(f"  event error: {error}", err=True)


def report_scan(scan: RevenueScan) -> None:
    click.echo(
        f"revenue scan {scan.id}: {scan.status}, {jobs.phase_label(scan)}, "
        f"{scan.objects_read} objects, {scan.requests} requests"
    )


def report_emails(result: outbox.DrainResult) -> None:
    click.echo(
        f"sent {result.sent}, retrying {result.failed}, dead {result.dead}, "
        f"suppressed {result.suppressed}, canceled {result.canceled}"
    )
    for error in result.errors[:5]:
        click.echo(f"  error: {error}", err=True)


def report_webhooks(result: delivery.DeliveryResult) -> None:
    click.echo(
        f"webhooks: delivered {result.delivered}, retrying {result.retrying}, dead {result.dead}"
    )
    for error in result.errors[:5]:
        click.echo(f"  webhook error: {error}", err=True)
