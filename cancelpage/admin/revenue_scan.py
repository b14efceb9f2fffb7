"""The Revenue Scan page: run a scan, watch its progress (htmx polling, or a plain refresh
without JavaScript), and read the monthly figures, charts, projections and CSV."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Response, abort, request, url_for

from cancelpage.admin.common import bp, merchant, page
from cancelpage.i18n.formats import money
from cancelpage.models import RevenueScan
from cancelpage.scan import charts, exports, figures, jobs
from cancelpage.scan.service import PHASES
from cancelpage.web.rendering import see_other

TEMPLATE = "admin/scan.html"
POLL_SECONDS = 2  # htmx
REFRESH_SECONDS = 5  # without JavaScript: <noscript> meta refresh


def clock() -> datetime:
    """Now, in UTC (tests pin it to their emulated account's date)."""
    return datetime.now(UTC)


def scan_context(scan: RevenueScan | None, **extra: Any) -> dict[str, Any]:
    """Everything the page reads about one scan (or none yet)."""
    current = merchant()
    rates, rate_errors = figures.Rates.from_percents(dict(request.args))
    context: dict[str, Any] = {
        "scan": scan,
        "history": jobs.history(current),
        "phases": len(PHASES),
        "rates": rates.percents(),
        "rate_errors": rate_errors,
        "scan_missing": (current.stripe_key_check or {}).get("scan_missing", []),
        "poll_seconds": POLL_SECONDS,
        "refresh_seconds": None,
        "error": None,
        "money": money,
        **extra,
    }
    if scan is None:
        return context
    context["phase_label"] = jobs.phase_label(scan)
    if scan.status in jobs.ACTIVE:
        context["refresh_seconds"] = REFRESH_SECONDS
        return context
    window = jobs.window_of(scan)
    currencies = figures.currencies(scan.figures)
    chosen = request.args.get("currency", "")
    currency = chosen if chosen in currencies else (currencies[0] if currencies else "usd")
    rows = figures.month_rows(scan.figures, window, currency)
    context.update(
        currencies=currencies,
        currency=currency,
        rows=rows,
        totals=figures.totals(scan.figures, currency),
        projections=list(figures.projections(scan.figures, currency, rates)),
        lost_chart=charts.lost_mrr_chart(rows),
        recovery_chart=charts.recovery_chart(rows),
        legend=charts.LABELS,
    )
    return context


def own_scan(scan_id: int) -> RevenueScan:
    scan = jobs.find(merchant(), scan_id)
    if scan is None:
        abort(404)
    return scan


@bp.get("/scan")
def scan() -> Response:
    """The latest scan (its progress or its figures) and the form to run one."""
    return page(TEMPLATE, "content", **scan_context(jobs.latest(merchant())))


@bp.get("/scan/<int:scan_id>")
def scan_result(scan_id: int) -> Response:
    """One scan, as it was taken (earlier scans are kept with their date)."""
    return page(TEMPLATE, "content", **scan_context(own_scan(scan_id)))


@bp.get("/scan/<int:scan_id>/progress")
def scan_progress(scan_id: int) -> Response:
    """What htmx polls: the scan block, which stops polling once the scan has finished."""
    return page(TEMPLATE, "scan", **scan_context(own_scan(scan_id)))


@bp.post("/scan")
def scan_start() -> Response:
    """Queue a scan for the worker (one at a time per merchant)."""
    months = request.form.get("months", type=int) or 12
    try:
        started = jobs.start(merchant(), max(1, min(months, 36)), now=clock())
    except jobs.ScanAlreadyRunning as exc:
        message = "A scan is already running; it shows here until it has finished."
        return page(TEMPLATE, "content", **scan_context(exc.scan, error=message))
    return see_other(url_for("admin.scan_result", scan_id=started.id))


@bp.get("/scan/<int:scan_id>.csv")
def scan_csv(scan_id: int) -> Response:
    """The monthly figures of a finished scan as CSV."""
    found = own_scan(scan_id)
    if found.status != "done":
        abort(404)
    name = exports.filename(found, merchant().slug)
    return Response(
        exports.monthly_csv(found),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
