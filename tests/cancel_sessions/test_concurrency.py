"""Concurrent clicks against a real threaded server on PostgreSQL (docs/RELIABILITY.md 13): twenty
parallel first opens of a link read Stripe once; twenty identical accepts make one Stripe request
and one recorded write; two tabs racing accept against cancel end with one outcome."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import sqlalchemy as sa
from flask import Flask
from support import stripe_support
from support.stripe_support import StatefulStripe
from werkzeug.serving import make_server

from cancelpage.billing import RecordedRequest
from cancelpage.extensions import db
from cancelpage.models import CancelSession, StripeWrite

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql")),
    reason="needs PostgreSQL (set DATABASE_URL): SQLite serialises every writer anyway",
)


@pytest.fixture
def server(app: Flask) -> Iterator[str]:
    """The app on a threaded werkzeug server at 127.0.0.1 (a port of its own)."""
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(timeout=10)
    httpd.server_close()


def slow(stripe: StatefulStripe, seconds: float = 0.05) -> Any:
    """Stripe answering writes slowly, so the racers really overlap."""

    def respond(req: RecordedRequest) -> Any:
        if req.method != "get":
            time.sleep(seconds)
        return stripe(req)

    return respond


def open_at(server: str, make_link: Any, attributes: dict[str, str]) -> str:
    link = make_link(
        "live", customer=stripe_support.CUSTOMER_ID, attributes=attributes, locale="en"
    )
    response = requests.get(f"{server}{link}", allow_redirects=False, timeout=10)
    assert response.status_code == 303
    return server + response.headers["Location"]


def race(calls: list[tuple[str, dict[str, str]]]) -> list[requests.Response]:
    """Each call from its own client (no shared cookies or connections), all released at once."""
    barrier = threading.Barrier(len(calls))

    def post(call: tuple[str, dict[str, str]]) -> requests.Response:
        url, data = call
        with requests.Session() as client:
            barrier.wait()
            return client.post(url, data=data, allow_redirects=False, timeout=30)

    with ThreadPoolExecutor(len(calls)) as pool:
        return list(pool.map(post, calls))


def writes_of(app: Flask, step_url: str) -> tuple[CancelSession, list[StripeWrite]]:
    from cancelpage import cancel_sessions

    with app.app_context():
        session = cancel_sessions.by_capability(step_url.rsplit("/s/", 1)[1])
        assert session is not None
        rows = list(
            db.session.scalars(sa.select(StripeWrite).where(StripeWrite.session_id == session.id))
        )
        db.session.expunge_all()
        return session, rows


def slow_reads(stripe: Any, seconds: float = 0.3) -> Any:
    """Stripe answering reads slowly, so that every open arrives while the first one reads."""

    def respond(req: RecordedRequest) -> Any:
        if req.method == "get":
            time.sleep(seconds)
        return stripe(req)

    return respond


def open_twenty(server: str, link: str) -> list[requests.Response]:
    barrier = threading.Barrier(20)

    def get(_: int) -> requests.Response:
        with requests.Session() as client:
            barrier.wait()
            return client.get(f"{server}{link}", allow_redirects=False, timeout=30)

    with ThreadPoolExecutor(20) as pool:
        return list(pool.map(get, range(20)))


def subscription_reads(stub: Any) -> list[RecordedRequest]:
    return [
        r for r in stub.requests if r.method == "get" and r.path.startswith("/v1/subscriptions")
    ]


def test_twenty_parallel_first_opens_read_stripe_once(
    app: Flask, live_merchant: Any, stripe_stub: Any, make_link: Any, server: str
) -> None:
    stripe_stub.responder = slow_reads(StatefulStripe())
    link = make_link("live", customer=stripe_support.CUSTOMER_ID, locale="en")
    responses = open_twenty(server, link)
    assert [r.status_code for r in responses] == [303] * 20
    assert len({r.headers["Location"] for r in responses}) == 1
    assert len(subscription_reads(stripe_stub)) == 1
    with app.app_context():
        [session] = db.session.scalars(sa.select(CancelSession)).all()
        assert session.snapshot["status"] == "active"
        assert session.plan is not None  # the analytics copies are filled in with the snapshot
        assert [e.kind for e in session.events] == ["opened"]
    page = requests.get(server + responses[0].headers["Location"], timeout=10)
    assert 'name="reason"' in page.text


def test_a_refused_link_opened_twenty_times_leaves_no_session(
    app: Flask, live_merchant: Any, stripe_stub: Any, make_link: Any, server: str
) -> None:
    """The subscription is not the signed customer's: every open gets the generic page."""
    # A refusal is not stored, so after it each waiter claims and reads Stripe in turn: twenty
    # reads in series. 0.1 s each still overlaps every open, and keeps the series inside the
    # openers' 10 s wait on a loaded machine (0.3 s each left no margin beside other tests).
    stripe_stub.responder = slow_reads(StatefulStripe(), seconds=0.1)
    link = make_link("live", customer="cus_someone_else", locale="en")
    responses = open_twenty(server, link)
    assert [r.status_code for r in responses] == [404] * 20
    with app.app_context():
        assert db.session.scalars(sa.select(CancelSession)).all() == []


def test_twenty_parallel_accepts_make_one_stripe_write(
    app: Flask, live_merchant: Any, stripe_stub: Any, make_link: Any, server: str
) -> None:
    stripe = StatefulStripe()
    stripe_stub.responder = slow(stripe)
    url = open_at(server, make_link, {"n": "1"})
    requests.post(f"{url}/survey", data={"reason": "unused"}, timeout=10)
    responses = race([(f"{url}/offer", {"offer": "pause_1m", "action": "accept"})] * 20)
    assert all(r.status_code in (200, 303) for r in responses), [r.status_code for r in responses]
    assert sum(r.status_code == 303 for r in responses) >= 1
    assert len(stripe_support_writes(stripe_stub)) == 1
    session, rows = writes_of(app, url)
    assert session.outcome == "accepted"
    assert session.busy_until is None
    assert [(row.operation, row.status, row.attempts) for row in rows] == [
        ("pause", "succeeded", 1)
    ]
    # the ones that lost the race see the result or a "being applied" step, never an error
    for response in responses:
        if response.status_code == 200:
            assert "We're applying your change" in response.text or "Thank you" in response.text
    assert "Thank you for staying!" in requests.get(url, timeout=10).text


def stripe_support_writes(stub: Any) -> list[RecordedRequest]:
    return [r for r in stub.requests if r.method != "get"]


@pytest.mark.parametrize("round_", range(3))
def test_two_tabs_racing_accept_against_cancel_end_with_one_outcome(
    app: Flask, live_merchant: Any, stripe_stub: Any, make_link: Any, server: str, round_: int
) -> None:
    stripe = StatefulStripe()
    stripe_stub.responder = slow(stripe)
    url = open_at(server, make_link, {"round": str(round_)})
    requests.post(f"{url}/survey", data={"reason": "too_expensive"}, timeout=10)
    # one tab declines both offers and reaches the confirmation; the other still shows an offer
    for offer in ("discount_25_3m", "pause_1m"):
        requests.post(f"{url}/offer", data={"offer": offer, "action": "decline"}, timeout=10)
    responses = race(
        [
            (f"{url}/offer", {"offer": "pause_1m", "action": "accept"}),
            (f"{url}/confirm", {"action": "cancel"}),
        ]
    )
    assert all(r.status_code in (200, 303) for r in responses)
    session, rows = writes_of(app, url)
    assert session.outcome in ("accepted", "canceled")
    [write] = stripe_support_writes(stripe_stub)
    [row] = rows
    assert row.idempotency_key == write.idempotency_key
    assert row.status == "succeeded"
    expected = "pause" if session.outcome == "accepted" else "cancel_at_period_end"
    assert row.operation == expected
    # and nothing that either tab posts afterwards changes it
    for step, data in (
        ("confirm", {"action": "cancel"}),
        ("offer", {"offer": "pause_1m", "action": "accept"}),
    ):
        requests.post(f"{url}/{step}", data=data, timeout=10)
    assert writes_of(app, url)[0].outcome == session.outcome
    assert len(stripe_support_writes(stripe_stub)) == 1
