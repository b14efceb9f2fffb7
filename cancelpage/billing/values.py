"""Stripe objects as plain values: subscriptions, invoices, customers and cards, parsed
defensively (a missing or odd field never raises)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cancelpage.vocabulary import LIVE_STATUSES


@dataclass(frozen=True)
class SubscriptionView:
    """What the app needs to know about one subscription, as plain values."""

    id: str
    customer: str
    status: str
    item_id: str | None
    price_id: str | None
    plan_name: str | None
    unit_amount: int
    currency: str
    interval: str
    interval_count: int
    quantity: int
    current_period_end: int | None
    created: int
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    trial_end: int | None
    paused: bool
    discount_coupons: tuple[str, ...]
    preferred_locales: tuple[str, ...]
    # Personal data: only set when the customer was expanded; never stored with the snapshot.
    customer_email: str | None = None
    # cancellation_details.reason: cancellation_requested | payment_failed | payment_disputed
    cancellation_reason: str | None = None
    ended_at: int | None = None
    # The customer's address: country (ISO 3166-1 alpha-2) and state, when expanded and known.
    customer_country: str | None = None
    customer_region: str | None = None


@dataclass(frozen=True)
class InvoiceView:
    """An invoice as the recovery emails need it."""

    id: str
    customer: str
    customer_email: str | None
    subscription: str | None
    status: str  # draft | open | paid | uncollectible | void
    amount_due: int
    amount_paid: int
    amount_remaining: int
    currency: str
    attempt_count: int
    preferred_locales: tuple[str, ...]
    # Promotion codes behind the invoice's discounts (a win-back code redeemed shows here).
    promotion_codes: tuple[str, ...] = ()


@dataclass(frozen=True)
class CustomerView:
    """A customer's contact details and whether any subscription is still running."""

    id: str
    email: str | None
    preferred_locales: tuple[str, ...]
    deleted: bool
    live_subscription: str | None  # an active, trialing or past_due subscription, if any
    default_payment_method: str | None = None  # invoice_settings.default_payment_method


@dataclass(frozen=True)
class CardOnFile:
    """A card that pays for a subscription (or sits on a customer), with its expiry."""

    payment_method: str  # pm_..., card_... or src_...
    customer: str
    subscription: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    customer_email: str | None = None
    preferred_locales: tuple[str, ...] = ()


def as_map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def as_list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def as_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def as_int(value: object) -> int | None:
    # bool is an int subclass; a stray True must not read as timestamp 1.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def id_of(value: object) -> str | None:
    """An expandable field is either an id or an object carrying one."""
    return as_str(value) or as_str(as_map(value).get("id"))


def _coupon_of(discount: object) -> str | None:
    if not isinstance(discount, Mapping):
        return None  # an unexpanded discount id ("di_...") says nothing about its coupon
    source = as_map(discount.get("source"))
    # API 2025+ nests the coupon under source; older versions had it on the discount itself.
    return id_of(source.get("coupon")) or id_of(discount.get("coupon"))


def subscription_view(data: Mapping[str, Any]) -> SubscriptionView:
    """Parse a subscription object (a read, a write's answer, or the one inside a webhook event)."""
    items = as_list(as_map(data.get("items")).get("data"))
    item = as_map(items[0]) if items else {}
    price = as_map(item.get("price"))
    recurring = as_map(price.get("recurring"))
    product = as_map(price.get("product"))
    customer = data.get("customer")
    locales: tuple[str, ...] = ()
    if isinstance(customer, Mapping) and not customer.get("deleted"):
        locales = tuple(x for x in as_list(customer.get("preferred_locales")) if isinstance(x, str))
    coupons = tuple(c for c in (_coupon_of(d) for d in as_list(data.get("discounts"))) if c)
    email = as_str(customer.get("email")) if isinstance(customer, Mapping) else None
    address = as_map(as_map(customer).get("address"))
    return SubscriptionView(
        id=as_str(data.get("id")) or "",
        customer=id_of(customer) or "",
        status=as_str(data.get("status")) or "",
        item_id=as_str(item.get("id")),
        price_id=as_str(price.get("id")),
        plan_name=as_str(price.get("nickname"))
        or (None if product.get("deleted") else as_str(product.get("name"))),
        unit_amount=as_int(price.get("unit_amount")) or 0,
        currency=as_str(price.get("currency")) or as_str(data.get("currency")) or "",
        interval=as_str(recurring.get("interval")) or "",
        interval_count=as_int(recurring.get("interval_count")) or 1,
        quantity=as_int(item.get("quantity")) or 1,
        # API 2026 moved the period onto items; the subscription-level field is a fallback only.
        current_period_end=as_int(item.get("current_period_end"))
        or as_int(data.get("current_period_end")),
        created=as_int(data.get("created")) or 0,
        cancel_at_period_end=data.get("cancel_at_period_end") is True,
        cancel_at=as_int(data.get("cancel_at")),
        canceled_at=as_int(data.get("canceled_at")),
        trial_end=as_int(data.get("trial_end")),
        paused=data.get("pause_collection") is not None,
        discount_coupons=coupons,
        preferred_locales=locales,
        customer_email=email,
        cancellation_reason=as_str(as_map(data.get("cancellation_details")).get("reason")),
        ended_at=as_int(data.get("ended_at")),
        customer_country=as_str(address.get("country")),
        customer_region=as_str(address.get("state")),
    )


def _locales_of(customer: object) -> tuple[str, ...]:
    if not isinstance(customer, Mapping) or customer.get("deleted"):
        return ()
    return tuple(x for x in as_list(customer.get("preferred_locales")) if isinstance(x, str))


def invoice_view(data: Mapping[str, Any]) -> InvoiceView:
    """Parse an invoice; API 2025+ keeps the subscription under parent.subscription_details."""
    details = as_map(as_map(data.get("parent")).get("subscription_details"))
    subscription = id_of(details.get("subscription")) or id_of(data.get("subscription"))
    customer = data.get("customer")
    amount_due = as_int(data.get("amount_due")) or 0
    amount_paid = as_int(data.get("amount_paid")) or 0
    remaining = as_int(data.get("amount_remaining"))
    return InvoiceView(
        id=as_str(data.get("id")) or "",
        customer=id_of(customer) or "",
        customer_email=as_str(data.get("customer_email"))
        or (as_str(customer.get("email")) if isinstance(customer, Mapping) else None),
        subscription=subscription,
        status=as_str(data.get("status")) or "",
        amount_due=amount_due,
        amount_paid=amount_paid,
        amount_remaining=remaining if remaining is not None else amount_due - amount_paid,
        currency=as_str(data.get("currency")) or "",
        attempt_count=as_int(data.get("attempt_count")) or 0,
        preferred_locales=_locales_of(customer),
        promotion_codes=tuple(
            code for code in (promotion_code_of(d) for d in as_list(data.get("discounts"))) if code
        ),
    )


def promotion_code_of(discount: object) -> str | None:
    """The promotion code a discount came from (expanded discounts only)."""
    return id_of(as_map(discount).get("promotion_code"))


def customer_view(data: Mapping[str, Any]) -> CustomerView:
    """Parse a customer expanded with its subscriptions."""
    subscriptions = as_list(as_map(data.get("subscriptions")).get("data"))
    live = next(
        (
            as_str(as_map(s).get("id"))
            for s in subscriptions
            if as_map(s).get("status") in LIVE_STATUSES
        ),
        None,
    )
    return CustomerView(
        id=as_str(data.get("id")) or "",
        email=as_str(data.get("email")),
        preferred_locales=_locales_of(data),
        deleted=data.get("deleted") is True,
        live_subscription=live,
        default_payment_method=id_of(
            as_map(data.get("invoice_settings")).get("default_payment_method")
        ),
    )


def _card_details(card: Mapping[str, Any]) -> tuple[str, str, int, int] | None:
    last4, month, year = (
        as_str(card.get("last4")),
        as_int(card.get("exp_month")),
        as_int(card.get("exp_year")),
    )
    if last4 is None or month is None or year is None:
        return None
    return (as_str(card.get("brand")) or "card", last4, month, year)


def card_from_source(data: Mapping[str, Any]) -> CardOnFile | None:
    """The card in a ``customer.source.expiring`` event: a card object, or a card source."""
    card = data if data.get("object") == "card" else as_map(data.get("card"))
    details = _card_details(card)
    payment_method, customer = as_str(data.get("id")), id_of(data.get("customer"))
    if details is None or payment_method is None or customer is None:
        return None
    brand, last4, month, year = details
    return CardOnFile(payment_method, customer, None, brand, last4, month, year)


def card_on_file(subscription: Mapping[str, Any]) -> CardOnFile | None:
    """The card that pays a subscription: its own default, else the customer's default."""
    customer = subscription.get("customer")
    settings = as_map(as_map(customer).get("invoice_settings"))
    for method in (
        subscription.get("default_payment_method"),
        settings.get("default_payment_method"),
    ):
        method = as_map(method)
        details = (
            _card_details(as_map(method.get("card"))) if method.get("type") == "card" else None
        )
        if details is None:
            continue
        brand, last4, month, year = details
        return CardOnFile(
            payment_method=as_str(method.get("id")) or "",
            customer=id_of(customer) or "",
            subscription=as_str(subscription.get("id")),
            brand=brand,
            last4=last4,
            exp_month=month,
            exp_year=year,
            customer_email=as_str(as_map(customer).get("email")),
            preferred_locales=_locales_of(customer),
        )
    return None


# --- what the revenue scan reads --------------------------------------------------------------


@dataclass(frozen=True)
class PricedItem:
    """One subscription item's recurring price: amount per interval in minor units."""

    unit_amount: int | None  # None for tiered or metered prices: no fixed amount to count
    quantity: int
    interval: str
    interval_count: int


@dataclass(frozen=True)
class DiscountTerms:
    """A discount on a subscription and the coupon behind it."""

    percent_off: float | None
    amount_off: int | None
    currency: str | None
    end: int | None  # when the discount stops applying (None: forever)


@dataclass(frozen=True)
class ScannedSubscription:
    """A subscription as the revenue scan counts it (no personal data)."""

    id: str
    status: str
    currency: str
    created: int
    ended_at: int | None
    cancel_at_period_end: bool
    cancel_at: int | None
    # cancellation_requested | payment_failed | payment_disputed | None
    cancellation_reason: str | None
    items: tuple[PricedItem, ...]
    discounts: tuple[DiscountTerms, ...]


@dataclass(frozen=True)
class ScannedInvoice:
    """An invoice as the revenue scan counts it."""

    id: str
    status: str
    currency: str
    created: int
    amount_due: int
    amount_remaining: int
    attempt_count: int


def _priced_item(item: Mapping[str, Any]) -> PricedItem:
    price = as_map(item.get("price"))
    recurring = as_map(price.get("recurring"))
    metered = recurring.get("usage_type") == "metered"
    return PricedItem(
        unit_amount=None if metered else as_int(price.get("unit_amount")),
        quantity=as_int(item.get("quantity")) or 1,
        interval=as_str(recurring.get("interval")) or "month",
        interval_count=as_int(recurring.get("interval_count")) or 1,
    )


def _discount_terms(discount: object) -> DiscountTerms | None:
    """An expanded discount (``discounts.source.coupon``); an unexpanded id says nothing."""
    discount = as_map(discount)
    coupon = as_map(as_map(discount.get("source")).get("coupon")) or as_map(discount.get("coupon"))
    if not coupon:
        return None
    percent = coupon.get("percent_off")
    return DiscountTerms(
        percent_off=float(percent) if isinstance(percent, int | float) else None,
        amount_off=as_int(coupon.get("amount_off")),
        currency=as_str(coupon.get("currency")),
        end=as_int(discount.get("end")),
    )


def scanned_subscription(data: Mapping[str, Any]) -> ScannedSubscription:
    """Parse a subscription from a list page (prices inline, discounts expanded)."""
    items = as_list(as_map(data.get("items")).get("data"))
    details = as_map(data.get("cancellation_details"))
    discounts = (_discount_terms(d) for d in as_list(data.get("discounts")))
    return ScannedSubscription(
        id=as_str(data.get("id")) or "",
        status=as_str(data.get("status")) or "",
        currency=as_str(data.get("currency")) or "",
        created=as_int(data.get("created")) or 0,
        ended_at=as_int(data.get("ended_at")) or as_int(data.get("canceled_at")),
        cancel_at_period_end=data.get("cancel_at_period_end") is True,
        cancel_at=as_int(data.get("cancel_at")),
        cancellation_reason=as_str(details.get("reason")),
        items=tuple(_priced_item(as_map(i)) for i in items),
        discounts=tuple(d for d in discounts if d is not None),
    )


def scanned_invoice(data: Mapping[str, Any]) -> ScannedInvoice:
    """Parse an invoice from a list page."""
    amount_due = as_int(data.get("amount_due")) or 0
    remaining = as_int(data.get("amount_remaining"))
    return ScannedInvoice(
        id=as_str(data.get("id")) or "",
        status=as_str(data.get("status")) or "",
        currency=as_str(data.get("currency")) or "",
        created=as_int(data.get("created")) or 0,
        amount_due=amount_due,
        amount_remaining=remaining if remaining is not None else amount_due,
        attempt_count=as_int(data.get("attempt_count")) or 0,
    )
