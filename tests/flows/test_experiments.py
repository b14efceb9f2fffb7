"""Experiments in a flow: parsing, arms, assignment."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from support.flow_support import (
    errors_of,
    ids,
)

from cancelpage.flows import (
    DEFAULT_FLOW,
    HOLDOUT,
    Experiment,
    Snapshot,
    State,
    Variant,
    assign_arm,
    assign_offers,
    bucket,
    choose_offers,
    flow_to_dict,
    parse_flow,
    submit,
)

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
        "metric": "retained_30",  # the default: still subscribed 30 days after the session
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
