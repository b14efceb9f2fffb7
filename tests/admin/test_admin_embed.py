"""The Embed section of Links & API: the framing allow-list and the snippets."""

from __future__ import annotations

from typing import Any

from flask import Flask
from support.admin_support import HX, dashboard_client, text

from cancelpage.merchants.store import by_slug


def frame_ancestors(app: Flask) -> list[str]:
    with app.app_context():
        return list(by_slug("acme").frame_ancestors)


def test_snippets_carry_this_cancelpage_and_the_merchants_origin(app: Flask, merchant: Any) -> None:
    client = dashboard_client(app)
    client.post("/admin/embed/origins", data={"origins": "https://app.acme.example"})
    page = text(client.get("/admin/developers"))
    base = app.config["PUBLIC_BASE_URL"]
    assert f'&lt;script src="{base}/embed.js" defer&gt;' in page
    assert "data-cancelpage&gt;Cancel subscription" in page
    assert "window.Cancelpage.open(cancelLink)" in page  # React
    assert "window.Cancelpage.open(props.cancelLink)" in page  # Vue
    assert '"return_url": "https://app.acme.example/account"' in page
    assert f"frame-src {base}" in page


def test_origins_are_saved_one_per_line(app: Flask, merchant: Any) -> None:
    client = dashboard_client(app)
    response = client.post(
        "/admin/embed/origins",
        data={"origins": "https://app.acme.example/\r\nhttps://*.acme.example"},
        headers=HX,
    )
    assert response.status_code == 200
    assert "Embed origins saved." in text(response)
    assert frame_ancestors(app) == ["https://app.acme.example", "https://*.acme.example"]
    plain = client.post("/admin/embed/origins", data={"origins": ""})
    assert plain.status_code == 303
    assert frame_ancestors(app) == []  # none: nothing may frame the pages


def test_a_bad_origin_changes_nothing_and_says_why(app: Flask, merchant: Any) -> None:
    client = dashboard_client(app)
    client.post("/admin/embed/origins", data={"origins": "https://app.acme.example"})
    response = client.post(
        "/admin/embed/origins", data={"origins": "http://app.acme.example"}, headers=HX
    )
    body = text(response)
    assert "is not an https origin" in body
    assert "http://app.acme.example</textarea>" in body  # what was typed stays to be fixed
    assert frame_ancestors(app) == ["https://app.acme.example"]


def test_posting_origins_needs_the_csrf_token(app: Flask, merchant: Any) -> None:
    client = dashboard_client(app)
    del client.environ_base["HTTP_X_CSRFTOKEN"]
    response = client.post("/admin/embed/origins", data={"origins": "https://evil.example"})
    assert response.status_code == 400
    assert frame_ancestors(app) == []
