"""`flask --app cancelpage ...` commands."""

from __future__ import annotations

import click
from flask import Flask, current_app
from flask.cli import with_appcontext
from werkzeug.serving import run_simple

from . import links
from .catalogs import translations_group
from .extensions import db
from .merchants import DEMO_SLUG, MerchantError, by_slug, create_merchant, ensure_demo_merchant


def init_app(app: Flask) -> None:
    app.cli.add_command(init_db_command)
    app.cli.add_command(merchant_group)
    app.cli.add_command(link_command)
    app.cli.add_command(demo_command)
    app.cli.add_command(translations_group)


@click.command("init-db")
@with_appcontext
def init_db_command() -> None:
    """Create the tables (SQLite trials; production uses `flask db upgrade`)."""
    db.create_all()
    click.echo("Database ready.")


@click.group("merchant")
def merchant_group() -> None:
    """Manage merchants."""


@merchant_group.command("create")
@with_appcontext
@click.argument("slug")
@click.option("--name", help="Shown to customers; defaults to the slug.")
@click.option("--stripe-key", help="sk_ or rk_ key; omit for preview mode.")
@click.option("--allow-return-host", "hosts", multiple=True, help="Host return URLs may use.")
def merchant_create(slug: str, name: str | None, stripe_key: str | None, hosts: tuple[str]) -> None:
    """Create a merchant (no key = preview mode) and print its link-signing secret."""
    db.create_all()
    try:
        merchant = create_merchant(slug, name, stripe_key, list(hosts))
    except MerchantError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    mode = "live" if merchant.live else "preview"
    click.echo(f"Created merchant {merchant.slug!r} ({mode} mode).")
    click.echo(f"Link-signing secret (keep it in your backend): {merchant.link_secrets[-1]}")


def parse_attributes(pairs: tuple[str, ...]) -> dict[str, str]:
    attributes = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"{pair!r} is not KEY=VALUE", param_hint="--attr")
        attributes[key.strip()] = value.strip()
    try:
        links.validate_attributes(attributes)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--attr") from exc
    return attributes


@click.command("link")
@with_appcontext
@click.argument("merchant")
@click.option("--customer", required=True, help="Stripe customer id (cus_...).")
@click.option("--subscription", required=True, help="Stripe subscription id (sub_...).")
@click.option("--return-url", help="Where the customer goes afterwards (host must be allowed).")
@click.option("--attr", "attrs", multiple=True, help="Segment attribute KEY=VALUE (repeatable).")
@click.option("--locale", help="Customer's language, e.g. de.")
def link_command(
    merchant: str,
    customer: str,
    subscription: str,
    return_url: str | None,
    attrs: tuple[str, ...],
    locale: str | None,
) -> None:
    """Print a fresh cancel link."""
    click.echo(
        make_link(merchant, customer, subscription, return_url, parse_attributes(attrs), locale)
    )


def make_link(
    slug: str,
    customer: str,
    subscription: str,
    return_url: str | None = None,
    attributes: dict[str, str] | None = None,
    locale: str | None = None,
) -> str:
    merchant = by_slug(slug)
    if merchant is None:
        raise click.ClickException(f"no merchant {slug!r}")
    return links.sign_cancel_link(
        base_url=current_app.config["PUBLIC_BASE_URL"],
        merchant=merchant.slug,
        secret=merchant.link_secrets,
        customer=customer,
        subscription=subscription,
        return_url=return_url,
        attributes=attributes,
        locale=locale,
    )


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
    back = f"{base}/"
    examples = [
        ("Price-sensitive customer", {"plan": "Pro", "mrr": "4900", "tenure_days": "400"}),
        ("Newer customer on Starter", {"plan": "Starter", "mrr": "900", "tenure_days": "20"}),
    ]
    click.echo("cancelpage demo (preview mode: nothing is sent to Stripe).")
    for label, attributes in examples:
        url = make_link(DEMO_SLUG, "cus_demo", "sub_demo", back, attributes, locale)
        click.echo(f"\n{label}:\n  {url}")
    click.echo("")
    if not no_serve:
        # app.run() refuses to start inside the `flask` command; serve with werkzeug directly.
        run_simple(host, port, current_app._get_current_object(), threaded=True)


@merchant_group.command("frame-ancestors")
@click.argument("slug")
@click.argument("origins", nargs=-1)
@with_appcontext
def merchant_frame_ancestors(slug: str, origins: tuple[str, ...]) -> None:
    """Set the https origins that may show the customer pages in a frame (none: no framing)."""
    from .security import validate_frame_ancestors

    merchant = by_slug(slug)
    if merchant is None:
        raise click.ClickException(f"no merchant {slug!r}")
    try:
        merchant.frame_ancestors = validate_frame_ancestors(list(origins))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ORIGINS") from exc
    db.session.commit()
    allowed = " ".join(merchant.frame_ancestors) or "none (framing refused)"
    click.echo(f"Origins that may frame {slug!r}: {allowed}")
