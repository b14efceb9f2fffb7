"""`flask --app cancelpage init-db` and `demo`: a database and a demo merchant to try it on, and
the demo merchant's own app (another origin) showing the embed."""

from __future__ import annotations

import threading
from typing import Any

import click
from flask import current_app, render_template
from flask.cli import with_appcontext
from werkzeug.serving import make_server, run_simple
from werkzeug.wrappers import Request, Response

from cancelpage.cli.links import make_link
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
@click.option("--app-port", type=int, help="Port of the demo merchant's app (default: port + 1).")
def demo_command(
    host: str, port: int, no_serve: bool, locale: str | None, app_port: int | None
) -> None:
    """Set up the demo merchant (preview mode), print demo links and serve the app."""
    db.create_all()
    merchant = ensure_demo_merchant()
    base = f"http://{host}:{port}"
    current_app.config["PUBLIC_BASE_URL"] = base
    current_app.config["DEMO"] = True  # the root serves the stand-in merchant app
    # A second stand-in on another origin (localhost) shows the embed: framing as in production.
    app_origin = f"http://localhost:{app_port or port + 1}"
    merchant.frame_ancestors = [app_origin]  # http only here: the dashboard requires https
    db.session.commit()
    click.echo("cancelpage demo (preview mode: nothing is sent to Stripe).")
    click.echo(f"\nDemo merchant: {DEMO_SLUG}")
    click.echo(f"Its app, with the Cancel buttons: {base}/")
    for which, (label, _) in enumerate(DEMO_CUSTOMERS):
        click.echo(f"\n{label}:\n  {demo_link(which, locale)}")
    back = f"{app_origin}/"
    links = [
        (label, make_link(DEMO_SLUG, "cus_demo", "sub_demo", back, attributes, locale))
        for label, attributes in DEMO_CUSTOMERS
    ]
    click.echo(f"\nThe demo merchant's app, with the embed:\n  {back}")
    click.echo("\nThe dashboard: add yourself a user (in another terminal, same folder and venv)")
    click.echo(f"  flask --app cancelpage user add {DEMO_SLUG} you@example.com")
    click.echo(f"then sign in at {base}/admin/login\n")
    if not no_serve:
        serve_demo_app(
            host,
            app_port or port + 1,
            render_template("demo/embed_app.html", base=base, links=links),
        )
        # app.run() refuses to start inside the `flask` command; serve with werkzeug directly.
        run_simple(host, port, current_app._get_current_object(), threaded=True)


def serve_demo_app(host: str, port: int, page: str) -> None:
    """The demo merchant's app page, in the background of the demo server."""

    def app(environ: dict[str, Any], start_response: Any) -> Any:
        found = Request(environ).path == "/"
        response = Response(
            page if found else "Not found", 200 if found else 404, mimetype="text/html"
        )
        return response(environ, start_response)

    threading.Thread(target=make_server(host, port, app).serve_forever, daemon=True).start()
