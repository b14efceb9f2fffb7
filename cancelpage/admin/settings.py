"""Settings: name, logo, colour, headline and per-step copy, support email, return URLs,
cancel mode, link lifetime and default language."""

from __future__ import annotations

from flask import Response, request, url_for

from .. import branding
from ..extensions import db
from ..web import see_other, wants_fragment
from .common import bp, merchant, page, saved

TEMPLATE = "admin/settings.html"


def context(form: dict[str, str]) -> dict[str, object]:
    return {
        "form": form,
        "copy_fields": branding.COPY_FIELDS,
        "cancel_modes": branding.CANCEL_MODE_LABELS,
        "locales": branding.LOCALE_LABELS,
    }


@bp.get("/settings")
def settings() -> Response:
    """The settings form, filled in."""
    return page(TEMPLATE, "content", **context(branding.form_values(merchant())))


@bp.post("/settings")
def settings_save() -> Response:
    """Validate every field; keep all of them or none."""
    form = {key: request.form.get(key, "") for key in request.form}
    values, errors = branding.validate(form)
    if errors:
        return page(TEMPLATE, "settings_form", errors=errors, **context(form))
    current = merchant()
    branding.apply(current, values)
    db.session.commit()
    return saved(
        "admin.settings",
        "Settings saved.",
        TEMPLATE,
        "settings_form",
        **context(branding.form_values(current)),
    )


@bp.get("/settings/copy-preview")
def copy_preview() -> Response:
    """How one piece of copy will look to customers (htmx, as the merchant types)."""
    if not wants_fragment():
        return see_other(url_for("admin.settings"))
    # The one query parameter is the copy field itself (htmx sends it under its own name).
    text = next(iter(request.args.values()), "")[:500]
    return page(TEMPLATE, "copy_preview", text=text)
