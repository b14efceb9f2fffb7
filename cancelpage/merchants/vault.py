"""Secrets at rest (merchant Stripe keys, webhook secrets, link secrets): MultiFernet, rotatable."""

from __future__ import annotations

import base64
import functools
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class VaultError(RuntimeError):
    """A stored secret could not be decrypted with any configured key."""


# Decrypted secrets, per process, keyed by the configured keys and the ciphertext: a stored
# secret that changes (a new key, a rotation) is a new ciphertext, so an entry never goes stale.
DECRYPTED = "cancelpage.vault.decrypted"
MAX_DECRYPTED = 1024


def _keys() -> tuple[str, ...]:
    keys = tuple(current_app.config["ENCRYPTION_KEYS"])
    if not keys:
        # Development only (production refuses to start without keys): derive from SECRET_KEY.
        digest = hashlib.sha256(current_app.config["SECRET_KEY"].encode()).digest()
        keys = (base64.urlsafe_b64encode(digest).decode(),)
    return keys


def _fernet() -> MultiFernet:
    return _multi_fernet(_keys())


@functools.lru_cache(maxsize=8)
def _multi_fernet(keys: tuple[str, ...]) -> MultiFernet:
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    keys = _keys()
    cache: dict[tuple[tuple[str, ...], str], str] = current_app.extensions.setdefault(DECRYPTED, {})
    found = cache.get((keys, ciphertext))
    if found is not None:
        return found
    try:
        plaintext = _multi_fernet(keys).decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise VaultError("stored secret cannot be decrypted with the configured keys") from exc
    if len(cache) >= MAX_DECRYPTED:
        cache.clear()
    cache[(keys, ciphertext)] = plaintext
    return plaintext


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the newest key (old keys keep decrypting until removed)."""
    return _fernet().rotate(ciphertext.encode()).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()
