"""The revenue scan's monthly figures as CSV: one row per month and currency."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from decimal import Decimal

from babel.numbers import get_currency_precision

from cancelpage.models import RevenueScan
from cancelpage.scan import figures, jobs

KINDS = (*figures.ENDED_KINDS, *figures.INVOICE_KINDS)
HEADER = (
    "month",
    "currency",
    *(f"{kind}_{what}" for kind in figures.ENDED_KINDS for what in ("subscriptions", "mrr")),
    *(f"{kind}_{what}" for kind in figures.INVOICE_KINDS for what in ("invoices", "amount")),
)


def major(amount: int, currency: str) -> str:
    """Minor units as a plain decimal in the currency's own unit (JPY has no decimals)."""
    places = get_currency_precision(currency.upper())
    return str(Decimal(amount).scaleb(-places))


def monthly_csv(scan: RevenueScan) -> Iterator[str]:
    """Every month of the window for every currency; MRR per month, amounts in major units."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    window = jobs.window_of(scan)
    for currency in figures.currencies(scan.figures):
        for row in figures.month_rows(scan.figures, window, currency):
            cells: list[str | int] = [row.month, currency.upper()]
            for kind in KINDS:
                cells += [row.count(kind), major(row.amount(kind), currency)]
            writer.writerow(cells)
    yield out.getvalue()


def filename(scan: RevenueScan, slug: str) -> str:
    taken = (scan.finished_at or scan.created_at).date().isoformat()
    return f"cancelpage-revenue-scan-{slug}-{taken}.csv"
