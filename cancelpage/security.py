"""Web security for every response: headers (CSP, framing, referrer, caching, HSTS), the proxy
in front, and error pages that never leak internals (RELIABILITY.md 17-20, 27, 28)."""

from __future__ import annotations

import re
import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, g, jsonify, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed
from werkzeug.middleware.proxy_fix import ProxyFix

from . import dbretry, logs
from .cancel_sessions import release_abandoned_claim
from .extensions import db, limiter
from .web import render

# Forms post to this app only; the one redirect after a form post that leaves it is the hand-off
# to Stripe's billing portal (Chromium applies form-action to redirects too).
FORM_ACTION_HOSTS = ("https://billing.stripe.com",)
MAX_FRAME_ANCESTORS = 10
_ORIGIN = re.compile(
    r"^https://(\*\.)?[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*(:\d{1,5})?$"
)


def init_app(app: Flask) -> None:
    """Trust the configured proxies, add the headers, install error pages and log redaction."""
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
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, internal_error)
    app.register_error_handler(sa.exc.DBAPIError, database_error)
    dbretry.init_app(app)
    logs.init_app(app)


# ---- headers ---------------------------------------------------------------------------------


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


# ---- error pages -----------------------------------------------------------------------------


def wants_json() -> bool:
    """API clients get JSON errors; browsers get a page in the customer step style."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.path.startswith("/api/") or best == "application/json"


def retry_url() -> str | None:
    """Where "try again" leads: the session's current step, or the link itself."""
    args = request.view_args or {}
    if "cap" in args:
        return url_for("cancel.show", cap=args["cap"])
    if request.method == "GET" and request.path.startswith("/c/"):
        return request.path
    return None


def problem(status: int, heading: str, message: str, *, retry: bool = False) -> Response:
    if wants_json():
        response = jsonify(error=heading, status=status)
        response.status_code = status
        return response
    return render(
        "cancel/problem.html",
        "step",
        status=status,
        merchant=None,
        heading=heading,
        message=message,
        retry_url=retry_url() if retry else None,
    )


def http_error(error: HTTPException) -> Response:
    """Friendly pages for the HTTP errors a customer can run into."""
    status = error.code or 500
    if status == 404:
        response = problem(404, _("Page not found"), _("Please check the address and try again."))
    elif status == 405:
        response = problem(
            405, _("That didn't work"), _("Please go back and use the buttons on the page.")
        )
        if isinstance(error, MethodNotAllowed) and error.valid_methods:
            response.headers["Allow"] = ", ".join(error.valid_methods)
    elif status == 413:
        response = problem(
            413,
            _("That was more than we can accept"),
            _("Please shorten your comment and try again."),
            retry=True,
        )
    elif status == 429:
        response = problem(
            429, _("Too many attempts"), _("Please wait a minute and try again."), retry=True
        )
        response.headers["Retry-After"] = str(seconds_until_reset())
    elif status >= 500:
        response = problem(
            status, _("Something went wrong on our side"), _("Please try again in a moment.")
        )
    else:
        response = problem(
            status, _("That didn't work"), _("Please go back and use the buttons on the page.")
        )
    return response


def seconds_until_reset() -> int:
    """When the limit that was hit lets the next request through."""
    current = limiter.current_limit
    return max(1, int(current.reset_at - time.time())) if current is not None else 60


def internal_error(error: Any) -> Response:
    """Never a traceback or an exception message: only a plain apology."""
    return problem(
        500,
        _("Something went wrong on our side"),
        _("Please try again in a moment."),
        retry=True,
    )


def database_error(error: sa.exc.DBAPIError) -> Response:
    """A locked or conflicting database: roll back, free the write claim, ask to try again."""
    db.session.rollback()
    release_abandoned_claim()
    if not dbretry.is_transient(error):
        current_app.logger.error("Database error on %s", request.path, exc_info=error)
        return internal_error(error)
    current_app.logger.warning("Transient database failure on %s: %s", request.path, error.orig)
    response = problem(
        503,
        _("We couldn't save that just now"),
        _("Please try again in a moment: nothing will be applied twice."),
        retry=True,
    )
    response.headers["Retry-After"] = "1"
    return response
