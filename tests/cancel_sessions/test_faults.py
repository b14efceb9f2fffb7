"""Faults in stripe-python's own retries and in the database (docs/RELIABILITY.md 13, 15, 28).

Every write under every network fault, against a Stripe that keeps results per key, is in
test_write_protocol.py.
"""

from __future__ import annotations

import html
import re
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support
from support.stripe_support import StatefulStripe, connection_error, should_retry

from cancelpage import flows
from cancelpage.billing import RecordedRequest
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug, publish_flow
from cancelpage.models import CancelSession, StripeWrite

HX = {"HX-Request": "true"}
PENDING_TEXT = "We're waiting for an answer from the billing system"
NOT_APPLIED_TEXT = "We couldn't apply that change, and nothing was changed."
SUB_PATH = "/v1/subscriptions/sub_test"


def text(response: Any) -> str:
    return html.unescape(re.sub(r"\s+", " ", response.get_data(as_text=True)))


@dataclass(frozen=True)
class Write:
    """One kind of write: how to reach it and how to recognise its request."""

    name: str
    steps: list[tuple[str, dict[str, str]]]  # posts that lead to the final one
    final: tuple[str, dict[str, str]]
    method: str
    path: str
    outcome: str
    cancel_mode: str = "period_end"
    sub: dict[str, Any] = field(default_factory=dict)  # subscription fixture overrides
    param: tuple[str, str] | None = None  # a parameter that tells this write apart

    def matches(self, req: RecordedRequest) -> bool:
        if (req.method, req.path) != (self.method, self.path):
            return False
        return self.param is None or req.params.get(self.param[0]) == self.param[1]


SWITCH_OFFER = {
    "id": "starter",
    "kind": "switch_plan",
    "title": "Switch to Starter",
    "body": "Keep the essentials for less.",
    "price_id": "price_starter",
    "proration_behavior": "none",
}
WRITES = [
    Write(
        "cancel_at_period_end",
        [("survey", {"action": "skip"})],
        ("confirm", {"action": "cancel"}),
        "post",
        SUB_PATH,
        "canceled",
        param=("cancel_at_period_end", "true"),
    ),
    Write(
        "cancel_now",
        [("survey", {"action": "skip"})],
        ("confirm", {"action": "cancel"}),
        "delete",
        SUB_PATH,
        "canceled",
        cancel_mode="immediately",
    ),
    Write(
        "create_coupon",
        [("survey", {"reason": "too_expensive"})],
        ("offer", {"offer": "discount_25_3m", "action": "accept"}),
        "post",
        "/v1/coupons",
        "accepted",
    ),
    Write(
        "apply_discount",
        [("survey", {"reason": "too_expensive"})],
        ("offer", {"offer": "discount_25_3m", "action": "accept"}),
        "post",
        SUB_PATH,
        "accepted",
    ),
    Write(
        "pause",
        [("survey", {"reason": "unused"})],
        ("offer", {"offer": "pause_1m", "action": "accept"}),
        "post",
        SUB_PATH,
        "accepted",
    ),
    Write(
        "switch_price",
        [("survey", {"reason": "too_complex"})],
        ("offer", {"offer": "starter", "action": "accept"}),
        "post",
        SUB_PATH,
        "accepted",
    ),
    Write(
        "extend_trial",
        [("survey", {"reason": "missing_features"})],
        ("offer", {"offer": "free_30d", "action": "accept"}),
        "post",
        SUB_PATH,
        "accepted",
    ),
    Write(
        "undo_cancel",
        [],
        ("keep", {}),
        "post",
        SUB_PATH,
        "kept",
        sub={"cancel_at_period_end": True},
    ),
    Write(
        "portal_cancel",
        [("survey", {"action": "skip"})],
        ("confirm", {"action": "cancel"}),
        "post",
        "/v1/billing_portal/sessions",
        "portal",
        cancel_mode="portal",
    ),
]
# Faults where Stripe did not apply the change.
FAULTS: dict[str, Any] = {
    "timeout": connection_error("Read timed out"),
    "connection-refused": connection_error("Connection refused"),
    "500": 500,
    "409": 409,
    "429": 429,
    "429-should-retry": should_retry(429, "true"),
    "503-should-not-retry": should_retry(503, "false"),
}


@pytest.fixture
def live(app: Flask, live_merchant: Any, stripe_stub: Any) -> Any:
    """The live merchant with a switch-plan offer for the "too complex" reason."""
    with app.app_context():
        merchant = by_slug("live")
        data = flows.flow_to_dict(flows.default_flow())
        data["offers"].append(SWITCH_OFFER)
        data["rules"].insert(
            0,
            {
                "name": "Simpler",
                "reasons": ["too_complex"],
                "conditions": [],
                "offers": ["starter"],
            },
        )
        publish_flow(merchant, data)
        db.session.commit()
    return stripe_stub


def prepare(
    app: Flask, write: Write, stub: Any, start: Any, client: FlaskClient
) -> tuple[StatefulStripe, str]:
    """Walk to the final step (Stripe is the stateful fake); return it and the step URL."""
    with app.app_context():
        by_slug("live").cancel_mode = write.cancel_mode
        db.session.commit()
    stripe = StatefulStripe(stripe_support.subscription(**write.sub))
    stub.responder = stripe
    url = start("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    for step, data in write.steps:
        client.post(f"{url}/{step}", data=data)
    return stripe, url


def failing(write: Write, fault: Any, then: StatefulStripe) -> Callable[[RecordedRequest], Any]:
    """The fault (once) on this write's request only; everything else answered normally."""
    faulty = stripe_support.fault_responder([fault], then=then)
    return lambda req: faulty(req) if write.matches(req) else then(req)


def applied_then_dropped(write: Write, then: StatefulStripe) -> Callable[[RecordedRequest], Any]:
    """Stripe applies the change, then the connection drops before the answer arrives."""
    dropped: list[RecordedRequest] = []

    def respond(req: RecordedRequest) -> Any:
        answer = then(req)
        if write.matches(req) and not dropped:
            dropped.append(req)
            raise connection_error("Connection aborted: RemoteDisconnected")
        return answer

    return respond


def session_row(app: Flask) -> CancelSession:
    with app.app_context():
        row = db.session.scalars(sa.select(CancelSession)).one()
        db.session.expunge(row)
        return row


def write_rows(app: Flask) -> dict[str, StripeWrite]:
    with app.app_context():
        rows = list(db.session.scalars(sa.select(StripeWrite)))
        for row in rows:
            db.session.expunge(row)
    return {row.operation: row for row in rows}


def final_post(client: FlaskClient, url: str, write: Write, headers: dict[str, str]) -> Any:
    step, data = write.final
    return client.post(f"{url}/{step}", data=data, headers=headers)


# ---- stripe-python's own retries (max_network_retries=2) --------------------------------------


@pytest.fixture
def retrying_stub(live: Any) -> Any:
    live.gateway, live.recorder = stripe_support.recording_gateway(
        lambda req: live.responder(req), max_network_retries=2
    )
    return live


@pytest.mark.parametrize(
    ("faults", "sent", "applied"),
    [
        ([500, 500], 3, True),
        ([connection_error(), 409], 3, True),
        ([should_retry(429, "true")], 2, True),
        ([500, 500, 500], 3, False),
        ([429], 1, None),
        ([should_retry(500, "false")], 1, False),
    ],
    ids=["500x2", "timeout-409", "429-advised", "500x3", "429-unadvised", "500-advised-not"],
)
def test_sdk_retries_reuse_the_key(
    app: Flask,
    client: FlaskClient,
    retrying_stub: Any,
    start: Any,
    faults: list[Any],
    sent: int,
    applied: bool | None,
) -> None:
    """``applied`` None: not applied and the outcome open (429: not run), so the page waits
    for the same request again; False: a final failure, so the step is shown to choose again."""
    [write] = [w for w in WRITES if w.name == "pause"]
    stripe, url = prepare(app, write, retrying_stub, start, client)
    faulty = stripe_support.fault_responder(faults, then=stripe)
    retrying_stub.responder = lambda req: faulty(req) if write.matches(req) else stripe(req)
    response = final_post(client, url, write, {})
    requests = [r for r in retrying_stub.requests if write.matches(r)]
    assert len(requests) == sent
    assert len({r.idempotency_key for r in requests}) == 1
    assert {r.params["pause_collection[resumes_at]"] for r in requests} == {
        requests[0].params["pause_collection[resumes_at]"]
    }
    assert (session_row(app).outcome == "accepted") is bool(applied)
    assert (response.status_code == 303) is bool(applied)
    if applied is None:
        assert PENDING_TEXT in text(response)
    elif not applied:
        assert NOT_APPLIED_TEXT in text(response)


# ---- the database ----------------------------------------------------------------------------


def transient_error(app: Flask) -> sa.exc.OperationalError:
    """What the driver raises when the database asks for the transaction to be tried again."""
    if db.engine.dialect.name == "sqlite":
        orig: Exception = sqlite3.OperationalError("database is locked")
    else:
        orig = psycopg.errors.SerializationFailure("could not serialize access")
    return sa.exc.OperationalError("COMMIT", {}, orig)


def fail_commits(monkeypatch: Any, app: Flask, count: int, when: Callable[[], bool]) -> list[int]:
    """Make the next ``count`` commits (once ``when()`` holds) raise a transient error."""
    real = db.session.commit
    failed: list[int] = []

    def commit() -> None:
        if len(failed) < count and when():
            failed.append(1)
            db.session.rollback()
            raise transient_error(app)
        real()

    monkeypatch.setattr(db.session, "commit", commit)
    return failed


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_a_transient_failure_on_a_step_is_retried_transparently(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    monkeypatch: Any,
    headers: dict[str, str],
) -> None:
    url = start()
    with app.app_context():
        failed = fail_commits(monkeypatch, app, 2, lambda: True)
    response = client.post(f"{url}/survey", data={"reason": "too_expensive"}, headers=headers)
    assert len(failed) == 2
    assert response.status_code == (200 if headers else 303)
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        assert session.state["step"] == "offer"
        assert session.reason == "too_expensive"
        assert [e.kind for e in session.events].count("answered") == 1


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_a_lasting_failure_shows_a_retry_step_and_changes_nothing(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    start: Any,
    monkeypatch: Any,
    headers: dict[str, str],
) -> None:
    url = start()
    with app.app_context():
        fail_commits(monkeypatch, app, 99, lambda: True)
    response = client.post(f"{url}/survey", data={"reason": "too_expensive"}, headers=headers)
    body = text(response)
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "1"
    assert "We couldn't save that just now" in body
    assert f'href="{url}"' in body
    assert ("<html" in body) is not bool(headers)
    monkeypatch.undo()
    with app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        assert session.state["step"] == "survey"
        assert session.reason is None
    assert client.post(f"{url}/survey", data={"reason": "too_expensive"}).status_code == 303


def test_a_failure_after_stripe_applied_the_change_never_applies_it_twice(
    app: Flask, client: FlaskClient, live: Any, start: Any, monkeypatch: Any
) -> None:
    """The write reached Stripe but saving its result failed: the customer is asked to try
    again, the claim is freed at once, and the retry settles it by reading the subscription."""
    [write] = [w for w in WRITES if w.name == "cancel_at_period_end"]
    stripe, url = prepare(app, write, live, start, client)
    with app.app_context():
        fail_commits(monkeypatch, app, 1, lambda: bool(stripe.applied))
    response = final_post(client, url, write, {})
    assert response.status_code == 503
    assert "We couldn't save that just now" in text(response)
    monkeypatch.undo()
    session = session_row(app)
    assert session.outcome is None
    assert session.busy_until is None
    assert write_rows(app)[write.name].status == "pending"
    assert final_post(client, url, write, {}).status_code == 303
    assert session_row(app).outcome == "canceled"
    assert len([r for r in live.requests if write.matches(r)]) == 1
    assert len(stripe.applied) == 1


def test_sqlite_database_locked_by_another_writer(
    app_config: dict[str, Any], tmp_path: Any, make_link: Any, merchant: Any, monkeypatch: Any
) -> None:
    if not app_config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        pytest.skip("SQLite's database lock")
    from cancelpage import create_app

    locked_app = create_app(
        {**app_config, "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"timeout": 0.05}}}
    )
    client = locked_app.test_client()
    url = client.get(make_link()).headers["Location"]
    other = sqlite3.connect(app_config["SQLALCHEMY_DATABASE_URI"].removeprefix("sqlite:///"))
    other.isolation_level = None
    other.execute("BEGIN IMMEDIATE")  # a real write lock, as another worker would hold it
    try:
        response = client.post(f"{url}/survey", data={"reason": "too_expensive"}, headers=HX)
        assert response.status_code == 503
        assert "We couldn't save that just now" in text(response)
    finally:
        other.execute("ROLLBACK")
        other.close()
    with locked_app.app_context():
        session = db.session.scalars(sa.select(CancelSession)).one()
        assert session.state["step"] == "survey"
        assert session.reason is None
        assert [e.kind for e in session.events] == ["opened"]
    assert client.post(f"{url}/survey", data={"reason": "too_expensive"}).status_code == 303
    with locked_app.app_context():
        db.engine.dispose()
