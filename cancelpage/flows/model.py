"""Value types of a cancel flow: reasons, targeting rules, experiments, the flow and the snapshot
(the offers are in offers.py)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from .offers import Offer

# Languages a flow's customer-facing texts can be given in (the hosted page's languages).
LOCALES: tuple[str, ...] = ("en", "de", "fr", "es")


@dataclass(frozen=True)
class Reason:
    """One answer of the exit survey."""

    code: str
    label: str
    feedback: str
    enabled: bool = True
    # The label in other languages, by locale; the customer's language, else the merchant's
    # default language, else `label`.
    labels: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "labels", dict(self.labels))


@dataclass(frozen=True)
class Condition:
    """One predicate on the snapshot, e.g. ``mrr gte 1000`` or ``attr.team in (a, b)``."""

    field: str
    op: str
    value: str | int | tuple[str, ...]

    def __post_init__(self) -> None:
        # Lists would make the condition unhashable and unequal to its parsed twin.
        if isinstance(self.value, list):
            object.__setattr__(self, "value", tuple(self.value))


# The arm of an experiment that is shown no offer in the experiment's place.
HOLDOUT = "holdout"


@dataclass(frozen=True)
class Variant:
    """One offer competing in an experiment, drawn in proportion to its weight."""

    offer: str
    weight: int = 1


# What an experiment's verdict scores: still subscribed N days after the session (from the
# status history), or the immediate save (the session's outcome).
METRICS = ("retained_30", "retained_60", "retained_90", "saved")
DEFAULT_METRIC = "retained_30"


@dataclass(frozen=True)
class Experiment:
    """Several offers sharing one place in a list of offers, plus a holdout that sees none there.

    ``min_effect`` is the smallest lift in save rate (absolute, 0.05 = five points) the merchant
    wants to detect; it sets the experiment's sample size (see cancelpage.analytics.stats).
    """

    id: str
    variants: tuple[Variant, ...]
    holdout: float = 0.2
    min_effect: float = 0.05
    metric: str = "retained_30"  # one of METRICS: what the verdict scores

    def __post_init__(self) -> None:
        object.__setattr__(self, "variants", tuple(self.variants))

    @property
    def arms(self) -> tuple[str, ...]:
        """Arm names: the holdout (when it has a share) first, then each variant's offer id."""
        offers = tuple(variant.offer for variant in self.variants)
        return (HOLDOUT, *offers) if self.holdout > 0 else offers

    @property
    def control(self) -> str:
        """The arm the variants are compared with: the holdout, or the first variant without one."""
        return self.arms[0]


# An entry of a rule's offer list: an offer id, or an experiment standing in one place.
OfferSlot: TypeAlias = str | Experiment


@dataclass(frozen=True)
class Rule:
    """Which offers to show for some reasons and segment; the first matching rule wins."""

    name: str
    reasons: tuple[str, ...] = ()
    conditions: tuple[Condition, ...] = ()
    offers: tuple[OfferSlot, ...] = ()

    def __post_init__(self) -> None:
        # Accept lists from hand-built rules while keeping equality with parsed ones.
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(self, "conditions", tuple(self.conditions))
        object.__setattr__(self, "offers", tuple(self.offers))


@dataclass(frozen=True)
class Flow:
    """A merchant's whole cancel flow. Build it with parse_flow() to have it validated."""

    reasons: tuple[Reason, ...]
    offers: Mapping[str, Offer]
    rules: tuple[Rule, ...]
    default_offers: tuple[OfferSlot, ...]
    max_offers: int = 2

    def __post_init__(self) -> None:
        # A private copy, so that a caller mutating its dict cannot change a "frozen" flow.
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(self, "offers", dict(self.offers))
        object.__setattr__(self, "rules", tuple(self.rules))
        object.__setattr__(self, "default_offers", tuple(self.default_offers))

    def reason(self, code: str) -> Reason | None:
        """The reason with this code, enabled or not."""
        for reason in self.reasons:
            if reason.code == code:
                return reason
        return None

    def enabled_reasons(self) -> tuple[Reason, ...]:
        """The reasons shown in the survey, in order."""
        return tuple(reason for reason in self.reasons if reason.enabled)

    def offer(self, offer_id: str) -> Offer | None:
        """The offer with this id, if any."""
        return self.offers.get(offer_id)

    def experiments(self) -> dict[str, Experiment]:
        """Every experiment in the rules and the default offers, by id, in flow order."""
        slots = [slot for rule in self.rules for slot in rule.offers] + list(self.default_offers)
        return {slot.id: slot for slot in slots if isinstance(slot, Experiment)}


@dataclass(frozen=True)
class Snapshot:
    """What the flow knows of the subscription (from Stripe in live mode, from link attributes in
    preview)."""

    status: str = "active"
    plan: str | None = None
    price_id: str | None = None
    amount: int = 0
    currency: str = "usd"
    interval: str = "month"
    interval_count: int = 1
    mrr: int = 0
    tenure_days: int = 0
    period_end: int | None = None
    cancel_at_period_end: bool = False
    paused: bool = False
    trial_end: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)


class FlowError(ValueError):
    """A flow definition is invalid; ``errors`` lists every problem, each prefixed with a path."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("; ".join(self.errors) if self.errors else "invalid flow")
