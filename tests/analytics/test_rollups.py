"""The dashboard's rollups equal a recomputation from the sessions after any sequence of what
happens to sessions (opened, answered, shown offers, ended, retention changed by a status,
deleted), and the dashboard's figures from rollups equal those counted from the sessions."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner
from flask import Flask

from cancelpage import analytics
from cancelpage.analytics import rollups, simulate
from cancelpage.cli.analytics import rebuild_command
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant, publish_flow
from cancelpage.models import CancelSession, Merchant, SessionRollup

NOW = datetime(2026, 7, 1, 12, 0, tzinfo=UTC)
REASONS = [None, "too_expensive", "unused", "missing_feature"]
OUTCOMES = [None, "accepted", "kept", "canceled", "portal"]
OFFERS = ["discount_20", "pause_1m", "downgrade"]


def random_change(rng: random.Random, session: CancelSession, merchant: Merchant) -> None:
    """One thing that happens to a session, as the app's own code paths do it (through the ORM)."""
    kind = rng.choice(["reason", "offer", "outcome", "status", "arm", "plan"])
    if kind == "reason":
        session.reason = rng.choice(REASONS)
    elif kind == "offer":
        session.offers_shown = [*session.offers_shown, rng.choice(OFFERS)]
    elif kind == "outcome":
        session.outcome = rng.choice(OUTCOMES)
        session.accepted_offer = rng.choice(OFFERS) if session.outcome == "accepted" else None
    elif kind == "status":
        moment = session.created_at + timedelta(days=rng.randint(-5, 100))
        status = rng.choice(["active", "canceled", "past_due", "unpaid"])
        analytics.record_subscription_status(merchant.id, session.subscription_id, status, moment)
    elif kind == "arm":
        session.assignments = {**session.assignments, "exp": rng.choice(["control", "b"])}
    else:
        session.plan = rng.choice(["Pro", "Team", None])


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_rollups_follow_every_change_of_the_sessions(app: Flask, ctx: None, seed: int) -> None:
    rng = random.Random(seed)
    merchants = [create_merchant("acme", "Acme"), create_merchant("beta", "Beta")]
    db.session.commit()
    sims = list(simulate.generate(60, NOW, seed=seed))
    for i, sim in enumerate(sims):
        merchant = rng.choice(merchants)
        row = simulate.session_row(sim, merchant.id, None, f"r{seed}")
        row["preview"] = rng.random() < 0.1
        if rng.random() < 0.1:  # a claim whose first read of Stripe is still running
            row["snapshot"] = {}
        db.session.add(CancelSession(**row))
        if i % 7 == 0:
            db.session.commit()
    db.session.commit()
    for step in range(150):
        sessions = db.session.scalars(sa.select(CancelSession)).all()
        session = rng.choice(sessions)
        if rng.random() < 0.05:
            db.session.delete(session)
        elif not session.snapshot and rng.random() < 0.5:
            session.take_snapshot(simulate.snapshot_of(sims[0]))
        else:
            merchant = db.session.get(Merchant, session.merchant_id)
            assert merchant is not None
            random_change(rng, session, merchant)
        if rng.random() < 0.3:
            db.session.commit()
        elif rng.random() < 0.1:
            db.session.rollback()  # a request that failed: its changes and their cells undone
        if step % 50 == 0:
            db.session.commit()
            assert rollups.differences() == []
    db.session.commit()
    assert rollups.differences() == []
    assert rollups.stored()  # something was counted


def test_the_dashboard_reads_the_rollups_and_rebuild_restores_them(app: Flask, ctx: None) -> None:
    """Sessions written without the ORM (a bulk load) are seen after `analytics rebuild`, and
    the figures from rollups equal those counted from the sessions (the days a cut-off of
    retention falls in are read from the sessions)."""
    merchant = create_merchant("acme", "Acme")
    version = publish_flow(merchant, simulate.simulation_flow())
    db.session.commit()
    rows = [
        simulate.session_row(sim, merchant.id, version.id, "bulk")
        for sim in simulate.generate(400, NOW, seed=5)
    ]
    db.session.execute(sa.insert(CancelSession), rows)
    db.session.commit()
    quarter = analytics.Filters.from_args({}, NOW.date())
    assert analytics.overview(merchant, quarter).sessions == 0  # not yet rolled up
    runner = CliRunner()
    assert runner.invoke(rebuild_command, ["--check"]).exit_code == 1
    result = runner.invoke(rebuild_command, [])
    assert result.exit_code == 0, result.output
    assert "Rebuilt" in result.output
    assert runner.invoke(rebuild_command, ["--check"]).exit_code == 0
    real = CancelSession.purpose == "cancel", CancelSession.preview.is_(False)
    counted = db.session.scalar(sa.select(sa.func.count()).where(*real))
    overview = analytics.overview(merchant, quarter)
    assert overview.sessions == counted
    saved = db.session.scalar(
        sa.select(sa.func.count()).where(*real, CancelSession.outcome.in_(analytics.SAVED))
    )
    assert overview.saved == saved
    for retention in analytics.retention(merchant.id, quarter, NOW):
        cutoff = NOW - timedelta(days=retention.days)
        matured = [*real, CancelSession.created_at <= cutoff]
        assert retention.all.trials == db.session.scalar(sa.select(sa.func.count()).where(*matured))
        kept = getattr(CancelSession, f"retained_{retention.days}").is_(True)
        assert retention.all.successes == db.session.scalar(
            sa.select(sa.func.count()).where(*matured, kept)
        )
    assert db.session.scalar(sa.select(sa.func.count()).select_from(SessionRollup)) < counted
