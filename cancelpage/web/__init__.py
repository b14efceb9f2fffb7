"""What every response shares: rendering (fragment or page), security headers, error pages,
CSRF, retries of transient database failures, redacted logs, the health check."""

from __future__ import annotations

from flask import Flask

from cancelpage.web import dbretry, errors, headers, logs


def init_app(app: Flask) -> None:
    """Headers, error pages, database retries and log redaction, for the whole app."""
    headers.init_app(app)
    errors.init_app(app)
    dbretry.init_app(app)
    logs.init_app(app)
