"""Dashboard accounts: users, password hashing (argon2id), sign-in, and the reset links that
recovery.outbox mails (like every other email)."""

from __future__ import annotations

import hashlib
import hmac
import logging

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_login import LoginManager, UserMixin

from cancelpage import addresses, links
from cancelpage.extensions import db
from cancelpage.models import Merchant, MerchantUser, utcnow
from cancelpage.vocabulary import whole_number

log = logging.getLogger(__name__)

MIN_PASSWORD = 12
MAX_PASSWORD = 1024
_hasher = PasswordHasher()
# Verified against when the address is unknown, so both cases take as long (no enumeration).
_DUMMY_HASH = _hasher.hash("cancelpage-no-such-user")


class AccountError(ValueError):
    """A user cannot be created or changed; the message is shown as is."""


class Account(UserMixin):
    """The signed-in user as Flask-Login sees it.

    Its id (kept in the session cookie) includes the user's session version and a fingerprint
    of the password hash: signing out or changing the password ends every earlier session.
    """

    def __init__(self, user: MerchantUser) -> None:
        self.user = user

    def get_id(self) -> str:
        return f"{self.user.id}.{self.user.session_version}.{fingerprint(self.user)}"

    @property
    def merchant_id(self) -> int:
        return self.user.merchant_id


def init_login(manager: LoginManager) -> None:
    manager.user_loader(load_account)
    manager.session_protection = "basic"


def load_account(account_id: str) -> Account | None:
    user_id, _, rest = account_id.partition(".")
    version, _, print_ = rest.partition(".")
    number = whole_number(user_id)
    if number is None:
        return None
    user = db.session.get(MerchantUser, number)
    if (
        user is None
        or version != str(user.session_version)
        or not hmac.compare_digest(print_, fingerprint(user))
    ):
        return None
    return Account(user)


def end_sessions(user: MerchantUser) -> None:
    """Every session cookie issued to the user so far stops working."""
    user.session_version += 1


def fingerprint(user: MerchantUser) -> str:
    """Changes whenever the password does; keyed so that it says nothing about the hash."""
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, user.password_hash.encode(), hashlib.sha256).hexdigest()[:20]


def normalise_email(email: str) -> str:
    try:
        return addresses.checked(email).lower()
    except addresses.BadAddress as exc:
        raise AccountError(f"{exc} Enter an email address like name@example.com.") from None


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD:
        return f"Use at least {MIN_PASSWORD} characters."
    if len(password) > MAX_PASSWORD:
        return f"Use at most {MAX_PASSWORD} characters."
    return None


def create_user(merchant: Merchant, email: str, password: str) -> MerchantUser:
    address = normalise_email(email)
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    taken = db.session.scalar(sa.select(MerchantUser.id).where(MerchantUser.email == address))
    if taken is not None:
        raise AccountError(f"{address} already has an account.")
    user = MerchantUser(
        merchant_id=merchant.id, email=address, password_hash=_hasher.hash(password)
    )
    db.session.add(user)
    db.session.flush()
    return user


def user_by_email(email: str) -> MerchantUser | None:
    return db.session.scalar(
        sa.select(MerchantUser).where(MerchantUser.email == email.strip().lower())
    )


def authenticate(email: str, password: str) -> MerchantUser | None:
    """The user whose address and password these are (rehashed if the parameters moved on)."""
    user = user_by_email(email) if len(password) <= MAX_PASSWORD else None
    try:
        _hasher.verify(user.password_hash if user else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    if user is None:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def set_password(user: MerchantUser, password: str) -> None:
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    user.password_hash = _hasher.hash(password)
    end_sessions(user)


# ---- password reset ---------------------------------------------------------------------------


def reset_url(user: MerchantUser) -> str:
    config = current_app.config
    token = links.sign_password_reset(user.id, fingerprint(user), config["SECRET_KEY"])
    return links.link_url(config["PUBLIC_BASE_URL"], token, "password_reset")


def user_for_reset(token: str) -> MerchantUser | None:
    """The user a reset token is for, while it is fresh and the password is unchanged."""
    config = current_app.config
    try:
        user_id, print_ = links.verify_password_reset(
            token, config["SECRET_KEY"], int(config["PASSWORD_RESET_MAX_AGE"])
        )
    except links.BadLink:
        return None
    user = db.session.get(MerchantUser, user_id)
    if user is None or not hmac.compare_digest(print_, fingerprint(user)):
        return None
    return user
