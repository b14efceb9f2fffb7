"""`flask --app cancelpage user add MERCHANT EMAIL` and `user set-password EMAIL`: dashboard
users."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from cancelpage.cli.common import load_merchant
from cancelpage.extensions import db
from cancelpage.merchants import accounts

user_group = AppGroup("user", help="Manage dashboard users.")
password_option = click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="For scripts; prompted for (hidden) when left out.",
)


@user_group.command("add")
@click.argument("merchant")
@click.argument("email")
@password_option
def user_add(merchant: str, email: str, password: str) -> None:
    """Add a user who signs in to MERCHANT's dashboard with EMAIL."""
    db.create_all()
    found = load_merchant(merchant)
    try:
        user = accounts.create_user(found, email, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Added {user.email} to {found.slug!r}. Sign in at /admin/login.")


@user_group.command("set-password")
@click.argument("email")
@password_option
def user_set_password(email: str, password: str) -> None:
    """Set a new password for the user who signs in with EMAIL (no email needed)."""
    user = accounts.user_by_email(email)
    if user is None:
        raise click.ClickException(f"no dashboard user {email!r}")
    try:
        accounts.set_password(user, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"New password set for {user.email}. Sign in at /admin/login.")
