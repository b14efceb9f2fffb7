"""`flask --app cancelpage user ...` and `keys ...`: dashboard users and encryption keys."""

from __future__ import annotations

import click
from flask import Flask
from flask.cli import AppGroup

from . import accounts, keyring, vault
from .extensions import db
from .merchants import by_slug


def init_app(app: Flask) -> None:
    app.cli.add_command(user_group)
    app.cli.add_command(keys_group)


user_group = AppGroup("user", help="Manage dashboard users.")


@user_group.command("add")
@click.argument("merchant")
@click.argument("email")
@click.option(
    "--password",
    prompt=True,
    hide_input=True,
    confirmation_prompt=True,
    help="For scripts; prompted for (hidden) when left out.",
)
def user_add(merchant: str, email: str, password: str) -> None:
    """Add a user who signs in to MERCHANT's dashboard with EMAIL."""
    db.create_all()
    found = by_slug(merchant)
    if found is None:
        raise click.ClickException(f"no merchant {merchant!r}")
    try:
        user = accounts.create_user(found, email, password)
    except accounts.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Added {user.email} to {found.slug!r}. Sign in at /admin/login.")


keys_group = AppGroup(
    "keys", help="Encryption keys for secrets at rest (CANCELPAGE_ENCRYPTION_KEYS)."
)


@keys_group.command("new")
def keys_new() -> None:
    """Print a new Fernet key; put it FIRST in CANCELPAGE_ENCRYPTION_KEYS, then run `rotate`."""
    click.echo(vault.new_key())


@keys_group.command("rotate")
def keys_rotate() -> None:
    """Re-encrypt every stored secret with the newest (first) configured key."""
    count = keyring.rotate_all()
    click.echo(f"Re-encrypted {count} stored secrets with the newest key.")
    click.echo("Old keys may now be removed from CANCELPAGE_ENCRYPTION_KEYS.")
