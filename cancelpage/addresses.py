"""Email addresses: the one rule for what counts as one, used by every form that takes an address
(support address, dashboard users) and by the outbox before it sends (email-validator, syntax
only: no DNS lookups)."""

from __future__ import annotations

from email_validator import EmailNotValidError, validate_email


class BadAddress(ValueError):
    """Not an address we can send to; the message says why, in plain words."""


def checked(address: str) -> str:
    """The address as the outbox sends to it (ASCII, domain lower-cased), or BadAddress."""
    try:
        result = validate_email(address.strip(), check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        raise BadAddress(str(exc)) from None
    return str(result.ascii_email or result.normalized)


def usable(address: str | None) -> str | None:
    """The checked address, or None when there is none or it breaks the rule."""
    try:
        return checked(address) if address else None
    except BadAddress:
        return None
