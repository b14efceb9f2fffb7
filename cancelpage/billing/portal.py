"""Stripe's customer portal configurations as plain values: what one lets customers do, what
cancelpage wants its own to say, the parameters that say it, and what drifted between the two.

A portal configuration with "Cancel subscription" on is a side door around the cancel flow:
customers who open the portal from a card-update email or the merchant's account page can cancel
there without seeing the survey or an offer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from stripe.params.billing_portal import (
    ConfigurationCreateParams,
    ConfigurationCreateParamsBusinessProfile,
    ConfigurationCreateParamsFeatures,
    ConfigurationCreateParamsFeaturesSubscriptionUpdate,
    ConfigurationCreateParamsFeaturesSubscriptionUpdateProduct,
)

from cancelpage.billing.values import as_int, as_list, as_map, as_str
from cancelpage.vocabulary import FEEDBACK_CODES

PortalCancelMode = Literal["at_period_end", "immediately"]
PORTAL_CANCEL_MODES: tuple[PortalCancelMode, ...] = ("at_period_end", "immediately")

# Marks the configuration cancelpage owns (metadata), so it is found again even without its id.
OWNER_KEY = "cancelpage_merchant"


@dataclass(frozen=True)
class PortalConfigurationView:
    """What one portal configuration lets customers do."""

    id: str
    active: bool
    is_default: bool
    owner: str | None  # the merchant slug in metadata when cancelpage manages it
    cancel: bool
    cancel_mode: str | None
    cancel_reasons: bool
    plan_changes: bool
    plan_prices: tuple[str, ...]
    quantity_changes: bool
    promotion_codes: bool
    pause: bool
    payment_method_update: bool
    invoice_history: bool
    customer_updates: tuple[str, ...]  # empty when customers cannot edit their details
    headline: str | None
    privacy_policy_url: str | None
    terms_of_service_url: str | None
    default_return_url: str | None
    updated: int = 0


@dataclass(frozen=True)
class WantedPortal:
    """The configuration cancelpage keeps for a merchant, from the merchant's settings."""

    owner: str
    cancel_mode: PortalCancelMode | None  # None: customers cannot cancel in the portal
    prices: tuple[str, ...]  # plan switching only among these; none turns it off
    headline: str | None
    privacy_policy_url: str | None
    terms_of_service_url: str | None
    default_return_url: str


def _enabled(feature: object) -> bool:
    return as_map(feature).get("enabled") is True


def configuration_view(data: Mapping[str, Any]) -> PortalConfigurationView:
    """Parse a billing_portal.configuration object (a read, a write's answer, an event)."""
    features = as_map(data.get("features"))
    cancel = as_map(features.get("subscription_cancel"))
    update = as_map(features.get("subscription_update"))
    allowed = [x for x in as_list(update.get("default_allowed_updates")) if isinstance(x, str)]
    products = [as_map(p) for p in as_list(update.get("products"))]
    prices = tuple(
        sorted(str(x) for p in products for x in as_list(p.get("prices")) if isinstance(x, str))
    )
    quantity = "quantity" in allowed or any(
        _enabled(p.get("adjustable_quantity")) for p in products
    )
    customer = as_map(features.get("customer_update"))
    profile = as_map(data.get("business_profile"))
    return PortalConfigurationView(
        id=as_str(data.get("id")) or "",
        active=data.get("active") is not False,
        is_default=data.get("is_default") is True,
        owner=as_str(as_map(data.get("metadata")).get(OWNER_KEY)),
        cancel=_enabled(cancel),
        cancel_mode=as_str(cancel.get("mode")),
        cancel_reasons=_enabled(cancel.get("cancellation_reason")),
        plan_changes=_enabled(update) and "price" in allowed,
        plan_prices=prices,
        quantity_changes=_enabled(update) and quantity,
        promotion_codes=_enabled(update) and "promotion_code" in allowed,
        pause=_enabled(features.get("subscription_pause")),
        payment_method_update=_enabled(features.get("payment_method_update")),
        invoice_history=_enabled(features.get("invoice_history")),
        customer_updates=tuple(
            sorted(x for x in as_list(customer.get("allowed_updates")) if isinstance(x, str))
        )
        if _enabled(customer)
        else (),
        headline=as_str(profile.get("headline")),
        privacy_policy_url=as_str(profile.get("privacy_policy_url")),
        terms_of_service_url=as_str(profile.get("terms_of_service_url")),
        default_return_url=as_str(data.get("default_return_url")),
        updated=as_int(data.get("updated")) or 0,
    )


def default_of(views: Sequence[PortalConfigurationView]) -> PortalConfigurationView | None:
    """The account's default configuration: what a portal session without one shows."""
    return next((v for v in views if v.is_default), None)


def owned_by(
    views: Sequence[PortalConfigurationView], owner: str
) -> PortalConfigurationView | None:
    """The active configuration cancelpage made for this merchant, found by its metadata."""
    return next((v for v in views if v.owner == owner and v.active), None)


_CANCEL_MODE_WORDS = {"at_period_end": "at the end of the paid period", "immediately": "at once"}


def side_door(view: PortalConfigurationView) -> str | None:
    """In plain words, how this configuration lets customers cancel without cancelpage."""
    if not view.cancel:
        return None
    when = _CANCEL_MODE_WORDS.get(view.cancel_mode or "", "")
    return (
        "Customers can cancel in Stripe's portal"
        + (f" ({when})" if when else "")
        + " without seeing your cancel page, its survey or an offer."
    )


def allowances(view: PortalConfigurationView) -> list[str]:
    """Everything else this configuration lets customers do, in plain words."""
    said: list[str] = []
    if view.plan_changes:
        which = ", ".join(view.plan_prices) if view.plan_prices else "any price"
        said.append(f"Switch plans (to {which}).")
    if view.quantity_changes:
        said.append("Change quantities.")
    if view.promotion_codes:
        said.append("Apply promotion codes.")
    if view.pause:
        said.append("Pause their subscription.")
    if view.payment_method_update:
        said.append("Update their payment method.")
    if view.invoice_history:
        said.append("See their invoice history.")
    if view.customer_updates:
        said.append(f"Edit their {', '.join(view.customer_updates)}.")
    return said


def _on_off(value: bool) -> str:
    return "on" if value else "off"


def drift(view: PortalConfigurationView, wanted: WantedPortal) -> list[str]:
    """What differs between a configuration and what cancelpage wants, one line per field."""
    found: list[str] = []

    def differs(label: str, now: object, want: object) -> None:
        if now != want:
            found.append(f"{label}: {now or 'none'} in Stripe, cancelpage wants {want or 'none'}.")

    if not view.active:
        found.append("The configuration was deactivated in Stripe.")
    differs("Cancel subscription", _on_off(view.cancel), _on_off(wanted.cancel_mode is not None))
    if wanted.cancel_mode is not None and view.cancel:
        differs("Cancel timing", view.cancel_mode, wanted.cancel_mode)
        differs("Cancellation reasons", _on_off(view.cancel_reasons), "on")
    differs("Plan switching prices", ", ".join(view.plan_prices), ", ".join(sorted(wanted.prices)))
    differs("Quantity changes", _on_off(view.quantity_changes), "off")
    differs("Promotion codes", _on_off(view.promotion_codes), "off")
    differs("Pause", _on_off(view.pause), "off")
    differs("Payment method update", _on_off(view.payment_method_update), "on")
    differs("Invoice history", _on_off(view.invoice_history), "on")
    differs("Customer details", ", ".join(view.customer_updates), "address, email")
    differs("Headline", view.headline, wanted.headline)
    differs("Privacy policy URL", view.privacy_policy_url, wanted.privacy_policy_url)
    differs("Terms of service URL", view.terms_of_service_url, wanted.terms_of_service_url)
    differs("Default return URL", view.default_return_url, wanted.default_return_url)
    return found


def configuration_params(
    wanted: WantedPortal, products: Mapping[str, str]
) -> ConfigurationCreateParams:
    """The create (and update) parameters for cancelpage's configuration.

    ``products`` maps each wanted price to its product (Stripe groups switchable prices by
    product). Every feature is set explicitly, so an update also turns off what someone turned
    on in Stripe's Dashboard.
    """
    features: ConfigurationCreateParamsFeatures = {
        "payment_method_update": {"enabled": True},
        "invoice_history": {"enabled": True},
        "customer_update": {"enabled": True, "allowed_updates": ["email", "address"]},
        "subscription_pause": {"enabled": False},
        "subscription_cancel": {"enabled": False},
        "subscription_update": _plan_switching(wanted.prices, products),
    }
    if wanted.cancel_mode is not None:
        features["subscription_cancel"] = {
            "enabled": True,
            "mode": wanted.cancel_mode,
            "cancellation_reason": {"enabled": True, "options": list(FEEDBACK_CODES)},
        }
    profile: ConfigurationCreateParamsBusinessProfile = {"headline": wanted.headline or ""}
    if wanted.privacy_policy_url:
        profile["privacy_policy_url"] = wanted.privacy_policy_url
    if wanted.terms_of_service_url:
        profile["terms_of_service_url"] = wanted.terms_of_service_url
    return {
        "name": f"cancelpage ({wanted.owner})",
        "features": features,
        "business_profile": profile,
        "default_return_url": wanted.default_return_url,
        "metadata": {OWNER_KEY: wanted.owner},
    }


def _plan_switching(
    prices: Sequence[str], products: Mapping[str, str]
) -> ConfigurationCreateParamsFeaturesSubscriptionUpdate:
    if not prices:
        return {"enabled": False}
    grouped: dict[str, list[str]] = {}
    for price in prices:
        grouped.setdefault(products[price], []).append(price)
    listed: list[ConfigurationCreateParamsFeaturesSubscriptionUpdateProduct] = [
        {"product": product, "prices": sorted(grouped[product])} for product in sorted(grouped)
    ]
    return {
        "enabled": True,
        "default_allowed_updates": ["price"],
        "products": listed,
        "proration_behavior": "create_prorations",
    }


def contents_key(action: str, target: str, params: Mapping[str, Any]) -> str:
    """An idempotency key from what is written: a retry of the same contents is the same request,
    and new contents (or a configuration changed since) get a new key."""
    material = json.dumps([action, target, params], sort_keys=True, separators=(",", ":"))
    return "cancelpage-portal-" + hashlib.sha256(material.encode()).hexdigest()[:40]
