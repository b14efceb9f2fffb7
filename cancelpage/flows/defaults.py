"""The flow a new merchant starts with.

Its reason labels and offer texts are English source text, marked with N_() so that the catalogs
carry their translations: the hosted page shows them in the customer's language for as long as the
merchant leaves them unchanged (BUILTIN_TEXTS). Whatever a merchant writes is shown as written.
"""

from __future__ import annotations

from typing import Any

from .model import Flow
from .parsing import parse_flow


def N_(text: str) -> str:
    """Mark built-in text for the catalogs; it is translated when shown, not here."""
    return text


def _reason(code: str, label: str) -> dict[str, Any]:
    return {"code": code, "label": label, "feedback": code, "enabled": True}


# Written in the exact shape flow_to_dict() produces, so flow_to_dict(default_flow()) equals it.
# No contact offer: it needs the merchant's own address.
DEFAULT_FLOW: dict[str, Any] = {
    "reasons": [
        _reason("too_expensive", N_("It's too expensive")),
        _reason("unused", N_("I don't use it enough")),
        _reason("missing_features", N_("It's missing features I need")),
        _reason("switched_service", N_("I'm switching to another service")),
        _reason("too_complex", N_("It's too complicated")),
        _reason("low_quality", N_("Quality was lower than expected")),
        _reason("customer_service", N_("Customer service was lacking")),
        _reason("other", N_("Something else")),
    ],
    "offers": [
        {
            "id": "discount_25_3m",
            "kind": "discount",
            "title": N_("25% off"),
            "body": N_("Stay with us and pay a quarter less."),
            "percent_off": 25,
            "duration": "repeating",
            "duration_in_months": 3,
        },
        {
            "id": "pause_1m",
            "kind": "pause",
            "title": N_("Pause for a month"),
            "body": N_("Take a break: your plan carries on as before when you come back."),
            "months": 1,
            "behavior": "void",
        },
        {
            "id": "pause_2m",
            "kind": "pause",
            "title": N_("Pause for two months"),
            "body": N_("Take a longer break: everything is kept for when you come back."),
            "months": 2,
            "behavior": "void",
        },
        {
            "id": "free_30d",
            "kind": "free_period",
            "title": N_("Try it again, on us"),
            "body": N_("Give it another go, free of charge."),
            "days": 30,
        },
    ],
    "rules": [
        {
            "name": "Price-sensitive",
            "reasons": ["too_expensive"],
            "conditions": [],
            "offers": ["discount_25_3m", "pause_1m"],
        },
        {
            "name": "Not using it",
            "reasons": ["unused"],
            "conditions": [],
            "offers": ["pause_1m", "free_30d"],
        },
        {
            "name": "Switching away",
            "reasons": ["switched_service"],
            "conditions": [],
            "offers": ["discount_25_3m"],
        },
        {
            "name": "Product gaps",
            "reasons": ["missing_features", "too_complex", "low_quality", "customer_service"],
            "conditions": [],
            "offers": ["free_30d"],
        },
    ],
    "default_offers": ["pause_1m"],
    "max_offers": 2,
}


# The texts above: shown translated (through the catalogs) wherever a flow still uses them.
BUILTIN_TEXTS: frozenset[str] = frozenset(
    [reason["label"] for reason in DEFAULT_FLOW["reasons"]]
    + [offer[key] for offer in DEFAULT_FLOW["offers"] for key in ("title", "body")]
)


def default_flow() -> Flow:
    """A fresh Flow built from DEFAULT_FLOW."""
    return parse_flow(DEFAULT_FLOW)
