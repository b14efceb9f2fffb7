"""Rules an earlier rule always catches first (the editor says they are never used)."""

from __future__ import annotations

import pytest

from cancelpage.flows import Condition, Rule, catches_all_of

BIG = Condition("mrr", "gte", 5000)


@pytest.mark.parametrize(
    ("earlier", "later", "caught"),
    [
        (Rule("all"), Rule("big", conditions=(BIG,)), True),
        (Rule("cheap", ("too_expensive",)), Rule("any reason"), False),
        (Rule("two", ("a", "b")), Rule("one", ("a",)), True),
        (Rule("one", ("a",)), Rule("two", ("a", "b")), False),
        (
            Rule("1000+", conditions=(Condition("mrr", "gte", 1000),)),
            Rule("5000+", conditions=(BIG,)),
            True,
        ),
        (
            Rule("5000+", conditions=(BIG,)),
            Rule("1000+", conditions=(Condition("mrr", "gte", 1000),)),
            False,
        ),
        (
            Rule("pro or team", conditions=(Condition("plan", "in", ("Pro", "Team")),)),
            Rule("pro", conditions=(Condition("plan", "eq", "pro"),)),
            True,
        ),
        (
            Rule("pro", conditions=(Condition("plan", "eq", "Pro"),)),
            Rule("pro or team", conditions=(Condition("plan", "in", ("Pro", "Team")),)),
            False,
        ),
        (
            Rule("short", conditions=(Condition("tenure_days", "lte", 30),)),
            Rule("day 10", conditions=(Condition("tenure_days", "eq", "10"),)),
            True,
        ),
        (
            Rule("big", conditions=(BIG,)),
            Rule("team", conditions=(Condition("attr.team", "eq", "x"),)),
            False,
        ),
    ],
)
def test_catches_all_of(earlier: Rule, later: Rule, caught: bool) -> None:
    assert catches_all_of(earlier, later) is caught
