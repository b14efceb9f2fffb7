"""A simulated quarter written as real rows: every dashboard number equals the ground truth
computed here, independently, from what the generator says each customer did."""

from __future__ import annotations

import csv
import io
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
import sqlalchemy as sa
from admin_support import dashboard_client
from flask import Flask
from flask.testing import FlaskClient

from cancelpage import analytics, create_app
from cancelpage.admin import analytics_pages
from cancelpage.analytics import simulate, stats
from cancelpage.config import normalise_database_url
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant, publish_flow
from cancelpage.models import Merchant, MerchantUser, RecoveryCase

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
SEED = 7
COUNT = 2000
# The page's default range: the 91 days ending today.
PAGE_START = NOW.date() - timedelta(days=90)
QUARTER = analytics.Filters(start=(NOW - timedelta(days=91)).date(), end=NOW.date())
ENDED = ("canceled", "unpaid", "incomplete_expired")
# The simulated flow's offer terms, written out again here on purpose (not read from the flow).
PERCENT_OFF = {"discount_25_3m": 25}
AMOUNT_OFF = {"discount_10_fixed": 1000}
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


@pytest.fixture(scope="module")
def quarter_app(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Flask, list[Sim]]]:
    """One app and database for the whole module: the quarter is written once (a few seconds)."""
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "test-secret-key",
            "SQLALCHEMY_DATABASE_URI": database_url(tmp_path_factory.mktemp("quarter")),
        }
    )
    sims = list(simulate.generate(COUNT, NOW, SEED))
    with app.app_context():
        db.drop_all()
        db.create_all()
        merchant = create_merchant("acme", "Acme")
        version = publish_flow(merchant, simulate.simulation_flow())
        simulate.write_sessions(sims, merchant.id, version.id, "quarter", seed=SEED)
        simulate.write_cases(CASES, merchant.id, "quarter")
        # Never counted: another merchant's failed invoices, and acme's other kinds of case.
        beta = create_merchant("beta", "Beta")
        beta_cases = simulate.generate_cases(BETA_CASES, NOW, BETA_SEED)
        simulate.write_cases(list(beta_cases), beta.id, "b")
        for kind in ("card_expiring", "cancel_intent"):
            decoy = simulate.case_row(CASES[0], merchant.id, kind)
            db.session.add(RecoveryCase(**{**decoy, "kind": kind, "amount_due": 10**6}))
        db.session.commit()

    yield app, sims
    with app.app_context():
        db.session.remove()
        db.drop_all()
        db.engine.dispose()


@pytest.fixture
def quarter(quarter_app: tuple[Flask, list[Sim]]) -> Iterator[list[Sim]]:
    app, sims = quarter_app
    with app.app_context():
        yield sims


def acme() -> Merchant:
    merchant = db.session.scalar(db.select(Merchant).where(Merchant.slug == "acme"))
    assert merchant is not None
    return merchant


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
        months = MONTHS_PER_INTERVAL[sim.interval]
        monthly = int(Fraction(AMOUNT_OFF[offer], months) + Fraction(1, 2))
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
    # The verdict reads the first `horizon` decided sessions of each arm, in the order they ended.
    horizon = stats.sample_size_per_arm(0.1, 1)
    assert report.verdict.horizon == horizon
    for count in report.at_horizon:
        ended = sorted(
            (s for s in quarter if s.assignments.get(exp) == count.arm and s.outcome),
            key=lambda s: (s.completed_at, s.index),
        )[:horizon]
        assert (count.decided, count.saves) == (len(ended), sum(map(is_saved, ended)))
    expected = stats.decide(report.at_horizon[0], report.at_horizon[1:], 0.1)
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


def csv_rows(chunks: list[str]) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO("".join(chunks))))


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


# ---- the page: a merchant answers the three questions from it alone --------------------------


@pytest.fixture
def page_client(
    quarter_app: tuple[Flask, list[Sim]], monkeypatch: pytest.MonkeyPatch
) -> FlaskClient:
    monkeypatch.setattr(analytics_pages, "clock", lambda: NOW)
    app = quarter_app[0]
    with app.app_context():
        db.session.execute(sa.delete(MerchantUser))
        db.session.commit()
    return dashboard_client(app)


def test_the_dashboard_answers_why_which_offer_and_whether_there_is_a_winner(
    quarter: list[Sim], page_client: FlaskClient
) -> None:
    response = page_client.get("/admin/analytics/")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    # Why customers leave: the most given reason, with its count.
    in_range = [s for s in quarter if s.created_at.date() >= PAGE_START]
    top, top_count = Counter(s.reason or analytics.SKIPPED for s in in_range).most_common(1)[0]
    assert top == "too_expensive"
    assert (
        f"Most given reason: <strong>It&#39;s too expensive</strong> — {top_count} of "
        f"{len(in_range)} sessions"
    ) in html
    # Which offer keeps most revenue 30 days later (in the main currency, dollars here).
    kept_30: dict[str, int] = defaultdict(int)
    for s in in_range:
        if s.outcome == "accepted" and s.currency == "usd" and matured(s, 30) and retained(s, 30):
            kept_30[s.accepted_offer or ""] += s.mrr
    best = max(kept_30, key=kept_30.__getitem__)
    title = {
        "discount_25_3m": "25% off for the next 3 months",
        "discount_10_fixed": "$10 off your next invoice",
        "pause_1m": "Pause for a month",
        "free_30d": "30 days on us",
    }[best]
    amount = f"${kept_30[best] / 100:,.2f}"
    assert f"Keeps the most revenue 30 days later: <strong>{title}</strong> — {amount}" in html
    # Whether the running experiment has a winner, and by which rule.
    exp = simulate.SIM_EXPERIMENT
    horizon = stats.sample_size_per_arm(0.1, 1)
    firsts = {}
    for arm in ("holdout", "discount_25_3m"):
        ended = sorted(
            (s for s in quarter if s.assignments.get(exp) == arm and s.outcome),
            key=lambda s: (s.completed_at, s.index),
        )[:horizon]
        firsts[arm] = stats.ArmCount(arm, sum(map(is_saved, ended)), len(ended))
    verdict = stats.decide(firsts["holdout"], [firsts["discount_25_3m"]], 0.1)
    assert verdict.status != "collecting"  # the simulated quarter reaches the horizon
    if verdict.status == "winner":
        assert f"<strong>Winner: {verdict.winner}</strong>" in html
    else:
        assert "<strong>No winner.</strong>" in html
    assert f"Fixed horizon: {horizon} decided sessions per arm" in html
    assert "one-sided two-proportion z-test at 2.5%" in html
    # Definitions are on the page.
    assert "Save rate = saved ÷ (saved + cancelled)" in html
    # Charts are server-side SVG; nothing needs JavaScript or an inline style.
    assert html.count("<svg") == 2
    assert "<polyline" in html
    assert "<rect" in html
    assert " style=" not in html
    assert html.count("<script") == 2


def test_filters_apply_to_the_page(quarter: list[Sim], page_client: FlaskClient) -> None:
    html = page_client.get("/admin/analytics/?plan=Team&reason=unused").get_data(as_text=True)
    mine = [
        s
        for s in quarter
        if s.plan == "Team" and s.reason == "unused" and s.created_at.date() >= PAGE_START
    ]
    assert f'<p class="big">{len(mine)}</p>' in html
    assert '<option value="Team" selected>' in html


def test_comment_search_swaps_only_the_comments(
    quarter: list[Sim], page_client: FlaskClient
) -> None:
    response = page_client.get("/admin/analytics/comments?q=price", headers={"HX-Request": "true"})
    html = response.get_data(as_text=True)
    assert response.status_code == 200
    assert "HX-Request" in response.headers["Vary"]
    assert "<html" not in html
    assert html.lstrip().startswith('<div id="comments"')
    quotes = [c for c in html.split("<q>")[1:]]
    assert quotes
    assert all("price" in q.split("</q>")[0].lower() for q in quotes)
    # Without JavaScript the same URL is a whole page.
    plain = page_client.get("/admin/analytics/comments?q=price").get_data(as_text=True)
    assert "<html" in plain
    assert "Why customers leave" in plain


def test_csv_download_streams_the_segment(quarter: list[Sim], page_client: FlaskClient) -> None:
    response = page_client.get("/admin/analytics/sessions.csv?plan=Starter")
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    starters = [s for s in quarter if s.plan == "Starter" and s.created_at.date() >= PAGE_START]
    assert sorted(r["customer_id"] for r in rows) == sorted(s.customer_id for s in starters)


def dollars_and_euros(amounts: dict[str, int]) -> str:
    signs = {"usd": "$", "eur": "€"}
    return " · ".join(f"{signs[c]}{v / 100:,.2f}" for c, v in amounts.items())


def test_the_dashboard_shows_failed_payment_recovery(
    quarter: list[Sim], page_client: FlaskClient
) -> None:
    html = page_client.get("/admin/analytics/").get_data(as_text=True)
    page = analytics.Filters(PAGE_START, NOW.date())
    mine = cases_in(page, NOW)
    statuses = Counter(case_status_at(c, NOW) for c in mine)
    recovered = [c for c in mine if case_status_at(c, NOW) == "recovered"]
    still_open = [c for c in mine if case_status_at(c, NOW) == "open"]
    closed = statuses["recovered"] + statuses["lost"]
    rate = stats.Proportion(statuses["recovered"], closed)
    assert rate.rate is not None
    low, high = rate.interval
    revenue = dollars_and_euros(case_money(recovered, lambda c: c.amount_recovered))
    for title, value in [
        ("Cases opened", len(mine)),
        ("Recovered", statuses["recovered"]),
        ("Lost", statuses["lost"]),
        ("Still open", statuses["open"]),
    ]:
        assert f'<h3>{title}</h3><p class="big">{value}</p>' in html
    assert (
        f"Recovered <strong>{revenue}</strong> from {statuses['recovered']} of {closed} closed "
        f"cases — recovery rate {rate.rate * 100:.1f}% "
        f'<span class="muted">({low * 100:.1f}–{high * 100:.1f}%)</span>'
    ) in html
    at_risk = dollars_and_euros(case_money(still_open, lambda c: c.amount_due))
    assert f"{at_risk} at risk" in html
    assert "recovered ÷ closed (recovered + lost)" in html
    # The definitions, in the words, and the export of the same range.
    assert "Recovered ÷ closed cases (recovered + lost); cases still open are not in it." in html
    assert "What failed invoices later paid after a dunning case opened" in html
    assert (
        f'href="/admin/analytics/dunning.csv?from={PAGE_START}&amp;to={NOW.date()}" download'
    ) in html
    assert " style=" not in html
    assert html.count("<script") == 2


def test_dunning_csv_download_streams_the_date_range(
    quarter: list[Sim], page_client: FlaskClient
) -> None:
    response = page_client.get(
        "/admin/analytics/dunning.csv?from=2026-06-01&to=2026-06-30&plan=Pro"
    )
    assert response.status_code == 200
    assert response.is_streamed
    assert response.mimetype == "text/csv"
    assert response.headers["Content-Disposition"] == (
        'attachment; filename="cancelpage-dunning-acme-2026-06-01-2026-06-30.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    june = analytics.Filters(datetime(2026, 6, 1).date(), datetime(2026, 6, 30).date())
    # The plan filter describes cancel sessions: every case of the range is there, and no other.
    assert sorted(r["invoice_id"] for r in rows) == sorted(
        c.invoice_id for c in cases_in(june, NOW)
    )
    assert rows
    assert not any(r["invoice_id"].startswith(f"in_dun{BETA_SEED}_") for r in rows)
