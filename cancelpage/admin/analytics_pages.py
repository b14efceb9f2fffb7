"""Merchant analytics pages under /admin/analytics: dashboard, comments, CSV exports, experiments.

Who is signed in is decided by the dashboard's own gate (admin.common.sign_in_gate), which puts
the signed-in user's merchant in `g.merchant` and the user in `g.actor`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, g, request, stream_with_context, url_for

from cancelpage import analytics
from cancelpage.admin.common import page, same_origin_referrer, sign_in_gate
from cancelpage.analytics import charts, decisions, stats
from cancelpage.merchants.store import (
    load_flow,
)
from cancelpage.models import Merchant
from cancelpage.web.rendering import see_other, wants_fragment

bp = Blueprint("analytics", __name__, url_prefix="/admin/analytics")
TEMPLATE = "analytics/dashboard.html"


# The dashboard's sign-in gate and referrer policy apply here too.
bp.before_request(sign_in_gate)
bp.after_request(same_origin_referrer)


METRIC_LABELS = {
    "retained_30": "still subscribed 30 days after the session",
    "retained_60": "still subscribed 60 days after the session",
    "retained_90": "still subscribed 90 days after the session",
    "saved": "the immediate save",
}


def current_merchant() -> Merchant:
    merchant: Merchant = g.merchant
    return merchant


def clock() -> datetime:
    """Now, in UTC (tests pin it to the end of their simulated quarter)."""
    return datetime.now(UTC)


def current_actor() -> str:
    """Who takes a decision, for the record: the signed-in user when known, else the merchant."""
    return str(g.get("actor") or current_merchant().slug)


@bp.get("/")
def dashboard() -> Response:
    """The whole dashboard for a date range and segment."""
    return page(TEMPLATE, "dashboard", **dashboard_context(current_merchant()))


@bp.get("/comments")
def comments() -> Response:
    """Search and page through survey comments (htmx swaps only that block)."""
    return page(TEMPLATE, "comments", **dashboard_context(current_merchant(), only_comments=True))


@bp.get("/sessions.csv")
def export_sessions() -> Response:
    """Every session of the segment as CSV, streamed in batches."""
    now = clock()
    f = analytics.Filters.from_args(request.args, now.date())
    return csv_download("sessions", f, analytics.export_sessions(current_merchant().id, f, now))


@bp.get("/dunning.csv")
def export_dunning() -> Response:
    """The failed-payment cases opened in the date range as CSV, streamed in batches."""
    now = clock()
    f = analytics.Filters.from_args(request.args, now.date())
    return csv_download("dunning", f, analytics.export_dunning(current_merchant().id, f, now))


def csv_download(name: str, f: analytics.Filters, chunks: Iterator[str]) -> Response:
    """A streamed CSV attachment named after the merchant and the date range."""
    filename = f"cancelpage-{name}-{current_merchant().slug}-{f.start}-{f.end}.csv"
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.post("/experiments/<experiment_id>")
def decide(experiment_id: str) -> Response:
    """Stop an experiment or promote an arm: one recorded action, a new flow version."""
    merchant = current_merchant()
    action, arm = request.form.get("action", ""), request.form.get("arm")
    try:
        decisions.decide(merchant, experiment_id, action, arm, current_actor())
    except decisions.DecisionError as error:
        context = dashboard_context(merchant)
        context["decision_error"] = str(error)
        return page(TEMPLATE, "dashboard", **context)
    return see_other(url_for(".dashboard", **request.args) + f"#experiment-{experiment_id}")


def dashboard_context(merchant: Merchant, only_comments: bool = False) -> dict[str, Any]:
    """Everything the dashboard template reads."""
    now = clock()
    f = analytics.Filters.from_args(request.args, now.date())
    search = request.args.get("q", "")[: analytics.MAX_SEARCH]
    before = request.args.get("before", type=int)
    context: dict[str, Any] = {
        "merchant": merchant,
        "filters": f,
        "search": search,
        "comment_page": analytics.comments(merchant.id, f, search, before),
        "decision_error": None,
    }
    if only_comments and wants_fragment():
        return context
    flow = load_flow(merchant, merchant.flow_version_id)
    groups = analytics.outcome_groups(merchant, f)  # read once for the summary and the offers
    offers = analytics.offers(merchant, f, now, groups)
    overview = analytics.overview(merchant, f, groups)
    reasons = analytics.reasons(merchant, f)
    weeks = analytics.weekly(merchant.id, f)
    main_currency = analytics.main_currency(groups)
    context.update(
        flow=flow,
        overview=overview,
        previews=analytics.previews_in(merchant.id, f),
        retention=analytics.retention(merchant.id, f, now),
        reasons=reasons,
        reasons_chart=charts.reasons_chart(reasons),
        weeks=weeks,
        trend_chart=charts.trend_chart(weeks),
        offers=offers,
        main_currency=main_currency,
        best_offer=analytics.keeps_most_at_30(offers, main_currency),
        experiments=analytics.experiments(merchant, f, now),
        dunning=analytics.dunning_summary(merchant, f, now),
        plans=sorted({g.plan for g in groups if g.plan} | ({f.plan} if f.plan else set())),
        metric_labels=METRIC_LABELS,
        alpha=stats.ALPHA,
        power=stats.POWER,
        confidence=stats.CONFIDENCE,
    )
    return context
