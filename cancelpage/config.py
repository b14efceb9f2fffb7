"""Configuration: defaults, then instance/config.py, then CANCELPAGE_* environment variables.

Production (``CANCELPAGE_ENV=production``) refuses settings that only make sense on a laptop.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

from flask import Flask

DEV_SECRET_KEY = "dev-only-not-secret"


class Defaults:
    ENV = "development"
    SECRET_KEY = DEV_SECRET_KEY
    # Fernet keys (urlsafe base64, 32 bytes) for secrets at rest, newest first. In development
    # none are needed: a key is derived from SECRET_KEY so a trial works without setup.
    ENCRYPTION_KEYS: ClassVar[list[str]] = []
    # Where links in emails and CLI output point; never taken from the request's Host header.
    PUBLIC_BASE_URL = "http://127.0.0.1:5000"
    # Any Stripe-compatible server (tests, local emulators); None means Stripe itself.
    STRIPE_API_BASE: str | None = None
    STRIPE_TIMEOUT = 10.0  # seconds; well under gunicorn's 30 s worker timeout
    STRIPE_MAX_RETRIES = 2
    SCAN_MAX_REQUESTS = 20_000  # Stripe requests one revenue scan may make (100 objects each)
    ALLOW_SQLITE_IN_PRODUCTION = False
    SQLALCHEMY_ENGINE_OPTIONS: ClassVar[dict[str, Any]] = {"pool_pre_ping": True}
    MAX_CONTENT_LENGTH = 64 * 1024
    MAIL_DEFAULT_SENDER = "cancelpage@localhost"
    BABEL_DEFAULT_LOCALE = "en"
    BABEL_DEFAULT_TIMEZONE = "UTC"
    # Recovery emails: SMTP via the usual MAIL_SERVER/MAIL_PORT/MAIL_USE_TLS/MAIL_USE_SSL/
    # MAIL_USERNAME/MAIL_PASSWORD keys; failed sends are retried with exponential backoff.
    MAIL_TIMEOUT = 10.0  # seconds per SMTP operation, so a stuck server never hangs the worker
    MAIL_MAX_ATTEMPTS = 12  # then the email is marked "dead" (kept, shown, re-queueable)
    MAIL_RETRY_BASE_SECONDS = 60  # 1 min, 2 min, 4 min ... capped at 6 h
    SESSION_COOKIE_HTTPONLY = True
    SESSION_COOKIE_SAMESITE = "Lax"
    # Production readiness (issue 6): proxy, headers, rate limits, database retries.
    # ProxyFix: how many proxies in front set each X-Forwarded-* header (0 = do not trust it).
    PROXY_FIX_X_FOR = 0
    PROXY_FIX_X_PROTO = 0
    PROXY_FIX_X_HOST = 0
    PROXY_FIX_X_PORT = 0
    PROXY_FIX_X_PREFIX = 0
    HSTS_MAX_AGE = 63072000  # two years; sent in production only
    # Flask-Limiter: memory in development, Redis in production (redis://127.0.0.1:6379/0).
    RATELIMIT_ENABLED = True
    RATELIMIT_STORAGE_URI = "memory://"
    RATELIMIT_KEY_PREFIX = "cancelpage"
    # A sliding window: no double burst at a window's edge, and counts that do not reset mid-test.
    RATELIMIT_STRATEGY = "moving-window"
    # Off: it would put Retry-After on every response; the 429 step and the API set their own.
    RATELIMIT_HEADERS_ENABLED = False
    # A rate-limit store that is down must not stop customers from cancelling.
    RATELIMIT_SWALLOW_ERRORS = True
    RATE_LIMIT_PER_IP = "120 per minute"  # all customer-page requests from one address
    RATE_LIMIT_PER_LINK = "30 per minute"  # all requests on one link and its session
    DB_RETRY_ATTEMPTS = 3  # transient "database is locked" / serialization failures
    # Merchant dashboard and link API (admin/, api.py).
    # CSRF is checked by cancelpage.csrf (app-wide, minus capability- and token-authenticated
    # blueprints); the token lives as long as the signed-in session.
    WTF_CSRF_CHECK_DEFAULT = False
    WTF_CSRF_TIME_LIMIT: int | None = None
    API_RATE_LIMIT = "60 per minute"  # per API key
    # How long a session's capability (/s/...) outlives its link.
    CAPABILITY_GRACE_SECONDS = 24 * 3600
    API_UNKNOWN_KEY_RATE_LIMIT = "10 per minute"  # refused API keys, per address
    LOGIN_RATE_LIMIT = "10 per minute"  # per client address, sign-in and reset requests
    PASSWORD_RESET_MAX_AGE = 3600  # seconds an emailed reset link works
    TEST_EMAIL_RATE_LIMIT = "20 per hour"  # per merchant, "send me a test" in the dashboard
    # Merchant webhooks (merchant_webhooks/): seconds per attempt, backoff base, attempts.
    WEBHOOK_TIMEOUT = 5
    WEBHOOK_RETRY_BASE_SECONDS = 30
    WEBHOOK_MAX_ATTEMPTS = 12
    # Stored Stripe events (recovery/inbox.py): backoff base and attempts before one is dead.
    STRIPE_EVENT_RETRY_BASE_SECONDS = 30
    STRIPE_EVENT_MAX_ATTEMPTS = 12
    # Single-process mode (SQLite, small installs): the web process runs the worker in a thread.
    WORKER_IN_PROCESS = False


class UnsafeConfig(RuntimeError):
    """Raised at start-up when production settings would be unsafe."""


def load_config(app: Flask, test_config: dict[str, Any] | None) -> None:
    """Fill app.config in precedence order and check it."""
    app.config.from_object(Defaults)
    app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(
        app.instance_path, "cancelpage.sqlite"
    )
    if test_config is None:
        app.config.from_pyfile("config.py", silent=True)
        app.config.from_prefixed_env("CANCELPAGE")
        if os.environ.get("DATABASE_URL"):
            app.config["SQLALCHEMY_DATABASE_URI"] = normalise_database_url(
                os.environ["DATABASE_URL"]
            )
    else:
        app.config.from_mapping(test_config)
    if isinstance(app.config["ENCRYPTION_KEYS"], str):
        app.config["ENCRYPTION_KEYS"] = [
            k.strip() for k in app.config["ENCRYPTION_KEYS"].split(",") if k.strip()
        ]
    app.config["PUBLIC_BASE_URL"] = app.config["PUBLIC_BASE_URL"].rstrip("/")
    if app.config["ENV"] == "production":
        check_production(app.config)


def normalise_database_url(url: str) -> str:
    """Accept the postgres:// spellings hosting providers hand out; use psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def check_production(config: dict[str, Any]) -> None:
    """Refuse to start production with a default secret, no encryption keys or SQLite."""
    problems = []
    if not config.get("SECRET_KEY") or config["SECRET_KEY"] == DEV_SECRET_KEY:
        problems.append("set CANCELPAGE_SECRET_KEY to a long random value")
    if not config.get("ENCRYPTION_KEYS"):
        problems.append("set CANCELPAGE_ENCRYPTION_KEYS (generate one with `flask keys new`)")
    uri = config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite") and not config.get("ALLOW_SQLITE_IN_PRODUCTION"):
        problems.append("set DATABASE_URL to PostgreSQL (or CANCELPAGE_ALLOW_SQLITE_IN_PRODUCTION)")
    if config.get("RATELIMIT_ENABLED", True) and str(
        config.get("RATELIMIT_STORAGE_URI", "memory://")
    ).startswith("memory"):
        problems.append("set CANCELPAGE_RATELIMIT_STORAGE_URI to Redis (redis://host:6379/0)")
    if problems:
        raise UnsafeConfig("refusing to start in production: " + "; ".join(problems))
    config["SESSION_COOKIE_SECURE"] = True
