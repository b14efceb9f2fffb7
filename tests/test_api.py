"""The link API contract: POST /api/v1/links with a bearer API key, and every error."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import add_user, other_app, post, sign_in

from cancelpage.extensions import db
from cancelpage.merchants import api_keys
from cancelpage.merchants.store import by_slug
from cancelpage.models import ApiKey

BODY = {"customer": "cus_123", "subscription": "sub_456"}


def new_key(app: Flask, slug: str = "acme", name: str = "Backend") -> str:
    with app.app_context():
        _, raw = api_keys.create_key(by_slug(slug), name)
        db.session.commit()
        return raw


@pytest.fixture
def key(app: Flask, merchant: Any) -> str:
    return new_key(app)


def call(client: FlaskClient, key: str | None, body: Any = BODY, **kwargs: Any) -> Any:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    headers.update(kwargs.pop("headers", {}))
    if "data" in kwargs:
        return client.post("/api/v1/links", headers=headers, **kwargs)
    return client.post("/api/v1/links", headers=headers, json=body, **kwargs)


def test_creates_a_link_that_opens_the_flow(app: Flask, client: FlaskClient, key: str) -> None:
    body = {
        **BODY,
        "return_url": "https://shop.example/account",
        "attributes": {"plan": "pro", "mrr": 4900, "team": "blue"},
        "locale": "de",
    }
    response = call(client, key, body)
    assert response.status_code == 201
    assert response.headers["Cache-Control"] == "no-store"
    data = response.get_json()
    assert set(data) == {"url", "expires_at"}
    assert data["url"].startswith("http://cancel.test/c/")
    expires = datetime.fromisoformat(data["expires_at"])
    assert abs(expires - (datetime.now(UTC) + timedelta(days=7))) < timedelta(seconds=10)
    opened = client.get(data["url"].removeprefix("http://cancel.test"))
    assert opened.status_code == 303
    page = client.get(opened.headers["Location"])
    assert page.status_code == 200
    assert 'name="reason"' in page.get_data(as_text=True)
    with app.app_context():
        from cancelpage.models import CancelSession

        session = db.session.scalars(sa.select(CancelSession)).one()
        assert (session.customer_id, session.subscription_id) == ("cus_123", "sub_456")
        assert session.attributes == {"plan": "pro", "mrr": "4900", "team": "blue"}
        assert session.locale == "de"
        assert session.return_url == "https://shop.example/account"
        assert db.session.scalars(sa.select(ApiKey)).one().last_used_at is not None


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer", "Bearer cp_test_nope_nope", "Basic dXNlcjpwYXNz", "Bearer " + "x" * 300],
)
def test_bad_or_missing_key_is_401(
    client: FlaskClient, key: str, authorization: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization else {}
    response = client.post("/api/v1/links", json=BODY, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == 'Bearer realm="cancelpage"'
    assert response.get_json() == {
        "error": {
            "code": "unauthorized",
            "message": "Send a valid API key: Authorization: Bearer cp_…",
        }
    }


def test_a_revoked_key_is_401(app: Flask, client: FlaskClient, key: str) -> None:
    assert call(client, key).status_code == 201
    with app.app_context():
        api_keys.revoke(db.session.scalars(sa.select(ApiKey)).one())
        db.session.commit()
    assert call(client, key).status_code == 401


def test_non_json_is_415_and_broken_json_is_400(client: FlaskClient, key: str) -> None:
    form = call(client, key, data={"customer": "cus_1"})
    assert form.status_code == 415
    assert form.get_json()["error"]["code"] == "unsupported_media_type"
    broken = call(client, key, data="{not json", headers={"Content-Type": "application/json"})
    assert broken.status_code == 400
    assert broken.get_json()["error"] == {
        "code": "invalid_json",
        "message": "The body is not valid JSON.",
    }


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ([], None, "invalid_body"),
        ({"subscription": "sub_1"}, "customer", "missing_field"),
        ({"customer": "cus_1"}, "subscription", "missing_field"),
        ({"customer": 12, "subscription": "sub_1"}, "customer", "invalid_field"),
        ({"customer": "cust_1", "subscription": "sub_1"}, "customer", "invalid_field"),
        ({"customer": "cus_1", "subscription": "sub 1"}, "subscription", "invalid_field"),
        ({**BODY, "return_url": "https://evil.example/"}, "return_url", "invalid_field"),
        ({**BODY, "return_url": "javascript:alert(1)"}, "return_url", "invalid_field"),
        ({**BODY, "attributes": ["plan"]}, "attributes", "invalid_field"),
        ({**BODY, "attributes": {"plan": True}}, "attributes", "invalid_field"),
        ({**BODY, "attributes": {"bad key!": "x"}}, "attributes", "invalid_field"),
        ({**BODY, "attributes": {"plan": "x" * 101}}, "attributes", "invalid_field"),
        ({**BODY, "locale": "xx"}, "locale", "invalid_field"),
        ({**BODY, "email": "jenny@example.com"}, "email", "unknown_field"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    app: Flask, client: FlaskClient, key: str, body: Any, field: str | None, code: str
) -> None:
    response = call(client, key, body)
    assert response.status_code == 422
    error = response.get_json()["error"]
    assert error["code"] == code
    assert error["message"]
    assert error.get("field") == field
    with app.app_context():
        assert db.session.scalars(sa.select(ApiKey)).one().last_used_at is None


def test_rate_limited_per_key_with_429(app_config: dict[str, Any], merchant: Any) -> None:
    with other_app(app_config, API_RATE_LIMIT="2 per minute") as app:
        first, second = new_key(app), new_key(app)
        client = app.test_client()
        assert [call(client, first).status_code for _ in range(3)] == [201, 201, 429]
        limited = call(client, first)
        assert limited.get_json()["error"]["code"] == "rate_limited"
        assert "2 per 1 minute" in limited.get_json()["error"]["message"]
        assert int(limited.headers["Retry-After"]) > 0
        assert call(client, second).status_code == 201  # another key has its own budget


def test_keys_are_shown_once_and_stored_hashed(
    app: Flask, client: FlaskClient, merchant: Any
) -> None:
    add_user(app, "acme", "owner@acme.example")
    token = sign_in(client, "owner@acme.example")
    response = post(client, "/admin/api-keys", token, {"name": "Billing <backend>"})
    page = response.get_data(as_text=True)
    raw = re.search(
        r'<code class="reveal">(cp_test_[a-z0-9]{8}_[A-Za-z0-9_-]{43})</code>', page
    ).group(1)
    assert "Billing &lt;backend&gt;" in page
    assert raw not in client.get("/admin/developers").get_data(as_text=True)
    with app.app_context():
        stored = db.session.scalars(sa.select(ApiKey)).one()
        assert stored.digest == api_keys.digest(raw)
        assert raw not in (stored.prefix, stored.digest)
        assert raw.startswith(stored.prefix + "_")
    assert call(client, raw).status_code == 201
    assert "never" not in client.get("/admin/developers").get_data(as_text=True)
    empty = post(client, "/admin/api-keys", token, {"name": "  "})
    assert "Give the key a name" in empty.get_data(as_text=True)
    with app.app_context():
        key_id = db.session.scalars(sa.select(ApiKey)).one().id
    assert post(client, f"/admin/api-keys/{key_id}/revoke", token).status_code == 303
    assert call(client, raw).status_code == 401
    assert post(client, "/admin/api-keys/999/revoke", token).status_code == 404


def test_live_merchants_get_live_prefixed_keys(app: Flask, live_merchant: Any) -> None:
    with app.app_context():
        m = by_slug("live")
        m.stripe_key_check = {"mode": "live"}
        db.session.commit()
        _, raw = api_keys.create_key(m, "Prod")
    assert raw.startswith("cp_live_")


def test_the_api_needs_no_csrf_token_and_sets_no_cookie(client: FlaskClient, key: str) -> None:
    response = call(client, key)
    assert response.status_code == 201
    assert "Set-Cookie" not in response.headers


def test_json_nested_1000_deep_is_invalid_json(client: FlaskClient, key: str) -> None:
    deep = "[" * 1000 + "]" * 1000
    response = call(client, key, data=deep, content_type="application/json")
    assert response.status_code == 400
    assert response.get_json()["error"]["code"] == "invalid_json"


@pytest.mark.parametrize(
    ("method", "path", "status", "code"),
    [
        ("get", "/api/v1/links", 405, "method_not_allowed"),
        ("post", "/api/v1/nothing-here", 404, "not_found"),
        ("get", "/api/v2/links", 404, "not_found"),
    ],
)
def test_404_and_405_use_the_documented_error_shape(
    client: FlaskClient, method: str, path: str, status: int, code: str
) -> None:
    response = getattr(client, method)(path)
    assert response.status_code == status
    error = response.get_json()["error"]
    assert error["code"] == code
    assert isinstance(error["message"], str)
    assert error["message"]
    if status == 405:
        assert "POST" in response.headers["Allow"]


def test_unknown_keys_are_rate_limited_per_address(app_config: dict[str, Any], key: str) -> None:
    """Each guessed key would have a bucket of its own: refusals count per address too."""
    with other_app(
        app_config, API_UNKNOWN_KEY_RATE_LIMIT="3 per minute", API_RATE_LIMIT="100 per minute"
    ) as limited:
        client = limited.test_client()
        statuses = [call(client, f"cp_guess{n}").status_code for n in range(5)]
        assert statuses == [401, 401, 401, 429, 429]
        refused = call(client, f"cp_guess{99}")
        assert refused.get_json()["error"]["code"] == "rate_limited"
        assert "Retry-After" in refused.headers
