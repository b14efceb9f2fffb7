"""Merchants: creation, their published flow, the demo merchant."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import current_app

from cancelpage import flows, links
from cancelpage.extensions import db
from cancelpage.models import FlowVersion, Merchant

SLUG_RE = re.compile(r"^[a-z0-9][a-z0-9-]{1,39}$")
DEMO_SLUG = "demo"


class MerchantError(ValueError):
    pass


def create_merchant(
    slug: str,
    name: str | None = None,
    stripe_key: str | None = None,
    return_hosts: list[str] | None = None,
    flow_data: dict[str, Any] | None = None,
) -> Merchant:
    """A merchant with a fresh link secret and the default flow published as version 1."""
    if not SLUG_RE.match(slug):
        raise MerchantError("slug must be 2-40 lower-case letters, digits or '-'")
    if db.session.scalar(sa.select(Merchant.id).where(Merchant.slug == slug)) is not None:
        raise MerchantError(f"merchant {slug!r} already exists")
    if stripe_key is not None and not stripe_key.startswith(("sk_", "rk_")):
        raise MerchantError("a Stripe key starts with sk_ or rk_")
    merchant = Merchant(
        slug=slug, name=name or slug, return_hosts=list(return_hosts or []), copy={}
    )
    merchant.link_secrets = [links.new_secret()]
    merchant.set_stripe_key(stripe_key)
    db.session.add(merchant)
    db.session.flush()
    publish_flow(merchant, flow_data if flow_data is not None else flows.DEFAULT_FLOW)
    return merchant


def publish_flow(merchant: Merchant, data: dict[str, Any]) -> FlowVersion:
    """Validate and publish a new flow version (raises flows.FlowError with every problem)."""
    flow = flows.parse_flow(data)
    last = db.session.scalar(
        sa.select(sa.func.max(FlowVersion.number)).where(FlowVersion.merchant_id == merchant.id)
    )
    version = FlowVersion(
        merchant_id=merchant.id, number=(last or 0) + 1, data=flows.flow_to_dict(flow)
    )
    db.session.add(version)
    db.session.flush()
    merchant.flow_version = version
    return version


def load_flow(merchant: Merchant, version_id: int | None) -> flows.Flow:
    """The parsed flow a session runs (versions never change once published, so cache them)."""
    if version_id is None:
        return flows.default_flow()
    cache: dict[int, flows.Flow] = current_app.extensions.setdefault("cancelpage.flows", {})
    if version_id not in cache:
        version = db.session.get(FlowVersion, version_id)
        if version is None or version.merchant_id != merchant.id:
            return flows.default_flow()
        cache[version_id] = flows.parse_flow(version.data)
    return cache[version_id]


def by_slug(slug: str) -> Merchant | None:
    return db.session.scalar(sa.select(Merchant).where(Merchant.slug == slug))


def ensure_demo_merchant() -> Merchant:
    """The demo merchant of a fresh install: preview mode, return URLs to localhost."""
    merchant = by_slug(DEMO_SLUG)
    if merchant is None:
        merchant = create_merchant(
            DEMO_SLUG, name="Acme Analytics (demo)", return_hosts=["127.0.0.1", "localhost"]
        )
        merchant.support_email = "support@example.com"
        db.session.commit()
    return merchant
