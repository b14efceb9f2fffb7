"""Helpers for dashboard tests: users, signing in, CSRF tokens, reading pages."""

from __future__ import annotations

import contextlib
import functools
import re
from collections.abc import Iterator
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from cancelpage import create_app
from cancelpage.extensions import db
from cancelpage.merchants import accounts
from cancelpage.merchants.store import by_slug, create_merchant
from cancelpage.models import MerchantUser

PASSWORD = "correct horse battery"
HX = {"HX-Request": "true"}


@functools.cache
def password_hash() -> str:
    """PASSWORD hashed once per run: argon2 is slow on purpose, and most tests only need a user."""
    return accounts._hasher.hash(PASSWORD)


def add_user(app: Flask, slug: str, email: str) -> int:
    with app.app_context():
        merchant = by_slug(slug) or create_merchant(slug, slug.title())
        user = MerchantUser(
            merchant_id=merchant.id, email=email.lower(), password_hash=password_hash()
        )
        db.session.add(user)
        db.session.commit()
        return user.id


def csrf_token(client: FlaskClient, path: str = "/admin/login") -> str:
    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert match, page
    return match.group(1)


def sign_in(
    client: FlaskClient, email: str, password: str = PASSWORD, *, form: bool = False
) -> str:
    """Sign in (through the form, or directly in the session when the form is not under test);
    returns the CSRF token for later posts."""
    if not form:
        app = client.application
        with app.app_context():
            user = accounts.user_by_email(email)
            assert user is not None
            account_id = accounts.Account(user).get_id()
        with client.session_transaction() as session:
            session["_user_id"] = account_id
            session["_fresh"] = True
        return csrf_token(client, "/admin/")
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 303, response.get_data(as_text=True)
    return csrf_token(client, "/admin/")


def post(
    client: FlaskClient, path: str, token: str, data: dict[str, Any] | None = None, **kwargs: Any
) -> Any:
    return client.post(path, data={**(data or {}), "csrf_token": token}, **kwargs)


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


@contextlib.contextmanager
def other_app(config: dict[str, Any], **overrides: Any) -> Iterator[Flask]:
    """A second app on the same database with other settings; its connections closed after."""
    app = create_app({**config, "RATELIMIT_ENABLED": True, **overrides})
    try:
        yield app
    finally:
        with app.app_context():
            db.session.remove()
            db.engine.dispose()


def dashboard_client(
    app: Flask, slug: str = "acme", email: str = "owner@acme.example"
) -> FlaskClient:
    """A signed-in dashboard client whose posts carry the CSRF token (as htmx sends it)."""
    add_user(app, slug, email)
    client = app.test_client()
    token = sign_in(client, email)
    client.environ_base["HTTP_X_CSRFTOKEN"] = token
    return client
