"""Merchant webhooks delivered to a real receiver on 127.0.0.1, verified with standardwebhooks:
signatures, a stable event id, retries after 500s, timeouts and a receiver that was down."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from flask import Flask
from support.receiver_support import Receiver

from cancelpage.extensions import db
from cancelpage.merchant_webhooks import delivery, endpoints, events
from cancelpage.merchants.store import by_slug
from cancelpage.models import Merchant, WebhookAttempt, WebhookDelivery, utcnow


@pytest.fixture
def receiver(app: Flask, merchant: Merchant) -> Iterator[Receiver]:
    """acme's one endpoint, pointing at a receiver that holds its secret (started by the test)."""
    app.config.update(WEBHOOK_TIMEOUT=0.5, WEBHOOK_RETRY_BASE_SECONDS=60)
    with app.app_context():
        probe = Receiver(secret="")
        found = by_slug("acme")
        assert found is not None
        _, secret = endpoints.add_endpoint(found, probe.url)
        db.session.commit()
    receiver = Receiver(secret=secret, port=probe.port)
    yield receiver
    receiver.stop()


def emit(app: Flask, key: str = "cancel_session:1") -> str:
    with app.app_context():
        (row,) = events.emit(1, "cancel_session.canceled", key, {"session": 1})
        db.session.commit()
        return row.event_id


def drain(app: Flask) -> delivery.DeliveryResult:
    with app.app_context():
        return delivery.drain()


def make_due(app: Flask) -> None:
    """Jump past the backoff: the retry is due now."""
    with app.app_context():
        db.session.execute(sa.update(WebhookDelivery).values(due_at=utcnow() - timedelta(1)))
        db.session.commit()


def log(app: Flask) -> list[tuple[int | None, str | None]]:
    with app.app_context():
        return [
            (a.status_code, a.error)
            for a in db.session.scalars(sa.select(WebhookAttempt).order_by(WebhookAttempt.id))
        ]


def state(app: Flask) -> tuple[str, int]:
    with app.app_context():
        row = db.session.scalars(sa.select(WebhookDelivery)).one()
        return row.status, row.attempts


def test_a_delivery_verifies_with_the_library_and_carries_the_event(
    app: Flask, receiver: Receiver
) -> None:
    receiver.start()
    event_id = emit(app)
    assert drain(app).delivered == 1
    [got] = receiver.received
    assert got.verified
    assert got.headers["webhook-id"] == event_id
    assert got.payload["type"] == "cancel_session.canceled"
    assert got.payload["data"] == {"id": event_id, "session": 1}
    assert state(app) == ("delivered", 1)
    assert log(app) == [(200, None)]
    assert drain(app).handled == 0  # delivered once, never again


def test_a_wrong_secret_does_not_verify(app: Flask, receiver: Receiver) -> None:
    receiver.secret = endpoints.new_secret()
    receiver.start()
    emit(app)
    drain(app)
    assert [r.verified for r in receiver.received] == [False]


def test_the_same_effect_recorded_twice_is_one_event(app: Flask, receiver: Receiver) -> None:
    first, second = emit(app, "recovery:7"), None
    with app.app_context():
        assert events.emit(1, "recovery.lost", "recovery:7", {}) == []
        second = events.event_id(1, "recovery:7")
    assert first == second
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 1


def test_receiver_down_then_up_is_delivered_once(app: Flask, receiver: Receiver) -> None:
    event_id = emit(app)
    result = drain(app)
    assert (result.delivered, result.retrying) == (0, 1)
    assert log(app)[0][0] is None
    assert "connection failed" in (log(app)[0][1] or "")
    assert drain(app).handled == 0  # the backoff holds the retry back
    receiver.start()
    make_due(app)
    assert drain(app).delivered == 1
    assert [r.headers["webhook-id"] for r in receiver.received] == [event_id]
    make_due(app)
    assert drain(app).handled == 0
    assert len(receiver.received) == 1
    assert state(app) == ("delivered", 2)


def test_500s_are_retried_with_the_same_event_id(app: Flask, receiver: Receiver) -> None:
    receiver.answers = [500, 503]
    receiver.start()
    emit(app)
    for _ in range(3):
        drain(app)
        make_due(app)
    assert [status for status, _ in log(app)] == [500, 503, 200]
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1
    assert all(r.verified for r in receiver.received)
    assert state(app) == ("delivered", 3)


def test_a_slow_receiver_times_out_and_is_retried(app: Flask, receiver: Receiver) -> None:
    receiver.delays = [1.5]  # longer than WEBHOOK_TIMEOUT
    receiver.start()
    emit(app)
    assert drain(app).retrying == 1
    assert log(app) == [(None, "timed out")]
    make_due(app)
    assert drain(app).delivered == 1
    assert state(app) == ("delivered", 2)


def test_after_the_last_attempt_a_delivery_is_dead_and_can_be_sent_again(
    app: Flask, receiver: Receiver
) -> None:
    app.config["WEBHOOK_MAX_ATTEMPTS"] = 2
    receiver.answers = [500, 500]
    receiver.start()
    emit(app)
    drain(app)
    make_due(app)
    drain(app)
    assert state(app) == ("dead", 2)
    with app.app_context():
        row = delivery.resend(1, db.session.scalars(sa.select(WebhookDelivery.id)).one())
        assert row is not None
        assert row.status == "delivered"
        assert delivery.resend(2, row.id) is None  # another merchant's delivery
    assert len({r.headers["webhook-id"] for r in receiver.received}) == 1


def test_a_paused_endpoint_gets_no_new_events(app: Flask, receiver: Receiver) -> None:
    with app.app_context():
        found = by_slug("acme")
        assert found is not None
        endpoints.endpoints_of(found)[0].enabled = False
        assert events.emit(found.id, "recovery.lost", "recovery:1", {}) == []


def test_the_worker_delivers_webhooks_too(app: Flask, receiver: Receiver) -> None:
    receiver.start()
    emit(app)
    result = app.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "webhooks: delivered 1, retrying 0, dead 0" in result.output
    assert len(receiver.received) == 1
