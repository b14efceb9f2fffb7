"""`flask --app cancelpage link MERCHANT --customer CUS --subscription SUB`: a fresh cancel link."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import with_appcontext

from cancelpage import links
from cancelpage.cli.common import load_merchant


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
    try:
        url = make_link(
            merchant, customer, subscription, return_url, parse_attributes(attrs), locale
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--return-url") from exc
    click.echo(url)


def make_link(
    slug: str,
    customer: str,
    subscription: str,
    return_url: str | None = None,
    attributes: dict[str, str] | None = None,
    locale: str | None = None,
) -> str:
    merchant = load_merchant(slug)
    return links.sign_cancel_link(
        base_url=current_app.config["PUBLIC_BASE_URL"],
        merchant=merchant.slug,
        secret=merchant.link_secrets,
        customer=customer,
        subscription=subscription,
        return_url=return_url,
        allowed_return_hosts=merchant.return_hosts,
        attributes=attributes,
        locale=locale,
    )
