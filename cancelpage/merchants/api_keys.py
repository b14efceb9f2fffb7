"""API keys for the link API: shown once, stored as a SHA-256 digest, revocable.

A key is ``cp_<mode>_<id>_<secret>``: the mode and short id are visible in the dashboard to tell
keys apart; the secret part has 256 bits of randomness, so a plain SHA-256 digest is enough to
store it (there is nothing to brute-force, unlike a password).
"""

from __future__ import annotations

import hashlib
import secrets
import string

import sqlalchemy as sa

from cancelpage.extensions import db
from cancelpage.models import ApiKey, Merchant, utcnow

MAX_KEY_LENGTH = 200
_ID_ALPHABET = string.ascii_lowercase + string.digits


class ApiKeyError(ValueError):
    """A key cannot be created as asked; the message is shown as is."""


def digest(raw_key: str) -> str:
    return hashlib.sha256(raw_key.encode()).hexdigest()


def key_mode(merchant: Merchant) -> str:
    """'live' when links from this key reach real live-mode subscriptions, else 'test'."""
    return "live" if merchant.live and merchant.stripe_key_check.get("mode") == "live" else "test"


def create_key(merchant: Merchant, name: str) -> tuple[ApiKey, str]:
    """A new key for the merchant: (row, the full key to show once)."""
    name = name.strip()
    if not name or len(name) > 80:
        raise ApiKeyError("Give the key a name of 1 to 80 characters, e.g. “Billing backend”.")
    visible = "".join(secrets.choice(_ID_ALPHABET) for _ in range(8))
    prefix = f"cp_{key_mode(merchant)}_{visible}"
    raw = f"{prefix}_{secrets.token_urlsafe(32)}"
    key = ApiKey(merchant_id=merchant.id, name=name, prefix=prefix, digest=digest(raw))
    db.session.add(key)
    db.session.flush()
    return key, raw


def authenticate(raw_key: str) -> ApiKey | None:
    """The active key with this value, or None."""
    if not raw_key.startswith("cp_") or len(raw_key) > MAX_KEY_LENGTH:
        return None
    key = db.session.scalar(sa.select(ApiKey).where(ApiKey.digest == digest(raw_key)))
    if key is None or key.revoked_at is not None:
        return None
    return key


def keys_of(merchant: Merchant) -> list[ApiKey]:
    return list(
        db.session.scalars(
            sa.select(ApiKey).where(ApiKey.merchant_id == merchant.id).order_by(ApiKey.id.desc())
        )
    )


def key_of(merchant: Merchant, key_id: int) -> ApiKey | None:
    """One of this merchant's keys (None for another merchant's key)."""
    return db.session.scalar(
        sa.select(ApiKey).where(ApiKey.id == key_id, ApiKey.merchant_id == merchant.id)
    )


def revoke(key: ApiKey) -> None:
    if key.revoked_at is None:
        key.revoked_at = utcnow()
