"""Error pages that never leak internals, in the customer step style (JSON for API clients), and
the answer to a failing database (docs/RELIABILITY.md 12, 27, 28)."""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, current_app, jsonify, request, url_for
from flask_babel import gettext as _
from werkzeug.exceptions import HTTPException, InternalServerError, MethodNotAllowed

from cancelpage.cancel_sessions import release_abandoned_claim
from cancelpage.extensions import db, limiter
from cancelpage.web import dbretry, ratelimit
from cancelpage.web.rendering import render


def init_app(app: Flask) -> None:
    """Install the error pages."""
    app.register_error_handler(HTTPException, http_error)
    app.register_error_handler(InternalServerError, internal_error)
    app.register_error_handler(sa.exc.DBAPIError, database_error)


def wants_json() -> bool:
    """API clients get JSON errors; browsers get a page in the customer step style."""
    best = request.accept_mimetypes.best_match(["text/html", "application/json"])
    return request.path.startswith("/api/") or best == "application/json"


def api_error(status: int, code: str, message: str, field: str | None = None) -> Response:
    """The link API's documented error shape: {"error": {"code", "message", "field"?}}."""
    body: dict[str, Any] = {"code": code, "message": message}
    if field:
        body["field"] = field
    response = jsonify(error=body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


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
    if request.path.startswith("/api/"):
        # Routed or not (an unknown path has no blueprint), the API answers in its own shape.
        code = (error.name or "error").lower().replace(" ", "_")
        response = api_error(status, code, error.description or error.name or "Error")
    elif status == 404:
        response = problem(404, _("Page not found"), _("Please check the address and try again."))
    elif status == 405:
        response = problem(
            405, _("That didn't work"), _("Please go back and use the buttons on the page.")
        )
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
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        response.headers["Allow"] = ", ".join(error.valid_methods)
    return response


def seconds_until_reset() -> int:
    """When the limit that was hit lets the next request through."""
    customer_limit = ratelimit.retry_after()
    if customer_limit is not None:
        return int(customer_limit)
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
