"""Secrets a merchant manages in the dashboard: the Stripe key (checked before it is kept), the
preview/live switch, webhook signing secrets and link-signing secrets. All are encrypted at rest
(models + vault); pages only ever see the last four characters, except a new link secret once.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import UTC, datetime

from flask import current_app

from cancelpage import billing, links
from cancelpage.models import Merchant

WEBHOOK_SECRET_RE = re.compile(r"whsec_[A-Za-z0-9+/=_-]{8,200}")
MAX_WEBHOOK_SECRETS = 2  # the current one, and the next during a roll
MAX_LINK_SECRETS = 3


class SecretError(ValueError):
    """The change was refused; the message says why in plain words."""


def default_key_checker(api_key: str) -> billing.KeyCheck:
    config = current_app.config
    return billing.check_key(
        api_key, api_base=config["STRIPE_API_BASE"], timeout=float(config["STRIPE_TIMEOUT"])
    )


def check_key(api_key: str) -> billing.KeyCheck:
    """Check a key through the app's checker (tests install one on a recording HTTP client)."""
    checker: Callable[[str], billing.KeyCheck] = current_app.extensions.get(
        "cancelpage.key_checker", default_key_checker
    )
    return checker(api_key)


def connect_stripe(merchant: Merchant, api_key: str) -> billing.KeyCheck:
    """Check a pasted key and keep it only if it is usable.

    A merchant in preview stays in preview until they switch to live themselves.
    May raise billing.StripeUnavailable (then nothing is saved).
    """
    result = check_key(api_key)
    if not result.usable:
        return result
    was_live = merchant.live
    merchant.set_stripe_key(api_key.strip())
    merchant.stripe_key_check = {
        "mode": result.mode,
        "kind": result.kind,
        # Shown on the Revenue Scan page: what the key still needs for the scan.
        "scan_missing": list(result.scan_messages),
        "checked_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    merchant.preview_mode = not was_live
    return result


def disconnect_stripe(merchant: Merchant) -> None:
    merchant.set_stripe_key(None)
    merchant.stripe_key_check = {}
    merchant.preview_mode = False


def set_live(merchant: Merchant, live: bool) -> None:
    """The preview/live switch: live sends real requests to Stripe with the saved key."""
    if live and merchant.stripe_key_encrypted is None:
        raise SecretError("Connect a Stripe key before switching to live.")
    merchant.preview_mode = not live


def add_webhook_secret(merchant: Merchant, secret: str) -> None:
    secret = secret.strip()
    if not WEBHOOK_SECRET_RE.fullmatch(secret):
        raise SecretError(
            "A webhook signing secret starts with whsec_; copy it from the webhook endpoint's "
            "page in your Stripe dashboard."
        )
    current = merchant.webhook_secrets
    if secret in current:
        raise SecretError("This secret is already saved.")
    if len(current) >= MAX_WEBHOOK_SECRETS:
        raise SecretError(
            f"At most {MAX_WEBHOOK_SECRETS} secrets (the current one and the next during a roll):"
            " remove the old one first."
        )
    merchant.webhook_secrets = [*current, secret]


def remove_webhook_secret(merchant: Merchant, index: int) -> None:
    current = merchant.webhook_secrets
    if not 0 <= index < len(current):
        raise SecretError("That secret is no longer there.")
    merchant.webhook_secrets = current[:index] + current[index + 1 :]


def rotate_link_secret(merchant: Merchant) -> str:
    """Add a new signing secret (it signs from now on; older ones keep verifying)."""
    current = merchant.link_secrets
    if len(current) >= MAX_LINK_SECRETS:
        raise SecretError(f"At most {MAX_LINK_SECRETS} link secrets: remove an old one first.")
    secret = links.new_secret()
    merchant.link_secrets = [*current, secret]
    return secret


def remove_link_secret(merchant: Merchant, index: int) -> None:
    current = merchant.link_secrets
    if not 0 <= index < len(current):
        raise SecretError("That secret is no longer there.")
    if len(current) == 1:
        raise SecretError("This is the only secret: generate a new one before removing it.")
    merchant.link_secrets = current[:index] + current[index + 1 :]


def last4s(secrets: list[str]) -> list[str]:
    return [s[-4:] for s in secrets]
