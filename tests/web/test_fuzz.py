"""No 5xx on bad input: every route of the URL map gets random bytes, unicode digits, huge
numbers and deeply nested JSON, in its path, query string, form fields and body."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.admin_support import dashboard_client, sign_in
from werkzeug.routing import Rule

SOURCE = Path(__file__).resolve().parents[2] / "cancelpage"
# The names the application reads from forms and query strings, straight from its source.
FIELDS = sorted(
    {
        name
        for path in SOURCE.rglob("*.py")
        for name in re.findall(r"request\.(?:form|args)\.get\(\s*\"([^\"]+)\"", path.read_text())
    }
    | {"action", "reason", "offer", "nonce", "email", "password", "csrf_token"}
)
ARGUMENT = re.compile(r"<(?:[^:<>]+:)?([^<>]+)>")

nasty_text = st.one_of(
    st.text(max_size=40),
    st.sampled_from(["²", "²³.abcdefghijkl", "١٢٣", "\uff19", "-1", "0", "NaN", "1e309", ""]),
    st.integers(min_value=10**18, max_value=10**40).map(str),
    st.integers(min_value=1000, max_value=6000).map(lambda n: "9" * n),
)
deep_json = st.integers(min_value=500, max_value=6000).map(lambda n: "[" * n + "]" * n)


def routes(app: Flask) -> list[tuple[Rule, str]]:
    found = []
    for rule in app.url_map.iter_rules():
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            found.append((rule, method))
    return found


def fill(rule: Rule, values: list[str]) -> str:
    """The rule's path with each argument replaced by one of the values (percent-encoded)."""
    parts = iter(values)
    return ARGUMENT.sub(lambda _: quote(next(parts, "x") or "x", safe=""), rule.rule)


@pytest.fixture
def real_tokens(merchant: Any, start: Any, make_link: Any) -> list[str]:
    """A working link token and session capability, so that checks past the token run too."""
    return [make_link().removeprefix("/c/"), start().removeprefix("/s/")]


@pytest.fixture
def fuzz_client(app: Flask, merchant: Any) -> FlaskClient:
    with app.app_context():
        from cancelpage.extensions import db
        from cancelpage.merchants.store import by_slug

        found = by_slug("acme")
        assert found is not None
        found.webhook_secrets = ["whsec_fuzz"]
        db.session.commit()
    return dashboard_client(app)


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_no_route_answers_5xx_to_bad_input(
    fuzz_client: FlaskClient, real_tokens: list[str], data: st.DataObject
) -> None:
    app = fuzz_client.application
    rule, method = data.draw(st.sampled_from(routes(app)), label="route")
    real = st.sampled_from(["acme", "survey", "1", *real_tokens])
    values = data.draw(st.lists(st.one_of(nasty_text, real), max_size=4))
    query = data.draw(st.dictionaries(st.sampled_from(FIELDS), nasty_text, max_size=3))
    body_kind = data.draw(st.sampled_from(["form", "bytes", "json", "deep"]))
    request: dict[str, Any] = {"query_string": query}
    if method != "GET":
        if body_kind == "form":
            request["data"] = data.draw(
                st.dictionaries(st.sampled_from(FIELDS), nasty_text, max_size=6)
            )
        elif body_kind == "bytes":
            request["data"] = data.draw(st.binary(max_size=200))
            # A header line cannot hold a line break (HTTP ends the header there).
            signature = data.draw(nasty_text.filter(lambda v: "\n" not in v and "\r" not in v))
            request["headers"] = {"Stripe-Signature": signature}
        elif body_kind == "json":
            value = data.draw(st.dictionaries(st.sampled_from(FIELDS), nasty_text, max_size=4))
            request["data"] = json.dumps(value)
            request["content_type"] = "application/json"
        else:
            request["data"] = data.draw(deep_json)
            request["content_type"] = "application/json"
    path = fill(rule, values)
    response = fuzz_client.open(path, method=method, **request)
    response.close()  # a static file's answer holds the file open until closed
    assert response.status_code < 500, (method, path, request, response.get_data()[:500])
    if rule.endpoint == "admin.logout":
        sign_in(fuzz_client, "owner@acme.example")


def test_an_id_too_large_for_the_database_is_not_found(fuzz_client: Any) -> None:
    """A 1,000-digit id in a path overflowed SQLite's integer (found by the fuzz test above)."""
    assert fuzz_client.get("/admin/scan/" + "9" * 1000).status_code == 404
    assert fuzz_client.get(f"/admin/scan/{2**31}").status_code == 404  # PostgreSQL's INTEGER
