"""Recovery emails: copy (defaults and merchants' own), rendering in the customer's language,
and a plain SMTP transport with a timeout.

Every email is rendered when the worker sends it, not when it is queued, so links are freshly
signed and a merchant's edited copy applies to emails already waiting in the outbox.
"""

from __future__ import annotations

import hashlib
import re
import smtplib
import ssl
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr, parseaddr
from typing import Any

import sqlalchemy as sa
from babel.dates import format_skeleton
from flask import current_app, render_template
from flask_babel import force_locale, format_date, get_locale, gettext
from flask_babel import format_datetime as local_datetime
from flask_babel import lazy_gettext as _l

from cancelpage import addresses, i18n, links
from cancelpage.extensions import db
from cancelpage.i18n.formats import format_day, money
from cancelpage.merchants import accounts
from cancelpage.models import EmailCopy, Merchant, MerchantUser, OutboxEmail, RecoveryCase
from cancelpage.vocabulary import DEFAULT_BRAND_COLOR

DEFAULT_DUNNING_DAYS = (0, 3, 7, 14)
MAX_DUNNING_STEPS = 8
UNSUBSCRIBE_MAX_AGE = 400 * 24 * 3600  # unsubscribe links keep working for over a year
SUBJECT_MAX = 200
BODY_MAX = 5000
PLACEHOLDER = re.compile(r"\{(\w+)\}")
# A dashboard user's reset link: sent through the outbox, rendered apart from recovery emails.
PASSWORD_RESET = "password_reset"
WINBACK = "winback"
RECEIPT = "receipt"  # the family of every receipt_* kind (cancelpage.receipts)
SAFE_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")
# Long link headers must stay on one line: folding would encode List-Unsubscribe's URL into
# RFC 2047 words that mail clients cannot follow. RFC 5322 allows 998 characters a line.
MESSAGE_POLICY = policy.SMTP.clone(max_line_length=998)


@dataclass(frozen=True)
class Copy:
    subject: Any  # str, or a lazy string translated when rendered
    body: Any  # paragraphs separated by a blank line; {placeholders}
    button: Any


# The default copy per family; {placeholders} are filled in after translation.
DEFAULT_COPY = {
    "dunning_first": Copy(
        _l("Your payment to {merchant} didn't go through"),
        _l(
            "We tried to collect {amount} for your {merchant} subscription, but the payment "
            "didn't go through.\n\nPlease update your payment details so that your subscription "
            "keeps running. It takes a minute."
        ),
        _l("Update payment details"),
    ),
    "dunning_reminder": Copy(
        _l("Reminder: your {merchant} payment is still outstanding"),
        _l(
            "We still couldn't collect {amount} for your {merchant} subscription.\n\n"
            "Please update your payment details to avoid an interruption."
        ),
        _l("Update payment details"),
    ),
    "dunning_final": Copy(
        _l("Last reminder: your {merchant} subscription is about to end"),
        _l(
            "This is our last reminder: we couldn't collect {amount} for your {merchant} "
            "subscription, and it will end soon.\n\nUpdate your payment details now to keep it."
        ),
        _l("Keep my subscription"),
    ),
    "card_expiring": Copy(
        _l("Your card ending in {last4} expires soon"),
        _l(
            "The {card} that pays for your {merchant} subscription expires at the end of "
            "{month}.\n\nUpdate your payment details now so that your subscription continues "
            "without interruption."
        ),
        _l("Update payment details"),
    ),
    "save": Copy(
        _l("Your {merchant} subscription is set to end"),
        _l(
            "Your {merchant} subscription is set to end on {date}. We're sorry to see you go.\n\n"
            "Changed your mind? You can keep your subscription with one click, or see what we "
            "can offer you instead."
        ),
        _l("Keep my subscription or see offers"),
    ),
    # Receipts (cancelpage.receipts): the facts (dates, amounts, the declaration's time) are
    # always added below the text, so a merchant's own text cannot drop them.
    "receipt_canceled": Copy(
        _l("Your {merchant} subscription is canceled"),
        _l(
            "We have received your cancellation of your {merchant} subscription. It ends on "
            "{date}; you keep access until then and won't be charged again.\n\nChanged your "
            "mind? You can keep your subscription with one click until then."
        ),
        _l("Keep my subscription"),
    ),
    "receipt_canceled_now": Copy(
        _l("Your {merchant} subscription has ended"),
        _l(
            "We have received your cancellation of your {merchant} subscription. It ended at "
            "once, and you won't be charged again."
        ),
        _l("Keep my subscription"),
    ),
    "receipt_discount": Copy(
        _l("Your {merchant} discount is applied"),
        _l("Thank you for staying with {merchant}. Your discount applies from {date}."),
        _l("Keep my subscription"),
    ),
    "receipt_paused": Copy(
        _l("Your {merchant} subscription is paused"),
        _l("Your {merchant} subscription is paused from {date}. Here is what that means."),
        _l("Keep my subscription"),
    ),
    "receipt_switched": Copy(
        _l("Your {merchant} plan has changed"),
        _l("Thank you for staying with {merchant}. Your plan changed on {date}."),
        _l("Keep my subscription"),
    ),
    "receipt_free_period": Copy(
        _l("Your free period at {merchant} has started"),
        _l("Thank you for staying with {merchant}. Your free period starts on {date}."),
        _l("Keep my subscription"),
    ),
    "receipt_kept": Copy(
        _l("Your {merchant} subscription continues"),
        _l(
            "You chose to keep your {merchant} subscription: your cancellation is withdrawn "
            "and the subscription continues as before."
        ),
        _l("Keep my subscription"),
    ),
    "winback": Copy(
        _l("We'd love to have you back at {merchant}"),
        _l(
            "Your {merchant} subscription has ended. If you'd like to come back, your account "
            "is ready for you, and it only takes a minute to start again."
        ),
        _l("Come back"),
    ),
}
# The placeholders each family may use (a merchant's copy is checked against these).
PLACEHOLDERS = {
    "dunning": ("merchant", "amount"),
    "card_expiring": ("merchant", "card", "last4", "month"),
    "save": ("merchant", "date"),
    "winback": ("merchant", "code", "expires"),
    "receipt": ("merchant", "date", "declared", "plan"),
}
SAMPLE_DATA: dict[str, dict[str, Any]] = {
    "dunning": {"amount": 2900, "currency": "usd", "final": False, "due_since": 1_772_528_400},
    "card_expiring": {"brand": "visa", "last4": "4242", "exp_month": 12, "exp_year": 2030},
    "save": {"ends_at": 1_924_992_000},
    "receipt": {
        "declared_at": 1_924_992_000 - 18 * 86400,
        "ends_at": 1_924_992_000,
        "keep_until": 1_924_992_000,
    },
    "winback": {
        "url": "https://example.com/resubscribe",
        "promotion_code": "promo_sample",
        "code": "COMEBACK-7Q2X",
        "code_expires_at": 1_924_992_000,
    },
}


class CopyError(ValueError):
    """A merchant's subject or body cannot be used as it is; ``field`` names the culprit."""

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class SendFailed(Exception):
    """The SMTP server did not take the message."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


class TransportUnavailable(SendFailed):
    """No usable connection to the SMTP server; the rest of the batch should wait."""


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


@dataclass(frozen=True)
class MerchantCopy:
    """The merchant's own subject and body for one email in one language (None: built-in)."""

    subject: str | None = None
    body: str | None = None


# ---- kinds and copy --------------------------------------------------------------------------


def family(kind: str) -> str:
    """dunning_1..dunning_n share one template and placeholder set, and so do the receipts."""
    if kind.startswith("receipt_"):
        return RECEIPT
    return "dunning" if kind.startswith("dunning_") else kind


def dunning_days(merchant: Merchant) -> list[int]:
    return list(merchant.dunning_days or DEFAULT_DUNNING_DAYS)


def set_dunning_days(merchant: Merchant, days: list[int]) -> None:
    """Days after the failed payment on which the emails go out, e.g. [0, 3, 7, 14]."""
    clean = sorted(set(days))
    if not clean or len(clean) > MAX_DUNNING_STEPS or clean[0] < 0 or clean[-1] > 60:
        raise CopyError(f"give 1 to {MAX_DUNNING_STEPS} different days between 0 and 60")
    merchant.dunning_days = clean


def email_kinds(merchant: Merchant) -> list[str]:
    """Every kind of email this merchant sends (each can have its own subject and body)."""
    steps = [f"dunning_{n}" for n in range(1, len(dunning_days(merchant)) + 1)]
    receipts = [kind for kind in DEFAULT_COPY if kind.startswith("receipt_")]
    return [*steps, "card_expiring", "save", WINBACK, *receipts]


def default_copy(kind: str, *, final: bool = False) -> Copy:
    if kind == "dunning_1":
        return DEFAULT_COPY["dunning_first"]
    if kind.startswith("dunning_"):
        return DEFAULT_COPY["dunning_final" if final else "dunning_reminder"]
    return DEFAULT_COPY[kind]


def copy_locale(merchant: Merchant, locale: str | None) -> str | None:
    """The EmailCopy.locale new text in ``locale`` is stored under: None (the default-language
    text, which every language without its own falls back to) for the default language."""
    if not locale:
        return None
    if locale not in i18n.SUPPORTED_LOCALES:
        raise CopyError(
            f"unknown language {locale!r}; choose one of {', '.join(i18n.SUPPORTED_LOCALES)}",
            "locale",
        )
    return None if locale == i18n.supported(merchant.default_locale) else locale


def copies_of(merchant: Merchant, kind: str) -> list[EmailCopy]:
    """Every language's own text of one kind (the rows resolve_copy chooses from)."""
    return list(
        db.session.scalars(
            sa.select(EmailCopy).where(EmailCopy.merchant_id == merchant.id, EmailCopy.kind == kind)
        )
    )


def get_copy(merchant: Merchant, kind: str, locale: str | None = None) -> EmailCopy | None:
    """The row with the merchant's own subject and body for a kind in one language (None:
    nothing of their own there). For the default language that is the default-language row,
    unless a row for that very language exists (left from before the default changed): it is
    the one customers in that language get, so it is the one shown and edited."""
    stored = copy_locale(merchant, locale)
    rows = {row.locale: row for row in copies_of(merchant, kind)}
    if stored is None:
        return rows.get(i18n.supported(merchant.default_locale)) or rows.get(None)
    return rows.get(stored)


def set_copy(
    merchant: Merchant,
    kind: str,
    subject: str | None,
    body: str | None,
    locale: str | None = None,
) -> EmailCopy:
    """Save a merchant's subject and/or body for one kind in one language (None: the default
    language); empty values fall back (to the default language's text, then the built-in)."""
    if kind not in email_kinds(merchant):
        raise CopyError(f"unknown email {kind!r}; choose one of {', '.join(email_kinds(merchant))}")
    stored_locale = copy_locale(merchant, locale)
    subject = " ".join((subject or "").split()) or None  # one line: no header injection
    body = (body or "").replace("\r\n", "\n").strip() or None
    if subject and len(subject) > SUBJECT_MAX:
        raise CopyError(f"the subject is longer than {SUBJECT_MAX} characters", "subject")
    if body and len(body) > BODY_MAX:
        raise CopyError(f"the text is longer than {BODY_MAX} characters", "body")
    allowed = PLACEHOLDERS[family(kind)]
    for field, text in (("subject", subject), ("body", body)):
        unknown = set(PLACEHOLDER.findall(text or "")) - set(allowed)
        if unknown:
            names = ", ".join("{" + n + "}" for n in allowed)
            raise CopyError(
                f"unknown placeholder {sorted(unknown)[0]!r}; this email can use {names}", field
            )
    row = get_copy(merchant, kind, locale) or EmailCopy(
        merchant_id=merchant.id, kind=kind, locale=stored_locale
    )
    row.subject, row.body = subject, body
    db.session.add(row)
    db.session.flush()
    return row


def reset_copy(merchant: Merchant, kind: str, locale: str | None = None) -> None:
    """Go back to the fallback for one kind in one language (None: the default language)."""
    row = get_copy(merchant, kind, locale)
    if row is not None:
        db.session.delete(row)
        db.session.flush()


def resolve_copy(
    rows: Iterable[EmailCopy], locale: str, default_locale: str | None
) -> MerchantCopy:
    """Subject and body for a customer in ``locale``, each on its own: the merchant's text in
    that language, else in their default language, else None (the built-in text, translated)."""
    texts: dict[str, Any] = {}  # the shape i18n.localized reads: {"subject": .., "de": {..}}
    for row in rows:
        own = {"subject": row.subject, "body": row.body}
        if row.locale is None:
            texts.update(own)
        else:
            texts[row.locale] = own
    return MerchantCopy(
        subject=i18n.localized(texts, "subject", locale, default_locale=default_locale),
        body=i18n.localized(texts, "body", locale, default_locale=default_locale),
    )


def builtin_copy(merchant: Merchant, kind: str, locale: str) -> Copy:
    """The built-in subject, body and button of a kind in ``locale``, placeholders unfilled."""
    default = default_copy(kind, final=bool(sample_data(merchant, kind).get("final")))
    with force_locale(locale):
        return Copy(str(default.subject), str(default.body), str(default.button))


def fill(text: str, values: Mapping[str, str]) -> str:
    """Replace known {placeholders}; anything else stays as typed."""
    return PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)


# ---- locale ----------------------------------------------------------------------------------


def choose_locale(preferred: tuple[str, ...] | list[str], merchant: Merchant) -> str:
    """The customer's first Stripe preferred locale we can speak, else the merchant's default."""
    for tag in preferred:
        if code := i18n.supported(tag):
            return code
    return i18n.supported(merchant.default_locale) or i18n.SOURCE_LOCALE


# ---- rendering -------------------------------------------------------------------------------


def placeholder_values(merchant: Merchant, kind: str, data: Mapping[str, Any]) -> dict[str, str]:
    values = {"merchant": merchant.name}
    group = family(kind)
    if group == "dunning":
        values["amount"] = money(int(data.get("amount") or 0), str(data.get("currency") or ""))
        if data.get("due_since"):
            since = datetime.fromtimestamp(int(data["due_since"]), UTC)
            values["due_since"] = str(format_date(since, "long"))
    elif group == "card_expiring":
        values["last4"] = str(data.get("last4", ""))
        values["card"] = f"{str(data.get('brand', '')).title()} •••• {values['last4']}"
        month = date(int(data["exp_year"]), int(data["exp_month"]), 1)
        # A skeleton, not a pattern: each language's own order and words ("diciembre de 2030").
        values["month"] = format_skeleton("yMMMM", month, locale=get_locale())
    elif group == "save":
        ends = datetime.fromtimestamp(int(data.get("ends_at") or 0), UTC)
        values["date"] = str(format_date(ends, "long"))
    elif group == RECEIPT:
        changed = data.get("ends_at") or data.get("declared_at") or 0
        values["date"] = str(format_date(datetime.fromtimestamp(int(changed), UTC), "long"))
        values["declared"] = receipt_moment(int(data.get("declared_at") or 0))
        values["plan"] = str(data.get("plan") or "")
    elif group == WINBACK:
        values["code"] = str(data.get("code") or "")
        expires = datetime.fromtimestamp(int(data.get("code_expires_at") or 0), UTC)
        values["expires"] = str(format_date(expires, "long")) if values["code"] else ""
    return values


def render(
    merchant: Merchant,
    kind: str,
    data: Mapping[str, Any],
    *,
    locale: str,
    action_url: str,
    unsubscribe_url: str,
    own_copy: MerchantCopy,
) -> RenderedEmail:
    """Subject, HTML and text of one email, in ``locale``, with the merchant's branding."""
    with force_locale(locale):
        values = placeholder_values(merchant, kind, data)
        default = default_copy(kind, final=bool(data.get("final")))
        subject = fill(own_copy.subject or str(default.subject), values)
        body = fill(own_copy.body or str(default.body), values)
        context = {
            "merchant": merchant,
            "brand_color": merchant.brand_color
            if SAFE_COLOUR.match(merchant.brand_color or "")
            else DEFAULT_BRAND_COLOR,
            "subject": " ".join(subject.split()),
            "paragraphs": [p.strip() for p in re.split(r"\n\s*\n", body) if p.strip()],
            "button": str(default.button),
            "action_url": action_url,
            "unsubscribe_url": unsubscribe_url,
            "values": values,
            "test": bool(data.get("test")),
            "final": bool(data.get("final")),
        }
        group = family(kind)
        if group == RECEIPT:
            context["facts"] = receipt_facts(kind, data, locale)
        html = render_template(f"emails/{group}.html", **context)
        text = render_template(f"emails/{group}.txt", **context)
    return RenderedEmail(subject=context["subject"], html=html, text=text)


def receipt_moment(timestamp: int) -> str:
    """A date and time with its zone in the current language ("2 December 2026 at 14:05:09
    UTC")."""
    return str(local_datetime(datetime.fromtimestamp(timestamp, UTC), "long"))


def receipt_facts(kind: str, data: Mapping[str, Any], locale: str) -> list[str]:
    """A receipt's facts, one line each in ``locale``: when the choice was received, the
    subscription, what changes and from or until when, in its currency."""
    from cancelpage import receipts

    def day(key: str) -> str:
        return format_day(int(data[key]), locale, None)

    received = receipt_moment(int(data.get("declared_at") or 0))
    facts = [gettext("Received on: %(moment)s", moment=received)]
    if data.get("subscription"):
        line = receipts.said(data, "subscription", locale)
        facts.append(gettext("Subscription: %(line)s", line=line))
    if kind == "receipt_canceled" and data.get("ends_at"):
        facts.append(gettext("Ends on: %(date)s", date=day("ends_at")))
    elif kind == "receipt_canceled_now" and data.get("ends_at"):
        ended = receipt_moment(int(data["ends_at"]))
        facts.append(gettext("Ended on: %(moment)s", moment=ended))
    elif kind == "receipt_kept":
        facts.append(gettext("What changes: Your cancellation is withdrawn."))
    elif data.get("change"):
        change = receipts.said(data, "change", locale)
        facts.append(gettext("What changes: %(change)s", change=change))
        facts.append(gettext("From: %(date)s", date=day("declared_at")))
    if data.get("resumes_at"):
        facts.append(gettext("Resumes on: %(date)s", date=day("resumes_at")))
    if data.get("free_until"):
        facts.append(gettext("Free until: %(date)s", date=day("free_until")))
    return facts


def base_url() -> str:
    return str(current_app.config["PUBLIC_BASE_URL"])


def action_url(merchant: Merchant, row: OutboxEmail, case: RecoveryCase | None) -> str:
    """The button's link, signed now (hosts from PUBLIC_BASE_URL, never a request's Host)."""
    if row.kind == WINBACK and not row.data.get("test"):
        return str(row.data["url"])  # the merchant's own resubscribe page
    if family(row.kind) == RECEIPT:
        from cancelpage import receipts  # receipts queue through the outbox, which imports this

        return "" if row.data.get("test") else receipts.keep_url(merchant, row) or ""
    if case is None:  # a test email: the button shows what a real one would do
        return base_url() + "/email/test-link"
    purpose = "save" if case.kind == "cancel_intent" else "card_update"
    payload = links.LinkPayload(
        merchant=merchant.slug,
        customer=case.customer_id,
        subscription=case.subscription_id,
        # Preview mode reads the subscription from the link: say it is already set to end.
        attributes={"cancel_at_period_end": "true"} if purpose == "save" else {},
        locale=row.locale,
        ref=str(case.id),
    )
    return links.link_url(base_url(), links.sign(payload, merchant.link_secrets, purpose), purpose)


def unsubscribe_url(merchant: Merchant, row: OutboxEmail) -> str:
    """Points at the outbox row, which holds the address: the link itself carries no email."""
    payload = links.LinkPayload(
        merchant=merchant.slug, customer=row.customer_id or "-", locale=row.locale, ref=str(row.id)
    )
    token = links.sign(payload, merchant.link_secrets, "unsubscribe")
    return links.link_url(base_url(), token, "unsubscribe")


def render_row(
    row: OutboxEmail,
    merchant: Merchant,
    case: RecoveryCase | None,
    copies: Iterable[EmailCopy],
    unsubscribe: str,
) -> RenderedEmail:
    """One outbox row in its language, with the merchant's own text of its kind (``copies``)
    and the ``unsubscribe`` link its List-Unsubscribe header also carries."""
    return render(
        merchant,
        row.kind,
        row.data,
        locale=row.locale,
        action_url=action_url(merchant, row, case),
        unsubscribe_url=unsubscribe,
        own_copy=resolve_copy(copies, row.locale, merchant.default_locale),
    )


def sample_data(merchant: Merchant, kind: str) -> dict[str, Any]:
    """Sample values for a test or preview of one kind (the last reminder says it is the last)."""
    data = {**SAMPLE_DATA[family(kind)], "test": True}
    if family(kind) == RECEIPT:
        data["subscription"] = _sample_subscription()
    if kind.startswith("dunning_"):
        data["final"] = kind == f"dunning_{len(dunning_days(merchant))}" and kind != "dunning_1"
    return data


def _sample_subscription() -> dict[str, Any]:
    """A receipt's subscription line for samples, as the engine says it (stored as JSON)."""
    from cancelpage import flows, receipts

    ends = int(SAMPLE_DATA[RECEIPT]["ends_at"])
    snapshot = flows.Snapshot(
        plan="Pro", amount=2900, currency="usd", period_end=ends, cancel_at_period_end=True
    )
    return receipts.to_json(flows.subscription_line(snapshot))


def preview(merchant: Merchant, kind: str, locale: str | None = None) -> RenderedEmail:
    """What one kind of email looks like with sample values (for the dashboard's editor), in
    ``locale`` (None: the merchant's default language), with the merchant's own text."""
    if kind not in email_kinds(merchant):
        raise CopyError(f"unknown email {kind!r}")
    locale = i18n.supported(locale) or i18n.supported(merchant.default_locale) or "en"
    return render(
        merchant,
        kind,
        sample_data(merchant, kind),
        locale=locale,
        action_url=base_url() + "/email/test-link",
        unsubscribe_url=base_url() + "/email/test-link",
        own_copy=resolve_copy(copies_of(merchant, kind), locale, merchant.default_locale),
    )


# ---- the message and its transport -----------------------------------------------------------


def one_line(text: str) -> str:
    return " ".join(text.split())


def _envelope(row: OutboxEmail, sender_name: str, subject: str) -> EmailMessage:
    """A message with the headers every email has: From, To, Subject, Date, Message-ID."""
    config = current_app.config
    sender = parseaddr(config["MAIL_DEFAULT_SENDER"])[1] or "cancelpage@localhost"
    domain = sender.rpartition("@")[2] or "localhost"
    message = EmailMessage(policy=MESSAGE_POLICY)
    message["From"] = formataddr((one_line(sender_name), sender))
    message["To"] = Address(addr_spec=row.to_address or "")
    message["Subject"] = one_line(subject)
    message["Date"] = format_datetime(datetime.now(UTC))
    # Stable per row: a resend after a crash carries the same id, so mail systems can dedupe.
    digest = hashlib.sha256(row.dedupe_key.encode()).hexdigest()[:16]
    message["Message-ID"] = f"<cancelpage.{row.id}.{digest}@{domain}>"
    return message


def build_message(
    merchant: Merchant, row: OutboxEmail, rendered: RenderedEmail, unsubscribe: str
) -> EmailMessage:
    """A multipart/alternative message with one-click unsubscribe headers (RFC 8058)."""
    message = _envelope(row, merchant.name, rendered.subject)
    # A support address saved before it was checked must not stop the email: it goes without.
    support = addresses.usable(merchant.support_email)
    if support:
        message["Reply-To"] = Address(addr_spec=support)
    targets = [f"<{unsubscribe}>"]
    if support:
        targets.append(f"<mailto:{support}?subject=unsubscribe>")
    message["List-Unsubscribe"] = ", ".join(targets)
    message["List-Unsubscribe-Post"] = "List-Unsubscribe=One-Click"
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(rendered.text)
    message.add_alternative(rendered.html, subtype="html")
    return message


def password_reset_message(merchant: Merchant, row: OutboxEmail) -> EmailMessage:
    """A dashboard user's reset link, plain text, signed now (the outbox row holds only the
    user's id). Not a recovery email: no unsubscribe headers."""
    user = db.session.get(MerchantUser, int(row.data["user_id"]))
    if user is None:
        raise LookupError("the user asking for a reset no longer exists")
    message = _envelope(row, "cancelpage", "Reset your cancelpage password")
    message["Auto-Submitted"] = "auto-generated"
    message.set_content(
        render_template(
            "emails/password_reset.txt",
            url=accounts.reset_url(user),
            merchant=merchant,
            minutes=int(current_app.config["PASSWORD_RESET_MAX_AGE"]) // 60,
        )
    )
    return message


class SMTPTransport:
    """One SMTP connection reused for a batch, with a timeout; reconnects after any error.

    Configured with the usual MAIL_* keys (MAIL_SERVER, MAIL_PORT, MAIL_USE_TLS, MAIL_USE_SSL,
    MAIL_USERNAME, MAIL_PASSWORD) plus MAIL_TIMEOUT.
    """

    def __init__(self, config: Mapping[str, Any]) -> None:
        self.server = str(config.get("MAIL_SERVER") or "127.0.0.1")
        self.port = int(config.get("MAIL_PORT") or 25)
        self.use_ssl = bool(config.get("MAIL_USE_SSL"))
        self.use_tls = bool(config.get("MAIL_USE_TLS"))
        self.username = config.get("MAIL_USERNAME")
        self.password = config.get("MAIL_PASSWORD")
        self.timeout = float(config.get("MAIL_TIMEOUT") or 10)
        self._smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        try:
            if self.use_ssl:
                context = ssl.create_default_context()
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(
                    self.server, self.port, timeout=self.timeout, context=context
                )
            else:
                smtp = smtplib.SMTP(self.server, self.port, timeout=self.timeout)
            if self.use_tls:
                smtp.starttls(context=ssl.create_default_context())
            if self.username and self.password:
                smtp.login(self.username, self.password)
        except (OSError, smtplib.SMTPException) as exc:
            raise TransportUnavailable(
                f"cannot connect to {self.server}:{self.port}: {exc}"
            ) from exc
        return smtp

    def send(self, message: EmailMessage) -> None:
        if self._smtp is None:
            self._smtp = self._connect()
        try:
            self._smtp.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            self.close()
            codes = [code for code, _ in exc.recipients.values()]
            raise SendFailed(f"recipient refused: {codes}", permanent=min(codes) >= 500) from exc
        except (smtplib.SMTPServerDisconnected, OSError) as exc:
            self.close()
            raise TransportUnavailable(f"connection lost: {exc}") from exc
        except smtplib.SMTPException as exc:
            self.close()
            raise SendFailed(f"{type(exc).__name__}: {exc}") from exc

    def close(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is None:
            return
        try:
            smtp.quit()
        except (OSError, smtplib.SMTPException):
            smtp.close()
