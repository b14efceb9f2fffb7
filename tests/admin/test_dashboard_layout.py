"""Every dashboard page, analytics included, shares one layout: one <main>, the menu, sign-out."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from support.admin_support import add_user, sign_in, text


def dashboard_pages(app: Flask) -> list[str]:
    """Every GET page under /admin that takes no argument and answers HTML."""
    skip = (
        ".csv",
        ".json",
        "/logout",
        "/copy-preview",
        "/draft-preview",
        "/offers/new",
        "/login",
        "/forgot",
        "/reset",
    )
    return sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if rule.rule.startswith("/admin")
        and "GET" in rule.methods
        and not rule.arguments
        and not rule.rule.endswith(skip)
    )


def test_every_dashboard_page_has_one_main_landmark_and_the_menu(
    app: Flask, client: FlaskClient, merchant: Any
) -> None:
    add_user(app, "acme", "owner@acme.example")
    sign_in(client, "owner@acme.example")
    pages = dashboard_pages(app)
    assert "/admin/analytics/" in pages
    for path in pages:
        response = client.get(path)
        assert response.status_code == 200, path
        page = text(response)
        assert page.count("<main") == 1, path
        assert "Sign out" in page, path
        assert 'aria-label="Dashboard"' in page, path


@pytest.mark.parametrize("path", ["/admin/login", "/admin/forgot"])
def test_signed_out_pages_have_a_main_landmark(client: FlaskClient, path: str) -> None:
    assert text(client.get(path)).count("<main") == 1


def test_one_csrf_macro(app: Flask) -> None:
    """Forms take their CSRF field from admin/_forms.html, analytics included."""
    import pathlib

    folder = pathlib.Path(app.root_path, "templates")
    macros = [p for p in folder.rglob("*.html") if "macro csrf" in p.read_text()]
    assert [p.relative_to(folder).as_posix() for p in macros] == ["admin/_forms.html"]
