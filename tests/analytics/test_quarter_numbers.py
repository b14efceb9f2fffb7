"""A simulated quarter written as real rows: every dashboard number equals the ground truth
computed independently from what the generator says each customer did."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from support.quarter_support import (
    BETA_CASES,
    CASES,
    COUNT,
    DUNNING_SEGMENTS,
    EARLIER,
    EVIL_CUSTOMER,
    NOW,
    QUARTER,
    Sim,
    acme,
    case_money,
    case_status_at,
    cases_in,
    csv_rows,
    is_cancelled,
    is_saved,
    kept_mrr,
    matured,
    money,
    proportion,
    retained,
    verdict_counts,
)

from cancelpage import analytics
from cancelpage.analytics import simulate, stats
from cancelpage.extensions import db
from cancelpage.models import Merchant

# ---- the checks ------------------------------------------------------------------------------

SEGMENTS: list[tuple[str, dict[str, str], Callable[[Sim], bool]]] = [
    ("quarter", {}, lambda s: True),
    ("plan", {"plan": "Pro"}, lambda s: s.plan == "Pro"),
    ("reason", {"reason": "unused"}, lambda s: s.reason == "unused"),
    ("skipped", {"reason": analytics.SKIPPED}, lambda s: s.reason is None),
    ("offer shown", {"offer": "pause_1m"}, lambda s: "pause_1m" in s.offers_shown),
    (
        "experiment",
        {"experiment": simulate.SIM_EXPERIMENT},
        lambda s: simulate.SIM_EXPERIMENT in s.assignments,
    ),
    (
        "arm",
        {"experiment": simulate.SIM_EXPERIMENT, "arm": "holdout"},
        lambda s: s.assignments.get(simulate.SIM_EXPERIMENT) == "holdout",
    ),
    (
        "last month",
        {"from": "2026-06-01", "to": "2026-06-30"},
        lambda s: (
            datetime(2026, 6, 1, tzinfo=UTC) <= s.created_at < datetime(2026, 7, 1, tzinfo=UTC)
        ),
    ),
]


def segment(args: dict[str, str]) -> analytics.Filters:
    return analytics.Filters.from_args({**QUARTER.to_args(), **args}, NOW.date())


@pytest.mark.parametrize(
    ("args", "keep"), [(a, k) for _, a, k in SEGMENTS], ids=[n for n, _, _ in SEGMENTS]
)
def test_overview_and_retention_equal_the_ground_truth(
    quarter: list[Sim], args: dict[str, str], keep: Callable[[Sim], bool]
) -> None:
    sims = [s for s in quarter if keep(s)]
    assert sims, "the segment must not be empty"
    f = segment(args)
    result = analytics.overview(acme(), f)
    assert result.sessions == len(sims)
    assert result.saved == sum(map(is_saved, sims))
    assert result.cancelled == sum(map(is_cancelled, sims))
    assert result.open == sum(1 for s in sims if s.outcome is None)
    assert result.save_rate == stats.Proportion(result.saved, result.saved + result.cancelled)
    assert result.saved_mrr == money(sims, kept_mrr)
    for row in analytics.retention(acme().id, f, NOW):
        old = [s for s in sims if matured(s, row.days)]
        assert row.all == proportion(old, lambda s, d=row.days: retained(s, d))
        old_saved = [s for s in old if is_saved(s)]
        assert row.saved == proportion(old_saved, lambda s, d=row.days: retained(s, d))


def test_reasons_equal_the_ground_truth(quarter: list[Sim]) -> None:
    rows = analytics.reasons(acme(), QUARTER)
    truth = Counter(s.reason or analytics.SKIPPED for s in quarter)
    assert {r.code: r.sessions for r in rows} == dict(truth)
    assert [r.sessions for r in rows] == sorted(truth.values(), reverse=True)
    for row in rows:
        mine = [s for s in quarter if (s.reason or analytics.SKIPPED) == row.code]
        assert row.saved == sum(map(is_saved, mine))
        assert row.cancelled == sum(map(is_cancelled, mine))
    labels = {r.code: r.label for r in rows}
    assert labels["too_expensive"] == "It's too expensive"
    assert labels[analytics.SKIPPED] == "Skipped the survey"


def test_offers_equal_the_ground_truth(quarter: list[Sim]) -> None:
    rows = {r.offer_id: r for r in analytics.offers(acme(), QUARTER, NOW)}
    offered = sorted({o for s in quarter for o in s.offers_shown})
    assert sorted(rows) == offered
    for offer_id, row in rows.items():
        took = [s for s in quarter if s.outcome == "accepted" and s.accepted_offer == offer_id]
        assert row.shown == sum(1 for s in quarter if offer_id in s.offers_shown)
        assert row.accepted == len(took)
        assert row.acceptance == stats.Proportion(len(took), row.shown)
        assert row.saved_mrr == money(took, kept_mrr)
        old = [s for s in took if matured(s, 30)]
        assert row.retention_30 == proportion(old, lambda s: retained(s, 30))
        kept_30 = [s for s in old if retained(s, 30)]
        assert row.retained_mrr_30 == money(kept_30, lambda s: Fraction(s.mrr))


def test_measured_rates_match_the_known_probabilities(
    quarter: list[Sim], record_property: Any
) -> None:
    """The generator does what it says (the exact checks above would pass on any data)."""
    behaviour = simulate.Behaviour()
    for row in analytics.offers(acme(), QUARTER, NOW):
        known = behaviour.accept[row.offer_id]
        measured = row.acceptance
        record_property(f"acceptance_{row.offer_id}", f"{measured.rate:.3f} (known {known})")
        low, high = measured.interval
        assert low - 0.03 <= known <= high + 0.03
    skipped = analytics.overview(acme(), segment({"reason": analytics.SKIPPED})).sessions / COUNT
    assert abs(skipped - behaviour.skip_survey) < 0.03


def test_weekly_trend_equals_the_ground_truth(quarter: list[Sim]) -> None:
    weeks = analytics.weekly(acme().id, QUARTER)
    first_monday = QUARTER.start - timedelta(days=QUARTER.start.weekday())
    assert weeks[0].start == first_monday
    assert weeks[0].start.weekday() == 0
    assert weeks[-1].start <= QUARTER.end < weeks[-1].start + timedelta(days=7)
    for week in weeks:
        begin = datetime.combine(week.start, datetime.min.time(), UTC)
        mine = [s for s in quarter if begin <= s.created_at < begin + timedelta(days=7)]
        assert (week.sessions, week.saved, week.cancelled) == (
            len(mine),
            sum(map(is_saved, mine)),
            sum(map(is_cancelled, mine)),
        )
    assert sum(w.sessions for w in weeks) == COUNT


def test_experiment_results_equal_the_ground_truth(quarter: list[Sim]) -> None:
    (report,) = analytics.experiments(acme(), QUARTER, NOW)
    assert report.running
    assert report.experiment.id == simulate.SIM_EXPERIMENT
    exp = simulate.SIM_EXPERIMENT
    for arm in report.arms:
        mine = [s for s in quarter if s.assignments.get(exp) == arm.arm]
        assert arm.sessions == len(mine)
        assert arm.saved == sum(map(is_saved, mine))
        assert arm.decided == sum(1 for s in mine if s.outcome is not None)
        accepted_here = sum(
            1 for s in mine if s.outcome == "accepted" and s.accepted_offer == arm.arm
        )
        assert arm.accepted_here == accepted_here
        old = [s for s in mine if matured(s, 30)]
        assert arm.retention_30 == proportion(old, lambda s: retained(s, 30))
    # The verdict reads every arm's first-session customers over one calendar window.
    horizon = stats.sample_size_per_arm(0.1, 1)
    assert report.verdict.horizon == horizon
    counts = report.at_horizon.counts
    assert [(c.arm, c.saves, c.decided) for c in counts] == verdict_counts(
        quarter, exp, report.experiment.arms, horizon
    )
    expected = stats.decide(counts[0], counts[1:], 0.1)
    assert report.verdict == expected


def test_comments_are_searchable_and_paginated(quarter: list[Sim]) -> None:
    with_comment = sorted(
        (s for s in quarter if s.comment), key=lambda s: (s.created_at, s.index), reverse=True
    )
    seen: list[str] = []
    before = None
    while True:
        page = analytics.comments(acme().id, QUARTER, before=before, limit=50)
        seen += [c.comment for c in page.comments]
        if page.next_before is None:
            break
        before = page.next_before
    assert seen == [s.comment for s in with_comment]
    found = analytics.comments(acme().id, QUARTER, search="PRICE", limit=1000).comments
    assert [c.comment for c in found] == [
        s.comment for s in with_comment if "price" in (s.comment or "").lower()
    ]
    assert analytics.comments(acme().id, QUARTER, search="100%_").comments == []


def test_csv_export_has_every_session_once(quarter: list[Sim]) -> None:
    chunks = list(analytics.export_sessions(acme().id, QUARTER, NOW, batch=100))
    assert len(chunks) >= COUNT // 100  # streamed in batches, not built in one piece
    rows = list(csv.DictReader(io.StringIO("".join(chunks))))
    assert [r["customer_id"] for r in rows] == [
        s.customer_id for s in sorted(quarter, key=lambda s: (s.created_at, s.index))
    ]
    by_customer = {s.customer_id: s for s in quarter}
    for row in rows:
        sim = by_customer[row["customer_id"]]
        assert row["outcome"] == (sim.outcome or "")
        assert row["offers_shown"] == " ".join(sim.offers_shown)
        assert row["mrr"] == str(sim.mrr)
        expected_30 = ("yes" if retained(sim, 30) else "no") if matured(sim, 30) else ""
        assert row["retained_30"] == expected_30
        if sim.comment and sim.comment.startswith("="):
            assert row["comment"] == "'" + sim.comment  # never a live spreadsheet formula
        else:
            assert row["comment"] == (sim.comment or "")


@pytest.mark.parametrize(
    ("f", "at"), [(f, at) for _, f, at in DUNNING_SEGMENTS], ids=[n for n, _, _ in DUNNING_SEGMENTS]
)
def test_dunning_summary_equals_the_ground_truth(
    quarter: list[Sim], f: analytics.Filters, at: datetime
) -> None:
    mine = cases_in(f, at)
    by_status = defaultdict(list)
    for case in mine:
        by_status[case_status_at(case, at)].append(case)
    assert by_status["open"]
    assert by_status["recovered"]
    assert by_status["lost"]
    result = analytics.dunning_summary(acme(), f, at)
    assert result.opened == len(mine)
    assert result.recovered == len(by_status["recovered"])
    assert result.lost == len(by_status["lost"])
    assert result.open == len(by_status["open"])
    assert result.recovery_rate == stats.Proportion(
        len(by_status["recovered"]), len(by_status["recovered"]) + len(by_status["lost"])
    )
    assert result.recovered_revenue == case_money(
        by_status["recovered"], lambda c: c.amount_recovered
    )
    assert result.at_risk == case_money(by_status["open"], lambda c: c.amount_due)
    assert set(result.recovered_revenue) == {"usd", "eur"}
    for week in result.weeks:
        begin = datetime.combine(week.start, datetime.min.time(), UTC)
        in_week = [c for c in mine if begin <= c.opened_at < begin + timedelta(days=7)]
        statuses = Counter(case_status_at(c, at) for c in in_week)
        assert (week.opened, week.recovered, week.lost) == (
            len(in_week),
            statuses["recovered"],
            statuses["lost"],
        )
    assert sum(w.opened for w in result.weeks) == len(mine)
    assert result.weeks[0].start.weekday() == 0


def test_dunning_counts_one_merchant_only(quarter: list[Sim]) -> None:
    beta = db.session.scalar(db.select(Merchant).where(Merchant.slug == "beta"))
    assert beta is not None
    assert analytics.dunning_summary(beta, QUARTER, NOW).opened == BETA_CASES
    in_quarter = cases_in(QUARTER, NOW)
    assert analytics.dunning_summary(acme(), QUARTER, NOW).opened == len(in_quarter)
    assert len(in_quarter) == len(CASES) - 1  # all but the old one; no decoy kind, no beta case


@pytest.mark.parametrize("at", [NOW, EARLIER], ids=["now", "20 days ago"])
def test_dunning_csv_has_every_case_once_as_known_then(quarter: list[Sim], at: datetime) -> None:
    chunks = list(analytics.export_dunning(acme().id, QUARTER, at, batch=50))
    mine = cases_in(QUARTER, at)
    assert len(chunks) == 1 + -(-len(mine) // 50)  # the header, then one chunk per batch
    assert chunks[0] == ",".join(analytics.DUNNING_CSV_COLUMNS) + "\r\n"
    rows = csv_rows(chunks)
    order = sorted(mine, key=lambda c: (c.opened_at, CASES.index(c)))
    assert [r["invoice_id"] for r in rows] == [c.invoice_id for c in order]
    for row, case in zip(rows, order, strict=True):
        status = case_status_at(case, at)
        assert row["status"] == status
        assert datetime.fromisoformat(row["opened_at"]) == case.opened_at
        closed = case.closed_at if status != "open" else None
        assert row["closed_at"] == (closed.isoformat() if closed else "")
        assert row["amount_due"] == str(case.amount_due)
        recovered = case.amount_recovered if status == "recovered" else None
        assert row["amount_recovered"] == ("" if recovered is None else str(recovered))
        assert row["currency"] == case.currency
        assert row["subscription_id"] == case.subscription_id
        if case.customer_id == EVIL_CUSTOMER:
            assert row["customer_id"] == "'" + EVIL_CUSTOMER  # never a live spreadsheet formula
        else:
            assert row["customer_id"] == case.customer_id
    assert not any("mail" in column for column in analytics.DUNNING_CSV_COLUMNS)
