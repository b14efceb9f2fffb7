"""`flask --app cancelpage audit ...`: export a merchant's trail, verify the chain."""

from __future__ import annotations

import sys
from datetime import datetime

import click
from flask.cli import AppGroup

from cancelpage import trail
from cancelpage.cli.common import load_merchant

audit_group = AppGroup("audit", help="The tamper-evident trail of cancel sessions.")


@audit_group.command("export")
@click.argument("slug")
@click.option("--customer", help="Only this Stripe customer (cus_...).")
@click.option("--since", type=click.DateTime(["%Y-%m-%d"]), help="Sessions from this day (UTC).")
@click.option("--until", type=click.DateTime(["%Y-%m-%d"]), help="Sessions before this day.")
@click.option("--format", "fmt", type=click.Choice(["json", "csv"]), default="json")
@click.option("--output", "-o", type=click.File("w"), default="-")
def export_command(
    slug: str,
    customer: str | None,
    since: datetime | None,
    until: datetime | None,
    fmt: str,
    output: click.utils.LazyFile,
) -> None:
    """Write a merchant's trail (per customer or date range) as JSON or CSV."""
    merchant = load_merchant(slug)
    filters = trail.filters(customer, since, until)
    text = (
        trail.export_json(merchant, **filters)
        if fmt == "json"
        else trail.export_csv(merchant, **filters)
    )
    output.write(text)


@audit_group.command("verify")
@click.option("--merchant", "slug", help="Only this merchant's sessions (default: all).")
@click.option("--file", "path", type=click.File("r"), help="Verify an export instead.")
def verify_command(slug: str | None, path: click.utils.LazyFile | None) -> None:
    """Check every session's hash chain; name the first broken link of each. Exit 1 if any."""
    if path is not None:
        verdict = trail.verify(*trail.parse_export(path.read()))
    else:
        verdict = trail.verify_stored(load_merchant(slug) if slug else None)
    for line in trail.describe(verdict):
        click.echo(line)
    if not verdict.ok:
        sys.exit(1)
    click.echo("OK: every chain holds")
