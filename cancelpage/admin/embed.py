"""The Embed section of Links & API: which origins may show the cancel dialog, and copy-paste
snippets (plain HTML, React, Vue) filled in with this cancelpage and the merchant's origin."""

from __future__ import annotations

from flask import Response, request

from cancelpage.admin import api_keys
from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db
from cancelpage.web.headers import validate_frame_ancestors


@bp.post("/embed/origins")
def embed_origins_save() -> Response:
    """Keep the origins allowed to frame the customer pages (one per line; none: no framing)."""
    raw = request.form.get("origins", "")
    try:
        origins = validate_frame_ancestors(raw.split())
    except ValueError as exc:
        return page(
            api_keys.TEMPLATE, "embed", **api_keys.context(embed_error=str(exc), origins_text=raw)
        )
    merchant().frame_ancestors = origins
    db.session.commit()
    return saved(
        "admin.developers", "Embed origins saved.", api_keys.TEMPLATE, "embed", **api_keys.context()
    )
