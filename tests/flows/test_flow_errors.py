"""parse_flow refuses every bad input with a message naming its path."""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from support.flow_support import (
    PROPERTY,
    data_with,
    errors_of,
    offer,
)

from cancelpage.flows import (
    DEFAULT_FLOW,
    FEEDBACK_CODES,
    FlowError,
    flow_to_dict,
    parse_flow,
)

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
