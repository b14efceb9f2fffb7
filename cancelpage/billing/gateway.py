"""Stripe gateway: intent-level operations in, plain values and project errors out.

This is the only module that imports ``stripe``. Every write carries the caller's idempotency
key, so a retried click or a retried network call is applied at most once by Stripe.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Any, Literal, TypeVar, cast

import stripe
from flask import current_app
from stripe.params import (
    CouponCreateParams,
    CustomerRetrieveParams,
    InvoiceListParams,
    InvoicePayParams,
    InvoiceRetrieveParams,
    PromotionCodeCreateParams,
    SubscriptionCancelParams,
    SubscriptionCancelParamsCancellationDetails,
    SubscriptionListParams,
    SubscriptionRetrieveParams,
    SubscriptionUpdateParams,
)
from stripe.params.billing_portal import (
    ConfigurationCreateParams,
    ConfigurationListParams,
    ConfigurationUpdateParams,
    SessionCreateParams,
    SessionCreateParamsFlowData,
)

from cancelpage.billing.errors import (
    StripeAuthError,
    StripeRejected,
    translate,
)
from cancelpage.billing.paging import PAGE_SIZE, Page, ReadStats, read_page
from cancelpage.billing.portal import PortalConfigurationView, configuration_view
from cancelpage.billing.recording import RecordedRequest, RecordingHTTPClient
from cancelpage.billing.values import (
    CardOnFile,
    CustomerView,
    InvoiceView,
    ScannedInvoice,
    ScannedSubscription,
    SubscriptionView,
    card_on_file,
    customer_view,
    invoice_view,
    scanned_invoice,
    scanned_subscription,
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

# The subscription writes Gateway.perform sends from stored arguments (a cancel session's one
# final write); in_place tells from a fresh read whether one of them is in Stripe.
SubscriptionWrite = Literal[
    "apply_discount",
    "pause",
    "switch_price",
    "extend_trial",
    "cancel_at_period_end",
    "cancel_now",
    "undo_cancel",
]


def in_place(
    view: SubscriptionView, operation: SubscriptionWrite, arguments: Mapping[str, Any]
) -> bool:
    """Whether a fresh read of the subscription shows the write (its ``keep`` part included)."""
    if arguments.get("keep") and view.cancel_at_period_end:
        return False
    match operation:
        case "apply_discount":
            return str(arguments["coupon_id"]) in view.discount_coupons
        case "pause":
            return view.paused
        case "switch_price":
            return view.price_id == str(arguments["price_id"])
        case "extend_trial":
            return view.trial_end == int(arguments["trial_end"])
        case "cancel_at_period_end":
            return view.cancel_at_period_end or view.status == "canceled"
        case "cancel_now":
            return view.status == "canceled"
        case "undo_cancel":
            return not view.cancel_at_period_end


# What Gateway.probe can read, one per permission a merchant's key needs (see billing.keys).
ProbedResource = Literal[
    "subscriptions", "customers", "coupons", "prices", "products", "billing_portal", "invoices"
]

# The list filters the revenue scan reads with. The List API, not the Search API: search results
# lag writes (Stripe: "under normal operating conditions, data is searchable in under 1 minute",
# longer during an outage) and search cannot filter on what the scan needs either.
ScanSubscriptionStatus = Literal["canceled", "past_due", "unpaid", "active", "trialing"]
ScanInvoiceStatus = Literal["paid", "open", "uncollectible", "void"]
# Discounts are ids on a listed subscription; the coupon behind each says how much it takes off.
_SCAN_SUBSCRIPTION_EXPAND = ["data.discounts.source.coupon"]


# --- gateway ----------------------------------------------------------------------------------

_T = TypeVar("_T")


def _stripe_call(fn: Callable[[], _T]) -> _T:
    try:
        return fn()
    except stripe.StripeError as err:
        # The Stripe exception carries the raw body; ours carries a redacted summary only.
        raise translate(err) from None


def _keeping(params: SubscriptionUpdateParams, keep: bool) -> SubscriptionUpdateParams:
    """With ``keep``, the same update also clears a scheduled cancel: an offer accepted on a
    subscription that was set to end is one request, so it is in place wholly or not at all."""
    if keep:
        params["cancel_at_period_end"] = False
    return params


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
        self,
        client: stripe.StripeClient,
        *,
        recorder: RecordingHTTPClient | None = None,
        portal_configuration: str | None = None,
    ) -> None:
        self._client = client
        self._recorder = recorder
        # The merchant's cancelpage-owned portal configuration: every portal session uses it.
        self.portal_configuration = portal_configuration

    def with_portal_configuration(self, configuration_id: str | None) -> Gateway:
        """The same gateway (client and recorder shared) whose portal sessions use this
        configuration."""
        return Gateway(self._client, recorder=self._recorder, portal_configuration=configuration_id)

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
            "invoices": lambda: self._client.v1.invoices.list({"limit": 1}),
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

    def portal_configurations(self) -> list[PortalConfigurationView]:
        """Every portal configuration of the account (auto-paging; accounts have a handful)."""
        params: ConfigurationListParams = {"limit": 100}
        first = self._call(lambda: self._client.v1.billing_portal.configurations.list(params))
        return self._call(
            lambda: [configuration_view(c.to_dict()) for c in first.auto_paging_iter()]
        )

    def portal_configuration_view(self, configuration_id: str) -> PortalConfigurationView:
        """One portal configuration, read again (a webhook's copy may be stale)."""
        config = self._call(
            lambda: self._client.v1.billing_portal.configurations.retrieve(configuration_id)
        )
        return configuration_view(config.to_dict())

    def products_of(self, price_ids: list[str]) -> dict[str, str]:
        """Each price's product (the portal lists switchable prices by product)."""
        return {price_id: self._product_of(price_id) for price_id in price_ids}

    def _product_of(self, price_id: str) -> str:
        price = self._call(lambda: self._client.v1.prices.retrieve(price_id))
        return price.product if isinstance(price.product, str) else price.product.id

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

    def subscriptions_page(
        self,
        status: ScanSubscriptionStatus,
        *,
        stats: ReadStats,
        created_before: int | None = None,
        starting_after: str | None = None,
    ) -> Page[ScannedSubscription]:
        """One page (100) of subscriptions in one status, newest first, discounts expanded."""
        params: SubscriptionListParams = {
            "status": status,
            "limit": PAGE_SIZE,
            "expand": list(_SCAN_SUBSCRIPTION_EXPAND),
        }
        if created_before is not None:
            # Nothing created after the window can have ended in it.
            params["created"] = {"lt": created_before}
        if starting_after:
            params["starting_after"] = starting_after
        return read_page(
            lambda: self._raw_list("/v1/subscriptions", params), scanned_subscription, stats
        )

    def invoices_page(
        self,
        status: ScanInvoiceStatus,
        *,
        stats: ReadStats,
        created_from: int,
        created_before: int,
        starting_after: str | None = None,
    ) -> Page[ScannedInvoice]:
        """One page (100) of automatically charged invoices in one status created in a window."""
        params: InvoiceListParams = {
            "status": status,
            "collection_method": "charge_automatically",
            "created": {"gte": created_from, "lt": created_before},
            "limit": PAGE_SIZE,
        }
        if starting_after:
            params["starting_after"] = starting_after
        return read_page(lambda: self._raw_list("/v1/invoices", params), scanned_invoice, stats)

    def _raw_list(self, path: str, params: Mapping[str, object]) -> Mapping[str, Any]:
        """A list read kept as parsed JSON: the same request as ``client.v1.*.list``, without
        building a StripeObject per field (most of the time of a long scan)."""
        response = self._client.raw_request("get", path, **params)
        data: Mapping[str, Any] = response.data
        return data

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
        self, subscription_id: str, coupon_id: str, *, keep: bool = False, idempotency_key: str
    ) -> SubscriptionView:
        """Replace the subscription's discounts with this coupon (never stack offers)."""
        params: SubscriptionUpdateParams = {"discounts": [{"coupon": coupon_id}]}
        return self._update(subscription_id, _keeping(params, keep), idempotency_key)

    def pause(
        self,
        subscription_id: str,
        *,
        resumes_at: int,
        behavior: PauseBehavior,
        keep: bool = False,
        idempotency_key: str,
    ) -> SubscriptionView:
        """Pause payment collection until ``resumes_at``."""
        params: SubscriptionUpdateParams = {
            "pause_collection": {"behavior": behavior, "resumes_at": resumes_at}
        }
        return self._update(subscription_id, _keeping(params, keep), idempotency_key)

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
        keep: bool = False,
        idempotency_key: str,
    ) -> SubscriptionView:
        """Move the given item to another price."""
        params: SubscriptionUpdateParams = {
            "items": [{"id": item_id, "price": price_id}],
            "proration_behavior": proration_behavior,
        }
        return self._update(subscription_id, _keeping(params, keep), idempotency_key)

    def extend_trial(
        self, subscription_id: str, *, trial_end: int, keep: bool = False, idempotency_key: str
    ) -> SubscriptionView:
        """Give a free period until ``trial_end`` without prorating."""
        params: SubscriptionUpdateParams = {"trial_end": trial_end, "proration_behavior": "none"}
        return self._update(subscription_id, _keeping(params, keep), idempotency_key)

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

    def perform(
        self,
        operation: SubscriptionWrite,
        subscription_id: str,
        arguments: Mapping[str, Any],
        *,
        idempotency_key: str,
    ) -> SubscriptionView:
        """One stored subscription write, sent: the same operation and arguments always make the
        same request, so a retry under the same key is exactly the request Stripe expects."""
        args, key, keep = arguments, idempotency_key, bool(arguments.get("keep"))
        match operation:
            case "apply_discount":
                return self.apply_discount(
                    subscription_id, str(args["coupon_id"]), keep=keep, idempotency_key=key
                )
            case "pause":
                return self.pause(
                    subscription_id,
                    resumes_at=int(args["resumes_at"]),
                    behavior=args["behavior"],
                    keep=keep,
                    idempotency_key=key,
                )
            case "switch_price":
                return self.switch_price(
                    subscription_id,
                    item_id=str(args["item_id"]),
                    price_id=str(args["price_id"]),
                    proration_behavior=args["proration_behavior"],
                    keep=keep,
                    idempotency_key=key,
                )
            case "extend_trial":
                return self.extend_trial(
                    subscription_id,
                    trial_end=int(args["trial_end"]),
                    keep=keep,
                    idempotency_key=key,
                )
            case "cancel_at_period_end" | "cancel_now":
                cancel = self.cancel_at_period_end if operation != "cancel_now" else self.cancel_now
                return cancel(
                    subscription_id,
                    feedback=args.get("feedback"),
                    comment=args.get("comment"),
                    idempotency_key=key,
                )
            case "undo_cancel":
                return self.undo_cancel(subscription_id, idempotency_key=key)

    def create_portal_configuration(
        self, params: ConfigurationCreateParams, *, idempotency_key: str
    ) -> PortalConfigurationView:
        """Create a portal configuration (cancelpage's own, marked in its metadata)."""
        options = self._options(idempotency_key)
        config = self._call(
            lambda: self._client.v1.billing_portal.configurations.create(params, options)
        )
        return configuration_view(config.to_dict())

    def update_portal_configuration(
        self, configuration_id: str, params: ConfigurationCreateParams, *, idempotency_key: str
    ) -> PortalConfigurationView:
        """Set every feature of an existing configuration to these contents."""
        # The update takes the create's fields, each optional: the same dict is valid for both.
        update = cast(ConfigurationUpdateParams, dict(params))
        # A URL the merchant removed must be cleared in Stripe, not left as it was.
        update["business_profile"] = {
            "privacy_policy_url": "",
            "terms_of_service_url": "",
            **params.get("business_profile", {}),
        }
        options = self._options(idempotency_key)
        config = self._call(
            lambda: self._client.v1.billing_portal.configurations.update(
                configuration_id, update, options
            )
        )
        return configuration_view(config.to_dict())

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
        configuration: str | None = None,
    ) -> str:
        """A one-time Stripe customer portal link, optionally deep-linked into a flow.

        It shows ``configuration``, by default the merchant's cancelpage-owned one (else the
        account's default).
        """
        params: SessionCreateParams = {"customer": customer_id, "return_url": return_url}
        configuration = configuration or self.portal_configuration
        if configuration:
            params["configuration"] = configuration
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
    return factory(merchant).with_portal_configuration(merchant.portal_configuration_id)


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
