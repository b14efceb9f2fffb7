"""The flow editor's service: a draft flow edited item by item, published as a new version.

The draft is always a valid flow: every edit is applied to a copy, checked by flows.parse_flow,
and kept only if the whole flow still parses. parse_flow's path-prefixed messages
("offers[2].percent_off: must be between 1 and 100") are split per item and field so the editor
can show each one next to its field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from cancelpage import flows
from cancelpage.extensions import db
from cancelpage.merchants.store import experiment_problems, publish_flow
from cancelpage.models import CancelSession, FlowVersion, Merchant

SECTIONS = ("reasons", "offers", "rules")
_INT_RE = re.compile(r"[+-]?\d{1,12}")
_NUMBER_RE = re.compile(r"[+-]?\d{1,12}(\.\d{1,6})?")
MAX_CONDITION_ROWS = 20


@dataclass
class EditErrors(Exception):
    """Messages of a refused edit: per field of the edited item, and for the item as a whole."""

    fields: dict[str, str] = field(default_factory=dict)
    general: list[str] = field(default_factory=list)


def published_data(merchant: Merchant) -> dict[str, Any]:
    version = merchant.flow_version
    return copy.deepcopy(version.data if version is not None else flows.DEFAULT_FLOW)


def draft_of(merchant: Merchant) -> dict[str, Any]:
    """A private copy of the flow being edited."""
    if merchant.flow_draft is not None:
        return copy.deepcopy(merchant.flow_draft)
    return published_data(merchant)


def has_changes(merchant: Merchant) -> bool:
    return merchant.flow_draft is not None and merchant.flow_draft != published_data(merchant)


def _split_errors(error: flows.FlowError, path: str) -> EditErrors:
    """parse_flow's messages about `path` by field; the rest as general messages."""
    out = EditErrors()
    for message in error.errors:
        where, _, text = message.partition(": ")
        if not path and not where.startswith(SECTIONS):
            out.fields.setdefault(where, text)  # top-level fields (default_offers, max_offers)
        elif path and where.startswith(path + "."):
            out.fields.setdefault(where[len(path) + 1 :], text)
        elif where == path:
            out.general.append(text)
        else:
            out.general.append(message)
    return out


def _save(merchant: Merchant, data: dict[str, Any], path: str) -> None:
    try:
        flow = flows.parse_flow(data)
        problems = experiment_problems(merchant, flow)
        if problems:
            raise flows.FlowError(problems)
    except flows.FlowError as error:
        raise _split_errors(error, path) from None
    merchant.flow_draft = flows.flow_to_dict(flow)


# ---- form values -> JSON values ----------------------------------------------------------------


def _number(text: str | None, *, integer: bool = True) -> Any:
    """A typed number from a form field; unparsable text is passed on for parse_flow to name."""
    text = (text or "").strip()
    if not text:
        return None
    if _INT_RE.fullmatch(text):
        return int(text)
    if not integer and _NUMBER_RE.fullmatch(text):
        return float(text)
    return text


def _opt(text: str | None) -> str | None:
    text = (text or "").strip()
    return text or None


def reason_from_form(form: MultiDict[str, str], code: str | None) -> dict[str, Any]:
    return {
        "code": code if code is not None else form.get("code", "").strip(),
        "label": form.get("label", ""),
        "feedback": form.get("feedback", ""),
        "enabled": form.get("enabled") == "on",
    }


OFFER_FIELDS: dict[str, tuple[str, ...]] = {
    kind: cls.fields for kind, cls in flows.OFFER_TYPES.items()
}
_NUMERIC = {"amount_off", "amount", "duration_in_months", "months", "days"}


def offer_from_form(form: MultiDict[str, str], kind: str, offer_id: str | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": offer_id if offer_id is not None else form.get("id", "").strip(),
        "kind": kind,
        "title": form.get("title", ""),
        "body": form.get("body", ""),
    }
    for name in OFFER_FIELDS.get(kind, ()):
        if name == "percent_off":
            value = _number(form.get(name), integer=False)
        elif name in _NUMERIC:
            value = _number(form.get(name))
        else:
            value = _opt(form.get(name))
        if value is not None:
            data[name] = value
    return data


def rule_from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    conditions = []
    for i in range(MAX_CONDITION_ROWS):
        fld = form.get(f"cond-{i}-field", "").strip()
        if not fld:
            continue
        if fld == "attr":
            fld = "attr." + form.get(f"cond-{i}-attr", "").strip()
        op = form.get(f"cond-{i}-op", "").strip()
        raw = form.get(f"cond-{i}-value", "")
        value: Any
        if op in ("gte", "lte"):
            value = _number(raw)
        elif op == "in":
            value = [v.strip() for v in raw.split(",") if v.strip()]
        else:
            value = raw.strip()
        conditions.append({"field": fld, "op": op, "value": value})
    return {
        "name": form.get("name", ""),
        "reasons": form.getlist("reasons"),
        "conditions": conditions,
        "offers": [o for o in form.getlist("offers") if o],
    }


def rule_values(rule: Mapping[str, Any]) -> dict[str, Any]:
    """A rule as the editor's form shows it: condition rows of strings, plus one blank row."""
    rows = []
    for cond in rule.get("conditions", []):
        fld = str(cond.get("field", ""))
        value = cond.get("value")
        rows.append(
            {
                "field": "attr" if fld.startswith("attr.") else fld,
                "attr": fld[len("attr.") :] if fld.startswith("attr.") else "",
                "op": cond.get("op", ""),
                "value": ", ".join(value) if isinstance(value, list | tuple) else str(value),
            }
        )
    rows.append({"field": "", "attr": "", "op": "", "value": ""})
    return {
        "name": rule.get("name", ""),
        "reasons": list(rule.get("reasons", [])),
        "conditions": rows,
        "offers": list(rule.get("offers", [])),
    }


def rule_values_from_form(form: MultiDict[str, str]) -> dict[str, Any]:
    """What was typed into a rule form, to show it again next to its errors."""
    rows = [
        {k: form.get(f"cond-{i}-{k}", "") for k in ("field", "attr", "op", "value")}
        for i in range(MAX_CONDITION_ROWS)
        if f"cond-{i}-field" in form
    ]
    return {
        "name": form.get("name", ""),
        "reasons": form.getlist("reasons"),
        "conditions": rows,
        "offers": [o for o in form.getlist("offers") if o],
    }


# ---- edits -----------------------------------------------------------------------------------


def _keep_unedited(old: Mapping[str, Any], new: dict[str, Any], edited: set[str]) -> dict[str, Any]:
    """The new item, plus what the form does not edit (e.g. translations: labels, titles)."""
    return {**{k: v for k, v in old.items() if k not in edited}, **new}


REASON_FORM_KEYS = {"code", "label", "feedback", "enabled"}


def put_reason(merchant: Merchant, index: int | None, form: MultiDict[str, str]) -> None:
    """Add (index None) or change one reason; its code is fixed once created."""
    data = draft_of(merchant)
    reasons = data["reasons"]
    if index is None:
        reasons.append(reason_from_form(form, None))
        index = len(reasons) - 1
    else:
        _check_index(reasons, index)
        new = reason_from_form(form, reasons[index]["code"])
        reasons[index] = _keep_unedited(reasons[index], new, REASON_FORM_KEYS)
    _save(merchant, data, f"reasons[{index}]")


def put_offer(
    merchant: Merchant, offer_id: str | None, kind: str, form: MultiDict[str, str]
) -> None:
    """Add (offer_id None) or change one offer of the catalogue; id and kind are fixed."""
    data = draft_of(merchant)
    offers = data["offers"]
    if offer_id is None:
        offers.append(offer_from_form(form, kind, None))
        index = len(offers) - 1
    else:
        index = offer_index(data, offer_id)
        kind = offers[index]["kind"]
        edited = {"id", "kind", "title", "body", *OFFER_FIELDS.get(kind, ())}
        offers[index] = _keep_unedited(offers[index], offer_from_form(form, kind, offer_id), edited)
    _save(merchant, data, f"offers[{index}]")


EXPERIMENT_SLOT = "experiment:"  # the form's value for an experiment's place: its id follows


def with_experiments(slots: list[str], data: Mapping[str, Any]) -> list[Any]:
    """A list of offers from a form, each "experiment:<id>" back to that experiment's place as
    the draft has it (the form shows an experiment but does not edit it). An unknown id is kept
    as typed, so that validation names it."""
    places = {
        slot["experiment"]: slot
        for slots_ in [*(r["offers"] for r in data["rules"]), data["default_offers"]]
        for slot in slots_
        if isinstance(slot, dict) and "experiment" in slot
    }
    return [
        places.get(slot.removeprefix(EXPERIMENT_SLOT), slot)
        if slot.startswith(EXPERIMENT_SLOT)
        else slot
        for slot in slots
    ]


def put_rule(merchant: Merchant, index: int | None, form: MultiDict[str, str]) -> None:
    """Change a rule, or insert a new one at the chosen position (1 = checked first)."""
    data = draft_of(merchant)
    rules = data["rules"]
    rule = rule_from_form(form)
    rule["offers"] = with_experiments(rule["offers"], data)
    if index is None:
        position = _number(form.get("position"))
        index = position - 1 if isinstance(position, int) else 0
        index = min(max(index, 0), len(rules))
        rules.insert(index, rule)
    else:
        _check_index(rules, index)
        rules[index] = rule
    _save(merchant, data, f"rules[{index}]")


def put_general(merchant: Merchant, form: MultiDict[str, str]) -> None:
    data = draft_of(merchant)
    data["default_offers"] = with_experiments(
        [o for o in form.getlist("default_offers") if o], data
    )
    data["max_offers"] = _number(form.get("max_offers"))
    _save(merchant, data, "")


def move(merchant: Merchant, section: str, index: int, direction: str) -> None:
    """Move a reason or rule one place up or down (rules: the first match wins)."""
    data = draft_of(merchant)
    items = data[section]
    _check_index(items, index)
    other = index - 1 if direction == "up" else index + 1
    if 0 <= other < len(items):
        items[index], items[other] = items[other], items[index]
    _save(merchant, data, f"{section}[{index}]")


def delete_reason(merchant: Merchant, index: int) -> None:
    data = draft_of(merchant)
    _check_index(data["reasons"], index)
    code = data["reasons"][index]["code"]
    users = [r["name"] for r in data["rules"] if code in r["reasons"]]
    if users:
        raise EditErrors(general=[_used_by("reason", users)])
    del data["reasons"][index]
    _save(merchant, data, "reasons")


def delete_offer(merchant: Merchant, offer_id: str) -> None:
    data = draft_of(merchant)
    index = offer_index(data, offer_id)
    users = [r["name"] for r in data["rules"] if offer_id in r["offers"]]
    if offer_id in data["default_offers"]:
        users.append("the default offers")
    if users:
        raise EditErrors(general=[_used_by("offer", users)])
    del data["offers"][index]
    _save(merchant, data, "offers")


def delete_rule(merchant: Merchant, index: int) -> None:
    data = draft_of(merchant)
    _check_index(data["rules"], index)
    del data["rules"][index]
    _save(merchant, data, "rules")


def _used_by(what: str, users: list[str]) -> str:
    names = ", ".join(f"“{u}”" if u != "the default offers" else u for u in users)
    return f"This {what} is used by {names}: remove it there first."


class NotFound(LookupError):
    """The item to edit is not in this merchant's draft."""


def _check_index(items: list[Any], index: int) -> None:
    if not 0 <= index < len(items):
        raise NotFound


def shadowed(data: Mapping[str, Any]) -> dict[int, int]:
    """{rule index: index of the earlier rule that catches everyone it would} for the draft."""
    return flows.shadowed_rules(flows.parse_flow(data))


def offer_index(data: Mapping[str, Any], offer_id: str) -> int:
    for i, offer in enumerate(data["offers"]):
        if offer.get("id") == offer_id:
            return i
    raise NotFound


# ---- versions --------------------------------------------------------------------------------


def _published(merchant: Merchant, data: dict[str, Any]) -> FlowVersion:
    """publish_flow, its refusals as EditErrors of the whole flow (e.g. a frozen experiment)."""
    try:
        version = publish_flow(merchant, data)
    except flows.FlowError as error:
        raise EditErrors(general=error.errors) from None
    merchant.flow_draft = None
    return version


def publish(merchant: Merchant) -> FlowVersion:
    """Publish the draft as a new version; new sessions run it, open ones keep theirs."""
    return _published(merchant, draft_of(merchant))


def discard(merchant: Merchant) -> None:
    merchant.flow_draft = None


def version_of(merchant: Merchant, version_id: int) -> FlowVersion | None:
    return db.session.scalar(
        sa.select(FlowVersion).where(
            FlowVersion.id == version_id, FlowVersion.merchant_id == merchant.id
        )
    )


def restore(merchant: Merchant, version: FlowVersion) -> FlowVersion:
    """Publish a copy of an earlier version as the newest one (history is never rewritten)."""
    return _published(merchant, copy.deepcopy(version.data))


def versions(merchant: Merchant) -> list[tuple[FlowVersion, int]]:
    """Every version, newest first, with how many cancel sessions ran it."""
    counts = (
        sa.select(CancelSession.flow_version_id, sa.func.count().label("n"))
        .where(CancelSession.merchant_id == merchant.id)
        .group_by(CancelSession.flow_version_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(FlowVersion, sa.func.coalesce(counts.c.n, 0))
        .outerjoin(counts, counts.c.flow_version_id == FlowVersion.id)
        .where(FlowVersion.merchant_id == merchant.id)
        .order_by(FlowVersion.number.desc())
    )
    return [(version, int(n)) for version, n in rows]
