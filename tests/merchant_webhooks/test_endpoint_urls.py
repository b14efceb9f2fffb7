"""Endpoint URLs: https on public addresses only; never this app, never private or loopback
addresses, http only for 127.0.0.1 in development (docs/RELIABILITY.md 32)."""

from __future__ import annotations

import pytest
from flask import Flask

from cancelpage.merchant_webhooks import endpoints


@pytest.mark.parametrize(
    "url",
    [
        "https://93.184.215.14/hooks",
        "https://[2606:4700::1111]/hooks",
        "http://127.0.0.1:9000/hooks",  # development only
    ],
)
def test_allowed(app: Flask, url: str) -> None:
    with app.app_context():
        assert endpoints.check_url(url) == url


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("http://93.184.215.14/hooks", "use https"),
        ("ftp://93.184.215.14/hooks", "full https"),
        ("https:///hooks", "full https"),
        ("https://10.0.0.5/hooks", "private or local"),
        ("https://192.168.1.10/hooks", "private or local"),
        ("https://172.16.0.1/hooks", "private or local"),
        ("https://169.254.169.254/latest/meta-data", "private or local"),
        ("https://[::1]/hooks", "private or local"),
        ("https://[fd00::1]/hooks", "private or local"),
        ("https://0.0.0.0/hooks", "private or local"),
        ("https://localhost/hooks", "private or local"),  # a name that resolves to loopback
        ("http://cancel.test/hooks", "cancelpage itself"),
        ("https://user:pw@93.184.215.14/hooks", "no user name"),
        ("https://93.184.215.14:99999/hooks", "port"),
        ("https://93.184.215.14/" + "x" * 500, "at most"),
    ],
)
def test_refused(app: Flask, url: str, why: str) -> None:
    with app.app_context(), pytest.raises(endpoints.EndpointError, match=why):
        endpoints.check_url(url)


@pytest.mark.parametrize(
    ("url", "why"),
    [("http://127.0.0.1:9000/hooks", "use https"), ("https://127.0.0.1/hooks", "private")],
)
def test_production_refuses_loopback(app: Flask, url: str, why: str) -> None:
    app.config["ENV"] = "production"
    with app.app_context(), pytest.raises(endpoints.EndpointError, match=why):
        endpoints.check_url(url)


def test_the_apps_own_loopback_origin_is_refused_in_development(app: Flask) -> None:
    app.config["PUBLIC_BASE_URL"] = "http://127.0.0.1:5000"
    with app.app_context(), pytest.raises(endpoints.EndpointError, match="itself"):
        endpoints.check_url("http://127.0.0.1:5000/webhooks/stripe/acme")
