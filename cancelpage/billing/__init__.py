"""The one door to Stripe: intent-level operations in, plain values and project errors out.

Only this package imports ``stripe`` (ruff's banned-API rule enforces it). Every write carries the
caller's idempotency key, so a retried click or a retried network call is applied at most once.

- ``gateway``: the Gateway (reads and writes for one key) and ``gateway_for(merchant)``
- ``errors``: BillingError and its kinds (unavailable, rejected, auth, invalid webhook)
- ``values``: Stripe objects parsed into plain values
- ``recording`` and ``preview``: the recording HTTP client and the preview emulator behind it
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
from cancelpage.billing.gateway import API_VERSION, Gateway, default_gateway_factory, gateway_for
from cancelpage.billing.keys import REQUIRED_PERMISSIONS, KeyCheck, KeyPermission, check_key
from cancelpage.billing.recording import RecordedRequest, RecordingHTTPClient
from cancelpage.billing.values import (
    CardOnFile,
    CustomerView,
    InvoiceView,
    SubscriptionView,
    card_from_source,
    id_of,
    invoice_view,
    subscription_view,
)
from cancelpage.billing.webhooks import WebhookEvent, verify_webhook

__all__ = [
    "API_VERSION",
    "REQUIRED_PERMISSIONS",
    "BillingError",
    "CardOnFile",
    "CustomerView",
    "Gateway",
    "InvalidWebhook",
    "InvoiceView",
    "KeyCheck",
    "KeyPermission",
    "RecordedRequest",
    "RecordingHTTPClient",
    "StripeAuthError",
    "StripeRejected",
    "StripeUnavailable",
    "SubscriptionView",
    "WebhookEvent",
    "card_from_source",
    "check_key",
    "default_gateway_factory",
    "gateway_for",
    "id_of",
    "invoice_view",
    "subscription_view",
    "verify_webhook",
]
