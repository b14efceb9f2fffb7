"""cancelpage: a self-hosted retention layer for Stripe subscriptions."""

from __future__ import annotations

import logging
import os
from typing import Any

from flask import Flask
from flask_babel import format_date, format_percent, get_locale

from cancelpage import i18n
from cancelpage.config import load_config
from cancelpage.extensions import babel, db, htmx, limiter, login, migrate
from cancelpage.i18n import formats

# Shipped inside the package so `flask db upgrade` works from an installed wheel too.
MIGRATIONS_DIR = os.path.join(os.path.dirname(__file__), "migrations")


def create_app(test_config: dict[str, Any] | None = None) -> Flask:
    """Application factory: config -> extensions -> blueprints -> CLI."""
    app = Flask(__name__, instance_relative_config=True)
    # Ids in paths fit the database's integers: a longer number is a 404, never an overflow.
    from cancelpage.web.rendering import DatabaseId

    app.url_map.converters["int"] = DatabaseId
    os.makedirs(app.instance_path, exist_ok=True)
    load_config(app, test_config)
    register_extensions(app)
    register_blueprints(app)
    register_web(app)
    register_cli(app)
    return app


def register_extensions(app: Flask) -> None:
    from cancelpage.analytics import rollups
    from cancelpage.billing import default_gateway_factory
    from cancelpage.merchants import accounts
    from cancelpage.web import csrf, ratelimit

    db.init_app(app)
    migrate.init_app(app, db, directory=MIGRATIONS_DIR, render_as_batch=True)
    htmx.init_app(app)
    csrf.init_app(app)
    login.init_app(app, add_context_processor=False)
    accounts.init_login(login)
    limiter.init_app(app)
    ratelimit.init_app(app)
    rollups.init()  # the dashboard's rollups follow every flush of a cancel session
    i18n.init_app(app, babel)
    formats.init_app(app)
    app.jinja_env.globals.update(
        format_date=format_date,
        format_percent=format_percent,
        current_locale=get_locale,
    )
    app.extensions.setdefault("cancelpage.gateway", default_gateway_factory)
    logging.getLogger("stripe").setLevel(logging.WARNING)


def register_blueprints(app: Flask) -> None:
    from cancelpage import admin, api
    from cancelpage.admin import analytics_pages
    from cancelpage.customer import cancel_pages, demo_app, email_links, embed, keep_links
    from cancelpage.recovery import webhooks
    from cancelpage.web import health

    # No rate limit on the health check and Stripe's webhooks (signed, and retried by Stripe);
    # the customer pages count with web.ratelimit, in one round trip.
    for blueprint in (health.bp, webhooks.bp, embed.bp, email_links.bp, keep_links.bp):
        limiter.exempt(blueprint)
    app.register_blueprint(cancel_pages.bp)
    app.register_blueprint(embed.bp)
    app.register_blueprint(health.bp)
    app.register_blueprint(webhooks.bp)  # CSRF-exempt: Stripe signs it instead
    app.register_blueprint(email_links.bp)
    app.register_blueprint(keep_links.bp)  # a receipt's keep my subscription link
    app.register_blueprint(admin.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(analytics_pages.bp)
    app.register_blueprint(demo_app.bp)  # answers only in demo mode


def register_web(app: Flask) -> None:
    from cancelpage import web, worker

    web.init_app(app)
    worker.init_app(app)  # single-process mode, when configured


def register_cli(app: Flask) -> None:
    from cancelpage import cli

    cli.init_app(app)
