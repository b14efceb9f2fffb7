"""`flask --app cancelpage merchant ...`: create and list merchants, set their framing origins,
webhook secrets and dunning days."""

from __future__ import annotations

import click
import sqlalchemy as sa
from flask.cli import with_appcontext

from cancelpage.cli.common import load_merchant
from cancelpage.extensions import db
from cancelpage.merchants.store import MerchantError, create_merchant
from cancelpage.models import Merchant, MerchantUser
from cancelpage.recovery import emails, webhooks
from cancelpage.web.headers import validate_frame_ancestors


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


@merchant_group.command("list")
@with_appcontext
def merchant_list() -> None:
    """Every merchant: slug (what other commands take), mode, dashboard users, name."""
    db.create_all()
    merchants = db.session.scalars(sa.select(Merchant).order_by(Merchant.slug)).all()
    if not merchants:
        click.echo("No merchants yet: `flask --app cancelpage merchant create SLUG` (or `demo`).")
    for merchant in merchants:
        users = db.session.scalar(
            sa.select(sa.func.count()).where(MerchantUser.merchant_id == merchant.id)
        )
        mode = "live" if merchant.live else "preview"
        click.echo(f"{merchant.slug}\t{mode}\t{users} user(s)\t{merchant.name}")


@merchant_group.command("frame-ancestors")
@click.argument("slug")
@click.argument("origins", nargs=-1)
@with_appcontext
def merchant_frame_ancestors(slug: str, origins: tuple[str, ...]) -> None:
    """Set the https origins that may show the customer pages in a frame (none: no framing)."""
    merchant = load_merchant(slug)
    try:
        merchant.frame_ancestors = validate_frame_ancestors(list(origins))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ORIGINS") from exc
    db.session.commit()
    allowed = " ".join(merchant.frame_ancestors) or "none (framing refused)"
    click.echo(f"Origins that may frame {slug!r}: {allowed}")


@merchant_group.command("webhook-secret")
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


@merchant_group.command("dunning-days")
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
