"""Ending an experiment: stop it or promote an arm, as one recorded action that publishes the flow.

* **promote** ARM: the experiment's place becomes the arm's offer for everyone (promoting the
  holdout removes the place, as the holdout saw no offer there).
* **stop**: end without a winner; everyone gets the control arm - the holdout experience (the place
  is removed and the rest of the list moves up), or the first variant when there was no holdout.

Either way a new flow version is published and an ExperimentDecision row records who decided what
and when. An experiment is decided once: a repeated request returns the first decision.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from cancelpage import flows
from cancelpage.extensions import db
from cancelpage.merchants.store import load_flow, publish_flow
from cancelpage.models import ExperimentDecision, Merchant

ACTIONS = ("stop", "promote")


class DecisionError(ValueError):
    """The decision cannot be taken (unknown experiment, action or arm)."""


def decision_for(merchant_id: int, experiment_id: str) -> ExperimentDecision | None:
    return db.session.scalar(
        sa.select(ExperimentDecision).where(
            ExperimentDecision.merchant_id == merchant_id,
            ExperimentDecision.experiment_id == experiment_id,
        )
    )


def decide(
    merchant: Merchant, experiment_id: str, action: str, arm: str | None, by: str
) -> ExperimentDecision:
    """Stop or promote, publish the rewritten flow and record the decision (then commits)."""
    existing = decision_for(merchant.id, experiment_id)
    if existing is not None:
        return existing
    flow = load_flow(merchant, merchant.flow_version_id)
    experiment = flow.experiments().get(experiment_id)
    if experiment is None:
        raise DecisionError("no running experiment with this id")
    if action not in ACTIONS:
        raise DecisionError("action must be stop or promote")
    chosen = experiment.control if action == "stop" else arm
    if chosen not in experiment.arms:
        raise DecisionError("arm must be one of: " + ", ".join(experiment.arms))
    version = publish_flow(merchant, settle(flow, experiment_id, chosen))
    decision = ExperimentDecision(
        merchant_id=merchant.id,
        experiment_id=experiment_id,
        action=action,
        arm=chosen,
        definition=flows.experiment_to_dict(experiment),
        flow_version_id=version.id,
        by=by[:255],
    )
    db.session.add(decision)
    try:
        db.session.commit()
    except sa.exc.IntegrityError:
        # Decided at the same moment by another request: that one published its version.
        db.session.rollback()
        winner = decision_for(merchant.id, experiment_id)
        if winner is None:
            raise
        return winner
    return decision


def settle(flow: flows.Flow, experiment_id: str, arm: str) -> dict[str, Any]:
    """The flow's JSON with the experiment's place replaced by the arm's offer (or removed)."""
    data = flows.flow_to_dict(flow)
    lists = [rule["offers"] for rule in data["rules"]] + [data["default_offers"]]
    for slots in lists:
        for i, slot in enumerate(slots):
            if isinstance(slot, dict) and slot["experiment"] == experiment_id:
                if arm == flows.HOLDOUT:
                    del slots[i]
                else:
                    slots[i] = arm
                return data
    raise DecisionError("no running experiment with this id")
