"""Merchant settings: validation of what the dashboard's settings form sends, and applying it.

Everything a merchant types here is shown to customers, always escaped by the templates.
"""

from __future__ import annotations

import functools
import re
import unicodedata
import zoneinfo
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from cancelpage import addresses, links
from cancelpage.models import CANCEL_MODES, Merchant
from cancelpage.vocabulary import DEFAULT_BRAND_COLOR, whole_number

LOCALE_LABELS = {"en": "English", "de": "Deutsch", "fr": "Français", "es": "Español"}
LOCALES = tuple(LOCALE_LABELS)
LOCAL_HOSTS = links.LOCAL_HOSTS
COLOR_RE = re.compile(r"#[0-9a-fA-F]{6}")
# A bare host name: labels of letters, digits and hyphens (an IPv4 address passes as well).
HOST_RE = re.compile(
    r"(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*"
)
MAX_HOSTS = 20
# White text on the brand colour (buttons): WCAG AA wants 4.5:1; below 3:1 it is refused.
AA_TEXT_CONTRAST = 4.5
MIN_UI_CONTRAST = 3.0
MIN_LINK_HOURS, MAX_LINK_HOURS = 1, 30 * 24


@dataclass(frozen=True)
class CopyField:
    """A piece of text the merchant may set for one step of the customer page."""

    key: str
    step: str
    label: str
    max_length: int = 300
    # What customers see while the field is empty (English; the page translates it).
    default: str = ""


# Keys of Merchant.copy; the customer templates read exactly these.
COPY_FIELDS: tuple[CopyField, ...] = (
    CopyField("survey_intro", "survey", "Survey: text under the headline"),
    CopyField(
        "survey_question",
        "survey",
        "Survey: the question",
        200,
        "What is the main reason you're cancelling?",
    ),
    CopyField("offer_intro", "offer", "Offer: text above each offer"),
    CopyField("confirm_intro", "confirm", "Confirmation: text above the buttons"),
    CopyField("confirm_losses", "confirm", "Confirmation: what they lose, one item per line", 1000),
    CopyField("done_saved", "done", "After accepting an offer: thank-you text"),
    CopyField("done_canceled", "done", "After cancelling: goodbye text"),
)
CANCEL_MODE_LABELS = {
    "period_end": "At the end of the paid period",
    "immediately": "Immediately",
    "portal": "Hand off to Stripe's customer portal",
}


def _control_free(text: str, multiline: bool = False) -> bool:
    allowed = "\n\t" if multiline else ""
    return not any(unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed for ch in text)


def _text(
    form: Mapping[str, str],
    name: str,
    errors: dict[str, str],
    *,
    max_length: int,
    required: bool = False,
    multiline: bool = False,
) -> str | None:
    value = form.get(name, "").replace("\r\n", "\n").strip()
    if not value:
        if required:
            errors[name] = "Required."
        return None
    if len(value) > max_length:
        errors[name] = f"Use at most {max_length} characters."
    elif not _control_free(value, multiline):
        errors[name] = "Remove the control characters."
    return value


def web_url_problem(url: str) -> str | None:
    """Why a URL shown to customers (logo, return URL) is refused: https, or http on localhost."""
    if any(ch.isspace() for ch in url) or len(url) > 500:
        return "Enter one https:// address without spaces (at most 500 characters)."
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        _ = parts.port
    except ValueError:
        return "This address is not valid."
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http") or not host:
        return "Use an https:// address."
    if parts.username or parts.password:
        return "Leave out user names and passwords."
    if scheme == "http" and host not in LOCAL_HOSTS:
        return "Use https:// (plain http:// only works for localhost)."
    return None


def parse_hosts(raw: str) -> tuple[list[str], str | None]:
    """Host names from a textarea (one per line or comma-separated), and a problem if any."""
    hosts: list[str] = []
    for item in re.split(r"[\s,]+", raw.strip().lower()):
        if not item:
            continue
        if not HOST_RE.fullmatch(item):
            return (
                hosts,
                f"“{item[:60]}” is not a bare host name "
                "(like app.example.com: no https://, path or port).",
            )
        if item not in hosts:
            hosts.append(item)
    if len(hosts) > MAX_HOSTS:
        return hosts, f"List at most {MAX_HOSTS} hosts."
    return hosts, None


def validate(form: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, str]]:
    """(clean values, errors by field name) for the settings form."""
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    _validate_page(form, values, errors)
    _validate_rules(form, values, errors)
    return values, errors


def _validate_page(form: Mapping[str, str], values: dict[str, Any], errors: dict[str, str]) -> None:
    """What the customer sees: name, logo, colour, headline, copy, support address."""
    values["name"] = _text(form, "name", errors, max_length=120, required=True)
    logo = _text(form, "logo_url", errors, max_length=500)
    if logo and "logo_url" not in errors:
        problem = web_url_problem(logo)
        if problem:
            errors["logo_url"] = problem
    values["logo_url"] = logo
    colour = form.get("brand_color", "").strip()
    if not COLOR_RE.fullmatch(colour):
        errors["brand_color"] = f"Use a colour like {DEFAULT_BRAND_COLOR} (# and six hex digits)."
    elif contrast_with_white(colour) < MIN_UI_CONTRAST:
        ratio = contrast_with_white(colour)
        errors["brand_color"] = (
            f"White button text on {colour.lower()} is unreadable (contrast {ratio:.1f}:1, "
            f"at least {MIN_UI_CONTRAST:g}:1 needed). Try {darker_for_text(colour)}."
        )
    values["brand_color"] = colour.lower()
    values["headline"] = _text(form, "headline", errors, max_length=200)
    copy: dict[str, str] = {}
    for field in COPY_FIELDS:
        name = f"copy_{field.key}"
        text = _text(form, name, errors, max_length=field.max_length, multiline=True)
        if text:
            copy[field.key] = text
    values["copy"] = copy
    email = _text(form, "support_email", errors, max_length=254)
    if email and "support_email" not in errors:
        try:
            email = addresses.checked(email)
        except addresses.BadAddress as exc:
            errors["support_email"] = f"{exc} Enter an email address like help@example.com."
    values["support_email"] = email


def _validate_rules(
    form: Mapping[str, str], values: dict[str, Any], errors: dict[str, str]
) -> None:
    """Where customers may return to, how they cancel, how long links live, the language."""
    hosts, problem = parse_hosts(form.get("return_hosts", ""))
    if problem:
        errors["return_hosts"] = problem
    values["return_hosts"] = hosts
    default_url = _text(form, "default_return_url", errors, max_length=500)
    if default_url and "default_return_url" not in errors:
        problem = web_url_problem(default_url)
        if problem is None and not links.host_allowed(default_url, hosts):
            problem = "Its host must be one of the allowed return hosts."
        if problem:
            errors["default_return_url"] = problem
    values["default_return_url"] = default_url
    mode = form.get("cancel_mode", "")
    if mode not in CANCEL_MODES:
        errors["cancel_mode"] = "Choose one of the listed ways to cancel."
    values["cancel_mode"] = mode
    hours = whole_number(form.get("link_lifetime_hours", "").strip())
    if hours is None or not MIN_LINK_HOURS <= hours <= MAX_LINK_HOURS:
        errors["link_lifetime_hours"] = (
            f"Enter a whole number of hours from {MIN_LINK_HOURS} to {MAX_LINK_HOURS} (30 days)."
        )
    else:
        values["link_max_age"] = hours * 3600
    locale = form.get("default_locale", "")
    if locale not in LOCALES:
        errors["default_locale"] = "Choose one of the listed languages."
    values["default_locale"] = locale
    zone = form.get("time_zone", "").strip() or "UTC"
    if zone not in time_zones():
        errors["time_zone"] = "Enter a time zone like Europe/Berlin or America/New_York (or UTC)."
    values["time_zone"] = zone


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this machine knows."""
    return frozenset(zoneinfo.available_timezones() | {"UTC"})


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def contrast_with_white(colour: str) -> float:
    """WCAG contrast ratio of white text on ``colour`` (#rrggbb): 1 to 21."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)
    return 1.05 / (luminance + 0.05)


def darker_for_text(colour: str) -> str:
    """The same hue, darkened until white text on it reaches WCAG AA (4.5:1)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    for step in range(100, -1, -1):
        shade = "#{:02x}{:02x}{:02x}".format(*(round(c * step / 100) for c in (r, g, b)))
        if contrast_with_white(shade) >= AA_TEXT_CONTRAST:
            return shade
    return "#000000"


def contrast_warning(colour: str) -> str | None:
    """A warning for a colour that passes the 3:1 floor but not AA for button text (4.5:1)."""
    ratio = contrast_with_white(colour)
    if ratio >= AA_TEXT_CONTRAST:
        return None
    return (
        f"White button text on {colour} has a contrast of {ratio:.1f}:1; WCAG AA asks for "
        f"{AA_TEXT_CONTRAST:g}:1. A darker shade such as {darker_for_text(colour)} reads better."
    )


def apply(merchant: Merchant, values: Mapping[str, Any]) -> None:
    for name in (
        "name",
        "logo_url",
        "brand_color",
        "headline",
        "support_email",
        "default_return_url",
        "cancel_mode",
        "link_max_age",
        "default_locale",
        "time_zone",
    ):
        setattr(merchant, name, values[name])
    # Keep per-locale translations ({"de": {...}}); replace only the untranslated copy.
    translations = {k: v for k, v in (merchant.copy or {}).items() if isinstance(v, dict)}
    merchant.copy = {**translations, **values["copy"]}
    merchant.return_hosts = list(values["return_hosts"])


def copy_field(name: str) -> CopyField | None:
    """The copy field a form field (``copy_<key>``) edits."""
    return next((f for f in COPY_FIELDS if f"copy_{f.key}" == name), None)


def form_values(merchant: Merchant) -> dict[str, str]:
    """The settings form filled from the merchant, as the strings a browser would send."""
    values = {
        "name": merchant.name,
        "logo_url": merchant.logo_url or "",
        "brand_color": merchant.brand_color,
        "headline": merchant.headline or "",
        "support_email": merchant.support_email or "",
        "return_hosts": "\n".join(merchant.return_hosts),
        "default_return_url": merchant.default_return_url or "",
        "cancel_mode": merchant.cancel_mode,
        "link_lifetime_hours": str(max(1, merchant.link_max_age // 3600)),
        "default_locale": merchant.default_locale,
        "time_zone": merchant.time_zone,
    }
    for field in COPY_FIELDS:
        values[f"copy_{field.key}"] = str((merchant.copy or {}).get(field.key, ""))
    return values
