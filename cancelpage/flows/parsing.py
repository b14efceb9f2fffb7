"""Reading and writing the JSON form of a flow; parse_flow() is the only validator."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Collection, Mapping
from typing import Any

from ..vocabulary import FEEDBACK_CODES
from . import validation as check
from .model import (
    DEFAULT_METRIC,
    HOLDOUT,
    METRICS,
    Condition,
    Experiment,
    Flow,
    FlowError,
    OfferSlot,
    Reason,
    Rule,
    Variant,
)
from .offers import OFFER_TYPES, Offer

REASON_CODE_RE = re.compile(r"[a-z0-9_]{1,40}")
OFFER_ID_RE = re.compile(r"[a-z0-9_-]{1,40}")
ATTR_FIELD_RE = re.compile(r"attr\.[A-Za-z0-9_.:-]{1,64}")

CONDITION_FIELDS: tuple[str, ...] = ("plan", "mrr", "tenure_days")
NUMERIC_FIELDS: tuple[str, ...] = ("mrr", "tenure_days")
CONDITION_OPS: tuple[str, ...] = ("eq", "in", "gte", "lte")

MAX_LABEL = 120
MAX_BODY = 1000
MAX_CONDITION_TEXT = 200
# Generous caps: they keep one merchant's flow from growing without bound, not a design limit.
MAX_REASONS = 50
MAX_OFFERS = 50
MAX_RULES = 100
MAX_CONDITIONS = 20
MAX_IN_VALUES = 100

_TOP_KEYS = ("reasons", "offers", "rules", "default_offers", "max_offers")
_REASON_KEYS = ("code", "label", "feedback", "enabled", "labels")
_RULE_KEYS = ("name", "reasons", "conditions", "offers")
_CONDITION_KEYS = ("field", "op", "value")
_EXPERIMENT_KEYS = ("experiment", "variants", "holdout", "min_effect", "metric")
_VARIANT_KEYS = ("offer", "weight")

ID_RULE = "must be 1-40 lower-case letters, digits, _ or -"
MAX_VARIANTS = 5
MAX_WEIGHT = 1000
MAX_HOLDOUT = 0.9
DEFAULT_HOLDOUT = 0.2
MIN_EFFECT_RANGE = (0.01, 0.5)
DEFAULT_MIN_EFFECT = 0.05


def _listed(
    obj: Mapping[Any, Any], key: str, path: str, errs: check.Errors
) -> tuple[str, list[Any] | None]:
    """(path of the field, its items): None when the optional list is absent or not a list."""
    where = check.join(path, key)
    raw = obj.get(key)
    if raw is None:
        return where, None
    return where, check.as_list(raw, where, errs, MAX_OFFERS)


def _refs(
    obj: Mapping[Any, Any],
    key: str,
    path: str,
    errs: check.Errors,
    known: Collection[str],
    what: str,
) -> tuple[str, ...]:
    """A list of references (reason codes) that must all exist, without repeats."""
    where, items = _listed(obj, key, path, errs)
    if items is None:
        return ()
    out: list[str] = []
    for i, item in enumerate(items):
        if not isinstance(item, str):
            errs.add(f"{where}[{i}]", "must be a string")
        elif item not in known:
            errs.add(f"{where}[{i}]", f"unknown {what} {check.show(item)}")
        elif item in out:
            errs.add(f"{where}[{i}]", f"duplicate {what} {check.show(item)}")
        else:
            out.append(item)
    return tuple(out)


def _offer_keys(cls: type[Offer]) -> tuple[str, ...]:
    return ("id", "kind", *(f.name for f in dataclasses.fields(cls)))


def _parse_offer(raw: Any, path: str, errs: check.Errors) -> tuple[str | None, Offer | None]:
    """(id, offer); the id is returned even when the offer is invalid, to check references."""
    obj = check.as_object(raw, path, errs)
    if obj is None:
        return None, None
    before = len(errs)
    offer_id = check.pattern(
        obj, "id", path, errs, OFFER_ID_RE, "must be 1-40 lower-case letters, digits, _ or -"
    )
    kind = check.choice(obj, "kind", path, errs, tuple(OFFER_TYPES))
    title = check.text(obj, "title", path, errs, max_len=MAX_LABEL)
    body = check.text(obj, "body", path, errs, max_len=MAX_BODY, required=False, multiline=True)
    titles = check.translations(obj, "titles", path, errs, max_len=MAX_LABEL)
    bodies = check.translations(obj, "bodies", path, errs, max_len=MAX_BODY, multiline=True)
    if kind is None:
        # Without a kind the allowed fields are unknown; the kind error says enough.
        return offer_id, None
    cls = OFFER_TYPES[kind]
    check.unknown_keys(obj, _offer_keys(cls), path, errs)
    extra = cls.parse_fields(obj, path, errs)
    if len(errs) > before:
        return offer_id, None
    assert offer_id is not None
    assert title is not None
    assert body is not None
    return offer_id, cls(id=offer_id, title=title, body=body, titles=titles, bodies=bodies, **extra)


def offer_to_dict(offer: Offer) -> dict[str, Any]:
    """The JSON form of one offer (fields left at None, and no translations, are omitted)."""
    out: dict[str, Any] = {"id": offer.id, "kind": offer.kind, "title": offer.title}
    for f in dataclasses.fields(offer):
        if f.name in ("id", "title"):
            continue
        value = getattr(offer, f.name)
        if value is None or (isinstance(value, Mapping) and not value):
            continue
        if isinstance(value, Mapping):
            value = dict(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)  # 25 rather than 25.0 in the editor
        out[f.name] = value
    return out


# --- experiments ------------------------------------------------------------------------------


def _fraction(
    obj: Mapping[Any, Any],
    key: str,
    path: str,
    errs: check.Errors,
    low: float,
    high: float,
    default: float,
) -> float | None:
    """A number in [low, high] (ints and floats; bools, NaN and infinities refused)."""
    where = check.join(path, key)
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, int | float) or isinstance(value, bool) or not low <= value <= high:
        errs.add(where, f"must be a number from {low:g} to {high:g}")
        return None
    return float(value)


def _parse_variant(
    item: Any, vpath: str, errs: check.Errors, offer_ids: Collection[str], taken: list[str]
) -> Variant | None:
    """One arm of an experiment; its offer joins `taken` (an offer stands in one place only)."""
    vobj = check.as_object(item, vpath, errs)
    if vobj is None:
        return None
    check.unknown_keys(vobj, _VARIANT_KEYS, vpath, errs)
    offer_id = check.pattern(
        vobj,
        "offer",
        vpath,
        errs,
        OFFER_ID_RE,
        "must be 1-40 lower-case letters, digits, _ or -",
    )
    weight = check.integer(vobj, "weight", vpath, errs, 1, MAX_WEIGHT, default=1)
    if offer_id is None or weight is None:
        return None
    opath = check.join(vpath, "offer")
    if offer_id == HOLDOUT:
        errs.add(opath, f"{HOLDOUT!r} names the arm without an offer; use holdout instead")
    elif offer_id not in offer_ids:
        errs.add(opath, f"unknown offer {check.show(offer_id)}")
    elif offer_id in taken:
        errs.add(opath, f"duplicate offer {check.show(offer_id)}")
    else:
        taken.append(offer_id)
        return Variant(offer=offer_id, weight=weight)
    return None


def _parse_experiment(
    obj: Mapping[Any, Any],
    path: str,
    errs: check.Errors,
    offer_ids: Collection[str],
    taken: list[str],
    experiment_ids: set[str],
) -> Experiment | None:
    """One experiment place; `taken` holds the offers already in the list (for duplicates)."""
    before = len(errs)
    check.unknown_keys(obj, _EXPERIMENT_KEYS, path, errs)
    experiment_id = check.pattern(obj, "experiment", path, errs, OFFER_ID_RE, ID_RULE)
    if experiment_id is not None:
        if experiment_id in experiment_ids:
            errs.add(
                check.join(path, "experiment"), f"duplicate experiment {check.show(experiment_id)}"
            )
        experiment_ids.add(experiment_id)
    holdout = _fraction(obj, "holdout", path, errs, 0.0, MAX_HOLDOUT, DEFAULT_HOLDOUT)
    min_effect = _fraction(obj, "min_effect", path, errs, *MIN_EFFECT_RANGE, DEFAULT_MIN_EFFECT)
    metric = check.choice(obj, "metric", path, errs, METRICS, default=DEFAULT_METRIC)
    where = check.join(path, "variants")
    raw = obj.get("variants")
    items = check.as_list(raw, where, errs, MAX_VARIANTS) if raw is not None else None
    if raw is None:
        errs.add(where, "required")
    variants: list[Variant] = []
    variants = [
        variant
        for i, item in enumerate(items or [])
        if (variant := _parse_variant(item, f"{where}[{i}]", errs, offer_ids, taken)) is not None
    ]
    if items is not None and holdout is not None:
        needed = 1 if holdout > 0 else 2
        if len(items) < needed:
            errs.add(where, f"must have at least {needed} (at least 2 when holdout is 0)")
    if len(errs) > before:
        return None
    assert experiment_id is not None
    assert holdout is not None
    assert min_effect is not None
    assert metric is not None
    return Experiment(
        id=experiment_id,
        variants=tuple(variants),
        holdout=holdout,
        min_effect=min_effect,
        metric=metric,
    )


def _offer_slots(
    obj: Mapping[Any, Any],
    key: str,
    path: str,
    errs: check.Errors,
    offer_ids: Collection[str],
    experiment_ids: set[str],
) -> tuple[OfferSlot, ...]:
    """A list of offer ids and experiment places; every offer must exist and appear once."""
    where, items = _listed(obj, key, path, errs)
    if items is None:
        return ()
    slots: list[OfferSlot] = []
    taken: list[str] = []
    for i, item in enumerate(items):
        ipath = f"{where}[{i}]"
        if isinstance(item, Mapping):
            experiment = _parse_experiment(item, ipath, errs, offer_ids, taken, experiment_ids)
            if experiment is not None:
                slots.append(experiment)
        elif not isinstance(item, str):
            errs.add(ipath, "must be an offer id or an experiment")
        elif item not in offer_ids:
            errs.add(ipath, f"unknown offer {check.show(item)}")
        elif item in taken:
            errs.add(ipath, f"duplicate offer {check.show(item)}")
        else:
            taken.append(item)
            slots.append(item)
    return tuple(slots)


def experiment_to_dict(experiment: Experiment) -> dict[str, Any]:
    """The JSON form of an experiment place."""
    return {
        "experiment": experiment.id,
        "variants": [{"offer": v.offer, "weight": v.weight} for v in experiment.variants],
        "holdout": experiment.holdout,
        "min_effect": experiment.min_effect,
        "metric": experiment.metric,
    }


def _slots_to_list(slots: tuple[OfferSlot, ...]) -> list[Any]:
    return [slot if isinstance(slot, str) else experiment_to_dict(slot) for slot in slots]


# --- reasons, rules, flow ---------------------------------------------------------------------


def _parse_reasons(raw: Any, errs: check.Errors) -> tuple[list[Reason], set[str]]:
    """(valid reasons, every well-formed code), the codes also from otherwise invalid entries."""
    reasons: list[Reason] = []
    codes: set[str] = set()
    if raw is None:
        errs.add("reasons", "required")
        return reasons, codes
    items = check.as_list(raw, "reasons", errs, MAX_REASONS)
    if items is None:
        return reasons, codes
    any_enabled = False
    for path, obj, before in check.objects(items, "reasons", errs, _REASON_KEYS):
        code = check.pattern(
            obj, "code", path, errs, REASON_CODE_RE, "must be 1-40 lower-case letters, digits or _"
        )
        label = check.text(obj, "label", path, errs, max_len=MAX_LABEL)
        labels = check.translations(obj, "labels", path, errs, max_len=MAX_LABEL)
        feedback = check.choice(obj, "feedback", path, errs, FEEDBACK_CODES)
        enabled = check.boolean(obj, "enabled", path, errs, default=True)
        any_enabled = any_enabled or enabled
        if code is not None:
            if code in codes:
                errs.add(check.join(path, "code"), f"duplicate reason code {check.show(code)}")
            codes.add(code)
        if len(errs) == before:
            assert code is not None
            assert label is not None
            assert feedback is not None
            reasons.append(
                Reason(code=code, label=label, feedback=feedback, enabled=enabled, labels=labels)
            )
    if not any_enabled:
        errs.add("reasons", "at least one reason must be enabled")
    return reasons, codes


def _parse_offers(raw: Any, errs: check.Errors) -> tuple[dict[str, Offer], set[str]]:
    offers: dict[str, Offer] = {}
    ids: set[str] = set()
    if raw is None:
        return offers, ids
    items = check.as_list(raw, "offers", errs, MAX_OFFERS)
    if items is None:
        return offers, ids
    for i, item in enumerate(items):
        path = f"offers[{i}]"
        offer_id, offer = _parse_offer(item, path, errs)
        if offer_id is None:
            continue
        if offer_id in ids:
            errs.add(check.join(path, "id"), f"duplicate offer id {check.show(offer_id)}")
            continue
        ids.add(offer_id)
        if offer is not None:
            offers[offer_id] = offer
    return offers, ids


def _condition_value(
    obj: Mapping[Any, Any], field: str, op: str, path: str, errs: check.Errors
) -> str | int | tuple[str, ...] | None:
    where = check.join(path, "value")
    value = obj.get("value")
    if field in NUMERIC_FIELDS and op not in ("gte", "lte"):
        errs.add(check.join(path, "op"), f"must be 'gte' or 'lte' for {field}")
        return None
    if field == "plan" and op not in ("eq", "in"):
        errs.add(check.join(path, "op"), "must be 'eq' or 'in' for plan")
        return None
    if value is None:
        errs.add(where, "required")
        return None
    if op in ("gte", "lte"):
        if not check.is_int(value):
            errs.add(where, "must be an integer")
            return None
        return int(value)
    if op == "eq":
        if not isinstance(value, str):
            errs.add(where, "must be a string")
            return None
        if len(value) > MAX_CONDITION_TEXT:
            errs.add(where, f"must be at most {MAX_CONDITION_TEXT} characters")
            return None
        return value
    # op == "in"
    if (
        not isinstance(value, list | tuple)
        or not value
        or not all(isinstance(v, str) for v in value)
    ):
        errs.add(where, "must be a non-empty list of strings")
        return None
    if len(value) > MAX_IN_VALUES or any(len(v) > MAX_CONDITION_TEXT for v in value):
        errs.add(where, f"must have at most {MAX_IN_VALUES} values, each at most 200 characters")
        return None
    return tuple(value)


def _parse_condition(raw: Any, path: str, errs: check.Errors) -> Condition | None:
    obj = check.as_object(raw, path, errs)
    if obj is None:
        return None
    before = len(errs)
    check.unknown_keys(obj, _CONDITION_KEYS, path, errs)
    field = obj.get("field")
    if field is None:
        errs.add(check.join(path, "field"), "required")
        field = None
    elif not isinstance(field, str) or not (
        field in CONDITION_FIELDS or ATTR_FIELD_RE.fullmatch(field)
    ):
        errs.add(check.join(path, "field"), "must be plan, mrr, tenure_days or attr.<key>")
        field = None
    op = check.choice(obj, "op", path, errs, CONDITION_OPS)
    if field is None or op is None:
        return None
    value = _condition_value(obj, field, op, path, errs)
    if value is None or len(errs) > before:
        return None
    return Condition(field=field, op=op, value=value)


def _parse_rules(
    raw: Any,
    errs: check.Errors,
    reason_codes: set[str],
    offer_ids: set[str],
    experiment_ids: set[str],
) -> list[Rule]:
    rules: list[Rule] = []
    if raw is None:
        return rules
    items = check.as_list(raw, "rules", errs, MAX_RULES)
    if items is None:
        return rules
    for path, obj, before in check.objects(items, "rules", errs, _RULE_KEYS):
        name = check.text(obj, "name", path, errs, max_len=MAX_LABEL)
        reasons = _refs(obj, "reasons", path, errs, reason_codes, "reason")
        offers = _offer_slots(obj, "offers", path, errs, offer_ids, experiment_ids)
        conditions: list[Condition] = []
        raw_conditions = obj.get("conditions")
        if raw_conditions is not None:
            where = check.join(path, "conditions")
            cond_items = check.as_list(raw_conditions, where, errs, MAX_CONDITIONS) or []
            for j, cond in enumerate(cond_items):
                parsed = _parse_condition(cond, f"{where}[{j}]", errs)
                if parsed is not None:
                    conditions.append(parsed)
        if len(errs) == before:
            assert name is not None
            rules.append(
                Rule(name=name, reasons=reasons, conditions=tuple(conditions), offers=offers)
            )
    return rules


def parse_flow(data: Mapping[str, Any]) -> Flow:
    """Validate JSON-like data and build a Flow; raise FlowError listing every problem."""
    errs = check.Errors()
    obj = check.as_object(data, "flow", errs)
    if obj is None:
        raise FlowError(errs.items)
    check.unknown_keys(obj, _TOP_KEYS, "flow", errs)
    reasons, reason_codes = _parse_reasons(obj.get("reasons"), errs)
    offers, offer_ids = _parse_offers(obj.get("offers"), errs)
    experiment_ids: set[str] = set()
    rules = _parse_rules(obj.get("rules"), errs, reason_codes, offer_ids, experiment_ids)
    default_offers = _offer_slots(obj, "default_offers", "", errs, offer_ids, experiment_ids)
    max_offers = check.integer(obj, "max_offers", "", errs, 1, 5, default=2)
    if errs.items:
        raise FlowError(errs.items)
    assert max_offers is not None
    return Flow(
        reasons=tuple(reasons),
        offers=offers,
        rules=tuple(rules),
        default_offers=default_offers,
        max_offers=max_offers,
    )


def _reason_to_dict(reason: Reason) -> dict[str, Any]:
    out: dict[str, Any] = {
        "code": reason.code,
        "label": reason.label,
        "feedback": reason.feedback,
        "enabled": reason.enabled,
    }
    if reason.labels:
        out["labels"] = dict(reason.labels)
    return out


def flow_to_dict(flow: Flow) -> dict[str, Any]:
    """The JSON form of a flow; parse_flow(flow_to_dict(f)) == f."""
    return {
        "reasons": [_reason_to_dict(r) for r in flow.reasons],
        "offers": [offer_to_dict(offer) for offer in flow.offers.values()],
        "rules": [
            {
                "name": rule.name,
                "reasons": list(rule.reasons),
                "conditions": [
                    {
                        "field": c.field,
                        "op": c.op,
                        "value": list(c.value) if isinstance(c.value, tuple) else c.value,
                    }
                    for c in rule.conditions
                ],
                "offers": _slots_to_list(rule.offers),
            }
            for rule in flow.rules
        ],
        "default_offers": _slots_to_list(flow.default_offers),
        "max_offers": flow.max_offers,
    }
