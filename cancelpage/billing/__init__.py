"""The one door to Stripe: intent-level operations in, plain values and project errors out.

Only this package imports ``stripe`` (ruff's banned-API rule enforces it). Every write carries the
caller's idempotency key, so a retried click or a retried network call is applied at most once.

- ``gateway``: the Gateway (reads and writes for one key) and ``gateway_for(merchant)``
- ``errors``: BillingError and its kinds (unavailable, rejected, auth, invalid webhook)
- ``values``: Stripe objects parsed into plain values
- ``recording`` and ``preview``: the recording HTTP client and the preview emulator behind it
- ``paging``: long lists read a page at a time (counted, bounded, 429s waited out)
- ``keys``: checking a merchant's pasted key
- ``webhooks``: verifying a webhook body
"""

from __future__ import annotations

from cancelpage.billing.errors import (
    BillingError,
    InvalidWebhook,
    StripeAuthError,
    StripeRejected,
    StripeUnavailable,
)
from cancelpage.billing.gateway import (
    API_VERSION,
    Gateway,
    ScanInvoiceStatus,
    ScanSubscriptionStatus,
    SubscriptionWrite,
    default_gateway_factory,
    gateway_for,
    in_place,
)
from cancelpage.billing.keys import (
    REQUIRED_PERMISSIONS,
    SCAN_PERMISSIONS,
    KeyCheck,
    KeyPermission,
    check_key,
)
from cancelpage.billing.paging import Page, ReadStats, RequestBudgetExceeded
from cancelpage.billing.recording import RecordedRequest, RecordingHTTPClient
from cancelpage.billing.values import (
    CardOnFile,
    CustomerView,
    DiscountTerms,
    InvoiceView,
    PricedItem,
    ScannedInvoice,
    ScannedSubscription,
    SubscriptionView,
    card_from_source,
    id_of,
    invoice_view,
    subscription_view,
)
from cancelpage.billing.webhooks import WebhookEvent, parse_event, verify_webhook

__all__ = [
    "API_VERSION",
    "REQUIRED_PERMISSIONS",
    "SCAN_PERMISSIONS",
    "BillingError",
    "CardOnFile",
    "CustomerView",
    "DiscountTerms",
    "Gateway",
    "InvalidWebhook",
    "InvoiceView",
    "KeyCheck",
    "KeyPermission",
    "Page",
    "PricedItem",
    "ReadStats",
    "RecordedRequest",
    "RecordingHTTPClient",
    "RequestBudgetExceeded",
    "ScanInvoiceStatus",
    "ScanSubscriptionStatus",
    "ScannedInvoice",
    "ScannedSubscription",
    "StripeAuthError",
    "StripeRejected",
    "StripeUnavailable",
    "SubscriptionView",
    "SubscriptionWrite",
    "WebhookEvent",
    "card_from_source",
    "check_key",
    "default_gateway_factory",
    "gateway_for",
    "id_of",
    "in_place",
    "invoice_view",
    "parse_event",
    "subscription_view",
    "verify_webhook",
]
