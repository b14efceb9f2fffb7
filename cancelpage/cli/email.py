"""`flask --app cancelpage email ...`: test emails, copy, the outbox."""

from __future__ import annotations

import click
from flask.cli import with_appcontext

from cancelpage.cli.common import load_merchant
from cancelpage.extensions import db
from cancelpage.recovery import emails, outbox


@click.group("email")
def email_group() -> None:
    """Recovery emails: tests, copy, the outbox."""


@email_group.command("test")
@click.argument("merchant")
@click.argument("to_address")
@click.option("--kind", default="dunning_1", show_default=True, help="Which email to test.")
@with_appcontext
def email_test(merchant: str, to_address: str, kind: str) -> None:
    """Send one email with sample values to TO_ADDRESS (e.g. yourself) right now."""
    try:
        row = outbox.send_test(load_merchant(merchant), to_address, kind)
    except emails.CopyError as exc:
        raise click.ClickException(str(exc)) from exc
    if row.status != "sent":
        raise click.ClickException(f"not sent ({row.status}): {row.last_error}")
    click.echo(f"Sent {kind} test to {to_address} ({row.message_id}).")


@email_group.command("copy")
@click.argument("merchant")
@click.argument("kind")
@click.option("--subject", help="New subject; {placeholders} allowed.")
@click.option("--body", help="New text; blank lines separate paragraphs.")
@click.option("--reset", is_flag=True, help="Go back to the default copy.")
@click.option("--locale", help="The language of this text (default: the merchant's default).")
@with_appcontext
def email_copy(
    merchant: str,
    kind: str,
    subject: str | None,
    body: str | None,
    reset: bool,
    locale: str | None,
) -> None:
    """Show or change the subject and text of one kind of email, in one language."""
    m = load_merchant(merchant)
    try:
        if reset:
            emails.reset_copy(m, kind, locale)
        elif subject is not None or body is not None:
            current = emails.get_copy(m, kind, locale)
            emails.set_copy(
                m,
                kind,
                subject if subject is not None else (current.subject if current else None),
                body if body is not None else (current.body if current else None),
                locale,
            )
        db.session.commit()
        rendered = emails.preview(m, kind, locale)
    except emails.CopyError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"Subject: {rendered.subject}\n\n{rendered.text}")


@email_group.command("outbox")
@click.argument("merchant")
@click.option("--status", help="Only rows with this status (e.g. dead).")
@click.option("--limit", default=50, show_default=True)
@with_appcontext
def email_outbox(merchant: str, status: str | None, limit: int) -> None:
    """The merchant's most recent emails and what happened to each."""
    for row in outbox.rows_for(load_merchant(merchant), status=status, limit=limit):
        due = row.due_at.strftime("%Y-%m-%d %H:%M")
        error = f"  ({row.last_error})" if row.last_error else ""
        click.echo(
            f"{row.id:>6}  {row.kind:<14} {row.status:<10} due {due}  attempts {row.attempts}"
            f"  case {row.case_id or '-'}{error}"
        )


@email_group.command("requeue")
@click.argument("merchant")
@click.argument("row_id", type=int)
@with_appcontext
def email_requeue(merchant: str, row_id: int) -> None:
    """Try a dead email again with a fresh set of attempts."""
    if not outbox.requeue(load_merchant(merchant), row_id):
        raise click.ClickException(f"no dead email {row_id} for {merchant!r}")
    click.echo(f"Email {row_id} queued again.")
