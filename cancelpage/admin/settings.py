"""Settings: name, logo, colour, headline and per-step copy, support email, return URLs,
cancel mode, link lifetime and default language."""

from __future__ import annotations

from flask import Response, request, url_for

from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db
from cancelpage.merchants import portal
from cancelpage.merchants import settings as merchant_settings
from cancelpage.web.rendering import see_other, wants_fragment

TEMPLATE = "admin/settings.html"


def context(form: dict[str, str]) -> dict[str, object]:
    colour = form.get("brand_color", "").strip().lower()
    valid = merchant_settings.COLOR_RE.fullmatch(colour)
    return {
        "form": form,
        "colour_warning": merchant_settings.contrast_warning(colour) if valid else None,
        "copy_fields": merchant_settings.COPY_FIELDS,
        "cancel_modes": merchant_settings.CANCEL_MODE_LABELS,
        "locales": merchant_settings.LOCALE_LABELS,
    }


@bp.get("/settings")
def settings() -> Response:
    """The settings form, filled in."""
    return page(TEMPLATE, "content", **context(merchant_settings.form_values(merchant())))


@bp.post("/settings")
def settings_save() -> Response:
    """Validate every field; keep all of them or none."""
    form = {key: request.form.get(key, "") for key in request.form}
    values, errors = merchant_settings.validate(form)
    if errors:
        return page(TEMPLATE, "settings_form", errors=errors, **context(form))
    current = merchant()
    merchant_settings.apply(current, values)
    db.session.commit()
    message = "Settings saved."
    problem = portal.follow_settings(current)
    db.session.commit()
    if problem:
        message += f" Stripe's portal configuration was not updated ({problem}): apply it again"
        message += " on the Stripe page."
    return saved(
        "admin.settings",
        message,
        TEMPLATE,
        "settings_form",
        anchor="saved",
        brand_oob=True,
        **context(merchant_settings.form_values(current)),
    )


@bp.get("/settings/copy-preview")
def copy_preview() -> Response:
    """How one piece of copy will look to customers (htmx, as the merchant types)."""
    if not wants_fragment():
        return see_other(url_for("admin.settings"))
    # The one query parameter is the copy field itself (htmx sends it under its own name).
    name, text = next(iter(request.args.items()), ("", ""))
    field = merchant_settings.copy_field(name)
    return page(TEMPLATE, "copy_preview", text=text[:500], field=field)
