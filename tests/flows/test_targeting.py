"""Targeting: which offers a customer sees for a reason and a segment."""

from __future__ import annotations

import pytest
from support.flow_support import (
    CONTACT,
    DISCOUNT,
    FREE,
    LINK,
    PAUSE,
    SWITCH,
    flow_of,
    ids,
)

from cancelpage.flows import (
    Condition,
    Rule,
    Snapshot,
    choose_offers,
    condition_holds,
    default_flow,
    monthly_amount,
)

# --- targeting --------------------------------------------------------------------------------


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
