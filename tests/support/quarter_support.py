"""The simulated quarter the analytics tests read, and its ground truth computed here,
independently, from what the generator says each customer did."""

from __future__ import annotations

import csv
import io
import os
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

from cancelpage import analytics
from cancelpage.analytics import simulate, stats
from cancelpage.config import normalise_database_url
from cancelpage.extensions import db
from cancelpage.models import Merchant

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
SEED = 7
COUNT = 2000
# The page's default range: the 91 days ending today.
PAGE_START = NOW.date() - timedelta(days=90)
QUARTER = analytics.Filters(start=(NOW - timedelta(days=91)).date(), end=NOW.date())
ENDED = ("canceled", "unpaid", "incomplete_expired")
# The simulated flow's offer terms, written out again here on purpose (not read from the flow).
PERCENT_OFF = {"discount_25_3m": 25}
AMOUNT_OFF = {"discount_10_fixed": (1000, "usd")}  # amount off and its currency
NOTHING_KEPT = ("pause_1m", "pause_2m", "free_30d")
MONTHS_PER_INTERVAL = {"month": 1, "year": 12}

Sim = simulate.SimSession
Case = simulate.SimCase
CASE_COUNT = 600
EVIL_CUSTOMER = '=HYPERLINK("http://evil.example")'


def special_case(index: int, invoice: str, opened: datetime, **fields: Any) -> Case:
    base = {
        "index": index,
        "customer_id": f"cus_{invoice}",
        "subscription_id": f"sub_{invoice}",
        "invoice_id": invoice,
        "opened_at": opened,
        "amount_due": 2900,
        "currency": "usd",
        "status": "recovered",
        "closed_at": opened + timedelta(days=2),
        "amount_recovered": 2900,
    }
    return Case(**{**base, **fields})


# Acme's failed invoices: the simulated ones, one opened before the quarter, and one whose
# customer id would be a spreadsheet formula.
CASES: list[Case] = [
    *simulate.generate_cases(CASE_COUNT, NOW, SEED),
    special_case(CASE_COUNT, "in_old", NOW - timedelta(days=120)),
    special_case(CASE_COUNT + 1, "in_evil", NOW - timedelta(days=3), customer_id=EVIL_CUSTOMER),
]
BETA_CASES = 300
BETA_SEED = SEED + 1


def database_url(folder: Any) -> str:
    """PostgreSQL when DATABASE_URL is set (as in conftest), else a SQLite file of this module."""
    url = os.environ.get("DATABASE_URL")
    return normalise_database_url(url) if url else f"sqlite:///{folder}/quarter.sqlite"


# ---- the ground truth ------------------------------------------------------------------------


def is_saved(sim: Sim) -> bool:
    return sim.outcome in ("accepted", "kept")


def is_cancelled(sim: Sim) -> bool:
    return sim.outcome in ("canceled", "portal")


def kept_mrr(sim: Sim) -> Fraction:
    if sim.outcome == "kept":
        return Fraction(sim.mrr)
    if sim.outcome != "accepted":
        return Fraction(0)
    offer = sim.accepted_offer or ""
    if offer in PERCENT_OFF:
        return Fraction(sim.mrr) * (100 - PERCENT_OFF[offer]) / 100
    if offer in AMOUNT_OFF:
        amount, currency = AMOUNT_OFF[offer]
        if sim.currency != currency:  # Stripe takes a coupon's amount only in its currency
            return Fraction(sim.mrr)
        months = MONTHS_PER_INTERVAL[sim.interval]
        monthly = int(Fraction(amount, months) + Fraction(1, 2))
        return Fraction(max(0, sim.mrr - monthly))
    assert offer in NOTHING_KEPT
    return Fraction(0)


def money(sims: list[Sim], value: Callable[[Sim], Fraction]) -> dict[str, int]:
    totals: dict[str, Fraction] = defaultdict(Fraction)
    for sim in sims:
        totals[sim.currency] += value(sim)
    return {c: int(v + Fraction(1, 2)) for c, v in sorted(totals.items()) if v}


def matured(sim: Sim, days: int) -> bool:
    return sim.created_at <= NOW - timedelta(days=days)


def retained(sim: Sim, days: int) -> bool:
    status = "active"
    for moment, changed_to in sorted(sim.statuses):
        if moment <= sim.created_at + timedelta(days=days):
            status = changed_to
    return status not in ENDED


def proportion(sims: list[Sim], hit: Callable[[Sim], bool]) -> stats.Proportion:
    return stats.Proportion(sum(1 for s in sims if hit(s)), len(sims))


def case_status_at(case: Case, at: datetime) -> str:
    return case.status if case.closed_at is not None and case.closed_at <= at else "open"


def cases_in(f: analytics.Filters, at: datetime) -> list[Case]:
    return [c for c in CASES if f.start_at <= c.opened_at < f.end_at and c.opened_at <= at]


def case_money(cases: list[Case], amount: Callable[[Case], int | None]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for case in cases:
        totals[case.currency] += amount(case) or 0
    return {c: v for c, v in sorted(totals.items()) if v}


EARLIER = NOW - timedelta(days=20)
DUNNING_SEGMENTS = [
    ("quarter", QUARTER, NOW),
    (
        "last month",
        analytics.Filters(datetime(2026, 6, 1).date(), datetime(2026, 6, 30).date()),
        NOW,
    ),
    ("as known 20 days ago", QUARTER, EARLIER),
]


def csv_rows(chunks: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("".join(chunks))))


def acme() -> Merchant:
    merchant = db.session.scalar(db.select(Merchant).where(Merchant.slug == "acme"))
    assert merchant is not None
    return merchant


def verdict_counts(
    sims: list[Sim], experiment: str, arms: tuple[str, ...], horizon: int
) -> list[tuple[str, int, int]]:
    """(arm, successes, units) the verdict must read, worked out by hand: each customer's first
    session, scored on still subscribed 30 days later once 30 days old, every arm counted up to
    the moment the last arm reached `horizon` such customers."""
    first: dict[str, Sim] = {}
    for sim in sorted(sims, key=lambda s: (s.created_at, s.index)):
        if sim.assignments.get(experiment) and sim.customer_id not in first:
            first[sim.customer_id] = sim
    known = {
        arm: sorted(
            (s for s in first.values() if s.assignments[experiment] == arm and matured(s, 30)),
            key=lambda s: s.created_at,
        )
        for arm in arms
    }
    closed = max(known[arm][horizon - 1].created_at for arm in arms)
    inside = {arm: [s for s in known[arm] if s.created_at <= closed] for arm in arms}
    return [(arm, sum(retained(s, 30) for s in inside[arm]), len(inside[arm])) for arm in arms]
