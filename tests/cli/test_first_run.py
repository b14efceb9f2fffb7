"""The first run: the demo says its merchant and how to add a user, its root is a stand-in
merchant app whose Cancel button opens a fresh link that returns there; merchants are listed;
a password can be set without email."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import PASSWORD, add_user, text

from cancelpage.merchants import accounts
from cancelpage.merchants.store import by_slug


def run(app: Flask, *args: str, input: str | None = None) -> Any:
    return app.test_cli_runner().invoke(args=list(args), input=input)


def test_the_demo_prints_its_merchant_and_a_ready_user_add_line(app: Flask) -> None:
    result = run(app, "demo", "--no-serve", "--port", "5099")
    assert result.exit_code == 0, result.output
    assert "Demo merchant: demo" in result.output
    assert "Its app, with the Cancel buttons: http://127.0.0.1:5099/" in result.output
    line = re.search(r"flask --app cancelpage (user add .+)", result.output).group(1)
    added = run(app, *line.split(), "--password", PASSWORD)
    assert added.exit_code == 0, added.output
    assert "Added you@example.com to 'demo'" in added.output


def test_in_demo_mode_the_root_is_a_merchant_app_whose_cancel_button_returns_there(
    app: Flask, client: FlaskClient
) -> None:
    assert client.get("/").status_code == 404  # not outside demo mode
    app.config.update(DEMO=True, PUBLIC_BASE_URL="http://127.0.0.1:5099")
    home = text(client.get("/"))
    assert home.count(">Cancel subscription</a>") == 2
    first = client.get("/demo/cancel/0")
    second = client.get("/demo/cancel/0")
    assert first.status_code == 303
    assert first.headers["Location"].startswith("/c/")
    assert first.headers["Location"] != second.headers["Location"]  # a fresh link each time
    session_url = client.get(first.headers["Location"]).headers["Location"]
    client.post(f"{session_url}/survey", data={"action": "skip"})
    client.post(f"{session_url}/confirm", data={"action": "keep"})
    assert 'href="http://127.0.0.1:5099/"' in text(client.get(session_url))
    assert client.get("/demo/cancel/7").status_code == 404


def test_merchant_list(app: Flask, merchant: Any) -> None:
    add_user(app, "acme", "owner@acme.example")
    result = run(app, "merchant", "list")
    assert result.exit_code == 0, result.output
    assert "acme\tpreview\t1 user(s)\t" in result.output


def test_merchant_list_when_there_is_none(app: Flask) -> None:
    assert "No merchants yet" in run(app, "merchant", "list").output


def test_user_set_password(app: Flask, merchant: Any) -> None:
    add_user(app, "acme", "owner@acme.example")
    result = run(app, "user", "set-password", "Owner@acme.example", "--password", "a new long one!")
    assert result.exit_code == 0, result.output
    with app.app_context():
        assert accounts.authenticate("owner@acme.example", "a new long one!") is not None
        assert accounts.authenticate("owner@acme.example", PASSWORD) is None
        assert by_slug("acme") is not None


@pytest.mark.parametrize(
    ("email", "password", "message"),
    [
        ("nobody@acme.example", "a new long one!", "no dashboard user"),
        ("owner@acme.example", "x", ""),
    ],
)
def test_user_set_password_refuses(
    app: Flask, merchant: Any, email: str, password: str, message: str
) -> None:
    add_user(app, "acme", "owner@acme.example")
    result = run(app, "user", "set-password", email, "--password", password)
    assert result.exit_code == 1
    assert message in result.output


def test_forgot_password_without_a_mail_server_says_so(app: Flask, client: FlaskClient) -> None:
    app.config.pop("MAIL_SERVER", None)
    page = text(client.get("/admin/forgot"))
    assert "cannot email a link" in page
    assert "user set-password" in page
