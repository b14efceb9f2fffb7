"""The merchant dashboard: sign-in, settings, Stripe connection, flow editor, preview, emails,
API keys, the embed and the revenue scan.

Importing the view modules registers their routes on the blueprint.
"""

from cancelpage.admin import (
    api_keys,
    auth,
    compliance,
    email_settings,
    embed,
    flow_editor,
    overview,
    preview,
    revenue_scan,
    settings,
    stripe_connection,
    webhook_settings,
)
from cancelpage.admin.common import bp

__all__ = [
    "api_keys",
    "auth",
    "bp",
    "compliance",
    "email_settings",
    "embed",
    "flow_editor",
    "overview",
    "preview",
    "revenue_scan",
    "settings",
    "stripe_connection",
    "webhook_settings",
]
