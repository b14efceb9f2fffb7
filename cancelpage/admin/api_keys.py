"""Links & API: link-signing secrets (generate, rotate, remove), API keys (create, revoke) and
the embed section's context."""

from __future__ import annotations

from typing import Any

from flask import Response, abort, request

from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db
from cancelpage.merchants import api_keys, secrets
from cancelpage.models import Merchant

TEMPLATE = "admin/developers.html"


def app_origin(current: Merchant) -> str:
    """Where the snippets say the merchant's app lives: what it allows to frame, or returns to."""
    if current.frame_ancestors:
        return str(current.frame_ancestors[0])
    if current.return_hosts:
        return f"https://{current.return_hosts[0]}"
    return "https://app.example.com"


def context(**extra: Any) -> dict[str, Any]:
    current = merchant()
    origins = current.frame_ancestors or []
    return {
        "embed_origins": origins,
        "app_origin": app_origin(current),
        "origins_text": "\n".join(origins),
        "embed_error": None,
        "keys": api_keys.keys_of(current),
        "secret_last4s": secrets.last4s(current.link_secrets),
        "new_key": None,
        "new_secret": None,
        "key_error": None,
        "secret_error": None,
        "form": request.form,
        **extra,
    }


@bp.get("/developers")
def developers() -> Response:
    """API keys, link-signing secrets and the embed."""
    return page(TEMPLATE, "content", **context())


@bp.post("/api-keys")
def api_key_create() -> Response:
    """Create a key and show it this once (only its digest is kept)."""
    try:
        _, raw = api_keys.create_key(merchant(), request.form.get("name", ""))
    except api_keys.ApiKeyError as exc:
        return page(TEMPLATE, "api_keys", **context(key_error=str(exc)))
    db.session.commit()
    # Shown in the response itself, never via flash (the session cookie is readable).
    return page(TEMPLATE, "api_keys", **context(new_key=raw))


@bp.post("/api-keys/<int:key_id>/revoke")
def api_key_revoke(key_id: int) -> Response:
    """Revoke a key: requests with it get 401 from now on."""
    key = api_keys.key_of(merchant(), key_id)
    if key is None:
        abort(404)
    api_keys.revoke(key)
    db.session.commit()
    return saved(
        "admin.developers", f"Key {key.prefix}… revoked.", TEMPLATE, "api_keys", **context()
    )


@bp.post("/link-secrets")
def link_secret_rotate() -> Response:
    """Generate a new signing secret: it signs from now on, older ones keep verifying."""
    try:
        secret = secrets.rotate_link_secret(merchant())
    except secrets.SecretError as exc:
        return page(TEMPLATE, "link_secrets", **context(secret_error=str(exc)))
    db.session.commit()
    return page(TEMPLATE, "link_secrets", **context(new_secret=secret))


@bp.post("/link-secrets/<int:index>/remove")
def link_secret_remove(index: int) -> Response:
    """Remove a secret: links signed with it stop working."""
    try:
        secrets.remove_link_secret(merchant(), index)
    except secrets.SecretError as exc:
        return page(TEMPLATE, "link_secrets", **context(secret_error=str(exc)))
    db.session.commit()
    return saved("admin.developers", "Link secret removed.", TEMPLATE, "link_secrets", **context())
