"""`flask --app cancelpage init-db` and `demo`: a database and a demo merchant to try it on."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from cancelpage.customer.demo_app import DEMO_CUSTOMERS, demo_link
from cancelpage.extensions import db
from cancelpage.merchants.store import DEMO_SLUG, ensure_demo_merchant


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the tables (SQLite trials; production uses `flask db upgrade`)."""
    db.create_all()
    click.echo("Database ready.")


@click.command("demo")
@with_appcontext
@click.option("--host", default="127.0.0.1")
@click.option("--port", default=5000, type=int)
@click.option("--no-serve", is_flag=True, help="Only set up and print the links.")
@click.option("--locale", help="Language of the demo links: en, de, fr or es.")
def demo_command(host: str, port: int, no_serve: bool, locale: str | None) -> None:
    """Set up the demo merchant (preview mode), print demo links and serve the app."""
    db.create_all()
    ensure_demo_merchant()
    base = f"http://{host}:{port}"
    current_app.config["PUBLIC_BASE_URL"] = base
    current_app.config["DEMO"] = True  # the root serves the stand-in merchant app
    click.echo("cancelpage demo (preview mode: nothing is sent to Stripe).")
    click.echo(f"\nDemo merchant: {DEMO_SLUG}")
    click.echo(f"Its app, with the Cancel buttons: {base}/")
    for which, (label, _) in enumerate(DEMO_CUSTOMERS):
        click.echo(f"\n{label}:\n  {demo_link(which, locale)}")
    click.echo("\nThe dashboard: add yourself a user (in another terminal, same folder and venv)")
    click.echo(f"  flask --app cancelpage user add {DEMO_SLUG} you@example.com")
    click.echo(f"then sign in at {base}/admin/login\n")
    if not no_serve:
        # app.run() refuses to start inside the `flask` command; serve with werkzeug directly.
        run_simple(host, port, current_app._get_current_object(), threaded=True)
