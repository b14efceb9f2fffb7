"""The simulated quarter, written once per module as real rows, and a signed-in dashboard on it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import dashboard_client
from support.quarter_support import (
    BETA_CASES,
    BETA_SEED,
    CASES,
    COUNT,
    NOW,
    SEED,
    Sim,
    database_url,
)

from cancelpage import create_app
from cancelpage.admin import analytics_pages
from cancelpage.analytics import simulate
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant, publish_flow
from cancelpage.models import MerchantUser, RecoveryCase


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
