"""Preview as a customer: pick a snapshot, then walk the real customer page in preview mode."""

from __future__ import annotations

from flask import Response, request

from cancelpage.admin.common import bp, merchant, page
from cancelpage.admin.compliance import COUNTRIES
from cancelpage.merchants import previews, settings
from cancelpage.web.rendering import see_other

TEMPLATE = "admin/preview.html"


@bp.get("/preview")
def preview() -> Response:
    """The snapshot form (plan, price, MRR, tenure, custom attributes)."""
    form = {**previews.DEFAULTS, **{k: v for k, v in request.args.items() if k == "country"}}
    return page(TEMPLATE, "content", form=form, locales=settings.LOCALE_LABELS, **_profiles(form))


def _profiles(form: dict[str, str]) -> dict[str, object]:
    """The compliance profile the chosen customer runs under, shown beside the form."""
    current = merchant()
    countries = [
        (code, f"{name}: {previews.profile_in_force(current, code).label}")
        for code, name in COUNTRIES
    ]
    return {
        "countries": countries,
        "profile": previews.profile_in_force(current, form.get("country", "")),
    }


@bp.post("/preview")
def preview_start() -> Response:
    """Open the customer page for this snapshot; nothing will be sent to Stripe."""
    form = {key: request.form.get(key, "") for key in request.form}
    attributes, locale, errors = previews.validate(form)
    if errors:
        return page(
            TEMPLATE,
            "preview_form",
            form=form,
            errors=errors,
            locales=settings.LOCALE_LABELS,
            **_profiles(form),
        )
    return see_other(previews.preview_path(merchant(), attributes, locale))
