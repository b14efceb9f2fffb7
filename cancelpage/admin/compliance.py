"""Compliance and the trail: the default profile, the receipts switch, which profile each
customer gets, and the tamper-evident trail's export (CSV, JSON) and check."""

from __future__ import annotations

from datetime import datetime

from flask import Response, current_app, request

from cancelpage import flows, trail
from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db

TEMPLATE = "admin/compliance.html"
# Countries the dashboard names (any other country gets the standard profile).
COUNTRIES = (
    ("DE", "Germany"),
    ("US-CA", "United States: California"),
    ("US-NY", "United States: another state"),
    ("FR", "France"),
    ("GB", "United Kingdom"),
)


def by_country(default: str) -> list[tuple[str, flows.Profile]]:
    """Which profile each kind of customer gets (the unknown country: the default)."""
    rows = [("Country unknown", flows.profile(default))]
    for code, name in COUNTRIES:
        country, _, region = code.partition("-")
        rows.append((name, flows.profile_for(country, region or None, default)))
    return rows


def context(**extra: object) -> dict[str, object]:
    current = merchant()
    return {
        "profiles": flows.PROFILES.values(),
        "default": current.compliance_default,
        "receipts_enabled": current.receipts_enabled,
        "by_country": by_country(current.compliance_default),
        **extra,
    }


@bp.get("/compliance")
def compliance() -> Response:
    return page(TEMPLATE, "content", **context(verdict=None))


@bp.post("/compliance")
def compliance_save() -> Response:
    code = request.form.get("compliance_default", "")
    if code not in flows.PROFILES:
        errors = {"compliance_default": "Choose one of the listed profiles."}
        return page(TEMPLATE, "content", status=422, errors=errors, **context(verdict=None))
    current = merchant()
    current.compliance_default = code
    current.receipts_enabled = request.form.get("receipts_enabled") == "on"
    db.session.commit()
    return saved(
        "admin.compliance",
        "Compliance settings saved.",
        TEMPLATE,
        "content",
        **context(verdict=None),
    )


@bp.post("/compliance/verify")
def compliance_verify() -> Response:
    """Check this merchant's chains now (every session; the page names each first break)."""
    return page(TEMPLATE, "content", **context(verdict=trail.verify_stored(merchant())))


def _day(name: str) -> datetime | None:
    value = request.args.get(name, "").strip()
    try:
        return datetime.strptime(value, "%Y-%m-%d") if value else None
    except ValueError:
        return None


@bp.get("/compliance/trail.csv")
def trail_csv() -> Response:
    """The trail of one customer or a date range, as CSV (this merchant's only)."""
    return _export("csv")


@bp.get("/compliance/trail.json")
def trail_json() -> Response:
    """The same as JSON, with the chain's algorithm and each session's head."""
    return _export("json")


def _export(fmt: str) -> Response:
    chosen = trail.filters(request.args.get("customer"), _day("since"), _day("until"))
    current = merchant()
    text = (trail.export_csv if fmt == "csv" else trail.export_json)(current, **chosen)
    response = current_app.response_class(
        text, mimetype="text/csv" if fmt == "csv" else "application/json"
    )
    stamp = datetime.now().strftime("%Y%m%d")
    response.headers["Content-Disposition"] = (
        f'attachment; filename="trail-{current.slug}-{stamp}.{fmt}"'
    )
    response.headers["Cache-Control"] = "no-store"
    return response
