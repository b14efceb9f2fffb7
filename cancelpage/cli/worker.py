"""`flask --app cancelpage worker`: the email outbox and merchant webhook worker."""

from __future__ import annotations

import signal
import threading
from types import FrameType

import click
from flask.cli import with_appcontext

from cancelpage.extensions import db
from cancelpage.merchant_webhooks import delivery
from cancelpage.recovery import outbox


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--batch-size", default=100, show_default=True, help="Rows claimed at a time.")
@with_appcontext
def worker_command(once: bool, interval: float, batch_size: int) -> None:
    """Send queued emails and merchant webhooks: loop until stopped (SIGTERM/Ctrl-C finish the
    current batch)."""
    if once:
        report(outbox.drain(batch_size=batch_size))
        report_webhooks(delivery.drain())
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
        db.session.remove()
        stop.wait(interval)
    click.echo("Worker stopped.")


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
