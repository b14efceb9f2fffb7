"""Analytics pieces on small hand-made data: week edges, status history, filters."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask

from cancelpage import analytics
from cancelpage.analytics import charts, simulate, stats
from cancelpage.extensions import db
from cancelpage.models import CancelSession, Merchant, SubscriptionStatus

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)


def test_week_boundaries_are_exact(app: Flask, merchant: Merchant, ctx: None) -> None:
    monday = datetime(2026, 6, 8, tzinfo=UTC)
    for i, moment in enumerate(
        [
            monday - timedelta(microseconds=1),
            monday,
            monday + timedelta(days=7) - timedelta(seconds=1),
        ]
    ):
        sim = next(simulate.generate(1, NOW, seed=100 + i))
        row = simulate.session_row(sim, merchant.id, None, f"edge{i}")
        db.session.add(CancelSession(**{**row, "created_at": moment}))
    db.session.commit()
    f = analytics.Filters(start=datetime(2026, 6, 1).date(), end=datetime(2026, 6, 14).date())
    assert [w.sessions for w in analytics.weekly(merchant.id, f)] == [1, 2]


def test_status_history_is_order_independent_and_deduplicated(
    app: Flask, merchant: Merchant, ctx: None
) -> None:
    sim = next(simulate.generate(1, NOW, seed=3))
    db.session.add(CancelSession(**simulate.session_row(sim, merchant.id, None, "one")))
    db.session.flush()
    opened = sim.created_at
    late = [(opened + timedelta(days=45), "canceled"), (opened + timedelta(days=10), "past_due")]
    for moment, status in late:
        assert analytics.record_subscription_status(
            merchant.id, sim.subscription_id, status, moment
        )
    # An older change arriving last, and a repeat: the repeat changes nothing.
    assert analytics.record_subscription_status(
        merchant.id, sim.subscription_id, "active", opened + timedelta(days=12)
    )
    assert not analytics.record_subscription_status(
        merchant.id, sim.subscription_id, "canceled", opened + timedelta(days=45)
    )
    # A status from before the session is older than the snapshot and does not override it.
    assert analytics.record_subscription_status(
        merchant.id, sim.subscription_id, "unpaid", opened - timedelta(days=3)
    )
    db.session.commit()
    session = db.session.scalars(db.select(CancelSession)).one()
    assert (session.retained_30, session.retained_60, session.retained_90) == (True, False, False)
    assert db.session.scalar(db.select(db.func.count()).select_from(SubscriptionStatus)) == 4
    with pytest.raises(ValueError, match="naive datetime"):
        analytics.record_subscription_status(merchant.id, "sub", "active", datetime(2026, 1, 1))


def test_a_session_opened_on_an_ended_subscription_is_not_retained(
    app: Flask, merchant: Merchant, ctx: None
) -> None:
    sim = next(simulate.generate(1, NOW, seed=4))
    row = simulate.session_row(sim, merchant.id, None, "ended")
    row["snapshot"] = {**row["snapshot"], "status": "unpaid"}
    db.session.add(CancelSession(**row))
    db.session.commit()
    session = db.session.scalars(db.select(CancelSession)).one()
    assert not session.retained_30
    assert not session.retained_90
    assert session.plan == sim.plan
    assert session.mrr == sim.mrr


def test_filters_from_query_arguments() -> None:
    today = NOW.date()
    default = analytics.Filters.from_args({}, today)
    assert (default.end - default.start).days == 90
    assert default.end == today
    f = analytics.Filters.from_args(
        {"from": "2026-05-01", "to": "2026-05-31", "plan": " Pro ", "arm": "x"}, today
    )
    assert (f.start.isoformat(), f.end.isoformat(), f.plan, f.arm) == (
        "2026-05-01",
        "2026-05-31",
        "Pro",
        None,  # an arm without its experiment means nothing
    )
    assert analytics.Filters.from_args({"from": "yesterday"}, today) == default
    inverted = analytics.Filters.from_args({"from": "2026-06-01", "to": "2026-05-01"}, today)
    assert inverted.end.isoformat() == "2026-05-01"
    assert (inverted.end - inverted.start).days == 90
    assert analytics.Filters.from_args(f.to_args(), today) == f
    assert json.dumps(f.to_args())  # plain strings, usable in links


def test_chart_geometry() -> None:
    rows = [
        analytics.ReasonRow("a", "A", 40, 10, 30),
        analytics.ReasonRow("b", "B", 10, 5, 5),
    ]
    chart = charts.reasons_chart(rows)
    assert [bar.width for bar in chart.bars] == [chart.width - 230 - 70, (chart.width - 300) / 4]
    assert chart.bars[1].y > chart.bars[0].y
    assert chart.height == 2 * 28
    assert charts.reasons_chart([]).bars == ()
    start = datetime(2026, 6, 1).date()
    weeks = [
        analytics.Week(start, 10, 4, 5),
        analytics.Week(start + timedelta(days=7), 0, 0, 0),
        analytics.Week(start + timedelta(days=14), 20, 10, 10),
    ]
    trend = charts.trend_chart(weeks)
    assert len(trend.columns) == 3
    assert trend.max_sessions == 20
    full = trend.plot_bottom - trend.plot_top
    last = trend.columns[2]
    assert last.saved_h + last.cancelled_h + last.open_h == pytest.approx(full)
    assert trend.columns[0].open_h == pytest.approx(full / 20)  # 1 open session of 20
    # Weeks with no decided session have no save rate: the line skips them.
    assert len(trend.rate_points.split()) == 2
    assert weeks[1].save_rate == stats.Proportion(0, 0)
