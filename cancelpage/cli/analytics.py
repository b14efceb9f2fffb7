"""`flask --app cancelpage analytics simulate`: fill a dashboard with a simulated quarter;
`analytics rebuild`: recompute the dashboard's rollups from the sessions."""

from __future__ import annotations

from datetime import UTC, datetime

import click
from flask.cli import AppGroup

from cancelpage.analytics import rollups, simulate
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


@analytics_group.command("rebuild")
@click.option("--merchant", "slug", default=None, help="One merchant (default: all).")
@click.option("--check", is_flag=True, help="Only compare; exit 1 when they differ.")
def rebuild_command(slug: str | None, check: bool) -> None:
    """Recompute the dashboard's rollups from the sessions (after an upgrade or a bulk load)."""
    merchant_id = load_merchant(slug).id if slug else None
    if check:
        wrong = rollups.differences(merchant_id)
        for line in wrong[:20]:
            click.echo(line)
        click.echo(f"{len(wrong)} cells differ." if wrong else "The rollups are in step.")
        raise SystemExit(1 if wrong else 0)
    cells = rollups.rebuild(merchant_id)
    db.session.commit()
    click.echo(f"Rebuilt {cells:,} rollup cells.")
