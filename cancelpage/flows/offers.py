"""The save offers, each kind declared once: its fields and their validation, its accept button
(its terms, in money and dates, are said by cancelpage.flows.terms), its name in the editor and
the analytics, what it keeps of the MRR, and the gateway operation that applies it.

``OFFER_TYPES`` is the registry, keyed by kind. Adding a kind means one class here (and adding it
to the registry) plus its template, ``templates/offers/<kind>.html`` (the editor's fields and the
page the customer sees once it is applied).

Pure Python like the rest of the engine: customer-facing text is a ``Message`` (a msgid marked
for extraction, with its values), said in the customer's language by the web layer; applying an
offer is data (``Application``: a gateway operation's name and its arguments), which the final
write stores before sending so that a retry is exactly the same request.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from fractions import Fraction
from typing import TYPE_CHECKING, Any, ClassVar

from ..vocabulary import (
    COUPON_DURATIONS,
    CURRENCY_RE,
    PAUSE_BEHAVIORS,
    PRICE_ID_RE,
    PRORATION_BEHAVIORS,
    CouponDuration,
    PauseBehavior,
    ProrationBehavior,
)
from . import validation as check
from .dates import free_period_end, pause_resumes_at, to_timestamp
from .money import amount_error, monthly_amount

if TYPE_CHECKING:
    from .model import Snapshot

MAX_AMOUNT_OFF = 99_999_999  # Stripe's ceiling for amounts in minor units


def N_(text: str) -> str:
    """Marks a msgid for extraction; the web layer translates it."""
    return text


def Nn_(singular: str, plural: str) -> tuple[str, str]:
    """Marks a singular/plural msgid pair for extraction (see i18n.catalogs.KEYWORDS)."""
    return singular, plural


# ---- what the customer is told -----------------------------------------------------------------


@dataclass(frozen=True)
class Percent:
    """A share to show as a percentage in the customer's language (0.25 -> "25 %")."""

    value: float


@dataclass(frozen=True)
class Money:
    """An amount in minor units to show in the customer's language (1900, "eur" -> "19,00 €")."""

    amount: int
    currency: str


@dataclass(frozen=True)
class Day:
    """A moment (unix seconds) to show as a date in the reader's language and time zone."""

    timestamp: int


@dataclass(frozen=True)
class Message:
    """A msgid (with its plural and count when it has one) and the values it names; a value may
    be a Message itself (said first: a price with its interval)."""

    text: str
    plural: str | None = None
    count: int | None = None
    values: Mapping[str, str | int | Percent | Money | Day | Message] = field(default_factory=dict)


# ---- what applying an offer needs --------------------------------------------------------------


@dataclass(frozen=True)
class CouponTerms:
    """The Stripe coupon a discount needs, created once before the offer is applied."""

    name: str
    percent_off: float | None
    amount_off: int | None
    currency: str | None
    duration: CouponDuration
    duration_in_months: int | None

    @property
    def fingerprint(self) -> str:
        """The terms as one string: a coupon per offer and terms."""
        return (
            f"{self.percent_off}|{self.amount_off}|{self.currency}|{self.duration}|"
            f"{self.duration_in_months}"
        )


@dataclass(frozen=True)
class Target:
    """The subscription an accepted offer is applied to, and when it was first accepted."""

    item_id: str
    snapshot: Snapshot
    now: datetime
    coupon_id: str | None = None  # the offer's coupon (see Offer.coupon), already created


@dataclass(frozen=True)
class Application:
    """The gateway write that applies an offer: the operation (a method of billing.Gateway), its
    keyword arguments (plain JSON values: they are stored before the write is sent), and what
    the session remembers of it."""

    operation: str
    arguments: Mapping[str, Any]
    detail: Mapping[str, Any] = field(default_factory=dict)


# ---- the kinds -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """Base of the save offers; concrete kinds are the subclasses below."""

    id: str
    title: str
    body: str = ""
    # Title and body in other languages, by locale (as Reason.labels).
    titles: Mapping[str, str] = field(default_factory=dict)
    bodies: Mapping[str, str] = field(default_factory=dict)

    kind: ClassVar[str]
    # The kind's name in the flow editor and the analytics.
    label: ClassVar[str]
    # Name of the gateway method that applies the offer; None when Stripe is not touched.
    operation: ClassVar[str | None] = None
    # The accept button's msgid.
    accept_label: ClassVar[str] = N_("Show me")
    # The form fields of the kind, beyond id, title and body, in the editor's order.
    fields: ClassVar[tuple[str, ...]] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "titles", dict(self.titles))
        object.__setattr__(self, "bodies", dict(self.bodies))

    @property
    def writes_to_stripe(self) -> bool:
        """Whether accepting the offer changes the subscription in Stripe."""
        return self.operation is not None

    @classmethod
    def parse_fields(cls, obj: Mapping[Any, Any], path: str, errs: check.Errors) -> dict[str, Any]:
        """The kind's own fields from the offer's JSON object, every problem added to ``errs``."""
        raise NotImplementedError

    def applies_to(self, snapshot: Snapshot) -> bool:
        """Whether the offer still makes sense for this subscription (beyond its status)."""
        return True

    def kept_share(self) -> Fraction | None:
        """Share of the MRR kept while the accepted offer runs; None when it depends on the
        subscription (see kept_mrr)."""
        return Fraction(0)  # billing stops or changes to an amount not known here

    def kept_mrr(
        self, mrr: int, currency: str, interval: str | None, interval_count: Any
    ) -> Fraction:
        """The MRR kept while the accepted offer runs, for one subscription."""
        return (self.kept_share() or Fraction(0)) * mrr

    def coupon(self) -> CouponTerms | None:
        """The coupon to create before applying the offer, if it needs one."""
        return None

    def application(self, target: Target) -> Application | None:
        """The gateway write that applies the offer (None when Stripe is not touched)."""
        return None


@dataclass(frozen=True)
class DiscountOffer(Offer):
    """A coupon on the subscription: percent or fixed amount, for once, some months or forever."""

    kind: ClassVar[str] = "discount"
    label: ClassVar[str] = "Discount"
    operation: ClassVar[str | None] = "apply_discount"
    accept_label: ClassVar[str] = N_("Accept the discount")
    fields: ClassVar[tuple[str, ...]] = (
        "percent_off",
        "amount_off",
        "currency",
        "duration",
        "duration_in_months",
    )

    percent_off: float | None = None
    amount_off: int | None = None
    currency: str | None = None
    duration: CouponDuration = "once"
    duration_in_months: int | None = None

    @classmethod
    def parse_fields(cls, obj: Mapping[Any, Any], path: str, errs: check.Errors) -> dict[str, Any]:
        percent_raw = obj.get("percent_off")
        amount_raw = obj.get("amount_off")
        if percent_raw is None and amount_raw is None:
            errs.add(path, "one of percent_off or amount_off is required")
        elif percent_raw is not None and amount_raw is not None:
            errs.add(path, "set percent_off or amount_off, not both")
        percent_off = _percent_off(percent_raw, path, errs)
        amount_off = None
        currency = None
        if amount_raw is not None:
            amount_off = check.integer(obj, "amount_off", path, errs, 1, MAX_AMOUNT_OFF)
            currency = check.pattern(
                obj,
                "currency",
                path,
                errs,
                CURRENCY_RE,
                "must be a lower-case 3-letter currency code",
            )
            refused = amount_error(amount_off, currency) if amount_off and currency else None
            if refused:
                errs.add(check.join(path, "amount_off"), refused)
        elif obj.get("currency") is not None:
            errs.add(check.join(path, "currency"), "only allowed with amount_off")
        duration = check.choice(obj, "duration", path, errs, COUPON_DURATIONS, default="once")
        months = None
        if duration == "repeating":
            months = check.integer(obj, "duration_in_months", path, errs, 1, 36)
        elif obj.get("duration_in_months") is not None:
            errs.add(
                check.join(path, "duration_in_months"),
                "only allowed when duration is 'repeating'",
            )
        return {
            "percent_off": percent_off,
            "amount_off": amount_off,
            "currency": currency,
            "duration": duration,
            "duration_in_months": months,
        }

    def applies_to(self, snapshot: Snapshot) -> bool:
        """Stripe applies an amount off only to a subscription in the coupon's currency: in
        another currency the offer would promise nothing, so it is not shown."""
        return self.amount_off is None or self.currency == snapshot.currency.lower()

    def kept_share(self) -> Fraction | None:
        if self.percent_off is None:
            return None
        return 1 - Fraction(str(self.percent_off)) / 100

    def kept_mrr(
        self, mrr: int, currency: str, interval: str | None, interval_count: Any
    ) -> Fraction:
        """MRR minus the discount's monthly share (amount over the billing interval), at least 0.
        An amount in another currency takes nothing off (Stripe applies a coupon's amount only
        to a subscription in the coupon's currency)."""
        share = self.kept_share()
        if share is not None:
            return share * mrr
        if self.currency and self.currency != currency.lower():
            return Fraction(mrr)
        try:
            count = int(interval_count or 1)
            monthly_discount = monthly_amount(self.amount_off or 0, interval or "month", count)
        except ValueError:
            monthly_discount = self.amount_off or 0
        return Fraction(max(0, mrr - monthly_discount))

    def coupon(self) -> CouponTerms:
        return CouponTerms(
            name=self.title[:40],
            percent_off=self.percent_off,
            amount_off=self.amount_off,
            currency=self.currency,
            duration=self.duration,
            duration_in_months=self.duration_in_months,
        )

    def application(self, target: Target) -> Application:
        return Application("apply_discount", {"coupon_id": target.coupon_id or ""})


def _percent_off(raw: Any, path: str, errs: check.Errors) -> float | None:
    if raw is None:
        return None
    where = check.join(path, "percent_off")
    if not isinstance(raw, int | float) or isinstance(raw, bool):
        errs.add(where, "must be a number")
    elif not 1 <= raw <= 100:  # also false for NaN; inf is out of range
        errs.add(where, "must be between 1 and 100")
    else:
        return float(raw)
    return None


@dataclass(frozen=True)
class PauseOffer(Offer):
    """Pause collection for a number of months."""

    kind: ClassVar[str] = "pause"
    label: ClassVar[str] = "Pause"
    operation: ClassVar[str | None] = "pause"
    accept_label: ClassVar[str] = N_("Pause my subscription")
    fields: ClassVar[tuple[str, ...]] = ("months", "behavior")

    months: int = 1
    behavior: PauseBehavior = "void"

    @classmethod
    def parse_fields(cls, obj: Mapping[Any, Any], path: str, errs: check.Errors) -> dict[str, Any]:
        return {
            "months": check.integer(obj, "months", path, errs, 1, 12, default=1),
            "behavior": check.choice(obj, "behavior", path, errs, PAUSE_BEHAVIORS, default="void"),
        }

    def applies_to(self, snapshot: Snapshot) -> bool:
        return not snapshot.paused

    def application(self, target: Target) -> Application:
        resumes_at = to_timestamp(pause_resumes_at(self, target.now))
        return Application(
            "pause",
            {"resumes_at": resumes_at, "behavior": self.behavior},
            detail={"resumes_at": resumes_at},
        )


@dataclass(frozen=True)
class SwitchPlanOffer(Offer):
    """Move the subscription to another (usually cheaper) price."""

    kind: ClassVar[str] = "switch_plan"
    label: ClassVar[str] = "Switch plan"
    operation: ClassVar[str | None] = "switch_price"
    accept_label: ClassVar[str] = N_("Switch my plan")
    fields: ClassVar[tuple[str, ...]] = ("price_id", "proration_behavior", "plan_name", "amount")

    price_id: str = ""
    proration_behavior: ProrationBehavior = "create_prorations"
    # The new plan as the customer reads it: its name and its price (minor units, in the
    # subscription's currency and interval: Stripe keeps one currency per subscription).
    plan_name: str | None = None
    amount: int | None = None

    @classmethod
    def parse_fields(cls, obj: Mapping[Any, Any], path: str, errs: check.Errors) -> dict[str, Any]:
        return {
            "price_id": check.pattern(
                obj,
                "price_id",
                path,
                errs,
                PRICE_ID_RE,
                "must be a Stripe price id (price_... or plan_...)",
            ),
            "proration_behavior": check.choice(
                obj,
                "proration_behavior",
                path,
                errs,
                PRORATION_BEHAVIORS,
                default="create_prorations",
            ),
            "plan_name": check.text(obj, "plan_name", path, errs, max_len=80, required=False)
            or None,
            "amount": (
                check.integer(obj, "amount", path, errs, 0, MAX_AMOUNT_OFF)
                if obj.get("amount") is not None
                else None
            ),
        }

    def applies_to(self, snapshot: Snapshot) -> bool:
        return self.price_id != snapshot.price_id

    def application(self, target: Target) -> Application:
        return Application(
            "switch_price",
            {
                "item_id": target.item_id,
                "price_id": self.price_id,
                "proration_behavior": self.proration_behavior,
            },
        )


@dataclass(frozen=True)
class FreePeriodOffer(Offer):
    """Some free days, applied as a trial extension."""

    kind: ClassVar[str] = "free_period"
    label: ClassVar[str] = "Free period"
    operation: ClassVar[str | None] = "extend_trial"
    accept_label: ClassVar[str] = N_("Take the free time")
    fields: ClassVar[tuple[str, ...]] = ("days",)

    days: int = 30

    @classmethod
    def parse_fields(cls, obj: Mapping[Any, Any], path: str, errs: check.Errors) -> dict[str, Any]:
        return {"days": check.integer(obj, "days", path, errs, 1, 365, default=30)}

    def application(self, target: Target) -> Application:
        trial_end = to_timestamp(free_period_end(self, target.snapshot, target.now))
        return Application(
            "extend_trial", {"trial_end": trial_end}, detail={"free_until": trial_end}
        )


def _url(obj: Mapping[Any, Any], path: str, errs: check.Errors, *, mailto: bool) -> dict[str, Any]:
    url = check.text(obj, "url", path, errs, max_len=check.MAX_URL)
    if url is not None and not check.valid_url(url, mailto=mailto, local_http=not mailto):
        rule = "must be a mailto: or https:// address" if mailto else "must be an https:// address"
        errs.add(check.join(path, "url"), rule)
    return {"url": url}


@dataclass(frozen=True)
class ContactOffer(Offer):
    """Invite the customer to talk to the merchant (mail or web page)."""

    kind: ClassVar[str] = "contact"
    label: ClassVar[str] = "Contact"
    accept_label: ClassVar[str] = N_("Contact us")
    fields: ClassVar[tuple[str, ...]] = ("url",)

    url: str = ""

    @classmethod
    def parse_fields(cls, obj: Mapping[Any, Any], path: str, errs: check.Errors) -> dict[str, Any]:
        return _url(obj, path, errs, mailto=True)

    def kept_share(self) -> Fraction:
        return Fraction(1)  # billing unchanged


@dataclass(frozen=True)
class CustomLinkOffer(Offer):
    """Send the customer to a page of the merchant's choosing."""

    kind: ClassVar[str] = "custom_link"
    label: ClassVar[str] = "Custom link"
    fields: ClassVar[tuple[str, ...]] = ("url",)

    url: str = ""

    @classmethod
    def parse_fields(cls, obj: Mapping[Any, Any], path: str, errs: check.Errors) -> dict[str, Any]:
        return _url(obj, path, errs, mailto=False)

    def kept_share(self) -> Fraction:
        return Fraction(1)  # billing unchanged


# kind -> class, in the order the editor lists them.
OFFER_TYPES: dict[str, type[Offer]] = {
    cls.kind: cls
    for cls in (
        DiscountOffer,
        PauseOffer,
        SwitchPlanOffer,
        FreePeriodOffer,
        ContactOffer,
        CustomLinkOffer,
    )
}
OFFER_KINDS: tuple[str, ...] = tuple(OFFER_TYPES)
