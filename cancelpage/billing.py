"""Stripe gateway: intent-level operations in, plain values and project errors out.

This is the only module that imports ``stripe``. Every write carries the caller's idempotency
key, so a retried click or a retried network call is applied at most once by Stripe.
"""

from __future__ import annotations

import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, urlsplit

import stripe
from stripe.params import (
    CouponCreateParams,
    CustomerRetrieveParams,
    InvoiceRetrieveParams,
    SubscriptionCancelParams,
    SubscriptionCancelParamsCancellationDetails,
    SubscriptionListParams,
    SubscriptionRetrieveParams,
    SubscriptionUpdateParams,
    SubscriptionUpdateParamsCancellationDetails,
)
from stripe.params.billing_portal import SessionCreateParams, SessionCreateParamsFlowData

__all__ = [
    "API_VERSION",
    "BillingError",
    "CardOnFile",
    "CouponDuration",
    "CustomerView",
    "Feedback",
    "Gateway",
    "InvalidWebhook",
    "InvoiceView",
    "PauseBehavior",
    "PortalFlow",
    "ProrationBehavior",
    "RecordedRequest",
    "RecordingHTTPClient",
    "StripeAuthError",
    "StripeRejected",
    "StripeUnavailable",
    "SubscriptionView",
    "WebhookEvent",
    "card_from_source",
    "invoice_view",
    "subscription_view",
    "verify_webhook",
]

# Pinned explicitly so an SDK upgrade never silently changes the wire format we parse.
API_VERSION = "2026-10-28.endive"
DEFAULT_TIMEOUT = 10.0  # seconds; well under gunicorn's 30 s worker timeout

Feedback = Literal[
    "customer_service",
    "low_quality",
    "missing_features",
    "other",
    "switched_service",
    "too_complex",
    "too_expensive",
    "unused",
]
PauseBehavior = Literal["void", "keep_as_draft", "mark_uncollectible"]
ProrationBehavior = Literal["create_prorations", "none", "always_invoice"]
CouponDuration = Literal["once", "repeating", "forever"]
PortalFlow = Literal["payment_method_update", "subscription_cancel"]

# Expanded on every subscription read and write so one round trip yields a complete view:
# customer locales, product name for the plan, and coupon ids behind the discount ids.
_SUBSCRIPTION_EXPAND = ["customer", "items.data.price.product", "discounts"]


# --- errors -----------------------------------------------------------------------------------


class BillingError(Exception):
    """A Stripe call failed; the message is safe to log (keys are redacted)."""

    retryable: bool = False

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.http_status = http_status
        self.request_id = request_id


class StripeUnavailable(BillingError):
    """Timeout, connection error, 5xx or 429: the outcome is unknown, retry with the same key."""

    retryable = True


class StripeRejected(BillingError):
    """Stripe refused the request (invalid, card declined, idempotency mismatch, not found)."""

    retryable = False

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        http_status: int | None = None,
        request_id: str | None = None,
    ) -> None:
        super().__init__(message, http_status=http_status, request_id=request_id)
        self.code = code


class StripeAuthError(BillingError):
    """The key is invalid, revoked or lacks a permission this call needs."""

    retryable = False


class InvalidWebhook(BillingError):
    """A webhook body whose signature, timestamp or JSON does not check out."""

    retryable = False


_KEY_PATTERN = re.compile(r"\b(sk|rk|pk|whsec)_([A-Za-z0-9_*]+)")


def _redact(text: str) -> str:
    """Mask anything that looks like a Stripe secret, whatever Stripe put in the message."""
    return _KEY_PATTERN.sub(lambda m: f"{m.group(1)}_[redacted]", text)


def _error_field(err: stripe.StripeError, name: str) -> str | None:
    body = err.json_body
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            value = error.get(name)
            if isinstance(value, str):
                return value
    return None


def _translate(err: stripe.StripeError) -> BillingError:
    """Turn any stripe-python error into the project's own error type."""
    status = err.http_status
    request_id = err.request_id
    raw = err.user_message
    detail = _redact(str(raw)) if raw else type(err).__name__
    where = f" (HTTP {status})" if status is not None else ""
    if isinstance(err, stripe.APIConnectionError | stripe.RateLimitError):
        return StripeUnavailable(
            f"Stripe unavailable{where}: {detail}", http_status=status, request_id=request_id
        )
    if isinstance(err, stripe.AuthenticationError | stripe.PermissionError):
        return StripeAuthError(
            f"Stripe key refused{where}: {detail}", http_status=status, request_id=request_id
        )
    # APIError covers 5xx and 409 (a concurrent request with the same idempotency key is still
    # in flight): the outcome is unknown, so the caller retries with the same key or re-reads.
    if isinstance(err, stripe.APIError) or (status is not None and status >= 500):
        return StripeUnavailable(
            f"Stripe unavailable{where}: {detail}", http_status=status, request_id=request_id
        )
    code = err.code or _error_field(err, "code")
    if code is None and isinstance(err, stripe.IdempotencyError):
        code = "idempotency_error"
    return StripeRejected(
        f"Stripe rejected the request{where}: {detail}",
        code=code,
        http_status=status,
        request_id=request_id,
    )


# --- plain values -----------------------------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionView:
    """What the app needs to know about one subscription, as plain values."""

    id: str
    customer: str
    status: str
    item_id: str | None
    price_id: str | None
    plan_name: str | None
    unit_amount: int
    currency: str
    interval: str
    interval_count: int
    quantity: int
    current_period_end: int | None
    created: int
    cancel_at_period_end: bool
    cancel_at: int | None
    canceled_at: int | None
    trial_end: int | None
    paused: bool
    discount_coupons: tuple[str, ...]
    preferred_locales: tuple[str, ...]
    # Personal data: only set when the customer was expanded; never stored with the snapshot.
    customer_email: str | None = None


@dataclass(frozen=True)
class InvoiceView:
    """An invoice as the recovery emails need it."""

    id: str
    customer: str
    customer_email: str | None
    subscription: str | None
    status: str  # draft | open | paid | uncollectible | void
    amount_due: int
    amount_paid: int
    amount_remaining: int
    currency: str
    attempt_count: int
    preferred_locales: tuple[str, ...]


@dataclass(frozen=True)
class CustomerView:
    """A customer's contact details and whether any subscription is still running."""

    id: str
    email: str | None
    preferred_locales: tuple[str, ...]
    deleted: bool
    live_subscription: str | None  # an active, trialing or past_due subscription, if any


@dataclass(frozen=True)
class CardOnFile:
    """A card that pays for a subscription (or sits on a customer), with its expiry."""

    payment_method: str  # pm_..., card_... or src_...
    customer: str
    subscription: str | None
    brand: str
    last4: str
    exp_month: int
    exp_year: int
    customer_email: str | None = None
    preferred_locales: tuple[str, ...] = ()


def _map(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _int(value: object) -> int | None:
    # bool is an int subclass; a stray True must not read as timestamp 1.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _id_of(value: object) -> str | None:
    """An expandable field is either an id or an object carrying one."""
    return _str(value) or _str(_map(value).get("id"))


def _coupon_of(discount: object) -> str | None:
    if not isinstance(discount, Mapping):
        return None  # an unexpanded discount id ("di_...") says nothing about its coupon
    source = _map(discount.get("source"))
    # API 2025+ nests the coupon under source; older versions had it on the discount itself.
    return _id_of(source.get("coupon")) or _id_of(discount.get("coupon"))


def _subscription_view(data: Mapping[str, Any]) -> SubscriptionView:
    items = _list(_map(data.get("items")).get("data"))
    item = _map(items[0]) if items else {}
    price = _map(item.get("price"))
    recurring = _map(price.get("recurring"))
    product = _map(price.get("product"))
    customer = data.get("customer")
    locales: tuple[str, ...] = ()
    if isinstance(customer, Mapping) and not customer.get("deleted"):
        locales = tuple(x for x in _list(customer.get("preferred_locales")) if isinstance(x, str))
    coupons = tuple(c for c in (_coupon_of(d) for d in _list(data.get("discounts"))) if c)
    email = _str(customer.get("email")) if isinstance(customer, Mapping) else None
    return SubscriptionView(
        id=_str(data.get("id")) or "",
        customer=_id_of(customer) or "",
        status=_str(data.get("status")) or "",
        item_id=_str(item.get("id")),
        price_id=_str(price.get("id")),
        plan_name=_str(price.get("nickname"))
        or (None if product.get("deleted") else _str(product.get("name"))),
        unit_amount=_int(price.get("unit_amount")) or 0,
        currency=_str(price.get("currency")) or _str(data.get("currency")) or "",
        interval=_str(recurring.get("interval")) or "",
        interval_count=_int(recurring.get("interval_count")) or 1,
        quantity=_int(item.get("quantity")) or 1,
        # API 2026 moved the period onto items; the subscription-level field is a fallback only.
        current_period_end=_int(item.get("current_period_end"))
        or _int(data.get("current_period_end")),
        created=_int(data.get("created")) or 0,
        cancel_at_period_end=data.get("cancel_at_period_end") is True,
        cancel_at=_int(data.get("cancel_at")),
        canceled_at=_int(data.get("canceled_at")),
        trial_end=_int(data.get("trial_end")),
        paused=data.get("pause_collection") is not None,
        discount_coupons=coupons,
        preferred_locales=locales,
        customer_email=email,
    )


def subscription_view(data: Mapping[str, Any]) -> SubscriptionView:
    """Parse a subscription object, e.g. the one inside a webhook event (preview mode)."""
    return _subscription_view(data)


def _locales_of(customer: object) -> tuple[str, ...]:
    if not isinstance(customer, Mapping) or customer.get("deleted"):
        return ()
    return tuple(x for x in _list(customer.get("preferred_locales")) if isinstance(x, str))


def invoice_view(data: Mapping[str, Any]) -> InvoiceView:
    """Parse an invoice; API 2025+ keeps the subscription under parent.subscription_details."""
    details = _map(_map(data.get("parent")).get("subscription_details"))
    subscription = _id_of(details.get("subscription")) or _id_of(data.get("subscription"))
    customer = data.get("customer")
    amount_due = _int(data.get("amount_due")) or 0
    amount_paid = _int(data.get("amount_paid")) or 0
    remaining = _int(data.get("amount_remaining"))
    return InvoiceView(
        id=_str(data.get("id")) or "",
        customer=_id_of(customer) or "",
        customer_email=_str(data.get("customer_email"))
        or (_str(customer.get("email")) if isinstance(customer, Mapping) else None),
        subscription=subscription,
        status=_str(data.get("status")) or "",
        amount_due=amount_due,
        amount_paid=amount_paid,
        amount_remaining=remaining if remaining is not None else amount_due - amount_paid,
        currency=_str(data.get("currency")) or "",
        attempt_count=_int(data.get("attempt_count")) or 0,
        preferred_locales=_locales_of(customer),
    )


_LIVE_SUBSCRIPTION_STATUSES = ("active", "trialing", "past_due")


def _customer_view(data: Mapping[str, Any]) -> CustomerView:
    subscriptions = _list(_map(data.get("subscriptions")).get("data"))
    live = next(
        (
            _str(_map(s).get("id"))
            for s in subscriptions
            if _map(s).get("status") in _LIVE_SUBSCRIPTION_STATUSES
        ),
        None,
    )
    return CustomerView(
        id=_str(data.get("id")) or "",
        email=_str(data.get("email")),
        preferred_locales=_locales_of(data),
        deleted=data.get("deleted") is True,
        live_subscription=live,
    )


def _card_details(card: Mapping[str, Any]) -> tuple[str, str, int, int] | None:
    last4, month, year = (
        _str(card.get("last4")),
        _int(card.get("exp_month")),
        _int(card.get("exp_year")),
    )
    if last4 is None or month is None or year is None:
        return None
    return (_str(card.get("brand")) or "card", last4, month, year)


def card_from_source(data: Mapping[str, Any]) -> CardOnFile | None:
    """The card in a ``customer.source.expiring`` event: a card object, or a card source."""
    card = data if data.get("object") == "card" else _map(data.get("card"))
    details = _card_details(card)
    payment_method, customer = _str(data.get("id")), _id_of(data.get("customer"))
    if details is None or payment_method is None or customer is None:
        return None
    brand, last4, month, year = details
    return CardOnFile(payment_method, customer, None, brand, last4, month, year)


def _card_on_file(subscription: Mapping[str, Any]) -> CardOnFile | None:
    """The card that pays a subscription: its own default, else the customer's default."""
    customer = subscription.get("customer")
    settings = _map(_map(customer).get("invoice_settings"))
    for method in (
        subscription.get("default_payment_method"),
        settings.get("default_payment_method"),
    ):
        method = _map(method)
        details = _card_details(_map(method.get("card"))) if method.get("type") == "card" else None
        if details is None:
            continue
        brand, last4, month, year = details
        return CardOnFile(
            payment_method=_str(method.get("id")) or "",
            customer=_id_of(customer) or "",
            subscription=_str(subscription.get("id")),
            brand=brand,
            last4=last4,
            exp_month=month,
            exp_year=year,
            customer_email=_str(_map(customer).get("email")),
            preferred_locales=_locales_of(customer),
        )
    return None


# --- recording HTTP client (tests and preview mode) -------------------------------------------


@dataclass(frozen=True)
class RecordedRequest:
    """One request as it would have gone over the wire."""

    method: str
    path: str
    params: dict[str, str]
    idempotency_key: str | None
    url: str = ""
    # Every header except Authorization, which carries the key.
    headers: dict[str, str] = field(default_factory=dict)

    @property
    def stripe_version(self) -> str | None:
        return self.headers.get("Stripe-Version")


# (status, body) or (status, body, response headers), e.g. {"Stripe-Should-Retry": "false"}.
Responder = Callable[
    [RecordedRequest], tuple[int, dict[str, Any]] | tuple[int, dict[str, Any], dict[str, str]]
]


class RecordingHTTPClient(stripe.HTTPClient):
    """Records every request; answers each from a responder callable or, by default, from
    built-in preview answers."""

    name = "recording"

    def __init__(self, responder: Responder | None = None) -> None:
        super().__init__()
        self._responder: Responder = responder or preview_answer
        self._lock = threading.Lock()
        self.requests: list[RecordedRequest] = []

    def request(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[str, int, Mapping[str, str]]:
        parts = urlsplit(url)
        if isinstance(post_data, bytes):
            post_data = post_data.decode("utf-8")
        body = post_data if isinstance(post_data, str) else parts.query
        recorded = RecordedRequest(
            method=method.lower(),
            path=parts.path,
            params=dict(parse_qsl(body, keep_blank_values=True)),
            idempotency_key=(headers or {}).get("Idempotency-Key"),
            url=url,
            headers={k: v for k, v in (headers or {}).items() if k.lower() != "authorization"},
        )
        with self._lock:
            self.requests.append(recorded)
        answer = self._responder(recorded)
        status, payload = answer[0], answer[1]
        # stripe-python looks headers up in lower case (requests gives it a case-insensitive dict).
        headers = {"content-type": "application/json"}
        if len(answer) == 3:
            headers.update({k.lower(): v for k, v in answer[2].items()})
        return json.dumps(payload), status, headers

    def request_stream(
        self,
        method: str,
        url: str,
        headers: Mapping[str, str] | None,
        post_data: Any = None,
        *,
        _usage: list[str] | None = None,
    ) -> tuple[Any, int, Mapping[str, str]]:
        raise NotImplementedError("RecordingHTTPClient does not stream")

    def close(self) -> None:
        """Nothing to release."""

    def _sleep_time_seconds(self, num_retries: int) -> float:
        # Nothing is remote, so SDK retries need no backoff (keeps tests fast).
        return 0.0


# --- preview answers --------------------------------------------------------------------------

_SUBSCRIPTION_PATH = re.compile(r"^/v1/subscriptions/([^/]+)$")


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


def _apply_update(sub: dict[str, Any], params: Mapping[str, str]) -> None:
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
    if params.get("trial_end", "").isdigit():
        sub["trial_end"] = int(params["trial_end"])
        sub["status"] = "trialing"
        sub["items"]["data"][0]["current_period_end"] = sub["trial_end"]


def preview_answer(req: RecordedRequest) -> tuple[int, dict[str, Any]]:
    """Synthesise the Stripe answer to a request without sending it anywhere."""
    params = req.params
    match = _SUBSCRIPTION_PATH.match(req.path)
    if match:
        sub = _preview_subscription(match.group(1), _expands(params))
        if req.method == "post":
            _apply_update(sub, params)
        elif req.method == "delete":
            _apply_update(sub, params)
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


# --- gateway ----------------------------------------------------------------------------------

_T = TypeVar("_T")


class Gateway:
    """Intent-level Stripe operations for one merchant key."""

    def __init__(
        self, client: stripe.StripeClient, *, recorder: RecordingHTTPClient | None = None
    ) -> None:
        self._client = client
        self._recorder = recorder

    @classmethod
    def for_key(
        cls,
        api_key: str,
        *,
        api_base: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_network_retries: int = 2,
        http_client: stripe.HTTPClient | None = None,
    ) -> Gateway:
        """A gateway talking to Stripe (or ``api_base``) with the given secret or restricted key."""
        if not api_key:
            raise StripeAuthError("No Stripe key configured")
        recorder = http_client if isinstance(http_client, RecordingHTTPClient) else None
        client = stripe.StripeClient(
            api_key,
            stripe_version=API_VERSION,
            max_network_retries=max_network_retries,
            http_client=http_client or stripe.RequestsClient(timeout=timeout),
            base_addresses={"api": api_base} if api_base else None,
        )
        return cls(client, recorder=recorder)

    @classmethod
    def preview(cls) -> Gateway:
        """A gateway that answers from synthesised objects; nothing leaves the machine."""
        recorder = RecordingHTTPClient()
        client = stripe.StripeClient(
            "sk_test_preview",
            stripe_version=API_VERSION,
            http_client=recorder,
            max_network_retries=0,
        )
        return cls(client, recorder=recorder)

    @property
    def recorded(self) -> list[RecordedRequest]:
        """Requests recorded so far ([] when not recording)."""
        return list(self._recorder.requests) if self._recorder else []

    def _call(self, fn: Callable[[], _T]) -> _T:
        try:
            return fn()
        except stripe.StripeError as err:
            # The Stripe exception carries the raw body; ours carries a redacted summary only.
            raise _translate(err) from None

    @staticmethod
    def _options(idempotency_key: str) -> stripe.RequestOptions:
        if not idempotency_key:
            raise ValueError("idempotency_key is required for Stripe writes")
        return {"idempotency_key": idempotency_key}

    def _update(
        self, subscription_id: str, params: SubscriptionUpdateParams, idempotency_key: str
    ) -> SubscriptionView:
        params["expand"] = list(_SUBSCRIPTION_EXPAND)
        options = self._options(idempotency_key)
        sub = self._call(
            lambda: self._client.v1.subscriptions.update(subscription_id, params, options)
        )
        return _subscription_view(sub.to_dict())

    # reads

    def read_subscription(self, subscription_id: str) -> SubscriptionView:
        """Fetch one subscription with customer, product and discounts expanded."""
        params: SubscriptionRetrieveParams = {"expand": list(_SUBSCRIPTION_EXPAND)}
        sub = self._call(lambda: self._client.v1.subscriptions.retrieve(subscription_id, params))
        return _subscription_view(sub.to_dict())

    def read_subscription_status(self, subscription_id: str) -> SubscriptionView:
        """A light read for webhook handlers: status, scheduled cancel, customer contact."""
        params: SubscriptionRetrieveParams = {"expand": ["customer"]}
        sub = self._call(lambda: self._client.v1.subscriptions.retrieve(subscription_id, params))
        return _subscription_view(sub.to_dict())

    def read_invoice(self, invoice_id: str) -> InvoiceView:
        """Fetch one invoice with its customer expanded (email, locales)."""
        params: InvoiceRetrieveParams = {"expand": ["customer"]}
        invoice = self._call(lambda: self._client.v1.invoices.retrieve(invoice_id, params))
        return invoice_view(invoice.to_dict())

    def read_customer(self, customer_id: str) -> CustomerView:
        """Fetch one customer with its subscriptions (to know whether any is still running)."""
        params: CustomerRetrieveParams = {"expand": ["subscriptions"]}
        customer = self._call(lambda: self._client.v1.customers.retrieve(customer_id, params))
        return _customer_view(customer.to_dict())

    def cards_on_file(self, *, page_size: int = 100) -> Iterator[CardOnFile]:
        """Every active subscription's default card (auto-paging, one page in memory)."""
        params: SubscriptionListParams = {
            "status": "active",
            "limit": page_size,
            "expand": [
                "data.default_payment_method",
                "data.customer.invoice_settings.default_payment_method",
            ],
        }
        first = self._call(lambda: self._client.v1.subscriptions.list(params))
        subscriptions = iter(first.auto_paging_iter())
        while True:
            try:
                subscription = next(subscriptions)
            except StopIteration:
                return
            except stripe.StripeError as err:
                raise _translate(err) from None
            card = _card_on_file(subscription.to_dict())
            if card is not None:
                yield card

    # writes

    def create_coupon(
        self,
        *,
        coupon_id: str,
        name: str,
        percent_off: float | None,
        amount_off: int | None,
        currency: str | None,
        duration: CouponDuration,
        duration_in_months: int | None,
        idempotency_key: str,
    ) -> str:
        """Create the coupon for an offer once; an existing coupon with that id counts as done."""
        params: CouponCreateParams = {"id": coupon_id, "name": name, "duration": duration}
        if percent_off is not None:
            params["percent_off"] = percent_off
        if amount_off is not None:
            params["amount_off"] = amount_off
        if currency:
            params["currency"] = currency
        if duration_in_months is not None:
            params["duration_in_months"] = duration_in_months
        options = self._options(idempotency_key)
        try:
            coupon = self._call(lambda: self._client.v1.coupons.create(params, options))
        except StripeRejected as err:
            if err.code == "resource_already_exists":
                return coupon_id
            raise
        return coupon.id or coupon_id

    def apply_discount(
        self, subscription_id: str, coupon_id: str, *, idempotency_key: str
    ) -> SubscriptionView:
        """Replace the subscription's discounts with this coupon (never stack offers)."""
        return self._update(
            subscription_id, {"discounts": [{"coupon": coupon_id}]}, idempotency_key
        )

    def pause(
        self,
        subscription_id: str,
        *,
        resumes_at: int,
        behavior: PauseBehavior,
        idempotency_key: str,
    ) -> SubscriptionView:
        """Pause payment collection until ``resumes_at``."""
        params: SubscriptionUpdateParams = {
            "pause_collection": {"behavior": behavior, "resumes_at": resumes_at}
        }
        return self._update(subscription_id, params, idempotency_key)

    def resume(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionView:
        """Resume payment collection now (an empty string clears pause_collection)."""
        return self._update(subscription_id, {"pause_collection": ""}, idempotency_key)

    def switch_price(
        self,
        subscription_id: str,
        *,
        item_id: str,
        price_id: str,
        proration_behavior: ProrationBehavior,
        idempotency_key: str,
    ) -> SubscriptionView:
        """Move the given item to another price."""
        params: SubscriptionUpdateParams = {
            "items": [{"id": item_id, "price": price_id}],
            "proration_behavior": proration_behavior,
        }
        return self._update(subscription_id, params, idempotency_key)

    def extend_trial(
        self, subscription_id: str, *, trial_end: int, idempotency_key: str
    ) -> SubscriptionView:
        """Give a free period until ``trial_end`` without prorating."""
        params: SubscriptionUpdateParams = {"trial_end": trial_end, "proration_behavior": "none"}
        return self._update(subscription_id, params, idempotency_key)

    def cancel_at_period_end(
        self,
        subscription_id: str,
        *,
        feedback: Feedback | None,
        comment: str | None,
        idempotency_key: str,
    ) -> SubscriptionView:
        """Schedule cancellation at the end of the paid period, recording the reason."""
        params: SubscriptionUpdateParams = {"cancel_at_period_end": True}
        details: SubscriptionUpdateParamsCancellationDetails = {}
        if feedback:
            details["feedback"] = feedback
        if comment:
            details["comment"] = comment
        if details:
            params["cancellation_details"] = details
        return self._update(subscription_id, params, idempotency_key)

    def cancel_now(
        self,
        subscription_id: str,
        *,
        feedback: Feedback | None,
        comment: str | None,
        idempotency_key: str,
    ) -> SubscriptionView:
        """Cancel immediately (DELETE), recording the reason."""
        params: SubscriptionCancelParams = {"expand": list(_SUBSCRIPTION_EXPAND)}
        details: SubscriptionCancelParamsCancellationDetails = {}
        if feedback:
            details["feedback"] = feedback
        if comment:
            details["comment"] = comment
        if details:
            params["cancellation_details"] = details
        # stripe-python adds no Idempotency-Key to v1 DELETE on its own; ours makes retries safe.
        options = self._options(idempotency_key)
        sub = self._call(
            lambda: self._client.v1.subscriptions.cancel(subscription_id, params, options)
        )
        return _subscription_view(sub.to_dict())

    def undo_cancel(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionView:
        """Keep the subscription: clear a scheduled cancellation."""
        return self._update(subscription_id, {"cancel_at_period_end": False}, idempotency_key)

    def portal_url(
        self,
        customer_id: str,
        *,
        return_url: str,
        flow: PortalFlow | None = None,
        subscription_id: str | None = None,
        idempotency_key: str,
    ) -> str:
        """A one-time Stripe customer portal link, optionally deep-linked into a flow."""
        params: SessionCreateParams = {"customer": customer_id, "return_url": return_url}
        if flow == "payment_method_update":
            params["flow_data"] = {"type": "payment_method_update"}
        elif flow == "subscription_cancel":
            if not subscription_id:
                raise ValueError("the subscription_cancel flow needs a subscription_id")
            flow_data: SessionCreateParamsFlowData = {
                "type": "subscription_cancel",
                "subscription_cancel": {"subscription": subscription_id},
            }
            params["flow_data"] = flow_data
        options = self._options(idempotency_key)
        session = self._call(
            lambda: self._client.v1.billing_portal.sessions.create(params, options)
        )
        return session.url


# --- webhooks ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class WebhookEvent:
    """A verified Stripe event, as plain JSON values."""

    id: str
    type: str
    created: int
    livemode: bool
    account: str | None  # set for Connect events
    object: dict[str, Any]  # data.object
    previous_attributes: dict[str, Any]  # data.previous_attributes, {} when absent


def verify_webhook(
    payload: bytes, signature: str | None, secret: str, *, tolerance: int = 300
) -> WebhookEvent:
    """Check the Stripe-Signature header against the raw body and return the event."""
    try:
        stripe.WebhookSignature.verify_header(payload, signature, secret, tolerance)
    except stripe.SignatureVerificationError as err:
        raise InvalidWebhook(f"Webhook signature rejected: {err.user_message}") from None
    try:
        data = json.loads(payload)
    except ValueError:
        raise InvalidWebhook("Webhook body is not JSON") from None
    event = _map(data)
    inner = _map(event.get("data"))
    event_id, event_type = _str(event.get("id")), _str(event.get("type"))
    if event.get("object") != "event" or not event_id or not event_type:
        raise InvalidWebhook("Webhook body is not a Stripe event")
    return WebhookEvent(
        id=event_id,
        type=event_type,
        created=_int(event.get("created")) or 0,
        livemode=event.get("livemode") is True,
        account=_str(event.get("account")),
        object=dict(_map(inner.get("object"))),
        previous_attributes=dict(_map(inner.get("previous_attributes"))),
    )
