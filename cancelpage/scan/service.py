"""The revenue scan's reads: which Stripe lists, in which order, and one page at a time.

Each phase is one list with the narrowest filters Stripe's List API offers (status, created,
collection method). ``advance`` reads one page, folds it into the figures and moves the
checkpoint on; the caller stores the checkpoint, so a scan stopped anywhere resumes with the next
page instead of starting over. Memory holds one page, never the account.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from cancelpage.billing import (
    Gateway,
    Page,
    ReadStats,
    ScanInvoiceStatus,
    ScannedInvoice,
    ScannedSubscription,
    ScanSubscriptionStatus,
)
from cancelpage.scan import figures
from cancelpage.scan.figures import Figures, Window


@dataclass(frozen=True)
class Phase:
    label: str
    source: Literal["subscriptions", "invoices"]
    status: str


PHASES: tuple[Phase, ...] = (
    Phase("Cancelled subscriptions", "subscriptions", "canceled"),
    Phase("Past-due subscriptions", "subscriptions", "past_due"),
    Phase("Unpaid subscriptions", "subscriptions", "unpaid"),
    Phase("Active subscriptions (scheduled cancels)", "subscriptions", "active"),
    Phase("Trialing subscriptions (scheduled cancels)", "subscriptions", "trialing"),
    Phase("Paid invoices (retried and recovered)", "invoices", "paid"),
    Phase("Open invoices", "invoices", "open"),
    Phase("Uncollectible invoices", "invoices", "uncollectible"),
    Phase("Voided invoices", "invoices", "void"),
)


@dataclass
class Checkpoint:
    """Where a scan stands: the phase, the cursor of the next page, and the figures so far."""

    phase: int = 0
    cursor: str | None = None
    objects: int = 0
    figures: Figures = field(default_factory=figures.empty)

    @property
    def done(self) -> bool:
        return self.phase >= len(PHASES)


def _read(
    gateway: Gateway, phase: Phase, window: Window, checkpoint: Checkpoint, stats: ReadStats
) -> Page[Any]:
    if phase.source == "subscriptions":
        status: ScanSubscriptionStatus = phase.status  # type: ignore[assignment]
        return gateway.subscriptions_page(
            status,
            stats=stats,
            # Only a cancelled subscription's creation bounds when it can have ended.
            created_before=window.end_ts if status == "canceled" else None,
            starting_after=checkpoint.cursor,
        )
    invoice_status: ScanInvoiceStatus = phase.status  # type: ignore[assignment]
    return gateway.invoices_page(
        invoice_status,
        stats=stats,
        created_from=window.start_ts,
        created_before=window.end_ts,
        starting_after=checkpoint.cursor,
    )


def advance(gateway: Gateway, window: Window, checkpoint: Checkpoint, stats: ReadStats) -> None:
    """Read the next page and fold it in (the checkpoint moves on; a no-op when done)."""
    if checkpoint.done:
        return
    phase = PHASES[checkpoint.phase]
    page = _read(gateway, phase, window, checkpoint, stats)
    add: Callable[[Any], None]
    if phase.source == "invoices":

        def add(item: ScannedInvoice) -> None:
            figures.add_invoice(checkpoint.figures, window, item)

    elif phase.status == "canceled":

        def add(item: ScannedSubscription) -> None:
            figures.add_ended(checkpoint.figures, window, item)

    else:

        def add(item: ScannedSubscription) -> None:
            figures.add_current(checkpoint.figures, window, item)

    for item in page.items:
        add(item)
    checkpoint.objects += len(page.items)
    if page.next_cursor is None:
        checkpoint.phase, checkpoint.cursor = checkpoint.phase + 1, None
    else:
        checkpoint.cursor = page.next_cursor
