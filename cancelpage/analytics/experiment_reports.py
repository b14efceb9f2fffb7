"""Experiment results over a segment, and each arm's counts at the fixed horizon (the
decision rule is in stats)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
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
    matured_by,
    outcome_category,
    session_where,
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
    at_horizon: list[stats.ArmCount]  # the counts the verdict was computed from
    verdict: stats.Verdict

    @property
    def running(self) -> bool:
        return self.decision is None


def experiment_from_dict(data: Mapping[str, Any]) -> flows.Experiment:
    """Rebuild an experiment stored by flows.experiment_to_dict (a decision's definition)."""
    return flows.Experiment(
        id=data["experiment"],
        variants=tuple(flows.Variant(v["offer"], int(v["weight"])) for v in data["variants"]),
        holdout=float(data["holdout"]),
        min_effect=float(data["min_effect"]),
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
    arm = arm_of(experiment.id)
    matured = sa.case((matured_by(now, 30), 1), else_=0)
    rows = db.session.execute(
        sa.select(arm, S.outcome, S.accepted_offer, matured, S.retained_30, sa.func.count())
        .where(*session_where(merchant_id, f), arm.is_not(None))
        .group_by(arm, S.outcome, S.accepted_offer, matured, S.retained_30)
    ).all()
    results = {name: ArmResult(name) for name in experiment.arms}
    for name, outcome, accepted, is_matured, retained, count in rows:
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
    counts = horizon_counts(merchant_id, experiment)
    verdict = stats.decide(counts[0], counts[1:], experiment.min_effect)
    return ExperimentReport(experiment, decision, list(results.values()), counts, verdict)


def horizon_counts(merchant_id: int, experiment: flows.Experiment) -> list[stats.ArmCount]:
    """Saves among the first N decided sessions of each arm (N = the horizon), in the order the
    sessions ended, over the whole experiment (no date range or filter): control first.

    Each arm reads at most N rows, in completed_at order (ix_session_completed)."""
    horizon = stats.sample_size_per_arm(experiment.min_effect, len(experiment.arms) - 1)
    counts = []
    for name in experiment.arms:
        first = (
            sa.select(sa.case((S.outcome.in_(SAVED), 1), else_=0).label("saved"))
            .where(
                S.merchant_id == merchant_id,
                S.completed_at.is_not(None),
                S.purpose == "cancel",
                S.outcome.in_(SAVED + CANCELLED),
                arm_of(experiment.id) == name,
            )
            .order_by(S.completed_at, S.id)
            .limit(horizon)
            .subquery()
        )
        decided, saves = db.session.execute(
            sa.select(sa.func.count(), sa.func.coalesce(sa.func.sum(first.c.saved), 0))
        ).one()
        counts.append(stats.ArmCount(name, int(saves), int(decided)))
    return counts
