"""Helpers the command groups share."""

from __future__ import annotations

import click

from cancelpage.merchants.store import by_slug
from cancelpage.models import Merchant


def load_merchant(slug: str) -> Merchant:
    """The merchant with this slug, or a clear error for the command line."""
    merchant = by_slug(slug)
    if merchant is None:
        raise click.ClickException(f"no merchant {slug!r}")
    return merchant
