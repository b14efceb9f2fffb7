"""CLI for recovery: the outbox worker, test emails and copy, the expiring-card scan, cases,
and a merchant's webhook secrets and dunning days."""

from __future__ import annotations

import signal
import threading
from datetime import UTC, datetime
from types import FrameType

import click
from flask import Flask
from flask.cli import with_appcontext

from . import dunning, emails, outbox, webhooks
from .billing import BillingError
from .cancel_sessions import gateway_for
from .cli import merchant_group
from .extensions import db
from .merchants import by_slug
from .models import Merchant, RecoveryCase


def init_app(app: Flask) -> None:
    app.cli.add_command(worker_command)
    app.cli.add_command(email_group)
    app.cli.add_command(cards_group)
    app.cli.add_command(cases_command)
    merchant_group.add_command(webhook_secret_command)
    merchant_group.add_command(dunning_days_command)


def load_merchant(slug: str) -> Merchant:
    merchant = by_slug(slug)
    if merchant is None:
        raise click.ClickException(f"no merchant {slug!r}")
    return merchant


# ---- worker ----------------------------------------------------------------------------------


@click.command("worker")
@click.option("--once", is_flag=True, help="Send what is due now, then exit (for cron).")
@click.option("--interval", default=5.0, show_default=True, help="Seconds between passes.")
@click.option("--batch-size", default=100, show_default=True, help="Rows claimed at a time.")
@with_appcontext
def worker_command(once: bool, interval: float, batch_size: int) -> None:
    """Send queued emails: loop until stopped (SIGTERM/Ctrl-C finish the current batch)."""
    if once:
        report(outbox.drain(batch_size=batch_size))
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


# ---- emails ----------------------------------------------------------------------------------


@click.group("email")
def email_group() -> None:
    """Recovery emails: tests, copy, the outbox."""


@email_group.command("test")
@click.argument("merchant")
@click.argument("to_address")
@click.option("--kind", default="dunning_1", show_default=True, help="Which email to test.")
@with_appcontext
def email_test(merchant: str, to_address: str, kind: str) -> None:
    """Send one email with sample values to TO_ADDRESS (e.g. yourself) right now."""
    try:
        row = outbox.send_test(load_merchant(merchant), to_address, kind)
    except emails.CopyError as exc:
        raise click.ClickException(str(exc)) from exc
    if row.status != "sent":
        raise click.ClickException(f"not sent ({row.status}): {row.last_error}")
    click.echo(f"Sent {kind} test to {to_address} ({row.message_id}).")


@email_group.command("copy")
@click.argument("merchant")
@click.argument("kind")
@click.option("--subject", help="New subject; {placeholders} allowed.")
@click.option("--body", help="New text; blank lines separate paragraphs.")
@click.option("--reset", is_flag=True, help="Go back to the default copy.")
@click.option("--locale", help="The language of this text (default: the merchant's default).")
@with_appcontext
def email_copy(
    merchant: str,
    kind: str,
    subject: str | None,
    body: str | None,
    reset: bool,
    locale: str | None,
) -> None:
    """Show or change the subject and text of one kind of email, in one language."""
    m = load_merchant(merchant)
    try:
        if reset:
            emails.reset_copy(m, kind, locale)
        elif subject is not None or body is not None:
            current = emails.get_copy(m, kind, locale)
            emails.set_copy(
                m,
                kind,
                subject if subject is not None else (current.subject if current else None),
                body if body is not None else (current.body if current else None),
                locale,
            )
        db.session.commit()
        rendered = emails.preview(m, kind, locale)
    except emails.CopyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Subject: {rendered.subject}\n\n{rendered.text}")


@email_group.command("outbox")
@click.argument("merchant")
@click.option("--status", help="Only rows with this status (e.g. dead).")
@click.option("--limit", default=50, show_default=True)
@with_appcontext
def email_outbox(merchant: str, status: str | None, limit: int) -> None:
    """The merchant's most recent emails and what happened to each."""
    for row in outbox.rows_for(load_merchant(merchant), status=status, limit=limit):
        due = row.due_at.strftime("%Y-%m-%d %H:%M")
        error = f"  ({row.last_error})" if row.last_error else ""
        click.echo(
            f"{row.id:>6}  {row.kind:<14} {row.status:<10} due {due}  attempts {row.attempts}"
            f"  case {row.case_id or '-'}{error}"
        )


@email_group.command("requeue")
@click.argument("merchant")
@click.argument("row_id", type=int)
@with_appcontext
def email_requeue(merchant: str, row_id: int) -> None:
    """Try a dead email again with a fresh set of attempts."""
    if not outbox.requeue(load_merchant(merchant), row_id):
        raise click.ClickException(f"no dead email {row_id} for {merchant!r}")
    click.echo(f"Email {row_id} queued again.")


# ---- expiring cards --------------------------------------------------------------------------


@click.group("cards")
def cards_group() -> None:
    """Expiring cards."""


@cards_group.command("scan")
@click.argument("merchant")
@with_appcontext
def cards_scan(merchant: str) -> None:
    """Queue a pre-expiry email for each active subscription's card expiring next month."""
    m = load_merchant(merchant)
    if not m.live:
        raise click.ClickException("preview mode (no Stripe key): there are no cards to scan")
    today = datetime.now(UTC).date()
    year, month = dunning.next_month(today)
    scan = dunning.scan_cards(m, gateway_for(m).cards_on_file(), today)
    last = dunning.ScanResult()
    try:
        with click.progressbar(
            scan,
            label="Scanning active subscriptions",
            item_show_func=lambda r: f"{r.queued} queued" if r else None,
        ) as bar:
            for result in bar:
                last = result
    except BillingError as exc:
        raise click.ClickException(f"Stripe: {exc.message}") from exc
    click.echo(
        f"{last.subscriptions} subscriptions with a card; {last.expiring} expire in "
        f"{year}-{month:02d}; {last.queued} emails queued."
    )


# ---- cases -----------------------------------------------------------------------------------


@click.command("cases")
@click.argument("merchant")
@click.option("--limit", default=20, show_default=True)
@with_appcontext
def cases_command(merchant: str, limit: int) -> None:
    """Recovery cases (failed payments, expiring cards, scheduled cancels) and what was saved."""
    m = load_merchant(merchant)
    rows = db.session.scalars(
        db.select(RecoveryCase)
        .where(RecoveryCase.merchant_id == m.id)
        .order_by(RecoveryCase.id.desc())
        .limit(limit)
    )
    for case in rows:
        amount = ""
        if case.amount_due is not None:
            amount = f"  due {case.amount_due} {case.currency}"
        if case.amount_recovered is not None:
            amount += f", recovered {case.amount_recovered} {case.currency}"
        click.echo(
            f"{case.id:>5}  {case.kind:<15} {case.status:<10} {case.ref}{amount}"
            f"  {case.close_reason or ''}"
        )
    totals = dunning.summary(m)
    for kind, counts in sorted(totals["cases"].items()):
        click.echo(f"{kind}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for currency, amount in totals["recovered"].items():
        click.echo(f"recovered: {amount} {currency}")


# ---- merchant settings -----------------------------------------------------------------------


@click.command("webhook-secret")
@click.argument("slug")
@click.argument("secret")
@click.option("--keep-previous", is_flag=True, help="Keep accepting the current secret (roll).")
@with_appcontext
def webhook_secret_command(slug: str, secret: str, keep_previous: bool) -> None:
    """Set the Stripe webhook signing secret (whsec_...) for POST /webhooks/stripe/SLUG."""
    if not secret.startswith("whsec_"):
        raise click.BadParameter("a Stripe webhook signing secret starts with whsec_")
    merchant = load_merchant(slug)
    previous = merchant.webhook_secrets[-1:] if keep_previous else []
    merchant.webhook_secrets = [s for s in previous if s != secret] + [secret]
    db.session.commit()
    click.echo(f"Webhook endpoint: {webhooks.endpoint_url(merchant)}")
    click.echo(f"Accepting {len(merchant.webhook_secrets)} secret(s), newest ending …{secret[-4:]}")


@click.command("dunning-days")
@click.argument("slug")
@click.argument("days", nargs=-1, type=int, required=True)
@with_appcontext
def dunning_days_command(slug: str, days: tuple[int, ...]) -> None:
    """Days after a failed payment on which dunning emails go out, e.g. 0 3 7 14."""
    merchant = load_merchant(slug)
    try:
        emails.set_dunning_days(merchant, list(days))
    except emails.CopyError as exc:
        raise click.BadParameter(str(exc)) from exc
    db.session.commit()
    click.echo("Dunning emails on days " + ", ".join(map(str, merchant.dunning_days or [])))
