"""Security headers, error pages, proxy handling and log redaction
(docs/RELIABILITY.md 6, 17-20, 27)."""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from cancelpage import cancel_sessions, create_app
from cancelpage.extensions import db
from cancelpage.merchants.store import by_slug
from cancelpage.web import logs
from cancelpage.web.headers import content_security_policy, validate_frame_ancestors

HX = {"HX-Request": "true"}
TEMPLATES = Path(__file__).resolve().parents[2] / "cancelpage" / "templates"
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    "form-action 'self' https://billing.stripe.com; frame-ancestors 'none'; base-uri 'none'; "
    "object-src 'none'"
)


def text(response: Any) -> str:
    return re.sub(r"\s+", " ", response.get_data(as_text=True))


# ---- headers ---------------------------------------------------------------------------------


def test_customer_page_headers(client: FlaskClient, merchant: Any, start: Any) -> None:
    response = client.get(start())
    headers = response.headers
    assert headers["Content-Security-Policy"] == CSP
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "no-referrer"
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Cache-Control"] == "no-store"
    assert headers["Pragma"] == "no-cache"
    assert "Strict-Transport-Security" not in headers  # development


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_every_customer_response_is_no_store(
    client: FlaskClient, merchant: Any, start: Any, headers: dict[str, str]
) -> None:
    url = start()
    for response in (
        client.post(f"{url}/survey", data={"reason": "too_expensive"}, headers=headers),
        client.post(f"{url}/offer", data={"offer": "nope", "action": "bogus"}, headers=headers),
        client.get("/c/not-a-token", headers=headers),
    ):
        assert response.headers["Cache-Control"] == "no-store"
        assert "unsafe" not in response.headers["Content-Security-Policy"]


def test_static_files_and_brand_css_keep_their_caching(client: FlaskClient, merchant: Any) -> None:
    static = client.get("/static/htmx.min.js")
    assert static.status_code == 200
    assert static.headers["Cache-Control"] != "no-store"
    static.close()
    brand = client.get("/brand/acme.css")
    assert brand.headers["Cache-Control"] == "max-age=60"
    assert brand.headers["X-Content-Type-Options"] == "nosniff"
    # The pages link it with the colour in the URL: that one may be kept for a year.
    versioned = client.get("/brand/acme.css", query_string={"v": merchant.brand_color[1:]})
    assert versioned.headers["Cache-Control"] == "max-age=31536000"


def test_templates_need_no_inline_script_or_style() -> None:
    """What makes the strict CSP possible: nothing inline for it to block.

    Email templates are exempt: mail clients need inline styles, and no CSP applies there.
    """
    for path in TEMPLATES.rglob("*.html"):
        if path.relative_to(TEMPLATES).parts[0] == "emails":
            continue
        source = path.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", source), path
        assert not re.search(r"<style|\sstyle=", source), path
        assert not re.search(r"\son[a-z]+=", source), path
        assert "hx-on" not in source, path
        assert "js:" not in source, path


def test_htmx_is_configured_for_the_strict_policy(
    client: FlaskClient, merchant: Any, start: Any
) -> None:
    page = client.get(start()).get_data(as_text=True)
    config = re.search(r"<meta name=\"htmx-config\" content='([^']+)'>", page)
    assert config is not None
    import json

    settings = json.loads(config.group(1))
    assert settings["allowEval"] is False
    assert settings["allowScriptTags"] is False
    assert settings["selfRequestsOnly"] is True
    assert settings["historyCacheSize"] == 0
    assert settings["includeIndicatorStyles"] is False
    # error steps (413, 429, 503...) are swapped in like any other step
    swapped = {rule["code"]: rule["swap"] for rule in settings["responseHandling"]}
    assert swapped == {"204": False, "[23]..": True, "[45]..": True}


def test_merchant_frame_ancestors_allow_its_modal(
    app: Flask, client: FlaskClient, merchant: Any, start: Any
) -> None:
    with app.app_context():
        by_slug("acme").frame_ancestors = validate_frame_ancestors(
            ["https://app.acme.example/", "https://*.acme.example"]
        )
        db.session.commit()
    response = client.get(start())
    csp = response.headers["Content-Security-Policy"]
    assert "frame-ancestors https://app.acme.example https://*.acme.example;" in csp
    assert "X-Frame-Options" not in response.headers
    # pages outside a session (bad links) still refuse every frame
    assert client.get("/c/not-a-token").headers["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize(
    "origin",
    [
        "http://app.acme.example",
        "https://app.acme.example/path",
        "https://app.acme.example?x=1",
        "'none'",
        "https://app.acme.example; script-src *",
        "*",
        "https://",
        "javascript:alert(1)",
        "https://user@app.acme.example",
    ],
)
def test_frame_ancestors_must_be_https_origins(origin: str) -> None:
    with pytest.raises(ValueError, match="https origin"):
        validate_frame_ancestors([origin])


def test_frame_ancestors_are_normalised_and_capped() -> None:
    assert validate_frame_ancestors(["HTTPS://A.example:8443/", "https://a.example:8443"]) == [
        "https://a.example:8443"
    ]
    with pytest.raises(ValueError, match="at most 10"):
        validate_frame_ancestors([f"https://h{n}.example" for n in range(11)])
    assert "frame-ancestors 'none'" in content_security_policy([])


def test_hsts_in_production_only(tmp_path: Any) -> None:
    config = {
        "ENV": "production",
        "SECRET_KEY": "a-long-random-production-secret",
        "ENCRYPTION_KEYS": "a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U=",
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path}/prod.sqlite",
        "ALLOW_SQLITE_IN_PRODUCTION": True,
        "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
    }
    app = create_app(config)
    response = app.test_client().get("/healthz")
    assert response.headers["Strict-Transport-Security"] == "max-age=63072000"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    with app.app_context():
        db.engine.dispose()


# ---- error pages -----------------------------------------------------------------------------


@pytest.mark.parametrize("headers", [{}, HX], ids=["plain", "htmx"])
def test_oversized_post_gets_a_clear_413_step(
    app: Flask, client: FlaskClient, merchant: Any, start: Any, headers: dict[str, str]
) -> None:
    url = start()
    response = client.post(
        f"{url}/survey", data={"reason": "other", "comment": "x" * 70_000}, headers=headers
    )
    body = text(response)
    assert response.status_code == 413
    assert "That was more than we can accept" in body
    assert "Please shorten your comment and try again." in body
    assert f'href="{url}"' in body  # back to the step, which still has the form
    assert ("<html" in body) is not bool(headers)
    if headers:
        assert body.strip().startswith('<main id="step"')
    with app.app_context():
        session = cancel_sessions.by_capability(url.removeprefix("/s/"))
        assert session is not None
        assert session.state["step"] == "survey"


def test_unknown_page_is_a_friendly_404(client: FlaskClient) -> None:
    response = client.get("/no/such/page")
    assert response.status_code == 404
    assert "Page not found" in text(response)
    assert '<main id="step"' in text(response)
    assert response.headers["Content-Security-Policy"] == CSP


def test_api_clients_get_json_errors(client: FlaskClient) -> None:
    response = client.get("/api/nothing-here")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not_found"  # the link API's error shape
    accepts_json = client.get("/nothing", headers={"Accept": "application/json"})
    assert accepts_json.get_json()["status"] == 404


def test_wrong_method_is_a_friendly_405(client: FlaskClient, merchant: Any, start: Any) -> None:
    url = start()
    response = client.get(f"{url}/survey")
    assert response.status_code == 405
    assert set(response.headers["Allow"].split(", ")) == {"OPTIONS", "POST"}
    assert "Please go back and use the buttons on the page." in text(response)


def test_a_crash_shows_an_apology_and_logs_no_token(
    app: Flask,
    client: FlaskClient,
    merchant: Any,
    make_link: Any,
    monkeypatch: Any,
    caplog: Any,
) -> None:
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def explode(token: str, purpose: str = "cancel") -> Any:
        raise RuntimeError(f"internal detail {token}")

    monkeypatch.setattr(cancel_sessions.opening, "open_session", explode)
    link = make_link()
    token = link.removeprefix("/c/")
    with caplog.at_level(logging.ERROR):
        response = client.get(link + "?utm=1")
    body = text(response)
    assert response.status_code == 500
    assert "Something went wrong on our side" in body
    assert "internal detail" not in body
    assert "Traceback" not in body
    assert "Exception on /c/[redacted] [GET]" in caplog.text
    assert token not in "".join(r.getMessage() for r in caplog.records)


# ---- proxy -----------------------------------------------------------------------------------


def _remote_addr_app(app_config: dict[str, Any], **extra: Any) -> Flask:
    app = create_app({**app_config, **extra})
    app.add_url_rule("/whoami", "whoami", lambda: __import__("flask").request.remote_addr)
    return app


def test_forwarded_headers_are_ignored_by_default(app_config: dict[str, Any]) -> None:
    app = _remote_addr_app(app_config)
    client = app.test_client()
    response = client.get("/whoami", headers={"X-Forwarded-For": "203.0.113.9"})
    assert response.get_data(as_text=True) == "127.0.0.1"


def test_proxy_fix_trusts_the_configured_hops(app_config: dict[str, Any]) -> None:
    app = _remote_addr_app(app_config, PROXY_FIX_X_FOR=1, PROXY_FIX_X_PROTO=1)
    client = app.test_client()
    response = client.get("/whoami", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
    assert response.get_data(as_text=True) == "203.0.113.9"  # only the last hop is trusted


def test_healthz(client: FlaskClient) -> None:
    response = client.get("/healthz")
    assert (response.status_code, response.get_data(as_text=True)) == (200, "ok\n")


# ---- log redaction ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("GET /c/eyJtIjoiYSJ9.Zx.sig HTTP/1.1", "GET /c/[redacted] HTTP/1.1"),
        ("POST /s/AbC-_12/survey?x=1 HTTP/1.1", "POST /s/[redacted]/survey HTTP/1.1"),
        ("https://cancel.test/s/AbC/offer", "https://cancel.test/s/[redacted]/offer"),
        ("/card/tok", "/card/[redacted]"),
        ("/unsubscribe/tok?y=2", "/unsubscribe/[redacted]"),
        ("GET /admin/reset/eyJ1IjoxfQ.Zx.sig HTTP/1.1", "GET /admin/reset/[redacted] HTTP/1.1"),
        ("GET /%63/tok HTTP/1.1", "GET /%63/[redacted] HTTP/1.1"),
        ("GET /%73/AbC%2Fsurvey HTTP/1.1", "GET /%73/[redacted] HTTP/1.1"),
        ("GET /c%2ftok HTTP/1.1", "GET /c%2f[redacted] HTTP/1.1"),
        ("GET /%61dmin/%72eset/tok HTTP/1.1", "GET /%61dmin/%72eset/[redacted] HTTP/1.1"),
        ("/static/htmx.min.js", "/static/htmx.min.js"),
        ("/healthz?probe=1", "/healthz"),
    ],
)
def test_redact(app: Flask, raw: str, expected: str) -> None:
    """The secret segments come from the app's URL map (every <token> and <cap> route)."""
    assert logs.redact(raw) == expected


def test_development_server_request_log_is_redacted(app: Flask, caplog: Any) -> None:
    with caplog.at_level(logging.INFO, logger="werkzeug"):
        logging.getLogger("werkzeug").info('"%s" %s', "GET /c/secret-token HTTP/1.1", 303)
    assert "secret-token" not in caplog.text
    assert '"GET /c/[redacted] HTTP/1.1" 303' in caplog.text


def test_cli_sets_and_clears_frame_ancestors(app: Flask, merchant: Any) -> None:
    runner = app.test_cli_runner()
    command = ["merchant", "frame-ancestors", "acme"]
    with app.app_context():  # as the `flask` command provides
        result = runner.invoke(args=[*command, "https://app.acme.example"])
        assert result.exit_code == 0
        assert "https://app.acme.example" in result.output
        refused = runner.invoke(args=[*command, "http://insecure.example"])
        assert refused.exit_code != 0
        assert "https origin" in refused.output
        assert by_slug("acme").frame_ancestors == ["https://app.acme.example"]
        cleared = runner.invoke(args=command)
        assert "none (framing refused)" in cleared.output
        db.session.expire_all()
        assert by_slug("acme").frame_ancestors == []
