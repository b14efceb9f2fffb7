"""Secrets at rest (merchant Stripe keys, webhook secrets, link secrets): MultiFernet, rotatable."""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from flask import current_app


class VaultError(RuntimeError):
    """A stored secret could not be decrypted with any configured key."""


def _fernet() -> MultiFernet:
    keys = list(current_app.config["ENCRYPTION_KEYS"])
    if not keys:
        # Development only (production refuses to start without keys): derive from SECRET_KEY.
        digest = hashlib.sha256(current_app.config["SECRET_KEY"].encode()).digest()
        keys = [base64.urlsafe_b64encode(digest).decode()]
    return MultiFernet([Fernet(k) for k in keys])


def encrypt(plaintext: str) -> str:
    return _fernet().encrypt(plaintext.encode()).decode()


def decrypt(ciphertext: str) -> str:
    try:
        return _fernet().decrypt(ciphertext.encode()).decode()
    except InvalidToken as exc:
        raise VaultError("stored secret cannot be decrypted with the configured keys") from exc


def rotate(ciphertext: str) -> str:
    """Re-encrypt with the newest key (old keys keep decrypting until removed)."""
    return _fernet().rotate(ciphertext.encode()).decode()


def new_key() -> str:
    return Fernet.generate_key().decode()
