"""The default flow parses, round-trips and says what it offers."""

from __future__ import annotations

from typing import Any

import pytest
from support.flow_support import (
    DISCOUNT,
    PAUSE,
    data_with,
    flow_of,
    offer,
)

from cancelpage.flows import (
    DEFAULT_FLOW,
    FEEDBACK_CODES,
    Condition,
    ContactOffer,
    CustomLinkOffer,
    DiscountOffer,
    Flow,
    FreePeriodOffer,
    Offer,
    PauseOffer,
    Reason,
    Rule,
    SwitchPlanOffer,
    default_flow,
    flow_to_dict,
    parse_flow,
)

# --- parse_flow: the default ------------------------------------------------------------------


def test_default_flow_has_the_stripe_reasons_in_order() -> None:
    flow = default_flow()
    assert [r.code for r in flow.reasons] == [
        "too_expensive",
        "unused",
        "missing_features",
        "switched_service",
        "too_complex",
        "low_quality",
        "customer_service",
        "other",
    ]
    assert sorted(r.code for r in flow.reasons) == list(FEEDBACK_CODES)
    assert all(r.code == r.feedback and r.enabled for r in flow.reasons)
    assert flow.reason("unused") == Reason("unused", "I don't use it enough", "unused")
    assert flow.reason("other") == Reason("other", "Something else", "other")


def test_default_flow_offers_rules_and_cap() -> None:
    flow = default_flow()
    assert list(flow.offers) == ["discount_25_3m", "pause_1m", "pause_2m", "free_30d"]
    assert flow.offers["discount_25_3m"] == DiscountOffer(
        id="discount_25_3m",
        title=flow.offers["discount_25_3m"].title,
        body=flow.offers["discount_25_3m"].body,
        percent_off=25.0,
        duration="repeating",
        duration_in_months=3,
    )
    assert isinstance(flow.offers["pause_2m"], PauseOffer)
    assert flow.offers["pause_2m"].months == 2
    assert isinstance(flow.offers["free_30d"], FreePeriodOffer)
    assert flow.offers["free_30d"].days == 30
    assert not any(isinstance(o, ContactOffer) for o in flow.offers.values())
    assert [(r.reasons, r.offers) for r in flow.rules] == [
        (("too_expensive",), ("discount_25_3m", "pause_1m")),
        (("unused",), ("pause_1m", "free_30d")),
        (("switched_service",), ("discount_25_3m",)),
        (("missing_features", "too_complex", "low_quality", "customer_service"), ("free_30d",)),
    ]
    assert flow.default_offers == ("pause_1m",)
    assert flow.max_offers == 2


def test_default_flow_round_trips_to_the_same_json() -> None:
    flow = default_flow()
    assert flow_to_dict(flow) == DEFAULT_FLOW
    assert parse_flow(flow_to_dict(flow)) == flow
    assert default_flow() is not flow  # a fresh value each time


def test_flow_methods() -> None:
    flow = flow_of(DISCOUNT)
    assert flow.reason("old") == Reason("old", "Retired reason", "other", enabled=False)
    assert flow.reason("nope") is None
    assert [r.code for r in flow.enabled_reasons()] == ["price", "bored"]
    assert flow.offer("disc") is DISCOUNT
    assert flow.offer("nope") is None


def test_flow_keeps_a_private_copy_of_its_offers() -> None:
    offers: dict[str, Offer] = {"disc": DISCOUNT}
    flow = Flow(reasons=[Reason("a", "A", "other")], offers=offers, rules=[], default_offers=[])  # type: ignore[arg-type]
    offers["pause"] = PAUSE
    assert list(flow.offers) == ["disc"]
    assert flow.reasons == (Reason("a", "A", "other"),)
    assert flow.rules == ()


RICH_FLOW: dict[str, Any] = {
    "reasons": [
        {"code": "price", "label": "Too pricey", "feedback": "too_expensive", "enabled": True},
        {"code": "gone", "label": "Closing shop", "feedback": "other", "enabled": False},
    ],
    "offers": [
        {
            "id": "pct",
            "kind": "discount",
            "title": "Half off",
            "body": "Line 1\nLine 2",
            "percent_off": 12.5,
            "duration": "forever",
        },
        {
            "id": "amt",
            "kind": "discount",
            "title": "$5 off",
            "body": "",
            "amount_off": 500,
            "currency": "eur",
            "duration": "once",
        },
        {
            "id": "p3",
            "kind": "pause",
            "title": "Pause",
            "body": "",
            "months": 3,
            "behavior": "mark_uncollectible",
        },
        {
            "id": "basic",
            "kind": "switch_plan",
            "title": "Basic",
            "body": "",
            "price_id": "plan_basic",
            "proration_behavior": "none",
        },
        {"id": "free-7", "kind": "free_period", "title": "A week", "body": "", "days": 7},
        {"id": "talk", "kind": "contact", "title": "Talk", "body": "", "url": "mailto:a@b.example"},
        {
            "id": "docs",
            "kind": "custom_link",
            "title": "Docs",
            "body": "",
            "url": "http://localhost:5000/docs",
        },
    ],
    "rules": [
        {
            "name": "Big",
            "reasons": ["price", "gone"],
            "conditions": [
                {"field": "mrr", "op": "gte", "value": 10000},
                {"field": "plan", "op": "in", "value": ["Pro", "Team"]},
                {"field": "attr.country", "op": "eq", "value": "FR"},
                {"field": "attr.seats", "op": "lte", "value": 5},
            ],
            "offers": ["pct", "talk"],
        },
        {"name": "Anyone", "reasons": [], "conditions": [], "offers": []},
    ],
    "default_offers": ["p3", "basic", "free-7", "docs", "amt"],
    "max_offers": 5,
}


def test_rich_flow_parses_every_kind_and_round_trips() -> None:
    flow = parse_flow(RICH_FLOW)
    assert flow_to_dict(flow) == RICH_FLOW
    assert parse_flow(flow_to_dict(flow)) == flow
    assert [o.kind for o in flow.offers.values()] == [
        "discount",
        "discount",
        "pause",
        "switch_plan",
        "free_period",
        "contact",
        "custom_link",
    ]
    assert flow.offers["amt"] == DiscountOffer("amt", "$5 off", amount_off=500, currency="eur")
    assert flow.rules[0].conditions[1] == Condition("plan", "in", ("Pro", "Team"))
    assert flow.rules[1] == Rule("Anyone")


def test_minimal_flow_uses_defaults_and_nulls_count_as_absent() -> None:
    flow = parse_flow(
        {
            "reasons": [{"code": "x", "label": "  X  ", "feedback": "other", "enabled": None}],
            "offers": [
                {
                    "id": "d",
                    "kind": "discount",
                    "title": "D",
                    "percent_off": 10,
                    "amount_off": None,
                },
                {"id": "p", "kind": "pause", "title": "P", "body": None},
                {"id": "f", "kind": "free_period", "title": "F"},
            ],
        }
    )
    assert flow.reasons == (Reason("x", "X", "other", True),)
    assert flow.offers["d"] == DiscountOffer("d", "D", percent_off=10.0, duration="once")
    assert flow.offers["p"] == PauseOffer("p", "P", "", months=1, behavior="void")
    assert flow.offers["f"] == FreePeriodOffer("f", "F", days=30)
    assert (flow.rules, flow.default_offers, flow.max_offers) == ((), (), 2)


@pytest.mark.parametrize(
    "url",
    ["https://example.com/a?b=c", "http://localhost/x", "http://127.0.0.1:8000/"],
)
def test_custom_link_urls_accepted(url: str) -> None:
    flow = parse_flow(
        data_with(lambda d: offer(d, id="discount_25_3m", kind="custom_link", title="T", url=url))
    )
    assert flow.offers["discount_25_3m"] == CustomLinkOffer("discount_25_3m", "T", url=url)
    assert not flow.offers["discount_25_3m"].writes_to_stripe


@pytest.mark.parametrize(
    ("cls", "kind", "operation"),
    [
        (DiscountOffer, "discount", "apply_discount"),
        (PauseOffer, "pause", "pause"),
        (SwitchPlanOffer, "switch_plan", "switch_price"),
        (FreePeriodOffer, "free_period", "extend_trial"),
        (ContactOffer, "contact", None),
        (CustomLinkOffer, "custom_link", None),
    ],
)
def test_offer_kinds_name_their_gateway_operation(
    cls: type[Offer], kind: str, operation: str | None
) -> None:
    instance = cls(id="x", title="X")
    assert (instance.kind, instance.operation) == (kind, operation)
    assert instance.writes_to_stripe is (operation is not None)
