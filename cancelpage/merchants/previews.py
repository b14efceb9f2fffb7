"""Preview as a customer: a signed link that runs the real customer page on a chosen snapshot,
in preview mode even for a live merchant (nothing is sent to Stripe; the requests are listed)."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import force_locale

from cancelpage import flows, i18n, links
from cancelpage.cancel_sessions import preview_snapshot
from cancelpage.i18n.formats import accept_label, offer_terms
from cancelpage.merchants.settings import LOCALES
from cancelpage.models import Merchant
from cancelpage.vocabulary import CURRENCY_RE, PREVIEW_DEFAULTS, PRICE_ID_RE, whole_number

# A customer's address for the preview: a country, or a US state as US-CA.
COUNTRY_RE = re.compile(r"^[A-Z]{2}(-[A-Z]{2})?$")
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
    country = _country(form, errors)
    locale = form.get("locale", "") or None
    if locale is not None and locale not in LOCALES:
        errors["locale"] = "Choose one of the listed languages."
    attributes = {**custom, "plan": plan, "mrr": mrr, "currency": currency, "tenure_days": tenure}
    if price_id:
        attributes["price_id"] = price_id
    if country:  # the customer's address, which picks the compliance profile
        attributes["country"] = country
    if not errors:
        try:
            links.validate_attributes(attributes)
        except ValueError as exc:
            errors["attributes"] = str(exc).capitalize() + "."
    return attributes, locale, errors


def _country(form: Mapping[str, str], errors: dict[str, str]) -> str:
    country = form.get("country", "").strip().upper()
    if country and not COUNTRY_RE.fullmatch(country):
        errors["country"] = "A country code like DE, or US-CA for a US state."
    return country


def profile_in_force(merchant: Merchant, country: str) -> flows.Profile:
    """The compliance profile a preview customer from ``country`` ("DE", "US-CA") runs under."""
    code, _, region = country.strip().upper().partition("-")
    return flows.profile_for(code, region or None, merchant.compliance_default)


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


# ---- the flow editor's side-by-side preview of the draft -----------------------------------------

OP_WORDS = {"eq": "is", "in": "is one of", "gte": "is at least", "lte": "is at most"}


@dataclass(frozen=True)
class DraftPreview:
    """What the draft shows one segment: the deciding rule (or the defaults), why, the offers."""

    snapshot: flows.Snapshot
    reason: flows.Reason | None
    rule_index: int | None
    rule_name: str | None
    why: list[str]
    offers: list[flows.Offer]
    # Each offer as the customer reads it, in the chosen language: title, terms, text, button.
    shown: list[dict[str, str]]


def segment_form(args: Mapping[str, str]) -> dict[str, str]:
    """The segment form's values: what was sent, else the defaults (reason: the first one)."""
    keys = ("plan", "mrr", "tenure_days", "attributes", "reason", "locale")
    return {key: args.get(key, str(DEFAULTS.get(key, ""))) for key in keys}


def preview_draft(
    merchant: Merchant, draft: Mapping[str, Any], form: Mapping[str, str]
) -> tuple[DraftPreview | None, dict[str, str]]:
    """(the draft's answer for the segment in ``form``, errors by field)."""
    flow = flows.parse_flow(draft)
    attributes, _, errors = validate({**DEFAULTS, **form, "price_id": ""})
    enabled = [r.code for r in flow.reasons if r.enabled]
    reason = flow.reason(form.get("reason") or (enabled[0] if enabled else ""))
    if reason is None:
        errors["reason"] = "Choose one of the draft's reasons."
    if errors or reason is None:
        return None, errors
    snapshot = snapshot_of_preview(attributes)
    index = flows.matching_rule(flow, reason.code, snapshot)
    rule = flow.rules[index] if index is not None else None
    why = explain(flow, reason.code, snapshot)
    offers = flows.choose_offers(flow, reason.code, snapshot, "cus_preview")
    shown = as_customer_sees(merchant, offers, snapshot, form.get("locale") or None)
    name = rule.name if rule else None
    return DraftPreview(snapshot, reason, index, name, why, offers, shown), {}


def as_customer_sees(
    merchant: Merchant, offers: list[flows.Offer], snapshot: flows.Snapshot, locale: str | None
) -> list[dict[str, str]]:
    """The customer page's words for each offer, in ``locale`` (else the merchant's language)."""
    language = locale or merchant.default_locale
    texts = i18n.MerchantTexts(merchant, language)
    with force_locale(language):
        return [
            {
                "id": offer.id,
                "title": texts.title(offer),
                "terms": str(offer_terms(offer, snapshot)),
                "body": texts.body(offer) if offer.body else "",
                "accept": str(accept_label(offer)),
            }
            for offer in offers
        ]


def snapshot_of_preview(attributes: Mapping[str, str]) -> flows.Snapshot:
    names = {f.name for f in dataclasses.fields(flows.Snapshot)}
    data = preview_snapshot(attributes)
    return flows.Snapshot(**{k: v for k, v in data.items() if k in names})


def explain(flow: flows.Flow, reason_code: str, snapshot: flows.Snapshot) -> list[str]:
    """One line per rule up to the one that matched: what held, or what did not."""
    lines: list[str] = []
    for number, rule in enumerate(flow.rules, start=1):
        if rule.reasons and reason_code not in rule.reasons:
            lines.append(f"{number}. {rule.name}: no, it is for other reasons.")
            continue
        failed = [c for c in rule.conditions if not flows.condition_holds(c, snapshot)]
        if failed:
            lines.append(f"{number}. {rule.name}: no, {describe(failed[0])} does not hold.")
            continue
        held = [describe(c) for c in rule.conditions] or ["it has no conditions"]
        reason = "the reason is one of its reasons" if rule.reasons else "it takes any reason"
        lines.append(f"{number}. {rule.name}: yes, {reason}; " + ", ".join(held) + ".")
        return lines
    lines.append("No rule matched: the default offers are shown.")
    return lines


def describe(condition: flows.Condition) -> str:
    field = condition.field.removeprefix("attr.")
    value = condition.value
    shown = ", ".join(value) if isinstance(value, tuple) else str(value)
    return f"{field} {OP_WORDS.get(condition.op, condition.op)} {shown}"
