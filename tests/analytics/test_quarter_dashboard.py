"""The dashboard page on the simulated quarter: a merchant answers why customers leave, which
offer keeps them and whether an experiment has a winner, from the page alone."""

from __future__ import annotations

import csv
import io
from collections import Counter, defaultdict
from datetime import datetime

from flask.testing import FlaskClient
from support.quarter_support import (
    BETA_SEED,
    NOW,
    PAGE_START,
    Sim,
    case_money,
    case_status_at,
    cases_in,
    matured,
    retained,
    verdict_counts,
)

from cancelpage import analytics
from cancelpage.analytics import simulate, stats


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
        "discount_25_3m": "25% off",
        "discount_10_fixed": "$10 off your next invoice",
        "pause_1m": "Pause for a month",
        "free_30d": "Try it again, on us",
    }[best]
    amount = f"${kept_30[best] / 100:,.2f}"
    assert f"Keeps the most revenue 30 days later: <strong>{title}</strong> — {amount}" in html
    # Whether the running experiment has a winner, and by which rule.
    exp = simulate.SIM_EXPERIMENT
    horizon = stats.sample_size_per_arm(0.1, 1)
    counts = [
        stats.ArmCount(*c)
        for c in verdict_counts(quarter, exp, ("holdout", "discount_25_3m"), horizon)
    ]
    verdict = stats.decide(counts[0], counts[1:], 0.1)
    assert verdict.status != "collecting"  # the simulated quarter reaches the horizon
    if verdict.status == "winner":
        assert f"<strong>Winner: {verdict.winner}</strong>" in html
    else:
        assert "<strong>No winner.</strong>" in html
    assert f"Fixed horizon: {horizon} customers in the smallest arm" in html
    exact = stats.guarantee((0.5, 0.5), 0.1)
    assert f"a winner is declared {exact.false_winner * 100:.2f}% of the time" in html
    assert f"found {exact.power * 100:.1f}% of the time" in html
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
