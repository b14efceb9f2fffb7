"""Experiment results over a segment, and each arm's counts at the fixed horizon (the
decision rule is in stats)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from cancelpage import flows
from cancelpage.analytics import stats
from cancelpage.analytics.queries import (
    CANCELLED,
    SAVED,
    Filters,
    S,
    arm_of,
    outcome_category,
    parts,
    real_sessions,
    sessions_in,
)
from cancelpage.extensions import db
from cancelpage.merchants.store import load_flow
from cancelpage.models import (
    ExperimentDecision,
    Merchant,
)


@dataclass
class ArmResult:
    """One arm over the segment (date range and filters): what it saved, accepted and kept."""

    arm: str
    sessions: int = 0
    saved: int = 0
    decided: int = 0
    accepted_here: int = 0  # accepted the offer this arm put in the experiment's place
    matured_30: int = 0
    retained_30: int = 0

    @property
    def save_rate(self) -> stats.Proportion:
        return stats.Proportion(self.saved, self.decided)

    @property
    def acceptance(self) -> stats.Proportion | None:
        """None for the holdout: it had no offer in the experiment's place."""
        if self.arm == flows.HOLDOUT:
            return None
        return stats.Proportion(self.accepted_here, self.sessions)

    @property
    def retention_30(self) -> stats.Proportion:
        return stats.Proportion(self.retained_30, self.matured_30)


@dataclass(frozen=True)
class ExperimentReport:
    experiment: flows.Experiment
    decision: ExperimentDecision | None
    arms: list[ArmResult]
    at_horizon: stats.Window  # the counts the verdict was computed from
    verdict: stats.Verdict

    @property
    def running(self) -> bool:
        return self.decision is None

    @property
    def guarantee(self) -> stats.Guarantee:
        e = self.experiment
        weights = stats.arm_weights(e.holdout, [v.weight for v in e.variants])
        return stats.guarantee(weights, e.min_effect)


def experiment_from_dict(data: Mapping[str, Any]) -> flows.Experiment:
    """Rebuild an experiment stored by flows.experiment_to_dict (a decision's definition)."""
    return flows.Experiment(
        id=data["experiment"],
        variants=tuple(flows.Variant(v["offer"], int(v["weight"])) for v in data["variants"]),
        holdout=float(data["holdout"]),
        min_effect=float(data["min_effect"]),
        metric=str(data.get("metric", flows.DEFAULT_METRIC)),
    )


def experiments(merchant: Merchant, f: Filters, now: datetime) -> list[ExperimentReport]:
    """Running experiments (in the published flow) and decided ones, newest decision last."""
    decided = db.session.scalars(
        sa.select(ExperimentDecision)
        .where(ExperimentDecision.merchant_id == merchant.id)
        .order_by(ExperimentDecision.decided_at)
    ).all()
    decisions = {d.experiment_id: d for d in decided}
    running = load_flow(merchant, merchant.flow_version_id).experiments()
    chosen: list[tuple[flows.Experiment, ExperimentDecision | None]] = [
        (e, None) for e in running.values() if e.id not in decisions
    ]
    chosen += [(experiment_from_dict(d.definition), d) for d in decided]
    segment = Filters(f.start, f.end, plan=f.plan, reason=f.reason, offer=f.offer)
    return [
        experiment_report(merchant.id, experiment, decision, segment, now)
        for experiment, decision in chosen
    ]


def experiment_report(
    merchant_id: int,
    experiment: flows.Experiment,
    decision: ExperimentDecision | None,
    f: Filters,
    now: datetime,
) -> ExperimentReport:
    rows = []
    for part in parts(merchant_id, f, now, [30]):
        t = part.table
        arm = arm_of(experiment.id, t)
        matured = sa.case((part.matured(30), 1), else_=0)
        keys = (arm, t.outcome, t.accepted_offer, matured, t.retained_30)
        rows += db.session.execute(
            sa.select(*keys, sessions_in(t)).where(*part.where, arm.is_not(None)).group_by(*keys)
        ).all()
    results = {name: ArmResult(name) for name in experiment.arms}
    for name, outcome, accepted, is_matured, retained, n in rows:
        count = int(n)
        result = results.setdefault(name, ArmResult(name))
        result.sessions += count
        category = outcome_category(outcome)
        if category != "open":
            result.decided += count
        if category == "saved":
            result.saved += count
        if outcome == "accepted" and accepted == name:
            result.accepted_here += count
        if is_matured:
            result.matured_30 += count
            result.retained_30 += count if retained else 0
    at_horizon = horizon_counts(merchant_id, experiment, now)
    counts = at_horizon.counts
    verdict = stats.decide(counts[0], counts[1:], experiment.min_effect)
    return ExperimentReport(experiment, decision, list(results.values()), at_horizon, verdict)


def experiment_units(
    merchant_id: int, experiment: flows.Experiment, now: datetime
) -> list[stats.Unit]:
    """The experiment's customers (stats.first_sessions) over the whole experiment (no date range
    or filter), scored on its metric as known at `now`: the immediate save once the session
    ended; still subscribed N days after the session once N days have passed."""
    saved_metric = experiment.metric == "saved"
    days = 0 if saved_metric else int(experiment.metric.removeprefix("retained_"))
    retained = S.retained_30 if saved_metric else getattr(S, f"retained_{days}")
    arm = arm_of(experiment.id)
    rows = db.session.execute(
        sa.select(S.customer_id, arm, S.created_at, S.completed_at, S.outcome, retained)
        .where(*real_sessions(merchant_id), arm.is_not(None))
        .order_by(S.created_at, S.id)
        .execution_options(yield_per=10_000)
    )
    # One pass in the order opened, as stats.first_sessions would sort them: the first session
    # per customer is the unit, once its metric is known.
    units = []
    seen: set[str] = set()
    horizon = timedelta(days=days)
    for customer, arm_name, created, completed, outcome, kept in rows:
        if customer in seen:
            continue
        seen.add(customer)
        if saved_metric:
            if outcome in SAVED + CANCELLED and completed is not None:
                units.append(stats.Unit(arm_name, completed, outcome in SAVED))
        elif created + horizon <= now:
            units.append(stats.Unit(arm_name, created + horizon, bool(kept)))
    return units


def horizon_counts(merchant_id: int, experiment: flows.Experiment, now: datetime) -> stats.Window:
    """The verdict's window of the experiment: control first."""
    horizon = stats.sample_size_per_arm(experiment.min_effect, len(experiment.arms) - 1)
    return stats.window(experiment_units(merchant_id, experiment, now), experiment.arms, horizon)
