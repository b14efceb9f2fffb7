"""The analytics blueprint's sign-in seam, experiment decisions, and arms recorded by the hosted
page."""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import dashboard_client

from cancelpage import flows
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug, load_flow, publish_flow
from cancelpage.models import (
    CancelSession,
    ExperimentDecision,
    FlowVersion,
    Merchant,
    SessionEvent,
)

EXPERIMENT_FLOW: dict[str, Any] = copy.deepcopy(flows.DEFAULT_FLOW)
EXPERIMENT_FLOW["offers"].append(
    {
        "id": "discount_40_1m",
        "kind": "discount",
        "title": "40% off next month",
        "percent_off": 40,
        "duration": "repeating",
        "duration_in_months": 1,
    }
)
EXPERIMENT_FLOW["rules"][0]["offers"] = [
    {
        "experiment": "price_test",
        "variants": [{"offer": "discount_25_3m"}, {"offer": "discount_40_1m"}],
    },
    "pause_1m",
]
PRICE_TEST = flows.parse_flow(EXPERIMENT_FLOW).experiments()["price_test"]
ROUTES = [
    ("get", "/admin/analytics/"),
    ("get", "/admin/analytics/comments"),
    ("get", "/admin/analytics/sessions.csv"),
    ("get", "/admin/analytics/dunning.csv"),
    ("post", "/admin/analytics/experiments/price_test"),
]


@pytest.fixture
def experiment_merchant(app: Flask, merchant: Merchant) -> Merchant:
    with app.app_context():
        m = by_slug("acme")
        assert m is not None
        publish_flow(m, EXPERIMENT_FLOW)
        db.session.commit()
    return merchant


@pytest.fixture
def signed_in(app: Flask, experiment_merchant: Merchant) -> FlaskClient:
    """Signed in through the dashboard's own sign-in, as owner@acme.example."""
    return dashboard_client(app)


@pytest.mark.parametrize(("method", "path"), ROUTES)
def test_every_route_needs_a_signed_in_merchant(
    client: FlaskClient, experiment_merchant: Merchant, app: Flask, method: str, path: str
) -> None:
    response = getattr(client, method)(path, data={"action": "stop"})
    if method == "post":  # a signed-out post has no CSRF token either: refused before the gate
        assert response.status_code == 400
    else:
        assert response.status_code == 303
        assert response.headers["Location"].startswith("/admin/login")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ExperimentDecision)) == 0


def test_empty_dashboard_renders(signed_in: FlaskClient) -> None:
    html = signed_in.get("/admin/analytics/").get_data(as_text=True)
    assert "Retention analytics" in html
    assert "No sessions in this range." in html
    assert "<strong>No winner yet: still collecting.</strong>" in html
    assert 'name="arm" value="holdout"' in html
    assert 'value="discount_40_1m"' in html


def flow_now(app: Flask) -> flows.Flow:
    with app.app_context():
        merchant = by_slug("acme")
        assert merchant is not None
        return load_flow(merchant, merchant.flow_version_id)


def versions(app: Flask) -> int:
    with app.app_context():
        return int(db.session.scalar(sa.select(sa.func.count()).select_from(FlowVersion)) or 0)


def test_promoting_a_winner_is_one_recorded_action(signed_in: FlaskClient, app: Flask) -> None:
    before = versions(app)
    for _ in range(2):  # a double click decides once
        response = signed_in.post(
            "/admin/analytics/experiments/price_test?plan=Pro",
            data={"action": "promote", "arm": "discount_40_1m"},
        )
        assert response.status_code == 303
        assert response.headers["Location"].endswith(
            "/admin/analytics/?plan=Pro#experiment-price_test"
        )
    assert versions(app) == before + 1
    flow = flow_now(app)
    assert flow.rules[0].offers == ("discount_40_1m", "pause_1m")
    assert flow.experiments() == {}
    with app.app_context():
        decision = db.session.scalars(sa.select(ExperimentDecision)).one()
        assert (decision.action, decision.arm, decision.by) == (
            "promote",
            "discount_40_1m",
            "owner@acme.example",
        )
        assert decision.definition == flows.experiment_to_dict(PRICE_TEST)
        merchant = by_slug("acme")
        assert merchant is not None
        assert decision.flow_version_id == merchant.flow_version_id
    html = signed_in.get("/admin/analytics/").get_data(as_text=True)
    assert "promoted" in html
    assert "everyone now gets discount_40_1m" in html
    assert 'name="arm" value="holdout"' not in html  # no buttons on a decided experiment


def test_stopping_gives_everyone_the_holdout(signed_in: FlaskClient, app: Flask) -> None:
    response = signed_in.post(
        "/admin/analytics/experiments/price_test",
        data={"action": "stop"},
        headers={"HX-Request": "true"},
    )
    assert response.status_code == 200
    assert response.headers["HX-Redirect"].endswith("#experiment-price_test")
    assert flow_now(app).rules[0].offers == ("pause_1m",)
    with app.app_context():
        decision = db.session.scalars(sa.select(ExperimentDecision)).one()
        assert (decision.action, decision.arm) == ("stop", "holdout")


@pytest.mark.parametrize(
    ("path", "data", "message"),
    [
        (
            "price_test",
            {"action": "promote", "arm": "free_30d"},
            "arm must be one of: holdout, discount_25_3m, discount_40_1m",
        ),
        ("price_test", {"action": "promote"}, "arm must be one of"),
        ("price_test", {"action": "delete"}, "action must be stop or promote"),
        ("nope", {"action": "stop"}, "no running experiment with this id"),
    ],
)
def test_a_bad_decision_changes_nothing(
    signed_in: FlaskClient, app: Flask, path: str, data: dict[str, str], message: str
) -> None:
    before = versions(app)
    response = signed_in.post(f"/admin/analytics/experiments/{path}", data=data)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert versions(app) == before
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(ExperimentDecision)) == 0


def customer_in(arm: str) -> str:
    return next(
        c for c in (f"cus_{i}" for i in range(1000)) if flows.assign_arm(PRICE_TEST, c) == arm
    )


@pytest.mark.parametrize(
    ("arm", "first_offer"),
    [("discount_40_1m", "discount_40_1m"), ("holdout", "pause_1m")],
)
def test_the_hosted_page_records_the_arm(
    client: FlaskClient,
    app: Flask,
    experiment_merchant: Merchant,
    start: Callable[..., str],
    arm: str,
    first_offer: str,
) -> None:
    customer = customer_in(arm)
    url = start(customer=customer)
    client.post(f"{url}/survey", data={"reason": "too_expensive"})
    assert f'name="offer" value="{first_offer}"' in client.get(url).get_data(as_text=True)
    # The same customer from another link (another subscription) lands in the same arm.
    other = start(customer=customer, subscription="sub_other")
    client.post(f"{other}/survey", data={"reason": "too_expensive"})
    with app.app_context():
        sessions = db.session.scalars(sa.select(CancelSession).order_by(CancelSession.id)).all()
        assert [s.assignments for s in sessions] == [{"price_test": arm}] * 2
        assert sessions[0].offers_shown == [first_offer]
        events = db.session.scalars(
            sa.select(SessionEvent).where(SessionEvent.kind == "assigned")
        ).all()
        assert [e.data for e in events] == [{"arms": {"price_test": arm}}] * 2


def test_a_reason_outside_the_experiment_enters_none(
    client: FlaskClient, app: Flask, experiment_merchant: Merchant, start: Callable[..., str]
) -> None:
    url = start(customer=customer_in("holdout"))
    client.post(f"{url}/survey", data={"reason": "unused"})
    client.post(f"{url}/survey", data={"action": "skip"})
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        assert session.assignments == {}
