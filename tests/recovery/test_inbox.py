"""Stripe events acknowledged in the request and applied by the worker: the request's cost, the
worker's exactly-once under racing workers and lost leases, preview mode, a key changed between
receipt and processing."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support import stripe_support as ss
from support.recovery_support import (
    FakeStripe,
    counts,
    drain_events,
    event,
    invoice,
    post,
    post_only,
)

from cancelpage import create_app
from cancelpage.extensions import db, limiter
from cancelpage.merchants.store import by_slug
from cancelpage.models import StripeEvent, utcnow
from cancelpage.recovery import inbox, outbox
from cancelpage.web import ratelimit

pytestmark = pytest.mark.usefixtures("hooked")


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """Every SQL statement the app's engine sends while the block runs."""
    seen: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        seen.append(statement)

    with app.app_context():
        engine = db.engine
    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)


def failed(invoice_id: str) -> dict[str, Any]:
    return event("invoice.payment_failed", invoice(id=invoice_id))


def test_the_request_runs_two_statements_and_never_calls_stripe(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    fake_stripe.invoices.update({i: invoice(id=i) for i in ("in_warm_up", "in_counted")})
    post_only(client, failed("in_warm_up"))  # the pool's first connection sets itself up
    body = failed("in_counted")
    with statements(app) as new:
        response = post_only(client, body)
    with statements(app) as again:
        duplicate = post_only(client, body)
    assert (response.status_code, response.json) == (200, {"received": True, "outcome": "received"})
    assert duplicate.json == {"received": True, "outcome": "duplicate: already received"}
    assert len(new) == 2, new  # the merchant's row, then the INSERT
    assert len(again) == 2, again
    assert "ON CONFLICT" in new[1].upper()
    assert stripe_stub.requests == []  # Stripe is read by the worker, not the request
    assert counts(app) == (2, 0, 0)  # and nothing happened yet
    with app.app_context():
        row = db.session.scalars(
            sa.select(StripeEvent).where(StripeEvent.event_id == body["id"])
        ).one()
        assert (row.status, row.attempts, row.outcome) == ("received", 0, None)
        raw, _ = ss.signed_webhook(body)
        assert row.payload == raw.decode()
    drain_events(app)
    assert counts(app) == (2, 2, 8)
    assert len(stripe_stub.requests) == 4  # each invoice and its subscription, once


def test_webhooks_never_touch_the_rate_limit_storage(
    app: Flask, app_config: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Production keeps limits in Redis: a webhook must not cost a round trip to it."""
    limited = create_app({**app_config, "RATELIMIT_ENABLED": True})  # app's database and rows
    calls: list[str] = []
    storage = limiter.storage

    def recording(name: str) -> Any:
        original = getattr(storage, name)

        def call(*args: Any, **kwargs: Any) -> Any:
            calls.append(name)
            return original(*args, **kwargs)

        return call

    for name in ("incr", "get", "get_expiry", "acquire_entry", "get_moving_window"):
        monkeypatch.setattr(storage, name, recording(name))
    # The customer pages count with web.ratelimit, in one round trip of their own.
    counted = ratelimit.check
    monkeypatch.setattr(ratelimit, "check", lambda named: (calls.append("check"), counted(named)))
    client = limited.test_client()
    assert post_only(client, failed("in_limits")).status_code == 200
    assert calls == []
    client.get("/c/not-a-token")  # a customer page does count against the limits
    assert calls != []
    with limited.app_context():
        db.session.remove()
        db.engine.dispose()


def test_two_workers_racing_apply_each_event_once(app: Flask, client: FlaskClient) -> None:
    bodies = [failed(f"in_race{n:03d}") for n in range(24)]
    for body in bodies:
        assert post_only(client, body, slug="acme").status_code == 200
    results: list[inbox.InboxResult] = []
    barrier = threading.Barrier(2)

    def worker() -> None:
        with app.app_context():
            barrier.wait()
            results.append(inbox.drain(batch_size=3))

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sum(r.processed for r in results) == 24
    assert sum(r.handled for r in results) == 24
    assert counts(app) == (24, 24, 96)
    with app.app_context():
        assert set(db.session.scalars(sa.select(StripeEvent.status))) == {"processed"}


def test_a_worker_that_lost_its_lease_applies_nothing(app: Flask, client: FlaskClient) -> None:
    body = failed("in_lease")
    post_only(client, body, slug="acme")
    with app.app_context():
        stalled = outbox.claim(10, utcnow(), model=StripeEvent)  # worker A, which then stalls
        assert stalled is not None
        db.session.execute(sa.update(StripeEvent).values(claimed_until=utcnow()))
        db.session.commit()
        row = db.session.execute(sa.select(StripeEvent.id, StripeEvent.merchant_id)).one()
    assert drain_events(app).processed == 1  # worker B takes the event over and applies it
    assert counts(app) == (1, 1, 4)
    with app.app_context():
        result = inbox.InboxResult()
        inbox.process(
            row.id, row.merchant_id, ss.signed_webhook(body)[0].decode(), 1, stalled, result
        )
        assert result.handled == 0  # A wakes up: its claim is gone, its effect rolled back
    assert counts(app) == (1, 1, 4)


def test_preview_mode_events_take_the_same_path(
    app: Flask, client: FlaskClient, stripe_stub: Any
) -> None:
    response = post_only(client, failed("in_preview"), slug="acme")
    assert response.json == {"received": True, "outcome": "received"}
    assert counts(app) == (1, 0, 0)
    drain_events(app)
    assert counts(app) == (1, 1, 4)  # from the event's own object: nothing read from Stripe
    assert stripe_stub.requests == []


def test_a_key_of_the_other_mode_saved_meanwhile_makes_the_worker_ignore_the_event(
    app: Flask, client: FlaskClient, fake_stripe: FakeStripe, stripe_stub: Any
) -> None:
    body = failed("in_mode")
    assert post_only(client, body).json["outcome"] == "received"  # a test event, a test key
    with app.app_context():
        live = by_slug("live")
        assert live is not None
        live.set_stripe_key("sk_live_" + "x" * 24)
        db.session.commit()
    assert post(client, failed("in_mode2")).outcome == (
        "ignored: event mode does not match the merchant's key"  # the request knows at once
    )
    with app.app_context():
        row = db.session.scalars(sa.select(StripeEvent)).one()
        assert (row.status, row.outcome) == (
            "ignored",
            "ignored: event mode does not match the merchant's key",
        )
    assert counts(app) == (1, 0, 0)
    assert stripe_stub.requests == []


def test_the_worker_command_applies_stored_events(app: Flask, client: FlaskClient) -> None:
    post_only(client, failed("in_cli"), slug="acme")
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "stripe events: processed 1, ignored 0, retrying 0, dead 0" in result.output
    assert counts(app) == (1, 1, 4)


def test_single_process_mode_applies_events_without_a_worker_process(
    app: Flask, app_config: dict[str, Any]
) -> None:
    single = create_app({**app_config, "WORKER_IN_PROCESS": True})
    stop = single.extensions["cancelpage.worker"]
    try:
        post_only(single.test_client(), failed("in_single"), slug="acme")
        deadline = time.monotonic() + 20
        while counts(app) != (1, 1, 4) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert counts(app) == (1, 1, 4)
    finally:
        stop.set()
        for thread in threading.enumerate():
            if thread.name == "cancelpage-worker":
                thread.join(30)
    with single.app_context():
        db.engine.dispose()
