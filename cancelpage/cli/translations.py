"""`flask --app cancelpage translations update|check`: the catalogs in step with the sources."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from cancelpage.i18n.catalogs import SOURCE_ROOT, problems, update

translations_group = AppGroup("translations", help="Keep the message catalogs up to date.")


@translations_group.command("update")
def update_command() -> None:
    """Extract the strings from the sources into every language's catalog."""
    changed = update()
    for path in changed:
        click.echo(f"updated {path.relative_to(SOURCE_ROOT)}")
    left = problems()
    for line in left:
        click.echo(line)
    click.echo(f"{len(changed)} catalog(s) changed; {len(left)} string(s) still to translate.")


@translations_group.command("check")
def check_command() -> None:
    """Fail when a catalog is out of date or has an untranslated, fuzzy or broken string."""
    left = problems()
    for line in left:
        click.echo(line, err=True)
    if left:
        raise click.ClickException(f"{len(left)} problem(s) in the catalogs")
    click.echo("All catalogs are complete and up to date.")
