"""`flask --app cancelpage scan MERCHANT [--months 12]`: the revenue scan, in the foreground."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from cancelpage.cli.common import load_merchant
from cancelpage.i18n.formats import money
from cancelpage.models import RevenueScan
from cancelpage.scan import figures, jobs
from cancelpage.scan.service import PHASES


@click.command("scan")
@click.argument("merchant")
@click.option("--months", default=12, show_default=True, type=click.IntRange(1, 36))
@click.option("--background", is_flag=True, help="Queue it for the worker instead.")
@with_appcontext
def scan_command(merchant: str, months: int, background: bool) -> None:
    """Read the merchant's Stripe account (read-only) and print what churn costs per month."""
    m = load_merchant(merchant)
    try:
        scan = jobs.start(m, months)
    except jobs.ScanAlreadyRunning as exc:
        raise click.ClickException(
            f"scan {exc.scan.id} of {m.slug} is still {exc.scan.status}; one at a time"
        ) from exc
    if background:
        click.echo(f"Scan {scan.id} queued; `flask --app cancelpage worker` runs it.")
        return
    claimed = jobs.claim(scan.id)
    if claimed is None:
        raise click.ClickException(f"scan {scan.id} was taken by a worker; see the dashboard")
    source = "a simulated account (preview: no Stripe key)" if scan.simulated else "Stripe"
    click.echo(f"Scanning {months} months of {m.slug} from {source}.")
    with click.progressbar(length=len(PHASES), label="Reading", show_pos=True) as bar:
        done = [0]

        def on_page(current: RevenueScan) -> None:
            bar.label = f"{jobs.phase_label(current)} ({current.objects_read:,} objects)"
            bar.update(current.phase - done[0])
            done[0] = current.phase

        scan = jobs.run(*claimed, on_page=on_page)
    if scan.status == "failed":
        raise click.ClickException(f"scan failed: {scan.error}")
    report(scan)


def report(scan: RevenueScan) -> None:
    window = jobs.window_of(scan)
    for currency in figures.currencies(scan.figures):
        click.echo(
            f"\n{currency.upper()}  month    voluntary        involuntary      "
            "recovered        never paid"
        )
        for row in figures.month_rows(scan.figures, window, currency):
            cells = [
                f"{row.count(k):>3} {money(row.amount(k), currency):>12}"
                for k in (
                    figures.VOLUNTARY,
                    figures.INVOLUNTARY,
                    figures.RECOVERED,
                    figures.NEVER_PAID,
                )
            ]
            click.echo(f"     {row.month}  " + " ".join(cells))
        total = figures.totals(scan.figures, currency)
        for kind, label in (
            (figures.AT_RISK, "past due or unpaid now"),
            (figures.SCHEDULED, "set to cancel now"),
        ):
            count, amount = total.get(kind, [0, 0])
            click.echo(f"     {label}: {count} subscriptions, {money(amount, currency)} MRR")
        for p in figures.projections(scan.figures, currency, figures.Rates()):
            low, high = (f"{float(r * 100):g}%" for r in p.rates)
            click.echo(
                f"     projection, {p.label}: {money(p.low, currency)}–"
                f"{money(p.high, currency)} MRR kept ({low}–{high} {p.basis})"
            )
    click.echo(
        f"\n{scan.objects_read:,} objects read with {scan.requests:,} Stripe requests "
        f"({scan.rate_limited} after a 429; limit {jobs.max_requests():,})."
    )
