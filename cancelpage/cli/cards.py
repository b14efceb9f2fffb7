"""`flask --app cancelpage cards scan MERCHANT`: expiring cards, and `cases MERCHANT`: recovery
cases and what was saved."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import with_appcontext

from cancelpage.billing import BillingError, gateway_for
from cancelpage.cli.common import load_merchant
from cancelpage.extensions import db
from cancelpage.models import RecoveryCase
from cancelpage.recovery import cases


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
    year, month = cases.next_month(today)
    scan = cases.scan_cards(m, gateway_for(m).cards_on_file(), today)
    last = cases.ScanResult()
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
    totals = cases.summary(m)
    for kind, counts in sorted(totals["cases"].items()):
        click.echo(f"{kind}: " + ", ".join(f"{n} {s}" for s, n in sorted(counts.items())))
    for currency, amount in totals["recovered"].items():
        click.echo(f"recovered: {amount} {currency}")
