"""Checking a merchant's pasted key: its kind and mode first (no request), then one read per
permission the service needs (docs/RELIABILITY.md 16)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import stripe

from cancelpage.billing.errors import StripeAuthError
from cancelpage.billing.gateway import DEFAULT_TIMEOUT, Gateway, ProbedResource

KeyMode = Literal["test", "live"]
KeyKind = Literal["secret", "restricted"]

_KEY_FORMAT = re.compile(r"(sk|rk)_(test|live)_[A-Za-z0-9]{8,247}")


@dataclass(frozen=True)
class KeyPermission:
    """One permission the service needs from a merchant's key, probed with a read call."""

    name: ProbedResource
    label: str
    access: Literal["read", "write"]
    why: str

    @property
    def message(self) -> str:
        return f"{self.label}: {self.access} access needed to {self.why}."


REQUIRED_PERMISSIONS: tuple[KeyPermission, ...] = (
    KeyPermission(
        "subscriptions", "Subscriptions", "write", "read subscriptions, apply offers and cancel"
    ),
    KeyPermission(
        "customers",
        "Customers",
        "read",
        "check that a subscription belongs to the customer in the link",
    ),
    KeyPermission("coupons", "Coupons", "write", "create the coupons behind discount offers"),
    KeyPermission("prices", "Prices", "read", "show the customer's plan and switch plans"),
    KeyPermission("products", "Products", "read", "show plan names"),
    KeyPermission(
        "billing_portal",
        "Customer portal",
        "write",
        "send customers to Stripe's portal to update a card or finish cancelling, and to keep "
        "cancelpage's portal configuration",
    ),
)

# Read-only extras the revenue scan needs beyond the above (Subscriptions and Coupons are covered
# by their write access). Missing ones do not refuse the key: only the scan needs them.
SCAN_PERMISSIONS: tuple[KeyPermission, ...] = (
    KeyPermission(
        "invoices", "Invoices", "read", "run the Revenue Scan (failed and recovered payments)"
    ),
)


@dataclass(frozen=True)
class KeyCheck:
    """What a pasted key is and whether it can do what the service needs, in plain words."""

    last4: str
    mode: KeyMode | None = None
    kind: KeyKind | None = None
    # Why the key cannot be used at all (wrong kind of key, unknown to Stripe); None when usable.
    refusal: str | None = None
    missing: tuple[KeyPermission, ...] = ()
    # Read permissions only the revenue scan needs (the key is usable without them).
    scan_missing: tuple[KeyPermission, ...] = ()

    @property
    def usable(self) -> bool:
        return self.refusal is None and not self.missing

    @property
    def messages(self) -> tuple[str, ...]:
        if self.refusal is not None:
            return (self.refusal,)
        return tuple(p.message for p in self.missing)

    @property
    def scan_messages(self) -> tuple[str, ...]:
        return tuple(p.message for p in self.scan_missing)


def _refusal_for_format(key: str) -> str | None:
    """A plain-words reason why this string is not a usable secret or restricted key."""
    if _KEY_FORMAT.fullmatch(key):
        return None
    if key.startswith("pk_"):
        return (
            "This is a publishable key (pk_…), which only works in browsers. Paste a restricted "
            "key (rk_…) or a secret key (sk_…) from the API keys page of your Stripe dashboard."
        )
    if key.startswith("whsec_"):
        return (
            "This is a webhook signing secret (whsec_…), not an API key. Add it under webhook "
            "signing secrets instead."
        )
    if key.startswith(("sk_", "rk_")):
        return (
            "This key looks incomplete: a Stripe key continues with test_ or live_ and a long "
            "run of letters and digits. Copy it again from your Stripe dashboard."
        )
    return (
        "This does not look like a Stripe API key. It should start with rk_test_, rk_live_, "
        "sk_test_ or sk_live_."
    )


def check_key(
    api_key: str,
    *,
    api_base: str | None = None,
    http_client: stripe.HTTPClient | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> KeyCheck:
    """Check a pasted key: its prefix and mode first (no request), then one read per permission.

    A 401 refuses the key; a 403 on a read means that permission is missing. Reads cannot prove
    write access, so a read-only restricted key passes here and fails on its first write.
    Raises StripeUnavailable when Stripe cannot be reached (nothing can be said about the key).
    """
    key = api_key.strip()
    last4 = key[-4:] if len(key) >= 4 else ""
    refusal = _refusal_for_format(key)
    if refusal is not None:
        return KeyCheck(last4=last4, refusal=refusal)
    kind: KeyKind = "restricted" if key.startswith("rk_") else "secret"
    mode: KeyMode = "live" if key[3:].startswith("live_") else "test"
    gateway = Gateway.for_key(
        key, api_base=api_base, timeout=timeout, max_network_retries=1, http_client=http_client
    )
    missing: list[KeyPermission] = []
    for permission in REQUIRED_PERMISSIONS + SCAN_PERMISSIONS:
        try:
            gateway.probe(permission.name)
        except StripeAuthError as err:
            if err.http_status == 403:
                missing.append(permission)
                continue
            return KeyCheck(
                last4=last4,
                mode=mode,
                kind=kind,
                refusal="Stripe does not accept this key: it may have been revoked, rolled or "
                "mistyped. Copy it again from your Stripe dashboard.",
            )
    return KeyCheck(
        last4=last4,
        mode=mode,
        kind=kind,
        missing=tuple(p for p in missing if p in REQUIRED_PERMISSIONS),
        scan_missing=tuple(p for p in missing if p in SCAN_PERMISSIONS),
    )
