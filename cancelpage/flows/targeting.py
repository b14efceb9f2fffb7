"""Choosing which offers a customer sees, from the reason given and the subscription snapshot."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import TYPE_CHECKING

from ..vocabulary import WRITABLE_STATUSES
from .experiments import assign_arm
from .model import HOLDOUT, Condition, Experiment, Flow, Rule, Snapshot

if TYPE_CHECKING:
    from .offers import Offer

# Plain decimal numbers only: float() would also take "nan", "inf" and "1_000".
_NUMBER_RE = re.compile(r"[+-]?\d{1,30}(\.\d{1,30})?")


def _number(value: object) -> Decimal | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, str) and _NUMBER_RE.fullmatch(value.strip()):
        return Decimal(value.strip())
    return None


def _field_value(field: str, snapshot: Snapshot) -> str | int | None:
    if field == "plan":
        return snapshot.plan
    if field == "mrr":
        return snapshot.mrr
    if field == "tenure_days":
        return snapshot.tenure_days
    if field.startswith("attr."):
        value: object = snapshot.attributes.get(field[len("attr.") :])
        # Link payloads are JSON, so a number may arrive unquoted; anything else cannot match.
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        return value if isinstance(value, str) else None
    return None


def condition_holds(condition: Condition, snapshot: Snapshot) -> bool:
    """Whether the snapshot satisfies one condition; malformed input gives False, never an error."""
    actual = _field_value(condition.field, snapshot)
    if actual is None:
        return False
    op, expected = condition.op, condition.value
    if op in ("gte", "lte"):
        left, right = _number(actual), _number(expected)
        if left is None or right is None:
            return False
        return left >= right if op == "gte" else left <= right
    if op not in ("eq", "in"):
        return False
    wanted = (expected,) if op == "eq" else expected
    if not isinstance(wanted, tuple):
        return False
    strings = [v for v in wanted if isinstance(v, str)]
    if len(strings) != len(wanted):
        return False
    text = str(actual)
    if condition.field == "plan":
        # Plan names are typed by hand in Stripe and in the editor: case must not matter.
        return text.casefold() in {v.casefold() for v in strings}
    return text in strings


def rule_matches(rule: Rule, reason_code: str, snapshot: Snapshot) -> bool:
    """Whether a rule applies to this reason and snapshot."""
    if rule.reasons and reason_code not in rule.reasons:
        return False
    return all(condition_holds(c, snapshot) for c in rule.conditions)


def offer_applies(offer: Offer, snapshot: Snapshot) -> bool:
    """Whether the offer can still be carried out on this subscription."""
    if offer.writes_to_stripe and snapshot.status not in WRITABLE_STATUSES:
        return False
    return offer.applies_to(snapshot)


def choose_offers(
    flow: Flow, reason_code: str | None, snapshot: Snapshot, customer_id: str | None = None
) -> list[Offer]:
    """The offers to show, in order: first matching rule, else the defaults; filtered and capped.

    Experiment places are resolved for `customer_id`; without one they show nothing (holdout).
    """
    return assign_offers(flow, reason_code, snapshot, customer_id)[0]


def assign_offers(
    flow: Flow, reason_code: str | None, snapshot: Snapshot, customer_id: str | None
) -> tuple[list[Offer], dict[str, str]]:
    """(offers to show, {experiment id: arm}) for this customer.

    An experiment is recorded as soon as its place is reached (before the cap is full), whatever
    the arm shows: the holdout shows no offer there, and a variant whose offer does not apply to
    this subscription shows none either. Without a customer id no experiment is entered.
    """
    if reason_code is None:
        return (
            [],
            {},
        )  # the customer skipped the survey and asked to cancel: do not stand in the way
    slots = flow.default_offers
    for rule in flow.rules:
        if rule_matches(rule, reason_code, snapshot):
            slots = rule.offers
            break
    chosen: list[Offer] = []
    assignments: dict[str, str] = {}
    seen: set[str] = set()
    for slot in slots:
        if len(chosen) >= flow.max_offers:
            break
        if isinstance(slot, Experiment):
            if customer_id is None:
                continue
            arm = assign_arm(slot, customer_id)
            assignments[slot.id] = arm
            if arm == HOLDOUT:
                continue
            offer_id = arm
        else:
            offer_id = slot
        offer = flow.offers.get(offer_id)
        if offer is None or offer_id in seen or not offer_applies(offer, snapshot):
            continue
        seen.add(offer_id)
        chosen.append(offer)
    return chosen, assignments


def _values(condition: Condition) -> tuple[str, ...] | None:
    """The values an eq/in condition accepts (None for the numeric tests)."""
    if condition.op == "eq":
        return (str(condition.value),)
    if condition.op == "in" and isinstance(condition.value, tuple):
        return condition.value
    return None


def _implies(narrow: Condition, broad: Condition) -> bool:
    """Whether every snapshot that satisfies ``narrow`` also satisfies ``broad`` (same field)."""
    if narrow.field != broad.field:
        return False
    accepted = _values(narrow)
    if broad.op in ("gte", "lte"):
        bound = _number(broad.value)
        if bound is None:
            return False
        if narrow.op == broad.op:
            own = _number(narrow.value)
            return own is not None and (own >= bound if broad.op == "gte" else own <= bound)
        if accepted is None:
            return False
        numbers = [_number(v) for v in accepted]
        return all(
            n is not None and (n >= bound if broad.op == "gte" else n <= bound) for n in numbers
        )
    wanted = _values(broad)
    if accepted is None or wanted is None:
        return False
    if narrow.field == "plan":
        return {v.casefold() for v in accepted} <= {v.casefold() for v in wanted}
    return set(accepted) <= set(wanted)


def catches_all_of(earlier: Rule, later: Rule) -> bool:
    """Whether ``earlier`` matches every customer ``later`` would: then ``later`` never fires."""
    if earlier.reasons and not (later.reasons and set(later.reasons) <= set(earlier.reasons)):
        return False
    return all(
        any(_implies(own, broad) for own in later.conditions) for broad in earlier.conditions
    )


def shadowed_rules(flow: Flow) -> dict[int, int]:
    """{index of a rule that can never match: index of the first earlier rule that catches it}."""
    shadowed: dict[int, int] = {}
    for index, rule in enumerate(flow.rules):
        for before in range(index):
            if catches_all_of(flow.rules[before], rule):
                shadowed[index] = before
                break
    return shadowed


def matching_rule(flow: Flow, reason_code: str, snapshot: Snapshot) -> int | None:
    """The index of the rule that decides this customer's offers (None: the default offers)."""
    for index, rule in enumerate(flow.rules):
        if rule_matches(rule, reason_code, snapshot):
            return index
    return None
