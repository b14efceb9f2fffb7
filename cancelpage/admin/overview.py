"""The dashboard's first page: where the merchant stands and what to do next."""

from __future__ import annotations

from flask import Response

from cancelpage.admin.common import bp, merchant, page
from cancelpage.merchants import api_keys, flow_drafts


@bp.get("/")
def overview() -> Response:
    """Status at a glance: mode, Stripe key, flow version, API keys."""
    current = merchant()
    return page(
        "admin/overview.html",
        "content",
        has_changes=flow_drafts.has_changes(current),
        active_keys=[k for k in api_keys.keys_of(current) if k.revoked_at is None],
    )
