"""Unit tests of the pure cancel-flow engine (cancelpage.flows); no Flask app is needed."""

from __future__ import annotations

import ast
import copy
import sys
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cancelpage.flows import (
    BUILTIN_TEXTS,
    DEFAULT_FLOW,
    FEEDBACK_CODES,
    HOLDOUT,
    LOCALES,
    MAX_COMMENT,
    STEPS,
    AcceptOffer,
    CancelSubscription,
    Condition,
    ContactOffer,
    CustomLinkOffer,
    DiscountOffer,
    Experiment,
    Flow,
    FlowError,
    FreePeriodOffer,
    KeepSubscription,
    Offer,
    PauseOffer,
    Reason,
    Rule,
    Snapshot,
    State,
    SwitchPlanOffer,
    Transition,
    Variant,
    assign_arm,
    assign_offers,
    bucket,
    choose_offers,
    clean_comment,
    complete,
    condition_holds,
    current_offer,
    default_flow,
    flow_to_dict,
    free_period_end,
    monthly_amount,
    parse_flow,
    pause_resumes_at,
    submit,
    to_timestamp,
)

FLOWS_DIR = Path(__file__).resolve().parent.parent / "cancelpage" / "flows"
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


# --- parse_flow: errors -----------------------------------------------------------------------

FEEDBACK_LIST = ", ".join(FEEDBACK_CODES)

BAD_FLOWS: list[tuple[str, Callable[[dict[str, Any]], object], str]] = [
    ("no reasons", lambda d: d.pop("reasons"), "reasons: required"),
    ("reasons not a list", lambda d: d.update(reasons="abc"), "reasons: must be a list"),
    ("reason not an object", lambda d: d["reasons"].append(3), "reasons[8]: must be an object"),
    (
        "reason unknown field",
        lambda d: d["reasons"][0].update(foo=1),
        "reasons[0]: unknown field 'foo'",
    ),
    (
        "duplicate reason",
        lambda d: d["reasons"][1].update(code="too_expensive"),
        "reasons[1].code: duplicate reason code 'too_expensive'",
    ),
    (
        "bad reason code",
        lambda d: d["reasons"][0].update(code="Too Expensive"),
        "reasons[0].code: must be 1-40 lower-case letters, digits or _",
    ),
    (
        "long reason code",
        lambda d: d["reasons"][0].update(code="a" * 41),
        "reasons[0].code: must be 1-40 lower-case letters, digits or _",
    ),
    ("missing code", lambda d: d["reasons"][0].pop("code"), "reasons[0].code: required"),
    (
        "bad feedback",
        lambda d: d["reasons"][0].update(feedback="pricey"),
        f"reasons[0].feedback: must be one of: {FEEDBACK_LIST}",
    ),
    (
        "list feedback",
        lambda d: d["reasons"][0].update(feedback=["x"]),
        f"reasons[0].feedback: must be one of: {FEEDBACK_LIST}",
    ),
    (
        "label too long",
        lambda d: d["reasons"][0].update(label="x" * 121),
        "reasons[0].label: must be at most 120 characters",
    ),
    (
        "blank label",
        lambda d: d["reasons"][0].update(label="   "),
        "reasons[0].label: must not be empty",
    ),
    (
        "label not text",
        lambda d: d["reasons"][0].update(label=7),
        "reasons[0].label: must be a string",
    ),
    (
        "label with newline",
        lambda d: d["reasons"][0].update(label="a\nb"),
        "reasons[0].label: must not contain control characters",
    ),
    (
        "enabled not bool",
        lambda d: d["reasons"][0].update(enabled="yes"),
        "reasons[0].enabled: must be true or false",
    ),
    (
        "no enabled reason",
        lambda d: [r.update(enabled=False) for r in d["reasons"]],
        "reasons: at least one reason must be enabled",
    ),
    (
        "empty reasons",
        lambda d: d.update(reasons=[], rules=[]),
        "reasons: at least one reason must be enabled",
    ),
    ("offers not a list", lambda d: d.update(offers={}), "offers: must be a list"),
    (
        "offer unknown field",
        lambda d: d["offers"][0].update(foo=1),
        "offers[0]: unknown field 'foo'",
    ),
    (
        "field of another kind",
        lambda d: d["offers"][1].update(percent_off=10),
        "offers[1]: unknown field 'percent_off'",
    ),
    (
        "duplicate offer",
        lambda d: d["offers"][2].update(id="pause_1m"),
        "offers[2].id: duplicate offer id 'pause_1m'",
    ),
    (
        "bad offer id",
        lambda d: d["offers"][0].update(id="Disc 25"),
        "offers[0].id: must be 1-40 lower-case letters, digits, _ or -",
    ),
    (
        "unknown kind",
        lambda d: d["offers"][0].update(kind="coupon"),
        "offers[0].kind: must be one of: "
        "discount, pause, switch_plan, free_period, contact, custom_link",
    ),
    ("missing kind", lambda d: d["offers"][0].pop("kind"), "offers[0].kind: required"),
    ("missing title", lambda d: d["offers"][0].pop("title"), "offers[0].title: required"),
    (
        "long title",
        lambda d: d["offers"][0].update(title="t" * 121),
        "offers[0].title: must be at most 120 characters",
    ),
    (
        "long body",
        lambda d: d["offers"][0].update(body="b" * 1001),
        "offers[0].body: must be at most 1000 characters",
    ),
    (
        "body with NUL",
        lambda d: d["offers"][0].update(body="a\x00"),
        "offers[0].body: must not contain control characters",
    ),
    (
        "percent 0",
        lambda d: d["offers"][0].update(percent_off=0),
        "offers[0].percent_off: must be between 1 and 100",
    ),
    (
        "percent 101",
        lambda d: d["offers"][0].update(percent_off=100.5),
        "offers[0].percent_off: must be between 1 and 100",
    ),
    (
        "percent NaN",
        lambda d: d["offers"][0].update(percent_off=float("nan")),
        "offers[0].percent_off: must be between 1 and 100",
    ),
    (
        "percent huge int",
        lambda d: d["offers"][0].update(percent_off=10**400),
        "offers[0].percent_off: must be between 1 and 100",
    ),
    (
        "percent text",
        lambda d: d["offers"][0].update(percent_off="30"),
        "offers[0].percent_off: must be a number",
    ),
    (
        "percent bool",
        lambda d: d["offers"][0].update(percent_off=True),
        "offers[0].percent_off: must be a number",
    ),
    (
        "percent and amount",
        lambda d: d["offers"][0].update(amount_off=500, currency="usd"),
        "offers[0]: set percent_off or amount_off, not both",
    ),
    (
        "neither percent nor amount",
        lambda d: d["offers"][0].pop("percent_off"),
        "offers[0]: one of percent_off or amount_off is required",
    ),
    (
        "amount without currency",
        lambda d: offer(d, id="a", kind="discount", title="A", amount_off=500),
        "offers[0].currency: required",
    ),
    (
        "upper-case currency",
        lambda d: offer(d, id="a", kind="discount", title="A", amount_off=5, currency="USD"),
        "offers[0].currency: must be a lower-case 3-letter currency code",
    ),
    (
        "amount 0",
        lambda d: offer(d, id="a", kind="discount", title="A", amount_off=0, currency="usd"),
        "offers[0].amount_off: must be between 1 and 99999999",
    ),
    (
        "amount float",
        lambda d: offer(d, id="a", kind="discount", title="A", amount_off=5.5, currency="usd"),
        "offers[0].amount_off: must be an integer",
    ),
    (
        "currency with percent",
        lambda d: d["offers"][0].update(currency="usd"),
        "offers[0].currency: only allowed with amount_off",
    ),
    (
        "bad duration",
        lambda d: d["offers"][0].update(duration="weekly"),
        "offers[0].duration: must be one of: once, repeating, forever",
    ),
    (
        "repeating without months",
        lambda d: d["offers"][0].pop("duration_in_months"),
        "offers[0].duration_in_months: required",
    ),
    (
        "37 months",
        lambda d: d["offers"][0].update(duration_in_months=37),
        "offers[0].duration_in_months: must be between 1 and 36",
    ),
    (
        "months when once",
        lambda d: d["offers"][0].update(duration="once"),
        "offers[0].duration_in_months: only allowed when duration is 'repeating'",
    ),
    (
        "pause 13 months",
        lambda d: d["offers"][1].update(months=13),
        "offers[1].months: must be between 1 and 12",
    ),
    (
        "pause 0 months",
        lambda d: d["offers"][1].update(months=0),
        "offers[1].months: must be between 1 and 12",
    ),
    (
        "pause months bool",
        lambda d: d["offers"][1].update(months=True),
        "offers[1].months: must be an integer",
    ),
    (
        "pause behavior",
        lambda d: d["offers"][1].update(behavior="skip"),
        "offers[1].behavior: must be one of: void, keep_as_draft, mark_uncollectible",
    ),
    (
        "switch without price",
        lambda d: offer(d, id="s", kind="switch_plan", title="S"),
        "offers[0].price_id: required",
    ),
    (
        "switch to product",
        lambda d: offer(d, id="s", kind="switch_plan", title="S", price_id="prod_1"),
        "offers[0].price_id: must be a Stripe price id (price_... or plan_...)",
    ),
    (
        "switch proration",
        lambda d: offer(
            d, id="s", kind="switch_plan", title="S", price_id="price_1", proration_behavior="later"
        ),
        "offers[0].proration_behavior: must be one of: create_prorations, none, always_invoice",
    ),
    (
        "free 0 days",
        lambda d: d["offers"][3].update(days=0),
        "offers[3].days: must be between 1 and 365",
    ),
    (
        "free 366 days",
        lambda d: d["offers"][3].update(days=366),
        "offers[3].days: must be between 1 and 365",
    ),
    (
        "contact without url",
        lambda d: offer(d, id="c", kind="contact", title="C"),
        "offers[0].url: required",
    ),
    (
        "contact over http",
        lambda d: offer(d, id="c", kind="contact", title="C", url="http://example.com"),
        "offers[0].url: must be a mailto: or https:// address",
    ),
    (
        "contact mailto without address",
        lambda d: offer(d, id="c", kind="contact", title="C", url="mailto:"),
        "offers[0].url: must be a mailto: or https:// address",
    ),
    (
        "link to mailto",
        lambda d: offer(d, id="c", kind="custom_link", title="C", url="mailto:a@b.c"),
        "offers[0].url: must be an https:// address",
    ),
    (
        "link over http",
        lambda d: offer(d, id="c", kind="custom_link", title="C", url="http://example.com"),
        "offers[0].url: must be an https:// address",
    ),
    (
        "javascript link",
        lambda d: offer(d, id="c", kind="custom_link", title="C", url="javascript:alert(1)"),
        "offers[0].url: must be an https:// address",
    ),
    (
        "link without host",
        lambda d: offer(d, id="c", kind="custom_link", title="C", url="https:///path"),
        "offers[0].url: must be an https:// address",
    ),
    (
        "link with space",
        lambda d: offer(d, id="c", kind="custom_link", title="C", url="https://a.com/x y"),
        "offers[0].url: must be an https:// address",
    ),
    (
        "link bad port",
        lambda d: offer(d, id="c", kind="custom_link", title="C", url="https://a.com:99999/"),
        "offers[0].url: must be an https:// address",
    ),
    ("rules not a list", lambda d: d.update(rules="all"), "rules: must be a list"),
    (
        "rule unknown field",
        lambda d: d["rules"][0].update(when="always"),
        "rules[0]: unknown field 'when'",
    ),
    ("rule without name", lambda d: d["rules"][0].pop("name"), "rules[0].name: required"),
    (
        "rule unknown reason",
        lambda d: d["rules"][0].update(reasons=["too_expensive", "bored"]),
        "rules[0].reasons[1]: unknown reason 'bored'",
    ),
    (
        "rule reason not text",
        lambda d: d["rules"][0].update(reasons=[1]),
        "rules[0].reasons[0]: must be a string",
    ),
    (
        "rule unknown offer",
        lambda d: d["rules"][1].update(offers=["pause_1m", "pause_9m"]),
        "rules[1].offers[1]: unknown offer 'pause_9m'",
    ),
    (
        "rule repeats offer",
        lambda d: d["rules"][1].update(offers=["pause_1m", "pause_1m"]),
        "rules[1].offers[1]: duplicate offer 'pause_1m'",
    ),
    (
        "conditions not a list",
        lambda d: d["rules"][0].update(conditions={}),
        "rules[0].conditions: must be a list",
    ),
    (
        "condition unknown field key",
        lambda d: d["rules"][0].update(
            conditions=[{"field": "mrr", "op": "gte", "value": 1, "x": 1}]
        ),
        "rules[0].conditions[0]: unknown field 'x'",
    ),
    (
        "condition bad field",
        lambda d: d["rules"][0].update(conditions=[{"field": "country", "op": "eq", "value": "x"}]),
        "rules[0].conditions[0].field: must be plan, mrr, tenure_days or attr.<key>",
    ),
    (
        "condition empty attr",
        lambda d: d["rules"][0].update(conditions=[{"field": "attr.", "op": "eq", "value": "x"}]),
        "rules[0].conditions[0].field: must be plan, mrr, tenure_days or attr.<key>",
    ),
    (
        "condition bad op",
        lambda d: d["rules"][0].update(conditions=[{"field": "mrr", "op": "gt", "value": 1}]),
        "rules[0].conditions[0].op: must be one of: eq, in, gte, lte",
    ),
    (
        "condition eq on mrr",
        lambda d: d["rules"][0].update(conditions=[{"field": "mrr", "op": "eq", "value": "1"}]),
        "rules[0].conditions[0].op: must be 'gte' or 'lte' for mrr",
    ),
    (
        "condition gte on plan",
        lambda d: d["rules"][0].update(conditions=[{"field": "plan", "op": "gte", "value": 1}]),
        "rules[0].conditions[0].op: must be 'eq' or 'in' for plan",
    ),
    (
        "condition text number",
        lambda d: d["rules"][0].update(
            conditions=[{"field": "tenure_days", "op": "lte", "value": "30"}]
        ),
        "rules[0].conditions[0].value: must be an integer",
    ),
    (
        "condition eq number",
        lambda d: d["rules"][0].update(conditions=[{"field": "plan", "op": "eq", "value": 5}]),
        "rules[0].conditions[0].value: must be a string",
    ),
    (
        "condition empty in",
        lambda d: d["rules"][0].update(conditions=[{"field": "plan", "op": "in", "value": []}]),
        "rules[0].conditions[0].value: must be a non-empty list of strings",
    ),
    (
        "condition in with number",
        lambda d: d["rules"][0].update(
            conditions=[{"field": "attr.x", "op": "in", "value": ["a", 1]}]
        ),
        "rules[0].conditions[0].value: must be a non-empty list of strings",
    ),
    (
        "condition without value",
        lambda d: d["rules"][0].update(conditions=[{"field": "attr.x", "op": "eq"}]),
        "rules[0].conditions[0].value: required",
    ),
    (
        "default offer unknown",
        lambda d: d.update(default_offers=["nope"]),
        "default_offers[0]: unknown offer 'nope'",
    ),
    (
        "default offers not a list",
        lambda d: d.update(default_offers="pause_1m"),
        "default_offers: must be a list",
    ),
    ("max offers 0", lambda d: d.update(max_offers=0), "max_offers: must be between 1 and 5"),
    ("max offers 6", lambda d: d.update(max_offers=6), "max_offers: must be between 1 and 5"),
    ("max offers text", lambda d: d.update(max_offers="2"), "max_offers: must be an integer"),
    ("unknown top-level key", lambda d: d.update(extra=1), "flow: unknown field 'extra'"),
]


@pytest.mark.parametrize(
    ("change", "message"), [(c, m) for _, c, m in BAD_FLOWS], ids=[name for name, _, _ in BAD_FLOWS]
)
def test_parse_flow_reports_problem(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    assert message in errors_of(data_with(change))


@pytest.mark.parametrize("data", [None, [], "flow", 3, [("reasons", [])]])
def test_parse_flow_rejects_non_objects(data: Any) -> None:
    assert errors_of(data) == ["flow: must be an object"]


def test_parse_flow_lists_all_problems_at_once() -> None:
    def break_many(d: dict[str, Any]) -> None:
        d["reasons"][0]["feedback"] = "nope"
        d["offers"][1]["months"] = 99
        d["offers"][3]["foo"] = "bar"
        d["default_offers"] = ["ghost"]
        d["max_offers"] = 9

    errors = errors_of(data_with(break_many))
    assert errors == [
        f"reasons[0].feedback: must be one of: {FEEDBACK_LIST}",
        "offers[1].months: must be between 1 and 12",
        "offers[3]: unknown field 'foo'",
        "default_offers[0]: unknown offer 'ghost'",
        "max_offers: must be between 1 and 5",
    ]


def test_invalid_offer_is_still_known_to_rules() -> None:
    # pause_1m is broken, but the rules naming it must not also be reported as dangling references.
    errors = errors_of(data_with(lambda d: d["offers"][1].update(behavior="x")))
    assert errors == ["offers[1].behavior: must be one of: void, keep_as_draft, mark_uncollectible"]


def test_flow_error_is_a_value_error_with_the_messages() -> None:
    error = FlowError(["a: one", "b: two"])
    assert isinstance(error, ValueError)
    assert error.errors == ["a: one", "b: two"]
    assert str(error) == "a: one; b: two"


def test_long_unknown_key_is_shortened_in_the_message() -> None:
    (message,) = errors_of(data_with(lambda d: d.update({"k" * 500: 1})))
    assert message.startswith("flow: unknown field 'kkk")
    assert len(message) < 100


# Random JSON-like data must only ever produce FlowError.
KEYS = st.sampled_from(
    sorted(
        {"reasons", "offers", "rules", "default_offers", "max_offers", "code", "label", "feedback"}
        | {"enabled", "id", "kind", "title", "body", "percent_off", "amount_off", "currency"}
        | {"duration", "duration_in_months", "months", "behavior", "price_id", "days", "url"}
        | {"name", "conditions", "field", "op", "value", "proration_behavior"}
        | {"experiment", "variants", "offer", "weight", "holdout", "min_effect"}
    )
) | st.text(max_size=6)
LEAVES = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats()
    | st.text(max_size=12)
    | st.sampled_from(["discount", "pause", "contact", "mrr", "plan", "attr.x", "gte", "in"])
    | st.sampled_from(["repeating", "price_x", "https://a.example", "too_expensive", "pause_1m"])
)
JSON = st.recursive(
    LEAVES,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(KEYS, children, max_size=6),
    max_leaves=40,
)


def _paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _paths(item, (*prefix, index))


def assert_raises_flow_error_or_round_trips(data: Any) -> None:
    """Either a FlowError naming every problem with its path, or a flow that round-trips."""
    errors: list[str] | None = None
    try:
        flow = parse_flow(data)
    except FlowError as error:
        errors = error.errors
    if errors is not None:
        assert errors
        assert all(": " in message for message in errors)
    else:
        assert parse_flow(flow_to_dict(flow)) == flow


@PROPERTY
@given(JSON)
def test_parse_flow_raises_only_flow_error_on_random_data(data: Any) -> None:
    assert_raises_flow_error_or_round_trips(data)


@PROPERTY
@given(st.data())
def test_parse_flow_on_mutated_default_raises_flow_error_or_round_trips(
    data: st.DataObject,
) -> None:
    flow_data = copy.deepcopy(DEFAULT_FLOW)
    path = data.draw(st.sampled_from(list(_paths(flow_data))[1:]))
    target: Any = flow_data
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = data.draw(JSON)
    assert_raises_flow_error_or_round_trips(flow_data)


# --- targeting --------------------------------------------------------------------------------


def ids(offers: list[Offer]) -> list[str]:
    return [o.id for o in offers]


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("too_expensive", ["discount_25_3m", "pause_1m"]),
        ("unused", ["pause_1m", "free_30d"]),
        ("switched_service", ["discount_25_3m"]),
        ("missing_features", ["free_30d"]),
        ("too_complex", ["free_30d"]),
        ("low_quality", ["free_30d"]),
        ("customer_service", ["free_30d"]),
        ("other", ["pause_1m"]),
    ],
)
def test_default_flow_targeting(reason: str, expected: list[str]) -> None:
    assert ids(choose_offers(default_flow(), reason, Snapshot())) == expected


def test_skipped_survey_gets_no_offers() -> None:
    flow = flow_of(DISCOUNT, default=("disc",), rules=(Rule("any", offers=("disc",)),))
    assert choose_offers(flow, None, Snapshot()) == []


def test_first_matching_rule_wins() -> None:
    flow = flow_of(
        DISCOUNT,
        PAUSE,
        FREE,
        rules=(
            Rule("only bored", reasons=("bored",), offers=("free",)),
            Rule("price", reasons=("price",), offers=("disc",)),
            Rule("anything", offers=("pause",)),
        ),
        default=("free",),
    )
    assert ids(choose_offers(flow, "price", Snapshot())) == ["disc"]
    assert ids(choose_offers(flow, "bored", Snapshot())) == ["free"]
    # A rule with no reasons applies to any reason, including one no rule names.
    assert ids(choose_offers(flow, "old", Snapshot())) == ["pause"]


def test_rule_whose_condition_fails_falls_through_to_default() -> None:
    big = Rule(
        "big", reasons=("price",), conditions=(Condition("mrr", "gte", 5000),), offers=("disc",)
    )
    flow = flow_of(DISCOUNT, PAUSE, rules=(big,), default=("pause",))
    assert ids(choose_offers(flow, "price", Snapshot(mrr=4999))) == ["pause"]
    assert ids(choose_offers(flow, "price", Snapshot(mrr=5000))) == ["disc"]
    assert ids(choose_offers(flow, "bored", Snapshot(mrr=9999))) == ["pause"]


def test_all_conditions_of_a_rule_must_hold() -> None:
    rule = Rule(
        "pro veterans",
        conditions=(Condition("plan", "eq", "Pro"), Condition("tenure_days", "gte", 365)),
        offers=("disc",),
    )
    flow = flow_of(DISCOUNT, PAUSE, rules=(rule,), default=("pause",))
    assert ids(choose_offers(flow, "price", Snapshot(plan="pro", tenure_days=400))) == ["disc"]
    assert ids(choose_offers(flow, "price", Snapshot(plan="pro", tenure_days=364))) == ["pause"]
    assert ids(choose_offers(flow, "price", Snapshot(plan="basic", tenure_days=400))) == ["pause"]


def test_rule_with_no_offers_shows_none() -> None:
    flow = flow_of(PAUSE, rules=(Rule("quiet", reasons=("bored",)),), default=("pause",))
    assert choose_offers(flow, "bored", Snapshot()) == []


ATTRS = {"country": "FR", "seats": "12", "team": "growth", "note": "abc", "weird": "nan"}


@pytest.mark.parametrize(
    ("condition", "snapshot", "holds"),
    [
        (Condition("plan", "eq", "Pro"), Snapshot(plan="PRO"), True),
        (Condition("plan", "eq", "pro"), Snapshot(plan="Pro Annual"), False),
        (Condition("plan", "eq", "Pro"), Snapshot(plan=None), False),
        (Condition("plan", "in", ("Basic", "Team")), Snapshot(plan="team"), True),
        (Condition("plan", "in", ("Basic", "Team")), Snapshot(plan="Pro"), False),
        (Condition("mrr", "gte", 1000), Snapshot(mrr=1000), True),
        (Condition("mrr", "gte", 1000), Snapshot(mrr=999), False),
        (Condition("mrr", "lte", 1000), Snapshot(mrr=1000), True),
        (Condition("mrr", "lte", 1000), Snapshot(mrr=1001), False),
        (Condition("tenure_days", "gte", 30), Snapshot(tenure_days=31), True),
        (Condition("tenure_days", "lte", 30), Snapshot(tenure_days=31), False),
        (Condition("attr.country", "eq", "FR"), Snapshot(attributes=ATTRS), True),
        (Condition("attr.country", "eq", "fr"), Snapshot(attributes=ATTRS), False),
        (Condition("attr.team", "in", ("growth", "core")), Snapshot(attributes=ATTRS), True),
        (Condition("attr.team", "in", ("core",)), Snapshot(attributes=ATTRS), False),
        (Condition("attr.seats", "gte", 12), Snapshot(attributes=ATTRS), True),
        (Condition("attr.seats", "gte", 13), Snapshot(attributes=ATTRS), False),
        (Condition("attr.seats", "lte", 12), Snapshot(attributes=ATTRS), True),
        (Condition("attr.seats", "lte", 5), Snapshot(attributes={"seats": " 4.5 "}), True),
        (Condition("attr.seats", "gte", -1), Snapshot(attributes={"seats": "-0.5"}), True),
        (Condition("attr.missing", "eq", ""), Snapshot(attributes=ATTRS), False),
        (Condition("attr.missing", "gte", 0), Snapshot(attributes=ATTRS), False),
        (Condition("attr.note", "gte", 0), Snapshot(attributes=ATTRS), False),
        (Condition("attr.note", "lte", 0), Snapshot(attributes=ATTRS), False),
        (Condition("attr.weird", "gte", 0), Snapshot(attributes=ATTRS), False),
        (Condition("attr.seats", "gte", 0), Snapshot(attributes={"seats": "1_000"}), False),
        (Condition("attr.seats", "gte", 12), Snapshot(attributes={"seats": 12}), True),  # type: ignore[dict-item]
        (Condition("attr.seats", "eq", "12"), Snapshot(attributes={"seats": 12}), True),  # type: ignore[dict-item]
        (Condition("attr.vip", "eq", "True"), Snapshot(attributes={"vip": True}), False),  # type: ignore[dict-item]
        # Malformed conditions (not from parse_flow) are false rather than errors.
        (Condition("mrr", "gt", 1), Snapshot(mrr=5), False),
        (Condition("mrr", "gte", "1"), Snapshot(mrr=5), True),
        (Condition("mrr", "gte", "x"), Snapshot(mrr=5), False),
        (Condition("plan", "in", "Pro"), Snapshot(plan="Pro"), False),
        (Condition("status", "eq", "active"), Snapshot(), False),
    ],
)
def test_condition_holds(condition: Condition, snapshot: Snapshot, holds: bool) -> None:
    assert condition_holds(condition, snapshot) is holds


@pytest.mark.parametrize(
    ("cap", "expected"), [(1, ["disc"]), (2, ["disc", "pause"]), (5, ["disc", "pause", "free"])]
)
def test_max_offers_caps_the_list(cap: int, expected: list[str]) -> None:
    flow = flow_of(DISCOUNT, PAUSE, FREE, default=("disc", "pause", "free"), cap=cap)
    assert ids(choose_offers(flow, "price", Snapshot())) == expected


def test_offers_are_filtered_before_the_cap() -> None:
    flow = flow_of(PAUSE, DISCOUNT, FREE, default=("pause", "disc", "free"), cap=2)
    assert ids(choose_offers(flow, "price", Snapshot(paused=True))) == ["disc", "free"]


def test_switch_to_the_current_price_is_dropped() -> None:
    flow = flow_of(SWITCH, DISCOUNT, default=("switch", "disc"))
    assert ids(choose_offers(flow, "price", Snapshot(price_id="price_basic"))) == ["disc"]
    assert ids(choose_offers(flow, "price", Snapshot(price_id="price_pro"))) == ["switch", "disc"]


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("active", ["disc", "pause", "switch", "free", "talk"]),
        ("trialing", ["disc", "pause", "switch", "free", "talk"]),
        ("past_due", ["disc", "pause", "switch", "free", "talk"]),
        ("canceled", ["talk", "guide"]),
        ("unpaid", ["talk", "guide"]),
        ("incomplete", ["talk", "guide"]),
    ],
)
def test_stripe_writing_offers_need_a_live_subscription(status: str, expected: list[str]) -> None:
    flow = flow_of(
        DISCOUNT,
        PAUSE,
        SWITCH,
        FREE,
        CONTACT,
        LINK,
        default=("disc", "pause", "switch", "free", "talk", "guide"),
        cap=5,
    )
    assert ids(choose_offers(flow, "price", Snapshot(status=status))) == expected


def test_duplicates_and_dangling_ids_are_skipped() -> None:
    # Only a hand-built flow can hold these; parse_flow rejects both.
    flow = flow_of(DISCOUNT, PAUSE, default=("disc", "ghost", "disc", "pause"), cap=5)
    assert ids(choose_offers(flow, "price", Snapshot())) == ["disc", "pause"]


@pytest.mark.parametrize(
    ("amount", "interval", "count", "expected"),
    [
        (1000, "month", 1, 1000),
        (3000, "month", 3, 1000),
        (12000, "year", 1, 1000),
        (9999, "year", 1, 833),  # 833.25
        (9990, "year", 1, 833),  # 832.5 rounds half up
        (6, "year", 1, 1),  # 0.5 rounds half up
        (1000, "week", 1, 4333),  # 4333.33
        (1000, "week", 2, 2167),  # 2166.67
        (100, "day", 1, 3042),  # 3041.67
        (0, "month", 1, 0),
    ],
)
def test_monthly_amount(amount: int, interval: str, count: int, expected: int) -> None:
    assert monthly_amount(amount, interval, count) == expected


@pytest.mark.parametrize(("interval", "count"), [("fortnight", 1), ("month", 0)])
def test_monthly_amount_rejects_bad_intervals(interval: str, count: int) -> None:
    with pytest.raises(ValueError, match=r"billing interval|interval_count"):
        monthly_amount(1000, interval, count)


# --- the state machine ------------------------------------------------------------------------

ENGINE_FLOW = flow_of(
    DISCOUNT,
    PAUSE,
    FREE,
    SWITCH,
    rules=(
        Rule("price", reasons=("price",), offers=("disc", "pause", "free")),
        Rule("bored", reasons=("bored",), offers=()),
    ),
    cap=3,
)
LIVE = Snapshot()


def post(state: State, step: str, **form: str) -> Transition:
    """Submit a form and check that the input state was left alone."""
    before = state.to_dict()
    result = submit(ENGINE_FLOW, LIVE, state, step, form)
    assert state.to_dict() == before
    assert result.state is not state
    return result


def at_offer(index: int = 0) -> State:
    return State(
        step="offer",
        reason="price",
        comment="hi",
        offer_ids=["disc", "pause", "free"],
        offer_index=index,
    )


def at_confirm(reason: str | None = "price") -> State:
    return State(
        step="confirm",
        reason=reason,
        comment="bye",
        offer_ids=["disc", "pause", "free"],
        offer_index=2,
    )


def test_state_defaults_and_round_trip() -> None:
    assert State() == State("survey", None, "", [], 0)
    state = at_offer(1)
    assert state.to_dict() == {
        "step": "offer",
        "reason": "price",
        "comment": "hi",
        "offer_ids": ["disc", "pause", "free"],
        "offer_index": 1,
    }
    assert State.from_dict(state.to_dict()) == state


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (None, State()),
        ({}, State()),
        ("junk", State()),
        ({"step": "confirm"}, State(step="confirm")),
        (
            {
                "step": "flying",
                "reason": 3,
                "comment": None,
                "offer_ids": "abc",
                "offer_index": "1",
            },
            State(),
        ),
        ({"offer_ids": ["a", 2, "b"], "offer_index": True}, State(offer_ids=["a", "b"])),
        # An offer step without an offer to show goes on to the confirmation.
        (
            {"step": "offer", "offer_ids": ["a"], "offer_index": 5},
            State("confirm", None, "", ["a"], 5),
        ),
    ],
)
def test_state_from_dict_is_tolerant(data: Any, expected: State) -> None:
    assert State.from_dict(data) == expected


def test_current_offer_id() -> None:
    assert at_offer(0).current_offer_id() == "disc"
    assert at_offer(2).current_offer_id() == "free"
    assert at_offer(3).current_offer_id() is None
    assert at_confirm().current_offer_id() is None
    assert State().current_offer_id() is None
    assert current_offer(ENGINE_FLOW, at_offer(1)) is PAUSE
    assert current_offer(ENGINE_FLOW, State(step="offer", offer_ids=["gone"])) is None


def test_survey_with_offers_goes_to_the_first_offer() -> None:
    result = post(State(), "survey", reason="price", comment="  Too much\r\nmoney \x07 ")
    assert result == Transition(
        State("offer", "price", "Too much\nmoney", ["disc", "pause", "free"], 0), {}, None, False
    )
    assert result.ok


def test_survey_without_offers_goes_to_confirm() -> None:
    result = post(State(), "survey", reason="bored")
    assert result.state == State("confirm", "bored", "", [], 0)
    assert result.errors == {}
    assert result.effect is None


def test_survey_uses_the_snapshot_to_choose_offers() -> None:
    result = submit(ENGINE_FLOW, Snapshot(paused=True), State(), "survey", {"reason": "price"})
    assert result.state.offer_ids == ["disc", "free"]
    canceled = submit(
        ENGINE_FLOW, Snapshot(status="canceled"), State(), "survey", {"reason": "price"}
    )
    assert canceled.state.step == "confirm"
    assert canceled.state.offer_ids == []


@pytest.mark.parametrize(
    ("form", "errors"),
    [
        ({}, {"reason": "required"}),
        ({"reason": ""}, {"reason": "required"}),
        ({"reason": "   "}, {"reason": "required"}),
        ({"reason": "nope"}, {"reason": "unknown"}),
        ({"reason": "old"}, {"reason": "unknown"}),  # disabled reasons are not offered
        ({"reason": "price", "comment": "x" * (MAX_COMMENT + 1)}, {"comment": "too_long"}),
        ({"comment": "x" * (MAX_COMMENT + 1)}, {"reason": "required", "comment": "too_long"}),
        (
            {"reason": "price", "action": "next", "comment": "y" * (MAX_COMMENT + 1)},
            {"comment": "too_long"},
        ),
    ],
)
def test_survey_errors_keep_the_state(form: dict[str, str], errors: dict[str, str]) -> None:
    state = State()
    result = post(state, "survey", **form)
    assert result == Transition(state, errors, None, False)
    assert not result.ok


def test_survey_errors_from_a_later_step_keep_that_step() -> None:
    result = post(at_offer(1), "survey", reason="nope")
    assert result.state == at_offer(1)
    assert result.errors == {"reason": "unknown"}


def test_comment_at_the_limit_is_accepted() -> None:
    result = post(State(), "survey", reason="price", comment=" " + "x" * MAX_COMMENT + "\n")
    assert result.errors == {}
    assert result.state.comment == "x" * MAX_COMMENT


@pytest.mark.parametrize("action", ["skip", "cancel_now"])
@pytest.mark.parametrize(
    "state", [State(), at_offer(1), at_confirm()], ids=["survey", "offer", "confirm"]
)
def test_skipping_the_survey_goes_straight_to_confirm(action: str, state: State) -> None:
    result = post(state, "survey", action=action, reason="price")
    assert result == Transition(State("confirm", None, "", [], 0), {}, None, False)


def test_skip_keeps_the_comment_but_never_blocks() -> None:
    result = post(State(), "survey", action="skip", comment="x" * (MAX_COMMENT + 50))
    assert result.errors == {}
    assert result.state.comment == "x" * MAX_COMMENT


@pytest.mark.parametrize("state", [at_offer(2), at_confirm("bored")], ids=["offer", "confirm"])
def test_resubmitted_survey_recomputes_offers_and_restarts(state: State) -> None:
    result = post(state, "survey", reason="price", comment="again")
    assert result.state == State("offer", "price", "again", ["disc", "pause", "free"], 0)
    assert post(at_offer(1), "survey", reason="bored").state == State("confirm", "bored", "", [], 0)


@pytest.mark.parametrize("state", [at_offer(0), at_confirm()], ids=["offer", "confirm"])
def test_accepting_an_offer_returns_the_effect_and_keeps_the_state(state: State) -> None:
    result = post(state, "offer", offer="pause", action="accept")
    assert result == Transition(state, {}, AcceptOffer(PAUSE), False)


def test_accepting_an_earlier_offer_after_back_button() -> None:
    result = post(at_offer(2), "offer", offer="disc", action="accept")
    assert result.effect == AcceptOffer(DISCOUNT)
    assert result.state == at_offer(2)


@pytest.mark.parametrize(
    "form",
    [
        {"offer": "switch", "action": "accept"},  # in the flow, but not chosen for this session
        {"offer": "ghost", "action": "decline"},
        {"action": "accept"},
        {"offer": "", "action": "cancel_now"},
    ],
)
def test_offer_posts_for_offers_not_in_the_session_are_stale(form: dict[str, str]) -> None:
    assert post(at_offer(0), "offer", **form) == Transition(at_offer(0), {}, None, True)


def test_accepting_an_offer_removed_from_the_flow_is_stale() -> None:
    state = State(step="offer", reason="price", offer_ids=["gone", "disc"])
    assert post(state, "offer", offer="gone", action="accept").stale
    # Declining it still moves on.
    assert post(state, "offer", offer="gone", action="decline").state.current_offer_id() == "disc"


def test_accepting_an_offer_that_no_longer_applies_is_refused() -> None:
    result = submit(
        ENGINE_FLOW,
        Snapshot(paused=True),
        at_offer(1),
        "offer",
        {"offer": "pause", "action": "accept"},
    )
    assert result == Transition(at_offer(1), {"offer": "invalid"}, None, False)


def test_declining_shows_the_next_offer_then_confirm() -> None:
    first = post(at_offer(0), "offer", offer="disc", action="decline")
    assert first.state == at_offer(1)
    assert first.effect is None
    assert first.errors == {}
    second = post(first.state, "offer", offer="pause", action="decline")
    assert second.state == at_offer(2)
    last = post(second.state, "offer", offer="free", action="decline")
    assert last.state == State("confirm", "price", "hi", ["disc", "pause", "free"], 2)


def test_declining_follows_the_posted_offer_not_the_stored_index() -> None:
    # Back button: the customer is shown offer 0 again while the session is at offer 2.
    assert post(at_offer(2), "offer", offer="disc", action="decline").state == at_offer(1)
    # From the confirmation, going back and declining the middle offer shows the last one.
    assert post(at_confirm(), "offer", offer="pause", action="decline").state == State(
        "offer", "price", "bye", ["disc", "pause", "free"], 2
    )


def test_cancel_now_from_an_offer_goes_to_confirm() -> None:
    result = post(at_offer(0), "offer", offer="disc", action="cancel_now")
    assert result == Transition(
        State("confirm", "price", "hi", ["disc", "pause", "free"], 0), {}, None, False
    )


@pytest.mark.parametrize("action", ["", "maybe", "cancel"])
def test_offer_post_with_a_bad_action_is_an_error(action: str) -> None:
    assert post(at_offer(1), "offer", offer="pause", action=action) == Transition(
        at_offer(1), {"action": "invalid"}, None, False
    )
    assert post(at_offer(1), "offer", offer="pause").errors == {"action": "invalid"}


def test_offer_post_before_the_survey_is_stale() -> None:
    state = State(offer_ids=["disc"])
    assert post(state, "offer", offer="disc", action="accept") == Transition(state, {}, None, True)


def test_confirm_cancel_sends_the_stripe_feedback_of_the_reason() -> None:
    result = post(at_confirm("price"), "confirm", action="cancel")
    assert result == Transition(
        at_confirm("price"), {}, CancelSubscription("too_expensive", "bye"), False
    )


def test_confirm_cancel_after_skip_sends_no_feedback() -> None:
    state = State(step="confirm", comment="just go")
    assert post(state, "confirm", action="cancel").effect == CancelSubscription(None, "just go")


def test_confirm_cancel_with_a_reason_since_removed_sends_no_feedback() -> None:
    assert post(at_confirm("vanished"), "confirm", action="cancel").effect == CancelSubscription(
        None, "bye"
    )


def test_confirm_keep() -> None:
    assert post(at_confirm(), "confirm", action="keep") == Transition(
        at_confirm(), {}, KeepSubscription(), False
    )


@pytest.mark.parametrize("form", [{}, {"action": "accept"}, {"action": "CANCEL"}])
def test_confirm_with_a_bad_action_is_an_error(form: dict[str, str]) -> None:
    assert post(at_confirm(), "confirm", **form) == Transition(
        at_confirm(), {"action": "invalid"}, None, False
    )


@pytest.mark.parametrize("state", [State(), at_offer(0)], ids=["survey", "offer"])
def test_confirm_post_before_reaching_confirm_is_stale(state: State) -> None:
    assert post(state, "confirm", action="cancel") == Transition(state, {}, None, True)


@pytest.mark.parametrize("step", [*STEPS, "unknown"])
@pytest.mark.parametrize(
    "form",
    [
        {"reason": "price"},
        {"action": "skip"},
        {"offer": "disc", "action": "accept"},
        {"action": "cancel"},
        {"action": "keep"},
    ],
)
def test_done_sessions_ignore_every_post(step: str, form: dict[str, str]) -> None:
    done = complete(at_confirm())
    assert post(done, step, **form) == Transition(done, {}, None, True)


@pytest.mark.parametrize("step", ["", "unknown", "done", "Survey"])
def test_unknown_step_names_are_stale(step: str) -> None:
    assert post(State(), step, reason="price") == Transition(State(), {}, None, True)


def test_complete_returns_a_done_copy() -> None:
    state = at_confirm()
    done = complete(state)
    assert done == State("done", "price", "bye", ["disc", "pause", "free"], 2)
    assert state.step == "confirm"
    done.offer_ids.append("x")
    assert state.offer_ids == ["disc", "pause", "free"]


def test_whole_walk_through_declining_everything() -> None:
    state = State()
    for step, form in [
        ("survey", {"reason": "price", "comment": "meh"}),
        ("offer", {"offer": "disc", "action": "decline"}),
        ("offer", {"offer": "pause", "action": "decline"}),
        ("offer", {"offer": "free", "action": "decline"}),
    ]:
        result = post(state, step, **form)
        assert result.ok
        assert result.effect is None
        state = result.state
    assert state.step == "confirm"
    final = post(state, "confirm", action="cancel")
    assert final.effect == CancelSubscription("too_expensive", "meh")
    done = complete(final.state)
    assert post(done, "confirm", action="cancel").stale


FORMS = st.dictionaries(
    st.sampled_from(["reason", "comment", "action", "offer"]),
    st.sampled_from(["price", "bored", "old", "disc", "pause", "ghost", "accept", "decline"])
    | st.sampled_from(["cancel", "keep", "skip", "cancel_now", ""])
    | st.text(max_size=5),
)
STATES = st.builds(
    State,
    step=st.sampled_from([*STEPS, "bogus"]),
    reason=st.none() | st.sampled_from(["price", "bored", "gone"]),
    comment=st.text(max_size=5),
    offer_ids=st.lists(st.sampled_from(["disc", "pause", "free", "switch", "ghost"]), max_size=4),
    offer_index=st.integers(-1, 5),
)


@PROPERTY
@given(STATES, st.sampled_from([*STEPS, "x"]), FORMS)
def test_submit_never_fails_or_mutates(state: State, step: str, form: dict[str, str]) -> None:
    before = copy.deepcopy(state)
    result = submit(ENGINE_FLOW, LIVE, state, step, form)
    assert state == before
    assert isinstance(result, Transition)
    assert result.state.step in (*STEPS, "bogus")
    assert not (result.stale and (result.errors or result.effect))
    assert not (result.errors and result.effect)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("  hello  ", "hello"),
        ("e\u0301t\u00e9", "\u00e9t\u00e9"),  # decomposed accents are composed (NFC)
        ("e\x00\u0301", "\u00e9"),  # a removed control does not keep letter and accent apart
        ("a\r\nb\rc", "a\nb\nc"),
        ("tab\there\nline", "tab\there\nline"),
        ("bell\x07 esc\x1b[31m del\x7f c1\x85", "bell esc[31m del c1"),
        ("lone \ud800 surrogate", "lone  surrogate"),
        ("\n\t \n", ""),
    ],
)
def test_clean_comment(raw: str, clean: str) -> None:
    assert clean_comment(raw) == clean


# --- dates ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "months", "expected"),
    [
        (datetime(2026, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2026, 2, 28, 9, 30, tzinfo=UTC)),
        (datetime(2028, 1, 31, 9, 30, tzinfo=UTC), 1, datetime(2028, 2, 29, 9, 30, tzinfo=UTC)),
        (datetime(2026, 3, 31, tzinfo=UTC), 1, datetime(2026, 4, 30, tzinfo=UTC)),
        (datetime(2026, 12, 15, tzinfo=UTC), 2, datetime(2027, 2, 15, tzinfo=UTC)),
        (datetime(2026, 5, 31, tzinfo=UTC), 12, datetime(2027, 5, 31, tzinfo=UTC)),
        (datetime(2027, 2, 28, tzinfo=UTC), 12, datetime(2028, 2, 28, tzinfo=UTC)),
    ],
)
def test_pause_resumes_calendar_months_later(
    now: datetime, months: int, expected: datetime
) -> None:
    assert pause_resumes_at(PauseOffer("p", "P", months=months), now) == expected


def test_pause_accepts_unix_time_and_other_zones() -> None:
    offer = PauseOffer("p", "P", months=1)
    jan31 = datetime(2026, 1, 31, 12, tzinfo=UTC)
    assert pause_resumes_at(offer, int(jan31.timestamp())) == datetime(2026, 2, 28, 12, tzinfo=UTC)
    # 01:00 on Feb 1 in UTC+2 is still January 31 in UTC.
    plus_two = datetime(2026, 2, 1, 1, tzinfo=timezone(timedelta(hours=2)))
    resumed = pause_resumes_at(offer, plus_two)
    assert resumed == datetime(2026, 2, 28, 23, tzinfo=UTC)
    assert resumed.tzinfo is UTC


def test_dates_refuse_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="naive"):
        pause_resumes_at(PauseOffer("p", "P"), datetime(2026, 1, 1))


NOW = datetime(2026, 3, 10, 8, 0, tzinfo=UTC)
TS = int(NOW.timestamp())


@pytest.mark.parametrize(
    ("snapshot", "start"),
    [
        (Snapshot(), NOW),
        (Snapshot(period_end=TS - 86400), NOW),  # a past period end never pulls the start back
        (Snapshot(period_end=TS + 5 * 86400), NOW + timedelta(days=5)),
        (Snapshot(period_end=TS + 5 * 86400, trial_end=TS + 9 * 86400), NOW + timedelta(days=9)),
        (Snapshot(period_end=TS + 9 * 86400, trial_end=TS + 5 * 86400), NOW + timedelta(days=9)),
    ],
)
def test_free_period_starts_after_what_is_already_covered(
    snapshot: Snapshot, start: datetime
) -> None:
    end = free_period_end(FreePeriodOffer("f", "F", days=30), snapshot, NOW)
    assert end == start + timedelta(days=30)
    assert end.tzinfo is UTC
    assert free_period_end(FreePeriodOffer("f", "F", days=30), snapshot, TS) == end


def test_to_timestamp() -> None:
    assert to_timestamp(datetime(2026, 1, 1, tzinfo=UTC)) == 1767225600
    assert to_timestamp(datetime(2026, 1, 1, 0, 0, 0, 999999, tzinfo=UTC)) == 1767225600


# --- purity -----------------------------------------------------------------------------------


def test_flows_package_imports_only_the_standard_library() -> None:
    # The one module outside flows/ that flows/ imports, the shared vocabulary, must be as pure.
    files = [*sorted(FLOWS_DIR.glob("*.py")), FLOWS_DIR.parent / "vocabulary.py"]
    assert len(files) >= 5
    for path in files:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top in sys.stdlib_module_names or top == "__future__", f"{path.name}: {name}"


# --- translations of reasons and offers --------------------------------------------------------


TRANSLATED_FLOW: dict[str, Any] = {
    "reasons": [
        {
            "code": "price",
            "label": "Too pricey",
            "feedback": "too_expensive",
            "enabled": True,
            "labels": {"de": "Zu teuer", "fr": "Trop cher", "es": "Demasiado caro"},
        },
        {"code": "other", "label": "Other", "feedback": "other", "enabled": True},
    ],
    "offers": [
        {
            "id": "pct",
            "kind": "discount",
            "title": "Half off",
            "body": "Line 1\nLine 2",
            "titles": {"de": "Halber Preis", "en": "Half price"},
            "bodies": {"fr": "Ligne 1\nLigne 2"},
            "percent_off": 50,
            "duration": "once",
        },
        {"id": "talk", "kind": "contact", "title": "Talk", "body": "", "url": "mailto:a@b.example"},
    ],
    "rules": [],
    "default_offers": ["pct", "talk"],
    "max_offers": 2,
}


def test_translations_parse_and_round_trip() -> None:
    flow = parse_flow(TRANSLATED_FLOW)
    assert flow_to_dict(flow) == TRANSLATED_FLOW
    assert parse_flow(flow_to_dict(flow)) == flow
    price = flow.reason("price")
    assert price is not None
    assert price.labels == {
        "de": "Zu teuer",
        "fr": "Trop cher",
        "es": "Demasiado caro",
    }
    pct = flow.offers["pct"]
    assert pct.titles == {"de": "Halber Preis", "en": "Half price"}
    assert pct.bodies == {"fr": "Ligne 1\nLigne 2"}
    # no translations: nothing extra in the JSON (the default flow keeps its exact shape)
    other, talk = flow_to_dict(flow)["reasons"][1], flow_to_dict(flow)["offers"][1]
    assert "labels" not in other
    assert "titles" not in talk
    assert "bodies" not in talk


def test_translations_are_trimmed_and_private_copies() -> None:
    labels = {"de": "  Zu teuer "}
    data = data_with(lambda d: d["reasons"][0].update(labels=labels))
    flow = parse_flow(data)
    labels["de"] = "changed"
    assert flow.reasons[0].labels == {"de": "Zu teuer"}
    reason = Reason("a", "A", "other", labels=labels)
    labels["fr"] = "B"
    assert reason.labels == {"de": "changed"}


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["reasons"][0].update(labels={"xx": "?"}),
            "reasons[0].labels: unknown locale 'xx': must be one of: en, de, fr, es",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de-AT": "Zu teuer"}),
            "reasons[0].labels: unknown locale 'de-AT': must be one of: en, de, fr, es",
        ),
        (
            lambda d: d["reasons"][0].update(labels=["de", "Zu teuer"]),
            "reasons[0].labels: must be an object",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": ""}),
            "reasons[0].labels.de: must not be empty",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": 5}),
            "reasons[0].labels.de: must be a string",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": "x" * 121}),
            "reasons[0].labels.de: must be at most 120 characters",
        ),
        (
            lambda d: d["reasons"][0].update(labels={"de": "a\nb"}),
            "reasons[0].labels.de: must not contain control characters",
        ),
        (
            lambda d: d["offers"][0].update(titles={"fr": "  "}),
            "offers[0].titles.fr: must not be empty",
        ),
        (
            lambda d: d["offers"][0].update(titles={1: "x"}),
            "offers[0].titles: unknown locale 1: must be one of: en, de, fr, es",
        ),
        (
            lambda d: d["offers"][0].update(bodies={"es": "x" * 1001}),
            "offers[0].bodies.es: must be at most 1000 characters",
        ),
        (
            lambda d: d["offers"][0].update(bodies="Hola"),
            "offers[0].bodies: must be an object",
        ),
        (
            lambda d: d["offers"][0].update(texts={"de": "x"}),
            "offers[0]: unknown field 'texts'",
        ),
    ],
)
def test_bad_translations_are_refused_with_their_path(
    change: Callable[[dict[str, Any]], object], message: str
) -> None:
    assert errors_of(data_with(change)) == [message]


def test_bodies_may_span_lines_but_titles_may_not() -> None:
    ok = data_with(lambda d: d["offers"][0].update(bodies={"de": "Zeile 1\nZeile 2"}))
    assert parse_flow(ok).offers["discount_25_3m"].bodies == {"de": "Zeile 1\nZeile 2"}
    bad = data_with(lambda d: d["offers"][0].update(titles={"de": "Zeile 1\nZeile 2"}))
    assert errors_of(bad) == ["offers[0].titles.de: must not contain control characters"]


def test_builtin_texts_are_the_default_flows_customer_facing_texts() -> None:
    flow = default_flow()
    expected = {r.label for r in flow.reasons} | {
        text for o in flow.offers.values() for text in (o.title, o.body)
    }
    assert expected == BUILTIN_TEXTS
    assert "Price-sensitive" not in BUILTIN_TEXTS  # rule names are the merchant's, not customers'
    assert LOCALES == ("en", "de", "fr", "es")


# --- experiments ------------------------------------------------------------------------------


def experiment_flow(**slot: Any) -> dict[str, Any]:
    """The default flow with a price experiment in the first place of the price rule."""
    data = copy.deepcopy(DEFAULT_FLOW)
    data["offers"].append(
        {
            "id": "discount_40_1m",
            "kind": "discount",
            "title": "40% off next month",
            "percent_off": 40,
            "duration": "repeating",
            "duration_in_months": 1,
        }
    )
    data["rules"][0]["offers"] = [
        {
            "experiment": "price_test",
            "variants": [
                {"offer": "discount_25_3m", "weight": 1},
                {"offer": "discount_40_1m", "weight": 1},
            ],
            **slot,
        },
        "pause_1m",
    ]
    return data


PRICE_TEST = Experiment(
    "price_test", (Variant("discount_25_3m", 1), Variant("discount_40_1m", 1)), 0.2, 0.05
)


def test_experiment_place_parses_with_defaults_and_round_trips() -> None:
    flow = parse_flow(experiment_flow())
    assert flow.rules[0].offers == (PRICE_TEST, "pause_1m")
    assert flow.experiments() == {"price_test": PRICE_TEST}
    assert PRICE_TEST.arms == (HOLDOUT, "discount_25_3m", "discount_40_1m")
    assert PRICE_TEST.control == HOLDOUT
    data = flow_to_dict(flow)
    assert data["rules"][0]["offers"][0] == {
        "experiment": "price_test",
        "variants": [
            {"offer": "discount_25_3m", "weight": 1},
            {"offer": "discount_40_1m", "weight": 1},
        ],
        "holdout": 0.2,
        "min_effect": 0.05,
    }
    assert parse_flow(data) == flow


def test_experiment_in_default_offers_without_holdout() -> None:
    data = experiment_flow()
    data["rules"][0]["offers"] = ["pause_1m"]
    data["default_offers"] = [
        "free_30d",
        {
            "experiment": "pause_len",
            "variants": [{"offer": "pause_1m", "weight": 3}, {"offer": "pause_2m"}],
            "holdout": 0,
            "min_effect": 0.1,
        },
    ]
    flow = parse_flow(data)
    (experiment,) = flow.experiments().values()
    assert experiment == Experiment(
        "pause_len", (Variant("pause_1m", 3), Variant("pause_2m", 1)), 0.0, 0.1
    )
    assert experiment.arms == ("pause_1m", "pause_2m")
    assert experiment.control == "pause_1m"
    assert parse_flow(flow_to_dict(flow)) == flow


BAD_EXPERIMENTS: list[tuple[str, dict[str, Any], str]] = [
    ("unknown key", {"winner": "x"}, "rules[0].offers[0]: unknown field 'winner'"),
    (
        "bad id",
        {"experiment": "Price Test"},
        "rules[0].offers[0].experiment: must be 1-40 lower-case letters, digits, _ or -",
    ),
    ("no id", {"experiment": None}, "rules[0].offers[0].experiment: required"),
    ("variants missing", {"variants": None}, "rules[0].offers[0].variants: required"),
    ("variants not list", {"variants": "a"}, "rules[0].offers[0].variants: must be a list"),
    (
        "no variant",
        {"variants": []},
        "rules[0].offers[0].variants: must have at least 1 (at least 2 when holdout is 0)",
    ),
    (
        "one variant without holdout",
        {"variants": [{"offer": "pause_2m"}], "holdout": 0},
        "rules[0].offers[0].variants: must have at least 2 (at least 2 when holdout is 0)",
    ),
    (
        "too many variants",
        {"variants": [{"offer": "pause_2m"}] * 6},
        "rules[0].offers[0].variants: must have at most 5 items",
    ),
    (
        "variant unknown key",
        {"variants": [{"offer": "pause_2m", "share": 1}]},
        "rules[0].offers[0].variants[0]: unknown field 'share'",
    ),
    (
        "variant not object",
        {"variants": ["pause_2m"]},
        "rules[0].offers[0].variants[0]: must be an object",
    ),
    (
        "variant unknown offer",
        {"variants": [{"offer": "ghost"}]},
        "rules[0].offers[0].variants[0].offer: unknown offer 'ghost'",
    ),
    (
        "variant names holdout",
        {"variants": [{"offer": "holdout"}]},
        "rules[0].offers[0].variants[0].offer: 'holdout' names the arm without an offer; "
        "use holdout instead",
    ),
    (
        "variant repeats",
        {"variants": [{"offer": "free_30d"}, {"offer": "free_30d"}]},
        "rules[0].offers[0].variants[1].offer: duplicate offer 'free_30d'",
    ),
    (
        "variant repeats a plain offer of the list",
        {"variants": [{"offer": "pause_1m"}]},
        "rules[0].offers[1]: duplicate offer 'pause_1m'",
    ),
    (
        "zero weight",
        {"variants": [{"offer": "free_30d", "weight": 0}]},
        "rules[0].offers[0].variants[0].weight: must be between 1 and 1000",
    ),
    (
        "fractional weight",
        {"variants": [{"offer": "free_30d", "weight": 0.5}]},
        "rules[0].offers[0].variants[0].weight: must be an integer",
    ),
    (
        "holdout too big",
        {"holdout": 0.95},
        "rules[0].offers[0].holdout: must be a number from 0 to 0.9",
    ),
    (
        "holdout negative",
        {"holdout": -0.1},
        "rules[0].offers[0].holdout: must be a number from 0 to 0.9",
    ),
    (
        "holdout text",
        {"holdout": "0.2"},
        "rules[0].offers[0].holdout: must be a number from 0 to 0.9",
    ),
    (
        "holdout bool",
        {"holdout": True},
        "rules[0].offers[0].holdout: must be a number from 0 to 0.9",
    ),
    (
        "min effect zero",
        {"min_effect": 0},
        "rules[0].offers[0].min_effect: must be a number from 0.01 to 0.5",
    ),
    (
        "min effect nan",
        {"min_effect": float("nan")},
        "rules[0].offers[0].min_effect: must be a number from 0.01 to 0.5",
    ),
]


@pytest.mark.parametrize(
    ("slot", "message"),
    [(s, m) for _, s, m in BAD_EXPERIMENTS],
    ids=[name for name, _, _ in BAD_EXPERIMENTS],
)
def test_bad_experiment_is_reported_with_its_path(slot: dict[str, Any], message: str) -> None:
    assert message in errors_of(experiment_flow(**slot))


def test_experiment_ids_are_unique_across_the_flow() -> None:
    data = experiment_flow()
    data["default_offers"] = [{"experiment": "price_test", "variants": [{"offer": "free_30d"}]}]
    assert errors_of(data) == ["default_offers[0].experiment: duplicate experiment 'price_test'"]


def test_non_text_offer_entry_is_reported() -> None:
    data = experiment_flow()
    data["rules"][1]["offers"] = [3]
    assert errors_of(data) == ["rules[1].offers[0]: must be an offer id or an experiment"]


def test_bucket_is_a_pinned_stable_hash() -> None:
    # Pinned: a change here would move live customers between arms in the middle of experiments.
    assert bucket("price_test", "cus_123") == pytest.approx(0.5206044419232743, abs=1e-15)
    assert bucket("price_test", "cus_124") == pytest.approx(0.8615463684678953, abs=1e-15)
    assert bucket("other", "cus_123") == pytest.approx(0.37482394107490535, abs=1e-15)


def test_buckets_are_uniform_over_customers() -> None:
    values = [bucket("exp", f"cus_{i}") for i in range(20_000)]
    assert all(0.0 <= v < 1.0 for v in values)
    deciles = [0] * 10
    for v in values:
        deciles[int(v * 10)] += 1
    # Each decile expects 2,000 (sd ~42); 5 sd leaves no room for flakiness and none is random.
    assert all(abs(count - 2000) < 210 for count in deciles), deciles


def test_arms_follow_the_holdout_share_and_weights() -> None:
    experiment = Experiment("w", (Variant("a", 1), Variant("b", 3)), holdout=0.2)
    counts = {"holdout": 0, "a": 0, "b": 0}
    for i in range(20_000):
        counts[assign_arm(experiment, f"cus_{i}")] += 1
    expected = {"holdout": 4000, "a": 4000, "b": 12000}
    assert all(abs(counts[k] - expected[k]) < 350 for k in expected), counts
    without_holdout = Experiment("w", (Variant("a", 1), Variant("b", 1)), holdout=0.0)
    arms = {assign_arm(without_holdout, f"cus_{i}") for i in range(200)}
    assert arms == {"a", "b"}


def test_the_same_customer_gets_the_same_arm_every_time() -> None:
    flow = parse_flow(experiment_flow())
    first = assign_offers(flow, "too_expensive", Snapshot(), "cus_123")
    for _ in range(3):
        assert assign_offers(flow, "too_expensive", Snapshot(), "cus_123") == first
    # A later flow version with the same experiment keeps the customer in the same arm.
    edited = experiment_flow()
    edited["rules"][0]["offers"].append("free_30d")
    assert assign_offers(parse_flow(edited), "too_expensive", Snapshot(), "cus_123")[1] == first[1]


def customer_in(arm: str, experiment: Experiment = PRICE_TEST) -> str:
    return next(c for c in (f"cus_{i}" for i in range(1000)) if assign_arm(experiment, c) == arm)


def test_variant_arm_shows_its_offer_in_the_experiment_place() -> None:
    flow = parse_flow(experiment_flow())
    customer = customer_in("discount_40_1m")
    offers, assignments = assign_offers(flow, "too_expensive", Snapshot(), customer)
    assert ids(offers) == ["discount_40_1m", "pause_1m"]
    assert assignments == {"price_test": "discount_40_1m"}
    assert ids(choose_offers(flow, "too_expensive", Snapshot(), customer)) == ids(offers)


def test_holdout_shows_no_offer_in_the_experiment_place() -> None:
    flow = parse_flow(experiment_flow())
    offers, assignments = assign_offers(flow, "too_expensive", Snapshot(), customer_in(HOLDOUT))
    assert ids(offers) == ["pause_1m"]
    assert assignments == {"price_test": HOLDOUT}


def test_no_customer_means_no_experiment() -> None:
    flow = parse_flow(experiment_flow())
    assert assign_offers(flow, "too_expensive", Snapshot(), None) == (
        [flow.offers["pause_1m"]],
        {},
    )
    assert ids(choose_offers(flow, "too_expensive", Snapshot())) == ["pause_1m"]
    assert assign_offers(flow, None, Snapshot(), "cus_1") == ([], {})


def test_other_rules_enter_no_experiment() -> None:
    flow = parse_flow(experiment_flow())
    offers, assignments = assign_offers(flow, "unused", Snapshot(), "cus_1")
    assert ids(offers) == ["pause_1m", "free_30d"]
    assert assignments == {}


def test_experiment_place_beyond_the_cap_is_not_entered() -> None:
    data = experiment_flow()
    data["rules"][0]["offers"].reverse()  # pause_1m first, then the experiment
    data["max_offers"] = 1
    flow = parse_flow(data)
    offers, assignments = assign_offers(flow, "too_expensive", Snapshot(), "cus_123")
    assert ids(offers) == ["pause_1m"]
    assert assignments == {}


def test_variant_that_does_not_apply_is_still_recorded() -> None:
    # A canceled subscription cannot take a discount: the arm is recorded (intent to treat).
    flow = parse_flow(experiment_flow())
    customer = customer_in("discount_25_3m")
    offers, assignments = assign_offers(
        flow, "too_expensive", Snapshot(status="canceled"), customer
    )
    assert offers == []
    assert assignments == {"price_test": "discount_25_3m"}


def test_survey_post_reports_the_arms_entered() -> None:
    flow = parse_flow(experiment_flow())
    customer = customer_in("discount_25_3m")
    result = submit(flow, Snapshot(), State(), "survey", {"reason": "too_expensive"}, customer)
    assert result.state.offer_ids == ["discount_25_3m", "pause_1m"]
    assert result.assignments == {"price_test": "discount_25_3m"}
    plain = submit(flow, Snapshot(), State(), "survey", {"reason": "too_expensive"})
    assert plain.state.offer_ids == ["pause_1m"]
    assert plain.assignments == {}
    later = submit(
        flow, Snapshot(), result.state, "offer", {"offer": "pause_1m", "action": "decline"}
    )
    assert later.assignments == {}
