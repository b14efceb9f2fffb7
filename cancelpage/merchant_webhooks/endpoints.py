"""A merchant's webhook endpoints and the guard on their URLs (docs/RELIABILITY.md 32).

An endpoint is ``https`` on a public address, never this app's own origin, never a private,
loopback or link-local address; in development ``http://127.0.0.1:PORT`` is allowed too, so a
merchant can point it at the app they are building. The URL is checked when it is saved and
again before every delivery (a host's addresses can change).
"""

from __future__ import annotations

import base64
import ipaddress
import secrets
import socket
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask import current_app

from cancelpage.extensions import db
from cancelpage.models import Merchant, MerchantWebhookEndpoint

MAX_ENDPOINTS = 5
URL_MAX = 500


class EndpointError(ValueError):
    """An endpoint URL that cancelpage will not send to."""


def _development() -> bool:
    return current_app.config["ENV"] != "production"


def _own_origin() -> tuple[str, int]:
    own = urlsplit(current_app.config["PUBLIC_BASE_URL"])
    return (own.hostname or "", own.port or (443 if own.scheme == "https" else 80))


def _addresses(host: str, port: int) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses a connection to ``host`` could reach (an IP literal is its own)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as err:
        raise EndpointError(f"{host} cannot be resolved") from err
    return [ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos]


def check_url(url: str) -> str:
    """The URL, cleaned, if cancelpage may send to it; EndpointError says why not."""
    url = url.strip()
    if len(url) > URL_MAX:
        raise EndpointError(f"at most {URL_MAX} characters")
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError as err:
        raise EndpointError("the port is not a number") from err
    if parts.scheme not in ("https", "http") or not host:
        raise EndpointError("give a full https:// URL")
    if parts.username or parts.password:
        raise EndpointError("put no user name or password in the URL")
    if (host.lower(), port) == _own_origin():
        raise EndpointError("that is cancelpage itself")
    local_dev = _development() and host == "127.0.0.1"
    if parts.scheme != "https" and not local_dev:
        raise EndpointError("use https (http only for 127.0.0.1 in development)")
    if local_dev:
        return url
    for address in _addresses(host, port):
        if not address.is_global or address.is_multicast:
            raise EndpointError(f"{host} is a private or local address ({address})")
    return url


def new_secret() -> str:
    """A Standard Webhooks secret: whsec_ and 32 random bytes, base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def endpoints_of(merchant: Merchant) -> list[MerchantWebhookEndpoint]:
    return list(
        db.session.scalars(
            sa.select(MerchantWebhookEndpoint)
            .where(MerchantWebhookEndpoint.merchant_id == merchant.id)
            .order_by(MerchantWebhookEndpoint.id)
        )
    )


def add_endpoint(merchant: Merchant, url: str) -> tuple[MerchantWebhookEndpoint, str]:
    """A new endpoint and its signing secret (shown once; kept encrypted)."""
    if len(endpoints_of(merchant)) >= MAX_ENDPOINTS:
        raise EndpointError(f"at most {MAX_ENDPOINTS} endpoints")
    endpoint = MerchantWebhookEndpoint(merchant_id=merchant.id, url=check_url(url))
    secret = new_secret()
    endpoint.secret = secret
    db.session.add(endpoint)
    db.session.flush()
    return endpoint, secret


def endpoint_of(merchant: Merchant, endpoint_id: int) -> MerchantWebhookEndpoint | None:
    endpoint = db.session.get(MerchantWebhookEndpoint, endpoint_id)
    return endpoint if endpoint is not None and endpoint.merchant_id == merchant.id else None
