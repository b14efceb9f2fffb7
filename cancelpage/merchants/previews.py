"""Preview as a customer: a signed link that runs the real customer page on a chosen snapshot,
in preview mode even for a live merchant (nothing is sent to Stripe; the requests are listed)."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlsplit

from flask import current_app

from cancelpage import links
from cancelpage.merchants.settings import LOCALES
from cancelpage.models import Merchant
from cancelpage.vocabulary import CURRENCY_RE, PREVIEW_DEFAULTS, PRICE_ID_RE, whole_number

# The preview form starts from the subscription a preview link describes by default.
DEFAULTS = {**PREVIEW_DEFAULTS, "price_id": ""}


def parse_attributes(raw: str) -> tuple[dict[str, str], str | None]:
    """Custom attributes typed as ``key=value`` lines."""
    attributes: dict[str, str] = {}
    for line in raw.replace("\r\n", "\n").split("\n"):
        if not line.strip():
            continue
        key, sep, value = line.partition("=")
        if not sep:
            return attributes, f"“{line.strip()[:40]}” is not key=value."
        attributes[key.strip()] = value.strip()
    try:
        links.validate_attributes(attributes)
    except ValueError as exc:
        return attributes, str(exc).capitalize() + "."
    return attributes, None


def validate(form: Mapping[str, str]) -> tuple[dict[str, str], str | None, dict[str, str]]:
    """(snapshot attributes, locale, errors by field) from the preview form."""
    errors: dict[str, str] = {}
    plan = form.get("plan", "").strip()
    if not plan or len(plan) > 100:
        errors["plan"] = "Name the plan (at most 100 characters)."
    price_id = form.get("price_id", "").strip()
    if price_id and not PRICE_ID_RE.fullmatch(price_id):
        errors["price_id"] = "A Stripe price id looks like price_1Abc…"
    mrr = form.get("mrr", "").strip()
    if (amount := whole_number(mrr)) is None or amount > 100_000_000:
        errors["mrr"] = "Monthly revenue in minor units (4900 = 49.00), a whole number."
    currency = form.get("currency", "").strip().lower()
    if not CURRENCY_RE.fullmatch(currency):
        errors["currency"] = "A 3-letter currency code like usd."
    tenure = form.get("tenure_days", "").strip()
    if (days := whole_number(tenure)) is None or days > 36500:
        errors["tenure_days"] = "Days since the subscription started, a whole number."
    custom, problem = parse_attributes(form.get("attributes", ""))
    if problem:
        errors["attributes"] = problem
    locale = form.get("locale", "") or None
    if locale is not None and locale not in LOCALES:
        errors["locale"] = "Choose one of the listed languages."
    attributes = {**custom, "plan": plan, "mrr": mrr, "currency": currency, "tenure_days": tenure}
    if price_id:
        attributes["price_id"] = price_id
    if not errors:
        try:
            links.validate_attributes(attributes)
        except ValueError as exc:
            errors["attributes"] = str(exc).capitalize() + "."
    return attributes, locale, errors


def preview_path(merchant: Merchant, attributes: Mapping[str, str], locale: str | None) -> str:
    """The path of a fresh preview link (served by this app, whatever the public base URL)."""
    url = links.sign_preview_link(
        base_url=current_app.config["PUBLIC_BASE_URL"],
        merchant=merchant.slug,
        secrets_oldest_first=merchant.link_secrets,
        attributes=attributes,
        locale=locale,
    )
    return urlsplit(url).path
