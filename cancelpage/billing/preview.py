"""The preview emulator: plausible Stripe answers synthesised from the request, so a merchant
without a key (or the dashboard's preview) walks the whole flow with nothing sent."""

from __future__ import annotations

import itertools
import re
import secrets
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from cancelpage.billing.preview_account import list_page
from cancelpage.vocabulary import whole_number

if TYPE_CHECKING:
    from cancelpage.billing.recording import RecordedRequest

_SUBSCRIPTION_PATH = re.compile(r"^/v1/subscriptions/([^/]+)$")
_PRICE_PATH = re.compile(r"^/v1/prices/([^/]+)$")
_CONFIGURATION_PATH = re.compile(r"^/v1/billing_portal/configurations(?:/([^/]+))?$")
_KEY_PART = re.compile(r"\[([^\]]*)]")


def unflatten(params: Mapping[str, str]) -> dict[str, Any]:
    """Form fields (``features[customer_update][allowed_updates][0]=email``) as the nested object
    they encode; "true"/"false" read as booleans."""
    root: dict[str, Any] = {}
    for name, raw in params.items():
        head, _, rest = name.partition("[")
        path = [head, *_KEY_PART.findall("[" + rest)] if rest else [head]
        value: Any = {"true": True, "false": False}.get(raw, raw)
        node: Any = root
        for key, following in itertools.pairwise(path):
            node = _child(node, key, [] if following.isdigit() else {})
        _child(node, path[-1], value, replace=True)
    return root


def _child(node: Any, key: str, value: Any, *, replace: bool = False) -> Any:
    """The entry ``key`` of a dict or (by index) a list, set to ``value`` if new or asked to."""
    if isinstance(node, list):
        index = int(key)
        node.extend(None for _ in range(index + 1 - len(node)))
        if replace or node[index] is None:
            node[index] = value
        return node[index]
    if replace:
        node[key] = value
    return node.setdefault(key, value)


def preview_configuration(configuration_id: str, params: Mapping[str, str]) -> dict[str, Any]:
    """A portal configuration carrying what a create or update sent."""
    return {
        "id": configuration_id,
        "object": "billing_portal.configuration",
        "active": True,
        "is_default": False,
        "updated": int(time.time()),
        **unflatten(params),
    }


def _expands(params: Mapping[str, str]) -> set[str]:
    return {v for k, v in params.items() if k == "expand" or k.startswith("expand[")}


def _preview_subscription(subscription_id: str, expand: set[str]) -> dict[str, Any]:
    """A plausible active monthly subscription, expanded as requested."""
    now = int(time.time())
    product: Any = "prod_preview"
    if "items.data.price.product" in expand:
        product = {"id": "prod_preview", "object": "product", "name": "Preview plan"}
    customer: Any = "cus_preview"
    if "customer" in expand:
        customer = {"id": "cus_preview", "object": "customer", "preferred_locales": []}
    return {
        "id": subscription_id,
        "object": "subscription",
        "customer": customer,
        "status": "active",
        "currency": "usd",
        "created": now - 90 * 86400,
        "cancel_at_period_end": False,
        "cancel_at": None,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "trial_end": None,
        "pause_collection": None,
        "discounts": [],
        "items": {
            "object": "list",
            "data": [
                {
                    "id": "si_preview",
                    "object": "subscription_item",
                    "quantity": 1,
                    "current_period_start": now - 10 * 86400,
                    "current_period_end": now + 20 * 86400,
                    "price": {
                        "id": "price_preview",
                        "object": "price",
                        "nickname": None,
                        "product": product,
                        "unit_amount": 2000,
                        "currency": "usd",
                        "recurring": {"interval": "month", "interval_count": 1},
                    },
                }
            ],
        },
    }


def apply_update(sub: dict[str, Any], params: Mapping[str, str]) -> None:
    """Reflect the form fields of a subscription update onto a preview subscription."""
    if "cancel_at_period_end" in params:
        sub["cancel_at_period_end"] = params["cancel_at_period_end"] == "true"
    for key in ("feedback", "comment"):
        if f"cancellation_details[{key}]" in params:
            sub["cancellation_details"][key] = params[f"cancellation_details[{key}]"] or None
    coupons = [v for k, v in sorted(params.items()) if re.fullmatch(r"discounts\[\d+]\[coupon]", k)]
    if coupons:
        sub["discounts"] = [
            {
                "id": f"di_preview_{i}",
                "object": "discount",
                "source": {"type": "coupon", "coupon": coupon},
            }
            for i, coupon in enumerate(coupons)
        ]
    if params.get("pause_collection") == "":
        sub["pause_collection"] = None
    elif "pause_collection[behavior]" in params:
        resumes_at = params.get("pause_collection[resumes_at]")
        sub["pause_collection"] = {
            "behavior": params["pause_collection[behavior]"],
            "resumes_at": int(resumes_at) if resumes_at else None,
        }
    if "items[0][price]" in params:
        price = sub["items"]["data"][0]["price"]
        price["id"] = params["items[0][price]"]
        price["nickname"] = None
    trial_end = whole_number(params.get("trial_end", ""))
    if trial_end is not None:
        sub["trial_end"] = trial_end
        sub["status"] = "trialing"
        sub["items"]["data"][0]["current_period_end"] = sub["trial_end"]


def preview_answer(req: RecordedRequest) -> tuple[int, dict[str, Any]]:
    """Synthesise the Stripe answer to a request without sending it anywhere."""
    params = req.params
    if req.method == "get" and req.path in ("/v1/subscriptions", "/v1/invoices"):
        # The revenue scan of a merchant without a key reads a simulated account.
        return 200, list_page(req.path.removeprefix("/v1/"), params, int(time.time()))
    match = _SUBSCRIPTION_PATH.match(req.path)
    if match:
        sub = _preview_subscription(match.group(1), _expands(params))
        if req.method == "post":
            apply_update(sub, params)
        elif req.method == "delete":
            apply_update(sub, params)
            sub["status"] = "canceled"
            sub["canceled_at"] = int(time.time())
        return 200, sub
    if req.method == "post" and req.path == "/v1/coupons":
        return 200, {
            "id": params.get("id") or "coupon_preview",
            "object": "coupon",
            "name": params.get("name"),
            "percent_off": float(params["percent_off"]) if "percent_off" in params else None,
            "amount_off": int(params["amount_off"]) if "amount_off" in params else None,
            "currency": params.get("currency"),
            "duration": params.get("duration", "once"),
            "duration_in_months": (
                int(params["duration_in_months"]) if "duration_in_months" in params else None
            ),
            "valid": True,
            "created": int(time.time()),
        }
    match = _CONFIGURATION_PATH.match(req.path)
    if match and req.method == "post":
        return 200, preview_configuration(match.group(1) or "bpc_preview", params)
    if match and req.method == "get" and match.group(1) is None:
        # Preview reads nothing from Stripe: no configuration is known.
        return 200, {"object": "list", "data": [], "has_more": False, "url": req.path}
    match = _PRICE_PATH.match(req.path)
    if match and req.method == "get":
        return 200, {"id": match.group(1), "object": "price", "product": "prod_preview"}
    if req.method == "post" and req.path == "/v1/billing_portal/sessions":
        token = secrets.token_hex(8)
        return 200, {
            "id": f"bps_preview_{token}",
            "object": "billing_portal.session",
            "customer": params.get("customer"),
            "return_url": params.get("return_url"),
            "url": f"https://billing.stripe.com/p/session/preview_{token}",
        }
    return 404, {
        "error": {
            "type": "invalid_request_error",
            "code": "resource_missing",
            "message": f"Preview mode has no answer for {req.method.upper()} {req.path}",
        }
    }
