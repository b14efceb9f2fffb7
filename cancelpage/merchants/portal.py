"""Stripe's customer portal for a merchant: is there a side door around the cancel flow, the one
configuration cancelpage keeps (created or updated to the merchant's choices), and whether it
still says what it should (checked on each visit to the Stripe page and on Stripe's webhook)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from flask import current_app

from cancelpage import links
from cancelpage.billing import BillingError, Gateway, RecordedRequest, gateway_for
from cancelpage.billing.portal import (
    PORTAL_CANCEL_MODES,
    PortalCancelMode,
    PortalConfigurationView,
    WantedPortal,
    allowances,
    configuration_params,
    configuration_view,
    contents_key,
    default_of,
    drift,
    owned_by,
    side_door,
)
from cancelpage.merchants.settings import web_url_problem
from cancelpage.models import Merchant, utcnow

if TYPE_CHECKING:
    from cancelpage.recovery.cases import Reader

PRICE_RE = re.compile(r"price_[A-Za-z0-9]{1,60}")
MAX_PRICES = 10
MAX_HEADLINE = 60  # Stripe's limit for business_profile.headline
CANCEL_TIMING_LABELS: dict[str, str] = {
    "at_period_end": "At the end of the paid period",
    "immediately": "Immediately",
}


class PortalSettingsError(ValueError):
    """The portal settings form, with a message per field."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(errors.values()))
        self.errors = errors


def settings_of(merchant: Merchant) -> dict[str, Any]:
    """The merchant's portal choices with their defaults filled in."""
    saved = merchant.portal_settings or {}
    return {
        "cancel_timing": saved.get("cancel_timing") or "at_period_end",
        "prices": list(saved.get("prices") or []),
        "headline": saved.get("headline") or "",
        "privacy_url": saved.get("privacy_url") or "",
        "terms_url": saved.get("terms_url") or "",
    }


def update_settings(merchant: Merchant, form: Mapping[str, str]) -> None:
    """Validate and keep the portal choices; PortalSettingsError names each bad field."""
    errors: dict[str, str] = {}
    timing = form.get("cancel_timing", "at_period_end")
    if timing not in PORTAL_CANCEL_MODES:
        errors["cancel_timing"] = "Choose at the end of the paid period or immediately."
    prices = [p for p in dict.fromkeys(re.split(r"[\s,]+", form.get("prices", ""))) if p]
    bad = [p for p in prices if not PRICE_RE.fullmatch(p)]
    if bad:
        errors["prices"] = f"“{bad[0][:60]}” is not a Stripe price id (price_…)."
    elif len(prices) > MAX_PRICES:
        errors["prices"] = f"List at most {MAX_PRICES} prices."
    headline = form.get("headline", "").strip()
    if len(headline) > MAX_HEADLINE:
        errors["headline"] = f"Use at most {MAX_HEADLINE} characters (Stripe's limit)."
    urls = {name: form.get(name, "").strip() for name in ("privacy_url", "terms_url")}
    for name, url in urls.items():
        problem = web_url_problem(url) if url else None
        if problem:
            errors[name] = problem
    if errors:
        raise PortalSettingsError(errors)
    merchant.portal_settings = {
        "cancel_timing": timing,
        "prices": prices,
        "headline": headline,
        **urls,
    }


def return_url(merchant: Merchant) -> str:
    """Where the portal sends customers back: the merchant's default return URL when it is on
    the allow-list, else cancelpage's own "card updated" page."""
    if links.host_allowed(merchant.default_return_url, merchant.return_hosts):
        return str(merchant.default_return_url)
    # Built from the URL map, not a request: the command line configures the portal too.
    path = current_app.url_map.bind("").build("recovery.card_done", {"slug": merchant.slug})
    return str(current_app.config["PUBLIC_BASE_URL"]) + path


def wanted(merchant: Merchant) -> WantedPortal:
    """What cancelpage's configuration must say: cancelling only when the merchant hands the
    cancel to the portal, and then with the merchant's timing."""
    chosen = settings_of(merchant)
    timing: PortalCancelMode = chosen["cancel_timing"]
    return WantedPortal(
        owner=merchant.slug,
        cancel_mode=timing if merchant.cancel_mode == "portal" else None,
        prices=tuple(chosen["prices"]),
        headline=chosen["headline"] or None,
        privacy_policy_url=chosen["privacy_url"] or None,
        terms_of_service_url=chosen["terms_url"] or None,
        default_return_url=return_url(merchant),
    )


def gateway_of(merchant: Merchant) -> Gateway:
    """The merchant's Stripe gateway when live; preview records and sends nothing."""
    return gateway_for(merchant) if merchant.live else Gateway.preview()


@dataclass(frozen=True)
class PortalStatus:
    """Where the merchant's portal stands, in plain words."""

    live: bool
    default: PortalConfigurationView | None = None
    ours: PortalConfigurationView | None = None
    side_door: str | None = None
    allows: list[str] = field(default_factory=list)
    drift: list[str] = field(default_factory=list)
    # Requests a configure sent (or, in preview, would have sent).
    requests: list[RecordedRequest] = field(default_factory=list)


def _ours(
    merchant: Merchant, views: list[PortalConfigurationView]
) -> PortalConfigurationView | None:
    by_id = next((v for v in views if v.id == merchant.portal_configuration_id and v.active), None)
    return by_id or owned_by(views, merchant.slug)


def _record_check(merchant: Merchant, lines: list[str], source: str, **extra: Any) -> None:
    merchant.portal_check = {
        "checked_at": utcnow().isoformat(timespec="seconds"),
        "source": source,
        "drift": lines,
        **extra,
    }


def status(merchant: Merchant) -> PortalStatus:
    """Read the account's configurations (live only) and say what the default one allows and
    whether cancelpage's own still says what it should. Raises BillingError when Stripe fails."""
    if not merchant.live:
        return PortalStatus(live=False)
    views = gateway_for(merchant).portal_configurations()
    default, ours = default_of(views), _ours(merchant, views)
    lines = drift(ours, wanted(merchant)) if ours is not None else []
    door = side_door(default) if default is not None else None
    _record_check(merchant, lines, "visit", side_door=door)
    return PortalStatus(
        live=True,
        default=default,
        ours=ours,
        side_door=door,
        allows=allowances(default) if default is not None else [],
        drift=lines,
    )


def default_changes(merchant: Merchant) -> list[str]:
    """What applying cancelpage's settings to the account's default configuration changes."""
    if not merchant.live:
        return []
    default = default_of(gateway_for(merchant).portal_configurations())
    return drift(default, wanted(merchant)) if default is not None else []


def configure(merchant: Merchant, *, apply_to_default: bool = False) -> PortalStatus:
    """Create or update cancelpage's configuration (and, when asked, the account's default) to
    the merchant's choices. In preview the requests are recorded and nothing is kept.

    Keys derive from the contents (and the configuration's last change), so a retry after a
    timeout is the same request, while a fix after someone edited the configuration is new.
    """
    gateway = gateway_of(merchant)
    seen = len(gateway.recorded)
    views = gateway.portal_configurations()
    ours, default = _ours(merchant, views), default_of(views)
    want = wanted(merchant)
    params = configuration_params(want, gateway.products_of(list(want.prices)))
    if ours is None:
        key = contents_key("create", merchant.slug, params)
        ours = gateway.create_portal_configuration(params, idempotency_key=key)
    elif drift(ours, want):
        key = contents_key("update", f"{ours.id}@{ours.updated}", params)
        ours = gateway.update_portal_configuration(ours.id, params, idempotency_key=key)
    if apply_to_default and default is not None and default.id != ours.id:
        # The default is the account's own: keep its name and mark it without claiming it.
        applied = {**params, "metadata": {"cancelpage_applied_by": merchant.slug}}
        del applied["name"]
        key = contents_key("default", f"{default.id}@{default.updated}", applied)
        default = gateway.update_portal_configuration(default.id, applied, idempotency_key=key)
    if merchant.live:
        merchant.portal_configuration_id = ours.id
        _record_check(merchant, drift(ours, want), "configure")
    door = side_door(default) if default is not None else None
    return PortalStatus(
        live=merchant.live,
        default=default,
        ours=ours,
        side_door=door,
        allows=allowances(default) if default is not None else [],
        drift=drift(ours, want),
        requests=gateway.recorded[seen:],
    )


def follow_settings(merchant: Merchant) -> str | None:
    """After the merchant's settings change (cancel mode, return URL), bring cancelpage's
    configuration along, so the hand-off never meets a portal without cancelling and the portal
    never keeps a cancel button the merchant no longer wants. Returns why it could not."""
    if not merchant.live or not merchant.portal_configuration_id:
        return None
    try:
        configure(merchant)
    except BillingError as err:
        return err.message
    return None


def on_configuration_updated(merchant: Merchant, reader: Reader) -> str:
    """Someone changed a portal configuration (often in Stripe's Dashboard): note what drifted
    from cancelpage's, or whether the default now lets customers cancel."""
    config_id = str(reader.event.object.get("id") or "")
    if reader.gateway is not None:
        view = reader.gateway.portal_configuration_view(config_id)
    else:
        view = configuration_view(reader.event.object)
    if view.id and view.id == merchant.portal_configuration_id:
        lines = drift(view, wanted(merchant))
        _record_check(merchant, lines, "webhook")
        return f"portal configuration drifted: {len(lines)} change(s)" if lines else "portal ok"
    if view.is_default:
        door = side_door(view)
        merchant.portal_check = {**(merchant.portal_check or {}), "side_door": door}
        return "default portal configuration lets customers cancel" if door else "default ok"
    return "ignored: not cancelpage's portal configuration"
