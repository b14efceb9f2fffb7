"""Merchants: creation, their published flow, the demo merchant."""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from flask import current_app

from cancelpage import flows, links
from cancelpage.extensions import db
from cancelpage.models import (
    CancelSession,
    ExperimentDecision,
    ExperimentRecord,
    FlowVersion,
    Merchant,
)

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


def experiment_problems(merchant: Merchant, flow: flows.Flow) -> list[str]:
    """Why the flow's experiments cannot be published: an id names one experiment for all time
    (a decided or removed experiment's id cannot start another), and an experiment with data
    keeps its arms, weights, holdout, minimum effect and metric (a change needs a new id)."""
    problems = []
    for experiment in flow.experiments().values():
        record = _record(merchant, experiment.id)
        name = f"experiment {experiment.id!r}"
        if _decided(merchant, experiment.id):
            problems.append(f"{name} was decided before: give the new experiment a new id")
        elif record is None or record.definition == flows.experiment_to_dict(experiment):
            continue
        elif _has_data(merchant, experiment.id):
            problems.append(
                f"{name} has data, so its arms and minimum effect are frozen: "
                "start a new experiment with a new id to change them"
            )
    return problems


def _record(merchant: Merchant, experiment_id: str) -> ExperimentRecord | None:
    return db.session.scalar(
        sa.select(ExperimentRecord).where(
            ExperimentRecord.merchant_id == merchant.id,
            ExperimentRecord.experiment_id == experiment_id,
        )
    )


def _decided(merchant: Merchant, experiment_id: str) -> bool:
    return (
        db.session.scalar(
            sa.select(ExperimentDecision.id).where(
                ExperimentDecision.merchant_id == merchant.id,
                ExperimentDecision.experiment_id == experiment_id,
            )
        )
        is not None
    )


def _has_data(merchant: Merchant, experiment_id: str) -> bool:
    entered = CancelSession.assignments[experiment_id].as_string().is_not(None)
    return (
        db.session.scalar(
            sa.select(CancelSession.id)
            .where(CancelSession.merchant_id == merchant.id, entered)
            .limit(1)
        )
        is not None
    )


def record_experiments(merchant: Merchant, flow: flows.Flow) -> None:
    """Remember every experiment the flow publishes (its definition while it has no data)."""
    for experiment in flow.experiments().values():
        definition = flows.experiment_to_dict(experiment)
        record = _record(merchant, experiment.id)
        if record is None:
            db.session.add(
                ExperimentRecord(
                    merchant_id=merchant.id, experiment_id=experiment.id, definition=definition
                )
            )
        else:
            record.definition = definition


def publish_flow(merchant: Merchant, data: dict[str, Any]) -> FlowVersion:
    """Validate and publish a new flow version (raises flows.FlowError with every problem)."""
    flow = flows.parse_flow(data)
    problems = experiment_problems(merchant, flow)
    if problems:
        raise flows.FlowError(problems)
    record_experiments(merchant, flow)
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
