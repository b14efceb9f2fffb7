"""`flask --app cancelpage keys new|rotate`: the encryption keys of secrets at rest."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from cancelpage.merchants import keyring, vault

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
