"""`flask --app cancelpage worker`: the email outbox and merchant webhook worker, which also
runs revenue scans."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask.cli import with_appcontext

from cancelpage.extensions import db
from cancelpage.merchant_webhooks import delivery
from cancelpage.models import RevenueScan
from cancelpage.recovery import outbox
from cancelpage.scan import jobs


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--batch-size", default=100, show_default=True, help="Rows claimed at a time.")
@click.option(
    "--scan-slice",
    default=10.0,
    show_default=True,
    help="Seconds a pass spends on a revenue scan before sending email again.",
)
@with_appcontext
def worker_command(once: bool, interval: float, batch_size: int, scan_slice: float) -> None:
    """Send queued emails and merchant webhooks and run queued revenue scans: loop until stopped
    (SIGTERM/Ctrl-C finish the current batch or page; a scan stopped half-way continues on the
    next start)."""
    if once:
        report(outbox.drain(batch_size=batch_size))
        report_webhooks(delivery.drain())
        while (scan := jobs.work(scan_slice)) is not None:
            report_scan(scan)
        return
    stop = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    click.echo(f"Worker started; a pass every {interval:g} s.")
    while not stop.is_set():
        result = outbox.drain(batch_size=batch_size)
        if result.handled:
            report(result)
        webhooks = delivery.drain()
        if webhooks.handled:
            report_webhooks(webhooks)
        scan = jobs.work(scan_slice)
        scanning = scan is not None and scan.status == "running"
        if scan is not None:
            report_scan(scan)
        db.session.remove()
        if not scanning:
            stop.wait(interval)  # a scan in progress goes on at once
    click.echo("Worker stopped.")


def report_scan(scan: RevenueScan) -> None:
    click.echo(
        f"revenue scan {scan.id}: {scan.status}, {jobs.phase_label(scan)}, "
        f"{scan.objects_read} objects, {scan.requests} requests"
    )


def report(result: outbox.DrainResult) -> None:
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
