"""Emails: each recovery email's subject and text per language (with a preview and a test
send), the days the dunning emails go out, the outbox, what the recovery emails brought back,
and the Stripe events the worker applied (or gave up on, to run again).

The HTML preview is served on its own, with a CSP `sandbox` policy, into an `<iframe sandbox>`:
the dashboard page itself never contains an email's HTML.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from babel import Locale
from flask import Response, abort, current_app, flash, make_response, request, url_for
from flask_babel import force_locale
from flask_login import current_user

from cancelpage import i18n
from cancelpage.admin.common import bp, merchant, page, saved
from cancelpage.extensions import db, limiter
from cancelpage.i18n import formats
from cancelpage.models import Merchant
from cancelpage.recovery import cases, emails, inbox, outbox
from cancelpage.web.rendering import see_other, wants_fragment

TEMPLATE = "admin/emails.html"
EDIT_TEMPLATE = "admin/email_edit.html"
OUTBOX_TEMPLATE = "admin/outbox.html"
EVENTS_TEMPLATE = "admin/stripe_events.html"
# The preview is an email, not a page: no script, no form, no plugin, an origin of its own, and
# only its inline styles and https images (the merchant's logo).
PREVIEW_CSP = (
    "sandbox; default-src 'none'; style-src 'unsafe-inline'; img-src https: data:; "
    "form-action 'none'; base-uri 'none'; frame-ancestors 'self'"
)
OUTBOX_STATUSES = ("pending", "sending", "sent", "dead", "canceled", "suppressed", "skipped")
CASE_KINDS = {
    "payment_failed": "Failed payments",
    "card_expiring": "Expiring cards",
    "cancel_intent": "Cancels scheduled outside the cancel page",
    "winback": "Win-back after a customer-chosen end",
}
CASE_STATUSES = ("open", "recovered", "kept", "lost")
KIND_LABELS = {
    "card_expiring": "Card about to expire",
    "save": "Cancel scheduled outside the cancel page",
    emails.PASSWORD_RESET: "Dashboard password reset",
    emails.WINBACK: "Win-back after the subscription ended",
}


# ---- what the pages show ---------------------------------------------------------------------


def chosen_locale(values: Mapping[str, str]) -> str:
    """The language being edited (`locale` in the query or form), else the default language."""
    current = merchant()
    return (
        i18n.supported(values.get("locale"))
        or i18n.supported(current.default_locale)
        or i18n.SOURCE_LOCALE
    )


def known_kind(kind: str) -> str:
    if kind not in emails.email_kinds(merchant()):
        abort(404)
    return kind


def kind_label(current: Merchant, kind: str) -> str:
    if not kind.startswith("dunning_"):
        return KIND_LABELS.get(kind, kind)
    days = emails.dunning_days(current)
    step = int(kind.removeprefix("dunning_"))
    if step > len(days):  # queued before the merchant shortened the sequence
        return f"Failed payment: email {step}"
    if step == 1:
        which = "first email"
    elif step == len(days):
        which = "last reminder"
    else:
        which = f"reminder {step - 1}"
    return f"Failed payment: {which} (day {days[step - 1]})"


def english_name(code: str) -> str:
    """The dashboard is in English: "German", not "Deutsch"."""
    return str(Locale.parse(code).get_language_name(i18n.SOURCE_LOCALE))


def languages(current: Merchant) -> list[dict[str, Any]]:
    default = i18n.supported(current.default_locale) or i18n.SOURCE_LOCALE
    return [
        {"code": code, "name": english_name(code), "default": code == default}
        for code in i18n.SUPPORTED_LOCALES
    ]


def sentence(message: str) -> str:
    return message[:1].upper() + message[1:] + ("" if message.endswith(".") else ".")


def overview_context(locale: str, **extra: Any) -> dict[str, Any]:
    current = merchant()
    kinds = [
        {
            "kind": kind,
            "label": kind_label(current, kind),
            "subject": emails.preview(current, kind, locale).subject,
            "own": emails.get_copy(current, kind, locale) is not None,
        }
        for kind in emails.email_kinds(current)
    ]
    return {
        "kinds": kinds,
        "locale": locale,
        "languages": languages(current),
        "days_value": ", ".join(map(str, emails.dunning_days(current))),
        "days_error": None,
        **extra,
    }


def editor_context(kind: str, locale: str, **extra: Any) -> dict[str, Any]:
    current = merchant()
    own = emails.get_copy(current, kind, locale)
    default = i18n.supported(current.default_locale) or i18n.SOURCE_LOCALE
    return {
        "kind": kind,
        "label": kind_label(current, kind),
        "locale": locale,
        "languages": languages(current),
        "language_name": english_name(locale),
        "default_name": english_name(default),
        "is_default": locale == default,
        "own": own,
        "form": {"subject": own.subject or "", "body": own.body or ""} if own else {},
        "builtin": emails.builtin_copy(current, kind, locale),
        "placeholders": emails.PLACEHOLDERS[emails.family(kind)],
        "rendered": emails.preview(current, kind, locale),
        "test_to": current_user.user.email,
        "test_error": None,
        "test_notice": None,
        **extra,
    }


# ---- copy and days ---------------------------------------------------------------------------


@bp.get("/emails", endpoint="emails")
def emails_page() -> Response:
    """Every email the merchant sends, its subject in one language, and the dunning days."""
    return page(TEMPLATE, "content", **overview_context(chosen_locale(request.args)))


@bp.post("/emails/days")
def emails_days() -> Response:
    """Change the days after a failed payment on which the dunning emails go out."""
    raw = request.form.get("days", "")
    locale = chosen_locale(request.form)
    try:
        if not re.fullmatch(r"[\d\s,]*", raw):
            raise emails.CopyError("use whole numbers separated by commas, e.g. 0, 3, 7, 14")
        emails.set_dunning_days(merchant(), [int(day) for day in re.findall(r"\d+", raw)])
    except emails.CopyError as exc:
        context = overview_context(locale, days_value=raw, days_error=sentence(str(exc)))
        return page(TEMPLATE, "settings", **context)
    db.session.commit()
    days = ", ".join(map(str, emails.dunning_days(merchant())))
    message = f"Dunning emails go out on days {days}."
    return saved("admin.emails", message, TEMPLATE, "settings", **overview_context(locale))


@bp.get("/emails/copy/<kind>")
def emails_edit(kind: str) -> Response:
    """One email in one language: its subject and text, a preview, a test send."""
    return page(
        EDIT_TEMPLATE, "content", **editor_context(known_kind(kind), chosen_locale(request.args))
    )


@bp.post("/emails/copy/<kind>")
def emails_save(kind: str) -> Response:
    """Save the subject and text of one email in one language (empty: the fallback)."""
    locale = chosen_locale(request.form)
    form = {"subject": request.form.get("subject", ""), "body": request.form.get("body", "")}
    try:
        emails.set_copy(merchant(), known_kind(kind), form["subject"], form["body"], locale)
    except emails.CopyError as exc:
        errors = {exc.field or "subject": sentence(str(exc))}
        return page(
            EDIT_TEMPLATE, "editor", errors=errors, **editor_context(kind, locale, form=form)
        )
    db.session.commit()
    return saved_editor(kind, locale, "Saved. New emails use this text.")


@bp.post("/emails/copy/<kind>/reset")
def emails_reset(kind: str) -> Response:
    """Forget the merchant's own text of one email in one language."""
    locale = chosen_locale(request.form)
    emails.reset_copy(merchant(), known_kind(kind), locale)
    db.session.commit()
    return saved_editor(kind, locale, "Back to the default text.")


def saved_editor(kind: str, locale: str, message: str) -> Response:
    """htmx gets the editor with the new preview; a plain form a 303 back to the language."""
    if wants_fragment():
        return page(EDIT_TEMPLATE, "editor", notice=message, **editor_context(kind, locale))
    flash(message)
    return see_other(url_for("admin.emails_edit", kind=kind, locale=locale))


@bp.get("/emails/copy/<kind>/preview")
def emails_preview(kind: str) -> Response:
    """The HTML version with sample values, for the editor's sandboxed frame only."""
    rendered = emails.preview(merchant(), known_kind(kind), chosen_locale(request.args))
    response = make_response(rendered.html)
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    response.headers["X-Frame-Options"] = "SAMEORIGIN"
    return response


def test_limit() -> str:
    return str(current_app.config["TEST_EMAIL_RATE_LIMIT"])


def test_limit_key() -> str:
    return f"test-email:{current_user.merchant_id}"


@bp.post("/emails/copy/<kind>/test")
@limiter.limit(test_limit, key_func=test_limit_key)
def emails_test(kind: str) -> Response:
    """Send this email, with sample values, to the signed-in user (or another address) now."""
    current, locale = merchant(), chosen_locale(request.form)
    to = request.form.get("to", "").strip() or current_user.user.email
    try:
        row = outbox.send_test(current, to, known_kind(kind), locale)
    except emails.CopyError as exc:
        return test_result(kind, locale, to, error=sentence(str(exc)))
    # Sending drained the outbox, which detached all the session held: take ours back.
    db.session.add_all([current, current_user.user])
    if row.status == "sent":
        return saved_test(kind, locale, to)
    if row.status == "pending":
        error = f"Not sent yet: {row.last_error}. It stays in the outbox and is retried."
    else:
        error = f"Not sent ({row.status}): {row.last_error}."
    return test_result(kind, locale, to, error=error)


def test_result(kind: str, locale: str, to: str, error: str) -> Response:
    return page(EDIT_TEMPLATE, "test", **editor_context(kind, locale, test_to=to, test_error=error))


def saved_test(kind: str, locale: str, to: str) -> Response:
    message = f"Test sent to {to}."
    if wants_fragment():
        context = editor_context(kind, locale, test_to=to, test_notice=message)
        return page(EDIT_TEMPLATE, "test", **context)
    flash(message)
    return see_other(url_for("admin.emails_edit", kind=kind, locale=locale))


# ---- outbox and recovery ---------------------------------------------------------------------


def outbox_context(status: str | None, **extra: Any) -> dict[str, Any]:
    current = merchant()
    summary = cases.summary(current)
    with force_locale(i18n.SOURCE_LOCALE):  # the dashboard is in English
        recovered = [
            formats.money(amount or 0, currency or "")
            for currency, amount in sorted(summary["recovered"].items(), key=str)
        ]
    return {
        "rows": outbox.rows_for(current, status=status, limit=100),
        "shown_status": status,
        "statuses": OUTBOX_STATUSES,
        "cases": summary["cases"],
        "case_kinds": CASE_KINDS,
        "case_statuses": CASE_STATUSES,
        "recovered": recovered,
        "error": None,
        "kind_label": functools.partial(kind_label, current),
        **extra,
    }


@bp.get("/emails/outbox")
def emails_outbox() -> Response:
    """The most recent emails and what happened to each, and the recovery cases."""
    status = request.args.get("status") or None
    if status not in (None, *OUTBOX_STATUSES):
        status = None
    return page(OUTBOX_TEMPLATE, "content", **outbox_context(status))


@bp.post("/emails/outbox/<int:row_id>/requeue")
def emails_requeue(row_id: int) -> Response:
    """Give a dead email a fresh set of attempts (e.g. after fixing the SMTP settings)."""
    if not outbox.requeue(merchant(), row_id):
        error = f"There is no dead email {row_id} to send again."
        return page(OUTBOX_TEMPLATE, "outbox", **outbox_context(None, error=error))
    message = f"Email {row_id} queued again: the worker sends it on its next pass."
    return saved("admin.emails_outbox", message, OUTBOX_TEMPLATE, "outbox", **outbox_context(None))


# ---- Stripe events -----------------------------------------------------------------------------


def events_context(status: str | None, **extra: Any) -> dict[str, Any]:
    current = merchant()
    return {
        "events": inbox.events_for(current, status=status, limit=100),
        "event_counts": inbox.counts(current),
        "shown_status": status,
        "statuses": inbox.STATUSES,
        "error": None,
        **extra,
    }


@bp.get("/emails/events")
def emails_events() -> Response:
    """The Stripe events received, what the worker did with each, and those it gave up on."""
    status = request.args.get("status") or None
    if status not in (None, *inbox.STATUSES):
        status = None
    return page(EVENTS_TEMPLATE, "content", **events_context(status))


@bp.post("/emails/events/<int:row_id>/rerun")
def emails_event_rerun(row_id: int) -> Response:
    """Run a dead or failed event again, now (e.g. after fixing the Stripe key)."""
    if not inbox.rerun(merchant(), row_id):
        error = f"There is no failed or dead event {row_id} to run again."
        return page(EVENTS_TEMPLATE, "events", **events_context(None, error=error))
    message = f"Event {row_id} queued again: the worker runs it on its next pass."
    return saved("admin.emails_events", message, EVENTS_TEMPLATE, "events", **events_context(None))
