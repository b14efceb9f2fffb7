"""JSON API for merchants' backends: `POST /api/v1/links` makes a signed cancel link.

Authenticated by `Authorization: Bearer <API key>` (no cookies, so CSRF-exempt); rate limited
per key. Every error is `{"error": {"code", "message", "field"?}}`.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request
from flask_limiter import RateLimitExceeded
from flask_limiter.util import get_remote_address

from cancelpage import links
from cancelpage.extensions import db, limiter
from cancelpage.merchants import api_keys
from cancelpage.merchants.settings import LOCALES
from cancelpage.models import utcnow
from cancelpage.web.errors import api_error, seconds_until_reset

bp = Blueprint("api", __name__, url_prefix="/api/v1")

FIELDS = ("customer", "subscription", "return_url", "attributes", "locale")
MAX_ID = 255


class Invalid(Exception):
    """A body the API refuses; becomes a JSON error."""

    def __init__(self, status: int, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.field = status, code, message, field


def error(status: int, code: str, message: str, field: str | None = None) -> Response:
    response = api_error(status, code, message, field)
    if status == 401:
        response.headers["WWW-Authenticate"] = 'Bearer realm="cancelpage"'
    return response


def bearer_token() -> str:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def rate_limit_key() -> str:
    """Per API key (by digest, so raw keys never reach the limiter's storage); else per address."""
    token = bearer_token()
    return "key:" + api_keys.digest(token) if token else "ip:" + get_remote_address()


def rate_limit() -> str:
    return str(current_app.config["API_RATE_LIMIT"])


def unknown_key_limit() -> str:
    return str(current_app.config["API_UNKNOWN_KEY_RATE_LIMIT"])


def refused_key(response: Response) -> bool:
    return response.status_code == 401


@bp.post("/links")
@limiter.limit(rate_limit, key_func=rate_limit_key)
# Guessed keys each have a bucket of their own above: count refusals per address as well.
@limiter.limit(
    unknown_key_limit, key_func=get_remote_address, scope="api-unknown-key", deduct_when=refused_key
)
def create_link() -> Response:
    """Sign a cancel link for one of the merchant's customers: 201 {url, expires_at}."""
    key = api_keys.authenticate(bearer_token())
    if key is None:
        return error(401, "unauthorized", "Send a valid API key: Authorization: Bearer cp_…")
    try:
        body = json_body()
        fields = link_fields(body, key.merchant.return_hosts)
    except Invalid as exc:
        return error(exc.status, exc.code, exc.message, exc.field)
    merchant = key.merchant
    url = links.sign_cancel_link(
        base_url=current_app.config["PUBLIC_BASE_URL"],
        merchant=merchant.slug,
        secret=merchant.link_secrets,
        allowed_return_hosts=merchant.return_hosts,
        **fields,
    )
    expires_at = datetime.now(UTC) + timedelta(seconds=merchant.link_max_age)
    key.last_used_at = utcnow()
    db.session.commit()
    response = jsonify(url=url, expires_at=expires_at.isoformat(timespec="seconds"))
    response.status_code = 201
    response.headers["Cache-Control"] = "no-store"
    return response


def json_body() -> dict[str, Any]:
    if not request.is_json:
        raise Invalid(
            415, "unsupported_media_type", "Send JSON with Content-Type: application/json."
        )
    try:
        body = request.get_json(silent=True)
    except RecursionError:  # nested deeper than the parser goes: not JSON we could use anyway
        body = None
    if body is None:
        raise Invalid(400, "invalid_json", "The body is not valid JSON.")
    if not isinstance(body, dict):
        raise Invalid(422, "invalid_body", "The body must be a JSON object.")
    return body


def _id(body: dict[str, Any], name: str, prefix: str) -> str:
    value = body.get(name)
    if value is None:
        raise Invalid(422, "missing_field", f"{name} is required.", name)
    if (
        not isinstance(value, str)
        or not value.startswith(prefix)
        or len(value) > MAX_ID
        or not value.isprintable()
        or any(ch.isspace() for ch in value)
    ):
        raise Invalid(422, "invalid_field", f"{name} must be a Stripe id like {prefix}…", name)
    return value


def link_fields(body: dict[str, Any], return_hosts: list[str]) -> dict[str, Any]:
    """Validate the body into sign_cancel_link's arguments, naming the first bad field."""
    for name in body:
        if name not in FIELDS:
            raise Invalid(
                422, "unknown_field", f"Unknown field {str(name)[:40]!r}.", str(name)[:40]
            )
    fields: dict[str, Any] = {
        "customer": _id(body, "customer", "cus_"),
        "subscription": _id(body, "subscription", "sub_"),
    }
    return_url = body.get("return_url")
    if return_url is not None and not (
        isinstance(return_url, str)
        and len(return_url) <= 2000
        and links.host_allowed(return_url, return_hosts)
    ):
        raise Invalid(
            422,
            "invalid_field",
            "return_url must be an http(s) URL on one of your allowed return hosts.",
            "return_url",
        )
    fields["return_url"] = return_url
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict) or not all(
        isinstance(v, str | int | float) and not isinstance(v, bool) for v in attributes.values()
    ):
        raise Invalid(
            422,
            "invalid_field",
            "attributes must be an object of strings or numbers.",
            "attributes",
        )
    attributes = {str(k): str(v) for k, v in attributes.items()}
    try:
        links.validate_attributes(attributes)
    except ValueError as exc:
        raise Invalid(422, "invalid_field", str(exc), "attributes") from None
    fields["attributes"] = attributes
    locale = body.get("locale")
    if locale is not None and locale not in LOCALES:
        raise Invalid(
            422, "invalid_field", "locale must be one of: " + ", ".join(LOCALES), "locale"
        )
    fields["locale"] = locale
    return fields


@bp.errorhandler(RateLimitExceeded)
def rate_limited(exc: RateLimitExceeded) -> Response:
    response = error(429, "rate_limited", f"Too many requests: the limit is {exc.description}.")
    response.headers["Retry-After"] = str(seconds_until_reset())
    return response
