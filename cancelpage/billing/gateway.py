"""Stripe gateway: intent-level operations in, plain values and project errors out.

This is the only module that imports ``stripe``. Every write carries the caller's idempotency
key, so a retried click or a retried network call is applied at most once by Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Literal, TypeVar

import stripe
from flask import current_app
from stripe.params import (
    CouponCreateParams,
    CustomerRetrieveParams,
    InvoicePayParams,
    InvoiceRetrieveParams,
    PromotionCodeCreateParams,
    SubscriptionCancelParams,
    SubscriptionCancelParamsCancellationDetails,
    SubscriptionListParams,
    SubscriptionRetrieveParams,
    SubscriptionUpdateParams,
)
from stripe.params.billing_portal import SessionCreateParams, SessionCreateParamsFlowData

from cancelpage.billing.errors import (
    StripeAuthError,
    StripeRejected,
    translate,
)
from cancelpage.billing.recording import RecordedRequest, RecordingHTTPClient
from cancelpage.billing.values import (
    CardOnFile,
    CustomerView,
    InvoiceView,
    SubscriptionView,
    card_on_file,
    customer_view,
    invoice_view,
    subscription_view,
)

if TYPE_CHECKING:
    from cancelpage.models import Merchant
from cancelpage.vocabulary import (
    CouponDuration,
    Feedback,
    PauseBehavior,
    PortalFlow,
    ProrationBehavior,
)

# Pinned explicitly so an SDK upgrade never silently changes the wire format we parse.
API_VERSION = "2026-10-28.endive"
DEFAULT_TIMEOUT = 10.0  # seconds; well under gunicorn's 30 s worker timeout

# Expanded on every subscription read and write so one round trip yields a complete view:
# customer locales, product name for the plan, and coupon ids behind the discount ids.
_SUBSCRIPTION_EXPAND = ["customer", "items.data.price.product", "discounts"]

# What Gateway.probe can read, one per permission a merchant's key needs (see billing.keys).
ProbedResource = Literal[
    "subscriptions", "customers", "coupons", "prices", "products", "billing_portal"
]


# --- gateway ----------------------------------------------------------------------------------

_T = TypeVar("_T")


def _stripe_call(fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except stripe.StripeError as err:
        # The Stripe exception carries the raw body; ours carries a redacted summary only.
        raise translate(err) from None


def _cancellation_details(
    feedback: Feedback | None, comment: str | None
) -> SubscriptionCancelParamsCancellationDetails:
    """Why the customer left, as Stripe records it on a cancel (only what is known)."""
    details: SubscriptionCancelParamsCancellationDetails = {}
    if feedback:
        details["feedback"] = feedback
    if comment:
        details["comment"] = comment
    return details


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
        return _stripe_call(fn)

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
        return subscription_view(sub.to_dict())

    # reads

    def probe(self, resource: ProbedResource) -> None:
        """One cheap read of a resource (a list of one), to learn whether the key may read it."""
        lists: dict[ProbedResource, Callable[[], object]] = {
            "subscriptions": lambda: self._client.v1.subscriptions.list({"limit": 1}),
            "customers": lambda: self._client.v1.customers.list({"limit": 1}),
            "coupons": lambda: self._client.v1.coupons.list({"limit": 1}),
            "prices": lambda: self._client.v1.prices.list({"limit": 1}),
            "products": lambda: self._client.v1.products.list({"limit": 1}),
            "billing_portal": lambda: self._client.v1.billing_portal.configurations.list(
                {"limit": 1}
            ),
        }
        self._call(lists[resource])

    def _retrieve(self, subscription_id: str, expand: list[str]) -> SubscriptionView:
        params: SubscriptionRetrieveParams = {"expand": expand}
        sub = self._call(lambda: self._client.v1.subscriptions.retrieve(subscription_id, params))
        return subscription_view(sub.to_dict())

    def read_subscription(self, subscription_id: str) -> SubscriptionView:
        """Fetch one subscription with customer, product and discounts expanded."""
        return self._retrieve(subscription_id, list(_SUBSCRIPTION_EXPAND))

    def read_subscription_status(self, subscription_id: str) -> SubscriptionView:
        """A light read for webhook handlers: status, scheduled cancel, customer contact."""
        return self._retrieve(subscription_id, ["customer"])

    def read_invoice(self, invoice_id: str, *, with_discounts: bool = False) -> InvoiceView:
        """Fetch one invoice with its customer expanded (email, locales), and its discounts
        (to see which promotion codes were used) when asked."""
        expand = ["customer", "discounts"] if with_discounts else ["customer"]
        params: InvoiceRetrieveParams = {"expand": expand}
        invoice = self._call(lambda: self._client.v1.invoices.retrieve(invoice_id, params))
        return invoice_view(invoice.to_dict())

    def read_customer(self, customer_id: str) -> CustomerView:
        """Fetch one customer with its subscriptions (to know whether any is still running)."""
        params: CustomerRetrieveParams = {"expand": ["subscriptions"]}
        customer = self._call(lambda: self._client.v1.customers.retrieve(customer_id, params))
        return customer_view(customer.to_dict())

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
                raise translate(err) from None
            card = card_on_file(subscription.to_dict())
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
        details = _cancellation_details(feedback, comment)
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
        details = _cancellation_details(feedback, comment)
        if details:
            params["cancellation_details"] = details
        # stripe-python adds no Idempotency-Key to v1 DELETE on its own; ours makes retries safe.
        options = self._options(idempotency_key)
        sub = self._call(
            lambda: self._client.v1.subscriptions.cancel(subscription_id, params, options)
        )
        return subscription_view(sub.to_dict())

    def undo_cancel(self, subscription_id: str, *, idempotency_key: str) -> SubscriptionView:
        """Keep the subscription: clear a scheduled cancellation."""
        return self._update(subscription_id, {"cancel_at_period_end": False}, idempotency_key)

    def pay_invoice(
        self, invoice_id: str, *, payment_method: str, idempotency_key: str
    ) -> InvoiceView:
        """Charge an open invoice now with the given payment method (a card just updated)."""
        params: InvoicePayParams = {"payment_method": payment_method, "expand": ["customer"]}
        options = self._options(idempotency_key)
        invoice = self._call(lambda: self._client.v1.invoices.pay(invoice_id, params, options))
        return invoice_view(invoice.to_dict())

    def create_promotion_code(
        self,
        *,
        coupon_id: str,
        customer_id: str,
        expires_at: int,
        idempotency_key: str,
    ) -> tuple[str, str]:
        """A single-use code for one customer only, expiring; returns (id, code)."""
        params: PromotionCodeCreateParams = {
            "promotion": {"type": "coupon", "coupon": coupon_id},
            "customer": customer_id,
            "max_redemptions": 1,
            "expires_at": expires_at,
        }
        options = self._options(idempotency_key)
        code = self._call(lambda: self._client.v1.promotion_codes.create(params, options))
        return code.id, code.code

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


# --- the gateway of a merchant ----------------------------------------------------------------


def gateway_for(merchant: Merchant) -> Gateway:
    """The merchant's gateway, from the app's factory (tests and benchmarks install their own)."""
    factory: Callable[[Merchant], Gateway] = current_app.extensions["cancelpage.gateway"]
    return factory(merchant)


def default_gateway_factory(merchant: Merchant) -> Gateway:
    """Stripe with the merchant's key and the configured timeouts; preview without a key."""
    key = merchant.stripe_key()
    if key is None:
        return Gateway.preview()
    config = current_app.config
    return Gateway.for_key(
        key,
        api_base=config["STRIPE_API_BASE"],
        timeout=float(config["STRIPE_TIMEOUT"]),
        max_network_retries=int(config["STRIPE_MAX_RETRIES"]),
    )
