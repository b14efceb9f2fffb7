"""Security headers on every response (CSP, framing, referrer, caching, HSTS) and the proxy in
front (docs/RELIABILITY.md 18-20)."""

from __future__ import annotations

import re

from flask import Flask, Response, current_app, g, request
from werkzeug.middleware.proxy_fix import ProxyFix

# Forms post to this app only; the one redirect after a form post that leaves it is the hand-off
# to Stripe's billing portal (Chromium applies form-action to redirects too).
FORM_ACTION_HOSTS = ("https://billing.stripe.com",)
MAX_FRAME_ANCESTORS = 10
_ORIGIN = re.compile(
    r"^https://(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$"
)


def init_app(app: Flask) -> None:
    """Trust the configured proxies and add the headers to every response."""
    hops = {
        name: int(app.config[f"PROXY_FIX_X_{name.upper()}"])
        for name in ("for", "proto", "host", "port", "prefix")
    }
    if any(hops.values()):
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app,
            x_for=hops["for"],
            x_proto=hops["proto"],
            x_host=hops["host"],
            x_port=hops["port"],
            x_prefix=hops["prefix"],
        )
    app.after_request(add_security_headers)


def content_security_policy(frame_ancestors: list[str]) -> str:
    """No inline script, no eval, nothing from elsewhere except https images (merchant logos)."""
    directives = {
        "default-src": "'self'",
        "script-src": "'self'",
        "style-src": "'self'",
        "img-src": "'self' https: data:",
        "form-action": " ".join(["'self'", *FORM_ACTION_HOSTS]),
        "frame-ancestors": " ".join(frame_ancestors) or "'none'",
        "base-uri": "'none'",
        "object-src": "'none'",
    }
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def frame_ancestors_for_request() -> list[str]:
    """The merchant's allow-list on its customer pages, so it can show them in a modal."""
    session = g.get("cancel_session")
    if session is None:
        return []
    return list(session.merchant.frame_ancestors or [])


def add_security_headers(response: Response) -> Response:
    ancestors = frame_ancestors_for_request()
    headers = response.headers
    # A view may set a policy of its own (the dashboard's sandboxed email preview does).
    if "Content-Security-Policy" not in headers:
        headers["Content-Security-Policy"] = content_security_policy(ancestors)
        if not ancestors:
            headers["X-Frame-Options"] = "DENY"  # for browsers without frame-ancestors
    # Step URLs carry the session capability: never send them to return URLs or to Stripe.
    # (The dashboard sets same-origin itself: Flask-WTF checks the Referer on HTTPS posts.)
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers["X-Content-Type-Options"] = "nosniff"
    if current_app.config["ENV"] == "production":
        headers["Strict-Transport-Security"] = f"max-age={int(current_app.config['HSTS_MAX_AGE'])}"
    if request.endpoint != "static" and "Cache-Control" not in headers:
        headers["Cache-Control"] = "no-store"
        headers["Pragma"] = "no-cache"
    return response


def validate_frame_ancestors(origins: list[str]) -> list[str]:
    """Normalise a merchant's framing allow-list: https origins only (``*.`` for subdomains)."""
    cleaned: list[str] = []
    for raw in origins:
        origin = raw.strip().lower().rstrip("/")
        if not _ORIGIN.match(origin):
            raise ValueError(f"{raw!r} is not an https origin such as https://app.example.com")
        if origin not in cleaned:
            cleaned.append(origin)
    if len(cleaned) > MAX_FRAME_ANCESTORS:
        raise ValueError(f"at most {MAX_FRAME_ANCESTORS} origins may frame the page")
    return cleaned
