"""The hosted cancel page: link -> survey -> offer(s) -> confirm -> done."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, Response, current_app, g, request, url_for
from flask_babel import lazy_gettext as _l

from cancelpage import cancel_sessions, flows, i18n, links
from cancelpage.billing import BillingError, StripeRejected, StripeUnavailable
from cancelpage.cancel_sessions import LinkRefused
from cancelpage.customer.embed import outcome_message
from cancelpage.extensions import db, limiter
from cancelpage.i18n import formats
from cancelpage.merchants.settings import time_zones
from cancelpage.merchants.store import by_slug
from cancelpage.models import CancelSession, Merchant
from cancelpage.vocabulary import DEFAULT_BRAND_COLOR
from cancelpage.web import dbretry, ratelimit
from cancelpage.web.rendering import render, see_other, wants_fragment

bp = Blueprint("cancel", __name__)
limiter.exempt(bp)  # limited by customer_limit instead (web.ratelimit)

ERROR_MESSAGES = {
    ("reason", "required"): _l("Please choose a reason."),
    ("reason", "unknown"): _l("Please choose one of the reasons listed."),
    ("comment", "too_long"): _l("Please keep your comment under 2,000 characters."),
    ("action", "invalid"): _l("Please use one of the buttons below."),
    ("offer", "invalid"): _l("This offer is no longer available. Please choose another option."),
}
STEP_TEMPLATES = {
    "survey": "cancel/survey.html",
    "offer": "cancel/offer.html",
    "confirm": "cancel/confirm.html",
    "done": "cancel/done.html",
}


def link_key() -> str:
    """Rate-limit key for one link and its session: a digest, never the token itself."""
    args = request.view_args or {}
    cap = cancel_sessions.capability(args["token"]) if "token" in args else args.get("cap", "")
    return "link:" + links.digest(str(cap))


# Every customer request counts against its address and against its link (docs/RELIABILITY.md
# 26), both in one round trip to the limits' storage.
customer_limit = ratelimit.limited(
    ("customer-ip", ratelimit.remote_address, "RATE_LIMIT_PER_IP"),
    ("customer-link", link_key, "RATE_LIMIT_PER_LINK"),
)


@bp.before_request
def keep_loaded_objects() -> None:
    """A step's objects stay as this request left them after a commit (no reload of what it
    just wrote): the write protocol refreshes the session itself wherever another request may
    have changed it (the claim, its release, a link opened twice at once). Opening a link is
    left as it was: it polls for another request's claim, which must be read afresh."""
    if request.endpoint != "cancel.open_link":
        db.session().expire_on_commit = False


def invalid_link() -> Response:
    """One page and status for every unusable token or capability: it reveals nothing."""
    return render("cancel/invalid.html", "step", status=404, merchant=None)


@bp.get("/c/<token>")
@customer_limit
def open_link(token: str) -> Response:
    """Follow a signed link: find or open its session (GET never writes to Stripe)."""
    try:
        cancel_sessions.open_link(token)
    except (links.BadLink, LinkRefused, StripeRejected):
        i18n.prefer(link=links.peek_locale(token))
        return invalid_link()
    except StripeUnavailable:
        i18n.prefer(link=links.peek_locale(token))
        return render("cancel/unavailable.html", "step", status=503, merchant=None)
    return see_other(url_for(".show", cap=cancel_sessions.capability(token)))


def by_keep_link(session: CancelSession, cap: str) -> bool:
    """Opened by a receipt's keep link (customer.keep_links), which outlives the cancel link."""
    return session.keep_capability_digest == links.digest(cap)


def load(cap: str) -> CancelSession | None:
    session = cancel_sessions.by_capability(cap)
    if session is not None:
        g.cancel_session = session
        i18n.prefer(
            link=session.locale,
            customer=session.snapshot.get("preferred_locales") or (),
            merchant=session.merchant.default_locale,
        )
        remember_time_zone(session)
        g.time_zone = session.time_zone or session.merchant.time_zone
    return session


def remember_time_zone(session: CancelSession) -> None:
    """The browser's time zone, as the page's script tells it (a form field, or a header on
    htmx requests); without JavaScript the merchant's setting stands."""
    told = request.form.get("tz") or request.headers.get("X-Time-Zone")
    if told and told != session.time_zone and told in time_zones():
        session.time_zone = told
        db.session.commit()


@bp.get("/s/<cap>")
@customer_limit
def show(cap: str) -> Response:
    """The session's current step as a full page (or fragment for htmx)."""
    dbretry.reads_without_transaction()
    session = load(cap)
    if session is None:
        return invalid_link()
    if session.outcome is None and cancel_sessions.open_intent(session) is not None:
        db.session.commit()  # settling writes: in a transaction of its own
        cancel_sessions.settle(session)
    return render_current(session, cap, stale=request.args.get("updated") == "1")


@bp.post("/s/<cap>/<step>")
@customer_limit
def submit(cap: str, step: str) -> Response:
    """One step's form: validate, advance, and at the end carry out the choice once."""
    session = load(cap)
    if session is None:
        return invalid_link()
    if session.outcome is not None or cancel_sessions.ended(session) or step not in flows.STEPS:
        return after_post(session, cap, stale=True)
    cancel_sessions.settle(session)
    if session.outcome is not None:
        return after_post(session, cap, stale=True)
    if cancel_sessions.open_intent(session) is not None:
        return render_current(session, cap)  # the one choice still open
    form = {key: request.form.get(key, "") for key in request.form}
    transition = cancel_sessions.advance(session, step, form)
    if transition.stale:  # another tab moved the session on
        return after_post(session, cap, stale=True)
    if transition.errors:
        return render_current(session, cap, errors=transition.errors)
    if transition.effect is not None:
        return answer(session, cap, cancel_sessions.carry_out(session, transition.effect))
    return after_post(session, cap)


@bp.post("/s/<cap>/keep")
@customer_limit
def keep(cap: str) -> Response:
    """Keep a subscription that is scheduled to end: already when the link was opened, or by
    this session's cancel at period end (the done page's "Changed your mind?")."""
    session = load(cap)
    if session is None:
        return invalid_link()
    keep_link = by_keep_link(session, cap)
    if cancel_sessions.undoable(session, by_keep_link=keep_link):
        return answer(session, cap, cancel_sessions.undo_cancel(session, by_keep_link=keep_link))
    if session.outcome is not None or not cancel_sessions.snapshot_of(session).cancel_at_period_end:
        return after_post(session, cap, stale=session.outcome != "kept")
    return answer(session, cap, cancel_sessions.carry_out(session, flows.KeepSubscription()))


@bp.post("/s/<cap>/again")
@customer_limit
def try_again(cap: str) -> Response:
    """Send the choice whose answer never came, exactly as before and under its own key."""
    session = load(cap)
    if session is None:
        return invalid_link()
    return answer(session, cap, cancel_sessions.try_again(session))


@bp.post("/s/<cap>/portal")
@customer_limit
def portal(cap: str) -> Response:
    """After the hand-off to Stripe's portal: a fresh portal session (the last may have expired)."""
    session = load(cap)
    if session is None:
        return invalid_link()
    if session.outcome != "portal":
        return after_post(session, cap)
    try:
        return see_other(cancel_sessions.portal_again(session))
    except BillingError as error:
        return render_current(session, cap, failure=error)


@bp.post("/s/<cap>/locale")
@customer_limit
def set_locale(cap: str) -> Response:
    """The language switcher: the choice sticks to the session; the step stays where it was."""
    session = load(cap)
    if session is None:
        return invalid_link()
    cancel_sessions.choose_locale(session, request.form.get("locale"))
    return see_other(url_for(".show", cap=cap))


def answer(session: CancelSession, cap: str, result: cancel_sessions.WriteResult) -> Response:
    """What a final action led to: the outcome, the step with what failed, or the open choice."""
    if result.error is not None or result.unsettled:
        return render_current(session, cap, failure=result.error)
    if result.busy:
        return render("cancel/busy.html", "step", **context(session, cap))
    if result.redirect_url:
        return see_other(result.redirect_url)
    return after_post(session, cap)


def after_post(session: CancelSession, cap: str, stale: bool = False) -> Response:
    """Plain form: 303 to the step page. htmx: the next step's fragment, 200. A post for a step
    the session has left (``stale``) shows the current step saying so."""
    if wants_fragment():
        return render_current(session, cap, stale=stale)
    return see_other(url_for(".show", cap=cap, updated="1" if stale else None))


def render_current(
    session: CancelSession,
    cap: str,
    errors: dict[str, str] | None = None,
    failure: Exception | None = None,
    stale: bool = False,
) -> Response:
    ctx = context(session, cap)
    ctx["stale"] = stale
    ctx["errors"] = {
        field: ERROR_MESSAGES.get((field, code), _l("Please check this field."))
        for field, code in (errors or {}).items()
    }
    ctx["failure"] = failure
    # No answer (its outcome open) asks to try again; an answer that failed changed nothing.
    ctx["retryable"] = isinstance(failure, BillingError) and not failure.final_answer
    pending = cancel_sessions.open_intent(session) if session.outcome is None else None
    if pending is not None:
        if cancel_sessions.in_flight(session):  # another tab's request is sending it now
            return render("cancel/busy.html", "step", **ctx)
        intent = cancel_sessions.Intent.of(pending)
        ctx["pending"] = intent
        ctx["pending_offer"] = ctx["flow"].offers.get(intent.offer or "")
        return render("cancel/pending.html", "step", **ctx)
    if session.outcome is None and cancel_sessions.ended(session):
        return render("cancel/ended.html", "step", **ctx)
    step = ctx["state"].step if session.outcome is None else "done"
    return render(STEP_TEMPLATES[step], "step", **ctx)


def context(session: CancelSession, cap: str) -> dict[str, Any]:
    """Everything a step's block reads; templates set nothing of their own."""
    flow = cancel_sessions.flow_of(session)
    state = flows.State.from_dict(session.state)
    snapshot = cancel_sessions.snapshot_of(session)
    offer_id = state.current_offer_id()
    locale = i18n.current()
    profile = flows.profile(session.compliance_profile)
    side = state.offer_ids[0] if profile.confirm_first and state.offer_ids else None
    texts = i18n.MerchantTexts(session.merchant, locale)
    return {
        "locale": locale,
        "languages": i18n.language_choices(),
        "texts": texts,
        "merchant": session.merchant,
        "session": session,
        "cap": cap,
        "flow": flow,
        "state": state,
        "snapshot": snapshot,
        "summary": flows.standing(
            snapshot,
            session.outcome,
            session.outcome_detail or {},
            flow.offers.get(session.accepted_offer or ""),
            datetime.now(UTC),
        ),
        "offer": flow.offers.get(offer_id) if offer_id else None,
        # The compliance profile in force, and a confirm-first page's offer beside the cancel.
        "profile": profile,
        "side_offer": flow.offers.get(side) if side and state.step == "confirm" else None,
        "offer_number": state.offer_index + 1,
        "offer_count": len(state.offer_ids),
        "accepted": flow.offers.get(session.accepted_offer or ""),
        "period_end": _date(snapshot.period_end),
        "resumes_at": _date(session.outcome_detail.get("resumes_at")),
        "free_until": _date(session.outcome_detail.get("free_until")),
        "ends_now": session.merchant.cancel_mode == "immediately",
        "can_undo": cancel_sessions.undoable(session, by_keep_link=by_keep_link(session, cap)),
        "zone": formats.time_zone(),
        "stale": False,
        "return_url": cancel_sessions.safe_return_url(session),
        # Only the preview's last page lists them: no other step loads them.
        "writes": session.writes if not session.live and session.outcome is not None else [],
        "embed_outcome": outcome_message(session),
        "errors": {},
        "form": request.form,
        "failure": None,
        "retryable": False,
    }


def _date(ts: int | None) -> datetime | None:
    return datetime.fromtimestamp(ts, UTC) if ts else None


@bp.get("/brand/<slug>.css")
def brand_css(slug: str) -> Response:
    """The merchant's colour as a stylesheet, so pages need no inline style (strict CSP).

    Pages link it with the colour in the URL (brand_css_url), so a saved colour shows on the
    next load and a versioned URL can be cached for long.
    """
    # Per process: the colour last read for the slug answers a URL that names that colour (the
    # page linked it for the colour saved then); any other URL reads the colour saved now.
    known: dict[str, str] = current_app.extensions.setdefault("cancelpage.brand_colours", {})
    colour = known.get(slug)
    if colour is None or request.args.get("v") != colour.removeprefix("#"):
        merchant = by_slug(slug)
        colour = merchant.brand_color if merchant else DEFAULT_BRAND_COLOR
        if merchant is not None:
            known[slug] = colour
    response = current_app.response_class(f":root{{--brand:{colour}}}\n", mimetype="text/css")
    versioned = request.args.get("v") == colour.removeprefix("#")
    response.cache_control.max_age = 31_536_000 if versioned else 60
    return response


@bp.app_template_global()
def brand_css_url(merchant: Merchant) -> str:
    """The brand stylesheet's URL for the colour saved now (a new colour is a new URL)."""
    return url_for("cancel.brand_css", slug=merchant.slug, v=merchant.brand_color.removeprefix("#"))
