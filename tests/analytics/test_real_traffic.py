"""The figures a merchant bets revenue on, on small hand-made rows: each test here failed before
the fix it names (issue 13)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import count
from typing import Any

import pytest
from flask import Flask
from support.admin_support import dashboard_client

from cancelpage import analytics, flows
from cancelpage.analytics import decisions, experiment_reports, simulate, stats
from cancelpage.extensions import db
from cancelpage.merchants.store import load_flow, publish_flow
from cancelpage.models import CancelSession, Merchant, SubscriptionStatus

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
_ids = count(1)


def add_session(merchant_id: int, **overrides: Any) -> CancelSession:
    """One cancel session row (decided as `outcome`), flushed."""
    n = next(_ids)
    currency = overrides.pop("currency", "usd")
    mrr = overrides.pop("mrr", 4900)
    created = overrides.pop("created_at", NOW - timedelta(days=40))
    row: dict[str, Any] = {
        "merchant_id": merchant_id,
        "link_digest": f"link{n:060d}",
        "capability_digest": f"cap{n:061d}",
        "customer_id": overrides.pop("customer_id", f"cus_{n}"),
        "subscription_id": overrides.pop("subscription_id", f"sub_{n}"),
        "snapshot": {
            "status": "active",
            "plan": "Pro",
            "mrr": mrr,
            "currency": currency,
            "interval": "month",
        },
        "created_at": created,
        "completed_at": created + timedelta(minutes=3),
        "outcome": "kept",
        **overrides,
    }
    session = CancelSession(**row)
    db.session.add(session)
    db.session.flush()
    return session


def test_a_range_inside_one_week_has_one_bucket(app: Flask, merchant: Merchant, ctx: None) -> None:
    # Tuesday to Thursday of one Monday-Sunday week: the bucket CASE had no WHEN (a 500).
    add_session(merchant.id, created_at=datetime(2026, 6, 10, 9, tzinfo=UTC))
    f = analytics.Filters(start=date(2026, 6, 9), end=date(2026, 6, 11))
    assert [(w.start, w.sessions) for w in analytics.weekly(merchant.id, f)] == [
        (date(2026, 6, 8), 1)
    ]
    db.session.commit()
    client = dashboard_client(app)
    assert client.get("/admin/analytics/?from=2026-06-09&to=2026-06-11").status_code == 200


def test_an_exact_tie_is_no_winner() -> None:
    horizon = stats.sample_size_per_arm(0.5, 2)
    control = stats.ArmCount("holdout", 0, horizon)
    tied = [stats.ArmCount("a", horizon, horizon), stats.ArmCount("b", horizon, horizon)]
    verdict = stats.decide(control, tied, 0.5)
    assert verdict.status == "no_winner"
    assert verdict.winner is None
    ahead = [stats.ArmCount("a", horizon - 1, horizon), stats.ArmCount("b", horizon, horizon)]
    assert stats.decide(control, ahead, 0.5).winner == "b"


def test_a_jpy_merchant_sees_yen_not_hundredths(app: Flask, merchant: Merchant, ctx: None) -> None:
    add_session(merchant.id, currency="jpy", mrr=14000)
    db.session.commit()
    html = dashboard_client(app).get(f"/admin/analytics/?to={NOW.date()}").get_data(as_text=True)
    assert "¥14,000" in html
    assert "¥140" not in html.replace("¥14,000", "")


def test_main_currency_is_where_most_sessions_are(merchant: Merchant, ctx: None) -> None:
    # 14,000 yen is a larger number than 49.00 dollars, not more money or more customers.
    add_session(merchant.id, currency="jpy", mrr=14000)
    for _ in range(3):
        add_session(merchant.id, currency="usd", mrr=4900)
    f = analytics.Filters(start=NOW.date() - timedelta(days=90), end=NOW.date())
    assert analytics.main_currency(analytics.outcome_groups(merchant, f)) == "usd"


def test_an_amount_off_in_dollars_takes_nothing_off_euros_or_yen() -> None:
    usd_off = flows.DiscountOffer("d", "Five off", amount_off=500, currency="usd")
    assert usd_off.kept_mrr(4900, "usd", "month", 1) == 4400
    assert usd_off.kept_mrr(4900, "eur", "month", 1) == 4900
    assert usd_off.kept_mrr(14000, "jpy", "month", 1) == 14000


# ---- previews are not data; the flow's own writes are status history --------------------------


def walk_to_cancel(client: Any, url: str) -> None:
    client.post(f"{url}/survey", data={"action": "skip"})
    client.post(f"{url}/confirm", data={"action": "cancel"})


def test_preview_sessions_are_marked_left_out_and_counted_apart(
    app: Flask, merchant: Merchant
) -> None:
    dashboard = dashboard_client(app)
    form = {"plan": "Pro", "mrr": "4900", "currency": "usd", "tenure_days": "100"}
    opened = dashboard.post("/admin/preview", data=form)
    assert opened.status_code == 303
    url = dashboard.get(opened.headers["Location"]).headers["Location"]
    walk_to_cancel(dashboard, url)
    with app.app_context():
        session = db.session.scalars(db.select(CancelSession)).one()
        assert session.preview
        assert session.outcome == "canceled"
        assert db.session.scalar(db.select(db.func.count()).select_from(SubscriptionStatus)) == 0
    html = dashboard.get("/admin/analytics/").get_data(as_text=True)
    assert '<h2>Sessions</h2><p class="big">0</p>' in html
    assert "1 preview session not counted" in html
    csv = dashboard.get("/admin/analytics/sessions.csv").get_data(as_text=True)
    assert len(csv.strip().splitlines()) == 1  # the header only


def test_the_flows_own_cancel_is_status_history(
    app: Flask, merchant: Merchant, client: Any, start: Any
) -> None:
    """No deletion webhook ever comes: the session still reads as not retained once the period
    it was cancelled at ends (it read as retained before)."""
    url = start(attributes={"period_days": "10"})
    walk_to_cancel(client, url)
    with app.app_context():
        (change,) = db.session.scalars(db.select(SubscriptionStatus)).all()
        session = db.session.scalars(db.select(CancelSession)).one()
        assert (change.status, change.source) == ("canceled", "flow")
        assert change.changed_at - session.created_at > timedelta(days=9)
        assert not session.retained_30
        assert session.preview is False


# ---- experiments: ids for all time, frozen definitions, customers as the unit ----------------


def experiment_flow(**changes: Any) -> dict[str, Any]:
    data = simulate.simulation_flow()
    data["default_offers"][0] = {**data["default_offers"][0], **changes}
    return data


def test_a_decided_experiments_id_cannot_start_another(merchant: Merchant, ctx: None) -> None:
    acme = db.session.get(Merchant, merchant.id)
    publish_flow(acme, experiment_flow())
    decisions.decide(acme, simulate.SIM_EXPERIMENT, "stop", None, "owner")
    with pytest.raises(flows.FlowError, match="was decided before"):
        publish_flow(acme, experiment_flow(min_effect=0.2))
    with pytest.raises(flows.FlowError, match="was decided before"):
        publish_flow(acme, experiment_flow())
    version = publish_flow(acme, experiment_flow(experiment="second_try"))
    assert list(load_flow(acme, version.id).experiments()) == ["second_try"]


def test_arms_and_minimum_effect_are_frozen_once_there_is_data(
    merchant: Merchant, ctx: None
) -> None:
    acme = db.session.get(Merchant, merchant.id)
    publish_flow(acme, experiment_flow())
    publish_flow(acme, experiment_flow(min_effect=0.2))  # no data yet: still free to change
    add_session(merchant.id, assignments={simulate.SIM_EXPERIMENT: "holdout"})
    with pytest.raises(flows.FlowError, match="frozen"):
        publish_flow(acme, experiment_flow(min_effect=0.05))
    with pytest.raises(flows.FlowError, match="frozen"):
        publish_flow(acme, experiment_flow(holdout=0.2))
    publish_flow(acme, experiment_flow(min_effect=0.2))  # unchanged: fine
    publish_flow(acme, experiment_flow(experiment="smaller_lift", min_effect=0.05))


def test_the_unit_is_the_customer_and_previews_are_no_unit(merchant: Merchant, ctx: None) -> None:
    acme = db.session.get(Merchant, merchant.id)
    version = publish_flow(acme, experiment_flow(metric="saved"))
    exp = simulate.SIM_EXPERIMENT
    arm = {exp: "holdout"}
    first = NOW - timedelta(days=5)
    add_session(merchant.id, customer_id="cus_a", assignments=arm, created_at=first)
    add_session(
        merchant.id,
        customer_id="cus_a",
        assignments=arm,
        created_at=first + timedelta(days=1),
        outcome="canceled",
    )
    add_session(merchant.id, customer_id="cus_b", assignments=arm, outcome="canceled")
    add_session(merchant.id, customer_id="cus_preview", assignments=arm, preview=True)
    experiment = load_flow(acme, version.id).experiments()[exp]
    units = experiment_reports.experiment_units(merchant.id, experiment, NOW)
    assert sorted(u.success for u in units) == [False, True]  # cus_a's first session: kept


def test_the_dashboard_equals_a_seeded_ground_truth_of_a_yen_merchant(
    app: Flask, merchant: Merchant, client: Any, make_link: Any, monkeypatch: Any
) -> None:
    """Real routes: a JPY merchant's customers keep or cancel (no deletion webhook ever
    arrives), and the merchant previews the flow a few times. 40 days later the dashboard shows
    exactly what happened, in yen."""
    import random

    from cancelpage.admin import analytics_pages

    rng = random.Random(1313)
    dashboard = dashboard_client(app)
    truth = {"sessions": 0, "kept": 0, "cancelled": 0}
    for i in range(12):
        cancels = rng.random() < 0.5
        attributes = {"currency": "jpy", "mrr": "14000", "period_days": "10"}
        url = client.get(
            make_link(customer=f"cus_{i}", subscription=f"sub_{i}", attributes=attributes)
        ).headers["Location"]
        client.post(f"{url}/survey", data={"action": "skip"})
        client.post(f"{url}/confirm", data={"action": "cancel" if cancels else "keep"})
        truth["sessions"] += 1
        truth["cancelled" if cancels else "kept"] += 1
    for i in range(3):  # previews: walked to the end, never counted
        form = {"plan": "Pro", "mrr": "14000", "currency": "jpy", "tenure_days": str(100 + i)}
        opened = dashboard.post("/admin/preview", data=form).headers["Location"]
        walk_to_cancel(dashboard, dashboard.get(opened).headers["Location"])
    later = datetime.now(UTC) + timedelta(days=40)
    monkeypatch.setattr(analytics_pages, "clock", lambda: later)
    html = dashboard.get("/admin/analytics/").get_data(as_text=True)
    kept, cancelled = truth["kept"], truth["cancelled"]
    assert f'<h2>Sessions</h2><p class="big">{truth["sessions"]}</p>' in html
    assert f'<h2>Saved</h2><p class="big">{kept}</p>' in html
    assert f'<h2>Cancelled</h2><p class="big">{cancelled}</p>' in html
    assert f'<h2>Saved MRR</h2><p class="big">¥{14000 * kept:,}</p>' in html
    # Retained at 30 days: the kept ones only (the cancels ended after 10 days, no webhook).
    assert f'<h2>Retained 30 days</h2><p class="big">{100 * kept / 12:.1f}%</p>' in html
    with app.app_context():
        previews = db.session.scalar(
            db.select(db.func.count()).where(CancelSession.preview.is_(True))
        )
    assert previews
    assert f"{previews} preview session{'' if previews == 1 else 's'} not counted" in html
