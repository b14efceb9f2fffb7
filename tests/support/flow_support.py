"""Helpers for the flow engine's tests: flows built by hand, the default flow changed, errors."""

from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings

from cancelpage.flows import (
    DEFAULT_FLOW,
    ContactOffer,
    CustomLinkOffer,
    DiscountOffer,
    Flow,
    FlowError,
    FreePeriodOffer,
    Offer,
    PauseOffer,
    Reason,
    Rule,
    SwitchPlanOffer,
    parse_flow,
)

FLOWS_DIR = Path(__file__).resolve().parents[2] / "cancelpage" / "flows"
# No database for hypothesis: its example store would be left in the working tree.
PROPERTY = settings(
    database=None, deadline=None, max_examples=150, suppress_health_check=[HealthCheck.too_slow]
)


def data_with(change: Callable[[dict[str, Any]], object]) -> dict[str, Any]:
    """A deep copy of DEFAULT_FLOW after `change` was applied to it."""
    data = copy.deepcopy(DEFAULT_FLOW)
    change(data)
    return data


def errors_of(data: Any) -> list[str]:
    with pytest.raises(FlowError) as caught:
        parse_flow(data)
    return caught.value.errors


def offer(data: dict[str, Any], **fields: Any) -> None:
    """Replace the first offer (discount_25_3m) with the given fields."""
    data["offers"][0] = fields


def flow_of(
    *offers: Offer, rules: tuple[Rule, ...] = (), default: tuple[str, ...] = (), cap: int = 2
) -> Flow:
    """A hand-built flow with two reasons and the given offers."""
    return Flow(
        reasons=(
            Reason("price", "Too expensive", "too_expensive"),
            Reason("bored", "Not using it", "unused"),
            Reason("old", "Retired reason", "other", enabled=False),
        ),
        offers={o.id: o for o in offers},
        rules=rules,
        default_offers=default,
        max_offers=cap,
    )


DISCOUNT = DiscountOffer("disc", "20% off", percent_off=20.0)
PAUSE = PauseOffer("pause", "Pause", months=1)
FREE = FreePeriodOffer("free", "Free month", days=30)
SWITCH = SwitchPlanOffer("switch", "Go basic", price_id="price_basic")
CONTACT = ContactOffer("talk", "Talk to us", url="mailto:help@example.com")
LINK = CustomLinkOffer("guide", "Read the guide", url="https://example.com/guide")


def ids(offers: list[Offer]) -> list[str]:
    return [o.id for o in offers]
