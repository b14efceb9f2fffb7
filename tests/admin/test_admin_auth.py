"""Dashboard accounts: sign-in, sign-out, CSRF, cookies, password reset by mail, CLI."""

from __future__ import annotations

import re
import socket
from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Message as MessageHandler
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import HX, PASSWORD, add_user, csrf_token, other_app, post, sign_in, text

from cancelpage.extensions import db
from cancelpage.merchants import accounts
from cancelpage.models import MerchantUser, OutboxEmail, PasswordResetRequest
from cancelpage.recovery import outbox


@pytest.fixture
def user(app: Flask, merchant: Any) -> int:
    return add_user(app, "acme", "Owner@Acme.example")


def test_sign_in_and_out(client: FlaskClient, user: int) -> None:
    assert client.get("/admin/").status_code == 303
    token = sign_in(client, "owner@acme.example", form=True)
    page = text(client.get("/admin/"))
    assert "Acme &lt;Analytics&gt;" in page  # the merchant's name, escaped
    assert "Sign out" in page
    response = post(client, "/admin/logout", token)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/login"
    assert client.get("/admin/").status_code == 303


@pytest.mark.parametrize(
    ("email", "password"),
    [
        ("owner@acme.example", "wrong password!"),
        ("nobody@acme.example", PASSWORD),
        ("", ""),
        ("owner@acme.example", "x" * 5000),
    ],
)
def test_bad_credentials_are_refused_alike(
    client: FlaskClient, user: int, email: str, password: str
) -> None:
    token = csrf_token(client)
    response = client.post(
        "/admin/login", data={"email": email, "password": password, "csrf_token": token}
    )
    assert response.status_code == 200
    assert "That email and password do not match an account." in text(response)
    assert client.get("/admin/").status_code == 303  # still signed out


def test_forms_without_a_csrf_token_are_refused(app: Flask, client: FlaskClient, user: int) -> None:
    response = client.post(
        "/admin/login", data={"email": "owner@acme.example", "password": PASSWORD}
    )
    assert response.status_code == 400
    token = sign_in(client, "owner@acme.example", form=True)
    response = client.post("/admin/settings", data={"name": "Changed"})
    assert response.status_code == 400
    # htmx sends the token in a header (hx-headers on <body>): accepted.
    page = client.get("/admin/").get_data(as_text=True)
    assert f'hx-headers=\'{{"X-CSRFToken": "{token}"}}\'' in page
    response = client.post(
        "/admin/api-keys", data={"name": "Backend"}, headers={**HX, "X-CSRFToken": token}
    )
    assert response.status_code == 200
    assert "cp_test_" in response.get_data(as_text=True)


def test_customer_pages_need_no_csrf_token(client: FlaskClient, merchant: Any, start: Any) -> None:
    url = start()
    assert client.post(f"{url}/survey", data={"reason": "unused"}).status_code == 303


def test_session_cookie_flags(client: FlaskClient, user: int) -> None:
    token = csrf_token(client)
    response = client.post(
        "/admin/login",
        data={"email": "owner@acme.example", "password": PASSWORD, "csrf_token": token},
    )
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie
    assert "SameSite=Lax" in cookie
    assert "Secure" not in cookie  # development: plain http on 127.0.0.1


def test_next_only_leads_back_into_the_dashboard(client: FlaskClient, user: int) -> None:
    assert client.get("/admin/flow").headers["Location"] == "/admin/login?next=/admin/flow"
    for target, expected in [
        ("/admin/flow", "/admin/flow"),
        ("https://evil.example/", "/admin/"),
        ("//evil.example/admin", "/admin/"),
    ]:
        client.get("/admin/login")
        token = csrf_token(client)
        response = client.post(
            "/admin/login",
            query_string={"next": target},
            data={"email": "owner@acme.example", "password": PASSWORD, "csrf_token": token},
        )
        assert response.headers["Location"] == expected
        post(client, "/admin/logout", csrf_token(client, "/admin/"))


def test_sign_in_is_rate_limited(app_config: dict[str, Any], merchant: Any) -> None:
    with other_app(app_config, LOGIN_RATE_LIMIT="3 per minute") as app:
        check_sign_in_limit(app.test_client())


def check_sign_in_limit(client: FlaskClient) -> None:
    token = csrf_token(client)
    codes = [
        client.post(
            "/admin/login", data={"email": "a@b.example", "password": "x", "csrf_token": token}
        ).status_code
        for _ in range(4)
    ]
    assert codes == [200, 200, 200, 429]


def test_dashboard_pages_are_not_cached(client: FlaskClient, user: int) -> None:
    sign_in(client, "owner@acme.example", form=True)
    response = client.get("/admin/developers")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Referrer-Policy"] == "same-origin"


# ---- password reset through a real SMTP server ------------------------------------------------


@pytest.fixture
def smtp() -> Iterator[tuple[int, MessageHandler]]:
    class Inbox(MessageHandler):
        def __init__(self) -> None:
            super().__init__()
            self.messages: list[Any] = []

        def handle_message(self, message: Any) -> None:
            self.messages.append(message)

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    yield port, inbox
    controller.stop()


def test_password_reset_by_mailed_link(
    app_config: dict[str, Any], smtp: tuple[int, Any], merchant: Any
) -> None:
    port, inbox = smtp
    mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_SUPPRESS_SEND": False}
    with other_app(app_config, **mail) as app:
        reset_by_mail(app, inbox)


def reset_by_mail(app: Flask, inbox: Any) -> None:
    add_user(app, "acme", "owner@acme.example")
    client = app.test_client()
    token = csrf_token(client, "/admin/forgot")
    unknown = post(client, "/admin/forgot", token, {"email": "nobody@acme.example"})
    known = post(client, "/admin/forgot", token, {"email": "OWNER@acme.example"})

    def without_tokens(response: Any) -> str:
        return re.sub(r'"csrf_token" value="[^"]+"|"X-CSRFToken": "[^"]+"', "", text(response))

    # The page says nothing about who has an account (CSRF tokens carry a timestamp).
    assert without_tokens(unknown) == without_tokens(known)
    assert "If that address has an account" in text(known)
    assert inbox.messages == []  # the worker sends it, not the request
    with app.app_context():
        outbox.drain()
    [message] = inbox.messages
    assert message["To"] == "owner@acme.example"
    body = message.get_payload(decode=True).decode()
    link = re.search(r"http://cancel\.test(/admin/reset/\S+)", body).group(1)

    response = client.get(link)  # the token leaves the URL at once (no Referer leak)
    assert response.status_code == 303
    assert response.headers["Location"] == "/admin/reset"
    page = client.get("/admin/reset")
    assert "Choose a new password" in text(page)
    token = csrf_token(client, "/admin/reset")
    short = post(client, "/admin/reset", token, {"password": "short", "confirm": "short"})
    assert "Use at least 12 characters." in text(short)
    differ = post(client, "/admin/reset", token, {"password": "a" * 12, "confirm": "b" * 12})
    assert "The two passwords differ." in text(differ)
    done = post(
        client,
        "/admin/reset",
        token,
        {"password": "new password 123", "confirm": "new password 123"},
    )
    assert done.status_code == 303
    assert done.headers["Location"] == "/admin/"

    # The same link no longer works once the password changed.
    other = app.test_client()
    other.get(link)
    assert other.get("/admin/reset").status_code == 404
    assert "This link no longer works" in text(other.get("/admin/reset"))
    # The old password is gone, the new one works.
    old = other.post(
        "/admin/login",
        data={"email": "owner@acme.example", "password": PASSWORD, "csrf_token": csrf_token(other)},
    )
    assert old.status_code == 200
    sign_in(other, "owner@acme.example", "new password 123", form=True)


def test_reset_link_expires_and_refuses_tampering(app: Flask, user: int) -> None:
    from cancelpage import links
    from cancelpage.merchants import accounts

    with app.test_request_context():
        account = db.session.get(MerchantUser, user)
        url = accounts.reset_url(account)
        token = url.rsplit("/", 1)[1]
        assert accounts.user_for_reset(token) is not None
        assert accounts.user_for_reset(token[:-2] + "xx") is None
        app.config["PASSWORD_RESET_MAX_AGE"] = -1
        assert accounts.user_for_reset(token) is None
        app.config["PASSWORD_RESET_MAX_AGE"] = 3600
        # A cancel-link secret or purpose cannot stand in for a reset token.
        forged = links.sign(
            links.LinkPayload(merchant="acme", customer="cus_1"), ["test-secret-key"], "cancel"
        )
        assert accounts.user_for_reset(forged) is None


def test_reset_mail_failure_is_not_shown(
    app_config: dict[str, Any], merchant: Any, caplog: Any
) -> None:
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()  # nothing listens: the SMTP connection is refused
    mail = {"MAIL_SERVER": "127.0.0.1", "MAIL_PORT": port, "MAIL_SUPPRESS_SEND": False}
    with other_app(app_config, **mail) as app:
        add_user(app, "acme", "owner@acme.example")
        client = app.test_client()
        response = post(
            client,
            "/admin/forgot",
            csrf_token(client, "/admin/forgot"),
            {"email": "owner@acme.example"},
        )
        with app.app_context():
            outbox.drain()
    assert "If that address has an account" in text(response)
    assert "not sent" in caplog.text
    assert "/admin/reset/" not in caplog.text


# ---- CLI ---------------------------------------------------------------------------------------


def test_cli_user_add(app: Flask, merchant: Any) -> None:
    runner = app.test_cli_runner()
    result = runner.invoke(args=["user", "add", "acme", "cli@acme.example", "--password", PASSWORD])
    assert result.exit_code == 0, result.output
    assert "Added cli@acme.example to 'acme'" in result.output
    prompted = runner.invoke(
        args=["user", "add", "acme", "prompt@acme.example"], input=f"{PASSWORD}\n{PASSWORD}\n"
    )
    assert prompted.exit_code == 0, prompted.output
    assert PASSWORD not in prompted.output  # hidden input
    for args, message in [
        (["user", "add", "nope", "x@y.example", "--password", PASSWORD], "no merchant 'nope'"),
        (
            ["user", "add", "acme", "cli@acme.example", "--password", PASSWORD],
            "already has an account",
        ),
        (["user", "add", "acme", "not-an-email", "--password", PASSWORD], "Enter an email address"),
        (["user", "add", "acme", "short@acme.example", "--password", "short"], "at least 12"),
    ]:
        result = runner.invoke(args=args)
        assert result.exit_code == 1, result.output
        assert message in result.output, result.output
    with app.app_context():
        users = db.session.scalars(sa.select(MerchantUser).order_by(MerchantUser.id)).all()
        assert [u.email for u in users] == ["cli@acme.example", "prompt@acme.example"]
        assert all(u.password_hash.startswith("$argon2id$") for u in users)
        assert all(PASSWORD not in u.password_hash for u in users)


def test_changing_the_password_signs_out_other_sessions(app: Flask, user: int) -> None:
    from cancelpage.merchants import accounts

    first = app.test_client()
    sign_in(first, "owner@acme.example", form=True)
    assert first.get("/admin/").status_code == 200
    with app.app_context():
        accounts.set_password(db.session.get(MerchantUser, user), "another password 1")
        db.session.commit()
    assert first.get("/admin/").status_code == 303


def test_signing_out_ends_every_session_of_the_user(app: Flask, user: int) -> None:
    """A copied session cookie stops working once its user signed out (anywhere)."""
    first, second = app.test_client(), app.test_client()
    token = sign_in(first, "owner@acme.example", form=True)
    sign_in(second, "owner@acme.example", form=True)
    copied = first.get_cookie("session")
    assert copied is not None
    thief = app.test_client()
    thief.set_cookie("session", copied.value)
    assert thief.get("/admin/").status_code == 200
    post(first, "/admin/logout", token)
    assert thief.get("/admin/").status_code == 303
    assert second.get("/admin/").status_code == 303
    sign_in(second, "owner@acme.example", form=True)  # signing in again works
    assert second.get("/admin/").status_code == 200


def test_a_password_reset_ends_the_sessions_signed_in_before(app: Flask, user: int) -> None:
    before = app.test_client()
    sign_in(before, "owner@acme.example", form=True)
    with app.app_context():
        account = db.session.get(MerchantUser, user)
        link = accounts.reset_url(account).removeprefix("http://cancel.test")
    resetting = app.test_client()
    resetting.get(link)
    done = post(
        resetting,
        "/admin/reset",
        csrf_token(resetting, "/admin/reset"),
        {"password": "new password 123", "confirm": "new password 123"},
    )
    assert done.status_code == 303
    assert resetting.get("/admin/").status_code == 200  # the one who reset stays signed in
    assert before.get("/admin/").status_code == 303


def test_forgot_password_does_the_same_work_for_known_and_unknown_addresses(
    app: Flask, client: FlaskClient, user: int
) -> None:
    """Same statements, same tables, no mail in the request: nothing to time."""
    app.config["MAIL_SERVER"] = "127.0.0.1"  # the form is shown only where mail can go out
    token = csrf_token(client, "/admin/forgot")
    statements: list[str] = []

    def record(conn: Any, cursor: Any, statement: str, *args: Any) -> None:
        statements.append(re.sub(r"\s+", " ", statement))

    def forgot(address: str) -> list[str]:
        statements.clear()
        with app.app_context():
            sa.event.listen(db.engine, "before_cursor_execute", record)
            try:
                post(client, "/admin/forgot", token, {"email": address})
            finally:
                sa.event.remove(db.engine, "before_cursor_execute", record)
        return list(statements)

    known, unknown = forgot("owner@acme.example"), forgot("nobody@acme.example")
    assert known == unknown
    assert any("INSERT INTO password_reset_request" in s for s in known)
    assert not any("merchant_user" in s or "outbox_email" in s for s in known)
    with app.app_context():
        outbox.drain()
        rows = db.session.scalars(sa.select(OutboxEmail.to_address)).all()
        assert rows == ["owner@acme.example"]  # the worker mailed the account, nobody else
        assert db.session.scalars(sa.select(PasswordResetRequest)).all() == []


def test_webhooks_and_api_blueprints_are_csrf_exempt(
    app: Flask, app_config: dict[str, Any]
) -> None:
    """Signed webhooks and bearer-token API calls need no CSRF token; other blueprints do."""
    from flask import Blueprint

    other = Blueprint("other", __name__)
    other.add_url_rule("/other", "other", lambda: "ok", methods=["POST"])
    with other_app(app_config) as app:
        app.register_blueprint(other)
        client = app.test_client()
        assert client.post("/other").status_code == 400
        webhook = client.post("/webhooks/stripe/nobody", data=b"{}")
        assert webhook.status_code == 400
        assert webhook.get_json()["outcome"] == "signature not verified"
        assert client.post("/api/v1/links", json={}).status_code == 401  # not 400: exempt
