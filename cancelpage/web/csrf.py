"""CSRF protection for every cookie-authenticated form, app-wide.

Exempt are the blueprints that carry their own proof of intent instead of a cookie: the customer
pages (each step is bound to an unguessable session capability in its URL), the card-update and
unsubscribe pages (signed links, one-click unsubscribe from mail clients), the JSON API (bearer
API keys, no cookies) and Stripe webhooks (signed bodies).
"""

from __future__ import annotations

from flask import Flask, request

from cancelpage.extensions import csrf

EXEMPT_BLUEPRINTS = frozenset({"cancel", "recovery", "api", "webhooks"})
EXEMPT_PATH_PREFIXES = ("/webhooks/",)


def init_app(app: Flask) -> None:
    csrf.init_app(app)
    app.before_request(protect)


def exempt() -> bool:
    if request.blueprint in EXEMPT_BLUEPRINTS:
        return True
    return request.path.startswith(EXEMPT_PATH_PREFIXES)


def protect() -> None:
    """Check the token on POST/PUT/PATCH/DELETE (form field or X-CSRFToken header from htmx)."""
    if request.endpoint is None or exempt():
        return
    csrf.protect()
