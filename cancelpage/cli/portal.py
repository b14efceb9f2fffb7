"""`flask --app cancelpage portal ...`: does Stripe's customer portal let customers cancel
without cancelpage, and keeping cancelpage's own portal configuration."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from cancelpage.billing import BillingError
from cancelpage.cli.common import load_merchant
from cancelpage.extensions import db
from cancelpage.merchants import portal
from cancelpage.models import Merchant


@click.group("portal")
def portal_group() -> None:
    """Stripe's customer portal."""


def _echo_status(status: portal.PortalStatus) -> None:
    if not status.live:
        click.echo("Preview mode: nothing is read from Stripe.")
    elif status.default is None:
        click.echo("No default portal configuration (the portal is not switched on).")
    else:
        click.echo(f"Default configuration {status.default.id}:")
        click.echo(f"  {status.side_door or 'Customers cannot cancel in the portal.'}")
        for line in status.allows:
            click.echo(f"  It lets customers: {line}")
    if status.ours is not None:
        click.echo(f"cancelpage's configuration {status.ours.id}:")
        for line in status.drift or ["It says what you chose."]:
            click.echo(f"  {line}")
    elif status.live:
        click.echo("cancelpage has no portal configuration yet: run `portal configure`.")
    for request in status.requests:
        click.echo(f"{request.method.upper()} {request.path} (key {request.idempotency_key})")
        for name, value in request.params.items():
            click.echo(f"  {name}={value}")


@portal_group.command("status")
@with_appcontext
@click.argument("slug")
def portal_status(slug: str) -> None:
    """Say whether the default configuration lets customers cancel, and what else it allows."""
    merchant = load_merchant(slug)
    try:
        status = portal.status(merchant)
    except BillingError as err:
        raise click.ClickException(err.message) from err
    db.session.commit()
    _echo_status(status)


@portal_group.command("configure")
@with_appcontext
@click.argument("slug")
@click.option("--cancel-timing", type=click.Choice(portal.PORTAL_CANCEL_MODES))
@click.option("--price", "prices", multiple=True, help="A price customers may switch to.")
@click.option("--headline")
@click.option("--privacy-url")
@click.option("--terms-url")
@click.option("--apply-to-default", is_flag=True, help="Write the settings onto the default too.")
@click.option("--yes", is_flag=True, help="Confirm --apply-to-default without asking.")
def portal_configure(
    slug: str,
    cancel_timing: str | None,
    prices: tuple[str, ...],
    headline: str | None,
    privacy_url: str | None,
    terms_url: str | None,
    apply_to_default: bool,
    yes: bool,
) -> None:
    """Create or update cancelpage's configuration (options left out keep their setting)."""
    merchant = load_merchant(slug)
    chosen = portal.settings_of(merchant)
    given = {"cancel_timing": cancel_timing, "headline": headline}
    given |= {"privacy_url": privacy_url, "terms_url": terms_url}
    form = {**chosen, **{k: v for k, v in given.items() if v is not None}}
    form["prices"] = "\n".join(prices or chosen["prices"])
    try:
        portal.update_settings(merchant, form)
        if apply_to_default and not yes:
            _confirm_default(merchant)
        status = portal.configure(merchant, apply_to_default=apply_to_default)
    except portal.PortalSettingsError as exc:
        raise click.ClickException(str(exc)) from exc
    except BillingError as err:
        raise click.ClickException(err.message) from err
    db.session.commit()
    _echo_status(status)


def _confirm_default(merchant: Merchant) -> None:
    click.echo(
        "This changes every portal link that names no configuration (your backend's portal "
        "sessions, Stripe's login link, Stripe's emails):"
    )
    for line in portal.default_changes(merchant) or ["nothing: it already matches."]:
        click.echo(f"  {line}")
    click.confirm("Change the default configuration?", abort=True)
