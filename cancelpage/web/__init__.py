"""What every response shares: rendering (fragment or page), security headers, error pages,
CSRF, retries of transient database failures, redacted logs, the health check."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Headers, error pages, database retries and log redaction, for the whole app."""
    # Imported here: the error pages free a cancel session's write claim, and cancel_sessions
    # itself uses web.dbretry, so importing cancelpage.web must not import them.
    from cancelpage.web import dbretry, errors, headers, logs

    headers.init_app(app)
    errors.init_app(app)
    dbretry.init_app(app)
    logs.init_app(app)
