"""`flask --app cancelpage analytics simulate`: fill a dashboard with a simulated quarter."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from cancelpage.analytics import simulate
from cancelpage.cli.common import load_merchant
from cancelpage.extensions import db
from cancelpage.merchants.store import DEMO_SLUG, ensure_demo_merchant, publish_flow

analytics_group = AppGroup("analytics", help="Retention analytics.")


@analytics_group.command("simulate")
@click.option("--merchant", "slug", default=DEMO_SLUG, show_default=True)
@click.option("--sessions", "count", default=3000, show_default=True, help="How many sessions.")
@click.option("--days", default=91, show_default=True, help="Spread over this many past days.")
@click.option("--cases", default=300, show_default=True, help="How many failed invoices.")
@click.option("--seed", default=1, show_default=True)
def simulate_command(slug: str, count: int, days: int, cases: int, seed: int) -> None:
    """Fill a merchant's dashboard with a simulated quarter (publishes the simulation's flow)."""
    db.create_all()
    merchant = ensure_demo_merchant() if slug == DEMO_SLUG else load_merchant(slug)
    version = publish_flow(merchant, simulate.simulation_flow())
    sims = list(simulate.generate(count, datetime.now(UTC), seed, days=days))
    tag = f"cli-{seed}-{datetime.now(UTC)}"
    simulate.write_sessions(sims, merchant.id, version.id, tag, seed)
    failed = list(simulate.generate_cases(cases, datetime.now(UTC), seed, days=days))
    simulate.write_cases(failed, merchant.id, tag)
    db.session.commit()
    click.echo(
        f"Wrote {count} simulated sessions and {cases} failed invoices for {merchant.slug!r}; "
        "open /admin/analytics/."
    )
