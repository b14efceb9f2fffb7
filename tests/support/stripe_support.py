"""Stripe test support: fixture objects shaped like API 2026-10-28.endive and a recording gateway.

Shared by every test file that touches billing; nothing here reaches the network.
"""

from __future__ import annotations

import copy
import json
import re
import threading
from collections.abc import Callable, Iterable
from typing import Any

import stripe

from cancelpage.billing import (
    API_VERSION,
    Gateway,
    RecordedRequest,
    RecordingHTTPClient,
)
from cancelpage.billing.preview import (
    apply_update,
    preview_answer,
    preview_configuration,
    unflatten,
)

Answer = tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], dict[str, str]]
Responder = Callable[[RecordedRequest], Answer]

SUB_ID = "sub_1PgcTest000000000000001"
CUSTOMER_ID = "cus_QXgTest00000001"
ITEM_ID = "si_QXhTest00000001"
PRICE_ID = "price_1PgaTest0000000000000001"
PRODUCT_ID = "prod_QXgTest00000001"
PERIOD_END = 1_767_225_600  # 2026-01-01T00:00:00Z
CREATED = 1_735_689_600  # 2025-01-01T00:00:00Z


def product(**overrides: Any) -> dict[str, Any]:
    """An expanded product."""
    return {
        "id": PRODUCT_ID,
        "object": "product",
        "active": True,
        "name": "Pro plan",
        "description": None,
        "metadata": {},
        **overrides,
    }


def price(
    *, nickname: str | None = None, expand_product: bool = True, **overrides: Any
) -> dict[str, Any]:
    """A recurring monthly price; product expanded unless asked otherwise."""
    return {
        "id": PRICE_ID,
        "object": "price",
        "active": True,
        "billing_scheme": "per_unit",
        "currency": "eur",
        "nickname": nickname,
        "product": product() if expand_product else PRODUCT_ID,
        "recurring": {
            "interval": "month",
            "interval_count": 1,
            "meter": None,
            "trial_period_days": None,
            "usage_type": "licensed",
        },
        "type": "recurring",
        "unit_amount": 2900,
        "unit_amount_decimal": "2900",
        **overrides,
    }


def subscription_item(**overrides: Any) -> dict[str, Any]:
    """The first item; in this API version it carries the billing period."""
    return {
        "id": ITEM_ID,
        "object": "subscription_item",
        "created": CREATED,
        "current_period_start": PERIOD_END - 31 * 86400,
        "current_period_end": PERIOD_END,
        "discounts": [],
        "metadata": {},
        "price": price(),
        "quantity": 1,
        "subscription": SUB_ID,
        "tax_rates": [],
        **overrides,
    }


def customer(**overrides: Any) -> dict[str, Any]:
    """An expanded customer."""
    return {
        "id": CUSTOMER_ID,
        "object": "customer",
        "email": "jenny@example.com",
        "name": "Jenny Rosen",
        "preferred_locales": ["fr-FR", "en"],
        "metadata": {},
        **overrides,
    }


def coupon(coupon_id: str = "cp_offer_20", **overrides: Any) -> dict[str, Any]:
    """A coupon as Stripe returns it."""
    return {
        "id": coupon_id,
        "object": "coupon",
        "amount_off": None,
        "currency": None,
        "duration": "repeating",
        "duration_in_months": 3,
        "name": "20% off for 3 months",
        "percent_off": 20.0,
        "valid": True,
        "created": CREATED,
        "metadata": {},
        **overrides,
    }


def discount(coupon_id: str = "cp_offer_20", *, expand_coupon: bool = True) -> dict[str, Any]:
    """An expanded discount; since API 2025 the coupon sits under ``source``."""
    return {
        "id": f"di_{coupon_id}",
        "object": "discount",
        "customer": CUSTOMER_ID,
        "end": None,
        "source": {"type": "coupon", "coupon": coupon(coupon_id) if expand_coupon else coupon_id},
        "start": CREATED,
        "subscription": SUB_ID,
        "subscription_item": None,
    }


def subscription(**overrides: Any) -> dict[str, Any]:
    """An active subscription with customer, item price product and discounts expanded."""
    return {
        "id": SUB_ID,
        "object": "subscription",
        "cancel_at": None,
        "cancel_at_period_end": False,
        "canceled_at": None,
        "cancellation_details": {"comment": None, "feedback": None, "reason": None},
        "collection_method": "charge_automatically",
        "created": CREATED,
        "currency": "eur",
        "customer": customer(),
        "discounts": [],
        "ended_at": None,
        "items": {
            "object": "list",
            "data": [subscription_item()],
            "has_more": False,
            "url": f"/v1/subscription_items?subscription={SUB_ID}",
        },
        "livemode": False,
        "metadata": {},
        "pause_collection": None,
        "status": "active",
        "trial_end": None,
        "trial_start": None,
        **overrides,
    }


def portal_session(url: str = "https://billing.stripe.com/p/session/test_abc") -> dict[str, Any]:
    """A billing portal session."""
    return {
        "id": "bps_1PgcTest",
        "object": "billing_portal.session",
        "customer": CUSTOMER_ID,
        "return_url": "https://merchant.example/account",
        "url": url,
    }


STRIPE_DEFAULT_CONFIG_ID = "bpc_1PgcDefault0000000000001"


def portal_configuration(
    *, cancel: bool = True, config_id: str = STRIPE_DEFAULT_CONFIG_ID, **overrides: Any
) -> dict[str, Any]:
    """The account's default portal configuration as Stripe makes it when the portal is turned
    on: cancelling (at period end, no reasons), plan and quantity changes among any price."""
    return {
        "id": config_id,
        "object": "billing_portal.configuration",
        "active": True,
        "application": None,
        "business_profile": {
            "headline": None,
            "privacy_policy_url": None,
            "terms_of_service_url": None,
        },
        "created": CREATED,
        "default_return_url": None,
        "features": {
            "customer_update": {"allowed_updates": ["email", "tax_id"], "enabled": True},
            "invoice_history": {"enabled": True},
            "payment_method_update": {"enabled": True, "payment_method_configuration": None},
            "subscription_cancel": {
                "cancellation_reason": {"enabled": False, "options": []},
                "enabled": cancel,
                "mode": "at_period_end",
                "proration_behavior": "none",
            },
            "subscription_update": {
                "billing_cycle_anchor": None,
                "default_allowed_updates": ["price", "quantity"],
                "enabled": True,
                "products": [
                    {
                        "product": PRODUCT_ID,
                        "prices": [PRICE_ID],
                        "adjustable_quantity": {"enabled": False, "maximum": None, "minimum": 1},
                    }
                ],
                "proration_behavior": "create_prorations",
                "schedule_at_period_end": {"conditions": []},
                "trial_update_behavior": "end_trial",
            },
        },
        "is_default": True,
        "livemode": False,
        "login_page": {"enabled": False, "url": None},
        "metadata": {},
        "name": None,
        "updated": CREATED,
        **overrides,
    }


def configuration_list(*configs: dict[str, Any]) -> dict[str, Any]:
    return {
        "object": "list",
        "data": list(configs),
        "has_more": False,
        "url": "/v1/billing_portal/configurations",
    }


_CONFIGURATION_PATH = re.compile(r"^/v1/billing_portal/configurations(?:/([^/]+))?$")


def _merge(into: dict[str, Any], changes: dict[str, Any]) -> None:
    """An update as Stripe applies it: nested objects merged, lists and values replaced."""
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            _merge(into[key], value)
        else:
            into[key] = value


class PortalAccount:
    """An account's portal configurations as Stripe keeps them: the default (if any), then
    whatever is created; answers list, create, retrieve and update, and price reads."""

    def __init__(self, default: dict[str, Any] | None = None) -> None:
        self.configurations: dict[str, dict[str, Any]] = {}
        if default is not None:
            self.configurations[default["id"]] = default

    def respond(self, req: RecordedRequest) -> Answer | None:
        """The answer to a portal-configuration or price request; None for anything else."""
        if req.path.startswith("/v1/prices/"):
            return preview_answer(req)
        match = _CONFIGURATION_PATH.match(req.path)
        if match is None:
            return None
        config_id = match.group(1)
        if config_id is None and req.method == "get":
            return 200, configuration_list(*map(copy.deepcopy, self.configurations.values()))
        if config_id is None:
            config_id = f"bpc_1PgcOwn{len(self.configurations):016d}"
            created = preview_configuration(config_id, req.params)
            self.configurations[config_id] = {**created, "updated": CREATED}
        elif config_id not in self.configurations:
            return 404, error_body("invalid_request_error", "resource_missing", "No such object")
        elif req.method == "post":
            self.edit(config_id, unflatten(req.params))
        return 200, copy.deepcopy(self.configurations[config_id])

    def edit(self, config_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        """Change a configuration (as the API or someone in Stripe's Dashboard would)."""
        config = self.configurations[config_id]
        _merge(config, changes)
        config["updated"] = config.get("updated", CREATED) + 1
        return copy.deepcopy(config)


def error_body(
    error_type: str, code: str | None = None, message: str = "Test error"
) -> dict[str, Any]:
    """An error response body as Stripe sends it."""
    body: dict[str, Any] = {"type": error_type, "message": message}
    if code:
        body["code"] = code
    return {"error": body}


_SUB_PATH = re.compile(r"^/v1/subscriptions/[^/]+$")


def fixture_responder(sub: dict[str, Any] | None = None) -> Responder:
    """Answer subscriptions, coupons and portal sessions from the fixtures above."""

    def respond(req: RecordedRequest) -> tuple[int, dict[str, Any]]:
        if _SUB_PATH.match(req.path):
            answer = copy.deepcopy(sub) if sub is not None else subscription()
            if req.method == "delete":
                answer.update(status="canceled", canceled_at=CREATED + 86400)
            return 200, answer
        if req.path == "/v1/coupons":
            return 200, coupon(req.params.get("id", "cp_offer_20"))
        if req.path == "/v1/billing_portal/sessions":
            return 200, portal_session()
        if req.path.startswith(("/v1/billing_portal/configurations", "/v1/prices/")):
            return preview_answer(req)
        return 404, error_body("invalid_request_error", "resource_missing", "No such object")

    return respond


Fault = (
    int | tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], dict[str, str]] | BaseException
)


def fault_responder(faults: Iterable[Fault], then: Responder | None = None) -> Responder:
    """Fail the first requests as scripted, then answer normally.

    Each fault is an HTTP status (with a typical Stripe error body), a ``(status, body)`` pair,
    or an exception to raise, e.g. ``stripe.APIConnectionError("timed out", should_retry=True)``.
    """
    queue = list(faults)
    fallback = then or fixture_responder()
    lock = threading.Lock()  # parallel requests must each consume a distinct fault

    def respond(req: RecordedRequest) -> Answer:
        with lock:
            fault = queue.pop(0) if queue else None
        if fault is None:
            return fallback(req)
        if isinstance(fault, BaseException):
            raise fault
        if isinstance(fault, tuple):
            return fault
        return fault, default_error_body(fault)

    return respond


def default_error_body(status: int) -> dict[str, Any]:
    """The error body Stripe typically sends with a status."""
    if status == 402:
        return error_body("card_error", "card_declined", "Your card was declined.")
    if status == 401:
        return error_body(
            "invalid_request_error", None, "Invalid API Key provided: sk_test_****abcd"
        )
    if status == 403:
        return error_body("invalid_request_error", None, "The provided key does not have access.")
    if status == 404:
        return error_body("invalid_request_error", "resource_missing", "No such subscription")
    if status == 409:
        return error_body(
            "idempotency_error", None, "Another request with this key is in progress."
        )
    if status == 429:
        return error_body("invalid_request_error", "rate_limit", "Too many requests.")
    if status >= 500:
        return error_body("api_error", None, "Something went wrong on Stripe's end.")
    return error_body("invalid_request_error", "parameter_invalid", "Invalid request.")


def connection_error(message: str = "Read timed out") -> stripe.APIConnectionError:
    """What stripe-python's HTTP clients raise on a timeout or dropped connection."""
    return stripe.APIConnectionError(message, should_retry=True)


def recording_gateway(
    responder: Responder | None = None, *, max_network_retries: int = 0
) -> tuple[Gateway, RecordingHTTPClient]:
    """A gateway whose requests are recorded and answered by ``responder`` (fixtures by default)."""
    rec = RecordingHTTPClient(responder or fixture_responder())
    client = stripe.StripeClient(
        "sk_test_x",
        http_client=rec,
        max_network_retries=max_network_retries,
        stripe_version=API_VERSION,
    )
    return Gateway(client, recorder=rec), rec


WEBHOOK_SECRET = "whsec_test_secret"


def event(event_type: str, obj: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """A snapshot event wrapping ``obj``."""
    return {
        "id": "evt_1PgcTest",
        "object": "event",
        "api_version": API_VERSION,
        "created": CREATED,
        "livemode": False,
        "pending_webhooks": 1,
        "type": event_type,
        "data": {"object": obj},
        **overrides,
    }


def signed_webhook(
    body: dict[str, Any], *, secret: str = WEBHOOK_SECRET, timestamp: int | None = None
) -> tuple[bytes, str]:
    """The raw body and its Stripe-Signature header, signed at ``timestamp`` (default: now)."""
    raw = json.dumps(body)
    header = stripe.WebhookSignature.generate_signature_header(raw, secret, timestamp)
    return raw.encode(), header


def should_retry(status: int, advice: str) -> Fault:
    """A status with Stripe's ``Stripe-Should-Retry`` advice header ("true" or "false")."""
    return status, default_error_body(status), {"Stripe-Should-Retry": advice}


class StatefulStripe:
    """A subscription that keeps the writes applied to it, with Stripe's idempotency: a key
    seen before gets the first answer again and is not applied a second time."""

    def __init__(self, sub: dict[str, Any] | None = None) -> None:
        self.sub = copy.deepcopy(sub) if sub is not None else subscription()
        self.applied: dict[str, Answer] = {}  # idempotency key -> first answer
        self.lock = threading.Lock()

    def __call__(self, req: RecordedRequest) -> Answer:
        with self.lock:
            key = req.idempotency_key
            if req.method != "get" and key in self.applied:
                return self.applied[key]
            answer = self._answer(req)
            if req.method != "get" and key is not None:
                self.applied[key] = answer
            return answer

    def _answer(self, req: RecordedRequest) -> Answer:
        if _SUB_PATH.match(req.path):
            if req.method == "post":
                apply_update(self.sub, req.params)
            elif req.method == "delete":
                self.sub.update(status="canceled", canceled_at=CREATED + 86400)
            return 200, copy.deepcopy(self.sub)
        if req.path == "/v1/coupons":
            return 200, coupon(req.params.get("id", "cp_offer_20"))
        if req.path == "/v1/billing_portal/sessions":
            return 200, portal_session(f"https://billing.stripe.com/p/session/{len(self.applied)}")
        return 404, error_body("invalid_request_error", "resource_missing", "No such object")
