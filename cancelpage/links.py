"""Signed links and session capabilities: the only place tokens are made or read.

A link token is an itsdangerous timed signature over a small JSON payload of ids (no personal
data: the payload is readable base64). Each merchant has its own list of signing secrets (the
last one signs, all verify) and each purpose has its own salt, so a card-update token is never
accepted as a cancel link.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from itsdangerous import BadData, URLSafeTimedSerializer
from itsdangerous.encoding import base64_decode, base64_encode

PURPOSES = ("cancel", "save", "card_update", "unsubscribe", "password_reset", "keep")
# URL path per purpose, relative to the public base URL.
PATHS = {
    "cancel": "/c/",
    "save": "/c/",
    "card_update": "/card/",
    "unsubscribe": "/unsubscribe/",
    "password_reset": "/admin/reset/",
    "keep": "/k/",
}
# A receipt's "keep my subscription" link works until the scheduled end it can undo: verified
# with this ceiling, then against the end it carries.
KEEP_MAX_AGE = 400 * 24 * 3600
MAX_ATTRIBUTES = 20
MAX_ATTRIBUTE_LENGTH = 100


class BadLink(Exception):
    """Any unusable token; deliberately says nothing about why."""


@dataclass(frozen=True)
class LinkPayload:
    merchant: str
    customer: str
    subscription: str | None = None
    return_url: str | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)
    locale: str | None = None
    # Case or invoice reference for email links (dunning, save emails).
    ref: str | None = None
    # Set only by the dashboard's "preview as a customer": the session runs on the link's
    # attributes and a recording gateway even for a live merchant. Signed like the rest, so a
    # customer cannot switch it on; the public signing helpers never set it.
    preview: bool = False
    # When the token was signed (Unix time); set by verify, never part of the wire format.
    issued_at: int = 0

    def to_wire(self) -> dict[str, Any]:
        wire: dict[str, Any] = {"m": self.merchant, "c": self.customer}
        optional = {
            "s": self.subscription,
            "r": self.return_url,
            "a": dict(self.attributes) or None,
            "l": self.locale,
            "x": self.ref,
            "p": 1 if self.preview else None,
        }
        wire.update({k: v for k, v in optional.items() if v})
        return wire

    @classmethod
    def from_wire(cls, wire: Any) -> LinkPayload:
        if not isinstance(wire, dict) or not all(isinstance(wire.get(k), str) for k in "mc"):
            raise BadLink
        attributes = wire.get("a") or {}
        if not isinstance(attributes, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in attributes.items()
        ):
            raise BadLink
        for key in "srlx":
            if wire.get(key) is not None and not isinstance(wire[key], str):
                raise BadLink
        if wire.get("p") not in (None, 1):
            raise BadLink
        return cls(
            merchant=wire["m"],
            customer=wire["c"],
            subscription=wire.get("s"),
            return_url=wire.get("r"),
            attributes=attributes,
            locale=wire.get("l"),
            ref=wire.get("x"),
            preview=wire.get("p") == 1,
        )


def validate_attributes(attributes: Mapping[str, str]) -> None:
    """Segment attributes are short key=value strings; refuse anything else early."""
    if len(attributes) > MAX_ATTRIBUTES:
        raise ValueError(f"at most {MAX_ATTRIBUTES} attributes")
    for key, value in attributes.items():
        if not key or len(key) > 40 or not key.replace("_", "").replace("-", "").isalnum():
            raise ValueError(f"attribute name {key!r} must be letters, digits, - or _")
        if len(str(value)) > MAX_ATTRIBUTE_LENGTH:
            raise ValueError(f"attribute {key!r} is longer than {MAX_ATTRIBUTE_LENGTH} characters")


def _serializer(secrets_oldest_first: Sequence[str], purpose: str) -> URLSafeTimedSerializer:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown link purpose {purpose!r}")
    return URLSafeTimedSerializer(list(secrets_oldest_first), salt=f"cancelpage.{purpose}")


def sign(payload: LinkPayload, secrets_oldest_first: Sequence[str], purpose: str) -> str:
    """Sign a payload with the newest secret."""
    validate_attributes(payload.attributes)
    return str(_serializer(secrets_oldest_first, purpose).dumps(payload.to_wire()))


def _peek(token: str) -> dict[str, Any]:
    """A token's payload, UNVERIFIED: only for choosing keys or a page's language."""
    try:
        _, wire = URLSafeTimedSerializer("unused").loads_unsafe(token)
    except Exception as exc:  # loads_unsafe can fail on any garbage; all of it is a bad link
        raise BadLink from exc
    if not isinstance(wire, dict):
        raise BadLink
    return wire


def peek_merchant(token: str) -> str:
    """The merchant slug a token claims, read BEFORE verification to pick that merchant's keys."""
    merchant = _peek(token).get("m")
    if not isinstance(merchant, str):
        raise BadLink
    return merchant


def peek_locale(token: str) -> str | None:
    """The locale a token asks for, verified or not: even the page refusing an expired link
    should be in the customer's language (it reveals nothing the readable payload does not)."""
    try:
        locale = _peek(token).get("l")
    except BadLink:
        return None
    return locale if isinstance(locale, str) else None


def verify(
    token: str, secrets_oldest_first: Sequence[str], purpose: str, max_age: int
) -> LinkPayload:
    """Verify signature, purpose and age (future-dated tokens fail too)."""
    if not secrets_oldest_first or len(token) > 4096 or not _canonical_signature(token):
        raise BadLink
    try:
        wire, signed_at = _serializer(secrets_oldest_first, purpose).loads(
            token, max_age=max_age, return_timestamp=True
        )
    except BadData as exc:
        raise BadLink from exc
    return replace(LinkPayload.from_wire(wire), issued_at=int(signed_at.timestamp()))


def _canonical_signature(token: str) -> bool:
    """Base64 leaves spare bits in a signature's last character: a token whose signature was
    re-spelled (it decodes to the same bytes) would still verify, so only the canonical
    spelling is accepted, and any changed character of a token makes it invalid."""
    signature = token.rpartition(".")[2]
    try:
        return base64_encode(base64_decode(signature)).decode() == signature
    except BadData:
        return False


def link_url(base_url: str, token: str, purpose: str) -> str:
    return f"{base_url.rstrip('/')}{PATHS[purpose]}{token}"


def sign_cancel_link(
    *,
    base_url: str,
    merchant: str,
    secret: str | Sequence[str],
    customer: str,
    subscription: str,
    return_url: str | None = None,
    allowed_return_hosts: Sequence[str] = (),
    attributes: Mapping[str, str] | None = None,
    locale: str | None = None,
) -> str:
    """The helper for merchants' Python backends: a fresh cancel-page URL.

    Needs only itsdangerous and the merchant's link-signing secret, not this app or its database.
    A return URL must be on one of ``allowed_return_hosts`` (the merchant's allowed return hosts):
    the cancel page would not follow it anyway, so it is refused here rather than signed.
    """
    if return_url is not None:
        check_return_url(return_url, allowed_return_hosts)
    secret_list = [secret] if isinstance(secret, str) else list(secret)
    payload = LinkPayload(
        merchant=merchant,
        customer=customer,
        subscription=subscription,
        return_url=return_url,
        attributes={k: str(v) for k, v in (attributes or {}).items()},
        locale=locale,
    )
    return link_url(base_url, sign(payload, secret_list, "cancel"), "cancel")


def sign_preview_link(
    *,
    base_url: str,
    merchant: str,
    secrets_oldest_first: Sequence[str],
    attributes: Mapping[str, str],
    return_url: str | None = None,
    locale: str | None = None,
) -> str:
    """A cancel link that always runs in preview mode (the dashboard's "preview as a customer")."""
    payload = LinkPayload(
        merchant=merchant,
        customer="cus_preview",
        subscription="sub_preview",
        return_url=return_url,
        attributes=dict(attributes),
        locale=locale,
        preview=True,
    )
    return link_url(base_url, sign(payload, secrets_oldest_first, "cancel"), "cancel")


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def capability_for(token: str, app_secret: str) -> str:
    """The bearer capability in a session's step URLs, derived from its link token.

    Stable (two tabs opened from one link share it) and unguessable without both the token and
    the app's secret; it keeps the link token itself out of every later URL.
    """
    mac = hmac.new(app_secret.encode(), b"capability|" + token.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(mac.digest()[:24]).decode()


def sign_keep(
    *,
    merchant: str,
    customer: str,
    subscription: str,
    session_id: int,
    until: int,
    secrets_oldest_first: Sequence[str],
) -> str:
    """A receipt's "keep my subscription" token: names the session, valid until ``until``."""
    payload = LinkPayload(
        merchant=merchant,
        customer=customer,
        subscription=subscription,
        attributes={"until": str(int(until))},
        ref=str(session_id),
    )
    return sign(payload, secrets_oldest_first, "keep")


def verify_keep(token: str, secrets_oldest_first: Sequence[str], now: int) -> LinkPayload:
    """The payload of a keep token whose scheduled end has not passed; BadLink otherwise."""
    payload = verify(token, secrets_oldest_first, "keep", KEEP_MAX_AGE)
    until = payload.attributes.get("until", "")
    if not until.isdigit() or int(until) <= now or not (payload.ref or "").isdigit():
        raise BadLink
    return payload


def keep_capability(link_digest: str, app_secret: str) -> str:
    """The capability a keep link opens its session with (stable per session, so the receipt's
    link and the stored digest agree however often the email is rendered)."""
    return capability_for("keep|" + link_digest, app_secret)


def digest(token: str) -> str:
    """What the database keeps instead of a token."""
    return hashlib.sha256(token.encode()).hexdigest()


# Plain http is for a merchant's own machine during development only.
LOCAL_HOSTS = ("localhost", "127.0.0.1")
DEFAULT_PORTS = {"https": 443, "http": 80}


def host_allowed(url: str | None, allowed_hosts: Sequence[str]) -> bool:
    """A return URL is followed only to an allowed host's origin: scheme, host and port.

    An allowed host ``app.example.com`` is the origin ``https://app.example.com`` (port 443);
    another port on that host is another service, and http is another origin. On localhost
    (development) http and any port are fine.
    """
    if not url:
        return False
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        port = parts.port
    except ValueError:
        return False
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not host or parts.username or parts.password:
        return False
    local = host in LOCAL_HOSTS
    if not local and (scheme == "http" or port not in (None, DEFAULT_PORTS[scheme])):
        return False
    return any(host == h.lower().strip() for h in allowed_hosts)


def check_return_url(url: str, allowed_hosts: Sequence[str]) -> None:
    """Refuse, with the reason, a return URL the cancel page would not follow."""
    if not host_allowed(url, allowed_hosts):
        hosts = ", ".join(allowed_hosts) or "none"
        raise ValueError(
            f"return URL {url[:200]!r} is not allowed: use https:// (default port) on one of the "
            f"merchant's allowed return hosts ({hosts})"
        )


# ---- dashboard password resets ---------------------------------------------------------------


def sign_password_reset(user_id: int, fingerprint: str, app_secret: str) -> str:
    """A reset token for one dashboard user, signed with the app's secret.

    It carries a fingerprint of the user's current password hash, so it stops working as soon
    as the password changes (including by this very token).
    """
    return str(_serializer([app_secret], "password_reset").dumps({"u": user_id, "f": fingerprint}))


def verify_password_reset(token: str, app_secret: str, max_age: int) -> tuple[int, str]:
    """(user id, password fingerprint) from a valid, unexpired reset token; BadLink otherwise."""
    if len(token) > 1024:
        raise BadLink
    try:
        wire = _serializer([app_secret], "password_reset").loads(token, max_age=max_age)
    except BadData as exc:
        raise BadLink from exc
    if (
        not isinstance(wire, dict)
        or not isinstance(wire.get("u"), int)
        or isinstance(wire.get("u"), bool)
        or not isinstance(wire.get("f"), str)
    ):
        raise BadLink
    return int(wire["u"]), str(wire["f"])
