"""Rate limits per address and per link (docs/RELIABILITY.md 26): memory in development, Redis in
production (the real server at 127.0.0.1:6379, in a database of its own)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import redis
from flask import Flask

from cancelpage import create_app
from cancelpage.extensions import db
from cancelpage.merchants.store import create_merchant

HX = {"HX-Request": "true"}
REDIS_DB = 14  # a database of the tests' own; only keys under the limiter's prefix are touched
REDIS_URL = f"redis://127.0.0.1:6379/{REDIS_DB}"
KEYS = "LIMITS:LIMITER/cancelpage/*"  # the limiter's key prefix (RATELIMIT_KEY_PREFIX)


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@pytest.fixture
def limited_app(app_config: dict[str, Any]) -> Callable[..., Flask]:
    """An app with its own limits (and storage), with the acme merchant."""
    apps: list[Flask] = []

    def make(**config: Any) -> Flask:
        app = create_app({**app_config, "RATELIMIT_ENABLED": True, **config})
        with app.app_context():
            db.drop_all()
            db.create_all()
            create_merchant("acme", "Acme", return_hosts=["shop.example"])
            db.session.commit()
        apps.append(app)
        return app

    yield make  # type: ignore[misc]
    for app in apps:
        with app.app_context():
            db.session.remove()
            db.drop_all()
            db.engine.dispose()


@pytest.fixture
def redis_db() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.ConnectionError:
        pytest.skip("no Redis server at 127.0.0.1:6379")

    def clean() -> None:
        for key in client.scan_iter(KEYS):
            client.delete(key)

    clean()
    yield client
    clean()
    client.close()


def link_for(app: Flask, customer: str) -> str:
    from cancelpage.cli.links import make_link

    with app.app_context():
        return make_link("acme", customer, "sub_1").removeprefix(app.config["PUBLIC_BASE_URL"])


def assert_limited_step(response: Any, *, fragment: bool = False) -> None:
    body = text(response)
    assert response.status_code == 429
    assert "Too many attempts" in body
    assert "Please wait a minute and try again." in body
    assert "Retry-After" in response.headers
    assert response.headers["Cache-Control"] == "no-store"
    assert ("<html" in body) is not fragment
    assert '<main id="step"' in body


def test_per_link_limit_shows_a_clear_step(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(RATE_LIMIT_PER_LINK="4 per minute")
    client = app.test_client()
    link = link_for(app, "cus_1")
    url = client.get(link).headers["Location"]  # 1
    assert client.get(url).status_code == 200  # 2
    assert client.post(f"{url}/survey", data={"action": "skip"}).status_code == 303  # 3
    assert client.get(url).status_code == 200  # 4: the link and its session share one count
    assert_limited_step(
        client.post(f"{url}/confirm", data={"action": "cancel"}, headers=HX), fragment=True
    )
    assert_limited_step(client.get(link))
    with app.app_context():
        from cancelpage.models import CancelSession, StripeWrite

        assert db.session.query(StripeWrite).count() == 0  # the limited POST did nothing
        assert db.session.query(CancelSession).one().outcome is None
    # another link from the same address is not affected
    assert client.get(link_for(app, "cus_2")).status_code == 303


def test_per_address_limit_spans_links(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(RATE_LIMIT_PER_IP="3 per minute")
    client = app.test_client()
    for n in range(3):
        assert client.get(link_for(app, f"cus_{n}")).status_code == 303
    assert_limited_step(client.get(link_for(app, "cus_3")))
    other = app.test_client()
    other.environ_base["REMOTE_ADDR"] = "192.0.2.7"
    assert other.get(link_for(app, "cus_4")).status_code == 303
    # pages outside the customer flow are not limited
    assert client.get("/healthz").status_code == 200


def test_bad_links_count_against_the_address(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(RATE_LIMIT_PER_IP="5 per minute")
    client = app.test_client()
    statuses = [client.get(f"/c/guess-{n}").status_code for n in range(7)]
    assert statuses == [404] * 5 + [429] * 2


@pytest.mark.parametrize("page", ["/card/", "/unsubscribe/"])
def test_email_link_pages_are_limited_per_link(
    limited_app: Callable[..., Flask], page: str
) -> None:
    app = limited_app(RATE_LIMIT_PER_LINK="3 per minute")
    client = app.test_client()
    token = "eyJtIjoiYWNtZSJ9.Zx.sig"
    statuses = [client.get(page + token).status_code for _ in range(2)]
    statuses.append(client.post(page + token, data={"nonce": "x"}).status_code)
    assert statuses == [404, 404, 404]
    assert_limited_step(client.post(page + token, data={"nonce": "x"}))
    assert_limited_step(client.get(page + token))
    # another link from the same address is not affected
    assert client.get(page + "another.Zx.sig").status_code == 404


@pytest.mark.parametrize("page", ["/card/", "/unsubscribe/"])
def test_email_link_pages_count_against_the_address(
    limited_app: Callable[..., Flask], page: str
) -> None:
    app = limited_app(RATE_LIMIT_PER_IP="4 per minute")
    client = app.test_client()
    statuses = [client.post(f"{page}guess-{n}").status_code for n in range(6)]
    assert statuses == [404] * 4 + [429] * 2


def test_redis_storage_counts_and_stores_no_token(
    limited_app: Callable[..., Flask], redis_db: redis.Redis
) -> None:
    app = limited_app(RATELIMIT_STORAGE_URI=REDIS_URL, RATE_LIMIT_PER_LINK="3 per minute")
    client = app.test_client()
    link = link_for(app, "cus_r")
    url = client.get(link).headers["Location"]
    client.get(url)
    client.get(url)
    assert_limited_step(client.get(url))
    keys = [k.decode() for k in redis_db.scan_iter(KEYS)]
    assert any("customer-link" in k for k in keys)
    assert any("customer-ip" in k for k in keys)
    token, cap = link.removeprefix("/c/"), url.removeprefix("/s/")
    assert all(token not in k and cap not in k for k in keys)


def test_a_second_app_on_the_same_redis_sees_the_same_count(
    limited_app: Callable[..., Flask], redis_db: redis.Redis
) -> None:
    """Two workers (or hosts) share the limit through Redis."""
    first = limited_app(RATELIMIT_STORAGE_URI=REDIS_URL, RATE_LIMIT_PER_IP="4 per minute")
    statuses = [first.test_client().get(f"/c/guess-{n}").status_code for n in range(3)]
    second = create_app({**first.config, "TESTING": True})
    statuses += [second.test_client().get(f"/c/guess-{n}").status_code for n in range(2)]
    assert statuses == [404, 404, 404, 404, 429]
    with second.app_context():
        db.engine.dispose()


def test_redis_down_never_blocks_a_cancel(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:1/0")
    client = app.test_client()
    url = client.get(link_for(app, "cus_d")).headers["Location"]
    assert client.post(f"{url}/survey", data={"action": "skip"}).status_code == 303
    assert client.post(f"{url}/confirm", data={"action": "cancel"}).status_code == 303
    assert "Your subscription is canceled" in text(client.get(url))


def test_limits_can_be_switched_off(limited_app: Callable[..., Flask]) -> None:
    app = limited_app(RATE_LIMIT_PER_IP="1 per minute", RATELIMIT_ENABLED=False)
    client = app.test_client()
    assert [client.get(f"/c/guess-{n}").status_code for n in range(3)] == [404] * 3
